"""Real OTLP export on loopback: llmotel.init() -> SDK exporters -> a real OTLP receiver.

gRPC: oteltest's ``otelsink`` receiver (its servicers, bound to 127.0.0.1 only).
HTTP/protobuf (the default protocol): a stdlib ``http.server`` receiver decoding the protobuf bodies.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Iterator
from concurrent import futures
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from opentelemetry import _logs, metrics, trace
from opentelemetry._logs import SeverityNumber

import llmotel
import llmotel.instrumentation

grpc = pytest.importorskip("grpc")
sink = pytest.importorskip("oteltest.sink")
sink_private = pytest.importorskip("oteltest.sink.private")

from opentelemetry.proto.collector.logs.v1 import logs_service_pb2_grpc  # noqa: E402
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest  # noqa: E402
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2_grpc  # noqa: E402
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (  # noqa: E402
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402

from tests.otel_globals import reset_otel_globals  # noqa: E402

# --- isolation (same helper as tests/unit/test_sdk.py) ------------------------------



@pytest.fixture(autouse=True)
def isolated(monkeypatch) -> Iterator[None]:
    for name in list(os.environ):
        if name.startswith(("OTEL_", "LLMOTEL_")):
            monkeypatch.delenv(name)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TIMEOUT", "5")  # a broken receiver fails fast
    monkeypatch.setattr(llmotel.instrumentation, "INSTRUMENTORS", {})
    llmotel.shutdown()
    reset_otel_globals()
    yield
    llmotel.shutdown()
    reset_otel_globals()


# --- receivers --------------------------------------------------------------------


class Collected(sink.RequestHandler):
    """An otelsink RequestHandler keeping every decoded request with its headers."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.traces: list[ExportTraceServiceRequest] = []
        self.metrics: list[ExportMetricsServiceRequest] = []
        self.logs: list[ExportLogsServiceRequest] = []
        self.headers: list[dict[str, str]] = []

    def handle_trace(self, request: Any, headers: Any) -> None:
        with self.lock:
            self.traces.append(request)
            self.headers.append(dict(headers))

    def handle_metrics(self, request: Any, headers: Any) -> None:
        with self.lock:
            self.metrics.append(request)
            self.headers.append(dict(headers))

    def handle_logs(self, request: Any, headers: Any) -> None:
        with self.lock:
            self.logs.append(request)
            self.headers.append(dict(headers))


class LoopbackGrpcSink(sink.GrpcSink):
    """otelsink's gRPC OTLP receiver on 127.0.0.1 and a free port.

    ``GrpcSink.__init__`` always binds ``0.0.0.0:<port>`` (no host option), so this registers
    the same otelsink servicers on a loopback-only address instead.
    """

    def __init__(self, request_handler: sink.RequestHandler) -> None:
        self.logger = logging.getLogger("otelsink")
        self.svr = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
        trace_service_pb2_grpc.add_TraceServiceServicer_to_server(
            sink_private._TraceServiceServicer(request_handler.handle_trace), self.svr
        )
        metrics_service_pb2_grpc.add_MetricsServiceServicer_to_server(
            sink_private._MetricsServiceServicer(request_handler.handle_metrics), self.svr
        )
        logs_service_pb2_grpc.add_LogsServiceServicer_to_server(
            sink_private._LogsServiceServicer(request_handler.handle_logs), self.svr
        )
        self.port = self.svr.add_insecure_port("127.0.0.1:0")
        assert self.port, "could not bind the gRPC sink on 127.0.0.1"

    def stop(self) -> None:
        self.svr.stop(grace=None).wait(5)


@pytest.fixture
def grpc_sink() -> Iterator[tuple[LoopbackGrpcSink, Collected]]:
    collected = Collected()
    server = LoopbackGrpcSink(collected)
    server.start()
    try:
        yield server, collected
    finally:
        server.stop()


class HttpReceiver:
    """A minimal OTLP/HTTP receiver: stores (path, headers, body) of every POST."""

    def __init__(self) -> None:
        self.requests: list[tuple[str, dict[str, str], bytes]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                receiver.requests.append((self.path, {k.lower(): v for k, v in self.headers.items()}, body))
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def decoded(self, path: str, message_class: type) -> list[Any]:
        out = []
        for request_path, _, body in list(self.requests):
            if request_path == path:
                message = message_class()
                message.ParseFromString(body)
                out.append(message)
        return out

    def headers_for(self, path: str) -> list[dict[str, str]]:
        return [headers for request_path, headers, _ in list(self.requests) if request_path == path]


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    receiver = HttpReceiver()
    receiver.thread.start()
    try:
        yield receiver
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
        receiver.thread.join(5)


# --- decoding helpers -------------------------------------------------------------


def attributes(key_values: Any) -> dict[str, Any]:
    out = {}
    for kv in key_values:
        kind = kv.value.WhichOneof("value")
        out[kv.key] = getattr(kv.value, kind) if kind else None
    return out


def spans_of(requests: list[ExportTraceServiceRequest]) -> list[tuple[dict[str, Any], Any]]:
    return [
        (attributes(rs.resource.attributes), span)
        for request in requests
        for rs in request.resource_spans
        for ss in rs.scope_spans
        for span in ss.spans
    ]


def metrics_of(requests: list[ExportMetricsServiceRequest]) -> list[tuple[dict[str, Any], Any]]:
    return [
        (attributes(rm.resource.attributes), metric)
        for request in requests
        for rm in request.resource_metrics
        for sm in rm.scope_metrics
        for metric in sm.metrics
    ]


def logs_of(requests: list[ExportLogsServiceRequest]) -> list[tuple[dict[str, Any], Any]]:
    return [
        (attributes(rl.resource.attributes), record)
        for request in requests
        for rl in request.resource_logs
        for sl in rl.scope_logs
        for record in sl.log_records
    ]


def emit_one_of_each() -> None:
    with trace.get_tracer("llmotel.test").start_as_current_span(
        "otlp-span", attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "m-1"}
    ):
        pass
    metrics.get_meter("llmotel.test").create_counter("llmotel.test.requests", unit="{request}").add(
        5, {"gen_ai.operation.name": "chat"}
    )
    _logs.get_logger("llmotel.test").emit(
        body="otlp log record", severity_number=SeverityNumber.INFO, attributes={"k": "v"}
    )


def assert_one_of_each(
    traces: list[ExportTraceServiceRequest],
    metric_requests: list[ExportMetricsServiceRequest],
    log_requests: list[ExportLogsServiceRequest],
    service_name: str,
) -> None:
    spans = [(resource, span) for resource, span in spans_of(traces) if span.name == "otlp-span"]
    assert len(spans) == 1
    resource, span = spans[0]
    assert resource["service.name"] == service_name
    assert attributes(span.attributes) == {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m-1"}

    counters = [(r, m) for r, m in metrics_of(metric_requests) if m.name == "llmotel.test.requests"]
    assert counters
    resource, metric = counters[-1]
    assert resource["service.name"] == service_name
    assert metric.unit == "{request}"
    (point,) = metric.sum.data_points
    assert point.as_int == 5
    assert attributes(point.attributes) == {"gen_ai.operation.name": "chat"}

    records = [(r, rec) for r, rec in logs_of(log_requests) if rec.body.string_value == "otlp log record"]
    assert len(records) == 1
    resource, record = records[0]
    assert resource["service.name"] == service_name
    assert record.severity_number == SeverityNumber.INFO.value
    assert attributes(record.attributes) == {"k": "v"}


def wait_for(predicate: Any, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


# --- tests ------------------------------------------------------------------------


def test_grpc_export_to_otelsink(grpc_sink):
    server, collected = grpc_sink
    llmotel.init(
        otlp_protocol="grpc",
        otlp_endpoint=f"http://127.0.0.1:{server.port}",
        otlp_headers={"x-llmotel-test": "grpc"},
        service_name="otlp-test",
        metric_export_interval_ms=200,
    )
    emit_one_of_each()
    # the periodic reader pushes on its own, before any shutdown
    assert wait_for(lambda: any(m.name == "llmotel.test.requests" for _, m in metrics_of(collected.metrics)))
    llmotel.shutdown()
    assert_one_of_each(collected.traces, collected.metrics, collected.logs, "otlp-test")
    assert collected.headers and all(h.get("x-llmotel-test") == "grpc" for h in collected.headers)


def test_http_protobuf_export_with_kwargs(http_receiver):
    llmotel.init(
        otlp_endpoint=f"http://127.0.0.1:{http_receiver.port}",
        otlp_headers={"x-api-key": "secret"},
        service_name="otlp-http-test",
        metric_export_interval_ms=60000,
    )
    emit_one_of_each()
    llmotel.shutdown()
    assert_one_of_each(
        http_receiver.decoded("/v1/traces", ExportTraceServiceRequest),
        http_receiver.decoded("/v1/metrics", ExportMetricsServiceRequest),
        http_receiver.decoded("/v1/logs", ExportLogsServiceRequest),
        "otlp-http-test",
    )
    assert {path for path, _, _ in http_receiver.requests} == {"/v1/traces", "/v1/metrics", "/v1/logs"}
    for _, headers, _ in http_receiver.requests:
        assert headers["x-api-key"] == "secret"
        assert headers["content-type"] == "application/x-protobuf"


def test_http_protobuf_export_configured_by_environment_only(http_receiver, monkeypatch):
    base = f"http://127.0.0.1:{http_receiver.port}"
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-env")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", base)
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", f"{base}/custom/traces")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-from-env=1")
    llmotel.init()
    emit_one_of_each()
    llmotel.shutdown()
    assert_one_of_each(
        http_receiver.decoded("/custom/traces", ExportTraceServiceRequest),
        http_receiver.decoded("/v1/metrics", ExportMetricsServiceRequest),
        http_receiver.decoded("/v1/logs", ExportLogsServiceRequest),
        "from-env",
    )
    assert http_receiver.decoded("/v1/traces", ExportTraceServiceRequest) == []
    assert all(headers["x-from-env"] == "1" for _, headers, _ in http_receiver.requests)
