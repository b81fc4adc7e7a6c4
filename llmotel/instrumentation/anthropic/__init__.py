"""Anthropic instrumentation (anthropic SDK): Messages create/parse/stream, beta included.

anthropic 2.x traces each API call itself (a CLIENT span ``anthropic.messages.create``)
as soon as a global tracer provider exists. llmotel's default is one inference span per
call: for the calls llmotel traces, the SDK's own span is switched off through its
documented "no span" path (``start_api_call_span`` returning None). Set
``LLMOTEL_ANTHROPIC_NATIVE_SPANS=true`` (or ``init(anthropic_native_spans=True)``) to keep
the SDK's span too; it then appears as a child of llmotel's span.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from llmotel.instrumentation import _stainless
from llmotel.instrumentation._base import LlmotelInstrumentor, Patch

SCOPE = "llmotel.instrumentation.anthropic"

_MESSAGES = "anthropic.resources.messages"
_BETA = "anthropic.resources.beta.messages"
PATCHES: tuple[Patch, ...] = (
    Patch(_MESSAGES, "Messages.create", "messages", False),
    Patch(_MESSAGES, "AsyncMessages.create", "messages", True),
    Patch(_MESSAGES, "Messages.parse", "messages", False),
    Patch(_MESSAGES, "AsyncMessages.parse", "messages", True),
    Patch(_MESSAGES, "Messages.stream", "stream", False),
    Patch(_MESSAGES, "AsyncMessages.stream", "stream", True),
    Patch(_BETA, "Messages.create", "messages", False),
    Patch(_BETA, "AsyncMessages.create", "messages", True),
    Patch(_BETA, "Messages.parse", "messages", False),
    Patch(_BETA, "AsyncMessages.parse", "messages", True),
    Patch(_BETA, "Messages.stream", "stream", False),
    Patch(_BETA, "AsyncMessages.stream", "stream", True),
    Patch("anthropic._base_client", "start_api_call_span", "native_span", False),
    *_stainless.patches("anthropic"),  # rate-limit headers and retries
)


class AnthropicInstrumentor(LlmotelInstrumentor):
    """Instruments the ``anthropic`` SDK; ``opentelemetry-instrument`` finds it as ``llmotel_anthropic``."""

    scope = SCOPE
    patches = PATCHES

    def instrumentation_dependencies(self) -> Collection[str]:
        """The SDK versions this instrumentation supports."""
        return ("anthropic >= 0.40, < 3",)

    def build_wrappers(self, tel: Any) -> Callable[[Patch], Callable[..., Any] | None]:
        """Wrappers for create/parse, the stream() helper and the native-span switch."""
        from anthropic import AsyncStream, Stream

        from llmotel.instrumentation.anthropic.messages import MessagesAdapter
        from llmotel.telemetry.handler import active_invocation
        from llmotel.telemetry.wrapper import async_call, lazy_stream_manager, sync_call

        adapter = MessagesAdapter((Stream, AsyncStream))
        keep_native = tel.settings.anthropic_native_spans

        def no_native_span(wrapped: Callable[..., Any], instance: Any, args: Any, kwargs: Any) -> Any:
            # Only calls llmotel is tracing lose the SDK's span; other API calls keep it.
            if tel.enabled and active_invocation() is not None:
                return None
            return wrapped(*args, **kwargs)

        def wrapper_for(patch: Patch) -> Callable[..., Any] | None:
            if patch.adapter in _stainless.HOOKS:
                return _stainless.hook(tel, patch)
            if patch.adapter == "native_span":
                return None if keep_native else no_native_span
            if patch.adapter == "stream":
                return lazy_stream_manager(tel, adapter, patch.is_async)
            return (async_call if patch.is_async else sync_call)(tel, adapter)

        return wrapper_for
