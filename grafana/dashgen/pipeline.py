"""llmotel / Pipeline health: is telemetry getting through? Collector, llmotel's own health, backends."""

from __future__ import annotations

from grafana_foundation_sdk.builders import timeseries

from grafana.dashgen.core import (
    DATASOURCE,
    ENV,
    PERCENT,
    SERVICE,
    SERVICES,
    SHORT,
    Board,
    Q,
    rate,
    timeseries_panel,
)

SIGNALS = (("spans", "spans"), ("metric_points", "metric points"), ("log_records", "log records"))
BACKENDS = 'job=~"otel-collector|prometheus|tempo|loki|alertmanager|grafana"'
NONE = ""  # backend self-metrics: their own scrape jobs, never filtered by the app's service


def _per_signal(metric: str, by: str, title: str, description: str) -> timeseries.Panel:
    return timeseries_panel(title, description, SHORT, *(
        Q(f"sum by ({by}) ({rate(metric.format(s), NONE)})", f"{{{{{by}}}}} {what}") for s, what in SIGNALS))


def _self(metric: str, title: str, description: str, by: str = "") -> timeseries.Panel:
    expr = f"sum by ({by}) ({rate(metric, SERVICE)})" if by else f"sum ({rate(metric, SERVICE)})"
    return timeseries_panel(title, description, SHORT, Q(expr, f"{{{{{by}}}}}" if by else title), w=8)


def board() -> Board:
    return Board("llmotel-pipeline", "OpenTelemetry Collector receive / refuse / drop / queue metrics, llmotel's "
                 "self-metrics (instrumentation errors, abandoned streams, redactions, truncations) and backend "
                 "ingestion (Prometheus, Loki, Tempo).", [
        ("Collector", [
            _per_signal("otelcol_receiver_accepted_{}_total", "receiver", "Accepted by receivers",
                        "Items per second the collector's receivers accepted."),
            _per_signal("otelcol_receiver_refused_{}_total", "receiver", "Refused by receivers",
                        "Items per second refused (memory limiter, bad data): the sender must retry or drop."),
            _per_signal("otelcol_exporter_send_failed_{}_total", "exporter", "Export failures",
                        "Items per second an exporter failed to send (retried from the queue)."),
            _per_signal("otelcol_exporter_enqueue_failed_{}_total", "exporter", "Dropped: queue full",
                        "Items per second lost because an exporter's sending queue was full."),
            timeseries_panel("Exporter queue usage", "Sending-queue size / capacity per exporter: near 100 % the "
                             "next items are dropped.", PERCENT,
                             Q("max by (exporter) (otelcol_exporter_queue_size / otelcol_exporter_queue_capacity)",
                               "{{exporter}}")),
            timeseries_panel("Removed by processors", "Items per second in minus out per processor: tail sampling "
                             "and filters remove items on purpose; the memory limiter only under pressure.", SHORT,
                             Q("sum by (processor, otel_signal) (rate(otelcol_processor_incoming_items_total"
                               "[$__rate_interval])) - sum by (processor, otel_signal) (rate("
                               "otelcol_processor_outgoing_items_total[$__rate_interval]))",
                               "{{processor}} {{otel_signal}}")),
        ]),
        ("llmotel self-metrics", [
            _self("llmotel_instrumentation_errors_total", "Instrumentation errors", "Failures of llmotel's own code "
                  "per hook; the application call was unaffected.", "llmotel_hook"),
            _self("llmotel_streams_abandoned_total", "Abandoned streams", "Streams garbage-collected before they were "
                  "exhausted or closed."),
            timeseries_panel("Active streams", "Streams whose span is still open.", SHORT,
                             Q(f"sum(llmotel_streams_active{SERVICE})", "active"), w=8),
            _self("llmotel_redaction_redactions_total", "Redactions by detector", "Matches redacted from captured "
                  "content before export.", "llmotel_redaction_detector"),
            _self("llmotel_redaction_truncations_total", "Truncated values", "Captured values cut to "
                  "LLMOTEL_CONTENT_MAX_BYTES."),
            _self("llmotel_redaction_failures_total", "Redaction failures", "Captured values dropped because "
                  "redaction failed (fail closed)."),
            _self("llmotel_content_binary_replaced_total", "Binary payloads replaced", "Images, audio and base64 "
                  "payloads replaced by a placeholder."),
        ]),
        ("Backends", [
            timeseries_panel("Backends up", "1 = the scrape of each stack component succeeds.", SHORT,
                             Q(f"max by (job) (up{{{BACKENDS}}})", "{{job}}"), w=8),
            timeseries_panel("Prometheus samples ingested", "Samples per second appended to Prometheus's head "
                             "block (OTLP, remote write and scrapes).", SHORT,
                             Q("sum (rate(prometheus_tsdb_head_samples_appended_total[$__rate_interval]))",
                               "samples"), w=8),
            timeseries_panel("Prometheus rule failures", "Recording and alert rule evaluations that failed, per "
                             "group: a failing rule leaves dashboards and alerts blind.", SHORT,
                             Q("sum by (rule_group) (rate(prometheus_rule_evaluation_failures_total"
                               "[$__rate_interval]))", "{{rule_group}}"), w=8),
            timeseries_panel("Loki lines received", "Log lines per second Loki's distributor received.", SHORT,
                             Q("sum (rate(loki_distributor_lines_received_total[$__rate_interval]))", "lines"), w=8),
            timeseries_panel("Loki discarded lines", "Lines Loki rejected, by reason (structured metadata too "
                             "large, rate limit, too old).", SHORT,
                             Q("sum by (reason) (rate(loki_discarded_samples_total[$__rate_interval]))", "{{reason}}"),
                             w=8),
            timeseries_panel("Tempo spans received", "Spans per second Tempo's distributor received.", SHORT,
                             Q("sum (rate(tempo_distributor_spans_received_total[$__rate_interval]))", "spans"), w=8),
            timeseries_panel("Tempo truncated attributes", "Attributes Tempo cut at max_attribute_bytes: long "
                             "prompts on spans lose their tail.", SHORT,
                             Q("sum by (scope) (rate(tempo_distributor_attributes_truncated_total[$__rate_interval]))",
                               "{{scope}}"), w=24),
        ]),
    ], variables=(DATASOURCE, ENV, SERVICES))
