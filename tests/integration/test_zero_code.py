"""`opentelemetry-instrument python app.py` picks up llmotel's instrumentor with no code change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

import pytest

APP = textwrap.dedent(
    """
    import openai
    from llmotel.demo.fake_provider import FakeProvider

    with FakeProvider() as fake:
        client = openai.OpenAI(api_key="t", base_url=fake.base_url, max_retries=0)
        list(client.chat.completions.create(model="zero-code-model", stream=True,
                                            messages=[{"role": "user", "content": "hi"}]))
    """
)


def test_opentelemetry_instrument_finds_llmotel(tmp_path):
    pytest.importorskip("opentelemetry.distro", reason="opentelemetry-distro provides the SDK configurator")
    app = tmp_path / "app.py"
    app.write_text(APP)
    env = {
        **os.environ,
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_METRICS_EXPORTER": "none",
        "OTEL_LOGS_EXPORTER": "none",
        "OTEL_SERVICE_NAME": "zero-code",
        # Only llmotel's instrumentor; the official one registers under "openai".
        "OTEL_PYTHON_DISABLED_INSTRUMENTATIONS": "openai,httpx,requests,urllib,urllib3,asyncio,threading,logging",
    }
    bindir = os.path.dirname(sys.executable)
    proc = subprocess.run(
        [os.path.join(bindir, "opentelemetry-instrument"), sys.executable, str(app)],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )
    assert proc.returncode == 0, proc.stderr
    decoder = json.JSONDecoder()
    spans, text, i = [], proc.stdout, 0
    while (start := text.find("{", i)) != -1:
        obj, i = decoder.raw_decode(text, start)
        spans.append(obj)
    chat = [s for s in spans if s.get("name") == "chat zero-code-model"]
    assert len(chat) == 1, proc.stdout[-2000:]
    assert chat[0]["kind"] == "SpanKind.CLIENT"
    assert chat[0]["attributes"]["gen_ai.provider.name"] == "openai"
    assert chat[0]["resource"]["attributes"]["service.name"] == "zero-code"
    assert chat[0]["attributes"]["llmotel.stream.ended_by"] == "exhausted"  # llmotel's, not a peer's span
