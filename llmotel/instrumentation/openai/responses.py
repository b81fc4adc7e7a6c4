"""Responses API: request, response and stream-event shapes → the shared invocation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmotel import semconv as sc
from llmotel.instrumentation.openai.common import (
    as_dict,
    endpoint_of,
    given,
    put_response_meta,
    put_sampling_params,
    text_of,
)
from llmotel.telemetry.content import decode_arguments, drop_none
from llmotel.telemetry.wrapper import StreamingAdapter

if TYPE_CHECKING:
    from llmotel.telemetry.handler import Telemetry
    from llmotel.telemetry.invocation import Invocation

_INCOMPLETE = {"max_output_tokens": sc.FINISH_LENGTH, "content_filter": sc.FINISH_CONTENT_FILTER}
# Stream events that carry the whole final response.
_FINAL_EVENTS = frozenset(("response.completed", "response.incomplete", "response.failed"))


def request_attributes(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Span attributes for a Responses request (no content)."""
    attrs: dict[str, Any] = {sc.OPENAI_API_TYPE: sc.OPENAI_API_TYPE_RESPONSES}
    put_sampling_params(kwargs, attrs)
    max_tokens = given(kwargs, "max_output_tokens")
    if isinstance(max_tokens, int):
        attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    reasoning = given(kwargs, "reasoning")
    if isinstance(reasoning, dict) and isinstance(reasoning.get("effort"), str):
        attrs[sc.GEN_AI_REQUEST_REASONING_LEVEL] = reasoning["effort"]
    previous = given(kwargs, "previous_response_id")
    if isinstance(previous, str):
        attrs[sc.GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID] = previous
    conversation = given(kwargs, "conversation")
    if isinstance(conversation, dict):
        conversation = conversation.get("id")
    if isinstance(conversation, str) and conversation:
        attrs[sc.GEN_AI_CONVERSATION_ID] = conversation
    text = given(kwargs, "text")
    fmt = text.get("format") if isinstance(text, dict) else None
    if isinstance(fmt, dict) and fmt.get("type"):
        attrs[sc.GEN_AI_OUTPUT_TYPE] = "json" if fmt["type"] in ("json_schema", "json_object") else fmt["type"]
    elif given(kwargs, "text_format") is not None:
        attrs[sc.GEN_AI_OUTPUT_TYPE] = "json"
    return attrs


def input_messages(value: Any) -> list[dict[str, Any]]:
    """Responses ``input`` (a string or a list of items) as ``gen_ai.input.messages``."""
    if value is None:
        return []
    if isinstance(value, str):
        return [{"role": "user", "parts": [{"type": "text", "content": value}]}]
    out: list[dict[str, Any]] = []
    for item in value:
        item = as_dict(item)
        if not isinstance(item, dict):
            continue
        kind = item.get("type", "message")
        if kind == "message" or "role" in item:
            out.append({"role": item.get("role", "user"), "parts": text_of(item.get("content"))})
        elif kind == "function_call":
            out.append({"role": "assistant", "parts": [drop_none({
                "type": "tool_call", "id": item.get("call_id"), "name": item.get("name", ""),
                "arguments": decode_arguments(item.get("arguments"))})]})
        elif kind == "function_call_output":
            out.append({"role": "tool", "parts": [drop_none({
                "type": "tool_call_response", "id": item.get("call_id"), "response": item.get("output")})]})
        else:
            out.append({"role": "user", "parts": [{"type": str(kind)}]})
    return out


def tool_definitions(tools: Any) -> list[dict[str, Any]] | None:
    """Responses tools, name and type only."""
    if not tools:
        return None
    out = []
    for tool in tools:
        tool = as_dict(tool)
        if isinstance(tool, dict):
            kind = tool.get("type", "function")
            out.append({"type": kind, "name": tool.get("name") or kind})
    return out


def finish_reason(response: Any) -> str:
    """A Response's status as the convention's finish reason."""
    status = getattr(response, "status", None)
    if status == "incomplete":
        details = getattr(response, "incomplete_details", None)
        return _INCOMPLETE.get(getattr(details, "reason", None), sc.FINISH_LENGTH)
    if status in ("failed", "cancelled"):
        return sc.FINISH_ERROR
    for item in getattr(response, "output", None) or ():
        if getattr(item, "type", None) == "function_call":
            return sc.FINISH_TOOL_CALL
    return sc.FINISH_STOP


def output_messages(response: Any, reason: str) -> list[dict[str, Any]]:
    """All output items folded into one assistant ``OutputMessage``."""
    parts: list[dict[str, Any]] = []
    for item in getattr(response, "output", None) or ():
        kind = getattr(item, "type", None)
        if kind == "message":
            for content in getattr(item, "content", None) or ():
                if getattr(content, "type", None) == "output_text":
                    parts.append({"type": "text", "content": content.text})
                elif getattr(content, "type", None) == "refusal":
                    parts.append({"type": "refusal", "content": content.refusal})
        elif kind == "function_call":
            parts.append(drop_none({"type": "tool_call", "id": getattr(item, "call_id", None),
                                    "name": item.name, "arguments": decode_arguments(item.arguments)}))
        elif kind == "reasoning":
            for summary in getattr(item, "summary", None) or ():
                parts.append({"type": "reasoning", "content": getattr(summary, "text", "")})
        elif kind:
            parts.append({"type": "server_tool_call", "id": getattr(item, "id", None) or "",
                          "name": kind, "server_tool_call": {"type": kind}})
    return [{"role": "assistant", "parts": parts, "finish_reason": reason}]


def put_usage(inv: Invocation, usage: Any) -> None:
    """Responses usage → tokens."""
    if usage is None:
        return
    inv.input_tokens = getattr(usage, "input_tokens", None)
    inv.output_tokens = getattr(usage, "output_tokens", None)
    details = getattr(usage, "input_tokens_details", None)
    if details is not None:
        cached = getattr(details, "cached_tokens", None)
        if cached is not None:
            inv.cache_read_tokens = cached
        written = getattr(details, "cache_write_tokens", None)
        if written:
            inv.cache_write_tokens = written
    details = getattr(usage, "output_tokens_details", None)
    reasoning = getattr(details, "reasoning_tokens", None) if details is not None else None
    if reasoning is not None:
        inv.reasoning_tokens = reasoning


def read_response(inv: Invocation, response: Any) -> None:
    """Fill ``inv`` from a complete Response object."""
    put_response_meta(inv, response)
    reason = finish_reason(response)
    inv.finish_reasons = [reason]
    put_usage(inv, getattr(response, "usage", None))
    conversation = getattr(response, "conversation", None)
    conversation_id = getattr(conversation, "id", None)
    if conversation_id:
        inv.set_attribute(sc.GEN_AI_CONVERSATION_ID, conversation_id)
    if inv.input_messages is not None:
        inv.output_messages = output_messages(response, reason)


class ResponsesAdapter(StreamingAdapter):
    """``responses.create`` / ``.parse`` (``.stream`` goes through create)."""

    name = "openai.responses"

    def begin(self, tel: Telemetry, instance: Any, kwargs: dict[str, Any]) -> tuple[Invocation, dict[str, Any]]:
        """Start a Responses invocation."""
        address, port, provider = endpoint_of(instance)
        streaming = kwargs.get("stream") is True
        inv = tel.start(sc.OP_CHAT, provider, given(kwargs, "model"), address, port,
                        request_attributes(kwargs), streaming)
        if tel.capture:
            inv.input_messages = input_messages(given(kwargs, "input"))
            instructions = given(kwargs, "instructions")
            if isinstance(instructions, str) and instructions:
                inv.system_instructions = [{"type": "text", "content": instructions}]
            inv.tool_definitions = tool_definitions(given(kwargs, "tools"))
        return inv, kwargs

    def on_response(self, inv: Invocation, value: Any) -> None:
        """Read a Response."""
        read_response(inv, value)

    def new_accumulator(self, inv: Invocation) -> ResponsesAccumulator:
        """A stream-event accumulator."""
        return ResponsesAccumulator(inv)


class ResponsesAccumulator:
    """Keeps the latest response snapshot from stream events; text deltas only when capturing."""

    __slots__ = ("final", "snapshot", "text")

    def __init__(self, inv: Invocation) -> None:
        self.snapshot: Any = None
        self.final: Any = None
        self.text: list[str] | None = [] if inv.input_messages is not None else None

    def on_chunk(self, event: Any) -> None:
        """Fold one event."""
        kind = event.type
        if kind in _FINAL_EVENTS:
            self.final = event.response
        elif kind == "response.created" or kind == "response.in_progress":
            self.snapshot = event.response
        elif self.text is not None and kind == "response.output_text.delta":
            self.text.append(event.delta)

    def apply(self, inv: Invocation, complete: bool) -> None:
        """Write the final response, or what the cut-short stream delivered."""
        if self.final is not None:
            read_response(inv, self.final)
            return
        if self.snapshot is not None:
            put_response_meta(inv, self.snapshot)
        inv.finish_reasons = [sc.FINISH_ERROR]
        if self.text is not None:
            parts = [{"type": "text", "content": "".join(self.text)}] if self.text else []
            inv.output_messages = [{"role": "assistant", "parts": parts, "finish_reason": sc.FINISH_ERROR}]
