"""Redaction and size/shape limits for captured content: a pure library (issue #5).

Everything llmotel captures (message JSON, tool arguments and results, retrieval queries,
workflow inputs and outputs, evaluation explanations) passes through a :class:`Redactor`
once, at span end, on the *assembled* value, by way of the content gate in
:mod:`llmotel.telemetry.capture`. That single call:

1. walks the value (dicts, lists, tuples, strings, ints, bytes, pydantic models), building
   new containers (the caller's objects are never mutated; tuples come back as lists, since
   the result is JSON-shaped anyway);
2. replaces binary payloads (``bytes`` values, ``data:`` URIs, base64-looking strings of at
   least 1 KiB, the ``content`` of ``{"type": "blob"}`` parts) by a placeholder carrying the
   mime type, the size in bytes and a SHA-256 prefix;
3. runs the detectors over every string leaf *and every string key* (keys are usually schema
   and never match, but a dict keyed by e-mail address must not leak through its keys), and
   over large ints (a card number sent as a JSON number); values under credential-named keys
   (``password``, ``api_key``, ``authorization`` ...) are redacted whole;
4. applies the user's ``callback(text) -> text`` to every string leaf (after the detectors,
   so the callback never sees what they caught);
5. caps the compact UTF-8 JSON encoding of the value at ``max_value_bytes``, truncating
   JSON-aware so that the result still serialises to valid JSON within the cap.

If anything raises on the way (a user callback, a malformed object) :meth:`Redactor.apply`
returns ``None``, never the raw value (fail closed), and counts the failure in its stats.

The module compiles no regex at import time (about 2 ms to import): building a
:class:`Redactor` compiles them (about 5 ms), so with content capture off nothing here is paid.

Speed: only regexes that begin with a literal run over whole texts (the engine skips ahead to
the literal); the others run in windows around cheap anchors (see ``_LOCATORS``), short strings
without any feature a detector needs skip it (``_needs``), and strings already seen are
remembered by hash (``_seen``). ``benchmarks/redaction.py`` measures the cost per KiB.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, fields
from types import MappingProxyType
from typing import Any

from llmotel.config import ConfigError

__all__ = [
    "ACTIONS",
    "DETECTORS",
    "ENV_ACTIONS",
    "ENV_DISABLE",
    "ENV_HMAC_KEY",
    "ENV_MAX_BYTES",
    "ENV_PATTERNS",
    "ENV_REDACTION",
    "RedactionConfig",
    "Redactor",
    "Stats",
]


class _Lazy:
    """A module-level regex compiled on first use: importing this module compiles nothing
    (content capture off pays nothing); building a :class:`Redactor` compiles them all."""

    __slots__ = ("name",)

    def __init__(self, name: str) -> None:
        self.name = name

    def __getattr__(self, attr: str) -> Any:
        _compile_all()
        return getattr(globals()[self.name], attr)


_PATTERNS: dict[str, tuple[Any, int]] = {}


def _lazy(name: str, pattern: str | bytes, flags: int = 0) -> Any:
    _PATTERNS[name] = (pattern, flags)
    return _Lazy(name)


def _compile_all() -> None:
    """Replace every lazy module-level regex by its compiled pattern (idempotent)."""
    module = globals()
    for name, (pattern, flags) in _PATTERNS.items():
        if isinstance(module[name], _Lazy):
            module[name] = re.compile(pattern, flags)


ENV_REDACTION = "LLMOTEL_REDACTION"
ENV_DISABLE = "LLMOTEL_REDACTION_DISABLE"
ENV_ACTIONS = "LLMOTEL_REDACTION_ACTIONS"
ENV_HMAC_KEY = "LLMOTEL_REDACTION_HMAC_KEY"
ENV_MAX_BYTES = "LLMOTEL_CONTENT_MAX_BYTES"
ENV_PATTERNS = "LLMOTEL_REDACTION_PATTERNS"

ACTIONS = ("mask", "hash", "drop")
DEFAULT_MAX_VALUE_BYTES = 16384
MIN_MAX_VALUE_BYTES = 256
MAX_MAX_VALUE_BYTES = 64 * 1024 * 1024
MIN_HMAC_KEY_BYTES = 16
# Base64-looking strings (and runs inside text) at least this long are treated as binary.
BINARY_MIN_CHARS = 1024
# For short strings (most of a structure: keys, roles, ids, dates), what each group of detectors
# needs at least one of (see _needs); a string that has none of them is not scanned at all.
_GATE_MAX_LEN = 512
_KEYWORDS = ("bearer", "authorization", "pass", "secret", "key", "token", "cookie", "credential", "ssn", "social",
             "ss#")
_NON_DIGITS = bytes(b for b in range(256) if not 48 <= b <= 57)


def _needs(text: str) -> set[str]:
    """The detector groups a short string can match at all (supersets of what the rules need):
    "@", "://", "data:", two colons, a keyword, or 9 digits (8 after "+", 4 in a dotted quad)."""
    need = set()
    if "@" in text:
        need.add("email")
    if "://" in text:
        need.add("url")
    if "data:" in text:
        need.add("data")
    if text.count(":") >= 2:
        need.add("colons")
    low = text.lower()
    if any(word in low for word in _KEYWORDS):
        need.add("kw")
    digits = len(text.encode("utf-8", "surrogatepass").translate(None, _NON_DIGITS))
    if digits >= 9 or (digits >= 8 and "+" in text) or (digits >= 4 and text.count(".") >= 3):
        need.add("numeric")
    return need


# Strings already scanned are remembered by (length, str hash, binary scan), with their redacted
# result when they had matches: conversations re-send their history on every call, and schema
# keys repeat. The original text is never kept, only what would be exported anyway. (str hashes
# are SipHash with a per-process random key: collisions cannot be aimed at.)
_SEEN_MAX_LEN = 64 * 1024
_SEEN_SIZE = 8192
_SEEN_CHARS = 4 * 1024 * 1024
_MISS = object()
# How far past the cut a huge string is still scanned (the longest value that may straddle it:
# private-key blocks are under 10 KiB, and a cut-off block is matched anyway).
_SCAN_MARGIN = 64 * 1024
# Deeper nesting is cut (and counted as a truncation): also stops reference cycles.
MAX_DEPTH = 64

DROPPED = "[REDACTED]"
TRUNCATED_MARKER = "…[truncated {} bytes]"
DEPTH_MARKER = f"…[truncated: nested deeper than {MAX_DEPTH} levels]"
# Upper bound of the marker's encoded size, used when budgeting a cut.
_MARKER_MAX = len(TRUNCATED_MARKER.format(10**12).encode())

# Built-in detectors, in precedence order: secrets first, then PII. When matches overlap,
# the whole overlapping region is replaced (nothing matched survives), labelled with the
# winner: secrets before custom patterns before PII before binary runs, then the longest
# span, then this order.
SECRET_DETECTORS = (
    "private_key", "anthropic_key", "openai_key", "aws_access_key", "github_token", "slack_token",
    "jwt", "bearer", "credential",
)
PII_DETECTORS = ("card", "iban", "us_ssn", "email", "phone", "ipv6", "ipv4")
DETECTORS = SECRET_DETECTORS + PII_DETECTORS
_RESERVED_NAMES = frozenset({"default", "callback", "binary", "redacted", "truncated"})
_NAME_RE = re.compile(r"[a-z][a-z0-9_]{0,39}\Z")
_TRUE = ("on", "true", "1", "yes")
_FALSE = ("off", "false", "0", "no")


# --- configuration ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RedactionConfig:
    """Resolved redaction settings; build it with :meth:`RedactionConfig.load`."""

    enabled: bool = True
    disable: frozenset[str] = frozenset()
    # detector name -> action; detectors not listed use default_action.
    actions: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    default_action: str = "mask"
    # Never printed: a repr of the config must not leak the key into logs.
    hmac_key: bytes | None = field(default=None, repr=False)
    max_value_bytes: int = DEFAULT_MAX_VALUE_BYTES
    # Custom detectors: name -> regex source. A group named ``value`` narrows what is replaced.
    patterns: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    callback: Callable[[str], str] | None = None

    def action_for(self, name: str) -> str:
        """The action applied to matches of detector ``name``."""
        return self.actions.get(name, self.default_action)

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> RedactionConfig:
        """Resolve from keyword ``overrides``, then ``env`` (default ``os.environ``), then defaults.

        Overrides: ``enabled``, ``disable`` (names), ``actions`` (``{name: action}``, key
        ``default`` for the rest), ``patterns`` (``{name: regex}``, replaces the file's),
        ``patterns_file``, ``callback``, ``hmac_key`` (str or bytes), ``max_value_bytes``.
        Raises :class:`~llmotel.config.ConfigError` naming the setting and the accepted
        values, and ``TypeError`` for an unknown keyword.
        """
        env = os.environ if env is None else env
        known = {f.name for f in fields(cls)} | {"patterns_file"}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"RedactionConfig.load() got unknown settings {unknown}; known: {sorted(known)}")

        if "enabled" in overrides:
            enabled = _switch(overrides["enabled"], "enabled")
        else:
            raw = env.get(ENV_REDACTION)
            enabled = True if raw is None or raw.strip() == "" else _switch(raw, ENV_REDACTION)

        if "patterns" in overrides:
            patterns = _check_patterns(overrides["patterns"] or {}, "patterns")
        else:
            path = overrides.get("patterns_file", env.get(ENV_PATTERNS))
            source = "patterns_file" if "patterns_file" in overrides else ENV_PATTERNS
            patterns = _load_patterns_file(path, source) if path else {}
        names = DETECTORS + tuple(patterns)

        if "disable" in overrides:
            raw_disable = overrides["disable"] or ()
            disable = _check_names(_split(raw_disable) if isinstance(raw_disable, str) else raw_disable,
                                   "disable", names)
        else:
            disable = _check_names(_split(env.get(ENV_DISABLE, "")), ENV_DISABLE, names)

        if "actions" in overrides:
            raw_actions = overrides["actions"] or {}
            actions = _parse_actions(raw_actions, "actions") if isinstance(raw_actions, str) else dict(raw_actions)
            setting = "actions"
        else:
            actions = _parse_actions(env.get(ENV_ACTIONS, ""), ENV_ACTIONS)
            setting = ENV_ACTIONS
        default_action = actions.pop("default", "mask")
        _check_actions(actions, default_action, setting, names)

        if "hmac_key" in overrides:
            key_raw, key_setting = overrides["hmac_key"], "hmac_key"
        else:
            key_raw, key_setting = env.get(ENV_HMAC_KEY) or None, ENV_HMAC_KEY
        hmac_key = _check_key(key_raw, key_setting)
        if hmac_key is None and (default_action == "hash" or "hash" in actions.values()):
            hashed = sorted(n for n, a in actions.items() if a == "hash") or ["default"]
            raise ConfigError(
                f"{ENV_HMAC_KEY} is required when an action is 'hash' ({setting}: {', '.join(hashed)}); "
                "set it (or hmac_key=...) to a secret of at least 16 bytes, e.g. the output of "
                "`python -c 'import secrets; print(secrets.token_hex(32))'`; llmotel has no built-in key"
            )

        if "max_value_bytes" in overrides:
            max_bytes = _int_setting(overrides["max_value_bytes"], "max_value_bytes")
        else:
            raw = env.get(ENV_MAX_BYTES)
            max_bytes = DEFAULT_MAX_VALUE_BYTES if raw is None or raw.strip() == "" else _int_setting(
                raw, ENV_MAX_BYTES)

        callback = overrides.get("callback")
        if callback is not None and not callable(callback):
            raise ConfigError(f"callback={callback!r} is not valid; accepted: a function (text: str) -> str")

        return cls(
            enabled=enabled,
            disable=frozenset(disable),
            actions=MappingProxyType(dict(actions)),
            default_action=default_action,
            hmac_key=hmac_key,
            max_value_bytes=max_bytes,
            patterns=MappingProxyType(dict(patterns)),
            callback=callback,
        )


def _split(raw: str) -> list[str]:
    return [part.strip().lower() for part in raw.split(",") if part.strip()]


def _switch(raw: object, name: str) -> bool:
    if isinstance(raw, bool):
        return raw
    value = raw.strip().lower() if isinstance(raw, str) else None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not valid; accepted: on, off")


def _check_names(names: Iterable[str], setting: str, known: tuple[str, ...]) -> list[str]:
    names = [str(n).strip().lower() for n in names]
    bad = [n for n in names if n not in known]
    if bad:
        raise ConfigError(f"{setting}: unknown detector(s) {bad}; accepted: {', '.join(known)}")
    return names


def _parse_actions(raw: str, setting: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in raw.split(","):
        if not item.strip():
            continue
        name, sep, action = item.partition("=")
        if not sep or not name.strip():
            raise ConfigError(f"{setting}: {item.strip()!r} is not a detector=action pair "
                              f"(e.g. email=hash,card=drop,default=mask)")
        out[name.strip().lower()] = action.strip().lower()
    return out


def _check_actions(actions: dict[str, str], default: str, setting: str, names: tuple[str, ...]) -> None:
    for name, action in [*actions.items(), ("default", default)]:
        if name != "default" and name not in names:
            raise ConfigError(f"{setting}: unknown detector {name!r}; accepted: default, {', '.join(names)}")
        if action not in ACTIONS:
            raise ConfigError(f"{setting}: {name}={action!r} is not a valid action; accepted: {', '.join(ACTIONS)}")


def _check_key(raw: object, setting: str) -> bytes | None:
    if raw is None:
        return None
    if isinstance(raw, str):
        key = raw.encode("utf-8")
    elif isinstance(raw, bytes | bytearray):
        key = bytes(raw)
    else:
        raise ConfigError(f"{setting} is not valid; accepted: a secret string or bytes of at least "
                          f"{MIN_HMAC_KEY_BYTES} bytes")
    if len(key) < MIN_HMAC_KEY_BYTES:
        # Never echo the key itself.
        raise ConfigError(f"{setting} is too short ({len(key)} bytes); accepted: at least {MIN_HMAC_KEY_BYTES} "
                          "bytes, e.g. `python -c 'import secrets; print(secrets.token_hex(32))'`")
    return key


def _int_setting(raw: object, setting: str) -> int:
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str):
        try:
            value = int(raw.strip())
        except ValueError:
            value = None
    if value is None or not MIN_MAX_VALUE_BYTES <= value <= MAX_MAX_VALUE_BYTES:
        raise ConfigError(f"{setting}={raw!r} is not valid; accepted: an integer "
                          f"{MIN_MAX_VALUE_BYTES}-{MAX_MAX_VALUE_BYTES} (bytes of UTF-8 JSON per value)")
    return value


def _check_patterns(patterns: object, setting: str) -> dict[str, str]:
    if not isinstance(patterns, Mapping):
        raise ConfigError(f"{setting}: expected a mapping of detector name to regex, got {type(patterns).__name__}")
    out: dict[str, str] = {}
    for raw_name, regex in patterns.items():
        name = str(raw_name).strip().lower()
        if not _NAME_RE.match(name) or name in _RESERVED_NAMES:
            raise ConfigError(f"{setting}: {raw_name!r} is not a valid pattern name; accepted: lower-case "
                              "letters, digits and '_', starting with a letter, at most 40 characters "
                              f"(not {', '.join(sorted(_RESERVED_NAMES))})")
        if name in DETECTORS:
            raise ConfigError(f"{setting}: {raw_name!r} is a built-in detector; pick another name "
                              f"(built-ins: {', '.join(DETECTORS)})")
        if isinstance(regex, re.Pattern):
            regex = regex.pattern
        if not isinstance(regex, str) or not regex:
            raise ConfigError(f"{setting}: pattern {name!r} must be a non-empty regex string")
        try:
            compiled = re.compile(regex)
        except re.error as exc:
            raise ConfigError(f"{setting}: pattern {name!r} is not a valid regex ({exc})") from None
        if compiled.match(""):
            raise ConfigError(f"{setting}: pattern {name!r} matches the empty string; it would redact nothing "
                              "useful and everything everywhere")
        out[name] = regex
    return out


def _load_patterns_file(path: str, setting: str) -> dict[str, str]:
    try:
        with open(path, encoding="utf-8") as fh:
            text = fh.read()
    except OSError as exc:
        raise ConfigError(f"{setting}={path!r}: cannot read the patterns file ({exc.strerror or exc})") from None
    try:
        if path.endswith(".json"):
            data = json.loads(text)
        else:
            import yaml  # a JSON document is valid YAML too

            data = yaml.safe_load(text)
    except Exception as exc:
        raise ConfigError(f"{setting}={path!r}: not valid YAML/JSON ({exc})") from None
    if data is None:
        return {}
    return _check_patterns(data, f"{setting}={path!r}")


# --- stats ----------------------------------------------------------------------------


@dataclass(slots=True)
class Stats:
    """What one :meth:`Redactor.apply` call did, for self-telemetry (see ``semconv``)."""

    redactions: dict[str, int] = field(default_factory=dict)
    truncated: bool = False
    binary_replaced: int = 0
    failed: int = 0

    @property
    def redacted(self) -> int:
        """Total redactions, all detectors."""
        return sum(self.redactions.values())

    def count(self, name: str, n: int = 1) -> None:
        """Add ``n`` redactions by detector ``name``."""
        self.redactions[name] = self.redactions.get(name, 0) + n

    def merge(self, other: Stats) -> None:
        """Fold another call's stats into this one."""
        for name, n in other.redactions.items():
            self.count(name, n)
        self.truncated = self.truncated or other.truncated
        self.binary_replaced += other.binary_replaced
        self.failed += other.failed


# --- validators (pure functions over one match) ---------------------------------------

# A date, unless more groups follow the same way (06.12.34.56.78 is a French number).
_DATE_PREFIX = _lazy("_DATE_PREFIX",
                     r"(?:\d{4}[./\-]\d{1,2}[./\-]\d{1,2}|\d{1,2}[./\-]\d{1,2}[./\-]\d{2,4})(?!\d|[./\-]\d)")
_DIGIT_GROUPS = _lazy("_DIGIT_GROUPS", r"\d+")


def _luhn_ok(digits: str) -> bool:
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch)
        if i % 2:
            d *= 2
            if d > 9:
                d -= 9
        total += d
    return total % 10 == 0


def _card_brand_ok(d: str) -> bool:
    """Issuer prefix and length of the major card networks (a bare Luhn check is 1 in 10)."""
    n = len(d)
    if d[0] == "4":
        return n in (13, 16, 19)  # Visa
    p2, p3, p4, p6 = int(d[:2]), int(d[:3]), int(d[:4]), int(d[:6])
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return n == 16  # Mastercard
    if p2 in (34, 37):
        return n == 15  # American Express
    if 2200 <= p4 <= 2204:
        return n == 16  # Mir
    if p4 == 6011 or p2 == 65 or 644 <= p3 <= 649 or 622126 <= p6 <= 622925:
        return 16 <= n <= 19  # Discover
    if 3528 <= p4 <= 3589:
        return 16 <= n <= 19  # JCB
    if 300 <= p3 <= 305 or p2 in (36, 38, 39) or p4 == 3095:
        return 14 <= n <= 19  # Diners Club
    if p2 in (62, 81):
        return 16 <= n <= 19  # UnionPay
    if p2 == 50 or 56 <= p2 <= 69:
        return 12 <= n <= 19  # Maestro
    return False


def _v_card(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    groups = list(_DIGIT_GROUPS.finditer(m.group()))
    base = m.start()
    # The longest prefix, ending on a digit group, that is a valid card number.
    # Printed cards group digits by 4 (Amex/Diners 4-6-5, 4-6-4): every group but the last has
    # at least 4 digits, which rules out "5 8 13 21 34 55 89 144".
    if any(len(g.group()) < 4 for g in groups[:-1]):
        return None
    for j in range(len(groups), 0, -1):
        digits = "".join(g.group() for g in groups[:j])
        if len(digits) < 13:
            break
        if len(digits) <= 19 and _card_brand_ok(digits) and _luhn_ok(digits):
            return base, base + groups[j - 1].end()
    return None


# IBAN lengths by country (SWIFT IBAN registry).
_IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27,
    "BR": 29, "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28,
    "EE": 20, "EG": 29, "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23,
    "GL": 18, "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27,
    "JO": 30, "KW": 30, "KZ": 20, "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25,
    "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20, "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18,
    "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "RU": 33,
    "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "SO": 23, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}


def _iban_ok(compact: str) -> bool:
    rearranged = compact[4:] + compact[:4]
    value = 0
    for ch in rearranged:
        value = (value * (100 if ch.isalpha() else 10) + int(ch, 36)) % 97
    return value == 1


def _v_iban(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    country = m.group()[:2].upper()
    length = _IBAN_LENGTHS.get(country)
    if length is None:
        return None
    # The greedy match may run into the following word: cut at the country's length.
    count = 0
    for i, ch in enumerate(m.group()):
        if ch.isalnum():
            count += 1
            if count == length:
                compact = "".join(c for c in m.group()[: i + 1] if c.isalnum()).upper()
                if compact[2:4].isdigit() and _iban_ok(compact):
                    return m.start(), m.start() + i + 1
                return None
    return None


_SSN_FAKE = frozenset({"078051120", "219099999"})  # the Woolworth wallet card and the SSA ad sample


def _v_ssn(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    span = m.span("value") if m.groupdict().get("value") is not None else m.span()
    digits = re.sub(r"\D", "", text[span[0]:span[1]])
    return None if digits in _SSN_FAKE else span


def _trim_phone(text: str, m: re.Match[str], ok: Callable[[str, int], bool]) -> tuple[int, int] | None:
    """Longest prefix of the candidate (ending on a digit group) accepted by ``ok``."""
    cand = m.group()
    groups = list(_DIGIT_GROUPS.finditer(cand))
    for j in range(len(groups), 0, -1):
        end = groups[j - 1].end()
        if cand[end:end + 1] == ")":
            end += 1
        if ok(cand[:end], sum(len(g.group()) for g in groups[:j])):
            return m.start(), m.start() + end
    return None


def _intl_ok(cand: str, ndigits: int) -> bool:
    if cand.startswith("00"):
        ndigits -= 2
    return 8 <= ndigits <= 15 and not _DATE_PREFIX.match(cand.lstrip("+"))


def _national_ok(cand: str, ndigits: int) -> bool:
    if not 9 <= ndigits <= 12 or _DATE_PREFIX.match(cand):
        return False
    seps = set(re.sub(r"[\d()]", "", cand))
    if "." in seps and len(seps) > 1:  # "05.06.2023 14": a date and a time, not a number
        return False
    return not re.fullmatch(r"\d{5}-\d{4}", cand)  # US ZIP+4 (02134-1234)


def _v_phone_intl(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    return _trim_phone(text, m, _intl_ok)


def _v_phone_national(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    return _trim_phone(text, m, _national_ok)


_VERSION_CONTEXT = _lazy("_VERSION_CONTEXT",
                         r"(?:\bv|\bver\.?|\bversion|\brelease|\bbuild|\brev|\bassembly)\s*[:=#]?\s*\Z", re.I)


def _v_ipv4(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    s = m.start()
    if text[max(0, s - 2):s] in ("==", ">=", "<=", "~=", "!=") or _VERSION_CONTEXT.search(text, max(0, s - 16), s):
        return None  # a four-part version number
    first = m.group().split(".", 1)[0]
    if first in ("0", "127") or m.group() == "255.255.255.255":
        return None  # unspecified, loopback, broadcast: not about anyone
    return m.span()


def _v_ipv6(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    import ipaddress

    cand = m.group()
    addr, _, _zone = cand.partition("%")
    try:
        ip = ipaddress.IPv6Address(addr)
    except ValueError:
        return None
    if ip.is_loopback or ip.is_unspecified:
        return None
    groups = [g for g in addr.split(":") if g]
    embedded_v4 = "." in addr
    if "::" not in addr and all(len(g) <= 2 for g in groups):
        return None  # a MAC/EUI-64 or hex dump, not an address people write
    if not (embedded_v4 or len(groups) >= 3 or (len(groups) == 2 and max(map(len, groups)) >= 3)):
        return None  # "::2", "1::2": slicing in code
    return m.span()


def _mixed_token(body: str) -> bool:
    return any(c.isupper() for c in body) and any(c.islower() for c in body) and any(c.isdigit() for c in body)


def _v_api_key(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    # Real keys are random base62; "sk-learn-tutorial-2024" is not one.
    return m.span() if _mixed_token(m.group("body")) else None


def _v_jwt(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    header = m.group("header")
    try:
        decoded = base64.urlsafe_b64decode(header + "=" * (-len(header) % 4))
        data = json.loads(decoded)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        return None
    return m.span() if isinstance(data, dict) and "alg" in data else None


def _v_bearer(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    token = m.group("value")
    has_digit = any(c.isdigit() for c in token)
    has_alpha = any(c.isalpha() for c in token)
    mixed_case = any(c.isupper() for c in token) and any(c.islower() for c in token)
    if has_alpha and (has_digit or (len(token) >= 16 and mixed_case) or "." in token.strip(".")):
        return m.span("value")
    return None  # "the bearer instrument"


_AUTH_SCHEMES = frozenset({"bearer", "basic", "digest", "negotiate", "token", "apikey", "api-key"})
# Not a secret but a reference to one: os.environ[...], settings.SECRET, ${VAR}, {{ var }}, <TOKEN>, ****.
_CODE_REF = _lazy("_CODE_REF", r"[A-Za-z_][\w.]*[\[(]|[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+\Z|\$\{|\{\{|<[\w\- ]+>\Z"
                       r"|\*+\Z|x{4,}\Z", re.I)


def _generated(value: str) -> bool:
    """Looks machine-generated or password-like: a digit and a letter, inner upper case, or a symbol."""
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    inner_upper = any(c.isupper() for c in value[1:]) and any(c.islower() for c in value)
    return (has_digit and has_alpha) or inner_upper or (has_alpha and any(c in "!@#$%^&*+=?~/" for c in value))


def _tokenish(value: str) -> bool:
    """A token, not an identifier like nextToken: 8+ characters with digits and letters."""
    return len(value) >= 8 and any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _v_credential(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    name = m.group("name").lower()
    # password/secret fields: any quoted value is the secret. token/key/cookie fields are as often
    # code ("input_token": "next_token", 'Cookie': 'http.cookies'): the value must look generated.
    permissive = "pass" in name or "secret" in name or "credential" in name
    value = m.group("value")
    if value is not None:  # quoted: "password": "...", password = '...'
        if _CODE_REF.match(value) and not any(c.isdigit() for c in value):
            return None  # "{{ vault_password }}", "<YOUR_TOKEN>"
        if not permissive and not _tokenish(value):
            return None
        return m.span("value")
    value = m.group("value2")
    # Unquoted "password: required", "secret: user_id" or "api_key = os.environ[...]" is prose or
    # code: only values that look generated count.
    if len(value) < 6 or _CODE_REF.match(value) or value.lower() in _AUTH_SCHEMES:
        return None  # "Authorization: Bearer ..." is the bearer detector's
    ok = _generated(value) if permissive else _tokenish(value)
    return m.span("value2") if ok else None


def _v_email(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    # git@github.com:org/repo.git (and git+ssh://git@host/...) is a remote, not somebody's address.
    if text[m.end():m.end() + 1] in (":", "/") and m.group().rsplit("@", 1)[0].split("/")[-1] == "git":
        return None
    return m.span()


# --- detector table -------------------------------------------------------------------

_CRED_NAMES = (
    r"pass(?:word|wd|phrase)|secret|client[_-]?secret|secret[_-]?key|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|(?:access|refresh|id|auth|session|bearer)[_-]?token|token|authorization"
    r"|proxy-authorization|x-api-key|cookie|set-cookie|credentials?"
)
# Dict keys whose string value is redacted whole (any prefix: db_password, OPENAI_API_KEY).
_CRED_KEY = _lazy("_CRED_KEY", rf"(?:[\w.\-]*[_.\-])?(?:{_CRED_NAMES})\Z", re.I)

_B64 = r"A-Za-z0-9+/"


def _start(cls: str) -> str:
    """A value starts where no ``cls`` character precedes it, or right after a JSON escape (``\n``)."""
    return rf"(?:(?<![{cls}])|(?<=\\[nrt]))"


def _after(n: int, cls: str) -> str:
    """:func:`_start`, checked *after* an ``n``-character literal prefix: a pattern that begins with
    a literal lets the regex engine skip ahead to it (about 40x faster than a leading lookbehind)."""
    return rf"(?:(?<![{cls}].{{{n}}})|(?<=\\[nrt].{{{n}}}))"


_RAW_RULES: dict[str, list[tuple[str, int, Any]]] = {
    # name: [(regex, flags, validator)]
    "private_key": [(
        r"-----BEGIN[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----"
        r"(?:[\s\S]*?-----END[A-Z0-9 ]*PRIVATE KEY(?: BLOCK)?-----|[A-Za-z0-9+/=\s:,.\-\\]*)",  # or cut short
        0, None)],
    "anthropic_key": [(
        r"sk-ant-" + _after(7, r"\w-") + r"(?P<body>(?:[a-z]+\d{2}-)?[A-Za-z0-9_\-]{20,})(?![\w-])",
        0, _v_api_key)],
    "openai_key": [(
        r"sk-" + _after(3, r"\w-") + r"(?!ant-)(?:(?:proj|svcacct|admin|None)-)?(?P<body>[A-Za-z0-9_\-]{20,})(?![\w-])",
        0, _v_api_key)],
    "aws_access_key": [(r"A(?:KIA|SIA|BIA|CCA)" + _after(4, "A-Za-z0-9") + r"[A-Z0-9]{16}(?![A-Za-z0-9])", 0, None)],
    "github_token": [(
        r"(?:gh[pousr]_" + _after(4, "A-Za-z0-9_") + r"[A-Za-z0-9]{36,255}"
        r"|github_pat_" + _after(11, "A-Za-z0-9_") + r"[A-Za-z0-9_]{22,255})(?![A-Za-z0-9_])",
        0, None)],
    "slack_token": [
        (r"(?:xox[abprse]|xapp)-" + _after(5, r"\w-") + r"[A-Za-z0-9\-]{10,}", 0, None),
        (r"https?://hooks\.slack\.com/(?:services|workflows|triggers)/[A-Za-z0-9_/\-]{8,}", 0, None),
    ],
    "jwt": [(
        r"(?P<header>ey" + _after(2, r"A-Za-z0-9_\-") + r"[A-Za-z0-9_\-]{8,})\.[A-Za-z0-9_\-]{4,}\.[A-Za-z0-9_\-]*"
        r"(?:\.[A-Za-z0-9_\-]+){0,2}",  # JWE has five segments
        0, _v_jwt)],
    # bearer, credential and the SSN keyword rule are matched *at* their keyword (the "@..."
    # locators), so they start with it; the word boundary before it is checked in Python.
    "bearer": [(
        r"(?:bearer\s+|authorization[\"']?\s*[:=]\s*[\"']?(?:(?:basic|bearer|token|apikey|api-key|digest|negotiate)\s+)?)"
        r"(?P<value>[A-Za-z0-9\-._~+/]{8,}=*)",
        re.I, _v_bearer)],
    "credential": [
        # "password": "..." (JSON in text) and password = "...", password: ... (config, env, YAML);
        # the keyword ends the name: db_password, OPENAI_API_KEY, apiKey, client_secret.
        # Quotes may be escaped, even repeatedly (JSON in a JSON string: {\"password\": \"...\"}).
        (r"(?P<name>pass(?:word|wd|phrase)?|secret(?:[_-]?key)?|key|token|authorization|cookie|credentials?)"
         r"\\*[\"']?\s*[:=]\s*"
         r"(?:(?P<quoted>\\*[\"'])(?P<value>(?:[^\"'\\\n]|\\.){1,512})(?P=quoted)|(?P<value2>[^\s\"',;}{]{1,512}))",
         re.I, _v_credential),
        # postgres://user:s3cret@db.example.com/app: the password of a URL's userinfo.
        (r"(?<=://)[^/\s:@\"']{0,128}:(?P<value>[^/\s@\"']{1,256})@", 0, None),
    ],
    "card": [(_start(r"\w\-.+") + r"\d(?:[ \-]?\d){12,18}(?![\w\-]|\.\d)", 0, _v_card)],
    "iban": [(_start("A-Za-z0-9") + r"[A-Za-z]{2}\d{2}(?:[ \-]?[A-Za-z0-9]){11,30}", re.I, _v_iban)],
    "us_ssn": [
        (_start(r"\w\-.") + r"(?!000|666|9\d\d)\d{3}([\- ])(?!00)\d{2}\1(?!0000)\d{4}(?![\w\-]|\.\d)", 0, _v_ssn),
        (r"(?:ssn|social\s+security(?:\s+(?:number|no\.?|#))?|ss\#)\s*(?:is|:|\#|=|-)?\s*"
         r"(?P<value>(?!000|666|9\d\d)\d{3}[\- ]?(?!00)\d{2}[\- ]?(?!0000)\d{4})(?!\d)", re.I, _v_ssn),
    ],
    "email": [(
        _start(r"\w.!#$%&'*+/=?^`{|}~\-") + r"[\w!#$%&'*+/=?^`{|}~\-]+(?:\.[\w!#$%&'*+/=?^`{|}~\-]+)*"
        r"@(?:[\w\-]+\.)+[^\W\d_]{2,}(?![\w\-])",
        0, _v_email)],
    "phone": [
        # international: +CC or 00CC, then groups
        (_start(r"\w+.\-/") + r"(?:\+|00)[1-9]\d{0,2}(?:[ .\-]?\(\d{1,4}\))?[ .\-]?\d{1,14}(?:[ .\-]\d{1,8}){0,6}"
         r"(?![\w\-]|\.\d)", 0, _v_phone_intl),
        # North America: (415) 555-0100, 415-555-0100, 415.555.0100, 1-800-555-0199
        (_start(r"\w+.\-/") + r"(?:1[ .\-]?)?(?:\([2-9]\d{2}\)[ .\-]?|[2-9]\d{2}[ .\-])[2-9]\d{2}[ .\-]\d{4}"
         r"(?![\w\-]|\.\d)", 0, None),
        # national with trunk 0 (EU, UK): 030 1234567, 06 12 34 56 78, 020 7946 0958, (0)20 ...
        (_start(r"\w+.\-/") + r"(?:\(0\d{1,4}\)|0[1-9]\d{0,3})(?:[ .\-/]\d{2,8}){1,4}(?![\w\-]|\.\d)",
         0, _v_phone_national),
    ],
    "ipv6": [(
        _start(r"\w:.") + r"(?=[0-9A-Fa-f]*:[0-9A-Fa-f]*:)[0-9A-Fa-f:]{2,39}(?:(?<=:)(?:\d{1,3}\.){3}\d{1,3})?"
        r"(?:%[0-9A-Za-z]+)?(?![\w:]|\.\d)",
        0, _v_ipv6)],
    "ipv4": [(
        _start(r"\w.") + r"(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
        r"(?![\w]|\.\d)",
        0, _v_ipv4)],
}

# --- where to look ------------------------------------------------------------------
# A regex that begins with a literal is cheap on any text (the engine skips ahead to the
# literal); one that begins with a character class costs ~5 µs/KiB just to scan. So only
# literal-first regexes run over the whole text; the others run inside windows around cheap
# anchors: str.find hits for keywords (in the lower-cased text), one scan for digit runs
# (over bytes where every digit is "0": a literal again), one for colon groups.

Window = tuple[int, int]
Locator = Callable[[str, dict[str, Any]], list[Window]]
_DIGITS_TO_ZERO = bytes.maketrans(b"123456789", b"000000000")
# 9+ digits, or 8+ after "+", with separators; or a dotted quad. Eight digits make a phone number
# only after "+" (national numbers have 9+, NANP 10), so that dates (2024-03-15) are left out.
# Possessive quantifiers: no backtracking, each attempt is linear; runs start only at a digit that
# follows neither a digit nor a dot. The match may end with separators (stripped in Python).
# (Two regexes: a top-level alternation would cost the literal-prefix skip.)
_NUMERIC_RUN = _lazy("_NUMERIC_RUN", rb"0(?<![0.]0)(?:(?:[ .\-/()]{0,3}+0){8,}+|0{0,2}+\.0{1,3}+\.0{1,3}+\.0{1,3}+)")
_PLUS_RUN = _lazy("_PLUS_RUN", rb"\+[ (]{0,2}+(?:0[ .\-/()]{0,3}+){8,}+")
_INNER_START = _lazy("_INNER_START", rb"[ (/)]")  # a separator after which a card or phone number may start
_COLON_GROUP = _lazy("_COLON_GROUP", r":[0-9A-Fa-f]{0,4}:")
_HEX_COLON = frozenset("0123456789abcdefABCDEF:")
# After a credential keyword: an assignment ("token:", "KEY=", 'secret": '), maybe after a suffix.
_ASSIGNMENT = _lazy("_ASSIGNMENT", r"(?:word|wd|phrase|[_-]?key|s)?\\*[\"']?\s*[:=]", re.I)
_NONSPACE = _lazy("_NONSPACE", r"\S{0,16384}")


def _merge(windows: list[Window], n: int) -> list[Window]:
    windows.sort()
    out: list[Window] = []
    for lo, hi in windows:
        lo, hi = max(0, lo), min(n, hi)
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def _lower(text: str, ctx: dict[str, Any]) -> str | None:
    """The lower-cased text when positions still line up (they do unless e.g. "İ" is in it)."""
    if "low" not in ctx:
        low = text.lower()
        ctx["low"] = low if len(low) == len(text) else None
    return ctx["low"]


def _occurrences(text: str, ctx: dict[str, Any], words: tuple[str, ...]) -> list[tuple[int, int]]:
    """(position, length) of each case-insensitive occurrence of ``words``."""
    low = _lower(text, ctx)
    hay, forms = (low, words) if low is not None else (
        text, tuple(dict.fromkeys(f for w in words for f in (w, w.title(), w.upper()))))
    out = []
    for form in forms:
        i = hay.find(form)
        while i != -1:
            out.append((i, len(form)))
            i = hay.find(form, i + 1)
    return out


def _literal_locator(words: tuple[str, ...], before: int, after: int, extend: bool) -> Locator:
    """Windows around each occurrence of ``words``, optionally grown to the end of the token there."""

    def locate(text: str, ctx: dict[str, Any]) -> list[Window]:
        n = len(text)
        windows: list[Window] = []
        for i, length in _occurrences(text, ctx, words):
            hi = i + length + after
            if extend and hi < n:  # to the end of the token there
                hi = _NONSPACE.match(text, hi).end() + 1
            windows.append((i - before, hi))
        return _merge(windows, n)

    return locate


# Joined spellings that end in a credential keyword: apikey, accesstoken, secretkey.
_JOINED_PREFIXES = ("api", "access", "secret", "private", "auth", "refresh", "session", "bearer", "client", "id")


def _word_start(text: str, p: int) -> bool:
    """A keyword at ``p`` starts a word: after a non-alphanumeric or a JSON escape (\\n)."""
    return p == 0 or not text[p - 1].isalnum() or (p >= 2 and text[p - 2] == "\\" and text[p - 1] in "nrt")


def _name_end(text: str, p: int) -> bool:
    """A keyword at ``p`` ends an identifier: db_password, OPENAI_API_KEY, apiKey, apikey."""
    if _word_start(text, p):
        return True
    if text[p - 1].islower() and text[p].isupper():
        return True  # camelCase
    return text[max(0, p - 8):p].lower().endswith(_JOINED_PREFIXES)


# A bare "key" is a credential only after one of these (api_key, "API key:", x-api-key, ssh_key):
# sort_key=, "primary key:", key=value are not.
_KEY_QUALIFIER = _lazy("_KEY_QUALIFIER", r"(?:api|access|secret|private|signing|encryption|master|license|ssh"
                                         r"|client|subscription|auth)[_\-. ]?\Z", re.I)


def _credential_at(text: str, p: int) -> bool:
    """A credential keyword at ``p`` ends a name (see _name_end); a bare "key" needs a qualifier."""
    if not _name_end(text, p):
        return False
    return text[p:p + 3].lower() != "key" or _KEY_QUALIFIER.search(text, max(0, p - 16), p) is not None


def _anchor_locator(words: tuple[str, ...], boundary: Callable[[str, int], bool], after: int,
                    then: str | None = None) -> Locator:
    """Match positions: each occurrence of ``words`` at a ``boundary`` (and followed by ``then``);
    the rule's regex is matched there (anchored), not searched."""

    def locate(text: str, ctx: dict[str, Any]) -> list[Window]:
        n = len(text)
        follow = globals()[then].match if then else None  # a lazy module-level regex, by name
        starts = sorted({i for i, length in _occurrences(text, ctx, words)
                         if boundary(text, i) and (follow is None or follow(text, i + length))})
        windows = []
        for i in starts:
            hi = min(n, i + after)
            if hi < n:  # to the end of the token there (a long bearer token)
                hi = min(n, _NONSPACE.match(text, hi).end() + 1)
            windows.append((i, hi))
        return windows

    return locate


def _digit_runs(text: str, ctx: dict[str, Any]) -> list[tuple[int, int, int, int, bool]]:
    """(start, end, digits, dots, inside a word) of each digit run of 9+ digits (8+ after "+",
    separators allowed) or dotted quad. "Inside a word": glued to a letter and only "-" or "."
    inside (a UUID's 64-5717-4562), where no card, phone or SSN can start.

    One scan over bytes in which every ASCII digit is "0", so that the regex has a literal to skip
    ahead to. ASCII digits only.
    """
    if "_digit_runs" in ctx:
        return ctx["_digit_runs"]
    raw = text.encode("utf-8", "surrogatepass")
    ascii_only = len(raw) == len(text)
    zeros = raw.translate(_DIGITS_TO_ZERO)
    runs = []
    last_b = last_c = 0
    matches = [*_NUMERIC_RUN.finditer(zeros), *_PLUS_RUN.finditer(zeros)]
    if len(matches) > 1:
        matches.sort(key=lambda m: m.start())
    for m in matches:
        bs, be = m.span()
        run = m.group().rstrip(b" .-/()")
        be = bs + len(run)
        if ascii_only:
            s = bs
        else:  # byte offsets to character offsets, incrementally
            s = last_c + len(raw[last_b:bs].decode("utf-8", "surrogatepass"))
            last_b, last_c = bs, s
        glued = (s > 0 and text[s - 1].isalnum() and not (s > 1 and text[s - 2] == "\\")
                 and run[0] != 43 and _INNER_START.search(run) is None)
        runs.append((s, s + (be - bs), run.count(b"0") + (100 if run[0] == 43 else 0), run.count(b"."), glued))
    ctx["_digit_runs"] = runs
    return runs


def _numeric_locator(min_digits: int, min_dots: int = 0, glued_ok: bool = False) -> Locator:
    """Windows around digit runs with at least ``min_digits`` digits (a "+" before counts as 100)."""

    def locate(text: str, ctx: dict[str, Any]) -> list[Window]:
        return _merge([(s - 3, e + 3) for s, e, digits, dots, glued in _digit_runs(text, ctx)
                       if digits >= min_digits and dots >= min_dots and (glued_ok or not glued)], len(text))

    return locate


def _ipv6_spots(text: str, ctx: dict[str, Any]) -> list[Window]:
    """Colon groups that could be inside an IPv6 address (not "Example::" or "std::")."""
    windows: list[Window] = []
    for m in _COLON_GROUP.finditer(text):
        s = lo = m.start()
        while lo > 0 and s - lo < 40 and text[lo - 1] in _HEX_COLON:
            lo -= 1
        if lo > 0 and (text[lo - 1].isalnum() or text[lo - 1] == "_") and not (
                lo > 1 and text[lo - 2] == "\\" and text[lo - 1] in "nrt"):
            continue  # inside a word, unless after a JSON escape (\n2001:db8::1)
        windows.append((lo, m.end() + 48))
    return _merge(windows, len(text))


def _long_runs(text: str, ctx: dict[str, Any], min_len: int = 960) -> list[Window]:
    """Runs of at least ``min_len`` characters without a space (where base64 blobs hide)."""
    n = len(text)
    windows: list[Window] = []
    step = min_len // 2  # any such run contains a checkpoint within its first half
    i = step
    while i < n:
        if text[i] != " ":
            lo = text.rfind(" ", max(0, i - min_len), i) + 1 or max(0, i - min_len)
            hi = text.find(" ", i, i + min_len)
            if hi == -1:
                hi = _NONSPACE.match(text, min(n, i + min_len)).end()
                while hi < n and text[hi] != " ":
                    hi = _NONSPACE.match(text, hi + 1).end()
            if hi - lo >= min_len:
                windows.append((lo, hi + 1))
                i = hi
        i += step
    return _merge(windows, n)


def _grown(base: str, before: int, after: int) -> Locator:
    """Another locator's windows, grown."""

    def locate(text: str, ctx: dict[str, Any]) -> list[Window]:
        if base not in ctx:
            ctx[base] = _LOCATORS[base](text, ctx)
        return _merge([(lo - before, hi + after) for lo, hi in ctx[base]], len(text))

    return locate


_LOCATORS: dict[str, Locator] = {
    # Cards, phones, SSNs and IPv4 addresses start within 3 characters of a digit run ("(").
    "digits13": _numeric_locator(13),
    "digits9": _numeric_locator(9),
    "dotted_quad": _numeric_locator(4, 3, glued_ok=True),
    "digits9_all": _numeric_locator(9, glued_ok=True),
    # An IBAN's country code and letters ("GB82 WEST 1234...", "MT84 MALT 0110 ... MTLC AST0 01S")
    # sit up to 12 characters before its digits and 28 after.
    "iban": _grown("digits9_all", 12, 28),  # de89370400440532013000: digits glued to letters
    # The leftmost colon group of an address is at most 5 characters into it.
    "ipv6": _ipv6_spots,
    "email": _literal_locator(("@",), 65, 256, False),  # local parts have at most 64 characters
    "url": _literal_locator(("://",), 0, 400, True),
    "runs": _long_runs,
    # Anchored (the rule's regex is matched at each position):
    "@bearer": _anchor_locator(("bearer", "authorization"), _word_start, 96),
    "@credential": _anchor_locator(("pass", "secret", "key", "token", "authorization", "cookie", "credential"),
                                   _credential_at, 600, "_ASSIGNMENT"),
    "@ssn_keyword": _anchor_locator(("ssn", "social", "ss#"), _word_start, 64),
}
_DETECTOR_LOCATOR = {
    "bearer": "@bearer", "credential": "@credential", "card": "digits13", "iban": "iban", "us_ssn": "digits9",
    "phone": "digits9", "ipv4": "dotted_quad", "email": "email", "ipv6": "ipv6",
}
_RULE_LOCATOR = {("us_ssn", 1): "@ssn_keyword", ("credential", 1): "url"}
# The _needs group each rule needs.
_CATEGORY = {  # key detectors (None): always; their prechecks and literal-first regexes are cheap
    "private_key": None, "anthropic_key": None, "openai_key": None, "aws_access_key": None,
    "github_token": None, "slack_token": None, "jwt": None, "bearer": "kw", "credential": "kw",
    "card": "numeric", "iban": "numeric", "us_ssn": "numeric", "email": "email", "phone": "numeric",
    "ipv6": "colons", "ipv4": "numeric",
}
_RULE_CATEGORY = {("slack_token", 1): "url", ("credential", 1): "url", ("us_ssn", 1): "numeric"}

# Cheap checks that rule a whole-text detector out before its regex runs.
_PRECHECKS: dict[str, Callable[[str], bool]] = {
    "private_key": lambda t: "PRIVATE KEY" in t,
    "anthropic_key": lambda t: "sk-ant-" in t,
    "openai_key": lambda t: "sk-" in t,
    "aws_access_key": lambda t: "AKIA" in t or "ASIA" in t or "ABIA" in t or "ACCA" in t,
    "github_token": lambda t: "_" in t and ("gh" in t or "github_pat_" in t),
    "slack_token": lambda t: "xox" in t or "xapp-" in t or "hooks.slack.com" in t,
    "jwt": lambda t: "ey" in t and "." in t,
    "email": lambda t: "@" in t,
}


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


# What the hash action hashes: equal values in different spellings hash equal.
_NORMALIZE: dict[str, Callable[[str], str]] = {
    "email": str.lower,
    "card": _digits,
    "us_ssn": _digits,
    "phone": _digits,
    "iban": lambda s: "".join(c for c in s if c.isalnum()).upper(),
}

# Binary payloads inside text: data: URIs, long base64 runs, MIME-style base64 blocks.
_DATA_URI = (r"data:" + _after(5, r"\w") + r"(?P<mime>[\w.+\-]+/[\w.+\-]+)?(?:;[\w.+\-]+=[\w.+\-%]+)*"
             r"(?:(?P<b64>;base64),[A-Za-z0-9+/=_\-]*|,[^\s\"'<>)\]]*)")
_BINARY_RUNS = (
    rf"(?:(?<![{_B64}_\-])|(?<=\\[nrt]))[{_B64}_\-]{{{BINARY_MIN_CHARS},}}+={{0,2}}",
    # MIME-style: 16+ lines of 60+ base64 characters (possessive: no backtracking into a line).
    rf"(?:(?<![{_B64}])|(?<=\\[nrt]))(?>[{_B64}]{{60,}}+={{0,2}}(?:\r?\n|\\n)){{16,}}[{_B64}]*+={{0,2}}",
)
_B64_WHOLE = _lazy("_B64_WHOLE", r"[A-Za-z0-9+/\r\n]+={0,2}\s*|[A-Za-z0-9_\-]+={0,2}")
_DATA_URI_WHOLE = _lazy("_DATA_URI_WHOLE", _DATA_URI + r"\Z")

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"), (b"\xff\xd8\xff", "image/jpeg"), (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"), (b"%PDF-", "application/pdf"), (b"ID3", "audio/mpeg"), (b"\xff\xfb", "audio/mpeg"),
    (b"\xff\xf3", "audio/mpeg"), (b"OggS", "audio/ogg"), (b"fLaC", "audio/flac"), (b"PK\x03\x04", "application/zip"),
    (b"\x1aE\xdf\xa3", "video/webm"),
)


def _sniff(data: bytes) -> str:
    for magic, mime in _MAGIC:
        if data.startswith(magic):
            return mime
    if data[:4] == b"RIFF" and data[8:12] in (b"WEBP", b"WAVE"):
        return "image/webp" if data[8:12] == b"WEBP" else "audio/wav"
    if data[4:8] == b"ftyp":
        return "video/mp4"
    return "application/octet-stream"


def _binary_placeholder(data: bytes, mime: str | None) -> str:
    digest = hashlib.sha256(data).hexdigest()[:12]
    return f"[BINARY {mime or _sniff(data)} {len(data)} bytes sha256:{digest}]"


def _decode_b64(text: str) -> bytes | None:
    if "-" in text or "_" in text:
        text = text.replace("-", "+").replace("_", "/")
    text = text.replace("\\n", "")
    stripped = "".join(text.split())
    try:
        return binascii.a2b_base64(stripped + "=" * (-len(stripped.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        return None


def _text_binary_placeholder(text: str, mime: str | None = None) -> str:
    """Placeholder for a data: URI or a base64 string (decoded when possible)."""
    m = _DATA_URI_WHOLE.match(text) if text.startswith("data:") else None
    if m is not None:
        payload = text.partition(",")[2]
        mime = mime or m.group("mime")
        if m.group("b64"):
            data = _decode_b64(payload)
        else:
            from urllib.parse import unquote_to_bytes

            data = unquote_to_bytes(payload)
        return _binary_placeholder(data if data is not None else payload.encode(), mime or "text/plain")
    data = _decode_b64(text)
    return _binary_placeholder(data if data is not None else text.encode("utf-8", "surrogatepass"), mime)


class _Detector:
    __slots__ = ("action", "label", "name", "normalize", "order", "precheck", "rank", "rules")

    def __init__(self, name: str, rules: list[tuple[re.Pattern[str], Any, str | None, str | None]], rank: int,
                 order: int,
                 action: str, precheck: Callable[[str], bool] | None = None) -> None:
        self.name = name
        self.label = name.upper()
        # (regex, validator, locator name or None for the whole text, _needs group or None: always)
        self.rules = rules
        self.rank = rank
        self.order = order
        self.action = action
        self.precheck = precheck
        self.normalize = _NORMALIZE.get(name)


def _group_span(m: re.Match[str]) -> tuple[int, int]:
    groups = m.re.groupindex
    for name in ("value", "value2"):
        if name in groups and m.group(name) is not None:
            return m.span(name)
    return m.span()


def _v_group(text: str, m: re.Match[str]) -> tuple[int, int] | None:
    return _group_span(m)


# --- the redactor ---------------------------------------------------------------------


class Redactor:
    """Applies a :class:`RedactionConfig`; safe to share across threads (its only state is a
    bounded cache of results by hash). Values are never mutated; when nothing needs changing,
    the value itself may be returned."""

    def __init__(self, config: RedactionConfig | None = None) -> None:
        _compile_all()
        self.config = config or RedactionConfig()
        self._callback = self.config.callback if self.config.enabled else None
        self._hmac_key = self.config.hmac_key
        uses_hash = self.config.default_action == "hash" or "hash" in self.config.actions.values()
        if uses_hash and self._hmac_key is None:
            raise ConfigError(f"{ENV_HMAC_KEY} is required when an action is 'hash'; llmotel has no built-in key")
        self._max = self.config.max_value_bytes
        # Strings longer than this (plus _SCAN_MARGIN) are cut before they are scanned: at most
        # max_value_bytes of them can be exported anyway.
        self._scan_limit = max(4 * self._max, 64 * 1024)
        detectors: list[_Detector] = []
        if self.config.enabled:
            order = 0
            for name in DETECTORS:
                if name in self.config.disable:
                    continue
                rank = 0 if name in SECRET_DETECTORS else 2
                rules = [(re.compile(rx, flags), validator or _v_group,
                          _RULE_LOCATOR.get((name, i), _DETECTOR_LOCATOR.get(name)),
                          _RULE_CATEGORY.get((name, i), _CATEGORY[name]))
                         for i, (rx, flags, validator) in enumerate(_RAW_RULES[name])]
                detectors.append(_Detector(name, rules, rank, order, self.config.action_for(name),
                                           _PRECHECKS.get(name)))
                order += 1
            for name, rx in self.config.patterns.items():
                if name in self.config.disable:
                    continue
                detectors.append(_Detector(name, [(re.compile(rx), _v_group, None, None)], 1, order,
                                           self.config.action_for(name)))
                order += 1
        self._detectors = tuple(detectors)
        self._credential = next((d for d in detectors if d.name == "credential"), None)
        self._binary = (
            _Detector("binary", [(re.compile(_DATA_URI), _v_group, None, "data")], 3, 10**6, "binary",
                      lambda t: "data:" in t),
            _Detector("binary", [(re.compile(rx), _v_group, "runs", "runs") for rx in _BINARY_RUNS], 3, 10**6,
                      "binary", lambda t: len(t) >= 960),
        )
        self._gate = not self.config.patterns  # custom patterns may match anything
        # Strings and structures scanned before (see _SEEN_MAX_LEN): None if clean, else the result.
        self._seen: dict[tuple[int, int, bool], Any] = {}
        self._seen_chars = 0
        self._cred_keys: dict[str, bool] = {}  # dict key -> is a credential field name
        # Nothing built in matches fewer than 6 characters ("a@b.io"); custom patterns might.
        self._min_len = 1 if self.config.patterns else 6

    @property
    def detectors(self) -> tuple[str, ...]:
        """Names of the enabled detectors, in precedence order."""
        return tuple(d.name for d in self._detectors)

    # --- public API ---

    def redact_text(self, text: str) -> tuple[str, dict[str, int]]:
        """Redact one string: ``(result, {detector: count})``. Raises if a callback raises."""
        stats = Stats()
        return self._scan(text, stats), stats.redactions

    def redact_value(self, value: Any) -> Any:
        """Redact and size-cap a JSON-like value, preserving its structure. Raises on failure."""
        out, _ = self._process(value, Stats())
        return out

    def apply(self, value: Any) -> tuple[Any | None, Stats]:
        """The chokepoint's entry: ``(redacted value, stats)``, or ``(None, stats)`` when it fails.

        Fails closed: whatever raises inside (a user callback, a pathological object), the
        raw value is never returned; ``stats.failed`` is 1.
        """
        stats = Stats()
        try:
            out, _ = self._process(value, stats)
        except Exception:
            return None, Stats(failed=1)
        return out, stats

    def apply_json(self, value: Any) -> tuple[str | None, Stats]:
        """Like :meth:`apply`, returning the compact JSON text (the exact bytes that were capped)."""
        stats = Stats()
        try:
            _, encoded = self._process(value, stats)
        except Exception:
            return None, Stats(failed=1)
        return encoded, stats

    def apply_both(self, value: Any) -> tuple[tuple[Any, str] | None, Stats]:
        """Like :meth:`apply`, returning ``((value, compact JSON), stats)`` from one walk, for a
        value exported both structured (an event) and encoded (a span attribute)."""
        stats = Stats()
        try:
            pair = self._process(value, stats)
        except Exception:
            return None, Stats(failed=1)
        return pair, stats

    # --- walk ---

    def _process(self, value: Any, stats: Stats) -> tuple[Any, str]:
        # A structure exported unchanged before (tool definitions, system instructions: the same
        # every call) is recognised by the hash of its JSON and not walked again. (Not blobs:
        # a 20 MB image would be encoded just to be found over the cap.)
        seen_key = None
        if self._callback is None and isinstance(value, dict | list) and not _has_blob(value, 0):
            try:
                encoded = _dumps(value)
            except (TypeError, ValueError):  # bytes, models, cycles: the walk handles them
                encoded = None
            if encoded is not None and len(encoded) <= _SEEN_MAX_LEN and _size(encoded) <= self._max:
                seen_key = (len(encoded), hash(encoded), True)
                if self._seen.get(seen_key, _MISS) is None:
                    return value, encoded
        out = self._walk(value, stats, 0)
        result = self._fit(out, stats)
        if seen_key is not None and not (stats.redactions or stats.binary_replaced or stats.truncated):
            self._remember(seen_key, None)
        return result

    def _walk(self, value: Any, stats: Stats, depth: int) -> Any:
        if isinstance(value, str):
            return self._leaf(value, stats, depth)
        if value is None or isinstance(value, bool | float):
            return value
        if isinstance(value, int):
            return self._int_leaf(value, stats)
        if depth >= MAX_DEPTH:
            stats.truncated = True
            return DEPTH_MARKER
        if isinstance(value, dict):
            return self._dict(value, stats, depth)
        if isinstance(value, list | tuple | set | frozenset):
            return [self._walk(item, stats, depth + 1) for item in value]
        if isinstance(value, bytes | bytearray | memoryview):
            stats.binary_replaced += 1
            return _binary_placeholder(bytes(value), None)
        dump = getattr(value, "model_dump", None)
        if callable(dump):
            return self._walk(dump(exclude_none=True), stats, depth + 1)
        return self._leaf(str(value), stats)

    def _dict(self, value: dict[Any, Any], stats: Stats, depth: int) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        blob = value.get("type") in ("blob", "base64")
        for key, item in value.items():
            new_key = key
            cred = False
            if isinstance(key, str):
                known = self._cred_keys.get(key)
                if known is None:
                    known = _CRED_KEY.match(key) is not None
                    if len(self._cred_keys) < _SEEN_SIZE:
                        self._cred_keys[key] = known
                cred = known
                if len(key) >= self._min_len and self._detectors:
                    new_key = self._scan(key, stats, callback=False, binary=False)
                    if new_key in out:
                        i = 2
                        while f"{new_key}#{i}" in out:
                            i += 1
                        new_key = f"{new_key}#{i}"
            if blob and key in ("content", "data") and isinstance(item, str | bytes | bytearray) and item:
                stats.binary_replaced += 1
                mime = value.get("mime_type") or value.get("media_type")
                mime = mime if isinstance(mime, str) and mime else None
                if isinstance(item, str):
                    out[new_key] = _text_binary_placeholder(item, mime)
                else:
                    out[new_key] = _binary_placeholder(bytes(item), mime)
            elif cred and self._credential is not None and isinstance(item, str) and item:
                out[new_key] = self._replace(self._credential, item, stats)
            else:
                out[new_key] = self._walk(item, stats, depth + 1)
        return out

    def _leaf(self, text: str, stats: Stats, depth: int = 0) -> str:
        n = len(text)
        if n >= BINARY_MIN_CHARS and _B64_WHOLE.fullmatch(text):
            stats.binary_replaced += 1
            return _text_binary_placeholder(text)
        if text.startswith("data:") and _DATA_URI_WHOLE.match(text):
            stats.binary_replaced += 1
            return _text_binary_placeholder(text)
        if n > self._scan_limit + _SCAN_MARGIN:
            return self._scan_head(text, stats)
        if n >= 2 and text[0] in "[{" and text[-1] in "]}" and depth < MAX_DEPTH:
            # JSON in a string (tool-call arguments, tool results): redact it as structure, so that
            # escapes (\n, \u00eb, \") cannot hide a value from the detectors; re-encoded only if changed.
            seen_key = (n, hash(text), True)
            seen = self._seen.get(seen_key, _MISS)
            if seen is not _MISS and self._callback is None:
                if seen is None:
                    return text
                out_text, counts, binaries = seen
                for name, count in counts:
                    stats.count(name, count)
                stats.binary_replaced += binaries
                return out_text
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if isinstance(parsed, dict | list):
                own = Stats()
                out = self._walk(parsed, own, depth + 1)
                stats.merge(own)
                changed = bool(own.redactions or own.binary_replaced or own.truncated)
                out_text = json.dumps(out, ensure_ascii=False) if changed else text
                if n <= _SEEN_MAX_LEN and not own.truncated and self._callback is None:
                    self._remember(seen_key, (out_text, tuple(own.redactions.items()), own.binary_replaced)
                                   if changed else None)
                return out_text
        return self._scan(text, stats)

    def _scan_head(self, text: str, stats: Stats) -> str:
        """A string far over the cap (a 1 MB prompt): only its head can be exported, so only the
        head is scanned. The scan covers ``_SCAN_MARGIN`` characters past the cut, so that a
        value straddling the cut is matched whole; nothing from the cut on is kept."""
        keep = self._scan_limit
        head = text[:keep + _SCAN_MARGIN]
        found = self._find(head, True)
        stats.truncated = True
        if found:
            out, kept_to = self._rewrite(head, found, stats, keep=keep)
            if out == DROPPED:
                return DROPPED
        else:
            out, kept_to = head[:keep], keep
        if self._callback is not None:
            new = self._callback(out)
            if not isinstance(new, str):
                raise TypeError(f"redaction callback returned {type(new).__name__}, expected str")
            if new != out:
                stats.count("callback")
            out = new
        dropped = len(text[kept_to:].encode("utf-8", "surrogatepass"))
        return out + TRUNCATED_MARKER.format(dropped)

    def _int_leaf(self, value: int, stats: Stats) -> Any:
        if -10**6 < value < 10**6 or not self._detectors:
            return value
        text = str(value)
        out = self._scan(text, stats, callback=False, binary=False)
        return value if out == text else out

    # --- text ---

    def _scan(self, text: str, stats: Stats, *, callback: bool = True, binary: bool = True) -> str:
        n = len(text)
        if n >= self._min_len:
            seen_key = (n, hash(text), binary)
            seen = self._seen.get(seen_key, _MISS)
            if seen is _MISS:
                # A short string without any feature a built-in detector needs is clean: one regex
                # call instead of twenty (structures are mostly short strings: keys, roles, ids).
                need = None
                if n <= _GATE_MAX_LEN and self._gate:
                    need = _needs(text) if self._detectors else {"data"}  # off: only the binary checks
                found = self._find(text, binary, need=need)
                if found:
                    own = Stats()
                    text = self._rewrite(text, found, own)
                    stats.merge(own)
                    seen = (text, tuple(own.redactions.items()), own.binary_replaced)
                else:
                    seen = None
                if n <= _SEEN_MAX_LEN:
                    self._remember(seen_key, seen)
            elif seen is not None:  # seen before, with matches: the same result again
                text, counts, binaries = seen
                for name, count in counts:
                    stats.count(name, count)
                stats.binary_replaced += binaries
        if callback and self._callback is not None:
            new = self._callback(text)
            if not isinstance(new, str):
                raise TypeError(f"redaction callback returned {type(new).__name__}, expected str")
            if new != text:
                stats.count("callback")
            text = new
        return text

    def _remember(self, key: tuple[int, int, bool], seen: tuple[str, tuple[tuple[str, int], ...], int] | None) -> None:
        size = 0 if seen is None else len(seen[0])
        if len(self._seen) >= _SEEN_SIZE or self._seen_chars + size > _SEEN_CHARS:
            self._seen.clear()
            self._seen_chars = 0
        self._seen[key] = seen
        self._seen_chars += size

    def _find(self, text: str, binary: bool, need: set[str | None] | None = None) -> list[tuple[int, int, _Detector]]:
        """Every accepted match; ``need``: only the rules of these _needs groups (short strings)."""
        found: list[tuple[int, int, _Detector]] = []
        n = len(text)
        windows: dict[str, Any] = {}  # per text: each locator's windows, and the lower-cased text
        for det in (*self._detectors, *self._binary) if binary else self._detectors:
            if det.precheck is not None and not det.precheck(text):
                continue
            for regex, validate, locator, category in det.rules:
                if need is not None and category is not None and category not in need:
                    continue
                if locator is None:
                    self._search(det, regex, validate, text, found, ((0, n),))
                    continue
                where = windows.get(locator)
                if where is None:
                    where = windows[locator] = _LOCATORS[locator](text, windows)
                if not where:
                    continue
                if locator[0] == "@":
                    self._match_at(det, regex, validate, text, found, where)
                else:
                    self._search(det, regex, validate, text, found, where)
        return found

    @staticmethod
    def _match_at(det: _Detector, regex: re.Pattern[str], validate: Any, text: str,
                  found: list[tuple[int, int, _Detector]], windows: Iterable[Window]) -> None:
        match = regex.match
        for lo, hi in windows:
            m = match(text, lo, hi)
            if m is not None:
                span = validate(text, m)
                if span is not None and span[1] > span[0]:
                    found.append((span[0], span[1], det))

    @staticmethod
    def _search(det: _Detector, regex: re.Pattern[str], validate: Any, text: str,
                found: list[tuple[int, int, _Detector]], windows: Iterable[Window]) -> None:
        search = regex.search
        for lo, hi in windows:
            pos = lo
            while True:
                m = search(text, pos, hi)
                if m is None:
                    break
                span = validate(text, m)
                if span is None:
                    # Rejected: look again from the next character (a valid match may start inside).
                    pos = m.start() + 1
                    continue
                start = span[0]
                if start and text[start - 1] == "\\" and text[start] in "nrtbf":
                    start += 1  # the letter of a JSON escape (\n, \t) is not part of the value
                if span[1] > start:
                    found.append((start, span[1], det))
                pos = max(span[1], m.start() + 1)

    def _rewrite(self, text: str, found: list[tuple[int, int, _Detector]], stats: Stats,
                 keep: int | None = None) -> Any:
        """The text with each cluster of overlapping matches replaced. With ``keep``: only the text
        before ``keep`` (extended to the end of a match across it), as ``(text, kept_to)``."""
        if keep is not None:
            found = [f for f in found if f[0] < keep]
            if not found:
                return text[:keep], keep
        found.sort(key=lambda f: (f[0], -f[1]))
        clusters: list[tuple[int, int, _Detector]] = []
        cs, ce, best = found[0]
        best_len = ce - cs
        for s, e, det in found[1:]:
            if s < ce:  # overlap: one region, labelled by the better detector
                ce = max(ce, e)
                if (det.rank, -(e - s), det.order) < (best.rank, -best_len, best.order):
                    best, best_len = det, e - s
            else:
                clusters.append((cs, ce, best))
                cs, ce, best, best_len = s, e, det, e - s
        clusters.append((cs, ce, best))
        if any(det.action == "drop" for _, _, det in found):
            for _, _, det in clusters:
                if det.action == "binary":
                    stats.binary_replaced += 1
                else:
                    stats.count(det.name)
            return DROPPED if keep is None else (DROPPED, len(text))
        pieces: list[str] = []
        pos = 0
        for s, e, det in clusters:
            pieces.append(text[pos:s])
            pieces.append(self._replace(det, text[s:e], stats))
            pos = e
        if keep is None:
            pieces.append(text[pos:])
            return "".join(pieces)
        kept_to = max(keep, pos)
        pieces.append(text[pos:kept_to])
        return "".join(pieces), kept_to

    def _replace(self, det: _Detector, value: str, stats: Stats) -> str:
        if det.action == "binary":
            stats.binary_replaced += 1
            return _text_binary_placeholder(value)
        stats.count(det.name)
        if det.action == "drop":
            return DROPPED
        if det.action == "hash":
            key = self._hmac_key
            if key is None:  # unreachable through RedactionConfig.load; fail closed anyway
                raise ValueError("hash action without an HMAC key")
            norm = det.normalize(value) if det.normalize else value
            digest = hmac.new(key, norm.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()[:12]
            return f"[{det.label}:hmac:{digest}]"
        return f"[REDACTED:{det.label}]"

    # --- size cap ---

    def _fit(self, value: Any, stats: Stats) -> tuple[Any, str]:
        cap = self._max
        encoded = _dumps(value)
        size = _size(encoded)
        if size <= cap:
            return value, encoded
        stats.truncated = True
        holder = [value]
        cap += 2  # the holder's brackets
        size += 2
        size = _shrink_strings(holder, size, cap)
        if size > cap:
            size = _drop_items(holder, size, cap)
        encoded = _dumps(holder[0])
        if size > cap or _size(encoded) > self._max:  # structure alone is too big (e.g. thousands of keys)
            holder[0] = TRUNCATED_MARKER.format(size - 2)
            encoded = _dumps(holder[0])
        return holder[0], encoded


def _has_blob(value: Any, depth: int) -> bool:
    """A blob part or bytes near the top (messages > parts > part), where images and audio sit."""
    if isinstance(value, dict):
        if value.get("type") in ("blob", "base64"):
            return True
        items: Iterable[Any] = value.values()
    elif isinstance(value, list):
        items = value
    else:
        return isinstance(value, bytes | bytearray | memoryview)
    return depth < 3 and any(_has_blob(item, depth + 1) for item in items
                             if isinstance(item, dict | list | bytes | bytearray | memoryview))


def _dumps(value: Any) -> str:
    # The same encoding as llmotel.telemetry.content.to_json: compact, UTF-8, not ASCII-escaped.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _size(encoded: str) -> int:
    return len(encoded) if encoded.isascii() else len(encoded.encode("utf-8", "surrogatepass"))


def _enc_len(s: str) -> int:
    """Bytes of ``s`` as a JSON string body (without the quotes)."""
    return _size(json.dumps(s, ensure_ascii=False)) - 2


_MARKER_TAIL = _lazy("_MARKER_TAIL", r"…\[truncated (\d+) bytes\]\Z")


def _cut(s: str, budget: int) -> str:
    """The longest prefix of ``s`` plus the truncation marker whose JSON body fits ``budget`` bytes."""
    earlier = 0
    if s.endswith(" bytes]"):  # cut before (a huge string is cut before it is scanned): add up
        m = _MARKER_TAIL.search(s)
        if m is not None:
            earlier = int(m.group(1))
            s = s[:m.start()]
    raw = len(s.encode("utf-8", "surrogatepass")) + earlier
    keep_budget = max(0, budget - _MARKER_MAX)
    prefix = s[:keep_budget].encode("utf-8", "surrogatepass")[:keep_budget].decode("utf-8", "ignore")
    while prefix and _enc_len(prefix) > keep_budget:
        over = _enc_len(prefix) - keep_budget
        prefix = prefix[: max(0, len(prefix) - max(1, over // 6))]
    kept = len(prefix.encode("utf-8", "surrogatepass"))
    return prefix + TRUNCATED_MARKER.format(raw - kept)


def _string_leaves(holder: list[Any]) -> list[tuple[Any, Any, str]]:
    leaves: list[tuple[Any, Any, str]] = []
    stack: list[Any] = [holder]
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for k, v in items:
            if isinstance(v, str):
                leaves.append((node, k, v))
            elif isinstance(v, dict | list):
                stack.append(v)
    return leaves


def _shrink_strings(holder: list[Any], size: int, cap: int) -> int:
    """Cut the longest string leaves to a common length (water-filling) until the value fits."""
    leaves = _string_leaves(holder)
    if not leaves:
        return size
    originals = [(node, k, s, _enc_len(s)) for node, k, s in leaves]
    for _ in range(6):
        excess = size - cap
        if excess <= 0:
            break
        lengths = sorted((cur for *_, cur in _current(originals)), reverse=True)
        # Largest level T with sum(max(0, L - T)) >= excess.
        total = 0
        level = 0
        for i, length in enumerate(lengths):
            total += length
            t = (total - excess) // (i + 1)
            nxt = lengths[i + 1] if i + 1 < len(lengths) else 0
            if t >= nxt:
                level = max(0, min(t, length))
                break
        level = max(level, _MARKER_MAX)
        changed = False
        for node, k, s, full in originals:
            if _enc_len(node[k]) > level and full > level:
                node[k] = _cut(s, level)
                changed = True
        new_size = _size(_dumps(holder))
        if not changed or new_size >= size:
            size = new_size
            break
        size = new_size
    return size


def _current(originals: list[tuple[Any, Any, str, int]]) -> list[tuple[Any, Any, int]]:
    return [(node, k, _enc_len(node[k])) for node, k, _, _ in originals]


def _containers(holder: list[Any]) -> list[Any]:
    out: list[Any] = []
    stack: list[Any] = [holder[0]] if isinstance(holder[0], dict | list) else []
    while stack:
        node = stack.pop()
        out.append(node)
        values = node.values() if isinstance(node, dict) else node
        stack.extend(v for v in values if isinstance(v, dict | list))
    return out


def _drop_items(holder: list[Any], size: int, cap: int) -> int:
    """Drop trailing list items (then trailing dict entries), biggest containers first."""
    for kind in (list, dict):
        nodes = [n for n in _containers(holder) if isinstance(n, kind) and n]
        nodes.sort(key=lambda n: _size(_dumps(n)), reverse=True)
        for node in nodes:
            while node and size > cap:
                if isinstance(node, list):
                    item_size = _size(_dumps(node.pop()))
                else:
                    key = next(reversed(node))
                    item_size = _size(_dumps({key: node.pop(key)})) - 2
                size -= item_size + (1 if node else 0)
            if size <= cap:
                return _size(_dumps(holder))
        size = _size(_dumps(holder))
    return size
