"""Demo scenarios: what an LLM application does, through the real openai and anthropic SDKs.

Each scenario is one user request of a realistic app, with llmotel's attribution,
workflow, feedback and evaluation APIs used the way an app would use them:

- ``rag_chat``: support chat — retrieval, a streamed answer, a tool call, and a branch to
  human review when retrieval confidence is low; a follow-up question in the same
  conversation on the Responses API; an A/B split of prompt versions; a hallucination
  verdict and user feedback on the answer.
- ``agent``: a research agent on Anthropic calling several tools in a loop.
- ``batch``: nightly summarisation — a batch of documents summarised concurrently.
- ``embeddings``: indexing new documents.

Against the built-in fake provider, request headers script the provider's behaviour
(latency with a long tail, time to first token, errors, 429s, cached and reasoning tokens)
according to the :class:`~llmotel.demo.profiles.Profile`. Against a real server
(``--base-url``/``--local-model``) no such header is sent and one model serves everything.

Real apps are untidy, and so is this one, on purpose, so that every safety net has
something to show: users paste e-mail addresses and card numbers (redacted before export),
attach screenshots (replaced by placeholders), send huge documents (truncated), close the
tab mid-stream (abandoned streams); one model is self-hosted (unpriced); the LLM judge
sometimes times out (evaluation errors) and the nightly batch outruns it (dropped
evaluations); the app's own redaction callback has a bug on malformed ticket references
(those values are dropped, fail closed), and a config gap sometimes leaves a branch target
empty (counted as an llmotel instrumentation error, never raised).
"""

from __future__ import annotations

import asyncio
import math
import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import llmotel
from llmotel import semconv as sc
from llmotel.demo.profiles import Profile

# model -> (provider, median latency in seconds, extra fake scenarios)
MODELS: dict[str, tuple[str, float, str]] = {
    "gpt-4o-mini": ("openai", 0.06, ""),
    "gpt-4.1": ("openai", 0.12, "cached"),
    "o3-mini": ("openai", 0.2, "reasoning,cached"),
    "claude-haiku-4-5": ("anthropic", 0.08, ""),
    "claude-sonnet-4-5": ("anthropic", 0.15, ""),
    "acme-llama-3-8b": ("openai", 0.09, ""),  # self-hosted behind an OpenAI-compatible server: unpriced
}
EMBEDDING_MODEL = "text-embedding-3-small"
CHAT_MODELS = ("gpt-4o-mini", "gpt-4.1", "o3-mini")
TENANTS = ("acme", "globex", "initech", "umbrella")
TENANT_WEIGHTS = (0.45, 0.3, 0.15, 0.1)
USERS = 40
QUESTIONS = (
    "How do I reset my password?",
    "Where is my order 1042?",
    "Can I change the delivery address of my order?",
    "What is your refund policy for damaged items?",
    "How do I export my invoices?",
    "Why was my card declined?",
    "I am jane.doe@example.com, my card 4111 1111 1111 1111 was charged twice, call me on +1 415 555 0100",
    "Any update on TICKET-4821 about Project Falcon?",
    "Re TICKET-xx91: still broken",  # the ticket reference the app's redaction callback chokes on
)
DOCUMENTS = (
    "Passwords can be reset from the account page; a link is sent by e-mail.",
    "Orders ship within two business days; tracking links are in the confirmation mail.",
    "Delivery addresses can be changed until the order is packed.",
    "Damaged items are refunded in full within 30 days of delivery.",
    "Invoices can be exported as PDF or CSV from the billing page.",
    "Cards are declined when the bank flags a payment; retry or use another card.",
)
ORDER_TOOL = [{"type": "function", "function": {
    "name": "lookup_order", "description": "Status of an order by id",
    "parameters": {"type": "object", "properties": {"order_id": {"type": "string"}}, "required": ["order_id"]}}}]
AGENT_TOOLS = [
    {"name": "web_search", "description": "Search the web", "input_schema": {
        "type": "object", "properties": {"query": {"type": "string"}}, "required": ["query"]}},
    {"name": "calculator", "description": "Evaluate arithmetic", "input_schema": {
        "type": "object", "properties": {"expression": {"type": "string"}}, "required": ["expression"]}},
]
# A tiny PNG header and filler, base64: users attach screenshots to support chats.
_SCREENSHOT = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk" + "A" * 2048
SYSTEM_PROMPT = ("You are ACME's support assistant. Answer from the provided context only, briefly and politely. "
                 "If the context does not answer the question, say so and offer a human agent.")


@dataclass
class Context:
    """What a scenario needs: clients, the profile, randomness, and the real-server switch."""

    openai: Any
    anthropic: Any | None
    async_openai_factory: Callable[[], Any]
    profile: Profile
    rng: random.Random
    real_model: str | None = None  # set when driving a real server: every call uses it
    max_tokens: int = 256
    burst: bool = False  # a periodic throttling burst: this request's first call gets a 429
    judge: Any | None = None  # EvaluationRunner for answers (hallucination), or None
    batch_judge: Any | None = None  # EvaluationRunner for summaries, with a small queue

    @property
    def real(self) -> bool:
        """Whether a real server answers (no scripting headers, one model)."""
        return self.real_model is not None

    def model(self, wanted: str) -> str:
        """``wanted``, or the real server's model."""
        return self.real_model or wanted

    def headers(self, model: str, *, stream: bool = False, fault: bool = True) -> dict[str, str]:
        """Scripting headers for the fake provider: latency, TTFT, faults per the profile."""
        if self.real:
            return {}
        provider, median, extra = MODELS.get(model, ("openai", 0.05, ""))
        rng, p = self.rng, self.profile
        latency = median * p.latency_factor * math.exp(rng.gauss(0.0, 0.45))
        if rng.random() < 0.03:  # the long tail
            latency *= rng.uniform(3.0, 6.0)
        headers = {"x-fake-latency": f"{latency:.3f}"}
        if stream:
            headers["x-fake-latency"] = f"{latency * 0.2:.3f}"
            headers["x-fake-ttft"] = f"{latency * 0.6:.3f}"
            headers["x-fake-chunk-delay"] = f"{0.004 * p.latency_factor:.4f}"
        scenarios = [s for s in extra.split(",") if s]
        if fault and self.burst:
            self.burst = False
            scenarios.append("rate_limit")
            headers["x-fake-retry-after-ms"] = "5"
        elif fault:
            roll = rng.random()
            if roll < p.error_rate.get(provider, 0.0):
                scenarios.append("overloaded" if provider == "anthropic" and rng.random() < 0.5 else "error_500")
            elif roll < p.error_rate.get(provider, 0.0) + p.throttle_rate:
                scenarios.append("rate_limit")
                headers["x-fake-retry-after-ms"] = "5"
        if scenarios:
            headers["x-fake-scenario"] = ",".join(scenarios)
        return headers


def _who(ctx: Context) -> dict[str, str]:
    rng = ctx.rng
    user = rng.randrange(USERS)
    return {"tenant_id": rng.choices(TENANTS, TENANT_WEIGHTS)[0], "user_id": f"user-{user:03d}",
            "session_id": f"session-{user:03d}-{rng.randrange(1000):03d}"}


def redaction_callback(text: str) -> str:
    """The demo app's own redaction rule: internal code names, and ticket references.

    Deliberately buggy: a malformed reference (``TICKET-xx91``) makes ``int()`` raise, and
    llmotel drops that value instead of exporting it raw (``llmotel.redaction.failures``).
    """
    text = text.replace("Project Falcon", "[CODENAME]")
    if "TICKET-" in text:
        number = int(text.split("TICKET-", 1)[1][:4])
        text = text.replace(f"TICKET-{number:04d}", "TICKET-[ID]")
    return text


def make_judges(profile: Profile, *, real: bool) -> tuple[Any, Any]:
    """The answer judge (hallucination, an LLM judge here simulated by a stable hash; it times
    out now and then) and the batch-summary judge (slower, with a queue of two)."""
    import time

    from llmotel.evaluators import EvalSample, EvaluationRunner, JudgeFunction, hallucination_outcome, sample_fraction

    def hallucination(sample: EvalSample) -> Any:
        roll = sample_fraction(f"hallucination:{sample.key}")
        if roll > 0.98:
            raise TimeoutError("judge model timed out")
        rate = profile.hallucination_rate * (0.5 if sample.attributes.get(sc.GEN_AI_PROMPT_VERSION) == "v2" else 1.0)
        return hallucination_outcome(1.0 if roll < rate else roll * 0.2)

    def summary_quality(sample: EvalSample) -> Any:
        time.sleep(0.02)  # an LLM judge takes a while; the batch submits faster than that
        return 1.0 if sample.output or real else 0.0

    return (EvaluationRunner([JudgeFunction(sc.EVAL_HALLUCINATION, hallucination, evaluator="demo-judge")]),
            EvaluationRunner([JudgeFunction("summary_quality", summary_quality, evaluator="demo-judge")],
                             max_queue=2))


def _judge(ctx: Context, response_id: str | None, output: str, version: str | None = None) -> None:
    """Queue the answer for the hallucination judge and, sometimes, record the user's feedback."""
    if response_id is None or ctx.judge is None:
        return
    from llmotel.evaluators import EvalSample

    attributes = {sc.GEN_AI_PROMPT_VERSION: version} if version else {}
    ctx.judge.submit(EvalSample(output=output, response_id=response_id, attributes=attributes))
    if ctx.rng.random() < 0.3:
        negative = ctx.rng.random() < ctx.profile.negative_feedback_rate
        llmotel.record_feedback(score=0.0 if negative else 1.0,
                                label=sc.FEEDBACK_NEGATIVE if negative else sc.FEEDBACK_POSITIVE,
                                response_id=response_id)


def rag_chat(ctx: Context, i: int) -> None:
    """Support chat: retrieve, stream an answer, maybe call a tool, a follow-up, maybe hand over to a human."""
    rng = ctx.rng
    question = QUESTIONS[i % len(QUESTIONS)]
    model = ctx.model(CHAT_MODELS[(i // 4) % len(CHAT_MODELS)])
    version = "v2" if rng.random() < 0.5 else "v1"
    who = _who(ctx)
    conversation = f"conv_{who['session_id']}"
    with llmotel.attributes(**who, feature="support-chat", prompt_name="support-answer",
                            prompt_version=version, experiment="support-prompt-ab"), \
            llmotel.workflow("support-chat", conversation_id=conversation):
        with llmotel.retrieval("kb-articles", top_k=4, query=question) as search:
            unsure = rng.random() < ctx.profile.low_confidence_rate
            docs = [{"id": f"kb-{(i + k) % len(DOCUMENTS)}", "score": round(rng.uniform(0.2, 0.5) if unsure
                                                                            else rng.uniform(0.7, 0.95), 3)}
                    for k in range(4)]
            search.set_result(docs)
        confidence = max(d["score"] for d in docs)
        context = "\n".join(DOCUMENTS[(i + k) % len(DOCUMENTS)] for k in range(3)) * ctx.profile.context_factor
        user: Any = f"Context:\n{context}\n\nQuestion: {question}"
        if rng.random() < 0.1 and not ctx.real:  # a screenshot attached: exported as a placeholder
            user = [{"type": "text", "text": user},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64," + _SCREENSHOT}}]
        messages = [{"role": "system", "content": SYSTEM_PROMPT + (" Cite the article ids." if version == "v2"
                                                                   else "")},
                    {"role": "user", "content": user}]
        stream = ctx.openai.chat.completions.create(
            model=model, messages=messages, stream=True, stream_options={"include_usage": True},
            max_tokens=ctx.max_tokens, extra_headers=ctx.headers(model, stream=True))
        if rng.random() < 0.04:  # the user closed the tab: the stream is dropped half-read
            next(iter(stream), None)
            del stream
            return
        response_id, parts = None, []
        for chunk in stream:
            response_id = response_id or chunk.id
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
        if "order" in question and not ctx.real:
            _order_tool_round(ctx, model, messages)
        if (i // len(ROUND)) % 2 == 0 and not ctx.real:
            # A follow-up in the same conversation on the Responses API (servers other than
            # the fake one seldom implement conversations, hence not with --base-url).
            ctx.openai.responses.create(model=model, input="Thanks. And how long does that usually take?",
                                        conversation=conversation, max_output_tokens=ctx.max_tokens,
                                        extra_headers=ctx.headers(model))
        # A config gap: now and then the review queue's node name is missing. branch() counts
        # that as an instrumentation error and records nothing; the app carries on.
        review = "" if i % 48 == 3 else "human_review"
        if confidence < 0.6 or not review:
            llmotel.branch("support-chat", "answer", review, outcome="low_confidence",
                           condition="retrieval confidence < 0.6", confidence=confidence)
        else:
            llmotel.branch("support-chat", "answer", "respond", outcome="confident", confidence=confidence)
        _judge(ctx, response_id, "".join(parts), version)


def _order_tool_round(ctx: Context, model: str, messages: list[dict[str, Any]]) -> None:
    headers = ctx.headers(model, fault=False)
    headers["x-fake-scenario"] = ",".join(filter(None, (headers.get("x-fake-scenario"), "tool_call")))
    first = ctx.openai.chat.completions.create(model=model, messages=messages, tools=ORDER_TOOL,
                                               max_tokens=ctx.max_tokens, extra_headers=headers)
    call = (first.choices[0].message.tool_calls or [None])[0]
    if call is None:
        return
    with llmotel.tool("lookup_order", call_id=call.id):
        result = '{"status": "shipped", "eta": "tomorrow"}'
    ctx.openai.chat.completions.create(
        model=model, max_tokens=ctx.max_tokens, extra_headers=ctx.headers(model),
        messages=[*messages, first.choices[0].message.model_dump(exclude_none=True),
                  {"role": "tool", "tool_call_id": call.id, "content": result}])


def agent(ctx: Context, i: int) -> None:
    """A research agent: Claude decides, tools run, Claude answers."""
    if ctx.anthropic is None:
        return rag_chat(ctx, i)
    model = ctx.model("claude-sonnet-4-5")
    task = ("Estimate the yearly cost of 3 support agents at 40 euros per hour",
            "Find the latest release date of our competitor's app",
            "Compare shipping times of our two warehouses")[i % 3]
    with llmotel.attributes(**_who(ctx), feature="research-agent"), \
            llmotel.agent("researcher", model=model, description="answers research questions with tools"):
        messages: list[dict[str, Any]] = [{"role": "user", "content": task}]
        for step in range(3):
            headers = ctx.headers(model)
            if step < 2 and not ctx.real:
                headers["x-fake-scenario"] = ",".join(filter(None, (headers.get("x-fake-scenario"), "tool_call")))
            reply = ctx.anthropic.messages.create(model=model, max_tokens=ctx.max_tokens, tools=AGENT_TOOLS,
                                                  messages=messages, extra_headers=headers)
            uses = [b for b in reply.content if b.type == "tool_use"]
            if not uses:
                _judge(ctx, reply.id, "".join(b.text for b in reply.content if b.type == "text"))
                return None
            results = []
            for use in uses:
                name = AGENT_TOOLS[(step + i) % len(AGENT_TOOLS)]["name"]
                with llmotel.tool(name, call_id=use.id):
                    results.append({"type": "tool_result", "tool_use_id": use.id, "content": "42"})
            messages += [{"role": "assistant", "content": [b.model_dump(exclude_none=True) for b in reply.content]},
                         {"role": "user", "content": results}]
    return None


def batch(ctx: Context, i: int) -> None:
    """Nightly summaries: a few documents at once, Claude Haiku, and (async) GPT-4o mini and
    the self-hosted model; every summary goes to the summary judge."""
    docs = [DOCUMENTS[(i + k) % len(DOCUMENTS)] * (2 + k) * ctx.profile.context_factor for k in range(3)]
    if (i // len(ROUND)) % 4 == 1:
        docs[2] = " ".join(DOCUMENTS) * 60  # a 20 KB report: captured truncated, marked as such
    with llmotel.attributes(tenant_id=ctx.rng.choices(TENANTS, TENANT_WEIGHTS)[0], feature="summaries"), \
            llmotel.workflow("nightly-summaries"):
        summaries: list[tuple[str | None, str]] = []
        if ctx.anthropic is not None:
            model = ctx.model("claude-haiku-4-5")
            system = [{"type": "text", "text": "Summarise the document in one sentence.",
                       "cache_control": {"type": "ephemeral"}}]
            for doc in docs[:2]:
                reply = ctx.anthropic.messages.create(model=model, max_tokens=ctx.max_tokens, system=system,
                                                      messages=[{"role": "user", "content": doc}],
                                                      extra_headers=ctx.headers(model))
                summaries.append((reply.id, "".join(b.text for b in reply.content if b.type == "text")))
        summaries += asyncio.run(_summarise_async(ctx, docs))
        if ctx.batch_judge is not None:
            from llmotel.evaluators import EvalSample

            for response_id, text in summaries:
                ctx.batch_judge.submit(EvalSample(output=text, response_id=response_id))


async def _summarise_async(ctx: Context, docs: list[str]) -> list[tuple[str | None, str]]:
    client = ctx.async_openai_factory()
    models = [ctx.model("gpt-4o-mini"), ctx.model("acme-llama-3-8b"), ctx.model("gpt-4o-mini")]
    try:
        results = await asyncio.gather(*(
            client.chat.completions.create(
                model=model, max_tokens=ctx.max_tokens, extra_headers=ctx.headers(model),
                messages=[{"role": "system", "content": "Summarise in one sentence."},
                          {"role": "user", "content": doc}])
            for model, doc in zip(models, docs, strict=True)), return_exceptions=True)
    finally:
        await client.close()
    errors = [r for r in results if isinstance(r, BaseException)]
    if errors:
        raise errors[0]
    return [(r.id, r.choices[0].message.content or "") for r in results]


def embeddings(ctx: Context, i: int) -> None:
    """Index new documents."""
    if ctx.real:
        return None  # most chat servers have no embeddings endpoint (llama.cpp without --embedding: 501)
    with llmotel.attributes(tenant_id=TENANTS[i % len(TENANTS)], feature="indexing"):
        ctx.openai.embeddings.create(model=EMBEDDING_MODEL, input=list(DOCUMENTS[: 2 + i % 4]),
                                     extra_headers=ctx.headers(EMBEDDING_MODEL))
    return None


def anthropic_chat(ctx: Context, i: int) -> None:
    """The support chat's Claude variant (streamed), for the provider comparison."""
    if ctx.anthropic is None:
        return rag_chat(ctx, i)
    model = ctx.model("claude-haiku-4-5" if (i // len(ROUND)) % 2 else "claude-sonnet-4-5")
    question = QUESTIONS[i % len(QUESTIONS)]
    with llmotel.attributes(**_who(ctx), feature="support-chat", prompt_name="support-answer", prompt_version="v1"), \
            llmotel.workflow("support-chat"):
        with ctx.anthropic.messages.stream(
                model=model, max_tokens=ctx.max_tokens, system=SYSTEM_PROMPT,
                messages=[{"role": "user", "content": question}],
                extra_headers=ctx.headers(model, stream=True)) as stream:
            message = stream.get_final_message()
        llmotel.branch("support-chat", "answer", "respond", outcome="confident")
        _judge(ctx, message.id, "".join(b.text for b in message.content if b.type == "text"), "v1")
    return None


# One round: every scenario and, over four rounds, every model. Deterministic order so that
# a short run already covers everything the dashboards show.
ROUND: tuple[Callable[[Context, int], None], ...] = (rag_chat, agent, anthropic_chat, rag_chat, batch, embeddings)
