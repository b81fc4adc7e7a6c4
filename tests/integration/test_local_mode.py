"""Local mode with the real Prometheus and Alertmanager binaries (scripts/fetch-backends).

The demo starts them itself: Prometheus scraping the SDK's Prometheus endpoint with the
rules of a ``prometheus/`` folder, Alertmanager with that folder's routing, its receivers
pointed at a sink in the demo process. The first test uses a test-only folder with short
windows, so an alert fires and resolves in seconds; the last runs the README's first command
with the project's own rules and routing (issue #9's acceptance), which takes minutes.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from llmotel.demo import backends
from llmotel.demo.scenarios import EMBEDDING_MODEL, MODELS
from tests.backends import ROOT, require, until

RULES = """
groups:
- name: local-mode-test
  interval: 1s
  rules:
  - record: test:errors:rate5s
    expr: sum by (job, gen_ai_provider_name) (rate(gen_ai_client_operation_duration_seconds_count{error_type!=""}[5s]))
  - alert: TestProviderFailing
    expr: test:errors:rate5s{gen_ai_provider_name="openai"} > 1
    for: 1s
    labels: {severity: critical}
    annotations: {summary: "{{ $labels.gen_ai_provider_name }} is failing for {{ $labels.job }}"}
"""
ALERTMANAGER = """
global:
  slack_api_url_file: /run/secrets/slack_webhook_url
route:
  receiver: slack
  group_by: [alertname, job]
  group_wait: 1s
  group_interval: 1s
  routes:
  - matchers: ['severity="critical"']
    receiver: pager
    continue: true
  - matchers: ['severity="critical"']
    receiver: slack
receivers:
- name: slack
  slack_configs: [{channel: '#llm-alerts', send_resolved: true}]
- name: pager
  pagerduty_configs: [{routing_key_file: /run/secrets/pagerduty_routing_key, send_resolved: true}]
- name: mail
  email_configs: [{to: oncall@example.com, from: am@example.com, smarthost: 'mail:25'}]
"""


def project_env() -> dict[str, str]:
    """No collector answers, and local mode uses the project's own prometheus/ folder."""
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    env.pop("LLMOTEL_PROMETHEUS_DIR", None)
    return env


def test_alertmanager_config_points_every_receiver_at_the_sink(tmp_path: Path) -> None:
    source = tmp_path / "alertmanager.yml"
    source.write_text(ALERTMANAGER)
    (tmp_path / "secrets").mkdir()
    config = yaml.safe_load(backends.local_alertmanager_config(source, "http://127.0.0.1:1", tmp_path / "secrets"))
    assert config["route"] == yaml.safe_load(ALERTMANAGER)["route"]  # the project's routing, unchanged
    receivers = {r["name"]: r for r in config["receivers"]}
    assert (tmp_path / "secrets" / "slack_webhook_url").read_text().strip() == "http://127.0.0.1:1/slack"
    assert config["global"]["slack_api_url_file"] == str(tmp_path / "secrets" / "slack_webhook_url")
    assert receivers["pager"]["pagerduty_configs"][0]["url"] == "http://127.0.0.1:1/pagerduty"
    assert receivers["pager"]["pagerduty_configs"][0]["routing_key_file"].startswith(str(tmp_path))
    assert "email_configs" not in receivers["mail"]
    assert receivers["mail"]["webhook_configs"] == [{"url": "http://127.0.0.1:1/email", "send_resolved": True}]


def test_demo_local_mode_alert_fires_routes_and_resolves(tmp_path: Path) -> None:
    require("prometheus")
    require("alertmanager")
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "test.yml").write_text(RULES)
    (tmp_path / "alertmanager").mkdir()
    (tmp_path / "alertmanager" / "alertmanager.yml").write_text(ALERTMANAGER)
    env = {**os.environ, "LLMOTEL_PROMETHEUS_DIR": str(tmp_path), "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}
    proc = subprocess.run(
        [sys.executable, "-m", "llmotel.cli", "demo", "--profile", "outage", "--recover-after", "8", "--duration",
         "22", "--rps", "10", "--prometheus-port", str(backends.free_port()), "--service-name", "local-test"],
        env=env, capture_output=True, text=True, timeout=180, check=False)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "local mode" in out and "Prometheus http://127.0.0.1:" in out
    line = next((line for line in out.splitlines() if "TestProviderFailing" in line), None)
    assert line is not None, out
    assert line.split()[1:3] == ["critical", "openai"], line
    assert line.split()[-1] != "firing", f"the alert did not resolve after the incident: {out}"
    assert "pagerduty" in out.rsplit("notifications", 1)[-1] and "slack" in out.rsplit("notifications", 1)[-1]


@pytest.mark.timeout(480)  # the incident and its 5-minute alert window take minutes, by design
def test_readme_demo_fires_and_resolves_a_project_alert() -> None:
    """``scripts/demo`` with no collector (no Docker here): local mode on the real binaries, the
    project's prometheus/ folder. The outage profile for 60 s, then normal traffic: one of the
    project's alerts (LLMProviderFailing: the 5-minute error ratio of an OpenAI model over 50 %
    for 30 s) fires, is routed to PagerDuty and Slack, and resolves once the healthy calls
    outnumber the failed ones in its window (about 40 s to fire, 100-125 s to resolve here)."""
    require("prometheus")
    require("alertmanager")
    env = project_env()
    proc = subprocess.run(
        ["bash", str(ROOT / "scripts" / "demo"), "--profile", "outage", "--recover-after", "60", "--duration", "150",
         "--prometheus-port", str(backends.free_port())],
        env=env, capture_output=True, text=True, timeout=420, check=False)
    out = proc.stdout
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "local mode" in out and "(the project's rules;" in out
    summary = {line.split()[1] for line in out.splitlines() if line.startswith(("openai ", "anthropic "))}
    assert set(MODELS) | {EMBEDDING_MODEL} <= summary, out  # every scenario's models
    failing = [line.split() for line in out.splitlines() if line.strip().startswith("LLMProviderFailing")]
    assert failing and all(cells[1:3] == ["critical", "openai"] for cells in failing), out
    assert any(cells[-1] != "firing" for cells in failing), f"no provider alert resolved after the outage: {out}"
    assert "Watchdog" in out
    notified = out.rsplit("notifications", 1)[-1]
    assert "pagerduty" in notified and "slack" in notified, out


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has exited (its reaper is not ours)


def _start_local_demo() -> tuple[subprocess.Popen[str], list[int]]:
    env = project_env()
    proc = subprocess.Popen([sys.executable, "-m", "llmotel.cli", "demo", "--duration", "120", "--prometheus-port",
                             str(backends.free_port())], env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("llmotel demo: profile"):
            break
    children = _children(proc.pid)
    assert len(children) >= 2, children  # Prometheus and Alertmanager
    return proc, children


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc; the parent-death signal is Linux-only")
def test_a_killed_demo_leaves_no_backend_running() -> None:
    require("prometheus")
    require("alertmanager")
    proc, children = _start_local_demo()
    proc.kill()  # SIGKILL: no cleanup code runs in the demo
    proc.wait(timeout=10)
    assert until("the backends to exit", lambda: not any(_alive(c) for c in children), timeout=20)


@pytest.mark.skipif(sys.platform != "linux", reason="reads /proc for the demo's child processes")
def test_sigterm_stops_the_demo_like_ctrl_c() -> None:
    require("prometheus")
    require("alertmanager")
    proc, children = _start_local_demo()
    time.sleep(3)  # some traffic first, so there is a summary to print
    proc.terminate()
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0
    assert "(interrupted)" in out and "provider" in out  # the summary still printed
    assert not any(_alive(c) for c in children)
