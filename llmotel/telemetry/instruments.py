"""The metric instruments llmotel records, created once per meter provider."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry.metrics import CallbackOptions, Meter, Observation

from llmotel import semconv as sc


class Totals:
    """Cumulative sums per attribute set, read by an asynchronous instrument's callback.

    ``add`` is a dict update under the GIL; series beyond ``limit`` fold into one
    overflow series (as the SDK does for synchronous instruments), so memory is bounded.
    """

    __slots__ = ("_limit", "_sums")

    def __init__(self, limit: int = 2000) -> None:
        self._sums: dict[tuple[tuple[str, Any], ...], float] = {}
        self._limit = limit

    def add(self, amount: float, attributes: dict[str, Any] | None = None) -> None:
        """Add ``amount`` to the series of ``attributes``."""
        key = tuple(attributes.items()) if attributes else ()
        sums = self._sums
        if key in sums:
            sums[key] += amount
        elif len(sums) < self._limit:
            sums[key] = amount
        else:
            overflow = (("otel.metric.overflow", True),)
            sums[overflow] = sums.get(overflow, 0) + amount

    def observe(self, options: CallbackOptions) -> Iterable[Observation]:
        """The callback: every series' cumulative total."""
        return [Observation(value, dict(key)) for key, value in list(self._sums.items())]


class Instruments:
    """Histograms and counters of the GenAI conventions plus llmotel's self-metrics."""

    __slots__ = (
        "abandoned_streams",
        "active_streams",
        "cost",
        "duration",
        "errors",
        "ratelimit_latest",
        "retries",
        "throttled",
        "time_per_chunk",
        "token_usage",
        "ttfc",
        "unpriced",
        "usage_cache_read",
        "usage_cache_write",
        "usage_input",
        "usage_output",
        "usage_reasoning",
    )

    def __init__(self, meter: Meter, *, inference_usage_metrics: bool) -> None:
        self.duration = meter.create_histogram(
            sc.METRIC_OPERATION_DURATION,
            unit="s",
            description="GenAI operation duration.",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )
        self.token_usage = meter.create_histogram(
            sc.METRIC_TOKEN_USAGE,
            unit="{token}",
            description="Number of input and output tokens used.",
            explicit_bucket_boundaries_advisory=list(sc.TOKEN_BUCKETS),
        )
        self.ttfc = meter.create_histogram(
            sc.METRIC_TIME_TO_FIRST_CHUNK,
            unit="s",
            description="Time from the request until the first response chunk arrived.",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )
        self.time_per_chunk = meter.create_histogram(
            sc.METRIC_TIME_PER_OUTPUT_CHUNK,
            unit="s",
            description="Time between consecutive response chunks after the first.",
            explicit_bucket_boundaries_advisory=list(sc.DURATION_BUCKETS),
        )
        self.errors = meter.create_counter(
            sc.METRIC_INSTRUMENTATION_ERRORS,
            unit="{error}",
            description="Failures inside llmotel's own code; the application call was unaffected.",
        )
        self.abandoned_streams = meter.create_counter(
            sc.METRIC_STREAMS_ABANDONED,
            unit="{stream}",
            description="Streams garbage-collected before they were exhausted or closed.",
        )
        # Per-call and per-stream totals are pre-aggregated in-process and reported by
        # asynchronous instruments at collection time: an SDK add() costs ~100k CPU
        # instructions (~10 us), a dict update well under 1 us. Same Prometheus series.
        self.active_streams = Totals()
        meter.create_observable_up_down_counter(
            sc.METRIC_STREAMS_ACTIVE, callbacks=[self.active_streams.observe], unit="{stream}",
            description="Streams whose span is still open.")
        # Headroom is a "latest value": calls only store it (a dict write), and the
        # observable gauges report it at collection time instead of per call.
        self.ratelimit_latest: dict[tuple[Any, str], dict[str, int]] = {}
        meter.create_observable_gauge(
            sc.METRIC_RATELIMIT_LIMIT, callbacks=[self._observe("limit")], unit="{unit}",
            description="Provider rate limit per resource (requests or tokens), from response headers.")
        meter.create_observable_gauge(
            sc.METRIC_RATELIMIT_REMAINING, callbacks=[self._observe("remaining")], unit="{unit}",
            description="Provider rate-limit headroom left per resource, from response headers.")
        self.cost = Totals()
        meter.create_observable_counter(
            sc.METRIC_COST, callbacks=[self.cost.observe], unit="{USD}",
            description="Cost of GenAI calls in US dollars (llmotel.cost.source says how each was priced).")
        self.unpriced = meter.create_counter(
            sc.METRIC_UNPRICED, unit="{call}",
            description="Calls llmotel could not price (unknown model or no usage reported); never counted as $0.")
        self.throttled = meter.create_counter(
            sc.METRIC_THROTTLED, unit="{attempt}",
            description="Attempts the provider throttled or rejected as overloaded (429, 529, 503).")
        self.retries = meter.create_counter(
            sc.METRIC_RETRIES, unit="{retry}", description="Retries the client SDK made inside one logical call.")
        self.usage_input = self.usage_output = None
        self.usage_cache_read = self.usage_cache_write = self.usage_reasoning = None
        if inference_usage_metrics:
            def counter(name: str, description: str):
                return meter.create_counter(name, unit="{token}", description=description)

            self.usage_input = counter(sc.METRIC_USAGE_INPUT_TOKENS, "Input tokens, cached included.")
            self.usage_output = counter(sc.METRIC_USAGE_OUTPUT_TOKENS, "Output tokens, reasoning included.")
            self.usage_cache_read = counter(sc.METRIC_USAGE_CACHE_READ_INPUT_TOKENS, "Input tokens read from cache.")
            self.usage_cache_write = counter(
                sc.METRIC_USAGE_CACHE_WRITE_INPUT_TOKENS, "Input tokens written to cache."
            )
            self.usage_reasoning = counter(sc.METRIC_USAGE_REASONING_OUTPUT_TOKENS, "Reasoning output tokens.")

    def _observe(self, field: str) -> Callable[[CallbackOptions], Iterable[Observation]]:
        from llmotel.telemetry.ratelimits import ATTRIBUTES

        latest = self.ratelimit_latest

        def callback(options: CallbackOptions) -> Iterable[Observation]:
            out = []
            for (provider, model), values in list(latest.items()):
                for attribute, value in values.items():
                    resource, kind = ATTRIBUTES[attribute]
                    if kind == field:
                        out.append(Observation(value, {
                            sc.GEN_AI_PROVIDER_NAME: provider,
                            sc.GEN_AI_REQUEST_MODEL: model,
                            sc.LLMOTEL_RATELIMIT_RESOURCE: resource,
                        }))
            return out

        return callback
