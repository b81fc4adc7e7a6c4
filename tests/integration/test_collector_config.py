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


def _port(endpoint: str) -> int:
    return int(endpoint.rsplit(":", 1)[1])


def _listening(service: str) -> set[int]:
    """Ports a service listens on inside the compose network, read from its own config file."""
    if service == "otel-collector":
        col = load("collector/config.yaml")
        reader = col["service"]["telemetry"]["metrics"]["readers"][0]["pull"]["exporter"]["prometheus"]
        return {_port(p["endpoint"]) for p in col["receivers"]["otlp"]["protocols"].values()} | {
            _port(col["extensions"]["health_check"]["endpoint"]), reader["port"]}
    if service == "tempo":
        tempo = load("tempo/tempo.yaml")
        return {tempo["server"]["http_listen_port"]} | {
            _port(p["endpoint"]) for p in tempo["distributor"]["receivers"]["otlp"]["protocols"].values()}
    if service == "loki":
        return {load("loki/loki.yaml")["server"]["http_listen_port"]}
    # The images' defaults (their compose commands set no listen address).
    return {"prometheus": {9090}, "alertmanager": {9093}, "grafana": {3000}}[service]


def _container_ports(compose: dict[str, Any], service: str) -> set[int]:
    """Ports reachable inside the network: the service's own listeners. Every published port must
    be one of them (a published port nothing listens on is a typo)."""
    published = {int(str(p).rsplit(":", 1)[-1].split("/")[0]) for p in compose["services"][service].get("ports", [])}
    listening = _listening(service)
    assert published <= listening, (service, published - listening)
    return listening


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
        redaction = [p for p in processors if p.startswith("redaction")]
        # Secrets before PII (one processor's patterns run in random order), content-bearing signals only.
        assert redaction == (["redaction/secrets", "redaction/pii"] if name in ("traces", "logs") else []), name
        if name == "traces":  # redact before sampling holds spans in memory for decision_wait
            assert processors.index("redaction/pii") < processors.index("tail_sampling")
        assert processors.index("resource") < (processors.index(redaction[0]) if redaction else len(processors))


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
    from llmotel import semconv as sc

    policies = {p["name"]: p for p in collector["processors"]["tail_sampling"]["policies"]}
    assert policies["errors"]["status_code"]["status_codes"] == ["ERROR"]
    assert policies["slow"]["latency"]["threshold_ms"] == "${env:SLOW_TRACE_MS}"
    # The span attribute names llmotel really emits (semconv.py is the one place they are spelled).
    assert f'attributes["{sc.LLMOTEL_COST_AMOUNT}"] > ${{env:EXPENSIVE_TRACE_USD}}' in policies[
        "expensive"]["ottl_condition"]["span"]
    assert policies["expensive-tokens"]["numeric_attribute"] == {
        "key": sc.GEN_AI_USAGE_INPUT_TOKENS, "min_value": "${env:EXPENSIVE_TRACE_TOKENS}"}
    assert policies["baseline"]["probabilistic"]["sampling_percentage"] == "${env:SAMPLING_PERCENTAGE}"
    assert {p["type"] for p in policies.values()} <= {"status_code", "latency", "ottl_condition",
                                                       "numeric_attribute", "probabilistic"}


def test_every_threshold_comes_from_compose_with_a_default() -> None:
    """One place for thresholds: ${env:X} in the collector, X passed by compose with a default, X in .env.example."""
    env = load("docker-compose.yml")["services"]["otel-collector"]["environment"]
    example = (ROOT / ".env.example").read_text()
    used = set(re.findall(r"\$\{env:([A-Z_]+)\}", (ROOT / "collector/config.yaml").read_text()))
    assert {"SAMPLING_PERCENTAGE", "SLOW_TRACE_MS", "EXPENSIVE_TRACE_USD", "EXPENSIVE_TRACE_TOKENS"} <= used
    for var in used:
        assert re.fullmatch(rf"\$\{{{var}:-[^}}]+\}}", str(env.get(var))), f"compose must pass {var} with a default"
        assert re.search(rf"^{var}=", example, re.M), f"{var} missing from .env.example"


def test_tempo_prometheus_endpoints_are_consistent(compose: dict[str, Any]) -> None:
    tempo = load("tempo/tempo.yaml")
    assert tempo["server"]["http_listen_port"] in _container_ports(compose, "tempo")
    assert tempo["distributor"]["receivers"]["otlp"]["protocols"]["grpc"]["endpoint"] == "0.0.0.0:4317"
    writes = [urlsplit(w["url"]) for w in tempo["metrics_generator"]["storage"]["remote_write"]]
    assert writes and all((w.hostname, w.port, w.path) == ("prometheus", 9090, "/api/v1/write") for w in writes)
    assert all(w["send_exemplars"] is True for w in tempo["metrics_generator"]["storage"]["remote_write"])
    assert "--web.enable-remote-write-receiver" in compose["services"]["prometheus"]["command"]
    assert tempo["distributor"]["max_attribute_bytes"] >= 16384  # llmotel's per-value cap


def test_tempo_has_the_3x_shape() -> None:
    tempo = load("tempo/tempo.yaml")
    # Tempo 3 refuses to start with these 2.x blocks and with flat overrides.
    assert not {"ingester", "compactor", "ingester_client", "metrics_generator_client"} & set(tempo)
    assert "metrics_generator_processors" not in tempo["overrides"]
    assert "local_blocks" not in tempo["metrics_generator"].get("processor", {})
    assert tempo["overrides"]["defaults"]["metrics_generator"]["processors"] == ["service-graphs", "span-metrics"]
    retention = "${TEMPO_RETENTION:-336h}"  # -config.expand-env=true in compose
    assert tempo["backend_scheduler"]["provider"]["compaction"]["compaction"]["block_retention"] == retention
    assert tempo["backend_worker"]["compaction"]["block_retention"] == retention
    assert "-config.expand-env=true" in load("docker-compose.yml")["services"]["tempo"]["command"]
    assert tempo["storage"]["trace"]["backend"] == "local"
    for path in (tempo["storage"]["trace"]["wal"]["path"], tempo["storage"]["trace"]["local"]["path"],
                 tempo["metrics_generator"]["storage"]["path"]):
        assert path.startswith("/var/tempo/"), path  # on the tempo-data volume


def test_loki_keeps_trace_ids_and_indexes_few_labels(compose: dict[str, Any]) -> None:
    loki = load("loki/loki.yaml")
    assert loki["server"]["http_listen_port"] in _container_ports(compose, "loki")
    limits = loki["limits_config"]
    assert limits["allow_structured_metadata"] is True  # trace_id / span_id live there
    assert loki["schema_config"]["configs"][-1]["schema"] == "v13"
    assert loki["schema_config"]["configs"][-1]["store"] == "tsdb"
    assert loki["compactor"]["retention_enabled"] is True and loki["compactor"]["delete_request_store"]
    assert limits["retention_period"] == "${LOKI_RETENTION:-336h}"
    resource = limits["otlp_config"]["resource_attributes"]
    assert resource["ignore_defaults"] is True  # else service.instance.id, k8s.pod.name are labels too
    labels = {a for c in resource["attributes_config"] if c["action"] == "index_label" for a in c["attributes"]}
    assert labels == {"service.name", "service.namespace", "deployment.environment.name"}
    assert "-config.expand-env=true" in compose["services"]["loki"]["command"]


def test_grafana_links_and_uids(compose: dict[str, Any]) -> None:
    datasources = {d["uid"]: d for d in load("grafana/provisioning/datasources/datasources.yaml")["datasources"]}
    assert set(datasources) == {"prometheus", "tempo", "loki", "alertmanager"}
    for uid, ds in datasources.items():
        url = urlsplit(ds["url"])
        assert url.hostname in compose["services"] and url.port in _container_ports(compose, url.hostname), uid
    exemplars = datasources["prometheus"]["jsonData"]["exemplarTraceIdDestinations"]
    # trace_id: SDK exemplars via the OTLP receiver; traceID: Tempo's metrics-generator.
    assert {e["name"]: e["datasourceUid"] for e in exemplars} == {"trace_id": "tempo", "traceID": "tempo"}
    tempo = datasources["tempo"]["jsonData"]
    assert tempo["tracesToLogsV2"]["datasourceUid"] == "loki" and "tracesToLogs" not in tempo
    assert 'trace_id = "$${__trace.traceId}"' in tempo["tracesToLogsV2"]["query"]
    assert tempo["tracesToMetrics"]["datasourceUid"] == "prometheus"
    assert tempo["serviceMap"]["datasourceUid"] == "prometheus" and tempo["nodeGraph"]["enabled"] is True
    rules = (ROOT / "prometheus" / "rules" / "llmotel.rules.yml").read_text()
    for query in tempo["tracesToMetrics"]["queries"]:
        for name in re.findall(r"llmotel:[a-z0-9_:]+", query["query"]):
            assert f"record: {name}\n" in rules, name  # a recording rule that exists
    derived = datasources["loki"]["jsonData"]["derivedFields"][0]
    assert (derived["datasourceUid"], derived["matcherType"], derived["matcherRegex"]) == ("tempo", "label", "trace_id")
    assert datasources["alertmanager"]["type"] == "alertmanager"
    provider = load("grafana/provisioning/dashboards/dashboards.yaml")["providers"][0]
    mounts = [str(v) for v in compose["services"]["grafana"]["volumes"]]
    assert f"./grafana/dashboards:{provider['options']['path']}:ro" in mounts
