"""The whole stack under Docker: `docker compose up`, instrumented traffic, then the trace in
Tempo, its events in Loki, the metrics and recording rules in Prometheus and healthy
datasources in Grafana.

Needs a Docker engine: skipped with the reason when `docker info` fails (the development
and CI machines of this project have only the client, see ../shared/TOOLCHAIN.md). Uses the
compose binary from scripts/fetch-backends when the docker CLI has no compose plugin.
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = f"llmotel-stack-test-{os.getpid()}"
SERVICE = "stack-test"
PASSWORD = "stack-test-password"


def _docker_ready() -> str | None:
    """None when a Docker engine answers, else why not. The `docker` Python package is not a
    dependency of the project; when it is installed its ping() is used, else `docker info`."""
    try:
        import docker  # type: ignore[import-not-found, unused-ignore]
    except ImportError:
        docker = None
    if docker is not None:
        try:
            docker.from_env().ping()
            return None
        except Exception as exc:  # DockerException and whatever the transport raises
            return f"no Docker engine answers (docker.from_env().ping(): {exc})"
    cli = shutil.which("docker")
    if cli is None:
        return "no docker CLI and no docker Python package"
    probe = subprocess.run([cli, "info"], capture_output=True, text=True, timeout=30, check=False)
    if probe.returncode != 0:
        return f"no Docker engine answers (`docker info`: {probe.stderr.strip().splitlines()[-1:]})"
    return None


def _compose() -> list[str]:
    plugin = subprocess.run(["docker", "compose", "version"], capture_output=True, check=False)
    if plugin.returncode == 0:
        return ["docker", "compose"]
    binary = ROOT / ".cache" / "backends" / "bin" / "docker-compose"
    if not binary.is_file():
        pytest.fail(f"Docker is here but no compose: neither `docker compose` nor {binary} (scripts/fetch-backends)")
    return [str(binary)]


def _get(url: str, auth: str | None = None) -> Any:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(auth.encode()).decode())
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


def _until(what: str, check: Any, timeout: float = 180) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            value = check()
            if value:
                return value
        except (urllib.error.URLError, OSError, KeyError, IndexError, ValueError) as exc:
            last = exc
        time.sleep(2)
    pytest.fail(f"timed out waiting for {what} (last error: {last})")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    reason = _docker_ready()
    if reason:
        pytest.skip(f"stack test needs Docker: {reason}")
    secrets = tmp_path_factory.mktemp("secrets")
    # The README's recipe: every secrets/*.example copied, the Grafana password generated.
    for example in (ROOT / "secrets").glob("*.example"):
        shutil.copy(example, secrets / example.stem)
    (secrets / "slack_webhook_url").write_text("http://127.0.0.1:9/slack\n")
    (secrets / "grafana_admin_password").write_text(PASSWORD + "\n")
    # Every trace kept, so the one the test looks for is in Tempo; the rest of .env.example's defaults.
    env = {**os.environ, "SECRETS_DIR": str(secrets), "SAMPLING_PERCENTAGE": "100"}
    compose = [*_compose(), "-p", PROJECT, "--env-file", str(ROOT / ".env.example"), "-f",
               str(ROOT / "docker-compose.yml")]
    try:
        # Bounded: Tempo 3 may take minutes to report ready (its healthcheck allows 180 s of start).
        up = subprocess.run([*compose, "up", "-d", "--wait", "--wait-timeout", "600"], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=900, check=False)
        if up.returncode != 0:
            logs = subprocess.run([*compose, "logs", "--no-color", "--tail", "40"], cwd=ROOT, env=env,
                                  capture_output=True, text=True, timeout=120, check=False)
            pytest.fail(f"compose up failed:\n{up.stderr[-3000:]}\n{logs.stdout[-6000:]}")
        yield
    finally:
        subprocess.run([*compose, "down", "-v", "--remove-orphans"], cwd=ROOT, env=env, capture_output=True,
                       timeout=300, check=False)


TRAFFIC = f"""
import time
from opentelemetry import trace
import llmotel, openai
from llmotel.demo.fake_provider import FakeProvider
llmotel.init(service_name="{SERVICE}", otlp_endpoint="http://127.0.0.1:4318", capture_content="SPAN_AND_EVENT",
             metric_export_interval_ms=1000)
ids = []
with FakeProvider() as fake:
    client = openai.OpenAI(api_key="t", base_url=fake.base_url, max_retries=0)
    deadline = time.monotonic() + 25  # several metric exports, so rates have two points
    while time.monotonic() < deadline:
        with trace.get_tracer("stack-test").start_as_current_span("request") as span:
            client.chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": "hi"}}])
            ids.append(format(span.get_span_context().trace_id, "032x"))
        time.sleep(0.5)
llmotel.shutdown()
print(ids[0])
"""


@pytest.fixture(scope="module")
def trace_id(stack: None) -> str:
    proc = subprocess.run([sys.executable, "-c", TRAFFIC], capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout.strip().splitlines()[-1]


def _trace(trace_id: str) -> Any:
    """Tempo's trace-by-id API: v1 (/api/traces) first, v2 where v1 is gone."""
    for path in ("/api/traces/", "/api/v2/traces/"):
        try:
            return _get(f"http://127.0.0.1:3200{path}{trace_id}")
        except urllib.error.HTTPError as exc:
            if exc.code != 404 or path.startswith("/api/v2"):
                raise
    return None


def test_trace_reaches_tempo(trace_id: str) -> None:
    # Kept by tail sampling: SAMPLING_PERCENTAGE=100 for this run (decision_wait is 10 s).
    found = _until("the trace in Tempo", lambda: _trace(trace_id))
    text = json.dumps(found)
    assert "gen_ai.operation.name" in text and "llmotel.cost.amount" in text


def test_events_reach_loki_by_trace_id(trace_id: str) -> None:
    query = urllib.parse.quote(f'{{service_name="{SERVICE}"}} | trace_id="{trace_id}"')
    start = int((time.time() - 3600) * 1e9)

    def lines() -> list[Any]:
        data = _get(f"http://127.0.0.1:3100/loki/api/v1/query_range?query={query}&start={start}&limit=10")
        return data["data"]["result"]

    assert _until("the events in Loki", lines)


def test_metrics_and_recording_rules_reach_prometheus(trace_id: str) -> None:
    def query(expr: str) -> list[Any]:
        return _get(f"http://127.0.0.1:9090/api/v1/query?query={urllib.parse.quote(expr)}")["data"]["result"]

    count = f'gen_ai_client_operation_duration_seconds_count{{job="{SERVICE}"}}'
    raw = _until("the GenAI metrics", lambda: query(count))
    assert raw[0]["metric"]["service_name"] == SERVICE  # promoted resource attribute
    assert raw[0]["metric"]["deployment_environment_name"]  # stamped by the collector's resource processor
    assert _until("the cost counter", lambda: query(f'llmotel_cost_usd_total{{job="{SERVICE}"}} > 0'))
    # The rules dashboards and alerts query (prometheus/rules/), evaluated every 15 s.
    for rule in ("llmotel:requests:rate5m", "llmotel:error_ratio:rate5m", "llmotel:latency_seconds:p95_5m",
                 "llmotel:cost_usd:rate5m", "llmotel:tokens:rate5m"):
        assert _until(f"recording rule {rule}", lambda rule=rule: query(f'{rule}{{job="{SERVICE}"}}')), rule
    # Every component's self-metrics scrape works (collector :8888, Tempo, Loki, Alertmanager, Grafana).
    for job in ("otel-collector", "tempo", "loki", "alertmanager", "grafana", "prometheus"):
        assert _until(f"the {job} scrape", lambda job=job: query(f'up{{job="{job}"}} == 1')), job
    # Tempo's metrics-generator remote-writes span metrics of the (sampled) traces.
    assert _until("Tempo's span metrics", lambda: query(f'traces_spanmetrics_calls_total{{service="{SERVICE}"}}'))


def test_grafana_datasources_are_healthy(stack: None) -> None:
    auth = f"admin:{PASSWORD}"
    for uid in ("prometheus", "tempo", "loki", "alertmanager"):
        health = _until(f"datasource {uid}", lambda uid=uid: _get(
            f"http://127.0.0.1:3000/api/datasources/uid/{uid}/health", auth))
        assert health.get("status") == "OK", (uid, health)
    with pytest.raises(urllib.error.HTTPError):  # no anonymous access
        _get("http://127.0.0.1:3000/api/datasources")
