"""Cost: golden values checked against genai-prices itself, overrides, unknown models."""

from __future__ import annotations

from typing import Any

import anthropic
import httpx2
import openai
import pytest
from genai_prices import Usage as PriceUsage
from genai_prices import calc_price, data_snapshot

from llmotel import semconv as sc
from llmotel.config import ConfigError
from llmotel.cost import CostModel, Usage, load_overrides

USAGES = [
    Usage(1000, 500),
    Usage(1000, 500, cache_read_tokens=600),
    Usage(1000, 500, cache_read_tokens=200, cache_write_tokens=300),
    Usage(1200, 900, reasoning_tokens=700),
    Usage(250_000, 2000, cache_read_tokens=10_000, cache_write_tokens=5_000),  # long-context tiers
    Usage(0, 0),
]


def reference(provider_id: str, model: str, u: Usage) -> float:
    return float(calc_price(PriceUsage(input_tokens=u.input_tokens, output_tokens=u.output_tokens,
                                       cache_read_tokens=u.cache_read_tokens,
                                       cache_write_tokens=u.cache_write_tokens),
                            model, provider_id=provider_id).total_price)


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_fast_path_equals_genai_prices_for_every_model(provider):
    """Every openai and anthropic model in the snapshot, every usage shape: same price."""
    snapshot = data_snapshot.get_snapshot()
    models = next(p for p in snapshot.providers if p.id == provider).models
    cm = CostModel()
    checked = 0
    for info in models:
        for u in USAGES:
            try:
                expected = reference(provider, info.id, u)
            except (LookupError, ValueError):
                continue
            amount, source = cm.price(provider, info.id, u)
            assert source == "price_table"
            assert amount == pytest.approx(expected, rel=1e-9, abs=1e-15), (info.id, u)
            checked += 1
    assert checked > 50


def fake_openai(fake: Any) -> openai.OpenAI:
    return openai.OpenAI(api_key="t", base_url=fake.base_url, max_retries=0)


@pytest.mark.parametrize("scenario", ["", "cached,reasoning"])
def test_openai_call_cost_golden(fake, otel, scenario):
    result = fake_openai(fake).chat.completions.create(
        model="gpt-4o-mini", messages=[{"role": "user", "content": "price this call please"}],
        extra_headers={"x-fake-scenario": scenario} if scenario else {})
    u = result.usage
    cached = u.prompt_tokens_details.cached_tokens if u.prompt_tokens_details else 0
    expected = float(calc_price(PriceUsage(input_tokens=u.prompt_tokens, output_tokens=u.completion_tokens,
                                           cache_read_tokens=cached), "gpt-4o-mini", provider_id="openai").total_price)
    a = otel.span().attributes
    assert a[sc.LLMOTEL_COST_SOURCE] == "price_table"
    assert a[sc.LLMOTEL_COST_CURRENCY] == "USD"
    assert a[sc.LLMOTEL_COST_AMOUNT] == pytest.approx(expected, rel=1e-9)
    if scenario:
        assert cached > 0 and u.completion_tokens_details.reasoning_tokens > 0
    (point,) = otel.points(sc.METRIC_COST)
    assert point.value == pytest.approx(expected, rel=1e-9)
    assert point.attributes[sc.GEN_AI_REQUEST_MODEL] == "gpt-4o-mini"
    assert sc.GEN_AI_PROVIDER_NAME in point.attributes


def test_anthropic_cached_call_cost_golden(fake, otel):
    client = anthropic.Anthropic(api_key="t", base_url=fake.anthropic_base_url, max_retries=0)
    system = [{"type": "text", "text": "a long cached system prompt " * 20, "cache_control": {"type": "ephemeral"}}]
    costs = []
    for _ in range(2):  # first writes the cache, second reads it
        m = client.messages.create(model="claude-sonnet-4-5", max_tokens=32, system=system,
                                   messages=[{"role": "user", "content": "golden question"}])
        u = m.usage
        total_in = u.input_tokens + u.cache_read_input_tokens + u.cache_creation_input_tokens
        costs.append(float(calc_price(PriceUsage(input_tokens=total_in, output_tokens=u.output_tokens,
                                                 cache_read_tokens=u.cache_read_input_tokens,
                                                 cache_write_tokens=u.cache_creation_input_tokens),
                                      "claude-sonnet-4-5", provider_id="anthropic").total_price))
    spans = otel.spans()
    assert [s.attributes[sc.LLMOTEL_COST_AMOUNT] for s in spans] == pytest.approx(costs, rel=1e-9)
    assert costs[1] < costs[0]  # cache reads are cheaper than cache writes


def test_unknown_model_is_never_zero(fake, otel):
    fake_openai(fake).chat.completions.create(model="my-private-model-7b", messages=[{"role": "user", "content": "x"}])
    a = otel.span().attributes
    assert a[sc.LLMOTEL_COST_SOURCE] == "unknown"
    assert sc.LLMOTEL_COST_AMOUNT not in a
    assert otel.points(sc.METRIC_COST) == []
    (unpriced,) = otel.points(sc.METRIC_UNPRICED)
    assert unpriced.value == 1
    assert unpriced.attributes[sc.LLMOTEL_COST_REASON] == "unknown_model"
    assert unpriced.attributes[sc.GEN_AI_REQUEST_MODEL] == "my-private-model-7b"


def test_stream_without_usage_is_unpriced_not_zero(fake, otel):
    list(fake_openai(fake).chat.completions.create(model="gpt-4o", stream=True,
                                                   messages=[{"role": "user", "content": "x"}]))
    assert otel.span().attributes[sc.LLMOTEL_COST_SOURCE] == "unknown"
    (unpriced,) = otel.points(sc.METRIC_UNPRICED)
    assert unpriced.attributes[sc.LLMOTEL_COST_REASON] == "no_usage"


def test_failed_call_is_not_priced(fake, otel):
    with pytest.raises(openai.RateLimitError):
        fake_openai(fake).chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": "x"}],
                                                  extra_headers={"x-fake-scenario": "rate_limit"})
    assert sc.LLMOTEL_COST_SOURCE not in otel.span().attributes
    assert otel.points(sc.METRIC_UNPRICED) == []


def test_provider_reported_cost_wins(instrument):
    """OpenRouter-style usage.cost is what the provider billed; it is used as is."""
    otel = instrument()
    body = {"id": "gen-1", "object": "chat.completion", "created": 1, "model": "openai/gpt-4o",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "hi"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12, "cost": 0.000123}}
    client = openai.OpenAI(api_key="t", base_url="https://openrouter.ai/api/v1", max_retries=0,
                           http_client=httpx2.Client(transport=httpx2.MockTransport(
                               lambda request: httpx2.Response(200, json=body))))  # no network: a mock transport
    client.chat.completions.create(model="openai/gpt-4o", messages=[{"role": "user", "content": "x"}])
    a = otel.span().attributes
    assert a[sc.GEN_AI_PROVIDER_NAME] == "openrouter"
    assert a[sc.LLMOTEL_COST_SOURCE] == "provider"
    assert a[sc.LLMOTEL_COST_AMOUNT] == 0.000123


def write(tmp_path: Any, text: str) -> str:
    path = tmp_path / "prices.yaml"
    path.write_text(text)
    return str(path)


def test_override_file(fake, instrument, tmp_path):
    path = write(tmp_path, """
models:
  - match: "my-finetune-*"
    input_per_mtok: 2.0
    output_per_mtok: 8.0
    cache_read_per_mtok: 0.5
  - match: "gpt-4o-mini"
    provider: openai
    input_per_mtok: 0.1        # a negotiated price
    output_per_mtok: 0.4
deployments:
  prod-chat-deployment: gpt-4o
""")
    otel = instrument(cost_overrides=path)
    client = fake_openai(fake)
    r1 = client.chat.completions.create(model="my-finetune-v3", messages=[{"role": "user", "content": "a b c"}],
                                        extra_headers={"x-fake-scenario": "cached"})
    r2 = client.chat.completions.create(model="gpt-4o-mini", messages=[{"role": "user", "content": "a b c"}])
    r3 = client.chat.completions.create(model="prod-chat-deployment", messages=[{"role": "user", "content": "x"}])
    s1, s2, s3 = (s.attributes for s in otel.spans())
    u = r1.usage
    cached = u.prompt_tokens_details.cached_tokens
    assert s1[sc.LLMOTEL_COST_SOURCE] == "override"
    assert s1[sc.LLMOTEL_COST_AMOUNT] == pytest.approx(
        ((u.prompt_tokens - cached) * 2.0 + cached * 0.5 + u.completion_tokens * 8.0) / 1e6)
    assert s2[sc.LLMOTEL_COST_SOURCE] == "override"
    assert s2[sc.LLMOTEL_COST_AMOUNT] == pytest.approx(
        (r2.usage.prompt_tokens * 0.1 + r2.usage.completion_tokens * 0.4) / 1e6)
    # The deployment name is priced as the model it maps to.
    assert s3[sc.LLMOTEL_COST_SOURCE] == "price_table"
    assert s3[sc.LLMOTEL_COST_AMOUNT] == pytest.approx(reference("openai", "gpt-4o", Usage(
        r3.usage.prompt_tokens, r3.usage.completion_tokens)))


def test_price_table_can_be_turned_off(tmp_path):
    cm = load_overrides(write(tmp_path, "price_table: false\n"))
    assert cm.price("openai", "gpt-4o", Usage(10, 10)) == (None, "unknown")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("models:\n  - input_per_mtok: 1\n", "needs 'match'"),
        ("models:\n  - match: x\n    input_per_mtok: -1\n", "input_per_mtok must be a non-negative number"),
        ("models:\n  - match: x\n    inptu_per_mtok: 1\n", "unknown fields ['inptu_per_mtok']"),
        ("currency: EUR\n", "currency must be USD"),
        ("modles: []\n", "unknown keys ['modles']"),
        ("deployments: [a, b]\n", "deployments must map"),
        ("models: [\n", "not valid YAML"),
    ],
)
def test_invalid_override_file_fails_at_init(tmp_path, text, message):
    import llmotel

    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        llmotel.init(cost_overrides=path, traces_exporter="none", metrics_exporter="none", logs_exporter="none")


def test_missing_override_file_fails_at_init(tmp_path):
    import llmotel

    with pytest.raises(ConfigError, match="does not exist"):
        llmotel.init(cost_overrides=str(tmp_path / "nope.yaml"), traces_exporter="none")
