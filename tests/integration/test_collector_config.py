"""Structure of collector/config.yaml and of the backend configs against docker-compose.yml.

No collector binary runs here (see ../shared/TOOLCHAIN.md), so this checks what a wrong
edit usually breaks: components defined but unused or used but undefined, pipeline order,
endpoints that name no compose service or port, exporters without a persistent queue.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]


def load(path: str) -> Any:
    return yaml.safe_load((ROOT / path).read_text())


@pytest.fixture(scope="module")
def collector() -> dict[str, Any]:
    return load("collector/config.yaml")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return load("docker-compose.yml")


def _container_ports(compose: dict[str, Any], service: str) -> set[int]:
    """Ports a service listens on inside the network: its published targets plus known ones."""
    ports = {int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in compose["services"][service].get("ports", [])}
    internal = {"tempo": {4317}, "otel-collector": {8888}}  # not published, used inside the network
    return ports | internal.get(service, set())


def test_every_component_used_is_defined_and_every_defined_one_is_used(collector: dict[str, Any]) -> None:
    service = collector["service"]
    used: dict[str, set[str]] = {"receivers": set(), "processors": set(), "exporters": set()}
    for pipeline in service["pipelines"].values():
        for kind in used:
            used[kind] |= set(pipeline.get(kind, []))
    for kind, names in used.items():
        assert names == set(collector.get(kind, {})), (kind, names ^ set(collector.get(kind, {})))
    assert set(service["extensions"]) == set(collector["extensions"])


def test_pipeline_order(collector: dict[str, Any]) -> None:
    for name, pipeline in collector["service"]["pipelines"].items():
        processors = pipeline["processors"]
        assert processors[0] == "memory_limiter" and processors[-1] == "batch", name
        assert ("tail_sampling" in processors) == (name == "traces"), name
        assert ("redaction" in processors) == (name in ("traces", "logs")), name
        if name == "traces":
            assert processors.index("redaction") < processors.index("tail_sampling")


def test_receivers_listen_on_all_interfaces_on_the_published_ports(collector: dict[str, Any],
                                                                   compose: dict[str, Any]) -> None:
    protocols = collector["receivers"]["otlp"]["protocols"]
    published = _container_ports(compose, "otel-collector")
    for protocol, port in (("grpc", 4317), ("http", 4318)):
        assert protocols[protocol]["endpoint"] == f"0.0.0.0:{port}"  # in a container: not localhost
        assert port in published
    health = collector["extensions"]["health_check"]["endpoint"]
    assert int(health.rsplit(":", 1)[1]) in published


def test_exporters_point_at_compose_services_and_have_persistent_queues(collector: dict[str, Any],
                                                                        compose: dict[str, Any]) -> None:
    storages = {k for k in collector["extensions"] if k.startswith("file_storage")}
    expected = {"otlp_grpc/tempo": ("tempo", None), "otlp_http/loki": ("loki", "/otlp"),
                "otlp_http/prometheus": ("prometheus", "/api/v1/otlp")}
    assert set(collector["exporters"]) == set(expected)
    for name, config in collector["exporters"].items():
        endpoint = config["endpoint"]
        parts = urlsplit(endpoint if "//" in endpoint else f"//{endpoint}")
        service, path = expected[name]
        assert parts.hostname == service and parts.hostname in compose["services"], name
        assert parts.port in _container_ports(compose, service), (name, parts.port)
        if path:
            assert parts.path == path, name
        assert config["sending_queue"]["storage"] in storages, name
    queue_dir = collector["extensions"]["file_storage/queue"]["directory"]
    mounts = [str(v) for v in compose["services"]["otel-collector"]["volumes"]]
    assert any(m.endswith(f":{queue_dir}") and not m.startswith(".") for m in mounts), "queue not on a named volume"


def test_self_metrics_are_served_where_prometheus_scrapes(collector: dict[str, Any]) -> None:
    reader = collector["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
    assert (reader["host"], reader["port"]) == ("0.0.0.0", 8888)
    targets = {t for job in load("prometheus/prometheus.yml")["scrape_configs"]
               for sc in job["static_configs"] for t in sc["targets"]}
    assert "otel-collector:8888" in targets


def test_tail_sampling_keeps_errors_slow_and_expensive_traces(collector: dict[str, Any]) -> None:
    policies = {p["name"]: p for p in collector["processors"]["tail_sampling"]["policies"]}
    assert policies["errors"]["status_code"]["status_codes"] == ["ERROR"]
    assert policies["slow"]["latency"]["threshold_ms"] == "${env:SLOW_TRACE_MS}"
    assert "llmotel.cost.amount" in policies["expensive"]["ottl_condition"]["span"][0]
    assert policies["baseline"]["probabilistic"]["sampling_percentage"] == "${env:SAMPLING_PERCENTAGE}"
    env = load("docker-compose.yml")["services"]["otel-collector"]["environment"]
    for var in re.findall(r"\$\{env:([A-Z_]+)\}", (ROOT / "collector/config.yaml").read_text()):
        assert var in env, f"collector reads {var}, compose does not pass it"


def test_cost_attribute_is_the_one_llmotel_emits() -> None:
    from llmotel import semconv as sc

    assert sc.LLMOTEL_COST_AMOUNT == "llmotel.cost.amount"


def test_backend_endpoints_are_consistent(compose: dict[str, Any]) -> None:
    tempo = load("tempo/tempo.yaml")
    assert tempo["server"]["http_listen_port"] in _container_ports(compose, "tempo")
    assert tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    writes = [urlsplit(w["url"]) for w in tempo["metrics_generator"]["storage"]["remote_write"]]
    assert all((w.hostname, w.port, w.path) == ("prometheus", 9090, "/api/v1/write") for w in writes)
    assert "--web.enable-remote-write-receiver" in compose["services"]["prometheus"]["command"]
    assert tempo["distributor"]["max_attribute_bytes"] >= 16384  # llmotel's per-value cap
    assert "ingester" not in tempo and "compactor" not in tempo  # Tempo 3 refuses them
    loki = load("loki/loki.yaml")
    assert loki["server"]["http_listen_port"] in _container_ports(compose, "loki")
    assert loki["limits_config"]["allow_structured_metadata"] is True
    assert loki["schema_config"]["configs"][-1]["schema"] == "v13"
    assert loki["compactor"]["retention_enabled"] is True
    datasources = {d["uid"]: d for d in load("grafana/provisioning/datasources/datasources.yaml")["datasources"]}
    assert set(datasources) == {"prometheus", "tempo", "loki", "alertmanager"}
    for uid, ds in datasources.items():
        url = urlsplit(ds["url"])
        assert url.hostname in compose["services"] and url.port in _container_ports(compose, url.hostname), uid
    assert datasources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"][0]["datasourceUid"] == "tempo"
    assert datasources["tempo"]["jsonData"]["tracesToLogsV2"]["datasourceUid"] == "loki"
    assert datasources["loki"]["jsonData"]["derivedFields"][0]["datasourceUid"] == "tempo"
    provider = load("grafana/provisioning/dashboards/dashboards.yaml")["providers"][0]
    mounts = [str(v) for v in compose["services"]["grafana"]["volumes"]]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
