#!/usr/bin/env python3
"""Cost of llmotel.redaction per KiB of captured content (issue #5).

Runs in the project's venv, standard library only besides llmotel::

    python benchmarks/redaction.py            # ~20 s
    python benchmarks/redaction.py --quick    # smoke test
    python benchmarks/redaction.py --json     # machine-readable

Each scenario calls ``Redactor.apply_json`` (what the chokepoint calls: redaction, binary
placeholders, the size cap and the JSON encoding) on a prebuilt value, repeatedly; a sample
is the median of ``--reps`` timed batches (``perf_counter_ns``, GC enabled, ``gc.collect()``
before each batch); µs/KiB divides by the compact UTF-8 JSON size of the *input*. The
``json.dumps`` row is the floor: serialising the value at all, which the chokepoint would
pay without redaction too.

Scenarios ("cold": the redactor's cache of short clean strings is emptied before every call;
"warm": the same payload again, as when a conversation's history is re-sent on every turn):

- ``mixed_prompt``: a realistic 5.5 KiB chat (system prompt, four turns, a tool call with
  JSON arguments, a JSON tool result), with an e-mail, a phone number, a card number, an API
  key and an IP address among prose, code and log lines (log lines are digit-dense: 36%);
- ``prose_100k``: 100 KB of English technical prose (the standard library's docstrings), no cap;
- ``benign_corpus_100k``: 100 KB of tests/corpus/benign.jsonl, a worst case: digit-dense (25%
  digits) and full of near-misses (versions, dates, ids, "token", "key", "bearer"), no cap;
- ``one_mb_prompt``: a 1 MB user message of the benign corpus, truncated to the 16 KiB cap;
- ``image_20mb``: a 20 MiB base64 PNG as a blob part (replaced by a placeholder);
- ``tool_definitions (repeated)``: 12 tool definitions (6 KiB), the same on every call;
- ``mixed_prompt_off``: ``LLMOTEL_REDACTION=off`` (limits only) on the mixed prompt.
"""

from __future__ import annotations

import argparse
import base64
import gc
import json
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmotel.redaction import RedactionConfig, Redactor  # noqa: E402

SYSTEM = ("You are a support assistant for Example Corp. Answer concisely, cite order numbers, never reveal "
          "internal tooling. Today is 2024-03-15. Policies: refunds within 30 days; shipping 3-5 business days. ")


def mixed_prompt() -> list[dict[str, Any]]:
    code = ("def total(items):\n    return sum(i.price * i.qty for i in items)\n\n"
            "for order in orders[:10]:\n    print(order.id, total(order.items))\n")
    logs = "\n".join(f"2024-03-15T10:{m:02d}:00Z INFO api request_id=3fa85f64-5717-4562-b3fc-2c963f66afa6 "
                     f"status=200 latency_ms={40 + m}" for m in range(12))
    user1 = ("Hi, my order ORD-2024-001234 arrived damaged. You can reach me at jane.doe+orders@example.com or "
             "+1 (415) 555-0100. I paid with 4111 1111 1111 1111. Here is what our integration logs show:\n" + logs)
    assistant1 = "I'm sorry to hear that. " * 20 + "Could you share a photo of the damage and the error you saw?"
    user2 = ("Sure. Also our script fails, here's the code:\n" + code + "\nIt runs with OPENAI_API_KEY=sk-proj-"
             + "aB3dEfGh1JkLmN0pQrStUvWx" * 4 + " from host 203.0.113.42. " + "Thanks a lot for the help! " * 10)
    tool_args = {"order_id": "ORD-2024-001234", "reason": "damaged", "notes": "Customer reports crushed box; " * 8}
    tool_result = {"status": "approved", "refund": {"amount": 129.99, "currency": "USD"},
                   "history": [{"ts": f"2024-03-{d:02d}", "event": "status_change", "to": "shipped"}
                               for d in range(1, 15)]}
    return [
        {"role": "system", "parts": [{"type": "text", "content": SYSTEM * 6}]},
        {"role": "user", "parts": [{"type": "text", "content": user1}]},
        {"role": "assistant", "parts": [{"type": "text", "content": assistant1}]},
        {"role": "user", "parts": [{"type": "text", "content": user2}]},
        {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "create_refund",
                                         "arguments": tool_args}]},
        {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1",
                                    "response": json.dumps(tool_result)}]},
    ]


def tool_definitions() -> list[dict[str, Any]]:
    props = {"query": {"type": "string", "description": "What to look up, in the user's words."},
             "limit": {"type": "integer", "minimum": 1, "maximum": 50, "default": 10},
             "filters": {"type": "object", "additionalProperties": {"type": "string"}}}
    return [{"type": "function", "name": f"tool_{i}", "description": f"Tool number {i}: searches the catalogue "
             "and returns matching items with prices and stock levels.",
             "parameters": {"type": "object", "properties": props, "required": ["query"]}} for i in range(12)]


def benign_text(size: int) -> str:
    lines = [json.loads(line)["text"] for line in (ROOT / "tests/corpus/benign.jsonl").read_text().splitlines()]
    rng = random.Random(1)
    out: list[str] = []
    total = 0
    while total < size:
        line = rng.choice(lines)
        out.append(line)
        total += len(line.encode()) + 1
    return "\n".join(out)[:size]


def prose_text(size: int) -> str:
    import importlib
    import warnings

    parts: dict[str, None] = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for name in ("json", "re", "os", "argparse", "collections", "functools", "itertools", "logging", "typing",
                     "dataclasses", "pathlib", "subprocess", "threading", "asyncio", "urllib.parse", "unittest",
                     "datetime", "decimal", "statistics", "random", "string", "textwrap", "difflib", "csv",
                     "zipfile", "tarfile", "shutil", "tempfile", "inspect", "ast", "enum", "contextlib", "io",
                     "pickle", "socket", "hashlib", "base64", "struct", "codecs", "calendar", "queue"):
            module = importlib.import_module(name)
            for attr in dir(module):
                doc = getattr(getattr(module, attr, None), "__doc__", None)
                if isinstance(doc, str) and len(doc) > 200:
                    parts[doc] = None
    text = "\n\n".join(parts)
    while len(text) < size:
        text += "\n\n" + text
    return text[:size]


def image_part(size: int) -> dict[str, Any]:
    data = b"\x89PNG\r\n\x1a\n" + random.Random(2).randbytes(size - 8)
    return {"type": "blob", "modality": "image", "mime_type": "image/png", "content": base64.b64encode(data).decode()}


def forget(redactor: Redactor) -> None:
    """Empty the redactor's caches of strings already scanned (a benchmark-only peek at privates)."""
    redactor._seen.clear()
    redactor._cred_keys.clear()


def measure(redactor: Redactor, value: Any, reps: int, budget_s: float, cold: bool) -> dict[str, float]:
    size = len(json.dumps(value, separators=(",", ":"), ensure_ascii=False).encode())
    redactor.apply_json(value)  # warm up (lazy imports, caches)
    t0 = time.perf_counter()
    redactor.apply_json(value)
    once = max(time.perf_counter() - t0, 1e-6)
    batch = max(1, int(budget_s / reps / once))
    samples = []
    floor = []
    for _ in range(reps):
        gc.collect()
        t = time.perf_counter_ns()
        for _ in range(batch):
            if cold:
                forget(redactor)
            encoded, stats = redactor.apply_json(value)
        samples.append((time.perf_counter_ns() - t) / batch / 1000)
        t = time.perf_counter_ns()
        for _ in range(batch):
            json.dumps(value, separators=(",", ":"), ensure_ascii=False)
        floor.append((time.perf_counter_ns() - t) / batch / 1000)
    assert encoded is not None and stats.failed == 0
    us = statistics.median(samples)
    dumps_us = statistics.median(floor)
    kib = size / 1024
    return {"input_kib": round(kib, 1), "us_per_call": round(us, 1), "us_per_kib": round(us / kib, 2),
            "json_dumps_us_per_kib": round(dumps_us / kib, 3), "redactions": stats.redacted,
            "binary_replaced": stats.binary_replaced, "truncated": stats.truncated,
            "output_bytes": len(encoded.encode())}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1 rep, tiny budget (smoke test)")
    parser.add_argument("--reps", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a markdown table")
    args = parser.parse_args()
    reps, budget = (1, 0.2) if args.quick else (args.reps, 2.0)

    t = time.perf_counter()
    import llmotel.redaction  # noqa: F401  (already imported above; the import itself is cheap)

    on = Redactor(RedactionConfig.load(env={}))
    build_ms = (time.perf_counter() - t) * 1000
    uncapped = Redactor(RedactionConfig.load(env={}, max_value_bytes=64 * 1024 * 1024))
    off = Redactor(RedactionConfig.load(env={"LLMOTEL_REDACTION": "off"}))
    scenarios = {
        "mixed_prompt (cold)": (on, mixed_prompt(), True),
        "mixed_prompt (warm)": (on, mixed_prompt(), False),
        "prose_100k": (uncapped, prose_text(100_000), True),
        "benign_corpus_100k": (uncapped, benign_text(100_000), True),
        "one_mb_prompt": (on, [{"role": "user", "parts": [{"type": "text", "content": benign_text(1_000_000)}]}],
                          True),
        "image_20mb": (on, image_part(15 * 1024 * 1024), True),  # 15 MiB of bytes = 20 MiB of base64
        "tool_definitions (repeated)": (on, tool_definitions(), False),
        "mixed_prompt_off": (off, mixed_prompt(), True),
    }
    results = {"redactor_build_ms": round(build_ms, 2), "scenarios": {}}
    for name, (redactor, value, cold) in scenarios.items():
        results["scenarios"][name] = measure(redactor, value, reps, budget, cold)
    if args.json:
        print(json.dumps(results, indent=2))
        return
    print(f"Redactor() build (compiles the patterns): {results['redactor_build_ms']} ms\n")
    print("| scenario | input KiB | µs/call | µs/KiB | json.dumps µs/KiB | redactions | binary | truncated "
          "| out bytes |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, r in results["scenarios"].items():
        print(f"| {name} | {r['input_kib']} | {r['us_per_call']} | {r['us_per_kib']} | {r['json_dumps_us_per_kib']} "
              f"| {r['redactions']} | {r['binary_replaced']} | {r['truncated']} | {r['output_bytes']} |")


if __name__ == "__main__":
    main()
