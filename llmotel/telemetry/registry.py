"""Recently finished inference calls, by ``gen_ai.response.id``, for post-hoc feedback.

Feedback often arrives after the span ended and knows only the provider's response id
the app stored next to its message. A bounded LRU map from response id to span context
lets ``record_feedback(response_id=...)`` find the trace without any backend query.
"""

from __future__ import annotations

import contextlib

from opentelemetry.trace import SpanContext

_MAX = 10_000
# A plain dict keeps insertion order; single dict operations are atomic under the GIL,
# so the per-call write needs no lock (a rare lost eviction only delays one).
_by_response_id: dict[str, tuple[SpanContext, dict[str, object]]] = {}


def remember(response_id: str, span_context: SpanContext, attributes: dict[str, object]) -> None:
    """Keep ``response_id`` → (span context, low-cardinality attributes of the call)."""
    _by_response_id[response_id] = (span_context, attributes)
    if len(_by_response_id) > _MAX:
        with contextlib.suppress(KeyError, StopIteration, RuntimeError):
            del _by_response_id[next(iter(_by_response_id))]


def lookup(response_id: str) -> tuple[SpanContext, dict[str, object]] | None:
    """The span context and call attributes for ``response_id``, if still remembered."""
    return _by_response_id.get(response_id)
