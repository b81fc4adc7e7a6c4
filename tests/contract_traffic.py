"""The metrics-contract traffic, shared by the exposition check (test_metrics_contract.py) and
the real-Prometheus check (test_prometheus_contract.py): real openai and anthropic SDK calls
against the fake provider, workflows, evaluations and a simulated llmotel bug, chosen so that
every metric docs/metrics.md lists is produced, plus the parsing of that document."""

from __future__ import annotations

import contextlib
import gc
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.trace import TracerProvider

import llmotel
from llmotel.config import Settings
from tests.otel_globals import reset_otel_globals

DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
MESSAGES = [{"role": "user", "content": "hello"}]
FAIL_MARKER = "this text makes the redaction callback fail"


def fail_on_marker(text: str) -> str:
    """A redaction callback with a bug, to drive llmotel.redaction.failures."""
    if FAIL_MARKER in text:
        raise RuntimeError("callback bug")
    return text


def documented_names() -> set[str]:
    names = set()
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 3 and cells[2].startswith("`") and re.fullmatch(r"`[a-z_:]+`", cells[2]):
            names.add(cells[2].strip("`"))
    return names


def exposed_names(text: str) -> set[str]:
    return {m.group(1) for m in re.finditer(r"^# TYPE (\S+) ", text, re.M)
            if m.group(1).startswith(("gen_ai_", "llmotel_"))}


@contextlib.contextmanager
def scrape_provider() -> Iterator[MeterProvider]:
    """A global MeterProvider whose Prometheus reader (the one llmotel.init() installs for
    OTEL_METRICS_EXPORTER=prometheus) feeds prometheus_client's REGISTRY."""
    from llmotel.telemetry.prometheus_reader import reader_class

    reader = reader_class()()
    provider = MeterProvider(metric_readers=[reader])
    reset_otel_globals()
    trace.set_tracer_provider(TracerProvider())
    metrics.set_meter_provider(provider)
    from llmotel import workflows

    workflows._reset_for_tests()
    try:
        yield provider
    finally:
        provider.shutdown()  # also unregisters the reader's collector from the global registry
        reset_otel_globals()


def traffic(fake: Any) -> None:
    from llmotel.evaluators import EvalSample, EvaluationRunner, JudgeFunction

    oa = openai.OpenAI(api_key="t", base_url=fake.base_url, max_retries=1)
    an = anthropic.Anthropic(api_key="t", base_url=fake.anthropic_base_url, max_retries=0)
    with llmotel.attributes(tenant_id="acme", feature="contract"):
        completion = oa.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES,
                                                extra_headers={"x-fake-scenario": "cached,reasoning"})
        list(oa.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, stream=True,
                                        stream_options={"include_usage": True}))
        oa.embeddings.create(model="text-embedding-3-small", input="x")
        oa.chat.completions.create(model="no-such-model", messages=MESSAGES)  # unpriced
        oa.chat.completions.create(model="m", messages=MESSAGES,
                                   extra_headers={"x-fake-scenario": "fail_once", "x-fake-key": "contract"})
        with pytest.raises(openai.RateLimitError):
            oa.chat.completions.create(model="m", messages=MESSAGES,
                                       extra_headers={"x-fake-scenario": "rate_limit", "x-fake-retry-after-ms": "1"})
        an.messages.create(model="claude-haiku-4-5", max_tokens=16, messages=MESSAGES)
        # Content capture is on in the contract settings: a redaction, a truncation, a binary
        # payload and a value whose redaction fails (the settings' callback raises on it).
        oa.chat.completions.create(model="gpt-4o-mini", messages=[
            {"role": "user", "content": "mail a.b@example.com " + "pad " * 5000}])
        oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": [
            {"type": "text", "text": "what is this?"},
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "iVBORw0KGgo" * 200}}]}])
        oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": FAIL_MARKER}])
        abandoned = oa.chat.completions.create(model="m", messages=MESSAGES, stream=True)
        next(abandoned)
        del abandoned
        gc.collect()

    @llmotel.workflow("contract-flow")
    def flow() -> None:
        with llmotel.agent("contract-agent"), llmotel.tool("lookup"), llmotel.retrieval("kb"):
            llmotel.branch("contract-flow", "start", "end", outcome="ok")

    flow()
    llmotel.record_evaluation("hallucination", score=0.1, label="grounded", response_id=completion.id)

    def broken_judge(sample: Any) -> Any:
        raise RuntimeError("judge down")

    runner = EvaluationRunner([JudgeFunction("broken", broken_judge)], max_queue=1)
    for i in range(50):  # a one-slot queue drops most of these
        runner.submit(EvalSample(output="x", response_id=f"r{i}"))
    runner.shutdown(5)


@contextlib.contextmanager
def instrumented(scrape: Any, monkeypatch: Any) -> Iterator[None]:
    """openai and anthropic instrumented with the contract settings into ``scrape``'s provider;
    a simulated llmotel bug on one model drives llmotel_instrumentation_errors."""
    from llmotel.instrumentation.anthropic import AnthropicInstrumentor
    from llmotel.instrumentation.openai import OpenAIInstrumentor
    from llmotel.instrumentation.openai.chat import ChatAccumulator

    settings = Settings.load(env={}, inference_usage_metrics=True, metric_attributes="tenant_id,feature",
                             capture_content="span_only", redaction={"callback": fail_on_marker})
    instrumentors = (OpenAIInstrumentor(), AnthropicInstrumentor())
    for instrumentor in instrumentors:
        instrumentor.uninstrument()
        instrumentor.instrument(settings=settings, meter_provider=scrape,
                                tracer_provider=trace.get_tracer_provider())
    monkeypatch.setattr("llmotel.attribution._settings", lambda: settings)
    original = ChatAccumulator.apply

    def apply_then_fail_once(self: Any, inv: Any, complete: bool) -> None:
        original(self, inv, complete)
        if inv.attributes.get("gen_ai.request.model") == "no-such-model-stream":
            raise RuntimeError("simulated llmotel bug")

    monkeypatch.setattr(ChatAccumulator, "apply", apply_then_fail_once)
    try:
        yield
    finally:
        for instrumentor in instrumentors:
            instrumentor.uninstrument()


def full_traffic(fake: Any) -> None:
    """traffic() plus the call that trips the simulated bug."""
    traffic(fake)
    list(openai.OpenAI(api_key="t", base_url=fake.base_url).chat.completions.create(
        model="no-such-model-stream", messages=MESSAGES, stream=True))  # llmotel_instrumentation_errors
