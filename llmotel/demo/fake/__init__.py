"""Implementation of the deterministic fake LLM provider.

The public import location is :mod:`llmotel.demo.fake_provider`; this subpackage only
splits the implementation into shared helpers (``_core``), the OpenAI and Anthropic
payload builders (``_openai``, ``_anthropic``) and the HTTP server (``_server``).
"""
