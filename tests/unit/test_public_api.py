"""The public API is reachable from `llmotel` itself, and importing it stays cheap."""

from __future__ import annotations

import subprocess
import sys

import llmotel


def test_top_level_names():
    from llmotel import attribution, evaluators, feedback, workflows

    assert llmotel.attributes is attribution.attributes
    assert llmotel.workflow is workflows.workflow and llmotel.agent is workflows.agent
    assert llmotel.tool is workflows.tool and llmotel.retrieval is workflows.retrieval
    assert llmotel.branch is workflows.branch
    assert llmotel.record_feedback is feedback.record_feedback
    assert llmotel.record_evaluation is feedback.record_evaluation
    assert llmotel.current_trace_id is feedback.current_trace_id
    assert llmotel.EvaluationRunner is evaluators.EvaluationRunner
    assert set(llmotel.__all__) >= {"init", "shutdown", "attributes", "workflow", "record_feedback"}


def test_import_is_lazy():
    code = ("import sys, llmotel; heavy = [m for m in ('openai', 'anthropic', 'genai_prices', "
            "'llmotel.workflows', 'llmotel.feedback', 'grpc') if m in sys.modules]; print(heavy)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"


def test_instrumenting_anthropic_does_not_import_openai():
    code = ("import sys, anthropic\nfrom llmotel.config import Settings\n"
            "from llmotel.instrumentation.anthropic import AnthropicInstrumentor\n"
            "AnthropicInstrumentor().instrument(settings=Settings.load(env={}))\n"
            "print('openai' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
