"""End to end with the real binaries: real openai SDK calls (instrumented by llmotel) to the
fake provider fail → the SDK's Prometheus endpoint → the real Prometheus (1 s scrape and
evaluation, the project's rule files unchanged) → the real Alertmanager (the project's config;
only the secret files, the PagerDuty URL and the timers changed for the test) → local fake
Slack and PagerDuty endpoints on 127.0.0.1 receive the page; then the calls succeed again and
the resolve arrives. LLMProviderFailing is the alert: a provider failing outright, `for: 30s`.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
import yaml
from prometheus_client import REGISTRY, start_http_server

from llmotel.config import Settings
from llmotel.demo.backends import NotificationSink
from tests.backends import ROOT, alertmanager, free_port, prometheus, rule_files, until
from tests.contract_traffic import scrape_provider

JOB = "checkout"
MODEL = "gpt-4o-mini"
ALERT = "LLMProviderFailing"
RUNBOOK = f"https://github.com/llmotel/llmotel/blob/main/docs/runbooks/{ALERT}.md"
ROUTING_KEY = "e2e-routing-key-0123456789"


def am_config(sink: str, secrets: Path) -> str:
    """The project's config; secrets point at temp files, PagerDuty at the sink, timers at 1 s."""
    (secrets / "slack_webhook_url").write_text(f"{sink}/slack\n")
    (secrets / "pagerduty_routing_key").write_text(ROUTING_KEY + "\n")
    text = (ROOT / "prometheus" / "alertmanager" / "alertmanager.yml").read_text()
    for name in ("slack_webhook_url", "pagerduty_routing_key", "smtp_password"):
        text = text.replace(f"/run/secrets/{name}", str(secrets / name))
    config = yaml.safe_load(text)
    config["templates"] = [str(ROOT / "prometheus" / "alertmanager" / t) for t in config["templates"]]
    config["route"].update(group_wait="1s", group_interval="1s")
    for route in config["route"]["routes"]:
        route.pop("group_wait", None)
        route.pop("group_interval", None)
    for receiver in config["receivers"]:
        for pd in receiver.get("pagerduty_configs", []):
            pd["url"] = f"{sink}/pagerduty"
    return yaml.safe_dump(config, sort_keys=False)


class Traffic:
    """Calls the fake provider in a background thread, failing (HTTP 500) or not."""

    def __init__(self, base_url: str) -> None:
        self.client = openai.OpenAI(api_key="t", base_url=base_url, max_retries=0)
        self.failing = True
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self.stop.is_set():
            headers = {"x-fake-scenario": "error_500"} if self.failing else {}
            with contextlib.suppress(openai.APIError):  # the failures are the point
                self.client.chat.completions.create(model=MODEL, messages=[{"role": "user", "content": "hi"}],
                                                    extra_headers=headers)
            # A few calls a second while failing; many successes once healed, so the 5-minute
            # error ratio falls under the threshold within seconds.
            self.stop.wait(0.2 if self.failing else 0.01)


@pytest.fixture
def instrumented() -> Iterator[Any]:
    from llmotel.instrumentation.openai import OpenAIInstrumentor

    with scrape_provider() as provider:
        instrumentor = OpenAIInstrumentor()
        instrumentor.uninstrument()
        instrumentor.instrument(settings=Settings.load(env={}), meter_provider=provider)
        try:
            yield provider
        finally:
            instrumentor.uninstrument()


def of(sink: NotificationSink, channel: str, status: str) -> list[Any]:
    out = []
    for n in sink.received():
        body = n.body
        if n.channel != channel:
            continue
        if channel == "slack" and any(ALERT in a.get("title", "") and f"[{status.upper()}" in a["title"]
                                      for a in body.get("attachments", [])):
            out.append(body)
        if channel == "pagerduty" and body.get("event_action") == ("trigger" if status == "firing" else "resolve"):
            out.append(body)
    return out


def test_a_failing_provider_pages_and_resolves(fake: Any, instrumented: Any, tmp_path: Path) -> None:
    started = time.monotonic()
    sink = NotificationSink()
    port = free_port()
    server, _ = start_http_server(port, addr="127.0.0.1", registry=REGISTRY)
    traffic = Traffic(fake.base_url)
    try:
        with alertmanager(am_config(sink.url, tmp_path)) as am:
            config = {"scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}],
                      "alerting": {"alertmanagers": [{"static_configs": [{"targets": [am.address]}]}]}}
            with prometheus(yaml.safe_dump(config), rule_files()):
                traffic.thread.start()
                slack = until("the Slack page", lambda: of(sink, "slack", "firing"), timeout=60)[0]
                pd = until("the PagerDuty page", lambda: of(sink, "pagerduty", "firing"), timeout=10)[0]
                traffic.failing = False
                slack_ok = until("the Slack resolve", lambda: of(sink, "slack", "resolved"), timeout=40)[0]
                pd_ok = until("the PagerDuty resolve", lambda: of(sink, "pagerduty", "resolved"), timeout=10)[0]
    finally:
        traffic.stop.set()
        if traffic.thread.is_alive():
            traffic.thread.join(timeout=5)
        server.shutdown()
        sink.close()

    attachment = slack["attachments"][0]
    assert attachment["title"].startswith(f"[FIRING:1] {ALERT} · {JOB} · {MODEL} (openai)")
    assert attachment["color"] == "danger"
    assert f"openai is failing 100% of calls to {MODEL} from {JOB}" in attachment["text"]
    assert "5 minutes failed, mostly with error " in attachment["text"], attachment["text"]
    assert f"<{RUNBOOK}|Runbook>" in attachment["text"]
    assert attachment["title_link"].startswith("http://localhost:3000/d/llmotel-errors?var-job=checkout")
    assert slack["channel"] == "#llm-alerts"
    assert {a["text"]: a["url"] for a in attachment["actions"]}["Runbook"] == RUNBOOK

    assert pd["routing_key"] == ROUTING_KEY
    assert pd["dedup_key"] and pd["dedup_key"] == pd_ok["dedup_key"]
    assert pd["payload"]["severity"] == "critical"
    assert pd["payload"]["summary"].startswith(f"{ALERT}: openai is failing")
    assert pd["payload"]["component"] == JOB and pd["payload"]["class"] == ALERT
    assert {"href": RUNBOOK, "text": "Runbook"} in pd["links"]

    assert slack_ok["attachments"][0]["title"].startswith(f"[RESOLVED] {ALERT}")
    assert slack_ok["attachments"][0]["color"] == "good"
    print(f"e2e: paged and resolved in {time.monotonic() - started:.1f} s")
