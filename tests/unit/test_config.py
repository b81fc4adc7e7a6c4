"""Settings.load: kwargs > environment > defaults, and a clear ConfigError for every bad value."""

from __future__ import annotations

import pytest

from llmotel.config import ConfigError, ContentMode, Settings

ALL_MODES = ("NO_CONTENT", "SPAN_ONLY", "EVENT_ONLY", "SPAN_AND_EVENT")


def load(env: dict[str, str] | None = None, **kwargs):
    return Settings.load(env={} if env is None else env, **kwargs)


# --- defaults and environment -----------------------------------------------------


def test_defaults():
    s = load()
    assert s.sdk_disabled is False
    assert s.service_name is None
    assert dict(s.resource_attributes) == {}
    assert s.traces_exporter == s.metrics_exporter == s.logs_exporter == ("otlp",)
    assert s.otlp_endpoint is None and s.otlp_headers is None
    assert s.otlp_protocol == "http/protobuf"
    assert (s.traces_protocol, s.metrics_protocol, s.logs_protocol) == (None, None, None)
    assert (s.prometheus_host, s.prometheus_port) == ("localhost", 9464)
    assert s.metric_export_interval_ms == 60000
    assert s.capture_content is ContentMode.NO_CONTENT
    assert s.emit_event is None and s.emit_details_event is False
    assert s.include_usage is False and s.inference_usage_metrics is False
    assert s.instrument is None


def test_environment_is_read():
    env = {
        "OTEL_SDK_DISABLED": "TRUE",
        "OTEL_SERVICE_NAME": "svc",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=prod, team=a%20b",
        "OTEL_TRACES_EXPORTER": "console,otlp",
        "OTEL_METRICS_EXPORTER": "prometheus",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_OTLP_HEADERS": "api-key=abc==,x-tenant=t1",
        "OTEL_EXPORTER_OTLP_METRICS_PROTOCOL": "http/protobuf",
        "OTEL_EXPORTER_PROMETHEUS_HOST": "0.0.0.0",
        "OTEL_EXPORTER_PROMETHEUS_PORT": "9999",
        "OTEL_METRIC_EXPORT_INTERVAL": "5000",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "span_only",
        "OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT": "yes",
        "LLMOTEL_INCLUDE_USAGE": "1",
        "LLMOTEL_INFERENCE_USAGE_METRICS": "on",
        "LLMOTEL_INSTRUMENT": "OpenAI, anthropic",
    }
    s = load(env)
    assert s.sdk_disabled is True
    assert s.service_name == "svc"
    assert dict(s.resource_attributes) == {"deployment.environment.name": "prod", "team": "a b"}
    assert s.traces_exporter == ("console", "otlp")
    assert s.metrics_exporter == ("prometheus",)
    assert s.logs_exporter == ()
    assert s.otlp_endpoint == "http://collector:4318"
    assert s.otlp_protocol == "grpc"
    assert dict(s.otlp_headers) == {"api-key": "abc==", "x-tenant": "t1"}
    assert s.protocol_for("traces") == "grpc"
    assert s.protocol_for("metrics") == "http/protobuf"
    assert s.protocol_for("logs") == "grpc"
    assert (s.prometheus_host, s.prometheus_port) == ("0.0.0.0", 9999)
    assert s.metric_export_interval_ms == 5000
    assert s.capture_content is ContentMode.SPAN_ONLY
    assert s.emit_event is True
    assert s.include_usage is True and s.inference_usage_metrics is True
    assert s.instrument == ("openai", "anthropic")


def test_os_environ_is_the_default_env(monkeypatch):
    monkeypatch.setenv("OTEL_SERVICE_NAME", "from-os-environ")
    assert Settings.load().service_name == "from-os-environ"


@pytest.mark.parametrize(
    "name",
    [
        "OTEL_TRACES_EXPORTER",
        "OTEL_EXPORTER_OTLP_PROTOCOL",
        "OTEL_EXPORTER_PROMETHEUS_PORT",
        "OTEL_METRIC_EXPORT_INTERVAL",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
    ],
)
def test_empty_environment_value_means_default(name):
    assert load({name: ""}) == load()


# --- precedence -------------------------------------------------------------------


def test_kwargs_beat_environment_beats_defaults():
    env = {
        "OTEL_SERVICE_NAME": "env-svc",
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
        "OTEL_EXPORTER_PROMETHEUS_PORT": "9000",
        "OTEL_METRIC_EXPORT_INTERVAL": "1000",
        "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "EVENT_ONLY",
        "OTEL_EXPORTER_OTLP_ENDPOINT": "http://env:4318",
    }
    from_env = load(env)
    assert from_env.service_name == "env-svc"
    assert from_env.traces_exporter == ("console",)
    assert from_env.metrics_exporter == ("otlp",)  # not in env: the default
    s = load(
        env,
        service_name="kw-svc",
        traces_exporter="none",
        otlp_protocol="http/protobuf",
        prometheus_port=9100,
        metric_export_interval_ms=250,
        capture_content="SPAN_AND_EVENT",
        otlp_endpoint="http://kw:4318",
    )
    assert s.service_name == "kw-svc"
    assert s.traces_exporter == ()
    assert s.otlp_protocol == "http/protobuf"
    assert s.prometheus_port == 9100
    assert s.metric_export_interval_ms == 250
    assert s.capture_content is ContentMode.SPAN_AND_EVENT
    assert s.otlp_endpoint == "http://kw:4318"


def test_none_kwarg_keeps_the_environment_value():
    s = load({"OTEL_SERVICE_NAME": "env-svc"}, service_name=None, prometheus_port=None)
    assert s.service_name == "env-svc"
    assert s.prometheus_port == 9464


def test_kwarg_exporters_accept_str_and_sequences():
    s = load(traces_exporter="console, otlp", metrics_exporter=["prometheus"], logs_exporter=("none",))
    assert s.traces_exporter == ("console", "otlp")
    assert s.metrics_exporter == ("prometheus",)
    assert s.logs_exporter == ()


@pytest.mark.parametrize("value", ["none", "NONE", " none "])
def test_none_exporter_is_empty_tuple(value):
    s = load({"OTEL_TRACES_EXPORTER": value, "OTEL_METRICS_EXPORTER": value, "OTEL_LOGS_EXPORTER": value})
    assert s.traces_exporter == s.metrics_exporter == s.logs_exporter == ()
    assert load(traces_exporter="none").traces_exporter == ()


def test_kwarg_booleans_parse_strings_instead_of_truthiness():
    assert load(sdk_disabled="false").sdk_disabled is False
    assert load(sdk_disabled="true").sdk_disabled is True
    assert load(include_usage=True).include_usage is True
    assert load({"OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT": "true"}, emit_event=None).emit_event is None
    assert load(emit_event="off").emit_event is False


def test_kwarg_ints_accept_numeric_strings():
    assert load(prometheus_port="9465").prometheus_port == 9465
    assert load(metric_export_interval_ms="1500").metric_export_interval_ms == 1500


def test_resource_attributes_and_headers_kwargs_are_copied():
    attrs = {"team": "a"}
    s = load(resource_attributes=attrs, otlp_headers={"k": "v"})
    attrs["team"] = "changed"
    assert dict(s.resource_attributes) == {"team": "a"}
    assert dict(s.otlp_headers) == {"k": "v"}


def test_instrument_kwarg():
    assert load(instrument="OpenAI,anthropic").instrument == ("openai", "anthropic")
    assert load(instrument=["openai"]).instrument == ("openai",)
    assert load({"LLMOTEL_INSTRUMENT": "openai"}, instrument=None).instrument is None


def test_unknown_kwarg_is_type_error():
    with pytest.raises(TypeError, match="servce_name"):
        load(servce_name="typo")


def test_semconv_stability_opt_in_is_accepted():
    s = load({"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental"})
    assert s == load()


# --- content capture --------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "mode", "on_span", "on_event"),
    [
        ("NO_CONTENT", ContentMode.NO_CONTENT, False, False),
        ("false", ContentMode.NO_CONTENT, False, False),
        ("span_only", ContentMode.SPAN_ONLY, True, False),
        ("Event_Only", ContentMode.EVENT_ONLY, False, True),
        (" SPAN_AND_EVENT ", ContentMode.SPAN_AND_EVENT, True, True),
    ],
)
def test_capture_content_modes(raw, mode, on_span, on_event):
    s = load({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": raw})
    assert s.capture_content is mode
    assert s.content_on_span is on_span
    assert s.content_on_event is on_event
    assert s.emit_details_event is on_event
    assert s.capture_any_content is (mode is not ContentMode.NO_CONTENT)


def test_capture_content_kwargs():
    assert load(capture_content=True).capture_content is ContentMode.SPAN_AND_EVENT
    assert load(capture_content=False).capture_content is ContentMode.NO_CONTENT
    assert load(capture_content=ContentMode.EVENT_ONLY).capture_content is ContentMode.EVENT_ONLY
    # the explicit emit_event switch wins over the mode-derived default
    assert load(capture_content="SPAN_ONLY", emit_event=True).emit_details_event is True
    assert load(capture_content="EVENT_ONLY", emit_event=False).emit_details_event is False


# --- invalid values: ConfigError naming the setting and the accepted values --------


@pytest.mark.parametrize(
    ("name", "raw", "accepted"),
    [
        ("OTEL_TRACES_EXPORTER", "zipkin", "otlp, console, none"),
        ("OTEL_TRACES_EXPORTER", "prometheus", "otlp, console, none"),
        ("OTEL_METRICS_EXPORTER", "statsd", "otlp, console, prometheus, none"),
        ("OTEL_LOGS_EXPORTER", "otlp,loki", "otlp, console, none"),
        ("OTEL_TRACES_EXPORTER", ",", "otlp, console, none"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "http/json", "http/protobuf, grpc"),
        ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "thrift", "http/protobuf, grpc"),
        ("OTEL_EXPORTER_OTLP_METRICS_PROTOCOL", "http", "http/protobuf, grpc"),
        ("OTEL_EXPORTER_OTLP_LOGS_PROTOCOL", "udp", "http/protobuf, grpc"),
        ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "true", ", ".join(ALL_MODES)),
        ("OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT", "everything", ", ".join(ALL_MODES)),
        ("OTEL_SDK_DISABLED", "maybe", "true, false"),
        ("OTEL_INSTRUMENTATION_GENAI_EMIT_EVENT", "2", "true, false"),
        ("LLMOTEL_INCLUDE_USAGE", "sure", "true, false"),
        ("LLMOTEL_INFERENCE_USAGE_METRICS", "enabled", "true, false"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "70000", "0-65535"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "-1", "0-65535"),
        ("OTEL_EXPORTER_PROMETHEUS_PORT", "http", "0-65535"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "0", ">= 1"),
        ("OTEL_METRIC_EXPORT_INTERVAL", "5s", ">= 1"),
        ("LLMOTEL_CHUNK_METRIC", "sometimes", "per_stream, per_chunk"),
    ],
)
def test_invalid_environment_value(name, raw, accepted):
    with pytest.raises(ConfigError) as info:
        load({name: raw})
    message = str(info.value)
    assert name in message
    assert accepted in message
    if raw.strip(","):
        assert repr(raw) in message or raw in message


def test_legacy_true_capture_content_explains_the_choice():
    with pytest.raises(ConfigError, match="legacy 'true' is ambiguous"):
        load({"OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT": "true"})


def test_none_combined_with_other_exporters_is_rejected():
    with pytest.raises(ConfigError, match="OTEL_TRACES_EXPORTER: 'none' cannot be combined"):
        load({"OTEL_TRACES_EXPORTER": "none,console"})
    with pytest.raises(ConfigError, match="metrics_exporter: 'none' cannot be combined"):
        load(metrics_exporter=["prometheus", "none"])


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("OTEL_RESOURCE_ATTRIBUTES", "team=a,broken"),
        ("OTEL_RESOURCE_ATTRIBUTES", "=value"),
        ("OTEL_EXPORTER_OTLP_HEADERS", "authorization"),
    ],
)
def test_malformed_key_value_lists(name, raw):
    with pytest.raises(ConfigError) as info:
        load({name: raw})
    assert name in str(info.value)
    assert "key=value" in str(info.value)


@pytest.mark.parametrize(
    ("key", "value", "accepted"),
    [
        ("traces_exporter", "zipkin", "otlp, console, none"),
        ("metrics_exporter", ["otlp", "bogus"], "otlp, console, prometheus, none"),
        ("logs_exporter", "prometheus", "otlp, console, none"),
        ("otlp_protocol", "http", "http/protobuf, grpc"),
        ("traces_protocol", "grpcs", "http/protobuf, grpc"),
        ("capture_content", "true", ", ".join(ALL_MODES)),
        ("capture_content", "bogus", ", ".join(ALL_MODES)),
        ("sdk_disabled", "maybe", "true, false"),
        ("include_usage", 3, "true, false"),
        ("emit_event", "perhaps", "true, false"),
        ("inference_usage_metrics", "y", "true, false"),
        ("prometheus_port", 70000, "0-65535"),
        ("prometheus_port", "x", "0-65535"),
        ("prometheus_port", True, "0-65535"),
        ("metric_export_interval_ms", 0, ">= 1"),
        ("metric_export_interval_ms", 1.5, ">= 1"),
        ("chunk_metric", "always", "per_stream, per_chunk"),
    ],
)
def test_invalid_kwarg(key, value, accepted):
    with pytest.raises(ConfigError) as info:
        load(**{key: value})
    assert key in str(info.value)
    assert accepted in str(info.value)


def test_config_error_is_a_value_error():
    assert issubclass(ConfigError, ValueError)


def test_opentelemetry_instrument_exporter_spellings_are_accepted():
    """opentelemetry-instrument accepts otlp_proto_grpc/otlp_proto_http; so must we."""
    from llmotel.config import Settings

    s = Settings.load(env={"OTEL_TRACES_EXPORTER": "otlp_proto_grpc", "OTEL_METRICS_EXPORTER": "otlp_proto_http"})
    assert s.traces_exporter == ("otlp",) and s.protocol_for("traces") == "grpc"
    assert s.metrics_exporter == ("otlp",) and s.protocol_for("metrics") == "http/protobuf"


# --- redaction settings: validated with the rest, also when content capture is off -------


def test_redaction_defaults_and_env():
    from llmotel.redaction import RedactionConfig

    assert load().redaction == RedactionConfig()
    settings = load(env={"LLMOTEL_REDACTION_DISABLE": "ipv4,phone", "LLMOTEL_CONTENT_MAX_BYTES": "2048"})
    assert settings.redaction.disable == {"ipv4", "phone"}
    assert settings.redaction.max_value_bytes == 2048


def test_redaction_kwargs_override_env_per_setting():
    settings = load(env={"LLMOTEL_REDACTION_DISABLE": "ipv4", "LLMOTEL_CONTENT_MAX_BYTES": "2048"},
                    redaction={"disable": ["email"]})
    assert settings.redaction.disable == {"email"}
    assert settings.redaction.max_value_bytes == 2048  # not overridden: still the environment's


@pytest.mark.parametrize(
    ("env", "kwargs", "message"),
    [
        ({"LLMOTEL_REDACTION_DISABLE": "emails"}, {}, "LLMOTEL_REDACTION_DISABLE"),
        ({"LLMOTEL_REDACTION_ACTIONS": "default=hash"}, {}, "LLMOTEL_REDACTION_HMAC_KEY is required"),
        ({}, {"redaction": {"actions": {"email": "blur"}}}, "mask, hash, drop"),
        ({}, {"redaction": {"patterns": {"order": "ORD-("}}}, "order"),
        ({}, {"redaction": {"max_value_bytes": 10}}, "max_value_bytes"),
        ({}, {"redaction": 42}, "redaction=42 is not valid"),
    ],
)
def test_invalid_redaction_settings_fail_at_load(env, kwargs, message):
    with pytest.raises(ConfigError, match=message):
        load(env=env, **kwargs)
