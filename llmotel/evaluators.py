"""Evaluators that judge LLM outputs off the request path, and the runner that feeds them.

The app calls :meth:`EvaluationRunner.submit` right after a call (it never blocks: a full
queue drops the sample and counts it in ``llmotel.evaluation.dropped``); worker threads
run each :class:`Evaluator` and record its verdict with
:func:`llmotel.feedback.record_evaluation`, attached to the evaluated call's span. An
evaluator that raises is logged once, counted in ``llmotel.evaluation.errors``, recorded
as a failed evaluation (``error.type``), and never reaches the app.

Built-ins need no model: :class:`JsonValidity`, :class:`RefusalDetector`; an
LLM-as-judge (or anything else) is a plain function wrapped in :class:`JudgeFunction`.
Scores follow the convention of :mod:`llmotel.feedback`: the degree to which the named
property holds, in [0, 1].
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import hashlib
import inspect
import json
import logging
import os
import queue
import random
import re
import threading
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from llmotel import semconv as sc
from llmotel.feedback import (
    AttributeValue,
    SpanHandle,
    _check_attributes,
    _get_instruments,
    current_handle,
    record_evaluation,
)
from llmotel.telemetry import registry

__all__ = [
    "EvalOutcome",
    "EvalSample",
    "EvaluationRunner",
    "Evaluator",
    "JsonValidity",
    "JudgeFunction",
    "RefusalDetector",
    "hallucination_outcome",
    "sample_fraction",
    "shutdown_all",
]

_log = logging.getLogger("llmotel")


@dataclass(frozen=True, slots=True)
class EvalSample:
    """One LLM call to evaluate: its output text, optionally its input, and how to find its span.

    ``response_id`` (the provider's id, e.g. ``chatcmpl-...``) finds the inference span
    among recently finished calls; ``handle`` names a span explicitly. With neither,
    :meth:`EvaluationRunner.submit` attaches the verdict to the span current at submit
    time. ``model`` and ``attributes`` are context for evaluators (``attributes`` also
    reach the event, and ``gen_ai.prompt.version`` / ``llmotel.feature`` the metrics).
    """

    output: str
    input: str | None = None
    response_id: str | None = None
    handle: SpanHandle | None = None
    model: str | None = None
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.output, str):
            raise ValueError(f"EvalSample: output must be a string, got {type(self.output).__name__}")
        # Checked here, in the app's thread, so a bad attribute fails at the call site rather
        # than as an "evaluator error" later on a worker.
        _check_attributes(self.attributes)
        if (self.handle is not None and self.handle.response_id and self.response_id
                and self.handle.response_id != self.response_id):
            raise ValueError("EvalSample: response_id contradicts handle.response_id")

    @property
    def key(self) -> str | None:
        """The stable identity sampling hashes: the response id, else the span ids."""
        if self.response_id:
            return self.response_id
        if self.handle is not None:
            return self.handle.response_id or f"{self.handle.trace_id}-{self.handle.span_id}"
        return None

    @classmethod
    def from_response(
        cls,
        response: Any,
        *,
        input: str | None = None,
        handle: SpanHandle | None = None,
        attributes: Mapping[str, AttributeValue] | None = None,
    ) -> EvalSample:
        """Build a sample from an OpenAI chat completion, OpenAI response or Anthropic message.

        Reads the text output, ``id`` and ``model`` by duck typing (first choice / all
        text blocks), so no SDK import is needed; unknown shapes give an empty output.
        """
        return cls(
            output=_response_text(response),
            input=input,
            response_id=_str_or_none(getattr(response, "id", None)),
            handle=handle,
            model=_str_or_none(getattr(response, "model", None)),
            attributes=dict(attributes or {}),
        )


@dataclass(frozen=True, slots=True)
class EvalOutcome:
    """An evaluator's verdict: a score (llmotel's convention: [0, 1]), a label, an explanation (content)."""

    score: float | None = None
    label: str | None = None
    explanation: str | None = None


@runtime_checkable
class Evaluator(Protocol):
    """Anything with a ``name`` (the evaluation name), a ``source`` and ``__call__(sample)``.

    ``source`` is one of ``human``, ``heuristic``, ``llm_judge``, ``custom``. Returning
    ``None`` means "not applicable to this sample" and records nothing. An optional
    ``evaluator`` attribute names the implementation for provenance (default: the class).
    Evaluators run on the runner's worker threads, so they must be thread-safe when
    ``workers > 1``.
    """

    name: str
    source: str

    def __call__(self, sample: EvalSample) -> EvalOutcome | None: ...


def hallucination_outcome(
    probability: float, explanation: str | None = None, *, threshold: float = 0.5
) -> EvalOutcome:
    """The hallucination convention as an outcome: score = probability of hallucination.

    Label ``hallucinated`` when ``probability >= threshold``, else ``grounded``; use it
    from a :class:`JudgeFunction` named ``"hallucination"`` so dashboards can chart
    ``results{label="hallucinated"} / results{name="hallucination"}``.
    """
    label = sc.HALLUCINATION_HALLUCINATED if probability >= threshold else sc.HALLUCINATION_GROUNDED
    return EvalOutcome(score=float(probability), label=label, explanation=explanation)


# --- the runner ----------------------------------------------------------------------

_STOP = object()


class EvaluationRunner:
    """Runs evaluators on daemon worker threads, fed by a bounded, never-blocking queue.

    ``sample_rate`` (0-1) is decided per call by a stable hash of its response id (or span
    ids), so the same call is sampled the same way in every runner and every process;
    samples with no id are sampled at random. ``submit`` returns at once: when
    ``max_queue`` samples are waiting, the new one is dropped and counted in
    ``llmotel.evaluation.dropped``. ``shutdown`` stops intake and drains the queue (it
    also runs at interpreter exit, waiting at most 2 s). Bad constructor arguments raise
    ``ValueError``; evaluators never raise into the app.
    """

    def __init__(
        self,
        evaluators: Iterable[Evaluator],
        *,
        sample_rate: float = 1.0,
        max_queue: int = 1000,
        workers: int = 1,
    ) -> None:
        self._evaluators: tuple[Evaluator, ...] = tuple(evaluators)
        if not self._evaluators:
            raise ValueError("EvaluationRunner: give at least one evaluator")
        for ev in self._evaluators:
            name, source = getattr(ev, "name", None), getattr(ev, "source", None)
            if not isinstance(name, str) or not name or not callable(ev):
                raise ValueError(f"EvaluationRunner: {ev!r} is not an Evaluator (needs name: str and __call__)")
            if source not in sc.EVAL_SOURCES:
                raise ValueError(f"EvaluationRunner: evaluator {name!r} has source={source!r}; "
                                 f"accepted: {', '.join(sc.EVAL_SOURCES)}")
        if isinstance(sample_rate, bool) or not isinstance(sample_rate, int | float) or not 0 <= sample_rate <= 1:
            raise ValueError(f"EvaluationRunner: sample_rate must be within 0-1, got {sample_rate!r}")
        if isinstance(max_queue, bool) or not isinstance(max_queue, int) or max_queue < 1:
            raise ValueError(f"EvaluationRunner: max_queue must be an integer >= 1, got {max_queue!r}")
        if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
            raise ValueError(f"EvaluationRunner: workers must be an integer >= 1, got {workers!r}")
        self._sample_rate = float(sample_rate)
        self._max_queue = max_queue
        self._workers = workers
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=max_queue)
        self._threads: list[threading.Thread] = []
        self._pid: int | None = None
        self._lock = threading.Lock()
        self._closed = False
        self._reported: set[int] = set()
        self._counts = {"submitted": 0, "sampled_out": 0, "dropped": 0, "evaluated": 0, "errors": 0}
        self._counts_lock = threading.Lock()
        _track(self)

    # -- intake ------------------------------------------------------------------------

    def submit(self, sample: EvalSample) -> bool:
        """Queue ``sample`` for evaluation without blocking; ``True`` if it was queued.

        ``False`` means it was sampled out, the queue was full (counted as dropped), or
        the runner is shut down. Never raises.
        """
        try:
            if not self.should_sample(sample):
                self._count("sampled_out")
                return False
            if self._closed:
                self._drop(sc.EVAL_DROP_SHUTDOWN)
                return False
            self._ensure_workers()
            # Captured now, on the app's thread: a sample with neither handle nor response id
            # is attached to the span that was current when it was submitted.
            fallback = current_handle() if sample.handle is None else None
            try:
                self._queue.put_nowait((sample, fallback))
            except queue.Full:
                self._drop(sc.EVAL_DROP_QUEUE_FULL)
                return False
            self._count("submitted")
            return True
        except Exception as exc:  # pragma: no cover - defensive: submit is on the request path
            _internal_error_once(self._reported, -1, "EvaluationRunner.submit", exc)
            return False

    def should_sample(self, sample: EvalSample) -> bool:
        """Whether ``sample`` is within ``sample_rate`` (deterministic for a given id)."""
        rate = self._sample_rate
        if rate >= 1.0:
            return True
        if rate <= 0.0:
            return False
        key = sample.key
        if key is None:
            return random.random() < rate
        return sample_fraction(key) < rate

    # -- lifecycle ---------------------------------------------------------------------

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued sample has been evaluated; ``False`` on timeout."""
        q = self._queue
        deadline = None if timeout is None else time.monotonic() + timeout
        with q.all_tasks_done:
            while q.unfinished_tasks:
                remaining = None if deadline is None else deadline - time.monotonic()
                if remaining is not None and remaining <= 0:
                    return False
                q.all_tasks_done.wait(remaining)
        return True

    def shutdown(self, timeout: float = 5.0) -> bool:
        """Stop accepting samples, evaluate what is queued, stop the workers; ``False`` on timeout.

        Safe to call more than once; never raises.
        """
        try:
            deadline = time.monotonic() + max(timeout, 0.0)
            with self._lock:
                self._closed = True
                own = self._pid == os.getpid()  # after a fork, the parent's threads are not ours
                threads = [t for t in self._threads if t.is_alive()] if own else []
            for _ in threads:
                # Blocking put (bounded by the deadline): the sentinel must not be dropped,
                # and the workers free space as they drain.
                self._queue.put(_STOP, timeout=max(deadline - time.monotonic(), 0.001))
            for thread in threads:
                thread.join(max(deadline - time.monotonic(), 0.0))
            if any(t.is_alive() for t in threads):
                return False
            with _runners_lock:
                _runners.discard(self)
            return True
        except Exception:  # queue.Full: a stuck evaluator kept the queue full until the deadline
            return False

    @property
    def stats(self) -> dict[str, int]:
        """Counters since creation: submitted, sampled_out, dropped, evaluated, errors."""
        with self._counts_lock:
            return dict(self._counts)

    # -- internals ---------------------------------------------------------------------

    def _ensure_workers(self) -> None:
        pid = os.getpid()
        if self._pid == pid:
            return
        with self._lock:
            if self._pid == pid:
                return
            if self._pid is not None:
                # Forked: the parent's threads do not exist here, and its queue's locks may
                # have been held at fork time, so start afresh.
                self._queue = queue.Queue(maxsize=self._max_queue)
            self._threads = [
                threading.Thread(target=self._work, name=f"llmotel-eval-{i}", daemon=True)
                for i in range(self._workers)
            ]
            for thread in self._threads:
                thread.start()
            self._pid = pid

    def _work(self) -> None:
        q = self._queue
        while True:
            item = q.get()
            try:
                if item is _STOP:
                    return
                sample, fallback = item
                self._evaluate(sample, fallback)
            finally:
                q.task_done()

    def _evaluate(self, sample: EvalSample, fallback: SpanHandle | None) -> None:
        target: SpanHandle | None = sample.handle
        response_id = sample.response_id
        if target is None and not (response_id and registry.lookup(response_id) is not None):
            # Unknown (or no) response id: the submit-time span is better than no span.
            target = fallback
        if target is not None and target.response_id:
            response_id = None  # carried by the handle
        for index, ev in enumerate(self._evaluators):
            provenance = getattr(ev, "evaluator", None) or f"{type(ev).__module__}.{type(ev).__qualname__}"
            try:
                outcome = ev(sample)
                if outcome is None:
                    continue
                if not isinstance(outcome, EvalOutcome):
                    raise TypeError(f"evaluator returned {type(outcome).__name__}, not EvalOutcome or None")
                record_evaluation(
                    ev.name, score=outcome.score, label=outcome.label, explanation=outcome.explanation,
                    target=target, response_id=response_id, evaluator=provenance, source=ev.source,
                    attributes=sample.attributes or None,
                )
                self._count("evaluated")
            except Exception as exc:
                self._count("errors")
                _internal_error_once(self._reported, index, f"evaluator {ev.name!r}", exc, counted=False)
                # The failure is already logged and counted; its event must not fail the worker.
                with contextlib.suppress(Exception):
                    record_evaluation(
                        ev.name, error_type=type(exc).__qualname__, target=target, response_id=response_id,
                        evaluator=provenance, source=ev.source, attributes=sample.attributes or None,
                    )

    def _drop(self, reason: str) -> None:
        self._count("dropped")
        with contextlib.suppress(Exception):  # metrics broken: still never raise on the request path
            _get_instruments().dropped.add(1, {sc.LLMOTEL_EVALUATION_DROP_REASON: reason})

    def _count(self, key: str) -> None:
        with self._counts_lock:
            self._counts[key] += 1


_runners: weakref.WeakSet[EvaluationRunner] = weakref.WeakSet()
_runners_lock = threading.Lock()
_atexit_registered = False


def _track(runner: EvaluationRunner) -> None:
    # One exit hook, registered when the first runner is created: runners are usually made
    # after llmotel.init(), so (atexit being LIFO) they drain before llmotel.shutdown()
    # flushes the providers. Weak references: tracking never keeps a runner alive.
    global _atexit_registered
    with _runners_lock:
        _runners.add(runner)
        if not _atexit_registered:
            atexit.register(shutdown_all, 2.0)
            _atexit_registered = True


def shutdown_all(timeout: float = 5.0) -> bool:
    """Drain and stop every live :class:`EvaluationRunner` (in parallel); ``False`` if any timed out.

    Runs at interpreter exit; call it before flushing the providers (e.g. from
    ``llmotel.shutdown()``) so the last evaluations are exported. Never raises.
    """
    with _runners_lock:
        runners = list(_runners)
    if not runners:
        return True
    results: list[bool] = []
    threads = [threading.Thread(target=lambda r=r: results.append(r.shutdown(timeout)), daemon=True)
               for r in runners]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + timeout + 0.5
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0.0))
    return len(results) == len(runners) and all(results)


def _internal_error_once(reported: set[int], key: int, where: str, exc: BaseException, counted: bool = True) -> None:
    try:
        if counted:
            _get_instruments().internal_errors.add(1, {sc.LLMOTEL_HOOK: where, sc.ERROR_TYPE: type(exc).__name__})
        if key not in reported:
            reported.add(key)
            _log.warning("llmotel: %s failed (logged once; the application was not affected)", where, exc_info=exc)
    except Exception:  # pragma: no cover - logging itself broken
        pass


def sample_fraction(key: str) -> float:
    """A stable fraction in [0, 1) for ``key``: the same in every process (unlike ``hash()``)."""
    digest = hashlib.blake2b(key.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


# --- built-in evaluators -------------------------------------------------------------


class JsonValidity:
    """Is the output valid JSON, and (with ``schema``) of the expected shape?

    Label ``valid`` (score 1.0), ``invalid`` (not JSON; 0.0) or ``schema_violation``
    (0.0). The schema check is a dependency-free subset of JSON Schema: ``type`` (a name
    or a list), ``required``, ``properties``, ``additionalProperties: false``, ``items``
    (one schema), ``enum``, ``const``, ``minItems``/``maxItems``; other keywords are
    ignored. The explanation names the failing path and expectation, never the value.
    ``strip_fences=True`` accepts output wrapped in a Markdown code fence.
    """

    source = sc.EVAL_SOURCE_HEURISTIC
    evaluator = "llmotel.JsonValidity"

    def __init__(self, schema: Mapping[str, Any] | None = None, *, name: str = sc.EVAL_JSON_VALIDITY,
                 strip_fences: bool = False) -> None:
        if schema is not None and not isinstance(schema, Mapping):
            raise ValueError(f"JsonValidity: schema must be a mapping, got {type(schema).__name__}")
        self.name = name
        self.schema = schema
        self.strip_fences = strip_fences

    def __call__(self, sample: EvalSample) -> EvalOutcome:
        """Evaluate one sample."""
        text = sample.output.strip()
        if self.strip_fences:
            fenced = _FENCE.match(text)
            if fenced:
                text = fenced.group(1).strip()
        try:
            value = json.loads(text)
        except ValueError as exc:
            msg = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
            return EvalOutcome(0.0, sc.JSON_INVALID, f"not JSON: {msg}")
        if self.schema is not None:
            problem = _validate(value, self.schema, "$")
            if problem is not None:
                return EvalOutcome(0.0, sc.JSON_SCHEMA_VIOLATION, problem)
        return EvalOutcome(1.0, sc.JSON_VALID, None)


_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n(.*?)\n?```$", re.DOTALL)
_JSON_TYPES: dict[str, Callable[[Any], bool]] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": lambda v: (isinstance(v, int) and not isinstance(v, bool))
    or (isinstance(v, float) and v.is_integer()),
    "number": lambda v: isinstance(v, int | float) and not isinstance(v, bool),
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _json_type(value: Any) -> str:
    for name in ("null", "boolean", "integer", "number", "string", "array", "object"):
        if _JSON_TYPES[name](value):
            return name
    return type(value).__name__


def _validate(value: Any, schema: Mapping[str, Any], path: str) -> str | None:
    """The first violation of ``schema`` at ``path`` as text, or ``None``."""
    expected = schema.get("type")
    if expected is not None:
        names = [expected] if isinstance(expected, str) else list(expected)
        if not any(_JSON_TYPES.get(n, lambda _v: True)(value) for n in names):
            return f"{path}: expected {' or '.join(names)}, got {_json_type(value)}"
    if "enum" in schema and value not in list(schema["enum"]):
        return f"{path}: not one of the {len(schema['enum'])} allowed values"
    if "const" in schema and value != schema["const"]:
        return f"{path}: not the expected constant"
    if isinstance(value, dict):
        for key in schema.get("required", ()):
            if key not in value:
                return f"{path}: missing required key {key!r}"
        properties: Mapping[str, Any] = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            extra = sorted(k for k in value if k not in properties)
            if extra:
                return f"{path}: unexpected key {extra[0]!r}"
        for key, sub in properties.items():
            if key in value and isinstance(sub, Mapping):
                problem = _validate(value[key], sub, f"{path}.{key}")
                if problem:
                    return problem
    if isinstance(value, list):
        if "minItems" in schema and len(value) < schema["minItems"]:
            return f"{path}: fewer than {schema['minItems']} items"
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            return f"{path}: more than {schema['maxItems']} items"
        items = schema.get("items")
        if isinstance(items, Mapping):
            for i, item in enumerate(value):
                problem = _validate(item, items, f"{path}[{i}]")
                if problem:
                    return problem
    return None


# Refusals lead the answer; a long answer that later says "I can't ..." is usually fine.
_REFUSAL_PATTERNS: tuple[tuple[str, str], ...] = (
    ("cannot_help", r"\bI(?:\s+(?:really\s+)?(?:can(?:'|no)t|can\s+not|won't|will\s+not|am\s+not\s+able|"
                    r"am\s+unable)|'m\s+(?:not\s+able|unable))\s+(?:to\s+)?(?:help(?!\s+but\b)|assist|comply|"
                    r"provide|fulfil|do\s+(?:that|this)|answer|support|engage|create|generate|write|share|give|"
                    r"participate|discuss)"),
    ("sorry_cannot", r"\b(?:I'm|I\s+am)\s+(?:sorry|afraid)\b[^.!?\n]{0,40}?\bI(?:\s+(?:can(?:'|no)t|can\s+not|"
                     r"won't|will\s+not|am\s+unable|am\s+not\s+able)|'m\s+(?:unable|not\s+able))"),
    ("as_an_ai", r"\bAs\s+an?\s+(?:AI|artificial\s+intelligence|large\s+language\s+model|language\s+model)\b"),
    ("not_allowed", r"\bI(?:'m|\s+am)\s+not\s+(?:allowed|permitted|authori[sz]ed)\s+to\b"),
    ("must_decline", r"\bI\s+(?:must|have\s+to|need\s+to)\s+(?:respectfully\s+)?(?:decline|refuse)\b"),
    ("policy", r"\b(?:against|violates?)\s+(?:my|our|the)\s+(?:\w+\s+)?(?:guidelines|polic(?:y|ies)|"
               r"content\s+policy|terms)"),
    ("unable_request", r"\bunable\s+to\s+(?:help|assist|comply)\s+with\s+(?:that|this|your)\b"),
)


class RefusalDetector:
    """Regex heuristics for a refusal ("I can't help with that", "As an AI ...").

    Label ``refusal`` (score 1.0) or ``answer`` (0.0); empty output is not judged
    (``None``). Only the first ``window`` characters are searched, because refusals lead
    while long answers may mention limits in passing. ``extra_patterns`` (regexes, case
    insensitive) extend the English built-ins; the explanation names the matching rule.
    """

    source = sc.EVAL_SOURCE_HEURISTIC
    evaluator = "llmotel.RefusalDetector"

    def __init__(self, *, extra_patterns: Sequence[str] = (), window: int = 400,
                 name: str = sc.EVAL_REFUSAL) -> None:
        self.name = name
        self.window = window
        rules = [*_REFUSAL_PATTERNS, *((f"custom_{i}", p) for i, p in enumerate(extra_patterns))]
        try:
            self._rules = [(rule, re.compile(p, re.IGNORECASE)) for rule, p in rules]
        except re.error as exc:
            raise ValueError(f"RefusalDetector: invalid pattern: {exc}") from None

    def __call__(self, sample: EvalSample) -> EvalOutcome | None:
        """Evaluate one sample."""
        text = sample.output[: self.window].replace("\u2019", "'").replace("\u2018", "'")
        if not text.strip():
            return None
        for rule, pattern in self._rules:
            if pattern.search(text):
                return EvalOutcome(1.0, sc.REFUSAL_REFUSAL, f"matched refusal rule {rule}")
        return EvalOutcome(0.0, sc.REFUSAL_ANSWER, None)


JudgeResult = EvalOutcome | float | int | bool | str | Mapping[str, Any] | tuple[Any, ...] | None


class JudgeFunction:
    """Wrap a user function (an LLM-as-judge, a rule, a classifier) as an :class:`Evaluator`.

    ``fn(sample)`` may return an :class:`EvalOutcome`; a number (score); a string
    (label); a bool (``True`` → score 1.0 label ``pass``, ``False`` → 0.0 ``fail``); a
    mapping with ``score``/``label``/``explanation``; a ``(score, label[, explanation])``
    tuple; or ``None`` to skip. An ``async def`` function is run to completion on the
    worker thread. ``source`` defaults to ``llm_judge``.
    """

    def __init__(
        self,
        name: str,
        fn: Callable[[EvalSample], JudgeResult | Awaitable[JudgeResult]],
        *,
        source: str = sc.EVAL_SOURCE_LLM_JUDGE,
        evaluator: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"JudgeFunction: name must be a non-empty string, got {name!r}")
        if not callable(fn):
            raise ValueError(f"JudgeFunction: fn must be callable, got {type(fn).__name__}")
        if source not in sc.EVAL_SOURCES:
            raise ValueError(f"JudgeFunction: source={source!r} is not valid; accepted: {', '.join(sc.EVAL_SOURCES)}")
        self.name = name
        self.source = source
        self.fn = fn
        qualname = getattr(fn, "__qualname__", None) or type(fn).__qualname__
        self.evaluator = evaluator or f"{getattr(fn, '__module__', None) or '?'}.{qualname}"

    def __call__(self, sample: EvalSample) -> EvalOutcome | None:
        """Run the function and normalise what it returned (``TypeError`` for other shapes)."""
        result = self.fn(sample)
        if inspect.isawaitable(result):
            result = asyncio.run(_await(result))
        return _to_outcome(result)


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _to_outcome(result: Any) -> EvalOutcome | None:
    if result is None or isinstance(result, EvalOutcome):
        return result
    if isinstance(result, bool):
        return EvalOutcome(1.0 if result else 0.0, "pass" if result else "fail")
    if isinstance(result, int | float):
        return EvalOutcome(score=float(result))
    if isinstance(result, str):
        return EvalOutcome(label=result)
    if isinstance(result, Mapping):
        unknown = set(result) - {"score", "label", "explanation"}
        if unknown:
            raise TypeError(f"judge returned unknown keys {sorted(unknown)}")
        return EvalOutcome(result.get("score"), result.get("label"), result.get("explanation"))
    if isinstance(result, tuple) and 1 <= len(result) <= 3:
        return EvalOutcome(*result)
    raise TypeError(f"judge returned {type(result).__name__}; expected EvalOutcome, number, str, mapping or tuple")


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _response_text(response: Any) -> str:
    """The text of an OpenAI chat completion / response or an Anthropic message, else ``""``."""
    try:
        choices = getattr(response, "choices", None)
        if choices:
            message = getattr(choices[0], "message", None)
            content = getattr(message, "content", None)
            return content if isinstance(content, str) else ""
        output_text = getattr(response, "output_text", None)
        if isinstance(output_text, str):
            return output_text
        blocks = getattr(response, "content", None)
        if isinstance(blocks, list):
            texts = [getattr(b, "text", None) for b in blocks if getattr(b, "type", None) == "text"]
            return "".join(t for t in texts if isinstance(t, str))
    except Exception:  # an unexpected shape: nothing to evaluate rather than a crash
        return ""
    return ""
