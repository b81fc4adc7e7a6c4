"""Hooks into the HTTP layer shared by Stainless-generated SDKs (openai, anthropic).

The wrapped API methods only see parsed results; response headers (rate limits) and
the SDK's own retries live one layer down. Both SDKs funnel every final response
through ``_process_response(..., response=, retries_taken=)`` and every retry through
``_sleep_for_retry(..., response=)``; these hooks read them for the llmotel invocation
active in the context and change nothing. Older releases (e.g. openai 1.70, anthropic
0.40) have no ``_sleep_for_retry`` and retry recursively: ``_should_retry(response)``
returning True means an HTTP-status retry follows, ``_retry_request(...,
response_headers=None)`` is a connection-error retry; the oldest (openai 1.26) pass no
``retries_taken`` either, so attempts are counted from the retries seen. Where an SDK
version lacks a hook, it is skipped and the telemetry simply has no rate-limit or attempt
data.
"""

from __future__ import annotations

import importlib
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
        # SDKs without _sleep_for_retry (see the module docstring).
        Patch(module, "BaseClient._should_retry", "legacy_status_retry_hook", False),
        Patch(module, "SyncAPIClient._retry_request", "legacy_connection_retry_hook", False),
        Patch(module, "AsyncAPIClient._retry_request", "legacy_connection_retry_hook", True),
    )


HOOKS = frozenset(("response_hook", "retry_hook", "legacy_status_retry_hook", "legacy_connection_retry_hook"))


def _attempts(inv: Any, kwargs: dict[str, Any], retrying: bool) -> int:
    """Attempts so far: from the SDK's ``retries_taken``, else from the retries already seen."""
    taken = kwargs.get("retries_taken")
    if taken is None:
        seen = (inv.extra or {}).get(sc.LLMOTEL_REQUEST_ATTEMPTS) or 1
        return seen + 1 if retrying else seen
    return int(taken) + (2 if retrying else 1)


def _on_response(tel: Telemetry, kwargs: dict[str, Any]) -> None:
    inv = active_invocation()
    if inv is None or not tel.enabled:
        return
    try:
        response = kwargs.get("response")
        if response is not None:
            ratelimits.observe(inv, response.headers)
        inv.set_attribute(sc.LLMOTEL_REQUEST_ATTEMPTS, _attempts(inv, kwargs, False))
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
        inv.set_attribute(sc.LLMOTEL_REQUEST_ATTEMPTS, _attempts(inv, kwargs, True))
    except Exception as exc:
        tel.internal_error("http.retry_hook", exc)


def _on_connection_retry(tel: Telemetry, kwargs: dict[str, Any], args: tuple[Any, ...]) -> None:
    # response_headers is the 4th positional argument in the oldest SDKs, a keyword later;
    # None means there was no response (connection error, timeout).
    headers = kwargs["response_headers"] if "response_headers" in kwargs else (args[3] if len(args) > 3 else None)
    if headers is None:  # HTTP-status retries are counted by the _should_retry hook
        _on_retry(tel, {})


def hook(tel: Telemetry, patch: Patch) -> Callable[..., Any] | None:
    """A wrapt wrapper that observes the call, then delegates unchanged (None: not needed here)."""
    kind = patch.adapter
    if kind.startswith("legacy_"):
        client = getattr(importlib.import_module(patch.module), "SyncAPIClient", None)
        if client is None or hasattr(client, "_sleep_for_retry"):
            return None  # a current SDK: the _sleep_for_retry hook sees every retry

    if kind == "legacy_status_retry_hook":
        def status_retry(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            retry = wrapped(*args, **kwargs)
            if retry is True:  # the SDK asks only while retries remain, and then retries
                _on_retry(tel, {"response": args[0] if args else kwargs.get("response")})
            return retry

        return status_retry

    def observe(args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        if kind == "response_hook":
            _on_response(tel, kwargs)
        elif kind == "retry_hook":
            _on_retry(tel, kwargs)
        else:
            _on_connection_retry(tel, kwargs, args)

    if patch.is_async:
        async def async_wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            observe(args, kwargs)
            return await wrapped(*args, **kwargs)

        return async_wrapper

    def wrapper(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
        observe(args, kwargs)
        return wrapped(*args, **kwargs)

    return wrapper
