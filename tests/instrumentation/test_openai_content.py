"""Content capture modes: NO_CONTENT (default), SPAN_ONLY, EVENT_ONLY, SPAN_AND_EVENT.

With capture off, no prompt, completion, instruction, tool argument or result text
appears in any span, event or log record.
"""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest

from llmotel import semconv as sc
from tests.compat import requires_openai

SECRET_PROMPT = "my-secret-prompt-zebra"
SECRET_REPLY = "confidential-answer-quokka"
SECRET_SYSTEM = "hidden-instructions-okapi"
SECRET_ARG = "Paris"
TOOLS = [{"type": "function", "function": {"name": "get_weather", "description": "weather",
                                           "parameters": {"type": "object"}}}]
CONTENT_KEYS = (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_SYSTEM_INSTRUCTIONS,
                sc.GEN_AI_TOOL_DEFINITIONS)


def traffic(fake: Any) -> None:
    """One call of each kind, all carrying recognisable content."""
    c = openai.OpenAI(api_key="t", base_url=fake.base_url, max_retries=0)
    headers = {"x-fake-reply": SECRET_REPLY}
    messages = [{"role": "system", "content": SECRET_SYSTEM}, {"role": "user", "content": SECRET_PROMPT}]
    c.chat.completions.create(model="m", messages=messages, extra_headers=headers)
    list(c.chat.completions.create(model="m", messages=messages, stream=True, extra_headers=headers))
    c.chat.completions.create(model="m", tools=TOOLS,
                              messages=[{"role": "user", "content": f"weather in {SECRET_ARG} {SECRET_PROMPT}"}])
    c.responses.create(model="m", input=SECRET_PROMPT, instructions=SECRET_SYSTEM, extra_headers=headers)
    list(c.responses.create(model="m", input=SECRET_PROMPT, stream=True, extra_headers=headers))


def everything_exported(otel: Any) -> str:
    spans = [json.dumps({"a": dict(s.attributes), "e": [dict(e.attributes) for e in s.events]}, default=str)
             for s in otel.spans()]
    logs = [json.dumps({"a": dict(r.attributes or {}), "b": r.body}, default=str) for r in otel.logs()]
    return "\n".join(spans + logs)


@requires_openai("1.66", "Responses API")
def test_no_content_by_default(fake, otel):
    traffic(fake)
    dump = everything_exported(otel)
    assert len(otel.spans()) == 5
    for secret in (SECRET_PROMPT, SECRET_REPLY, SECRET_SYSTEM, SECRET_ARG):
        assert secret not in dump
    for span in otel.spans():
        assert not set(CONTENT_KEYS) & set(span.attributes)
    assert otel.logs() == []  # the details event is opt-in


@requires_openai("1.66", "Responses API")
def test_span_only(fake, instrument):
    otel = instrument(capture_content="SPAN_ONLY")
    traffic(fake)
    chat, stream, tool, responses, responses_stream = otel.spans()
    inputs = json.loads(chat.attributes[sc.GEN_AI_INPUT_MESSAGES])
    # Chat system messages stay inside the input messages (SEMCONV §2.3).
    assert inputs == [
        {"role": "system", "parts": [{"type": "text", "content": SECRET_SYSTEM}]},
        {"role": "user", "parts": [{"type": "text", "content": SECRET_PROMPT}]},
    ]
    assert json.loads(chat.attributes[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": SECRET_REPLY}], "finish_reason": "stop"}
    ]
    assert json.loads(stream.attributes[sc.GEN_AI_OUTPUT_MESSAGES])[0]["parts"][0]["content"] == SECRET_REPLY
    outputs = json.loads(tool.attributes[sc.GEN_AI_OUTPUT_MESSAGES])
    call = outputs[0]["parts"][0]
    assert call["type"] == "tool_call" and call["name"] == "get_weather"
    assert isinstance(call["arguments"], dict)  # decoded, not a JSON string
    assert json.loads(tool.attributes[sc.GEN_AI_TOOL_DEFINITIONS]) == [{"type": "function", "name": "get_weather"}]
    assert json.loads(responses.attributes[sc.GEN_AI_SYSTEM_INSTRUCTIONS]) == [
        {"type": "text", "content": SECRET_SYSTEM}]
    assert json.loads(responses.attributes[sc.GEN_AI_OUTPUT_MESSAGES])[0]["parts"] == [
        {"type": "text", "content": SECRET_REPLY}]
    assert SECRET_REPLY in responses_stream.attributes[sc.GEN_AI_OUTPUT_MESSAGES]
    assert otel.logs() == []
    for span in otel.spans():  # compact JSON, no nulls
        for key in CONTENT_KEYS:
            if key in span.attributes:
                assert "null" not in span.attributes[key] and ", " not in span.attributes[key]


@requires_openai("1.66", "Responses API")
def test_event_only(fake, instrument):
    otel = instrument(capture_content="EVENT_ONLY")
    traffic(fake)
    for span in otel.spans():
        assert not set(CONTENT_KEYS) & set(span.attributes)
    events = otel.logs()
    assert len(events) == 5
    first = events[0]
    assert first.event_name == sc.EVENT_INFERENCE_DETAILS
    spans = otel.spans()
    assert first.trace_id == spans[0].context.trace_id and first.span_id == spans[0].context.span_id
    attrs = dict(first.attributes)
    # Structured values on events, not JSON strings.
    assert attrs[sc.GEN_AI_INPUT_MESSAGES][1]["parts"][0]["content"] == SECRET_PROMPT
    assert attrs[sc.GEN_AI_OUTPUT_MESSAGES][0]["parts"][0]["content"] == SECRET_REPLY
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert attrs[sc.GEN_AI_USAGE_INPUT_TOKENS] == spans[0].attributes[sc.GEN_AI_USAGE_INPUT_TOKENS]


@requires_openai("1.66", "Responses API")
def test_span_and_event(fake, instrument):
    otel = instrument(capture_content="SPAN_AND_EVENT")
    traffic(fake)
    assert all(sc.GEN_AI_INPUT_MESSAGES in s.attributes for s in otel.spans())
    assert len(otel.logs()) == 5
    assert all(sc.GEN_AI_INPUT_MESSAGES in dict(r.attributes) for r in otel.logs())


@requires_openai("1.66", "Responses API")
def test_emit_event_without_content(fake, instrument):
    """OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT=true: the event, but still no content."""
    otel = instrument(emit_event=True)
    traffic(fake)
    assert len(otel.logs()) == 5
    assert SECRET_PROMPT not in everything_exported(otel)


@pytest.mark.parametrize("value", ["span_only", "Span_And_Event"])
def test_mode_is_case_insensitive(value):
    from llmotel.config import ContentMode, Settings

    mode = Settings.load(env={"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": value}).capture_content
    assert mode in (ContentMode.SPAN_ONLY, ContentMode.SPAN_AND_EVENT)


def test_tool_result_messages_in_input(fake, instrument):
    otel = instrument(capture_content="SPAN_ONLY")
    c = openai.OpenAI(api_key="t", base_url=fake.base_url, max_retries=0)
    c.chat.completions.create(model="m", tools=TOOLS, messages=[
        {"role": "user", "content": "weather?"},
        {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function",
             "function": {"name": "get_weather", "arguments": '{"city":"Paris"}'}}]},
        {"role": "tool", "tool_call_id": "call_1", "content": "rainy"},
    ])
    inputs = json.loads(otel.span().attributes[sc.GEN_AI_INPUT_MESSAGES])
    assert inputs[1]["parts"] == [{"type": "tool_call", "id": "call_1", "name": "get_weather",
                                   "arguments": {"city": "Paris"}}]
    assert inputs[2] == {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1",
                                                     "response": "rainy"}]}
