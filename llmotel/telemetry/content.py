"""Content encoding: the conventions' message structures as compact JSON.

Only reached when content capture is on. Issue #5's redaction and size limits plug in
here, so that every captured value passes one chokepoint before any exporter.
"""

from __future__ import annotations

import json
from typing import Any


def _default(value: Any) -> Any:
    # Pydantic models and other SDK objects: fall back to their dict form, then str.
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return dump(exclude_none=True)
    return str(value)


def to_json(value: Any) -> str:
    """Serialise compactly (util-genai's separators), never raising."""
    try:
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_default)
    except (TypeError, ValueError):
        return json.dumps(str(value))


def drop_none(mapping: dict[str, Any]) -> dict[str, Any]:
    """Remove ``None`` fields: ``finish_reason: null`` fails strict schema validation."""
    return {k: v for k, v in mapping.items() if v is not None}


def decode_arguments(raw: Any) -> Any:
    """Tool-call arguments as an object: JSON strings are decoded, broken JSON kept as text."""
    if isinstance(raw, str):
        try:
            return json.loads(raw) if raw else {}
        except ValueError:
            return raw
    return raw
