"""Every telemetry name llmotel emits, spelled once.

The GenAI conventions live in ``open-telemetry/semantic-conventions-genai`` and the
``gen_ai.*`` constants in ``opentelemetry-semantic-conventions`` are deprecated, so
llmotel keeps its own. Names under ``llmotel.*`` are what the conventions leave out.
Metric names as Prometheus sees them are a public contract (``docs/metrics.md``).
"""

from __future__ import annotations

from typing import Final

# Schema URL from the semantic-conventions-genai manifest (the README's URL 404s).
SCHEMA_URL: Final = "https://opentelemetry.io/schemas/gen-ai-dev/1.42.0-dev"

# --- operation names -------------------------------------------------------------
OP_CHAT: Final = "chat"
OP_TEXT_COMPLETION: Final = "text_completion"
OP_EMBEDDINGS: Final = "embeddings"

# --- provider names --------------------------------------------------------------
PROVIDER_OPENAI: Final = "openai"
PROVIDER_ANTHROPIC: Final = "anthropic"
PROVIDER_AZURE_OPENAI: Final = "azure.ai.openai"

# --- common attributes -----------------------------------------------------------
ERROR_TYPE: Final = "error.type"
SERVER_ADDRESS: Final = "server.address"
SERVER_PORT: Final = "server.port"
ERROR_TYPE_OTHER: Final = "_OTHER"

# --- gen_ai request/response attributes ------------------------------------------
GEN_AI_OPERATION_NAME: Final = "gen_ai.operation.name"
GEN_AI_PROVIDER_NAME: Final = "gen_ai.provider.name"
GEN_AI_CONVERSATION_ID: Final = "gen_ai.conversation.id"
GEN_AI_PROMPT_NAME: Final = "gen_ai.prompt.name"
GEN_AI_OUTPUT_TYPE: Final = "gen_ai.output.type"
GEN_AI_REQUEST_MODEL: Final = "gen_ai.request.model"
GEN_AI_REQUEST_CHOICE_COUNT: Final = "gen_ai.request.choice.count"
GEN_AI_REQUEST_SEED: Final = "gen_ai.request.seed"
GEN_AI_REQUEST_STREAM: Final = "gen_ai.request.stream"
GEN_AI_REQUEST_TEMPERATURE: Final = "gen_ai.request.temperature"
GEN_AI_REQUEST_TOP_P: Final = "gen_ai.request.top_p"
GEN_AI_REQUEST_TOP_K: Final = "gen_ai.request.top_k"
GEN_AI_REQUEST_FREQUENCY_PENALTY: Final = "gen_ai.request.frequency_penalty"
GEN_AI_REQUEST_PRESENCE_PENALTY: Final = "gen_ai.request.presence_penalty"
GEN_AI_REQUEST_MAX_TOKENS: Final = "gen_ai.request.max_tokens"
GEN_AI_REQUEST_STOP_SEQUENCES: Final = "gen_ai.request.stop_sequences"
GEN_AI_REQUEST_REASONING_LEVEL: Final = "gen_ai.request.reasoning.level"
GEN_AI_REQUEST_PREVIOUS_RESPONSE_ID: Final = "gen_ai.request.previous_response.id"
GEN_AI_REQUEST_ENCODING_FORMATS: Final = "gen_ai.request.encoding_formats"
GEN_AI_RESPONSE_ID: Final = "gen_ai.response.id"
GEN_AI_RESPONSE_MODEL: Final = "gen_ai.response.model"
GEN_AI_RESPONSE_FINISH_REASONS: Final = "gen_ai.response.finish_reasons"
GEN_AI_RESPONSE_TIME_TO_FIRST_CHUNK: Final = "gen_ai.response.time_to_first_chunk"
GEN_AI_EMBEDDINGS_DIMENSION_COUNT: Final = "gen_ai.embeddings.dimension.count"

GEN_AI_USAGE_INPUT_TOKENS: Final = "gen_ai.usage.input_tokens"
GEN_AI_USAGE_OUTPUT_TOKENS: Final = "gen_ai.usage.output_tokens"
GEN_AI_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.usage.cache_read.input_tokens"
GEN_AI_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.usage.cache_write.input_tokens"
GEN_AI_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.usage.reasoning.output_tokens"

# Opt-in content attributes (JSON strings on spans, structured on events).
GEN_AI_INPUT_MESSAGES: Final = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES: Final = "gen_ai.output.messages"
GEN_AI_SYSTEM_INSTRUCTIONS: Final = "gen_ai.system_instructions"
GEN_AI_TOOL_DEFINITIONS: Final = "gen_ai.tool.definitions"
INFERENCE_CONTENT_ATTRIBUTES: Final = (GEN_AI_INPUT_MESSAGES, GEN_AI_OUTPUT_MESSAGES, GEN_AI_SYSTEM_INSTRUCTIONS,
                                       GEN_AI_TOOL_DEFINITIONS)

GEN_AI_TOKEN_TYPE: Final = "gen_ai.token.type"
GEN_AI_TOKEN_MODALITY: Final = "gen_ai.token.modality"
TOKEN_TYPE_INPUT: Final = "input"
TOKEN_TYPE_OUTPUT: Final = "output"

# --- OpenAI-specific attributes --------------------------------------------------
OPENAI_API_TYPE: Final = "openai.api.type"
OPENAI_API_TYPE_CHAT: Final = "chat_completions"
OPENAI_API_TYPE_RESPONSES: Final = "responses"
OPENAI_REQUEST_SERVICE_TIER: Final = "openai.request.service_tier"
OPENAI_RESPONSE_SERVICE_TIER: Final = "openai.response.service_tier"
OPENAI_RESPONSE_SYSTEM_FINGERPRINT: Final = "openai.response.system_fingerprint"

# --- finish reasons (the convention's values) ------------------------------------
FINISH_STOP: Final = "stop"
FINISH_LENGTH: Final = "length"
FINISH_CONTENT_FILTER: Final = "content_filter"
FINISH_TOOL_CALL: Final = "tool_call"
FINISH_ERROR: Final = "error"

# --- events ----------------------------------------------------------------------
EVENT_INFERENCE_DETAILS: Final = "gen_ai.client.inference.operation.details"

# --- metrics ---------------------------------------------------------------------
METRIC_OPERATION_DURATION: Final = "gen_ai.client.operation.duration"
METRIC_TOKEN_USAGE: Final = "gen_ai.client.token.usage"
METRIC_TIME_TO_FIRST_CHUNK: Final = "gen_ai.client.operation.time_to_first_chunk"
METRIC_TIME_PER_OUTPUT_CHUNK: Final = "gen_ai.client.operation.time_per_output_chunk"
METRIC_USAGE_INPUT_TOKENS: Final = "gen_ai.client.inference.usage.input_tokens"
METRIC_USAGE_OUTPUT_TOKENS: Final = "gen_ai.client.inference.usage.output_tokens"
METRIC_USAGE_CACHE_READ_INPUT_TOKENS: Final = "gen_ai.client.inference.usage.cache_read.input_tokens"
METRIC_USAGE_CACHE_WRITE_INPUT_TOKENS: Final = "gen_ai.client.inference.usage.cache_write.input_tokens"
METRIC_USAGE_REASONING_OUTPUT_TOKENS: Final = "gen_ai.client.inference.usage.reasoning.output_tokens"

# llmotel self-telemetry: the instrumentation reporting on itself.
METRIC_INSTRUMENTATION_ERRORS: Final = "llmotel.instrumentation.errors"
METRIC_STREAMS_ABANDONED: Final = "llmotel.streams.abandoned"
METRIC_STREAMS_ACTIVE: Final = "llmotel.streams.active"
LLMOTEL_INSTRUMENTATION: Final = "llmotel.instrumentation"
LLMOTEL_HOOK: Final = "llmotel.hook"
LLMOTEL_STREAM_ENDED_BY: Final = "llmotel.stream.ended_by"

# Rate limits and retries (issue #3): span attributes llmotel.ratelimit.<resource>.<limit|remaining>
# with resource one of requests, tokens, input_tokens, output_tokens.
LLMOTEL_RATELIMIT_PREFIX: Final = "llmotel.ratelimit"
LLMOTEL_RATELIMIT_RESOURCE: Final = "llmotel.ratelimit.resource"
LLMOTEL_RETRY_AFTER: Final = "llmotel.retry_after"
LLMOTEL_REQUEST_ATTEMPTS: Final = "llmotel.request.attempts"
METRIC_RATELIMIT_LIMIT: Final = "llmotel.ratelimit.limit"
METRIC_RATELIMIT_REMAINING: Final = "llmotel.ratelimit.remaining"
METRIC_THROTTLED: Final = "llmotel.client.throttled"
METRIC_RETRIES: Final = "llmotel.client.retries"

# Cost (issue #4): the conventions have no cost attributes yet (semconv-genai PR#443).
LLMOTEL_COST_AMOUNT: Final = "llmotel.cost.amount"
LLMOTEL_COST_CURRENCY: Final = "llmotel.cost.currency"
LLMOTEL_COST_SOURCE: Final = "llmotel.cost.source"
LLMOTEL_COST_REASON: Final = "llmotel.cost.reason"
COST_REASON_UNKNOWN_MODEL: Final = "unknown_model"
COST_REASON_NO_USAGE: Final = "no_usage"
# Unit "{USD}" is an annotation Prometheus drops, giving exactly llmotel_cost_usd_total.
METRIC_COST: Final = "llmotel.cost.usd"
METRIC_UNPRICED: Final = "llmotel.cost.unpriced_calls"

# Advisory bucket boundaries from the conventions.
DURATION_BUCKETS: Final = (
    0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92,
)
TOKEN_BUCKETS: Final = (
    1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
)

# Error types llmotel assigns itself when no exception explains the failure.
ERROR_STREAM_ABANDONED: Final = "llmotel.StreamAbandoned"
ERROR_CANCELLED: Final = "asyncio.CancelledError"

# --- feedback and evaluations (feedback.py) ---
# The gen_ai.evaluation.result event (SEMCONV.md §4): one log record per evaluation,
# parented to the evaluated span. Provenance (who evaluated, and how) is not in the
# conventions yet (semconv-genai#79), so it lives under llmotel.evaluation.*.
EVENT_EVALUATION_RESULT: Final = "gen_ai.evaluation.result"
GEN_AI_EVALUATION_NAME: Final = "gen_ai.evaluation.name"
GEN_AI_EVALUATION_SCORE_VALUE: Final = "gen_ai.evaluation.score.value"
GEN_AI_EVALUATION_SCORE_LABEL: Final = "gen_ai.evaluation.score.label"
GEN_AI_EVALUATION_EXPLANATION: Final = "gen_ai.evaluation.explanation"  # content: capture-gated
USER_ID: Final = "user.id"  # event only, never on metrics
LLMOTEL_EVALUATION_EVALUATOR: Final = "llmotel.evaluation.evaluator"
LLMOTEL_EVALUATION_SOURCE: Final = "llmotel.evaluation.source"
LLMOTEL_EVALUATION_DROP_REASON: Final = "llmotel.evaluation.drop_reason"
# llmotel.evaluation.source values.
EVAL_SOURCE_HUMAN: Final = "human"
EVAL_SOURCE_HEURISTIC: Final = "heuristic"
EVAL_SOURCE_LLM_JUDGE: Final = "llm_judge"
EVAL_SOURCE_CUSTOM: Final = "custom"
EVAL_SOURCES: Final = (EVAL_SOURCE_HUMAN, EVAL_SOURCE_HEURISTIC, EVAL_SOURCE_LLM_JUDGE, EVAL_SOURCE_CUSTOM)
# llmotel.evaluation.drop_reason values.
EVAL_DROP_QUEUE_FULL: Final = "queue_full"
EVAL_DROP_SHUTDOWN: Final = "shutdown"

# Score direction, for every evaluation llmotel defines: the score is the degree to which
# the *named* property holds, in [0, 1]. So 1.0 = positive feedback, = hallucinated,
# = refusal, = valid JSON; the label is the thresholded category of the same thing.
EVAL_USER_FEEDBACK: Final = "user_feedback"
FEEDBACK_POSITIVE: Final = "positive"  # score 1.0 (thumbs up)
FEEDBACK_NEGATIVE: Final = "negative"  # score 0.0 (thumbs down)
# Hallucination: score = probability (or judged degree) that the output is hallucinated,
# label hallucinated/grounded. Hallucination rate on a dashboard:
#   rate(llmotel_evaluation_results_total{gen_ai_evaluation_name="hallucination",
#        gen_ai_evaluation_score_label="hallucinated"}) / rate(...{gen_ai_evaluation_name="hallucination"})
EVAL_HALLUCINATION: Final = "hallucination"
HALLUCINATION_HALLUCINATED: Final = "hallucinated"
HALLUCINATION_GROUNDED: Final = "grounded"
EVAL_JSON_VALIDITY: Final = "json_validity"
JSON_VALID: Final = "valid"  # score 1.0
JSON_INVALID: Final = "invalid"  # not JSON at all; score 0.0
JSON_SCHEMA_VIOLATION: Final = "schema_violation"  # JSON, but not the expected shape; score 0.0
EVAL_REFUSAL: Final = "refusal"
REFUSAL_REFUSAL: Final = "refusal"  # score 1.0
REFUSAL_ANSWER: Final = "answer"  # score 0.0

# Attribution attributes evaluation metrics may carry when passed via attributes=
# (the attribution allow-list will own these; spelled here first).
GEN_AI_PROMPT_VERSION: Final = "gen_ai.prompt.version"
LLMOTEL_FEATURE: Final = "llmotel.feature"

# Prometheus: llmotel_evaluation_score (unit {score}: a unit of "1" would add _ratio),
# llmotel_evaluation_results_total, llmotel_evaluation_errors_total, llmotel_evaluation_dropped_total.
METRIC_EVALUATION_SCORE: Final = "llmotel.evaluation.score"
METRIC_EVALUATION_RESULTS: Final = "llmotel.evaluation.results"
METRIC_EVALUATION_ERRORS: Final = "llmotel.evaluation.errors"
METRIC_EVALUATION_DROPPED: Final = "llmotel.evaluation.dropped"
EVALUATION_SCORE_BUCKETS: Final = (0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)

# --- workflows, agents, tools, retrieval, branches (workflows.py) ---
OP_INVOKE_WORKFLOW: Final = "invoke_workflow"
OP_INVOKE_AGENT: Final = "invoke_agent"
OP_EXECUTE_TOOL: Final = "execute_tool"
OP_RETRIEVAL: Final = "retrieval"

GEN_AI_WORKFLOW_NAME: Final = "gen_ai.workflow.name"
GEN_AI_AGENT_NAME: Final = "gen_ai.agent.name"
GEN_AI_AGENT_DESCRIPTION: Final = "gen_ai.agent.description"
GEN_AI_TOOL_NAME: Final = "gen_ai.tool.name"
GEN_AI_TOOL_TYPE: Final = "gen_ai.tool.type"
GEN_AI_TOOL_DESCRIPTION: Final = "gen_ai.tool.description"
GEN_AI_TOOL_CALL_ID: Final = "gen_ai.tool.call.id"
TOOL_TYPE_FUNCTION: Final = "function"
TOOL_TYPE_EXTENSION: Final = "extension"
TOOL_TYPE_DATASTORE: Final = "datastore"
GEN_AI_DATA_SOURCE_ID: Final = "gen_ai.data_source.id"
GEN_AI_RETRIEVAL_TOP_K: Final = "gen_ai.retrieval.top_k"
# Opt-in content (JSON strings on spans).
GEN_AI_TOOL_CALL_ARGUMENTS: Final = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT: Final = "gen_ai.tool.call.result"
GEN_AI_RETRIEVAL_QUERY_TEXT: Final = "gen_ai.retrieval.query.text"
GEN_AI_RETRIEVAL_DOCUMENTS: Final = "gen_ai.retrieval.documents"

METRIC_INVOKE_WORKFLOW_DURATION: Final = "gen_ai.invoke_workflow.duration"
METRIC_INVOKE_AGENT_DURATION: Final = "gen_ai.invoke_agent.duration"
METRIC_EXECUTE_TOOL_DURATION: Final = "gen_ai.execute_tool.duration"
# Not gen_ai.client.operation.duration: retrieval latency would skew inference dashboards.
METRIC_RETRIEVAL_DURATION: Final = "llmotel.retrieval.duration"
WORKFLOW_DURATION_BUCKETS: Final = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
AGENT_DURATION_BUCKETS: Final = (
    0.1, 0.2, 0.4, 0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 51.2, 102.4, 204.8, 409.6,
)

# Branch decisions: a span event plus a counter (Prometheus: llmotel_workflow_branches_total).
EVENT_BRANCH: Final = "llmotel.branch"
LLMOTEL_BRANCH_WORKFLOW: Final = "llmotel.branch.workflow"
LLMOTEL_BRANCH_FROM: Final = "llmotel.branch.from"
LLMOTEL_BRANCH_TO: Final = "llmotel.branch.to"
LLMOTEL_BRANCH_CONDITION: Final = "llmotel.branch.condition"
LLMOTEL_BRANCH_OUTCOME: Final = "llmotel.branch.outcome"
LLMOTEL_BRANCH_CONTEXT_PREFIX: Final = "llmotel.branch.context."
METRIC_WORKFLOW_BRANCHES: Final = "llmotel.workflow.branches"
# Replaces metric label values once a bounded number of distinct label sets was seen.
LABEL_OVERFLOW: Final = "_OTHER"
# error.type on llmotel.instrumentation.errors when llmotel's API was called with bad input.
ERROR_INVALID_ARGUMENT: Final = "llmotel.InvalidArgument"

# --- redaction (redaction.py) ---
# Self-telemetry of the redaction-and-limits chokepoint (issue #5); redaction.Stats carries the
# counts, the chokepoint records them. Prometheus: llmotel_redaction_redactions_total,
# llmotel_redaction_truncations_total, llmotel_redaction_failures_total,
# llmotel_content_binary_replaced_total (curly-brace units are annotations Prometheus drops).
METRIC_REDACTIONS: Final = "llmotel.redaction.redactions"  # counter, one per redacted match
METRIC_REDACTION_TRUNCATIONS: Final = "llmotel.redaction.truncations"  # counter, values cut to the cap
METRIC_REDACTION_FAILURES: Final = "llmotel.redaction.failures"  # counter, values dropped (fail closed)
METRIC_CONTENT_BINARY_REPLACED: Final = "llmotel.content.binary_replaced"  # counter, payloads replaced
UNIT_REDACTION: Final = "{redaction}"
UNIT_VALUE: Final = "{value}"
# Attribute of METRIC_REDACTIONS: a built-in detector name (redaction.DETECTORS), a custom
# pattern name, or "callback". Bounded: the names come from configuration, never from content.
LLMOTEL_REDACTION_DETECTOR: Final = "llmotel.redaction.detector"
REDACTION_DETECTOR_CALLBACK: Final = "callback"
# Span/event attribute (bool) set when a captured value was truncated to the per-value cap.
LLMOTEL_CONTENT_TRUNCATED: Final = "llmotel.content.truncated"
# Every content attribute llmotel exports (spans and events): all of them pass through the
# content gate (llmotel.telemetry.capture); tests/integration/test_privacy.py proves each path.
CONTENT_ATTRIBUTES: Final = (*INFERENCE_CONTENT_ATTRIBUTES, GEN_AI_TOOL_CALL_ARGUMENTS, GEN_AI_TOOL_CALL_RESULT,
                             GEN_AI_RETRIEVAL_QUERY_TEXT, GEN_AI_RETRIEVAL_DOCUMENTS, GEN_AI_EVALUATION_EXPLANATION)
