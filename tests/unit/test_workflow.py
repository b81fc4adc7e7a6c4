"""Workflow, agent, tool and retrieval spans; branch decisions (llmotel/workflows.py).

Every test runs against fresh in-memory providers installed as the GLOBAL providers,
because llmotel.workflow reads the global ones, and asserts that the OpenTelemetry
context machinery never logged "Failed to detach context".
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.metrics import _internal as metrics_internal
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.trace import SpanKind, StatusCode

from llmotel import semconv as sc
from llmotel import workflows as wf
from llmotel.config import ContentMode, Settings
from llmotel.telemetry.invocation import error_type_of
from tests.conftest import Otel

CONTENT_KEYS = (sc.GEN_AI_INPUT_MESSAGES, sc.GEN_AI_OUTPUT_MESSAGES, sc.GEN_AI_TOOL_CALL_ARGUMENTS,
                sc.GEN_AI_TOOL_CALL_RESULT, sc.GEN_AI_RETRIEVAL_QUERY_TEXT, sc.GEN_AI_RETRIEVAL_DOCUMENTS)


def _install(tracer_provider: Any, meter_provider: Any) -> None:
    # The API lets a global provider be set once per process; tests reset the guard.
    trace._TRACER_PROVIDER_SET_ONCE._done = False
    trace._TRACER_PROVIDER = None
    metrics_internal._METER_PROVIDER_SET_ONCE._done = False
    metrics_internal._METER_PROVIDER = None
    if tracer_provider is not None:
        trace.set_tracer_provider(tracer_provider)
    if meter_provider is not None:
        metrics.set_meter_provider(meter_provider)


@pytest.fixture
def tel(monkeypatch: pytest.MonkeyPatch) -> Iterator[Otel]:
    """Fresh global tracer/meter providers with in-memory exporters; content capture off."""
    saved = (trace._TRACER_PROVIDER_SET_ONCE._done, trace._TRACER_PROVIDER,
             metrics_internal._METER_PROVIDER_SET_ONCE._done, metrics_internal._METER_PROVIDER)
    otel = Otel()
    _install(otel.tracer_provider, otel.meter_provider)
    wf._reset_for_tests()
    monkeypatch.setattr(wf, "_settings", lambda: Settings())
    yield otel
    otel.tracer_provider.shutdown()
    otel.meter_provider.shutdown()
    _install(None, None)
    (trace._TRACER_PROVIDER_SET_ONCE._done, trace._TRACER_PROVIDER,
     metrics_internal._METER_PROVIDER_SET_ONCE._done, metrics_internal._METER_PROVIDER) = saved
    wf._reset_for_tests()


@pytest.fixture
def capture(tel: Otel, monkeypatch: pytest.MonkeyPatch) -> Otel:
    """Like ``tel`` with content capture on spans."""
    monkeypatch.setattr(wf, "_settings", lambda: Settings(capture_content=ContentMode.SPAN_ONLY))
    return tel


@pytest.fixture(autouse=True)
def no_detach_errors(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    caplog.set_level(logging.DEBUG)
    yield
    # caplog.records is per phase (this is teardown): read the test body's records explicitly.
    records = [*caplog.get_records("setup"), *caplog.get_records("call"), *caplog.records]
    bad = [r.getMessage() for r in records if "Failed to detach context" in r.getMessage()]
    assert not bad


def inner_span() -> None:
    """Stand-in for an LLM call made inside an operation: a span from another tracer."""
    with trace.get_tracer("test.inner").start_as_current_span("inner"):
        pass


def by_name(otel: Otel, name: str) -> Any:
    spans = [s for s in otel.spans() if s.name == name]
    assert len(spans) == 1, [s.name for s in otel.spans()]
    return spans[0]


def metric(otel: Otel, name: str) -> Any:
    data = otel.metric_reader.get_metrics_data()
    found = [m for rm in data.resource_metrics for scope in rm.scope_metrics for m in scope.metrics
             if m.name == name]
    assert len(found) == 1, name
    return found[0]


# --- the four kinds x five styles --------------------------------------------------------
KINDS: dict[str, dict[str, Any]] = {
    "workflow": {
        "make": lambda: wf.workflow("checkout", conversation_id="conv-1"),
        "span": "invoke_workflow checkout",
        "kind": SpanKind.INTERNAL,
        "attrs": {sc.GEN_AI_OPERATION_NAME: "invoke_workflow", sc.GEN_AI_WORKFLOW_NAME: "checkout",
                  sc.GEN_AI_CONVERSATION_ID: "conv-1"},
        "metric": "gen_ai.invoke_workflow.duration",
        "metric_attrs": {sc.GEN_AI_WORKFLOW_NAME: "checkout"},
        "buckets": (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200),
    },
    "agent": {
        "make": lambda: wf.agent("planner", agent_id="ag-1", description="plans trips", version="2",
                                 model="gpt-4o-mini", conversation_id="conv-2"),
        "span": "invoke_agent planner",
        "kind": SpanKind.INTERNAL,
        "attrs": {sc.GEN_AI_OPERATION_NAME: "invoke_agent", sc.GEN_AI_AGENT_NAME: "planner",
                  sc.GEN_AI_AGENT_DESCRIPTION: "plans trips", sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini",
                  sc.GEN_AI_CONVERSATION_ID: "conv-2"},
        "metric": "gen_ai.invoke_agent.duration",
        "metric_attrs": {sc.GEN_AI_AGENT_NAME: "planner", sc.GEN_AI_REQUEST_MODEL: "gpt-4o-mini"},
        "buckets": (0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6),
    },
    "tool": {
        "make": lambda: wf.tool("get_weather", description="weather by city", call_id="call_1"),
        "span": "execute_tool get_weather",
        "kind": SpanKind.INTERNAL,
        "attrs": {sc.GEN_AI_OPERATION_NAME: "execute_tool", sc.GEN_AI_TOOL_NAME: "get_weather",
                  sc.GEN_AI_TOOL_TYPE: "function", sc.GEN_AI_TOOL_DESCRIPTION: "weather by city",
                  sc.GEN_AI_TOOL_CALL_ID: "call_1"},
        "metric": "gen_ai.execute_tool.duration",
        "metric_attrs": {sc.GEN_AI_TOOL_NAME: "get_weather", sc.GEN_AI_TOOL_TYPE: "function"},
        "buckets": sc.DURATION_BUCKETS,
    },
    "retrieval": {
        "make": lambda: wf.retrieval("kb-docs", top_k=3, provider="chroma", model="text-embedding-3-small"),
        "span": "retrieval kb-docs",
        "kind": SpanKind.CLIENT,
        "attrs": {sc.GEN_AI_OPERATION_NAME: "retrieval", sc.GEN_AI_DATA_SOURCE_ID: "kb-docs",
                  sc.GEN_AI_RETRIEVAL_TOP_K: 3, sc.GEN_AI_PROVIDER_NAME: "chroma",
                  sc.GEN_AI_REQUEST_MODEL: "text-embedding-3-small"},
        "metric": "llmotel.retrieval.duration",
        "metric_attrs": {sc.GEN_AI_DATA_SOURCE_ID: "kb-docs"},
        "buckets": sc.DURATION_BUCKETS,
    },
}


def run_style(style: str, make: Callable[[], wf.Operation], body: Callable[[], Any]) -> Any:
    """Run ``body`` inside an operation used in ``style``; returns what the caller saw."""
    if style == "cm":
        with make():
            return body()
    if style == "async_cm":
        async def main() -> Any:
            async with make():
                return body()
        return asyncio.run(main())
    if style == "sync":
        return make()(body)()
    if style == "async":
        async def coro() -> Any:
            await asyncio.sleep(0)
            return body()
        return asyncio.run(make()(coro)())
    if style == "gen":
        def gen() -> Iterator[Any]:
            yield body()
            yield body()
        return list(make()(gen)())
    if style == "agen":
        async def agen() -> AsyncIterator[Any]:
            yield body()
            await asyncio.sleep(0)
            yield body()

        async def consume() -> list[Any]:
            return [x async for x in make()(agen)()]
        return asyncio.run(consume())
    raise AssertionError(style)


STYLES = ("cm", "async_cm", "sync", "async", "gen", "agen")


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("kind", list(KINDS))
def test_span_shape_parent_and_metric(tel: Otel, kind: str, style: str) -> None:
    spec = KINDS[kind]

    def body() -> int:
        inner_span()
        return 7

    with trace.get_tracer("test").start_as_current_span("outer"):
        result = run_style(style, spec["make"], body)
    assert result == ([7, 7] if style in ("gen", "agen") else 7)

    span = by_name(tel, spec["span"])
    outer = by_name(tel, "outer")
    assert span.kind is spec["kind"]
    assert span.parent.span_id == outer.context.span_id
    assert span.instrumentation_scope.name == "llmotel.workflow"
    assert span.instrumentation_scope.schema_url == sc.SCHEMA_URL
    assert dict(span.attributes) == spec["attrs"]
    assert span.status.status_code is StatusCode.UNSET
    inners = [s for s in tel.spans() if s.name == "inner"]
    assert inners and all(s.parent.span_id == span.context.span_id for s in inners)
    if kind == "agent":  # SEMCONV §3: in-process agents carry no provider, id or version
        assert not {"gen_ai.provider.name", "gen_ai.agent.id", "gen_ai.agent.version"} & set(span.attributes)

    m = metric(tel, spec["metric"])
    assert m.unit == "s"
    (point,) = m.data.data_points
    assert dict(point.attributes) == spec["metric_attrs"]
    assert point.count == 1
    assert tuple(point.explicit_bounds) == tuple(spec["buckets"])
    # The span covers the whole call, generators from first step to exhaustion.
    assert point.sum <= (span.end_time - span.start_time) / 1e9 + 0.01


def test_decorated_functions_keep_their_nature_and_metadata() -> None:
    def f(x: int) -> int:
        """doc"""
        return x

    async def af() -> None:
        pass

    def g() -> Iterator[int]:
        yield 1

    async def ag() -> AsyncIterator[int]:
        yield 1

    t = wf.tool("t")
    assert t(f).__name__ == "f" and t(f).__doc__ == "doc"
    assert inspect.signature(t(f)) == inspect.signature(f)
    assert inspect.iscoroutinefunction(t(af))
    assert inspect.isgeneratorfunction(t(g))
    assert inspect.isasyncgenfunction(t(ag))


def test_name_is_required() -> None:
    with pytest.raises(TypeError, match="needs a name"):
        wf.tool(lambda: None)  # type: ignore[arg-type]


def test_retrieval_without_data_source_is_named_retrieval(tel: Otel) -> None:
    with wf.retrieval():
        pass
    span = by_name(tel, "retrieval")
    assert dict(span.attributes) == {sc.GEN_AI_OPERATION_NAME: "retrieval"}
    (point,) = metric(tel, "llmotel.retrieval.duration").data.data_points
    assert dict(point.attributes) == {}


# --- nesting and propagation -----------------------------------------------------------------
def test_nesting_workflow_agent_tool_inner(tel: Otel) -> None:
    @wf.tool("lookup")
    def lookup(q: str) -> str:
        inner_span()
        return q

    @wf.agent("researcher", model="m1")
    def research() -> str:
        return lookup("x")

    with wf.workflow("pipeline"):
        research()

    workflow_span = by_name(tel, "invoke_workflow pipeline")
    agent_span = by_name(tel, "invoke_agent researcher")
    tool_span = by_name(tel, "execute_tool lookup")
    inner = by_name(tel, "inner")
    assert workflow_span.parent is None
    assert agent_span.parent.span_id == workflow_span.context.span_id
    assert tool_span.parent.span_id == agent_span.context.span_id
    assert inner.parent.span_id == tool_span.context.span_id
    assert len({s.context.trace_id for s in tel.spans()}) == 1
    assert tool_span.attributes[sc.GEN_AI_AGENT_NAME] == "researcher"
    (point,) = metric(tel, "gen_ai.execute_tool.duration").data.data_points
    assert point.attributes[sc.GEN_AI_AGENT_NAME] == "researcher"


def test_tool_outside_agent_has_no_agent_name_and_agent_scope_ends(tel: Otel) -> None:
    with wf.agent("a"):
        pass
    with wf.tool("t"):
        pass
    assert sc.GEN_AI_AGENT_NAME not in by_name(tel, "execute_tool t").attributes


def test_openai_call_inside_tool_is_a_child(tel: Otel, fake: Any) -> None:
    import openai

    from llmotel.instrumentation.openai import OpenAIInstrumentor

    instrumentor = OpenAIInstrumentor()
    instrumentor.instrument(settings=Settings.load(env={}), **tel.providers())
    try:
        client = openai.OpenAI(api_key="test", base_url=fake.base_url, max_retries=0)

        @wf.tool("ask")
        def ask() -> str:
            reply = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "hi"}])
            return reply.choices[0].message.content or ""

        with wf.workflow("w"), wf.agent("a"):
            ask()
    finally:
        instrumentor.uninstrument()
    chat = by_name(tel, "chat gpt-4o-mini")
    assert chat.parent.span_id == by_name(tel, "execute_tool ask").context.span_id
    assert by_name(tel, "execute_tool ask").parent.span_id == by_name(tel, "invoke_agent a").context.span_id


def test_gather_tools_are_children_of_the_agent(tel: Otel) -> None:
    @wf.tool("fetch")
    async def fetch(i: int) -> int:
        for _ in range(3):
            await asyncio.sleep(0)  # interleave the two tasks
        inner_span()
        return i

    @wf.agent("fanout")
    async def fanout() -> list[int]:
        return list(await asyncio.gather(fetch(1), fetch(2)))

    assert asyncio.run(fanout()) == [1, 2]
    agent_span = by_name(tel, "invoke_agent fanout")
    tools = [s for s in tel.spans() if s.name == "execute_tool fetch"]
    assert len(tools) == 2 and tools[0].context.span_id != tools[1].context.span_id
    assert all(t.parent.span_id == agent_span.context.span_id for t in tools)
    assert all(t.attributes[sc.GEN_AI_AGENT_NAME] == "fanout" for t in tools)
    inners = [s for s in tel.spans() if s.name == "inner"]
    assert sorted(s.parent.span_id for s in inners) == sorted(t.context.span_id for t in tools)


def test_thread_pool_with_copy_context(tel: Otel) -> None:
    @wf.tool("work")
    def work(i: int) -> int:
        return i * 2

    with wf.workflow("threads"), wf.agent("boss"), ThreadPoolExecutor(2) as pool:
        futures = [pool.submit(contextvars.copy_context().run, work, i) for i in range(3)]
        assert [f.result() for f in futures] == [0, 2, 4]
        # Without propagation a thread starts from an empty context: a new root span.
        pool.submit(wf.tool("orphan")(lambda: None)).result()

    agent_span = by_name(tel, "invoke_agent boss")
    tools = [s for s in tel.spans() if s.name == "execute_tool work"]
    assert len(tools) == 3
    assert all(t.parent.span_id == agent_span.context.span_id for t in tools)
    assert all(t.attributes[sc.GEN_AI_AGENT_NAME] == "boss" for t in tools)
    orphan = by_name(tel, "execute_tool orphan")
    assert orphan.parent is None and sc.GEN_AI_AGENT_NAME not in orphan.attributes


def test_interleaved_generators_do_not_corrupt_context(tel: Otel) -> None:
    @wf.tool("count")
    def count(n: int) -> Iterator[int]:
        for i in range(n):
            inner_span()
            yield i

    with trace.get_tracer("test").start_as_current_span("outer") as outer:
        pairs = list(zip(count(3), count(3), strict=True))
        assert trace.get_current_span() is outer
    assert pairs == [(0, 0), (1, 1), (2, 2)]
    outer_id = by_name(tel, "outer").context.span_id
    tools = [s for s in tel.spans() if s.name == "execute_tool count"]
    assert len(tools) == 2 and all(t.parent.span_id == outer_id for t in tools)
    for t in tools:
        assert len([s for s in tel.spans() if s.name == "inner" and s.parent.span_id == t.context.span_id]) == 3


def test_async_generator_stepped_from_different_tasks(tel: Otel) -> None:
    @wf.agent("streamer")
    async def stream() -> AsyncIterator[int]:
        for i in range(3):
            await asyncio.sleep(0)
            inner_span()
            yield i

    async def main() -> list[int]:
        agen = stream()

        async def step() -> int:
            return await agen.__anext__()

        got = [await asyncio.create_task(step()) for _ in range(3)]
        with pytest.raises(StopAsyncIteration):
            await asyncio.create_task(step())
        return got

    assert asyncio.run(main()) == [0, 1, 2]
    agent_span = by_name(tel, "invoke_agent streamer")
    assert agent_span.status.status_code is StatusCode.UNSET
    inners = [s for s in tel.spans() if s.name == "inner"]
    assert len(inners) == 3 and all(s.parent.span_id == agent_span.context.span_id for s in inners)


def test_generator_send_and_throw_pass_through(tel: Otel) -> None:
    @wf.workflow("echo")
    def echo() -> Iterator[Any]:
        received = None
        while True:
            try:
                received = yield received
            except KeyError:
                received = "recovered"

    gen = echo()
    assert next(gen) is None
    assert gen.send("a") == "a"
    assert gen.throw(KeyError("k")) == "recovered"
    gen.close()
    assert by_name(tel, "invoke_workflow echo").status.status_code is StatusCode.UNSET


def test_generator_return_value_is_kept(tel: Otel) -> None:
    @wf.tool("t")
    def gen() -> Iterator[int]:
        yield 1
        return "done"

    def outer() -> Iterator[int]:
        result = yield from gen()
        assert result == "done"

    assert list(outer()) == [1]


# --- errors ----------------------------------------------------------------------------------
class Boom(Exception):
    pass


@pytest.mark.parametrize("style", STYLES)
@pytest.mark.parametrize("kind", ["tool", "retrieval"])
def test_exception_reraised_unchanged(tel: Otel, kind: str, style: str) -> None:
    error = Boom("kaput")

    def body() -> None:
        raise error

    with pytest.raises(Boom) as excinfo:
        run_style(style, KINDS[kind]["make"], body)
    assert excinfo.value is error

    span = by_name(tel, KINDS[kind]["span"])
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "kaput"
    expected = error_type_of(error)
    assert expected.endswith("test_workflow.Boom")
    assert span.attributes[sc.ERROR_TYPE] == expected
    assert [e.name for e in span.events] == ["exception"]
    assert span.events[0].attributes["exception.type"].endswith("Boom")
    (point,) = metric(tel, KINDS[kind]["metric"]).data.data_points
    assert point.attributes[sc.ERROR_TYPE] == expected


def test_exception_in_nested_marks_each_level(tel: Otel) -> None:
    error = ValueError("bad")

    @wf.tool("t")
    def t() -> None:
        raise error

    with pytest.raises(ValueError) as excinfo, wf.workflow("w"):
        t()
    assert excinfo.value is error
    for name in ("execute_tool t", "invoke_workflow w"):
        assert by_name(tel, name).attributes[sc.ERROR_TYPE] == "ValueError"


def test_generator_closed_early_ends_ok(tel: Otel) -> None:
    state: dict[str, Any] = {}

    @wf.tool("pages")
    def pages() -> Iterator[int]:
        try:
            yield 1
            yield 2
        finally:
            # Cleanup runs with the tool's span current.
            state["current"] = trace.get_current_span().get_span_context().span_id

    gen = pages()
    assert next(gen) == 1
    gen.close()
    span = by_name(tel, "execute_tool pages")
    assert span.end_time is not None
    assert span.status.status_code is StatusCode.UNSET
    assert sc.ERROR_TYPE not in span.attributes
    assert state["current"] == span.context.span_id
    (point,) = metric(tel, "gen_ai.execute_tool.duration").data.data_points
    assert sc.ERROR_TYPE not in point.attributes

    # break out of a for loop: the generator is closed when collected.
    for _ in pages():
        break
    assert len([s for s in tel.spans() if s.name == "execute_tool pages"]) == 2


def test_async_generator_closed_early_ends_ok(tel: Otel) -> None:
    closed: list[bool] = []

    @wf.agent("a")
    async def agen() -> AsyncIterator[int]:
        try:
            yield 1
            yield 2
        finally:
            await asyncio.sleep(0)
            closed.append(True)

    async def main() -> None:
        gen = agen()
        assert await gen.__anext__() == 1
        await gen.aclose()

    asyncio.run(main())
    span = by_name(tel, "invoke_agent a")
    assert closed == [True]
    assert span.status.status_code is StatusCode.UNSET and sc.ERROR_TYPE not in span.attributes


def test_generator_that_ignores_close_is_an_error(tel: Otel) -> None:
    @wf.tool("stubborn")
    def stubborn() -> Iterator[int]:
        try:
            yield 1
        except GeneratorExit:
            yield 2  # ignores the first close; the one at garbage collection ends it

    gen = stubborn()
    next(gen)
    with pytest.raises(RuntimeError):
        gen.close()
    assert by_name(tel, "execute_tool stubborn").attributes[sc.ERROR_TYPE] == "RuntimeError"


def test_cancelled_error(tel: Otel) -> None:
    started = asyncio.Event()

    @wf.tool("slow")
    async def slow() -> None:
        started.set()
        await asyncio.sleep(30)

    async def main() -> None:
        task = asyncio.create_task(slow())
        await started.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task

    asyncio.run(main())
    span = by_name(tel, "execute_tool slow")
    assert span.status.status_code is StatusCode.ERROR
    assert span.attributes[sc.ERROR_TYPE] == error_type_of(asyncio.CancelledError())
    (point,) = metric(tel, "gen_ai.execute_tool.duration").data.data_points
    assert point.attributes[sc.ERROR_TYPE] == error_type_of(asyncio.CancelledError())


def test_internal_failure_never_breaks_the_call(tel: Otel, monkeypatch: pytest.MonkeyPatch,
                                                caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> Any:
        raise RuntimeError("tracer exploded")

    monkeypatch.setattr(wf, "_tracer", broken)

    @wf.tool("t")
    def t(x: int) -> int:
        return x + 1

    assert t(1) == 2 and t(2) == 3
    with wf.workflow("w") as op:
        op.set_result("ignored")
    assert tel.spans() == []
    (point,) = metric(tel, sc.METRIC_INSTRUMENTATION_ERRORS).data.data_points
    assert point.value == 3 and point.attributes[sc.LLMOTEL_HOOK] == "workflow.start"
    assert len([r for r in caplog.records if "workflow.start" in r.getMessage()]) == 1


# --- content ---------------------------------------------------------------------------------
def _all_kinds_decorated() -> None:
    @wf.workflow("w")
    def w(order: str) -> str:
        return a(order)

    @wf.agent("a")
    def a(order: str) -> str:
        docs = r(query="shoes", limit=2)
        return t("Paris", units="c") + str(len(docs))

    @wf.tool("t")
    def t(city: str, units: str = "f") -> str:
        return '{"temp":12}'

    @wf.retrieval("kb")
    def r(query: str, limit: int) -> list[dict[str, Any]]:
        return [{"id": "d1", "score": 0.9, "text": "secret"}, {"id": 2}]

    w("order 42")


def test_no_content_when_capture_off(tel: Otel) -> None:
    _all_kinds_decorated()
    with wf.retrieval("kb2", query="private query") as op:
        op.set_documents([{"id": "x"}])
        op.set_result([{"id": "y"}])
        op.set_input("private")
    assert len(tel.spans()) == 5
    for span in tel.spans():
        assert not set(CONTENT_KEYS) & set(span.attributes), span.name


def test_content_recorded_as_json_when_capture_on(capture: Otel) -> None:
    _all_kinds_decorated()
    w = by_name(capture, "invoke_workflow w")
    assert json.loads(w.attributes[sc.GEN_AI_INPUT_MESSAGES]) == [
        {"role": "user", "parts": [{"type": "text", "content": "order 42"}]}]
    assert json.loads(w.attributes[sc.GEN_AI_OUTPUT_MESSAGES]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": '{"temp":12}2'}], "finish_reason": "stop"}]
    t = by_name(capture, "execute_tool t")
    assert json.loads(t.attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"city": "Paris", "units": "c"}
    assert json.loads(t.attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == {"temp": 12}
    r = by_name(capture, "retrieval kb")
    assert r.attributes[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] == "shoes"
    assert json.loads(r.attributes[sc.GEN_AI_RETRIEVAL_DOCUMENTS]) == [{"id": "d1", "score": 0.9}, {"id": "2"}]
    # Content never becomes a metric label.
    for name in ("gen_ai.execute_tool.duration", "llmotel.retrieval.duration"):
        for point in metric(capture, name).data.data_points:
            assert not set(CONTENT_KEYS) & set(point.attributes)


def test_event_only_mode_puts_no_content_on_spans(tel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wf, "_settings", lambda: Settings(capture_content=ContentMode.EVENT_ONLY))
    _all_kinds_decorated()
    for span in tel.spans():
        assert not set(CONTENT_KEYS) & set(span.attributes)


def test_content_with_context_manager_setters(capture: Otel) -> None:
    class Doc:
        def __init__(self, doc_id: str) -> None:
            self.metadata = {"id": doc_id}

    with wf.retrieval("kb", query="where is my order") as op:
        op.set_documents([(Doc("a"), 0.5), (Doc("b"), 0.25)])
    r = by_name(capture, "retrieval kb")
    assert r.attributes[sc.GEN_AI_RETRIEVAL_QUERY_TEXT] == "where is my order"
    assert json.loads(r.attributes[sc.GEN_AI_RETRIEVAL_DOCUMENTS]) == [{"id": "a", "score": 0.5},
                                                                        {"id": "b", "score": 0.25}]
    with wf.tool("t") as op:
        op.set_input('{"x": 1}')
        op.set_result(["r1", 2])
    t = by_name(capture, "execute_tool t")
    assert json.loads(t.attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {"x": 1}
    assert json.loads(t.attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == ["r1", 2]


def test_generator_results_are_collected(capture: Otel) -> None:
    @wf.agent("writer")
    def writer(topic: str) -> Iterator[str]:
        yield "Hello, "
        yield topic

    @wf.tool("rows")
    async def rows() -> AsyncIterator[dict[str, int]]:
        yield {"n": 1}
        yield {"n": 2}

    async def consume() -> list[Any]:
        return [x async for x in rows()]

    assert "".join(writer("world")) == "Hello, world"
    asyncio.run(consume())
    out = json.loads(by_name(capture, "invoke_agent writer").attributes[sc.GEN_AI_OUTPUT_MESSAGES])
    assert out[0]["parts"][0]["content"] == "Hello, world"
    assert json.loads(by_name(capture, "execute_tool rows").attributes[sc.GEN_AI_TOOL_CALL_RESULT]) == [
        {"n": 1}, {"n": 2}]


def test_content_is_capped_and_stays_json(capture: Otel) -> None:
    @wf.tool("big")
    def big(text: str, items: list[str]) -> str:
        return text

    from llmotel.redaction import DEFAULT_MAX_VALUE_BYTES

    huge = "ü" * 10_000
    big(huge, ["the quick brown fox " * 150] * 10)
    span = by_name(capture, "execute_tool big")
    for key in (sc.GEN_AI_TOOL_CALL_ARGUMENTS, sc.GEN_AI_TOOL_CALL_RESULT):
        raw = span.attributes[key]
        assert len(raw.encode("utf-8")) <= DEFAULT_MAX_VALUE_BYTES
        json.loads(raw)
    args = json.loads(span.attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS])
    assert set(args) == {"text", "items"}
    assert span.attributes[sc.LLMOTEL_CONTENT_TRUNCATED] is True


def test_method_arguments_leave_out_self(capture: Otel) -> None:
    class Tools:
        @wf.tool("m")
        def m(self, a: int, **extra: Any) -> int:
            return a

    Tools().m(1, flag=True)
    assert json.loads(by_name(capture, "execute_tool m").attributes[sc.GEN_AI_TOOL_CALL_ARGUMENTS]) == {
        "a": 1, "flag": True}


def test_exception_records_no_result_content(capture: Otel) -> None:
    @wf.tool("t")
    def t(x: int) -> int:
        raise ValueError(x)

    with pytest.raises(ValueError):
        t(1)
    span = by_name(capture, "execute_tool t")
    assert sc.GEN_AI_TOOL_CALL_ARGUMENTS in span.attributes and sc.GEN_AI_TOOL_CALL_RESULT not in span.attributes


# --- branches --------------------------------------------------------------------------------
def test_branch_event_and_counter(tel: Otel) -> None:
    with wf.workflow("triage"):
        assert wf.branch("triage", "classify", "escalate", condition="score < 0.3", outcome="taken",
                         score=0.2, user_tier="gold", retries=2, urgent=True, blob=object()) is None
        wf.branch("triage", "classify", "escalate", outcome="taken")
        wf.branch("triage", "classify", "answer")
    span = by_name(tel, "invoke_workflow triage")
    events = [e for e in span.events if e.name == "llmotel.branch"]
    assert len(events) == 3
    assert dict(events[0].attributes) == {
        "llmotel.branch.workflow": "triage", "llmotel.branch.from": "classify", "llmotel.branch.to": "escalate",
        "llmotel.branch.condition": "score < 0.3", "llmotel.branch.outcome": "taken",
        "llmotel.branch.context.score": 0.2, "llmotel.branch.context.user_tier": "gold",
        "llmotel.branch.context.retries": 2, "llmotel.branch.context.urgent": True,
    }
    m = metric(tel, "llmotel.workflow.branches")
    assert m.unit == "{decision}" and m.data.is_monotonic
    points = {tuple(sorted(p.attributes.items())): p.value for p in m.data.data_points}
    assert points == {
        (("llmotel.branch.from", "classify"), ("llmotel.branch.outcome", "taken"),
         ("llmotel.branch.to", "escalate"), ("llmotel.branch.workflow", "triage")): 2,
        (("llmotel.branch.from", "classify"), ("llmotel.branch.to", "answer"),
         ("llmotel.branch.workflow", "triage")): 1,
    }
    for p in m.data.data_points:  # condition and context are never labels
        assert not any(k.startswith("llmotel.branch.context") or k == "llmotel.branch.condition"
                       for k in p.attributes)


def test_branch_context_is_bounded(tel: Otel) -> None:
    with wf.workflow("w"):
        wf.branch("w", "a", "b", condition="c" * 1000, **{f"k{i}": "v" * 1000 for i in range(12)})
    (event,) = by_name(tel, "invoke_workflow w").events
    context = {k: v for k, v in event.attributes.items() if k.startswith("llmotel.branch.context.")}
    assert list(context) == [f"llmotel.branch.context.k{i}" for i in range(8)]
    assert all(len(v) == 256 for v in context.values())
    assert len(event.attributes["llmotel.branch.condition"]) == 256


def test_branch_without_span_still_counts(tel: Otel) -> None:
    wf.branch("w", "a", "b")
    (point,) = metric(tel, "llmotel.workflow.branches").data.data_points
    assert point.value == 1


def test_branch_bad_input_never_raises(tel: Otel, caplog: pytest.LogCaptureFixture) -> None:
    assert wf.branch("", "a", "b") is None
    assert wf.branch("w", None, "b") is None  # type: ignore[arg-type]
    assert wf.branch("w", "a", "b", outcome=3) is None  # type: ignore[arg-type]
    warnings = [r for r in caplog.records if r.levelno >= logging.WARNING and "workflow.branch" in r.getMessage()]
    assert len(warnings) == 1
    (point,) = metric(tel, sc.METRIC_INSTRUMENTATION_ERRORS).data.data_points
    assert point.value == 3
    assert dict(point.attributes) == {sc.LLMOTEL_HOOK: "workflow.branch", sc.ERROR_TYPE: "llmotel.InvalidArgument"}
    data = tel.metric_reader.get_metrics_data()
    names = [m.name for rm in data.resource_metrics for s in rm.scope_metrics for m in s.metrics]
    assert "llmotel.workflow.branches" not in names


def test_branch_label_sets_are_bounded(tel: Otel, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(wf, "_MAX_BRANCH_LABEL_SETS", 2)
    for i in range(5):
        wf.branch("w", "a", f"user-{i}")
    wf.branch("w", "a", "user-0")  # known label sets keep counting as themselves
    data_points = metric(tel, "llmotel.workflow.branches").data.data_points
    points = {p.attributes["llmotel.branch.to"]: p.value for p in data_points}
    assert points == {"user-0": 2, "user-1": 1, "_OTHER": 3}


# --- providers and Prometheus names ----------------------------------------------------------
def test_swapping_global_providers_uses_the_new_ones(tel: Otel) -> None:
    with wf.tool("t"):
        pass
    second = Otel()
    _install(second.tracer_provider, second.meter_provider)
    with wf.tool("t"):
        pass
    assert len(tel.spans()) == 1 and len(second.spans()) == 1
    (point,) = metric(second, "gen_ai.execute_tool.duration").data.data_points
    assert point.count == 1
    second.tracer_provider.shutdown()
    second.meter_provider.shutdown()


def test_prometheus_names(tel: Otel) -> None:
    from opentelemetry.exporter.prometheus import PrometheusMetricReader
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry()
    provider = MeterProvider(metric_readers=[InMemoryMetricReader(), PrometheusMetricReader(registry=registry)])
    _install(tel.tracer_provider, provider)
    try:
        with wf.workflow("w"), wf.agent("a"), wf.tool("t"), wf.retrieval("kb"):
            wf.branch("w", "x", "y")
        text = generate_latest(registry).decode()
    finally:
        provider.shutdown()
    for name in ("gen_ai_invoke_workflow_duration_seconds_bucket", "gen_ai_invoke_agent_duration_seconds_bucket",
                 "gen_ai_execute_tool_duration_seconds_bucket", "llmotel_retrieval_duration_seconds_bucket",
                 "llmotel_workflow_branches_total"):
        assert f"\n{name}{{" in text, name
