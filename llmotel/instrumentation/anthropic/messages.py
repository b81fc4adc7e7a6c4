"""Anthropic Messages: request, response and stream-event shapes → the shared invocation.

Token rule (SEMCONV.md): ``gen_ai.usage.input_tokens`` = input + cache read + cache
creation, because Anthropic's ``input_tokens`` excludes the cached part while the
conventions' total includes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmotel import semconv as sc
from llmotel.instrumentation._params import as_dict, given
from llmotel.instrumentation._stainless_endpoint import stainless_endpoint
from llmotel.telemetry.content import drop_none
from llmotel.telemetry.wrapper import StreamingAdapter

if TYPE_CHECKING:
    from llmotel.telemetry.handler import Telemetry
    from llmotel.telemetry.invocation import Invocation

FINISH_REASONS = {
    "end_turn": sc.FINISH_STOP,
    "stop_sequence": sc.FINISH_STOP,
    "max_tokens": sc.FINISH_LENGTH,
    "model_context_window_exceeded": sc.FINISH_LENGTH,
    "tool_use": sc.FINISH_TOOL_CALL,
    "refusal": sc.FINISH_CONTENT_FILTER,
}

def finish_reason(raw: str | None) -> str:
    """Anthropic's stop reason as the convention's finish reason (unknown ones pass through)."""
    if raw is None:
        return sc.FINISH_ERROR
    return FINISH_REASONS.get(raw, raw)


def endpoint_of(resource: Any) -> tuple[str | None, int | None, str]:
    """(server.address, server.port, provider): Bedrock and Vertex clients name their provider."""
    return stainless_endpoint(resource, _anthropic_provider)


def _anthropic_provider(host: str | None, client: Any) -> str:
    return getattr(client, "_gen_ai_provider_name", None) or sc.PROVIDER_ANTHROPIC


def request_attributes(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Span attributes for a Messages request (no content)."""
    attrs: dict[str, Any] = {}
    for key, attr in (("temperature", sc.GEN_AI_REQUEST_TEMPERATURE), ("top_p", sc.GEN_AI_REQUEST_TOP_P)):
        value = given(kwargs, key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs[attr] = float(value)
    top_k = given(kwargs, "top_k")
    if isinstance(top_k, int) and not isinstance(top_k, bool):
        attrs[sc.GEN_AI_REQUEST_TOP_K] = top_k
    max_tokens = given(kwargs, "max_tokens")
    if isinstance(max_tokens, int):
        attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    stop = given(kwargs, "stop_sequences")
    if stop:
        attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = list(stop)
    config = given(kwargs, "output_config")
    if isinstance(config, dict):
        if isinstance(config.get("effort"), str):
            attrs[sc.GEN_AI_REQUEST_REASONING_LEVEL] = config["effort"]
        if config.get("format"):
            attrs[sc.GEN_AI_OUTPUT_TYPE] = "json"
    if given(kwargs, "output_format") is not None:
        attrs[sc.GEN_AI_OUTPUT_TYPE] = "json"
    return attrs


def blocks_to_parts(content: Any) -> list[dict[str, Any]]:
    """Message content (a string or content blocks) as convention parts."""
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for block in content:
        block = as_dict(block)
        if not isinstance(block, dict):
            continue
        kind = block.get("type")
        if kind == "text":
            parts.append({"type": "text", "content": block.get("text", "")})
        elif kind == "thinking":
            parts.append({"type": "reasoning", "content": block.get("thinking", "")})
        elif kind == "redacted_thinking":
            parts.append({"type": "reasoning", "content": ""})
        elif kind == "tool_use":
            parts.append(drop_none({"type": "tool_call", "id": block.get("id"), "name": block.get("name", ""),
                                    "arguments": block.get("input")}))
        elif kind == "tool_result":
            result = block.get("content")
            if isinstance(result, list):
                result = [p.get("content") for p in blocks_to_parts(result)]
            parts.append(drop_none({"type": "tool_call_response", "id": block.get("tool_use_id"),
                                    "response": result}))
        elif kind in ("server_tool_use", "mcp_tool_use"):
            parts.append(drop_none({"type": "server_tool_call", "id": block.get("id"), "name": block.get("name", ""),
                                    "server_tool_call": {"type": kind, "input": block.get("input")}}))
        elif kind in ("image", "document"):
            parts.append(_source_part(block.get("source") or {}, "image" if kind == "image" else "document"))
        else:
            parts.append({"type": str(kind or "generic")})
    return parts


def _source_part(source: dict[str, Any], modality: str) -> dict[str, Any]:
    kind = source.get("type")
    if kind == "base64":
        return drop_none({"type": "blob", "modality": modality, "mime_type": source.get("media_type"),
                          "content": source.get("data", "")})
    if kind == "url":
        return {"type": "uri", "modality": modality, "uri": source.get("url", "")}
    if kind == "file":
        return {"type": "file", "modality": modality, "file_id": source.get("file_id", "")}
    return {"type": "text", "content": source.get("data", "")} if kind == "text" else {"type": str(kind)}


def input_messages(messages: Any) -> list[dict[str, Any]]:
    """Anthropic messages as ``gen_ai.input.messages``; tool results become ``tool`` messages."""
    out: list[dict[str, Any]] = []
    for message in messages or ():
        message = as_dict(message)
        if not isinstance(message, dict):
            continue
        parts = blocks_to_parts(message.get("content"))
        role = message.get("role", "user")
        if role == "user" and parts and all(p["type"] == "tool_call_response" for p in parts):
            role = "tool"
        out.append({"role": role, "parts": parts})
    return out


def system_instructions(system: Any) -> list[dict[str, Any]] | None:
    """``system`` (a string or text blocks) as ``gen_ai.system_instructions``."""
    if not system:
        return None
    parts = [p for p in blocks_to_parts(system) if p["type"] == "text"]
    return parts or None


def tool_definitions(tools: Any) -> list[dict[str, Any]] | None:
    """Tool definitions, name and type only (custom tools are ``function``s)."""
    if not tools:
        return None
    out = []
    for tool in tools:
        tool = as_dict(tool)
        if isinstance(tool, dict):
            kind = tool.get("type") or "function"
            out.append({"type": "function" if kind == "custom" else kind, "name": tool.get("name") or kind})
    return out


def put_usage(inv: Invocation, usage: Any) -> None:
    """Anthropic usage → tokens, folding cache read and creation into the input total."""
    if usage is None:
        return
    uncached = getattr(usage, "input_tokens", None)
    read = getattr(usage, "cache_read_input_tokens", None)
    written = getattr(usage, "cache_creation_input_tokens", None)
    if uncached is not None:
        inv.input_tokens = uncached + (read or 0) + (written or 0)
    if read is not None:
        inv.cache_read_tokens = read
    if written is not None:
        inv.cache_write_tokens = written
    output = getattr(usage, "output_tokens", None)
    if output is not None:
        inv.output_tokens = output


def read_message(inv: Invocation, message: Any) -> None:
    """Fill ``inv`` from a complete Message."""
    inv.response_id = getattr(message, "id", None)
    inv.response_model = getattr(message, "model", None)
    reason = finish_reason(getattr(message, "stop_reason", None))
    inv.finish_reasons = [reason]
    put_usage(inv, getattr(message, "usage", None))
    if inv.input_messages is not None:
        inv.output_messages = [{"role": "assistant", "parts": blocks_to_parts(getattr(message, "content", None)),
                                "finish_reason": reason}]


class MessagesAdapter(StreamingAdapter):
    """``messages.create`` / ``.parse`` / ``.stream`` (and the beta namespace)."""

    name = "anthropic.messages"

    def begin(self, tel: Telemetry, instance: Any, kwargs: dict[str, Any]) -> tuple[Invocation, dict[str, Any]]:
        """Start a chat invocation from a Messages request."""
        address, port, provider = endpoint_of(instance)
        streaming = kwargs.get("stream") is True
        inv = tel.start(sc.OP_CHAT, provider, given(kwargs, "model"), address, port,
                        request_attributes(kwargs), streaming)
        if tel.capture:
            inv.input_messages = input_messages(given(kwargs, "messages"))
            inv.system_instructions = system_instructions(given(kwargs, "system"))
            inv.tool_definitions = tool_definitions(given(kwargs, "tools"))
        return inv, kwargs

    def on_response(self, inv: Invocation, value: Any) -> None:
        """Read a Message."""
        read_message(inv, value)

    def new_accumulator(self, inv: Invocation) -> MessagesAccumulator:
        """A raw stream-event accumulator."""
        return MessagesAccumulator(inv)


class MessagesAccumulator:
    """Folds raw Messages stream events; usage from message_start and message_delta."""

    __slots__ = ("blocks", "message", "stop_reason", "usage")

    def __init__(self, inv: Invocation) -> None:
        self.message: Any = None
        self.usage: dict[str, int] = {}
        self.stop_reason: str | None = None
        self.blocks: dict[int, dict[str, Any]] | None = {} if inv.input_messages is not None else None

    def on_chunk(self, event: Any) -> None:
        """Fold one event (content only when capturing)."""
        kind = event.type
        if kind == "message_start":
            self.message = event.message
            self._fold_usage(getattr(event.message, "usage", None))
        elif kind == "message_delta":
            self.stop_reason = getattr(event.delta, "stop_reason", None) or self.stop_reason
            self._fold_usage(getattr(event, "usage", None))
        elif self.blocks is not None:
            if kind == "content_block_start":
                self.blocks[event.index] = {"block": as_dict(event.content_block), "text": [], "json": []}
            elif kind == "content_block_delta":
                entry = self.blocks.get(event.index)
                delta = event.delta
                if entry is not None:
                    dtype = delta.type
                    if dtype == "text_delta":
                        entry["text"].append(delta.text)
                    elif dtype == "thinking_delta":
                        entry["text"].append(delta.thinking)
                    elif dtype == "input_json_delta":
                        entry["json"].append(delta.partial_json)

    def _fold_usage(self, usage: Any) -> None:
        # message_delta's usage is cumulative; later values win field by field.
        if usage is None:
            return
        for field in ("input_tokens", "output_tokens", "cache_read_input_tokens", "cache_creation_input_tokens"):
            value = getattr(usage, field, None)
            if value is not None:
                self.usage[field] = value

    def apply(self, inv: Invocation, complete: bool) -> None:
        """Write id/model, finish reason, usage and (when capturing) the assembled blocks."""
        if self.message is not None:
            inv.response_id = getattr(self.message, "id", None)
            inv.response_model = getattr(self.message, "model", None)
        reason = finish_reason(self.stop_reason)
        inv.finish_reasons = [reason]
        if self.usage:
            put_usage(inv, _Usage(self.usage))
        if self.blocks is not None:
            inv.output_messages = [{"role": "assistant", "parts": self._parts(), "finish_reason": reason}]

    def _parts(self) -> list[dict[str, Any]]:
        import json

        blocks = []
        for index in sorted(self.blocks or {}):
            entry = self.blocks[index]
            block = dict(entry["block"])
            kind = block.get("type")
            if kind == "text":
                block["text"] = block.get("text", "") + "".join(entry["text"])
            elif kind == "thinking":
                block["thinking"] = block.get("thinking", "") + "".join(entry["text"])
            elif kind in ("tool_use", "server_tool_use") and entry["json"]:
                raw = "".join(entry["json"])
                try:
                    block["input"] = json.loads(raw)
                except ValueError:
                    block["input"] = raw
            blocks.append(block)
        return blocks_to_parts(blocks)


class _Usage:
    """Attribute view over folded usage fields (missing ones read as None)."""

    __slots__ = ("_fields",)

    def __init__(self, fields: dict[str, int]) -> None:
        self._fields = fields

    def __getattr__(self, name: str) -> int | None:
        return self._fields.get(name)
