"""Local mode with the real Prometheus and Alertmanager binaries (scripts/fetch-backends).

The demo starts them itself: Prometheus scraping the SDK's Prometheus endpoint with the
rules of a ``prometheus/`` folder, Alertmanager with that folder's routing, its receivers
pointed at a sink in the demo process. The rules here are a test-only folder with short
windows, so an alert fires and resolves in seconds; the project's own rules are exercised
by the alerting tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml

from llmotel.demo import backends
from tests.backends import require

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
    assert "job=local-test" in line and "gen_ai_provider_name=openai" in line
    assert "firing" not in line.split()[-1], f"the alert did not resolve after the incident: {out}"
    assert "pagerduty" in out.rsplit("notifications", 1)[-1] and "slack" in out.rsplit("notifications", 1)[-1]
