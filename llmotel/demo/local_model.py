"""A real LLM server on loopback: llama.cpp's HTTP server (via ``xllamacpp``) serving SmolLM2.

Nobody on this project wrote it, which is the point: it answers the OpenAI Chat
Completions and Responses APIs and the Anthropic Messages API with the quirks of a real
server (unknown model names answered by the loaded model's alias, 400 on context
overflow even when streaming, prompt-cache hits reported as cached tokens, an extra
``timings`` field on every response)::

    with start_local_model() as local:
        openai.OpenAI(api_key="x", base_url=local.base_url).chat.completions.create(
            model=local.model, messages=[{"role": "user", "content": "hi"}], max_tokens=8)
        anthropic.Anthropic(api_key="x", base_url=local.anthropic_base_url)

``scripts/fetch-local-model`` installs ``xllamacpp`` and puts the model file at
:data:`DEFAULT_MODEL_PATH` (``LLMOTEL_LOCAL_MODEL`` overrides it). The model runs on one
thread with ``OMP_WAIT_POLICY=passive`` (more threads were several times slower on small
machines). :meth:`LocalModel.stop` shuts the server down: dropping the last reference
to ``xllamacpp.Server`` runs its destructor, which stops the HTTP loop, joins its thread
and frees the model (checked with xllamacpp 2026.10.11549: the port refuses connections
right after, and a new server can start in the same process).
"""

from __future__ import annotations

import os
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

MODEL_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m"
N_CTX = 2048
# Where scripts/fetch-local-model puts the model (the repository's git-ignored .cache/).
DEFAULT_MODEL_PATH = Path(__file__).resolve().parents[2] / ".cache" / "models" / MODEL_FILE

_INSTALL_HINT = "run scripts/fetch-local-model (or `pip install llmotel[local]`)"


def default_model_path() -> Path:
    """``$LLMOTEL_LOCAL_MODEL`` if set, else :data:`DEFAULT_MODEL_PATH`."""
    override = os.environ.get("LLMOTEL_LOCAL_MODEL")
    return Path(override) if override else DEFAULT_MODEL_PATH


class LocalModel:
    """A running llama.cpp server; a context manager that stops it on exit."""

    model = MODEL_ALIAS
    n_ctx = N_CTX

    def __init__(self, server: Any, address: str, port: int, model_path: Path) -> None:
        self._server = server
        self.host = address
        self.port = port
        self.model_path = model_path

    @property
    def anthropic_base_url(self) -> str:
        """Base URL for ``anthropic.Anthropic`` (no ``/v1``: the SDK adds it)."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Base URL for ``openai.OpenAI``."""
        return f"{self.anthropic_base_url}/v1"

    @property
    def running(self) -> bool:
        """False once :meth:`stop` ran."""
        return self._server is not None

    def stop(self) -> None:
        """Shut the server down (idempotent)."""
        server, self._server = self._server, None
        del server  # the last reference: xllamacpp's destructor stops and joins the server

    def __enter__(self) -> LocalModel:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.running else "stopped"
        return f"<LocalModel {self.model} at {self.base_url} ({state})>"


def _import_xllamacpp() -> Any:
    # libgomp reads OMP_WAIT_POLICY when it is loaded: set it before the first import.
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    try:
        import xllamacpp
    except ImportError as exc:
        raise RuntimeError(f"the local model needs the xllamacpp package: {_INSTALL_HINT}") from exc
    return xllamacpp


def _wait_healthy(url: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer"
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                if response.status == 200:
                    return
                last = f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:  # 503 while the model loads
            last = f"HTTP {exc.code}"
        except OSError as exc:
            last = repr(exc)
        if time.monotonic() >= deadline:
            raise RuntimeError(f"the local model server at {url} was not healthy after {timeout:g} s ({last})")
        time.sleep(0.05)


def start_local_model(
    model_path: str | os.PathLike[str] | None = None,
    port: int = 0,
    *,
    threads: int = 1,
    timeout: float = 60.0,
    verbose: bool = False,
) -> LocalModel:
    """Start llama.cpp serving SmolLM2-135M-Instruct on 127.0.0.1 and wait until it is healthy.

    ``port=0`` lets the server bind a free port itself (no race with other processes).
    Raises ``RuntimeError`` with what to do when xllamacpp or the model file is missing,
    the server fails to start, or ``/health`` is not OK within ``timeout`` seconds.
    ``verbose`` shows llama.cpp's own log (errors only otherwise).
    """
    path = Path(model_path) if model_path is not None else default_model_path()
    if not path.is_file():
        raise RuntimeError(f"local model file not found: {path}; {_INSTALL_HINT}")
    xllamacpp = _import_xllamacpp()

    params = xllamacpp.CommonParams()
    params.model.path = str(path)
    params.hostnames = ["127.0.0.1"]
    params.port = port
    params.n_ctx = N_CTX
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    params.model_alias = {MODEL_ALIAS}
    params.verbosity = 3 if verbose else 1  # llama.cpp levels: 1 errors, 2 warnings, 3 info
    try:
        server = xllamacpp.Server(params)  # loads the model, then serves from a background thread
    except RuntimeError as exc:
        raise RuntimeError(
            f"llama.cpp could not start on 127.0.0.1:{port} with {path} ({exc}); "
            "is the port free and the file a GGUF model? llama.cpp logged the reason to stderr"
        ) from exc

    listening = getattr(server, "listening_address", None) or f"http://127.0.0.1:{port}"
    actual = urlsplit(listening)
    if not actual.port:
        del server
        raise RuntimeError(f"llama.cpp reported no port it listens on ({listening!r})")
    local = LocalModel(server, actual.hostname or "127.0.0.1", actual.port, path)
    del server  # LocalModel holds the only reference, so stop() really stops it
    try:
        _wait_healthy(f"{local.anthropic_base_url}/health", timeout)
    except BaseException:
        local.stop()
        raise
    return local
