"""Building blocks every llmotel dashboard shares, written once: datasources, variables,
label selectors, units, panel styles, the links between dashboards and the final JSON.

Rules the helpers enforce, so no dashboard can break them by accident:
- every Prometheus query goes to the ``$datasource`` variable, Loki and Tempo queries to
  ``$loki`` / ``$tempo`` (the provisioned uids are only the variables' defaults);
- filters are ``=~`` regex matchers on documented labels, so "All" (``.*``) also matches a
  series that lacks the label (the scrape path has no promoted resource labels, attribution
  labels exist only when allow-listed);
- nothing filters on one SDK's identity (``otel_scope_*``, ``telemetry_sdk_*``).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from grafana_foundation_sdk.builders import bargauge, heatmap, logs, stat, table, tempo, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.builders import loki as lokib
from grafana_foundation_sdk.builders import prometheus as promb
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import tempo as tm

# --- datasources (uids provisioned by grafana/provisioning/datasources/datasources.yaml) ---
PROM = dm.DataSourceRef(type_val="prometheus", uid="${datasource}")
LOKI = dm.DataSourceRef(type_val="loki", uid="${loki}")
TEMPO = dm.DataSourceRef(type_val="tempo", uid="${tempo}")

# --- units (Grafana unit ids) ------------------------------------------------------------
SECONDS, PERCENT, USD, REQPS, SHORT, COUNT_PS = "s", "percentunit", "currencyUSD", "reqps", "short", "cps"

# --- label selectors -----------------------------------------------------------------------
JOB = 'job=~"$job"'
PROVIDER = 'gen_ai_provider_name=~"$provider"'
MODEL = 'gen_ai_request_model=~"$model"'
TENANT = 'llmotel_tenant_id=~"$tenant"'


def sel(*matchers: str) -> str:
    """A label selector body from matchers (``sel(JOB, MODEL, 'x="y"')``)."""
    return "{" + ", ".join(matchers) + "}"


LLM = sel(JOB, PROVIDER, MODEL)  # the GenAI metrics and the llmotel:* rules
LLM_TENANT = sel(JOB, PROVIDER, MODEL, TENANT)  # raw metrics that carry attribution labels
SERVICE = sel(JOB)  # metrics with no provider/model labels (workflows, self-metrics)
FAILED = sel(JOB, PROVIDER, MODEL, 'error_type!=""')  # successes carry no error_type on either path

DURATION = "gen_ai_client_operation_duration_seconds"
TTFT = "gen_ai_client_operation_time_to_first_chunk_seconds"
CHUNK = "gen_ai_client_operation_time_per_output_chunk_seconds"
COST = "llmotel_cost_usd_total"
RI = "$__rate_interval"


def rate(metric: str, selector: str = LLM, window: str = RI) -> str:
    return f"rate({metric}{selector}[{window}])"


def quantile(q: float, histogram: str, by: str = "", selector: str = LLM, window: str = RI) -> str:
    """A percentile of a raw histogram, aggregated correctly (over buckets, never over percentiles)."""
    labels = ", ".join(["le", *filter(None, [by])])
    return f"histogram_quantile({q}, sum by ({labels}) ({rate(histogram + '_bucket', selector, window)}))"


def ratio(numerator: str, denominator: str, by: str) -> str:
    """``numerator / denominator`` by ``by``, 0 (not "No data") where the numerator has no series."""
    agg = f"sum by ({by})" if by else "sum"
    return f"(({agg} ({numerator})) or (0 * {agg} ({denominator}))) / ({agg} ({denominator}) > 0)"


# --- queries -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Q:
    """One Prometheus target: range by default, ``instant`` for stats/tables."""

    expr: str
    legend: str = ""
    instant: bool = False
    fmt: str = ""  # "table" or "heatmap"
    exemplar: bool = False


def _prom_target(q: Q, ref: str) -> promb.Dataquery:
    t = promb.Dataquery().expr(q.expr).ref_id(ref).datasource(PROM).legend_format(q.legend or "__auto")
    t = t.instant() if q.instant else t.range()
    if q.fmt:
        t = t.format(q.fmt)  # type: ignore[arg-type]  # the enum's values are these strings
    return t.exemplar(q.exemplar)


def loki_target(expr: str, ref: str = "A") -> lokib.Dataquery:
    return lokib.Dataquery().expr(expr).ref_id(ref).datasource(LOKI).query_type("range").max_lines(200)


def traceql_target(query: str, ref: str = "A", limit: int = 50) -> tempo.TempoQuery:
    return (tempo.TempoQuery().query(query).ref_id(ref).datasource(TEMPO).query_type("traceql").limit(limit)
            .table_type(tm.SearchTableType.SPANS))


def traceql_metrics_target(query: str, ref: str = "A") -> tempo.TempoQuery:
    return (tempo.TempoQuery().query(query).ref_id(ref).datasource(TEMPO).query_type("traceql")
            .metrics_query_type(tm.MetricsQueryType.RANGE))


def _with_targets(panel: Any, queries: Sequence[Q]) -> Any:
    for i, q in enumerate(queries):
        panel = panel.with_target(_prom_target(q, chr(ord("A") + i)))
    return panel


def _thresholds(steps: Sequence[tuple[float | None, str]]) -> db.ThresholdsConfig:
    return (db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE)
            .steps([dm.Threshold(value=v, color=c) for v, c in steps]))


GREEN = ((None, "green"),)
ERROR_STEPS = ((None, "green"), (0.01, "orange"), (0.05, "red"))
BUDGET_STEPS = ((None, "green"), (0.8, "orange"), (1.0, "red"))


# --- panels (size first: every helper takes w/h) ------------------------------------------


def _common(panel: Any, title: str, description: str, unit: str, w: int, h: int) -> Any:
    return panel.title(title).description(description).unit(unit).span(w).height(h).datasource(PROM)


def timeseries_panel(title: str, description: str, unit: str, *queries: Q, w: int = 12, h: int = 8,
                     stack: bool = False, percent_stack: bool = False) -> timeseries.Panel:
    p = _common(timeseries.Panel(), title, description, unit, w, h).fill_opacity(10).line_width(1)
    p = p.legend(cb.VizLegendOptions().display_mode(cm.LegendDisplayMode.TABLE).placement(
        cm.LegendPlacement.BOTTOM).show_legend(True).calcs(["mean", "max", "lastNotNull"]))
    p = p.tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI).sort(cm.SortOrder.DESCENDING))
    if stack or percent_stack:
        mode = cm.StackingMode.PERCENT if percent_stack else cm.StackingMode.NORMAL
        p = p.stacking(cb.StackingConfig().mode(mode)).fill_opacity(60)
    return _with_targets(p, queries)


def stat_panel(title: str, description: str, unit: str, query: Q, *, w: int = 4, h: int = 4,
               steps: Sequence[tuple[float | None, str]] = GREEN, time_from: str = "") -> stat.Panel:
    p = _common(stat.Panel(), title, description, unit, w, h).thresholds(_thresholds(steps))
    p = p.color_mode(cm.BigValueColorMode.BACKGROUND).graph_mode(cm.BigValueGraphMode.AREA)
    p = p.reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]))
    if time_from:  # "now/d": today so far; "now/M": this month so far
        p = p.time_from(time_from)
    return _with_targets(p, [query])


def table_panel(title: str, description: str, unit: str, *queries: Q, w: int = 12, h: int = 8,
                merge: bool = False) -> table.Panel:
    """Instant queries as a table; ``merge`` joins several queries into one row per label set."""
    p = _common(table.Panel(), title, description, unit, w, h)
    if merge:
        p = p.with_transformation(dm.DataTransformerConfig(id_val="merge", options={}))
    p = p.with_transformation(dm.DataTransformerConfig(id_val="organize", options={
        "excludeByName": {"Time": True}, "renameByName": {f"Value #{chr(ord('A') + i)}": q.legend
                                                           for i, q in enumerate(queries) if q.legend}}))
    return _with_targets(p, [Q(q.expr, q.legend, instant=True, fmt="table") for q in queries])


def bars_panel(title: str, description: str, unit: str, query: Q, *, w: int = 12, h: int = 8) -> bargauge.Panel:
    p = _common(bargauge.Panel(), title, description, unit, w, h).orientation(cm.VizOrientation.HORIZONTAL)
    p = p.display_mode(cm.BarGaugeDisplayMode.GRADIENT).reduce_options(cb.ReduceDataOptions().calcs(["lastNotNull"]))
    return _with_targets(p, [Q(query.expr, query.legend, instant=True)])


def heatmap_panel(title: str, description: str, unit: str, expr: str, *, w: int = 12, h: int = 8) -> heatmap.Panel:
    p = _common(heatmap.Panel(), title, description, unit, w, h).calculate(False)
    return _with_targets(p, [Q(expr, "{{le}}", fmt="heatmap", exemplar=True)])


def logs_panel(title: str, description: str, expr: str, *, w: int = 24, h: int = 10,
               oldest_first: bool = False) -> logs.Panel:
    p = (logs.Panel().title(title).description(description).span(w).height(h).datasource(LOKI)
         .show_time(True).wrap_log_message(True).enable_log_details(True).prettify_log_message(True)
         .sort_order(cm.LogsSortOrder.ASCENDING if oldest_first else cm.LogsSortOrder.DESCENDING))
    return p.with_target(loki_target(expr))


def traces_panel(title: str, description: str, query: str, *, w: int = 24, h: int = 9) -> table.Panel:
    """A TraceQL search as a table; each trace id links to the trace in Tempo."""
    return table.Panel().title(title).description(description).span(w).height(h).datasource(TEMPO).with_target(
        traceql_target(query))


def traces_metrics_panel(title: str, description: str, unit: str, query: str, *, w: int = 12,
                         h: int = 8) -> timeseries.Panel:
    return (timeseries.Panel().title(title).description(description).unit(unit).span(w).height(h)
            .datasource(TEMPO).with_target(traceql_metrics_target(query)))


# --- variables -----------------------------------------------------------------------------


def _query_var(name: str, label: str, query: str, *, ds: dm.DataSourceRef = PROM, regex: str = "",
               all_value: str = ".*") -> db.QueryVariable:
    v = (db.QueryVariable(name).label(label).query(query).datasource(ds).include_all(True).all_value(all_value)
         .multi(True).refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED).sort(dm.VariableSort.ALPHABETICAL_ASC)
         .current(dm.VariableOption(selected=True, text="All", value="$__all")))
    return v.regex(regex) if regex else v


def _datasource_var(name: str, label: str, kind: str, uid: str) -> db.DatasourceVariable:
    return db.DatasourceVariable(name).label(label).type(kind).current(
        dm.VariableOption(selected=True, text=uid.capitalize(), value=uid))


DATASOURCE = _datasource_var("datasource", "Metrics", "prometheus", "prometheus")
LOKI_DS = _datasource_var("loki", "Logs", "loki", "loki")
TEMPO_DS = _datasource_var("tempo", "Traces", "tempo", "tempo")
# Environment: Prometheus's OTLP receiver promotes deployment.environment.name onto every series,
# the scrape path keeps it on target_info only, and the recording rules aggregate it away. So the
# environment narrows the *service* list (target_info exists on both paths), and every panel
# filters by service: the same queries work on both paths.
ENV = _query_var("env", "Environment", "label_values(target_info, deployment_environment_name)")
SERVICES = _query_var(
    "job", "Service",
    f"query_result(count by (job) (last_over_time({DURATION}_count[$__range])) and on (job) "
    'count by (job) (last_over_time(target_info{deployment_environment_name=~"$env"}[$__range])))',
    regex='/job="(?<text>[^"]+)"/')
PROVIDERS = _query_var("provider", "Provider", f"label_values({DURATION}_count{sel(JOB)}, gen_ai_provider_name)")
MODELS = _query_var("model", "Model", f"label_values({DURATION}_count{sel(JOB, PROVIDER)}, gen_ai_request_model)")
TENANTS = _query_var("tenant", "Tenant", f"label_values({COST}{sel(JOB)}, llmotel_tenant_id)")
# Loki and Tempo know the service by service.name (no namespace prefix, unlike the OTLP job).
LOKI_SERVICES = _query_var("service", "Service (logs, traces)", "label_values(service_name)", ds=LOKI)

METRIC_VARS = (DATASOURCE, ENV, SERVICES, PROVIDERS, MODELS)


# --- dashboards ----------------------------------------------------------------------------

# uid -> title: the stable names runbooks, alerts (annotations) and links use.
DASHBOARDS = {
    "llmotel-overview": "llmotel / Overview",
    "llmotel-latency": "llmotel / Latency",
    "llmotel-cost": "llmotel / Cost and tokens",
    "llmotel-models": "llmotel / Model comparison",
    "llmotel-errors": "llmotel / Errors and reliability",
    "llmotel-quality": "llmotel / Quality",
    "llmotel-workflows": "llmotel / Workflows and agents",
    "llmotel-tenants": "llmotel / Users and tenants",
    "llmotel-prompts": "llmotel / Prompt explorer",
    "llmotel-pipeline": "llmotel / Pipeline health",
    "llmotel-alerts": "llmotel / Alerts",
}


@dataclass
class Board:
    """One dashboard: its uid (a key of DASHBOARDS), description, variables and rows of panels."""

    uid: str
    description: str
    rows: list[tuple[str, list[Any]]]
    variables: Sequence[Any] = METRIC_VARS
    tags: list[str] = field(default_factory=list)

    def build(self) -> dict[str, Any]:
        title = DASHBOARDS[self.uid]
        d = (db.Dashboard(title).uid(self.uid).description(self.description).tags(["llmotel", *self.tags])
             .time("now-1h", "now").refresh("30s").timezone("browser").editable()
             .tooltip(dm.DashboardCursorSync.CROSSHAIR))
        for v in self.variables:
            d = d.with_variable(v)
        for uid, other in DASHBOARDS.items():
            if uid != self.uid:  # every dashboard links to every other, keeping time and variables
                d = d.link(db.DashboardLink(other.removeprefix("llmotel / ")).type(dm.DashboardLinkType.LINK)
                           .url(f"/d/{uid}").keep_time(True).include_vars(True).icon("dashboard"))
        for row, panels in self.rows:
            d = d.with_row(db.Row(row))
            for p in panels:
                d = d.with_panel(p)
        model = json.loads(json.dumps(d.build(), cls=JSONEncoder))
        for i, panel in enumerate(model["panels"], start=1):  # stable ids: links and alerts can point at panels
            panel["id"] = i
        model["annotations"] = {"list": [_ALERT_ANNOTATION]}
        return model


# Firing alerts as annotations on every time series (ALERTS is Prometheus's own series, both paths).
_ALERT_ANNOTATION = {
    "name": "Firing alerts", "enable": True, "iconColor": "red",
    "datasource": {"type": "prometheus", "uid": "${datasource}"},
    "expr": 'ALERTS{alertstate="firing", alertname!="Watchdog"}', "titleFormat": "{{alertname}}",
    "textFormat": "{{severity}}", "step": "60s", "useValueForTime": False,
}


def render(boards: Iterable[Board]) -> dict[str, str]:
    """file name -> JSON text, deterministic (sorted keys, 2-space indent, final newline)."""
    return {f"{b.uid}.json": json.dumps(b.build(), sort_keys=True, indent=2) + "\n" for b in boards}
