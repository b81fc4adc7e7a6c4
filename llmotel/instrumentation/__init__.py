"""Per-library instrumentors; each folder only translates its library's shapes."""

from __future__ import annotations

# library name -> (module that must be importable, "module:Instrumentor")
INSTRUMENTORS: dict[str, tuple[str, str]] = {
    "openai": ("openai", "llmotel.instrumentation.openai:OpenAIInstrumentor"),
    "anthropic": ("anthropic", "llmotel.instrumentation.anthropic:AnthropicInstrumentor"),
}
