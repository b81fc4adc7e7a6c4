"""Test helpers for the real backend binaries (fetched by scripts/fetch-backends).

A missing binary skips the test with the reason, unless ``LLMOTEL_REQUIRE_BACKENDS=1``
(set by scripts/test), which makes it a failure: CI cannot pass by skipping. Starting the
processes is llmotel's own code (``llmotel.demo.backends``, which local mode uses too).
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from llmotel.demo import backends

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = "docker-compose"


def require(name: str) -> Path:
    """The path of backend binary ``name`` (``prometheus``, ``promtool``, ``alertmanager``,
    ``amtool``, ``docker-compose``), or skip/fail."""
    path = backends.bin_dir() / name
    if path.is_file() and os.access(path, os.X_OK):
        return path
    reason = f"no {name} binary in {backends.bin_dir()} (run scripts/fetch-backends)"
    if os.environ.get("LLMOTEL_REQUIRE_BACKENDS") == "1":
        pytest.fail(f"LLMOTEL_REQUIRE_BACKENDS=1 but {reason}", pytrace=False)
    pytest.skip(reason)


def run(name: str, *args: str | os.PathLike[str], cwd: Path = ROOT, timeout: float = 60) -> str:
    """Run a backend tool; fail the test with its output unless it exits 0."""
    proc = subprocess.run([str(require(name)), *map(str, args)], cwd=cwd, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert proc.returncode == 0, f"{name} {' '.join(map(str, args))} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr
