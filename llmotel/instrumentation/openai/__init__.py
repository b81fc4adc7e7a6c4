"""OpenAI instrumentation (openai 1.x to 3.x): chat completions, Responses, embeddings.

Patch targets are declared once, as data (:data:`PATCHES`); the same table drives
``instrument()`` and ``uninstrument()``. Targets missing from the installed SDK
version are skipped.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Collection
from typing import Any, NamedTuple

from opentelemetry.instrumentation.instrumentor import BaseInstrumentor

from llmotel.config import Settings

_log = logging.getLogger("llmotel")

SCOPE = "llmotel.instrumentation.openai"


class Patch(NamedTuple):
    """One method to wrap: module, ``Class.method``, adapter key and call style."""

    module: str
    target: str
    adapter: str  # "chat" | "responses" | "embeddings" | "manager"
    is_async: bool


PATCHES: tuple[Patch, ...] = (
    Patch("openai.resources.chat.completions", "Completions.create", "chat", False),
    Patch("openai.resources.chat.completions", "AsyncCompletions.create", "chat", True),
    Patch("openai.resources.chat.completions", "Completions.parse", "chat", False),
    Patch("openai.resources.chat.completions", "AsyncCompletions.parse", "chat", True),
    Patch("openai.resources.chat.completions", "Completions.stream", "manager", False),
    Patch("openai.resources.chat.completions", "AsyncCompletions.stream", "manager", True),
    # openai < 1.40 kept parse/stream under beta.
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
)


def _resolve(patch: Patch) -> tuple[Any, str, Any] | None:
    """(owner class, method name, current attribute) or None when the target is absent."""
    try:
        module = importlib.import_module(patch.module)
    except ImportError:
        return None
    owner_name, _, method = patch.target.partition(".")
    owner = getattr(module, owner_name, None)
    if owner is None or method not in vars(owner):
        return None
    return owner, method, vars(owner)[method]


class OpenAIInstrumentor(BaseInstrumentor):
    """Instruments the ``openai`` SDK; ``opentelemetry-instrument`` finds it as ``llmotel_openai``."""

    def __init__(self) -> None:
        # BaseInstrumentor is a singleton; keep state across repeated construction.
        if not hasattr(self, "_patched"):
            self._patched: list[tuple[Any, str, Any]] = []
            self._telemetry: Any = None

    def instrumentation_dependencies(self) -> Collection[str]:
        """The SDK versions this instrumentation supports."""
        return ("openai >= 1.26, < 4",)

    def _instrument(self, **kwargs: Any) -> None:
        import wrapt

        from llmotel.instrumentation.openai.chat import ChatAdapter
        from llmotel.instrumentation.openai.embeddings import EmbeddingsAdapter
        from llmotel.instrumentation.openai.responses import ResponsesAdapter
        from llmotel.telemetry.handler import Telemetry
        from llmotel.telemetry.wrapper import async_call, stream_manager, sync_call

        settings = kwargs.get("settings") or _active_settings()
        tel = Telemetry(
            SCOPE,
            settings,
            kwargs.get("tracer_provider"),
            kwargs.get("meter_provider"),
            kwargs.get("logger_provider"),
        )
        streams = _stream_types()
        adapters = {
            "chat": ChatAdapter(streams),
            "responses": ResponsesAdapter(streams),
            "embeddings": EmbeddingsAdapter(),
        }
        self._telemetry = tel
        for patch in PATCHES:
            found = _resolve(patch)
            if found is None:
                continue
            owner, method, original = found
            if any(o is owner and m == method for o, m, _ in self._patched):
                continue  # the same class re-exported under another module
            if patch.adapter == "manager":
                wrapper = stream_manager(tel, patch.is_async)
            else:
                factory = async_call if patch.is_async else sync_call
                wrapper = factory(tel, adapters[patch.adapter])
            setattr(owner, method, wrapt.FunctionWrapper(original, wrapper))
            self._patched.append((owner, method, original))

    def _uninstrument(self, **kwargs: Any) -> None:
        if self._telemetry is not None:
            # Bound wrappers cached by the SDK (with_raw_response) now pass through.
            self._telemetry.enabled = False
            self._telemetry = None
        for owner, method, original in reversed(self._patched):
            setattr(owner, method, original)
        self._patched.clear()


def _stream_types() -> tuple[type, ...]:
    from openai import AsyncStream, Stream

    return (Stream, AsyncStream)


def _active_settings() -> Settings:
    """Settings of a running ``llmotel.init()``, else from the environment."""
    try:
        from llmotel.sdk import get_settings

        active = get_settings()
    except Exception:
        active = None
    return active or Settings.load()
