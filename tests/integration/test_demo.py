"""The README's main command: `llmotel demo` runs end to end and reports what it recorded.

Each test runs the real command in a subprocess (it installs global OpenTelemetry
providers), against the built-in fake provider over HTTP on 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from llmotel.demo.backends import free_port
from llmotel.demo.scenarios import CHAT_MODELS, EMBEDDING_MODEL, MODELS

DEAD = "http://127.0.0.1:9"  # nothing listens there


def demo(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    full_env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": DEAD, **(env or {})}
    proc = subprocess.run([sys.executable, "-m", "llmotel.cli", "demo", *args], env=full_env,
                          capture_output=True, text=True, timeout=timeout, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-3000:]
    return proc


def rows(out: str) -> dict[str, list[str]]:
    """The summary table: model -> its cells (provider, model, calls, errors, p50, p95, TTFT, in, out, cost)."""
    return {line.split()[1]: line.split() for line in out.splitlines() if line.startswith(("openai ", "anthropic "))}


def test_demo_covers_every_scenario_and_model() -> None:
    proc = demo("--requests", "48", "--rps", "40", "--prometheus-port", str(free_port()))
    out = proc.stdout
    assert f"no OTLP collector answers at {DEAD}: local mode" in out
    table = rows(out)
    assert set(MODELS) | {EMBEDDING_MODEL} <= set(table), out
    for model, cells in table.items():
        assert int(cells[2]) > 0, model  # calls
        assert cells[0] == (MODELS[model][0] if model in MODELS else "openai")
    assert all(int(table[m][7]) > 0 for m in CHAT_MODELS)  # input tokens reported
    assert float(table["gpt-4.1"][9]) > 0  # priced
    assert table["gpt-4o-mini"][6] != "-"  # streamed: a time to first token
    assert "48 requests" in out
    assert "To see an alert fire and resolve: scripts/demo --profile outage --recover-after 60" in out


def test_outage_profile_fails_the_openai_calls() -> None:
    out = demo("--requests", "24", "--rps", "40", "--profile", "outage", "--no-export").stdout
    table = rows(out)
    openai_calls = sum(int(c[2]) for c in table.values() if c[0] == "openai")
    openai_errors = sum(int(c[3]) for c in table.values() if c[0] == "openai")
    anthropic_errors = sum(int(c[3]) for c in table.values() if c[0] == "anthropic")
    assert openai_errors > openai_calls * 0.5, out
    assert anthropic_errors <= 2, out


def test_demo_drives_an_openai_compatible_server(fake: Any) -> None:
    """--base-url/--model: the scenarios against a server llmotel does not script (no fake headers)."""
    out = demo("--requests", "12", "--rps", "40", "--no-export", "--base-url", fake.base_url,
               "--model", "served-model").stdout
    table = rows(out)
    assert set(table) == {"served-model"}, out
    assert int(table["served-model"][3]) == 0  # nothing injected failures
    served = [r for r in fake.requests if isinstance(r.json, dict) and r.json.get("model") == "served-model"]
    assert len(served) >= 12
    assert not [r for r in served if any(h.startswith("x-fake-") for h in r.headers)]


def test_unknown_profile_is_refused() -> None:
    proc = subprocess.run([sys.executable, "-m", "llmotel.cli", "demo", "--profile", "chaos"],
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "invalid choice: 'chaos'" in proc.stderr


def llmotel_script() -> str:
    """The ``llmotel`` console script of this venv (the README runs ``.venv/bin/llmotel``)."""
    return str(Path(sys.executable).with_name("llmotel"))


def test_check_reports_configuration_libraries_and_endpoints() -> None:
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": DEAD, "LLMOTEL_INSTRUMENT": "openai"}
    proc = subprocess.run([llmotel_script(), "check"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    out = proc.stdout
    assert proc.returncode == 1, out  # the collector does not answer
    assert "otlp_endpoint" in out and DEAD in out
    assert "openai" in out and "instrumented by llmotel.init()" in out
    assert "installed, but left out by LLMOTEL_INSTRUMENT" in out  # anthropic
    assert f"FAIL OTLP/HTTP {DEAD}" in out and "docker compose up" in out


def test_check_rejects_bad_configuration() -> None:
    env = {**os.environ, "OTEL_TRACES_EXPORTER": "zipkin"}
    proc = subprocess.run([sys.executable, "-m", "llmotel.cli", "check"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 2 and "INVALID" in proc.stdout and "OTEL_TRACES_EXPORTER" in proc.stdout


def test_check_with_a_listening_collector(fake: Any) -> None:
    """Any HTTP server answering on the endpoint counts as reachable (the fake answers 404)."""
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": fake.base_url.removesuffix("/v1")}
    proc = subprocess.run([sys.executable, "-m", "llmotel.cli", "check"], env=env,
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0, proc.stdout
    assert "ok   OTLP/HTTP" in proc.stdout


def test_check_says_whether_the_prometheus_port_is_free() -> None:
    import socket

    env = {**os.environ, "OTEL_METRICS_EXPORTER": "prometheus", "OTEL_TRACES_EXPORTER": "none",
           "OTEL_LOGS_EXPORTER": "none", "OTEL_EXPORTER_PROMETHEUS_HOST": "127.0.0.1"}
    port = free_port()
    proc = subprocess.run([llmotel_script(), "check"], env={**env, "OTEL_EXPORTER_PROMETHEUS_PORT": str(port)},
                          capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 0 and f"ok   Prometheus endpoint 127.0.0.1:{port}: free" in proc.stdout, proc.stdout
    with socket.socket() as taken:  # bound, not even listening: init() could not serve there
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        proc = subprocess.run([llmotel_script(), "check"], env={**env, "OTEL_EXPORTER_PROMETHEUS_PORT": str(port)},
                              capture_output=True, text=True, timeout=60, check=False)
    assert proc.returncode == 1 and f"FAIL Prometheus endpoint 127.0.0.1:{port}: port in use" in proc.stdout


DEMO_METRICS_SCRIPT = """
import sys, urllib.request
import llmotel
from llmotel.demo import runner
from llmotel.demo.fake_provider import FakeProvider
from llmotel.demo.profiles import PROFILES
from llmotel.demo.session import demo_settings
port = int(sys.argv[1])
llmotel.init(service_name="demo-metrics", traces_exporter="none", logs_exporter="none",
             metrics_exporter="prometheus", prometheus_host="127.0.0.1", prometheus_port=port, **demo_settings())
with FakeProvider() as fake:
    runner.run(runner.make_clients(fake.base_url, fake.anthropic_base_url), PROFILES["normal"],
               duration=0, rps=60, max_requests=100)
    from llmotel.evaluators import shutdown_all
    shutdown_all(5)  # the judges' queues drained, as llmotel.shutdown() would
print(urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics").read().decode())
llmotel.shutdown()
"""


def test_demo_emits_every_documented_metric() -> None:
    """The demo's own traffic (not a test's) exercises every metric docs/metrics.md lists."""
    from tests.integration.test_metrics_contract import documented_names, exposed_names

    proc = subprocess.run([sys.executable, "-c", DEMO_METRICS_SCRIPT, str(free_port())], capture_output=True,
                          text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    emitted = exposed_names(proc.stdout)
    assert documented_names() - emitted == set(), "documented but not produced by the demo"
    assert emitted - documented_names() == set(), "produced by the demo but not documented"


def test_demo_exports_otlp_to_a_listening_collector() -> None:
    """The compose path: a collector answers, so the demo sends spans, metrics and events over
    OTLP/HTTP (here to a real protobuf-decoding receiver on loopback) and says where to look."""
    from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
    from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import ExportMetricsServiceRequest
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    from tests.integration import test_otlp_export as otlp

    receiver = otlp.HttpReceiver()
    receiver.thread.start()
    endpoint = f"http://127.0.0.1:{receiver.port}"
    try:
        out = demo("--requests", "18", "--rps", "40", "--profile", "outage", "--endpoint", endpoint).stdout
    finally:
        receiver.server.shutdown()
        receiver.server.server_close()
    assert f"exporting OTLP to {endpoint}" in out and "local mode" not in out
    assert "http://localhost:3000/d/llmotel-overview" in out and "/d/llmotel-alerts" in out
    spans = otlp.spans_of(receiver.decoded("/v1/traces", ExportTraceServiceRequest))
    assert {resource["service.name"] for resource, _ in spans} == {"llmotel-demo"}
    names = {span.name for _, span in spans}
    assert {"invoke_workflow support-chat", "invoke_agent researcher"} <= names, names
    assert any(n.startswith("chat gpt-") for n in names) and any(n.startswith("embeddings ") for n in names)
    metrics = {m.name for _, m in otlp.metrics_of(receiver.decoded("/v1/metrics", ExportMetricsServiceRequest))}
    assert {"gen_ai.client.operation.duration", "gen_ai.client.token.usage", "llmotel.cost.usd"} <= metrics, metrics
    events = otlp.logs_of(receiver.decoded("/v1/logs", ExportLogsServiceRequest))
    assert {r.event_name for _, r in events} >= {"gen_ai.client.inference.operation.details"}, events[:3]


def test_a_taken_prometheus_port_is_a_clear_error_or_avoided() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": DEAD}
        proc = subprocess.run([sys.executable, "-m", "llmotel.cli", "demo", "--requests", "4", "--prometheus-port",
                               str(port)], env=env, capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 2, proc.stdout
        assert f"cannot serve /metrics on 127.0.0.1:{port}" in proc.stderr and "Traceback" not in proc.stderr
    from llmotel.demo import session

    with socket.socket() as default:  # the default port taken: the demo picks another and says so
        with contextlib.suppress(OSError):  # already taken by something else: the same situation
            default.bind(("127.0.0.1", session.DEFAULT_PROMETHEUS_PORT))
            default.listen()
        out = demo("--requests", "4", "--rps", "40").stdout
    assert f"port {session.DEFAULT_PROMETHEUS_PORT} is taken, using" in out
