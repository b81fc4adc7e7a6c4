"""Attribution: who and what a call was for, on every span, and on metrics when allowed.

``with llmotel.attributes(user_id=..., tenant_id=..., feature=...):`` (or as a decorator)
puts the values in the OpenTelemetry context. A span processor stamps them on every
span started inside — llmotel's and other instrumentations' (httpx, FastAPI, ...).
Allow-listed keys can travel to downstream services as W3C baggage, and allow-listed
keys become metric labels with a per-key cardinality cap (excess values fold into
``_OTHER``), so cost per tenant stays answerable without a label explosion.
"""

from __future__ import annotations

import functools
import inspect
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any, TypeVar

from opentelemetry import baggage
from opentelemetry import context as otel_context
from opentelemetry.sdk.trace import ReadableSpan, Span, SpanProcessor

from llmotel import semconv as sc

_KEY = otel_context.create_key("llmotel.attribution")
F = TypeVar("F", bound=Callable[..., Any])

# Attribution keyword -> span attribute (the conventions' names where they exist).
ATTRIBUTE_NAMES: dict[str, str] = {
    "user_id": "user.id",
    "session_id": "session.id",
    "tenant_id": "llmotel.tenant.id",
    "feature": sc.LLMOTEL_FEATURE,
    "prompt_name": sc.GEN_AI_PROMPT_NAME,
    "prompt_version": sc.GEN_AI_PROMPT_VERSION,
    "experiment": "llmotel.experiment",
    "variant": "llmotel.variant",
}


def attribute_name(key: str) -> str:
    """The span attribute for an attribution keyword (custom keys live under ``llmotel.attr.``)."""
    return ATTRIBUTE_NAMES.get(key) or f"llmotel.attr.{key}"


def current() -> Mapping[str, str]:
    """The attribution active in the current context ({span attribute: value})."""
    return otel_context.get_current().get(_KEY) or {}


class attributes:
    """Context manager and decorator adding attribution to every span started inside.

    Nested uses merge (inner values win). Values are strings (others are str()-ed);
    None values are ignored. Works on sync, async, generator and async-generator
    functions; for generators the context is active only while the body runs.
    """

    def __init__(self, user_id: str | None = None, session_id: str | None = None, tenant_id: str | None = None,
                 feature: str | None = None, prompt_name: str | None = None, prompt_version: str | None = None,
                 experiment: str | None = None, variant: str | None = None, **custom: Any) -> None:
        given = {"user_id": user_id, "session_id": session_id, "tenant_id": tenant_id, "feature": feature,
                 "prompt_name": prompt_name, "prompt_version": prompt_version, "experiment": experiment,
                 "variant": variant, **custom}
        self._values = {attribute_name(k): str(v) for k, v in given.items() if v is not None}
        self._tokens: list[object] = []

    def _context(self) -> otel_context.Context:
        ctx = otel_context.get_current()
        merged = {**(ctx.get(_KEY) or {}), **self._values}
        ctx = otel_context.set_value(_KEY, merged, ctx)
        for key in _settings().baggage_keys:
            value = self._values.get(attribute_name(key))
            if value is not None:
                ctx = baggage.set_baggage(attribute_name(key), value, ctx)
        return ctx

    def __enter__(self) -> attributes:
        self._tokens.append(otel_context.attach(self._context()))
        return self

    def __exit__(self, *exc_info: Any) -> None:
        otel_context.detach(self._tokens.pop())

    async def __aenter__(self) -> attributes:
        return self.__enter__()

    async def __aexit__(self, *exc_info: Any) -> None:
        self.__exit__(*exc_info)

    def __call__(self, fn: F) -> F:
        """Decorate ``fn`` so each call runs inside this attribution."""
        if inspect.isasyncgenfunction(fn):
            @functools.wraps(fn)
            async def agen_wrapper(*args: Any, **kwargs: Any) -> Any:
                gen = fn(*args, **kwargs)
                sent: Any = None
                while True:
                    token = otel_context.attach(self._context())
                    try:
                        item = await gen.asend(sent)
                    except StopAsyncIteration:
                        return
                    finally:
                        otel_context.detach(token)
                    sent = yield item

            return agen_wrapper  # type: ignore[return-value]
        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen_wrapper(*args: Any, **kwargs: Any) -> Iterator[Any]:
                gen = fn(*args, **kwargs)
                sent: Any = None
                while True:
                    token = otel_context.attach(self._context())
                    try:
                        item = gen.send(sent)
                    except StopIteration as stop:
                        return stop.value
                    finally:
                        otel_context.detach(token)
                    sent = yield item

            return gen_wrapper  # type: ignore[return-value]
        if inspect.iscoroutinefunction(fn):
            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = otel_context.attach(self._context())
                try:
                    return await fn(*args, **kwargs)
                finally:
                    otel_context.detach(token)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            token = otel_context.attach(self._context())
            try:
                return fn(*args, **kwargs)
            finally:
                otel_context.detach(token)

        return wrapper  # type: ignore[return-value]


class AttributionSpanProcessor(SpanProcessor):
    """Stamps the active attribution (and allow-listed baggage) on every span at start."""

    def __init__(self, baggage_keys: tuple[str, ...] = ()) -> None:
        self._baggage_names = tuple(attribute_name(k) for k in baggage_keys)

    def on_start(self, span: Span, parent_context: otel_context.Context | None = None) -> None:
        """Copy attribution from the parent context onto ``span``."""
        ctx = parent_context if parent_context is not None else otel_context.get_current()
        values = ctx.get(_KEY)
        if values:
            span.set_attributes(values)
        if self._baggage_names:
            # Downstream services: values arrived as W3C baggage on the incoming request.
            for name in self._baggage_names:
                if values and name in values:
                    continue
                value = baggage.get_baggage(name, ctx)
                if value is not None:
                    span.set_attribute(name, str(value))

    def on_end(self, span: ReadableSpan) -> None:
        """Nothing to do at end."""


class MetricLabels:
    """Allow-listed attribution as metric labels, each key capped at ``limit`` distinct values."""

    def __init__(self, keys: tuple[str, ...], limit: int) -> None:
        self._names = tuple(attribute_name(k) for k in keys)
        self._limit = limit
        self._seen: dict[str, set[str]] = {name: set() for name in self._names}
        self._lock = threading.Lock()

    def __bool__(self) -> bool:
        return bool(self._names)

    def labels(self) -> dict[str, str]:
        """Labels for the current context; values beyond the cap fold into ``_OTHER``."""
        values = current()
        out: dict[str, str] = {}
        for name in self._names:
            value = values.get(name)
            if value is None:
                continue
            seen = self._seen[name]
            if value not in seen:
                with self._lock:
                    if len(seen) < self._limit:
                        seen.add(value)
                    else:
                        value = sc.LABEL_OVERFLOW
            out[name] = value
        return out


_installed: Any = None


def install_processor(tracer_provider: Any, baggage_keys: tuple[str, ...]) -> None:
    """Add the attribution processor to ``tracer_provider`` (or the global one) once.

    Adding a processor that only sets attributes is not adding an exporter: spans of
    an app-owned provider still go only where the app sends them.
    """
    global _installed
    import weakref

    from opentelemetry import trace

    provider = tracer_provider if tracer_provider is not None else trace.get_tracer_provider()
    add = getattr(provider, "add_span_processor", None)
    if add is None:
        return
    if _installed is None:
        _installed = weakref.WeakSet()
    if provider in _installed:
        return
    add(AttributionSpanProcessor(baggage_keys))
    _installed.add(provider)


def _settings() -> Any:
    from llmotel.config import Settings
    from llmotel.sdk import get_settings

    return get_settings() or _default_settings(Settings)


@functools.lru_cache(maxsize=1)
def _default_settings(settings_cls: Any) -> Any:
    return settings_cls.load()
