"""llmotel / Cost and tokens: what the LLM calls cost, who and what spends it, and where the budget goes."""

from __future__ import annotations

from grafana_foundation_sdk.builders import timeseries

from grafana.dashgen import cost_queries as cq
from grafana.dashgen.core import (
    COST,
    LLM,
    LLM_TENANT,
    METRIC_VARS,
    PERCENT,
    SHORT,
    TENANTS,
    USD,
    Board,
    Q,
    rate,
    ratio,
    stat_panel,
    table_panel,
    timeseries_panel,
)

HOURLY = "USD per hour at the current rate (successful calls; see unpriced calls below)."
USAGE = "Needs LLMOTEL_INFERENCE_USAGE_METRICS=true (the gen_ai.client.inference.usage.* counters)."
INPUT = "gen_ai_client_inference_usage_input_tokens_total"
CACHE_READ = "gen_ai_client_inference_usage_cache_read_input_tokens_total"


def _spend_by(label: str, what: str, selector: str = LLM_TENANT) -> timeseries.Panel:
    return timeseries_panel(f"Spend by {what}", f"{HOURLY} Attribution labels exist only when allow-listed "
                            "(LLMOTEL_METRIC_ATTRIBUTES).", USD,
                            Q(f"sum by ({label}) ({rate(COST, selector)}) * 3600", f"{{{{{label}}}}}"), stack=True)


def board() -> Board:
    return Board("llmotel-cost", "Spend over time by model, provider, tenant and feature; cost per call and per "
                 "1k tokens; token mix, cache hit ratio and cached tokens; unpriced calls; budget burn and "
                 "month-end forecast.", [
        ("Budget", [cq.spend_today(), cq.spend_month(), cq.forecast_month(), cq.forecast_vs_budget(),
                    stat_panel("Spend in range", "USD in the selected time range.", USD,
                               Q(f"sum(increase({COST}{LLM_TENANT}[$__range]))", instant=True)),
                    stat_panel("Unpriced calls in range", "Successful calls llmotel could not price (unknown "
                               "model, no usage): never counted as $0.", SHORT,
                               Q(f"sum(increase(llmotel_cost_unpriced_calls_total{LLM}[$__range]))", instant=True),
                               steps=((None, "green"), (1, "orange")))]),
        ("Spend", [
            timeseries_panel("Spend by model", HOURLY, USD, Q(
                f"sum by (gen_ai_provider_name, gen_ai_request_model) (llmotel:cost_usd:rate5m{LLM}) * 3600",
                "{{gen_ai_provider_name}} {{gen_ai_request_model}}"), stack=True),
            timeseries_panel("Spend by provider", HOURLY, USD, Q(
                f"sum by (gen_ai_provider_name) (llmotel:cost_usd:rate5m{LLM}) * 3600", "{{gen_ai_provider_name}}"),
                stack=True),
            _spend_by("llmotel_tenant_id", "tenant"),
            _spend_by("llmotel_feature", "feature"),
            table_panel("Spend by model in range", "USD, calls and tokens per model over the selected range.", USD,
                        Q(f"sum by (gen_ai_provider_name, gen_ai_request_model) (increase({COST}{LLM_TENANT}"
                          "[$__range]))", "USD"),
                        Q("sum by (gen_ai_provider_name, gen_ai_request_model) (increase("
                          f"gen_ai_client_operation_duration_seconds_count{LLM_TENANT}[$__range]))", "calls"),
                        Q("sum by (gen_ai_provider_name, gen_ai_request_model) (increase("
                          f"gen_ai_client_token_usage_sum{LLM_TENANT}[$__range]))", "tokens"), merge=True, w=24),
        ]),
        ("Unit cost", [
            timeseries_panel("Cost per call by model", "USD per call (all calls, failures included).", USD, Q(
                f"sum by (gen_ai_request_model) (llmotel:cost_usd:rate5m{LLM}) / "
                f"(sum by (gen_ai_request_model) (llmotel:requests:rate5m{LLM}) > 0)", "{{gen_ai_request_model}}")),
            timeseries_panel("Cost per 1k tokens by model", "USD per 1000 input + output tokens.", USD, Q(
                f"1000 * sum by (gen_ai_request_model) (llmotel:cost_usd:rate5m{LLM}) / "
                f"(sum by (gen_ai_request_model) (llmotel:tokens:rate5m{LLM}) > 0)", "{{gen_ai_request_model}}")),
        ]),
        ("Tokens", [
            timeseries_panel("Tokens by type", "Input and output tokens per second reported by the providers.",
                             SHORT, Q(f"sum by (gen_ai_token_type) (llmotel:tokens:rate5m{LLM})",
                                      "{{gen_ai_token_type}}"), stack=True),
            timeseries_panel("Cached and reasoning tokens", f"Tokens per second. {USAGE}", SHORT,
                             Q(f"sum({rate(CACHE_READ)})", "cache read (input)"),
                             Q(f"sum({rate('gen_ai_client_inference_usage_cache_write_input_tokens_total')})",
                               "cache write (input)"),
                             Q(f"sum({rate('gen_ai_client_inference_usage_reasoning_output_tokens_total')})",
                               "reasoning (output)")),
            timeseries_panel("Cache hit ratio by model", "Share of input tokens served from the provider's prompt "
                             f"cache (billed at the cheaper cached rate: the savings). {USAGE}", PERCENT,
                             Q(ratio(rate(CACHE_READ), rate(INPUT), "gen_ai_request_model"),
                               "{{gen_ai_request_model}}")),
            timeseries_panel("Unpriced calls by reason", "Successful calls per second llmotel could not price: "
                             "add the model to the price table or report usage.", SHORT,
                             Q("sum by (gen_ai_request_model, llmotel_cost_reason) "
                               f"({rate('llmotel_cost_unpriced_calls_total')})",
                               "{{gen_ai_request_model}} {{llmotel_cost_reason}}")),
        ]),
    ], variables=(*METRIC_VARS, TENANTS))
