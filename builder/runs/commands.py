"""`modelforge status` and `modelforge plot`: reading a training run (a host folder or a Docker volume).

The spec (-f, --set) is optional where a RUN_DIR says enough.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..commands import Handler, spec_if_any
from ..errors import SpecError, usage


def register(sub, common: argparse.ArgumentParser) -> dict[str, Handler]:
    def run_source(p: argparse.ArgumentParser) -> None:
        p.add_argument(
            "--volume",
            help="the RUN_DIRs are folders on this Docker volume (default for no RUN_DIR: "
            "the spec's checkpoint volume, <name>-checkpoints)",
        )
        p.add_argument(
            "--via",
            choices=["auto", "mountpoint", "container"],
            default="auto",
            help="read a volume through its mountpoint (needs root on the engine's host) or a throwaway "
            "container (default: the mountpoint when readable)",
        )
        p.add_argument("--image", help="image for --via container (default: the spec's training image)")

    p = sub.add_parser("status", parents=[common], help="where training stands: progress, ETA, loss, checkpoints, GPUs")
    p.add_argument("run_dirs", nargs="?", metavar="RUN_DIR", help="the run's output folder (default: the spec's)")
    run_source(p)
    p.add_argument(
        "--watch",
        nargs="?",
        type=float,
        const=5.0,
        default=None,
        metavar="SECONDS",
        help="refresh every SECONDS (default 5) until the run finishes; Ctrl-C stops",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")

    p = sub.add_parser("plot", parents=[common], help="PNG of loss and learning rate against steps, runs overlaid")
    p.add_argument("run_dirs", nargs="*", metavar="RUN_DIR", help="runs to overlay (default: the spec's)")
    run_source(p)
    p.add_argument("-o", "--output", required=True, metavar="FILE.png", help="where to write the PNG")
    p.add_argument("--title", help="figure title")
    return {"status": _status, "plot": _plot}


def _targets(args: argparse.Namespace, run_dirs: list[str]):
    from .source import targets

    return targets(run_dirs, args.volume, args.image, spec_if_any(args, needed=not run_dirs), args.file)


def _status(args: argparse.Namespace) -> int:
    from .status import status

    if args.watch is not None and args.watch <= 0:
        raise SpecError([usage("--watch needs a positive number of seconds")])
    found = _targets(args, [args.run_dirs] if args.run_dirs else [])
    return status(found[0], via=args.via, as_json=args.json, watch=args.watch)


def _plot(args: argparse.Namespace) -> int:
    from .plot import save
    from .source import read_target

    runs = [read_target(target, args.via) for target in _targets(args, list(args.run_dirs))]
    out = Path(args.output)
    save(runs, out, args.title)
    print(f"wrote {out} ({', '.join(f'{r.label}: {len(r.points)} points' for r in runs)})")
    return 0
