"""The content chokepoint end to end: every content path, redacted before any exporter.

Real traffic: the real openai and anthropic SDKs call the project's fake provider over HTTP
on 127.0.0.1 (sync, streamed — the reply arrives word by word, so multi-word values are
split across chunks — and tool definitions), plus workflows, agents, tools, retrievals,
evaluations and feedback, all under ``llmotel.init(capture_content=...)`` with in-memory
exporters installed as the global providers. Then *everything* exported (span names and
attributes, span events, status descriptions, log bodies and attributes) is searched for
the PII and secrets corpus of ``tests/unit/test_redaction.py``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator, Mapping
from typing import Any

import anthropic
import openai
import pytest
from opentelemetry import metrics, trace
from opentelemetry._logs import set_logger_provider

import llmotel
from llmotel import semconv as sc
from tests.conftest import Otel
from tests.otel_globals import reset_otel_globals
from tests.unit.test_redaction import CORPUS_ITEMS, leaks

PER_DETECTOR = 6  # corpus items per detector sent through the real SDKs (3 first, 3 last)
CANARY_EMAIL = "canary.user@example-privacy.com"
CANARY_KEY = "AKIAIOSFODNN7CANARY1"
CANARY_ID = "CANARY-4242"  # matched by a custom pattern: also reaches names (a tool's name)
CANARY = f"contact {CANARY_EMAIL} key {CANARY_KEY} ref {CANARY_ID}"
CUSTOM = {"patterns": {"internal_id": r"CANARY-\d{4}"}}


def start_pipeline(**settings: Any) -> Otel:
    """llmotel.init() on fresh global in-memory providers (init reuses them as they are)."""
    from llmotel import workflows

    llmotel.shutdown()
    reset_otel_globals()
    workflows._reset_for_tests()
    otel = Otel()
    trace.set_tracer_provider(otel.tracer_provider)
    metrics.set_meter_provider(otel.meter_provider)
    set_logger_provider(otel.logger_provider)
    llmotel.init(service_name="privacy-test", instrument=("openai", "anthropic"), **settings)
    return otel


def stop_pipeline() -> None:
    from llmotel import workflows

    llmotel.shutdown()
    reset_otel_globals()
    workflows._reset_for_tests()


ENV = ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "LLMOTEL_REDACTION", "LLMOTEL_REDACTION_DISABLE",
       "LLMOTEL_REDACTION_ACTIONS", "LLMOTEL_REDACTION_PATTERNS", "LLMOTEL_CONTENT_MAX_BYTES")


@pytest.fixture
def pipeline(monkeypatch: pytest.MonkeyPatch) -> Iterator[Any]:
    """``start_pipeline`` with the content and redaction environment cleared."""
    for name in ENV:
        monkeypatch.delenv(name, raising=False)
    yield start_pipeline
    stop_pipeline()


def traffic(fake: Any, text: str) -> None:
    """``text`` through every content path llmotel has."""
    oa = openai.OpenAI(api_key="t", base_url=fake.base_url, max_retries=0)
    an = anthropic.Anthropic(api_key="t", base_url=fake.anthropic_base_url, max_retries=0)
    tools = [{"type": "function", "function": {
        "name": f"lookup_{CANARY_ID}", "description": f"Looks up records like {text}",
        "parameters": {"type": "object", "properties": {"q": {"type": "string", "description": text}}}}}]
    # The fake echoes the first words of the user message, so the value comes back in the
    # completion too — in the streamed case one word per chunk.
    messages = [{"role": "system", "content": f"Internal note: {text}"}, {"role": "user", "content": text}]
    oa.chat.completions.create(model="gpt-4o-mini", messages=messages, tools=tools)
    for _ in oa.chat.completions.create(model="gpt-4o-mini", messages=messages, stream=True):
        pass
    oa.responses.create(model="gpt-4.1-mini", instructions=f"Note {text}", input=text)
    an.messages.create(model="claude-haiku-4-5", max_tokens=64, system=f"Note {text}",
                       messages=[{"role": "user", "content": text}])
    with an.messages.stream(model="claude-haiku-4-5", max_tokens=64,
                            messages=[{"role": "user", "content": text}]) as stream:
        for _ in stream.text_stream:
            pass

    @llmotel.tool("lookup")
    def lookup(q: str, meta: dict[str, Any]) -> dict[str, Any]:
        return {"match": q, "meta": meta}

    @llmotel.retrieval("kb")
    def search(query: str) -> list[dict[str, Any]]:
        # Only ids and scores of documents are captured: the id carries the custom canary.
        return [{"id": f"doc-{CANARY_ID}", "content": f"Document about {query}"}]

    @llmotel.agent("helper")
    def helper(task: str) -> str:
        return lookup(task, {"raw": text})["match"]

    @llmotel.workflow("support")
    def support(question: str) -> str:
        search(question)
        return helper(question)

    support(text)
    with llmotel.tool("manual") as op:
        op.set_input(json.dumps({"value": text}))
        op.set_result(text)
    llmotel.record_evaluation("hallucination", score=1.0, label="hallucinated", explanation=f"Claims {text}")
    llmotel.record_feedback(score=0.0, comment=f"Wrong: {text}")


def _flatten(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for k, v in value.items():
            yield str(k)
            yield from _flatten(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _flatten(v)


def exported(otel: Otel) -> list[str]:
    """Every string any exporter received."""
    out: list[str] = []
    for span in otel.span_exporter.get_finished_spans():
        out.append(span.name)
        out.extend(_flatten(dict(span.attributes or {})))
        out.append(span.status.description or "")
        for event in span.events:
            out.append(event.name)
            out.extend(_flatten(dict(event.attributes or {})))
    for record in otel.logs():
        out.extend(_flatten(record.body))
        out.extend(_flatten(dict(record.attributes or {})))
    return out


def _sample(items: list[Any]) -> list[Any]:
    return items if len(items) <= PER_DETECTOR else items[: PER_DETECTOR // 2] + items[-(PER_DETECTOR // 2):]


def test_zero_leaks_through_every_exporter(pipeline: Any, fake: Any) -> None:
    otel = pipeline(capture_content="span_and_event")
    sent: list[tuple[str, list[str]]] = []
    for detector, items in sorted(CORPUS_ITEMS.items()):
        for text, needles in _sample(items):
            traffic(fake, text)
            sent.append((detector, needles))
    haystack = [json.dumps(exported(otel), ensure_ascii=False)]
    leaked = {(detector, needle) for detector, needles in sent for needle in leaks(haystack, needles)}
    assert not leaked, f"{len(leaked)} corpus values leaked into exported telemetry: {sorted(leaked)[:10]}"
    # The safety net reports itself: redactions by detector for every built-in detector.
    by_detector = {p.attributes[sc.LLMOTEL_REDACTION_DETECTOR]: p.value
                   for p in otel.points(sc.METRIC_REDACTIONS)}
    missing = {d for d, _ in sent} - set(by_detector)
    assert not missing, f"no redaction counted for {missing}: {by_detector}"


# Where each content attribute is exported: (attribute, span name prefix or "event:<name>").
CONTENT_PATHS = [
    # Chat Completions keeps system messages in the input messages.
    *[(key, "chat gpt-4o-mini") for key in (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES,
                                            sc.GEN_AI_TOOL_DEFINITIONS)],
    *[(key, "chat claude-haiku-4-5") for key in (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES,
                                                 sc.GEN_AI_SYSTEM_INSTRUCTIONS)],
    *[(key, "chat gpt-4.1-mini") for key in (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES,
                                                 sc.GEN_AI_SYSTEM_INSTRUCTIONS)],
    *[(key, f"event:{sc.EVENT_INFERENCE_DETAILS}") for key in sc.INFERENCE_CONTENT_ATTRIBUTES],
    (sc.GEN_AI_INPUT_MESSAGES, "invoke_workflow support"),
    (sc.GEN_AI_OUTPUT_MESSAGES, "invoke_workflow support"),
    (sc.GEN_AI_INPUT_MESSAGES, "invoke_agent helper"),
    (sc.GEN_AI_OUTPUT_MESSAGES, "invoke_agent helper"),
    (sc.GEN_AI_TOOL_CALL_ARGUMENTS, "execute_tool lookup"),
    (sc.GEN_AI_TOOL_CALL_RESULT, "execute_tool lookup"),
    (sc.GEN_AI_TOOL_CALL_ARGUMENTS, "execute_tool manual"),
    (sc.GEN_AI_TOOL_CALL_RESULT, "execute_tool manual"),
    (sc.GEN_AI_RETRIEVAL_QUERY_TEXT, "retrieval kb"),
    (sc.GEN_AI_RETRIEVAL_DOCUMENTS, "retrieval kb"),
    (sc.GEN_AI_EVALUATION_EXPLANATION, f"event:{sc.EVENT_EVALUATION_RESULT}"),
]


def test_content_paths_cover_every_content_attribute() -> None:
    assert {key for key, _ in CONTENT_PATHS} == set(sc.CONTENT_ATTRIBUTES)


@pytest.fixture(scope="module")
def canary_run(fake: Any) -> Iterator[Otel]:
    """One run of every content path with the canary, read by the per-path tests."""
    mp = pytest.MonkeyPatch()
    for name in ENV:
        mp.delenv(name, raising=False)
    try:
        otel = start_pipeline(capture_content="span_and_event", redaction=CUSTOM)
        traffic(fake, CANARY)
        yield otel
    finally:
        stop_pipeline()
        mp.undo()


def _values(otel: Otel, key: str, where: str) -> list[Any]:
    if where.startswith("event:"):
        name = where.removeprefix("event:")
        return [r.attributes[key] for r in otel.logs()
                if r.event_name == name and key in (r.attributes or {})]
    return [s.attributes[key] for s in otel.span_exporter.get_finished_spans()
            if s.name.startswith(where) and key in (s.attributes or {})]


@pytest.mark.parametrize(("key", "where"), CONTENT_PATHS, ids=[f"{w}-{k}" for k, w in CONTENT_PATHS])
def test_each_content_path_goes_through_the_chokepoint(canary_run: Otel, key: str, where: str) -> None:
    values = _values(canary_run, key, where)
    assert values, f"{key} was not exported on {where}"
    text = json.dumps(values, ensure_ascii=False)
    assert "[REDACTED:INTERNAL_ID]" in text, text[:500]
    # Tool definitions carry type and name only, documents their id and score only.
    if key not in (sc.GEN_AI_TOOL_DEFINITIONS, sc.GEN_AI_RETRIEVAL_DOCUMENTS):
        assert "[REDACTED:EMAIL]" in text and "[REDACTED:AWS_ACCESS_KEY]" in text, text[:500]
    assert CANARY_EMAIL not in text and CANARY_KEY not in text and CANARY_ID not in text


def test_fails_closed_when_redaction_fails(pipeline: Any, fake: Any) -> None:
    def broken(text: str) -> str:
        raise RuntimeError("a user callback with a bug")

    otel = pipeline(capture_content="span_and_event", redaction={"callback": broken})
    traffic(fake, CANARY)
    strings = exported(otel)
    assert not any(CANARY_EMAIL in s or CANARY_KEY in s for s in strings)
    # No content attribute survives: dropped, not exported raw; the calls themselves succeeded.
    for span in otel.span_exporter.get_finished_spans():
        assert not set(span.attributes or {}) & set(sc.CONTENT_ATTRIBUTES), span.name
    for record in otel.logs():
        assert not set(record.attributes or {}) & set(sc.CONTENT_ATTRIBUTES)
    assert sum(p.value for p in otel.points(sc.METRIC_REDACTION_FAILURES)) >= len(CONTENT_PATHS) - 4


def test_truncation_is_marked_and_counted(pipeline: Any, fake: Any) -> None:
    otel = pipeline(capture_content="span_only", redaction={"max_value_bytes": 512})
    oa = openai.OpenAI(api_key="t", base_url=fake.base_url, max_retries=0)
    oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "long words " * 200}])
    span = otel.spans("chat")[0]
    raw = span.attributes[sc.GEN_AI_INPUT_MESSAGES]
    assert len(raw.encode()) <= 512 and json.loads(raw)
    assert span.attributes[sc.LLMOTEL_CONTENT_TRUNCATED] is True
    assert sum(p.value for p in otel.points(sc.METRIC_REDACTION_TRUNCATIONS)) >= 1


def test_binary_payload_is_replaced_by_a_placeholder(pipeline: Any, fake: Any) -> None:
    import base64

    otel = pipeline(capture_content="span_only")
    image = base64.b64encode(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40).decode()
    oa = openai.OpenAI(api_key="t", base_url=fake.base_url, max_retries=0)
    oa.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": [
        {"type": "text", "text": "what is this?"},
        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{image}"}}]}])
    raw = otel.spans("chat")[0].attributes[sc.GEN_AI_INPUT_MESSAGES]
    assert image[:64] not in raw and "image/png" in raw and "sha256:" in raw
    assert sum(p.value for p in otel.points(sc.METRIC_CONTENT_BINARY_REPLACED)) >= 1


def test_capture_off_does_no_redaction_work(fake: Any) -> None:
    """With capture off no redactor is ever built and no regex compiled (fresh interpreter)."""
    script = f"""
import re, sys
import openai, anthropic, llmotel
llmotel.init(traces_exporter="none", metrics_exporter="none", logs_exporter="none")
compiled = []
real_compile = re.compile
re.compile = lambda *a, **k: compiled.append(a[0]) or real_compile(*a, **k)
oa = openai.OpenAI(api_key="t", base_url="{fake.base_url}", max_retries=0)
oa.chat.completions.create(model="gpt-4o-mini", messages=[{{"role": "user", "content": "{CANARY}"}}])
list(oa.chat.completions.create(model="gpt-4o-mini", stream=True, messages=[{{"role": "user", "content": "x"}}]))
with llmotel.tool("t") as op:
    op.set_input("{CANARY}")
llmotel.record_evaluation("e", score=1.0, explanation="{CANARY}")
from llmotel.telemetry import capture
assert capture._shared == [], "a redactor was built"
assert not [p for p in compiled if "REDACTED" in str(p) or "@" in str(p)], compiled
print("ok")
"""
    env = {"PATH": "/usr/bin:/bin", "OTEL_SDK_DISABLED": "false"}
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr[-2000:]
