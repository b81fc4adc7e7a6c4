"""llmotel.init() / shutdown(): providers, exporters, reuse, instrumentors, bounded shutdown."""

from __future__ import annotations

import functools
import io
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import _logs, metrics, trace
from opentelemetry.instrumentation.instrumentor import BaseInstrumentor
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    ConsoleLogRecordExporter,
    InMemoryLogRecordExporter,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    InMemoryMetricReader,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import llmotel
import llmotel.instrumentation
from llmotel import ConfigError, sdk
from tests.otel_globals import reset_otel_globals

PROJECT_ROOT = Path(llmotel.__file__).resolve().parent.parent


# --- isolation helpers ------------------------------------------------------------



@pytest.fixture(autouse=True)
def isolated(monkeypatch) -> Iterator[None]:
    """No OTEL_*/LLMOTEL_* from the outside, no real instrumentors, fresh OTel globals."""
    for name in list(os.environ):
        if name.startswith(("OTEL_", "LLMOTEL_")):
            monkeypatch.delenv(name)
    # batches wait for shutdown() unless a test flushes: makes "shutdown flushes" observable
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "60000")
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "60000")
    monkeypatch.setattr(llmotel.instrumentation, "INSTRUMENTORS", {})
    llmotel.shutdown()
    reset_otel_globals()
    yield
    llmotel.shutdown()
    reset_otel_globals()


NO_EXPORTERS = {"traces_exporter": "none", "metrics_exporter": "none", "logs_exporter": "none"}


def span_exporters(provider: TracerProvider) -> list[Any]:
    processors = provider._active_span_processor._span_processors
    assert all(isinstance(p, BatchSpanProcessor) for p in processors)
    return [p.span_exporter for p in processors]


def metric_readers(provider: MeterProvider) -> list[Any]:
    return list(provider._metric_readers)


def metric_exporters(provider: MeterProvider) -> list[Any]:
    readers = metric_readers(provider)
    assert all(isinstance(r, PeriodicExportingMetricReader) for r in readers)
    return [r._exporter for r in readers]


def log_exporters(provider: LoggerProvider) -> list[Any]:
    processors = provider._multi_log_record_processor._log_record_processors
    assert all(isinstance(p, BatchLogRecordProcessor) for p in processors)
    return [p._batch_processor._exporter for p in processors]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def subprocess_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "LLMOTEL_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")]))
    return env


# --- fake instrumentors -----------------------------------------------------------


class _Fake(BaseInstrumentor):
    calls: list[dict[str, Any]]
    uninstrumented: int

    def instrumentation_dependencies(self):
        return ()

    def _instrument(self, **kwargs):
        type(self).calls.append(kwargs)

    def _uninstrument(self, **kwargs):
        type(self).uninstrumented += 1


class AlphaInstrumentor(_Fake):
    pass


class BetaInstrumentor(_Fake):
    pass


class BrokenInstrumentor(_Fake):
    def _instrument(self, **kwargs):
        raise RuntimeError("boom from BrokenInstrumentor")


FAKES = (AlphaInstrumentor, BetaInstrumentor, BrokenInstrumentor)


def target(cls: type) -> str:
    return f"{__name__}:{cls.__name__}"


@pytest.fixture
def fakes(monkeypatch) -> Iterator[None]:
    for cls in FAKES:
        cls._instance = None
        cls.calls = []
        cls.uninstrumented = 0
    yield
    for cls in FAKES:
        if cls._instance is not None and cls._instance.is_instrumented_by_opentelemetry:
            cls._instance.uninstrument()
        cls._instance = None


def register(monkeypatch, **entries: tuple[str, str]) -> None:
    monkeypatch.setattr(llmotel.instrumentation, "INSTRUMENTORS", dict(entries))


# --- providers and resource -------------------------------------------------------


def test_init_creates_sdk_providers_with_resource_from_env(monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "deployment.environment.name=test,team=a%20b")
    settings = llmotel.init(**NO_EXPORTERS)
    assert settings.service_name == "from-env"
    tp, mp, lp = trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider()
    assert isinstance(tp, TracerProvider)
    assert isinstance(mp, MeterProvider)
    assert isinstance(lp, LoggerProvider)
    for resource in (tp.resource, mp._sdk_config.resource, lp.resource):
        assert resource.attributes["service.name"] == "from-env"
        assert resource.attributes["deployment.environment.name"] == "test"
        assert resource.attributes["team"] == "a b"
        assert resource.attributes["telemetry.sdk.name"] == "opentelemetry"


def test_kwargs_override_resource_from_env(monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_RESOURCE_ATTRIBUTES", "team=env,region=eu")
    llmotel.init(service_name="from-kwarg", resource_attributes={"team": "kwarg"}, **NO_EXPORTERS)
    attributes = trace.get_tracer_provider().resource.attributes
    assert attributes["service.name"] == "from-kwarg"
    assert attributes["team"] == "kwarg"
    assert attributes["region"] == "eu"  # the environment still contributes the rest


def test_default_service_name_is_the_sdks(monkeypatch):
    llmotel.init(**NO_EXPORTERS)
    assert trace.get_tracer_provider().resource.attributes["service.name"].startswith("unknown_service")


def test_init_twice_is_a_noop():
    first = llmotel.init(traces_exporter="console", metrics_exporter="none", logs_exporter="none")
    tp = trace.get_tracer_provider()
    second = llmotel.init(traces_exporter="console", service_name="other")
    assert second is first
    assert trace.get_tracer_provider() is tp
    assert [type(e) for e in span_exporters(tp)] == [ConsoleSpanExporter]
    assert sdk.get_settings() is first


def test_get_settings_follows_init_and_shutdown():
    assert sdk.get_settings() is None
    settings = llmotel.init(**NO_EXPORTERS)
    assert sdk.get_settings() is settings
    llmotel.shutdown()
    assert sdk.get_settings() is None


def test_sdk_disabled_does_nothing(monkeypatch, fakes):
    monkeypatch.setenv("OTEL_SDK_DISABLED", "true")
    register(monkeypatch, alpha=("json", target(AlphaInstrumentor)))
    settings = llmotel.init(traces_exporter="console")
    assert settings.sdk_disabled is True
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert type(metrics.get_meter_provider()).__name__ == "_ProxyMeterProvider"
    assert type(_logs.get_logger_provider()).__name__ == "ProxyLoggerProvider"
    assert AlphaInstrumentor.calls == []


# --- reusing what the application installed ----------------------------------------


def test_existing_providers_are_reused_and_get_no_exporter(monkeypatch, fakes):
    spans = InMemorySpanExporter()
    app_tp = TracerProvider()
    app_tp.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    app_mp = MeterProvider(metric_readers=[reader])
    logs = InMemoryLogRecordExporter()
    app_lp = LoggerProvider()
    app_lp.add_log_record_processor(SimpleLogRecordProcessor(logs))
    trace.set_tracer_provider(app_tp)
    metrics.set_meter_provider(app_mp)
    _logs.set_logger_provider(app_lp)
    register(monkeypatch, alpha=("json", target(AlphaInstrumentor)))

    llmotel.init(traces_exporter="console,otlp", metrics_exporter="console", logs_exporter="console")

    assert trace.get_tracer_provider() is app_tp
    assert metrics.get_meter_provider() is app_mp
    assert _logs.get_logger_provider() is app_lp
    assert len(app_tp._active_span_processor._span_processors) == 1
    assert metric_readers(app_mp) == [reader]
    assert len(app_lp._multi_log_record_processor._log_record_processors) == 1
    (call,) = AlphaInstrumentor.calls
    assert call["tracer_provider"] is app_tp
    assert call["meter_provider"] is app_mp
    assert call["logger_provider"] is app_lp

    llmotel.shutdown()
    # the application's providers are still alive: llmotel never shuts down what it reused
    with trace.get_tracer("t").start_as_current_span("after-shutdown"):
        pass
    assert [s.name for s in spans.get_finished_spans()] == ["after-shutdown"]
    metrics.get_meter("t").create_counter("still.alive").add(1)
    assert reader.get_metrics_data() is not None
    assert AlphaInstrumentor.uninstrumented == 1
    app_tp.shutdown()
    app_mp.shutdown()
    app_lp.shutdown()


def test_only_missing_providers_are_created():
    app_tp = TracerProvider()
    trace.set_tracer_provider(app_tp)
    llmotel.init(traces_exporter="console", metrics_exporter="console", logs_exporter="console")
    assert trace.get_tracer_provider() is app_tp
    assert app_tp._active_span_processor._span_processors == ()
    assert [type(e) for e in metric_exporters(metrics.get_meter_provider())] == [ConsoleMetricExporter]
    assert [type(e) for e in log_exporters(_logs.get_logger_provider())] == [ConsoleLogRecordExporter]
    app_tp.shutdown()


# --- exporter selection ------------------------------------------------------------


def _otlp(protocol: str, signal: str) -> type:
    module = "grpc" if protocol == "grpc" else "http"
    if signal == "traces":
        if module == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        return OTLPSpanExporter
    if signal == "metrics":
        if module == "grpc":
            from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import OTLPMetricExporter
        else:
            from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        return OTLPMetricExporter
    if module == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter
    else:
        from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    return OTLPLogExporter


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"traces_exporter": "console"}, [ConsoleSpanExporter]),
        ({"traces_exporter": "none"}, []),
        ({}, [_otlp("http/protobuf", "traces")]),
        ({"otlp_protocol": "grpc"}, [_otlp("grpc", "traces")]),
        ({"traces_protocol": "grpc"}, [_otlp("grpc", "traces")]),
        ({"traces_exporter": "console,otlp"}, [ConsoleSpanExporter, _otlp("http/protobuf", "traces")]),
        ({"traces_exporter": ["otlp", "otlp"]}, [_otlp("http/protobuf", "traces")]),
    ],
)
def test_traces_exporter_selection(kwargs, expected):
    llmotel.init(**{"metrics_exporter": "none", "logs_exporter": "none", **kwargs})
    assert [type(e) for e in span_exporters(trace.get_tracer_provider())] == expected


def test_protocol_per_signal_from_env(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http/protobuf")
    llmotel.init(metric_export_interval_ms=12345)
    assert [type(e) for e in span_exporters(trace.get_tracer_provider())] == [_otlp("grpc", "traces")]
    assert [type(e) for e in metric_exporters(metrics.get_meter_provider())] == [
        _otlp("http/protobuf", "metrics")
    ]
    assert [type(e) for e in log_exporters(_logs.get_logger_provider())] == [_otlp("grpc", "logs")]
    (reader,) = metric_readers(metrics.get_meter_provider())
    assert reader._export_interval_millis == 12345


def test_console_exporters_for_every_signal():
    llmotel.init(traces_exporter="console", metrics_exporter="console", logs_exporter="console")
    assert [type(e) for e in span_exporters(trace.get_tracer_provider())] == [ConsoleSpanExporter]
    assert [type(e) for e in metric_exporters(metrics.get_meter_provider())] == [ConsoleMetricExporter]
    assert [type(e) for e in log_exporters(_logs.get_logger_provider())] == [ConsoleLogRecordExporter]


def test_http_endpoint_kwarg_gets_the_signal_paths():
    llmotel.init(otlp_endpoint="http://127.0.0.1:9/base/")
    (span_exporter,) = span_exporters(trace.get_tracer_provider())
    (metric_exporter,) = metric_exporters(metrics.get_meter_provider())
    (log_exporter,) = log_exporters(_logs.get_logger_provider())
    assert span_exporter._endpoint == "http://127.0.0.1:9/base/v1/traces"
    assert metric_exporter._endpoint == "http://127.0.0.1:9/base/v1/metrics"
    assert log_exporter._endpoint == "http://127.0.0.1:9/base/v1/logs"


def test_grpc_endpoint_kwarg_is_passed_as_is():
    llmotel.init(otlp_endpoint="http://127.0.0.1:9", otlp_protocol="grpc", metrics_exporter="none")
    (span_exporter,) = span_exporters(trace.get_tracer_provider())
    assert span_exporter._endpoint == "127.0.0.1:9"  # the gRPC exporter strips the scheme itself


def test_per_signal_endpoint_env_keeps_working(monkeypatch):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:9")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:8/custom/traces")
    settings = llmotel.init()
    assert settings.otlp_endpoint == "http://127.0.0.1:9"
    (span_exporter,) = span_exporters(trace.get_tracer_provider())
    (metric_exporter,) = metric_exporters(metrics.get_meter_provider())
    assert span_exporter._endpoint == "http://127.0.0.1:8/custom/traces"
    assert metric_exporter._endpoint == "http://127.0.0.1:9/v1/metrics"


def _assert_nothing_installed() -> None:
    assert sdk.get_settings() is None
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert type(metrics.get_meter_provider()).__name__ == "_ProxyMeterProvider"
    assert type(_logs.get_logger_provider()).__name__ == "ProxyLoggerProvider"


def test_missing_grpc_exporter_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.otlp.proto.grpc.trace_exporter", None)
    with pytest.raises(ConfigError, match=r"pip install 'llmotel\[grpc\]'"):
        llmotel.init(otlp_protocol="grpc")
    _assert_nothing_installed()


def test_missing_prometheus_exporter_is_a_config_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "opentelemetry.exporter.prometheus", None)
    with pytest.raises(ConfigError, match=r"pip install 'llmotel\[prometheus\]'"):
        llmotel.init(metrics_exporter="prometheus")
    _assert_nothing_installed()


def test_invalid_settings_propagate():
    with pytest.raises(ConfigError, match="traces_exporter"):
        llmotel.init(traces_exporter="zipkin")
    with pytest.raises(TypeError):
        llmotel.init(no_such_setting=1)
    _assert_nothing_installed()


# --- prometheus --------------------------------------------------------------------


def _scrape(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        return response.read().decode()


def _samples(body: str, name: str) -> list[tuple[dict[str, str], float]]:
    from prometheus_client.parser import text_string_to_metric_families

    return [
        (sample.labels, sample.value)
        for family in text_string_to_metric_families(body)
        for sample in family.samples
        if sample.name == name
    ]


def test_prometheus_serves_metrics_and_stops_on_shutdown():
    port = free_port()
    llmotel.init(
        traces_exporter="none",
        logs_exporter="none",
        metrics_exporter="prometheus",
        prometheus_host="127.0.0.1",
        prometheus_port=port,
        service_name="prom-test",
    )
    counter = metrics.get_meter("llmotel.test").create_counter("llmotel_test_requests", unit="1")
    counter.add(3, {"route": "chat"})
    body = _scrape(port)
    ((labels, value),) = _samples(body, "llmotel_test_requests_total")
    assert (labels["route"], value) == ("chat", 3.0)
    ((target_info, _),) = _samples(body, "target_info")
    assert target_info["service_name"] == "prom-test"
    llmotel.shutdown()
    with pytest.raises(urllib.error.URLError):
        _scrape(port)


def test_prometheus_port_in_use_is_a_config_error():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(ConfigError, match="OTEL_EXPORTER_PROMETHEUS_PORT") as info:
            llmotel.init(metrics_exporter="prometheus", prometheus_host="127.0.0.1", prometheus_port=port)
        assert str(port) in str(info.value)
    _assert_nothing_installed()
    # nothing half-built was left behind: a second attempt on a free port works
    port = free_port()
    llmotel.init(
        metrics_exporter="prometheus",
        prometheus_host="127.0.0.1",
        prometheus_port=port,
        traces_exporter="none",
        logs_exporter="none",
    )
    metrics.get_meter("t").create_counter("llmotel_retry").add(1)
    assert [value for _, value in _samples(_scrape(port), "llmotel_retry_total")] == [1.0]


# --- instrumentors -----------------------------------------------------------------


def test_all_registered_instrumentors_are_instrumented(monkeypatch, fakes):
    register(monkeypatch, alpha=("json", target(AlphaInstrumentor)), beta=("json", target(BetaInstrumentor)))
    settings = llmotel.init(**NO_EXPORTERS)
    for cls in (AlphaInstrumentor, BetaInstrumentor):
        (call,) = cls.calls
        assert call["tracer_provider"] is trace.get_tracer_provider()
        assert call["meter_provider"] is metrics.get_meter_provider()
        assert call["logger_provider"] is _logs.get_logger_provider()
        assert call["settings"] is settings
        assert cls().is_instrumented_by_opentelemetry
    llmotel.shutdown()
    assert AlphaInstrumentor.uninstrumented == BetaInstrumentor.uninstrumented == 1
    assert not AlphaInstrumentor().is_instrumented_by_opentelemetry


def test_instrument_selects_a_subset(monkeypatch, fakes):
    register(monkeypatch, alpha=("json", target(AlphaInstrumentor)), beta=("json", target(BetaInstrumentor)))
    llmotel.init(instrument="beta", **NO_EXPORTERS)
    assert AlphaInstrumentor.calls == []
    assert len(BetaInstrumentor.calls) == 1


def test_instrument_empty_selects_none(monkeypatch, fakes):
    register(monkeypatch, alpha=("json", target(AlphaInstrumentor)))
    llmotel.init(instrument=(), **NO_EXPORTERS)
    assert AlphaInstrumentor.calls == []


def test_unknown_instrument_name_lists_the_known_ones(monkeypatch, fakes):
    register(monkeypatch, alpha=("json", target(AlphaInstrumentor)), beta=("json", target(BetaInstrumentor)))
    with pytest.raises(ConfigError, match=r"'gemini'.*accepted: alpha, beta"):
        llmotel.init(instrument="alpha,gemini", **NO_EXPORTERS)
    assert AlphaInstrumentor.calls == []
    _assert_nothing_installed()


def test_library_not_installed_is_skipped_silently(monkeypatch, fakes, caplog):
    register(
        monkeypatch,
        alpha=("llmotel_test_no_such_library", target(AlphaInstrumentor)),
        beta=("llmotel_test_no_such_package.sub", target(BetaInstrumentor)),
    )
    caplog.set_level(logging.DEBUG, logger="llmotel")
    llmotel.init(**NO_EXPORTERS)
    assert AlphaInstrumentor.calls == [] and BetaInstrumentor.calls == []
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    assert any("llmotel_test_no_such_library" in r.getMessage() for r in caplog.records)


def test_failing_instrumentor_is_logged_and_skipped(monkeypatch, fakes, caplog):
    register(
        monkeypatch,
        broken=("json", target(BrokenInstrumentor)),
        missing_class=("json", f"{__name__}:NoSuchInstrumentor"),
        alpha=("json", target(AlphaInstrumentor)),
    )
    settings = llmotel.init(**NO_EXPORTERS)
    assert sdk.get_settings() is settings
    assert len(AlphaInstrumentor.calls) == 1
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name.startswith("llmotel")]
    assert len(warnings) == 2
    assert "broken" in warnings[0].getMessage() and "boom" in str(warnings[0].exc_info[1])
    assert "missing_class" in warnings[1].getMessage()
    assert not BrokenInstrumentor().is_instrumented_by_opentelemetry
    llmotel.shutdown()  # only what was instrumented is uninstrumented
    assert BrokenInstrumentor.uninstrumented == 0
    assert AlphaInstrumentor.uninstrumented == 1


def test_already_instrumented_is_left_to_its_owner(monkeypatch, fakes):
    AlphaInstrumentor().instrument()  # e.g. by opentelemetry-instrument
    register(monkeypatch, alpha=("json", target(AlphaInstrumentor)))
    llmotel.init(**NO_EXPORTERS)
    assert len(AlphaInstrumentor.calls) == 1
    llmotel.shutdown()
    assert AlphaInstrumentor.uninstrumented == 0
    assert AlphaInstrumentor().is_instrumented_by_opentelemetry


def test_semconv_opt_in_is_fine(monkeypatch, fakes):
    monkeypatch.setenv("OTEL_SEMCONV_STABILITY_OPT_IN", "gen_ai_latest_experimental")
    register(monkeypatch, alpha=("json", target(AlphaInstrumentor)))
    llmotel.init(**NO_EXPORTERS)
    assert len(AlphaInstrumentor.calls) == 1


# --- shutdown ----------------------------------------------------------------------


def test_shutdown_flushes_every_signal(monkeypatch):
    import opentelemetry.sdk._logs.export as logs_export
    import opentelemetry.sdk.metrics.export as metrics_export
    import opentelemetry.sdk.trace.export as trace_export

    out = {signal: io.StringIO() for signal in ("traces", "metrics", "logs")}
    monkeypatch.setattr(
        trace_export, "ConsoleSpanExporter", functools.partial(ConsoleSpanExporter, out=out["traces"])
    )
    monkeypatch.setattr(
        metrics_export, "ConsoleMetricExporter", functools.partial(ConsoleMetricExporter, out=out["metrics"])
    )
    monkeypatch.setattr(
        logs_export, "ConsoleLogRecordExporter", functools.partial(ConsoleLogRecordExporter, out=out["logs"])
    )
    llmotel.init(traces_exporter="console", metrics_exporter="console", logs_exporter="console")
    with trace.get_tracer("t").start_as_current_span("before-shutdown"):
        pass
    metrics.get_meter("t").create_counter("flushed.counter").add(1)
    _logs.get_logger("t").emit(body="flushed log record")
    assert all(buffer.getvalue() == "" for buffer in out.values())  # still batched
    llmotel.shutdown()
    assert '"name": "before-shutdown"' in out["traces"].getvalue()
    assert "flushed.counter" in out["metrics"].getvalue()
    assert "flushed log record" in out["logs"].getvalue()


def test_shutdown_is_idempotent_and_safe_without_init():
    llmotel.shutdown()
    llmotel.init(**NO_EXPORTERS)
    llmotel.shutdown()
    llmotel.shutdown()
    assert sdk.get_settings() is None


def test_shutdown_never_raises(monkeypatch, caplog):
    llmotel.init(**NO_EXPORTERS)
    tp = trace.get_tracer_provider()

    def explode() -> None:
        raise RuntimeError("provider exploded")

    monkeypatch.setattr(tp, "shutdown", explode)
    llmotel.shutdown()
    assert any("shutting down TracerProvider failed" in r.getMessage() for r in caplog.records)


def test_reinit_after_shutdown(caplog):
    llmotel.init(**NO_EXPORTERS)
    old = trace.get_tracer_provider()
    llmotel.shutdown()
    # without resetting the globals: OTel keeps the first provider, llmotel says so
    settings = llmotel.init(service_name="second", **NO_EXPORTERS)
    assert sdk.get_settings() is settings
    assert trace.get_tracer_provider() is old
    assert any("can be set only once per process" in r.getMessage() for r in caplog.records)
    llmotel.shutdown()
    reset_otel_globals()
    llmotel.init(service_name="third", **NO_EXPORTERS)
    assert trace.get_tracer_provider().resource.attributes["service.name"] == "third"


@pytest.mark.parametrize("protocol", ["http/protobuf", "grpc"])
def test_shutdown_with_dead_collector_is_bounded(monkeypatch, protocol):
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "1")
    port = free_port()  # closed again: nothing listens there
    llmotel.init(otlp_endpoint=f"http://127.0.0.1:{port}", otlp_protocol=protocol)
    with trace.get_tracer("t").start_as_current_span("lost"):
        pass
    metrics.get_meter("t").create_counter("lost.counter").add(1)
    _logs.get_logger("t").emit(body="lost log")
    started = time.monotonic()
    llmotel.shutdown()
    assert time.monotonic() - started < 15


def test_shutdown_timeout_caps_a_hanging_flush(monkeypatch):
    llmotel.init(**NO_EXPORTERS)
    tp = trace.get_tracer_provider()
    monkeypatch.setattr(tp, "force_flush", lambda timeout_millis=0: time.sleep(5))
    started = time.monotonic()
    llmotel.shutdown(timeout_seconds=0.5)
    assert time.monotonic() - started < 3


def test_atexit_is_registered_once(monkeypatch):
    registered: list[Any] = []
    monkeypatch.setattr(sdk, "_atexit_registered", False)
    monkeypatch.setattr(sdk.atexit, "register", registered.append)
    llmotel.init(**NO_EXPORTERS)
    llmotel.shutdown()
    reset_otel_globals()
    llmotel.init(**NO_EXPORTERS)
    assert registered == [sdk.shutdown]


def test_script_exiting_right_after_a_call_still_exports():
    script = textwrap.dedent(
        """
        import llmotel
        from opentelemetry import trace
        llmotel.init(traces_exporter="console", metrics_exporter="none", logs_exporter="none",
                     instrument=())
        with trace.get_tracer("t").start_as_current_span("exported-at-exit"):
            pass
        """
    )
    env = subprocess_env()
    env["OTEL_BSP_SCHEDULE_DELAY"] = "60000"
    result = subprocess.run(
        [sys.executable, "-c", script], env=env, capture_output=True, text=True, timeout=60, check=True
    )
    assert '"name": "exported-at-exit"' in result.stdout


def test_import_llmotel_imports_no_exporter_grpc_or_protobuf():
    code = (
        "import llmotel, sys; "
        "print([m for m in sys.modules if 'exporter' in m or m.startswith(('grpc', 'google.protobuf'))])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code],
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert result.stdout.strip() == "[]"
