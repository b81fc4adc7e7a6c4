"""The one stage between captured content and any exporter: redaction, then size limits.

Every piece of content llmotel emits — message, instruction and tool-definition JSON on
spans and operation-details events, tool-call arguments and results, retrieval queries and
documents, workflow inputs and outputs, evaluation explanations and feedback comments —
passes through a :class:`ContentGate` exactly once, on the assembled value (so a secret
split across stream chunks is seen whole). The gate never returns the raw value when the
redactor fails: the value is dropped and counted (fail closed).

A gate exists only when content capture is on, so with capture off the hot path never
imports :mod:`llmotel.redaction` or compiles a regex. The compiled :class:`Redactor` is
shared by every gate with the same configuration; the counters are per meter (scope),
pre-aggregated in-process and reported by asynchronous instruments, so a redaction costs a
dict update rather than an SDK ``add()``.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

from llmotel import semconv as sc
from llmotel.telemetry.instruments import Totals

if TYPE_CHECKING:
    from opentelemetry.metrics import Meter

    from llmotel.redaction import RedactionConfig, Redactor, Stats

_lock = threading.Lock()
_shared: list[tuple[RedactionConfig, Redactor]] = []  # at most one entry: the latest configuration


def redactor_for(config: RedactionConfig) -> Redactor:
    """The compiled redactor for ``config``, built once and shared (compiling costs ~5 ms)."""
    with _lock:
        if _shared and _shared[0][0] == config:
            return _shared[0][1]
        from llmotel.redaction import Redactor

        redactor = Redactor(config)
        _shared[:] = [(config, redactor)]
        return redactor


class RedactionMetrics:
    """The chokepoint's self-telemetry on one meter: redactions by detector, truncations,
    failures (values dropped) and binary payloads replaced."""

    __slots__ = ("binary", "failures", "redactions", "truncations")

    def __init__(self, meter: Meter) -> None:
        self.redactions = Totals(limit=256)  # detector names come from configuration only
        self.truncations = Totals(limit=1)
        self.failures = Totals(limit=1)
        self.binary = Totals(limit=1)
        for name, totals, unit, description in (
            (sc.METRIC_REDACTIONS, self.redactions, sc.UNIT_REDACTION,
             "Matches redacted from captured content before export, by detector."),
            (sc.METRIC_REDACTION_TRUNCATIONS, self.truncations, "{value}",
             "Captured values cut to the per-value size cap."),
            (sc.METRIC_REDACTION_FAILURES, self.failures, "{value}",
             "Captured values dropped because redaction failed (fail closed)."),
            (sc.METRIC_CONTENT_BINARY_REPLACED, self.binary, "{payload}",
             "Binary or base64 payloads in captured content replaced by a placeholder."),
        ):
            meter.create_observable_counter(name, callbacks=[totals.observe], unit=unit, description=description)

    def record(self, stats: Stats) -> None:
        """Fold one value's :class:`~llmotel.redaction.Stats` into the totals."""
        for detector, n in stats.redactions.items():
            self.redactions.add(n, {sc.LLMOTEL_REDACTION_DETECTOR: detector})
        if stats.truncated:
            self.truncations.add(1)
        if stats.failed:
            self.failures.add(stats.failed)
        if stats.binary_replaced:
            self.binary.add(stats.binary_replaced)


class ContentGate:
    """Redaction and size limits for one emitter (an instrumentor, workflows, feedback)."""

    __slots__ = ("config", "metrics", "redactor")

    def __init__(self, config: RedactionConfig, metrics: RedactionMetrics) -> None:
        self.config = config
        self.redactor = redactor_for(config)
        self.metrics = metrics

    def _record(self, stats: Stats) -> None:
        if stats.redactions or stats.truncated or stats.failed or stats.binary_replaced:
            self.metrics.record(stats)

    def json(self, value: Any) -> tuple[str | None, bool]:
        """``value`` redacted, capped and encoded as compact JSON (a span attribute), and
        whether it was truncated; ``(None, False)`` when redaction failed."""
        encoded, stats = self.redactor.apply_json(value)
        self._record(stats)
        return encoded, stats.truncated

    def value(self, value: Any) -> tuple[Any | None, bool]:
        """``value`` redacted and capped, structure preserved (an event's AnyValue; a plain
        string stays a string), and whether it was truncated; ``(None, False)`` on failure."""
        out, stats = self.redactor.apply(value)
        self._record(stats)
        return out, stats.truncated

    def attributes(self, content: dict[str, Any], *, span: bool, event: bool
                   ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Gate a set of content attributes once: ``(span attributes as JSON, event
        attributes structured)``. A value whose redaction failed is left out of both; when
        any value was truncated both sides carry ``llmotel.content.truncated``."""
        on_span: dict[str, Any] = {}
        on_event: dict[str, Any] = {}
        truncated = False
        apply_both = self.redactor.apply_both
        for key, raw in content.items():
            pair, stats = apply_both(raw)
            self._record(stats)
            if pair is None:
                continue
            truncated = truncated or stats.truncated
            if span:
                on_span[key] = pair[1]
            if event:
                on_event[key] = pair[0]
        if truncated:
            if span:
                on_span[sc.LLMOTEL_CONTENT_TRUNCATED] = True
            if event:
                on_event[sc.LLMOTEL_CONTENT_TRUNCATED] = True
        return on_span, on_event


class LazyGate:
    """A :class:`ContentGate` on one meter for emitters that read the settings per call
    (workflows, feedback): built on the first captured value, rebuilt when the redaction
    configuration changes (keeping the meter's counters)."""

    __slots__ = ("_gate", "_meter", "_metrics")

    def __init__(self, meter: Meter) -> None:
        self._meter = meter
        self._metrics: RedactionMetrics | None = None
        self._gate: ContentGate | None = None

    def get(self, config: RedactionConfig | None) -> ContentGate:
        """The gate for ``config`` (``None``: the built-in defaults)."""
        gate = self._gate
        if gate is not None and (gate.config is config or config is None or gate.config == config):
            return gate
        if config is None:
            from llmotel.redaction import RedactionConfig

            config = RedactionConfig()
        with _lock:
            if self._metrics is None:
                self._metrics = RedactionMetrics(self._meter)
            metrics = self._metrics
        gate = self._gate = ContentGate(config, metrics)
        return gate
