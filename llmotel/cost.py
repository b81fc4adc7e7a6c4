"""Cost you can trust: genai-prices for the price table, a YAML file for overrides.

Every inference span gets ``llmotel.cost.amount`` / ``.currency`` / ``.source``. The
source says where the number came from: ``provider`` (the provider reported it, e.g.
OpenRouter's ``usage.cost``), ``override`` (the user's file), ``price_table``
(genai-prices) or ``unknown``. An unknown model is never $0: the amount is absent,
the source says ``unknown`` and ``llmotel_cost_unpriced_calls_total`` grows.

The price table loads on the first priced call (once, ~50 ms), in the caller's thread:
importing it in a background thread raced with the app's own imports (genai-prices
imports httpx2; openai checks ``sys.modules`` for it and saw a half-initialised module).

genai-prices' own ``calc_price`` costs ~100 µs per call (model matching, Decimal unit
registry). llmotel resolves each (provider, model) once to per-token prices and then
prices a call with a few float operations; models whose price shape is not linear in
the tokens llmotel knows (tiers included) are still exact, everything else falls back
to genai-prices itself. The golden tests compare both paths.
"""

from __future__ import annotations

import fnmatch
import logging
import threading
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmotel.config import ConfigError

_log = logging.getLogger("llmotel")

SOURCE_PROVIDER = "provider"
SOURCE_OVERRIDE = "override"
SOURCE_PRICE_TABLE = "price_table"
SOURCE_UNKNOWN = "unknown"
CURRENCY = "USD"

# gen_ai.provider.name -> genai-prices provider id
_PROVIDER_IDS = {
    "openai": "openai",
    "anthropic": "anthropic",
    "azure.ai.openai": "azure",
    "azure.ai.inference": "azure",
    "aws.bedrock": "aws",
    "gcp.vertex_ai": "google",
    "gcp.gemini": "google",
    "gcp.gen_ai": "google",
    "deepseek": "deepseek",
    "groq": "groq",
    "mistral_ai": "mistral",
    "x_ai": "x-ai",
    "perplexity": "perplexity",
    "moonshot_ai": "moonshotai",
    "cohere": "cohere",
    "openrouter": "openrouter",
}
# Token prices llmotel prices itself; other price keys meter usage llmotel never
# reports (web searches, audio hours, ...), which genai-prices then counts as 0 too.
_TOKEN_KEYS = ("input_mtok", "output_mtok", "cache_read_mtok", "cache_write_mtok")
_SLOW_KEYS = frozenset(("output_reasoning_mtok",))


@dataclass(frozen=True, slots=True)
class Usage:
    """Token counts of one call, in the conventions' sense (cache and reasoning are subsets)."""

    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class _Rates:
    """Per-token USD rates, with tier thresholds on total input tokens."""

    tiers: tuple[tuple[int, tuple[float, float, float, float]], ...]  # (start, rates) descending start
    base: tuple[float, float, float, float]  # input, output, cache read, cache write per token
    per_request: float = 0.0

    def price(self, u: Usage) -> float:
        rates = self.base
        for start, tier_rates in self.tiers:
            if u.input_tokens > start:
                rates = tier_rates
                break
        inp, out, read, write = rates
        uncached = u.input_tokens - u.cache_read_tokens - u.cache_write_tokens
        return uncached * inp + u.cache_read_tokens * read + u.cache_write_tokens * write + u.output_tokens * out + (
            self.per_request
        )


@dataclass(frozen=True, slots=True)
class Override:
    """One price override from the user's file (glob on the model name)."""

    match: str
    provider: str | None
    rates: _Rates


class CostModel:
    """Prices calls: overrides first, then genai-prices; cached per (provider, model)."""

    def __init__(self, overrides: list[Override] | None = None, deployments: dict[str, str] | None = None,
                 use_price_table: bool = True) -> None:
        self._overrides = overrides or []
        self._deployments = deployments or {}
        self._use_price_table = use_price_table
        self._cache: dict[tuple[str, str], tuple[_Rates | Any | None, str]] = {}
        self._lock = threading.Lock()

    def price(self, provider: str, model: str | None, usage: Usage) -> tuple[float | None, str]:
        """(amount in USD or None, source) for one call."""
        if not model:
            return None, SOURCE_UNKNOWN
        key = (provider, model)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._resolve(provider, model)
            with self._lock:
                if len(self._cache) > 4096:
                    self._cache.clear()
                self._cache[key] = hit
        rates, source = hit
        if rates is None:
            return None, SOURCE_UNKNOWN
        if isinstance(rates, _Rates):
            return rates.price(usage), source
        return _slow_price(rates, usage), source

    def _resolve(self, provider: str, model: str) -> tuple[Any, str]:
        model = self._deployments.get(model, model)
        for override in self._overrides:
            if (override.provider is None or override.provider == provider) and fnmatch.fnmatchcase(
                model.lower(), override.match.lower()
            ):
                return override.rates, SOURCE_OVERRIDE
        if not self._use_price_table:
            return None, SOURCE_UNKNOWN
        try:
            return _table_rates(provider, model), SOURCE_PRICE_TABLE
        except LookupError:
            return None, SOURCE_UNKNOWN


def _table_rates(provider: str, model: str) -> Any:
    """Linear rates for ``model`` from genai-prices, or a (model info, provider) pair for the slow path."""
    from genai_prices import data_snapshot, types

    snapshot = data_snapshot.get_snapshot()
    provider_id = _PROVIDER_IDS.get(provider)
    found_provider, info = snapshot.find_provider_model(model, None, provider_id, None)
    prices = info.get_prices(datetime.now(tz=UTC))
    values = {k: v for k, v in prices.__dict__.items() if v is not None and not k.startswith("_")}
    if _SLOW_KEYS & set(values):
        return (info, found_provider)
    starts: set[int] = set()
    for key in _TOKEN_KEYS:
        value = values.get(key)
        if isinstance(value, types.TieredPrices):
            starts.update(t.start for t in value.tiers)

    def rates_at(total_input: int) -> tuple[float, float, float, float]:
        out = []
        for key in _TOKEN_KEYS:
            value = values.get(key)
            if key in ("cache_read_mtok", "cache_write_mtok") and value is None:
                value = values.get("input_mtok")  # unpriced cache tokens bill as plain input
            out.append(_per_token(value, total_input, types))
        return out[0], out[1], out[2], out[3]

    tiers = tuple((start, rates_at(start + 1)) for start in sorted(starts, reverse=True))
    per_request = float(values["requests_kcount"]) / 1000.0 if "requests_kcount" in values else 0.0
    return _Rates(tiers=tiers, base=rates_at(0), per_request=per_request)


def _per_token(value: Any, total_input: int, types: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, types.TieredPrices):
        price = value.base
        for tier in reversed(value.tiers):
            if total_input > tier.start:
                price = tier.price
                break
        return float(price) / 1_000_000
    return float(value) / 1_000_000


def _slow_price(resolved: Any, usage: Usage) -> float:
    from genai_prices import Usage as PriceUsage

    info, provider = resolved
    calc = info.calc_price(
        PriceUsage(input_tokens=usage.input_tokens, output_tokens=usage.output_tokens,
                   cache_read_tokens=usage.cache_read_tokens, cache_write_tokens=usage.cache_write_tokens),
        provider,
    )
    return float(calc.total_price)


_models: dict[str | None, CostModel] = {}


def cost_model(path: str | Path | None) -> CostModel:
    """The CostModel for an overrides file path (loaded and validated once per path)."""
    key = None if path is None else str(path)
    model = _models.get(key)
    if model is None:
        model = _models[key] = load_overrides(path)
    return model


def load_overrides(path: str | Path | None) -> CostModel:
    """Build the CostModel from an overrides YAML file (or defaults without one).

    Raises :class:`ConfigError` naming the file, entry and field for anything invalid,
    so a typo fails at ``init()``, not as silently wrong prices later.
    """
    if path is None:
        return CostModel()
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"cost overrides file {str(p)!r} (LLMOTEL_COST_OVERRIDES) does not exist")
    try:
        import yaml
    except ImportError:
        raise ConfigError("cost overrides need PyYAML: pip install pyyaml") from None
    try:
        data = yaml.safe_load(p.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"cost overrides file {str(p)!r} is not valid YAML: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(f"cost overrides file {str(p)!r}: expected a mapping at the top level")
    known = {"currency", "models", "deployments", "price_table"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"cost overrides file {str(p)!r}: unknown keys {unknown}; known: {sorted(known)}")
    if data.get("currency", CURRENCY) != CURRENCY:
        raise ConfigError(f"cost overrides file {str(p)!r}: currency must be USD (prices are compared in USD)")
    overrides = [_override(entry, i, p) for i, entry in enumerate(data.get("models") or [])]
    deployments = data.get("deployments") or {}
    if not isinstance(deployments, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                    for k, v in deployments.items()):
        raise ConfigError(f"cost overrides file {str(p)!r}: deployments must map deployment name -> model name")
    use_table = data.get("price_table", True)
    if not isinstance(use_table, bool):
        raise ConfigError(f"cost overrides file {str(p)!r}: price_table must be true or false")
    return CostModel(overrides, deployments, use_table)


_OVERRIDE_FIELDS = {
    "input_per_mtok": 0, "output_per_mtok": 1, "cache_read_per_mtok": 2, "cache_write_per_mtok": 3,
}


def _override(entry: Any, index: int, path: Path) -> Override:
    where = f"cost overrides file {str(path)!r}, models[{index}]"
    if not isinstance(entry, dict) or not isinstance(entry.get("match"), str):
        raise ConfigError(f"{where}: each entry needs 'match' (a model name or glob)")
    allowed = {"match", "provider", "per_request", *_OVERRIDE_FIELDS}
    unknown = sorted(set(entry) - allowed)
    if unknown:
        raise ConfigError(f"{where}: unknown fields {unknown}; known: {sorted(allowed)}")
    rates = [0.0, 0.0, None, None]
    for field, slot in _OVERRIDE_FIELDS.items():
        value = entry.get(field)
        if value is None:
            continue
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ConfigError(f"{where}: {field} must be a non-negative number (USD per million tokens)")
        rates[slot] = float(value) / 1_000_000
    rates[2] = rates[0] if rates[2] is None else rates[2]
    rates[3] = rates[0] if rates[3] is None else rates[3]
    per_request = entry.get("per_request", 0.0)
    if isinstance(per_request, bool) or not isinstance(per_request, (int, float)) or per_request < 0:
        raise ConfigError(f"{where}: per_request must be a non-negative number (USD per call)")
    provider = entry.get("provider")
    if provider is not None and not isinstance(provider, str):
        raise ConfigError(f"{where}: provider must be a gen_ai.provider.name such as 'openai'")
    return Override(entry["match"], provider, _Rates(tiers=(), base=(rates[0], rates[1], rates[2], rates[3]),
                                                      per_request=float(per_request)))
