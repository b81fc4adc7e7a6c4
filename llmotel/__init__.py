"""llmotel: OpenTelemetry for LLM applications.

``llmotel.init()`` sets up OpenTelemetry (or reuses the providers already installed)
and instruments every supported LLM client library that is installed. The rest of the
public API (attribution, workflow spans, feedback) is imported on first use, so
``import llmotel`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import Any

from llmotel.config import ConfigError, ContentMode, Settings
from llmotel.sdk import init, shutdown

__version__ = "0.1.0"

# public name -> module that defines it (imported lazily by __getattr__)
_LAZY = {
    "attributes": "llmotel.attribution",
    "workflow": "llmotel.workflows",
    "agent": "llmotel.workflows",
    "tool": "llmotel.workflows",
    "retrieval": "llmotel.workflows",
    "branch": "llmotel.workflows",
    "record_feedback": "llmotel.feedback",
    "record_evaluation": "llmotel.feedback",
    "current_trace_id": "llmotel.feedback",
    "current_span_id": "llmotel.feedback",
    "current_handle": "llmotel.feedback",
    "SpanHandle": "llmotel.feedback",
    "EvaluationRunner": "llmotel.evaluators",
}

__all__ = ["ConfigError", "ContentMode", "Settings", "init", "shutdown", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'llmotel' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
