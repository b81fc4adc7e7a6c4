"""Attribution on every span (llmotel's and other instrumentations'), baggage across an HTTP hop,
and allow-listed metric labels with a cardinality cap."""

from __future__ import annotations

import asyncio
import threading
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import openai
import pytest
from opentelemetry import context as otel_context
from opentelemetry import propagate

import llmotel.attribution as attribution
from llmotel import semconv as sc
from llmotel.attribution import attributes

MESSAGES = [{"role": "user", "content": "hi"}]


def chat(fake: Any) -> None:
    openai.OpenAI(api_key="t", base_url=fake.base_url, max_retries=0).chat.completions.create(
        model="gpt-4o-mini", messages=MESSAGES)


def test_llmotel_span_and_another_instrumentations_span(fake, otel):
    from opentelemetry.instrumentation.urllib import URLLibInstrumentor

    URLLibInstrumentor().instrument(tracer_provider=otel.tracer_provider)
    try:
        with attributes(user_id="u-1", tenant_id="acme", feature="support-chat", prompt_name="answer",
                        prompt_version="v3", experiment="exp-7", variant="B", team="care"):
            chat(fake)
            urllib.request.urlopen(f"http://127.0.0.1:{fake.port}/v1/models", timeout=5).read()
    except urllib.error.HTTPError:
        pass  # the fake provider answers 404 for /models; the client span exists either way
    finally:
        URLLibInstrumentor().uninstrument()
    spans = {s.instrumentation_scope.name: s for s in otel.spans()}
    assert set(spans) == {"llmotel.instrumentation.openai", "opentelemetry.instrumentation.urllib"}
    for span in spans.values():
        a = span.attributes
        assert a["user.id"] == "u-1"
        assert a["llmotel.tenant.id"] == "acme"
        assert a["llmotel.feature"] == "support-chat"
        assert a[sc.GEN_AI_PROMPT_NAME] == "answer" and a[sc.GEN_AI_PROMPT_VERSION] == "v3"
        assert a["llmotel.experiment"] == "exp-7" and a["llmotel.variant"] == "B"
        assert a["llmotel.attr.team"] == "care"


def test_nesting_merges_and_restores(otel):
    tracer = otel.tracer_provider.get_tracer("app")
    with attributes(tenant_id="acme", feature="a"):
        with attributes(feature="b", user_id="u"):
            tracer.start_span("inner").end()
        tracer.start_span("outer").end()
    tracer.start_span("after").end()
    inner, outer, after = (s.attributes for s in otel.spans())
    assert (inner["llmotel.tenant.id"], inner["llmotel.feature"], inner["user.id"]) == ("acme", "b", "u")
    assert outer["llmotel.feature"] == "a" and "user.id" not in outer
    assert "llmotel.tenant.id" not in after


def test_decorators_sync_async_generators(otel):
    tracer = otel.tracer_provider.get_tracer("app")

    @attributes(feature="sync")
    def f() -> None:
        tracer.start_span("s").end()

    @attributes(feature="async")
    async def g() -> None:
        await asyncio.sleep(0)
        tracer.start_span("a").end()

    @attributes(feature="gen")
    def gen() -> Any:
        for i in range(2):
            tracer.start_span(f"g{i}").end()
            yield i

    @attributes(feature="agen")
    async def agen() -> Any:
        for i in range(2):
            tracer.start_span(f"ag{i}").end()
            yield i

    async def run_async() -> list[int]:
        await asyncio.gather(g(), g())
        return [i async for i in agen()]

    f()
    assert list(gen()) == [0, 1]
    tracer.start_span("between").end()  # the generator's attribution is not left behind
    assert asyncio.run(run_async()) == [0, 1]
    features = {s.name: s.attributes.get("llmotel.feature") for s in otel.spans()}
    assert features == {"s": "sync", "g0": "gen", "g1": "gen", "between": None, "a": "async",
                        "ag0": "agen", "ag1": "agen"}


def test_threads_with_copied_context(otel):
    import contextvars
    from concurrent.futures import ThreadPoolExecutor

    tracer = otel.tracer_provider.get_tracer("app")
    with attributes(tenant_id="t-thread"), ThreadPoolExecutor(1) as pool:
        ctx = contextvars.copy_context()
        pool.submit(ctx.run, lambda: tracer.start_span("worker").end()).result()
    assert otel.span().attributes["llmotel.tenant.id"] == "t-thread"


def test_baggage_across_an_http_hop(fake, instrument, monkeypatch):
    """Allow-listed keys travel as W3C baggage; the downstream service's spans carry them."""
    otel = instrument(baggage_keys="tenant_id,feature")
    monkeypatch.setattr(attribution, "_settings", lambda: otel_settings(tenant=True))
    downstream = otel.tracer_provider.get_tracer("downstream-service")
    received: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            received.update((k.lower(), v) for k, v in self.headers.items())
            # Server instrumentations read headers case-insensitively; a plain dict needs lower-case keys.
            ctx = propagate.extract({k.lower(): v for k, v in self.headers.items()})
            token = otel_context.attach(ctx)
            try:
                downstream.start_span("handle request").end()
            finally:
                otel_context.detach(token)
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        with attributes(tenant_id="acme", feature="search", user_id="secret-user"):
            headers: dict[str, str] = {}
            propagate.inject(headers)  # what an HTTP client instrumentation does
            request = urllib.request.Request(f"http://127.0.0.1:{server.server_port}/", headers=headers)
            urllib.request.urlopen(request, timeout=5).read()
    finally:
        server.shutdown()
        server.server_close()
    assert "llmotel.tenant.id=acme" in received.get("baggage", "")
    assert "secret-user" not in received.get("baggage", "")  # only allow-listed keys leave the process
    # Simulate the downstream process: a context without our in-process attribution, only baggage.
    (span,) = [s for s in otel.spans() if s.name == "handle request"]
    assert span.attributes["llmotel.tenant.id"] == "acme"
    assert span.attributes["llmotel.feature"] == "search"


def otel_settings(tenant: bool) -> Any:
    from llmotel.config import Settings

    return Settings.load(env={}, baggage_keys="tenant_id,feature" if tenant else "")


def test_metric_labels_allow_list_and_cardinality_cap(fake, instrument):
    otel = instrument(metric_attributes="tenant_id,feature", metric_attribute_limit=2)
    for tenant in ("t1", "t2", "t3", "t4", "t1"):
        with attributes(tenant_id=tenant, feature="chat", user_id=f"user-{tenant}"):
            chat(fake)
    points = otel.points(sc.METRIC_OPERATION_DURATION)
    tenants = sorted((p.attributes["llmotel.tenant.id"], p.count) for p in points)
    assert tenants == [("_OTHER", 2), ("t1", 2), ("t2", 1)]  # t3, t4 folded beyond the cap of 2
    assert all(p.attributes["llmotel.feature"] == "chat" for p in points)
    assert all("user.id" not in p.attributes for p in points)  # not allow-listed: never a label
    cost = {p.attributes["llmotel.tenant.id"]: p.value for p in otel.points(sc.METRIC_COST)}
    assert set(cost) == {"t1", "t2", "_OTHER"} and all(v > 0 for v in cost.values())
    # Spans keep the real value: cost per user and tenant stays answerable from traces.
    assert sorted(s.attributes["llmotel.tenant.id"] for s in otel.spans()) == ["t1", "t1", "t2", "t3", "t4"]


def test_no_labels_by_default(fake, otel):
    with attributes(tenant_id="acme", user_id="u"):
        chat(fake)
    (point,) = otel.points(sc.METRIC_OPERATION_DURATION)
    assert "llmotel.tenant.id" not in point.attributes and "user.id" not in point.attributes


def test_invalid_allow_list_is_a_config_error():
    from llmotel.config import ConfigError, Settings

    with pytest.raises(ConfigError, match="LLMOTEL_METRIC_ATTRIBUTES"):
        Settings.load(env={"LLMOTEL_METRIC_ATTRIBUTES": "tenant-id"})
