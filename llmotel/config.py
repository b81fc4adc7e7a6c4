"""One Settings object: keyword arguments > environment (OTEL_*, LLMOTEL_*) > defaults.

Every setting is validated here, once, so that a typo fails loudly at ``init()`` time
with the setting's name and the accepted values, instead of silently losing telemetry
later on the hot path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
from typing import Any


class ConfigError(ValueError):
    """Raised by ``init()`` for an invalid setting; the message names the setting."""


class ContentMode(StrEnum):
    """Where captured prompt and completion content goes (opt-in, off by default)."""

    NO_CONTENT = "NO_CONTENT"
    SPAN_ONLY = "SPAN_ONLY"
    EVENT_ONLY = "EVENT_ONLY"
    SPAN_AND_EVENT = "SPAN_AND_EVENT"


_TRACE_LOG_EXPORTERS = ("otlp", "console", "none")
_METRIC_EXPORTERS = ("otlp", "console", "prometheus", "none")
_PROTOCOLS = ("http/protobuf", "grpc")
_EXPORTER_PROTOCOLS = {"otlp_proto_http": "http/protobuf", "otlp_proto_grpc": "grpc"}
_CHUNK_METRICS = ("per_stream", "per_chunk")
_TRUE = ("true", "1", "yes", "on")
_FALSE = ("false", "0", "no", "off", "")

ENV_CAPTURE_CONTENT = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
ENV_EMIT_EVENT = "OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT"


@dataclass(frozen=True, slots=True)
class Settings:
    """The resolved configuration; build it with :meth:`Settings.load`."""

    sdk_disabled: bool = False
    service_name: str | None = None
    resource_attributes: Mapping[str, str] = field(default_factory=dict)
    traces_exporter: tuple[str, ...] = ("otlp",)
    metrics_exporter: tuple[str, ...] = ("otlp",)
    logs_exporter: tuple[str, ...] = ("otlp",)
    # None means "let the OTLP exporter read OTEL_EXPORTER_OTLP_* itself".
    otlp_endpoint: str | None = None
    otlp_protocol: str = "http/protobuf"
    otlp_headers: Mapping[str, str] | None = None
    traces_protocol: str | None = None
    metrics_protocol: str | None = None
    logs_protocol: str | None = None
    prometheus_host: str = "localhost"
    prometheus_port: int = 9464
    metric_export_interval_ms: int = 60000
    capture_content: ContentMode = ContentMode.NO_CONTENT
    emit_event: bool | None = None
    # Adds stream_options.include_usage to streamed chat requests; off because it
    # alters the request and some OpenAI-compatible servers reject it.
    include_usage: bool = False
    # The new gen_ai.client.inference.usage.* counters (conventions mid-migration).
    inference_usage_metrics: bool = False
    # gen_ai.client.operation.time_per_output_chunk: one point per stream (the mean gap)
    # by default, because an SDK histogram record costs ~7 us and per-chunk recording
    # would dominate streaming overhead; "per_chunk" records every gap, as util-genai does.
    chunk_metric: str = "per_stream"
    # Keep anthropic's own per-call span too (as a child of llmotel's); off: one span per call.
    anthropic_native_spans: bool = False
    # Attribution keys sent downstream as W3C baggage, and the ones allowed as metric labels
    # (each capped at metric_attribute_limit distinct values; the rest fold into "_other").
    baggage_keys: tuple[str, ...] = ()
    metric_attributes: tuple[str, ...] = ()
    metric_attribute_limit: int = 100
    # YAML file with price overrides, Azure deployment mapping (see llmotel/cost.py, README).
    cost_overrides: str | None = None
    # Which client libraries to instrument; None means every supported one installed.
    instrument: tuple[str, ...] | None = None
    # Redaction and size limits for captured content (a llmotel.redaction.RedactionConfig,
    # from LLMOTEL_REDACTION_* / LLMOTEL_CONTENT_MAX_BYTES and init(redaction={...})). Always
    # validated; applied only when content capture is on. None: built-in defaults.
    redaction: Any = None

    @property
    def content_on_span(self) -> bool:
        """True when content goes onto spans."""
        return self.capture_content in (ContentMode.SPAN_ONLY, ContentMode.SPAN_AND_EVENT)

    @property
    def content_on_event(self) -> bool:
        """True when the operation-details event carries content."""
        return self.capture_content in (ContentMode.EVENT_ONLY, ContentMode.SPAN_AND_EVENT)

    @property
    def emit_details_event(self) -> bool:
        """True when the ``gen_ai.client.inference.operation.details`` event is emitted."""
        if self.emit_event is not None:
            return self.emit_event
        return self.content_on_event

    @property
    def capture_any_content(self) -> bool:
        """True when content must be collected at all (the hot path skips it otherwise)."""
        return self.capture_content is not ContentMode.NO_CONTENT

    def protocol_for(self, signal: str) -> str:
        """The OTLP protocol for ``traces``, ``metrics`` or ``logs``."""
        return getattr(self, f"{signal}_protocol") or self.otlp_protocol

    @classmethod
    def load(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Resolve settings from keyword ``overrides``, then ``env`` (default ``os.environ``).

        Raises :class:`ConfigError` naming the setting and the accepted values when a
        value is invalid, and ``TypeError`` for an unknown keyword.
        """
        env = os.environ if env is None else env
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(overrides) - known)
        if unknown:
            raise TypeError(f"llmotel.init() got unknown settings {unknown}; known: {sorted(known)}")
        values: dict[str, Any] = {}
        if "redaction" in overrides:
            overrides = dict(overrides)
            values["redaction"] = _redaction(overrides.pop("redaction"), env)
        else:
            values["redaction"] = _redaction(None, env)
        values["sdk_disabled"] = _bool(env, "OTEL_SDK_DISABLED", False)
        values["service_name"] = env.get("OTEL_SERVICE_NAME") or None
        values["resource_attributes"] = _kv_list(env, "OTEL_RESOURCE_ATTRIBUTES")
        values["traces_exporter"] = _exporters(env, "OTEL_TRACES_EXPORTER", _TRACE_LOG_EXPORTERS)
        values["metrics_exporter"] = _exporters(env, "OTEL_METRICS_EXPORTER", _METRIC_EXPORTERS)
        values["logs_exporter"] = _exporters(env, "OTEL_LOGS_EXPORTER", _TRACE_LOG_EXPORTERS)
        values["otlp_endpoint"] = env.get("OTEL_EXPORTER_OTLP_ENDPOINT") or None
        values["otlp_protocol"] = _choice(env, "OTEL_EXPORTER_OTLP_PROTOCOL", _PROTOCOLS, "http/protobuf")
        values["otlp_headers"] = _kv_list(env, "OTEL_EXPORTER_OTLP_HEADERS") or None
        for signal in ("traces", "metrics", "logs"):
            name = f"OTEL_EXPORTER_OTLP_{signal.upper()}_PROTOCOL"
            protocol = _choice(env, name, _PROTOCOLS, None)
            for alias, implied in _EXPORTER_PROTOCOLS.items():
                if protocol is None and alias in env.get(f"OTEL_{signal.upper()}_EXPORTER", ""):
                    protocol = implied
            values[f"{signal}_protocol"] = protocol
        values["prometheus_host"] = env.get("OTEL_EXPORTER_PROMETHEUS_HOST") or "localhost"
        values["prometheus_port"] = _int(env, "OTEL_EXPORTER_PROMETHEUS_PORT", 9464, 0, 65535)
        values["metric_export_interval_ms"] = _int(env, "OTEL_METRIC_EXPORT_INTERVAL", 60000, 1, None)
        values["capture_content"] = _content_mode(env.get(ENV_CAPTURE_CONTENT), ENV_CAPTURE_CONTENT)
        emit = env.get(ENV_EMIT_EVENT)
        values["emit_event"] = None if emit is None else _bool(env, ENV_EMIT_EVENT, False)
        values["include_usage"] = _bool(env, "LLMOTEL_INCLUDE_USAGE", False)
        values["inference_usage_metrics"] = _bool(env, "LLMOTEL_INFERENCE_USAGE_METRICS", False)
        values["anthropic_native_spans"] = _bool(env, "LLMOTEL_ANTHROPIC_NATIVE_SPANS", False)
        values["chunk_metric"] = _choice(env, "LLMOTEL_CHUNK_METRIC", _CHUNK_METRICS, "per_stream")
        values["cost_overrides"] = env.get("LLMOTEL_COST_OVERRIDES") or None
        values["baggage_keys"] = _keys(env.get("LLMOTEL_BAGGAGE_KEYS", ""), "LLMOTEL_BAGGAGE_KEYS")
        values["metric_attributes"] = _keys(env.get("LLMOTEL_METRIC_ATTRIBUTES", ""), "LLMOTEL_METRIC_ATTRIBUTES")
        values["metric_attribute_limit"] = _int(env, "LLMOTEL_METRIC_ATTRIBUTE_LIMIT", 100, 1, 100000)
        instrument = env.get("LLMOTEL_INSTRUMENT")
        values["instrument"] = _names(instrument) if instrument else None

        settings = cls(**values)
        return settings.with_overrides(**overrides) if overrides else settings

    def with_overrides(self, **overrides: Any) -> Settings:
        """Return a copy with keyword overrides applied and validated."""
        clean: dict[str, Any] = {}
        for key, value in overrides.items():
            if value is None and key not in ("otlp_endpoint", "otlp_headers", "emit_event", "instrument",
                                             "cost_overrides"):
                continue
            clean[key] = _coerce(key, value)
        return replace(self, **clean)


def _coerce(key: str, value: Any) -> Any:
    """Validate one keyword override the same way the environment value would be."""
    if key == "capture_content":
        if isinstance(value, bool):
            return ContentMode.SPAN_AND_EVENT if value else ContentMode.NO_CONTENT
        return _content_mode(value.value if isinstance(value, ContentMode) else str(value), key)
    if key in ("traces_exporter", "logs_exporter", "metrics_exporter"):
        allowed = _METRIC_EXPORTERS if key == "metrics_exporter" else _TRACE_LOG_EXPORTERS
        names = _names(value) if isinstance(value, str) else tuple(value)
        return _check_exporters(names, key, allowed)
    if key in ("otlp_protocol", "traces_protocol", "metrics_protocol", "logs_protocol"):
        if value not in _PROTOCOLS:
            raise ConfigError(f"{key}={value!r} is not valid; accepted: {', '.join(_PROTOCOLS)}")
        return value
    if key in ("baggage_keys", "metric_attributes"):
        return _keys(value if isinstance(value, str) else ",".join(value), key)
    if key == "metric_attribute_limit":
        return _int_value(value, key, 1, 100000)
    if key == "chunk_metric" and value not in _CHUNK_METRICS:
        raise ConfigError(f"chunk_metric={value!r} is not valid; accepted: {', '.join(_CHUNK_METRICS)}")
    if key == "instrument" and value is not None:
        return _names(value) if isinstance(value, str) else tuple(value)
    if key in ("resource_attributes", "otlp_headers") and value is not None:
        return dict(value)
    if key in ("sdk_disabled", "include_usage", "inference_usage_metrics", "emit_event", "anthropic_native_spans"):
        # emit_event=None means "derive from capture_content"; a string like "false" must not be truthy.
        return None if value is None else _bool_value(value, key)
    if key == "prometheus_port":
        return _int_value(value, key, 0, 65535)
    if key == "metric_export_interval_ms":
        return _int_value(value, key, 1, None)
    if key == "redaction":
        return _redaction(value, os.environ)
    return value


def _redaction(value: Any, env: Mapping[str, str]) -> Any:
    """A RedactionConfig from ``init(redaction=...)`` (a config, or a dict of its settings
    over the environment's) or from the environment alone."""
    from llmotel.redaction import RedactionConfig

    if value is None:
        return RedactionConfig.load(env)
    if isinstance(value, RedactionConfig):
        return value
    if isinstance(value, Mapping):
        return RedactionConfig.load(env, **value)
    raise ConfigError(f"redaction={value!r} is not valid; accepted: a dict of redaction settings "
                      "(enabled, disable, actions, patterns, patterns_file, callback, hmac_key, "
                      "max_value_bytes) or a llmotel.redaction.RedactionConfig")


def _keys(raw: str, name: str) -> tuple[str, ...]:
    """Attribution keywords (user_id, tenant_id, feature, ... or custom identifiers)."""
    keys = tuple(part.strip() for part in raw.split(",") if part.strip())
    bad = [k for k in keys if not k.isidentifier()]
    if bad:
        raise ConfigError(f"{name}: {bad} are not valid attribution keys; use keyword names such as "
                          "tenant_id, feature, prompt_version, user_id or your custom keyword")
    return keys


def _names(raw: str) -> tuple[str, ...]:
    return tuple(part.strip().lower() for part in raw.split(",") if part.strip())


def _choice(env: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str | None) -> str | None:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    value = raw.strip().lower()
    if value not in allowed:
        raise ConfigError(f"{name}={raw!r} is not valid; accepted: {', '.join(allowed)}")
    return value


def _exporters(env: Mapping[str, str], name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return ("otlp",)
    return _check_exporters(_names(raw), name, allowed)


def _check_exporters(names: tuple[str, ...], name: str, allowed: tuple[str, ...]) -> tuple[str, ...]:
    # opentelemetry-instrument's spellings name the protocol too (see _EXPORTER_PROTOCOLS).
    names = tuple(dict.fromkeys("otlp" if n in _EXPORTER_PROTOCOLS else n for n in names))
    bad = [n for n in names if n not in allowed]
    if bad or not names:
        raise ConfigError(f"{name}={','.join(names)!r} is not valid; accepted: {', '.join(allowed)}")
    if "none" in names and len(names) > 1:
        raise ConfigError(f"{name}: 'none' cannot be combined with other exporters")
    return () if names == ("none",) else names


def _bool(env: Mapping[str, str], name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw is None:
        return default
    return _bool_value(raw, name)


def _bool_value(raw: object, name: str) -> bool:
    if isinstance(raw, bool):
        return raw
    value = raw.strip().lower() if isinstance(raw, str) else None
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ConfigError(f"{name}={raw!r} is not valid; accepted: true, false")


def _int(env: Mapping[str, str], name: str, default: int, lo: int, hi: int | None) -> int:
    raw = env.get(name)
    if raw is None or raw.strip() == "":
        return default
    return _int_value(raw, name, lo, hi)


def _int_value(raw: object, name: str, lo: int, hi: int | None) -> int:
    value: int | None = None
    if isinstance(raw, int) and not isinstance(raw, bool):
        value = raw
    elif isinstance(raw, str):
        try:
            value = int(raw)
        except ValueError:
            value = None
    if value is None or value < lo or (hi is not None and value > hi):
        bound = f"{lo}-{hi}" if hi is not None else f">= {lo}"
        raise ConfigError(f"{name}={raw!r} is not valid; accepted: an integer {bound}")
    return value


def _kv_list(env: Mapping[str, str], name: str) -> dict[str, str]:
    """Parse the W3C-baggage-like ``k=v,k2=v2`` lists OTEL_* variables use."""
    from urllib.parse import unquote

    raw = env.get(name)
    out: dict[str, str] = {}
    if not raw:
        return out
    for item in raw.split(","):
        if not item.strip():
            continue
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"{name}: {item.strip()!r} is not a key=value pair")
        out[unquote(key.strip())] = unquote(value.strip())
    return out


def _content_mode(raw: str | None, name: str) -> ContentMode:
    if raw is None or raw.strip() == "":
        return ContentMode.NO_CONTENT
    value = raw.strip().upper()
    if value == "FALSE":
        return ContentMode.NO_CONTENT
    try:
        return ContentMode(value)
    except ValueError:
        accepted = ", ".join(m.value for m in ContentMode)
        raise ConfigError(
            f"{name}={raw!r} is not valid; accepted: {accepted}"
            " (the legacy 'true' is ambiguous: pick SPAN_ONLY, EVENT_ONLY or SPAN_AND_EVENT)"
        ) from None
