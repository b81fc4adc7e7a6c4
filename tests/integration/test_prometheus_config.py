"""The compose stack's Prometheus and Alertmanager files, checked by the real promtool/amtool,
and their references to docker-compose.yml (service names, secrets) checked structurally."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from tests.backends import ROOT, alertmanager, get_json, prometheus, rule_files, run, until

PROMETHEUS = ROOT / "prometheus"
# The scrape contract with docker-compose.yml: service name and self-metrics port.
SELF_METRICS = {"otel-collector": "otel-collector:8888", "tempo": "tempo:3200", "loki": "loki:3100",
                "grafana": "grafana:3000", "alertmanager": "alertmanager:9093", "prometheus": "prometheus:9090"}
RECORDING_CONTRACT = (
    "llmotel:requests:rate5m", "llmotel:errors:rate5m", "llmotel:error_ratio:rate5m",
    "llmotel:latency_seconds:p50_5m", "llmotel:latency_seconds:p95_5m", "llmotel:latency_seconds:p99_5m",
    "llmotel:ttft_seconds:p50_5m", "llmotel:ttft_seconds:p95_5m", "llmotel:tokens:rate5m",
    "llmotel:cost_usd:rate5m", "llmotel:unpriced_calls:rate5m", "llmotel:throttled:rate5m")


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def test_promtool_accepts_the_prometheus_config(tmp_path: Path) -> None:
    # The file names container paths (/etc/prometheus/rules/*.yml): check a copy whose rule
    # paths point into the repository, so the rules are loaded and checked with it.
    text = (PROMETHEUS / "prometheus.yml").read_text()
    assert _yaml(PROMETHEUS / "prometheus.yml")["rule_files"] == ["/etc/prometheus/rules/*.yml"]
    copy = tmp_path / "prometheus.yml"
    copy.write_text(text.replace("/etc/prometheus/rules", str(PROMETHEUS / "rules")))
    out = run("promtool", "check", "config", copy)
    assert "SUCCESS" in out and "rules" in out


def test_promtool_accepts_every_rule_file() -> None:
    files = rule_files()
    assert files
    run("promtool", "check", "rules", *files)


def test_recording_rules_follow_the_naming_contract() -> None:
    groups = [group for f in rule_files() for group in _yaml(f)["groups"]]
    names = [rule["record"] for group in groups for rule in group["rules"] if "record" in rule]
    assert names and all(n.startswith("llmotel:") and n.count(":") == 2 for n in names), names
    assert set(RECORDING_CONTRACT) <= set(names)
    assert len(names) == len(set(names))
    # No group sets its own interval: they follow the global one, so 5m windows hold many
    # points with the compose stack's 15 s as well as with local mode's 1 s.
    assert all("interval" not in group for group in groups)


def test_every_component_is_scraped_by_its_compose_service_name() -> None:
    config = _yaml(PROMETHEUS / "prometheus.yml")
    targets = {job["job_name"]: t for job in config["scrape_configs"] for sc in job["static_configs"]
               for t in sc["targets"]}
    assert targets == SELF_METRICS
    services = _yaml(ROOT / "docker-compose.yml")["services"]
    assert {t.split(":")[0] for t in targets.values()} <= set(services)
    assert config["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] == ["alertmanager:9093"]
    otlp = config["otlp"]
    assert otlp.get("translation_strategy", "UnderscoreEscapingWithSuffixes") == "UnderscoreEscapingWithSuffixes"
    assert {"service.name", "service.namespace", "service.instance.id", "service.version",
            "deployment.environment.name"} <= set(otlp["promote_resource_attributes"])


def test_amtool_accepts_the_alertmanager_config() -> None:
    out = run("amtool", "check-config", "--enable-feature=utf8-strict-mode",
              PROMETHEUS / "alertmanager" / "alertmanager.yml")
    assert "SUCCESS" in out


def test_alertmanager_secrets_are_the_ones_compose_mounts() -> None:
    config = _yaml(PROMETHEUS / "alertmanager" / "alertmanager.yml")
    files = {c[key] for r in config["receivers"] for kind in ("slack_configs", "pagerduty_configs")
             for c in r.get(kind, []) for key in ("api_url_file", "routing_key_file") if key in c}
    mounted = _yaml(ROOT / "docker-compose.yml")["services"]["alertmanager"]["secrets"]
    assert files == {"/run/secrets/slack_webhook_url", "/run/secrets/pagerduty_routing_key"}
    assert {f.removeprefix("/run/secrets/") for f in files} <= {s if isinstance(s, str) else s["source"]
                                                                  for s in mounted}


def test_the_real_prometheus_loads_the_config_and_every_rule() -> None:
    # Beyond promtool: the server itself loads the file (container rule path pointed at the
    # repository) and reports every group healthy. Scrapes of the compose hosts just fail here.
    text = (PROMETHEUS / "prometheus.yml").read_text().replace("/etc/prometheus/rules", str(PROMETHEUS / "rules"))
    config = _yaml(PROMETHEUS / "prometheus.yml")
    jobs = {job["job_name"] for job in config["scrape_configs"]}
    with prometheus(text) as prom:
        groups = until("the rule groups", lambda: prom.api("rules")["groups"])
        # The config as the server parsed it (its targets appear only after ~5 s of discovery).
        served = yaml.safe_load(prom.api("status/config")["yaml"])
    assert {job["job_name"] for job in served["scrape_configs"]} == jobs
    assert served["otlp"]["translation_strategy"] == "UnderscoreEscapingWithSuffixes"
    loaded = [rule["name"] for group in groups for rule in group["rules"]]
    assert set(RECORDING_CONTRACT) <= set(loaded)
    assert all(rule["health"] != "err" for group in groups for rule in group["rules"])


def test_the_real_alertmanager_loads_the_config(tmp_path: Path) -> None:
    # The secrets compose mounts, as files in a temporary folder (amtool never opens them).
    text = (PROMETHEUS / "alertmanager" / "alertmanager.yml").read_text()
    for name, value in (("slack_webhook_url", "http://127.0.0.1:9/slack"), ("pagerduty_routing_key", "k")):
        (tmp_path / name).write_text(value + "\n")
        text = text.replace(f"/run/secrets/{name}", str(tmp_path / name))
    with alertmanager(text) as am:
        status = get_json(f"{am.url}/api/v2/status")
    receivers = {r["name"] for r in _yaml(PROMETHEUS / "alertmanager" / "alertmanager.yml")["receivers"]}
    assert {r["name"] for r in yaml.safe_load(status["config"]["original"])["receivers"]} == receivers
