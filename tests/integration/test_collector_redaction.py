"""The collector's redaction stage (defence in depth for non-llmotel telemetry).

No collector binary runs here, so its `blocked_values` are checked as what they are:
regular expressions. They must be RE2 (Go) syntax — no lookarounds, backreferences or
possessive quantifiers — and Python's `re` agrees with RE2 on everything else they use;
then they run over the SDK's PII and secrets corpus (tests/unit/test_redaction.py) the way
the processor applies them (every match masked) and over the benign corpus. A regex-only
layer cannot check Luhn or mod-97 and knows no key names inside free text, so the numbers
are a coverage report with floors, not the SDK's zero-leak guarantee.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from tests.unit.test_redaction import CORPUS_ITEMS

ROOT = Path(__file__).resolve().parents[2]
CONFIG = yaml.safe_load((ROOT / "collector" / "config.yaml").read_text())["processors"]["redaction"]
PATTERNS = [re.compile(p) for p in CONFIG["blocked_values"]]
RE2_UNSUPPORTED = re.compile(r"\(\?[=!]|\(\?<[=!]|\\[1-9]|[*+?}][+]|\(\?>")
# Detectors the collector layer mirrors, and the share of corpus values each must catch.
FLOORS = {"private_key": 1.0, "anthropic_key": 1.0, "openai_key": 1.0, "aws_access_key": 1.0, "github_token": 1.0,
          "slack_token": 1.0, "jwt": 1.0, "bearer": 1.0, "card": 1.0, "iban": 1.0, "us_ssn": 0.85, "email": 1.0,
          "phone": 0.9, "ipv4": 1.0, "ipv6": 1.0}
BENIGN_FLAG_BOUND = 0.08  # regexes without validators flag more than the SDK (0 of 401): 23 here


def mask(text: str) -> str:
    for pattern in PATTERNS:
        text = pattern.sub(lambda m: "*" * len(m.group()), text)
    return text


def test_patterns_are_re2_syntax() -> None:
    for source in CONFIG["blocked_values"] + CONFIG["blocked_key_patterns"]:
        assert not RE2_UNSUPPORTED.search(source), f"not RE2: {source}"
        re.compile(source)


def test_credential_keys_are_masked_but_token_counts_are_not() -> None:
    key = re.compile(CONFIG["blocked_key_patterns"][0])
    for name in ("password", "db_password", "OPENAI_API_KEY", "http.request.header.authorization", "x-api-key",
                 "refresh_token", "cookie"):
        assert key.search(name), name
    for name in ("gen_ai.usage.input_tokens", "gen_ai.token.type", "llmotel.redaction.detector", "session.id"):
        assert not key.search(name), name


@pytest.fixture(scope="module")
def coverage() -> dict[str, tuple[int, int]]:
    out = {}
    for detector, items in CORPUS_ITEMS.items():
        if detector not in FLOORS:
            continue
        caught = sum(1 for text, needles in items if not any(n in mask(text) for n in needles))
        out[detector] = (caught, len(items))
    return out


def test_coverage_per_detector(coverage: dict[str, tuple[int, int]], capsys: pytest.CaptureFixture[str]) -> None:
    report = ", ".join(f"{d} {c}/{n}" for d, (c, n) in sorted(coverage.items()))
    with capsys.disabled():
        print(f"\ncollector redaction coverage of the SDK corpus: {report}")
    low = {d: f"{c}/{n}" for d, (c, n) in coverage.items() if c / n < FLOORS[d]}
    assert not low, low


def test_benign_false_positive_bound(capsys: pytest.CaptureFixture[str]) -> None:
    texts = [json.loads(line)["text"] if line.startswith("{") else line
             for line in (ROOT / "tests" / "corpus" / "benign.jsonl").read_text().splitlines() if line.strip()]
    flagged = [t for t in texts if mask(t) != t]
    rate = len(flagged) / len(texts)
    with capsys.disabled():
        print(f"\ncollector redaction benign corpus: {len(flagged)}/{len(texts)} flagged ({rate:.1%})")
    assert rate <= BENIGN_FLAG_BOUND, flagged[:10]
