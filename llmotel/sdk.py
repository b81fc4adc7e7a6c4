"""``init()`` / ``shutdown()``: providers, exporters, processors and instrumentors.

``init()`` reuses any tracer, meter or logger provider the application (or
``opentelemetry-instrument``) already installed globally and never touches it; only for a
signal with no provider yet does it create an SDK provider with the configured exporters
and install it globally. Then it instruments every supported LLM client library that is
importable.

OpenTelemetry's global providers can be set only once per process. ``shutdown()`` followed
by ``init()`` therefore creates fresh providers (used by llmotel's instrumentors) but cannot
make them the global ones: ``trace.get_tracer()`` and friends keep returning the first,
shut-down providers, and llmotel logs a warning saying so. Tests reset the API's private
set-once guards between cases instead.

Everything heavy (the SDK, exporters, gRPC, protobuf, prometheus_client, instrumentors) is
imported inside :func:`init`, only for what is configured, so ``import llmotel`` stays cheap.
"""

from __future__ import annotations

import atexit
import importlib
import importlib.util
import logging
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from llmotel.config import ConfigError, Settings

__all__ = ["SHUTDOWN_TIMEOUT_S", "get_settings", "init", "shutdown"]

_logger = logging.getLogger(__name__)

#: Upper bound on how long :func:`shutdown` waits for the providers to flush and close.
#: Each export attempt is itself bounded by the exporter timeout (``OTEL_EXPORTER_OTLP_TIMEOUT``,
#: 10 s by default), and the three providers are flushed in parallel.
SHUTDOWN_TIMEOUT_S = 30.0

_SIGNALS = ("traces", "metrics", "logs")
_HTTP_PATHS = {"traces": "v1/traces", "metrics": "v1/metrics", "logs": "v1/logs"}
_OTLP_CLASSES = {
    ("http/protobuf", "traces"): "opentelemetry.exporter.otlp.proto.http.trace_exporter:OTLPSpanExporter",
    ("http/protobuf", "metrics"): "opentelemetry.exporter.otlp.proto.http.metric_exporter:OTLPMetricExporter",
    ("http/protobuf", "logs"): "opentelemetry.exporter.otlp.proto.http._log_exporter:OTLPLogExporter",
    ("grpc", "traces"): "opentelemetry.exporter.otlp.proto.grpc.trace_exporter:OTLPSpanExporter",
    ("grpc", "metrics"): "opentelemetry.exporter.otlp.proto.grpc.metric_exporter:OTLPMetricExporter",
    ("grpc", "logs"): "opentelemetry.exporter.otlp.proto.grpc._log_exporter:OTLPLogExporter",
}
_CONSOLE_CLASSES = {
    "traces": "opentelemetry.sdk.trace.export:ConsoleSpanExporter",
    "metrics": "opentelemetry.sdk.metrics.export:ConsoleMetricExporter",
    "logs": "opentelemetry.sdk._logs.export:ConsoleLogRecordExporter",
}


@dataclass
class _State:
    """What one successful ``init()`` set up, so ``shutdown()`` can undo exactly that."""

    settings: Settings
    tracer_provider: Any = None
    meter_provider: Any = None
    logger_provider: Any = None
    owned: list[Any] = field(default_factory=list)  # providers llmotel created (and must close)
    instrumented: list[Any] = field(default_factory=list)  # instrumentors llmotel turned on
    prometheus_server: Any = None
    prometheus_thread: threading.Thread | None = None


_lock = threading.Lock()
_state: _State | None = None
_atexit_registered = False
# Providers llmotel created and already shut down. If one is still the global provider (the
# set-once rule), a later init() must not mistake it for a provider the application installed.
_retired: weakref.WeakSet[Any] = weakref.WeakSet()


def get_settings() -> Settings | None:
    """Return the :class:`~llmotel.config.Settings` of the active ``init()``, or ``None``.

    Instrumentors call this when ``instrument()`` is invoked without ``settings=`` (for
    example by ``opentelemetry-instrument``) so they follow the configuration ``init()``
    resolved; ``None`` means ``init()`` has not run (or ``shutdown()`` has since reset it),
    in which case the caller should resolve settings itself with ``Settings.load()``.
    """
    state = _state
    return None if state is None else state.settings


def init(**kwargs: Any) -> Settings:
    """Set up OpenTelemetry for this process and instrument the installed LLM client libraries.

    Keyword arguments are the fields of :class:`~llmotel.config.Settings` and override the
    ``OTEL_*`` / ``LLMOTEL_*`` environment; an invalid value raises
    :class:`~llmotel.config.ConfigError` (an unknown keyword ``TypeError``) before anything is
    changed. With ``OTEL_SDK_DISABLED=true`` nothing is set up. For each signal, a provider
    already installed globally (by the app or ``opentelemetry-instrument``) is reused as is,
    never replaced and never given an extra exporter; otherwise an SDK provider with the
    configured exporters (OTLP over HTTP/protobuf or gRPC, console, Prometheus) is created and
    installed globally. An instrumentor that fails is logged once and skipped, never breaking
    the app. A second call is a no-op returning the first call's settings; ``shutdown()`` is
    registered with :mod:`atexit` so buffered telemetry is exported when the script exits.
    """
    global _state, _atexit_registered
    with _lock:
        if _state is not None:
            if kwargs:
                _logger.warning("llmotel.init() was already called; ignoring the new arguments")
            return _state.settings
        settings = Settings.load(**kwargs)
        if settings.sdk_disabled:
            _logger.debug("llmotel: OTEL_SDK_DISABLED is set; not setting up OpenTelemetry")
            _state = _State(settings=settings)
            return settings
        selected = _selected_instrumentors(settings)
        # A broken cost overrides file must fail here, not inside an instrumentor
        # (whose failures are logged and skipped so one library cannot break init).
        from llmotel.cost import cost_model

        cost_model(settings.cost_overrides)
        state = _State(settings=settings)
        try:
            _setup_providers(state, explicit=set(kwargs))
        except BaseException:
            _close(state, SHUTDOWN_TIMEOUT_S)
            raise
        _state = state
        state.instrumented = _instrument(selected, state)
        if not _atexit_registered:
            atexit.register(shutdown)
            _atexit_registered = True
        return settings


def shutdown(timeout_seconds: float = SHUTDOWN_TIMEOUT_S) -> None:
    """Undo ``init()``: uninstrument, flush and close llmotel's providers, reset the state.

    The instrumentors ``init()`` turned on are uninstrumented; the providers llmotel created
    are force-flushed and shut down (in parallel, waiting at most ``timeout_seconds`` in
    total, so a dead collector cannot hang the exit); providers that were reused are left
    alone because the application owns them; the Prometheus endpoint is stopped. Afterwards
    ``init()`` may run again (see the module docstring for the global set-once caveat). Safe
    to call any number of times, also without ``init()``; it never raises.
    """
    global _state
    try:
        with _lock:
            state, _state = _state, None
            if state is not None:
                # Queued evaluations are telemetry too: drain them before the providers flush.
                import sys

                evaluators = sys.modules.get("llmotel.evaluators")
                if evaluators is not None:
                    evaluators.shutdown_all(min(5.0, timeout_seconds / 2))
                _close(state, timeout_seconds)
    except Exception:  # never break the app on the way out
        _logger.warning("llmotel.shutdown() failed", exc_info=True)


# --- instrumentation --------------------------------------------------------------


def _registry() -> dict[str, tuple[str, str]]:
    from llmotel import instrumentation

    return instrumentation.INSTRUMENTORS


def _selected_instrumentors(settings: Settings) -> list[str]:
    known = _registry()
    if settings.instrument is None:
        return list(known)
    unknown = [name for name in settings.instrument if name not in known]
    if unknown:
        raise ConfigError(
            f"instrument / LLMOTEL_INSTRUMENT: unknown {', '.join(map(repr, unknown))}; "
            f"accepted: {', '.join(sorted(known)) or '(none registered)'}"
        )
    return list(dict.fromkeys(settings.instrument))


def _importable(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def _instrument(names: list[str], state: _State) -> list[Any]:
    registry = _registry()
    done: list[Any] = []
    for name in names:
        probe, target = registry[name]
        if not _importable(probe):
            _logger.debug("llmotel: %s is not installed; not instrumenting it", probe)
            continue
        try:
            instrumentor = _load(target)()
            if instrumentor.is_instrumented_by_opentelemetry:
                # e.g. opentelemetry-instrument got there first: it owns that instrumentation.
                _logger.debug("llmotel: %s is already instrumented; leaving it as is", name)
                continue
            instrumentor.instrument(
                tracer_provider=state.tracer_provider,
                meter_provider=state.meter_provider,
                logger_provider=state.logger_provider,
                settings=state.settings,
            )
        except Exception:
            _logger.warning("llmotel: instrumenting %s failed; continuing without it", name, exc_info=True)
            continue
        if instrumentor.is_instrumented_by_opentelemetry:
            done.append(instrumentor)
    return done


def _load(target: str) -> Any:
    module, _, attr = target.partition(":")
    return getattr(importlib.import_module(module), attr)


# --- providers --------------------------------------------------------------------


def _setup_providers(state: _State, explicit: set[str]) -> None:
    """Reuse or create the three providers; on error the caller closes what ``state`` holds."""
    from opentelemetry import _logs, metrics, trace

    settings = state.settings
    existing = {
        "traces": _installed(trace.get_tracer_provider(), "ProxyTracerProvider"),
        "metrics": _installed(metrics.get_meter_provider(), "_ProxyMeterProvider"),
        "logs": _installed(_logs.get_logger_provider(), "ProxyLoggerProvider"),
    }
    # Resolve every exporter class first: a missing optional package fails before anything runs.
    factories = {
        signal: [] if existing[signal] is not None else _exporter_factories(signal, settings, explicit)
        for signal in _SIGNALS
    }
    for signal in _SIGNALS:
        if existing[signal] is not None and getattr(settings, f"{signal}_exporter"):
            _logger.info(
                "llmotel: reusing the installed %s provider %r; %s_exporter is not applied to it",
                signal,
                type(existing[signal]).__name__,
                signal,
            )
    resource = None
    if any(provider is None for provider in existing.values()):
        from opentelemetry.sdk.resources import Resource

        attributes: dict[str, Any] = dict(settings.resource_attributes)
        if settings.service_name:
            attributes["service.name"] = settings.service_name
        resource = Resource.create(attributes)

    # metrics first: the Prometheus port is the one runtime failure worth checking early
    if existing["metrics"] is not None:
        state.meter_provider = existing["metrics"]
    else:
        from opentelemetry.sdk.metrics import MeterProvider

        readers = _metric_readers(factories["metrics"], settings, state)
        state.meter_provider = MeterProvider(
            metric_readers=readers, resource=resource, shutdown_on_exit=False
        )
        state.owned.append(state.meter_provider)

    if existing["traces"] is not None:
        state.tracer_provider = existing["traces"]
    else:
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        state.tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
        state.owned.append(state.tracer_provider)
        for make in factories["traces"]:
            state.tracer_provider.add_span_processor(BatchSpanProcessor(make()))

    if existing["logs"] is not None:
        state.logger_provider = existing["logs"]
    else:
        from opentelemetry.sdk._logs import LoggerProvider
        from opentelemetry.sdk._logs.export import BatchLogRecordProcessor

        state.logger_provider = LoggerProvider(resource=resource, shutdown_on_exit=False)
        state.owned.append(state.logger_provider)
        for make in factories["logs"]:
            state.logger_provider.add_log_record_processor(BatchLogRecordProcessor(make()))

    # Everything built: only now touch the process-wide globals.
    if existing["traces"] is None:
        _set_global(state.tracer_provider, trace.set_tracer_provider, trace.get_tracer_provider)
    if existing["metrics"] is None:
        _set_global(state.meter_provider, metrics.set_meter_provider, metrics.get_meter_provider)
    if existing["logs"] is None:
        _set_global(state.logger_provider, _logs.set_logger_provider, _logs.get_logger_provider)


def _installed(provider: Any, proxy_class_name: str) -> Any:
    """The globally installed provider to reuse, or ``None`` when llmotel should create one."""
    if type(provider).__name__ == proxy_class_name:
        return None  # nothing installed yet
    if provider in _retired:
        return None  # our own, shut down earlier: stuck as the global by the set-once rule
    return provider


def _set_global(provider: Any, setter: Callable[[Any], None], getter: Callable[[], Any]) -> None:
    setter(provider)
    if getter() is not provider:
        _logger.warning(
            "llmotel: the global %s can be set only once per process and an earlier one (shut "
            "down by llmotel.shutdown()) is still installed; llmotel's instrumentation uses the "
            "new provider, but OpenTelemetry's get_*() functions still return the old one",
            type(provider).__name__,
        )


def _exporter_factories(signal: str, settings: Settings, explicit: set[str]) -> list[Callable[[], Any]]:
    """Import the configured exporter classes for ``signal``; build them later, on demand.

    For metrics, the Prometheus entry is the ``PrometheusMetricReader`` class itself (a pull
    reader, not an exporter); :func:`_metric_readers` tells the two apart.
    """
    factories: list[Callable[[], Any]] = []
    for name in dict.fromkeys(getattr(settings, f"{signal}_exporter")):
        if name == "console":
            factories.append(_load(_CONSOLE_CLASSES[signal]))
        elif name == "otlp":
            factories.append(_otlp_factory(signal, settings, explicit))
        elif name == "prometheus":  # config.py accepts it for metrics only
            factories.append(_prometheus_reader_class())
    return factories


def _otlp_factory(signal: str, settings: Settings, explicit: set[str]) -> Callable[[], Any]:
    protocol = settings.protocol_for(signal)
    target = _OTLP_CLASSES[(protocol, signal)]
    try:
        exporter_class = _load(target)
    except ImportError as error:
        hint = "pip install 'llmotel[grpc]'" if protocol == "grpc" else "reinstall llmotel"
        raise ConfigError(
            f"otlp_protocol / OTEL_EXPORTER_OTLP_PROTOCOL={protocol!r} for {signal} needs the OTLP "
            f"{protocol} exporter, which cannot be imported ({error}): {hint}"
        ) from error
    options: dict[str, Any] = {}
    # Only values given as keyword arguments are passed: otherwise the exporter reads
    # OTEL_EXPORTER_OTLP_[SIGNAL_]ENDPOINT/HEADERS itself, per-signal variables included.
    if "otlp_endpoint" in explicit and settings.otlp_endpoint:
        endpoint = settings.otlp_endpoint
        if protocol == "http/protobuf":
            endpoint = f"{endpoint.rstrip('/')}/{_HTTP_PATHS[signal]}"
        options["endpoint"] = endpoint
    if "otlp_headers" in explicit and settings.otlp_headers:
        options["headers"] = dict(settings.otlp_headers)
    return lambda: exporter_class(**options)


def _prometheus_reader_class() -> type:
    try:
        from llmotel.telemetry.prometheus_reader import reader_class

        return reader_class()
    except ImportError as error:
        raise ConfigError(
            "metrics_exporter / OTEL_METRICS_EXPORTER='prometheus' needs the Prometheus exporter, "
            f"which cannot be imported ({error}): pip install 'llmotel[prometheus]'"
        ) from error


def _metric_readers(factories: list[Callable[[], Any]], settings: Settings, state: _State) -> list[Any]:
    from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader

    pull = [f for f in factories if isinstance(f, type) and issubclass(f, MetricReader)]
    push = [f for f in factories if f not in pull]
    if pull:
        _start_prometheus_server(settings, state)  # before any reader thread exists
    readers: list[Any] = [reader_class() for reader_class in pull]
    for make in push:
        readers.append(
            PeriodicExportingMetricReader(make(), export_interval_millis=settings.metric_export_interval_ms)
        )
    return readers


def _start_prometheus_server(settings: Settings, state: _State) -> None:
    from prometheus_client import start_http_server

    host, port = settings.prometheus_host, settings.prometheus_port
    try:
        started = start_http_server(port=port, addr=host)
    except OSError as error:
        raise ConfigError(
            f"OTEL_EXPORTER_PROMETHEUS_PORT / prometheus_port={port}: cannot serve /metrics on "
            f"{host}:{port} ({error}); pick a free port"
        ) from error
    if isinstance(started, tuple):  # prometheus_client >= 0.20 returns (server, thread)
        state.prometheus_server, state.prometheus_thread = started
        _logger.debug("llmotel: Prometheus metrics at http://%s:%s/metrics", host, started[0].server_port)


# --- teardown ---------------------------------------------------------------------


def _close(state: _State, timeout_seconds: float) -> None:
    for instrumentor in reversed(state.instrumented):
        try:
            instrumentor.uninstrument()
        except Exception:
            _logger.warning("llmotel: uninstrumenting %s failed", type(instrumentor).__name__, exc_info=True)
    state.instrumented = []
    _close_providers(state.owned, timeout_seconds)
    for provider in state.owned:
        _retired.add(provider)
    state.owned = []
    server, state.prometheus_server = state.prometheus_server, None
    if server is not None:
        try:
            server.shutdown()
            server.server_close()
            if state.prometheus_thread is not None:
                state.prometheus_thread.join(timeout=5)
        except Exception:
            _logger.warning("llmotel: stopping the Prometheus endpoint failed", exc_info=True)


def _close_providers(providers: list[Any], timeout_seconds: float) -> None:
    """Flush and shut down ``providers`` in parallel, waiting at most ``timeout_seconds``."""
    deadline = time.monotonic() + max(timeout_seconds, 0.0)
    timeout_millis = int(max(timeout_seconds, 0.0) * 1000)
    threads: list[threading.Thread] = []
    for provider in providers:
        thread = threading.Thread(
            target=_close_provider, args=(provider, timeout_millis), name="llmotel-shutdown", daemon=True
        )
        try:
            thread.start()
        except RuntimeError:  # no new threads (interpreter finalising): do it here
            _close_provider(provider, timeout_millis)
            continue
        threads.append(thread)
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    if any(thread.is_alive() for thread in threads):
        _logger.warning(
            "llmotel.shutdown(): telemetry not flushed within %.0f s (is the collector reachable?); "
            "giving up on it",
            timeout_seconds,
        )


def _close_provider(provider: Any, timeout_millis: int) -> None:
    try:
        from opentelemetry.sdk.metrics import MeterProvider

        if isinstance(provider, MeterProvider):
            provider.shutdown(timeout_millis=timeout_millis)  # collects and exports one last time
        else:
            provider.force_flush(timeout_millis)
            provider.shutdown()
    except Exception:
        _logger.warning("llmotel: shutting down %s failed", type(provider).__name__, exc_info=True)
