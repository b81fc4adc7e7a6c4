"""Demo traffic: real openai and anthropic SDK calls against the built-in fake provider.

Every call goes through the same instrumentation a user's app gets; a span
processor tallies what was recorded so the demo can print a summary at the end.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan, SpanProcessor

from llmotel import semconv as sc

CHAT_MODELS = ("gpt-4o-mini", "gpt-4.1", "o3-mini")
EMBEDDING_MODEL = "text-embedding-3-small"
ANTHROPIC_MODELS = ("claude-sonnet-4-5", "claude-haiku-4-5")
QUESTIONS = (
    "How do I reset my password?",
    "Summarise the quarterly report in three bullet points.",
    "What is the weather in Paris today?",
    "Translate 'good morning' into French.",
    "Explain retrieval augmented generation briefly.",
)
WEATHER_TOOL = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather for a city",
            "parameters": {"type": "object", "properties": {"location": {"type": "string"}}},
        },
    }
]


@dataclass
class ModelStats:
    """What the spans of one model said."""

    calls: int = 0
    errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float = 0.0
    durations: list[float] = field(default_factory=list)


class SummaryProcessor(SpanProcessor):
    """Tallies finished inference spans per (operation, model) for the end-of-demo table."""

    def __init__(self) -> None:
        self.stats: dict[tuple[str, str], ModelStats] = defaultdict(ModelStats)
        self._lock = threading.Lock()

    def on_end(self, span: ReadableSpan) -> None:
        """Count one finished span (only llmotel's GenAI spans)."""
        attrs = span.attributes or {}
        operation = attrs.get(sc.GEN_AI_OPERATION_NAME)
        if operation is None:
            return
        key = (str(operation), str(attrs.get(sc.GEN_AI_REQUEST_MODEL, "?")))
        with self._lock:
            stats = self.stats[key]
            stats.calls += 1
            stats.errors += sc.ERROR_TYPE in attrs
            stats.input_tokens += int(attrs.get(sc.GEN_AI_USAGE_INPUT_TOKENS, 0) or 0)
            stats.output_tokens += int(attrs.get(sc.GEN_AI_USAGE_OUTPUT_TOKENS, 0) or 0)
            stats.cost_usd += float(attrs.get(sc.LLMOTEL_COST_AMOUNT, 0.0) or 0.0)
            if span.end_time and span.start_time:
                stats.durations.append((span.end_time - span.start_time) / 1e9)

    def table(self) -> str:
        """A fixed-width summary table."""
        rows = [
            f"{'operation':<11} {'model':<24} {'calls':>5} {'errors':>6} {'in tok':>7} {'out tok':>7} "
            f"{'p50 ms':>7} {'p95 ms':>7} {'cost USD':>10}"
        ]
        for (operation, model), s in sorted(self.stats.items()):
            d = sorted(s.durations) or [0.0]
            p50 = d[len(d) // 2] * 1000
            p95 = d[min(len(d) - 1, int(len(d) * 0.95))] * 1000
            rows.append(
                f"{operation:<11} {model:<24} {s.calls:>5} {s.errors:>6} {s.input_tokens:>7} "
                f"{s.output_tokens:>7} {p50:>7.1f} {p95:>7.1f} {s.cost_usd:>10.6f}"
            )
        return "\n".join(rows)


def run_traffic(base_url: str, calls: int, seed: int = 7, anthropic_base_url: str | None = None) -> int:
    """Make ``calls`` rounds of mixed calls (sync, async, streaming, errors); returns calls made."""
    import openai

    rng = random.Random(seed)
    client = openai.OpenAI(api_key="demo", base_url=base_url, max_retries=0)
    made = 0
    for i in range(calls):
        model = CHAT_MODELS[i % len(CHAT_MODELS)]
        question = QUESTIONS[rng.randrange(len(QUESTIONS))]
        headers = {"x-fake-latency": f"{rng.uniform(0.01, 0.08):.3f}"}
        if model == "o3-mini":
            headers["x-fake-scenario"] = "reasoning,cached"
        if rng.random() < 0.06:
            headers["x-fake-scenario"] = rng.choice(("rate_limit", "error_500"))
        messages = [
            {"role": "system", "content": "You are a helpful support assistant."},
            {"role": "user", "content": question},
        ]
        try:
            kind = i % 5
            if kind == 0:
                client.chat.completions.create(model=model, messages=messages, extra_headers=headers)
            elif kind == 1:
                stream = client.chat.completions.create(
                    model=model,
                    messages=messages,
                    stream=True,
                    stream_options={"include_usage": True},
                    extra_headers={**headers, "x-fake-chunk-delay": "0.002"},
                )
                for _ in stream:
                    pass
            elif kind == 2:
                client.chat.completions.create(
                    model=model, messages=messages, tools=WEATHER_TOOL, extra_headers=headers
                )
            elif kind == 3:
                with client.responses.stream(model=model, input=question, extra_headers=headers) as s:
                    s.get_final_response()
            else:
                client.embeddings.create(model=EMBEDDING_MODEL, input=[question], extra_headers=headers)
        except openai.APIError:
            pass  # injected failures are part of the demo
        made += 1
    made += asyncio.run(_async_round(base_url, max(1, calls // 5)))
    if anthropic_base_url is not None:
        made += _anthropic_round(anthropic_base_url, max(1, calls // 2), rng)
    return made


def _anthropic_round(base_url: str, calls: int, rng: random.Random) -> int:
    try:
        import anthropic
    except ImportError:  # the anthropic extra is optional
        return 0
    client = anthropic.Anthropic(api_key="demo", base_url=base_url, max_retries=0)
    system = [{"type": "text", "text": "You are a helpful support assistant for ACME. Answer briefly.",
               "cache_control": {"type": "ephemeral"}}]
    for i in range(calls):
        model = ANTHROPIC_MODELS[i % len(ANTHROPIC_MODELS)]
        question = QUESTIONS[rng.randrange(len(QUESTIONS))]
        headers = {"x-fake-latency": f"{rng.uniform(0.02, 0.1):.3f}"}
        if rng.random() < 0.06:
            headers["x-fake-scenario"] = rng.choice(("rate_limit", "overloaded"))
        messages = [{"role": "user", "content": question}]
        try:
            if i % 2:
                with client.messages.stream(model=model, max_tokens=256, system=system, messages=messages,
                                            extra_headers=headers) as stream:
                    stream.until_done()
            else:
                client.messages.create(model=model, max_tokens=256, system=system, messages=messages,
                                       extra_headers=headers)
        except anthropic.APIError:
            pass
    return calls


async def _async_round(base_url: str, calls: int) -> int:
    import openai

    client = openai.AsyncOpenAI(api_key="demo", base_url=base_url, max_retries=0)

    async def one(i: int) -> Any:
        return await client.chat.completions.create(
            model=CHAT_MODELS[i % len(CHAT_MODELS)],
            messages=[{"role": "user", "content": QUESTIONS[i % len(QUESTIONS)]}],
        )

    await asyncio.gather(*(one(i) for i in range(calls)))
    await client.close()
    return calls
