"""The ``llmotel`` command: ``llmotel demo`` and ``llmotel check``."""

from __future__ import annotations

import argparse
import sys


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM stops the demo like Ctrl-C: its backends and spans are closed


def _demo(args: argparse.Namespace) -> int:
    import signal

    from llmotel.demo.session import Options, run_demo

    signal.signal(signal.SIGTERM, _interrupt)

    opts = Options(duration=args.duration, rps=args.rps, requests=args.requests, profile=args.profile,
                   endpoint=args.endpoint, service_name=args.service_name, local=args.local,
                   no_export=args.no_export, prometheus_port=args.prometheus_port, base_url=args.base_url,
                   model=args.model, api_key=args.api_key, local_model=args.local_model, seed=args.seed,
                   recover_after=args.recover_after)
    try:
        return run_demo(opts)
    except KeyboardInterrupt:  # before the traffic started (or after it): nothing to summarise
        print("llmotel demo: interrupted", file=sys.stderr)
        return 130


def _check(args: argparse.Namespace) -> int:
    from llmotel.check import run_check

    return run_check(sys.stdout)


def _parser() -> argparse.ArgumentParser:
    from llmotel.demo.profiles import PROFILES

    parser = argparse.ArgumentParser(prog="llmotel", description="OpenTelemetry for LLM applications.")
    sub = parser.add_subparsers(dest="command", required=True)
    profiles = "; ".join(f"{p.name}: {p.description}" for p in PROFILES.values())
    p = sub.add_parser("demo", help="generate realistic instrumented LLM traffic (no API key needed)",
                       description="Runs a RAG chat, an agent, batch summaries and embeddings through the real "
                                   "openai and anthropic SDKs against a built-in fake provider (or a real "
                                   "server), instrumented by llmotel, and prints a summary per model.")
    p.add_argument("--duration", type=float, default=60.0, help="seconds to run (default 60)")
    p.add_argument("--rps", type=float, default=4.0, help="requests (scenario runs) per second (default 4)")
    p.add_argument("--requests", type=int, help="stop after this many requests instead of --duration")
    p.add_argument("--profile", default="normal", choices=sorted(PROFILES), metavar="PROFILE",
                   help=f"traffic profile (default normal). {profiles}")
    p.add_argument("--endpoint", help="OTLP/HTTP endpoint (default $OTEL_EXPORTER_OTLP_ENDPOINT or "
                                      "http://localhost:4318, the compose stack's collector)")
    p.add_argument("--local", action="store_true",
                   help="local mode: no collector; metrics on the SDK's Prometheus endpoint "
                        "(also chosen automatically when no collector answers)")
    p.add_argument("--prometheus-port", type=int,
                   help="local mode's /metrics port (default 9464, or a free port when 9464 is taken)")
    p.add_argument("--no-export", action="store_true", help="export nothing, only print the summary")
    p.add_argument("--service-name", default="llmotel-demo", help="service.name of the demo app")
    p.add_argument("--base-url", help="drive a real OpenAI-compatible server (Ollama, vLLM, llama.cpp) "
                                      "instead of the fake provider; needs --model")
    p.add_argument("--model", help="the model the --base-url server serves")
    p.add_argument("--api-key", help="API key for --base-url (default: a dummy)")
    p.add_argument("--local-model", action="store_true",
                   help="run against a real small model on loopback (pip install 'llmotel[local]'; "
                        "scripts/fetch-local-model gets the model)")
    p.add_argument("--recover-after", type=float, metavar="SECONDS",
                   help="switch an incident profile back to normal after this many seconds (its alerts resolve)")
    p.add_argument("--seed", type=int, default=7, help="random seed (runs are reproducible)")
    p.set_defaults(func=_demo)
    c = sub.add_parser("check", help="show the effective configuration, instrumented libraries and endpoints")
    c.set_defaults(func=_check)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``llmotel`` console script."""
    args = _parser().parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
