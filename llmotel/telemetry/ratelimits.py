"""Rate-limit headroom, throttling and retries, from provider response headers.

OpenAI sends ``x-ratelimit-{limit,remaining,reset}-{requests,tokens}``, Anthropic
``anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-{limit,remaining,reset}``,
both ``retry-after`` (and ``retry-after-ms``). Values become span attributes of the
call and gauges per provider and model, so a dashboard can show headroom.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import TYPE_CHECKING, Any

from llmotel import semconv as sc

if TYPE_CHECKING:
    from llmotel.telemetry.invocation import Invocation

# header -> span attribute; ATTRIBUTES: span attribute -> (resource, "limit" | "remaining")
_HEADERS: dict[str, str] = {}
ATTRIBUTES: dict[str, tuple[str, str]] = {}


def _register(header: str, resource: str, field: str) -> None:
    attribute = f"{sc.LLMOTEL_RATELIMIT_PREFIX}.{resource}.{field}"
    _HEADERS[header] = attribute
    ATTRIBUTES[attribute] = (resource, field)


for _resource in ("requests", "tokens"):
    for _field in ("limit", "remaining"):
        _register(f"x-ratelimit-{_field}-{_resource}", _resource, _field)
for _resource in ("requests", "tokens", "input-tokens", "output-tokens"):
    for _field in ("limit", "remaining"):
        _register(f"anthropic-ratelimit-{_resource}-{_field}", _resource.replace("-", "_"), _field)

THROTTLE_STATUS = frozenset((429, 529, 503))
# Bounds the (provider, model) pairs whose headroom a process reports.
_MAX_SERIES = 2000


def relevant(headers: Any) -> dict[str, str]:
    """The rate-limit and retry-after headers only, lower-cased, in one pass.

    httpx's ``Headers.get`` scans every header per lookup; one pass over ``raw`` is
    several times cheaper than looking up each of the ~20 names we know.
    """
    out: dict[str, str] = {}
    raw = getattr(headers, "raw", None)
    if isinstance(raw, list):
        for key, value in raw:
            key = key.lower()
            if b"ratelimit" in key or key.startswith(b"retry-after"):
                out[key.decode("latin-1")] = value.decode("latin-1")
        return out
    for key, value in headers.items():
        key = key.lower()
        if "ratelimit" in key or key.startswith("retry-after"):
            out[key] = value
    return out


def parse(headers: Any) -> tuple[dict[str, int], float | None]:
    """({span attribute: value}, retry-after seconds) from response headers."""
    found = relevant(headers)
    values: dict[str, int] = {}
    for name, raw in found.items():
        attribute = _HEADERS.get(name)
        if attribute is not None:
            try:
                values[attribute] = int(raw)
            except ValueError:
                continue
    return values, retry_after(found) if found else None


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
        return max(0.0, (parsedate_to_datetime(raw) - datetime.now(UTC)).total_seconds())
    except (TypeError, ValueError):
        return None


def observe(inv: Invocation, headers: Any) -> None:
    """Keep one response's rate-limit values for ``inv``'s span and the headroom gauges.

    Per call this is a dict write: the span gets the values when it ends, the
    observable gauges read the latest ones per (provider, model) at collection time.
    """
    values, wait = parse(headers)
    if values:
        inv.rate_limits = values
        latest = inv._tel.instruments.ratelimit_latest
        key = (inv.attributes.get(sc.GEN_AI_PROVIDER_NAME), inv.attributes.get(sc.GEN_AI_REQUEST_MODEL) or "")
        if key in latest or len(latest) < _MAX_SERIES:
            latest[key] = values
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
