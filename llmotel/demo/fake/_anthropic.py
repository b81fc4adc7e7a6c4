"""Anthropic-shaped payloads: the Messages API, streaming and prompt caching."""

from __future__ import annotations

import base64
import hashlib
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ._core import (
    TOOL_ARGUMENTS,
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
    sse_event,
    sse_reply,
    thinking_text,
    truncate_json_reply,
    truncate_words,
    word_pieces,
)

PROVIDER = "anthropic"
TOOL_USE_ID = "toolu_fake_1"

# message_start, content_block_start, ping and the first delta: the client has seen a
# little output before the stream fails.
_FAULT_AFTER = 4

_ERRORS: dict[str, tuple[int, str, str]] = {
    "error_500": (500, "api_error", "Internal server error"),
    "fail_once": (500, "api_error", "Internal server error (fail_once); please retry"),
    "rate_limit": (429, "rate_limit_error", "Number of request tokens has exceeded your rate limit (fake)"),
    "overloaded": (529, "overloaded_error", "Overloaded"),
    "bad_request": (400, "invalid_request_error", "Invalid request (fake bad_request scenario)"),
}


def error_body(type_: str, message: str, seq: int) -> dict[str, Any]:
    """Anthropic's error envelope."""
    return {"type": "error", "error": {"type": type_, "message": message}, "request_id": f"req_fake_{seq}"}


def error_reply(status: int, type_: str, message: str, *, seq: int, headers: dict[str, str] | None = None) -> Reply:
    """An Anthropic error response with its ``request-id`` header."""
    return json_reply(status, error_body(type_, message, seq), {"request-id": f"req_fake_{seq}", **(headers or {})})


def _rfc3339(offset_seconds: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset_seconds))


def rate_limit_headers(quota: Quota, seq: int) -> dict[str, str]:
    """The ``anthropic-ratelimit-*`` headers (resets are RFC 3339 timestamps)."""
    headers = {"request-id": f"req_fake_{seq}"}
    buckets = (
        ("requests", quota.requests_limit, quota.requests_remaining),
        ("tokens", quota.tokens_limit, quota.tokens_remaining),
        ("input-tokens", quota.tokens_limit, quota.input_tokens_remaining),
        ("output-tokens", quota.tokens_limit, quota.output_tokens_remaining),
    )
    for name, limit, remaining in buckets:
        headers[f"anthropic-ratelimit-{name}-limit"] = str(limit)
        headers[f"anthropic-ratelimit-{name}-remaining"] = str(remaining)
        headers[f"anthropic-ratelimit-{name}-reset"] = _rfc3339(1 if remaining == 0 else 60)
    return headers


def _preflight(ctx: RequestContext, state: ProviderState) -> Reply | None:
    """Validate required fields and apply the error scenarios; ``None`` means carry on."""
    for name in ("model", "max_tokens", "messages"):
        if ctx.body.get(name) is None:
            return error_reply(400, "invalid_request_error", f"{name}: Field required", seq=ctx.seq)
    scenario = error_scenario(ctx, state)
    if scenario is None:
        return None
    status, type_, message = _ERRORS[scenario]
    if scenario == "rate_limit":
        quota = state.peek(PROVIDER, ctx.model).exhausted()
    else:
        quota = state.charge(PROVIDER, ctx.model)
    headers = {**rate_limit_headers(quota, ctx.seq), **retry_after_headers(ctx, scenario)}
    return error_reply(status, type_, message, seq=ctx.seq, headers=headers)


# --------------------------------------------------------------------------- prompt accounting


def _prompt_blocks(body: Mapping[str, Any]) -> list[tuple[str, Any]]:
    """The prompt as (role, block) pairs in cache-prefix order: system, then messages.

    Tools also belong to Anthropic's cached prefix, but the fake token rule does not count
    tool definitions, so they are left out here too.
    """
    blocks: list[tuple[str, Any]] = []
    system = body.get("system")
    if isinstance(system, str):
        blocks.append(("system", {"type": "text", "text": system}))
    elif isinstance(system, list):
        blocks.extend(("system", block) for block in system)
    for message in body.get("messages") or []:
        if not isinstance(message, Mapping):
            continue
        role = str(message.get("role"))
        content = message.get("content")
        if isinstance(content, str):
            blocks.append((role, {"type": "text", "text": content}))
        elif isinstance(content, list):
            blocks.extend((role, block) for block in content)
    return blocks


@dataclass(frozen=True, slots=True)
class _InputUsage:
    input_tokens: int
    cache_creation: int = 0
    cache_read: int = 0


def _input_usage(ctx: RequestContext, state: ProviderState) -> _InputUsage:
    """Split the prompt's tokens into uncached input, cache writes and cache reads.

    With ``cache_control`` markers the prefix up to the last marker is cached: written the
    first time the provider sees it, read on every later request. As in the real API,
    ``input_tokens`` excludes both cache counts.
    """
    blocks = _prompt_blocks(ctx.body)
    total = prompt_tokens(content_text([block]) for _, block in blocks)
    marked = [i for i, (_, block) in enumerate(blocks) if isinstance(block, Mapping) and block.get("cache_control")]
    if marked:
        prefix = blocks[: marked[-1] + 1]
        cached = sum(count_tokens(content_text([block])) for _, block in prefix)
        key = hashlib.sha256(json.dumps([ctx.model, prefix], sort_keys=True, default=str).encode()).hexdigest()
        if state.cache_hit(key):
            return _InputUsage(max(total - cached, 0), cache_read=cached)
        return _InputUsage(max(total - cached, 0), cache_creation=cached)
    if ctx.has("cached"):
        read = total // 2
        return _InputUsage(total - read, cache_read=read)
    return _InputUsage(total)


def _last_user(body: Mapping[str, Any]) -> tuple[str, bool]:
    """The last user message's text and whether it carries tool results."""
    messages = [m for m in body.get("messages") or [] if isinstance(m, Mapping)]
    for message in reversed(messages):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        tool_result = isinstance(content, list) and any(
            isinstance(b, Mapping) and b.get("type") == "tool_result" for b in content
        )
        return content_text(content), tool_result and message is messages[-1]
    return "", False


# --------------------------------------------------------------------------- answer


@dataclass(slots=True)
class _Answer:
    """What the fake model says to one request, before any wire formatting."""

    blocks: list[dict[str, Any]] = field(default_factory=list)
    stop_reason: str = "end_turn"
    output_tokens: int = 0


def _answer(ctx: RequestContext) -> _Answer:
    body = ctx.body
    last_user, after_tool_result = _last_user(body)
    answer = _Answer()
    thinking = body.get("thinking")
    if isinstance(thinking, Mapping) and thinking.get("type") in ("enabled", "adaptive"):
        text = thinking_text(last_user)
        signature = base64.b64encode(hashlib.sha256(text.encode()).digest()).decode()
        answer.blocks.append({"type": "thinking", "thinking": text, "signature": signature})
        answer.output_tokens += count_tokens(text)
    tool = choose_tool(
        body.get("tools"),
        body.get("tool_choice"),
        forced=ctx.has("tool_call"),
        last_user_text=last_user,
        after_tool_result=after_tool_result,
    )
    if tool is not None:
        answer.blocks.append({"type": "tool_use", "id": TOOL_USE_ID, "name": tool, "input": dict(TOOL_ARGUMENTS)})
        answer.output_tokens += count_tokens(json.dumps(TOOL_ARGUMENTS))
        answer.stop_reason = "tool_use"
        return answer
    max_tokens = body.get("max_tokens")
    text, truncated = truncate_words(
        reply_text(last_user, ctx.reply_override), max_tokens if isinstance(max_tokens, int) else None
    )
    answer.blocks.append({"type": "text", "text": text})
    answer.output_tokens += count_tokens(text)
    if truncated:
        answer.stop_reason = "max_tokens"
    return answer


def _usage(inputs: _InputUsage, output_tokens: int) -> dict[str, Any]:
    return {
        "input_tokens": inputs.input_tokens,
        "cache_creation_input_tokens": inputs.cache_creation,
        "cache_read_input_tokens": inputs.cache_read,
        "cache_creation": {
            "ephemeral_5m_input_tokens": inputs.cache_creation,
            "ephemeral_1h_input_tokens": 0,
        },
        "output_tokens": output_tokens,
        "service_tier": "standard",
    }


def _message(ctx: RequestContext, content: list[dict[str, Any]], stop_reason: str | None, usage: Any) -> dict[str, Any]:
    return {
        "id": f"msg_fake_{ctx.seq}",
        "type": "message",
        "role": "assistant",
        "model": ctx.response_model,
        "content": content,
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


# --------------------------------------------------------------------------- streaming


def _block_events(index: int, block: dict[str, Any]) -> list[dict[str, Any]]:
    """``content_block_start``, its deltas and ``content_block_stop`` for one block."""

    def delta(payload: dict[str, Any]) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": index, "delta": payload}

    kind = block["type"]
    if kind == "thinking":
        start = {"type": "thinking", "thinking": "", "signature": ""}
        deltas = [delta({"type": "thinking_delta", "thinking": p}) for p in word_pieces(block["thinking"])]
        deltas.append(delta({"type": "signature_delta", "signature": block["signature"]}))
    elif kind == "tool_use":
        start = {**block, "input": {}}
        # Like the real API: an empty fragment first, then the JSON a few characters at a time.
        pieces = ["", *fragments(json.dumps(block["input"]))]
        deltas = [delta({"type": "input_json_delta", "partial_json": p}) for p in pieces]
    else:
        start = {"type": "text", "text": ""}
        deltas = [delta({"type": "text_delta", "text": p}) for p in word_pieces(block["text"])]
    return [
        {"type": "content_block_start", "index": index, "content_block": start},
        *deltas,
        {"type": "content_block_stop", "index": index},
    ]


def _stream_events(ctx: RequestContext, answer: _Answer, inputs: _InputUsage) -> list[dict[str, Any]]:
    # message_start reports the input side and a placeholder output count of 1; the real
    # output count only arrives in message_delta, which is what clients must use.
    events: list[dict[str, Any]] = [{"type": "message_start", "message": _message(ctx, [], None, _usage(inputs, 1))}]
    for index, block in enumerate(answer.blocks):
        block_events = _block_events(index, block)
        events.extend(block_events[:1])
        if index == 0:
            events.append({"type": "ping"})
        events.extend(block_events[1:])
    events.append(
        {
            "type": "message_delta",
            "delta": {"stop_reason": answer.stop_reason, "stop_sequence": None},
            "usage": {"output_tokens": answer.output_tokens},
        }
    )
    events.append({"type": "message_stop"})
    return events


def messages(ctx: RequestContext, state: ProviderState) -> Reply:
    """``POST /v1/messages``, streaming or not."""
    early = _preflight(ctx, state)
    if early is not None:
        return early
    inputs = _input_usage(ctx, state)
    answer = _answer(ctx)
    quota = state.charge(
        PROVIDER,
        ctx.model,
        input_tokens=inputs.input_tokens + inputs.cache_creation + inputs.cache_read,
        output_tokens=answer.output_tokens,
    )
    headers = rate_limit_headers(quota, ctx.seq)
    if ctx.stream:
        events = [sse_event(event["type"], event) for event in _stream_events(ctx, answer, inputs)]
        error = sse_event("error", error_body("overloaded_error", "Overloaded", ctx.seq))
        return sse_reply(events, headers, ctx, error, _FAULT_AFTER)
    body = _message(ctx, answer.blocks, answer.stop_reason, _usage(inputs, answer.output_tokens))
    reply = json_reply(200, body, headers)
    return truncate_json_reply(reply) if ctx.has("stream_error") else reply
