"""llmotel / Overview: the home page. Is the LLM layer healthy, fast and within budget right now?"""

from __future__ import annotations

from grafana.dashgen import cost_queries as cq
from grafana.dashgen.alerts import FIRING
from grafana.dashgen.core import (
    DURATION,
    ERROR_STEPS,
    LLM,
    PERCENT,
    REQPS,
    SECONDS,
    TTFT,
    USD,
    Board,
    Q,
    bars_panel,
    quantile,
    stat_panel,
    table_panel,
    timeseries_panel,
)

REQUESTS = f"sum(llmotel:requests:rate5m{LLM})"
ERRORS = f"sum(llmotel:errors:rate5m{LLM})"


def board() -> Board:
    return Board("llmotel-overview", "Request rate, errors, latency, tokens and spend of every LLM call the "
                 "selected services make, with firing alerts and links to every other llmotel dashboard.", [
        ("Now", [
            stat_panel("Requests", "LLM calls per second (5 m rate), every provider and operation.", REQPS,
                       Q(REQUESTS)),
            stat_panel("Error ratio", "Share of LLM calls that failed (5 m).", PERCENT,
                       Q(f"{ERRORS} / ({REQUESTS} > 0)"), steps=ERROR_STEPS),
            stat_panel("Latency p95", "95th percentile of call duration over all selected calls (5 m).", SECONDS,
                       Q(quantile(0.95, DURATION, window="5m"))),
            stat_panel("Time to first token p95", "95th percentile of the time to the first streamed chunk (5 m).",
                       SECONDS, Q(quantile(0.95, TTFT, window="5m"))),
            stat_panel("Tokens", "Input + output tokens per second reported by the providers (5 m).", "short",
                       Q(f"sum(llmotel:tokens:rate5m{LLM})")),
            stat_panel("Spend rate", "USD per hour at the current (5 m) rate.", USD,
                       Q(f"sum(llmotel:cost_usd:rate5m{LLM}) * 3600")),
        ]),
        ("Budget", [cq.spend_today(), cq.spend_month(), cq.forecast_month(), cq.forecast_vs_budget()]),
        ("Traffic and latency", [
            timeseries_panel("Requests and errors by model", "Calls per second by model; dashed: failed calls.",
                             REQPS,
                             Q(f"sum by (gen_ai_request_model) (llmotel:requests:rate5m{LLM})",
                               "{{gen_ai_request_model}}"),
                             Q(f"sum by (gen_ai_request_model) (llmotel:errors:rate5m{LLM})",
                               "{{gen_ai_request_model}} errors")),
            timeseries_panel("Latency p50 / p95 / p99", "Call duration percentiles over all selected calls.",
                             SECONDS, *(Q(quantile(q, DURATION), f"p{round(q * 100)}", exemplar=True)
                                        for q in (0.5, 0.95, 0.99))),
        ]),
        ("Spend and alerts", [
            bars_panel("Top models by spend", "USD in the selected time range, the five most expensive models.",
                       USD, Q("topk(5, sum by (gen_ai_provider_name, gen_ai_request_model) "
                              f"(increase(llmotel_cost_usd_total{LLM}[$__range])))",
                              "{{gen_ai_provider_name}} {{gen_ai_request_model}}")),
            table_panel("Firing alerts", "Alerts Prometheus is firing now (details: llmotel / Alerts).", "short",
                        Q(f"sum by (alertname, severity) ({FIRING})", "firing")),
        ]),
    ])
