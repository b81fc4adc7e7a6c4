"""Rate-limit headroom, throttling and retries, checked against the headers the fake provider sent."""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from llmotel import semconv as sc
from llmotel.telemetry import ratelimits

MESSAGES = [{"role": "user", "content": "hi"}]


def gauges(otel: Any, name: str) -> dict[str, int]:
    return {p.attributes[sc.LLMOTEL_RATELIMIT_RESOURCE]: p.value for p in otel.points(name)}


def test_openai_headroom_matches_headers(fake, otel):
    client = openai.OpenAI(api_key="t", base_url=fake.base_url, max_retries=0)
    raw = client.chat.completions.with_raw_response.create(model="rl-openai", messages=MESSAGES)
    h = raw.headers
    a = otel.span().attributes
    assert a["llmotel.ratelimit.requests.limit"] == int(h["x-ratelimit-limit-requests"])
    assert a["llmotel.ratelimit.requests.remaining"] == int(h["x-ratelimit-remaining-requests"])
    assert a["llmotel.ratelimit.tokens.remaining"] == int(h["x-ratelimit-remaining-tokens"])
    assert a[sc.LLMOTEL_REQUEST_ATTEMPTS] == 1
    remaining = gauges(otel, sc.METRIC_RATELIMIT_REMAINING)
    assert remaining == {"requests": int(h["x-ratelimit-remaining-requests"]),
                         "tokens": int(h["x-ratelimit-remaining-tokens"])}
    (point, *_) = otel.points(sc.METRIC_RATELIMIT_LIMIT)
    assert point.attributes[sc.GEN_AI_PROVIDER_NAME] == "openai"
    assert point.attributes[sc.GEN_AI_REQUEST_MODEL] == "rl-openai"
    # A plain (non-raw) call gets the same data, and the gauge follows the latest value.
    client.chat.completions.create(model="rl-openai", messages=MESSAGES)
    later = gauges(otel, sc.METRIC_RATELIMIT_REMAINING)["requests"]
    assert later == int(h["x-ratelimit-remaining-requests"]) - 1


def test_anthropic_headroom_matches_headers(fake, otel):
    client = anthropic.Anthropic(api_key="t", base_url=fake.anthropic_base_url, max_retries=0)
    raw = client.messages.with_raw_response.create(model="rl-claude", max_tokens=8, messages=MESSAGES)
    h = raw.headers
    a = otel.span().attributes
    for resource in ("requests", "tokens", "input-tokens", "output-tokens"):
        key = resource.replace("-", "_")
        assert a[f"llmotel.ratelimit.{key}.limit"] == int(h[f"anthropic-ratelimit-{resource}-limit"])
        assert a[f"llmotel.ratelimit.{key}.remaining"] == int(h[f"anthropic-ratelimit-{resource}-remaining"])
    assert gauges(otel, sc.METRIC_RATELIMIT_REMAINING)["input_tokens"] == int(
        h["anthropic-ratelimit-input-tokens-remaining"])
    streamed = client.messages.create(model="rl-claude", max_tokens=8, messages=MESSAGES, stream=True)
    list(streamed)
    assert otel.spans()[-1].attributes["llmotel.ratelimit.requests.remaining"] == int(
        h["anthropic-ratelimit-requests-remaining"]) - 1


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_throttled_call_is_counted_with_retry_after(fake, otel, provider):
    headers = {"x-fake-scenario": "rate_limit"}
    if provider == "openai":
        client = openai.OpenAI(api_key="t", base_url=fake.base_url, max_retries=0)
        with pytest.raises(openai.RateLimitError) as caught:
            client.chat.completions.create(model="m", messages=MESSAGES, extra_headers=headers)
    else:
        client = anthropic.Anthropic(api_key="t", base_url=fake.anthropic_base_url, max_retries=0)
        with pytest.raises(anthropic.RateLimitError) as caught:
            client.messages.create(model="m", max_tokens=8, messages=MESSAGES, extra_headers=headers)
    sent = caught.value.response.headers
    a = otel.span().attributes
    assert a[sc.LLMOTEL_RETRY_AFTER] == ratelimits.retry_after(sent) > 0
    assert a["llmotel.ratelimit.requests.remaining"] == 0
    (throttled,) = otel.points(sc.METRIC_THROTTLED)
    assert throttled.value == 1
    assert dict(throttled.attributes) == {sc.GEN_AI_PROVIDER_NAME: provider, sc.GEN_AI_REQUEST_MODEL: "m",
                                          sc.ERROR_TYPE: "429"}
    assert otel.points(sc.METRIC_RETRIES) == []


def test_overload_529_is_counted(fake, otel):
    client = anthropic.Anthropic(api_key="t", base_url=fake.anthropic_base_url, max_retries=0)
    with pytest.raises(anthropic.APIStatusError):
        client.messages.create(model="m", max_tokens=8, messages=MESSAGES,
                               extra_headers={"x-fake-scenario": "overloaded"})
    (throttled,) = otel.points(sc.METRIC_THROTTLED)
    assert throttled.attributes[sc.ERROR_TYPE] == "529"


@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_retries_inside_one_span(fake, otel, provider):
    headers = {"x-fake-scenario": "fail_once", "x-fake-key": f"retry-{provider}"}
    if provider == "openai":
        openai.OpenAI(api_key="t", base_url=fake.base_url, max_retries=2).chat.completions.create(
            model="m", messages=MESSAGES, extra_headers=headers)
    else:
        anthropic.Anthropic(api_key="t", base_url=fake.anthropic_base_url, max_retries=2).messages.create(
            model="m", max_tokens=8, messages=MESSAGES, extra_headers=headers)
    span = otel.span()
    assert span.attributes[sc.LLMOTEL_REQUEST_ATTEMPTS] == 2
    (retries,) = otel.points(sc.METRIC_RETRIES)
    assert retries.value == 1 and retries.attributes[sc.ERROR_TYPE] == "500"
    assert otel.points(sc.METRIC_THROTTLED) == []


async def test_async_rate_limit_retried_then_failed(fake, otel):
    client = openai.AsyncOpenAI(api_key="t", base_url=fake.base_url, max_retries=1)
    with pytest.raises(openai.RateLimitError):
        await client.chat.completions.create(model="m", messages=MESSAGES,
                                             extra_headers={"x-fake-scenario": "rate_limit",
                                                            "x-fake-retry-after-ms": "1"})
    (throttled,) = otel.points(sc.METRIC_THROTTLED)
    assert throttled.value == 2  # the retried attempt and the final one
    (retries,) = otel.points(sc.METRIC_RETRIES)
    assert retries.value == 1
    assert otel.span().attributes[sc.LLMOTEL_REQUEST_ATTEMPTS] == 2


def test_retry_after_http_date():
    import time
    from email.utils import formatdate

    wait = ratelimits.retry_after({"retry-after": formatdate(time.time() + 30, usegmt=True)})
    assert 25 < wait <= 30
    assert ratelimits.retry_after({"retry-after": "garbage"}) is None
    assert ratelimits.retry_after({"retry-after-ms": "250", "retry-after": "9"}) == 0.25
