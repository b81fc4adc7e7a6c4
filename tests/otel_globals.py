"""Test-only helper: forget OpenTelemetry's set-once global providers."""

from __future__ import annotations

from opentelemetry import trace


def reset_otel_globals() -> None:
    """Forget the global providers, so the next set_*_provider() takes effect (tests only)."""
    from opentelemetry._logs import _internal as logs_internal
    from opentelemetry.metrics import _internal as metrics_internal

    trace._TRACER_PROVIDER_SET_ONCE._done = False
    trace._TRACER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE._done = False
    metrics_internal._METER_PROVIDER = None
    logs_internal._LOGGER_PROVIDER_SET_ONCE._done = False
    logs_internal._LOGGER_PROVIDER = None
