"""docs/metrics.md against what a real Prometheus 3.5 stores, and every recording rule.

Real: the openai and anthropic SDKs call the fake provider over HTTP; llmotel's metrics
are served by the SDK's Prometheus exporter on 127.0.0.1 and scraped every second by the
real Prometheus binary, which evaluates the project's rule files (prometheus/rules/). The
traffic runs twice with a scrape in between so that every counter *increases* inside the
rate windows (a series first seen at its final value has a rate of 0).

The compose path feeds Prometheus through its OTLP receiver instead, which Debian's build
does not include. What differs there is only how `job`/`instance` and resource labels are
set; the rules aggregate every series to `job` plus GenAI labels, so
``test_rules_give_the_same_series_on_the_otlp_label_shape`` replays the stored series with
the labels the OTLP receiver would produce (job from service.namespace/service.name,
instance from service.instance.id, promoted resource labels, no empty error_type) through
the remote-write-free path of `promtool test rules`, and checks the same rule results.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import yaml

from llmotel.demo import backends
from tests.backends import require, run
from tests.integration.test_metrics_contract import (
    DOC,
    documented_names,
    full_traffic,
    instrumented,
    scrape_provider,
)

JOB = "contract-app"
COMMON = {"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_response_model",
          "server_address", "server_port", "error_type", "openai_response_service_tier"}
ATTRIBUTION = {"llmotel_tenant_id", "llmotel_feature", "gen_ai_prompt_version"}
INFRA = {"__name__", "job", "instance", "le", "otel_scope_name", "otel_scope_version", "otel_scope_schema_url"}
TYPES = {"counter": "counter", "histogram": "histogram", "gauge": "gauge", "up-down counter (gauge)": "gauge"}


def documented() -> dict[str, tuple[str, set[str]]]:
    """Prometheus name -> (type, labels its row names) from docs/metrics.md."""
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
            out[cells[2].strip("`")] = (TYPES[cells[3]], labels)
            previous = labels
    return out


def rule_names() -> list[str]:
    return [rule["record"] for f in backends.rule_files() for group in yaml.safe_load(f.read_text())["groups"]
            for rule in group["rules"] if "record" in rule]


def query(url: str, expr: str) -> list[dict[str, Any]]:
    return list(backends.get_json(f"{url}/api/v1/query?query={quote(expr)}")["data"]["result"])


def _until(what: str, check: Any, timeout: float = 30) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.25)


@pytest.fixture(scope="module")
def stored(fake: Any) -> Iterator[dict[str, Any]]:
    """Run the traffic into a real Prometheus; return what it stored and what the rules gave."""
    require("prometheus")
    from prometheus_client import REGISTRY, start_http_server

    mp = pytest.MonkeyPatch()
    port = backends.free_port()
    with scrape_provider() as provider, instrumented(provider, mp), \
            backends.start_local_stack(f"127.0.0.1:{port}", JOB, with_alertmanager=False) as stack:
        server, _ = start_http_server(port, addr="127.0.0.1", registry=REGISTRY)
        try:
            url = stack.prometheus_url
            scrapes = f'count_over_time(up{{job="{JOB}"}}[5m])'
            full_traffic(fake)
            _until("the first scrape", lambda: query(url, 'count({__name__=~"gen_ai_.+"})'))
            first = float(query(url, scrapes)[0]["value"][1])
            full_traffic(fake)
            _until("two scrapes after the second round", lambda: float(query(url, scrapes)[0]["value"][1]) >= first + 2)
            names = rule_names()
            valued = {n: f"{n} == {n}" for n in names}  # x == x drops NaN (a quantile of no increase)
            _until("every recording rule to have a value", lambda: all(query(url, e) for e in valued.values()),
                   timeout=20)
            yield {
                "series": query(url, '{__name__=~"(gen_ai|llmotel)_.+"}'),
                "metadata": backends.get_json(f"{url}/api/v1/metadata")["data"],
                "rules": {n: query(url, e) for n, e in valued.items()},
            }
        finally:
            server.shutdown()
            mp.undo()


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
    for name, (kind, _) in docs.items():
        # Prometheus keys a counter's metadata by its name without _total.
        meta = stored["metadata"].get(name) or stored["metadata"][name.removesuffix("_total")]
        assert meta[0]["type"] == kind, name
    problems = set()
    for s in stored["series"]:
        metric = dict(s["metric"])
        name = _base(metric["__name__"], stored["metadata"])
        _, row_labels = docs[name]
        allowed = INFRA | row_labels | ATTRIBUTION
        if name.startswith("gen_ai_client_") or name == "llmotel_cost_usd_total":
            allowed |= COMMON
            missing = {"gen_ai_operation_name", "gen_ai_provider_name", "gen_ai_request_model"} - set(metric)
            if missing:
                problems.add(f"{name} lacks {sorted(missing)}")
        extra = set(metric) - allowed
        if extra:
            problems.add(f"{name} has undocumented labels {sorted(extra)}")
        if metric.get("job") != JOB:
            problems.add(f"{name} has job={metric.get('job')!r}")
    assert not problems, sorted(problems)


def test_every_recording_rule_evaluates_to_data(stored: dict[str, Any]) -> None:
    for name, result in stored["rules"].items():
        assert result, name
        for sample in result:
            assert set(sample["metric"]) - {"__name__"} <= {
                "job", "gen_ai_provider_name", "gen_ai_request_model", "gen_ai_operation_name", "gen_ai_token_type",
                "error_type"}, (name, sample["metric"])
            assert sample["metric"]["job"] == JOB
    cost = stored["rules"]["llmotel:cost_usd:rate5m"]
    assert any(float(s["value"][1]) > 0 for s in cost)
    ratios = stored["rules"]["llmotel:error_ratio:rate5m"]
    ratio = {s["metric"]["gen_ai_request_model"]: float(s["value"][1]) for s in ratios}
    assert 0 < max(ratio.values()) <= 1 and min(ratio.values()) == 0, ratio


def _otlp_shape(metric: dict[str, str]) -> dict[str, str]:
    """The labels Prometheus's OTLP receiver gives the same point (see the module docstring)."""
    labels = {k: v for k, v in metric.items() if not (k == "error_type" and v == "")}
    labels.update(job=f"shop/{JOB}", instance="3f1c0d6e-pod-7", service_name=JOB, service_namespace="shop",
                  deployment_environment_name="production")
    return labels


def _series(metric: dict[str, str]) -> str:
    body = ",".join(f'{k}="{v}"' for k, v in sorted(metric.items()) if k != "__name__")
    return f"{metric['__name__']}{{{body}}}"


SHAPE_RULES = ("llmotel:requests:rate5m", "llmotel:errors:rate5m", "llmotel:error_ratio:rate5m",
               "llmotel:latency_seconds:p95_5m", "llmotel:ttft_seconds:p95_5m", "llmotel:tokens:rate5m",
               "llmotel:cost_usd:rate5m", "llmotel:unpriced_calls:rate5m", "llmotel:throttled:rate5m")


def test_rules_give_the_same_series_on_the_otlp_label_shape(stored: dict[str, Any], tmp_path: Path) -> None:
    """promtool evaluates the project's rules over the stored raw series in both label shapes
    (as scraped, and as the OTLP receiver labels them): every rule gives the same values."""
    raw = [s for s in stored["series"] if not s["metric"]["__name__"].startswith(("llmotel_ratelimit_",
                                                                                   "llmotel_streams_active"))]
    inputs = []
    for s in raw:
        step = float(s["value"][1]) / 5
        for labels in (s["metric"], _otlp_shape(s["metric"])):
            inputs.append({"series": _series(labels), "values": f"0+{step:g}x10"})  # a steady increase
    tests = []
    for name in SHAPE_RULES:
        n = len(stored["rules"][name])
        same = (f"count(sum without (job) ({name}{{job=\"{JOB}\"}})"
                f" == sum without (job) ({name}{{job=\"shop/{JOB}\"}}))")
        tests.append({"expr": same, "eval_time": "5m", "exp_samples": [{"labels": "{}", "value": n}]})
    test_file = tmp_path / "otlp_shape_test.yml"
    test_file.write_text(yaml.safe_dump({
        "rule_files": [str(p) for p in backends.rule_files()],
        "evaluation_interval": "1m",
        "tests": [{"interval": "1m", "input_series": inputs, "promql_expr_test": tests}],
    }, width=10**6))
    run("promtool", "test", "rules", test_file)


def test_prometheus_binary_is_the_documented_version() -> None:
    assert run("prometheus", "--version").startswith("prometheus, version 3.5")
