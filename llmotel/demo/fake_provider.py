"""A deterministic fake LLM provider speaking the OpenAI and Anthropic HTTP APIs.

The test-suite points the real ``openai`` and ``anthropic`` SDKs at it, and the demo
traffic generator uses it as a free, fast, scriptable backend::

    with FakeProvider() as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="test")
        client.chat.completions.create(model="gpt-4o-mini@rate_limit", messages=[...])

Replies and token counts are a pure function of the request (:func:`count_tokens` is the
token rule). Behaviour is scripted per request with headers: ``x-fake-scenario``
(comma-separated :data:`SCENARIOS`, also accepted as a ``model@scenario`` suffix),
``x-fake-latency`` / ``x-fake-ttft`` / ``x-fake-chunk-delay`` (seconds), ``x-fake-delay``
(for ``timeout``), ``x-fake-key`` (for ``fail_once``), ``x-fake-retry-after-ms``,
``x-fake-reply`` (pins the reply text) and ``x-fake-model`` (overrides the response model).

Run ``python -m llmotel.demo.fake_provider --port 8080`` to serve in the foreground.
This module and its ``llmotel.demo.fake`` implementation use the standard library only.
"""

from __future__ import annotations

import argparse
import sys

from llmotel.demo.fake._core import (
    DEFAULT_TIMEOUT_DELAY,
    REASONING_TOKENS,
    SCENARIOS,
    TOOL_ARGUMENTS,
    RecordedRequest,
    RequestLog,
    count_tokens,
    reply_text,
    thinking_text,
)
from llmotel.demo.fake._openai import DEFAULT_EMBEDDING_DIMENSIONS, embedding_vector
from llmotel.demo.fake._server import FakeProvider

__all__ = [
    "DEFAULT_EMBEDDING_DIMENSIONS",
    "DEFAULT_TIMEOUT_DELAY",
    "REASONING_TOKENS",
    "SCENARIOS",
    "TOOL_ARGUMENTS",
    "FakeProvider",
    "RecordedRequest",
    "RequestLog",
    "count_tokens",
    "embedding_vector",
    "main",
    "reply_text",
    "thinking_text",
]


def main(argv: list[str] | None = None) -> int:
    """Serve a :class:`FakeProvider` in the foreground until interrupted (Ctrl-C)."""
    parser = argparse.ArgumentParser(
        prog="python -m llmotel.demo.fake_provider",
        description="Deterministic fake OpenAI/Anthropic API server for tests and demos.",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="port to bind (default: a free port)")
    parser.add_argument("--latency", type=float, default=0.0, help="seconds before each response")
    parser.add_argument("--ttft", type=float, default=0.0, help="seconds before the first stream event")
    parser.add_argument("--chunk-delay", type=float, default=0.0, help="seconds between stream events")
    parser.add_argument("--rate-limit-requests", type=int, default=10_000)
    parser.add_argument("--rate-limit-tokens", type=int, default=1_000_000)
    parser.add_argument("--verbose", action="store_true", help="log one line per request to stderr")
    args = parser.parse_args(argv)

    provider = FakeProvider(
        args.host,
        args.port,
        latency=args.latency,
        ttft=args.ttft,
        chunk_delay=args.chunk_delay,
        rate_limit_requests=args.rate_limit_requests,
        rate_limit_tokens=args.rate_limit_tokens,
        log_requests=args.verbose,
    ).start()
    print(f"Fake LLM provider listening on {provider.url}", flush=True)
    print(f"  OpenAI    base_url: {provider.base_url}", flush=True)
    print(f"  Anthropic base_url: {provider.anthropic_base_url}", flush=True)
    try:
        # Short waits keep the main thread responsive to Ctrl-C.
        while not provider.wait(0.5):
            pass
    except KeyboardInterrupt:
        print("Stopping fake LLM provider.", file=sys.stderr)
    finally:
        provider.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
