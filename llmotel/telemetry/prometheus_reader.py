"""The Prometheus pull reader llmotel installs, fixing a label shift in the upstream exporter.

``opentelemetry-exporter-prometheus`` (0.66b2) builds one metric family per name that is
shared by every instrumentation scope, with the label names of the *first* scope, and then
adds the other scopes' rows by position. llmotel's instrumentors are separate scopes with
the same metric names (openai, anthropic, workflows), and their label sets differ (only
OpenAI calls carry ``openai_response_service_tier``, only failures ``error_type``), so
Anthropic series came out as ``gen_ai_provider_name="claude-haiku-4-5"`` and
``error_type="chat"``. This collector gathers every scope's points first and gives each
family the union of their label names (missing ones empty, as upstream does within a
scope). It reuses the exporter's own family builders; if their private API changes, the
stock reader is used and a warning says so.
"""

from __future__ import annotations

import logging
from typing import Any

_log = logging.getLogger("llmotel")


def reader_class() -> type:
    """``PrometheusMetricReader`` with the union-of-labels collector (or the stock one)."""
    import opentelemetry.exporter.prometheus as upstream

    needed = ("_CustomCollector", "_populate_counter_family", "_populate_gauge_family",
              "_populate_histogram_family", "_should_convert_sum_to_gauge", "map_unit")
    if not all(hasattr(upstream, name) for name in needed):
        _log.warning("llmotel: opentelemetry-exporter-prometheus changed its internals; using its reader as is "
                     "(series of different instrumentation scopes may carry shifted labels)")
        return upstream.PrometheusMetricReader

    from opentelemetry.sdk.metrics.export import Gauge, Histogram, Sum

    class _UnionCollector(upstream._CustomCollector):
        def _translate_to_prometheus(self, metrics_data: Any, registry: dict[str, Any]) -> None:
            families: dict[tuple[str, str, str, str], tuple[list[dict[str, str]], list[Any]]] = {}
            for rm in metrics_data.resource_metrics:
                resource_attrs = self._build_resource_attrs(rm.resource)
                for sm in rm.scope_metrics:
                    scope_attrs = self._build_scope_attrs(sm.scope)
                    for metric in sm.metrics:
                        if isinstance(metric.data, Sum) and not upstream._should_convert_sum_to_gauge(metric):
                            kind = "counter"
                        elif isinstance(metric.data, Gauge | Sum):
                            kind = "gauge"
                        elif isinstance(metric.data, Histogram):
                            kind = "histogram"
                        else:
                            continue
                        keys, rows, values = self._collect_data_points(metric.data, scope_attrs, resource_attrs)
                        key = (self._resolve_metric_name(metric.name), metric.description or "",
                               upstream.map_unit(metric.unit or ""), kind)
                        all_rows, all_values = families.setdefault(key, ([], []))
                        all_rows.extend(dict(zip(keys, row, strict=True)) for row in rows)
                        all_values.extend(values)
            populate = {"counter": upstream._populate_counter_family, "gauge": upstream._populate_gauge_family,
                        "histogram": upstream._populate_histogram_family}
            for (name, description, unit, kind), (rows, values) in families.items():
                label_keys = sorted({k for row in rows for k in row})
                populate[kind](
                    registry=registry, per_metric_family_id="|".join((name, description, unit)), metric_name=name,
                    description=description, unit=unit, label_keys=label_keys,
                    label_rows=[[row.get(k, "") for k in label_keys] for row in rows], values=values)

    class LlmotelPrometheusMetricReader(upstream.PrometheusMetricReader):
        """The upstream pull reader with labels kept in place across instrumentation scopes."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            stock = self._collector
            self._registry.unregister(stock)
            collector = _UnionCollector.__new__(_UnionCollector)
            collector.__dict__.update(stock.__dict__)  # same options as the stock one was given
            # register() collects once to learn the names: not through the reader yet (as upstream).
            collector._callback = None
            self._registry.register(collector)
            collector._callback = self.collect
            self._collector = collector

    return LlmotelPrometheusMetricReader
