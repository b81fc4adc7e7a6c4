"""llmotel.redaction: detectors, actions, binary placeholders, size caps, fail-closed, config.

The PII and secrets corpus is built here (generated values, seeded) plus
``tests/corpus/pii_handwritten.jsonl`` (formats that are easier written than generated);
the benign corpus is ``tests/corpus/benign.jsonl``. The leak tests embed every value in
prompt sentences, tool-argument JSON (as objects and as JSON strings), nested message
structures, dict keys, and chunks joined after a split, and assert that no original secret
substring appears anywhere in the JSON of the redacted output.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import ipaddress
import json
import random
import string
from pathlib import Path
from typing import Any

import pytest

from llmotel.config import ConfigError
from llmotel.redaction import (
    DETECTORS,
    TRUNCATED_MARKER,
    RedactionConfig,
    Redactor,
    Stats,
)

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
KEY = "test-hmac-key-0123456789abcdef"
B62 = string.ascii_letters + string.digits
B64URL = B62 + "-_"
# The benign corpus's false-positive rate must stay under this (it is printed by the test).
FP_BOUND = 0.02


def redactor(env: dict[str, str] | None = None, **kw: Any) -> Redactor:
    return Redactor(RedactionConfig.load(env={} if env is None else env, **kw))


def dumps(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


# --- the PII & secrets corpus -----------------------------------------------------------


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _luhn_complete(rng: random.Random, prefix: str, length: int) -> str:
    body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
    total = 0
    for i, ch in enumerate(reversed(body)):
        d = int(ch)
        if i % 2 == 0:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return body + str((10 - total % 10) % 10)


def _group(digits: str, sizes: tuple[int, ...], sep: str) -> str:
    out, pos = [], 0
    for size in sizes:
        out.append(digits[pos:pos + size])
        pos += size
    if pos < len(digits):
        out.append(digits[pos:])
    return sep.join(x for x in out if x)


def gen_cards(rng: random.Random) -> list[str]:
    brands = [("4", 16), ("4", 13), ("4", 19), ("51", 16), ("55", 16), ("2221", 16), ("2720", 16), ("34", 15),
              ("37", 15), ("6011", 16), ("65", 16), ("3530", 16), ("36", 14), ("6759", 16), ("2200", 16),
              ("622126", 16), ("62", 19)]
    out = []
    for i, (prefix, length) in enumerate(brands * 2):
        d = _luhn_complete(rng, prefix, length)
        if length == 15:
            fmt = _group(d, (4, 6, 5), " " if i % 2 else "-")
        elif length == 14:
            fmt = _group(d, (4, 6, 4), " ")
        else:
            fmt = [d, _group(d, (4, 4, 4, 4), " "), _group(d, (4, 4, 4, 4), "-")][i % 3]
        out.append(fmt)
    return out


_IBAN_BBAN = {  # country: (length, bank code letters)
    "DE": (22, 0), "FR": (27, 0), "GB": (22, 4), "ES": (24, 0), "IT": (27, 1), "NL": (18, 4), "BE": (16, 0),
    "CH": (21, 0), "AT": (20, 0), "PL": (28, 0), "NO": (15, 0), "SE": (24, 0), "IE": (22, 4), "PT": (25, 0),
    "DK": (18, 0), "FI": (18, 0), "LU": (20, 0),
}


def _iban(rng: random.Random, country: str) -> str:
    length, letters = _IBAN_BBAN[country]
    bban = _rand(rng, string.ascii_uppercase, letters) + _rand(rng, string.digits, length - 4 - letters)
    rearranged = bban + country + "00"
    number = int("".join(str(int(c, 36)) for c in rearranged))
    return f"{country}{98 - number % 97:02d}{bban}"


def gen_ibans(rng: random.Random) -> list[str]:
    out = []
    for i, country in enumerate(list(_IBAN_BBAN) * 2):
        iban = _iban(rng, country)
        out.append([iban, " ".join(iban[j:j + 4] for j in range(0, len(iban), 4)), iban.lower()][i % 3])
    return out


def gen_ssns(rng: random.Random) -> list[str]:
    out = []
    while len(out) < 20:
        area = rng.randint(1, 899)
        if area == 666:
            continue
        a, g, s = f"{area:03d}", f"{rng.randint(1, 99):02d}", f"{rng.randint(1, 9999):04d}"
        out.append([f"{a}-{g}-{s}", f"{a} {g} {s}"][len(out) % 2])
    return out


def gen_emails(rng: random.Random) -> list[str]:
    first = ["anna", "li", "mohammed", "sofia", "kenji", "olga", "pierre", "zoë", "søren", "maría"]
    domains = ["example.com", "mail.example.org", "corp.example.co.uk", "example.io", "sub.example.dev"]
    out = []
    for i in range(12):
        name = rng.choice(first)
        local = [name, f"{name}.{rng.randint(1, 99)}", f"{name}+{rng.choice(['news', 'tag', 'x'])}",
                 f"{name}_{rng.choice(['work', 'home'])}"][i % 4]
        out.append(f"{local}@{rng.choice(domains)}")
    return out


def gen_phones(rng: random.Random) -> list[str]:
    out = []
    for i in range(15):
        area, ex, line = rng.randint(201, 989), rng.randint(201, 999), rng.randint(0, 9999)
        out.append([f"({area}) {ex}-{line:04d}", f"+1 {area} {ex} {line:04d}", f"{area}-{ex}-{line:04d}",
                    f"+44 {rng.randint(20, 29)} {rng.randint(1000, 9999)} {rng.randint(1000, 9999)}",
                    f"+49 {rng.randint(30, 89)} {rng.randint(1000000, 99999999)}"][i % 5])
    return out


def gen_ipv4(rng: random.Random) -> list[str]:
    out = []
    while len(out) < 20:
        ip = ipaddress.IPv4Address(rng.getrandbits(32))
        if str(ip).split(".")[0] in ("0", "127") or str(ip) == "255.255.255.255":
            continue
        out.append(str(ip))
    return [*out, "10.0.0.12", "192.168.1.254", "172.16.31.7", "8.8.8.8"]


def gen_ipv6(rng: random.Random) -> list[str]:
    out = []
    for i in range(18):
        kind = i % 6
        if kind == 0:
            out.append(ipaddress.IPv6Address(rng.getrandbits(128)).exploded)
        elif kind == 1:
            out.append(str(ipaddress.IPv6Address((0x20010DB8 << 96) | rng.getrandbits(16))))  # 2001:db8::xxxx
        elif kind == 2:
            out.append(f"fe80::{rng.getrandbits(16):x}:{rng.getrandbits(16):x}:{rng.getrandbits(16):x}%eth0")
        elif kind == 3:
            out.append(f"::ffff:{ipaddress.IPv4Address(rng.getrandbits(32))}")
        elif kind == 4:
            out.append(str(ipaddress.IPv6Address((0x2A00 << 112) | rng.getrandbits(64))))
        else:
            out.append(str(ipaddress.IPv6Address(rng.getrandbits(128))).upper())
    return out


def gen_openai(rng: random.Random) -> list[str]:
    out = []
    for i in range(16):
        kind = i % 4
        if kind == 0:
            out.append("sk-" + _rand(rng, B62, 20) + "T3BlbkFJ" + _rand(rng, B62, 20))
        elif kind == 1:
            out.append("sk-proj-" + _rand(rng, B64URL, 156))
        elif kind == 2:
            out.append("sk-svcacct-" + _rand(rng, B64URL, 120))
        else:
            out.append("sk-admin-" + _rand(rng, B64URL, 80))
    return out


def gen_anthropic(rng: random.Random) -> list[str]:
    return [("sk-ant-api03-" if i % 3 else "sk-ant-admin01-") + _rand(rng, B64URL, 93) + "AA" for i in range(15)]


def gen_aws(rng: random.Random) -> list[str]:
    return [("AKIA" if i % 2 else "ASIA") + _rand(rng, string.ascii_uppercase + "234567", 16) for i in range(16)]


def gen_github(rng: random.Random) -> list[str]:
    out = [f"{p}_{_rand(rng, B62, 36)}" for p in ("ghp", "gho", "ghu", "ghs", "ghr") * 3]
    out += [f"github_pat_{_rand(rng, B62, 22)}_{_rand(rng, B62, 59)}" for _ in range(4)]
    return out


def gen_slack(rng: random.Random) -> list[str]:
    out = []
    for i in range(18):
        kind = i % 6
        digits = lambda n: _rand(rng, string.digits, n)  # noqa: E731
        if kind == 0:
            out.append(f"xoxb-{digits(12)}-{digits(13)}-{_rand(rng, B62, 24)}")
        elif kind == 1:
            out.append(f"xoxp-{digits(12)}-{digits(12)}-{digits(13)}-{_rand(rng, '0123456789abcdef', 32)}")
        elif kind == 2:
            out.append(f"xoxa-2-{digits(12)}-{digits(12)}-{_rand(rng, '0123456789abcdef', 32)}")
        elif kind == 3:
            out.append(f"xoxr-{digits(11)}-{_rand(rng, B62, 40)}")
        elif kind == 4:
            t, b = _rand(rng, string.ascii_uppercase + string.digits, 9), _rand(rng, string.ascii_uppercase, 10)
            out.append(f"https://hooks.slack.com/services/T{t}/B{b}/{_rand(rng, B62, 24)}")
        else:
            out.append(f"xapp-1-A{_rand(rng, string.ascii_uppercase + string.digits, 10)}-{digits(13)}-"
                       f"{_rand(rng, '0123456789abcdef', 64)}")
    return out


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def gen_jwts(rng: random.Random) -> list[str]:
    headers = [{"alg": "HS256", "typ": "JWT"}, {"alg": "RS256", "kid": "key-2024-01"}, {"typ": "JWT", "alg": "ES256"},
               {"alg": "none"}, {"alg": "PS512", "typ": "at+jwt", "kid": _rand(rng, B62, 16)}]
    out = []
    for i in range(16):
        header = headers[i % len(headers)]
        claims = {"sub": _rand(rng, string.digits, 10), "iat": 1700000000 + i, "exp": 1700003600 + i}
        if i % 2:
            claims |= {"email": f"user{i}@example.com", "scope": "read write", "aud": "https://api.example.com"}
        sep = (", ", ": ") if i % 3 == 0 else (",", ":")
        head = _b64url(json.dumps(header, separators=sep).encode())
        body = _b64url(json.dumps(claims).encode())
        sig = "" if header["alg"] == "none" else _b64url(rng.randbytes(rng.choice([32, 64, 256])))
        out.append(f"{head}.{body}.{sig}")
    return out


def gen_bearer(rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for i in range(14):
        token = [_rand(rng, "0123456789abcdef", 32), _rand(rng, B64URL, 40), "ya29." + _rand(rng, B64URL, 60),
                 _rand(rng, B62, 24) + "." + _rand(rng, B62, 12)][i % 4]
        text = [f"Authorization: Bearer {token}", f"curl -H 'Authorization: Bearer {token}' https://api.example.com",
                f"authorization: bearer {token}", f"use Bearer {token} for the call",
                f'{{"Authorization": "Bearer {token}"}}', f"-H \"authorization: Bearer {token}\""][i % 6]
        out.append((text, token))
    return out


def gen_private_keys(rng: random.Random) -> list[str]:
    kinds = ["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY", "OPENSSH PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
             "DSA PRIVATE KEY", "PGP PRIVATE KEY BLOCK"]
    out = []
    for i in range(15):
        kind = kinds[i % len(kinds)]
        body = base64.b64encode(rng.randbytes(rng.choice([121, 270, 1190]))).decode()
        lines = [body[j:j + 64] for j in range(0, len(body), 64)]
        extra = "\n" if kind.startswith("PGP") else ""
        out.append(f"-----BEGIN {kind}-----\n{extra}" + "\n".join(lines) + f"\n-----END {kind}-----")
    return out


def gen_credentials(rng: random.Random) -> list[tuple[str, str]]:
    out = []
    for i in range(12):
        secret = _rand(rng, B62, 6) + rng.choice("!#%+") + str(rng.randint(10, 99)) + _rand(rng, B62, 5)
        out.append(([f'{{"password": "{secret}"}}', f"DB_PASSWORD={secret}", f"client_secret: {secret}",
                     f"api_key = \"{secret}\"", f"'secret_key': '{secret}'", f"refresh_token={secret}"][i % 6], secret))
    return out


def build_corpus() -> dict[str, list[tuple[str, list[str]]]]:
    """detector -> [(text containing the value, [needles that must never be exported])]."""
    rng = random.Random(20261122)
    corpus: dict[str, list[tuple[str, list[str]]]] = {d: [] for d in DETECTORS}

    def add(det: str, text: str, needles: list[str]) -> None:
        corpus[det].append((text, needles))

    for c in gen_cards(rng):
        add("card", c, [c, "".join(ch for ch in c if ch.isdigit())])
    for iban in gen_ibans(rng):
        add("iban", iban, [iban, iban.replace(" ", "").upper()[4:]])
    for s in gen_ssns(rng):
        add("us_ssn", s, [s, s.replace("-", "").replace(" ", "")])
    add("us_ssn", "SSN: 512345678", ["512345678"])
    add("us_ssn", "social security number 123456780", ["123456780"])
    for e in gen_emails(rng):
        add("email", e, [e])
    for p in gen_phones(rng):
        add("phone", p, [p])
    for ip in gen_ipv4(rng):
        add("ipv4", ip, [ip])
    for ip in gen_ipv6(rng):
        add("ipv6", ip, [ip])
    for k in gen_openai(rng):
        add("openai_key", k, [k, k.split("-", 2)[-1][-24:]])
    for k in gen_anthropic(rng):
        add("anthropic_key", k, [k, k[-30:]])
    for k in gen_aws(rng):
        add("aws_access_key", k, [k])
    for k in gen_github(rng):
        add("github_token", k, [k, k[-24:]])
    for k in gen_slack(rng):
        add("slack_token", k, [k, k.rsplit("/", 1)[-1][-20:] if "hooks" in k else k[-20:]])
    for j in gen_jwts(rng):
        add("jwt", j, [j] + [seg for seg in j.split(".") if len(seg) >= 8])
    for text, token in gen_bearer(rng):
        add("bearer", text, [token])
    for k in gen_private_keys(rng):
        add("private_key", k, [k] + [line for line in k.splitlines() if len(line) >= 16 and "-----" not in line])
    for text, secret in gen_credentials(rng):
        add("credential", text, [secret])
    for line in (CORPUS / "pii_handwritten.jsonl").read_text(encoding="utf-8").splitlines():
        item = json.loads(line)
        secret = item.get("secret", item["value"])
        needles = [secret]
        if item["detector"] == "phone":
            needles.append("".join(ch for ch in secret if ch.isdigit()))
        add(item["detector"], item["value"], needles)
    return corpus


CORPUS_ITEMS = build_corpus()

_SENTENCES = [
    "Hi, please update my details to {v} and confirm by tomorrow.",
    "For reference ({v}), see the attached file.",
    "Customer wrote: '{v}' - can you check it?",
    "My info:\n{v}\nThanks!",
    "<{v}>",
    "{v}",
    "Notes; value={v}; end.",
]


def contexts(text: str, rng: random.Random) -> list[tuple[str, Any]]:
    """The ways one value reaches captured content."""
    sentence = rng.choice(_SENTENCES).format(v=text)
    idx = sentence.index(text)
    cut = idx + max(1, len(text) // 2)
    chunks = [sentence[:cut], sentence[cut:]]  # a stream split in the middle of the value
    assembled = "".join(chunks)
    return [
        ("prompt", sentence),
        ("tool_args_object", {"name": "update_profile", "arguments": {"field": "contact", "value": text,
                                                                      "note": sentence}}),
        ("tool_args_json_string", json.dumps({"query": sentence, "raw": text})),
        ("messages", [
            {"role": "system", "parts": [{"type": "text", "content": "You are a helpful assistant."}]},
            {"role": "user", "parts": [{"type": "text", "content": sentence}]},
            {"role": "assistant", "parts": [{"type": "tool_call", "id": "call_1", "name": "lookup",
                                             "arguments": {"input": text}}]},
            {"role": "tool", "parts": [{"type": "tool_call_response", "id": "call_1",
                                        "response": {"results": [sentence, {"match": text}]}}]},
        ]),
        ("streamed", [{"role": "assistant", "parts": [{"type": "text", "content": assembled}],
                       "finish_reason": "stop"}]),
        ("dict_key", {"by_contact": {text: {"count": 1}}}),
    ]


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (*_strings(k), *_strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return []


def leaks(output: Any, needles: list[str]) -> list[str]:
    """Needles found in the exported JSON or in any string in it, raw or JSON-escaped either way."""
    haystacks = [dumps(output), json.dumps(output), *_strings(output)]
    found = []
    for needle in needles:
        forms = {needle, json.dumps(needle, ensure_ascii=False)[1:-1], json.dumps(needle)[1:-1]}
        if any(form in hay for form in forms for hay in haystacks):
            found.append(needle)
    return found


def test_corpus_sizes():
    sizes = {det: len(items) for det, items in CORPUS_ITEMS.items()}
    assert all(n >= 15 for n in sizes.values()), sizes


@pytest.mark.parametrize("detector", DETECTORS)
def test_each_value_is_detected_by_its_detector(detector):
    r = redactor(actions={"default": "mask"})
    missed = []
    for text, _ in CORPUS_ITEMS[detector]:
        out, counts = r.redact_text(text)
        if detector not in counts and not (detector == "bearer" and "credential" in counts):
            missed.append((text, out, counts))
    assert not missed, missed[:5]


@pytest.mark.parametrize("action", ["mask", "hash", "drop"])
@pytest.mark.parametrize("detector", DETECTORS)
def test_zero_leaks(detector, action):
    r = redactor(env={"LLMOTEL_REDACTION_HMAC_KEY": KEY}, actions={"default": action})
    rng = random.Random(detector)
    failures = []
    for text, needles in CORPUS_ITEMS[detector]:
        for name, value in contexts(text, rng):
            out, stats = r.apply(value)
            assert out is not None and stats.failed == 0
            leaked = leaks(out, needles)
            if leaked:
                failures.append((name, leaked, dumps(out)[:300]))
    assert not failures, failures[:5]


def test_zero_leaks_all_detectors_in_one_conversation():
    """Every corpus value in one multi-turn conversation, plus the mixed-in benign text."""
    r = redactor()
    messages, needles = [], []
    for items in CORPUS_ITEMS.values():
        for text, item_needles in items:
            messages.append({"role": "user", "parts": [{"type": "text", "content": f"Here you go: {text} ok?"}]})
            needles.extend(item_needles)
    out, stats = Redactor(RedactionConfig.load(env={}, max_value_bytes=64 * 1024 * 1024)).apply(messages)
    assert stats.failed == 0 and not stats.truncated
    assert leaks(out, needles) == []
    assert len(out) == len(messages) and stats.redacted >= len(messages)
    assert r.detectors == DETECTORS


def test_zero_leaks_in_large_and_non_ascii_texts():
    """Secrets at the start, middle and end of 300 KB of benign text, ASCII and not (offsets)."""
    benign = [json.loads(line)["text"] for line in (CORPUS / "benign.jsonl").read_text(encoding="utf-8").splitlines()]
    rng = random.Random(3)
    filler = "\n".join(rng.choice(benign) for _ in range(3000))
    picks = [CORPUS_ITEMS[det][i] for det in DETECTORS for i in (0, -1)]
    r = Redactor(RedactionConfig.load(env={}, max_value_bytes=64 * 1024 * 1024))
    for prefix in ("", "Zoë's café ☕ — 日本語 😀 "):
        chunks = [prefix]
        for i, (text, _) in enumerate(picks):
            chunks.append(f" {text} ")
            chunks.append(filler[i * 997 % len(filler):][:5000] if i % 3 else prefix)
        big = "".join(chunks)
        out, stats = r.apply(big)
        assert stats.failed == 0 and len(big) > 100_000
        assert leaks(out, [n for _, needles in picks for n in needles]) == []


def test_escaped_text_that_is_not_valid_json():
    """Cut-off JSON (a stream stopped early): escapes must not hide values from the detectors."""
    r = redactor()
    raw = ('{"note": "call +44 20 7946 0958\\nmail anna@example.com\\tcard 4111111111111111\\n'
           'key sk-proj-' + "aB3dE" * 8 + '\\nip 203.0.113.9\\n')
    out, counts = r.redact_text(raw)
    for needle in ("7946 0958", "anna@example.com", "4111111111111111", "aB3dE", "203.0.113.9"):
        assert needle not in out
    assert out == ('{"note": "call [REDACTED:PHONE]\\nmail [REDACTED:EMAIL]\\tcard [REDACTED:CARD]\\n'
                   'key [REDACTED:OPENAI_KEY]\\nip [REDACTED:IPV4]\\n')  # the escapes are intact
    assert counts == {"phone": 1, "email": 1, "card": 1, "openai_key": 1, "ipv4": 1}


def test_repeated_values_give_the_same_result_and_counts():
    """Strings already scanned are remembered (by hash): the answer and the stats do not change."""
    r = redactor()
    history = [{"role": "user", "parts": [{"type": "text", "content": f"turn {i}: mail u{i}@example.com"}]}
               for i in range(5)]
    first = r.apply(history)
    second = r.apply(history)
    assert first[0] == second[0] and first[1] == second[1] and first[1].redactions == {"email": 5}
    assert r.redact_text("plain words only") == ("plain words only", {})
    assert r.redact_text("plain words only") == ("plain words only", {})


# --- streaming contract ----------------------------------------------------------------


def test_secret_split_across_chunks_is_caught_once_joined():
    """The contract: llmotel redacts the *assembled* content at span end, never chunk by chunk."""
    r = redactor()
    card = "4111 1111 1111 1111"
    key = "sk-proj-" + "Ab3dE" * 20
    chunks = ["Sure, the card is 4111 1111", " 1111 1111 and the key sk-proj-Ab3dEAb3", key[16:] + " done."]
    assembled = "".join(chunks)
    assert card in assembled and key in assembled
    # Chunk by chunk, neither half is recognisable: that would leak.
    per_chunk = "".join(r.redact_text(c)[0] for c in chunks)
    assert "1111 1111" in per_chunk
    # Joined first (what the stream wrapper does before the span ends), both are caught.
    out, counts = r.redact_text(assembled)
    assert card not in out and key not in out and "1111" not in out and "Ab3dE" not in out
    assert counts == {"card": 1, "openai_key": 1}


# --- benign corpus: false positives ---------------------------------------------------


def test_benign_corpus_false_positive_rate(capsys):
    items = [json.loads(line) for line in (CORPUS / "benign.jsonl").read_text(encoding="utf-8").splitlines()]
    assert len(items) >= 300
    r = redactor()
    flagged: list[tuple[str, dict[str, int]]] = []
    per_detector: dict[str, int] = {}
    for item in items:
        out, counts = r.redact_text(item["text"])
        if counts:
            flagged.append((item["text"], counts))
            for name in counts:
                per_detector[name] = per_detector.get(name, 0) + 1
        else:
            assert out == item["text"]
    rate = len(flagged) / len(items)
    with capsys.disabled():
        print(f"\nredaction benign corpus: {len(items)} items, {len(flagged)} flagged, "
              f"false-positive rate {rate:.2%} (bound {FP_BOUND:.0%}); by detector: {per_detector or 'none'}")
        for text, counts in flagged:
            print(f"  flagged {counts}: {text[:100]!r}")
    assert rate < FP_BOUND


def test_benign_structure_passes_through_unchanged():
    items = [json.loads(line)["text"] for line in (CORPUS / "benign.jsonl").read_text(encoding="utf-8").splitlines()]
    messages = [{"role": "user", "parts": [{"type": "text", "content": t}]} for t in items[:60]]
    out, stats = Redactor(RedactionConfig.load(env={}, max_value_bytes=1 << 20)).apply(messages)
    assert out == messages and stats.redactions == {} and not stats.truncated


# --- actions ------------------------------------------------------------------------------


def test_mask_is_a_typed_placeholder():
    out, counts = redactor().redact_text("mail john@example.com, key AKIAIOSFODNN7EXAMPLE")
    assert out == "mail [REDACTED:EMAIL], key [REDACTED:AWS_ACCESS_KEY]"
    assert counts == {"email": 1, "aws_access_key": 1}


def test_hash_correlates_equal_values_and_depends_on_the_key():
    r = redactor(env={"LLMOTEL_REDACTION_HMAC_KEY": KEY, "LLMOTEL_REDACTION_ACTIONS": "email=hash"})
    a, _ = r.redact_text("from John@Example.com")
    b, _ = r.redact_text("to john@example.com")
    c, _ = r.redact_text("cc jane@example.com")
    expected = hmac.new(KEY.encode(), b"john@example.com", hashlib.sha256).hexdigest()[:12]
    assert a == f"from [EMAIL:hmac:{expected}]" and b == f"to [EMAIL:hmac:{expected}]"
    assert c != f"cc [EMAIL:hmac:{expected}]" and c.startswith("cc [EMAIL:hmac:")
    other = redactor(hmac_key="another-key-of-32-bytes-0000000000", actions={"email": "hash"})
    assert other.redact_text("to john@example.com")[0] != b
    # Separators do not change a card's hash; other detectors still mask.
    r2 = redactor(hmac_key=KEY, actions={"card": "hash"})
    x, _ = r2.redact_text("4111 1111 1111 1111 / a@b.io")
    y, _ = r2.redact_text("4111-1111-1111-1111")
    assert x.split(" / ")[0] == y and x.endswith("[REDACTED:EMAIL]")


def test_drop_replaces_the_whole_string_value_only():
    r = redactor(env={"LLMOTEL_REDACTION_ACTIONS": "card=drop,default=mask"})
    value = [{"role": "user", "parts": [{"type": "text", "content": "card 4111111111111111, thanks"},
                                        {"type": "text", "content": "mail a@b.io"}]}]
    out, stats = r.apply(value)
    assert out[0]["parts"][0]["content"] == "[REDACTED]"
    assert out[0]["parts"][1]["content"] == "mail [REDACTED:EMAIL]"
    assert out[0]["role"] == "user" and stats.redactions == {"card": 1, "email": 1}


def test_overlapping_matches_secret_wins_and_nothing_survives():
    # A JWT after "Bearer": both detectors match the same span; the union is replaced once.
    jwt = gen_jwts(random.Random(1))[0]
    out, counts = redactor().redact_text(f"Authorization: Bearer {jwt}")
    assert out == "Authorization: Bearer [REDACTED:JWT]" and counts == {"jwt": 1}
    # An OpenAI key inside an assignment: the key's label wins over the generic credential one.
    key = "sk-" + "aB3" * 16
    out, counts = redactor().redact_text(f"OPENAI_API_KEY={key}")
    assert out == "OPENAI_API_KEY=[REDACTED:OPENAI_KEY]" and counts == {"openai_key": 1}


def test_credential_fields_in_dicts_are_redacted_whole():
    value = {"headers": {"Authorization": "opaque-but-secret", "X-Api-Key": "abc", "Accept": "text/plain"},
             "db_password": "hunter2", "max_tokens": 100, "next_page_token": "",
             "schema": {"password": {"type": "string"}}}
    out, stats = redactor().apply(value)
    assert out["headers"] == {"Authorization": "[REDACTED:CREDENTIAL]", "X-Api-Key": "[REDACTED:CREDENTIAL]",
                              "Accept": "text/plain"}
    assert out["db_password"] == "[REDACTED:CREDENTIAL]" and out["max_tokens"] == 100
    assert out["next_page_token"] == "" and out["schema"] == {"password": {"type": "string"}}
    assert stats.redactions == {"credential": 3}


# --- custom patterns, callback, disabling ------------------------------------------------


def test_custom_patterns_from_kwargs_and_file(tmp_path):
    r = redactor(patterns={"employee_id": r"\bEMP-\d{6}\b", "ticket": r"ticket=(?P<value>\w+)"},
                 actions={"ticket": "drop"})
    assert r.redact_text("EMP-123456 joined")[0] == "[REDACTED:EMPLOYEE_ID] joined"
    assert r.redact_text("see ticket=abc")[0] == "[REDACTED]"
    path = tmp_path / "patterns.yaml"
    path.write_text("employee_id: '\\bEMP-\\d{6}\\b'\nproject_code: 'PRJ-[A-Z]{3}'\n")
    r = redactor(env={"LLMOTEL_REDACTION_PATTERNS": str(path)})
    out, counts = r.redact_text("EMP-000001 on PRJ-ABC")
    assert out == "[REDACTED:EMPLOYEE_ID] on [REDACTED:PROJECT_CODE]"
    assert counts == {"employee_id": 1, "project_code": 1}
    json_path = tmp_path / "p.json"
    json_path.write_text(json.dumps({"badge": "B\\d{4}"}))
    assert redactor(patterns_file=str(json_path)).redact_text("B1234")[0] == "[REDACTED:BADGE]"
    # Custom patterns can be disabled and hashed like built-ins.
    r = redactor(patterns={"badge": r"B\d{4}"}, disable=["badge"])
    assert r.redact_text("B1234")[0] == "B1234"


def test_named_group_value_narrows_the_replacement():
    r = redactor(patterns={"order_note": r"note: (?P<value>[a-z]+)"})
    assert r.redact_text("note: secretword and more")[0] == "note: [REDACTED:ORDER_NOTE] and more"


def test_callback_runs_after_the_detectors_on_every_string():
    seen = []

    def callback(text: str) -> str:
        seen.append(text)
        return text.replace("Project Falcon", "[REDACTED:CODENAME]")

    r = redactor(callback=callback)
    out, stats = r.apply({"role": "user", "content": "Project Falcon, mail a@b.io"})
    assert out == {"role": "user", "content": "[REDACTED:CODENAME], mail [REDACTED:EMAIL]"}
    assert "a@b.io" not in "".join(seen)  # the callback never sees what the detectors caught
    assert stats.redactions == {"email": 1, "callback": 1}


def test_disabling_detectors():
    r = redactor(env={"LLMOTEL_REDACTION_DISABLE": "email, ipv4"})
    out, counts = r.redact_text("a@b.io from 10.1.2.3 card 4111111111111111")
    assert out == "a@b.io from 10.1.2.3 card [REDACTED:CARD]" and counts == {"card": 1}
    assert "email" not in r.detectors and "card" in r.detectors
    assert redactor(disable="card").redact_text("4111111111111111")[0] == "4111111111111111"


def test_redaction_off_keeps_limits():
    r = redactor(env={"LLMOTEL_REDACTION": "off", "LLMOTEL_CONTENT_MAX_BYTES": "1024"})
    png = b"\x89PNG\r\n\x1a\n" + bytes(2000)
    out, stats = r.apply({"text": "a@b.io " * 400, "image": png})
    assert r.detectors == () and stats.redactions == {}
    assert out["image"].startswith("[BINARY image/png 2008 bytes sha256:")
    assert stats.truncated and len(dumps(out).encode()) <= 1024 and "a@b.io" in out["text"]


# --- structure, keys, ints ---------------------------------------------------------------


def test_structure_is_preserved_and_input_not_mutated():
    value = {"messages": [{"role": "user", "parts": [{"type": "text", "content": "mail a@b.io"}]}],
             "n": 3, "ok": True, "none": None, "ratio": 0.5, "tags": ("x", "y@example.com")}
    before = json.loads(json.dumps(value))
    out = redactor().redact_value(value)
    assert out == {"messages": [{"role": "user", "parts": [{"type": "text", "content": "mail [REDACTED:EMAIL]"}]}],
                   "n": 3, "ok": True, "none": None, "ratio": 0.5, "tags": ["x", "[REDACTED:EMAIL]"]}
    assert json.loads(json.dumps(value)) == before


def test_keys_are_scanned_and_collisions_kept_apart():
    out, stats = redactor().apply({"a@example.com": 1, "b@example.com": 2, "role": "user"})
    assert out == {"[REDACTED:EMAIL]": 1, "[REDACTED:EMAIL]#2": 2, "role": "user"}
    assert stats.redactions == {"email": 2}


def test_large_int_leaves_are_scanned():
    out, _ = redactor().apply({"card": 4111111111111111, "seed": 1234567, "count": 12})
    assert out == {"card": "[REDACTED:CARD]", "seed": 1234567, "count": 12}


def test_pydantic_like_and_unknown_objects():
    class Model:
        def model_dump(self, exclude_none: bool = False) -> dict[str, Any]:
            return {"content": "call +44 20 7946 0958", "x": None}

    class Other:
        def __str__(self) -> str:
            return "ip 203.0.113.9"

    out, _ = redactor().apply([Model(), Other()])
    assert out == [{"content": "call [REDACTED:PHONE]", "x": None}, "ip [REDACTED:IPV4]"]


# --- binary payloads -----------------------------------------------------------------------


def _png(n: int) -> bytes:
    return b"\x89PNG\r\n\x1a\n" + random.Random(n).randbytes(n - 8)


def test_bytes_become_a_placeholder_with_mime_size_and_hash():
    data = _png(20480)
    out, stats = redactor().apply({"image": data, "pdf": b"%PDF-1.7 ..."})
    digest = hashlib.sha256(data).hexdigest()[:12]
    assert out["image"] == f"[BINARY image/png 20480 bytes sha256:{digest}]"
    assert out["pdf"].startswith("[BINARY application/pdf 12 bytes sha256:")
    assert stats.binary_replaced == 2


def test_blob_parts_keep_their_shape():
    data = _png(20480)
    part = {"type": "blob", "modality": "image", "mime_type": "image/png", "content": base64.b64encode(data).decode()}
    out, stats = redactor().apply([{"role": "user", "parts": [part, {"type": "text", "content": "what is this?"}]}])
    digest = hashlib.sha256(data).hexdigest()[:12]
    assert out[0]["parts"][0] == {"type": "blob", "modality": "image", "mime_type": "image/png",
                                  "content": f"[BINARY image/png 20480 bytes sha256:{digest}]"}
    assert out[0]["parts"][1]["content"] == "what is this?" and stats.binary_replaced == 1
    # Small blobs too (a blob is binary whatever its size), and Anthropic's base64 source shape.
    small = {"type": "base64", "media_type": "image/gif", "data": base64.b64encode(b"GIF89a...").decode()}
    assert redactor().redact_value(small)["data"].startswith("[BINARY image/gif 9 bytes sha256:")


def test_data_uris_and_long_base64_strings():
    data = _png(4096)
    b64 = base64.b64encode(data).decode()
    digest = hashlib.sha256(data).hexdigest()[:12]
    r = redactor()
    assert r.redact_value(f"data:image/png;base64,{b64}") == f"[BINARY image/png 4096 bytes sha256:{digest}]"
    assert r.redact_value(b64) == f"[BINARY image/png 4096 bytes sha256:{digest}]"
    wrapped = "\n".join(b64[i:i + 76] for i in range(0, len(b64), 76))
    assert r.redact_value(wrapped) == f"[BINARY image/png 4096 bytes sha256:{digest}]"
    inline, _ = r.redact_text(f"see ![img](data:image/png;base64,{b64}) and {b64} end")
    assert inline == (f"see ![img]([BINARY image/png 4096 bytes sha256:{digest}]) and "
                      f"[BINARY image/png 4096 bytes sha256:{digest}] end")
    small = base64.b64encode(b"hello world").decode()
    assert r.redact_value(f"token-free {small}") == f"token-free {small}"  # small base64 stays
    assert r.redact_value("data:text/plain,hello").startswith("[BINARY text/plain 5 bytes sha256:")


def test_huge_base64_image_is_cheap_to_replace():
    data = _png(2 * 1024 * 1024)
    part = {"type": "blob", "modality": "image", "content": base64.b64encode(data).decode()}
    out, stats = redactor().apply(part)
    assert out["content"] == f"[BINARY image/png {len(data)} bytes sha256:{hashlib.sha256(data).hexdigest()[:12]}]"
    assert not stats.truncated


# --- size cap ---------------------------------------------------------------------------


def test_one_megabyte_prompt_is_truncated_to_valid_json_within_the_cap():
    prompt = ("The quick brown fox jumps over the lazy dog. " * 23000)[:1_000_000]
    value = [{"role": "system", "parts": [{"type": "text", "content": "Be brief."}]},
             {"role": "user", "parts": [{"type": "text", "content": prompt}]}]
    encoded, stats = redactor().apply_json(value)
    assert encoded is not None and stats.truncated
    assert len(encoded.encode()) <= 16384
    parsed = json.loads(encoded)
    assert parsed[0] == value[0] and parsed[1]["role"] == "user"
    content = parsed[1]["parts"][0]["content"]
    assert content.startswith("The quick brown fox") and content.endswith(" bytes]") and "…[truncated " in content
    kept = len(content.split("…[truncated ")[0].encode())
    assert content.endswith(TRUNCATED_MARKER.format(1_000_000 - kept))


def test_huge_string_is_cut_before_scanning_without_leaking_across_the_cut():
    """Over 4x the cap, only the head of a string is scanned (it is all that can be exported);
    values around the cut are matched whole. Private keys shrink to placeholders, so text from
    far into the string reaches the exported head: none of it may be a partial secret."""
    rng = random.Random(11)
    keys = gen_private_keys(rng)
    jwts = gen_jwts(rng)
    pieces, needles = [], []
    for i in range(180):  # ~210 KB: keys, JWTs and cards everywhere, including across 64 KiB and 128 KiB
        key, jwt = keys[i % len(keys)], jwts[i % len(jwts)]
        card = _group(_luhn_complete(rng, "4", 16), (4, 4, 4, 4), " ")
        pieces.append(f"{key}\n{jwt} {card}\n")
        needles += [line for line in key.splitlines() if len(line) >= 16 and "-----" not in line]
        needles += [seg for seg in jwt.split(".") if len(seg) >= 8] + [card]
    text = "".join(pieces)
    assert len(text) > 200_000
    r = redactor()  # 16 KiB cap: the scan stops at 64 KiB + 64 KiB
    encoded, stats = r.apply_json({"content": text})
    assert encoded is not None and stats.truncated and len(encoded.encode()) <= 16384
    assert leaks(json.loads(encoded), needles) == []
    out = r.redact_value(text)
    assert out.endswith(" bytes]") and "BEGIN" not in out.replace("[REDACTED:PRIVATE_KEY]", "")


def test_trailing_list_items_dropped_when_strings_are_not_enough():
    value = [{"i": i, "role": "user"} for i in range(5000)]
    out, stats = redactor(max_value_bytes=1024).apply(value)
    assert stats.truncated and isinstance(out, list) and 0 < len(out) < 5000
    assert out == value[: len(out)] and len(dumps(out).encode()) <= 1024


def test_many_keys_fall_back_to_a_marker_string():
    out, stats = redactor(max_value_bytes=256).apply({f"k{i}": i for i in range(1000)})
    assert stats.truncated and len(dumps(out).encode()) <= 256


def test_escapes_and_multibyte_characters_are_counted_in_encoded_bytes():
    value = {"a": "\"\\\n\u0001" * 3000, "b": "ünïcödé😀" * 3000}
    out, _ = redactor(max_value_bytes=2000).apply(value)
    encoded = dumps(out).encode()
    assert len(encoded) <= 2000 and json.loads(encoded) is not None
    assert set(out) == {"a", "b"} and out["a"].endswith(" bytes]") and out["b"].endswith(" bytes]")


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.random()
    if depth > 4 or kind < 0.35:
        pieces = ["a", "é", "😀", "\"", "\\", "\n", "x" * rng.randint(1, 50), " ", "\u2028",
                  "z y" * rng.randint(0, 300)]
        return "".join(rng.choice(pieces) for _ in range(rng.randint(0, 20)))
    if kind < 0.45:
        return rng.choice([0, -1, 1.5, True, None, 10**12])
    if kind < 0.75:
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 12))]
    return {f"k{i}": _random_value(rng, depth + 1) for i in range(rng.randint(0, 8))}


def _check_cap(value: Any, cap: int) -> None:
    out, stats = Redactor(RedactionConfig.load(env={}, max_value_bytes=cap, enabled=False)).apply(value)
    assert stats.failed == 0
    encoded = dumps(out).encode()
    assert len(encoded) <= cap
    assert json.loads(encoded) == out
    if len(dumps(value).encode()) <= cap:
        assert out == json.loads(dumps(value)) and not stats.truncated
    else:
        assert stats.truncated
        assert type(out) is type(json.loads(dumps(value))) or (isinstance(out, str) and out.startswith("…[truncated"))


def test_truncation_property_random_values():
    rng = random.Random(7)
    for _ in range(400):
        _check_cap(_random_value(rng), rng.choice([256, 300, 512, 1000, 4096, 16384]))


try:
    from hypothesis import given, settings
    from hypothesis import strategies as st
except ImportError:  # the random cases above cover the property without hypothesis
    pass
else:
    json_values = st.recursive(
        st.none() | st.booleans() | st.integers(-10**6, 10**6) | st.text(max_size=3000),
        lambda children: st.lists(children, max_size=10) | st.dictionaries(st.text(max_size=10), children, max_size=8),
        max_leaves=60,
    )

    @settings(max_examples=200, deadline=None)
    @given(json_values, st.sampled_from([256, 700, 2048]))
    def test_truncation_property_hypothesis(value, cap):
        _check_cap(value, cap)


def test_deep_nesting_and_cycles_are_cut_not_fatal():
    deep: Any = "a@b.io"
    for _ in range(200):
        deep = [deep]
    out, stats = redactor().apply(deep)
    assert stats.truncated and "a@b.io" not in dumps(out)
    cyclic: dict[str, Any] = {"x": "y"}
    cyclic["self"] = cyclic
    out, stats = redactor().apply(cyclic)
    assert out is not None and stats.truncated


# --- fail closed ---------------------------------------------------------------------------


def test_fail_closed_when_the_callback_raises():
    def boom(text: str) -> str:
        raise RuntimeError("user bug")

    out, stats = redactor(callback=boom).apply([{"content": "raw secret 4111111111111111"}])
    assert out is None and stats.failed == 1 and stats.redactions == {}
    encoded, stats = redactor(callback=boom).apply_json("x")
    assert encoded is None and stats.failed == 1
    with pytest.raises(RuntimeError):
        redactor(callback=boom).redact_value("x")


def test_fail_closed_on_bad_callback_result_and_broken_objects():
    out, stats = redactor(callback=lambda t: None).apply("text")
    assert out is None and stats.failed == 1

    class Broken:
        def __str__(self) -> str:
            raise ValueError("no")

    out, stats = redactor().apply({"a": Broken()})
    assert out is None and stats.failed == 1


def test_apply_json_matches_apply():
    value = {"content": "mail a@b.io", "n": [1, 2, 3]}
    r = redactor()
    encoded, _ = r.apply_json(value)
    assert json.loads(encoded) == r.apply(value)[0]


def test_stats_merge():
    a = Stats(redactions={"email": 1}, binary_replaced=1)
    a.merge(Stats(redactions={"email": 2, "card": 1}, truncated=True, failed=1))
    assert a.redactions == {"email": 3, "card": 1} and a.truncated and a.failed == 1 and a.redacted == 4


# --- configuration errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "kwargs", "message"),
    [
        ({"LLMOTEL_REDACTION": "maybe"}, {}, "LLMOTEL_REDACTION='maybe' is not valid; accepted: on, off"),
        ({"LLMOTEL_REDACTION_DISABLE": "email,emial"}, {}, "LLMOTEL_REDACTION_DISABLE: unknown detector(s) ['emial']"),
        ({"LLMOTEL_REDACTION_ACTIONS": "email=scramble"}, {}, "email='scramble' is not a valid action; accepted: mask"),
        ({"LLMOTEL_REDACTION_ACTIONS": "emal=mask"}, {}, "LLMOTEL_REDACTION_ACTIONS: unknown detector 'emal'"),
        ({"LLMOTEL_REDACTION_ACTIONS": "email"}, {}, "'email' is not a detector=action pair"),
        ({"LLMOTEL_REDACTION_ACTIONS": "email=hash"}, {}, "LLMOTEL_REDACTION_HMAC_KEY is required"),
        ({"LLMOTEL_REDACTION_ACTIONS": "default=hash"}, {}, "LLMOTEL_REDACTION_HMAC_KEY is required"),
        ({"LLMOTEL_REDACTION_HMAC_KEY": "short"}, {}, "LLMOTEL_REDACTION_HMAC_KEY is too short (5 bytes)"),
        ({"LLMOTEL_CONTENT_MAX_BYTES": "ten"}, {}, "LLMOTEL_CONTENT_MAX_BYTES='ten' is not valid; accepted: an int"),
        ({"LLMOTEL_CONTENT_MAX_BYTES": "10"}, {}, "LLMOTEL_CONTENT_MAX_BYTES='10' is not valid"),
        ({"LLMOTEL_REDACTION_PATTERNS": "/nonexistent/p.yaml"}, {}, "cannot read the patterns file"),
        ({}, {"patterns": {"bad": "(unclosed"}}, "patterns: pattern 'bad' is not a valid regex"),
        ({}, {"patterns": {"email": "x"}}, "'email' is a built-in detector"),
        ({}, {"patterns": {"Bad Name": "x"}}, "'Bad Name' is not a valid pattern name"),
        ({}, {"patterns": {"empty": "a*"}}, "matches the empty string"),
        ({}, {"callback": "not callable"}, "callback='not callable' is not valid"),
        ({}, {"max_value_bytes": 0}, "max_value_bytes=0 is not valid"),
        ({}, {"disable": ["nope"]}, "disable: unknown detector(s) ['nope']"),
        ({}, {"actions": {"card": "hash"}}, "HMAC_KEY is required when an action is 'hash' (actions: card)"),
    ],
)
def test_config_errors(env, kwargs, message):
    with pytest.raises(ConfigError) as info:
        RedactionConfig.load(env=env, **kwargs)
    assert message in str(info.value)


def test_bad_patterns_file(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match=r"LLMOTEL_REDACTION_PATTERNS=.*expected a mapping"):
        RedactionConfig.load(env={"LLMOTEL_REDACTION_PATTERNS": str(bad)})
    bad.write_text("x: '(['\n")
    with pytest.raises(ConfigError, match="pattern 'x' is not a valid regex"):
        RedactionConfig.load(env={"LLMOTEL_REDACTION_PATTERNS": str(bad)})
    bad.write_text("x: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML/JSON"):
        RedactionConfig.load(env={"LLMOTEL_REDACTION_PATTERNS": str(bad)})


def test_unknown_keyword_and_defaults():
    with pytest.raises(TypeError, match="unknown settings"):
        RedactionConfig.load(env={}, detectors=["email"])
    config = RedactionConfig.load(env={})
    assert config.enabled and config.max_value_bytes == 16384 and config.default_action == "mask"
    assert config.hmac_key is None and config.patterns == {} and config.disable == frozenset()


def test_hmac_key_never_in_repr():
    config = RedactionConfig.load(env={"LLMOTEL_REDACTION_HMAC_KEY": KEY, "LLMOTEL_REDACTION_ACTIONS": "default=hash"})
    assert KEY not in repr(config) and config.hmac_key == KEY.encode()


def test_redactor_rejects_hash_without_key_when_built_directly():
    with pytest.raises(ConfigError, match="LLMOTEL_REDACTION_HMAC_KEY"):
        Redactor(RedactionConfig(default_action="hash"))
