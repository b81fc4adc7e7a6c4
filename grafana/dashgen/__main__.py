"""Write grafana/dashboards/*.json from the code, or ``--check`` that the committed files match it."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from grafana.dashgen import (
    alerts,
    cost,
    errors,
    latency,
    models,
    overview,
    pipeline,
    prompts,
    quality,
    tenants,
    workflows,
)
from grafana.dashgen.core import Board, render

OUT = Path(__file__).resolve().parents[1] / "dashboards"
MODULES = (overview, latency, cost, models, errors, quality, workflows, tenants, prompts, pipeline, alerts)


def boards() -> list[Board]:
    return [m.board() for m in MODULES]


def generated() -> dict[str, str]:
    """file name -> the JSON the code generates."""
    return render(boards())


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m grafana.dashgen", description=__doc__)
    parser.add_argument("--check", action="store_true", help="exit 1 if grafana/dashboards/ differs from the code")
    args = parser.parse_args(argv)
    files = generated()
    stale = {p.name for p in OUT.glob("llmotel-*.json")} - files.keys()
    if args.check:
        differ = sorted(n for n, text in files.items() if not (OUT / n).is_file() or (OUT / n).read_text() != text)
        if differ or stale:
            print(f"out of date: {differ + sorted(stale)}; run python -m grafana.dashgen", file=sys.stderr)
            return 1
        return 0
    OUT.mkdir(exist_ok=True)
    for name in stale:  # a dashboard removed from the code disappears from the folder too
        (OUT / name).unlink()
    for name, text in files.items():
        (OUT / name).write_text(text)
    print(f"wrote {len(files)} dashboards to {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
