"""`llmotel demo` against a real LLM server: llama.cpp serving SmolLM2 on loopback."""

from __future__ import annotations

from typing import Any

from tests.integration.test_demo import demo, rows


def test_demo_drives_a_real_openai_compatible_server(local_llm: Any) -> None:
    out = demo("--requests", "6", "--rps", "6", "--no-export", "--base-url", local_llm.base_url,
               "--model", local_llm.model, timeout=180).stdout
    table = rows(out)
    assert set(table) == {local_llm.model}, out
    cells = table[local_llm.model]
    assert int(cells[2]) >= 6 and int(cells[3]) == 0, out  # calls, no errors
    assert int(cells[7]) > 0 and int(cells[8]) > 0, out  # real token counts


def test_demo_local_model_flag_serves_its_own_model(local_llm: Any) -> None:
    """--local-model starts llama.cpp itself (here a second instance) and uses both protocols."""
    out = demo("--requests", "3", "--rps", "3", "--no-export", "--local-model", timeout=240).stdout
    assert "starting the local model" in out
    lines = [line.split() for line in out.splitlines() if line.startswith(("openai ", "anthropic "))]
    assert {cells[0] for cells in lines} == {"openai", "anthropic"}, out  # one model, both protocols
    assert all(int(cells[3]) == 0 for cells in lines), out
