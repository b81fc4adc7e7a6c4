"""OpenAI: every API x sync/async x streaming/not, against the fake provider over real HTTP.

Asserts span shape (name, kind, attributes of SEMCONV.md §2-3), metrics with the
advisory buckets, and that token and duration values equal what the provider sent.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import openai
import pytest
import wrapt
from opentelemetry.trace import SpanKind, StatusCode

from llmotel import semconv as sc
from tests.compat import requires_openai

MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello there"}]
REPLY = "alpha beta gamma delta"


def clients(fake: Any) -> tuple[openai.OpenAI, openai.AsyncOpenAI]:
    kw = {"api_key": "test", "base_url": fake.base_url, "max_retries": 0}
    return openai.OpenAI(**kw), openai.AsyncOpenAI(**kw)


def call(fake: Any, is_async: bool, fn: str, **kwargs: Any) -> Any:
    """Run ``client.<fn>(**kwargs)`` on a sync or async client; streams are consumed."""
    sync_client, async_client = clients(fake)
    kwargs.setdefault("extra_headers", {"x-fake-reply": REPLY})
    if not is_async:
        target = sync_client
        for part in fn.split("."):
            target = getattr(target, part)
        result = target(**kwargs)
        if kwargs.get("stream"):
            return list(result)
        return result

    async def run() -> Any:
        target = async_client
        for part in fn.split("."):
            target = getattr(target, part)
        result = await target(**kwargs)
        if kwargs.get("stream"):
            return [chunk async for chunk in result]
        return result

    return asyncio.run(run())


def metric_point(otel: Any, name: str, **attrs: Any) -> Any:
    points = [p for p in otel.points(name) if all(p.attributes.get(k) == v for k, v in attrs.items())]
    assert len(points) == 1, (name, attrs, [dict(p.attributes) for p in otel.points(name)])
    return points[0]


def assert_common(span: Any, fake: Any, model: str, operation: str = "chat") -> None:
    assert span.name == f"{operation} {model}"
    assert span.kind is SpanKind.CLIENT
    assert span.status.status_code is StatusCode.UNSET
    attrs = span.attributes
    assert attrs[sc.GEN_AI_OPERATION_NAME] == operation
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == model
    assert attrs[sc.SERVER_ADDRESS] == "127.0.0.1"
    assert attrs[sc.SERVER_PORT] == fake.port
    assert sc.ERROR_TYPE not in attrs


@requires_openai("1.35", "service_tier")
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_chat_non_streaming(fake, otel, is_async):
    started = time.perf_counter()
    result = call(
        fake, is_async, "chat.completions.create", model="gpt-4o-mini", messages=MESSAGES,
        temperature=0.2, top_p=0.9, max_tokens=50, stop="END", seed=7, frequency_penalty=0.1,
        presence_penalty=0.3, n=2, service_tier="default",
    )
    wall = time.perf_counter() - started
    span = otel.span()
    assert_common(span, fake, "gpt-4o-mini")
    a = span.attributes
    assert a[sc.OPENAI_API_TYPE] == "chat_completions"
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.2
    assert a[sc.GEN_AI_REQUEST_TOP_P] == 0.9
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 50
    assert a[sc.GEN_AI_REQUEST_STOP_SEQUENCES] == ("END",)
    assert a[sc.GEN_AI_REQUEST_SEED] == 7
    assert a[sc.GEN_AI_REQUEST_FREQUENCY_PENALTY] == 0.1
    assert a[sc.GEN_AI_REQUEST_PRESENCE_PENALTY] == 0.3
    assert a[sc.GEN_AI_REQUEST_CHOICE_COUNT] == 2
    assert a[sc.OPENAI_REQUEST_SERVICE_TIER] == "default"
    assert sc.GEN_AI_REQUEST_STREAM not in a
    assert a[sc.GEN_AI_RESPONSE_ID] == result.id
    assert a[sc.GEN_AI_RESPONSE_MODEL] == result.model
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop", "stop")
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == result.usage.prompt_tokens
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == result.usage.completion_tokens
    assert a[sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT] == result.system_fingerprint
    assert a[sc.OPENAI_RESPONSE_SERVICE_TIER] == result.service_tier
    assert sc.GEN_AI_INPUT_MESSAGES not in a and sc.GEN_AI_OUTPUT_MESSAGES not in a

    base = {sc.GEN_AI_OPERATION_NAME: "chat", sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
            sc.GEN_AI_RESPONSE_MODEL: result.model, sc.GEN_AI_PROVIDER_NAME: "openai",
            sc.SERVER_ADDRESS: "127.0.0.1", sc.SERVER_PORT: fake.port}
    duration = metric_point(otel, sc.METRIC_OPERATION_DURATION, **base)
    assert duration.count == 1 and 0 < duration.sum <= wall
    assert list(duration.explicit_bounds) == list(sc.DURATION_BUCKETS)
    assert sc.ERROR_TYPE not in duration.attributes
    # Only the conventions' low-cardinality set reaches metrics.
    # (the system fingerprint stays on the span: it churns with every backend deployment)
    assert set(duration.attributes) == {*base, sc.OPENAI_RESPONSE_SERVICE_TIER}
    tokens_in = metric_point(otel, sc.METRIC_TOKEN_USAGE, **{sc.GEN_AI_TOKEN_TYPE: "input"})
    tokens_out = metric_point(otel, sc.METRIC_TOKEN_USAGE, **{sc.GEN_AI_TOKEN_TYPE: "output"})
    assert tokens_in.sum == result.usage.prompt_tokens
    assert tokens_out.sum == result.usage.completion_tokens
    assert list(tokens_in.explicit_bounds) == list(sc.TOKEN_BUCKETS)
    assert otel.points(sc.METRIC_TIME_TO_FIRST_CHUNK) == []


def test_duration_covers_provider_latency(fake, otel):
    call(fake, False, "chat.completions.create", model="m", messages=MESSAGES,
         extra_headers={"x-fake-latency": "0.15"})
    (point,) = otel.points(sc.METRIC_OPERATION_DURATION)
    assert point.sum >= 0.15
    span = otel.span()
    assert (span.end_time - span.start_time) / 1e9 >= 0.15


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("include_usage", [False, True], ids=["no-usage", "include-usage"])
def test_chat_streaming(fake, otel, is_async, include_usage):
    extra = {"stream_options": {"include_usage": True}} if include_usage else {}
    chunks = call(fake, is_async, "chat.completions.create", model="gpt-4o", messages=MESSAGES,
                  stream=True, extra_headers={"x-fake-reply": REPLY, "x-fake-chunk-delay": "0.01"}, **extra)
    span = otel.span()
    assert_common(span, fake, "gpt-4o")
    a = span.attributes
    assert a[sc.GEN_AI_REQUEST_STREAM] is True
    assert a[sc.GEN_AI_RESPONSE_ID] == chunks[0].id
    assert a[sc.GEN_AI_RESPONSE_MODEL] == chunks[0].model
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    assert a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert a[sc.LLMOTEL_STREAM_ENDED_BY] == "exhausted"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == REPLY
    if include_usage:
        usage = chunks[-1].usage
        assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == usage.prompt_tokens
        assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == usage.completion_tokens
        assert metric_point(otel, sc.METRIC_TOKEN_USAGE, **{sc.GEN_AI_TOKEN_TYPE: "output"}).sum == (
            usage.completion_tokens
        )
    else:
        # Usage never arrived: absent, not zero.
        assert sc.GEN_AI_USAGE_INPUT_TOKENS not in a
        assert otel.points(sc.METRIC_TOKEN_USAGE) == []
    ttfc = metric_point(otel, sc.METRIC_TIME_TO_FIRST_CHUNK)
    assert ttfc.sum == pytest.approx(a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK])
    per_chunk = metric_point(otel, sc.METRIC_TIME_PER_OUTPUT_CHUNK)
    assert per_chunk.count == 1 and per_chunk.sum >= 0.005  # one mean-gap point per stream (delayed chunks)


def test_per_chunk_metric_mode_records_every_gap(fake, instrument):
    otel = instrument(chunk_metric="per_chunk")
    chunks = call(fake, False, "chat.completions.create", model="m", messages=MESSAGES, stream=True)
    (point,) = otel.points(sc.METRIC_TIME_PER_OUTPUT_CHUNK)
    assert point.count == len(chunks) - 1


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_include_usage_setting_injects_and_hides_usage_chunk(fake, instrument, is_async):
    otel = instrument(include_usage=True)
    chunks = call(fake, is_async, "chat.completions.create", model="m", messages=MESSAGES, stream=True)
    # The caller did not ask for usage: it never sees the usage-only chunk ...
    assert all(c.choices for c in chunks)
    # ... but the request carried include_usage and the span has the tokens.
    assert fake.requests[-1].json["stream_options"] == {"include_usage": True}
    a = otel.span().attributes
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] > 0 and a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] > 0


def test_request_unaltered_by_default(fake, otel):
    call(fake, False, "chat.completions.create", model="m", messages=MESSAGES, stream=True)
    assert "stream_options" not in fake.requests[-1].json


@requires_openai("1.58", "reasoning_effort")
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_cached_and_reasoning_tokens(fake, otel, is_async):
    result = call(fake, is_async, "chat.completions.create", model="o3-mini", messages=MESSAGES,
                  reasoning_effort="low", extra_headers={"x-fake-scenario": "cached,reasoning"})
    a = otel.span().attributes
    assert a[sc.GEN_AI_REQUEST_REASONING_LEVEL] == "low"
    cached = result.usage.prompt_tokens_details.cached_tokens
    reasoning = result.usage.completion_tokens_details.reasoning_tokens
    assert cached > 0 and reasoning > 0
    assert a[sc.GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS] == cached
    assert a[sc.GEN_AI_USAGE_REASONING_OUTPUT_TOKENS] == reasoning
    # Both are subsets of the totals, as the conventions define.
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == result.usage.prompt_tokens
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == result.usage.completion_tokens


@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_tool_call_finish_reason(fake, otel, stream):
    tools = [{"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}}]
    call(fake, False, "chat.completions.create", model="m", stream=stream, tools=tools,
         messages=[{"role": "user", "content": "weather in Paris?"}], extra_headers={})
    assert otel.span().attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("tool_call",)


@requires_openai("1.45", "max_completion_tokens")
def test_length_finish_reason_and_json_output_type(fake, otel):
    call(fake, False, "chat.completions.create", model="m", messages=MESSAGES, max_completion_tokens=2,
         response_format={"type": "json_object"})
    a = otel.span().attributes
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("length",)
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 2
    assert a[sc.GEN_AI_OUTPUT_TYPE] == "json"


@requires_openai("1.92", "chat.completions.parse")
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_chat_parse(fake, otel, is_async):
    from pydantic import BaseModel

    class Answer(BaseModel):
        text: str

    result = call(fake, is_async, "chat.completions.parse", model="gpt-4o", messages=MESSAGES,
                  response_format=Answer, extra_headers={"x-fake-reply": '{"text": "ok"}'})
    assert result.choices[0].message.parsed == Answer(text="ok")
    span = otel.span()
    assert_common(span, fake, "gpt-4o")
    assert span.attributes[sc.GEN_AI_OUTPUT_TYPE] == "json"
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == result.usage.completion_tokens


@requires_openai("1.66", "Responses API")
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("stream", [False, True], ids=["plain", "stream"])
def test_responses_create(fake, otel, is_async, stream):
    result = call(fake, is_async, "responses.create", model="gpt-4.1", input="hello there",
                  instructions="be brief", max_output_tokens=40, temperature=0.5, stream=stream)
    span = otel.span()
    assert_common(span, fake, "gpt-4.1")
    a = span.attributes
    assert a[sc.OPENAI_API_TYPE] == "responses"
    assert a[sc.GEN_AI_REQUEST_MAX_TOKENS] == 40
    assert a[sc.GEN_AI_REQUEST_TEMPERATURE] == 0.5
    assert a[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    final = result[-1].response if stream else result
    assert a[sc.GEN_AI_RESPONSE_ID] == final.id
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == final.usage.input_tokens
    assert a[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == final.usage.output_tokens
    if stream:
        assert a[sc.GEN_AI_REQUEST_STREAM] is True
        assert a[sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK] > 0
    assert metric_point(otel, sc.METRIC_TOKEN_USAGE, **{sc.GEN_AI_TOKEN_TYPE: "input"}).sum == (
        final.usage.input_tokens
    )


@requires_openai("1.66", "Responses API")
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_responses_stream_helper(fake, otel, is_async):
    sync_client, async_client = clients(fake)
    headers = {"x-fake-reply": REPLY}
    if is_async:
        async def run() -> Any:
            async with async_client.responses.stream(model="gpt-4.1", input="hi", extra_headers=headers) as s:
                async for _ in s:
                    pass
                return await s.get_final_response()

        final = asyncio.run(run())
    else:
        with sync_client.responses.stream(model="gpt-4.1", input="hi", extra_headers=headers) as s:
            final = s.get_final_response()
    assert final.output_text == REPLY
    span = otel.span()
    assert span.attributes[sc.GEN_AI_RESPONSE_ID] == final.id
    assert span.attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == final.usage.output_tokens


@requires_openai("1.66", "Responses API")
@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
def test_responses_parse(fake, otel, is_async):
    from pydantic import BaseModel

    class Answer(BaseModel):
        text: str

    result = call(fake, is_async, "responses.parse", model="gpt-4.1", input="hi", text_format=Answer,
                  extra_headers={"x-fake-reply": '{"text": "ok"}'})
    assert result.output_parsed == Answer(text="ok")
    a = otel.span().attributes
    assert a[sc.GEN_AI_OUTPUT_TYPE] == "json"
    assert a[sc.GEN_AI_RESPONSE_ID] == result.id


@pytest.mark.parametrize("is_async", [False, True], ids=["sync", "async"])
@pytest.mark.parametrize("encoding", [None, "float"], ids=["default-base64", "float"])
def test_embeddings(fake, otel, is_async, encoding):
    kwargs: dict[str, Any] = {"encoding_format": encoding} if encoding else {}
    result = call(fake, is_async, "embeddings.create", model="text-embedding-3-small",
                  input=["one two three", "four"], **kwargs)
    span = otel.span()
    assert_common(span, fake, "text-embedding-3-small", operation="embeddings")
    a = span.attributes
    assert a[sc.GEN_AI_USAGE_INPUT_TOKENS] == result.usage.prompt_tokens
    assert a[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] == len(result.data[0].embedding)
    assert a[sc.GEN_AI_RESPONSE_MODEL] == result.model
    if encoding:
        assert a[sc.GEN_AI_REQUEST_ENCODING_FORMATS] == (encoding,)
    assert metric_point(otel, sc.METRIC_TOKEN_USAGE, **{sc.GEN_AI_TOKEN_TYPE: "input"}).sum == (
        result.usage.prompt_tokens
    )
    assert [p for p in otel.points(sc.METRIC_TOKEN_USAGE) if p.attributes[sc.GEN_AI_TOKEN_TYPE] == "output"] == []
    metric_point(otel, sc.METRIC_OPERATION_DURATION, **{sc.GEN_AI_OPERATION_NAME: "embeddings"})


def test_response_model_differs_from_request(fake, otel):
    call(fake, False, "chat.completions.create", model="gpt-4o", messages=MESSAGES,
         extra_headers={"x-fake-model": "gpt-4o-2024-08-06"})
    a = otel.span().attributes
    assert a[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert a[sc.GEN_AI_RESPONSE_MODEL] == "gpt-4o-2024-08-06"


@pytest.mark.parametrize(
    ("base_url", "client_cls", "provider"),
    [
        ("https://myres.openai.azure.com/openai/deployments/d", "AzureOpenAI", "azure.ai.openai"),
        ("https://api.deepseek.com/v1", "OpenAI", "deepseek"),
        ("https://api.groq.com/openai/v1", "OpenAI", "groq"),
        ("http://localhost:11434/v1", "OpenAI", "openai"),
    ],
)
def test_provider_name_from_endpoint(base_url, client_cls, provider):
    from llmotel.instrumentation.openai.common import endpoint_of

    if client_cls == "AzureOpenAI":
        client = openai.AzureOpenAI(api_key="x", azure_endpoint="https://myres.openai.azure.com",
                                    api_version="2024-10-21")
    else:
        client = openai.OpenAI(api_key="x", base_url=base_url)
    host, port, name = endpoint_of(client.chat.completions)
    assert name == provider
    assert host == client.base_url.host
    assert port == (client.base_url.port or (443 if client.base_url.scheme == "https" else 80))


def test_raw_response_variants_are_traced(fake, otel):
    sync_client, _ = clients(fake)
    raw = sync_client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    completion = raw.parse()
    assert raw.headers.get("x-request-id")
    assert otel.span().attributes[sc.GEN_AI_RESPONSE_ID] == completion.id
    otel.clear()

    with sync_client.chat.completions.with_streaming_response.create(model="m", messages=MESSAGES) as resp:
        completion = resp.parse()
    assert otel.span().attributes[sc.GEN_AI_USAGE_OUTPUT_TOKENS] == completion.usage.completion_tokens
    otel.clear()

    raw = sync_client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES, stream=True)
    stream = raw.parse()
    assert isinstance(stream, openai.Stream)
    assert len(list(stream)) > 1
    assert otel.span().attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "exhausted"
    otel.clear()

    with sync_client.chat.completions.with_streaming_response.create(
        model="m", messages=MESSAGES, stream=True
    ) as resp:
        chunks = list(resp.parse())
    assert chunks
    span = otel.span()
    assert span.attributes[sc.GEN_AI_RESPONSE_FINISH_REASONS] == ("stop",)
    otel.clear()

    raw = sync_client.embeddings.with_raw_response.create(model="e", input="x")
    assert raw.parse().data
    assert otel.span().name == "embeddings e"


@requires_openai("1.66", "Responses API")
async def test_async_raw_response_variants_are_traced(fake, otel):
    _, client = clients(fake)
    raw = await client.chat.completions.with_raw_response.create(model="m", messages=MESSAGES)
    completion = raw.parse()
    assert otel.span().attributes[sc.GEN_AI_RESPONSE_ID] == completion.id
    otel.clear()
    async with client.chat.completions.with_streaming_response.create(
        model="m", messages=MESSAGES, stream=True
    ) as resp:
        chunks = [c async for c in await resp.parse()]
    assert chunks
    assert otel.span().attributes[sc.LLMOTEL_STREAM_ENDED_BY] == "exhausted"
    otel.clear()
    async with client.responses.with_streaming_response.create(model="m", input="hi") as resp:
        response = await resp.parse()
    assert otel.span().attributes[sc.GEN_AI_RESPONSE_ID] == response.id


def test_uninstrument_restores_and_is_idempotent(fake, instrument):
    from llmotel.instrumentation.openai import OpenAIInstrumentor

    otel = instrument()
    sync_client, _ = clients(fake)
    raw_create = sync_client.chat.completions.with_raw_response.create  # caches a bound wrapper
    OpenAIInstrumentor().uninstrument()
    OpenAIInstrumentor().uninstrument()
    sync_client.chat.completions.create(model="m", messages=MESSAGES)
    raw_create(model="m", messages=MESSAGES).parse()
    assert otel.spans() == []
    assert not isinstance(vars(openai.resources.chat.completions.Completions)["create"], wrapt.FunctionWrapper)
    otel = instrument()
    OpenAIInstrumentor().instrument()  # a second instrument() is a no-op: still one span per call
    sync_client.chat.completions.create(model="m", messages=MESSAGES)
    assert len(otel.spans()) == 1


def test_sampling_relevant_attributes_at_span_start(fake, instrument):
    """A sampler sees operation, provider, model and server address/port when deciding."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON, Sampler

    seen: list[dict[str, Any]] = []

    class Recording(Sampler):
        def should_sample(self, parent_context, trace_id, name, kind=None, attributes=None, links=None):
            seen.append(dict(attributes or {}))
            return ALWAYS_ON.should_sample(parent_context, trace_id, name, kind, attributes, links)

        def get_description(self) -> str:
            return "recording"

    from llmotel.config import Settings
    from llmotel.instrumentation.openai import OpenAIInstrumentor

    otel = instrument()
    OpenAIInstrumentor().uninstrument()
    OpenAIInstrumentor().instrument(tracer_provider=TracerProvider(sampler=Recording()),
                                    meter_provider=otel.meter_provider, settings=Settings.load(env={}))
    call(fake, False, "chat.completions.create", model="gpt-4o", messages=MESSAGES)
    (attrs,) = seen
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert attrs[sc.SERVER_ADDRESS] == "127.0.0.1" and attrs[sc.SERVER_PORT] == fake.port
