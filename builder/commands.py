"""One way to register a subcommand.

Each stage of the walk (data, train's engine, doctor, runs, serving, demo) has a `register(sub, common)`
that adds its parsers to the CLI's subparsers (`common` carries -f/--set for commands that read a spec)
and returns {command: handler}. A handler takes the parsed arguments and returns the exit code; for
problems it raises SpecError or PlanError, which builder/cli.py turns into the one exit-code contract
(errors.EXIT_*). cli.py only assembles the stages.
"""

from __future__ import annotations

import argparse
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
