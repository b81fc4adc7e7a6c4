"""llmotel / Latency: how long calls take, where, and which traces are the slow ones."""

from __future__ import annotations

from grafana_foundation_sdk.builders import timeseries

from grafana.dashgen.core import (
    CHUNK,
    DURATION,
    JOB,
    LLM,
    MODEL,
    PROVIDER,
    SECONDS,
    TTFT,
    Board,
    Q,
    heatmap_panel,
    quantile,
    rate,
    sel,
    timeseries_panel,
)

BY_MODEL = "{{gen_ai_provider_name}} {{gen_ai_request_model}} {{gen_ai_operation_name}}"
EXEMPLARS = ("Points on the lines are exemplars: click one to open that call's trace in Tempo (the SDK's "
             "exemplars may point at a trace tail sampling dropped).")


def _by(label: str, title: str, what: str) -> timeseries.Panel:
    attributed = sel(JOB, PROVIDER, MODEL, f'{label}!=""')
    return timeseries_panel(
        title, f"p95 call duration by {what}. Empty unless {label} is allow-listed in LLMOTEL_METRIC_ATTRIBUTES.",
        SECONDS, Q(quantile(0.95, DURATION, label, attributed), f"{{{{{label}}}}}", exemplar=True))


def board() -> Board:
    return Board("llmotel-latency", "Call duration percentiles and distribution by model, provider, operation, "
                 "feature and prompt version; time to first token and per-chunk time of streams; exemplars "
                 "open the trace.", [
        ("Percentiles", [
            timeseries_panel("Latency p50 / p95 / p99 (exemplars)", f"All selected calls. {EXEMPLARS}", SECONDS,
                             *(Q(quantile(q, DURATION), f"p{round(q * 100)}", exemplar=True)
                               for q in (0.5, 0.95, 0.99)), w=24),
            timeseries_panel("p95 by model", "llmotel:latency_seconds:p95_5m per provider, model and operation.",
                             SECONDS, Q(f"llmotel:latency_seconds:p95_5m{LLM}", BY_MODEL)),
            timeseries_panel("p99 by model", "llmotel:latency_seconds:p99_5m per provider, model and operation.",
                             SECONDS, Q(f"llmotel:latency_seconds:p99_5m{LLM}", BY_MODEL)),
            timeseries_panel("p95 by provider", "Call duration p95 per provider (over all its models).", SECONDS,
                             Q(quantile(0.95, DURATION, "gen_ai_provider_name"), "{{gen_ai_provider_name}}",
                               exemplar=True)),
            timeseries_panel("p95 by operation", "Call duration p95 per operation (chat, embeddings, ...).",
                             SECONDS, Q(quantile(0.95, DURATION, "gen_ai_operation_name"),
                                        "{{gen_ai_operation_name}}", exemplar=True)),
        ]),
        ("Distribution", [
            heatmap_panel("Call duration heatmap", f"Calls per duration bucket. {EXEMPLARS}", SECONDS,
                          f"sum by (le) (increase({DURATION}_bucket{LLM}[$__rate_interval]))", w=24),
        ]),
        ("Streaming", [
            timeseries_panel("Time to first token p50 / p95 by model", "Streams only: time until the first chunk.",
                             SECONDS, Q(f"llmotel:ttft_seconds:p50_5m{LLM}", f"p50 {BY_MODEL}"),
                             Q(f"llmotel:ttft_seconds:p95_5m{LLM}", f"p95 {BY_MODEL}")),
            timeseries_panel("Time per output chunk p95 by model", "Streams only: mean gap between chunks.",
                             SECONDS, Q(quantile(0.95, CHUNK, "gen_ai_request_model"), "{{gen_ai_request_model}}")),
            heatmap_panel("Time to first token heatmap", "Streams per time-to-first-chunk bucket.", SECONDS,
                          f"sum by (le) (increase({TTFT}_bucket{LLM}[$__rate_interval]))", w=24),
        ]),
        ("Attribution", [
            _by("llmotel_feature", "p95 by feature", "product feature"),
            _by("gen_ai_prompt_version", "p95 by prompt version", "prompt version"),
            timeseries_panel("Calls by feature", "Calls per second by feature (allow-listed attribution).",
                             "reqps", Q(f"sum by (llmotel_feature) ({rate(DURATION + '_count')})",
                                        "{{llmotel_feature}}"), w=24),
        ]),
    ])
