"""llmotel / Quality: are the answers good? Feedback, evaluation scores, hallucinations, prompt A/B."""

from __future__ import annotations

from grafana.dashgen.core import (
    DURATION,
    JOB,
    LLM,
    MODEL,
    PERCENT,
    PROVIDER,
    SHORT,
    Board,
    Q,
    heatmap_panel,
    quantile,
    rate,
    ratio,
    sel,
    timeseries_panel,
)

SCORE = "llmotel_evaluation_score"
RESULTS = "llmotel_evaluation_results_total"
FEEDBACK = 'gen_ai_evaluation_name="user_feedback"'
HALLUCINATION = 'gen_ai_evaluation_name="hallucination"'
VERSIONED = sel(JOB, PROVIDER, MODEL, 'gen_ai_prompt_version!=""')
ALLOW = "Needs the label allow-listed in LLMOTEL_METRIC_ATTRIBUTES."


def _results(*matchers: str) -> str:
    return rate(RESULTS, sel(JOB, PROVIDER, MODEL, *matchers))


def _mean(by: str, selector: str = LLM) -> str:
    return (f"sum by ({by}) ({rate(SCORE + '_sum', selector)}) / "
            f"(sum by ({by}) ({rate(SCORE + '_count', selector)}) > 0)")


def _hallucination_rate(by: str) -> str:
    return ratio(_results(HALLUCINATION, 'gen_ai_evaluation_score_label="hallucinated"'),
                 _results(HALLUCINATION), by)


def board() -> Board:
    return Board("llmotel-quality", "User feedback and evaluation scores over time, hallucination rate by model "
                 "and feature, and prompt-version (A/B) comparison of quality, latency and cost.", [
        ("Feedback and evaluations", [
            timeseries_panel("Positive feedback share", "Share of user_feedback results labelled positive (thumbs "
                             "up) among all feedback, per model.", PERCENT,
                             Q(ratio(_results(FEEDBACK, 'gen_ai_evaluation_score_label="positive"'),
                                     _results(FEEDBACK), "gen_ai_request_model"), "{{gen_ai_request_model}}")),
            timeseries_panel("Mean score by evaluation", "Mean score in [0, 1] per evaluation name (1.0 = the named "
                             "property holds).", SHORT, Q(_mean("gen_ai_evaluation_name"),
                                                          "{{gen_ai_evaluation_name}}")),
            heatmap_panel("Score distribution", "Evaluation scores per bucket (0, 0.1 ... 1.0), every evaluation.",
                          SHORT, f"sum by (le) (increase({SCORE}_bucket{LLM}[$__rate_interval]))"),
            timeseries_panel("Evaluations by result label", "Results per second by evaluation and label.", SHORT,
                             Q("sum by (gen_ai_evaluation_name, gen_ai_evaluation_score_label) "
                               f"({rate(RESULTS)})", "{{gen_ai_evaluation_name}} {{gen_ai_evaluation_score_label}}"),
                             stack=True),
        ]),
        ("Hallucinations", [
            timeseries_panel("Hallucination rate by model", "Share of hallucination evaluations labelled "
                             "hallucinated.", PERCENT,
                             Q(_hallucination_rate("gen_ai_provider_name, gen_ai_request_model"),
                               "{{gen_ai_provider_name}} {{gen_ai_request_model}}")),
            timeseries_panel("Hallucination rate by feature", f"As left, per product feature. {ALLOW}", PERCENT,
                             Q(_hallucination_rate("llmotel_feature"), "{{llmotel_feature}}")),
        ]),
        ("Prompt versions (A/B)", [
            timeseries_panel("Mean score by prompt version", f"Per evaluation name and prompt version. {ALLOW}",
                             SHORT, Q(_mean("gen_ai_prompt_version, gen_ai_evaluation_name", VERSIONED),
                                      "{{gen_ai_prompt_version}} {{gen_ai_evaluation_name}}")),
            timeseries_panel("Latency p95 by prompt version", f"Call duration p95. {ALLOW}", "s",
                             Q(quantile(0.95, DURATION, "gen_ai_prompt_version", VERSIONED),
                               "{{gen_ai_prompt_version}}", exemplar=True)),
            timeseries_panel("Cost per call by prompt version", f"USD per call. {ALLOW}", "currencyUSD", Q(
                f"sum by (gen_ai_prompt_version) ({rate('llmotel_cost_usd_total', VERSIONED)}) / (sum by "
                f"(gen_ai_prompt_version) ({rate(DURATION + '_count', VERSIONED)}) > 0)", "{{gen_ai_prompt_version}}")),
            timeseries_panel("Calls by prompt version", f"Calls per second: the traffic split. {ALLOW}", "reqps",
                             Q(f"sum by (gen_ai_prompt_version) ({rate(DURATION + '_count', VERSIONED)})",
                               "{{gen_ai_prompt_version}}"), percent_stack=True),
        ]),
        ("Evaluator health", [
            timeseries_panel("Evaluator errors", "Evaluations that failed (never reaches the app).", SHORT,
                             Q("sum by (gen_ai_evaluation_name, error_type) "
                               f"(rate(llmotel_evaluation_errors_total{sel(JOB)}[$__rate_interval]))",
                               "{{gen_ai_evaluation_name}} {{error_type}}")),
            timeseries_panel("Dropped evaluation samples", "Samples the bounded evaluation queue could not take.",
                             SHORT, Q("sum by (llmotel_evaluation_drop_reason) "
                                      f"(rate(llmotel_evaluation_dropped_total{sel(JOB)}[$__rate_interval]))",
                                      "{{llmotel_evaluation_drop_reason}}")),
        ]),
    ])
