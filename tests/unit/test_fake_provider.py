"""The fake LLM provider, exercised through the real openai and anthropic SDKs."""

from __future__ import annotations

import base64
import json
import math
import os
import signal
import struct
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import anthropic
import httpx2
import openai
import pytest

from llmotel.demo.fake_provider import (
    REASONING_TOKENS,
    TOOL_ARGUMENTS,
    FakeProvider,
    count_tokens,
    embedding_vector,
    reply_text,
    thinking_text,
)

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Current weather for a city",
        "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
    },
}
RESPONSES_TOOL = {"type": "function", "name": "lookup_weather", "parameters": WEATHER_TOOL["function"]["parameters"]}
ANTHROPIC_TOOL = {
    "name": "get_forecast",
    "description": "Forecast for a city",
    "input_schema": {"type": "object", "properties": {"location": {"type": "string"}}},
}


def tag() -> str:
    """A unique marker, so tests sharing the module's provider never share state."""
    return uuid.uuid4().hex[:8]


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def scenario(*names: str, **extra: str) -> dict[str, str]:
    return {"x-fake-scenario": ",".join(names), **extra}


@pytest.fixture(scope="module")
def provider() -> Iterator[FakeProvider]:
    with FakeProvider() as fake:
        yield fake


@pytest.fixture
def oai(provider: FakeProvider) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=provider.base_url, api_key="test", max_retries=0)
    yield client
    client.close()


@pytest.fixture
async def aoai(provider: FakeProvider) -> AsyncIterator[openai.AsyncOpenAI]:
    client = openai.AsyncOpenAI(base_url=provider.base_url, api_key="test", max_retries=0)
    yield client
    await client.close()


@pytest.fixture
def ant(provider: FakeProvider) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(base_url=provider.anthropic_base_url, api_key="test", max_retries=0)
    yield client
    client.close()


@pytest.fixture
async def aant(provider: FakeProvider) -> AsyncIterator[anthropic.AsyncAnthropic]:
    client = anthropic.AsyncAnthropic(base_url=provider.anthropic_base_url, api_key="test", max_retries=0)
    yield client
    await client.close()


# --------------------------------------------------------------------------- pure helpers


def test_token_rule_and_reply_text() -> None:
    assert count_tokens("") == 0
    assert count_tokens("  one two\nthree\tfour ") == 4
    assert reply_text("a b c d e f g h i j") == "This is a fake reply to: a b c d e f g h"
    assert reply_text("") == "This is a fake reply."
    assert reply_text("ignored", "pinned") == "pinned"


def test_embedding_vector_is_deterministic_unit_float32() -> None:
    vector = embedding_vector("hello")
    assert vector == embedding_vector("hello") != embedding_vector("world")
    assert len(vector) == 8 and len(embedding_vector([1, 2, 3], 20)) == 20
    assert math.isclose(math.sqrt(sum(v * v for v in vector)), 1.0, rel_tol=1e-6)
    assert list(struct.unpack("<8f", struct.pack("<8f", *vector))) == vector


def test_addresses_and_lifecycle() -> None:
    fake = FakeProvider()
    with pytest.raises(RuntimeError):
        _ = fake.port
    with fake:
        assert fake.start() is fake  # idempotent
        assert fake.base_url == f"http://127.0.0.1:{fake.port}/v1"
        assert fake.anthropic_base_url == f"http://127.0.0.1:{fake.port}"
        with openai.OpenAI(base_url=fake.base_url, api_key="test", max_retries=0) as client:
            client.chat.completions.create(model="m", messages=user("hi"))
    started = time.perf_counter()
    fake.stop()  # second stop is a no-op
    assert time.perf_counter() - started < 0.1


# --------------------------------------------------------------------------- chat completions


def test_chat_completion(oai: openai.OpenAI, provider: FakeProvider) -> None:
    messages = [
        {"role": "system", "content": "You are terse."},
        {"role": "user", "content": [{"type": "text", "text": "Tell me about the sea and the sky please now"}]},
    ]
    completion = oai.chat.completions.create(model="gpt-4o-mini", messages=messages)
    expected = reply_text("Tell me about the sea and the sky please now")
    assert completion.id.startswith("chatcmpl-fake-")
    assert completion.object == "chat.completion"
    assert completion.model == "gpt-4o-mini"
    assert completion.system_fingerprint and completion.created > 0
    assert completion.service_tier == "default"
    [choice] = completion.choices
    assert choice.message.role == "assistant" and choice.message.content == expected
    assert choice.finish_reason == "stop"
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens == count_tokens("You are terse. Tell me about the sea and the sky please now")
    assert usage.completion_tokens == count_tokens(expected)
    assert usage.total_tokens == usage.prompt_tokens + usage.completion_tokens
    assert usage.prompt_tokens_details and usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details and usage.completion_tokens_details.reasoning_tokens == 0
    recorded = provider.requests[-1]
    assert (recorded.method, recorded.path) == ("POST", "/v1/chat/completions")
    assert recorded.json["messages"] == messages
    assert recorded.headers["authorization"] == "Bearer test"


def test_chat_echoes_service_tier_and_honours_overrides(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="gpt-4o",
        messages=user("hi"),
        service_tier="flex",
        extra_headers={"x-fake-reply": "Pinned  reply.", "x-fake-model": "gpt-4o-2024-08-06"},
    )
    assert completion.service_tier == "flex"
    assert completion.model == "gpt-4o-2024-08-06"
    assert completion.choices[0].message.content == "Pinned  reply."


def test_chat_n_choices_and_max_tokens(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(model="m", messages=user("one two"), n=2)
    assert [c.index for c in completion.choices] == [0, 1]
    assert completion.usage and completion.usage.completion_tokens == 2 * count_tokens(reply_text("one two"))
    truncated = oai.chat.completions.create(model="m", messages=user("one two"), max_completion_tokens=3)
    assert truncated.choices[0].message.content == "This is a"
    assert truncated.choices[0].finish_reason == "length"
    assert truncated.usage and truncated.usage.completion_tokens == 3


def test_chat_stream_without_usage(oai: openai.OpenAI) -> None:
    chunks = list(oai.chat.completions.create(model="m", messages=user("stream this text"), stream=True))
    assert all(chunk.choices and chunk.usage is None for chunk in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    assert all(chunk.object == "chat.completion.chunk" and chunk.id == chunks[0].id for chunk in chunks)
    text = "".join(chunk.choices[0].delta.content or "" for chunk in chunks)
    assert text == reply_text("stream this text")
    assert len(chunks) == count_tokens(text) + 2  # role chunk, one chunk per word, finish chunk
    assert [c.choices[0].finish_reason for c in chunks][-2:] == [None, "stop"]


def test_chat_stream_with_usage(oai: openai.OpenAI) -> None:
    stream = oai.chat.completions.create(
        model="m", messages=user("count me"), stream=True, stream_options={"include_usage": True}
    )
    chunks = list(stream)
    *content, last = chunks
    assert last.choices == [] and last.usage is not None
    assert all(chunk.choices and chunk.usage is None for chunk in content)
    assert last.usage.prompt_tokens == 2
    assert last.usage.completion_tokens == count_tokens(reply_text("count me"))


def test_chat_tool_call(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="m", messages=user("What's the weather in Paris?"), tools=[WEATHER_TOOL]
    )
    [choice] = completion.choices
    assert choice.finish_reason == "tool_calls" and choice.message.content is None
    [call] = choice.message.tool_calls or []
    assert call.id == "call_fake_1" and call.type == "function"
    assert call.function.name == "get_weather"
    assert json.loads(call.function.arguments) == TOOL_ARGUMENTS
    assert completion.usage and completion.usage.completion_tokens == count_tokens(call.function.arguments)

    # Right after a tool result the fake model answers in text, so agent loops terminate.
    follow_up = [
        *user("What's the weather in Paris?"),
        {"role": "assistant", "tool_calls": [call.model_dump()]},
        {"role": "tool", "tool_call_id": call.id, "content": "Sunny"},
    ]
    answer = oai.chat.completions.create(model="m", messages=follow_up, tools=[WEATHER_TOOL])
    assert answer.choices[0].finish_reason == "stop"


def test_chat_tool_call_stream(oai: openai.OpenAI) -> None:
    chunks = list(
        oai.chat.completions.create(
            model="m", messages=user("hello"), tools=[WEATHER_TOOL], stream=True, extra_headers=scenario("tool_call")
        )
    )
    deltas = [tc for chunk in chunks for tc in chunk.choices[0].delta.tool_calls or []]
    first, *rest = deltas
    assert first.index == 0 and first.id == "call_fake_1" and first.type == "function"
    assert first.function and first.function.name == "get_weather" and first.function.arguments == ""
    assert len(rest) > 1 and all(d.id is None and d.function and d.function.name is None for d in rest)
    arguments = "".join(d.function.arguments or "" for d in rest if d.function)
    assert json.loads(arguments) == TOOL_ARGUMENTS
    assert chunks[-1].choices[0].finish_reason == "tool_calls"


def test_model_suffix_selects_scenarios_and_is_stripped(oai: openai.OpenAI) -> None:
    completion = oai.chat.completions.create(
        model="gpt-4o-mini@tool_call,cached,reasoning", messages=user("a b c d e f"), tools=[WEATHER_TOOL]
    )
    assert completion.model == "gpt-4o-mini"
    assert completion.choices[0].finish_reason == "tool_calls"
    usage = completion.usage
    assert usage and usage.prompt_tokens_details and usage.completion_tokens_details
    assert usage.prompt_tokens_details.cached_tokens == 3
    assert usage.completion_tokens_details.reasoning_tokens == REASONING_TOKENS
    assert usage.completion_tokens == REASONING_TOKENS + count_tokens(json.dumps(TOOL_ARGUMENTS))
    # A suffix made of unknown names is part of the model name (Vertex AI style).
    assert oai.chat.completions.create(model="claude@20241022", messages=user("x")).model == "claude@20241022"


async def test_async_chat(aoai: openai.AsyncOpenAI) -> None:
    completion = await aoai.chat.completions.create(model="m", messages=user("async please"))
    assert completion.choices[0].message.content == reply_text("async please")
    stream = await aoai.chat.completions.create(model="m", messages=user("async stream"), stream=True)
    text = "".join([chunk.choices[0].delta.content or "" async for chunk in stream])
    assert text == reply_text("async stream")


def test_connections_are_reused(oai: openai.OpenAI, provider: FakeProvider) -> None:
    key = tag()
    for _ in range(20):
        oai.chat.completions.create(model="m", messages=user("again"), extra_headers={"x-fake-key": key})
    clients = {r.client for r in list(provider.requests) if r.headers.get("x-fake-key") == key}
    assert len(clients) == 1


def test_concurrent_requests(provider: FakeProvider) -> None:
    ids: list[str] = []
    errors: list[BaseException] = []
    with openai.OpenAI(base_url=provider.base_url, api_key="test", max_retries=0) as client:

        def worker() -> None:
            try:
                for _ in range(10):
                    ids.append(client.chat.completions.create(model="m", messages=user("hey")).id)
            except BaseException as exc:  # surfaced by the assertion below
                errors.append(exc)

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert not errors and len(set(ids)) == 80


# --------------------------------------------------------------------------- responses API


def test_responses_create(oai: openai.OpenAI) -> None:
    response = oai.responses.create(
        model="gpt-4.1",
        instructions="Be brief.",
        input=[{"role": "user", "content": [{"type": "input_text", "text": "Explain tides to me"}]}],
    )
    assert response.id.startswith("resp_fake_") and response.object == "response"
    assert response.status == "completed" and response.model == "gpt-4.1"
    assert response.output_text == reply_text("Explain tides to me")
    usage = response.usage
    assert usage is not None
    assert usage.input_tokens == count_tokens("Be brief. Explain tides to me")
    assert usage.output_tokens == count_tokens(response.output_text)
    assert usage.total_tokens == usage.input_tokens + usage.output_tokens
    assert usage.input_tokens_details.cached_tokens == 0
    assert usage.output_tokens_details.reasoning_tokens == 0


def test_responses_usage_scenarios_and_truncation(oai: openai.OpenAI) -> None:
    response = oai.responses.create(
        model="m", input="one two three four five", extra_headers=scenario("cached", "reasoning")
    )
    assert response.usage is not None
    assert response.usage.input_tokens_details.cached_tokens == 2
    assert response.usage.output_tokens_details.reasoning_tokens == REASONING_TOKENS
    assert response.usage.output_tokens == REASONING_TOKENS + count_tokens(response.output_text)
    truncated = oai.responses.create(
        model="m", input="hi", max_output_tokens=16, extra_headers={"x-fake-reply": " ".join(["w"] * 20)}
    )
    assert truncated.status == "incomplete" and truncated.incomplete_details
    assert truncated.incomplete_details.reason == "max_output_tokens"
    assert count_tokens(truncated.output_text) == 16


def test_responses_stream(oai: openai.OpenAI) -> None:
    with oai.responses.stream(model="gpt-4.1", input="Stream a few words") as stream:
        events = list(stream)
        final = stream.get_final_response()
    types = [event.type for event in events]
    assert types[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert types[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert types.count("response.output_text.delta") == count_tokens(reply_text("Stream a few words"))
    assert [event.sequence_number for event in events] == list(range(len(events)))
    assert final.output_text == reply_text("Stream a few words")
    assert final.usage and final.usage.input_tokens == 4


def test_responses_function_call(oai: openai.OpenAI) -> None:
    response = oai.responses.create(model="m", input="weather in Oslo?", tools=[RESPONSES_TOOL])
    [item] = response.output
    assert item.type == "function_call" and item.name == "lookup_weather"
    assert item.call_id == "call_fake_1" and json.loads(item.arguments) == TOOL_ARGUMENTS

    with oai.responses.stream(model="m", input="weather in Oslo?", tools=[RESPONSES_TOOL]) as stream:
        deltas = [e.delta for e in stream if e.type == "response.function_call_arguments.delta"]
        final = stream.get_final_response()
    assert len(deltas) > 1 and json.loads("".join(deltas)) == TOOL_ARGUMENTS
    assert final.output[0].type == "function_call"


async def test_async_responses_stream(aoai: openai.AsyncOpenAI) -> None:
    async with aoai.responses.stream(model="m", input="async responses") as stream:
        final = await stream.get_final_response()
    assert final.output_text == reply_text("async responses")


# --------------------------------------------------------------------------- embeddings


def test_embeddings_float_and_base64(oai: openai.OpenAI, provider: FakeProvider) -> None:
    floats = oai.embeddings.create(
        model="text-embedding-3-small", input=["alpha beta", "gamma"], encoding_format="float"
    )
    assert provider.requests[-1].json["encoding_format"] == "float"
    assert [d.index for d in floats.data] == [0, 1]
    assert floats.data[0].embedding == embedding_vector("alpha beta")
    assert floats.usage.prompt_tokens == floats.usage.total_tokens == 3

    # By default the SDK asks for base64 and decodes it back into floats.
    decoded = oai.embeddings.create(model="text-embedding-3-small", input=["alpha beta", "gamma"])
    assert provider.requests[-1].json["encoding_format"] == "base64"
    assert [d.embedding for d in decoded.data] == [d.embedding for d in floats.data]

    raw = oai.embeddings.create(model="e", input="alpha beta", encoding_format="base64")
    packed = base64.b64decode(raw.data[0].embedding)  # type: ignore[arg-type]
    assert list(struct.unpack("<8f", packed)) == embedding_vector("alpha beta")


def test_embeddings_dimensions_and_token_arrays(oai: openai.OpenAI) -> None:
    result = oai.embeddings.create(model="e", input=[[1, 2, 3], [4, 5]], dimensions=16)
    assert [len(d.embedding) for d in result.data] == [16, 16]
    assert result.data[1].embedding == embedding_vector([4, 5], 16)
    assert result.usage.prompt_tokens == 5


# --------------------------------------------------------------------------- OpenAI failures


@pytest.mark.parametrize(
    ("name", "error", "status", "error_type"),
    [
        ("error_500", openai.InternalServerError, 500, "server_error"),
        ("rate_limit", openai.RateLimitError, 429, "rate_limit_exceeded"),
        ("overloaded", openai.InternalServerError, 503, "server_error"),
        ("bad_request", openai.BadRequestError, 400, "invalid_request_error"),
    ],
)
def test_openai_error_scenarios(
    oai: openai.OpenAI, name: str, error: type[openai.APIStatusError], status: int, error_type: str
) -> None:
    with pytest.raises(error) as caught:
        oai.chat.completions.create(model="m", messages=user("x"), extra_headers=scenario(name))
    assert caught.value.status_code == status
    assert isinstance(caught.value.body, dict) and caught.value.body["type"] == error_type
    headers = caught.value.response.headers
    assert headers["x-request-id"].startswith("req_fake_")
    if name == "rate_limit":
        assert caught.value.code == "rate_limit_exceeded"
        assert headers["retry-after"] == "1" and headers["retry-after-ms"] == "1000"
        assert headers["x-ratelimit-remaining-requests"] == "0"
        assert headers["x-ratelimit-remaining-tokens"] == "0"


def test_openai_timeout(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.APITimeoutError):
        oai.with_options(timeout=0.1).chat.completions.create(
            model="m", messages=user("x"), extra_headers=scenario("timeout", **{"x-fake-delay": "2"})
        )


def test_openai_stream_faults(oai: openai.OpenAI) -> None:
    received: list[str] = []
    with pytest.raises(openai.APIConnectionError):
        for chunk in oai.chat.completions.create(
            model="m", messages=user("x y z"), stream=True, extra_headers=scenario("stream_error")
        ):
            received.append(chunk.choices[0].delta.content or "")
    assert received == ["", "This", " is"]  # a partial answer, then the connection drops

    with pytest.raises(openai.APIError, match="error while streaming"):
        for _ in oai.chat.completions.create(
            model="m", messages=user("x"), stream=True, extra_headers=scenario("stream_error_event")
        ):
            pass

    with (
        pytest.raises(openai.APIError, match="error while streaming"),
        oai.responses.stream(model="m", input="x", extra_headers=scenario("stream_error_event")) as stream,
    ):
        stream.get_final_response()


def test_openai_fail_once_is_retried(provider: FakeProvider) -> None:
    key = tag()
    headers = scenario("fail_once", **{"x-fake-key": key})
    with openai.OpenAI(base_url=provider.base_url, api_key="test", max_retries=1) as client:
        completion = client.chat.completions.create(model="m", messages=user("retry me"), extra_headers=headers)
    assert completion.choices[0].message.content == reply_text("retry me")
    attempts = [r for r in list(provider.requests) if r.headers.get("x-fake-key") == key]
    assert [r.headers["x-stainless-retry-count"] for r in attempts] == ["0", "1"]


def test_openai_rate_limit_headers_decrease(oai: openai.OpenAI) -> None:
    model = f"gpt-rl-{tag()}"
    first = oai.chat.completions.with_raw_response.create(model=model, messages=user("a b"))
    second = oai.chat.completions.with_raw_response.create(model=model, messages=user("a b"))
    used = first.parse().usage
    assert used is not None
    h1, h2 = first.headers, second.headers
    assert h1["x-ratelimit-limit-requests"] == "10000" and h1["x-ratelimit-limit-tokens"] == "1000000"
    assert int(h1["x-ratelimit-remaining-requests"]) == 9999
    assert int(h2["x-ratelimit-remaining-requests"]) == 9998
    assert int(h1["x-ratelimit-remaining-tokens"]) == 1_000_000 - used.total_tokens
    assert int(h2["x-ratelimit-remaining-tokens"]) == 1_000_000 - 2 * used.total_tokens
    assert h1["x-ratelimit-reset-requests"] and h1["x-ratelimit-reset-tokens"]
    assert h1["x-request-id"] != h2["x-request-id"]


def test_openai_unknown_paths_and_scenarios(oai: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as caught:
        oai.models.list()
    assert caught.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    with pytest.raises(openai.BadRequestError, match="Unknown x-fake-scenario"):
        oai.chat.completions.create(model="m", messages=user("x"), extra_headers=scenario("nope"))


def test_latency_headers(oai: openai.OpenAI) -> None:
    started = time.perf_counter()
    stream = oai.chat.completions.create(
        model="m",
        messages=user("a"),
        stream=True,
        extra_headers={"x-fake-latency": "0.02", "x-fake-ttft": "0.03", "x-fake-chunk-delay": "0.005"},
    )
    first = next(iter(stream))
    time_to_first = time.perf_counter() - started
    rest = list(stream)
    total = time.perf_counter() - started
    assert first.choices[0].delta.role == "assistant"
    assert time_to_first >= 0.05
    assert total >= 0.05 + 0.005 * len(rest)


# --------------------------------------------------------------------------- anthropic messages


def test_anthropic_message(ant: anthropic.Anthropic, provider: FakeProvider) -> None:
    message = ant.messages.create(
        model="claude-sonnet-4-5",
        max_tokens=100,
        system=[{"type": "text", "text": "You are a pirate."}],
        messages=user("Where is the treasure buried?"),
    )
    assert message.id.startswith("msg_fake_") and message.type == "message" and message.role == "assistant"
    assert message.model == "claude-sonnet-4-5"
    assert message.stop_reason == "end_turn" and message.stop_sequence is None
    [block] = message.content
    assert block.type == "text" and block.text == reply_text("Where is the treasure buried?")
    assert message.usage.input_tokens == count_tokens("You are a pirate. Where is the treasure buried?")
    assert message.usage.output_tokens == count_tokens(block.text)
    assert message.usage.cache_read_input_tokens == message.usage.cache_creation_input_tokens == 0
    recorded = provider.requests[-1]
    assert recorded.path == "/v1/messages" and "anthropic-version" in recorded.headers
    # anthropic 2.x authenticates with a bearer token; older SDKs sent x-api-key.
    assert "test" in (
        recorded.headers.get("x-api-key"),
        recorded.headers.get("authorization", "").removeprefix("Bearer "),
    )


def test_anthropic_max_tokens(ant: anthropic.Anthropic) -> None:
    message = ant.messages.create(model="c", max_tokens=2, system="Be brief", messages=user("hello"))
    assert message.stop_reason == "max_tokens"
    assert message.content[0].type == "text" and message.content[0].text == "This is"
    assert message.usage.output_tokens == 2 and message.usage.input_tokens == 3


def test_anthropic_raw_stream_events(ant: anthropic.Anthropic) -> None:
    events = list(ant.messages.create(model="c", max_tokens=100, messages=user("stream it"), stream=True))
    types = [event.type for event in events]
    assert types[:2] == ["message_start", "content_block_start"]
    assert types[-3:] == ["content_block_stop", "message_delta", "message_stop"]
    start, delta = events[0], events[-2]
    assert start.type == "message_start" and delta.type == "message_delta"
    assert start.message.usage.output_tokens == 1 and start.message.usage.input_tokens == 2
    assert delta.delta.stop_reason == "end_turn"
    text = "".join(e.delta.text for e in events if e.type == "content_block_delta" and e.delta.type == "text_delta")
    assert text == reply_text("stream it") and delta.usage.output_tokens == count_tokens(text)


def test_anthropic_stream_helper(ant: anthropic.Anthropic) -> None:
    with ant.messages.stream(model="c", max_tokens=100, messages=user("helper stream")) as stream:
        text = "".join(stream.text_stream)
        final = stream.get_final_message()
    assert text == reply_text("helper stream")
    assert final.content[0].type == "text" and final.content[0].text == text
    assert final.usage.output_tokens == count_tokens(text) and final.stop_reason == "end_turn"


async def test_anthropic_async(aant: anthropic.AsyncAnthropic) -> None:
    message = await aant.messages.create(model="c", max_tokens=100, messages=user("async hello"))
    assert message.content[0].type == "text" and message.content[0].text == reply_text("async hello")
    raw = await aant.messages.create(model="c", max_tokens=100, messages=user("async raw"), stream=True)
    assert [event.type async for event in raw][-1] == "message_stop"
    async with aant.messages.stream(model="c", max_tokens=100, messages=user("async helper")) as stream:
        text = "".join([chunk async for chunk in stream.text_stream])
        final = await stream.get_final_message()
    assert text == reply_text("async helper") and final.usage.output_tokens == count_tokens(text)


def test_anthropic_thinking(ant: anthropic.Anthropic) -> None:
    thinking = {"type": "enabled", "budget_tokens": 1024}
    message = ant.messages.create(model="c", max_tokens=2000, thinking=thinking, messages=user("think hard"))
    first, second = message.content
    assert first.type == "thinking" and first.thinking == thinking_text("think hard") and first.signature
    assert second.type == "text"
    assert message.usage.output_tokens == count_tokens(first.thinking) + count_tokens(second.text)

    with ant.messages.stream(model="c", max_tokens=2000, thinking=thinking, messages=user("think hard")) as stream:
        kinds = [event.type for event in stream]
        final = stream.get_final_message()
    assert "thinking" in kinds and "signature" in kinds
    assert [block.model_dump() for block in final.content] == [block.model_dump() for block in message.content]


def test_anthropic_tool_use(ant: anthropic.Anthropic) -> None:
    message = ant.messages.create(
        model="c", max_tokens=100, tools=[ANTHROPIC_TOOL], messages=user("What is the weather in Rome?")
    )
    assert message.stop_reason == "tool_use"
    [block] = message.content
    assert block.type == "tool_use" and block.id == "toolu_fake_1" and block.name == "get_forecast"
    assert block.input == TOOL_ARGUMENTS

    with ant.messages.stream(
        model="c", max_tokens=100, tools=[ANTHROPIC_TOOL], messages=user("weather, please")
    ) as stream:
        partials = [event.partial_json for event in stream if event.type == "input_json"]
        final = stream.get_final_message()
    assert len(partials) > 2 and json.loads("".join(partials)) == TOOL_ARGUMENTS
    assert final.stop_reason == "tool_use" and final.content[0].type == "tool_use"
    assert final.content[0].input == TOOL_ARGUMENTS

    # A tool result ends the loop with a text answer.
    follow_up = [
        *user("What is the weather in Rome?"),
        {"role": "assistant", "content": [block.model_dump()]},
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": block.id, "content": "Sunny"}]},
    ]
    answer = ant.messages.create(model="c", max_tokens=100, tools=[ANTHROPIC_TOOL], messages=follow_up)
    assert answer.stop_reason == "end_turn"


def test_anthropic_prompt_caching(ant: anthropic.Anthropic) -> None:
    system_text = f"You are a careful assistant {tag()} " + "with a long cached preamble " * 10
    system = [{"type": "text", "text": system_text, "cache_control": {"type": "ephemeral"}}]
    prefix = count_tokens(system_text)

    first = ant.messages.create(model="c", max_tokens=50, system=system, messages=user("first question here"))
    assert first.usage.cache_creation_input_tokens == prefix
    assert first.usage.cache_read_input_tokens == 0
    assert first.usage.input_tokens == 3

    second = ant.messages.create(model="c", max_tokens=50, system=system, messages=user("another question"))
    assert second.usage.cache_creation_input_tokens == 0
    assert second.usage.cache_read_input_tokens == prefix
    assert second.usage.input_tokens == 2

    with ant.messages.stream(model="c", max_tokens=50, system=system, messages=user("streamed")) as stream:
        final = stream.get_final_message()
    assert final.usage.cache_read_input_tokens == prefix and final.usage.input_tokens == 1

    cached = ant.messages.create(model="c@cached", max_tokens=50, messages=user("one two three four five"))
    assert cached.usage.cache_read_input_tokens == 2 and cached.usage.input_tokens == 3


# --------------------------------------------------------------------------- anthropic failures


@pytest.mark.parametrize(
    ("name", "error", "status", "error_type"),
    [
        ("error_500", anthropic.InternalServerError, 500, "api_error"),
        ("rate_limit", anthropic.RateLimitError, 429, "rate_limit_error"),
        ("overloaded", anthropic.APIStatusError, 529, "overloaded_error"),
        ("bad_request", anthropic.BadRequestError, 400, "invalid_request_error"),
    ],
)
def test_anthropic_error_scenarios(
    ant: anthropic.Anthropic, name: str, error: type[anthropic.APIStatusError], status: int, error_type: str
) -> None:
    with pytest.raises(error) as caught:
        ant.messages.create(model="c", max_tokens=10, messages=user("x"), extra_headers=scenario(name))
    assert caught.value.status_code == status
    body = caught.value.body
    assert isinstance(body, dict) and body["type"] == "error" and body["error"]["type"] == error_type
    headers = caught.value.response.headers
    assert headers["request-id"].startswith("req_fake_")
    if name == "rate_limit":
        assert headers["retry-after"] == "1"
        assert headers["anthropic-ratelimit-requests-remaining"] == "0"
        assert headers["anthropic-ratelimit-tokens-remaining"] == "0"


def test_anthropic_timeout(ant: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.APITimeoutError):
        ant.with_options(timeout=0.1).messages.create(
            model="c@timeout", max_tokens=10, messages=user("x"), extra_headers={"x-fake-delay": "2"}
        )


def test_anthropic_stream_faults(ant: anthropic.Anthropic) -> None:
    with pytest.raises(anthropic.APIStatusError, match="overloaded_error"):
        for _ in ant.messages.create(
            model="c", max_tokens=10, messages=user("x"), stream=True, extra_headers=scenario("stream_error_event")
        ):
            pass

    received: list[str] = []
    # The Anthropic SDK does not wrap transport errors raised mid-stream.
    with pytest.raises((anthropic.APIConnectionError, httpx2.TransportError)):
        for event in ant.messages.create(
            model="c", max_tokens=10, messages=user("x"), stream=True, extra_headers=scenario("stream_error")
        ):
            received.append(event.type)
    assert received[0] == "message_start" and "content_block_delta" in received


def test_anthropic_fail_once_is_retried(provider: FakeProvider) -> None:
    key = tag()
    with anthropic.Anthropic(base_url=provider.anthropic_base_url, api_key="test", max_retries=1) as client:
        message = client.messages.create(
            model="c@fail_once", max_tokens=50, messages=user("retry"), extra_headers={"x-fake-key": key}
        )
    assert message.content[0].type == "text" and message.model == "c"
    assert len([r for r in list(provider.requests) if r.headers.get("x-fake-key") == key]) == 2


def test_anthropic_rate_limit_headers_decrease(ant: anthropic.Anthropic) -> None:
    model = f"claude-rl-{tag()}"
    first = ant.messages.with_raw_response.create(model=model, max_tokens=50, messages=user("a b c"))
    second = ant.messages.with_raw_response.create(model=model, max_tokens=50, messages=user("a b c"))
    usage = first.parse().usage
    h1, h2 = first.headers, second.headers
    assert h1["request-id"] != h2["request-id"]
    assert h1["anthropic-ratelimit-requests-limit"] == "10000"
    assert int(h1["anthropic-ratelimit-requests-remaining"]) == 9999
    assert int(h2["anthropic-ratelimit-requests-remaining"]) == 9998
    spent = usage.input_tokens + usage.output_tokens
    assert int(h1["anthropic-ratelimit-tokens-remaining"]) == 1_000_000 - spent
    assert int(h2["anthropic-ratelimit-tokens-remaining"]) == 1_000_000 - 2 * spent
    assert int(h2["anthropic-ratelimit-input-tokens-remaining"]) == 1_000_000 - 2 * usage.input_tokens
    assert int(h2["anthropic-ratelimit-output-tokens-remaining"]) == 1_000_000 - 2 * usage.output_tokens
    for bucket in ("requests", "tokens", "input-tokens", "output-tokens"):
        assert h1[f"anthropic-ratelimit-{bucket}-reset"].endswith("Z")


# --------------------------------------------------------------------------- command line


def test_command_line_entry_point() -> None:
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(root), os.environ.get("PYTHONPATH")]))}
    process = subprocess.Popen(
        [sys.executable, "-m", "llmotel.demo.fake_provider", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
        base_url = lines[1].split("base_url:")[1].strip()
        with openai.OpenAI(base_url=base_url, api_key="test", max_retries=0) as client:
            assert client.chat.completions.create(model="m", messages=user("cli")).choices[0].message.content
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=5) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for pipe in (process.stdout, process.stderr):
            if pipe is not None:
                pipe.close()
