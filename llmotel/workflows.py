"""Workflow, agent, tool and retrieval spans, and workflow branch decisions.

``workflow()``, ``agent()``, ``tool()`` and ``retrieval()`` each return an
:class:`Operation`: use it as a context manager (``with`` / ``async with``) or as a
decorator on sync, async, generator and async-generator functions. Each run is one span
(GenAI conventions: ``invoke_workflow``, ``invoke_agent``, ``execute_tool``,
``retrieval``) that is current while the body runs, so LLM calls and other spans made
inside become its children, plus one point of the matching duration histogram.

Telemetry goes through the *global* tracer and meter providers (so it works with
``llmotel.init()``, ``opentelemetry-instrument`` or providers the app installed).
Content (arguments, results, queries, documents) is recorded only when content capture
puts content on spans, and always through :func:`_set_content` into the shared content gate
(:mod:`llmotel.telemetry.capture`: redaction, then size limits).

Context propagation: asyncio tasks copy the current context, so ``asyncio.gather`` of
decorated coroutines just works. Threads do not: submit work as
``executor.submit(contextvars.copy_context().run, fn, *args)`` (or attach an
``opentelemetry.context`` context yourself) to keep the parent span. Decorated
generators attach their span's context around each step only, never across a ``yield``,
so interleaved or cross-task iteration never corrupts the caller's context.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import logging
import reprlib
import threading
import weakref
from collections.abc import AsyncGenerator, Callable, Generator, Iterable, Mapping
from time import perf_counter
from types import TracebackType
from typing import Any, Final, ParamSpec, TypeVar

from opentelemetry import context as otel_context
from opentelemetry import metrics, trace
from opentelemetry.trace import INVALID_SPAN, Span, SpanKind, Status, StatusCode

from llmotel import sdk
from llmotel import semconv as sc
from llmotel.config import Settings
from llmotel.telemetry.invocation import error_type_of

__all__ = ["ActiveOperation", "Operation", "agent", "branch", "retrieval", "tool", "workflow"]

_log = logging.getLogger("llmotel")

P = ParamSpec("P")
R = TypeVar("R")

_SCOPE: Final = "llmotel.workflow"
# The enclosing agent's name, for tools' gen_ai.agent.name. Kept in the OpenTelemetry
# context (itself a ContextVar) rather than a separate ContextVar, so whoever propagates
# the OTel context to a thread or task (copy_context, context.attach) carries it too.
_AGENT_KEY: Final = otel_context.create_key("llmotel.agent.name")

# Shape limits applied before the content gate (which redacts, then caps the bytes).
_MAX_ITEMS: Final = 64  # elements kept per collection / generator items collected
_MAX_DOCUMENTS: Final = 100
_MAX_DEPTH: Final = 6
# branch(): bounded event context and metric label sets.
_MAX_BRANCH_CONTEXT: Final = 8
_MAX_BRANCH_STRING: Final = 256
_MAX_BRANCH_LABEL_SETS: Final = 1000

_MISSING: Final = object()


# --- telemetry sources -------------------------------------------------------------------
class _Instruments:
    """The instruments of one meter provider."""

    __slots__ = ("branches", "content", "durations", "errors")

    def __init__(self, meter: metrics.Meter) -> None:
        from llmotel.telemetry.capture import LazyGate

        self.content = LazyGate(meter)  # the content chokepoint, built on the first captured value

        def histogram(name: str, buckets: Iterable[float], description: str) -> metrics.Histogram:
            return meter.create_histogram(name, unit="s", description=description,
                                          explicit_bucket_boundaries_advisory=list(buckets))

        self.durations: dict[str, metrics.Histogram] = {
            sc.OP_INVOKE_WORKFLOW: histogram(sc.METRIC_INVOKE_WORKFLOW_DURATION, sc.WORKFLOW_DURATION_BUCKETS,
                                             "Duration of GenAI workflow invocations."),
            sc.OP_INVOKE_AGENT: histogram(sc.METRIC_INVOKE_AGENT_DURATION, sc.AGENT_DURATION_BUCKETS,
                                          "Duration of in-process GenAI agent invocations."),
            sc.OP_EXECUTE_TOOL: histogram(sc.METRIC_EXECUTE_TOOL_DURATION, sc.DURATION_BUCKETS,
                                          "Duration of GenAI tool executions."),
            sc.OP_RETRIEVAL: histogram(sc.METRIC_RETRIEVAL_DURATION, sc.DURATION_BUCKETS,
                                       "Duration of retrieval operations."),
        }
        self.branches = meter.create_counter(
            sc.METRIC_WORKFLOW_BRANCHES, unit="{decision}",
            description="Branching decisions taken in workflows, by workflow and from/to node.")
        # Same name, unit and description as the instrumentors' self-metric: one Prometheus series family.
        self.errors = meter.create_counter(
            sc.METRIC_INSTRUMENTATION_ERRORS, unit="{error}",
            description="Failures inside llmotel's own code; the application call was unaffected.")


_lock = threading.Lock()
# One-slot fast paths in front of per-provider caches: tests and apps may swap the
# global providers, and instruments must be created once per meter provider.
_tracer_slot: tuple[Any, trace.Tracer] | None = None
_instruments_slot: tuple[Any, _Instruments] | None = None
_instruments_by_provider: weakref.WeakKeyDictionary[Any, _Instruments] = weakref.WeakKeyDictionary()
_settings_loaded: Settings | None = None
_reported: set[str] = set()
_branch_label_sets: set[tuple[str, str, str, str | None]] = set()


def _version() -> str | None:
    # Imported lazily: llmotel/__init__.py may import this module before defining __version__.
    import llmotel

    return getattr(llmotel, "__version__", None)


def _tracer() -> trace.Tracer:
    global _tracer_slot
    provider = trace.get_tracer_provider()
    slot = _tracer_slot
    if slot is not None and slot[0] is provider:
        return slot[1]
    tracer = trace.get_tracer(_SCOPE, _version(), provider, schema_url=sc.SCHEMA_URL)
    _tracer_slot = (provider, tracer)
    return tracer


def _instruments() -> _Instruments:
    global _instruments_slot
    provider = metrics.get_meter_provider()
    slot = _instruments_slot
    if slot is not None and slot[0] is provider:
        return slot[1]
    with _lock:
        found = _instruments_by_provider.get(provider)
        if found is None:
            meter = metrics.get_meter(_SCOPE, _version(), provider, schema_url=sc.SCHEMA_URL)
            found = _Instruments(meter)
            _instruments_by_provider[provider] = found
        _instruments_slot = (provider, found)
    return found


def _settings() -> Settings:
    """The active ``init()`` settings, else the environment's (resolved once)."""
    settings = sdk.get_settings()
    if settings is not None:
        return settings
    global _settings_loaded
    if _settings_loaded is None:
        try:
            _settings_loaded = Settings.load()
        except Exception as exc:  # an invalid env var must not break decorated code
            _internal_error("workflow.settings", exc)
            _settings_loaded = Settings()
    return _settings_loaded


def _reset_for_tests() -> None:
    """Forget cached tracers, instruments, settings and log-once state."""
    global _tracer_slot, _instruments_slot, _settings_loaded
    with _lock:
        _tracer_slot = _instruments_slot = None
        _instruments_by_provider.clear()
        _settings_loaded = None
        _reported.clear()
        _branch_label_sets.clear()


def _internal_error(where: str, exc: BaseException, error_type: str | None = None) -> None:
    """A failure (or misuse) inside llmotel: counted always, logged once per site, never raised."""
    with contextlib.suppress(Exception):  # the metrics SDK itself failing
        _instruments().errors.add(1, {sc.LLMOTEL_HOOK: where, sc.ERROR_TYPE: error_type or type(exc).__name__})
    if where not in _reported:
        _reported.add(where)
        _log.warning("llmotel: %s: %s (the application was not affected)", where, exc,
                     exc_info=None if error_type else exc)


# --- content: the single chokepoint --------------------------------------------------------
_repr = reprlib.Repr()
_repr.maxlevel = 3
# Generous: a repr cut short could cut a secret in half before the redactor sees it; the
# gate caps the size after redaction.
_repr.maxstring = 64 * 1024
_repr.maxother = 64 * 1024
_repr.maxlist = _repr.maxtuple = _repr.maxset = _repr.maxdict = _MAX_ITEMS


def _bounded(value: Any, depth: int = 0) -> Any:
    """A JSON-ready copy of ``value``: collections shortened, unknown objects as their repr.

    Strings are kept whole: the gate redacts them before it caps them, so a cut can never
    split a secret into a part the detectors no longer recognise.
    """
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if depth >= _MAX_DEPTH:
        return _repr.repr(value)
    if isinstance(value, Mapping):
        return {str(k): _bounded(v, depth + 1) for k, v in list(value.items())[:_MAX_ITEMS]}
    if isinstance(value, list | tuple | set | frozenset):
        return [_bounded(v, depth + 1) for v in list(value)[:_MAX_ITEMS]]
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value)  # the gate replaces it by a placeholder (mime type, size, hash)
    dump = getattr(value, "model_dump", None)  # pydantic models
    if callable(dump):
        try:
            return _bounded(dump(exclude_none=True), depth + 1)
        except Exception:
            pass
    return _repr.repr(value)


def _set_content(run: ActiveOperation, key: str, value: Any, *, text: bool = False) -> None:
    """Every captured workflow value passes here, into the shared content gate: redacted,
    capped, then set on the span as JSON (or plain text); dropped if redaction fails."""
    gate = _instruments().content.get(_settings().redaction)
    if text:
        out, truncated = gate.value(value if isinstance(value, str) else _repr.repr(value))
    else:
        out, truncated = gate.json(_bounded(value))
    if out is None:
        return
    run.span.set_attribute(key, out)
    if truncated:
        run.span.set_attribute(sc.LLMOTEL_CONTENT_TRUNCATED, True)


def _as_text(value: Any) -> str:
    return value if isinstance(value, str) else _repr.repr(value)


def _arguments_text(arguments: Mapping[str, Any]) -> str:
    if len(arguments) == 1:
        (only,) = arguments.values()
        if isinstance(only, str):
            return only
    return ", ".join(f"{k}={_repr.repr(v)}" for k, v in arguments.items())


def _maybe_json(value: Any) -> Any:
    # The conventions want tool results as objects: decode JSON object/array strings.
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _documents(value: Any) -> list[dict[str, Any]]:
    """``[{id?, score?}]`` from a list of documents: dicts, objects, or ``(doc, score)`` pairs."""
    if value is None or isinstance(value, str | bytes | Mapping):
        return []
    out: list[dict[str, Any]] = []
    try:
        for item in value:
            if len(out) >= _MAX_DOCUMENTS:
                break
            doc, score = item, None
            if isinstance(item, tuple) and len(item) == 2 and isinstance(item[1], int | float):
                doc, score = item
            if isinstance(doc, Mapping):
                doc_id, doc_score = doc.get("id"), doc.get("score")
            else:
                doc_id, doc_score = getattr(doc, "id", None), getattr(doc, "score", None)
                if doc_id is None:  # LangChain-style documents keep the id in metadata
                    meta = getattr(doc, "metadata", None)
                    doc_id = meta.get("id") if isinstance(meta, Mapping) else None
            if score is None:
                score = doc_score
            entry: dict[str, Any] = {}
            if isinstance(doc_id, str | int) and not isinstance(doc_id, bool):
                entry["id"] = str(doc_id)
            if isinstance(score, int | float) and not isinstance(score, bool):
                entry["score"] = float(score)
            out.append(entry)
    except TypeError:  # not iterable
        return []
    return out


class _Signature:
    """A decorated function's signature, resolved on first use (only when capturing content)."""

    __slots__ = ("_fn", "_sig")

    def __init__(self, fn: Callable[..., Any]) -> None:
        self._fn = fn
        self._sig: inspect.Signature | None = None

    def bind(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> dict[str, Any]:
        """The call's arguments by parameter name (``self``/``cls`` left out)."""
        try:
            if self._sig is None:
                self._sig = inspect.signature(self._fn)
            bound = self._sig.bind_partial(*args, **kwargs).arguments
            out = dict(bound)
            params = list(self._sig.parameters)
            if params and params[0] in ("self", "cls"):
                out.pop(params[0], None)
            for name, param in self._sig.parameters.items():  # flatten **kwargs
                if param.kind is inspect.Parameter.VAR_KEYWORD and name in out:
                    out.update(out.pop(name))
            return out
        except (TypeError, ValueError):  # the call itself will raise; keep what we have
            out = {f"arg{i}": a for i, a in enumerate(args)}
            out.update(kwargs)
            return out


# --- operations ----------------------------------------------------------------------------
class ActiveOperation:
    """One running operation: its span, plus setters to report content and results.

    Returned by ``with workflow(...) as op``; setters never raise and record content only
    when content capture is on. ``op.span`` is the span; ``op.context`` is the OpenTelemetry
    context the body runs in (attach it in another thread to parent work there by hand).
    """

    __slots__ = ("_ended", "_metric_attrs", "_op", "_start", "_token", "capture", "context", "span")

    def __init__(self, op: Operation | None, span: Span, context: Any, metric_attrs: dict[str, Any],
                 capture: bool) -> None:
        self._op = op
        self.span = span
        self.context = context
        self._metric_attrs = metric_attrs
        self.capture = capture
        self._ended = op is None
        self._token: Any = None
        self._start = perf_counter()

    # -- reporting ------------------------------------------------------------------------
    def set_attribute(self, key: str, value: Any) -> None:
        """Set a span attribute (never content: use the setters below for that)."""
        try:
            self.span.set_attribute(key, value)
        except Exception as exc:
            _internal_error("workflow.set_attribute", exc)

    def set_input(self, value: Any) -> None:
        """Report the input: workflow/agent input messages, tool arguments, retrieval query."""
        if self.capture and self._op is not None:
            self._safely(self._op._record_input, value)

    def set_result(self, value: Any) -> None:
        """Report the result: workflow/agent output, tool result, retrieval documents."""
        if self.capture and self._op is not None:
            self._safely(self._op._record_result, value)

    def set_documents(self, documents: Any) -> None:
        """Report retrieved documents: dicts or objects with ``id``/``score``, or ``(doc, score)``."""
        if self.capture and self._op is not None:
            self._safely(_record_documents, documents)

    def _safely(self, record: Callable[[ActiveOperation, Any], None], value: Any) -> None:
        try:
            record(self, value)
        except Exception as exc:
            _internal_error("workflow.content", exc)

    # -- lifecycle ------------------------------------------------------------------------
    def _attach(self) -> Any:
        return None if self._op is None else otel_context.attach(self.context)

    @staticmethod
    def _detach(token: Any) -> None:
        if token is not None:
            otel_context.detach(token)

    def _end(self, exc: BaseException | None, result: Any = _MISSING) -> None:
        """End the span and record the duration, exactly once; never raises."""
        if self._ended:
            return
        self._ended = True
        op = self._op
        if op is None:
            return
        span = self.span
        try:
            duration = perf_counter() - self._start
            attrs = self._metric_attrs
            # GeneratorExit is a consumer closing a generator early: a normal end, not a failure.
            if exc is not None and not isinstance(exc, GeneratorExit):
                error_type = error_type_of(exc)
                attrs = {**attrs, sc.ERROR_TYPE: error_type}
                span.set_attribute(sc.ERROR_TYPE, error_type)
                span.record_exception(exc, escaped=True)
                text = str(exc)
                span.set_status(Status(StatusCode.ERROR, text[:512] if text else type(exc).__name__))
            elif result is not _MISSING and self.capture:
                self._safely(op._record_result, result)
            # Metric before span end: dashboards read it even when the span is dropped.
            _instruments().durations[op._operation].record(duration, attrs)
        except Exception as inner:
            _internal_error("workflow.end", inner)
        try:
            span.end()
        except Exception as inner:  # pragma: no cover - the SDK itself failing
            _internal_error("workflow.end", inner)


_NOOP_RUN_ARGS: Final = (None, INVALID_SPAN, None, {}, False)


def _record_documents(run: ActiveOperation, value: Any) -> None:
    _set_content(run, sc.GEN_AI_RETRIEVAL_DOCUMENTS, _documents(value))


class Operation:
    """A workflow, agent, tool or retrieval step: a context manager and a decorator.

    As a decorator the object can be shared freely: every call is its own span. As a
    context manager, enter one object from one task at a time (create it per use:
    ``with workflow("x"):``), since the object keeps the stack of its open runs.
    """

    _operation: str = ""
    _kind: SpanKind = SpanKind.INTERNAL

    def __init__(self) -> None:
        self._runs: list[ActiveOperation] = []

    # -- per-kind hooks -------------------------------------------------------------------
    def _span_name(self) -> str:
        raise NotImplementedError

    def _span_attributes(self, parent: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """(span start attributes, metric attributes) for a run under ``parent``."""
        raise NotImplementedError

    def _child_context(self, ctx: Any) -> Any:
        return ctx

    def _record_arguments(self, run: ActiveOperation, arguments: dict[str, Any]) -> None:
        if arguments:  # a call without arguments has no input worth a message
            self._record_input(run, _arguments_text(arguments))

    def _record_input(self, run: ActiveOperation, value: Any) -> None:
        message = {"role": "user", "parts": [{"type": "text", "content": _as_text(value)}]}
        _set_content(run, sc.GEN_AI_INPUT_MESSAGES, [message])

    def _record_result(self, run: ActiveOperation, value: Any) -> None:
        message = {"role": "assistant", "parts": [{"type": "text", "content": _as_text(value)}],
                   "finish_reason": sc.FINISH_STOP}
        _set_content(run, sc.GEN_AI_OUTPUT_MESSAGES, [message])

    def _record_generated(self, run: ActiveOperation, items: list[Any]) -> None:
        # A generator's result is what it yielded; text chunks read best joined.
        if all(isinstance(i, str) for i in items):
            self._record_result(run, "".join(items))
        else:
            self._record_result(run, items)

    # -- starting -------------------------------------------------------------------------
    def _begin(self, signature: _Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ActiveOperation:
        """Start a run under the current context; on any internal failure, a no-op run."""
        try:
            parent = otel_context.get_current()
            attributes, metric_attrs = self._span_attributes(parent)
            span = _tracer().start_span(self._span_name(), parent, self._kind, attributes=attributes)
            ctx = self._child_context(trace.set_span_in_context(span, parent))
            # Content work only when content goes on spans and the span is sampled.
            capture = _settings().content_on_span and span.is_recording()
            run = ActiveOperation(self, span, ctx, metric_attrs, capture)
            if capture and signature is not None:
                run._safely(self._record_arguments, signature.bind(args, kwargs))
            return run
        except Exception as exc:
            _internal_error("workflow.start", exc)
            return ActiveOperation(*_NOOP_RUN_ARGS)

    # -- context manager ------------------------------------------------------------------
    def __enter__(self) -> ActiveOperation:
        run = self._begin(None, (), {})
        run._token = run._attach()
        self._runs.append(run)
        return run

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        # Returns None: exceptions propagate unchanged.
        run = self._runs.pop()
        run._detach(run._token)
        run._end(exc)

    async def __aenter__(self) -> ActiveOperation:
        return self.__enter__()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        self.__exit__(exc_type, exc, tb)

    # -- decorator ------------------------------------------------------------------------
    def __call__(self, fn: Callable[P, R]) -> Callable[P, R]:
        """Decorate ``fn``: each call (or each generator iteration, start to end) is one span."""
        if not callable(fn):
            raise TypeError(f"{type(self).__name__} decorates a function, got {type(fn).__name__}")
        signature = _Signature(fn)
        begin = self._begin
        wrapper: Callable[..., Any]

        if inspect.isasyncgenfunction(fn):
            async def wrapper(*args: Any, **kwargs: Any) -> AsyncGenerator[Any, Any]:
                agen = fn(*args, **kwargs)  # first, so a bad call raises before any span starts
                run = begin(signature, args, kwargs)
                items: list[Any] | None = [] if run.capture else None
                to_send: Any = None
                to_throw: BaseException | None = None
                while True:
                    # Attach only around the step: the context never stays attached across our yield.
                    token = run._attach()
                    try:
                        if to_throw is not None:
                            exc, to_throw = to_throw, None
                            item = await agen.athrow(exc)
                        else:
                            item = await agen.asend(to_send)
                    except StopAsyncIteration:
                        run._detach(token)
                        if items is not None:
                            run._safely(self._record_generated, items)
                        run._end(None)
                        return
                    except BaseException as exc:
                        run._detach(token)
                        run._end(exc)
                        raise
                    run._detach(token)
                    if items is not None and len(items) < _MAX_ITEMS:
                        items.append(item)
                    try:
                        to_send = yield item
                    except GeneratorExit as closing:
                        if items is not None:
                            run._safely(self._record_generated, items)
                        await _aclose(run, agen, closing)
                        raise
                    except BaseException as exc:
                        to_throw, to_send = exc, None

        elif inspect.iscoroutinefunction(fn):
            async def wrapper(*args: Any, **kwargs: Any) -> Any:
                run = begin(signature, args, kwargs)
                token = run._attach()
                try:
                    result = await fn(*args, **kwargs)
                except BaseException as exc:
                    run._detach(token)
                    run._end(exc)
                    raise
                run._detach(token)
                run._end(None, result)
                return result

        elif inspect.isgeneratorfunction(fn):
            def wrapper(*args: Any, **kwargs: Any) -> Generator[Any, Any, Any]:
                gen = fn(*args, **kwargs)  # first, so a bad call raises before any span starts
                run = begin(signature, args, kwargs)
                items: list[Any] | None = [] if run.capture else None
                to_send: Any = None
                to_throw: BaseException | None = None
                while True:
                    token = run._attach()
                    try:
                        if to_throw is not None:
                            exc, to_throw = to_throw, None
                            item = gen.throw(exc)
                        else:
                            item = gen.send(to_send)
                    except StopIteration as stop:
                        run._detach(token)
                        if items is not None:
                            run._safely(self._record_generated, items)
                        run._end(None)
                        return stop.value
                    except BaseException as exc:
                        run._detach(token)
                        run._end(exc)
                        raise
                    run._detach(token)
                    if items is not None and len(items) < _MAX_ITEMS:
                        items.append(item)
                    try:
                        to_send = yield item
                    except GeneratorExit as closing:
                        if items is not None:
                            run._safely(self._record_generated, items)
                        _close(run, gen, closing)
                        raise
                    except BaseException as exc:
                        to_throw, to_send = exc, None

        else:
            def wrapper(*args: Any, **kwargs: Any) -> Any:
                run = begin(signature, args, kwargs)
                token = run._attach()
                try:
                    result = fn(*args, **kwargs)
                except BaseException as exc:
                    run._detach(token)
                    run._end(exc)
                    raise
                run._detach(token)
                run._end(None, result)
                return result

        return functools.wraps(fn)(wrapper)  # type: ignore[return-value]


def _close(run: ActiveOperation, gen: Generator[Any, Any, Any], closing: GeneratorExit) -> None:
    """The consumer closed the generator early: close the wrapped one in the span's context."""
    token = run._attach()
    try:
        gen.close()
    except BaseException as exc:
        run._detach(token)
        run._end(exc)
        raise
    run._detach(token)
    run._end(closing)


async def _aclose(run: ActiveOperation, agen: AsyncGenerator[Any, Any], closing: GeneratorExit) -> None:
    token = run._attach()
    try:
        await agen.aclose()
    except BaseException as exc:
        run._detach(token)
        run._end(exc)
        raise
    run._detach(token)
    run._end(closing)


class _Workflow(Operation):
    _operation = sc.OP_INVOKE_WORKFLOW

    def __init__(self, name: str, conversation_id: str | None) -> None:
        super().__init__()
        self._name = name
        attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_WORKFLOW}
        metric: dict[str, Any] = {}
        if name:
            attrs[sc.GEN_AI_WORKFLOW_NAME] = metric[sc.GEN_AI_WORKFLOW_NAME] = name
        if conversation_id:
            attrs[sc.GEN_AI_CONVERSATION_ID] = conversation_id
        self._attrs, self._metric = attrs, metric

    def _span_name(self) -> str:
        return f"{sc.OP_INVOKE_WORKFLOW} {self._name}" if self._name else sc.OP_INVOKE_WORKFLOW

    def _span_attributes(self, parent: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return self._attrs, self._metric


class _Agent(Operation):
    _operation = sc.OP_INVOKE_AGENT

    def __init__(self, name: str, description: str | None, model: str | None,
                 conversation_id: str | None) -> None:
        super().__init__()
        self._name = name
        attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: sc.OP_INVOKE_AGENT}
        metric: dict[str, Any] = {}
        if name:
            attrs[sc.GEN_AI_AGENT_NAME] = metric[sc.GEN_AI_AGENT_NAME] = name
        if description:
            attrs[sc.GEN_AI_AGENT_DESCRIPTION] = description
        if model:
            attrs[sc.GEN_AI_REQUEST_MODEL] = metric[sc.GEN_AI_REQUEST_MODEL] = model
        if conversation_id:
            attrs[sc.GEN_AI_CONVERSATION_ID] = conversation_id
        self._attrs, self._metric = attrs, metric

    def _span_name(self) -> str:
        return f"{sc.OP_INVOKE_AGENT} {self._name}" if self._name else sc.OP_INVOKE_AGENT

    def _span_attributes(self, parent: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return self._attrs, self._metric

    def _child_context(self, ctx: Any) -> Any:
        return otel_context.set_value(_AGENT_KEY, self._name, ctx) if self._name else ctx


class _Tool(Operation):
    _operation = sc.OP_EXECUTE_TOOL

    def __init__(self, name: str, tool_type: str | None, description: str | None, call_id: str | None) -> None:
        super().__init__()
        self._name = name
        attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: sc.OP_EXECUTE_TOOL, sc.GEN_AI_TOOL_NAME: name}
        metric: dict[str, Any] = {sc.GEN_AI_TOOL_NAME: name}
        if tool_type:
            attrs[sc.GEN_AI_TOOL_TYPE] = metric[sc.GEN_AI_TOOL_TYPE] = tool_type
        if description:
            attrs[sc.GEN_AI_TOOL_DESCRIPTION] = description
        if call_id:
            attrs[sc.GEN_AI_TOOL_CALL_ID] = call_id
        self._attrs, self._metric = attrs, metric

    def _span_name(self) -> str:
        return f"{sc.OP_EXECUTE_TOOL} {self._name}" if self._name else sc.OP_EXECUTE_TOOL

    def _span_attributes(self, parent: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        agent_name = otel_context.get_value(_AGENT_KEY, parent)
        if agent_name is None:
            return self._attrs, self._metric
        return ({**self._attrs, sc.GEN_AI_AGENT_NAME: agent_name},
                {**self._metric, sc.GEN_AI_AGENT_NAME: agent_name})

    def _record_arguments(self, run: ActiveOperation, arguments: dict[str, Any]) -> None:
        self._record_input(run, arguments)

    def _record_input(self, run: ActiveOperation, value: Any) -> None:
        _set_content(run, sc.GEN_AI_TOOL_CALL_ARGUMENTS, _maybe_json(value))

    def _record_result(self, run: ActiveOperation, value: Any) -> None:
        _set_content(run, sc.GEN_AI_TOOL_CALL_RESULT, _maybe_json(value))

    def _record_generated(self, run: ActiveOperation, items: list[Any]) -> None:
        self._record_result(run, items)


class _Retrieval(Operation):
    _operation = sc.OP_RETRIEVAL
    _kind = SpanKind.CLIENT

    def __init__(self, data_source_id: str | None, top_k: int | None, query: str | None,
                 provider: str | None, model: str | None) -> None:
        super().__init__()
        self._source = data_source_id
        self._query = query
        attrs: dict[str, Any] = {sc.GEN_AI_OPERATION_NAME: sc.OP_RETRIEVAL}
        metric: dict[str, Any] = {}
        if data_source_id:
            attrs[sc.GEN_AI_DATA_SOURCE_ID] = metric[sc.GEN_AI_DATA_SOURCE_ID] = data_source_id
        if provider:
            attrs[sc.GEN_AI_PROVIDER_NAME] = provider
        if model:
            attrs[sc.GEN_AI_REQUEST_MODEL] = model
        if top_k is not None and not isinstance(top_k, bool):
            attrs[sc.GEN_AI_RETRIEVAL_TOP_K] = int(top_k)
        self._attrs, self._metric = attrs, metric

    def _span_name(self) -> str:
        return f"{sc.OP_RETRIEVAL} {self._source}" if self._source else sc.OP_RETRIEVAL

    def _span_attributes(self, parent: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        return self._attrs, self._metric

    def _begin(self, signature: _Signature | None, args: tuple[Any, ...], kwargs: dict[str, Any]) -> ActiveOperation:
        run = super()._begin(signature, args, kwargs)
        # An explicit query= is recorded for context-manager use too (arguments are not bound there).
        if run.capture and self._query is not None and signature is None:
            run.set_input(self._query)
        return run

    def _record_arguments(self, run: ActiveOperation, arguments: dict[str, Any]) -> None:
        query = self._query if self._query is not None else arguments.get("query")
        if query is not None:
            self._record_input(run, query)

    def _record_input(self, run: ActiveOperation, value: Any) -> None:
        _set_content(run, sc.GEN_AI_RETRIEVAL_QUERY_TEXT, value, text=True)

    def _record_result(self, run: ActiveOperation, value: Any) -> None:
        _record_documents(run, value)

    def _record_generated(self, run: ActiveOperation, items: list[Any]) -> None:
        _record_documents(run, items)


# --- public API ------------------------------------------------------------------------------
def _check_name(api: str, name: Any) -> None:
    # Misuse at decoration time (``@tool`` without a name) fails loudly, before any call.
    if not isinstance(name, str):
        raise TypeError(f"llmotel.{api}() needs a name string first, e.g. @llmotel.{api}('search')")


def workflow(name: str, *, conversation_id: str | None = None) -> Operation:
    """Trace a workflow run as an ``invoke_workflow {name}`` INTERNAL span.

    Use as ``with workflow("checkout"):`` / ``async with`` or as ``@workflow("checkout")`` on
    sync, async, generator or async-generator functions. ``name`` must be low-cardinality: it
    labels ``gen_ai.invoke_workflow.duration``. ``conversation_id`` (a real session or thread
    id, never a generated one) goes on the span only. With content capture on, a decorated
    function's arguments and result are recorded as ``gen_ai.input.messages`` /
    ``gen_ai.output.messages``.
    """
    _check_name("workflow", name)
    return _Workflow(name, conversation_id)


def agent(
    name: str,
    *,
    agent_id: str | None = None,
    description: str | None = None,
    version: str | None = None,
    model: str | None = None,
    conversation_id: str | None = None,
) -> Operation:
    """Trace an in-process agent invocation as an ``invoke_agent {name}`` INTERNAL span.

    Tools run inside it get ``gen_ai.agent.name``. ``model`` becomes ``gen_ai.request.model``
    (also a label of ``gen_ai.invoke_agent.duration``, with the name). Following the
    conventions for internal agents, ``agent_id`` and ``version`` are accepted for API
    symmetry with remote agents but not emitted, and no ``gen_ai.provider.name`` is set.
    Context-manager and decorator use, and content capture, are as for :func:`workflow`.
    """
    _check_name("agent", name)
    del agent_id, version  # not emitted for in-process agents (SEMCONV §3)
    return _Agent(name, description, model, conversation_id)


def tool(
    name: str,
    *,
    type: str | None = sc.TOOL_TYPE_FUNCTION,
    description: str | None = None,
    call_id: str | None = None,
) -> Operation:
    """Trace a tool execution as an ``execute_tool {name}`` INTERNAL span.

    Sets ``gen_ai.tool.name``/``.type``/``.description``/``.call.id`` and, inside
    :func:`agent`, ``gen_ai.agent.name``; records ``gen_ai.execute_tool.duration`` by tool
    name, type and agent. With content capture on, a decorated function's bound arguments
    become ``gen_ai.tool.call.arguments`` and its return value (or, for generators, the
    yielded items) ``gen_ai.tool.call.result``, both as JSON; with a context manager use
    ``op.set_input(...)`` / ``op.set_result(...)``.
    """
    _check_name("tool", name)
    return _Tool(name, type, description, call_id)


def retrieval(
    data_source_id: str | None = None,
    *,
    top_k: int | None = None,
    query: str | None = None,
    provider: str | None = None,
    model: str | None = None,
) -> Operation:
    """Trace a retrieval (vector search, RAG lookup) as a ``retrieval {data_source_id}`` CLIENT span.

    Sets ``gen_ai.data_source.id``, ``gen_ai.retrieval.top_k``, ``gen_ai.provider.name`` and
    ``gen_ai.request.model`` when given, and records ``llmotel.retrieval.duration`` by data
    source. With content capture on, the query (``query=``, or a decorated function's
    ``query`` argument) becomes ``gen_ai.retrieval.query.text`` and the returned documents
    (or ``op.set_documents(...)``) ``gen_ai.retrieval.documents`` as ``[{id, score}]``.
    """
    if data_source_id is not None and not isinstance(data_source_id, str):
        raise TypeError("llmotel.retrieval() takes a data source id string: @llmotel.retrieval('kb') or retrieval()")
    return _Retrieval(data_source_id, top_k, query, provider, model)


def _branch_text(value: str) -> str:
    return value if len(value) <= _MAX_BRANCH_STRING else value[:_MAX_BRANCH_STRING]


def branch(
    workflow: str,
    from_node: str,
    to_node: str,
    *,
    condition: str | None = None,
    outcome: str | None = None,
    **context: Any,
) -> None:
    """Record a branching decision: a ``llmotel.branch`` event on the current span and a count.

    ``workflow``, ``from_node``, ``to_node`` and ``outcome`` must be low-cardinality node
    names: they label ``llmotel.workflow.branches`` (after 1000 distinct combinations, new
    ones are counted as ``_OTHER``). ``condition`` and up to 8 ``context`` items (str, int,
    float or bool; strings cut to 256 characters) go on the event only, as
    ``llmotel.branch.condition`` and ``llmotel.branch.context.<key>``. Never raises: bad
    input is logged once and counted in ``llmotel.instrumentation.errors``.
    """
    try:
        if not all(isinstance(v, str) and v for v in (workflow, from_node, to_node)) or not (
            outcome is None or isinstance(outcome, str)) or not (condition is None or isinstance(condition, str)):
            _internal_error("workflow.branch", ValueError(
                "branch() needs non-empty strings for workflow, from_node and to_node "
                "(and strings for condition/outcome)"), sc.ERROR_INVALID_ARGUMENT)
            return
        labels = (_branch_text(workflow), _branch_text(from_node), _branch_text(to_node),
                  None if outcome is None else _branch_text(outcome))
        span = trace.get_current_span()
        if span.is_recording():
            event: dict[str, Any] = {sc.LLMOTEL_BRANCH_WORKFLOW: labels[0], sc.LLMOTEL_BRANCH_FROM: labels[1],
                                     sc.LLMOTEL_BRANCH_TO: labels[2]}
            if condition is not None:
                event[sc.LLMOTEL_BRANCH_CONDITION] = _branch_text(condition)
            if labels[3] is not None:
                event[sc.LLMOTEL_BRANCH_OUTCOME] = labels[3]
            kept = 0
            for key, value in context.items():
                if kept >= _MAX_BRANCH_CONTEXT:
                    _log.debug("llmotel: branch() keeps %d context items; dropped %r", _MAX_BRANCH_CONTEXT, key)
                    continue
                if isinstance(value, str):
                    value = _branch_text(value)
                elif not isinstance(value, bool | int | float):
                    _log.debug("llmotel: branch() context %r is %s, not str/int/float/bool; dropped",
                               key, type(value).__name__)
                    continue
                event[sc.LLMOTEL_BRANCH_CONTEXT_PREFIX + key] = value
                kept += 1
            span.add_event(sc.EVENT_BRANCH, event)
        # A bounded number of label sets: node names are low-cardinality by contract, but a
        # caller passing ids by mistake must not explode the metric.
        if labels not in _branch_label_sets:
            if len(_branch_label_sets) >= _MAX_BRANCH_LABEL_SETS:
                _internal_error("workflow.branch.cardinality", ValueError(
                    f"more than {_MAX_BRANCH_LABEL_SETS} distinct branch label sets; "
                    "counting new ones as _OTHER"), sc.LABEL_OVERFLOW)
                labels = (sc.LABEL_OVERFLOW, sc.LABEL_OVERFLOW, sc.LABEL_OVERFLOW,
                          None if outcome is None else sc.LABEL_OVERFLOW)
            else:
                _branch_label_sets.add(labels)
        attrs = {sc.LLMOTEL_BRANCH_WORKFLOW: labels[0], sc.LLMOTEL_BRANCH_FROM: labels[1],
                 sc.LLMOTEL_BRANCH_TO: labels[2]}
        if labels[3] is not None:
            attrs[sc.LLMOTEL_BRANCH_OUTCOME] = labels[3]
        _instruments().branches.add(1, attrs)
    except Exception as exc:
        _internal_error("workflow.branch", exc)
