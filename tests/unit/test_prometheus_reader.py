"""llmotel's Prometheus reader keeps label values in place across instrumentation scopes."""

from __future__ import annotations

from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from llmotel.telemetry.prometheus_reader import reader_class


def samples(registry: CollectorRegistry, name: str) -> list[dict[str, str]]:
    text = generate_latest(registry).decode()
    return [s.labels for f in text_string_to_metric_families(text) for s in f.samples if s.name == name]


def test_two_scopes_with_different_label_sets() -> None:
    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[reader_class()(registry=registry)])
    first = provider.get_meter("scope.a").create_counter("calls")
    second = provider.get_meter("scope.b").create_counter("calls")
    first.add(1, {"provider": "openai", "tier": "default", "error_type": "500"})
    second.add(2, {"provider": "anthropic", "operation": "chat"})
    rows = {s["provider"]: s for s in samples(registry, "calls_total")}
    assert rows["anthropic"]["operation"] == "chat" and rows["anthropic"]["error_type"] == ""
    assert rows["anthropic"]["otel_scope_name"] == "scope.b"
    assert rows["openai"]["tier"] == "default" and rows["openai"]["operation"] == ""
    provider.shutdown()


def test_stock_reader_shifts_them_which_is_why_llmotel_has_its_own() -> None:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader

    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[PrometheusMetricReader(registry=registry)])
    provider.get_meter("scope.a").create_counter("calls").add(1, {"provider": "openai", "tier": "default"})
    provider.get_meter("scope.b").create_counter("calls").add(2, {"provider": "anthropic", "operation": "chat"})
    rows = samples(registry, "calls_total")
    # If this starts failing, upstream fixed the bug: llmotel's reader can then go.
    assert not any(r.get("provider") == "anthropic" and r.get("operation") == "chat" for r in rows), rows
    provider.shutdown()
