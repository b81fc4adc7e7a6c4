"""Feedback and evaluations: gen_ai.evaluation.result events, score metrics, the evaluation runner."""

from __future__ import annotations

import logging
import math
import os
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanContext, TraceFlags

import llmotel
import llmotel.instrumentation
from llmotel import evaluators, feedback, workflows
from llmotel import semconv as sc
from llmotel.config import ENV_CAPTURE_CONTENT
from llmotel.evaluators import (
    EvalOutcome,
    EvalSample,
    EvaluationRunner,
    Evaluator,
    JsonValidity,
    JudgeFunction,
    RefusalDetector,
    hallucination_outcome,
    sample_fraction,
)
from llmotel.feedback import (
    SpanHandle,
    current_handle,
    current_span_id,
    current_trace_id,
    record_evaluation,
    record_feedback,
    thumbs_down,
    thumbs_up,
)
from llmotel.telemetry import registry
from tests.otel_globals import reset_otel_globals

# --- global in-memory providers, reset around every test ------------------------------



class Globals:
    def __init__(self) -> None:
        self.span_exporter = InMemorySpanExporter()
        self.tracer_provider = TracerProvider()
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self.span_exporter))
        self.metric_reader = InMemoryMetricReader()
        self.meter_provider = MeterProvider(metric_readers=[self.metric_reader])
        self.log_exporter = InMemoryLogRecordExporter()
        self.logger_provider = LoggerProvider()
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self.log_exporter))
        trace.set_tracer_provider(self.tracer_provider)
        metrics.set_meter_provider(self.meter_provider)
        _logs.set_logger_provider(self.logger_provider)
        self.tracer = trace.get_tracer("test")

    def logs(self) -> list[Any]:
        records = [getattr(r, "log_record", r) for r in self.log_exporter.get_finished_logs()]
        return [r for r in records if r.event_name == sc.EVENT_EVALUATION_RESULT]

    def log(self) -> Any:
        logs = self.logs()
        assert len(logs) == 1, [dict(r.attributes) for r in logs]
        return logs[0]

    def metric(self, name: str) -> Any:
        data = self.metric_reader.get_metrics_data()
        for resource in data.resource_metrics if data else ():
            for scope in resource.scope_metrics:
                for m in scope.metrics:
                    if m.name == name:
                        return m
        return None

    def points(self, name: str) -> list[Any]:
        m = self.metric(name)
        return [] if m is None else list(m.data.data_points)

    def shutdown(self) -> None:
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        self.logger_provider.shutdown()


@pytest.fixture(autouse=True)
def g(monkeypatch) -> Iterator[Globals]:
    for name in list(os.environ):
        if name.startswith(("OTEL_", "LLMOTEL_")):
            monkeypatch.delenv(name)
    llmotel.shutdown()
    reset_otel_globals()
    workflows._reset_for_tests()  # the environment's settings are cached: this test sets its own
    globals_ = Globals()
    yield globals_
    globals_.shutdown()
    llmotel.shutdown()
    reset_otel_globals()
    workflows._reset_for_tests()


def rid() -> str:
    return f"chatcmpl-{uuid.uuid4().hex}"


def remember(response_id: str, model: str = "gpt-4o-mini", provider: str = "openai") -> SpanContext:
    """Simulate a finished inference call the way Invocation.finish registers it."""
    ctx = SpanContext(
        int(uuid.uuid4().hex, 16), int(uuid.uuid4().hex[:16], 16), is_remote=False,
        trace_flags=TraceFlags(TraceFlags.SAMPLED),
    )
    registry.remember(response_id, ctx, {
        sc.GEN_AI_OPERATION_NAME: "chat", sc.GEN_AI_PROVIDER_NAME: provider, sc.GEN_AI_REQUEST_MODEL: model,
        sc.SERVER_ADDRESS: "api.example.com", sc.GEN_AI_RESPONSE_MODEL: model + "-2024",
    })
    return ctx


def same_span(record: Any, ctx: SpanContext) -> bool:
    return record.trace_id == ctx.trace_id and record.span_id == ctx.span_id


# --- ids and handles -------------------------------------------------------------------


def test_current_ids_outside_and_inside_a_span(g):
    assert current_trace_id() is None and current_span_id() is None and current_handle() is None
    with g.tracer.start_as_current_span("request") as span:
        ctx = span.get_span_context()
        assert current_trace_id() == f"{ctx.trace_id:032x}"
        assert current_span_id() == f"{ctx.span_id:016x}"
        handle = current_handle(response_id="r1")
    assert handle == SpanHandle(f"{ctx.trace_id:032x}", f"{ctx.span_id:016x}", "r1")


def test_handle_string_round_trip():
    plain = SpanHandle("0af7651916cd43dd8448eb211c80319c", "b7ad6b7169203331")
    assert plain.to_string() == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert str(plain) == plain.to_string()
    assert SpanHandle.from_string(plain.to_string()) == plain
    tricky = SpanHandle(plain.trace_id, plain.span_id, "resp_1;a=b/ü c")
    text = tricky.to_string()
    assert text.startswith(plain.to_string() + ";rid=") and " " not in text
    assert SpanHandle.from_string(text) == tricky
    # Upper-case input and unsampled flags are accepted and normalised.
    assert SpanHandle.from_string("00-0AF7651916CD43DD8448EB211C80319C-B7AD6B7169203331-00") == plain
    assert SpanHandle(plain.trace_id.upper(), plain.span_id) == plain


@pytest.mark.parametrize("text", [
    "", "garbage", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331",
    "00-00000000000000000000000000000000-b7ad6b7169203331-01",
    "00-0af7651916cd43dd8448eb211c80319c-0000000000000000-01",
    "ff-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01;foo=bar",
    "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01;rid=",
])
def test_malformed_handle_strings_raise(text):
    with pytest.raises(ValueError):
        SpanHandle.from_string(text)


# --- targets ---------------------------------------------------------------------------


def test_feedback_on_the_current_span(g):
    with g.tracer.start_as_current_span("request") as span:
        record_feedback(label="positive")
    record = g.log()
    assert same_span(record, span.get_span_context())
    assert dict(record.attributes) == {
        sc.GEN_AI_EVALUATION_NAME: "user_feedback",
        sc.GEN_AI_EVALUATION_SCORE_VALUE: 1.0,
        sc.GEN_AI_EVALUATION_SCORE_LABEL: "positive",
        sc.LLMOTEL_EVALUATION_SOURCE: "human",
    }
    assert record.trace_flags == TraceFlags.SAMPLED


def test_handle_captured_in_span_used_after_it_ended_from_another_thread(g):
    with g.tracer.start_as_current_span("request") as span:
        handle = current_handle()
    assert not span.is_recording()
    thread = threading.Thread(target=lambda: thumbs_down(target=handle, comment="wrong"))
    thread.start()
    thread.join()
    record = g.log()
    assert same_span(record, span.get_span_context())
    assert record.attributes[sc.GEN_AI_EVALUATION_SCORE_LABEL] == "negative"
    assert record.attributes[sc.GEN_AI_EVALUATION_SCORE_VALUE] == 0.0


def test_handle_string_round_trip_as_target(g):
    with g.tracer.start_as_current_span("request") as span:
        stored = current_handle(response_id="resp_42").to_string()
    with g.tracer.start_as_current_span("feedback-endpoint"):  # a different current span: ignored
        record_feedback(target=stored, score=4, name="stars")
    record = g.log()
    assert same_span(record, span.get_span_context())
    assert record.attributes[sc.GEN_AI_RESPONSE_ID] == "resp_42"
    assert record.attributes[sc.GEN_AI_EVALUATION_NAME] == "stars"
    assert record.attributes[sc.GEN_AI_EVALUATION_SCORE_VALUE] == 4.0


def test_trace_and_span_id_from_another_thread(g):
    with g.tracer.start_as_current_span("request") as span:
        tid, sid = current_trace_id(), current_span_id()
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            record_evaluation("relevance", score=0.8, label="relevant", trace_id=tid, span_id=sid,
                              evaluator="my-judge", source="llm_judge")
        except BaseException as exc:  # pragma: no cover - surfaced below
            errors.append(exc)

    thread = threading.Thread(target=worker)
    thread.start()
    thread.join()
    assert not errors
    record = g.log()
    assert same_span(record, span.get_span_context())
    assert record.attributes[sc.LLMOTEL_EVALUATION_EVALUATOR] == "my-judge"
    assert record.attributes[sc.LLMOTEL_EVALUATION_SOURCE] == "llm_judge"


def test_trace_id_alone_attaches_to_the_trace(g):
    with g.tracer.start_as_current_span("request") as span:
        tid = current_trace_id()
    record_feedback(label="negative", trace_id=tid)
    record = g.log()
    assert record.trace_id == span.get_span_context().trace_id and record.span_id == 0


def test_response_id_via_the_registry(g):
    response_id = rid()
    ctx = remember(response_id, model="claude-x", provider="anthropic")
    with g.tracer.start_as_current_span("unrelated"):  # the registry wins over the current span
        record_feedback(response_id=response_id, label="thumbs_up")
    record = g.log()
    assert same_span(record, ctx)
    attrs = dict(record.attributes)
    assert attrs[sc.GEN_AI_RESPONSE_ID] == response_id
    assert attrs[sc.GEN_AI_REQUEST_MODEL] == "claude-x"
    assert attrs[sc.GEN_AI_PROVIDER_NAME] == "anthropic"
    assert attrs[sc.GEN_AI_OPERATION_NAME] == "chat"
    assert sc.SERVER_ADDRESS not in attrs and sc.GEN_AI_RESPONSE_MODEL not in attrs


def test_unknown_response_id_emits_without_span_context(g):
    with g.tracer.start_as_current_span("unrelated"):  # must not be picked up as the target
        record_feedback(response_id="chatcmpl-never-seen", label="positive")
    record = g.log()
    assert record.trace_id == 0 and record.span_id == 0
    assert record.attributes[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-never-seen"
    assert sc.GEN_AI_REQUEST_MODEL not in record.attributes


def test_no_target_and_no_current_span_emits_untraced(g):
    record_evaluation("x", label="pass")
    assert g.log().trace_id == 0


def test_real_openai_call_feedback_lands_on_its_span(g, fake, instrument):
    otel = instrument()  # llmotel's instrumentor into the fixture's own (non-global) providers
    client = openai.OpenAI(api_key="test", base_url=fake.base_url, max_retries=0)
    response = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
    span = otel.span()
    found = registry.lookup(response.id)
    assert found is not None and found[0] == span.get_span_context()

    thread = threading.Thread(target=lambda: thumbs_up(response_id=response.id, user_id="u-1"))
    thread.start()
    thread.join()
    record = g.log()  # on the global logger provider
    assert same_span(record, span.get_span_context())
    assert record.attributes[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert record.attributes[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert record.attributes[sc.USER_ID] == "u-1"
    (point,) = [p for p in g.points(sc.METRIC_EVALUATION_RESULTS)]
    assert dict(point.attributes) == {
        sc.GEN_AI_EVALUATION_NAME: "user_feedback", sc.GEN_AI_EVALUATION_SCORE_LABEL: "positive",
        sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini", sc.GEN_AI_PROVIDER_NAME: "openai",
    }

    # The runner resolves the same call from the SDK response object.
    runner = EvaluationRunner([RefusalDetector()])
    assert runner.submit(EvalSample.from_response(response))
    assert runner.shutdown(timeout=5)
    refusal = [r for r in g.logs() if r.attributes[sc.GEN_AI_EVALUATION_NAME] == "refusal"]
    assert len(refusal) == 1 and same_span(refusal[0], span.get_span_context())
    assert refusal[0].attributes[sc.GEN_AI_EVALUATION_SCORE_LABEL] == "answer"


# --- content gating --------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "captured"), [
    (None, False), ("NO_CONTENT", False), ("SPAN_ONLY", False), ("EVENT_ONLY", True), ("SPAN_AND_EVENT", True),
])
def test_explanation_and_comment_follow_content_capture(g, monkeypatch, mode, captured):
    if mode is not None:
        monkeypatch.setenv(ENV_CAPTURE_CONTENT, mode)
    record_evaluation("relevance", score=0.1, explanation="the answer ignores the question")
    record_feedback(label="negative", comment="my email is a@b.c")
    explanations = [r.attributes.get(sc.GEN_AI_EVALUATION_EXPLANATION) for r in g.logs()]
    if captured:
        assert explanations == ["the answer ignores the question", "my email is a@b.c"]
    else:
        assert explanations == [None, None]


def test_content_gate_follows_init_settings(g, monkeypatch):
    monkeypatch.setattr(llmotel.instrumentation, "INSTRUMENTORS", {})
    monkeypatch.setenv(ENV_CAPTURE_CONTENT, "NO_CONTENT")  # init()'s keyword wins over the environment
    llmotel.init(capture_content="EVENT_ONLY", traces_exporter="none", metrics_exporter="none",
                 logs_exporter="none")
    record_evaluation("relevance", score=1.0, explanation="fine")
    assert g.log().attributes[sc.GEN_AI_EVALUATION_EXPLANATION] == "fine"


def test_invalid_environment_fails_closed(g, monkeypatch):
    monkeypatch.setenv(ENV_CAPTURE_CONTENT, "bogus")
    record_evaluation("relevance", score=1.0, explanation="secret")
    assert sc.GEN_AI_EVALUATION_EXPLANATION not in g.log().attributes


# --- metrics ---------------------------------------------------------------------------


def test_score_histogram_and_results_counter(g):
    response_id = rid()
    remember(response_id, model="gpt-4o")
    extra = {sc.GEN_AI_PROMPT_VERSION: "v3", sc.LLMOTEL_FEATURE: "search", "tenant": "acme", "free": "text"}
    for score in (0.05, 0.95, 1.0):
        label = sc.HALLUCINATION_HALLUCINATED if score >= 0.5 else sc.HALLUCINATION_GROUNDED
        record_evaluation(sc.EVAL_HALLUCINATION, score=score, label=label, response_id=response_id,
                          attributes=extra)
    record_feedback(label="positive", user_id="user-123", comment="great")

    histogram = g.metric(sc.METRIC_EVALUATION_SCORE)
    assert histogram.unit == "{score}"
    (point,) = [p for p in histogram.data.data_points
                if p.attributes[sc.GEN_AI_EVALUATION_NAME] == sc.EVAL_HALLUCINATION]
    assert dict(point.attributes) == {
        sc.GEN_AI_EVALUATION_NAME: "hallucination", sc.GEN_AI_REQUEST_MODEL: "gpt-4o",
        sc.GEN_AI_PROVIDER_NAME: "openai", sc.GEN_AI_PROMPT_VERSION: "v3", sc.LLMOTEL_FEATURE: "search",
    }
    assert list(point.explicit_bounds) == list(sc.EVALUATION_SCORE_BUCKETS)
    assert point.count == 3 and math.isclose(point.sum, 2.0)
    assert point.bucket_counts[1] == 1  # 0.05 in (0, 0.1]
    assert point.bucket_counts[-2] == 2  # 0.95 and 1.0 in (0.9, 1.0]

    results = g.metric(sc.METRIC_EVALUATION_RESULTS)
    assert results.unit == "{result}"
    by_label = {(p.attributes[sc.GEN_AI_EVALUATION_NAME], p.attributes.get(sc.GEN_AI_EVALUATION_SCORE_LABEL)): p
                for p in results.data.data_points}
    assert by_label[("hallucination", "hallucinated")].value == 2
    assert by_label[("hallucination", "grounded")].value == 1
    feedback_point = by_label[("user_feedback", "positive")]
    assert feedback_point.value == 1
    # No user id or free text on any metric point.
    for p in [*results.data.data_points, *histogram.data.data_points]:
        assert not {"tenant", "free", sc.USER_ID, sc.GEN_AI_EVALUATION_EXPLANATION} & set(p.attributes)
    # Events keep the extra attributes.
    assert all(r.attributes.get("tenant") == "acme" for r in g.logs()[:3])


def test_metric_attributes_hook_is_an_allow_list():
    out = feedback._metric_attributes(
        {sc.GEN_AI_REQUEST_MODEL: "m", sc.GEN_AI_PROVIDER_NAME: "p", sc.SERVER_ADDRESS: "h"},
        {sc.GEN_AI_PROMPT_VERSION: "v1", sc.USER_ID: "u", "x": 1},
    )
    assert out == {sc.GEN_AI_REQUEST_MODEL: "m", sc.GEN_AI_PROVIDER_NAME: "p", sc.GEN_AI_PROMPT_VERSION: "v1"}


def test_label_only_is_counted_but_not_scored(g):
    record_evaluation("tone", label="formal")
    assert g.points(sc.METRIC_EVALUATION_SCORE) == []
    (point,) = g.points(sc.METRIC_EVALUATION_RESULTS)
    assert dict(point.attributes) == {sc.GEN_AI_EVALUATION_NAME: "tone", sc.GEN_AI_EVALUATION_SCORE_LABEL: "formal"}


def test_error_type_records_a_failed_evaluation(g):
    record_evaluation("faithfulness", error_type="TimeoutError", source="llm_judge")
    assert g.log().attributes[sc.ERROR_TYPE] == "TimeoutError"
    assert g.points(sc.METRIC_EVALUATION_RESULTS) == []
    (point,) = g.points(sc.METRIC_EVALUATION_ERRORS)
    assert dict(point.attributes) == {sc.GEN_AI_EVALUATION_NAME: "faithfulness", sc.ERROR_TYPE: "TimeoutError"}


def test_a_failed_evaluation_of_a_known_call_carries_its_model(g):
    response_id = rid()
    remember(response_id, model="gpt-4o")
    record_evaluation("faithfulness", error_type="TimeoutError", response_id=response_id)
    (point,) = g.points(sc.METRIC_EVALUATION_ERRORS)
    assert dict(point.attributes) == {sc.GEN_AI_EVALUATION_NAME: "faithfulness", sc.ERROR_TYPE: "TimeoutError",
                                      sc.GEN_AI_REQUEST_MODEL: "gpt-4o", sc.GEN_AI_PROVIDER_NAME: "openai"}


def test_instruments_follow_a_new_global_meter_provider(g):
    record_evaluation("a", score=1.0)
    g.meter_provider.shutdown()
    reset_otel_globals()
    fresh = Globals()
    try:
        record_evaluation("a", score=0.5)
        (point,) = fresh.points(sc.METRIC_EVALUATION_SCORE)
        assert point.count == 1 and len(fresh.logs()) == 1
    finally:
        fresh.shutdown()


# --- errors ----------------------------------------------------------------------------

GOOD_TRACE = "0af7651916cd43dd8448eb211c80319c"
GOOD_SPAN = "b7ad6b7169203331"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"name": "", "score": 1.0}, "name"),
    ({"name": "x" * 200, "score": 1.0}, "name"),
    ({"name": "x"}, "score="),
    ({"name": "x", "score": float("nan")}, "finite"),
    ({"name": "x", "score": float("inf")}, "finite"),
    ({"name": "x", "score": True}, "number"),
    ({"name": "x", "score": "0.5"}, "number"),
    ({"name": "x", "label": ""}, "label"),
    ({"name": "x", "label": "a long free-text sentence " * 5}, "low-cardinality"),
    ({"name": "x", "score": 1.0, "explanation": 3}, "explanation"),
    ({"name": "x", "score": 1.0, "source": "robot"}, "source"),
    ({"name": "x", "score": 1.0, "target": f"00-{GOOD_TRACE}-{GOOD_SPAN}-01", "trace_id": GOOD_TRACE}, "not both"),
    ({"name": "x", "score": 1.0, "span_id": GOOD_SPAN}, "trace_id"),
    ({"name": "x", "score": 1.0, "trace_id": "xyz", "span_id": GOOD_SPAN}, "hex"),
    ({"name": "x", "score": 1.0, "trace_id": "0" * 32, "span_id": GOOD_SPAN}, "zero"),
    ({"name": "x", "score": 1.0, "trace_id": GOOD_TRACE, "span_id": GOOD_SPAN[:-1]}, "16 hex"),
    ({"name": "x", "score": 1.0, "target": 42}, "SpanHandle"),
    ({"name": "x", "score": 1.0, "target": "nonsense"}, "from_string"),
    ({"name": "x", "score": 1.0, "target": SpanHandle(GOOD_TRACE, GOOD_SPAN, "a"), "response_id": "b"},
     "contradicts"),
    ({"name": "x", "score": 1.0, "response_id": ""}, "response_id"),
    ({"name": "x", "score": 1.0, "attributes": {"k": [1, 2]}}, "attribute 'k'"),
    ({"name": "x", "score": 1.0, "attributes": {"gen_ai.evaluation.name": "y"}}, "keyword"),
    ({"name": "x", "score": 1.0, "attributes": "k=v"}, "mapping"),
])
def test_invalid_arguments_raise_value_error(g, kwargs, message):
    name = kwargs.pop("name")
    with pytest.raises(ValueError, match=message):
        record_evaluation(name, **kwargs)
    assert g.logs() == []


def test_record_feedback_validates_too(g):
    with pytest.raises(ValueError, match="user_id"):
        record_feedback(label="positive", user_id=7)
    with pytest.raises(ValueError, match="score="):
        record_feedback(comment="no verdict")


def test_telemetry_failures_never_raise(g, monkeypatch, caplog):
    class Broken:
        def emit(self, *args: Any, **kwargs: Any) -> None:
            raise RuntimeError("exporter down")

    monkeypatch.setattr(feedback, "_get_logger", lambda: Broken())
    monkeypatch.setattr(feedback, "_reported", set())
    with caplog.at_level(logging.WARNING, logger="llmotel"):
        record_feedback(label="positive")
        record_feedback(label="positive")
    assert len([r for r in caplog.records if "record_evaluation" in r.getMessage()]) == 1
    (point,) = g.points(sc.METRIC_INSTRUMENTATION_ERRORS)
    assert point.value == 2 and point.attributes[sc.ERROR_TYPE] == "RuntimeError"


def test_without_any_provider_it_is_a_no_op():
    reset_otel_globals()  # the API's no-op/proxy providers
    record_feedback(label="positive", response_id="anything")
    record_evaluation("x", score=0.3, trace_id=GOOD_TRACE, span_id=GOOD_SPAN)


# --- the evaluation runner -------------------------------------------------------------


PASS = EvalOutcome(1.0, "pass")


class Recorder:
    name = "recorder"
    source = "custom"

    def __init__(self, outcome: EvalOutcome | None = PASS) -> None:
        self.threads: list[int] = []
        self.samples: list[EvalSample] = []
        self.outcome = outcome
        self.lock = threading.Lock()

    def __call__(self, sample: EvalSample) -> EvalOutcome | None:
        with self.lock:
            self.threads.append(threading.get_ident())
            self.samples.append(sample)
        return self.outcome


def test_runner_evaluates_off_thread_and_attaches_to_the_call(g):
    response_id = rid()
    ctx = remember(response_id)
    recorder = Recorder()
    assert isinstance(recorder, Evaluator)
    runner = EvaluationRunner([recorder, RefusalDetector()])
    sample = EvalSample(output="Sure, here it is.", input="q", response_id=response_id,
                        attributes={sc.LLMOTEL_FEATURE: "chat"})
    assert runner.submit(sample) is True
    assert runner.flush(timeout=5)
    assert recorder.threads and threading.get_ident() not in recorder.threads
    records = {r.attributes[sc.GEN_AI_EVALUATION_NAME]: r for r in g.logs()}
    assert set(records) == {"recorder", "refusal"}
    assert all(same_span(r, ctx) for r in records.values())
    assert records["refusal"].attributes[sc.LLMOTEL_EVALUATION_SOURCE] == "heuristic"
    assert records["refusal"].attributes[sc.LLMOTEL_EVALUATION_EVALUATOR] == "llmotel.RefusalDetector"
    assert records["recorder"].attributes[sc.LLMOTEL_EVALUATION_EVALUATOR].endswith("Recorder")
    assert records["recorder"].attributes[sc.LLMOTEL_FEATURE] == "chat"
    assert runner.shutdown(timeout=5)
    assert runner.stats["evaluated"] == 2


def test_runner_uses_the_span_current_at_submit_time(g):
    runner = EvaluationRunner([Recorder()])
    with g.tracer.start_as_current_span("request") as span:
        runner.submit(EvalSample(output="x"))  # no id at all
        runner.submit(EvalSample(output="x", response_id="chatcmpl-unknown"))  # unknown id
    handle = SpanHandle.from_span_context(span.get_span_context())
    runner.submit(EvalSample(output="x", handle=handle))  # explicit handle, outside the span
    assert runner.shutdown(timeout=5)
    records = g.logs()
    assert len(records) == 3 and all(same_span(r, span.get_span_context()) for r in records)
    assert records[1].attributes[sc.GEN_AI_RESPONSE_ID] == "chatcmpl-unknown"


def test_sampling_is_deterministic_per_response_id(g):
    ids = [f"chatcmpl-{i}" for i in range(2000)]
    first = EvaluationRunner([Recorder(None)], sample_rate=0.25)
    second = EvaluationRunner([Recorder(None)], sample_rate=0.25)
    picked = [i for i in ids if first.should_sample(EvalSample(output="", response_id=i))]
    assert picked == [i for i in ids if second.should_sample(EvalSample(output="", response_id=i))]
    assert 0.2 < len(picked) / len(ids) < 0.3
    # Stable across processes: a fixed value, not Python's salted hash().
    assert sample_fraction("chatcmpl-0") == pytest.approx(sample_fraction("chatcmpl-0"))
    assert 0.0 <= sample_fraction("chatcmpl-0") < 1.0
    # Lower rates pick a subset of higher rates' calls.
    low = EvaluationRunner([Recorder(None)], sample_rate=0.1)
    assert set(i for i in ids if low.should_sample(EvalSample(output="", response_id=i))) <= set(picked)
    none = EvaluationRunner([Recorder(None)], sample_rate=0.0)
    assert not none.submit(EvalSample(output="", response_id=ids[0]))
    assert none.stats["sampled_out"] == 1
    for runner in (first, second, low, none):
        runner.shutdown(timeout=1)


def test_bounded_queue_drops_and_counts_without_blocking(g):
    release = threading.Event()
    started = threading.Event()

    class Blocking:
        name = "slow"
        source = "custom"

        def __call__(self, sample: EvalSample) -> EvalOutcome:
            started.set()
            release.wait(10)
            return EvalOutcome(score=1.0)

    runner = EvaluationRunner([Blocking()], max_queue=2)
    assert runner.submit(EvalSample(output="0"))
    assert started.wait(5)  # the worker holds sample 0; the queue is empty again
    t0 = time.perf_counter()
    accepted = [runner.submit(EvalSample(output=str(i))) for i in range(1, 6)]
    assert time.perf_counter() - t0 < 0.5
    assert accepted == [True, True, False, False, False]
    (point,) = g.points(sc.METRIC_EVALUATION_DROPPED)
    assert point.value == 3 and dict(point.attributes) == {sc.LLMOTEL_EVALUATION_DROP_REASON: "queue_full"}
    release.set()
    assert runner.shutdown(timeout=5)
    assert runner.stats == {"submitted": 3, "sampled_out": 0, "dropped": 3, "evaluated": 3, "errors": 0}
    assert len(g.logs()) == 3


def test_failing_evaluator_never_raises_and_is_counted(g, caplog):
    class Exploding:
        name = "explodes"
        source = "llm_judge"

        def __call__(self, sample: EvalSample) -> EvalOutcome:
            raise ConnectionError("judge unreachable")

    recorder = Recorder()
    runner = EvaluationRunner([Exploding(), JudgeFunction("nan", lambda s: float("nan")), recorder])
    with caplog.at_level(logging.WARNING, logger="llmotel"):
        for i in range(3):
            assert runner.submit(EvalSample(output="x", response_id=f"r{i}"))
        assert runner.shutdown(timeout=5)
    assert len(recorder.samples) == 3  # later evaluators still ran
    warnings = [r.getMessage() for r in caplog.records]
    assert len([m for m in warnings if "'explodes'" in m]) == 1  # logged once per evaluator
    assert len([m for m in warnings if "'nan'" in m]) == 1
    errors = {(p.attributes[sc.GEN_AI_EVALUATION_NAME], p.attributes[sc.ERROR_TYPE]): p.value
              for p in g.points(sc.METRIC_EVALUATION_ERRORS)}
    assert errors == {("explodes", "ConnectionError"): 3, ("nan", "ValueError"): 3}
    failed = [r for r in g.logs() if r.attributes.get(sc.ERROR_TYPE) == "ConnectionError"]
    assert len(failed) == 3 and failed[0].attributes[sc.GEN_AI_RESPONSE_ID] == "r0"
    assert runner.stats["errors"] == 6 and runner.stats["evaluated"] == 3


def test_shutdown_drains_the_queue_and_refuses_new_samples(g):
    class Slow:
        name = "slow"
        source = "custom"

        def __call__(self, sample: EvalSample) -> EvalOutcome:
            time.sleep(0.005)
            return EvalOutcome(score=0.5)

    runner = EvaluationRunner([Slow()], workers=2)
    for i in range(40):
        assert runner.submit(EvalSample(output=str(i), response_id=f"r{i}"))
    assert runner.shutdown(timeout=10) is True
    assert len(g.logs()) == 40
    assert runner.submit(EvalSample(output="late")) is False
    assert runner.stats["dropped"] == 1
    assert runner.shutdown(timeout=1) is True  # idempotent


def test_shutdown_all_drains_every_live_runner(g):
    runners = [EvaluationRunner([Recorder()], max_queue=1, workers=2) for _ in range(2)]
    for runner in runners:
        assert runner.submit(EvalSample(output="x"))
    assert evaluators.shutdown_all(timeout=5)
    assert len(g.logs()) == 2
    assert all(r.shutdown(timeout=0.1) for r in runners)  # again: immediate, nothing left to stop
    assert evaluators.shutdown_all(timeout=0.1)


def test_shutdown_times_out_on_a_stuck_evaluator(g):
    release = threading.Event()
    stuck = JudgeFunction("stuck", lambda s: release.wait(10) and 1.0, source="custom")
    runner = EvaluationRunner([stuck], max_queue=1)
    runner.submit(EvalSample(output="a"))
    time.sleep(0.05)
    runner.submit(EvalSample(output="b"))
    t0 = time.perf_counter()
    assert runner.shutdown(timeout=0.2) is False
    assert time.perf_counter() - t0 < 2
    release.set()


@pytest.mark.parametrize("kwargs", [
    {"evaluators": []},
    {"evaluators": [object()]},
    {"evaluators": [JudgeFunction("x", lambda s: 1)], "sample_rate": 1.5},
    {"evaluators": [JudgeFunction("x", lambda s: 1)], "max_queue": 0},
    {"evaluators": [JudgeFunction("x", lambda s: 1)], "workers": 0},
])
def test_runner_rejects_bad_configuration(kwargs):
    evaluators = kwargs.pop("evaluators")
    with pytest.raises(ValueError):
        EvaluationRunner(evaluators, **kwargs)


# --- built-in evaluators on golden inputs ----------------------------------------------

SCHEMA = {
    "type": "object",
    "required": ["name", "price"],
    "additionalProperties": False,
    "properties": {
        "name": {"type": "string"},
        "price": {"type": "number"},
        "tags": {"type": "array", "items": {"type": "string"}, "maxItems": 3},
        "kind": {"enum": ["a", "b"]},
    },
}


@pytest.mark.parametrize(("output", "label", "why"), [
    ('{"name": "pen", "price": 1.5}', "valid", None),
    ('{"name": "pen", "price": 2, "tags": ["x"], "kind": "a"}', "valid", None),
    ('{"name": "pen"}', "schema_violation", "$: missing required key 'price'"),
    ('{"name": "pen", "price": "cheap"}', "schema_violation", "$.price: expected number, got string"),
    ('{"name": "pen", "price": 1, "tags": ["x", 2]}', "schema_violation", "$.tags[1]: expected string, got integer"),
    ('{"name": "pen", "price": 1, "colour": "red"}', "schema_violation", "$: unexpected key 'colour'"),
    ('{"name": "pen", "price": 1, "kind": "z"}', "schema_violation", "$.kind: not one of the 2 allowed values"),
    ('{"name": "pen", "price": 1, "tags": ["a", "b", "c", "d"]}', "schema_violation", "$.tags: more than 3 items"),
    ('[1, 2]', "schema_violation", "$: expected object, got array"),
    ('{"name": "pen", "price": 1,}', "invalid", None),
    ("Sure! Here is the JSON:", "invalid", None),
    ("", "invalid", None),
])
def test_json_validity_with_schema(output, label, why):
    outcome = JsonValidity(SCHEMA)(EvalSample(output=output))
    assert outcome.label == label
    assert outcome.score == (1.0 if label == "valid" else 0.0)
    if why is not None:
        assert outcome.explanation == why
    if label == "invalid":
        assert outcome.explanation.startswith("not JSON: ")
    # Explanations name paths, never values.
    assert "cheap" not in (outcome.explanation or "") and "'red'" not in (outcome.explanation or "")


def test_json_validity_without_schema_and_code_fences():
    fenced = '```json\n{"a": 1}\n```'
    assert JsonValidity()(EvalSample(output='  {"a": [1, null]} ')).label == "valid"
    assert JsonValidity()(EvalSample(output=fenced)).label == "invalid"
    assert JsonValidity(strip_fences=True)(EvalSample(output=fenced)).label == "valid"
    assert JsonValidity({"type": "integer"})(EvalSample(output="3.0")).label == "valid"
    assert JsonValidity({"type": "integer"})(EvalSample(output="true")).label == "schema_violation"
    assert JsonValidity({"type": ["string", "null"]})(EvalSample(output="null")).label == "valid"


REFUSALS = [
    "I'm sorry, but I can't help with that.",
    "I\u2019m sorry, I cannot assist with this request.",  # a typographic apostrophe
    "I can't help with that.",
    "I cannot provide instructions for making weapons.",
    "As an AI language model, I don't have personal opinions.",
    "As an AI, I am not able to browse the internet.",
    "I'm not able to help with creating malware.",
    "I am unable to comply with that request.",
    "I must decline to answer this.",
    "Unfortunately, that request goes against our content policy. I won't do that.",
    "I'm afraid I can't do that, Dave.",
    "Sorry, I am not allowed to share that information.",
]
ANSWERS = [
    "The capital of France is Paris.",
    "I can't help but notice you asked about Python: here is a list comprehension.",
    "Here's how to sort a list: use sorted(items).",
    "You cannot divide by zero, so the function raises ZeroDivisionError.",
    "Sure! " + "Here is a long answer. " * 30 + "Note: I can't help with legal advice.",
]


@pytest.mark.parametrize("text", REFUSALS)
def test_refusal_detector_flags_refusals(text):
    outcome = RefusalDetector()(EvalSample(output=text))
    assert (outcome.label, outcome.score) == ("refusal", 1.0), text
    assert outcome.explanation.startswith("matched refusal rule ")


@pytest.mark.parametrize("text", ANSWERS)
def test_refusal_detector_passes_answers(text):
    outcome = RefusalDetector()(EvalSample(output=text))
    assert (outcome.label, outcome.score) == ("answer", 0.0), text


def test_refusal_detector_extras_and_empty():
    assert RefusalDetector()(EvalSample(output="   ")) is None
    custom = RefusalDetector(extra_patterns=[r"\bje ne peux pas\b"])
    assert custom(EvalSample(output="Je ne peux pas répondre.")).label == "refusal"
    with pytest.raises(ValueError):
        RefusalDetector(extra_patterns=["("])


@pytest.mark.parametrize(("returned", "expected"), [
    (EvalOutcome(0.7, "ok", "why"), EvalOutcome(0.7, "ok", "why")),
    (0.25, EvalOutcome(score=0.25)),
    (3, EvalOutcome(score=3.0)),
    (True, EvalOutcome(1.0, "pass")),
    (False, EvalOutcome(0.0, "fail")),
    ("relevant", EvalOutcome(label="relevant")),
    ({"score": 0.9, "explanation": "close"}, EvalOutcome(0.9, None, "close")),
    ((0.1, "grounded"), EvalOutcome(0.1, "grounded")),
    (None, None),
])
def test_judge_function_normalises_results(returned, expected):
    judge = JudgeFunction("relevance", lambda sample: returned)
    assert judge(EvalSample(output="x")) == expected
    assert judge.source == "llm_judge" and "test_feedback" in judge.evaluator


def test_judge_function_async_and_bad_shapes():
    async def judge(sample: EvalSample) -> float:
        return 0.5

    assert JudgeFunction("async", judge)(EvalSample(output="x")) == EvalOutcome(score=0.5)
    with pytest.raises(TypeError):
        JudgeFunction("bad", lambda s: [1])(EvalSample(output="x"))
    with pytest.raises(TypeError):
        JudgeFunction("bad", lambda s: {"scor": 1})(EvalSample(output="x"))
    with pytest.raises(ValueError):
        JudgeFunction("", lambda s: 1)
    with pytest.raises(ValueError):
        JudgeFunction("x", "not callable")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        JudgeFunction("x", lambda s: 1, source="robot")


def test_hallucination_convention(g):
    assert hallucination_outcome(0.9) == EvalOutcome(0.9, "hallucinated")
    assert hallucination_outcome(0.2, "cites the doc") == EvalOutcome(0.2, "grounded", "cites the doc")
    assert hallucination_outcome(0.5).label == "hallucinated"  # threshold inclusive
    judge = JudgeFunction(sc.EVAL_HALLUCINATION, lambda s: hallucination_outcome(0.0 if "Paris" in s.output else 1.0))
    runner = EvaluationRunner([judge])
    for text in ("Paris", "Lyon", "Nice"):
        runner.submit(EvalSample(output=text, response_id=rid()))
    assert runner.shutdown(timeout=5)
    counts = {p.attributes[sc.GEN_AI_EVALUATION_SCORE_LABEL]: p.value for p in g.points(sc.METRIC_EVALUATION_RESULTS)}
    assert counts == {"grounded": 1, "hallucinated": 2}  # hallucination rate 2/3


def test_eval_sample_from_response_shapes():
    class Obj:
        def __init__(self, **kw: Any) -> None:
            self.__dict__.update(kw)

    chat = Obj(id="chatcmpl-1", model="m", choices=[Obj(message=Obj(content="hello"))])
    responses = Obj(id="resp_1", model="m", output_text="hi there")
    anthropic = Obj(id="msg_1", model="claude", content=[Obj(type="thinking", thinking="..."),
                                                         Obj(type="text", text="a"), Obj(type="text", text="b")])
    assert EvalSample.from_response(chat) == EvalSample(output="hello", response_id="chatcmpl-1", model="m")
    assert EvalSample.from_response(responses).output == "hi there"
    sample = EvalSample.from_response(anthropic, input="q")
    assert (sample.output, sample.response_id, sample.model, sample.input) == ("ab", "msg_1", "claude", "q")
    assert EvalSample.from_response(object()) == EvalSample(output="")
    with pytest.raises(ValueError):
        EvalSample(output="x", response_id="a", handle=SpanHandle(GOOD_TRACE, GOOD_SPAN, "b"))
