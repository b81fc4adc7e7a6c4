"""Shared fixtures: the fake provider on loopback and in-memory OpenTelemetry pipelines."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from llmotel.config import Settings
from llmotel.demo.fake_provider import FakeProvider


@pytest.fixture(scope="session")
def fake() -> Iterator[FakeProvider]:
    """One fake OpenAI/Anthropic-compatible server on 127.0.0.1 for the whole run."""
    with FakeProvider() as provider:
        yield provider


class Otel:
    """In-memory providers plus helpers to read what an instrumentor emitted."""

    def __init__(self) -> None:
        self.span_exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.span_exporter))
        self.metric_reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])
        self.log_exporter = InMemoryLogRecordExporter()
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.log_exporter))

    def providers(self) -> dict[str, Any]:
        return {
            "tracer_provider": self.tracer_provider,
            "meter_provider": self.meter_provider,
            "logger_provider": self.logger_provider,
        }

    def spans(self, name_prefix: str = "") -> list[Any]:
        return [s for s in self.span_exporter.get_finished_spans() if s.name.startswith(name_prefix)]

    def span(self) -> Any:
        spans = self.spans()
        assert len(spans) == 1, [s.name for s in spans]
        return spans[0]

    def logs(self) -> list[Any]:
        return [getattr(r, "log_record", r) for r in self.log_exporter.get_finished_logs()]

    def points(self, metric: str) -> list[Any]:
        """All data points of ``metric`` collected so far."""
        data = self.metric_reader.get_metrics_data()
        out: list[Any] = []
        if data is None:
            return out
        for resource in data.resource_metrics:
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == metric:
                        out.extend(m.data.data_points)
        return out

    def clear(self) -> None:
        self.span_exporter.clear()
        self.log_exporter.clear()


@pytest.fixture
def instrument() -> Iterator[Any]:
    """Factory: ``otel = instrument(**settings)`` instruments openai and anthropic into fresh providers."""
    from llmotel.instrumentation.anthropic import AnthropicInstrumentor
    from llmotel.instrumentation.openai import OpenAIInstrumentor

    instrumentors = (OpenAIInstrumentor(), AnthropicInstrumentor())

    def stop() -> None:
        for instrumentor in instrumentors:
            if instrumentor.is_instrumented_by_opentelemetry:
                instrumentor.uninstrument()

    def start(**overrides: Any) -> Otel:
        stop()
        otel = Otel()
        settings = Settings.load(env={}, **overrides)
        for instrumentor in instrumentors:
            instrumentor.instrument(settings=settings, **otel.providers())
        return otel

    yield start
    stop()
    gc.collect()


@pytest.fixture
def otel(instrument: Any) -> Otel:
    """OpenAI instrumented with default settings (content capture off)."""
    return instrument()
