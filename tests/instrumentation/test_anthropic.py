"""Anthropic: messages create/parse/stream, sync/async, beta, against the fake provider.

Covers attribute and metric conformance, cache-token arithmetic (golden values),
tool use and thinking blocks, every stream-ending path, content modes, error paths,
and the one-span-per-call decision about the SDK's own tracing.
"""

from __future__ import annotations

import asyncio
import gc
import json
from typing import Any

import anthropic
import pytest
from opentelemetry.trace import SpanKind, StatusCode

from llmotel import semconv as sc
from tests.compat import requires_anthropic

MESSAGES = [{"role": "user", "content": "hello there"}]
REPLY = "alpha beta gamma delta"
HEADERS = {"x-fake-reply": REPLY}
TOOLS = [{"name": "get_weather", "description": "weather", "input_schema": {"type": "object"}}]


def sync_client(fake: Any, **kw: Any) -> anthropic.Anthropic:
    retries = kw.pop("max_retries", 0)
    return anthropic.Anthropic(api_key="t", base_url=fake.anthropic_base_url, max_retries=retries, **kw)


def async_client(fake: Any, **kw: Any) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(api_key="t", base_url=fake.anthropic_base_url, max_retries=0, **kw)


def only_span(otel: Any) -> Any:
    gc.collect()
    spans = otel.spans()
    assert len(spans) == 1, [(s.name, s.instrumentation_scope.name) for s in spans]
    return spans[0]


def create(fake: Any, is_async: bool, namespace: str = "messages", **kwargs: Any) -> Any:
    kwargs.setdefault("model", "claude-sonnet-4-5")
    kwargs.setdefault("max_tokens", 64)
    kwargs.setdefault("messages", MESSAGES)
    kwargs.setdefault("extra_headers", HEADERS)

    def target(client: Any) -> Any:
        return client.beta.messages if namespace == "beta" else client.messages

    if not is_async:
        result = target(sync_client(fake)).create(**kwargs)
        return list(result) if kwargs.get("stream") else result

    async def run() -> Any:
        result = await target(async_client(fake)).create(**kwargs)
        return [e async for e in result] if kwargs.get("stream") else result

    return asyncio.run(run())


@pytest.mark.parametrize("namespace", ["messages", "beta"])
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_create_non_streaming(fake, otel, is_async, namespace):
    # anthropic 2.x dropped temperature/top_p/top_k from create(); older SDKs' values are mapped too.
    message = create(fake, is_async, namespace, system="be brief", stop_sequences=["END"])
    span = only_span(otel)
    assert span.name == "chat claude-sonnet-4-5"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    a = span.attributes
    assert a[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert a[sc.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert a[sc.SERVER_ADDRESS] == "127.0.0.1" and a[sc.SERVER_PORT] == fake.port
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 64
    assert a[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert a[sc.GEN_AI_RESPONSE_ID] == message.id
    assert a[sc.GEN_AI_RESPONSE_MODEL] == message.model
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)  # end_turn
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == message.usage.input_tokens
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == message.usage.output_tokens
    assert sc.GEN_AI_SYSTEM_INSTRUCTIONS not in a and sc.GEN_AI_INPUT_MESSAGES not in a
    (duration,) = otel.points(sc.METRIC_OPERATION_DURATION)
    assert duration.attributes[sc.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert duration.attributes[sc.GEN_AI_RESPONSE_MODEL] == message.model
    tokens = {p.attributes[sc.GEN_AI_TOKEN_TYPE]: p.sum for p in otel.points(sc.METRIC_TOKEN_USAGE)}
    assert tokens == {"input": message.usage.input_tokens, "output": message.usage.output_tokens}


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_create_streaming(fake, otel, is_async):
    events = create(fake, is_async, stream=True, extra_headers={**HEADERS, "x-fake-scenario": "cached"})
    span = only_span(otel)
    a = span.attributes
    start = next(e for e in events if e.type == "message_start").message
    delta = next(e for e in events if e.type == "message_delta")
    assert a[sc.GEN_AI_REQUEST_STREAM] is True
    assert a[sc.GEN_AI_RESPONSE_ID] == start.id
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert a[sc.LLMOTEL_STREAM_ENDED_BY] == "exhausted"
    # Usage assembled from message_start (input, cache) and message_delta (output).
    u = start.usage
    expected_input = u.input_tokens + (u.cache_read_input_tokens or 0) + (u.cache_creation_input_tokens or 0)
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == expected_input
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == u.cache_read_input_tokens > 0
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == delta.usage.output_tokens


def test_cache_token_arithmetic_golden(fake, otel):
    """Golden values: a 6-word cached system prefix, then a repeat that reads it from cache."""
    system = [{"type": "text", "text": "one two three four five six", "cache_control": {"type": "ephemeral"}}]
    kwargs = {"system": system, "messages": [{"role": "user", "content": "golden cache question"}]}
    first = create(fake, False, **kwargs)
    second = create(fake, False, **kwargs)
    a1, a2 = (s.attributes for s in otel.spans())
    assert first.usage.cache_creation_input_tokens == 6 and first.usage.cache_read_input_tokens == 0
    assert second.usage.cache_read_input_tokens == 6 and second.usage.cache_creation_input_tokens == 0
    uncached = first.usage.input_tokens
    assert uncached == 3
    # input_tokens = input + cache read + cache creation (SEMCONV.md), on both calls.
    assert a1[sc.GEN_AI_USAGE_INPUT_TOKENS] == 9 and a2[sc.GEN_AI_USAGE_INPUT_TOKENS] == 9
    assert a1[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 6 and a1[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 0
    assert a2[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == 6 and a2[sc.GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS] == 0
    (tokens_in,) = [p for p in otel.points(sc.METRIC_TOKEN_USAGE) if p.attributes[sc.GEN_AI_TOKEN_TYPE] == "input"]
    assert tokens_in.sum == 18


@requires_anthropic("0.47", "extended thinking (thinking=)")
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_tool_use_and_thinking_content(fake, instrument, stream):
    otel = instrument(capture_content="SPAN_ONLY")
    create(fake, False, stream=stream, tools=TOOLS, thinking={"type": "enabled", "budget_tokens": 1024},
           messages=[{"role": "user", "content": "what is the weather in Paris?"}], extra_headers={})
    a = only_span(otel).attributes
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_call",)
    (output,) = json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES])
    kinds = [p["type"] for p in output["parts"]]
    assert kinds[0] == "reasoning" and "tool_call" in kinds
    call = next(p for p in output["parts"] if p["type"] == "tool_call")
    assert call["name"] == "get_weather" and isinstance(call["arguments"], dict) and call["id"]
    assert output["parts"][0]["content"]  # the thinking text itself
    assert json.loads(a[sc.GEN_AI_TOOL_DEFINITIONS]) == [{"type": "function", "name": "get_weather"}]


def test_system_and_tool_result_mapping(fake, instrument):
    otel = instrument(capture_content="SPAN_ONLY")
    create(fake, False, system=[{"type": "text", "text": "be brief"}], tools=TOOLS, messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": [{"type": "tool_use", "id": "toolu_1", "name": "get_weather",
                                           "input": {"city": "Paris"}}]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "toolu_1", "content": "rainy"}]},
    ])
    a = only_span(otel).attributes
    assert json.loads(a[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [{"type": "text", "content": "be brief"}]
    inputs = json.loads(a[sc.GEN_AI_INPUT_MESSAGES])
    assert inputs[1]["parts"] == [{"type": "tool_call", "id": "toolu_1", "name": "get_weather",
                                   "arguments": {"city": "Paris"}}]
    assert inputs[2] == {"role": "tool", "parts": [{"type": "tool_call_response", "id": "toolu_1",
                                                     "response": "rainy"}]}


def test_max_tokens_finish_reason(fake, otel):
    create(fake, False, max_tokens=2)
    assert only_span(otel).attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)


@pytest.mark.parametrize(
    "namespace", ["messages", pytest.param("beta", marks=requires_anthropic("0.43", "beta.messages.stream"))]
)
def test_stream_helper_sync(fake, instrument, namespace):
    otel = instrument(capture_content="SPAN_ONLY")
    client = sync_client(fake)
    target = client.beta.messages if namespace == "beta" else client.messages
    with target.stream(model="claude-haiku-4-5", max_tokens=64, messages=MESSAGES, extra_headers=HEADERS) as s:
        text = "".join(s.text_stream)
        final = s.get_final_message()
    assert text == REPLY
    a = only_span(otel).attributes
    assert a[sc.GEN_AI_REQUEST_STREAM] is True
    assert a[sc.GEN_AI_RESPONSE_ID] == final.id
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == final.usage.output_tokens
    assert a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert a[sc.LLMOTEL_STREAM_ENDED_BY] == "exhausted"
    assert json.loads(a[sc.GEN_AI_OUTPUT_MESSAGES])[0]["parts"] == [{"type": "text", "content": REPLY}]


def test_stream_helper_until_done_and_break(fake, otel):
    client = sync_client(fake)
    with client.messages.stream(model="m", max_tokens=64, messages=MESSAGES, extra_headers=HEADERS) as s:
        s.until_done()
    assert only_span(otel).attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "exhausted"
    otel.clear()
    with client.messages.stream(model="m", max_tokens=64, messages=MESSAGES, extra_headers=HEADERS) as s:
        for _event in s:
            break
        assert otel.spans() == []
    span = only_span(otel)
    assert span.attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "closed"
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("error",)


async def test_stream_helper_async(fake, otel):
    client = async_client(fake)
    async with client.messages.stream(model="m", max_tokens=64, messages=MESSAGES, extra_headers=HEADERS) as s:
        chunks = [t async for t in s.text_stream]
        final = await s.get_final_message()
    assert "".join(chunks) == REPLY
    a = only_span(otel).attributes
    assert a[sc.GEN_AI_RESPONSE_ID] == final.id
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == final.usage.output_tokens


async def test_async_stream_paths(fake, otel):
    client = async_client(fake)
    stream = await client.messages.create(model="m", max_tokens=64, messages=MESSAGES, stream=True,
                                          extra_headers=HEADERS)
    async for _ in stream:
        break
    await stream.close()
    assert only_span(otel).attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "closed"
    otel.clear()

    stream = await client.messages.create(model="m", max_tokens=64, messages=MESSAGES, stream=True,
                                          extra_headers={**HEADERS, "x-fake-chunk-delay": "0.2"})

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
    otel.clear()

    dropped = await client.messages.create(model="m", max_tokens=64, messages=MESSAGES, stream=True)
    del dropped
    assert only_span(otel).attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "abandoned"


def test_sync_stream_paths(fake, otel):
    client = sync_client(fake)
    with client.messages.create(model="m", max_tokens=64, messages=MESSAGES, stream=True) as stream:
        for _ in stream:
            break
    assert only_span(otel).attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "closed"
    otel.clear()
    stream = client.messages.create(model="m", max_tokens=64, messages=MESSAGES, stream=True)
    next(iter(stream))
    del stream
    assert only_span(otel).attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "abandoned"
    otel.clear()
    with pytest.raises(anthropic.APIStatusError):
        list(client.messages.create(model="m", max_tokens=64, messages=MESSAGES, stream=True,
                                    extra_headers={"x-fake-scenario": "stream_error_event"}))
    span = only_span(otel)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "error"


@pytest.mark.parametrize(
    ("scenario", "exc_type", "status"),
    [
        ("rate_limit", anthropic.RateLimitError, 429),
        ("overloaded", anthropic.APIStatusError, 529),
        ("error_500", anthropic.InternalServerError, 500),
    ],
)
def test_api_errors(fake, otel, scenario, exc_type, status):
    with pytest.raises(exc_type) as caught:
        create(fake, False, extra_headers={"x-fake-scenario": scenario})
    assert caught.value.status_code == status
    span = only_span(otel)
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == f"anthropic.{type(caught.value).__name__}"
    (duration,) = otel.points(sc.METRIC_OPERATION_DURATION)
    assert duration.attributes[sc.ERROR_TYPE] == span.attributes[sc.ERROR_TYPE]


def test_timeout(fake, otel):
    with pytest.raises(anthropic.APITimeoutError):
        sync_client(fake, timeout=0.2).messages.create(
            model="m", max_tokens=8, messages=MESSAGES, extra_headers={"x-fake-scenario": "timeout",
                                                                        "x-fake-delay": "1"})
    assert only_span(otel).attributes[sc.ERROR_TYPE] == "anthropic.APITimeoutError"


def test_no_content_by_default(fake, otel):
    secret = "zebra-secret-prompt"
    create(fake, False, system=secret, messages=[{"role": "user", "content": secret}],
           extra_headers={"x-fake-reply": "quokka-secret-reply"})
    with sync_client(fake).messages.stream(model="m", max_tokens=8, messages=[{"role": "user", "content": secret}],
                                           extra_headers={"x-fake-reply": "quokka-secret-reply"}) as s:
        s.until_done()
    dump = json.dumps([dict(s.attributes) for s in otel.spans()])
    assert "zebra" not in dump and "quokka" not in dump
    assert otel.logs() == []


def test_event_only_content(fake, instrument):
    otel = instrument(capture_content="EVENT_ONLY")
    create(fake, False, system="be brief")
    (event,) = otel.logs()
    attrs = dict(event.attributes)
    assert attrs[sc.GEN_AI_SYSTEM_INSTRUCTIONS] == ({"type": "text", "content": "be brief"},) or attrs[
        sc.GEN_AI_SYSTEM_INSTRUCTIONS] == [{"type": "text", "content": "be brief"}]
    assert attrs[sc.GEN_AI_OUTPUT_MESSAGES][0]["parts"][0]["content"] == REPLY
    assert sc.GEN_AI_INPUT_MESSAGES not in only_span(otel).attributes


def test_sdk_native_span_is_off_by_default(fake, instrument):
    """anthropic 2.x would add its own `anthropic.messages.create` span; one call stays one span."""
    from opentelemetry import trace

    otel = instrument()
    previous = trace._TRACER_PROVIDER
    trace._TRACER_PROVIDER = otel.tracer_provider  # the SDK traces through the global provider
    try:
        create(fake, False)
        with sync_client(fake).messages.stream(model="m", max_tokens=8, messages=MESSAGES) as s:
            s.until_done()
        assert [s.name for s in otel.spans()] == ["chat claude-sonnet-4-5", "chat m"]
    finally:
        trace._TRACER_PROVIDER = previous


@requires_anthropic("1.14", "the SDK's own tracing (start_api_call_span)")
def test_sdk_native_span_kept_on_request(fake, instrument):
    from opentelemetry import trace

    otel = instrument(anthropic_native_spans=True)
    previous = trace._TRACER_PROVIDER
    trace._TRACER_PROVIDER = otel.tracer_provider
    try:
        create(fake, False)
        spans = {s.name: s for s in otel.spans()}
        assert set(spans) == {"chat claude-sonnet-4-5", "anthropic.messages.create"}
        native, ours = spans["anthropic.messages.create"], spans["chat claude-sonnet-4-5"]
        assert native.parent.span_id == ours.context.span_id
    finally:
        trace._TRACER_PROVIDER = previous


def test_raw_response(fake, otel):
    raw = sync_client(fake).messages.with_raw_response.create(model="m", max_tokens=8, messages=MESSAGES)
    message = raw.parse()
    assert only_span(otel).attributes[sc.GEN_AI_RESPONSE_ID] == message.id


def test_llmotel_bug_never_reaches_the_app(fake, instrument, monkeypatch):
    from llmotel.instrumentation.anthropic.messages import MessagesAccumulator, MessagesAdapter

    otel = instrument()
    monkeypatch.setattr(MessagesAdapter, "on_response", lambda *a: 1 / 0)
    monkeypatch.setattr(MessagesAccumulator, "on_chunk", lambda *a: 1 / 0)
    message = create(fake, False)
    assert message.content[0].text == REPLY
    with sync_client(fake).messages.stream(model="m", max_tokens=64, messages=MESSAGES, extra_headers=HEADERS) as s:
        assert s.get_final_message().content[0].text == REPLY
    assert len(otel.spans()) == 2
