"""Test helpers for the real backend binaries (fetched by scripts/fetch-backends).

A missing binary skips the test with the reason, unless ``LLMOTEL_REQUIRE_BACKENDS=1``
(set by scripts/test), which makes it a failure: CI cannot pass by skipping. Spawning,
readiness polling and stopping are local mode's own code (``llmotel.demo.backends``), so
tests and ``llmotel demo --local`` handle the processes one way.

    with prometheus(scrape_config("app", "127.0.0.1:9464"), rule_files()) as prom:
        until("a scrape", lambda: prom.query('up{job="app"} == 1'))
"""

from __future__ import annotations

import contextlib
import os
import shutil
import struct
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import pytest
import yaml

from llmotel.demo import backends as local

ROOT = Path(__file__).resolve().parents[1]
T = TypeVar("T")
free_port = local.free_port
get_json = local.get_json
rule_files = local.rule_files  # the project's prometheus/rules/*.yml


def require(name: str) -> Path:
    """The path of backend binary ``name`` (``prometheus``, ``promtool``, ``alertmanager``,
    ``amtool``, ``docker-compose``), or skip/fail."""
    path = local.bin_dir() / name
    if path.is_file() and os.access(path, os.X_OK):
        return path
    reason = f"no {name} binary in {local.bin_dir()} (run scripts/fetch-backends)"
    if os.environ.get("LLMOTEL_REQUIRE_BACKENDS") == "1":
        pytest.fail(f"LLMOTEL_REQUIRE_BACKENDS=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def run(name: str, *args: str | os.PathLike[str], cwd: Path = ROOT, timeout: float = 60) -> str:
    """Run a backend tool; fail the test with its output unless it exits 0."""
    proc = subprocess.run([str(require(name)), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, f"{name} {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


def until(what: str, check: Callable[[], T], timeout: float = 30, every: float = 0.2) -> T:
    """Poll ``check`` until it returns something truthy (and return it); fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:g} s waiting for {what}", pytrace=False)
        time.sleep(every)


def scrape_config(job: str, *targets: str) -> str:
    """A Prometheus config text with one scrape job (named after the service, as local mode does)."""
    return yaml.safe_dump({"scrape_configs": [{"job_name": job, "static_configs": [{"targets": list(targets)}]}]})


# --- Prometheus ---------------------------------------------------------------------------


@dataclass
class Prometheus:
    """A running Prometheus: its URL and a few API calls."""

    url: str
    workdir: Path

    def query(self, expr: str) -> list[dict[str, Any]]:
        """An instant query's result (a vector, or a matrix for a range selector)."""
        body = get_json(f"{self.url}/api/v1/query?query={quote(expr)}")
        return list(body["data"]["result"])

    def api(self, path: str) -> Any:
        """``GET /api/v1/<path>``'s data."""
        return get_json(f"{self.url}/api/v1/{path}")["data"]

    def remote_write(self, series: Iterable[tuple[Mapping[str, str], Sequence[tuple[int, float]]]]) -> None:
        """Push ``(labels incl. __name__, [(timestamp ms, value), ...])`` through the remote-write receiver."""
        request = urllib.request.Request(f"{self.url}/api/v1/write", data=_snappy(_write_request(series)), headers={
            "Content-Encoding": "snappy", "Content-Type": "application/x-protobuf",
            "X-Prometheus-Remote-Write-Version": "0.1.0"})
        with urllib.request.urlopen(request, timeout=10) as response:
            assert 200 <= response.status < 300, response.status


@contextlib.contextmanager
def prometheus(config: str = "", rules: Iterable[Path] = (), *, interval: str = "1s",
               port: int | None = None) -> Iterator[Prometheus]:
    """Start the real Prometheus on 127.0.0.1 (``port``, else a free one) with ``config`` (YAML
    text), ``rules`` and ``interval`` as scrape and evaluation interval (unless the config sets
    them), storage in a temporary folder and the remote-write receiver on; ready when
    ``/api/v1/query`` answers. Pass ``port`` when the config must name Prometheus itself."""
    binary = require("prometheus")
    settings: dict[str, Any] = yaml.safe_load(config) or {}
    glob = settings.setdefault("global", {})
    glob.setdefault("scrape_interval", interval)
    glob.setdefault("evaluation_interval", interval)
    settings["rule_files"] = [*settings.get("rule_files", []), *map(str, rules)]
    with _workdir("llmotel-prometheus-") as workdir:
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(settings, sort_keys=False))
        address = f"127.0.0.1:{port or free_port()}"
        with _process([str(binary), f"--config.file={workdir / 'prometheus.yml'}",
                       f"--storage.tsdb.path={workdir / 'data'}", f"--web.listen-address={address}",
                       "--web.enable-remote-write-receiver"], workdir / "prometheus.log",
                      f"http://{address}/api/v1/query?query=up"):
            yield Prometheus(f"http://{address}", workdir)


# --- Alertmanager -------------------------------------------------------------------------


@dataclass
class Alertmanager:
    """A running Alertmanager."""

    url: str
    address: str  # host:port, for a Prometheus ``alerting`` target
    workdir: Path

    def alerts(self) -> list[dict[str, Any]]:
        return list(get_json(f"{self.url}/api/v2/alerts"))


@contextlib.contextmanager
def alertmanager(config: str) -> Iterator[Alertmanager]:
    """Start the real Alertmanager with ``config`` (YAML text) on a free 127.0.0.1 port, clustering
    off, state in a temporary folder; ready when ``/-/ready`` answers."""
    binary = require("alertmanager")
    with _workdir("llmotel-alertmanager-") as workdir:
        (workdir / "alertmanager.yml").write_text(config)
        address = f"127.0.0.1:{free_port()}"
        with _process([str(binary), f"--config.file={workdir / 'alertmanager.yml'}",
                       f"--storage.path={workdir / 'data'}", f"--web.listen-address={address}",
                       "--cluster.listen-address="], workdir / "alertmanager.log", f"http://{address}/-/ready"):
            yield Alertmanager(f"http://{address}", address, workdir)


@contextlib.contextmanager
def _workdir(prefix: str) -> Iterator[Path]:
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextlib.contextmanager
def _process(argv: list[str], log: Path, ready_url: str) -> Iterator[None]:
    proc = local._spawn(argv, log)
    try:
        local.wait_http(ready_url, 30, proc)  # polls; fails at once (with the log's tail) if it exits
        yield
    finally:
        local._stop(proc)


# --- remote-write encoding (prometheus.WriteRequest, snappy), no extra dependency ----------


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:  # a length-delimited protobuf field
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def _write_request(series: Iterable[tuple[Mapping[str, str], Sequence[tuple[int, float]]]]) -> bytes:
    out = bytearray()
    for labels, samples in series:
        ts = b"".join(_field(1, _field(1, k.encode()) + _field(2, v.encode())) for k, v in sorted(labels.items()))
        ts += b"".join(_field(2, b"\x09" + struct.pack("<d", value) + b"\x10" + _varint(stamp))
                       for stamp, value in sorted(samples))
        out += _field(1, ts)
    return bytes(out)


def _snappy(data: bytes) -> bytes:
    """A valid snappy block made of literals only: the receiver decodes it; size does not matter here."""
    out = bytearray(_varint(len(data)))
    for i in range(0, len(data), 65536):
        chunk = data[i:i + 65536]
        out += bytes([61 << 2]) + struct.pack("<H", len(chunk) - 1) + chunk
    return bytes(out)
