"""Shared building blocks of the fake provider: token rules, scenarios, replies and state.

Everything here is provider-neutral; the OpenAI and Anthropic modules only decide how
these pieces are shaped on the wire.
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

SCENARIOS: frozenset[str] = frozenset(
    {
        "error_500",
        "rate_limit",
        "overloaded",
        "bad_request",
        "timeout",
        "stream_error",
        "stream_error_event",
        "tool_call",
        "cached",
        "reasoning",
        "fail_once",
    }
)
"""Every scenario name accepted in ``x-fake-scenario`` or as a ``model@scenario`` suffix."""

DEFAULT_TIMEOUT_DELAY = 5.0
"""Seconds the ``timeout`` scenario waits when the request has no ``x-fake-delay`` header."""

REASONING_TOKENS = 7
"""Reasoning tokens the ``reasoning`` scenario adds to the completion token count."""

TOOL_ARGUMENTS: dict[str, Any] = {"location": "Paris"}
"""Arguments of every fake tool call (a JSON string on OpenAI, an object on Anthropic)."""

DEFAULT_TOOL_NAME = "get_weather"

# By default streams break after this many events under `stream_error`/`stream_error_event`:
# enough for a client to have started consuming (and recording) a partial answer.
STREAM_FAULT_AFTER = 3

_WORD_PIECES = re.compile(r"\s*\S+")
_WEATHER = re.compile(r"\bweather\b", re.IGNORECASE)


def count_tokens(text: str) -> int:
    """Count the fake tokens in ``text``: its whitespace-separated words.

    This is the single token rule of the fake provider, so tests can compute the usage the
    server will report (prompt counts are additionally clamped to at least one token).
    """
    return len(text.split())


def word_pieces(text: str) -> list[str]:
    """Split ``text`` into stream-sized pieces, one word each with its leading whitespace.

    Joining the pieces gives back ``text`` exactly (apart from trailing whitespace), which
    is what lets a client reassemble a streamed reply into the non-streamed one.
    """
    return _WORD_PIECES.findall(text)


def truncate_words(text: str, limit: int | None) -> tuple[str, bool]:
    """Keep at most ``limit`` words of ``text``; return the text and whether it was cut."""
    if limit is None:
        return text, False
    pieces = word_pieces(text)
    if len(pieces) <= limit:
        return text, False
    return "".join(pieces[: max(limit, 0)]).strip(), True


def fragments(text: str, size: int = 4) -> list[str]:
    """Cut ``text`` into fixed-size fragments, like a model emitting JSON a token at a time."""
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def reply_text(user_text: str, override: str | None = None) -> str:
    """The deterministic assistant reply to a user message (``x-fake-reply`` wins)."""
    if override is not None:
        return override
    words = user_text.split()[:8]
    if not words:
        return "This is a fake reply."
    return "This is a fake reply to: " + " ".join(words)


def thinking_text(user_text: str) -> str:
    """The deterministic extended-thinking text for a user message."""
    words = user_text.split()[:8]
    topic = " ".join(words) if words else "nothing in particular"
    return f"The user asked about: {topic}. A short answer will do."


def tool_arguments_json() -> str:
    """The tool-call arguments as OpenAI sends them: a JSON document inside a string."""
    return json.dumps(TOOL_ARGUMENTS)


def mentions_weather(text: str) -> bool:
    """Whether ``text`` contains the word "weather", the fake trigger for tool calls."""
    return _WEATHER.search(text) is not None


def content_text(content: Any) -> str:
    """Flatten a message ``content`` (string or list of parts/blocks) into plain text.

    Understands OpenAI chat parts and Responses parts (``text``) and Anthropic blocks
    (``text`` and ``tool_result`` with nested content). Anything else (images, tool calls,
    earlier thinking blocks, which Anthropic drops from the context) counts as no text.
    """
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return ""
    texts: list[str] = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, Mapping):
            if isinstance(part.get("text"), str):
                texts.append(part["text"])
            elif part.get("type") == "tool_result":
                texts.append(content_text(part.get("content")))
    return "\n".join(t for t in texts if t)


def tool_names(tools: Any) -> list[str]:
    """Names of the declared tools, for OpenAI chat, Responses and Anthropic shapes."""
    names: list[str] = []
    for tool in tools if isinstance(tools, list) else []:
        if not isinstance(tool, Mapping):
            continue
        function = tool.get("function")
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            names.append(function["name"])
        elif isinstance(tool.get("name"), str):
            names.append(tool["name"])
    return names


def choose_tool(
    tools: Any, tool_choice: Any, *, forced: bool, last_user_text: str, after_tool_result: bool
) -> str | None:
    """Decide whether the fake model calls a tool, and which one.

    The model calls a tool when tools are declared and the user asks about the weather, or
    when ``tool_choice`` demands one. It never calls one right after a tool result, so agent
    loops driven by the fake provider terminate. The ``tool_call`` scenario (``forced``)
    overrides all of that.
    """
    names = tool_names(tools)
    pinned: str | None = None
    mode: Any = tool_choice
    if isinstance(tool_choice, Mapping):
        mode = tool_choice.get("type")
        function = tool_choice.get("function")
        if isinstance(function, Mapping) and isinstance(function.get("name"), str):
            pinned = function["name"]
        elif isinstance(tool_choice.get("name"), str):
            pinned = tool_choice["name"]
    if not forced:
        if not names or mode == "none" or after_tool_result:
            return None
        if not (pinned or mode in ("required", "any", "tool") or mentions_weather(last_user_text)):
            return None
    return pinned or (names[0] if names else DEFAULT_TOOL_NAME)


def split_model(model: str) -> tuple[str, frozenset[str]]:
    """Split ``model@scenario[,scenario...]`` into the model name and its scenarios.

    A suffix is only taken as scenarios when every name in it is a known scenario, so model
    names that legitimately contain ``@`` (Vertex AI's ``claude-...@20241022``) survive.
    """
    base, sep, suffix = model.rpartition("@")
    if not sep:
        return model, frozenset()
    names = frozenset(s.strip() for s in re.split(r"[,+]", suffix) if s.strip())
    if names and names <= SCENARIOS:
        return base, names
    return model, frozenset()


def parse_scenarios(header: str | None) -> frozenset[str]:
    """Parse the ``x-fake-scenario`` header; unknown names raise ``ValueError``.

    Rejecting typos loudly beats silently serving a happy-path answer to a test that meant
    to exercise a failure.
    """
    if not header:
        return frozenset()
    names = frozenset(s.strip() for s in header.split(",") if s.strip())
    unknown = names - SCENARIOS
    if unknown:
        raise ValueError(f"Unknown x-fake-scenario {', '.join(sorted(unknown))}; known: {', '.join(sorted(SCENARIOS))}")
    return names


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the fake provider received it.

    ``headers`` has lower-case keys, ``json`` is the parsed JSON body (``None`` when the body
    was empty or not JSON) and ``body`` the raw bytes. ``client`` is the peer's (host, port):
    requests sharing a port arrived on the same reused keep-alive connection.
    """

    method: str
    path: str
    headers: dict[str, str]
    json: Any
    body: bytes = field(default=b"", repr=False)
    client: tuple[str, int] | None = None


class RequestLog(list[RecordedRequest]):
    """The list of recorded requests, safe to append to from many handler threads."""

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()

    def append(self, item: RecordedRequest) -> None:
        """Record ``item`` (called by the server for every request)."""
        with self._lock:
            super().append(item)

    def clear(self) -> None:
        """Forget every recorded request."""
        with self._lock:
            super().clear()


@dataclass(slots=True)
class RequestContext:
    """Everything a payload builder needs to know about one parsed API request."""

    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    seq: int
    scenarios: frozenset[str]
    model: str
    response_model: str
    created: int = field(default_factory=lambda: int(time.time()))

    @property
    def stream(self) -> bool:
        """Whether the client asked for a server-sent-event stream."""
        return self.body.get("stream") is True

    @property
    def reply_override(self) -> str | None:
        """The reply text pinned by the ``x-fake-reply`` header, if any."""
        return self.headers.get("x-fake-reply")

    def has(self, scenario: str) -> bool:
        """Whether ``scenario`` is active for this request."""
        return scenario in self.scenarios

    def fail_once_key(self) -> str:
        """The identity ``fail_once`` remembers: ``x-fake-key``, else the body itself.

        Falling back to a body hash works because SDK retries resend the identical body.
        """
        key = self.headers.get("x-fake-key")
        if key is not None:
            return f"key:{key}"
        digest = hashlib.sha256(json.dumps(self.body, sort_keys=True).encode()).hexdigest()
        return f"{self.path}:{digest}"


@dataclass(slots=True)
class Reply:
    """A rendered HTTP response: status, headers and body chunks.

    Non-streaming replies have one chunk and are sent with ``Content-Length`` on a
    keep-alive connection. Streams send one chunk per SSE event and end by closing the
    connection. ``truncate_after`` simulates a network failure: the reply declares the full
    ``Content-Length`` but the connection drops after that many chunks, which clients see
    as an incomplete body rather than a clean end of stream.
    """

    status: int
    headers: dict[str, str]
    chunks: list[bytes]
    streaming: bool = False
    truncate_after: int | None = None


def dumps(obj: Any) -> bytes:
    """Compact JSON, as the real APIs send it."""
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


def json_reply(status: int, obj: Any, headers: dict[str, str] | None = None) -> Reply:
    """A non-streaming JSON reply."""
    return Reply(status, {"content-type": "application/json", **(headers or {})}, [dumps(obj)])


def sse_data(obj: Any) -> bytes:
    """One data-only SSE event (OpenAI chat completions style)."""
    return b"data: " + dumps(obj) + b"\n\n"


def sse_event(event: str, obj: Any) -> bytes:
    """One named SSE event (Responses API and Anthropic style)."""
    return b"event: " + event.encode() + b"\ndata: " + dumps(obj) + b"\n\n"


SSE_DONE = b"data: [DONE]\n\n"


def sse_reply(
    events: list[bytes],
    headers: dict[str, str],
    ctx: RequestContext,
    error_event: bytes,
    fault_after: int = STREAM_FAULT_AFTER,
) -> Reply:
    """A streaming reply, with the stream fault scenarios applied.

    ``stream_error`` cuts the connection after ``fault_after`` events; ``stream_error_event``
    replaces the rest of the stream with the provider's in-band ``error_event``.
    """
    if ctx.has("stream_error_event"):
        events = [*events[:fault_after], error_event]
    reply = Reply(
        200,
        {"content-type": "text/event-stream; charset=utf-8", "cache-control": "no-cache", **headers},
        events,
        streaming=True,
    )
    if ctx.has("stream_error"):
        reply.truncate_after = min(fault_after, len(events) - 1)
    return reply


def truncate_json_reply(reply: Reply) -> Reply:
    """Make a non-streaming reply drop the connection halfway through its body."""
    body = b"".join(reply.chunks)
    half = len(body) // 2
    return Reply(reply.status, reply.headers, [body[:half], body[half:]], truncate_after=1)


@dataclass(frozen=True, slots=True)
class Quota:
    """A snapshot of one model's fake rate-limit budget, for the rate-limit headers."""

    requests_limit: int
    requests_remaining: int
    tokens_limit: int
    tokens_remaining: int
    input_tokens_remaining: int
    output_tokens_remaining: int

    def exhausted(self) -> Quota:
        """The same limits with nothing remaining, as sent alongside a 429."""
        return Quota(self.requests_limit, 0, self.tokens_limit, 0, 0, 0)


@dataclass(slots=True)
class _Usage:
    requests: int = 0
    tokens: int = 0
    input_tokens: int = 0
    output_tokens: int = 0


class ProviderState:
    """Mutable, lock-protected state shared by all handler threads of one fake provider.

    It holds the request sequence (for ids), per-model rate-limit counters, the prompt
    prefixes seen by Anthropic prompt caching and the keys ``fail_once`` has failed.
    Nothing depends on the clock, so the numbers a test observes are reproducible.
    """

    def __init__(self, *, rate_limit_requests: int, rate_limit_tokens: int) -> None:
        if rate_limit_requests < 1 or rate_limit_tokens < 1:
            raise ValueError("rate limits must be positive")
        self.rate_limit_requests = rate_limit_requests
        self.rate_limit_tokens = rate_limit_tokens
        self._lock = threading.Lock()
        self._seq = 0
        self._usage: dict[tuple[str, str], _Usage] = {}
        self._cached_prefixes: set[str] = set()
        self._failed_keys: set[str] = set()

    def next_seq(self) -> int:
        """The next request number (1-based), used in every generated id."""
        with self._lock:
            self._seq += 1
            return self._seq

    def charge(
        self,
        provider: str,
        model: str,
        *,
        input_tokens: int = 0,
        output_tokens: int = 0,
        request: bool = True,
    ) -> Quota:
        """Spend budget for one request to ``model`` and return what remains."""
        with self._lock:
            usage = self._usage.setdefault((provider, model), _Usage())
            usage.requests += int(request)
            usage.input_tokens += input_tokens
            usage.output_tokens += output_tokens
            usage.tokens += input_tokens + output_tokens
            return self._quota(usage)

    def peek(self, provider: str, model: str) -> Quota:
        """The remaining budget of ``model`` without spending any."""
        with self._lock:
            return self._quota(self._usage.get((provider, model), _Usage()))

    def _quota(self, usage: _Usage) -> Quota:
        # Usage wraps around at the limit, as if the rate-limit window had just reset:
        # remaining values keep decreasing per request but a long-running demo never gets
        # stuck at zero. Real exhaustion is the `rate_limit` scenario's job.
        requests, tokens = self.rate_limit_requests, self.rate_limit_tokens
        return Quota(
            requests_limit=requests,
            requests_remaining=requests - usage.requests % requests,
            tokens_limit=tokens,
            tokens_remaining=tokens - usage.tokens % tokens,
            input_tokens_remaining=tokens - usage.input_tokens % tokens,
            output_tokens_remaining=tokens - usage.output_tokens % tokens,
        )

    def first_failure(self, key: str) -> bool:
        """True the first time ``key`` is seen (that request fails), False afterwards."""
        with self._lock:
            if key in self._failed_keys:
                return False
            self._failed_keys.add(key)
            return True

    def cache_hit(self, prefix_key: str) -> bool:
        """Whether a cached prompt prefix was seen before; remembers it either way."""
        with self._lock:
            if prefix_key in self._cached_prefixes:
                return True
            self._cached_prefixes.add(prefix_key)
            return False

    def reset(self) -> None:
        """Forget all counters, cached prefixes and ``fail_once`` keys."""
        with self._lock:
            self._seq = 0
            self._usage.clear()
            self._cached_prefixes.clear()
            self._failed_keys.clear()


ERROR_SCENARIOS = ("fail_once", "error_500", "rate_limit", "overloaded", "bad_request")


def error_scenario(ctx: RequestContext, state: ProviderState) -> str | None:
    """The error scenario this request triggers, if any, in a fixed precedence order."""
    for name in ERROR_SCENARIOS:
        if not ctx.has(name):
            continue
        if name == "fail_once":
            if state.first_failure(ctx.fail_once_key()):
                return name
            continue
        return name
    return None


def retry_after_headers(ctx: RequestContext, scenario: str) -> dict[str, str]:
    """``retry-after`` headers for an error reply.

    Rate limits advertise one second like the real APIs. ``fail_once`` exists to exercise
    SDK retries, so it asks for a 1 ms wait instead of letting the SDK back off for ~0.5 s.
    ``x-fake-retry-after-ms`` overrides both and adds the header to any error.
    """
    override = ctx.headers.get("x-fake-retry-after-ms")
    if override is not None:
        try:
            seconds = max(round(float(override) / 1000), 0)
        except ValueError:
            pass  # A malformed override must not turn the scripted error into a crash.
        else:
            return {"retry-after-ms": override, "retry-after": str(seconds)}
    if scenario == "rate_limit":
        return {"retry-after": "1", "retry-after-ms": "1000"}
    if scenario == "fail_once":
        return {"retry-after-ms": "1"}
    return {}


def prompt_tokens(texts: Iterable[str]) -> int:
    """Prompt token count of several texts, clamped to at least one like a real tokenizer."""
    return max(sum(count_tokens(t) for t in texts), 1)
