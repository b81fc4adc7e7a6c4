"""docs/metrics.md against what a real Prometheus 3.5 stores, and every recording rule, on both paths.

Real (the scrape path of local mode): the openai and anthropic SDKs call the fake provider
over HTTP; llmotel's metrics are served by the SDK's Prometheus exporter on 127.0.0.1 and
scraped every second by the real Prometheus binary, which evaluates the project's rule
files (prometheus/rules/). The traffic runs twice with scrapes in between so that every
counter *increases* inside the rate windows (a series first seen at its final value has a
rate of 0).

Emulated (the compose path): there Prometheus ingests OTLP, and Debian's build has no OTLP
receiver. What that path changes is the labels, not the points: `job` becomes
service.namespace/service.name, `instance` becomes service.instance.id, the resource
attributes prometheus/prometheus.yml promotes become labels, and there are no
`otel_scope_*` labels. So once the scrape target is gone, every sample the real Prometheus
stored is written back into the *same* Prometheus through its remote-write receiver, with
the same timestamps and values and those labels (derived from the `otlp:` block of
prometheus/prometheus.yml). The real rule engine then evaluates the unchanged rules over
both copies, and each rule must give the same values for `job="shop/contract-app"` as for
`job="contract-app"`. Not covered here: the OTLP→Prometheus *name* translation itself
(that needs the OTLP receiver; docs/metrics.md states the UnderscoreEscapingWithSuffixes
names, which is the strategy prometheus.yml pins).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY, start_http_server

from tests.backends import ROOT, Prometheus, free_port, prometheus, rule_files, run, scrape_config, until
from tests.contract_traffic import DOC, documented_names, full_traffic, instrumented, scrape_provider

JOB = "contract-app"
RESOURCE = {"service.name": JOB, "service.namespace": "shop", "service.instance.id": "3f1c0d6e-pod-7",
            "service.version": "1.4.2", "deployment.environment.name": "production"}
OTLP_JOB = f"{RESOURCE['service.namespace']}/{RESOURCE['service.name']}"
COMMON = {"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model",
          "server_address", "server_port", "error_type", "openai_response_service_tier"}
REQUIRED = {"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"}
ATTRIBUTION = {"llmotel_tenant_id", "llmotel_feature", "gen_ai_prompt_version"}
INFRA = {"__name__", "job", "instance", "le", "otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}
RULE_LABELS = {"job", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_operation_name", "gen_ai_token_type",
               "error_type"}
TYPES = {"counter": "counter", "histogram": "histogram", "gauge": "gauge", "up-down counter (gauge)": "gauge"}
RAW = '{__name__=~"(gen_ai|llmotel)_.+"}'
PROVIDERS = {"openai", "anthropic"}
OPERATIONS = {"chat", "embeddings", "text_completion", "generate_content", "invoke_agent", "execute_tool"}


def documented() -> dict[str, tuple[str, str, set[str]]]:
    """Prometheus name -> (type, unit, labels its row names) from docs/metrics.md."""
    out = {}
    previous: set[str] = set()
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 6 and re.fullmatch(r"`[a-z_:]+`", cells[2]):
            labels = set(re.findall(r"`([a-z][a-z0-9_]*)`", cells[5])) - {"input", "output", "requests", "tokens"}
            if cells[5].startswith(("same", "the above")):  # "same, ...", "the above plus ..."
                labels |= previous
            if "GenAI labels" in cells[5]:
                labels |= COMMON
            out[cells[2].strip("`")] = (TYPES[cells[3]], cells[4], labels)
            previous = labels
    return out


def rule_names() -> list[str]:
    """The contract's recording rules (prometheus/rules/llmotel.rules.yml: what dashboards and
    alerts build on). The alerting files' own helper rules (SLO windows over days, baselines
    over a week) are loaded alongside but tested by promtool (tests/integration/test_alert_rules.py)."""
    contract = ROOT / "prometheus" / "rules" / "llmotel.rules.yml"
    return [rule["record"] for group in yaml.safe_load(contract.read_text())["groups"]
            for rule in group["rules"] if "record" in rule]


def otlp_labels(metric: dict[str, str]) -> dict[str, str]:
    """The labels Prometheus's OTLP receiver, configured by prometheus/prometheus.yml, gives the same point."""
    otlp = yaml.safe_load((ROOT / "prometheus" / "prometheus.yml").read_text())["otlp"]
    labels = {k: v for k, v in metric.items() if not k.startswith("otel_scope_")}
    labels.update(job=OTLP_JOB, instance=RESOURCE["service.instance.id"])
    labels.update({a.replace(".", "_"): RESOURCE[a] for a in otlp["promote_resource_attributes"] if a in RESOURCE})
    return labels


def with_values(prom: Prometheus, names: list[str]) -> dict[str, list[dict[str, Any]]]:
    return {n: prom.query(f"{n} == {n}") for n in names}  # x == x drops NaN (a quantile of no increase)


@pytest.fixture(scope="module")
def stored(fake: Any) -> Iterator[dict[str, Any]]:
    """Run the traffic into a real Prometheus; return what it stored and what the rules gave on both paths."""
    mp = pytest.MonkeyPatch()
    port = free_port()
    names = rule_names()
    with scrape_provider() as provider, instrumented(provider, mp), \
            prometheus(scrape_config(JOB, f"127.0.0.1:{port}"), rule_files()) as prom:
        server, _ = start_http_server(port, addr="127.0.0.1", registry=REGISTRY)
        try:
            scrapes = f'count_over_time(up{{job="{JOB}"}}[5m])'
            full_traffic(fake)
            until("the first scrape", lambda: prom.query('count({__name__=~"gen_ai_.+"})'))
            first = float(prom.query(scrapes)[0]["value"][1])
            full_traffic(fake)
            until("two scrapes after the second round", lambda: float(prom.query(scrapes)[0]["value"][1]) >= first + 2)
            until("every recording rule to have a value", lambda: all(with_values(prom, names).values()), timeout=20)
            result: dict[str, Any] = {
                "series": prom.query(RAW),
                "metadata": prom.api("metadata"),
                "rules": with_values(prom, names),
            }
        finally:
            server.shutdown()
            server.server_close()
            mp.undo()
        # The compose path: no more scrapes (the failed one marks the series stale), then the
        # very samples stored so far again, labelled as the OTLP receiver would label them.
        until("the scrape target to be down", lambda: prom.query(f'up{{job="{JOB}"}} == 0'))
        matrix = prom.query(f"{RAW}[10m]")
        prom.remote_write((otlp_labels(s["metric"]), [(round(float(t) * 1000), float(v)) for t, v in s["values"]])
                          for s in matrix)
        result["otlp_series"] = until("the remote-written series", lambda: prom.query(f'{{job="{OTLP_JOB}"}}'))

        def both_paths() -> dict[str, list[dict[str, Any]]] | None:
            rules = {n: prom.query(n) for n in names}
            done = all({s["metric"]["job"] for s in r} == {JOB, OTLP_JOB} for r in rules.values())
            return rules if done else None

        result["both"] = until("every rule on both label shapes", both_paths, timeout=15)
        yield result


def _base(name: str, metadata: dict[str, Any]) -> str:
    for suffix in ("_bucket", "_count", "_sum"):
        if name.endswith(suffix) and name[: -len(suffix)] in metadata:
            return name[: -len(suffix)]
    return name


def test_stored_metric_names_are_exactly_the_documented_ones(stored: dict[str, Any]) -> None:
    names = {_base(s["metric"]["__name__"], stored["metadata"]) for s in stored["series"]}
    assert names - documented_names() == set(), "stored by Prometheus but not in docs/metrics.md"
    assert documented_names() - names == set(), "in docs/metrics.md but not stored by Prometheus"


def test_stored_types_and_labels_are_the_documented_ones(stored: dict[str, Any]) -> None:
    docs = documented()
    for name, (kind, unit, _) in docs.items():
        # Prometheus keys a counter's metadata by its name without _total.
        meta = stored["metadata"].get(name) or stored["metadata"][name.removesuffix("_total")]
        assert meta[0]["type"] == kind, name
        if unit == "s":
            assert meta[0]["unit"] == "seconds", name
    problems = set()
    for s in stored["series"]:
        metric = dict(s["metric"])
        name = _base(metric["__name__"], stored["metadata"])
        _, _, row_labels = docs[name]
        allowed = INFRA | row_labels | ATTRIBUTION
        if name.startswith("gen_ai_client_") or name == "llmotel_cost_usd_total":
            allowed |= COMMON
            if missing := REQUIRED - set(metric):
                problems.add(f"{name} lacks {sorted(missing)}")
        if extra := set(metric) - allowed:
            problems.add(f"{name} has undocumented labels {sorted(extra)}")
        if metric.get("job") != JOB:
            problems.add(f"{name} has job={metric.get('job')!r}")
    assert not problems, sorted(problems)


# opentelemetry-exporter-prometheus 0.66b2 shifts label values across instrumentation scopes
# (see llmotel/telemetry/prometheus_reader.py); llmotel's reader fixes it, this keeps it fixed.
def test_stored_label_values_belong_to_their_labels(stored: dict[str, Any]) -> None:
    problems = set()
    rule_samples = [(name, s) for name, samples in stored["rules"].items() for s in samples]
    for name, s in [(s["metric"]["__name__"], s) for s in stored["series"]] + rule_samples:
        m = s["metric"]
        if m.get("gen_ai_provider_name", "openai") not in PROVIDERS:
            problems.add(f"{name}: gen_ai_provider_name={m['gen_ai_provider_name']!r}")
        if m.get("error_type") in OPERATIONS:
            problems.add(f"{name}: error_type={m['error_type']!r}")
        if not m.get("otel_scope_name", "llmotel").startswith("llmotel"):
            problems.add(f"{name}: otel_scope_name={m['otel_scope_name']!r}")
        if not m.get("server_port", "1").isdigit() or m.get("server_address", "x").isdigit():
            problems.add(f"{name}: server_address={m.get('server_address')!r} server_port={m.get('server_port')!r}")
        if "openai_response_service_tier" in m and m.get("gen_ai_provider_name") != "openai":
            problems.add(f"{name}: openai_response_service_tier={m['openai_response_service_tier']!r} "
                         f"on {m.get('gen_ai_provider_name')}")
    assert not problems, sorted(problems)


def test_every_recording_rule_evaluates_to_data(stored: dict[str, Any]) -> None:
    for name, result in stored["rules"].items():
        assert result, name
        for sample in result:
            assert set(sample["metric"]) - {"__name__"} <= RULE_LABELS, (name, sample["metric"])
            assert sample["metric"]["job"] == JOB
    cost = stored["rules"]["llmotel:cost_usd:rate5m"]
    assert any(float(s["value"][1]) > 0 for s in cost)
    tokens = {s["metric"].get("gen_ai_token_type") for s in stored["rules"]["llmotel:tokens:rate5m"]}
    assert tokens == {"input", "output"}
    ratio = {s["metric"]["gen_ai_request_model"]: float(s["value"][1])
             for s in stored["rules"]["llmotel:error_ratio:rate5m"]}
    assert 0 < max(ratio.values()) <= 1 and min(ratio.values()) == 0, ratio


def test_the_emulated_otlp_series_carry_the_compose_labels(stored: dict[str, Any]) -> None:
    sample = stored["otlp_series"][0]["metric"]
    assert sample["instance"] == RESOURCE["service.instance.id"] and sample["service_name"] == JOB
    assert not any(k.startswith("otel_scope_") for k in sample)


def test_rules_give_the_same_values_on_both_label_shapes(stored: dict[str, Any]) -> None:
    def by_path(samples: list[dict[str, Any]], job: str) -> dict[tuple[tuple[str, str], ...], float]:
        return {tuple(sorted((k, v) for k, v in s["metric"].items() if k != "job")): float(s["value"][1])
                for s in samples if s["metric"]["job"] == job}

    for name, samples in stored["both"].items():
        scraped, otlp = by_path(samples, JOB), by_path(samples, OTLP_JOB)
        assert scraped.keys() == otlp.keys(), name
        for labels, value in scraped.items():
            other = otlp[labels]
            assert math.isclose(value, other, rel_tol=1e-9) or (math.isnan(value) and math.isnan(other)), (
                name, labels, value, other)


def test_prometheus_binary_is_the_documented_version() -> None:
    assert run("prometheus", "--version").startswith("prometheus, version 3.")
