"""Spend-to-date, forecast and budget queries, shared by the Overview and the Cost dashboard.

The budget is not a dashboard setting: it is the per-service series the alert rules use
(``llmotel:config:budget_usd_monthly`` in prometheus/rules/llmotel-config.rules.yml), so the
dashboards and the budget alerts can never disagree about it.
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import stat

from grafana.dashgen.core import BUDGET_STEPS, COST, LLM, PERCENT, USD, Q, stat_panel

SPEND_IN_RANGE = f"sum(increase({COST}{LLM}[$__range]))"
# Seconds left in the current (UTC) month.
_MONTH_LEFT = "((days_in_month() - day_of_month() + 1) * 86400 - time() % 86400)"
# Month-end forecast per service: spend so far this month + the last hour's rate for the rest of it.
_FORECAST_BY_JOB = (f"(sum by (job) (increase({COST}{LLM}[$__range])) + "
                    f"sum by (job) (rate({COST}{LLM}[1h])) * on () group_left () {_MONTH_LEFT})")


def spend_today() -> stat.Panel:
    return stat_panel("Spend today", "USD spent since midnight (browser time zone) by successful calls; "
                      "unpriced calls are not counted as $0 (see Cost: unpriced calls).", USD,
                      Q(SPEND_IN_RANGE, instant=True), time_from="now/d")


def spend_month() -> stat.Panel:
    return stat_panel("Spend this month", "USD spent since the first of the month.", USD,
                      Q(SPEND_IN_RANGE, instant=True), time_from="now/M")


def forecast_month() -> stat.Panel:
    return stat_panel("Month-end forecast", "Spend so far this month plus the last hour's spend rate for the "
                      "rest of the month.", USD, Q(f"sum({_FORECAST_BY_JOB})", instant=True), time_from="now/M")


def forecast_vs_budget() -> stat.Panel:
    return stat_panel(
        "Forecast vs budget (worst service)",
        "Month-end forecast of the service closest to its monthly budget, as a share of that budget "
        "(llmotel:config:budget_usd_monthly, the value the budget alerts use). Above 100 %: the budget "
        "will be exceeded at the current rate.", PERCENT,
        Q(f"max({_FORECAST_BY_JOB} / on () group_left () llmotel:config:budget_usd_monthly)", instant=True),
        steps=BUDGET_STEPS, time_from="now/M")
