"""Rate-limit headroom, throttling and retries, from provider response headers.

OpenAI sends ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, Anthropic
``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}``,
both ``retry-after`` (and ``retry-after-ms``). Values become span attributes of the
call and gauges per provider and model, so a dashboard can show headroom.
"""

from __future__ import annotations

from datetime import UTC
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from llmotel import semconv as sc

if TYPE_CHECKING:
    from llmotel.telemetry.invocation import Invocation

# header -> (resource, field)
_HEADERS: dict[str, tuple[str, str]] = {}
for _resource in ("requests", "tokens"):
    for _field in ("limit", "remaining"):
        _HEADERS[f"x-ratelimit-{_field}-{_resource}"] = (_resource, _field)
for _resource in ("requests", "tokens", "input-tokens", "output-tokens"):
    for _field in ("limit", "remaining"):
        _HEADERS[f"anthropic-ratelimit-{_resource}-{_field}"] = (_resource.replace("-", "_"), _field)

THROTTLE_STATUS = frozenset((429, 529, 503))


def parse(headers: Any) -> tuple[dict[tuple[str, str], int], float | None]:
    """({(resource, "limit"|"remaining"): value}, retry-after seconds) from response headers."""
    values: dict[tuple[str, str], int] = {}
    get = headers.get
    for name, key in _HEADERS.items():
        raw = get(name)
        if raw is not None:
            try:
                values[key] = int(raw)
            except ValueError:
                continue
    return values, retry_after(headers)


def retry_after(headers: Any) -> float | None:
    """``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date) in seconds."""
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        try:
            return float(raw_ms) / 1000.0
        except ValueError:
            pass
    raw = headers.get("retry-after")
    if raw is None:
        return None
    try:
        return float(raw)
    except ValueError:
        pass
    try:
        from datetime import datetime

        return max(0.0, (parsedate_to_datetime(raw) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def observe(inv: Invocation, headers: Any) -> None:
    """Record rate-limit headers of one response on ``inv``'s span and the headroom gauges."""
    values, wait = parse(headers)
    if not values and wait is None:
        return
    tel = inv._tel
    gauge_attrs = {
        sc.GEN_AI_PROVIDER_NAME: inv.attributes.get(sc.GEN_AI_PROVIDER_NAME),
        sc.GEN_AI_REQUEST_MODEL: inv.attributes.get(sc.GEN_AI_REQUEST_MODEL) or "",
    }
    ins = tel.instruments
    for (resource, field), value in values.items():
        inv.set_attribute(f"{sc.LLMOTEL_RATELIMIT_PREFIX}.{resource}.{field}", value)
        gauge = ins.ratelimit_limit if field == "limit" else ins.ratelimit_remaining
        gauge.set(value, {**gauge_attrs, sc.LLMOTEL_RATELIMIT_RESOURCE: resource})
    if wait is not None:
        inv.set_attribute(sc.LLMOTEL_RETRY_AFTER, wait)


def count_attempt_failure(inv: Invocation, status: int | None, retried: bool) -> None:
    """Count a throttled attempt (429/529/503) and, when the SDK retries, the retry."""
    ins = inv._tel.instruments
    attrs = {
        sc.GEN_AI_PROVIDER_NAME: inv.attributes.get(sc.GEN_AI_PROVIDER_NAME),
        sc.GEN_AI_REQUEST_MODEL: inv.attributes.get(sc.GEN_AI_REQUEST_MODEL) or "",
        sc.ERROR_TYPE: str(status) if status is not None else sc.ERROR_TYPE_OTHER,
    }
    if status in THROTTLE_STATUS:
        ins.throttled.add(1, attrs)
    if retried:
        ins.retries.add(1, attrs)
