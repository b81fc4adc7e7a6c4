"""docs/metrics.md is the public contract of metric names: keep it true.

Real traffic (openai and anthropic SDKs against the fake provider, workflows, feedback)
is exported through the SDK's Prometheus exporter — the scrape path of local mode —
and the exposition is compared with the Prometheus names the document lists, both ways:
every emitted llmotel/GenAI metric is documented, and every documented one is emitted.
(What a real Prometheus stores, on the scrape and the OTLP label shapes: test_prometheus_contract.py.)
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import REGISTRY, generate_latest

from tests.contract_traffic import documented_names, exposed_names, full_traffic, instrumented, scrape_provider


@pytest.fixture
def scrape() -> Iterator[MeterProvider]:
    with scrape_provider() as provider:
        yield provider


def test_metric_names_match_the_document(fake: Any, scrape: MeterProvider, monkeypatch: pytest.MonkeyPatch) -> None:
    with instrumented(scrape, monkeypatch):
        full_traffic(fake)
        text = generate_latest(REGISTRY).decode()
    emitted = exposed_names(text)
    documented = documented_names()
    assert len(documented) > 20
    assert emitted - documented == set(), "emitted but not in docs/metrics.md"
    assert documented - emitted == set(), "documented but not emitted by the contract traffic"
    # Allow-listed attribution reaches the cost counter as labels.
    assert re.search(r'llmotel_cost_usd_total\{[^}]*llmotel_tenant_id="acme"', text)
