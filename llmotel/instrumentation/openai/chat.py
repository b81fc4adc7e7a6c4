"""Chat Completions: request, response and chunk shapes → the shared invocation."""

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

_FINISH = {"tool_calls": sc.FINISH_TOOL_CALL, "function_call": sc.FINISH_TOOL_CALL}
_OUTPUT_TYPES = {"json_object": "json", "json_schema": "json", "text": "text"}


def finish_reason(raw: str | None) -> str:
    """OpenAI's finish reason as the convention's value (a missing one is ``error``)."""
    if raw is None:
        return sc.FINISH_ERROR
    return _FINISH.get(raw, raw)


def request_attributes(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Span attributes for a chat request (no content)."""
    attrs: dict[str, Any] = {sc.OPENAI_API_TYPE: sc.OPENAI_API_TYPE_CHAT}
    put_sampling_params(kwargs, attrs)
    max_tokens = given(kwargs, "max_completion_tokens") or given(kwargs, "max_tokens")
    if isinstance(max_tokens, int):
        attrs[sc.GEN_AI_REQUEST_MAX_TOKENS] = max_tokens
    stop = given(kwargs, "stop")
    if stop:
        attrs[sc.GEN_AI_REQUEST_STOP_SEQUENCES] = [stop] if isinstance(stop, str) else list(stop)
    n = given(kwargs, "n")
    if isinstance(n, int) and n != 1:
        attrs[sc.GEN_AI_REQUEST_CHOICE_COUNT] = n
    effort = given(kwargs, "reasoning_effort")
    if isinstance(effort, str):
        attrs[sc.GEN_AI_REQUEST_REASONING_LEVEL] = effort
    fmt = given(kwargs, "response_format")
    if fmt is not None:
        kind = fmt.get("type") if isinstance(fmt, dict) else "json_schema"  # a pydantic class (parse)
        attrs[sc.GEN_AI_OUTPUT_TYPE] = _OUTPUT_TYPES.get(kind, kind)
    return attrs


def input_messages(messages: Any) -> list[dict[str, Any]]:
    """Chat messages as ``gen_ai.input.messages`` (system/developer messages included)."""
    out: list[dict[str, Any]] = []
    for message in messages or ():
        message = as_dict(message)
        if not isinstance(message, dict):
            continue
        role = message.get("role", "user")
        parts = text_of(message.get("content"))
        for call in message.get("tool_calls") or ():
            call = as_dict(call)
            function = call.get("function") or {}
            parts.append(drop_none({
                "type": "tool_call",
                "id": call.get("id"),
                "name": function.get("name", ""),
                "arguments": decode_arguments(function.get("arguments")),
            }))
        if role == "tool":
            content = message.get("content")
            response = content if isinstance(content, str) else [p.get("content") for p in parts]
            parts = [drop_none({"type": "tool_call_response", "id": message.get("tool_call_id"),
                                "response": response})]
        entry: dict[str, Any] = {"role": role, "parts": parts}
        if message.get("name"):
            entry["name"] = message["name"]
        out.append(entry)
    return out


def tool_definitions(tools: Any) -> list[dict[str, Any]] | None:
    """Tool definitions, name and type only (the conventions advise against the schema)."""
    if not tools:
        return None
    out = []
    for tool in tools:
        tool = as_dict(tool)
        if not isinstance(tool, dict):
            continue
        kind = tool.get("type", "function")
        name = (tool.get("function") or {}).get("name") if kind == "function" else tool.get("name")
        out.append({"type": kind, "name": name or kind})
    return out


def output_message(message: Any, reason: str) -> dict[str, Any]:
    """One choice's message as an ``OutputMessage``."""
    parts: list[dict[str, Any]] = []
    content = getattr(message, "content", None)
    if content:
        parts.append({"type": "text", "content": content})
    refusal = getattr(message, "refusal", None)
    if refusal:
        parts.append({"type": "refusal", "content": refusal})
    for call in getattr(message, "tool_calls", None) or ():
        function = getattr(call, "function", None)
        parts.append(drop_none({
            "type": "tool_call",
            "id": getattr(call, "id", None),
            "name": getattr(function, "name", ""),
            "arguments": decode_arguments(getattr(function, "arguments", None)),
        }))
    return {"role": getattr(message, "role", None) or "assistant", "parts": parts, "finish_reason": reason}


def put_usage(inv: Invocation, usage: Any) -> None:
    """Chat usage → tokens (cached input and reasoning output are subsets, as in the conventions)."""
    if usage is None:
        return
    inv.input_tokens = getattr(usage, "prompt_tokens", None)
    inv.output_tokens = getattr(usage, "completion_tokens", None)
    details = getattr(usage, "prompt_tokens_details", None)
    cached = getattr(details, "cached_tokens", None) if details is not None else None
    if cached is not None:
        inv.cache_read_tokens = cached
    details = getattr(usage, "completion_tokens_details", None)
    reasoning = getattr(details, "reasoning_tokens", None) if details is not None else None
    if reasoning is not None:
        inv.reasoning_tokens = reasoning
    # OpenRouter and some gateways report the billed amount themselves.
    cost = getattr(usage, "cost", None)
    if isinstance(cost, (int, float)) and not isinstance(cost, bool):
        inv.reported_cost = float(cost)


class ChatAdapter(StreamingAdapter):
    """``chat.completions.create`` / ``.parse``."""

    name = "openai.chat"

    def begin(self, tel: Telemetry, instance: Any, kwargs: dict[str, Any]) -> tuple[Invocation, dict[str, Any]]:
        """Start a chat invocation; optionally ask for usage on streams."""
        address, port, provider = endpoint_of(instance)
        streaming = kwargs.get("stream") is True
        inv = tel.start(sc.OP_CHAT, provider, given(kwargs, "model"), address, port,
                        request_attributes(kwargs), streaming)
        if tel.capture:
            inv.input_messages = input_messages(given(kwargs, "messages"))
            inv.tool_definitions = tool_definitions(given(kwargs, "tools"))
        if streaming and tel.include_usage and given(kwargs, "stream_options") is None:
            kwargs = {**kwargs, "stream_options": {"include_usage": True}}
            inv.injected_usage = True
        return inv, kwargs

    def on_response(self, inv: Invocation, value: Any) -> None:
        """Read a ChatCompletion."""
        put_response_meta(inv, value)
        choices = getattr(value, "choices", None) or ()
        reasons = [finish_reason(getattr(c, "finish_reason", None)) for c in choices]
        if reasons:
            inv.finish_reasons = reasons
        put_usage(inv, getattr(value, "usage", None))
        if inv.input_messages is not None:
            inv.output_messages = [
                output_message(getattr(c, "message", None), r) for c, r in zip(choices, reasons, strict=False)
            ]

    def new_accumulator(self, inv: Invocation) -> ChatAccumulator:
        """A chunk accumulator for one chat stream."""
        return ChatAccumulator(inv)


class ChatAccumulator:
    """Folds ``chat.completion.chunk`` events; content only when capture is on."""

    __slots__ = ("capture", "choices", "first", "hide_usage", "reasons", "usage")

    def __init__(self, inv: Invocation) -> None:
        self.capture = inv.input_messages is not None
        self.hide_usage = inv.injected_usage
        self.first: Any = None
        self.reasons: dict[int, str] = {}
        self.usage: Any = None
        self.choices: dict[int, _ChoiceBuffer] | None = {} if self.capture else None

    def on_chunk(self, chunk: Any) -> bool | None:
        """Fold one chunk; hides the usage-only chunk when llmotel asked for it."""
        if self.first is None:
            self.first = chunk
        choices = chunk.choices
        for choice in choices:
            reason = choice.finish_reason
            if reason is not None:
                self.reasons[choice.index] = reason
            if self.choices is not None:
                buffer = self.choices.get(choice.index)
                if buffer is None:
                    buffer = self.choices[choice.index] = _ChoiceBuffer()
                buffer.add(choice.delta)
        usage = getattr(chunk, "usage", None)
        if usage is not None:
            self.usage = usage
            return self.hide_usage and not choices
        return None

    def apply(self, inv: Invocation, complete: bool) -> None:
        """Write id/model, finish reasons (``error`` where none arrived), usage, content."""
        if self.first is not None:
            put_response_meta(inv, self.first)
        expected = inv.attributes.get(sc.GEN_AI_REQUEST_CHOICE_COUNT, 1)
        count = max(expected, max(self.reasons, default=-1) + 1)
        reasons = [finish_reason(self.reasons.get(i)) for i in range(count)]
        inv.finish_reasons = reasons
        put_usage(inv, self.usage)
        if self.choices is not None:
            inv.output_messages = [
                self.choices[i].message(reasons[i]) if i in self.choices
                else {"role": "assistant", "parts": [], "finish_reason": reasons[i]}
                for i in range(count)
            ]


class _ChoiceBuffer:
    """Text and tool-call fragments of one streamed choice (capture mode only)."""

    __slots__ = ("role", "text", "tools")

    def __init__(self) -> None:
        self.role = "assistant"
        self.text: list[str] = []
        self.tools: dict[int, list[Any]] = {}

    def add(self, delta: Any) -> None:
        if delta is None:
            return
        if delta.role:
            self.role = delta.role
        if delta.content:
            self.text.append(delta.content)
        for call in delta.tool_calls or ():
            entry = self.tools.get(call.index)
            if entry is None:
                entry = self.tools[call.index] = [None, "", []]
            if call.id:
                entry[0] = call.id
            function = call.function
            if function is not None:
                if function.name:
                    entry[1] = function.name
                if function.arguments:
                    entry[2].append(function.arguments)

    def message(self, reason: str) -> dict[str, Any]:
        parts: list[dict[str, Any]] = []
        if self.text:
            parts.append({"type": "text", "content": "".join(self.text)})
        for index in sorted(self.tools):
            call_id, name, fragments = self.tools[index]
            parts.append(drop_none({"type": "tool_call", "id": call_id, "name": name,
                                    "arguments": decode_arguments("".join(fragments))}))
        return {"role": self.role, "parts": parts, "finish_reason": reason}
