#!/usr/bin/env python3
"""Per-call overhead of OpenAI and Anthropic SDK instrumentations against an in-process transport.

Every subject (OpenAI: ``bare``, ``llmotel``, ``genai-openai``, ``openai-v2``; Anthropic:
``bare``, ``bare+native``, ``llmotel``, ``genai-anthropic``, ``genai-anthropic+native``)
runs in its own virtualenv under ``.cache/bench/<venv>`` (``benchmarks/run.sh`` creates
them) as::

    <venv>/bin/python benchmarks/overhead.py --subject NAME --provider P --capture MODE --json

which prints one JSON document. The driver (``--all``, standard library only, any
Python 3.11) runs every subject several times, alternating the order, and prints a
markdown comparison of the medians, one section per provider (``--scenarios anthropic``
runs the Anthropic set alone).

The SDK client talks to an ``httpx2.MockTransport`` whose handler returns canned,
precomputed bodies, so no network, no server and no JSON encoding of the response
ends up in the measurement: what is left is the SDK's own work (request building,
response parsing, SSE decoding) plus whatever the instrumentation adds on top.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import math
import os
import statistics
import struct
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
ROOT = BENCH_DIR.parent
VENV_ROOT = ROOT / ".cache" / "bench"

CAPTURE_ENV = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
# The anthropic SDK's own switch for content on its native span; set with capture on.
ANTHROPIC_CONTENT_ENV = "ANTHROPIC_OPEN_TELEMETRY_TRACES_CONTENT_MODE"
CAPTURE_MODES = ("NO_CONTENT", "SPAN_AND_EVENT")
PROVIDER_SCENARIOS: dict[str, tuple[str, ...]] = {
    "openai": ("chat", "chat_async", "chat_stream", "embeddings", "responses"),
    "anthropic": ("anthropic_messages", "anthropic_messages_async", "anthropic_stream", "anthropic_stream_helper"),
}
PROVIDERS = tuple(PROVIDER_SCENARIOS)
SCENARIOS = tuple(s for scens in PROVIDER_SCENARIOS.values() for s in scens)
# Streaming scenario -> the non-streaming call its marginal per-chunk cost is taken against.
STREAM_BASE = {
    "chat_stream": "chat",
    "anthropic_stream": "anthropic_messages",
    "anthropic_stream_helper": "anthropic_messages",
}
ANSI_RED = "\033[1;31m"
ANSI_OFF = "\033[0m"


# --------------------------------------------------------------------------- subjects


@dataclass(frozen=True)
class Subject:
    """One instrumentation under test and the virtualenv it runs in."""

    name: str
    venv: str
    module: str | None  # instrumentation module (None for the bare baselines)
    env: dict[str, str] = field(default_factory=dict)
    dists: tuple[str, ...] = ()
    provider: str = "openai"
    # Anthropic: the instrumented side uses a client with the SDK's own tracing at its
    # default (on: one native CLIENT span per call); otherwise `open_telemetry=False`.
    # The bare side of every Anthropic subject always has it off.
    native: bool = False


_GENAI_ANTHROPIC_DISTS = ("opentelemetry-instrumentation-genai-anthropic", "opentelemetry-util-genai")
SUBJECTS: dict[str, dict[str, Subject]] = {
    provider: {s.name: s for s in subjects}
    for provider, subjects in (
        (
            "openai",
            (
                # The A/A baseline: "instrumented" batches are bare too, so its overhead
                # column is the noise floor of the method. Any venv with openai works.
                Subject("bare", "genai-openai", None),
                Subject("llmotel", "llmotel", "llmotel.instrumentation.openai", dists=("llmotel",)),
                Subject(
                    "genai-openai",
                    "genai-openai",
                    "opentelemetry.instrumentation.genai.openai",
                    dists=("opentelemetry-instrumentation-genai-openai", "opentelemetry-util-genai"),
                ),
                Subject(
                    "openai-v2",
                    "openai-v2",
                    "opentelemetry.instrumentation.openai_v2",
                    env={"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental"},
                    dists=("opentelemetry-instrumentation-openai-v2", "opentelemetry-util-genai", "httpx"),
                ),
            ),
        ),
        (
            "anthropic",
            (
                # A/A: both sides bare with the SDK's tracing off (the SDK cost alone).
                Subject("bare", "genai-anthropic", None, provider="anthropic"),
                # No instrumentation; "instrumented" = the SDK's own span on, same pipeline.
                Subject("bare+native", "genai-anthropic", None, provider="anthropic", native=True),
                # llmotel switches the SDK's span off for the calls it traces: measured
                # with a default client, i.e. what users get.
                Subject(
                    "llmotel",
                    "llmotel",
                    "llmotel.instrumentation.anthropic",
                    dists=("llmotel",),
                    provider="anthropic",
                    native=True,
                ),
                # The official instrumentation leaves the SDK's span alone: measured with
                # it off (the instrumentation's own cost, 1 span/call like llmotel) ...
                Subject(
                    "genai-anthropic",
                    "genai-anthropic",
                    "opentelemetry.instrumentation.genai.anthropic",
                    dists=_GENAI_ANTHROPIC_DISTS,
                    provider="anthropic",
                ),
                # ... and with a default client, what users get (2 spans per call).
                Subject(
                    "genai-anthropic+native",
                    "genai-anthropic",
                    "opentelemetry.instrumentation.genai.anthropic",
                    dists=_GENAI_ANTHROPIC_DISTS,
                    provider="anthropic",
                    native=True,
                ),
            ),
        ),
    )
}
SUBJECT_NAMES = tuple(dict.fromkeys(n for subjects in SUBJECTS.values() for n in subjects))
# Compared with llmotel in the ratio table.
PEERS = {
    "openai": ("genai-openai", "openai-v2"),
    "anthropic": ("genai-anthropic", "genai-anthropic+native", "bare+native"),
}
PROVIDER_TITLES = {"openai": "OpenAI", "anthropic": "Anthropic"}
CHUNK_WORD = {"openai": "chunk", "anthropic": "event"}
# openai imports its resource modules lazily, on first use of client.chat etc.; every
# instrumentation imports them at instrument() time. `import anthropic` already loads
# its resources; the streaming helpers are listed for completeness.
RESOURCE_MODULES = {
    "openai": (
        "openai.resources.chat.completions",
        "openai.resources.embeddings",
        "openai.resources.responses.responses",
    ),
    "anthropic": ("anthropic.resources.messages", "anthropic.lib.streaming"),
}
COMMON_DISTS = (
    "httpx2",
    "pydantic",
    "wrapt",
    "opentelemetry-api",
    "opentelemetry-sdk",
    "opentelemetry-instrumentation",
    "opentelemetry-semantic-conventions",
)


def venv_python(subject: Subject) -> Path:
    return VENV_ROOT / subject.venv / "bin" / "python"


def providers_of(scenarios: list[str]) -> list[str]:
    """The providers of the given scenarios, in PROVIDERS order."""
    return [p for p in PROVIDERS if any(s in PROVIDER_SCENARIOS[p] for s in scenarios)]


def setup_env(subject: Subject, capture: str) -> dict[str, str]:
    """Set the process environment for a subject; must run before SDK/otel imports."""
    env = {CAPTURE_ENV: capture, **subject.env}
    if subject.provider == "anthropic" and capture != "NO_CONTENT":
        # Content on the SDK's own span too (only matters where that span is on).
        env[ANTHROPIC_CONTENT_ENV] = "content"
    os.environ.update(env)
    return env


# --------------------------------------------------------------------------- payloads

MODEL = "gpt-4o-mini"
SYSTEM_PROMPT = (
    "You are a concise support assistant for an online bookshop. Answer in at most three "
    "sentences, cite the order number when you refer to an order, and never invent tracking data."
)
USER_PROMPT = (
    "Hi! I ordered two paperbacks last Tuesday (order #A-10293) and the tracking page has said "
    "'label created' for five days now. Is the parcel lost, and can you resend it or refund me? "
    "I need one of the books for a class on Monday."
)
ANSWER = (
    "I'm sorry about the delay with order #A-10293. A 'label created' status for five days usually "
    "means the carrier has not scanned the parcel yet, so I've opened a trace with them and flagged "
    "the order for a free replacement if it is not moving within 48 hours. If you need the book by "
    "Monday, I can also ship a second copy by express today at no cost; just reply 'express' and "
    "I'll arrange it right away."
)
EMBED_INPUT = "How long does standard shipping take for paperback orders to Germany?"
EMBED_DIMS = 256

JSON_HEADERS = {
    "content-type": "application/json",
    "x-request-id": "req_8d1f0e6bb6a04d1c9b0f3c2a7e5d4b21",
    "openai-processing-ms": "412",
    "openai-version": "2020-10-01",
    "openai-organization": "user-bench",
    "x-ratelimit-limit-requests": "10000",
    "x-ratelimit-remaining-requests": "9999",
    "x-ratelimit-limit-tokens": "200000",
    "x-ratelimit-remaining-tokens": "199820",
}
SSE_HEADERS = {**JSON_HEADERS, "content-type": "text/event-stream; charset=utf-8"}

ANTHROPIC_MODEL = "claude-sonnet-4-5-20250929"
ANTHROPIC_JSON_HEADERS = {
    "content-type": "application/json",
    "request-id": "req_011CUaBcDeFgHiJkLmNoPqRs",
    "anthropic-organization-id": "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0",
    "anthropic-ratelimit-requests-limit": "4000",
    "anthropic-ratelimit-requests-remaining": "3999",
    "anthropic-ratelimit-requests-reset": "2025-11-03T07:00:01Z",
    "anthropic-ratelimit-input-tokens-limit": "2000000",
    "anthropic-ratelimit-input-tokens-remaining": "1999900",
    "anthropic-ratelimit-input-tokens-reset": "2025-11-03T07:00:01Z",
    "anthropic-ratelimit-output-tokens-limit": "400000",
    "anthropic-ratelimit-output-tokens-remaining": "399700",
    "anthropic-ratelimit-output-tokens-reset": "2025-11-03T07:00:01Z",
    "anthropic-ratelimit-tokens-limit": "2400000",
    "anthropic-ratelimit-tokens-remaining": "2399600",
    "anthropic-ratelimit-tokens-reset": "2025-11-03T07:00:01Z",
}
ANTHROPIC_SSE_HEADERS = {**ANTHROPIC_JSON_HEADERS, "content-type": "text/event-stream; charset=utf-8"}
ANTHROPIC_USAGE = {
    "input_tokens": 98,
    "cache_creation_input_tokens": 0,
    "cache_read_input_tokens": 0,
    "cache_creation": {"ephemeral_5m_input_tokens": 0, "ephemeral_1h_input_tokens": 0},
    "output_tokens": 87,
    "service_tier": "standard",
}

USAGE = {
    "prompt_tokens": 98,
    "completion_tokens": 87,
    "total_tokens": 185,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
}


def _dumps(obj: object) -> bytes:
    return json.dumps(obj, separators=(",", ":")).encode()


def _split(text: str, parts: int) -> list[str]:
    """Split text into ``parts`` non-empty pieces (like tokens of a streamed answer)."""
    words = text.split(" ")
    while len(words) < parts:
        words = " ".join(words * 2).split(" ")
    size = len(words) / parts
    pieces = [" ".join(words[round(i * size) : round((i + 1) * size)]) for i in range(parts)]
    return [p if i == 0 else " " + p for i, p in enumerate(pieces)]


@dataclass(frozen=True)
class Payloads:
    """Response bodies, encoded once up front."""

    chat: bytes
    stream_events: tuple[bytes, ...]
    stream_usage_events: tuple[bytes, ...]
    embeddings: bytes
    responses: bytes
    anthropic_message: bytes
    anthropic_stream_events: tuple[bytes, ...]

    @classmethod
    def build(cls, stream_chunks: int) -> Payloads:
        created = 1733140000
        chat = {
            "id": "chatcmpl-AbCdEf0123456789GhIjKlMnOpQr",
            "object": "chat.completion",
            "created": created,
            "model": "gpt-4o-mini-2024-07-18",
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": ANSWER, "refusal": None, "annotations": []},
                    "logprobs": None,
                    "finish_reason": "stop",
                }
            ],
            "usage": USAGE,
            "service_tier": "default",
            "system_fingerprint": "fp_0ba0d124f1",
        }

        def chunk(delta: dict[str, Any], finish: str | None, with_usage: bool) -> dict[str, Any]:
            c: dict[str, Any] = {
                "id": "chatcmpl-AbCdEf0123456789GhIjKlMnOpQr",
                "object": "chat.completion.chunk",
                "created": created,
                "model": "gpt-4o-mini-2024-07-18",
                "service_tier": "default",
                "system_fingerprint": "fp_0ba0d124f1",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}],
            }
            if with_usage:
                c["usage"] = None
            return c

        def events(with_usage: bool) -> tuple[bytes, ...]:
            out = []
            for i, piece in enumerate(_split(ANSWER, stream_chunks)):
                delta = {"role": "assistant", "content": piece, "refusal": None} if i == 0 else {"content": piece}
                out.append(chunk(delta, None, with_usage))
            out.append(chunk({}, "stop", with_usage))
            if with_usage:
                last = chunk({}, None, False)
                last["choices"] = []
                last["usage"] = USAGE
                out.append(last)
            return (*(b"data: " + _dumps(e) + b"\n\n" for e in out), b"data: [DONE]\n\n")

        vector = [round(math.sin(i * 0.37) * 0.08, 6) for i in range(EMBED_DIMS)]
        embeddings = {
            "object": "list",
            "data": [
                {
                    "object": "embedding",
                    "index": 0,
                    "embedding": base64.b64encode(struct.pack(f"<{EMBED_DIMS}f", *vector)).decode(),
                }
            ],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 13, "total_tokens": 13},
        }
        responses = {
            "id": "resp_67ccd2bed1ec8190b14f964abc0542670bb6a6b452d3795b",
            "object": "response",
            "created_at": created,
            "status": "completed",
            "background": False,
            "error": None,
            "incomplete_details": None,
            "instructions": SYSTEM_PROMPT,
            "max_output_tokens": 256,
            "model": "gpt-4o-mini-2024-07-18",
            "output": [
                {
                    "type": "message",
                    "id": "msg_67ccd2bf17f0819081ff3bb2cf6508e60bb6a6b452d3795b",
                    "status": "completed",
                    "role": "assistant",
                    "content": [{"type": "output_text", "text": ANSWER, "annotations": [], "logprobs": []}],
                }
            ],
            "parallel_tool_calls": True,
            "previous_response_id": None,
            "reasoning": {"effort": None, "summary": None},
            "service_tier": "default",
            "store": True,
            "temperature": 0.2,
            "text": {"format": {"type": "text"}, "verbosity": "medium"},
            "tool_choice": "auto",
            "tools": [],
            "top_p": 1.0,
            "truncation": "disabled",
            "usage": {
                "input_tokens": 98,
                "input_tokens_details": {"cached_tokens": 0},
                "output_tokens": 87,
                "output_tokens_details": {"reasoning_tokens": 0},
                "total_tokens": 185,
            },
            "user": None,
            "metadata": {},
        }
        message_id = "msg_01XFDUDYJgAACzvnptvVoYEL"
        anthropic_message = {
            "id": message_id,
            "type": "message",
            "role": "assistant",
            "model": ANTHROPIC_MODEL,
            "content": [{"type": "text", "text": ANSWER}],
            "stop_reason": "end_turn",
            "stop_sequence": None,
            "usage": ANTHROPIC_USAGE,
        }
        # What the API streams for a text answer (one transport chunk per SSE event).
        anthropic_events: list[tuple[str, dict[str, Any]]] = [
            (
                "message_start",
                {
                    "type": "message_start",
                    "message": {
                        **anthropic_message,
                        "content": [],
                        "stop_reason": None,
                        "usage": {**ANTHROPIC_USAGE, "output_tokens": 1},
                    },
                },
            ),
            (
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}},
            ),
            *(
                (
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": piece}},
                )
                for piece in _split(ANSWER, stream_chunks)
            ),
            ("content_block_stop", {"type": "content_block_stop", "index": 0}),
            (
                "message_delta",
                {
                    "type": "message_delta",
                    "delta": {"stop_reason": "end_turn", "stop_sequence": None},
                    "usage": {
                        "input_tokens": 98,
                        "cache_creation_input_tokens": 0,
                        "cache_read_input_tokens": 0,
                        "output_tokens": 87,
                    },
                },
            ),
            ("message_stop", {"type": "message_stop"}),
        ]
        return cls(
            chat=_dumps(chat),
            stream_events=events(False),
            stream_usage_events=events(True),
            embeddings=_dumps(embeddings),
            responses=_dumps(responses),
            anthropic_message=_dumps(anthropic_message),
            anthropic_stream_events=tuple(
                b"event: " + name.encode() + b"\ndata: " + _dumps(data) + b"\n\n" for name, data in anthropic_events
            ),
        )


def make_handler(payloads: Payloads, *, sync: bool) -> Callable[[Any], Any]:
    """A MockTransport handler serving the canned bodies by path."""
    import httpx2

    def handler(request: httpx2.Request) -> httpx2.Response:
        path = request.url.path
        if path.endswith("/chat/completions"):
            body = request.content
            if b'"stream":true' in body:
                evs = payloads.stream_usage_events if b'"include_usage":true' in body else payloads.stream_events
                # One network chunk per SSE event for the sync client; the async client
                # gets one body (a sync iterator cannot feed an AsyncClient).
                content: Any = iter(evs) if sync else b"".join(evs)
                return httpx2.Response(200, headers=SSE_HEADERS, content=content)
            return httpx2.Response(200, headers=JSON_HEADERS, content=payloads.chat)
        if path.endswith("/embeddings"):
            return httpx2.Response(200, headers=JSON_HEADERS, content=payloads.embeddings)
        if path.endswith("/responses"):
            return httpx2.Response(200, headers=JSON_HEADERS, content=payloads.responses)
        if path.endswith("/v1/messages"):
            if b'"stream":true' in request.content:
                evs = payloads.anthropic_stream_events
                content = iter(evs) if sync else b"".join(evs)
                return httpx2.Response(200, headers=ANTHROPIC_SSE_HEADERS, content=content)
            return httpx2.Response(200, headers=ANTHROPIC_JSON_HEADERS, content=payloads.anthropic_message)
        return httpx2.Response(404, headers=JSON_HEADERS, content=b'{"error":{"message":"not found"}}')

    return handler


# --------------------------------------------------------------------------- telemetry pipeline


@dataclass
class Pipeline:
    tracer_provider: Any
    meter_provider: Any
    logger_provider: Any
    metric_reader: Any
    span_exporter: Any
    log_exporter: Any

    def flush(self) -> None:
        self.tracer_provider.force_flush()
        self.logger_provider.force_flush()

    def counts(self) -> tuple[int, int]:
        self.flush()
        return self.span_exporter.count, self.log_exporter.count


def build_pipeline(set_global: bool = True) -> Pipeline:
    """Same pipeline for every subject: batch processors in front of discarding exporters."""
    from opentelemetry import metrics, trace
    from opentelemetry._logs import set_logger_provider
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs import export as log_export
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter, SpanExportResult

    log_base = getattr(log_export, "LogRecordExporter", None) or log_export.LogExporter
    log_result = getattr(log_export, "LogRecordExportResult", None) or log_export.LogExportResult

    class CountingSpanExporter(SpanExporter):
        """Discards spans, counting them."""

        def __init__(self) -> None:
            self.count = 0

        def export(self, spans: Any) -> Any:
            self.count += len(spans)
            return SpanExportResult.SUCCESS

        def shutdown(self) -> None:
            pass

    class CountingLogExporter(log_base):  # type: ignore[misc, valid-type]
        """Discards log records (GenAI events), counting them."""

        def __init__(self) -> None:
            self.count = 0

        def export(self, batch: Any) -> Any:
            self.count += len(batch)
            return log_result.SUCCESS

        def shutdown(self) -> None:
            pass

        def force_flush(self, timeout_millis: int = 30000) -> bool:
            return True

    span_exporter = CountingSpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(BatchSpanProcessor(span_exporter))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    log_exporter = CountingLogExporter()
    lp = LoggerProvider()
    lp.add_log_record_processor(log_export.BatchLogRecordProcessor(log_exporter))
    if set_global:
        trace.set_tracer_provider(tp)
        metrics.set_meter_provider(mp)
        set_logger_provider(lp)
    return Pipeline(tp, mp, lp, reader, span_exporter, log_exporter)


# --------------------------------------------------------------------------- instrumentors


class SubjectUnavailable(Exception):
    """The subject's instrumentation cannot be imported or set up."""


@dataclass
class ClientSwitch:
    """Which Anthropic client the scenarios use: with the SDK's own tracing on or off."""

    native: bool = False


@dataclass
class Instrumentor:
    """on()/off() around one instrumentor instance with fixed keyword arguments.

    ``native``: while on, the Anthropic scenarios use the client with the SDK's own
    tracing at its default (on); while off, always the client with it off.
    """

    obj: Any
    kwargs: dict[str, Any]
    switch: ClientSwitch = field(default_factory=ClientSwitch)
    native: bool = False
    active: bool = False

    def on(self) -> None:
        if self.active:
            return
        if self.obj is not None:
            self.obj.instrument(**self.kwargs)
            if getattr(self.obj, "_is_instrumented_by_opentelemetry", True) is False:
                raise SubjectUnavailable(
                    "instrument() returned without instrumenting (dependency conflict? see stderr)"
                )
        self.switch.native = self.native
        self.active = True

    def off(self) -> None:
        if not self.active:
            return
        if self.obj is not None:
            self.obj.uninstrument()
        self.switch.native = False
        self.active = False


def load_instrumentor(subject: Subject, pipe: Pipeline, switch: ClientSwitch | None = None) -> Instrumentor:
    providers = {
        "tracer_provider": pipe.tracer_provider,
        "meter_provider": pipe.meter_provider,
        "logger_provider": pipe.logger_provider,
    }
    sw = {"switch": switch or ClientSwitch(), "native": subject.native}
    try:
        if subject.module is None:  # bare, bare+native
            return Instrumentor(None, {}, **sw)
        if subject.name == "llmotel":
            from llmotel.config import Settings

            if subject.provider == "anthropic":
                from llmotel.instrumentation.anthropic import AnthropicInstrumentor as LlmotelInstrumentor
            else:
                from llmotel.instrumentation.openai import OpenAIInstrumentor as LlmotelInstrumentor

            return Instrumentor(LlmotelInstrumentor(), {**providers, "settings": Settings.load()}, **sw)
        if subject.name == "genai-openai":
            from opentelemetry.instrumentation.genai.openai import OpenAIInstrumentor as GenAIInstrumentor

            return Instrumentor(GenAIInstrumentor(), providers, **sw)
        if subject.name == "openai-v2":
            from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor as V2Instrumentor

            return Instrumentor(V2Instrumentor(), providers, **sw)
        if subject.name in ("genai-anthropic", "genai-anthropic+native"):
            from opentelemetry.instrumentation.genai.anthropic import AnthropicInstrumentor as GenAIAnthropic

            return Instrumentor(GenAIAnthropic(), providers, **sw)
    except Exception as exc:  # ImportError, or anything raised at import time
        raise SubjectUnavailable(f"cannot import {subject.module}: {type(exc).__name__}: {exc}") from exc
    raise SubjectUnavailable(f"unknown subject {subject.name}")


_SNAPSHOT_ROOTS = ("openai", "anthropic", "httpx2")
_SNAPSHOT_PREFIXES = tuple(f"{r}." for r in _SNAPSHOT_ROOTS)


def patch_snapshot() -> dict[str, int]:
    """Identity of every callable/descriptor in loaded openai/anthropic/httpx2 modules and their classes."""
    snap: dict[str, int] = {}
    for mname, mod in list(sys.modules.items()):
        if mod is None or not (mname in _SNAPSHOT_ROOTS or mname.startswith(_SNAPSHOT_PREFIXES)):
            continue
        for aname, val in list(vars(mod).items()):
            if callable(val):
                snap[f"{mname}.{aname}"] = id(val)
            if isinstance(val, type) and val.__module__ == mname:
                for k, v in list(vars(val).items()):
                    if callable(v) or isinstance(v, property | staticmethod | classmethod):
                        snap[f"{mname}.{aname}.{k}"] = id(v)
    return snap


# --------------------------------------------------------------------------- scenarios


@dataclass
class Scenario:
    name: str
    calls: int  # calls per timed batch
    warmup: int
    run: Callable[[int], int]  # runs n calls, returns elapsed ns
    chunks: int = 0  # chunks yielded per streamed call


def build_scenarios(
    payloads: Payloads, args: argparse.Namespace, provider: str, switch: ClientSwitch
) -> tuple[list[Scenario], Callable[[], None]]:
    if provider == "anthropic":
        return build_anthropic_scenarios(payloads, args, switch)
    return build_openai_scenarios(payloads, args)


def build_openai_scenarios(payloads: Payloads, args: argparse.Namespace) -> tuple[list[Scenario], Callable[[], None]]:
    import asyncio

    import httpx2
    import openai

    client = openai.OpenAI(
        api_key="x",
        base_url="http://fake.local/v1",
        max_retries=0,
        http_client=httpx2.Client(transport=httpx2.MockTransport(make_handler(payloads, sync=True))),
    )
    aclient = openai.AsyncOpenAI(
        api_key="x",
        base_url="http://fake.local/v1",
        max_retries=0,
        http_client=httpx2.AsyncClient(transport=httpx2.MockTransport(make_handler(payloads, sync=False))),
    )
    runner = asyncio.Runner()
    messages: list[Any] = [
        {"role": "system", "content": SYSTEM_PROMPT},
        {"role": "user", "content": USER_PROMPT},
    ]
    clock = time.perf_counter_ns

    def chat(n: int) -> int:
        t0 = clock()
        for _ in range(n):
            client.chat.completions.create(model=MODEL, messages=messages, temperature=0.2, max_tokens=256)
        return clock() - t0

    async def _achat(n: int) -> int:
        t0 = clock()
        for _ in range(n):
            await aclient.chat.completions.create(model=MODEL, messages=messages, temperature=0.2, max_tokens=256)
        return clock() - t0

    def chat_async(n: int) -> int:
        return runner.run(_achat(n))

    seen_chunks = [0]

    def chat_stream(n: int) -> int:
        got = 0
        t0 = clock()
        for _ in range(n):
            stream = client.chat.completions.create(
                model=MODEL, messages=messages, temperature=0.2, max_tokens=256, stream=True
            )
            for _chunk in stream:
                got += 1
        elapsed = clock() - t0
        seen_chunks[0] = got // max(n, 1)
        return elapsed

    def embeddings(n: int) -> int:
        t0 = clock()
        for _ in range(n):
            client.embeddings.create(model="text-embedding-3-small", input=EMBED_INPUT)
        return clock() - t0

    def responses(n: int) -> int:
        t0 = clock()
        for _ in range(n):
            client.responses.create(
                model=MODEL,
                instructions=SYSTEM_PROMPT,
                input=USER_PROMPT,
                temperature=0.2,
                max_output_tokens=256,
            )
        return clock() - t0

    m, ms, w, ws = args.calls, args.stream_calls, args.warmup, args.stream_warmup
    scenarios = [
        Scenario("chat", m, w, chat),
        Scenario("chat_async", m, w, chat_async),
        Scenario("chat_stream", ms, ws, chat_stream),
        Scenario("embeddings", m, w, embeddings),
        Scenario("responses", m, w, responses),
    ]
    scenarios = [s for s in scenarios if s.name in args.scenarios]
    # Validate the canned bodies once: a parse failure must not pass for "fast".
    for s in scenarios:
        s.run(1)
    for s in scenarios:
        if s.name == "chat_stream":
            s.chunks = seen_chunks[0]

    def close() -> None:
        client.close()
        runner.run(aclient.close())
        runner.close()

    return scenarios, close


def build_anthropic_scenarios(
    payloads: Payloads, args: argparse.Namespace, switch: ClientSwitch
) -> tuple[list[Scenario], Callable[[], None]]:
    """Messages API scenarios; each batch uses the client ``switch`` selects (native tracing on/off)."""
    import asyncio

    import anthropic
    import httpx2

    def make(cls: Any, http_cls: Any, sync: bool, native: bool) -> Any:
        # open_telemetry=None: the SDK's default (its own span on, as a global tracer
        # provider exists); False: the SDK's tracing off.
        return cls(
            api_key="x",
            base_url="http://fake.local",
            max_retries=0,
            http_client=http_cls(transport=httpx2.MockTransport(make_handler(payloads, sync=sync))),
            open_telemetry=None if native else False,
        )

    clients = {native: make(anthropic.Anthropic, httpx2.Client, True, native) for native in (False, True)}
    aclients = {native: make(anthropic.AsyncAnthropic, httpx2.AsyncClient, False, native) for native in (False, True)}
    runner = asyncio.Runner()
    request: dict[str, Any] = {
        "model": ANTHROPIC_MODEL,
        "system": SYSTEM_PROMPT,
        "messages": [{"role": "user", "content": USER_PROMPT}],
        "max_tokens": 256,
    }
    clock = time.perf_counter_ns
    last: dict[str, Any] = {}

    def messages(n: int) -> int:
        client = clients[switch.native]
        t0 = clock()
        for _ in range(n):
            last["messages"] = client.messages.create(**request)
        return clock() - t0

    async def _amessages(n: int) -> int:
        client = aclients[switch.native]
        t0 = clock()
        for _ in range(n):
            last["messages_async"] = await client.messages.create(**request)
        return clock() - t0

    def messages_async(n: int) -> int:
        return runner.run(_amessages(n))

    seen_events = [0]

    def stream(n: int) -> int:
        client = clients[switch.native]
        got = 0
        t0 = clock()
        for _ in range(n):
            for _event in client.messages.create(**request, stream=True):
                got += 1
        elapsed = clock() - t0
        seen_events[0] = got // max(n, 1)
        return elapsed

    def stream_helper(n: int) -> int:
        client = clients[switch.native]
        t0 = clock()
        for _ in range(n):
            with client.messages.stream(**request) as s:
                last["stream_helper"] = s.get_final_message()
        return clock() - t0

    m, ms, w, ws = args.calls, args.stream_calls, args.warmup, args.stream_warmup
    n_events = len(payloads.anthropic_stream_events)
    scenarios = [
        Scenario("anthropic_messages", m, w, messages),
        Scenario("anthropic_messages_async", m, w, messages_async),
        Scenario("anthropic_stream", ms, ws, stream),
        Scenario("anthropic_stream_helper", ms, ws, stream_helper, chunks=n_events),
    ]
    scenarios = [s for s in scenarios if s.name in args.scenarios]
    # Validate the canned bodies once, on both clients: a parse failure must not pass for "fast".
    for native in (False, True):
        switch.native = native
        for s in scenarios:
            s.run(1)
        for key, msg in last.items():
            text = "".join(getattr(b, "text", "") for b in msg.content)
            if text != ANSWER or msg.usage.output_tokens != 87:
                raise RuntimeError(f"{key}: unexpected message parsed from the canned body: {msg!r}"[:500])
        if "anthropic_stream" in args.scenarios and seen_events[0] != n_events:
            raise RuntimeError(f"anthropic_stream yielded {seen_events[0]} events, expected {n_events}")
        last.clear()
    switch.native = False
    for s in scenarios:
        if s.name == "anthropic_stream":
            s.chunks = seen_events[0]

    def close() -> None:
        for c in clients.values():
            c.close()
        for c in aclients.values():
            runner.run(c.close())
        runner.close()

    return scenarios, close


# --------------------------------------------------------------------------- measurement


def probe(s: Scenario, pipe: Pipeline, calls: int = 5) -> tuple[float, float]:
    """Spans and log records per call of one scenario in the current state."""
    spans0, logs0 = pipe.counts()
    s.run(calls)
    spans1, logs1 = pipe.counts()
    return (spans1 - spans0) / calls, (logs1 - logs0) / calls


def measure_subject(args: argparse.Namespace) -> dict[str, Any]:
    subject = SUBJECTS[args.provider][args.subject]
    env = setup_env(subject, args.capture)
    fallback_note = os.environ.pop("_OVERHEAD_NO_INTERLEAVE_REASON", "")
    result: dict[str, Any] = {
        "subject": subject.name,
        "provider": subject.provider,
        "native": subject.native,
        "capture": args.capture,
        "env": env,
        "python": sys.version.split()[0],
        "loadavg_start": os.getloadavg()[0],
        "versions": dist_versions((subject.provider, *COMMON_DISTS, *subject.dists)),
        "stream_chunks_requested": args.stream_chunks,
        "batches": args.batches,
        "warnings": [],
    }
    pipe = build_pipeline()
    payloads = Payloads.build(args.stream_chunks)
    switch = ClientSwitch()
    scenarios, close = build_scenarios(payloads, args, subject.provider, switch)
    try:
        inst = load_instrumentor(subject, pipe, switch)
    except SubjectUnavailable as exc:
        close()
        result["skipped"] = str(exc)
        return result

    interleave = subject.name == "bare" or not args.no_interleave
    result["interleaved"] = interleave
    if fallback_note:
        result["warnings"].append(fallback_note)

    instr_calls: dict[str, int] = dict.fromkeys((s.name for s in scenarios), 0)
    gc_ns = [0]

    def run(s: Scenario, n: int, *, timed: bool = False) -> tuple[float, float]:
        """Run n calls, counting the calls made while instrumented.

        Timed: (wall µs per call from perf_counter_ns, process CPU µs per call). The CPU
        time includes the export threads and is barely affected by other processes.
        """
        if inst.active:
            instr_calls[s.name] += n
        if not timed:
            s.run(n)
            return 0.0, 0.0
        t0 = time.perf_counter_ns()
        gc.collect()
        gc_ns[0] += time.perf_counter_ns() - t0
        c0 = time.process_time_ns()
        wall = s.run(n)
        cpu = time.process_time_ns() - c0
        return wall / n / 1000.0, cpu / n / 1000.0

    for s in scenarios:  # bare warm-up
        run(s, s.warmup)

    bare_seq: dict[str, list[tuple[float, float]]] = {}
    if not interleave:
        # uninstrument() is not trusted for this subject: measure bare first, then instrument.
        for s in scenarios:
            bare_seq[s.name] = [run(s, s.calls, timed=True) for _ in range(args.batches)]

    before = patch_snapshot()
    try:
        inst.on()
    except SubjectUnavailable as exc:
        close()
        result["skipped"] = str(exc)
        return result
    per_call: dict[str, tuple[float, float]] = {}
    for s in scenarios:  # instrumented warm-up, then count what one call emits
        run(s, s.warmup)
        per_call[s.name] = probe(s, pipe)

    if interleave and subject.name != "bare":
        inst.off()
        changed = sorted(k for k, v in patch_snapshot().items() if k in before and before[k] != v)
        leaked = [s.name for s in scenarios if probe(s, pipe, 2)[0] > 0]
        if changed or leaked:
            reason = (
                f"uninstrument() did not restore the SDK (changed: {changed[:5]}, still emitting spans: "
                f"{leaked}); bare was measured before instrumenting instead of interleaved"
            )
            print(f"[{subject.name}] {reason}; re-running without interleaving", file=sys.stderr)
            close()
            sys.stderr.flush()
            os.environ["_OVERHEAD_NO_INTERLEAVE_REASON"] = reason
            argv = [a for a in sys.argv if a != "--no-interleave"]
            os.execv(sys.executable, [sys.executable, *argv, "--no-interleave"])

    spans_before, logs_before = pipe.counts()
    instr_calls = dict.fromkeys(instr_calls, 0)
    rows: dict[str, Any] = {}
    for s in scenarios:
        bare: list[tuple[float, float]] = list(bare_seq.get(s.name, []))
        instr: list[tuple[float, float]] = []
        for k in range(args.batches):
            # ABBA order, so that a drift hits both sides alike and half the batches
            # need no (un)instrumenting in between.
            for which in ("bare", "instr") if k % 2 == 0 else ("instr", "bare"):
                if which == "bare" and not interleave:
                    continue
                want = which == "instr"
                if want != inst.active:
                    inst.on() if want else inst.off()
                    run(s, max(s.warmup // 10, 2))  # settle after (un)instrumenting
                (instr if want else bare).append(run(s, s.calls, timed=True))
        inst.on()
        b, i = statistics.median(x[0] for x in bare), statistics.median(x[0] for x in instr)
        cb, ci = statistics.median(x[1] for x in bare), statistics.median(x[1] for x in instr)
        spans_pc, logs_pc = per_call[s.name]
        row: dict[str, Any] = {
            "bare_us": b,
            "instr_us": i,
            "overhead_us": i - b,
            "ratio": i / b,
            "cpu_bare_us": cb,
            "cpu_instr_us": ci,
            "cpu_overhead_us": ci - cb,
            "cpu_ratio": ci / cb,
            "bare_batches_us": [round(x[0], 2) for x in bare],
            "instr_batches_us": [round(x[0], 2) for x in instr],
            "cpu_bare_batches_us": [round(x[1], 2) for x in bare],
            "cpu_instr_batches_us": [round(x[1], 2) for x in instr],
            "calls_per_batch": s.calls,
            "spans_per_call": spans_pc,
            "logs_per_call": logs_pc,
        }
        if s.chunks:
            row["chunks"] = s.chunks
            row["overhead_per_chunk_us"] = (i - b) / s.chunks
            row["cpu_overhead_per_chunk_us"] = (ci - cb) / s.chunks
        rows[s.name] = row
        if subject.name != "bare" and spans_pc == 0:
            msg = f"0 spans: {subject.name} produced no span for scenario {s.name}"
            result["warnings"].append(msg)
            print(f"{ANSI_RED}WARNING {msg}{ANSI_OFF}", file=sys.stderr)
    spans_after, logs_after = pipe.counts()
    result["scenarios"] = rows
    result["gc_collect_s"] = gc_ns[0] / 1e9
    result["loadavg_end"] = os.getloadavg()[0]
    exported = spans_after - spans_before
    expected = round(sum(per_call[n][0] * c for n, c in instr_calls.items()))
    result["spans_exported_while_timed"] = exported
    result["spans_expected_while_timed"] = expected
    result["logs_exported_while_timed"] = logs_after - logs_before
    if subject.name != "bare":
        if exported == 0:
            msg = f"0 spans: {subject.name} exported no span at all while being measured"
            result["warnings"].append(msg)
            print(f"{ANSI_RED}WARNING {msg}{ANSI_OFF}", file=sys.stderr)
        elif exported < expected:
            msg = f"{subject.name}: {expected - exported} of {expected} spans lost (export queue full?)"
            result["warnings"].append(msg)
            print(f"{ANSI_RED}WARNING {msg}{ANSI_OFF}", file=sys.stderr)
    for stream_name, base_name in STREAM_BASE.items():
        if base_name in rows and stream_name in rows and rows[stream_name].get("chunks"):
            st, base = rows[stream_name], rows[base_name]
            st["marginal_per_chunk_us"] = (st["overhead_us"] - base["overhead_us"]) / st["chunks"]
            st["cpu_marginal_per_chunk_us"] = (st["cpu_overhead_us"] - base["cpu_overhead_us"]) / st["chunks"]
    if args.startup:
        result["startup"] = measure_startup(subject, args.capture, args.startup)
    inst.off()
    close()
    pipe.tracer_provider.shutdown()
    pipe.logger_provider.shutdown()
    pipe.meter_provider.shutdown()
    return result


def dist_versions(names: tuple[str, ...]) -> dict[str, str]:
    from importlib import metadata

    out = {}
    for n in names:
        try:
            out[n] = metadata.version(n)
        except metadata.PackageNotFoundError:
            out[n] = "not installed"
            if n == "llmotel":  # used from the source tree through a .pth file
                try:
                    import llmotel

                    out[n] = f"{getattr(llmotel, '__version__', '?')} (source tree {ROOT})"
                except Exception as exc:
                    out[n] = f"not importable: {type(exc).__name__}: {exc}"
    return out


# --------------------------------------------------------------------------- start-up cost


def startup_probe(args: argparse.Namespace) -> None:
    """Runs in a fresh interpreter: time `import openai|anthropic` [+ import + instrument()]."""
    import importlib

    subject = SUBJECTS[args.provider][args.subject]
    setup_env(subject, args.capture)
    pipe = build_pipeline()  # the SDK itself is not part of the instrumentation's cost
    clock = time.perf_counter_ns
    t0 = clock()
    importlib.import_module(subject.provider)

    if args.startup_probe == "resources":
        # what an application calling these APIs loads anyway (openai imports them lazily)
        for mod in RESOURCE_MODULES[subject.provider]:
            importlib.import_module(mod)
    elif args.startup_probe == "instrument":
        load_instrumentor(subject, pipe).on()
    print(clock() - t0)


def measure_startup(subject: Subject, capture: str, repeats: int) -> dict[str, Any]:
    if subject.module is None:
        return {}

    def once(kind: str) -> float:
        cmd = [
            sys.executable,
            str(Path(__file__).resolve()),
            "--startup-probe",
            kind,
            "--subject",
            subject.name,
            "--provider",
            subject.provider,
            "--capture",
            capture,
        ]
        out = subprocess.run(cmd, capture_output=True, text=True, check=True, timeout=120, env=env)
        return int(out.stdout.strip().splitlines()[-1]) / 1e6

    kinds = ("sdk", "resources", "instrument")

    # Byte-compiled code for everyone: pip byte-compiles what it installs, but a source
    # tree on a .pth (llmotel here) has no .pyc, and PYTHONDONTWRITEBYTECODE (set on these
    # machines) would make every probe compile it again. A private pycache prefix, filled
    # by one discarded probe of each kind, gives all subjects the same footing.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPYCACHEPREFIX"] = str(VENV_ROOT / "pycache" / subject.venv)
    once("instrument")  # imports everything the other kinds import
    samples: dict[str, list[float]] = {k: [] for k in kinds}
    for _ in range(repeats):  # interleaved, so that a slow moment hits all kinds
        for kind in kinds:
            samples[kind].append(once(kind))
    med = {k: statistics.median(v) for k, v in samples.items()}
    return {
        "import_sdk_ms": med["sdk"],
        "import_sdk_resources_ms": med["resources"],
        "import_sdk_and_instrument_ms": med["instrument"],
        "startup_ms": med["instrument"] - med["sdk"],
        "startup_vs_resources_ms": med["instrument"] - med["resources"],
        "samples_ms": {k: [round(x, 1) for x in v] for k, v in samples.items()},
    }


# --------------------------------------------------------------------------- driver


def run_subject_process(
    provider: str, name: str, capture: str, args: argparse.Namespace, startup: int
) -> dict[str, Any]:
    subject = SUBJECTS[provider][name]
    base = {"subject": name, "provider": provider, "capture": capture}
    py = venv_python(subject)
    if not py.exists():
        reason = f"venv {py.parent.parent} missing (run benchmarks/run.sh)"
        return {**base, "skipped": reason}
    scenarios = [s for s in args.scenarios if s in PROVIDER_SCENARIOS[provider]]
    cmd = [
        str(py),
        str(Path(__file__).resolve()),
        "--subject",
        name,
        "--provider",
        provider,
        "--capture",
        capture,
        "--json",
        "--batches",
        str(args.batches),
        "--calls",
        str(args.calls),
        "--stream-calls",
        str(args.stream_calls),
        "--warmup",
        str(args.warmup),
        "--stream-warmup",
        str(args.stream_warmup),
        "--stream-chunks",
        str(args.stream_chunks),
        "--scenarios",
        ",".join(scenarios),
        "--startup",
        str(startup),
    ]
    t0 = time.monotonic()
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900, cwd=ROOT)
    took = time.monotonic() - t0
    errors = [line for line in proc.stderr.splitlines() if "error" in line.lower()]
    shown: set[str] = set()
    for line in proc.stderr.splitlines():
        if ("WARNING" in line or line in errors) and line not in shown:
            shown.add(line)  # each distinct line once
            print(f"    [{provider}/{name}/{capture}] {line}", file=sys.stderr)
    if proc.returncode != 0:
        tail = "\n".join(proc.stderr.strip().splitlines()[-15:])
        return {**base, "error": f"exit {proc.returncode}:\n{tail}"}
    res = json.loads(proc.stdout)
    res["wall_s"] = took
    if errors:
        # e.g. an instrumentation logging internal errors: its numbers are suspect
        example = " | ".join(dict.fromkeys(errors))[:300]
        res.setdefault("warnings", []).append(
            f"{provider}/{name}/{capture}: {len(errors)} error lines on stderr, e.g. {example}"
        )
    return res


def drive(args: argparse.Namespace) -> int:
    runs: list[dict[str, Any]] = []
    skip: set[tuple[str, str]] = set()
    startup_done: set[tuple[str, str | None]] = set()  # (venv, module): +native twins share it
    plan = [(p, [n for n in args.subjects if n in SUBJECTS[p]]) for p in providers_of(args.scenarios)]
    t_start = time.monotonic()
    for rep in range(args.reps):
        for provider, subjects in plan:
            if not subjects:
                continue
            shift = rep % len(subjects)
            order = subjects[shift:] + subjects[:shift]
            for name in order:
                if (provider, name) in skip or (name == "bare" and rep >= args.aa_reps):
                    continue
                subject = SUBJECTS[provider][name]
                captures = ("NO_CONTENT",) if name == "bare" else args.captures
                for capture in captures:
                    startup = 0
                    if rep == 0 and capture == args.captures[0] and (subject.venv, subject.module) not in startup_done:
                        startup = args.startup
                        startup_done.add((subject.venv, subject.module))
                    print(
                        f"rep {rep + 1}/{args.reps}: {provider}/{name} capture={capture} ...",
                        file=sys.stderr,
                        flush=True,
                    )
                    res = run_subject_process(provider, name, capture, args, startup)
                    res["rep"] = rep
                    runs.append(res)
                    status = res.get("skipped") or res.get("error") or f"ok in {res.get('wall_s', 0):.1f}s"
                    print(f"    -> {status}", file=sys.stderr, flush=True)
                    if res.get("skipped"):
                        skip.add((provider, name))  # no point repeating a subject that cannot run
    total = time.monotonic() - t_start
    report = render_report(runs, args, total)
    print(report)
    out_json = Path(args.out)
    out_json.parent.mkdir(parents=True, exist_ok=True)
    out_json.write_text(json.dumps({"runs": runs, "wall_s": total}, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(report)
    print(f"raw results: {out_json}", file=sys.stderr)
    return 0


def _med(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def _fmt(v: float | None, nd: int = 1, plus: bool = False) -> str:
    if v is None:
        return "n/a"
    return f"{v:+.{nd}f}" if plus else f"{v:.{nd}f}"


def render_provider(
    provider: str, runs: list[dict[str, Any]], subjects: list[str], scenarios: list[str], args: argparse.Namespace
) -> list[str]:
    """The tables of one provider's section of the report."""
    ok = [r for r in runs if "scenarios" in r]
    peers = [p for p in PEERS[provider] if p in subjects]
    word = CHUNK_WORD[provider]

    def agg(subject: str, capture: str, scen: str, key: str) -> float | None:
        vals = [
            r["scenarios"][scen][key]
            for r in ok
            if r["subject"] == subject
            and (r["capture"] == capture or subject == "bare")
            and scen in r["scenarios"]
            and key in r["scenarios"][scen]
        ]
        return _med(vals)

    instrumented = [s for s in subjects if s != "bare"]
    lines: list[str] = []

    def overhead_table(pre: str) -> None:
        """Overheads by scenario; pre is "" for wall-clock keys, "cpu_" for CPU-time keys."""
        head = ["scenario", "capture", "bare µs/call"] + [f"{s} overhead" for s in instrumented]
        if "bare" in subjects:
            head.append(f"A/A noise (bare vs bare, {min(args.aa_reps, args.reps)} runs)")
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for scen in scenarios:
            for capture in args.captures:
                bare_key = pre + "bare_us"
                pooled = _med(
                    [
                        r["scenarios"][scen][bare_key]
                        for r in ok
                        if (r["capture"] == capture or r["subject"] == "bare") and scen in r["scenarios"]
                    ]
                )
                cells = [scen, capture, _fmt(pooled)]
                for s in instrumented:
                    ovh = agg(s, capture, scen, pre + "overhead_us")
                    ratio = agg(s, capture, scen, pre + "ratio")
                    cell = "n/a" if ovh is None else f"{_fmt(ovh, plus=True)} (x{_fmt(ratio, 2)})"
                    if ovh is not None and agg(s, capture, scen, "spans_per_call") == 0:
                        cell = "**0 spans** (not instrumented)"
                    cells.append(cell)
                if "bare" in subjects:
                    cells.append(_fmt(agg("bare", capture, scen, pre + "overhead_us"), plus=True))
                lines.append("| " + " | ".join(cells) + " |")
                if scen not in STREAM_BASE:
                    continue
                extra = [("overhead_per_chunk_us", f"{scen} /{word} ({{}} {word}s)")]
                if STREAM_BASE[scen] in scenarios:
                    extra.append(("marginal_per_chunk_us", f"{scen} marginal /{word}"))
                chunks = agg(instrumented[0] if instrumented else "bare", capture, scen, "chunks")
                for key, label in extra:
                    cells = [label.format(_fmt(chunks, 0)), capture, ""]
                    for s in [*instrumented, *(["bare"] if "bare" in subjects else [])]:
                        cells.append(_fmt(agg(s, capture, scen, pre + key), 2, plus=True))
                    lines.append("| " + " | ".join(cells) + " |")
        lines.append("")

    title = PROVIDER_TITLES[provider]
    lines.append(f"## {title} SDK instrumentation overhead (median of {args.reps} runs x {args.batches} batches)")
    lines.append("")
    lines.append("### Wall clock (`perf_counter_ns`)")
    lines.append("")
    lines.append(
        "Overhead = instrumented minus bare, µs per call, measured in the same process; "
        f"(xN) = instrumented/bare. Stream rows: whole stream consumed; `/{word}` = overhead / {word}s; "
        f"`marginal /{word}` = (stream overhead - non-streaming overhead) / {word}s, the per-{word} part alone."
    )
    if provider == "anthropic":
        lines.append(
            "Bare side of every subject: a client with the SDK's own tracing off (`open_telemetry=False`). "
            "Instrumented side: `bare+native` = no instrumentation, the SDK's own span on (default client); "
            "`llmotel` = default client (llmotel switches the SDK's span off for the calls it traces); "
            "`genai-anthropic` = client with the SDK's tracing off; `genai-anthropic+native` = default client "
            "(the official instrumentation leaves the SDK's span on: 2 spans per call)."
        )
    lines.append("")
    overhead_table("")
    lines.append("### Process CPU time (`process_time_ns`, includes the export threads)")
    lines.append("")
    overhead_table("cpu_")

    if "llmotel" in subjects and peers:
        lines.append("### llmotel overhead / peer overhead (<1 = llmotel cheaper)")
        lines.append("")
        head = ["scenario", "capture"] + [f"vs {p} ({kind})" for p in peers for kind in ("wall", "CPU")]
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for scen in scenarios:
            for capture in args.captures:
                cells = [scen, capture]
                for p in peers:
                    for pre in ("", "cpu_"):
                        mine = agg("llmotel", capture, scen, pre + "overhead_us")
                        theirs = agg(p, capture, scen, pre + "overhead_us")
                        no_spans = agg(p, capture, scen, "spans_per_call") == 0
                        if no_spans:
                            cells.append("n/a (peer: 0 spans)")
                        elif mine is None or theirs is None or theirs <= 0:
                            cells.append("n/a")
                        else:
                            cells.append(f"{mine / theirs:.2f}")
                lines.append("| " + " | ".join(cells) + " |")
        lines.append("")

    lines.append("### Per-call detail (medians over runs)")
    lines.append("")
    lines.append(
        'Each column is the median over the runs of that quantity, so "overhead" is not exactly '
        '"instr - bare" of the same row.'
    )
    lines.append("")
    head = [
        "subject",
        "capture",
        "scenario",
        "bare µs",
        "instr µs",
        "overhead µs",
        "ratio",
        "CPU overhead µs",
        "CPU ratio",
        "spans/call",
        "logs/call",
    ]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|" + "---|" * len(head))
    for s in subjects:
        for capture in ("NO_CONTENT",) if s == "bare" else args.captures:
            for scen in scenarios:
                if agg(s, capture, scen, "bare_us") is None:
                    continue
                cells = [
                    s,
                    capture,
                    scen,
                    _fmt(agg(s, capture, scen, "bare_us")),
                    _fmt(agg(s, capture, scen, "instr_us")),
                    _fmt(agg(s, capture, scen, "overhead_us"), plus=True),
                    _fmt(agg(s, capture, scen, "ratio"), 3),
                    _fmt(agg(s, capture, scen, "cpu_overhead_us"), plus=True),
                    _fmt(agg(s, capture, scen, "cpu_ratio"), 3),
                    _fmt(agg(s, capture, scen, "spans_per_call"), 1),
                    _fmt(agg(s, capture, scen, "logs_per_call"), 1),
                ]
                lines.append("| " + " | ".join(cells) + " |")
    lines.append("")

    starts = [r for r in ok if r.get("startup")]
    if starts:
        lines.append("### Start-up cost (fresh process, median of samples)")
        lines.append("")
        lines.append(
            f"`A` = `import {provider}`; `B` = A + import of the resource modules "
            f"({', '.join(RESOURCE_MODULES[provider])}: "
            + (
                "loaded lazily by openai, so an app pays them on its first call anyway"
                if provider == "openai"
                else "`import anthropic` loads them already"
            )
            + "); `C` = A + import of the instrumentation + `instrument()`."
        )
        lines.append("")
        lines.append("| subject | A ms | B ms | C ms | C - A ms (as asked) | C - B ms (instrumentation only) |")
        lines.append("|---|---|---|---|---|---|")
        for r in starts:
            st = r["startup"]
            lines.append(
                f"| {r['subject']} | {st['import_sdk_ms']:.1f} | {st['import_sdk_resources_ms']:.1f} "
                f"| {st['import_sdk_and_instrument_ms']:.1f} | {_fmt(st['startup_ms'], plus=True)} "
                f"| {_fmt(st['startup_vs_resources_ms'], plus=True)} |"
            )
        lines.append("")
    return lines


def render_report(runs: list[dict[str, Any]], args: argparse.Namespace, wall: float) -> str:
    ok = [r for r in runs if "scenarios" in r]
    problems = [r for r in runs if "scenarios" not in r]
    lines: list[str] = []
    for provider in providers_of(args.scenarios):
        subjects = [n for n in args.subjects if n in SUBJECTS[provider]]
        if not subjects:
            continue
        scenarios = [s for s in args.scenarios if s in PROVIDER_SCENARIOS[provider]]
        prov_runs = [r for r in runs if r.get("provider", "openai") == provider]
        lines.extend(render_provider(provider, prov_runs, subjects, scenarios, args))

    lines.append("### Environment")
    lines.append("")
    seen: set[tuple[str, str]] = set()
    for r in ok:
        key = (r.get("provider", "openai"), r["subject"])
        if key in seen:
            continue
        seen.add(key)
        vers = ", ".join(f"{k} {v}" for k, v in r["versions"].items())
        extra = "; ".join(f"{k}={v}" for k, v in r["env"].items() if k != CAPTURE_ENV) or "no extra env"
        mode = "interleaved" if r.get("interleaved") else "bare measured before instrumenting"
        lines.append(f"- **{key[0]}/{key[1]}** (Python {r['python']}; {mode}; {extra}): {vers}")
    chunk_notes = []
    for scen in STREAM_BASE:
        n = next((r["scenarios"][scen].get("chunks") for r in ok if scen in r["scenarios"]), None)
        if n is not None:
            chunk_notes.append(f"{scen} {n}")
    lines.append(
        f"- workload: {args.calls} calls/batch ({args.stream_calls} for streams; chunks/events per stream: "
        f"{', '.join(chunk_notes) or 'n/a'}), {args.batches} batches, warm-up {args.warmup}/{args.stream_warmup}; "
        f"total wall time {wall:.0f}s"
    )
    loads = [r[k] for r in ok for k in ("loadavg_start", "loadavg_end") if k in r]
    if loads:
        lines.append(
            f"- 1-minute load average seen by the subject processes: {min(loads):.2f} to {max(loads):.2f} "
            f"on {os.cpu_count()} CPUs (one benchmark process keeps ~1.2 busy)"
        )
    warnings = sorted({w for r in ok for w in r.get("warnings", [])})
    for r in problems:
        who = f"{r.get('provider', 'openai')}/{r['subject']}/{r['capture']}"
        warnings.append(f"{who}: {r.get('skipped') or r.get('error')}")
    if warnings:
        lines.append("")
        lines.append("### Warnings")
        lines.append("")
        lines.extend(f"- {w}" for w in dict.fromkeys(warnings))
    return "\n".join(lines) + "\n"


# --------------------------------------------------------------------------- CLI


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--all", action="store_true", help="driver: run every subject in its venv, print a table")
    p.add_argument("--subject", choices=SUBJECT_NAMES, help="measure one subject in this interpreter")
    p.add_argument(
        "--provider",
        choices=PROVIDERS,
        help="with --subject: which SDK (default: the subject's only provider, else that of --scenarios, else openai)",
    )
    p.add_argument("--subjects", default=",".join(SUBJECT_NAMES), help="driver: comma-separated subjects")
    p.add_argument("--capture", default="NO_CONTENT", choices=CAPTURE_MODES)
    p.add_argument("--captures", default=",".join(CAPTURE_MODES), help="driver: capture modes (comma-separated)")
    p.add_argument(
        "--scenarios",
        default="all",
        help="comma-separated scenarios and/or provider names (openai, anthropic, all); scenarios: "
        + ",".join(SCENARIOS),
    )
    p.add_argument("--json", action="store_true", help="print the subject's result as JSON")
    p.add_argument("--reps", type=int, default=3, help="driver: runs per subject (median taken)")
    p.add_argument("--aa-reps", type=int, default=3, help="driver: runs of the bare A/A baseline")
    p.add_argument("--batches", type=int, default=5, help="timed batches per scenario and side")
    p.add_argument("--calls", type=int, default=200, help="calls per batch (non-streaming)")
    p.add_argument("--stream-calls", type=int, default=20, help="calls per batch (streaming)")
    p.add_argument("--warmup", type=int, default=200, help="warm-up calls (non-streaming)")
    p.add_argument("--stream-warmup", type=int, default=30, help="warm-up calls (streaming)")
    p.add_argument("--stream-chunks", type=int, default=50, help="content chunks per stream (+ finish)")
    p.add_argument("--startup", type=int, default=5, help="start-up samples (0 = skip)")
    p.add_argument("--no-interleave", action="store_true", help="measure bare before instrumenting")
    p.add_argument("--quick", action="store_true", help="tiny workload, for a smoke test")
    p.add_argument(
        "--out",
        help="driver: raw JSON output (default .cache/bench/results.json, or results-<provider>.json when "
        "the scenarios are of one provider)",
    )
    p.add_argument("--markdown", help="driver: markdown output (default: --out with .md)")
    p.add_argument("--startup-probe", choices=("sdk", "resources", "instrument"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    args.subjects = [s for s in args.subjects.split(",") if s]
    args.captures = [c for c in args.captures.split(",") if c]
    scenarios: list[str] = []
    for s in (s for s in args.scenarios.split(",") if s):
        if s == "all":
            scenarios.extend(SCENARIOS)
        elif s in PROVIDER_SCENARIOS:
            scenarios.extend(PROVIDER_SCENARIOS[s])
        elif s in SCENARIOS:
            scenarios.append(s)
        else:
            p.error(f"unknown scenario {s!r}; choose from {', '.join(SCENARIOS)} or {', '.join(PROVIDERS)}, all")
    args.scenarios = [s for s in SCENARIOS if s in scenarios]  # canonical order, no duplicates
    for s in args.subjects:
        if s not in SUBJECT_NAMES:
            p.error(f"unknown subject {s!r}; choose from {', '.join(SUBJECT_NAMES)}")
    for c in args.captures:
        if c not in CAPTURE_MODES:
            p.error(f"unknown capture mode {c!r}")
    if args.out is None:
        provs = providers_of(args.scenarios)
        args.out = str(VENV_ROOT / ("results.json" if len(provs) != 1 else f"results-{provs[0]}.json"))
    if args.markdown is None:
        args.markdown = str(Path(args.out).with_suffix(".md"))
    if args.subject:
        if args.provider is None:
            owners = [prov for prov in PROVIDERS if args.subject in SUBJECTS[prov]]
            in_scope = [prov for prov in providers_of(args.scenarios) if prov in owners]
            args.provider = owners[0] if len(owners) == 1 else (in_scope[0] if len(in_scope) == 1 else "openai")
        if args.subject not in SUBJECTS[args.provider]:
            p.error(f"subject {args.subject!r} does not exist for provider {args.provider}")
        # one subject process measures one provider's scenarios
        args.scenarios = [s for s in args.scenarios if s in PROVIDER_SCENARIOS[args.provider]]
        if not args.scenarios and not args.startup_probe:
            p.error(f"no {args.provider} scenario selected")
    if args.quick:
        args.reps, args.aa_reps, args.batches, args.calls, args.stream_calls = 1, 1, 3, 50, 5
        args.warmup, args.stream_warmup, args.startup = 20, 3, 1
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.startup_probe:
        startup_probe(args)
        return 0
    if args.all:
        return drive(args)
    if not args.subject:
        print("give --all or --subject NAME (see --help)", file=sys.stderr)
        return 2
    res = measure_subject(args)
    if args.json:
        print(json.dumps(res))
    else:
        print(json.dumps(res, indent=1))
    if "skipped" in res:
        print(f"{ANSI_RED}SKIPPED {res['subject']}: {res['skipped']}{ANSI_OFF}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
