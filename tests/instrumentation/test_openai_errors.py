"""Error paths and the never-break-the-app guarantee.

API errors, 429, timeouts and refused connections: span status ERROR, error.type, the
original exception object reaches the caller unchanged. A bug inside llmotel's own
wrapper code is caught, logged once, counted, and the app gets the SDK's result.
"""

from __future__ import annotations

import logging
import socket
from typing import Any

import openai
import pytest
from opentelemetry.trace import StatusCode

from llmotel import semconv as sc

MESSAGES = [{"role": "user", "content": "hi"}]


def client(base_url: str, **kw: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key="t", base_url=base_url, max_retries=kw.pop("max_retries", 0), **kw)


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize(
    ("scenario", "exc_type"),
    [
        ("error_500", openai.InternalServerError),
        ("rate_limit", openai.RateLimitError),
        ("bad_request", openai.BadRequestError),
        ("overloaded", openai.InternalServerError),
    ],
)
def test_api_errors(fake, otel, scenario, exc_type):
    with pytest.raises(exc_type) as caught:
        client(fake.base_url).chat.completions.create(
            model="gpt-4o", messages=MESSAGES, extra_headers={"x-fake-scenario": scenario})
    span = otel.span()
    assert span.status.status_code is StatusCode.ERROR
    error_type = f"openai.{exc_type.__name__}"
    assert span.attributes[sc.ERROR_TYPE] == error_type
    assert span.attributes[sc.SERVER_ADDRESS] == "127.0.0.1"  # kept on errors
    assert span.attributes[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o"
    assert any(e.name == "exception" for e in span.events)
    (point,) = otel.points(sc.METRIC_OPERATION_DURATION)
    assert point.attributes[sc.ERROR_TYPE] == error_type
    assert otel.points(sc.METRIC_TOKEN_USAGE) == []
    assert caught.value.status_code in (400, 429, 500, 503)


def test_exception_object_is_unchanged(fake, otel):
    """The caller gets the SDK's own exception instance, traceback and all."""
    seen: list[BaseException] = []
    original = openai.resources.chat.completions.Completions.create.__wrapped__

    c = client(fake.base_url)
    try:
        original(c.chat.completions, model="m", messages=MESSAGES, extra_headers={"x-fake-scenario": "rate_limit"})
    except openai.RateLimitError as exc:
        seen.append(exc)
    with pytest.raises(openai.RateLimitError) as caught:
        c.chat.completions.create(model="m", messages=MESSAGES, extra_headers={"x-fake-scenario": "rate_limit"})
    assert type(caught.value) is type(seen[0])
    assert caught.value.response.headers.get("retry-after") == "1"
    assert caught.value.body == seen[0].body


def test_timeout(fake, otel):
    with pytest.raises(openai.APITimeoutError):
        client(fake.base_url, timeout=0.2).chat.completions.create(
            model="m", messages=MESSAGES, extra_headers={"x-fake-scenario": "timeout", "x-fake-delay": "1"})
    span = otel.span()
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == "openai.APITimeoutError"


def test_connection_refused(otel):
    with pytest.raises(openai.APIConnectionError):
        client(f"http://127.0.0.1:{closed_port()}/v1").chat.completions.create(model="m", messages=MESSAGES)
    span = otel.span()
    assert span.attributes[sc.ERROR_TYPE] == "openai.APIConnectionError"


async def test_async_rate_limit(fake, otel):
    c = openai.AsyncOpenAI(api_key="t", base_url=fake.base_url, max_retries=0)
    with pytest.raises(openai.RateLimitError):
        await c.chat.completions.create(model="m", messages=MESSAGES, extra_headers={"x-fake-scenario": "rate_limit"})
    assert otel.span().attributes[sc.ERROR_TYPE] == "openai.RateLimitError"


def test_retries_are_one_logical_span(fake, otel):
    """The SDK's retries stay inside the one span, as the conventions ask."""
    result = client(fake.base_url, max_retries=2).chat.completions.create(
        model="m", messages=MESSAGES, extra_headers={"x-fake-scenario": "fail_once", "x-fake-key": "retry-1"})
    assert result.id
    span = otel.span()
    assert span.status.status_code is StatusCode.UNSET
    assert sum(1 for r in fake.requests if r.headers.get("x-fake-key") == "retry-1") == 2


@pytest.mark.parametrize("where", ["begin", "on_response"])
def test_llmotel_bug_never_reaches_the_app(fake, instrument, monkeypatch, caplog, where):
    from llmotel.instrumentation.openai.chat import ChatAdapter

    otel = instrument()

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("llmotel bug")

    monkeypatch.setattr(ChatAdapter, where, broken)
    c = client(fake.base_url)
    with caplog.at_level(logging.WARNING, logger="llmotel"):
        first = c.chat.completions.create(model="m", messages=MESSAGES)
        second = c.chat.completions.create(model="m", messages=MESSAGES)
    assert type(first).__name__ == "ChatCompletion" and first.choices[0].message.content
    assert second.id != first.id
    warnings = [r for r in caplog.records if "internal error" in r.getMessage()]
    assert len(warnings) == 1  # logged once, not per call
    (errors,) = otel.points(sc.METRIC_INSTRUMENTATION_ERRORS)
    assert errors.value == 2
    # A span that was started is still ended (never left open).
    if where == "on_response":
        assert len(otel.spans()) == 2


def test_llmotel_bug_in_stream_chunk_handling(fake, instrument, monkeypatch):
    from llmotel.instrumentation.openai.chat import ChatAccumulator

    otel = instrument()
    monkeypatch.setattr(ChatAccumulator, "on_chunk", lambda self, chunk: 1 / 0)
    chunks = list(client(fake.base_url).chat.completions.create(model="m", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(otel.spans()) == 1
    (errors,) = otel.points(sc.METRIC_INSTRUMENTATION_ERRORS)
    assert errors.value == len(chunks)


def test_broken_exporter_does_not_break_the_call(fake, instrument):
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExporter

    class Exploding(SpanExporter):
        def export(self, spans: Any) -> Any:
            raise OSError("collector down")

    otel = instrument()
    otel.tracer_provider.add_span_processor(SimpleSpanProcessor(Exploding()))
    result = client(fake.base_url).chat.completions.create(model="m", messages=MESSAGES)
    assert result.choices
    assert len(otel.spans()) == 1


@pytest.mark.parametrize("outer", ["official", "llmotel"])
def test_official_instrumentation_active_too_yields_one_span(fake, instrument, outer):
    official = pytest.importorskip(
        "opentelemetry.instrumentation.genai.openai",
        reason="opentelemetry-instrumentation-genai-openai is installed by .ci/run for this test",
    )
    peer = official.OpenAIInstrumentor()
    if outer == "official":  # the wrapper installed last runs first
        otel = instrument()
        peer.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
    else:
        from tests.conftest import Otel

        otel = Otel()
        peer.instrument(tracer_provider=otel.tracer_provider, meter_provider=otel.meter_provider)
        from llmotel.config import Settings
        from llmotel.instrumentation.openai import OpenAIInstrumentor

        OpenAIInstrumentor().uninstrument()
        OpenAIInstrumentor().instrument(settings=Settings.load(env={}), **otel.providers())
    try:
        c = client(fake.base_url)
        c.chat.completions.create(model="m", messages=MESSAGES)
        list(c.chat.completions.create(model="m", messages=MESSAGES, stream=True))
        spans = [s for s in otel.spans() if s.name.startswith("chat")]
        assert len(spans) == 2, [(s.name, s.instrumentation_scope.name) for s in spans]
        assert {s.instrumentation_scope.name for s in spans} == {
            "opentelemetry.instrumentation.genai.openai" if outer == "official" else "llmotel.instrumentation.openai"
        }
    finally:
        peer.uninstrument()


def test_instrumenting_then_creating_a_client_at_once_never_fails():
    """No background imports: openai 2.x once saw a half-imported httpx2 (from a price-table thread)."""
    import subprocess
    import sys

    code = ("from llmotel.config import Settings\n"
            "from llmotel.instrumentation.openai import OpenAIInstrumentor\n"
            "OpenAIInstrumentor().instrument(settings=Settings.load(env={}))\n"
            "import openai; openai.OpenAI(api_key='x')\n"
            "import threading; print(sorted(t.name for t in threading.enumerate()))\n")
    for _ in range(3):
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.strip() == "['MainThread']"  # instrument() starts no threads
