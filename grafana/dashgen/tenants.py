"""llmotel / Users and tenants: who uses the LLM features, what it costs them, and how fast it is for them."""

from __future__ import annotations

from grafana.dashgen.core import (
    COST,
    DURATION,
    JOB,
    LLM_TENANT,
    LOKI_DS,
    LOKI_SERVICES,
    METRIC_VARS,
    MODEL,
    PERCENT,
    PROVIDER,
    SECONDS,
    SHORT,
    TEMPO_DS,
    TENANT,
    TENANTS,
    USD,
    Board,
    Q,
    bars_panel,
    quantile,
    rate,
    ratio,
    sel,
    timeseries_panel,
    traces_metrics_panel,
)

BY = "llmotel_tenant_id"
LEGEND = "{{llmotel_tenant_id}}"
NOTE = "Tenants are metric labels only when tenant_id is allow-listed in LLMOTEL_METRIC_ATTRIBUTES."
# Users never become metric labels (cardinality, privacy): per-user views come from the spans' user.id.
USERS = "{ span.user.id != nil && span.gen_ai.operation.name != nil && resource.service.name =~ \"$service\" }"


def board() -> Board:
    failed_tenant = sel(JOB, PROVIDER, MODEL, TENANT, 'error_type!=""')
    return Board("llmotel-tenants", f"Usage, spend, latency and errors per tenant; top users from traces. {NOTE}", [
        ("Tenants", [
            bars_panel("Top tenants by spend", "USD in the selected range, the ten biggest tenants.", USD,
                       Q(f"topk(10, sum by ({BY}) (increase({COST}{LLM_TENANT}[$__range])))", LEGEND)),
            bars_panel("Top tenants by calls", "Calls in the selected range, the ten busiest tenants.", SHORT,
                       Q(f"topk(10, sum by ({BY}) (increase({DURATION}_count{LLM_TENANT}[$__range])))", LEGEND)),
            timeseries_panel("Calls by tenant", "Calls per second.", "reqps",
                             Q(f"sum by ({BY}) ({rate(DURATION + '_count', LLM_TENANT)})", LEGEND), stack=True),
            timeseries_panel("Spend by tenant", "USD per hour at the current rate.", USD,
                             Q(f"sum by ({BY}) ({rate(COST, LLM_TENANT)}) * 3600", LEGEND), stack=True),
            timeseries_panel("Tokens by tenant", "Input + output tokens per second.", SHORT,
                             Q(f"sum by ({BY}) ({rate('gen_ai_client_token_usage_sum', LLM_TENANT)})", LEGEND),
                             stack=True),
            timeseries_panel("Latency p95 by tenant", "Call duration p95.", SECONDS,
                             Q(quantile(0.95, DURATION, BY, LLM_TENANT), LEGEND, exemplar=True)),
            timeseries_panel("Error ratio by tenant", "Failed share of calls.", PERCENT,
                             Q(ratio(rate(DURATION + "_count", failed_tenant), rate(DURATION + "_count", LLM_TENANT),
                                     BY), LEGEND), w=24),
        ]),
        ("Users (from traces)", [
            traces_metrics_panel("Top users by calls", "LLM calls per user.id (TraceQL metrics over the spans Tempo "
                                 "kept: tail sampling keeps errors, slow and expensive calls and a baseline share).",
                                 SHORT, f"{USERS} | count_over_time() by (span.user.id) | topk(10)"),
            traces_metrics_panel("Top users by spend", "Sum of llmotel.cost.amount (USD) per user.id over the kept "
                                 "spans.", USD, f"{USERS} | sum_over_time(span.llmotel.cost.amount) by (span.user.id) "
                                 "| topk(10)"),
        ]),
    ], variables=(*METRIC_VARS, TENANTS, LOKI_DS, TEMPO_DS, LOKI_SERVICES))
