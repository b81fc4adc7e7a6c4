"""Request-parameter helpers shared by the Stainless-generated SDKs (openai, anthropic)."""

from __future__ import annotations

from typing import Any

# Both SDKs mark "not given" with their own NotGiven/Omit classes, and helpers such as
# .stream() forward every parameter, most of them as a placeholder. Matching by class
# name recognises either SDK's without importing it (importing openai costs ~350 ms).
_PLACEHOLDERS = frozenset(("NotGiven", "Omit"))


def is_placeholder(value: Any) -> bool:
    """True for an SDK's NotGiven/Omit placeholder."""
    return type(value).__name__ in _PLACEHOLDERS


def given(kwargs: dict[str, Any], key: str) -> Any:
    """The request value for ``key``, or None when absent or a NotGiven/Omit placeholder."""
    value = kwargs.get(key)
    if value is None or type(value).__name__ in _PLACEHOLDERS:
        return None
    return value


def as_dict(value: Any) -> Any:
    """A request/response item as plain data (dicts pass through, models are dumped)."""
    if isinstance(value, dict):
        return value
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(exclude_none=True)
    return value
