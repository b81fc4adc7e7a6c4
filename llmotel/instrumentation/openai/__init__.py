"""OpenAI instrumentation (openai 1.x to 3.x): chat completions, Responses, embeddings.

Patch targets are declared once, as data (:data:`PATCHES`); the same table drives
``instrument()`` and ``uninstrument()``. Targets missing from the installed SDK
version are skipped.
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from llmotel.instrumentation import _stainless
from llmotel.instrumentation._base import LlmotelInstrumentor, Patch

SCOPE = "llmotel.instrumentation.openai"

PATCHES: tuple[Patch, ...] = (
    Patch("openai.resources.chat.completions", "Completions.create", "chat", False),
    Patch("openai.resources.chat.completions", "AsyncCompletions.create", "chat", True),
    Patch("openai.resources.chat.completions", "Completions.parse", "chat", False),
    Patch("openai.resources.chat.completions", "AsyncCompletions.parse", "chat", True),
    Patch("openai.resources.chat.completions", "Completions.stream", "manager", False),
    Patch("openai.resources.chat.completions", "AsyncCompletions.stream", "manager", True),
    # openai 1.40 to 1.91 had parse/stream under beta only (before 1.40: no such helpers).
    Patch("openai.resources.beta.chat.completions", "Completions.parse", "chat", False),
    Patch("openai.resources.beta.chat.completions", "AsyncCompletions.parse", "chat", True),
    Patch("openai.resources.beta.chat.completions", "Completions.stream", "manager", False),
    Patch("openai.resources.beta.chat.completions", "AsyncCompletions.stream", "manager", True),
    Patch("openai.resources.responses", "Responses.create", "responses", False),
    Patch("openai.resources.responses", "AsyncResponses.create", "responses", True),
    Patch("openai.resources.responses", "Responses.parse", "responses", False),
    Patch("openai.resources.responses", "AsyncResponses.parse", "responses", True),
    Patch("openai.resources.responses", "Responses.stream", "manager", False),
    Patch("openai.resources.responses", "AsyncResponses.stream", "manager", True),
    Patch("openai.resources.embeddings", "Embeddings.create", "embeddings", False),
    Patch("openai.resources.embeddings", "AsyncEmbeddings.create", "embeddings", True),

    *_stainless.patches("openai"),  # rate-limit headers and retries
)


class OpenAIInstrumentor(LlmotelInstrumentor):
    """Instruments the ``openai`` SDK; ``opentelemetry-instrument`` finds it as ``llmotel_openai``."""

    scope = SCOPE
    patches = PATCHES

    def instrumentation_dependencies(self) -> Collection[str]:
        """The SDK versions this instrumentation supports."""
        return ("openai >= 1.26, < 4",)

    def build_wrappers(self, tel: Any) -> Callable[[Patch], Callable[..., Any] | None]:
        """Wrappers for chat, Responses, embeddings and the .stream() helpers."""
        from openai import AsyncStream, Stream

        from llmotel.instrumentation.openai.chat import ChatAdapter
        from llmotel.instrumentation.openai.embeddings import EmbeddingsAdapter
        from llmotel.instrumentation.openai.responses import ResponsesAdapter
        from llmotel.telemetry.wrapper import async_call, stream_manager, sync_call

        streams = (Stream, AsyncStream)
        adapters = {
            "chat": ChatAdapter(streams),
            "responses": ResponsesAdapter(streams),
            "embeddings": EmbeddingsAdapter(),
        }

        def wrapper_for(patch: Patch) -> Callable[..., Any]:
            if patch.adapter in _stainless.HOOKS:
                return _stainless.hook(tel, patch)
            if patch.adapter == "manager":
                return stream_manager(tel, patch.is_async)
            factory = async_call if patch.is_async else sync_call
            return factory(tel, adapters[patch.adapter])

        return wrapper_for
