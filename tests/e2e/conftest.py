"""End-to-end fixtures: one real llama.cpp server (xllamacpp + SmolLM2-135M) for the session.

The e2e tests are skipped only when ``scripts/fetch-local-model`` has not run (no
xllamacpp or no model file); set ``LLMOTEL_REQUIRE_LOCAL_MODEL=1`` to make that a
failure instead, so a CI job cannot pass by skipping them.
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from typing import Any

import pytest

from llmotel.config import Settings
from llmotel.demo.local_model import LocalModel, default_model_path, start_local_model


def _missing() -> str | None:
    path = default_model_path()
    if not path.is_file():
        return f"no local model file at {path}"
    if importlib.util.find_spec("xllamacpp") is None:
        return "xllamacpp is not installed"
    return None


@pytest.fixture(scope="session")
def local_llm() -> Iterator[LocalModel]:
    """llama.cpp serving SmolLM2-135M-Instruct as ``smollm2-135m`` on 127.0.0.1, started once."""
    missing = _missing()
    if missing is not None:
        reason = f"{missing}: run scripts/fetch-local-model"
        if os.environ.get("LLMOTEL_REQUIRE_LOCAL_MODEL") == "1":
            pytest.fail(f"LLMOTEL_REQUIRE_LOCAL_MODEL=1 but {reason}", pytrace=False)
        pytest.skip(reason)
    with start_local_model() as local:
        yield local


@pytest.fixture
def anthropic_otel(otel: Any) -> Iterator[Any]:
    """Anthropic instrumented into the same in-memory providers as ``otel`` (OpenAI).

    Skips while ``llmotel.instrumentation.anthropic`` does not exist yet.
    """
    module = pytest.importorskip("llmotel.instrumentation.anthropic")
    instrumentor = module.AnthropicInstrumentor()
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
    instrumentor.instrument(settings=Settings.load(env={}), **otel.providers())
    yield otel
    if instrumentor.is_instrumented_by_opentelemetry:
        instrumentor.uninstrument()
