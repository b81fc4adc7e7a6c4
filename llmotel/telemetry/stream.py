"""Transparent stream proxies that end the span exactly once, however a stream ends.

A stream can be exhausted, closed, left by ``break`` inside ``with``, raise mid-way,
be cancelled, or be dropped unconsumed; each path ends the invocation once, with
whatever content and usage arrived. The proxies forward every other attribute, so
helpers, ``isinstance`` checks and context-manager use keep working.
"""

from __future__ import annotations

import contextlib
import contextvars
from time import perf_counter
from typing import TYPE_CHECKING, Any, Protocol

import wrapt

from llmotel import semconv as sc

if TYPE_CHECKING:
    from llmotel.telemetry.handler import Telemetry
    from llmotel.telemetry.invocation import Invocation


class Accumulator(Protocol):
    """Per-library chunk handling: fold chunks, then write the result to the invocation."""

    def on_chunk(self, chunk: Any) -> bool | None:
        """Fold one chunk (called for every chunk; keep it cheap); True hides it from the caller."""

    def apply(self, inv: Invocation, complete: bool) -> None:
        """Copy what was accumulated onto ``inv``; ``complete`` is False for a cut-short stream."""


# Stream managers (``chat.completions.stream()``) create their stream lazily inside
# ``__enter__``; the create wrapper hands its proxy to the manager through this.
_CAPTURE: contextvars.ContextVar[list[Any] | None] = contextvars.ContextVar("llmotel_capture", default=None)

ENDED_EXHAUSTED = "exhausted"
ENDED_CLOSED = "closed"
ENDED_ABANDONED = "abandoned"
ENDED_ERROR = "error"


class _StreamState:
    """Shared end-of-stream logic for the sync and async proxies (no per-chunk work)."""

    __slots__ = ("acc", "count", "first", "gaps", "inv", "last", "tel")

    def __init__(self, tel: Telemetry, inv: Invocation, acc: Accumulator) -> None:
        self.tel = tel
        self.inv = inv
        self.acc = acc
        self.first = 0.0
        self.last = 0.0
        self.count = 0
        self.gaps: list[float] | None = [] if tel.settings.chunk_metric == "per_chunk" else None
        tel.instruments.active_streams.add(1)

    def chunk(self, chunk: Any) -> bool | None:
        now = perf_counter()
        if self.count == 0:
            self.first = now
        elif self.gaps is not None:
            self.gaps.append(now - self.last)
        self.last = now
        self.count += 1
        try:
            return self.acc.on_chunk(chunk)
        except Exception as exc:
            self.tel.internal_error("stream.chunk", exc)
            return None

    def end(self, how: str, exc: BaseException | None = None) -> None:
        inv = self.inv
        if inv.ended:
            return
        try:
            self.tel.instruments.active_streams.add(-1)
            if how == ENDED_ABANDONED:
                self.tel.instruments.abandoned_streams.add(1)
            if self.count:
                inv.ttfc = self.first - inv.start_time
                if self.gaps:
                    inv.chunk_gaps = self.gaps
                elif self.count > 1:
                    inv.mean_chunk_gap = (self.last - self.first) / (self.count - 1)
            self.acc.apply(inv, how == ENDED_EXHAUSTED)
        except Exception as inner:
            self.tel.internal_error("stream.end", inner)
        extra = {sc.LLMOTEL_STREAM_ENDED_BY: how}
        if exc is not None:
            inv.fail(exc, extra=extra)
        else:
            inv.finish(extra)


class SyncStreamProxy(wrapt.ObjectProxy):
    """Wraps an SDK ``Stream``; forwards everything, observes chunks and every ending."""

    def __init__(self, wrapped: Any, tel: Telemetry, inv: Invocation, acc: Accumulator) -> None:
        super().__init__(wrapped)
        self._self_state = _StreamState(tel, inv, acc)
        capture = _CAPTURE.get()
        if capture is not None:
            capture.append(self)

    def __iter__(self) -> SyncStreamProxy:
        return self

    def __next__(self) -> Any:
        while True:
            try:
                chunk = self.__wrapped__.__next__()
            except StopIteration:
                self._self_state.end(ENDED_EXHAUSTED)
                raise
            except BaseException as exc:
                self._self_state.end(ENDED_ERROR, exc)
                raise
            if not self._self_state.chunk(chunk):
                return chunk

    def __enter__(self) -> SyncStreamProxy:
        self.__wrapped__.__enter__()
        return self

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            self._self_state.end(ENDED_CLOSED)

    def close(self) -> None:
        """Close the underlying stream and end the span."""
        try:
            self.__wrapped__.close()
        finally:
            self._self_state.end(ENDED_CLOSED)

    def _llmotel_end(self, how: str = ENDED_CLOSED) -> None:
        self._self_state.end(how)

    def __del__(self) -> None:
        state = getattr(self, "_self_state", None)
        if state is not None and not state.inv.ended:
            state.end(ENDED_ABANDONED)
            # Nobody can read a dropped stream any more: release its HTTP connection now.
            # Left to the cyclic GC (openai's Stream is a reference cycle), the response
            # would be closed whenever a collection happens to run — with httpx/httpcore
            # possibly inside the pool's own lock, which deadlocks the next request.
            with contextlib.suppress(Exception):
                self.__wrapped__.close()


class AsyncStreamProxy(wrapt.ObjectProxy):
    """Wraps an SDK ``AsyncStream``; also ends the span on cancellation."""

    def __init__(self, wrapped: Any, tel: Telemetry, inv: Invocation, acc: Accumulator) -> None:
        super().__init__(wrapped)
        self._self_state = _StreamState(tel, inv, acc)
        capture = _CAPTURE.get()
        if capture is not None:
            capture.append(self)

    def __aiter__(self) -> AsyncStreamProxy:
        return self

    async def __anext__(self) -> Any:
        while True:
            try:
                chunk = await self.__wrapped__.__anext__()
            except StopAsyncIteration:
                self._self_state.end(ENDED_EXHAUSTED)
                raise
            except BaseException as exc:
                self._self_state.end(ENDED_ERROR, exc)
                raise
            if not self._self_state.chunk(chunk):
                return chunk

    async def __aenter__(self) -> AsyncStreamProxy:
        await self.__wrapped__.__aenter__()
        return self

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            self._self_state.end(ENDED_CLOSED)

    async def close(self) -> None:
        """Close the underlying stream and end the span."""
        try:
            await self.__wrapped__.close()
        finally:
            self._self_state.end(ENDED_CLOSED)

    def _llmotel_end(self, how: str = ENDED_CLOSED) -> None:
        self._self_state.end(how)

    def __del__(self) -> None:
        state = getattr(self, "_self_state", None)
        if state is not None and not state.inv.ended:
            state.end(ENDED_ABANDONED)


class SyncStreamManagerProxy(wrapt.ObjectProxy):
    """Wraps a ``with client....stream(...)`` manager so leaving the block ends the span.

    The SDK's stream helpers close the HTTP response directly, never our proxy, so
    without this a ``break`` inside the block would leave the span to the GC.
    """

    def __init__(self, wrapped: Any) -> None:
        super().__init__(wrapped)
        self._self_captured: list[Any] = []

    def __enter__(self) -> Any:
        token = _CAPTURE.set(self._self_captured)
        try:
            return self.__wrapped__.__enter__()
        finally:
            _CAPTURE.reset(token)

    def __exit__(self, *exc_info: Any) -> Any:
        try:
            return self.__wrapped__.__exit__(*exc_info)
        finally:
            for proxy in self._self_captured:
                proxy._llmotel_end()


class AsyncStreamManagerProxy(wrapt.ObjectProxy):
    """The ``async with`` counterpart of :class:`SyncStreamManagerProxy`."""

    def __init__(self, wrapped: Any) -> None:
        super().__init__(wrapped)
        self._self_captured: list[Any] = []

    async def __aenter__(self) -> Any:
        token = _CAPTURE.set(self._self_captured)
        try:
            return await self.__wrapped__.__aenter__()
        finally:
            _CAPTURE.reset(token)

    async def __aexit__(self, *exc_info: Any) -> Any:
        try:
            return await self.__wrapped__.__aexit__(*exc_info)
        finally:
            for proxy in self._self_captured:
                proxy._llmotel_end()
