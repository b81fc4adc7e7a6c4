"""llmotel / Alerts: what is firing or about to, by severity, and whether notifications go out."""

from __future__ import annotations

from grafana_foundation_sdk.builders import stat

from grafana.dashgen.core import DATASOURCE, SHORT, Board, Q, stat_panel, table_panel, timeseries_panel

# Watchdog always fires (the dead man's switch that proves the alerting pipeline works): it gets
# its own stat and is left out of every list, so "nothing firing" looks empty.
FIRING = 'ALERTS{alertstate="firing", alertname!="Watchdog"}'
PENDING = 'ALERTS{alertstate="pending"}'
RED = ((None, "green"), (1, "red"))


def _count(severity: str) -> stat.Panel:
    # `or vector(0)`: a healthy system shows 0, not "No data".
    return stat_panel(f"Firing: {severity}", f"Alerts with severity={severity} firing now.", SHORT,
                      Q(f'count({FIRING[:-1]}, severity="{severity}"}}) or vector(0)'),
                      steps=RED, w=4)


def board() -> Board:
    return Board("llmotel-alerts", "Alerts Prometheus evaluates from prometheus/rules/: firing and pending by "
                 "severity, recent history, and Alertmanager's notifications.", [
        ("Now", [
            *(_count(s) for s in ("critical", "warning", "info")),
            stat_panel("Pending", "Alerts whose condition holds but not yet for their `for:` duration.", SHORT,
                       Q(f"count({PENDING}) or vector(0)"), steps=((None, "green"), (1, "orange")), w=4),
            stat_panel("Watchdog", "1 = Prometheus evaluates the alert rules (Watchdog always fires; 0 means "
                       "alerting itself is broken).", SHORT,
                       Q('max(ALERTS{alertname="Watchdog", alertstate="firing"}) or vector(0)'),
                       steps=((None, "red"), (1, "green")), w=8),
            table_panel("Firing alerts", "Every firing alert with its labels (service, provider, model).", SHORT,
                        Q(f"max by (alertname, severity, job, gen_ai_provider_name, gen_ai_request_model) ({FIRING})",
                          "firing"), w=24),
            table_panel("Pending alerts", "Conditions that hold, not yet for long enough to fire.", SHORT,
                        Q(f"max by (alertname, severity, job, gen_ai_provider_name, gen_ai_request_model) ({PENDING})",
                          "pending"), w=24),
        ]),
        ("History", [
            timeseries_panel("Alerts over time by severity", "Firing alerts per severity over the selected range.",
                             SHORT, Q(f"count by (severity) ({FIRING})", "{{severity}}"), stack=True),
            timeseries_panel("Alerts over time by name", "Firing alerts per name.", SHORT,
                             Q(f"count by (alertname) ({FIRING})", "{{alertname}}")),
            timeseries_panel("Notifications sent", "Alertmanager notifications per second by integration (Slack, "
                             "PagerDuty, email, webhook).", SHORT,
                             Q("sum by (integration) (rate(alertmanager_notifications_total[$__rate_interval]))",
                               "{{integration}}")),
            timeseries_panel("Notifications failed", "Failed notification attempts by integration and reason.",
                             SHORT, Q("sum by (integration, reason) (rate("
                                      "alertmanager_notifications_failed_total[$__rate_interval]))",
                                      "{{integration}} {{reason}}")),
        ]),
    ], variables=(DATASOURCE,))
