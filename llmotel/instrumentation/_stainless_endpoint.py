"""server.address / server.port / provider of a Stainless SDK client (openai, anthropic)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

_cache: dict[tuple[int, type], tuple[Any, tuple[str | None, int | None, str]]] = {}


def stainless_endpoint(
    resource: Any, provider_of: Callable[[str | None, Any], str]
) -> tuple[str | None, int | None, str]:
    """(server.address, server.port, provider) of the client behind an API resource.

    Cached per base-URL object: computing it costs more than everything else at call
    start, and a client's base URL rarely changes (a new URL is a new object).
    """
    client = getattr(resource, "_client", None)
    url = getattr(client, "base_url", None)
    key = (id(url), type(client))
    hit = _cache.get(key)
    if hit is not None and hit[0] is url:
        return hit[1]
    host = getattr(url, "host", None) or None
    port = getattr(url, "port", None)
    if port is None and host:
        port = 443 if getattr(url, "scheme", "https") == "https" else 80
    result = (host, port, provider_of(host, client))
    if len(_cache) > 256:
        _cache.clear()
    _cache[key] = (url, result)
    return result
