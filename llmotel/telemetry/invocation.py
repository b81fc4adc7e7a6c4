"""The one emission path: an invocation record becomes a span, metric points and an event.

Provider adapters fill an :class:`Invocation` with what they read from requests,
responses and stream chunks; only this module turns it into telemetry, so every
provider emits the same names, shapes and guarantees (ended exactly once, content
only when asked, never raising into the caller).
"""

from __future__ import annotations

import contextlib
import logging
import sys
from time import perf_counter, time_ns
from typing import TYPE_CHECKING, Any

from opentelemetry import context as otel_context
from opentelemetry.trace import SpanKind, Status, StatusCode, set_span_in_context

from llmotel import semconv as sc
from llmotel.cost import CURRENCY as COST_CURRENCY
from llmotel.cost import SOURCE_PROVIDER as COST_PROVIDER
from llmotel.cost import SOURCE_UNKNOWN as COST_UNKNOWN
from llmotel.cost import Usage as CostUsage
from llmotel.telemetry import registry

if TYPE_CHECKING:
    from llmotel.telemetry.handler import Telemetry

_log = logging.getLogger("llmotel")

# Marks "an llmotel inference span is active" so nested wrappers (a helper calling
# create(), another instrumentation) do not produce a second span for one call.
ACTIVE_KEY = otel_context.create_key("llmotel.inference.active")
# util-genai's key: the official python-genai instrumentations pass through when it
# holds a value of their own type, and we pass through when they are outside us.
UTIL_GENAI_KEY = "opentelemetry.genai.client.inference.context"

_CLIENT = SpanKind.CLIENT
_ERROR_TYPES: dict[type, str] = {}


def _util_genai_marker() -> Any:
    """util-genai's "inference active" value, when util-genai is loaded at all.

    The official python-genai instrumentations suppress their own span when this key
    holds an ``InferenceData``; so if they sit inside our wrapper, one call stays one span.
    """
    module = sys.modules.get("opentelemetry.util.genai._inference_invocation")
    if module is None:
        return None
    try:
        return module.InferenceData()
    except Exception:
        return None


def error_type_of(exc: BaseException) -> str:
    """A low-cardinality ``error.type``: the exception's public, fully qualified name."""
    cls = type(exc)
    name = _ERROR_TYPES.get(cls)
    if name is None:
        module = cls.__module__
        if module == "builtins":
            name = cls.__qualname__
        else:
            public = [p for p in module.split(".") if not p.startswith("_")]
            name = ".".join([*public, cls.__qualname__])
        if len(_ERROR_TYPES) < 1024:
            _ERROR_TYPES[cls] = name
    return name


class Invocation:
    """One GenAI operation in flight; adapters set fields, then call finish() or fail()."""

    # Fields adapters fill in. Class-level defaults (instead of __slots__ set one by one)
    # keep the per-call constructor to the handful of fields every call has.
    ended = False
    injected_usage = False
    extra: dict[str, Any] | None = None
    rate_limits: dict[str, int] | None = None
    reported_cost: float | None = None
    response_id: str | None = None
    response_model: str | None = None
    finish_reasons: list[str] | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    cache_read_tokens: int | None = None
    cache_write_tokens: int | None = None
    reasoning_tokens: int | None = None
    ttfc: float | None = None
    chunk_gaps: list[float] | None = None
    mean_chunk_gap: float | None = None
    metric_extra: dict[str, Any] | None = None
    input_messages: list[dict[str, Any]] | None = None
    output_messages: list[dict[str, Any]] | None = None
    system_instructions: list[dict[str, Any]] | None = None
    tool_definitions: list[dict[str, Any]] | None = None

    def __init__(
        self,
        tel: Telemetry,
        operation: str,
        provider: str,
        model: str | None,
        address: str | None,
        port: int | None,
        attributes: dict[str, Any],
        streaming: bool,
    ) -> None:
        self._tel = tel
        # Sampling-relevant attributes first, at span start, as the conventions ask.
        metric_attrs: dict[str, Any] = {
            sc.GEN_AI_OPERATION_NAME: operation,
            sc.GEN_AI_PROVIDER_NAME: provider,
        }
        if model:
            metric_attrs[sc.GEN_AI_REQUEST_MODEL] = model
        if address:
            metric_attrs[sc.SERVER_ADDRESS] = address
            if port:
                metric_attrs[sc.SERVER_PORT] = port
        start_attrs = {**metric_attrs, **attributes}
        if tel.metric_labels:
            metric_attrs.update(tel.metric_labels.labels())
        self._metric_attrs = metric_attrs
        if streaming:
            start_attrs[sc.GEN_AI_REQUEST_STREAM] = True
        self.span = tel.tracer.start_span(
            f"{operation} {model}" if model else operation, kind=_CLIENT, attributes=start_attrs
        )
        ctx = otel_context.set_value(ACTIVE_KEY, self, set_span_in_context(self.span))
        marker = _util_genai_marker()
        if marker is not None:
            ctx = otel_context.set_value(UTIL_GENAI_KEY, marker, ctx)
        self.context = ctx
        self.attributes = start_attrs
        self.streaming = streaming
        self._start = perf_counter()

    def set_attribute(self, key: str, value: Any) -> None:
        """Add a span attribute learned after the start (set when the span ends)."""
        if self.extra is None:
            self.extra = {}
        self.extra[key] = value

    @property
    def start_time(self) -> float:
        """``perf_counter()`` at the start of the call."""
        return self._start

    # -- ending ---------------------------------------------------------------------
    def finish(self, extra: dict[str, Any] | None = None) -> None:
        """End successfully (idempotent); ``extra`` adds span-only attributes."""
        if self.ended:
            return
        self.ended = True
        try:
            self._emit(None, None, extra)
        except Exception as exc:  # never raise into the app
            self._tel.internal_error("invocation.finish", exc)
            self._end_span_safely()

    def fail(
        self, exc: BaseException | None, error_type: str | None = None, extra: dict[str, Any] | None = None
    ) -> None:
        """End with an error (idempotent): status ERROR, ``error.type`` set."""
        if self.ended:
            return
        self.ended = True
        try:
            if error_type is None:
                error_type = error_type_of(exc) if exc is not None else sc.ERROR_TYPE_OTHER
            response = getattr(exc, "response", None)
            headers = getattr(response, "headers", None)
            if headers is not None:
                from llmotel.telemetry import ratelimits

                ratelimits.observe(self, headers)
                ratelimits.count_attempt_failure(self, getattr(response, "status_code", None), retried=False)
            self._emit(exc, error_type, extra)
        except Exception as inner:
            self._tel.internal_error("invocation.fail", inner)
            self._end_span_safely()

    def _end_span_safely(self) -> None:
        with contextlib.suppress(Exception):  # the SDK itself failing
            self.span.end()

    def _emit(self, exc: BaseException | None, error_type: str | None, extra: dict[str, Any] | None) -> None:
        tel = self._tel
        duration = perf_counter() - self._start
        span = self.span
        attrs: dict[str, Any] = {}
        metric_attrs = self._metric_attrs
        if self.response_model:
            metric_attrs[sc.GEN_AI_RESPONSE_MODEL] = self.response_model
            attrs[sc.GEN_AI_RESPONSE_MODEL] = self.response_model
        if self.metric_extra:
            metric_attrs.update(self.metric_extra)
            attrs.update(self.metric_extra)
        if self.response_id:
            attrs[sc.GEN_AI_RESPONSE_ID] = self.response_id
        if self.finish_reasons:
            attrs[sc.GEN_AI_RESPONSE_FINISH_REASONS] = self.finish_reasons
        input_tokens = self.input_tokens
        output_tokens = self.output_tokens
        if input_tokens is not None:
            attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] = input_tokens
        if output_tokens is not None:
            attrs[sc.GEN_AI_USAGE_OUTPUT_TOKENS] = output_tokens
        if self.cache_read_tokens is not None:
            attrs[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] = self.cache_read_tokens
        if self.cache_write_tokens is not None:
            attrs[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] = self.cache_write_tokens
        if self.reasoning_tokens is not None:
            attrs[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] = self.reasoning_tokens
        if self.ttfc is not None:
            attrs[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] = self.ttfc
        if self.rate_limits:
            attrs.update(self.rate_limits)
        if self.extra:
            attrs.update(self.extra)
        if extra:
            attrs.update(extra)
        if error_type is not None:
            attrs[sc.ERROR_TYPE] = error_type
        event_content = None
        if tel.capture:
            content = self._content_attributes()
            if content:
                # The chokepoint: redaction and size limits on the assembled content, once.
                span_content, event_content = tel.gate.attributes(
                    content, span=tel.content_on_span, event=tel.content_on_event)
                attrs.update(span_content)

        # Metrics first: they are what dashboards and alerts read even if a span is dropped.
        ins = tel.instruments
        duration_attrs = metric_attrs if error_type is None else {**metric_attrs, sc.ERROR_TYPE: error_type}
        ins.duration.record(duration, duration_attrs)
        if input_tokens is not None:
            ins.token_usage.record(input_tokens, {**metric_attrs, sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_INPUT})
        if output_tokens is not None:
            ins.token_usage.record(output_tokens, {**metric_attrs, sc.GEN_AI_TOKEN_TYPE: sc.TOKEN_TYPE_OUTPUT})
        if self.ttfc is not None:
            ins.ttfc.record(self.ttfc, metric_attrs)
        if self.chunk_gaps:
            record = ins.time_per_chunk.record
            for gap in self.chunk_gaps:
                record(gap, metric_attrs)
        elif self.mean_chunk_gap is not None:
            ins.time_per_chunk.record(self.mean_chunk_gap, metric_attrs)
        if ins.usage_input is not None:
            self._record_usage_counters(ins, duration_attrs)
        if error_type is None:
            self._price(attrs, metric_attrs)

        if attrs:
            span.set_attributes(attrs)
        if exc is not None or error_type is not None:
            if exc is not None:
                span.record_exception(exc, escaped=True)
            span.set_status(Status(StatusCode.ERROR, _describe(exc, error_type)))
        if tel.logger is not None:
            self._emit_event(attrs, event_content)
        span.end()
        if self.response_id:
            registry.remember(self.response_id, span.get_span_context(), metric_attrs)

    def _price(self, attrs: dict[str, Any], metric_attrs: dict[str, Any]) -> None:
        """Cost of a successful call: provider-reported, override, price table, or unknown."""
        tel = self._tel
        if self.input_tokens is None and self.output_tokens is None and self.reported_cost is None:
            amount, source, reason = None, COST_UNKNOWN, sc.COST_REASON_NO_USAGE
        elif self.reported_cost is not None:
            amount, source, reason = self.reported_cost, COST_PROVIDER, None
        else:
            usage = CostUsage(self.input_tokens or 0, self.output_tokens or 0, self.cache_read_tokens or 0,
                              self.cache_write_tokens or 0, self.reasoning_tokens or 0)
            model = self.response_model or metric_attrs.get(sc.GEN_AI_REQUEST_MODEL)
            amount, source = tel.cost.price(metric_attrs[sc.GEN_AI_PROVIDER_NAME], model, usage)
            reason = sc.COST_REASON_UNKNOWN_MODEL if amount is None else None
        attrs[sc.LLMOTEL_COST_SOURCE] = source
        if amount is None:
            tel.instruments.unpriced.add(1, {sc.GEN_AI_PROVIDER_NAME: metric_attrs[sc.GEN_AI_PROVIDER_NAME],
                                             sc.GEN_AI_REQUEST_MODEL: metric_attrs.get(sc.GEN_AI_REQUEST_MODEL, ""),
                                             sc.LLMOTEL_COST_REASON: reason})
            return
        attrs[sc.LLMOTEL_COST_AMOUNT] = amount
        attrs[sc.LLMOTEL_COST_CURRENCY] = COST_CURRENCY
        tel.instruments.cost.add(amount, metric_attrs)

    def _record_usage_counters(self, ins: Any, attrs: dict[str, Any]) -> None:
        # The new counters are recorded on failures too (0 with modality "unknown").
        known = self.input_tokens is not None or self.output_tokens is not None
        modal = {**attrs, sc.GEN_AI_TOKEN_MODALITY: "text" if known else "unknown"}
        ins.usage_input.add(self.input_tokens or 0, modal)
        ins.usage_output.add(self.output_tokens or 0, modal)
        if self.cache_read_tokens is not None:
            ins.usage_cache_read.add(self.cache_read_tokens, modal)
        if self.cache_write_tokens is not None:
            ins.usage_cache_write.add(self.cache_write_tokens, modal)
        if self.reasoning_tokens is not None:
            ins.usage_reasoning.add(self.reasoning_tokens, modal)

    def _content_attributes(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.system_instructions:
            out[sc.GEN_AI_SYSTEM_INSTRUCTIONS] = self.system_instructions
        if self.input_messages is not None:
            out[sc.GEN_AI_INPUT_MESSAGES] = self.input_messages
        if self.output_messages is not None:
            out[sc.GEN_AI_OUTPUT_MESSAGES] = self.output_messages
        if self.tool_definitions:
            out[sc.GEN_AI_TOOL_DEFINITIONS] = self.tool_definitions
        return out

    def _emit_event(self, span_attrs: dict[str, Any], content: dict[str, Any] | None) -> None:
        attrs = {k: v for k, v in self.attributes.items()}
        attrs.update(span_attrs)
        for key in sc.INFERENCE_CONTENT_ATTRIBUTES:
            attrs.pop(key, None)
        attrs.pop(sc.LLMOTEL_CONTENT_TRUNCATED, None)
        if content:
            # Events carry content structured (AnyValue), not as JSON strings.
            attrs.update(content)
        self._tel.logger.emit(
            timestamp=time_ns(),
            context=self.context,
            event_name=sc.EVENT_INFERENCE_DETAILS,
            attributes=attrs,
        )


def _describe(exc: BaseException | None, error_type: str | None) -> str:
    if exc is None:
        return error_type or ""
    text = str(exc)
    return text[:512] if text else type(exc).__name__
