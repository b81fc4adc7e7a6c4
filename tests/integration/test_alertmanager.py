"""prometheus/alertmanager/: the real amtool checks the config, routes every severity/team
combination the alert rules produce to the right receivers, and renders the templates."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.backends import ROOT, rule_files, run

AM = ROOT / "prometheus" / "alertmanager"
CONFIG = AM / "alertmanager.yml"
SLACK = {"llm-platform": "slack-llm-alerts", "observability": "slack-llm-alerts", "finops": "slack-llm-cost",
         "ml-quality": "slack-llm-quality"}


def expected(severity: str, team: str) -> str:
    if severity == "critical":
        return f"pagerduty,{SLACK[team]}"
    return SLACK[team] if severity == "warning" else "email-llm-digest"


CASES = [(sev, team) for sev in ("critical", "warning", "info") for team in SLACK]


def _config() -> dict[str, Any]:
    return dict(yaml.safe_load(CONFIG.read_text()))


def test_amtool_accepts_the_config() -> None:
    out = run("amtool", "check-config", "--enable-feature=utf8-strict-mode", CONFIG)
    assert "SUCCESS" in out and "1 templates" in out


@pytest.mark.parametrize(("severity", "team"), CASES, ids=[f"{s}-{t}" for s, t in CASES])
def test_routes(severity: str, team: str) -> None:
    run("amtool", "config", "routes", "test", f"--config.file={CONFIG}",
        f"--verify.receivers={expected(severity, team)}", "alertname=LLMSomething", f"severity={severity}",
        f"team={team}", "job=shop/checkout", "gen_ai_request_model=gpt-4o")


def test_the_watchdog_goes_to_its_own_receiver_only() -> None:
    run("amtool", "config", "routes", "test", f"--config.file={CONFIG}", "--verify.receivers=watchdog",
        "alertname=Watchdog", "severity=info", "team=observability")


def test_every_receiver_and_every_rule_label_combination_is_covered() -> None:
    receivers = {r["name"] for r in _config()["receivers"]}
    routed = {name for sev, team in CASES for name in expected(sev, team).split(",")} | {"watchdog"}
    assert receivers == routed
    combos = {(r["labels"]["severity"], r["labels"]["team"]) for f in rule_files()
              for g in yaml.safe_load(f.read_text())["groups"] for r in g["rules"] if "alert" in r}
    assert combos - {("info", "observability")} <= set(CASES) | {("info", "observability")}
    assert {team for _, team in combos} <= set(SLACK)


def test_secrets_come_only_from_files() -> None:
    config = _config()
    text = CONFIG.read_text()
    for key in ("api_url:", "routing_key:", "service_key:", "auth_password:", "smtp_auth_password:"):
        assert f" {key}" not in text, key
    for receiver in config["receivers"]:
        for slack in receiver.get("slack_configs", []):
            assert slack["api_url_file"] == "/run/secrets/slack_webhook_url"
        for pd in receiver.get("pagerduty_configs", []):
            assert pd["routing_key_file"] == "/run/secrets/pagerduty_routing_key"
    assert config["global"]["smtp_auth_password_file"].startswith("/run/secrets/")


def test_cooldowns_per_severity_and_inhibitions() -> None:
    config = _config()
    route = config["route"]
    assert route["group_by"] == ["alertname", "job", "gen_ai_provider_name", "gen_ai_request_model"]
    by_matcher = {tuple(r["matchers"]): r for r in route["routes"]}
    assert by_matcher[('severity="critical"',)]["repeat_interval"] == "1h"
    assert by_matcher[('severity="info"',)]["repeat_interval"] == "24h"
    assert route["repeat_interval"] == "4h"
    inhibit = config["inhibit_rules"]
    assert {"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
            "equal": ["team", "job", "gen_ai_provider_name", "gen_ai_request_model"]} in inhibit
    assert any("LLMTelemetryStopped" in str(rule["target_matchers"]) for rule in inhibit)


@pytest.mark.parametrize("template", [
    "llmotel.slack.title", "llmotel.slack.text", "llmotel.slack.color", "llmotel.runbook_url",
    "llmotel.dashboard_url", "llmotel.pagerduty.severity", "llmotel.pagerduty.description",
    "llmotel.email.subject", "llmotel.email.html"])
def test_templates_render(template: str) -> None:
    out = run("amtool", "template", "render", f"--template.glob={AM / 'templates' / '*.tmpl'}",
              f"--template.text={{{{ template \"{template}\" . }}}}")
    assert "error" not in out.lower() or "Warning" in out, out
