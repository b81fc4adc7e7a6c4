"""OpenAI-shaped payloads: chat completions, the Responses API and embeddings."""

from __future__ import annotations

import base64
import hashlib
import math
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ._core import (
    REASONING_TOKENS,
    SSE_DONE,
    ProviderState,
    Quota,
    Reply,
    RequestContext,
    choose_tool,
    content_text,
    count_tokens,
    error_scenario,
    fragments,
    json_reply,
    prompt_tokens,
    reply_text,
    retry_after_headers,
    sse_data,
    sse_event,
    sse_reply,
    tool_arguments_json,
    truncate_json_reply,
    truncate_words,
    word_pieces,
)

PROVIDER = "openai"
SYSTEM_FINGERPRINT = "fp_fake"
TOOL_CALL_ID = "call_fake_1"
DEFAULT_EMBEDDING_DIMENSIONS = 8

# Responses streams fail after created, in_progress, output_item.added, content_part.added
# and the first text delta, so the client has seen some output before the failure.
_RESPONSES_FAULT_AFTER = 5

# (status, error type, error code, message) per error scenario, as the real API reports them.
_ERRORS: dict[str, tuple[int, str, str | None, str]] = {
    "error_500": (500, "server_error", None, "The server had an error while processing your request."),
    "fail_once": (500, "server_error", None, "The server had an error (fail_once); please retry."),
    "rate_limit": (
        429,
        "rate_limit_exceeded",
        "rate_limit_exceeded",
        "Rate limit reached for requests (fake provider). Please try again in 1s.",
    ),
    "overloaded": (
        503,
        "server_error",
        "overloaded",
        "The engine is currently overloaded, please try again later.",
    ),
    "bad_request": (
        400,
        "invalid_request_error",
        "invalid_request",
        "Invalid request (fake bad_request scenario).",
    ),
}


# --------------------------------------------------------------------------- errors & headers


def error_body(message: str, type_: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """OpenAI's error envelope."""
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


def error_reply(
    status: int,
    message: str,
    type_: str,
    code: str | None = None,
    *,
    seq: int,
    param: str | None = None,
    headers: dict[str, str] | None = None,
) -> Reply:
    """An OpenAI error response, always with a request id like the real API."""
    return json_reply(
        status,
        error_body(message, type_, code, param),
        {"x-request-id": f"req_fake_{seq}", **(headers or {})},
    )


def not_found(path: str, seq: int) -> Reply:
    """The 404 for any path the fake provider does not serve."""
    return error_reply(404, f"Unknown request URL: {path}.", "invalid_request_error", "unknown_url", seq=seq)


def rate_limit_headers(quota: Quota, seq: int) -> dict[str, str]:
    """The ``x-ratelimit-*`` headers OpenAI attaches to every API response."""
    return {
        "x-ratelimit-limit-requests": str(quota.requests_limit),
        "x-ratelimit-remaining-requests": str(quota.requests_remaining),
        "x-ratelimit-limit-tokens": str(quota.tokens_limit),
        "x-ratelimit-remaining-tokens": str(quota.tokens_remaining),
        "x-ratelimit-reset-requests": "1s" if quota.requests_remaining == 0 else "6ms",
        "x-ratelimit-reset-tokens": "1s" if quota.tokens_remaining == 0 else "0s",
        "x-request-id": f"req_fake_{seq}",
        "openai-version": "2020-10-01",
        "openai-processing-ms": "1",
    }


def _preflight(ctx: RequestContext, state: ProviderState, required: tuple[str, ...]) -> Reply | None:
    """Validate required fields and apply the error scenarios; ``None`` means carry on."""
    for name in required:
        if ctx.body.get(name) is None:
            return error_reply(
                400,
                f"Missing required parameter: '{name}'.",
                "invalid_request_error",
                "missing_required_parameter",
                seq=ctx.seq,
                param=name,
            )
    scenario = error_scenario(ctx, state)
    if scenario is None:
        return None
    status, type_, code, message = _ERRORS[scenario]
    if scenario == "rate_limit":
        quota = state.peek(PROVIDER, ctx.model).exhausted()
    else:
        quota = state.charge(PROVIDER, ctx.model)
    headers = {**rate_limit_headers(quota, ctx.seq), **retry_after_headers(ctx, scenario)}
    return error_reply(status, message, type_, code, seq=ctx.seq, headers=headers)


def _service_tier(body: Mapping[str, Any]) -> str:
    # The real API answers "auto" with the tier it actually used, which is "default".
    tier = body.get("service_tier")
    return tier if isinstance(tier, str) and tier != "auto" else "default"


def _finish(reply: Reply, ctx: RequestContext) -> Reply:
    # `stream_error` on a non-streaming request drops the connection mid-body instead.
    if ctx.has("stream_error") and not reply.streaming:
        return truncate_json_reply(reply)
    return reply


# --------------------------------------------------------------------------- shared answer


@dataclass(frozen=True, slots=True)
class _Answer:
    """What the fake model says to one request, before any wire formatting."""

    text: str | None
    tool_name: str | None
    arguments: str
    truncated: bool
    input_tokens: int
    cached_tokens: int
    output_tokens: int  # per choice, visible output only
    reasoning_tokens: int


def _answer(
    ctx: RequestContext,
    *,
    texts: list[str],
    last_user_text: str,
    after_tool_result: bool,
    max_tokens: Any,
) -> _Answer:
    tool = choose_tool(
        ctx.body.get("tools"),
        ctx.body.get("tool_choice"),
        forced=ctx.has("tool_call"),
        last_user_text=last_user_text,
        after_tool_result=after_tool_result,
    )
    input_tokens = prompt_tokens(texts)
    cached = input_tokens // 2 if ctx.has("cached") else 0
    reasoning = REASONING_TOKENS if ctx.has("reasoning") else 0
    if tool is not None:
        arguments = tool_arguments_json()
        return _Answer(None, tool, arguments, False, input_tokens, cached, count_tokens(arguments), reasoning)
    limit = max_tokens if isinstance(max_tokens, int) else None
    text, truncated = truncate_words(reply_text(last_user_text, ctx.reply_override), limit)
    return _Answer(text, None, "", truncated, input_tokens, cached, count_tokens(text), reasoning)


# --------------------------------------------------------------------------- chat completions


def _chat_inputs(messages: Any) -> tuple[list[str], str, bool]:
    """Texts of all messages, the last user message's text, and whether a tool result is last."""
    items = [m for m in messages if isinstance(m, Mapping)] if isinstance(messages, list) else []
    texts = [content_text(m.get("content")) for m in items]
    last_user = next((content_text(m.get("content")) for m in reversed(items) if m.get("role") == "user"), "")
    after_tool = bool(items) and items[-1].get("role") in ("tool", "function")
    return texts, last_user, after_tool


def _chat_usage(answer: _Answer, n: int) -> dict[str, Any]:
    completion = answer.output_tokens * n + answer.reasoning_tokens
    return {
        "prompt_tokens": answer.input_tokens,
        "completion_tokens": completion,
        "total_tokens": answer.input_tokens + completion,
        "prompt_tokens_details": {"cached_tokens": answer.cached_tokens, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": answer.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def _chat_finish_reason(answer: _Answer) -> str:
    if answer.tool_name is not None:
        return "tool_calls"
    return "length" if answer.truncated else "stop"


def _chat_message(answer: _Answer) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": "assistant",
        "content": answer.text,
        "refusal": None,
        "annotations": [],
    }
    if answer.tool_name is not None:
        message["tool_calls"] = [
            {
                "id": TOOL_CALL_ID,
                "type": "function",
                "function": {"name": answer.tool_name, "arguments": answer.arguments},
            }
        ]
    return message


def _chat_envelope(ctx: RequestContext, object_: str) -> dict[str, Any]:
    return {
        "id": f"chatcmpl-fake-{ctx.seq}",
        "object": object_,
        "created": ctx.created,
        "model": ctx.response_model,
        "service_tier": _service_tier(ctx.body),
        "system_fingerprint": SYSTEM_FINGERPRINT,
    }


def _chat_choice_deltas(answer: _Answer) -> list[dict[str, Any]]:
    """The ``delta`` objects of one choice, in order, excluding the finishing delta."""
    if answer.tool_name is None:
        first: dict[str, Any] = {"role": "assistant", "content": "", "refusal": None}
        return [first, *({"content": piece} for piece in word_pieces(answer.text or ""))]
    # OpenAI announces the call (id, type, name, empty arguments) and then streams
    # only argument fragments, which clients concatenate by tool-call index.
    head = {
        "index": 0,
        "id": TOOL_CALL_ID,
        "type": "function",
        "function": {"name": answer.tool_name, "arguments": ""},
    }
    deltas: list[dict[str, Any]] = [{"role": "assistant", "content": None, "refusal": None, "tool_calls": [head]}]
    deltas.extend(
        {"tool_calls": [{"index": 0, "function": {"arguments": fragment}}]} for fragment in fragments(answer.arguments)
    )
    return deltas


def _chat_chunks(ctx: RequestContext, answer: _Answer, n: int) -> list[bytes]:
    options = ctx.body.get("stream_options")
    include_usage = isinstance(options, Mapping) and options.get("include_usage") is True
    envelope = _chat_envelope(ctx, "chat.completion.chunk")
    if include_usage:
        # The real API marks every chunk with an explicit null usage once usage is requested.
        envelope["usage"] = None

    def chunk(index: int, delta: dict[str, Any], finish_reason: str | None = None) -> bytes:
        choice = {"index": index, "delta": delta, "logprobs": None, "finish_reason": finish_reason}
        return sse_data({**envelope, "choices": [choice]})

    events: list[bytes] = []
    for index in range(n):
        events.extend(chunk(index, delta) for delta in _chat_choice_deltas(answer))
        events.append(chunk(index, {}, _chat_finish_reason(answer)))
    if include_usage:
        events.append(sse_data({**envelope, "choices": [], "usage": _chat_usage(answer, n)}))
    events.append(SSE_DONE)
    return events


def chat_completions(ctx: RequestContext, state: ProviderState) -> Reply:
    """``POST /v1/chat/completions``, streaming or not."""
    early = _preflight(ctx, state, ("model", "messages"))
    if early is not None:
        return early
    texts, last_user, after_tool = _chat_inputs(ctx.body["messages"])
    max_tokens = ctx.body.get("max_completion_tokens", ctx.body.get("max_tokens"))
    answer = _answer(ctx, texts=texts, last_user_text=last_user, after_tool_result=after_tool, max_tokens=max_tokens)
    n = ctx.body.get("n")
    n = min(max(n, 1), 16) if isinstance(n, int) else 1
    usage = _chat_usage(answer, n)
    quota = state.charge(
        PROVIDER, ctx.model, input_tokens=usage["prompt_tokens"], output_tokens=usage["completion_tokens"]
    )
    headers = rate_limit_headers(quota, ctx.seq)
    if ctx.stream:
        error = sse_data(error_body("The server had an error while streaming.", "server_error"))
        return sse_reply(_chat_chunks(ctx, answer, n), headers, ctx, error)
    choices = [
        {
            "index": i,
            "message": _chat_message(answer),
            "logprobs": None,
            "finish_reason": _chat_finish_reason(answer),
        }
        for i in range(n)
    ]
    body = {**_chat_envelope(ctx, "chat.completion"), "choices": choices, "usage": usage}
    return _finish(json_reply(200, body, headers), ctx)


# --------------------------------------------------------------------------- responses API


def _responses_inputs(body: Mapping[str, Any]) -> tuple[list[str], str, bool]:
    """Like :func:`_chat_inputs`, for the Responses API's ``input`` and ``instructions``."""
    raw = body.get("input")
    items: list[Mapping[str, Any]]
    if isinstance(raw, str):
        items = [{"role": "user", "content": raw}]
    elif isinstance(raw, list):
        items = [i for i in raw if isinstance(i, Mapping)]
    else:
        items = []

    def text(item: Mapping[str, Any]) -> str:
        if item.get("type") == "function_call_output":
            return content_text(item.get("output"))
        return content_text(item.get("content"))

    texts = [text(i) for i in items]
    instructions = body.get("instructions")
    if isinstance(instructions, str):
        texts.append(instructions)
    last_user = next((text(i) for i in reversed(items) if i.get("role") == "user"), "")
    after_tool = bool(items) and items[-1].get("type") == "function_call_output"
    return texts, last_user, after_tool


def _responses_usage(answer: _Answer) -> dict[str, Any]:
    output = answer.output_tokens + answer.reasoning_tokens
    return {
        "input_tokens": answer.input_tokens,
        "input_tokens_details": {"cached_tokens": answer.cached_tokens, "cache_write_tokens": 0},
        "output_tokens": output,
        "output_tokens_details": {"reasoning_tokens": answer.reasoning_tokens},
        "total_tokens": answer.input_tokens + output,
    }


def _output_item(ctx: RequestContext, answer: _Answer, *, done: bool) -> dict[str, Any]:
    """The single output item; ``done=False`` gives its empty in-progress form for streams."""
    status = ("incomplete" if answer.truncated else "completed") if done else "in_progress"
    if answer.tool_name is not None:
        return {
            "id": f"fc_fake_{ctx.seq}",
            "type": "function_call",
            "status": status,
            "call_id": TOOL_CALL_ID,
            "name": answer.tool_name,
            "arguments": answer.arguments if done else "",
        }
    return {
        "id": f"msg_fake_{ctx.seq}",
        "type": "message",
        "status": status,
        "role": "assistant",
        "content": [_output_text(answer.text or "")] if done else [],
    }


def _output_text(text: str) -> dict[str, Any]:
    return {"type": "output_text", "text": text, "annotations": [], "logprobs": []}


def _response_object(ctx: RequestContext, answer: _Answer, *, done: bool) -> dict[str, Any]:
    body = ctx.body
    status = "in_progress" if not done else "incomplete" if answer.truncated else "completed"
    return {
        "id": f"resp_fake_{ctx.seq}",
        "object": "response",
        "created_at": ctx.created,
        "status": status,
        "background": False,
        "completed_at": ctx.created if status == "completed" else None,
        "error": None,
        "incomplete_details": {"reason": "max_output_tokens"} if done and answer.truncated else None,
        "instructions": body.get("instructions"),
        "max_output_tokens": body.get("max_output_tokens"),
        "max_tool_calls": body.get("max_tool_calls"),
        "metadata": body.get("metadata") or {},
        "model": ctx.response_model,
        "output": [_output_item(ctx, answer, done=True)] if done else [],
        "parallel_tool_calls": body.get("parallel_tool_calls", True),
        "previous_response_id": body.get("previous_response_id"),
        "reasoning": body.get("reasoning") or {"effort": None, "summary": None},
        "service_tier": _service_tier(body),
        "store": body.get("store", True),
        "temperature": body.get("temperature", 1.0),
        "text": body.get("text") or {"format": {"type": "text"}, "verbosity": "medium"},
        "tool_choice": body.get("tool_choice", "auto"),
        "tools": body.get("tools") or [],
        "top_logprobs": body.get("top_logprobs", 0),
        "top_p": body.get("top_p", 1.0),
        "truncation": body.get("truncation", "disabled"),
        "usage": _responses_usage(answer) if done else None,
        "user": body.get("user"),
    }


def _response_events(ctx: RequestContext, answer: _Answer) -> list[dict[str, Any]]:
    """The Responses API event sequence, without sequence numbers."""
    item_id = _output_item(ctx, answer, done=False)["id"]
    where = {"item_id": item_id, "output_index": 0}
    events: list[dict[str, Any]] = [
        {"type": "response.created", "response": _response_object(ctx, answer, done=False)},
        {"type": "response.in_progress", "response": _response_object(ctx, answer, done=False)},
        {
            "type": "response.output_item.added",
            "output_index": 0,
            "item": _output_item(ctx, answer, done=False),
        },
    ]
    if answer.tool_name is not None:
        events.extend(
            {"type": "response.function_call_arguments.delta", **where, "delta": fragment}
            for fragment in fragments(answer.arguments)
        )
        events.append({"type": "response.function_call_arguments.done", **where, "arguments": answer.arguments})
    else:
        text = answer.text or ""
        part = {**where, "content_index": 0}
        events.append({"type": "response.content_part.added", **part, "part": _output_text("")})
        events.extend(
            {"type": "response.output_text.delta", **part, "delta": piece, "logprobs": []}
            for piece in word_pieces(text)
        )
        events.append({"type": "response.output_text.done", **part, "text": text, "logprobs": []})
        events.append({"type": "response.content_part.done", **part, "part": _output_text(text)})
    events.append(
        {"type": "response.output_item.done", "output_index": 0, "item": _output_item(ctx, answer, done=True)}
    )
    final = _response_object(ctx, answer, done=True)
    events.append({"type": f"response.{final['status']}", "response": final})
    return events


def responses(ctx: RequestContext, state: ProviderState) -> Reply:
    """``POST /v1/responses``, streaming or not."""
    early = _preflight(ctx, state, ("model", "input"))
    if early is not None:
        return early
    texts, last_user, after_tool = _responses_inputs(ctx.body)
    answer = _answer(
        ctx,
        texts=texts,
        last_user_text=last_user,
        after_tool_result=after_tool,
        max_tokens=ctx.body.get("max_output_tokens"),
    )
    usage = _responses_usage(answer)
    quota = state.charge(PROVIDER, ctx.model, input_tokens=usage["input_tokens"], output_tokens=usage["output_tokens"])
    headers = rate_limit_headers(quota, ctx.seq)
    if not ctx.stream:
        return _finish(json_reply(200, _response_object(ctx, answer, done=True), headers), ctx)
    events = [
        sse_event(event["type"], {**event, "sequence_number": number})
        for number, event in enumerate(_response_events(ctx, answer))
    ]
    # The live API nests the details under "error" (unlike its docs); the SDK raises on that key.
    error = sse_event(
        "error",
        {
            "type": "error",
            "sequence_number": _RESPONSES_FAULT_AFTER,
            "error": {
                "type": "server_error",
                "code": "server_error",
                "message": "The server had an error while streaming.",
                "param": None,
            },
        },
    )
    return sse_reply(events, headers, ctx, error, _RESPONSES_FAULT_AFTER)


# --------------------------------------------------------------------------- embeddings


def embedding_vector(item: str | list[int], dimensions: int = DEFAULT_EMBEDDING_DIMENSIONS) -> list[float]:
    """The deterministic unit-length embedding of one input (a string or a token array).

    Values are rounded to float32 so the ``float`` and ``base64`` encodings of a vector
    decode to exactly the same numbers.
    """
    seed = item if isinstance(item, str) else ",".join(str(token) for token in item)
    values: list[float] = []
    block = 0
    while len(values) < dimensions:
        digest = hashlib.sha256(f"{block}:{seed}".encode()).digest()
        values.extend(u / 2**31 - 1.0 for u in struct.unpack("<8I", digest))
        block += 1
    values = values[:dimensions]
    norm = math.sqrt(sum(v * v for v in values)) or 1.0
    return list(struct.unpack(f"<{dimensions}f", struct.pack(f"<{dimensions}f", *(v / norm for v in values))))


def _embedding_inputs(raw: Any) -> list[str | list[int]] | None:
    """Normalise ``input`` (string, strings, token array, token arrays); ``None`` if invalid."""
    if isinstance(raw, str):
        return [raw]
    if not isinstance(raw, list) or not raw:
        return None
    if all(isinstance(t, int) for t in raw):
        return [raw]
    if all(isinstance(i, str) or (isinstance(i, list) and all(isinstance(t, int) for t in i)) for i in raw):
        return list(raw)
    return None


def embeddings(ctx: RequestContext, state: ProviderState) -> Reply:
    """``POST /v1/embeddings`` with ``float`` or ``base64`` encoding."""
    early = _preflight(ctx, state, ("model", "input"))
    if early is not None:
        return early
    inputs = _embedding_inputs(ctx.body["input"])
    dimensions = ctx.body.get("dimensions", DEFAULT_EMBEDDING_DIMENSIONS)
    if inputs is None or not isinstance(dimensions, int) or dimensions < 1:
        what = "'input'" if inputs is None else "'dimensions'"
        return error_reply(400, f"Invalid value for {what}.", "invalid_request_error", None, seq=ctx.seq)
    as_base64 = ctx.body.get("encoding_format") == "base64"
    data = []
    for index, item in enumerate(inputs):
        vector = embedding_vector(item, dimensions)
        encoded: list[float] | str = (
            base64.b64encode(struct.pack(f"<{dimensions}f", *vector)).decode() if as_base64 else vector
        )
        data.append({"object": "embedding", "index": index, "embedding": encoded})
    tokens = max(sum(count_tokens(i) if isinstance(i, str) else len(i) for i in inputs), 1)
    quota = state.charge(PROVIDER, ctx.model, input_tokens=tokens)
    body = {
        "object": "list",
        "data": data,
        "model": ctx.response_model,
        "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
    }
    return _finish(json_reply(200, body, rate_limit_headers(quota, ctx.seq)), ctx)
