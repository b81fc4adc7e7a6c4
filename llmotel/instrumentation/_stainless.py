"""Hooks into the HTTP layer shared by Stainless-generated SDKs (openai, anthropic).

The wrapped API methods only see parsed results; response headers (rate limits) and
the SDK's own retries live one layer down. Both SDKs funnel every final response
through ``_process_response(..., response=, retries_taken=)`` and every retry through
``_sleep_for_retry(..., response=)``; these hooks read them for the llmotel invocation
active in the context and change nothing. Where an SDK version lacks them, they are
skipped and the telemetry simply has no rate-limit or attempt data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from llmotel import semconv as sc
from llmotel.instrumentation._base import Patch
from llmotel.telemetry import ratelimits
from llmotel.telemetry.handler import Telemetry, active_invocation


def patches(package: str) -> tuple[Patch, ...]:
    """The hook rows for ``package``'s base client (e.g. ``openai``)."""
    module = f"{package}._base_client"
    return (
        Patch(module, "SyncAPIClient._process_response", "response_hook", False),
        Patch(module, "AsyncAPIClient._process_response", "response_hook", True),
        Patch(module, "SyncAPIClient._sleep_for_retry", "retry_hook", False),
        Patch(module, "AsyncAPIClient._sleep_for_retry", "retry_hook", True),
    )


def _on_response(tel: Telemetry, kwargs: dict[str, Any]) -> None:
    inv = active_invocation()
    if inv is None or not tel.enabled:
        return
    try:
        response = kwargs.get("response")
        if response is not None:
            ratelimits.observe(inv, response.headers)
        inv.set_attribute(sc.LLMOTEL_REQUEST_ATTEMPTS, int(kwargs.get("retries_taken") or 0) + 1)
    except Exception as exc:
        tel.internal_error("http.response_hook", exc)


def _on_retry(tel: Telemetry, kwargs: dict[str, Any]) -> None:
    inv = active_invocation()
    if inv is None or not tel.enabled:
        return
    try:
        response = kwargs.get("response")
        status = getattr(response, "status_code", None)
        if response is not None:
            ratelimits.observe(inv, response.headers)
        ratelimits.count_attempt_failure(inv, status, retried=True)
        inv.set_attribute(sc.LLMOTEL_REQUEST_ATTEMPTS, int(kwargs.get("retries_taken") or 0) + 2)
    except Exception as exc:
        tel.internal_error("http.retry_hook", exc)


def hook(tel: Telemetry, kind: str, is_async: bool) -> Callable[..., Any]:
    """A wrapt wrapper that observes the call's kwargs, then delegates unchanged."""
    observe = _on_response if kind == "response_hook" else _on_retry

    if is_async:
        async def async_wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            observe(tel, kwargs)
            return await wrapped(*args, **kwargs)

        return async_wrapper

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        observe(tel, kwargs)
        return wrapped(*args, **kwargs)

    return wrapper
