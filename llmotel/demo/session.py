"""``llmotel demo``: pick the target and the export path, run the scenarios, summarise.

Targets: the built-in fake provider (default; both protocols, scripted latency and faults),
a real OpenAI-compatible server (``--base-url``/``--model``), or a real small model served
on loopback (``--local-model``, the ``local`` extra). Export: OTLP to the collector of the
compose stack by default; local mode (``--local``, or automatically when no collector
answers) serves the metrics on the SDK's Prometheus endpoint instead.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from llmotel.check import port_free, reachable

DEFAULT_ENDPOINT = "http://localhost:4318"
DEFAULT_PROMETHEUS_PORT = 9464
INCIDENT_HINT = "scripts/demo --profile outage --recover-after 60 --duration 150"
GRAFANA_URL = "http://localhost:3000"
DASHBOARDS = ("llmotel / Overview", "llmotel / Latency", "llmotel / Cost and tokens", "llmotel / Quality",
              "llmotel / Workflows and agents")
# What the demo turns on so that every dashboard has data: content (redacted) for the prompt
# explorer, bounded attribution labels for the tenant and prompt-version panels, the newer
# token counters and usage on streams.
DEMO_SETTINGS: dict[str, Any] = {
    "capture_content": "SPAN_AND_EVENT",
    "metric_attributes": "tenant_id,feature,prompt_version",
    "inference_usage_metrics": True,
    "include_usage": True,
    "metric_export_interval_ms": 5000,
}


def demo_settings() -> dict[str, Any]:
    """DEMO_SETTINGS plus the demo app's own (buggy, on purpose) redaction callback."""
    from llmotel.demo.scenarios import redaction_callback

    return {**DEMO_SETTINGS, "redaction": {"callback": redaction_callback}}


@dataclass
class Options:
    """The demo's command-line options."""

    duration: float = 60.0
    rps: float = 4.0
    requests: int | None = None
    profile: str = "normal"
    endpoint: str | None = None
    service_name: str = "llmotel-demo"
    local: bool = False
    no_export: bool = False
    prometheus_port: int | None = None  # None: 9464, or a free port when 9464 is taken
    base_url: str | None = None
    model: str | None = None
    api_key: str | None = None
    local_model: bool = False
    seed: int = 7
    recover_after: float | None = None


def _export_settings(opts: Options, out: Any) -> tuple[dict[str, Any], str]:
    """The init() exporter settings and the mode name (``otlp``, ``local`` or ``none``)."""
    if opts.no_export:
        return {"traces_exporter": "none", "metrics_exporter": "none", "logs_exporter": "none"}, "none"
    endpoint = opts.endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINT
    if not opts.local and reachable(endpoint):
        print(f"llmotel demo: exporting OTLP to {endpoint}", file=out)
        return {"otlp_endpoint": endpoint}, "otlp"
    if not opts.local:
        print(f"llmotel demo: no OTLP collector answers at {endpoint}: local mode "
              "(start the stack with `docker compose up`, or pass --endpoint URL).", file=out)
    if opts.prometheus_port is None:
        opts.prometheus_port = DEFAULT_PROMETHEUS_PORT
        if not port_free("127.0.0.1", DEFAULT_PROMETHEUS_PORT):
            from llmotel.demo.backends import free_port

            opts.prometheus_port = free_port()
            print(f"llmotel demo: port {DEFAULT_PROMETHEUS_PORT} is taken, using {opts.prometheus_port} "
                  "(--prometheus-port to choose)", file=out)
    print(f"llmotel demo: metrics on the SDK's Prometheus endpoint http://127.0.0.1:{opts.prometheus_port}/metrics",
          file=out)
    return {"traces_exporter": "none", "logs_exporter": "none", "metrics_exporter": "prometheus",
            "prometheus_host": "127.0.0.1", "prometheus_port": opts.prometheus_port}, "local"


@contextlib.contextmanager
def _target(opts: Options, out: Any) -> Iterator[tuple[str, str | None, str | None]]:
    """(OpenAI base URL, Anthropic base URL or None, the real model or None) while it runs."""
    if opts.local_model:
        from llmotel.demo.local_model import start_local_model

        print("llmotel demo: starting the local model (xllamacpp + SmolLM2-135M) on loopback ...", file=out)
        with start_local_model() as local:
            yield local.base_url, local.anthropic_base_url, local.model
    elif opts.base_url:
        print(f"llmotel demo: driving the real server at {opts.base_url} with model {opts.model}", file=out)
        yield opts.base_url, None, opts.model
    else:
        from llmotel.demo.fake_provider import FakeProvider

        with FakeProvider() as fake:
            print(f"llmotel demo: fake OpenAI/Anthropic provider at {fake.base_url}", file=out)
            yield fake.base_url, fake.anthropic_base_url, None


class _OneLine(logging.Formatter):
    """The demo's failures are scripted: llmotel's warnings about them, without tracebacks."""

    def format(self, record: logging.LogRecord) -> str:
        record.exc_info = record.exc_text = None
        return super().format(record)


def _demo_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_OneLine("  (%(message)s)"))
    log = logging.getLogger("llmotel")
    log.addHandler(handler)
    log.propagate = False


@contextlib.contextmanager
def _local_stack(opts: Options, out: Any) -> Iterator[Any]:
    """The real Prometheus and Alertmanager of local mode, when they have been fetched."""
    from llmotel.demo import backends

    if backends.find_binary("prometheus") is None or not backends.rule_files():
        print("llmotel demo: no Prometheus binary fetched (scripts/fetch-backends), so no rules or alerts run "
              "here; the metrics are still served for any Prometheus to scrape.", file=out)
        yield None
        return
    with backends.start_local_stack(f"127.0.0.1:{opts.prometheus_port}", opts.service_name) as stack:
        print(f"llmotel demo: Prometheus {stack.prometheus_url} (the project's rules; alerts at "
              f"{stack.prometheus_url}/alerts)" + (f", Alertmanager {stack.alertmanager_url} (the project's "
                                                    "routing, receivers pointed at a local sink)"
                                                    if stack.alertmanager_url else ""), file=out)
        yield stack


def _alerts_table(records: list[Any], notifications: list[Any], started: float) -> str:
    """Which alerts fired (and resolved) and what the receivers got."""
    rows = ["alerts (the project's rules on the real Prometheus):",
            f"  {'alert':<34} {'severity':<9} {'provider':<10} {'model':<24} {'fired':>7} {'resolved':>9}"]
    for r in records:
        fired = f"+{r.fired_at - started:.0f}s" if r.fired_at else "-"
        resolved = f"+{r.resolved_at - started:.0f}s" if r.resolved_at else "firing"
        rows.append(f"  {r.name:<34} {r.labels.get('severity', '-'):<9} "
                    f"{r.labels.get('gen_ai_provider_name', '-'):<10} {r.labels.get('gen_ai_request_model', '-'):<24} "
                    f"{fired:>7} {resolved:>9}")
    if not records:
        rows.append("  none fired")
    if any(r.name == "Watchdog" for r in records):
        rows.append("  (Watchdog always fires: it is the heartbeat that proves the alerting path works)")
    by_channel: dict[str, int] = {}
    for n in notifications:
        by_channel[n.channel] = by_channel.get(n.channel, 0) + 1
    rows.append("notifications Alertmanager delivered (to the local sink): "
                + (", ".join(f"{k} {v}" for k, v in sorted(by_channel.items())) or "none"))
    return "\n".join(rows)


def run_demo(opts: Options, out: Any = None) -> int:
    """The whole demo; returns the process exit code."""
    import llmotel
    from llmotel.demo import runner
    from llmotel.demo.profiles import PROFILES
    from llmotel.demo.summary import SummaryProcessor

    out = out or sys.stdout
    if opts.profile not in PROFILES:
        print(f"llmotel demo: unknown profile {opts.profile!r}; known: {', '.join(PROFILES)}", file=sys.stderr)
        return 2
    if opts.base_url and not opts.model:
        print("llmotel demo: --base-url needs --model (the model name the server serves)", file=sys.stderr)
        return 2
    profile = PROFILES[opts.profile]
    _demo_logging()
    exporters, mode = _export_settings(opts, out)
    try:
        llmotel.init(service_name=opts.service_name, **demo_settings(), **exporters)
    except llmotel.ConfigError as exc:  # e.g. an explicit --prometheus-port that is taken
        print(f"llmotel demo: {exc}", file=sys.stderr)
        return 2
    from opentelemetry import trace

    summary = SummaryProcessor()
    provider = trace.get_tracer_provider()
    if hasattr(provider, "add_span_processor"):
        provider.add_span_processor(summary)
    stack_cm = _local_stack(opts, out) if mode == "local" else contextlib.nullcontext()
    watched: list[Any] = []
    notifications: list[Any] = []
    try:
        with stack_cm as stack, _target(opts, out) as (base_url, anthropic_url, real_model):
            watcher = None
            if stack is not None:
                from llmotel.demo.backends import AlertWatcher

                watcher = AlertWatcher(stack)
            clients = runner.make_clients(base_url, anthropic_url, api_key=opts.api_key or "demo",
                                          real_model=real_model, max_tokens=24 if real_model else 256)
            length = f"{opts.requests} requests" if opts.requests else f"{opts.duration:.0f} s"
            phase = (f", then 'normal' after {opts.recover_after:g} s" if opts.recover_after is not None
                     and profile.name != "normal" else "")
            print(f"llmotel demo: profile {profile.name!r} ({profile.description}){phase}; {opts.rps:g} "
                  f"requests/s for {length}; Ctrl-C stops", file=out)
            out.flush()
            result = runner.run(clients, profile, duration=opts.duration, rps=opts.rps, max_requests=opts.requests,
                                seed=opts.seed, progress=runner.stderr_progress(),
                                recover_after=opts.recover_after)
            if watcher is not None and stack is not None:
                watched = watcher.stop()
                notifications = stack.sink.received() if stack.sink is not None else []
    finally:
        llmotel.shutdown()
    failed = sum(result.failures.values())
    print(f"\nllmotel demo: {result.finished} requests in {result.seconds:.1f} s"
          f"{' (interrupted)' if result.interrupted else ''}; {failed} failed as the profile scripted"
          + (f" ({', '.join(f'{k} {v}' for k, v in result.failures.most_common())})" if failed else ""), file=out)
    print("\n" + summary.table(), file=out)
    if mode == "local" and (watched or notifications):
        print("\n" + _alerts_table(watched, notifications, result.started_at), file=out)
    if profile.name == "normal" and not result.interrupted and mode != "none" and real_model is None:
        print(f"\nTo see an alert fire and resolve: {INCIDENT_HINT}", file=out)
    if mode == "otlp":
        print(f"\nOpen Grafana at {GRAFANA_URL}/d/llmotel-overview (folder 'llmotel'): {', '.join(DASHBOARDS)}.",
              file=out)
        if profile.name != "normal":
            print(f"The incident's alerts: {GRAFANA_URL}/d/llmotel-alerts, Alertmanager http://localhost:9093 "
                  "(rules fire after their 'for' window; docs/alerts.md lists them).", file=out)
    return 0
