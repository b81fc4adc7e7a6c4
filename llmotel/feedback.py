"""Post-hoc feedback and evaluations, attached to the trace of the call they judge.

A thumbs-up, an LLM-as-judge verdict or a heuristic check usually arrives after the
inference span ended, often in another thread or process that knows only an id the app
stored next to its message. This module turns each such verdict into one
``gen_ai.evaluation.result`` log event (SEMCONV.md §4) whose trace and span ids are the
evaluated span's, plus two metrics dashboards can chart: ``llmotel.evaluation.score``
(histogram, ``llmotel_evaluation_score``) and ``llmotel.evaluation.results`` (counter,
``llmotel_evaluation_results_total``).

Targets, in resolution order: an explicit ``target`` (a :class:`SpanHandle` or its
string), ``trace_id`` + ``span_id`` (``trace_id`` alone attaches to the trace only), a
``response_id`` looked up among recently finished calls (if unknown, the event still
carries ``gen_ai.response.id`` but no span context, as the conventions ask), and finally
the current span.

Score direction: for every evaluation llmotel defines, the score is the degree to which
the *named* property holds, in [0, 1]: ``user_feedback`` 1.0 = positive,
``hallucination`` 1.0 = hallucinated (the probability of hallucination), ``refusal``
1.0 = refused, ``json_validity`` 1.0 = valid. The label is the thresholded category of
the same property, so a rate is a ratio of counters, e.g. hallucination rate =
``results{name="hallucination",label="hallucinated"} / results{name="hallucination"}``.

Errors: invalid arguments (a programmer error, certain at the call site) raise
``ValueError`` with a message naming the argument; telemetry failures (no provider, a
broken exporter) never raise: they are logged once and counted in
``llmotel.instrumentation.errors``.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from time import time_ns
from typing import Any, Final
from urllib.parse import quote, unquote

from opentelemetry import _logs, metrics, trace
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags

from llmotel import semconv as sc
from llmotel.telemetry import registry

__all__ = [
    "AttributeValue",
    "SpanHandle",
    "current_handle",
    "current_span_id",
    "current_trace_id",
    "record_evaluation",
    "record_feedback",
    "thumbs_down",
    "thumbs_up",
]

AttributeValue = str | int | float | bool

_log = logging.getLogger("llmotel")

SCOPE: Final = "llmotel.feedback"
# Labels and names become metric label values: a bound keeps free text out of Prometheus.
MAX_LABEL_LENGTH: Final = 64
MAX_NAME_LENGTH: Final = 128
# Keys record_evaluation sets itself; passing them via attributes= would be ambiguous.
_RESERVED_PREFIXES: Final = ("gen_ai.evaluation.", "llmotel.evaluation.")
_SAMPLED: Final = TraceFlags(TraceFlags.SAMPLED)
_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
_HEX = re.compile(r"^[0-9a-f]+$")
# Call attributes copied from the registry onto the event (all low-cardinality).
_CALL_EVENT_KEYS: Final = (sc.GEN_AI_REQUEST_MODEL, sc.GEN_AI_PROVIDER_NAME, sc.GEN_AI_OPERATION_NAME)
_CALL_METRIC_KEYS: Final = (sc.GEN_AI_REQUEST_MODEL, sc.GEN_AI_PROVIDER_NAME)
# TODO(attribution allow-list): replace with the attribution context's metric allow-list.
_METRIC_EXTRA_KEYS: Final = (sc.GEN_AI_PROMPT_VERSION, sc.LLMOTEL_FEATURE)
_THUMBS: Final = {"thumbs_up": sc.FEEDBACK_POSITIVE, "thumbs_down": sc.FEEDBACK_NEGATIVE}
_FEEDBACK_SCORES: Final = {sc.FEEDBACK_POSITIVE: 1.0, sc.FEEDBACK_NEGATIVE: 0.0}


# --- handles -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SpanHandle:
    """A portable reference to one span: lower-case hex ids plus, optionally, the response id.

    Store it next to the app's message (``to_string()`` gives a W3C-traceparent-like
    ``00-<trace_id>-<span_id>-01``, followed by ``;rid=<percent-encoded response id>``
    when one is known) and pass it, or the string, back as ``target=`` when feedback
    arrives, in any thread or process. Construction validates and normalises the ids and
    raises ``ValueError`` for malformed or all-zero ones.
    """

    trace_id: str
    span_id: str
    response_id: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "trace_id", _hex_id(self.trace_id, 32, "trace_id"))
        object.__setattr__(self, "span_id", _hex_id(self.span_id, 16, "span_id"))
        if self.response_id is not None and (not isinstance(self.response_id, str) or not self.response_id):
            raise ValueError(f"SpanHandle: response_id must be a non-empty string, got {self.response_id!r}")

    def to_string(self) -> str:
        """The handle as text; the first 55 characters are a valid W3C ``traceparent``."""
        text = f"00-{self.trace_id}-{self.span_id}-01"
        if self.response_id:
            text += ";rid=" + quote(self.response_id, safe="")
        return text

    @classmethod
    def from_string(cls, text: str) -> SpanHandle:
        """Parse :meth:`to_string` output (or a plain ``traceparent``); ``ValueError`` if malformed."""
        if not isinstance(text, str):
            raise ValueError(f"SpanHandle.from_string: expected a string, got {type(text).__name__}")
        head, sep, tail = text.strip().partition(";")
        match = _TRACEPARENT.match(head.lower())
        if match is None or match.group(1) == "ff":
            raise ValueError(f"SpanHandle.from_string: {text!r} is not '00-<32 hex>-<16 hex>-<2 hex>[;rid=...]'")
        response_id = None
        if sep:
            key, eq, value = tail.partition("=")
            if key.strip() != "rid" or not eq or not value:
                raise ValueError(f"SpanHandle.from_string: unexpected suffix {';' + tail!r} in {text!r}")
            response_id = unquote(value)
        return cls(match.group(2), match.group(3), response_id)

    @classmethod
    def from_span_context(cls, span_context: SpanContext, response_id: str | None = None) -> SpanHandle:
        """The handle of an OpenTelemetry span context (``ValueError`` if it is invalid)."""
        if not span_context.is_valid:
            raise ValueError("SpanHandle.from_span_context: the span context is not valid")
        return cls(trace.format_trace_id(span_context.trace_id), trace.format_span_id(span_context.span_id),
                   response_id)

    def span_context(self) -> SpanContext:
        """A remote, sampled span context with these ids, to parent telemetry to."""
        return SpanContext(int(self.trace_id, 16), int(self.span_id, 16), is_remote=True, trace_flags=_SAMPLED)

    def __str__(self) -> str:
        return self.to_string()


def current_trace_id() -> str | None:
    """The current span's trace id as 32 lower-case hex digits, or ``None`` without a valid span."""
    ctx = trace.get_current_span().get_span_context()
    return trace.format_trace_id(ctx.trace_id) if ctx.is_valid else None


def current_span_id() -> str | None:
    """The current span's id as 16 lower-case hex digits, or ``None`` without a valid span."""
    ctx = trace.get_current_span().get_span_context()
    return trace.format_span_id(ctx.span_id) if ctx.is_valid else None


def current_handle(*, response_id: str | None = None) -> SpanHandle | None:
    """A :class:`SpanHandle` for the current span (optionally carrying ``response_id``), or ``None``.

    Call it inside the request that produces an answer and store ``handle.to_string()``
    with the message, so a UI can later send feedback for exactly that span.
    """
    ctx = trace.get_current_span().get_span_context()
    return SpanHandle.from_span_context(ctx, response_id) if ctx.is_valid else None


# --- recording -----------------------------------------------------------------------


def record_evaluation(
    name: str,
    *,
    score: float | None = None,
    label: str | None = None,
    explanation: str | None = None,
    target: SpanHandle | str | None = None,
    response_id: str | None = None,
    trace_id: str | None = None,
    span_id: str | None = None,
    evaluator: str | None = None,
    source: str = sc.EVAL_SOURCE_CUSTOM,
    error_type: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> None:
    """Emit one ``gen_ai.evaluation.result`` event for a call, and record the evaluation metrics.

    ``name`` is the evaluation (``"relevance"``, ``"hallucination"``); give a ``score``
    (a finite number; llmotel's own evaluations use [0, 1], see the module docstring for
    its direction) and/or a low-cardinality ``label`` (``"pass"``); ``error_type``
    instead records a failed evaluation (counted in ``llmotel.evaluation.errors``, not in
    the score/results metrics). The target is ``target`` (a :class:`SpanHandle` or its
    string), else ``trace_id`` [+ ``span_id``], else ``response_id`` (looked up among
    recently finished calls, whose model and provider then label the event and the
    metrics), else the current span; it works after the span ended and from any thread
    or process. ``explanation`` is content: it is only attached when content capture
    includes events (``EVENT_ONLY`` / ``SPAN_AND_EVENT``). ``evaluator`` and ``source``
    (``human``, ``heuristic``, ``llm_judge``, ``custom``) record provenance;
    ``attributes`` go onto the event, and only ``gen_ai.prompt.version`` and
    ``llmotel.feature`` from them onto metrics. Raises ``ValueError`` for invalid
    arguments; never raises for telemetry failures.
    """
    _check_name(name)
    score = _check_score(score)
    _check_label(label, "label")
    _check_optional_str(explanation, "explanation")
    _check_optional_str(evaluator, "evaluator")
    _check_optional_str(error_type, "error_type")
    if source not in sc.EVAL_SOURCES:
        raise ValueError(f"record_evaluation: source={source!r} is not valid; accepted: {', '.join(sc.EVAL_SOURCES)}")
    if score is None and label is None and error_type is None:
        raise ValueError(f"record_evaluation({name!r}): give score=, label= (or error_type= for a failed evaluation)")
    extra = _check_attributes(attributes)
    handle, span_context, response_id = _check_target(target, response_id, trace_id, span_id)
    try:
        _emit(name, score, label, explanation, handle, span_context, response_id, evaluator, source,
              error_type, extra)
    except Exception as exc:  # telemetry must never break the app
        _internal_error("record_evaluation", exc)


def record_feedback(
    *,
    score: float | None = None,
    label: str | None = None,
    comment: str | None = None,
    target: SpanHandle | str | None = None,
    response_id: str | None = None,
    trace_id: str | None = None,
    span_id: str | None = None,
    user_id: str | None = None,
    evaluator: str | None = None,
    name: str = sc.EVAL_USER_FEEDBACK,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> None:
    """Record a human's feedback on a call: :func:`record_evaluation` with source ``human``.

    The evaluation name is ``user_feedback`` unless ``name`` says otherwise. Thumbs map to
    ``label="positive"`` / ``"negative"`` (``"thumbs_up"`` / ``"thumbs_down"`` are
    accepted as aliases) with score 1.0 / 0.0 filled in when no score is given; any other
    scale (stars, 0-10) is passed as ``score`` as is. ``comment`` is free text and, like
    an explanation, only captured when content capture includes events. ``user_id`` goes
    onto the event as ``user.id`` and never onto metrics. Targets and errors as in
    :func:`record_evaluation`.
    """
    if isinstance(label, str):
        label = _THUMBS.get(label, label)
        if score is None:
            score = _FEEDBACK_SCORES.get(label)
    _check_optional_str(user_id, "user_id")
    extra: dict[str, AttributeValue] = dict(_check_attributes(attributes))
    if user_id:
        extra[sc.USER_ID] = user_id
    record_evaluation(
        name, score=score, label=label, explanation=comment, target=target, response_id=response_id,
        trace_id=trace_id, span_id=span_id, evaluator=evaluator, source=sc.EVAL_SOURCE_HUMAN,
        attributes=extra or None,
    )


def thumbs_up(
    *,
    target: SpanHandle | str | None = None,
    response_id: str | None = None,
    trace_id: str | None = None,
    span_id: str | None = None,
    comment: str | None = None,
    user_id: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> None:
    """``record_feedback(label="positive", score=1.0, ...)``."""
    record_feedback(label=sc.FEEDBACK_POSITIVE, score=1.0, comment=comment, target=target,
                    response_id=response_id, trace_id=trace_id, span_id=span_id, user_id=user_id,
                    attributes=attributes)


def thumbs_down(
    *,
    target: SpanHandle | str | None = None,
    response_id: str | None = None,
    trace_id: str | None = None,
    span_id: str | None = None,
    comment: str | None = None,
    user_id: str | None = None,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> None:
    """``record_feedback(label="negative", score=0.0, ...)``."""
    record_feedback(label=sc.FEEDBACK_NEGATIVE, score=0.0, comment=comment, target=target,
                    response_id=response_id, trace_id=trace_id, span_id=span_id, user_id=user_id,
                    attributes=attributes)


# --- emission ------------------------------------------------------------------------


def _emit(
    name: str,
    score: float | None,
    label: str | None,
    explanation: str | None,
    handle: SpanHandle | None,
    span_context: SpanContext | None,
    response_id: str | None,
    evaluator: str | None,
    source: str,
    error_type: str | None,
    extra: Mapping[str, AttributeValue],
) -> None:
    explicit = handle is not None or span_context is not None
    call_attrs: Mapping[str, object] = {}
    if response_id:
        found = registry.lookup(response_id)
        if found is not None:
            call_attrs = found[1]
            if not explicit:
                span_context = found[0]
    elif not explicit:
        current = trace.get_current_span().get_span_context()
        if current.is_valid:
            span_context = current
    if handle is not None:
        span_context = handle.span_context()

    attrs: dict[str, Any] = dict(extra)
    for key in _CALL_EVENT_KEYS:
        value = call_attrs.get(key)
        if value is not None:
            attrs[key] = value
    attrs[sc.GEN_AI_EVALUATION_NAME] = name
    if score is not None:
        attrs[sc.GEN_AI_EVALUATION_SCORE_VALUE] = score
    if label is not None:
        attrs[sc.GEN_AI_EVALUATION_SCORE_LABEL] = label
    text = _content(explanation)
    if text is not None:
        attrs[sc.GEN_AI_EVALUATION_EXPLANATION] = text
    if response_id:
        attrs[sc.GEN_AI_RESPONSE_ID] = response_id
    if error_type:
        attrs[sc.ERROR_TYPE] = error_type
    if evaluator:
        attrs[sc.LLMOTEL_EVALUATION_EVALUATOR] = evaluator
    attrs[sc.LLMOTEL_EVALUATION_SOURCE] = source

    # Metrics first: dashboards read them even if the log pipeline drops the event.
    ins = _get_instruments()
    metric_attrs = _metric_attributes(call_attrs, extra)
    metric_attrs[sc.GEN_AI_EVALUATION_NAME] = name
    if error_type:
        # The same labels as the results, so a failure ratio is computable per model and feature.
        ins.errors.add(1, {**metric_attrs, sc.ERROR_TYPE: error_type})
    else:
        if score is not None:
            ins.score.record(score, metric_attrs)
        if label is not None:
            metric_attrs = {**metric_attrs, sc.GEN_AI_EVALUATION_SCORE_LABEL: label}
        ins.results.add(1, metric_attrs)

    # Without a target the event must not silently attach to whatever span is current in
    # this thread, so the context always carries a span: the invalid one at worst. (An
    # empty Context would not do: the Logs API treats a falsy context as "use the current".)
    span: trace.Span = trace.INVALID_SPAN
    if span_context is not None:
        # Always SAMPLED: feedback is rare and valuable, so trace-based log filtering must
        # not drop it; is_remote because the evaluated span lives (or lived) elsewhere.
        span = NonRecordingSpan(
            SpanContext(span_context.trace_id, span_context.span_id, is_remote=True, trace_flags=_SAMPLED)
        )
    context = trace.set_span_in_context(span, Context())
    _get_logger().emit(timestamp=time_ns(), context=context, event_name=sc.EVENT_EVALUATION_RESULT,
                       attributes=attrs)


def _metric_attributes(call_attrs: Mapping[str, object], extra: Mapping[str, AttributeValue]) -> dict[str, Any]:
    """The low-cardinality labels evaluation metrics carry: the call's model and provider, plus allow-listed extras.

    Never user ids or free text: only keys named here reach a metric.
    """
    out: dict[str, Any] = {}
    for key in _CALL_METRIC_KEYS:
        value = call_attrs.get(key)
        if value is not None:
            out[key] = value
    # Allow-listed attribution labels the evaluated call was recorded with (already capped
    # by its cardinality guard), so quality can be charted by tenant/feature/prompt version.
    for key, value in call_attrs.items():
        if key not in out and key in _attribution_label_names():
            out[key] = value
    for key in _METRIC_EXTRA_KEYS:
        value = extra.get(key)
        if value is not None:
            out[key] = value
    return out


def _attribution_label_names() -> frozenset[str]:
    from llmotel.attribution import _settings, attribute_name

    return frozenset(attribute_name(k) for k in _settings().metric_attributes)


def _content(value: str | None) -> str | None:
    """The one chokepoint for free text on evaluation events (explanations, comments).

    Returns ``None`` unless content capture includes events; otherwise the text after the
    shared content gate (redaction, then the size cap), or ``None`` if redaction failed.
    """
    if value is None:
        return None
    settings = _capture_settings()
    if settings is None:
        return None
    text, _ = _get_instruments().content.get(settings.redaction).value(value)
    return text


def _capture_settings() -> Any:
    """The settings when content capture includes events, else ``None``."""
    try:
        # The init() settings, else the environment's resolved once and cached (an invalid
        # environment resolves to the defaults: capture off, fail closed).
        from llmotel.workflows import _settings

        settings = _settings()
        return settings if settings.content_on_event else None
    except Exception:  # fail closed, capture nothing
        return None


# --- instruments and logger, created lazily once per global provider -----------------


class _Instruments:
    """The evaluation metrics on one meter provider (shared with :mod:`llmotel.evaluators`)."""

    __slots__ = ("content", "dropped", "errors", "internal_errors", "results", "score")

    def __init__(self, meter: metrics.Meter) -> None:
        from llmotel.telemetry.capture import LazyGate

        self.content = LazyGate(meter)
        self.score = meter.create_histogram(
            sc.METRIC_EVALUATION_SCORE,
            unit="{score}",
            description="Evaluation scores (llmotel's own evaluations use 0-1; see gen_ai.evaluation.name).",
            explicit_bucket_boundaries_advisory=list(sc.EVALUATION_SCORE_BUCKETS),
        )
        self.results = meter.create_counter(
            sc.METRIC_EVALUATION_RESULTS, unit="{result}",
            description="Evaluation results, by evaluation name and label.")
        self.errors = meter.create_counter(
            sc.METRIC_EVALUATION_ERRORS, unit="{error}",
            description="Evaluations that failed (an evaluator raised or returned an invalid outcome).")
        self.dropped = meter.create_counter(
            sc.METRIC_EVALUATION_DROPPED, unit="{sample}",
            description="Samples the evaluation runner dropped instead of blocking the app.")
        self.internal_errors = meter.create_counter(
            sc.METRIC_INSTRUMENTATION_ERRORS, unit="{error}",
            description="Failures inside llmotel's own code; the application call was unaffected.")


_lock = threading.Lock()
_instruments: tuple[object, _Instruments] | None = None
_logger: tuple[object, Any] | None = None
_reported: set[str] = set()


def _version() -> str | None:
    # Read lazily: llmotel/__init__.py may import this module before defining __version__.
    import llmotel

    return getattr(llmotel, "__version__", None)


def _get_instruments() -> _Instruments:
    """Instruments on the current global meter provider (recreated when the provider changes)."""
    global _instruments
    provider = metrics.get_meter_provider()
    cached = _instruments
    if cached is not None and cached[0] is provider:
        return cached[1]
    with _lock:
        if _instruments is None or _instruments[0] is not provider:
            meter = provider.get_meter(SCOPE, _version(), schema_url=sc.SCHEMA_URL)
            _instruments = (provider, _Instruments(meter))
        return _instruments[1]


def _get_logger() -> Any:
    """The event logger on the current global logger provider (recreated when it changes)."""
    global _logger
    provider = _logs.get_logger_provider()
    cached = _logger
    if cached is not None and cached[0] is provider:
        return cached[1]
    with _lock:
        if _logger is None or _logger[0] is not provider:
            _logger = (provider, provider.get_logger(SCOPE, _version(), schema_url=sc.SCHEMA_URL))
        return _logger[1]


def _internal_error(where: str, exc: BaseException) -> None:
    """A failure of llmotel's own code: logged once per site, always counted, never raised."""
    try:
        _get_instruments().internal_errors.add(1, {sc.LLMOTEL_HOOK: where, sc.ERROR_TYPE: type(exc).__name__})
        if where not in _reported:
            _reported.add(where)
            _log.warning("llmotel: internal error in %s (the application was not affected)", where, exc_info=exc)
    except Exception:  # pragma: no cover - metrics or logging itself broken
        pass


# --- argument validation (ValueError: programmer errors only) ------------------------


def _check_name(name: object) -> None:
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"record_evaluation: name must be a non-empty string, got {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(f"record_evaluation: name is longer than {MAX_NAME_LENGTH} characters; "
                         "it labels metrics, so it must be a short fixed identifier")


def _check_score(score: object) -> float | None:
    if score is None:
        return None
    # bool is an int subclass; True as a score is almost certainly a mistake for label=.
    if isinstance(score, bool) or not isinstance(score, int | float):
        raise ValueError(f"record_evaluation: score must be a number, got {score!r}")
    value = float(score)
    if not math.isfinite(value):
        raise ValueError(f"record_evaluation: score must be finite, got {score!r}")
    return value


def _check_label(label: object, what: str) -> None:
    if label is None:
        return
    if not isinstance(label, str) or not label.strip():
        raise ValueError(f"record_evaluation: {what} must be a non-empty string, got {label!r}")
    if len(label) > MAX_LABEL_LENGTH:
        raise ValueError(f"record_evaluation: {what} is longer than {MAX_LABEL_LENGTH} characters; labels are "
                         "low-cardinality categories such as 'pass' (free text goes in explanation=)")


def _check_optional_str(value: object, what: str) -> None:
    if value is not None and not isinstance(value, str):
        raise ValueError(f"record_evaluation: {what} must be a string, got {type(value).__name__}")


def _check_attributes(attributes: object) -> Mapping[str, AttributeValue]:
    if attributes is None:
        return {}
    if not isinstance(attributes, Mapping):
        raise ValueError(f"record_evaluation: attributes must be a mapping, got {type(attributes).__name__}")
    for key, value in attributes.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"record_evaluation: attribute keys must be non-empty strings, got {key!r}")
        if key.startswith(_RESERVED_PREFIXES):
            raise ValueError(f"record_evaluation: attribute {key!r} is set by record_evaluation itself; "
                             "use its keyword arguments")
        if not isinstance(value, str | int | float | bool):
            raise ValueError(f"record_evaluation: attribute {key!r} must be str, int, float or bool, "
                             f"got {type(value).__name__}")
    return attributes


def _check_target(
    target: object, response_id: object, trace_id: object, span_id: object
) -> tuple[SpanHandle | None, SpanContext | None, str | None]:
    """Validate the target arguments; returns (handle, span context from ids, response id)."""
    if response_id is not None and (not isinstance(response_id, str) or not response_id):
        raise ValueError(f"record_evaluation: response_id must be a non-empty string, got {response_id!r}")
    handle: SpanHandle | None = None
    span_context: SpanContext | None = None
    if target is not None:
        if trace_id is not None or span_id is not None:
            raise ValueError("record_evaluation: give either target= or trace_id=/span_id=, not both")
        if isinstance(target, str):
            handle = SpanHandle.from_string(target)
        elif isinstance(target, SpanHandle):
            handle = target
        else:
            raise ValueError(f"record_evaluation: target must be a SpanHandle or its string, got "
                             f"{type(target).__name__}")
        if handle.response_id is not None:
            if response_id is not None and response_id != handle.response_id:
                raise ValueError(f"record_evaluation: response_id={response_id!r} contradicts the target's "
                                 f"response id {handle.response_id!r}")
            response_id = handle.response_id
    elif trace_id is not None:
        tid = int(_hex_id(trace_id, 32, "trace_id"), 16)
        # span_id 0 = attached to the trace but to no particular span.
        sid = int(_hex_id(span_id, 16, "span_id"), 16) if span_id is not None else 0
        span_context = SpanContext(tid, sid, is_remote=True, trace_flags=_SAMPLED)
    elif span_id is not None:
        raise ValueError("record_evaluation: span_id= needs trace_id= as well")
    return handle, span_context, response_id  # type: ignore[return-value]


def _hex_id(value: object, digits: int, what: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{what} must be a string of {digits} hex digits, got {type(value).__name__}")
    text = value.strip().lower()
    if len(text) != digits or not _HEX.match(text) or int(text, 16) == 0:
        raise ValueError(f"{what} must be {digits} hex digits, not all zero, got {value!r}")
    return text
