"""Every way a stream can end ends its span exactly once, with what arrived.

Paths: exhausted, close()/aclose, break inside with/async with, early return, an
exception mid-way (provider side and caller side), asyncio cancellation, created but
never iterated, dropped and garbage-collected — for chat and Responses streams, sync
and async, and the SDK's .stream() helpers.
"""

from __future__ import annotations

import asyncio
import gc
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from llmotel import semconv as sc
from tests.compat import requires_openai

MESSAGES = [{"role": "user", "content": "hello there"}]
REPLY = "one two three four five six"
HEADERS = {"x-fake-reply": REPLY}


def sync_client(fake: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key="t", base_url=fake.base_url, max_retries=0)


def async_client(fake: Any) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(api_key="t", base_url=fake.base_url, max_retries=0)


def chat_stream(client: Any, **kw: Any) -> Any:
    return client.chat.completions.create(model="m", messages=MESSAGES, stream=True,
                                          extra_headers={**HEADERS, **kw.pop("headers", {})}, **kw)


def only_span(otel: Any) -> Any:
    gc.collect()
    spans = otel.spans()
    assert len(spans) == 1, [s.name for s in spans]
    return spans[0]


def active_streams(otel: Any) -> int:
    points = otel.points(sc.METRIC_STREAMS_ACTIVE)
    return sum(p.value for p in points)


def test_exhausted(fake, otel):
    stream = chat_stream(sync_client(fake))
    assert otel.spans() == []  # still open while the caller reads
    chunks = list(stream)
    span = only_span(otel)
    assert span.attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "exhausted"
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert span.status.status_code is StatusCode.UNSET
    assert len(chunks) > 3
    assert active_streams(otel) == 0


def test_close_after_partial_read_records_partial_content(fake, instrument):
    otel = instrument(capture_content="SPAN_ONLY")
    stream = chat_stream(sync_client(fake))
    first = next(stream)
    second = next(stream)
    stream.close()
    stream.close()  # a second close is harmless and does not end the span again
    span = only_span(otel)
    a = span.attributes
    assert a[sc.LLMOTEL_STREAM_ENDED_BY] == "closed"
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)  # never arrived
    assert a[sc.GEN_AI_RESPONSE_ID] == first.id
    partial = (first.choices[0].delta.content or "") + (second.choices[0].delta.content or "")
    assert f'"content":"{partial}"' in a[sc.GEN_AI_OUTPUT_MESSAGES]
    assert active_streams(otel) == 0


def test_break_inside_with(fake, otel):
    with chat_stream(sync_client(fake)) as stream:
        for _ in stream:
            break
        assert otel.spans() == []
    span = only_span(otel)
    assert span.attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "closed"


def test_early_return_then_gc(fake, otel):
    def first_chunk() -> Any:
        for chunk in chat_stream(sync_client(fake)):
            return chunk
        return None

    assert first_chunk() is not None
    span = only_span(otel)
    assert span.attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "abandoned"
    (abandoned,) = otel.points(sc.METRIC_STREAMS_ABANDONED)
    assert abandoned.value == 1


def test_never_iterated_and_dropped(fake, otel):
    stream = chat_stream(sync_client(fake))
    del stream
    span = only_span(otel)
    assert span.attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "abandoned"
    assert sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK not in span.attributes


def test_provider_breaks_stream_midway(fake, otel):
    stream = chat_stream(sync_client(fake), headers={"x-fake-scenario": "stream_error"})
    with pytest.raises(Exception) as caught:
        for _ in stream:
            pass
    span = only_span(otel)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE].endswith(type(caught.value).__name__)
    assert span.attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "error"


def test_provider_error_event_midway(fake, otel):
    stream = chat_stream(sync_client(fake), headers={"x-fake-scenario": "stream_error_event"})
    with pytest.raises(openai.APIError) as caught:
        list(stream)
    span = only_span(otel)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == f"openai.{type(caught.value).__name__}"


def test_caller_raises_inside_with(fake, otel):
    with pytest.raises(KeyError), chat_stream(sync_client(fake)) as stream:
        next(stream)
        raise KeyError("app bug")
    span = only_span(otel)
    # The LLM call itself did not fail: the caller stopped reading.
    assert span.status.status_code is StatusCode.UNSET
    assert span.attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "closed"


@requires_openai("1.92", "chat.completions.stream")
def test_chat_stream_helper_break(fake, otel):
    with sync_client(fake).chat.completions.stream(model="m", messages=MESSAGES, extra_headers=HEADERS) as s:
        for _event in s:
            break
        assert otel.spans() == []
    span = only_span(otel)
    assert span.attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "closed"


@requires_openai("1.92", "chat.completions.stream")
def test_chat_stream_helper_final_completion(fake, otel):
    with sync_client(fake).chat.completions.stream(
        model="m", messages=MESSAGES, extra_headers=HEADERS, stream_options={"include_usage": True}
    ) as s:
        final = s.get_final_completion()
    assert final.choices[0].message.content == REPLY
    span = only_span(otel)
    assert span.attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "exhausted"
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == final.usage.completion_tokens


@requires_openai("1.66", "Responses API")
def test_responses_stream_break(fake, otel):
    stream = sync_client(fake).responses.create(model="m", input="hi", stream=True, extra_headers=HEADERS)
    with stream:
        for _ in stream:
            break
    span = only_span(otel)
    assert span.attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "closed"
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)


def test_stream_proxy_is_transparent(fake, otel):
    stream = chat_stream(sync_client(fake))
    assert isinstance(stream, openai.Stream)
    assert stream.response.status_code == 200
    assert iter(stream) is stream
    list(stream)


# --- async ------------------------------------------------------------------------
async def test_async_exhausted(fake, otel):
    stream = await chat_stream(async_client(fake))
    assert isinstance(stream, openai.AsyncStream)
    chunks = [c async for c in stream]
    assert chunks
    assert only_span(otel).attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "exhausted"


async def test_async_close(fake, otel):
    stream = await chat_stream(async_client(fake))
    await stream.__anext__()
    await stream.close()
    assert only_span(otel).attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "closed"


async def test_async_break_inside_async_with(fake, otel):
    async with await chat_stream(async_client(fake)) as stream:
        async for _ in stream:
            break
    assert only_span(otel).attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "closed"


async def test_async_cancelled(fake, otel):
    stream = await chat_stream(async_client(fake), headers={"x-fake-chunk-delay": "0.2"})

    async def consume() -> None:
        async for _ in stream:
            pass

    task = asyncio.create_task(consume())
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    span = only_span(otel)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "asyncio.exceptions.CancelledError"


async def test_async_cancelled_before_response(fake, otel):
    client = async_client(fake)
    task = asyncio.create_task(client.chat.completions.create(
        model="m", messages=MESSAGES, extra_headers={"x-fake-latency": "1"}))
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert only_span(otel).status.status_code is StatusCode.ERROR


async def test_async_dropped_unconsumed(fake, otel):
    stream = await chat_stream(async_client(fake))
    del stream
    assert only_span(otel).attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "abandoned"


@requires_openai("1.92", "chat.completions.stream")
async def test_async_chat_stream_helper(fake, otel):
    client = async_client(fake)
    async with client.chat.completions.stream(model="m", messages=MESSAGES, extra_headers=HEADERS) as s:
        async for _event in s:
            break
    assert only_span(otel).attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "closed"


@requires_openai("1.66", "Responses API")
async def test_async_responses_stream_exhausted(fake, otel):
    stream = await async_client(fake).responses.create(model="m", input="hi", stream=True, extra_headers=HEADERS)
    events = [e async for e in stream]
    span = only_span(otel)
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == events[-1].response.id
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)


def test_many_abandoned_streams_release_memory(fake, otel):
    """10k-style leak check, scaled: dropped streams leave no span or proxy behind."""
    import weakref

    client = sync_client(fake)
    refs = []
    for _ in range(50):
        stream = chat_stream(client)
        next(stream)
        refs.append(weakref.ref(stream))
        del stream
    gc.collect()
    assert all(r() is None for r in refs)
    assert len(otel.spans()) == 50
    assert active_streams(otel) == 0


@pytest.mark.timeout(30)  # a regression exhausts the pool: fail, do not hang
def test_dropped_streams_release_their_connections(fake, otel):
    """A dropped stream gives its HTTP connection back at once: a 2-connection pool survives 5 drops."""
    import httpx2 as httpx_module

    try:
        limits = httpx_module.Limits(max_connections=2, max_keepalive_connections=2)
    except AttributeError:  # pragma: no cover - openai < 3 uses httpx
        import httpx as httpx_module

        limits = httpx_module.Limits(max_connections=2, max_keepalive_connections=2)
    http_client = openai.DefaultHttpxClient(limits=limits, timeout=5)
    client = openai.OpenAI(api_key="t", base_url=fake.base_url, max_retries=0, http_client=http_client)
    gc.disable()  # only the drop itself may release the connection, not a lucky collection
    try:
        for _ in range(5):
            stream = chat_stream(client)
            next(stream)
            del stream
        assert client.chat.completions.create(model="m", messages=MESSAGES).choices
    finally:
        gc.enable()
    ended = [s.attributes.get(sc.LLMOTEL_STREAM_ENDED_BY) for s in otel.spans()]
    assert ended == ["abandoned"] * 5 + [None], ended
