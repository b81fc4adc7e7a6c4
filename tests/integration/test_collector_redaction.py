"""The collector's redaction stage (issue #5 item 7: defence in depth for non-llmotel telemetry).

No collector binary runs here, so its `blocked_values` are checked as what they are: regular
expressions for Go's RE2. They must use no construct RE2 lacks (lookarounds, backreferences,
possessive or atomic groups, \\Z, repeats over 1000); Python's `re` with re.ASCII then
matches what RE2 matches (in RE2, \\d \\w \\b \\s are ASCII-only, as with re.ASCII). They are
applied the way processor/redactionprocessor does it: every pattern that matches replaces
each of its matches with "****", patterns taken in map order (random in Go), so a value
counts as caught only if no needle survives in any of several pattern orders. The two
stages (redaction/secrets, then redaction/pii) run in pipeline order.

The values are the SDK's PII and secrets corpus (tests/unit/test_redaction.py: its generated
variants and tests/corpus/pii_handwritten.jsonl), bare and inside sentences, and the benign
corpus for false positives. A regex-only layer cannot check Luhn or mod-97 and knows no key
names inside free text, so the numbers are a coverage report with floors, not the SDK's
zero-leak guarantee. Run with -s to see the report.
"""

from __future__ import annotations

import json
import random
import re
from functools import cache
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.test_redaction import _SENTENCES, CORPUS_ITEMS

ROOT = Path(__file__).resolve().parents[2]
COLLECTOR: dict[str, Any] = yaml.safe_load((ROOT / "collector" / "config.yaml").read_text())
# The redaction stages in the order the traces pipeline runs them (the logs pipeline: the same).
STAGES = [name for name in COLLECTOR["service"]["pipelines"]["traces"]["processors"] if name.startswith("redaction")]
CONFIGS: list[dict[str, Any]] = [COLLECTOR["processors"][name] for name in STAGES]
SOURCES = [source for config in CONFIGS for source in config.get("blocked_values", []) + config.get(
    "blocked_key_patterns", [])]
STAGE_PATTERNS = [[re.compile(p, re.ASCII) for p in config.get("blocked_values", [])] for config in CONFIGS]
KEY_PATTERNS = [re.compile(p, re.ASCII) for config in CONFIGS for p in config.get("blocked_key_patterns", [])]
MASK = "****"  # the processor's fixed mask (no hash_function configured)

# Constructs Go's regexp (RE2) rejects although Python accepts them.
RE2_UNSUPPORTED = {
    "lookahead": re.compile(r"\(\?[=!]"),
    "lookbehind": re.compile(r"\(\?<[=!]"),
    "numbered backreference": re.compile(r"(?<!\\)(?:\\\\)*\\[1-9]"),
    "named backreference": re.compile(r"\(\?P="),
    "atomic group": re.compile(r"\(\?>"),
    "possessive quantifier": re.compile(r"(?<!\\)[*+?}]\+"),
    "conditional": re.compile(r"\(\?\("),
    "comment group": re.compile(r"\(\?#"),
    r"\Z (RE2 spells it \z)": re.compile(r"(?<!\\)(?:\\\\)*\\Z"),
}
RE2_MAX_REPEAT = 1000

# Share of each detector's corpus values the collector layer must catch (bare and in sentences).
# What misses is listed in test_coverage_per_detector's report.
FLOORS = {"private_key": 1.0, "anthropic_key": 1.0, "openai_key": 1.0, "aws_access_key": 1.0, "github_token": 1.0,
          "slack_token": 1.0, "jwt": 1.0, "bearer": 1.0, "card": 1.0, "iban": 1.0, "us_ssn": 0.85, "email": 1.0,
          "phone": 0.9, "ipv4": 1.0, "ipv6": 1.0, "credential": 1.0}
# Regexes without validators flag more benign text than the SDK does (0 of 401 there): 15 of 401
# when written, mostly four-part version numbers (IPv4 shape), serial/EAN/IMEI numbers (card
# shape) and git@host remotes (e-mail shape).
BENIGN_FLAG_BOUND = 0.05
ORDERS = 6  # pattern orders tried per value (Go ranges over a map: the order is random)


def _orders() -> list[list[re.Pattern[str]]]:
    """Whole-pipeline pattern sequences: each stage's patterns in some order, stage after stage."""
    rng = random.Random(7)
    orders = [[p for stage in STAGE_PATTERNS for p in stage], [p for stage in STAGE_PATTERNS for p in reversed(stage)]]
    while len(orders) < ORDERS:
        order = []
        for stage in STAGE_PATTERNS:
            shuffled = list(stage)
            rng.shuffle(shuffled)
            order += shuffled
        orders.append(order)
    return orders


PATTERN_ORDERS = _orders()


def mask(text: str, patterns: list[re.Pattern[str]]) -> str:
    """processStringValue: each matching pattern in turn replaces all its matches with ****."""
    for pattern in patterns:
        if pattern.search(text):
            text = pattern.sub(MASK, text)
    return text


@cache
def caught(text: str, needles: tuple[str, ...]) -> bool:
    return all(not any(n in mask(text, order) for n in needles) for order in PATTERN_ORDERS)


def test_patterns_are_re2_syntax() -> None:
    assert STAGES == ["redaction/secrets", "redaction/pii"], STAGES
    for source in SOURCES:
        for construct, finder in RE2_UNSUPPORTED.items():
            assert not finder.search(source), f"{construct} is not RE2: {source}"
        for lo, hi in re.findall(r"\{(\d+)(?:,(\d*))?\}", source):
            assert int(lo) <= RE2_MAX_REPEAT and (not hi or int(hi) <= RE2_MAX_REPEAT), f"repeat > 1000: {source}"
        re.compile(source, re.ASCII)


def test_the_re2_check_knows_python_only_syntax() -> None:
    """The guard above must reject what the SDK's own (Python) detectors use."""
    for python_only in (r"(?<![\w])x", r"a(?=b)", r"(\w)\1", r"(?P<q>')x(?P=q)", r"a*+", r"x\Z", r"(?>ab)"):
        assert any(f.search(python_only) for f in RE2_UNSUPPORTED.values()), python_only


def test_credential_keys_are_masked_but_token_counts_are_not() -> None:
    for name in ("password", "db_password", "OPENAI_API_KEY", "http.request.header.authorization", "x-api-key",
                 "refresh_token", "cookie", "client_secret", "aws.secret_access_key"):
        assert any(k.search(name) for k in KEY_PATTERNS), name
    for name in ("gen_ai.usage.input_tokens", "gen_ai.token.type", "llmotel.redaction.detector", "session.id",
                 "gen_ai.usage.output_tokens", "llmotel.ratelimit.tokens.remaining", "gen_ai.request.max_tokens"):
        assert not any(k.search(name) for k in KEY_PATTERNS), name


def test_infrastructure_addresses_are_ignored_not_masked() -> None:
    # server.address is the provider's host (often an IP on a private network): masking it would
    # break the service map; the SDK never puts user data there.
    for config in CONFIGS:
        assert {"server.address", "service.instance.id"} <= set(config["ignored_keys"])
        assert config["allow_all_keys"] is True  # allowed_keys fails closed: every other key would go


@pytest.fixture(scope="module")
def coverage() -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    rng = random.Random(11)
    for detector, items in CORPUS_ITEMS.items():
        bare = [text for text, needles in items if not caught(text, tuple(needles))]
        in_text = []
        for text, needles in items:
            sentence = rng.choice(_SENTENCES).format(v=text)
            if not caught(sentence, tuple(needles)):
                in_text.append(sentence)
        out[detector] = {"n": len(items), "bare": len(items) - len(bare), "in_text": len(items) - len(in_text),
                         "missed": bare[:4] + in_text[:2]}
    return out


def test_coverage_per_detector(coverage: dict[str, dict[str, Any]], capsys: pytest.CaptureFixture[str]) -> None:
    lines = [f"  {d:15} bare {c['bare']}/{c['n']}  in sentences {c['in_text']}/{c['n']}"
             + (f"  e.g. missed {c['missed'][:2]}" if c["missed"] else "") for d, c in sorted(coverage.items())]
    with capsys.disabled():
        print("\ncollector redaction coverage of the SDK corpus (caught in every pattern order):\n" + "\n".join(lines))
    assert set(FLOORS) == set(coverage), "a detector of llmotel/redaction.py has no floor here"
    low = {d: f"{c['bare']}/{c['in_text']} of {c['n']}" for d, c in coverage.items()
           if min(c["bare"], c["in_text"]) / c["n"] < FLOORS[d]}
    assert not low, low


def test_benign_false_positive_bound(capsys: pytest.CaptureFixture[str]) -> None:
    texts = [json.loads(line)["text"] for line in (ROOT / "tests" / "corpus" / "benign.jsonl").read_text().splitlines()
             if line.strip()]
    flagged = [t for t in texts if any(mask(t, order) != t for order in PATTERN_ORDERS)]
    rate = len(flagged) / len(texts)
    with capsys.disabled():
        print(f"\ncollector redaction benign corpus: {len(flagged)}/{len(texts)} flagged ({rate:.1%}), e.g. "
              + "; ".join(repr(t[:60]) for t in flagged[:3]))
    assert rate <= BENIGN_FLAG_BOUND, flagged[:10]
