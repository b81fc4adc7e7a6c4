"""The HTTP server behind :class:`FakeProvider`: routing, timing and wire-level writing."""

from __future__ import annotations

import contextlib
import json
import math
import socket
import socketserver
import sys
import threading
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import formatdate
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

from . import _anthropic, _openai
from ._core import (
    DEFAULT_TIMEOUT_DELAY,
    ProviderState,
    RecordedRequest,
    Reply,
    RequestContext,
    RequestLog,
    parse_scenarios,
    split_model,
)

Route = Callable[[RequestContext, ProviderState], Reply]

_ROUTES: dict[str, tuple[str, Route]] = {
    "/v1/chat/completions": ("openai", _openai.chat_completions),
    "/v1/responses": ("openai", _openai.responses),
    "/v1/embeddings": ("openai", _openai.embeddings),
    "/v1/messages": ("anthropic", _anthropic.messages),
}

# Idle keep-alive connections are dropped after this long so abandoned clients do not pin
# handler threads forever; it is far above the SDKs' own 5 s keep-alive expiry.
_IDLE_TIMEOUT = 120.0
_EXTRA_REASONS = {529: "Site Overloaded"}
_INVALID_JSON = object()


@dataclass(frozen=True, slots=True)
class Timing:
    """When to write the parts of one reply (all in seconds)."""

    before: float  # before the status line: latency plus the `timeout` scenario's delay
    ttft: float  # after the headers, before the first stream event
    chunk_delay: float  # between stream events


_NO_WAIT = Timing(0.0, 0.0, 0.0)


class FakeProvider:
    """A deterministic OpenAI- and Anthropic-compatible HTTP server for tests and demos.

    It serves ``/v1/chat/completions``, ``/v1/responses``, ``/v1/embeddings`` and
    ``/v1/messages`` on a background daemon thread, answering the real SDKs with
    spec-shaped payloads whose text and token counts follow from the request alone (see
    :func:`count_tokens`). Failures, caching and timing are scripted per request through
    ``x-fake-*`` headers or a ``model@scenario`` suffix. Every request is recorded in
    :attr:`requests`. Instances are thread-safe and reusable as context managers.
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        latency: float = 0.0,
        ttft: float = 0.0,
        chunk_delay: float = 0.0,
        rate_limit_requests: int = 10_000,
        rate_limit_tokens: int = 1_000_000,
        log_requests: bool = False,
    ) -> None:
        self.host = host
        self.latency = latency
        self.ttft = ttft
        self.chunk_delay = chunk_delay
        self.log_requests = log_requests
        self.state = ProviderState(rate_limit_requests=rate_limit_requests, rate_limit_tokens=rate_limit_tokens)
        self.requests: RequestLog = RequestLog()
        self._requested_port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        # Set on stop() so that scripted sleeps (latency, timeout) end immediately.
        self._stopping = threading.Event()

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> FakeProvider:
        """Bind the socket and serve on a daemon thread; starting twice is a no-op."""
        with self._lock:
            if self._server is not None:
                return self
            self._stopping.clear()
            server = _Server((self.host, self._requested_port), self)
            thread = threading.Thread(
                target=server.serve_forever,
                # shutdown() waits for the loop's next poll, so keep polls short.
                kwargs={"poll_interval": 0.05},
                name=f"fake-llm-provider:{server.server_address[1]}",
                daemon=True,
            )
            thread.start()
            self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving, drop open connections and release the port."""
        with self._lock:
            server, thread = self._server, self._thread
            self._server = self._thread = None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.close_connections()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    def wait(self, timeout: float | None = None) -> bool:
        """Block until the provider is stopped or ``timeout`` elapses; True once stopped."""
        return self._stopping.wait(timeout)

    def __enter__(self) -> FakeProvider:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def clear(self) -> None:
        """Forget the recorded requests."""
        self.requests.clear()

    def reset(self) -> None:
        """Forget recorded requests, rate-limit counters, cached prefixes and ``fail_once`` keys."""
        self.requests.clear()
        self.state.reset()

    # ------------------------------------------------------------------ addresses

    @property
    def port(self) -> int:
        """The bound port (the free port picked at start when constructed with 0)."""
        if self._server is not None:
            return int(self._server.server_address[1])
        if self._requested_port:
            return self._requested_port
        raise RuntimeError("FakeProvider is not started; port 0 is only resolved by start()")

    @property
    def url(self) -> str:
        """The server root, ``http://HOST:PORT``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """``base_url`` for the OpenAI SDK (``http://HOST:PORT/v1``)."""
        return f"{self.url}/v1"

    @property
    def anthropic_base_url(self) -> str:
        """``base_url`` for the Anthropic SDK, which appends ``/v1/messages`` itself."""
        return self.url

    def __repr__(self) -> str:
        where = self.url if self._server is not None else "not started"
        return f"<FakeProvider {where}>"

    # ------------------------------------------------------------------ request handling

    def _dispatch(
        self,
        method: str,
        target: str,
        headers: dict[str, str],
        raw: bytes,
        client: tuple[str, int] | None = None,
    ) -> tuple[Reply, Timing]:
        """Turn one HTTP request into a reply and its timing (called on handler threads)."""
        payload = _parse_json(raw)
        parsed = None if payload is _INVALID_JSON else payload
        self.requests.append(RecordedRequest(method, target, headers, parsed, raw, client))
        seq = self.state.next_seq()
        path = urlsplit(target).path
        route = _ROUTES.get(path) if method == "POST" else None
        if route is None:
            return _openai.not_found(path, seq), _NO_WAIT
        provider, handler = route
        if not isinstance(payload, dict):
            return _bad_request(provider, seq, "We could not parse the JSON body of your request."), _NO_WAIT
        model = payload.get("model")
        model, suffix_scenarios = split_model(model) if isinstance(model, str) else ("", frozenset[str]())
        try:
            scenarios = parse_scenarios(headers.get("x-fake-scenario")) | suffix_scenarios
            timing = self._timing(headers, timeout="timeout" in scenarios)
        except ValueError as exc:
            return _bad_request(provider, seq, str(exc)), _NO_WAIT
        ctx = RequestContext(
            path=path,
            headers=headers,
            body=payload,
            seq=seq,
            scenarios=scenarios,
            model=model,
            response_model=headers.get("x-fake-model") or model,
        )
        try:
            return handler(ctx, self.state), timing
        except Exception:
            # A builder bug should surface in the test output, not as a hung client.
            traceback.print_exc()
            return _server_error(provider, seq), _NO_WAIT

    def _timing(self, headers: dict[str, str], *, timeout: bool) -> Timing:
        def seconds(name: str, default: float) -> float:
            value = headers.get(name)
            if value is None:
                return default
            try:
                result = float(value)
            except ValueError:
                result = math.nan
            if not math.isfinite(result) or result < 0:
                raise ValueError(f"{name} must be a non-negative number of seconds, got {value!r}")
            return result

        before = seconds("x-fake-latency", self.latency)
        if timeout:
            before += seconds("x-fake-delay", DEFAULT_TIMEOUT_DELAY)
        return Timing(before, seconds("x-fake-ttft", self.ttft), seconds("x-fake-chunk-delay", self.chunk_delay))


def _parse_json(raw: bytes) -> Any:
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return _INVALID_JSON


def _bad_request(provider: str, seq: int, message: str) -> Reply:
    if provider == "anthropic":
        return _anthropic.error_reply(400, "invalid_request_error", message, seq=seq)
    return _openai.error_reply(400, message, "invalid_request_error", None, seq=seq)


def _server_error(provider: str, seq: int) -> Reply:
    message = "The fake provider failed to build a reply (see its stderr)."
    if provider == "anthropic":
        return _anthropic.error_reply(500, "api_error", message, seq=seq)
    return _openai.error_reply(500, message, "server_error", None, seq=seq)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Handler threads idle in keep-alive reads; joining them would make stop() hang.
    block_on_close = False
    request_queue_size = 128

    def __init__(self, address: tuple[str, int], provider: FakeProvider) -> None:
        self.provider = provider
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall without DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def track(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.add(connection)

    def untrack(self, connection: socket.socket) -> None:
        with self._connections_lock:
            self._connections.discard(connection)

    def close_connections(self) -> None:
        """Wake handler threads blocked on idle keep-alive connections so they exit."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            # OSError: already closed by the peer or by its handler thread.
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients hanging up (timeouts, abandoned streams) are routine, not server errors.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, which the SDKs' connection pools rely on
    # Without TCP_NODELAY, Nagle plus delayed ACKs add ~40 ms to small keep-alive writes.
    disable_nagle_algorithm = True
    timeout = _IDLE_TIMEOUT
    server_version = "llmotel-fake-provider"
    server: _Server

    def setup(self) -> None:
        super().setup()
        self.server.track(self.connection)

    def finish(self) -> None:
        try:
            super().finish()
        except OSError:
            pass  # Flushing to a peer that already hung up.
        finally:
            self.server.untrack(self.connection)

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.provider.log_requests:
            sys.stderr.write(f"fake-provider {self.address_string()} - {format % args}\n")

    def _serve(self) -> None:
        headers: dict[str, str] = {}
        for name, value in self.headers.items():
            key = name.lower()
            headers[key] = f"{headers[key]}, {value}" if key in headers else value
        try:
            raw = self._read_body()
        except ValueError:
            self.close_connection = True
            reply, timing = (
                _openai.error_reply(400, "Malformed request body.", "invalid_request_error", seq=0),
                _NO_WAIT,
            )
        else:
            client = (str(self.client_address[0]), int(self.client_address[1]))
            reply, timing = self.server.provider._dispatch(self.command, self.path, headers, raw, client)
        try:
            self._send(reply, timing)
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        self.log_message('"%s" %s', self.requestline, reply.status)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = _serve

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            return self._read_chunked()
        length = int(self.headers.get("content-length") or 0)
        if length < 0:
            raise ValueError("negative Content-Length")
        return self.rfile.read(length) if length else b""

    def _read_chunked(self) -> bytes:
        parts: list[bytes] = []
        while True:
            size = int(self.rfile.readline(65537).split(b";", 1)[0].strip() or b"0", 16)
            if size == 0:
                # Skip optional trailers up to the blank line that ends the body.
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(parts)
            parts.append(self.rfile.read(size))
            self.rfile.readline()

    def _send(self, reply: Reply, timing: Timing) -> None:
        stopping = self.server.provider._stopping
        if timing.before > 0 and stopping.wait(timing.before):
            self.close_connection = True
            return
        truncated = reply.truncate_after is not None
        headers = dict(reply.headers)
        if reply.streaming or truncated:
            # Streams are delimited by closing the connection (no chunked encoding), and a
            # truncated reply must close for the client to notice the missing bytes.
            self.close_connection = True
        if not reply.streaming or truncated:
            headers["content-length"] = str(sum(len(chunk) for chunk in reply.chunks))
        if self.close_connection:
            headers["connection"] = "close"
        head = self._head(reply.status, headers)
        chunks = reply.chunks[: reply.truncate_after] if truncated else reply.chunks
        if not reply.streaming:
            # One write per reply: fewer syscalls and no header/body split on the wire.
            self.wfile.write(head + b"".join(chunks))
            return
        self.wfile.write(head)
        for index, chunk in enumerate(chunks):
            delay = timing.ttft if index == 0 else timing.chunk_delay
            if delay > 0 and stopping.wait(delay):
                return
            self.wfile.write(chunk)

    def _head(self, status: int, headers: dict[str, str]) -> bytes:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = _EXTRA_REASONS.get(status, "Unknown")
        lines = [
            f"HTTP/1.1 {status} {phrase}",
            f"date: {formatdate(usegmt=True)}",
            f"server: {self.server_version}",
            *(f"{name}: {value}" for name, value in headers.items()),
        ]
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1", "replace")
