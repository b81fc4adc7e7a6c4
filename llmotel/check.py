"""``llmotel check``: the effective configuration, the client libraries, the endpoints.

Answers the three questions behind most "I see no data" reports: what configuration did
llmotel resolve (and is it valid), which client libraries will be instrumented (installed,
in the supported range, entry point registered), and do the configured endpoints answer.
"""

from __future__ import annotations

import importlib.metadata as md
import socket
import urllib.error
import urllib.request
from dataclasses import fields
from typing import TextIO
from urllib.parse import urlsplit

from llmotel.config import ConfigError, Settings

_OTLP_DEFAULTS = {"http/protobuf": "http://localhost:4318", "grpc": "http://localhost:4317"}


def reachable(endpoint: str, timeout: float = 0.5) -> bool:
    """Whether something accepts TCP connections at ``endpoint``'s host and port."""
    parts = urlsplit(endpoint if "//" in endpoint else f"http://{endpoint}")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout):
            return True
    except OSError:
        return False


def port_free(host: str, port: int) -> bool:
    """Whether the Prometheus exporter could serve on ``host:port``: a bind as its HTTP server
    does it (address reuse on), so a port in TIME_WAIT is free and a bound one is not."""
    try:
        with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((host, port))
            s.listen()
    except OSError:
        return False
    return True


def _version_ok(requirement: str, version: str) -> bool:
    from packaging.requirements import Requirement

    return Requirement(requirement).specifier.contains(version, prereleases=True)


def libraries(settings: Settings) -> list[tuple[str, str, str]]:
    """(library, installed version or "-", verdict) for every supported client library."""
    from llmotel.instrumentation import INSTRUMENTORS

    entry_points = {ep.name for ep in md.entry_points(group="opentelemetry_instrumentor")}
    rows = []
    for name, (module, target) in INSTRUMENTORS.items():
        try:
            version = md.version(module)
        except md.PackageNotFoundError:
            rows.append((name, "-", "not installed: nothing to instrument"))
            continue
        mod_name, cls_name = target.split(":")
        instrumentor = getattr(__import__(mod_name, fromlist=[cls_name]), cls_name)
        requirement = next(iter(instrumentor().instrumentation_dependencies()))
        if not _version_ok(requirement, version):
            verdict = f"UNSUPPORTED version (llmotel supports {requirement}): not instrumented"
        elif settings.instrument is not None and name not in settings.instrument:
            verdict = "installed, but left out by LLMOTEL_INSTRUMENT"
        else:
            verdict = "instrumented by llmotel.init()"
            if f"llmotel_{name}" not in entry_points:
                verdict += "; entry point missing (reinstall llmotel for opentelemetry-instrument)"
            else:
                verdict += " and opentelemetry-instrument"
        rows.append((name, version, verdict))
    return rows


def _probe(url: str, timeout: float) -> tuple[bool, str]:
    """Whether an HTTP endpoint answers, with a one-line diagnosis."""
    try:
        request = urllib.request.Request(url, data=b"", method="POST",
                                         headers={"Content-Type": "application/x-protobuf"})
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return True, f"answers (HTTP {response.status})"
    except urllib.error.HTTPError as exc:  # it answered: a 4xx on an empty body is fine
        return True, f"answers (HTTP {exc.code})"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return False, f"does not answer ({reason})"


def endpoints(settings: Settings, timeout: float = 1.0) -> list[tuple[str, bool, str]]:
    """(what, ok, diagnosis) for the endpoints the settings will export to."""
    rows: list[tuple[str, bool, str]] = []
    uses_otlp = any("otlp" in e for e in (*settings.traces_exporter, *settings.metrics_exporter,
                                           *settings.logs_exporter))
    if uses_otlp:
        protocol = settings.otlp_protocol
        base = (settings.otlp_endpoint or _OTLP_DEFAULTS.get(protocol, _OTLP_DEFAULTS["http/protobuf"])).rstrip("/")
        if protocol == "grpc":
            ok = reachable(base)
            rows.append((f"OTLP/gRPC {base}", ok, "accepts connections" if ok else "does not answer"))
        else:
            ok, text = _probe(f"{base}/v1/traces", timeout)
            rows.append((f"OTLP/HTTP {base}", ok, text))
        if not ok:
            rows[-1] = (rows[-1][0], False, rows[-1][2] + ": start the stack (`docker compose up`), point "
                        "OTEL_EXPORTER_OTLP_ENDPOINT at your collector, or use OTEL_*_EXPORTER=console|none")
    if "prometheus" in settings.metrics_exporter:
        where = f"{settings.prometheus_host}:{settings.prometheus_port}"
        free = port_free(settings.prometheus_host, settings.prometheus_port)
        rows.append((f"Prometheus endpoint {where}", free,
                     "free: init() will serve /metrics there" if free
                     else "port in use: init() will fail (set OTEL_EXPORTER_PROMETHEUS_PORT)"))
    return rows


def _shown(settings: Settings) -> list[tuple[str, str]]:
    rows = []
    for f in fields(settings):
        value = getattr(settings, f.name)
        if f.name == "otlp_headers" and value:
            value = {k: "***" for k in value}  # API keys of hosted backends
        rows.append((f.name, repr(value)))
    return rows


def run_check(out: TextIO, env: dict[str, str] | None = None) -> int:
    """Print the report; exit code 0 when everything needed answers, 1 otherwise, 2 on bad config."""
    try:
        settings = Settings.load(env)
    except (ConfigError, TypeError) as exc:
        print(f"configuration: INVALID — {exc}", file=out)
        return 2
    print("configuration (environment > defaults; init() keywords override these in code):", file=out)
    for name, value in _shown(settings):
        print(f"  {name:<26} {value}", file=out)
    print("\nclient libraries:", file=out)
    lib_rows = libraries(settings)
    for name, version, verdict in lib_rows:
        print(f"  {name:<10} {version:<10} {verdict}", file=out)
    print("\nendpoints:", file=out)
    status = 0
    rows = endpoints(settings) if not settings.sdk_disabled else []
    if settings.sdk_disabled:
        print("  OTEL_SDK_DISABLED is set: llmotel.init() does nothing", file=out)
    for what, ok, text in rows:
        print(f"  {'ok  ' if ok else 'FAIL'} {what}: {text}", file=out)
        status = status or (0 if ok else 1)
    if not rows and not settings.sdk_disabled:
        print("  none (no OTLP or Prometheus exporter configured)", file=out)
    if not any(v.startswith("instrumented") for _, _, v in lib_rows):
        print("\nno supported client library will be instrumented: pip install 'llmotel[openai,anthropic]'", file=out)
        status = status or 1
    return status
