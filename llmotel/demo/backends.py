"""Local mode's real backends: Prometheus and Alertmanager binaries, started on loopback.

When ``scripts/fetch-backends`` has put the real binaries in ``.cache/backends/bin`` (or
``LLMOTEL_BACKENDS_BIN`` names a folder that has them; ``LLMOTEL_PROMETHEUS_DIR`` a copy of
the project's ``prometheus/`` folder), ``llmotel demo`` in local mode
starts Prometheus scraping the SDK's Prometheus endpoint with the project's own recording
and alert rules (``prometheus/rules/``), and Alertmanager with the project's own routing
(``prometheus/alertmanager/alertmanager.yml``) — its Slack, PagerDuty, e-mail and webhook
receivers pointed at a small HTTP sink in this process instead of the real services, so
the alerts really fire, route and resolve without any account. Everything binds
127.0.0.1 and lives in a temporary folder removed at the end.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# Where the project keeps its backend configuration and fetched binaries (a source checkout).
PROJECT = Path(__file__).resolve().parents[2]
BINARIES = {"prometheus": "prometheus", "promtool": "promtool", "alertmanager": "alertmanager", "amtool": "amtool"}


def bin_dir() -> Path:
    """The folder the real binaries are looked up in."""
    return Path(os.environ.get("LLMOTEL_BACKENDS_BIN") or PROJECT / ".cache" / "backends" / "bin")


def find_binary(name: str) -> Path | None:
    """The path of backend binary ``name`` (``prometheus``, ``alertmanager``, …), if fetched."""
    path = bin_dir() / BINARIES[name]
    return path if path.is_file() and os.access(path, os.X_OK) else None


def config_dir() -> Path:
    """The project's ``prometheus/`` folder (``LLMOTEL_PROMETHEUS_DIR`` for a copy elsewhere)."""
    return Path(os.environ.get("LLMOTEL_PROMETHEUS_DIR") or PROJECT / "prometheus")


def rule_files() -> list[Path]:
    """The project's rule files (recording and alerting), in a stable order."""
    return sorted((config_dir() / "rules").glob("*.yml"))


def alertmanager_config() -> Path | None:
    """The project's Alertmanager configuration, if this is a source checkout that has one."""
    path = config_dir() / "alertmanager" / "alertmanager.yml"
    return path if path.is_file() else None


def free_port() -> int:
    """An unused TCP port on 127.0.0.1."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, timeout: float, proc: subprocess.Popen[bytes] | None = None) -> None:
    """Poll ``url`` until it answers 2xx; fail early if ``proc`` exits."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            log = Path(getattr(proc, "log_path", ""))
            tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.is_file() else []
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode} before {url} answered"
                               + "".join(f"\n  {line}" for line in tail))
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if 200 <= response.status < 300:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s ({last})")


def get_json(url: str) -> Any:
    """GET ``url`` and decode its JSON body."""
    with urllib.request.urlopen(url, timeout=5) as response:
        return json.load(response)


# --- the notification sink --------------------------------------------------------------


@dataclass
class Notification:
    """One notification Alertmanager sent, as the receiving service would have seen it."""

    channel: str  # slack, pagerduty, email, webhook
    body: Any
    received: float = field(default_factory=time.time)


class NotificationSink:
    """An HTTP server on 127.0.0.1 standing in for Slack, PagerDuty and webhook endpoints."""

    def __init__(self) -> None:
        self.notifications: list[Notification] = []
        self._lock = threading.Lock()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                try:
                    body: Any = json.loads(raw)
                except ValueError:
                    body = raw.decode("utf-8", "replace")
                with sink._lock:
                    sink.notifications.append(Notification(self.path.strip("/").split("/")[0], body))
                self.send_response(202 if "pagerduty" in self.path else 200)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(b'{"status":"success","ok":true}')

            def log_message(self, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="llmotel-alert-sink", daemon=True)
        self._thread.start()

    def received(self) -> list[Notification]:
        """A snapshot of what arrived so far."""
        with self._lock:
            return list(self.notifications)

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()


def local_alertmanager_config(source: Path, sink_url: str, secrets: Path) -> str:
    """The project's Alertmanager config with every receiver pointed at the sink.

    Routing, grouping, inhibition and templates stay the project's; only where notifications
    go changes: Slack and webhook URLs, PagerDuty's events URL (with a dummy routing key),
    and e-mail receivers become webhooks (the demo has no mail server). Template paths are
    made absolute so the copy still finds them.
    """
    import yaml

    config = yaml.safe_load(source.read_text(encoding="utf-8")) or {}
    slack_url = secrets / "slack_webhook_url"
    slack_url.write_text(f"{sink_url}/slack\n", encoding="utf-8")
    routing_key = secrets / "pagerduty_routing_key"
    routing_key.write_text("local-demo-routing-key\n", encoding="utf-8")
    glob = config.setdefault("global", {}) or {}
    for key in list(glob):
        if key.startswith(("slack_api_url", "pagerduty_url", "smtp_")):
            del glob[key]
    glob["slack_api_url_file"] = str(slack_url)
    for receiver in config.get("receivers", []) or []:
        for slack in receiver.get("slack_configs", []) or []:
            slack.pop("api_url", None)
            slack["api_url_file"] = str(slack_url)
        for pd in receiver.get("pagerduty_configs", []) or []:
            for key in ("routing_key", "service_key", "service_key_file"):
                pd.pop(key, None)
            pd["routing_key_file"] = str(routing_key)
            pd["url"] = f"{sink_url}/pagerduty"
        hooks = receiver.setdefault("webhook_configs", []) or []
        for hook in hooks:
            hook.pop("url_file", None)
            hook["url"] = f"{sink_url}/webhook"
        if receiver.pop("email_configs", None):
            hooks.append({"url": f"{sink_url}/email", "send_resolved": True})
        receiver["webhook_configs"] = hooks
        if not receiver["webhook_configs"]:
            del receiver["webhook_configs"]
    config["templates"] = [str((source.parent / t).resolve()) if not os.path.isabs(t) else t
                           for t in config.get("templates", []) or []]
    return yaml.safe_dump(config, sort_keys=False)


# --- the processes ----------------------------------------------------------------------


@dataclass
class LocalStack:
    """Running Prometheus (and Alertmanager, with its sink) for local mode."""

    prometheus_url: str
    alertmanager_url: str | None
    sink: NotificationSink | None
    workdir: Path
    processes: list[subprocess.Popen[bytes]]

    def alerts(self) -> list[dict[str, Any]]:
        """Prometheus's active alerts (pending and firing)."""
        return list(get_json(f"{self.prometheus_url}/api/v1/alerts")["data"]["alerts"])


def prometheus_config(scrape_target: str, job: str, rules: list[Path], alertmanager: str | None,
                      interval: str = "1s") -> str:
    """A Prometheus configuration that scrapes one SDK endpoint as ``job`` with the project's rules.

    The scrape job is named after the service, so ``job`` means the same as on the compose
    path, where Prometheus's OTLP receiver derives it from ``service.name``.
    """
    import yaml

    config: dict[str, Any] = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(p) for p in rules],
        "scrape_configs": [{"job_name": job, "static_configs": [{"targets": [scrape_target]}]}],
    }
    if alertmanager:
        config["alerting"] = {"alertmanagers": [{"static_configs": [{"targets": [alertmanager]}]}]}
    return yaml.safe_dump(config, sort_keys=False)


@contextlib.contextmanager
def start_local_stack(scrape_target: str, job: str, *, interval: str = "1s",
                      with_alertmanager: bool = True) -> Iterator[LocalStack]:
    """Start Prometheus (and Alertmanager) on free loopback ports; stop and clean up on exit.

    Raises ``FileNotFoundError`` when the Prometheus binary has not been fetched.
    """
    prometheus = find_binary("prometheus")
    if prometheus is None:
        raise FileNotFoundError(f"no Prometheus binary in {bin_dir()} (run scripts/fetch-backends)")
    alertmanager = find_binary("alertmanager") if with_alertmanager else None
    am_source = alertmanager_config() if alertmanager else None
    workdir = Path(tempfile.mkdtemp(prefix="llmotel-local-"))
    processes: list[subprocess.Popen[bytes]] = []
    sink = None
    try:
        am_url = None
        am_target = None
        if alertmanager is not None and am_source is not None:
            sink = NotificationSink()
            (workdir / "secrets").mkdir()
            am_file = workdir / "alertmanager.yml"
            am_file.write_text(local_alertmanager_config(am_source, sink.url, workdir / "secrets"), encoding="utf-8")
            port = free_port()
            am_target = f"127.0.0.1:{port}"
            am_url = f"http://{am_target}"
            processes.append(_spawn([str(alertmanager), f"--config.file={am_file}",
                                     f"--storage.path={workdir / 'am-data'}", f"--web.listen-address={am_target}",
                                     "--cluster.listen-address="], workdir / "alertmanager.log"))
            wait_http(f"{am_url}/-/ready", 30, processes[-1])
        prom_file = workdir / "prometheus.yml"
        prom_file.write_text(prometheus_config(scrape_target, job, rule_files(), am_target, interval), encoding="utf-8")
        port = free_port()
        prom_url = f"http://127.0.0.1:{port}"
        processes.append(_spawn([str(prometheus), f"--config.file={prom_file}",
                                 f"--storage.tsdb.path={workdir / 'prom-data'}",
                                 f"--web.listen-address=127.0.0.1:{port}"], workdir / "prometheus.log"))
        wait_http(f"{prom_url}/-/ready", 30, processes[-1])
        yield LocalStack(prom_url, am_url, sink, workdir, processes)
    finally:
        for proc in reversed(processes):
            _stop(proc)
        if sink is not None:
            sink.close()
        shutil.rmtree(workdir, ignore_errors=True)


def _die_with_parent() -> Any:
    """A ``preexec_fn`` (Linux): the child gets SIGTERM when the demo dies, even by SIGKILL.

    Resolved here, in the parent: after fork only the ready function call runs (no import,
    no lock another thread of the demo could be holding)."""
    import ctypes
    import functools
    import signal

    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    return functools.partial(prctl, 1, int(signal.SIGTERM))  # PR_SET_PDEATHSIG


def _spawn(argv: list[str], log: Path) -> subprocess.Popen[bytes]:
    # A killed demo must not leave Prometheus and Alertmanager running on the machine.
    import sys

    with open(log, "wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                preexec_fn=_die_with_parent() if sys.platform == "linux" else None)
    proc.log_path = str(log)  # type: ignore[attr-defined]  # for wait_http's error message
    return proc


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)


# --- watching alerts --------------------------------------------------------------------


@dataclass
class AlertRecord:
    """One alert's life as the demo saw it."""

    name: str
    labels: dict[str, str]
    fired_at: float | None = None
    resolved_at: float | None = None


class AlertWatcher:
    """Polls Prometheus's alerts once a second; remembers which fired and which resolved."""

    def __init__(self, stack: LocalStack, interval: float = 1.0) -> None:
        self.stack = stack
        self.records: dict[tuple[str, tuple[tuple[str, str], ...]], AlertRecord] = {}
        self._stop = threading.Event()
        self._interval = interval
        self._thread = threading.Thread(target=self._run, name="llmotel-alert-watch", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            with contextlib.suppress(Exception):  # a slow or restarting Prometheus: try again
                self.poll()

    def poll(self) -> None:
        """One look at Prometheus's alerts."""
        now = time.time()
        firing = set()
        for alert in self.stack.alerts():
            if alert.get("state") != "firing":
                continue
            labels = dict(alert.get("labels", {}))
            name = labels.pop("alertname", "?")
            key = (name, tuple(sorted(labels.items())))
            firing.add(key)
            record = self.records.setdefault(key, AlertRecord(name, labels))
            if record.fired_at is None or record.resolved_at is not None:
                record.fired_at, record.resolved_at = now, None
        for key, record in self.records.items():
            if key not in firing and record.fired_at is not None and record.resolved_at is None:
                record.resolved_at = now

    def stop(self) -> list[AlertRecord]:
        """Stop polling; the alerts seen, in the order they first fired."""
        self._stop.set()
        self._thread.join(timeout=5)
        return sorted(self.records.values(), key=lambda r: r.fired_at or 0.0)
