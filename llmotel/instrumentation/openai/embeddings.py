"""Embeddings: request and response shapes → the shared invocation."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmotel import semconv as sc
from llmotel.instrumentation.openai.common import endpoint_of, given

if TYPE_CHECKING:
    from llmotel.telemetry.handler import Telemetry
    from llmotel.telemetry.invocation import Invocation


class EmbeddingsAdapter:
    """``embeddings.create``; the conventions define no content attributes for it."""

    name = "openai.embeddings"

    def begin(self, tel: Telemetry, instance: Any, kwargs: dict[str, Any]) -> tuple[Invocation, dict[str, Any]]:
        """Start an embeddings invocation."""
        address, port, provider = endpoint_of(instance)
        attrs: dict[str, Any] = {}
        fmt = given(kwargs, "encoding_format")
        if isinstance(fmt, str):
            attrs[sc.GEN_AI_REQUEST_ENCODING_FORMATS] = [fmt]
        dimensions = given(kwargs, "dimensions")
        if isinstance(dimensions, int):
            attrs[sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT] = dimensions
        inv = tel.start(sc.OP_EMBEDDINGS, provider, given(kwargs, "model"), address, port, attrs, False)
        return inv, kwargs

    def is_stream(self, value: Any) -> bool:
        """Embeddings never stream."""
        return False

    def on_response(self, inv: Invocation, value: Any) -> None:
        """Read a CreateEmbeddingResponse."""
        inv.response_model = getattr(value, "model", None)
        usage = getattr(value, "usage", None)
        if usage is not None:
            inv.input_tokens = getattr(usage, "prompt_tokens", None)
        data = getattr(value, "data", None)
        if data and sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT not in inv.attributes:
            vector = getattr(data[0], "embedding", None)
            if isinstance(vector, list):
                inv.set_attribute(sc.GEN_AI_EMBEDDINGS_DIMENSION_COUNT, len(vector))

    def new_accumulator(self, inv: Invocation) -> Any:
        """Embeddings never stream."""
        raise NotImplementedError
