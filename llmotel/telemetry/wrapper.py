"""Generic wrappers around a client library's API methods.

A per-library :class:`Adapter` only translates shapes; everything about calling the
original, never breaking the app, streams and raw responses lives here once, for all
providers. Every llmotel failure is caught, logged once and counted; the caller gets
exactly what the SDK returned and exactly the exception the SDK raised.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

import wrapt
from opentelemetry.context import attach, detach

from llmotel.telemetry.handler import Telemetry, suppressed
from llmotel.telemetry.stream import (
    Accumulator,
    AsyncStreamManagerProxy,
    AsyncStreamProxy,
    SyncStreamManagerProxy,
    SyncStreamProxy,
)

if TYPE_CHECKING:
    from llmotel.telemetry.invocation import Invocation

# Stainless SDKs (openai, anthropic) mark raw-response requests with this header:
# "stream" for with_streaming_response; anything else ("true" in openai, "raw" in
# anthropic) is with_raw_response, whose body is already read.
RAW_RESPONSE_HEADER = "X-Stainless-Raw-Response"
_UNSET = object()


class Adapter(Protocol):
    """Translation of one API method's request, response and chunks."""

    name: str

    def begin(self, tel: Telemetry, instance: Any, kwargs: dict[str, Any]) -> tuple[Invocation, dict[str, Any]]:
        """Start the invocation from the request; may return adjusted kwargs."""

    def is_stream(self, value: Any) -> bool:
        """True when the SDK returned a stream of chunks."""

    def on_response(self, inv: Invocation, value: Any) -> None:
        """Read a complete (non-streamed) response into ``inv``."""

    def new_accumulator(self, inv: Invocation) -> Accumulator:
        """A fresh chunk accumulator for one stream."""



class StreamingAdapter:
    """Base of adapters whose SDK call may return a ``Stream``/``AsyncStream``.

    (Response headers — rate limits, attempts — are read below the API layer, by the
    HTTP hooks in ``instrumentation/_stainless.py``, for every kind of response.)
    """

    def __init__(self, stream_types: tuple[type, ...]) -> None:
        self._stream_types = stream_types

    def is_stream(self, value: Any) -> bool:
        """True for the SDK's Stream/AsyncStream."""
        return isinstance(value, self._stream_types)


def sync_call(tel: Telemetry, adapter: Adapter) -> Callable[..., Any]:
    """A wrapt wrapper for a synchronous API method."""

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        if not tel.enabled or suppressed():
            return wrapped(*args, **kwargs)
        try:
            inv, call_kwargs = adapter.begin(tel, instance, kwargs)
        except Exception as exc:
            tel.internal_error(f"{adapter.name}.begin", exc)
            return wrapped(*args, **kwargs)
        token = attach(inv.context)
        try:
            result = wrapped(*args, **call_kwargs)
        except BaseException as exc:
            detach(token)
            inv.fail(exc)
            raise
        detach(token)
        return _on_result(tel, adapter, inv, result, False)

    return wrapper


def async_call(tel: Telemetry, adapter: Adapter) -> Callable[..., Any]:
    """A wrapt wrapper for an ``async def`` API method."""

    async def wrapper(
        wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Any:
        if not tel.enabled or suppressed():
            return await wrapped(*args, **kwargs)
        try:
            inv, call_kwargs = adapter.begin(tel, instance, kwargs)
        except Exception as exc:
            tel.internal_error(f"{adapter.name}.begin", exc)
            return await wrapped(*args, **kwargs)
        token = attach(inv.context)
        try:
            result = await wrapped(*args, **call_kwargs)
        except BaseException as exc:
            detach(token)
            inv.fail(exc)
            raise
        detach(token)
        return _on_result(tel, adapter, inv, result, True)

    return wrapper


def stream_manager(tel: Telemetry, is_async: bool) -> Callable[..., Any]:
    """A wrapper for ``.stream()`` helpers returning a context manager (see stream.py)."""
    proxy_cls = AsyncStreamManagerProxy if is_async else SyncStreamManagerProxy

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        if not tel.enabled:
            return manager
        try:
            return proxy_cls(manager)
        except Exception as exc:
            tel.internal_error("stream_manager", exc)
            return manager

    return wrapper


def _on_result(tel: Telemetry, adapter: Adapter, inv: Invocation, result: Any, is_async: bool) -> Any:
    try:
        if adapter.is_stream(result):
            proxy = AsyncStreamProxy if is_async else SyncStreamProxy
            return proxy(result, tel, inv, adapter.new_accumulator(inv))
        if _is_raw(type(result)):
            return _on_raw(tel, adapter, inv, result, is_async)
        adapter.on_response(inv, result)
        inv.finish()
    except Exception as exc:
        tel.internal_error(f"{adapter.name}.response", exc)
        inv.finish()
    return result


_RAW_TYPES: dict[type, bool] = {}


def _is_raw(cls: type) -> bool:
    """True for the SDKs' raw-response classes; cached per class (a miss costs an exception)."""
    raw = _RAW_TYPES.get(cls)
    if raw is None:
        raw = hasattr(cls, "http_request") and hasattr(cls, "parse")
        if len(_RAW_TYPES) < 256:
            _RAW_TYPES[cls] = raw
    return raw


def _on_raw(tel: Telemetry, adapter: Adapter, inv: Invocation, raw: Any, is_async: bool) -> Any:
    mode = raw.http_response.request.headers.get(RAW_RESPONSE_HEADER)
    if mode != "stream" and not inv.streaming:
        # with_raw_response: the body is already in memory and parse() caches its
        # result, so parsing here changes nothing for the caller and ends the span now.
        adapter.on_response(inv, raw.parse())
        inv.finish()
        return raw
    if inspect.iscoroutinefunction(raw.parse):
        return AsyncRawResponseProxy(raw, tel, adapter, inv, is_async)
    return SyncRawResponseProxy(raw, tel, adapter, inv, is_async)


def _on_parsed(proxy: Any, value: Any) -> Any:
    tel: Telemetry = proxy._self_tel
    adapter: Adapter = proxy._self_adapter
    inv: Invocation = proxy._self_inv
    try:
        if adapter.is_stream(value):
            cls = AsyncStreamProxy if proxy._self_async else SyncStreamProxy
            value = cls(value, tel, inv, adapter.new_accumulator(inv))
        else:
            adapter.on_response(inv, value)
            inv.finish()
    except Exception as exc:
        tel.internal_error(f"{adapter.name}.raw_parse", exc)
        inv.finish()
    proxy._self_parsed = value
    return value


class _RawProxyBase(wrapt.ObjectProxy):
    def __init__(self, wrapped: Any, tel: Telemetry, adapter: Adapter, inv: Invocation, is_async: bool) -> None:
        super().__init__(wrapped)
        self._self_tel = tel
        self._self_adapter = adapter
        self._self_inv = inv
        self._self_async = is_async
        self._self_parsed = _UNSET

    def _end_on_close(self) -> None:
        parsed = self._self_parsed
        end_stream = getattr(parsed, "_llmotel_end", None) if parsed is not _UNSET else None
        if end_stream is not None:
            end_stream()
        else:
            self._self_inv.finish()

    def __del__(self) -> None:
        inv = getattr(self, "_self_inv", None)
        if inv is not None and not inv.ended:
            inv.finish()


class SyncRawResponseProxy(_RawProxyBase):
    """``with_raw_response`` streams and ``with_streaming_response``: telemetry on parse()."""

    def parse(self, *args: Any, **kwargs: Any) -> Any:
        """Parse as the SDK does; the first default parse feeds telemetry."""
        if args or kwargs:
            return self.__wrapped__.parse(*args, **kwargs)
        if self._self_parsed is not _UNSET:
            return self._self_parsed
        try:
            value = self.__wrapped__.parse()
        except BaseException as exc:
            self._self_inv.fail(exc)
            raise
        return _on_parsed(self, value)

    def close(self) -> None:
        """Close the response and end the span if parse() never did."""
        try:
            self.__wrapped__.close()
        finally:
            self._end_on_close()


class AsyncRawResponseProxy(_RawProxyBase):
    """The ``AsyncAPIResponse`` counterpart (async ``parse()`` and ``close()``)."""

    async def parse(self, *args: Any, **kwargs: Any) -> Any:
        """Parse as the SDK does; the first default parse feeds telemetry."""
        if args or kwargs:
            return await self.__wrapped__.parse(*args, **kwargs)
        if self._self_parsed is not _UNSET:
            return self._self_parsed
        try:
            value = await self.__wrapped__.parse()
        except BaseException as exc:
            self._self_inv.fail(exc)
            raise
        return _on_parsed(self, value)

    async def close(self) -> None:
        """Close the response and end the span if parse() never did."""
        try:
            await self.__wrapped__.close()
        finally:
            self._end_on_close()


def lazy_stream_manager(tel: Telemetry, adapter: Adapter, is_async: bool) -> Callable[..., Any]:
    """A wrapper for ``.stream()`` helpers that send the request themselves on ``__enter__``.

    (Anthropic's ``messages.stream()`` posts directly instead of calling ``create``.)
    The invocation starts when the block is entered, our stream proxy replaces the
    helper's raw stream before its first read, and leaving the block ends the span.
    """
    proxy_cls = _AsyncLazyManager if is_async else _SyncLazyManager

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        manager = wrapped(*args, **kwargs)
        if not tel.enabled:
            return manager
        return proxy_cls(manager, tel, adapter, instance, {**kwargs, "stream": True})

    return wrapper


class _LazyManagerBase(wrapt.ObjectProxy):
    def __init__(self, wrapped: Any, tel: Telemetry, adapter: Adapter, instance: Any, kwargs: dict[str, Any]) -> None:
        super().__init__(wrapped)
        self._self_tel = tel
        self._self_adapter = adapter
        self._self_instance = instance
        self._self_kwargs = kwargs
        self._self_inv: Invocation | None = None
        self._self_stream: Any = None

    def _start(self) -> Any:
        if suppressed():
            return None
        try:
            inv, _ = self._self_adapter.begin(self._self_tel, self._self_instance, self._self_kwargs)
        except Exception as exc:
            self._self_tel.internal_error(f"{self._self_adapter.name}.begin", exc)
            return None
        self._self_inv = inv
        return attach(inv.context)

    def _splice(self, helper: Any, proxy_cls: type) -> None:
        inv = self._self_inv
        if inv is None:
            return
        try:
            raw = helper._raw_stream
            self._self_stream = proxy_cls(raw, self._self_tel, inv, self._self_adapter.new_accumulator(inv))
            helper._raw_stream = self._self_stream
        except Exception as exc:
            self._self_tel.internal_error(f"{self._self_adapter.name}.stream", exc)

    def _end(self) -> None:
        if self._self_stream is not None:
            self._self_stream._llmotel_end()
        elif self._self_inv is not None:
            self._self_inv.finish()


class _SyncLazyManager(_LazyManagerBase):
    def __enter__(self) -> Any:
        token = self._start()
        try:
            helper = self.__wrapped__.__enter__()
        except BaseException as exc:
            if token is not None:
                detach(token)
                self._self_inv.fail(exc)
            raise
        if token is not None:
            detach(token)
            self._splice(helper, SyncStreamProxy)
        return helper

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._end()


class _AsyncLazyManager(_LazyManagerBase):
    async def __aenter__(self) -> Any:
        token = self._start()
        try:
            helper = await self.__wrapped__.__aenter__()
        except BaseException as exc:
            if token is not None:
                detach(token)
                self._self_inv.fail(exc)
            raise
        if token is not None:
            detach(token)
            self._splice(helper, AsyncStreamProxy)
        return helper

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._end()
