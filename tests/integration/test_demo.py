"""The README's main command: `llmotel demo` runs end to end and reports what it recorded."""

from __future__ import annotations

import os
import subprocess
import sys


def test_demo_runs_and_summarises():
    env = {**os.environ, "OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:9"}  # nothing listens there
    proc = subprocess.run(
        [sys.executable, "-m", "llmotel.cli", "demo", "--calls", "10"],
        env=env, capture_output=True, text=True, timeout=120, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "no OTLP collector answers at http://127.0.0.1:9" in out
    rows = {line.split()[1]: line.split() for line in out.splitlines() if line.startswith(("chat ", "embeddings "))}
    assert {"gpt-4o-mini", "gpt-4.1", "o3-mini", "text-embedding-3-small", "claude-sonnet-4-5"} <= set(rows)
    assert all(int(row[2]) > 0 for row in rows.values())  # calls recorded per model
    assert int(rows["gpt-4.1"][4]) > 0  # input tokens were recorded
    assert "Traceback" not in proc.stderr
