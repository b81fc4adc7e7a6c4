"""llmotel / Errors and reliability: what fails, why, how close we are to throttling, and the SLO budget."""

from __future__ import annotations

from grafana.dashgen.core import (
    DURATION,
    FAILED,
    LLM,
    LOKI_DS,
    LOKI_SERVICES,
    METRIC_VARS,
    PERCENT,
    SHORT,
    TEMPO_DS,
    Board,
    Q,
    logs_panel,
    rate,
    stat_panel,
    timeseries_panel,
    traces_panel,
)
from grafana.dashgen.prompts import CALLS

PM = "gen_ai_provider_name, gen_ai_request_model"
LEGEND = "{{gen_ai_provider_name}} {{gen_ai_request_model}}"
# Error budget left over the 30-day SLO window per service, provider and model, against the
# availability target the burn-rate alerts use (llmotel:config:slo_availability_target).
_ERR_30D = (f"(sum by (job, {PM}) (increase({DURATION}_count{FAILED}[30d])) or "
            f"0 * sum by (job, {PM}) (increase({DURATION}_count{LLM}[30d])))")
_ALL_30D = f"(sum by (job, {PM}) (increase({DURATION}_count{LLM}[30d])) > 0)"
BUDGET_LEFT = (f"1 - ({_ERR_30D} / {_ALL_30D}) / on () group_left () "
               "(1 - llmotel:config:slo_availability_target)")


def board() -> Board:
    return Board("llmotel-errors", "Error ratio by error type, provider and model; throttling, retries and "
                 "rate-limit headroom; the availability SLO's error budget; recent failed calls (Tempo) and "
                 "their events (Loki).", [
        ("Errors", [
            stat_panel("Error budget left (worst, 30 d)", "Availability SLO: the share of the 30-day error budget "
                       "still unspent by the worst provider/model of the selected services.", PERCENT,
                       Q(f"min({BUDGET_LEFT})", instant=True), steps=((None, "red"), (0.25, "orange"), (0.5, "green")),
                       w=6),
            stat_panel("Failed calls in range", "LLM calls that raised (after the SDK's own retries).", SHORT,
                       Q(f"sum(increase({DURATION}_count{FAILED}[$__range]))", instant=True),
                       steps=((None, "green"), (1, "orange")), w=6),
            stat_panel("Throttled attempts in range", "Attempts the provider rejected with 429 / 529 / 503, "
                       "retried ones included.", SHORT,
                       Q(f"sum(increase(llmotel_client_throttled_total{LLM}[$__range]))", instant=True),
                       steps=((None, "green"), (1, "orange")), w=6),
            stat_panel("Lowest rate-limit headroom", "Smallest remaining / limit over every provider, model and "
                       "resource (requests, tokens) from the latest response headers.", PERCENT,
                       Q(f"min(llmotel_ratelimit_remaining{LLM} / llmotel_ratelimit_limit{LLM})"),
                       steps=((None, "red"), (0.1, "orange"), (0.25, "green")), w=6),
            timeseries_panel("Error ratio by model", "Failed share of calls (5 m).", PERCENT, Q(
                f"sum by ({PM}) (llmotel:errors:rate5m{LLM}) / (sum by ({PM}) (llmotel:requests:rate5m{LLM}) > 0)",
                LEGEND)),
            timeseries_panel("Errors by error.type", "Failed calls per second by error type (exception class or "
                             "HTTP status) and provider.", "reqps",
                             Q(f"sum by (error_type, gen_ai_provider_name) (llmotel:errors_by_type:rate5m{LLM})",
                               "{{error_type}} ({{gen_ai_provider_name}})"), stack=True),
            timeseries_panel("Error ratio by provider", "Failed share of calls per provider (5 m).", PERCENT, Q(
                "sum by (gen_ai_provider_name) (llmotel:errors:rate5m" + LLM + ") / "
                "(sum by (gen_ai_provider_name) (llmotel:requests:rate5m" + LLM + ") > 0)",
                "{{gen_ai_provider_name}}")),
            timeseries_panel("Error budget left by model (30 d)", "Share of the 30-day availability error budget "
                             "left per provider and model.", PERCENT, Q(BUDGET_LEFT, f"{{{{job}}}} {LEGEND}")),
        ]),
        ("Throttling and rate limits", [
            timeseries_panel("Throttled attempts", "Attempts per second the provider throttled (429) or rejected "
                             "as overloaded (529, 503).", "reqps",
                             Q(f"sum by (gen_ai_provider_name, error_type) (llmotel:throttled:rate5m{LLM})",
                               "{{gen_ai_provider_name}} {{error_type}}")),
            timeseries_panel("Retries", "Retries per second the client SDK made inside one logical call, by the "
                             "failed attempt's status.", "reqps",
                             Q(f"sum by (gen_ai_request_model, error_type) ({rate('llmotel_client_retries_total')})",
                               "{{gen_ai_request_model}} {{error_type}}")),
            timeseries_panel("Rate-limit headroom", "remaining / limit from the latest response headers, per "
                             "resource: at 0 the next calls are throttled.", PERCENT,
                             Q(f"min by ({PM}, llmotel_ratelimit_resource) (llmotel_ratelimit_remaining{LLM} / "
                               f"llmotel_ratelimit_limit{LLM})", f"{LEGEND} {{{{llmotel_ratelimit_resource}}}}"), w=24),
        ]),
        ("Recent failures", [
            traces_panel("Recent failed LLM calls (Tempo)", "Failed GenAI spans, newest first: click a trace id to "
                         "open it (its events are linked from the trace view).",
                         '{ span.gen_ai.operation.name != nil && status = error && resource.service.name =~ '
                         '"$service" } | select(span.gen_ai.provider.name, span.gen_ai.request.model, '
                         'span.error.type)'),
            logs_panel("Events of failed calls (Loki)", "gen_ai.client.inference.operation.details events of failed "
                       "calls; the trace_id field links to the trace.",
                       f'{CALLS} | error_type != ""'),
        ]),
    ], variables=(*METRIC_VARS, LOKI_DS, TEMPO_DS, LOKI_SERVICES))
