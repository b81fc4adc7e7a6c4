"""The end-of-demo summary: per model, what the spans llmotel recorded say.

A span processor on the demo's tracer provider tallies every finished inference span, so
the table shows what was *exported* (not what the demo meant to do): calls, errors,
latency and time-to-first-token percentiles, tokens and cost, per provider and model.
"""

from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass, field

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from llmotel import semconv as sc

_INFERENCE = frozenset({sc.OP_CHAT, sc.OP_EMBEDDINGS, sc.OP_TEXT_COMPLETION})


@dataclass
class ModelStats:
    """What the spans of one model said."""

    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    durations: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))]


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}"


class SummaryProcessor(SpanProcessor):
    """Tallies finished inference spans per (provider, model) for the end-of-demo table."""

    def __init__(self) -> None:
        self.stats: dict[tuple[str, str], ModelStats] = defaultdict(ModelStats)
        self._lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        """Count one finished span."""
        attrs = span.attributes or {}
        if attrs.get(sc.GEN_AI_OPERATION_NAME) not in _INFERENCE:
            return  # workflow, agent, tool and retrieval spans (and other libraries') are not in the table
        key = (str(attrs.get(sc.GEN_AI_PROVIDER_NAME, "?")), str(attrs.get(sc.GEN_AI_REQUEST_MODEL, "?")))
        with self._lock:
            stats = self.stats[key]
            stats.calls += 1
            stats.errors += sc.ERROR_TYPE in attrs
            stats.input_tokens += int(attrs.get(sc.GEN_AI_USAGE_INPUT_TOKENS, 0) or 0)
            stats.output_tokens += int(attrs.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS, 0) or 0)
            stats.cost_usd += float(attrs.get(sc.LLMOTEL_COST_AMOUNT, 0.0) or 0.0)
            ttft = attrs.get(sc.GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK)
            if isinstance(ttft, int | float):
                stats.ttfts.append(float(ttft))
            if span.end_time and span.start_time:
                stats.durations.append((span.end_time - span.start_time) / 1e9)

    def table(self) -> str:
        """A fixed-width table, one row per provider and model."""
        rows = [f"{'provider':<10} {'model':<24} {'calls':>5} {'errors':>6} {'p50 ms':>7} {'p95 ms':>7} "
                f"{'TTFT ms':>7} {'in tok':>8} {'out tok':>8} {'cost USD':>10}"]
        with self._lock:
            items = sorted(self.stats.items())
        for (provider, model), s in items:
            rows.append(
                f"{provider:<10} {model:<24} {s.calls:>5} {s.errors:>6} {_ms(_percentile(s.durations, 0.5)):>7} "
                f"{_ms(_percentile(s.durations, 0.95)):>7} {_ms(_percentile(s.ttfts, 0.5)):>7} "
                f"{s.input_tokens:>8} {s.output_tokens:>8} {s.cost_usd:>10.4f}")
        return "\n".join(rows)
