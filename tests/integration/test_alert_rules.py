"""The alert rules as shipped (prometheus/rules/*.yml, the contract recording rules included),
checked by the real promtool: every alert has a firing and a quiet unit test, a runbook, and
annotations that point at it."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.backends import ROOT, rule_files, run

RULES = ROOT / "prometheus" / "rules"
TESTS = sorted((ROOT / "prometheus" / "tests").glob("*.yml"))
OURS = [RULES / f"llmotel-{name}.rules.yml" for name in ("alerts", "config", "slo", "anomaly", "signals")]
RUNBOOK = re.compile(r"^https://github\.com/llmotel/llmotel/blob/main/(docs/runbooks/(\w+)\.md)$")
# An alert that fires by design all the time: it has no quiet case.
ALWAYS_FIRING = {"Watchdog"}
SEVERITIES = {"critical", "warning", "info"}


def _yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


def alert_rules() -> list[dict[str, Any]]:
    return [rule for f in rule_files() for group in _yaml(f)["groups"] for rule in group["rules"] if "alert" in rule]


def unit_cases() -> tuple[set[str], set[str]]:
    """Alert names with a firing case (non-empty exp_alerts) and with a quiet case (empty)."""
    firing, quiet = set(), set()
    for path in TESTS:
        for test in _yaml(path)["tests"]:
            for case in test.get("alert_rule_test", []):
                (firing if case.get("exp_alerts") else quiet).add(case["alertname"])
    return firing, quiet


def test_promtool_accepts_our_rule_files() -> None:
    assert all(f in rule_files() for f in OURS)
    run("promtool", "check", "rules", *OURS)


@pytest.mark.parametrize("path", TESTS, ids=[p.stem for p in TESTS])
def test_promtool_unit_tests_pass(path: Path) -> None:
    # Each file loads every rule file the stack ships (../rules/*.yml), A's contract rules too.
    assert _yaml(path)["rule_files"] == ["../rules/*.yml"]
    run("promtool", "test", "rules", path.name, cwd=path.parent, timeout=180)


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    names = {rule["alert"] for rule in alert_rules()}
    firing, quiet = unit_cases()
    assert names - firing == set(), "alerts without a firing promtool case"
    assert names - quiet - ALWAYS_FIRING == set(), "alerts without a quiet promtool case"
    assert (firing | quiet) - names == set(), "test cases for alerts that do not exist"


def test_unit_tests_evaluate_every_group_in_dependency_order() -> None:
    # promtool evaluates groups in an undefined order unless told: a group missing from
    # group_eval_order (e.g. a new one) would make $value in annotations flaky.
    groups = {group["name"] for f in rule_files() for group in _yaml(f)["groups"]}
    for path in TESTS:
        order = _yaml(path)["group_eval_order"]
        assert set(order) == groups, path.name
        assert order.index("llmotel-config") == 0 and all(
            i > max(order.index(g) for g in groups if not g.startswith("llmotel-alerts-"))
            for i, g in enumerate(order) if g.startswith("llmotel-alerts-")), path.name


def test_every_alert_is_labelled_annotated_and_has_a_runbook() -> None:
    for rule in alert_rules():
        name, labels, notes = rule["alert"], rule["labels"], rule["annotations"]
        assert labels["severity"] in SEVERITIES, name
        assert labels.get("team"), name
        assert {"summary", "description", "runbook_url", "dashboard_url"} <= set(notes), name
        match = RUNBOOK.match(notes["runbook_url"])
        assert match and match.group(2) == name, (name, notes["runbook_url"])
        runbook = ROOT / match.group(1)
        assert runbook.is_file(), f"{name}: no {runbook.relative_to(ROOT)}"
        assert f"# {name}" in runbook.read_text(), runbook
        assert notes["dashboard_url"].startswith("http://localhost:3000/d/llmotel-"), name
        assert "{{ $labels.job }}" in notes["summary"] + notes["description"] or "job" not in rule["expr"] or \
            name.startswith("LLMCollector"), name


def test_dashboard_links_point_at_provisioned_dashboards() -> None:
    uids = {_yaml(p).get("uid") for p in (ROOT / "grafana" / "dashboards").glob("*.json")}
    for rule in alert_rules():
        uid = re.match(r"http://localhost:3000/d/([\w-]+)", rule["annotations"]["dashboard_url"]).group(1)
        assert uid in uids, (rule["alert"], uid)


def test_thresholds_live_in_the_config_group() -> None:
    # Alerts compare against llmotel:config:* series, not literal numbers (the SRE-workbook
    # burn factors, unit conversions and the z-score's divide-by-zero floor excepted).
    allowed = {"0", "1", "3", "6", "14.4", "30", "60", "3600", "1e-9", "2"}
    for rule in alert_rules():
        expr = re.sub(r'"[^"]*"|\[[^\]]*\]|\b\w+:\w+:\w+\b|\w+_\w+', " ", rule["expr"])
        numbers = set(re.findall(r"(?<![\w.])\d+(?:\.\d+)?(?:e-?\d+)?", expr))
        assert numbers <= allowed, (rule["alert"], numbers - allowed)
