"""llmotel / Model comparison: which provider and model is faster, cheaper, more reliable and better?"""

from __future__ import annotations

from grafana.dashgen.core import (
    COST,
    DURATION,
    FAILED,
    LLM,
    PERCENT,
    SECONDS,
    TTFT,
    USD,
    Board,
    Q,
    quantile,
    rate,
    ratio,
    table_panel,
    timeseries_panel,
)

PM = "gen_ai_provider_name, gen_ai_request_model"
LEGEND = "{{gen_ai_provider_name}} {{gen_ai_request_model}}"
SCORE = "llmotel_evaluation_score"


def _mean_score(window: str = "$__rate_interval", by: str = PM) -> str:
    return (f"sum by ({by}) ({rate(SCORE + '_sum', window=window)}) / "
            f"(sum by ({by}) ({rate(SCORE + '_count', window=window)}) > 0)")


def board() -> Board:
    rng = "$__range"
    table = table_panel(
        "Side by side (selected range)", "One row per provider and model over the selected time range. Quality: "
        "mean evaluation score over every evaluation name (1.0 = the named property holds, so read it with "
        "the Quality dashboard).", "short",
        Q(f"sum by ({PM}) ({rate(DURATION + '_count', window=rng)})", "calls/s"),
        Q(ratio(rate(DURATION + "_count", FAILED, rng),
                rate(DURATION + "_count", window=rng), PM), "error ratio"),
        Q(quantile(0.95, DURATION, PM, window=rng), "p95 s"),
        Q(quantile(0.95, TTFT, PM, window=rng), "TTFT p95 s"),
        Q(f"1000 * sum by ({PM}) ({rate(COST, window=rng)}) / "
          f"(sum by ({PM}) ({rate('gen_ai_client_token_usage_sum', window=rng)}) > 0)", "USD / 1k tokens"),
        Q(_mean_score(rng), "mean score"), merge=True, w=24, h=9)
    return Board("llmotel-models", "Providers and models side by side: latency, time to first token, error "
                 "ratio, cost per 1k tokens and evaluation scores.", [
        ("Side by side", [table]),
        ("Over time", [
            timeseries_panel("Latency p95", "Call duration p95 per provider and model.", SECONDS,
                             Q(quantile(0.95, DURATION, PM), LEGEND, exemplar=True)),
            timeseries_panel("Time to first token p95", "Streams only.", SECONDS, Q(quantile(0.95, TTFT, PM), LEGEND)),
            timeseries_panel("Error ratio", "Failed share of calls (5 m).", PERCENT, Q(
                f"sum by ({PM}) (llmotel:errors:rate5m{LLM}) / (sum by ({PM}) (llmotel:requests:rate5m{LLM}) > 0)",
                LEGEND)),
            timeseries_panel("Cost per 1k tokens", "USD per 1000 input + output tokens.", USD, Q(
                f"1000 * sum by ({PM}) (llmotel:cost_usd:rate5m{LLM}) / "
                f"(sum by ({PM}) (llmotel:tokens:rate5m{LLM}) > 0)", LEGEND)),
            timeseries_panel("Mean evaluation score by model and evaluation", "Mean score in [0, 1] per evaluation "
                             "name (1.0 = the property holds: high is bad for hallucination).", "short",
                             Q(_mean_score(by=f"{PM}, gen_ai_evaluation_name"),
                               f"{LEGEND} {{{{gen_ai_evaluation_name}}}}"),
                             w=24),
        ]),
    ])


