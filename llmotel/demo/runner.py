"""Run the demo scenarios at a steady request rate, with progress and a clean Ctrl-C.

Requests are started on a fixed schedule (``rps`` per second, like users arriving) by the
calling thread and executed by a small pool, so slow calls overlap instead of lowering the
rate. Each request gets its own seeded random generator: a run is reproducible.
"""

from __future__ import annotations

import random
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TextIO

from llmotel.demo.profiles import Profile
from llmotel.demo.scenarios import ROUND, Context, make_judges


@dataclass
class RunResult:
    """What a run did: requests started and finished, the failures by exception type."""

    started: int = 0
    finished: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    interrupted: bool = False
    seconds: float = 0.0
    started_at: float = 0.0  # wall clock (time.time()) of the first request


@dataclass
class Clients:
    """The SDK clients the scenarios share (thread-safe), and how to make an async one."""

    openai: Any
    anthropic: Any | None
    async_openai: Callable[[], Any]
    real_model: str | None = None
    max_tokens: int = 256


def make_clients(base_url: str, anthropic_base_url: str | None, *, api_key: str = "demo",
                 real_model: str | None = None, max_tokens: int = 256) -> Clients:
    """Real openai (and, if installed and wanted, anthropic) clients for ``base_url``."""
    import openai

    anthropic_client = None
    if anthropic_base_url is not None:
        try:
            import anthropic
        except ImportError:  # the anthropic extra is optional
            anthropic = None  # type: ignore[assignment]
        if anthropic is not None:
            anthropic_client = anthropic.Anthropic(api_key=api_key, base_url=anthropic_base_url, max_retries=1)
    return Clients(
        openai=openai.OpenAI(api_key=api_key, base_url=base_url, max_retries=1),
        anthropic=anthropic_client,
        async_openai=lambda: openai.AsyncOpenAI(api_key=api_key, base_url=base_url, max_retries=1),
        real_model=real_model,
        max_tokens=max_tokens,
    )


def run(clients: Clients, profile: Profile, *, duration: float, rps: float, max_requests: int | None = None,
        seed: int = 7, workers: int = 8, progress: TextIO | None = None,
        stop: threading.Event | None = None, recover_after: float | None = None) -> RunResult:
    """Run scenarios for ``duration`` seconds (or ``max_requests``) at ``rps`` requests per second.

    Failures of the app's calls (injected errors, a real server refusing) are counted, not
    raised. Ctrl-C stops starting requests, lets the running ones finish and returns. With
    ``recover_after``, requests started after that many seconds use the ``normal`` profile:
    the incident ends, and its alerts resolve.
    """
    from llmotel.demo.profiles import PROFILES

    result = RunResult()
    stop = stop or threading.Event()
    lock = threading.Lock()
    # Drained by llmotel.shutdown(), like an app's own runners.
    judge, batch_judge = make_judges(profile, real=clients.real_model is not None)

    def one(i: int, current: Profile) -> None:
        ctx = Context(openai=clients.openai, anthropic=clients.anthropic, async_openai_factory=clients.async_openai,
                      profile=current, rng=random.Random(seed * 1_000_003 + i), real_model=clients.real_model,
                      max_tokens=clients.max_tokens, judge=judge, batch_judge=batch_judge, burst=i % 32 == 5)
        try:
            ROUND[i % len(ROUND)](ctx, i)
        except Exception as exc:  # the app's own errors: part of the demo
            with lock:
                result.failures[type(exc).__name__] += 1
        finally:
            with lock:
                result.finished += 1

    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="llmotel-demo")
    start = time.monotonic()
    result.started_at = time.time()
    pending: list[Future[None]] = []
    last_report = 0.0
    try:
        i = 0
        while not stop.is_set():
            now = time.monotonic() - start
            if (max_requests is not None and i >= max_requests) or (max_requests is None and now >= duration):
                break
            due = i / rps
            if due > now:
                stop.wait(min(due - now, 0.25))
            else:
                recovered = recover_after is not None and now >= recover_after
                pending.append(pool.submit(one, i, PROFILES["normal"] if recovered else profile))
                result.started = i = i + 1
                pending = [f for f in pending if not f.done()]
            if progress is not None and now - last_report >= 1.0:
                last_report = now
                _report(progress, now, duration if max_requests is None else None, result)
        for f in pending:
            f.result()
    except KeyboardInterrupt:
        result.interrupted = True
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
    finally:
        pool.shutdown(wait=True)
        result.seconds = time.monotonic() - start
        if progress is not None:
            _report(progress, result.seconds, None, result, final=True)
    return result


def _report(out: TextIO, elapsed: float, duration: float | None, r: RunResult, final: bool = False) -> None:
    total = f"/{duration:.0f}s" if duration else "s"
    failed = sum(r.failures.values())
    line = f"  {elapsed:5.1f}{total}  requests {r.finished:>5}  failed {failed:>4}"
    if out.isatty() and not final:
        out.write("\r" + line)
    elif final or int(elapsed) % 10 == 0:
        out.write(("\r" if out.isatty() else "") + line + "\n")
    out.flush()


def stderr_progress() -> TextIO:
    """Where progress goes: stderr, so stdout stays the summary."""
    return sys.stderr
