"""Per-instrumentor emission state shared by every wrapper of that instrumentor."""

from __future__ import annotations

import logging
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace

from llmotel import __version__
from llmotel import semconv as sc
from llmotel.config import Settings
from llmotel.telemetry.instruments import Instruments
from llmotel.telemetry.invocation import ACTIVE_KEY, UTIL_GENAI_KEY, Invocation

_log = logging.getLogger("llmotel")


class Telemetry:
    """Tracer, instruments, event logger and settings for one instrumented library.

    ``enabled`` is switched off by ``uninstrument()``: SDK objects that cached a bound
    wrapper before (``with_raw_response`` properties) then pass straight through.
    """

    def __init__(
        self,
        scope: str,
        settings: Settings,
        tracer_provider: Any = None,
        meter_provider: Any = None,
        logger_provider: Any = None,
    ) -> None:
        self.settings = settings
        self.enabled = True
        self.tracer = trace.get_tracer(scope, __version__, tracer_provider, schema_url=sc.SCHEMA_URL)
        meter = metrics.get_meter(scope, __version__, meter_provider, schema_url=sc.SCHEMA_URL)
        self.instruments = Instruments(meter, inference_usage_metrics=settings.inference_usage_metrics)
        self.logger = None
        if settings.emit_details_event:
            from opentelemetry._logs import get_logger

            self.logger = get_logger(scope, __version__, logger_provider, schema_url=sc.SCHEMA_URL)
        # Hoisted out of the hot path: plain attribute reads per call.
        self.capture = settings.capture_any_content
        self.content_on_span = settings.content_on_span
        self.content_on_event = settings.content_on_event
        # Content is redacted and capped before any exporter sees it; with capture off no
        # gate exists and nothing of llmotel.redaction is loaded.
        self.gate = None
        if self.capture:
            from llmotel.redaction import RedactionConfig
            from llmotel.telemetry.capture import ContentGate, RedactionMetrics

            self.gate = ContentGate(settings.redaction or RedactionConfig(), RedactionMetrics(meter))
        self.include_usage = settings.include_usage
        from llmotel.cost import cost_model

        self.cost = cost_model(settings.cost_overrides)
        from llmotel.attribution import MetricLabels, install_processor

        self.metric_labels = MetricLabels(settings.metric_attributes, settings.metric_attribute_limit)
        install_processor(tracer_provider, settings.baggage_keys)
        self._reported: set[str] = set()

    def start(
        self,
        operation: str,
        provider: str,
        model: str | None,
        address: str | None,
        port: int | None,
        attributes: dict[str, Any],
        streaming: bool,
    ) -> Invocation:
        """Start an invocation: its span is open (not yet current) when this returns."""
        return Invocation(self, operation, provider, model, address, port, attributes, streaming)

    def internal_error(self, where: str, exc: BaseException) -> None:
        """Record a failure of llmotel's own code: logged once per site, always counted."""
        try:
            self.instruments.errors.add(1, {sc.LLMOTEL_HOOK: where, sc.ERROR_TYPE: type(exc).__name__})
            if where not in self._reported:
                self._reported.add(where)
                _log.warning("llmotel: internal error in %s (the call itself was not affected)",
                             where, exc_info=exc)
        except Exception:  # pragma: no cover - logging itself broken
            pass


def active_invocation() -> Any:
    """The llmotel invocation whose call is in progress in this context, if any."""
    return otel_context.get_current().get(ACTIVE_KEY)


def suppressed() -> bool:
    """True when an inference span is already active (ours or util-genai's)."""
    ctx = otel_context.get_current()
    return ctx.get(ACTIVE_KEY) is not None or ctx.get(UTIL_GENAI_KEY) is not None or bool(
        ctx.get(_SUPPRESS_KEY)
    )


# The instrumentation-wide suppression switch (suppress_instrumentation()).
try:
    from opentelemetry.context import _SUPPRESS_INSTRUMENTATION_KEY as _SUPPRESS_KEY
except ImportError:  # pragma: no cover - very old API
    _SUPPRESS_KEY = otel_context.create_key("suppress_instrumentation")
