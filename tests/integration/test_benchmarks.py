"""The benchmark programs the README names run in the project's venv (``--quick``: tiny
batches). Speed itself is not asserted here (that is what the benchmarks are for), only that
each program measures what it claims: every scenario ran, instrumented calls made their spans."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from types import ModuleType
from typing import Any

import pytest

from tests.backends import ROOT


def overhead() -> ModuleType:
    spec = importlib.util.spec_from_file_location("overhead", ROOT / "benchmarks" / "overhead.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault("overhead", module)  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def bench(*args: str) -> Any:
    proc = subprocess.run([sys.executable, *args], cwd=ROOT, capture_output=True, text=True, timeout=240,
                          check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout)


@pytest.mark.timeout(300)
@pytest.mark.parametrize("provider", ["openai", "anthropic"])
def test_overhead_benchmark_measures_llmotel(provider: str) -> None:
    result = bench("benchmarks/overhead.py", "--subject", "llmotel", "--provider", provider, "--quick", "--json")
    assert result["subject"] == "llmotel" and result["warnings"] == []
    assert set(result["scenarios"]) == set(overhead().PROVIDER_SCENARIOS[provider])
    for name, s in result["scenarios"].items():
        assert s["spans_per_call"] == 1.0, name  # one inference span per call, nothing doubled
        assert s["bare_us"] > 0 and s["instr_us"] > 0, name
    assert result["spans_exported_while_timed"] == result["spans_expected_while_timed"] > 0


def test_redaction_benchmark_covers_its_scenarios() -> None:
    result = bench("benchmarks/redaction.py", "--quick", "--json")
    scenarios = result["scenarios"]
    assert {"mixed_prompt (warm)", "one_mb_prompt", "image_20mb", "mixed_prompt_off"} <= set(scenarios)
    assert scenarios["mixed_prompt (warm)"]["redactions"] > 0  # the detectors really ran
    assert scenarios["one_mb_prompt"]["truncated"] and scenarios["image_20mb"]["binary_replaced"] == 1
