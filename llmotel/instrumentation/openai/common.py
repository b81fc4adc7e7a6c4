"""Shared OpenAI-shape helpers: endpoint → provider, request parameters, sentinels."""

from __future__ import annotations

from typing import Any

from llmotel import semconv as sc
from llmotel.instrumentation._params import as_dict, given, is_placeholder
from llmotel.instrumentation._stainless_endpoint import stainless_endpoint

__all__ = ["as_dict", "endpoint_of", "given", "provider_for_host", "put_response_meta", "put_sampling_params",
           "text_of"]

# Hosts of OpenAI-compatible APIs with a well-known gen_ai.provider.name. The client
# reports the provider it talks to (a proxy counts as the provider), so anything
# unknown stays "openai".
_HOST_SUFFIXES: tuple[tuple[str, str], ...] = (
    (".openai.azure.com", sc.PROVIDER_AZURE_OPENAI),
    (".cognitiveservices.azure.com", sc.PROVIDER_AZURE_OPENAI),
    (".services.ai.azure.com", "azure.ai.inference"),
    (".models.ai.azure.com", "azure.ai.inference"),
    (".inference.ai.azure.com", "azure.ai.inference"),
    ("api.deepseek.com", "deepseek"),
    ("api.groq.com", "groq"),
    ("api.mistral.ai", "mistral_ai"),
    ("api.x.ai", "x_ai"),
    ("api.perplexity.ai", "perplexity"),
    ("api.moonshot.ai", "moonshot_ai"),
    ("api.moonshot.cn", "moonshot_ai"),
    ("generativelanguage.googleapis.com", "gcp.gemini"),
    ("aiplatform.googleapis.com", "gcp.vertex_ai"),
    ("api.cohere.com", "cohere"),
    ("api.cohere.ai", "cohere"),
    ("api.anthropic.com", sc.PROVIDER_ANTHROPIC),
    (".amazonaws.com", "aws.bedrock"),
    ("openrouter.ai", "openrouter"),
)

def provider_for_host(host: str | None, client_type: type | None = None) -> str:
    """``gen_ai.provider.name`` for a host (and client class: Azure clients are Azure)."""
    if client_type is not None and client_type.__name__ in ("AzureOpenAI", "AsyncAzureOpenAI"):
        return sc.PROVIDER_AZURE_OPENAI
    if host:
        host = host.lower()
        for suffix, provider in _HOST_SUFFIXES:
            if host == suffix.lstrip(".") or host.endswith(suffix):
                return provider
    return sc.PROVIDER_OPENAI


def endpoint_of(resource: Any) -> tuple[str | None, int | None, str]:
    """(server.address, server.port, provider) of the OpenAI client behind an API resource."""
    return stainless_endpoint(resource, _openai_provider)


def _openai_provider(host: str | None, client: Any) -> str:
    return provider_for_host(host, type(client))


def put_sampling_params(kwargs: dict[str, Any], attrs: dict[str, Any]) -> None:
    """Copy the common decoding parameters the conventions name onto ``attrs``."""
    for key, attr in (
        ("temperature", sc.GEN_AI_REQUEST_TEMPERATURE),
        ("top_p", sc.GEN_AI_REQUEST_TOP_P),
        ("frequency_penalty", sc.GEN_AI_REQUEST_FREQUENCY_PENALTY),
        ("presence_penalty", sc.GEN_AI_REQUEST_PRESENCE_PENALTY),
    ):
        value = given(kwargs, key)
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            attrs[attr] = float(value)
    seed = given(kwargs, "seed")
    if isinstance(seed, int) and not isinstance(seed, bool):
        attrs[sc.GEN_AI_REQUEST_SEED] = seed
    tier = given(kwargs, "service_tier")
    if isinstance(tier, str) and tier != "auto":
        attrs[sc.OPENAI_REQUEST_SERVICE_TIER] = tier


def put_response_meta(inv: Any, value: Any) -> None:
    """Response id, model, service tier and fingerprint from a response or first chunk.

    The service tier goes on metrics too; the system fingerprint only on the span: it
    changes with every backend deployment (series churn) and each metric attribute costs
    every data point ~8k CPU instructions in the SDK.
    """
    inv.response_id = getattr(value, "id", None)
    inv.response_model = getattr(value, "model", None)
    tier = getattr(value, "service_tier", None)
    if isinstance(tier, str):
        inv.metric_extra = {sc.OPENAI_RESPONSE_SERVICE_TIER: tier}
    fingerprint = getattr(value, "system_fingerprint", None)
    if isinstance(fingerprint, str):
        inv.set_attribute(sc.OPENAI_RESPONSE_SYSTEM_FINGERPRINT, fingerprint)


def text_of(content: Any) -> list[dict[str, Any]]:
    """Message content (a string or a list of content parts) as convention parts."""
    if content is None or is_placeholder(content):
        return []
    if isinstance(content, str):
        return [{"type": "text", "content": content}]
    parts: list[dict[str, Any]] = []
    for item in content:
        item = as_dict(item)
        if not isinstance(item, dict):
            parts.append({"type": "text", "content": str(item)})
            continue
        kind = item.get("type")
        if kind in ("text", "input_text", "output_text"):
            parts.append({"type": "text", "content": item.get("text", "")})
        elif kind == "refusal":
            parts.append({"type": "refusal", "content": item.get("refusal", "")})
        elif kind in ("image_url", "input_image"):
            url = item.get("image_url")
            url = url.get("url") if isinstance(url, dict) else url
            parts.append(_uri_or_blob(url, "image"))
        elif kind in ("input_audio",):
            parts.append({"type": "blob", "modality": "audio", "content": "", "mime_type": "audio/"
                          + str((item.get("input_audio") or {}).get("format", ""))})
        elif kind in ("file", "input_file"):
            file = item.get("file") if isinstance(item.get("file"), dict) else item
            parts.append({"type": "file", "modality": "document", "file_id": file.get("file_id", "")})
        else:
            parts.append({"type": str(kind or "generic")})
    return parts


def _uri_or_blob(url: Any, modality: str) -> dict[str, Any]:
    url = str(url or "")
    if url.startswith("data:"):
        header, _, data = url.partition(",")
        mime = header[5:].split(";")[0] or None
        part: dict[str, Any] = {"type": "blob", "modality": modality, "content": data}
        if mime:
            part["mime_type"] = mime
        return part
    return {"type": "uri", "modality": modality, "uri": url}
