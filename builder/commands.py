"""One way to register a subcommand.

Each stage of the walk (data, train's engine, doctor, runs, serving, demo) has a `register(sub, common)`
that adds its parsers to the CLI's subparsers (`common` carries -f/--set for commands that read a spec)
and returns {command: handler}. A handler takes the parsed arguments and returns the exit code; for
problems it raises SpecError or PlanError, which builder/cli.py turns into the one exit-code contract
(errors.EXIT_*). cli.py only assembles the stages.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

Handler = Callable[[argparse.Namespace], int]


def spec_if_any(args: argparse.Namespace, needed: bool):
    """The spec at -f (with --set), or None when the command's own arguments say enough and there is none."""
    from .load import load_spec

    if not needed and not Path(args.file).exists():
        return None
    return load_spec(args.file, args.overrides)


def plan_from(args: argparse.Namespace):
    """The plan of the spec at -f (with --set)."""
    from .load import load_spec
    from .plan import make_plan

    return make_plan(load_spec(args.file, args.overrides))


def render_files(plan, args: argparse.Namespace) -> int:
    """`render` (and `build`'s first step): write the rendered files, or with --check list the stale ones."""
    from .errors import print_errors
    from .render import drift, render_all, write

    if not plan.feasible and not args.force:
        print_errors(plan.errors)
        print("refusing to render an infeasible plan (see `modelforge plan`; --force renders anyway)", file=sys.stderr)
        return 1
    out = Path(args.out) if args.out else Path(args.file).resolve().parent
    files = render_all(plan, Path(args.file).name)
    if args.check:
        stale = drift(files, out)
        for rel in stale:
            print(f"differs: {rel}")
        if stale:
            print(
                f"{len(stale)} file(s) differ from a fresh render of {args.file}: run `make render` and commit",
                file=sys.stderr,
            )
            return 1
        print(f"{len(files)} rendered files match {args.file}")
        return 0
    changed = write(files, out)
    for rel in changed:
        print(f"wrote {out / rel}")
    print(f"{len(files)} files rendered into {out} ({len(changed)} changed)")
    return 0
