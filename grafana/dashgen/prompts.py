"""llmotel / Prompt explorer: what was asked and answered, call by call and conversation by conversation.

Content exists only where the app turned capture on (OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT),
after redaction and size caps. Loki's OTLP ingest keeps service.name / service.namespace /
deployment.environment.name as index labels (loki/loki.yaml) and every log attribute as structured
metadata with dots turned into underscores: gen_ai.input.messages -> gen_ai_input_messages. Loki
does not store the OTLP event name, so the operation-details events are the records that carry
gen_ai_operation_name but no gen_ai_evaluation_name (evaluation results, parented to the evaluated
call, carry both).
"""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as db

from grafana.dashgen.core import LOKI_DS, LOKI_SERVICES, TEMPO_DS, Board, logs_panel, traces_panel

SEARCH = db.TextBoxVariable("search").label("Search prompts and completions").default_value("")
CONVERSATION = db.TextBoxVariable("conversation").label("Conversation (session.id or gen_ai.conversation.id)") \
    .default_value("")

CALLS = '{service_name=~"$service"} | gen_ai_operation_name != "" | gen_ai_evaluation_name = ""'
LINE = ('| line_format "{{.gen_ai_provider_name}} {{.gen_ai_request_model}} | in: {{.gen_ai_input_messages}} '
        '| out: {{.gen_ai_output_messages}}"')
SPAN_FIELDS = ("select(span.gen_ai.request.model, span.gen_ai.usage.input_tokens, span.gen_ai.usage.output_tokens, "
               "span.llmotel.cost.amount, span.session.id, span.gen_ai.conversation.id)")


def board() -> Board:
    return Board("llmotel-prompts", "Search captured prompts and completions (Loki), recent LLM calls with a link "
                 "to each trace (Tempo), and one conversation's calls in order.", [
        ("Search", [
            logs_panel("Prompts and completions", "Operation-details events whose input or output messages match "
                       "the search text (case-insensitive; empty = all). Open a line for its fields; trace_id links "
                       "to the trace.",
                       f'{CALLS} | gen_ai_input_messages =~ "(?is).*${{search:regex}}.*" or '
                       f'gen_ai_output_messages =~ "(?is).*${{search:regex}}.*" {LINE}', h=12),
            traces_panel("Recent LLM calls", "The newest GenAI spans with model, tokens and cost: click a trace id "
                         "to open the trace.",
                         f'{{ span.gen_ai.operation.name != nil && resource.service.name =~ "$service" }} | '
                         f"{SPAN_FIELDS}"),
        ]),
        ("Conversation", [
            logs_panel("Conversation, oldest first", "Every call of the conversation typed above, in order "
                       "(gen_ai.conversation.id; session.id is on spans only: see the traces below).",
                       f'{CALLS} | gen_ai_conversation_id = "$conversation" {LINE}', oldest_first=True, h=12),
            traces_panel("Conversation traces", "The conversation's spans (session.id or gen_ai.conversation.id).",
                         '{ span.session.id = "$conversation" || span.gen_ai.conversation.id = "$conversation" } | '
                         f"{SPAN_FIELDS}"),
        ]),
    ], variables=(LOKI_DS, TEMPO_DS, LOKI_SERVICES, SEARCH, CONVERSATION))
