"""Recently finished inference calls, by ``gen_ai.response.id``, for post-hoc feedback.

Feedback often arrives after the span ended and knows only the provider's response id
the app stored next to its message. A bounded LRU map from response id to span context
lets ``record_feedback(response_id=...)`` find the trace without any backend query.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

from opentelemetry.trace import SpanContext

_MAX = 10_000
_lock = threading.Lock()
_by_response_id: OrderedDict[str, tuple[SpanContext, dict[str, object]]] = OrderedDict()


def remember(response_id: str, span_context: SpanContext, attributes: dict[str, object]) -> None:
    """Keep ``response_id`` → (span context, low-cardinality attributes of the call)."""
    with _lock:
        _by_response_id[response_id] = (span_context, attributes)
        _by_response_id.move_to_end(response_id)
        if len(_by_response_id) > _MAX:
            _by_response_id.popitem(last=False)


def lookup(response_id: str) -> tuple[SpanContext, dict[str, object]] | None:
    """The span context and call attributes for ``response_id``, if still remembered."""
    with _lock:
        return _by_response_id.get(response_id)
