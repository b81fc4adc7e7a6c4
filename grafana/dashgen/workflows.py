"""llmotel / Workflows and agents: how long workflows, agents, tools and retrievals take, and where branches go."""

from __future__ import annotations

from grafana_foundation_sdk.builders import timeseries

from grafana.dashgen.core import (
    DATASOURCE,
    ENV,
    JOB,
    PERCENT,
    SECONDS,
    SERVICE,
    SERVICES,
    Board,
    Q,
    quantile,
    rate,
    ratio,
    sel,
    timeseries_panel,
)

WORKFLOW = "gen_ai_invoke_workflow_duration_seconds"
AGENT = "gen_ai_invoke_agent_duration_seconds"
TOOL = "gen_ai_execute_tool_duration_seconds"
RETRIEVAL = "llmotel_retrieval_duration_seconds"
BRANCHES = "llmotel_workflow_branches_total"
FAILED = sel(JOB, 'error_type!=""')


def _trio(metric: str, label: str, what: str) -> list[timeseries.Panel]:
    legend = f"{{{{{label}}}}}"
    return [
        timeseries_panel(f"{what} duration p95", f"p95 duration per {label}.", SECONDS,
                         Q(quantile(0.95, metric, label, SERVICE), legend, exemplar=True), w=8),
        timeseries_panel(f"{what} runs", f"Runs per second per {label}.", "reqps",
                         Q(f"sum by ({label}) ({rate(metric + '_count', SERVICE)})", legend), w=8),
        timeseries_panel(f"{what} error ratio", f"Failed share of runs per {label}.", PERCENT,
                         Q(ratio(rate(metric + "_count", FAILED), rate(metric + "_count", SERVICE), label), legend),
                         w=8),
    ]


def board() -> Board:
    shares = (f"sum by (llmotel_branch_workflow, llmotel_branch_from, llmotel_branch_to) ({rate(BRANCHES, SERVICE)})"
              " / on (llmotel_branch_workflow, llmotel_branch_from) group_left () "
              f"(sum by (llmotel_branch_workflow, llmotel_branch_from) ({rate(BRANCHES, SERVICE)}) > 0)")
    return Board("llmotel-workflows", "Workflow, agent and tool durations and errors, branch shares over time "
                 "and retrieval latency (llmotel.workflow / agent / tool / branch / retrieval).", [
        ("Workflows", _trio(WORKFLOW, "gen_ai_workflow_name", "Workflow")),
        ("Agents", _trio(AGENT, "gen_ai_agent_name", "Agent")),
        ("Tools", _trio(TOOL, "gen_ai_tool_name", "Tool")),
        ("Branches", [
            timeseries_panel("Branch shares", "Share of decisions at each branch point (workflow, from) that "
                             "went to each target: a shift means the app routes differently.", PERCENT,
                             Q(shares, "{{llmotel_branch_workflow}}: {{llmotel_branch_from}} → {{llmotel_branch_to}}"),
                             percent_stack=True),
            timeseries_panel("Branch decisions by outcome", "Decisions per second by workflow and outcome.",
                             "short", Q("sum by (llmotel_branch_workflow, llmotel_branch_outcome) "
                                        f"({rate(BRANCHES, SERVICE)})",
                                        "{{llmotel_branch_workflow}} {{llmotel_branch_outcome}}")),
        ]),
        ("Retrieval", _trio(RETRIEVAL, "gen_ai_data_source_id", "Retrieval")),
    ], variables=(DATASOURCE, ENV, SERVICES))
