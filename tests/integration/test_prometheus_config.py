"""The compose stack's Prometheus and Alertmanager files, checked by the real promtool/amtool."""

from __future__ import annotations

from pathlib import Path

import yaml

from tests.backends import ROOT, run

PROMETHEUS = ROOT / "prometheus"


def test_promtool_accepts_the_prometheus_config(tmp_path: Path) -> None:
    # The file names container paths (/etc/prometheus/rules/*.yml): check a copy whose rule
    # paths point into the repository, so the rules are loaded and checked with it.
    text = (PROMETHEUS / "prometheus.yml").read_text()
    assert "/etc/prometheus/rules/*.yml" in text
    copy = tmp_path / "prometheus.yml"
    copy.write_text(text.replace("/etc/prometheus/rules", str(PROMETHEUS / "rules")))
    out = run("promtool", "check", "config", copy)
    assert "SUCCESS" in out


def test_promtool_accepts_every_rule_file() -> None:
    files = sorted((PROMETHEUS / "rules").glob("*.yml"))
    assert files
    run("promtool", "check", "rules", *files)


def test_recording_rules_follow_the_naming_contract() -> None:
    names = [rule["record"] for f in sorted((PROMETHEUS / "rules").glob("*.yml"))
             for group in yaml.safe_load(f.read_text())["groups"] for rule in group["rules"] if "record" in rule]
    assert names and all(n.startswith("llmotel:") and n.count(":") == 2 for n in names), names
    for contract in ("llmotel:requests:rate5m", "llmotel:error_ratio:rate5m", "llmotel:latency_seconds:p95_5m",
                     "llmotel:ttft_seconds:p95_5m", "llmotel:tokens:rate5m", "llmotel:cost_usd:rate5m"):
        assert contract in names


def test_amtool_accepts_the_alertmanager_config() -> None:
    out = run("amtool", "check-config", PROMETHEUS / "alertmanager" / "alertmanager.yml")
    assert "SUCCESS" in out
