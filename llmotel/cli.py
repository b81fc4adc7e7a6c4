"""The ``llmotel`` command."""

from __future__ import annotations

import argparse
import os
import socket
import sys
from urllib.parse import urlsplit

DEFAULT_ENDPOINT = "http://localhost:4318"


def _reachable(endpoint: str, timeout: float = 0.5) -> bool:
    parts = urlsplit(endpoint if "//" in endpoint else f"http://{endpoint}")
    port = parts.port or (443 if parts.scheme == "https" else 4318)
    try:
        with socket.create_connection((parts.hostname or "localhost", port), timeout=timeout):
            return True
    except OSError:
        return False


def demo(args: argparse.Namespace) -> int:
    """Run the fake provider, make instrumented calls, export them, print a summary."""
    import llmotel
    from llmotel.demo.fake_provider import FakeProvider
    from llmotel.demo.traffic import SummaryProcessor, run_traffic

    endpoint = args.endpoint or os.environ.get("OTEL_EXPORTER_OTLP_ENDPOINT") or DEFAULT_ENDPOINT
    exporters: dict[str, object] = {}
    if args.no_export or not _reachable(endpoint):
        if not args.no_export:
            print(f"llmotel demo: no OTLP collector answers at {endpoint}; telemetry is only summarised here.\n"
                  "  Start the backend with `docker compose up` or pass --endpoint URL.")
        exporters = {"traces_exporter": "none", "metrics_exporter": "none", "logs_exporter": "none"}
    else:
        exporters = {"otlp_endpoint": endpoint}
        print(f"llmotel demo: exporting OTLP to {endpoint}")
    llmotel.init(service_name=args.service_name, metric_export_interval_ms=5000, **exporters)

    from opentelemetry import trace

    summary = SummaryProcessor()
    provider = trace.get_tracer_provider()
    if hasattr(provider, "add_span_processor"):
        provider.add_span_processor(summary)
    with FakeProvider() as fake:
        print(f"llmotel demo: fake OpenAI-compatible provider at {fake.base_url}; making calls ...")
        made = run_traffic(fake.base_url, args.calls, anthropic_base_url=fake.anthropic_base_url)
    llmotel.shutdown()
    print(f"\nllmotel demo: {made} calls made; recorded spans:\n")
    print(summary.table())
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``llmotel`` console script."""
    parser = argparse.ArgumentParser(prog="llmotel", description="OpenTelemetry for LLM applications.")
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("demo", help="generate instrumented LLM traffic against a built-in fake provider")
    p.add_argument("--calls", type=int, default=40, help="rounds of mixed calls (default 40)")
    p.add_argument("--endpoint",
                   help=f"OTLP/HTTP endpoint (default $OTEL_EXPORTER_OTLP_ENDPOINT or {DEFAULT_ENDPOINT})")
    p.add_argument("--service-name", default="llmotel-demo", help="service.name of the demo app")
    p.add_argument("--no-export", action="store_true", help="do not export, only print the summary")
    p.set_defaults(func=demo)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
