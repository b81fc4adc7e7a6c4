"""Demo traffic profiles: ``normal`` and the incidents that make the alerts demonstrable.

A profile is a handful of knobs the scenarios read on every request: how often calls fail
(per provider), how slow they are, how much context they send, how often retrieval comes
back unsure (the human-review branch) and how often answers are judged hallucinated.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Profile:
    """The knobs of one traffic profile (probabilities are per call)."""

    name: str
    description: str
    error_rate: dict[str, float] = field(default_factory=lambda: {"openai": 0.01, "anthropic": 0.01})
    throttle_rate: float = 0.02  # 429s (the SDK retries once, so most still succeed)
    latency_factor: float = 1.0
    context_factor: int = 1  # repeats of the retrieved context: input tokens, hence cost
    low_confidence_rate: float = 0.15  # share of RAG answers routed to human review
    hallucination_rate: float = 0.05
    negative_feedback_rate: float = 0.12


PROFILES: dict[str, Profile] = {
    p.name: p
    for p in (
        Profile("normal", "steady traffic with the usual background of errors, 429s and slow tails"),
        Profile("outage", "the OpenAI provider fails most calls (provider failing outright, error-ratio SLO burn)",
                error_rate={"openai": 0.85, "anthropic": 0.01}),
        Profile("latency", "every model answers 6x slower (latency SLO burn, TTFT degraded)", latency_factor=6.0),
        Profile("cost-spike", "prompts carry 40x more context (token and cost anomalies, budget burn)",
                context_factor=40),
        Profile("branch-shift", "retrieval is unsure far more often: most answers go to human review",
                low_confidence_rate=0.7),
        Profile("quality-drop", "answers are judged hallucinated and users dislike them",
                hallucination_rate=0.45, negative_feedback_rate=0.6),
    )
}
