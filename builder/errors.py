"""User-facing errors: each problem names where (file:line, dotted path) and what would work."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    path: str  # dotted path into the spec, e.g. "train.deepspeed"; "" for the whole file
    message: str
    source: str = ""  # "modelforge.yaml:12" or "--set #2"

    def __str__(self) -> str:
        where = f"{self.source}: " if self.source else ""
        field = f"{self.path}: " if self.path else ""
        # One problem, one line: keys and --set text may hold newlines or control characters; escape them.
        return "".join(c if c.isprintable() else repr(c)[1:-1] for c in f"{where}{field}{self.message}")


# The one exit-code contract of every command (README "Exit codes"): builder/cli.py maps errors onto it.
EXIT_OK = 0
EXIT_FAILED = 1  # infeasible plan, a check that found problems, a failed run or build (PlanError)
EXIT_BAD_INPUT = 2  # bad spec, bad data path, bad flags or usage (SpecError, argparse)
EXIT_INTERRUPTED = 130


def nearest_source(dotted: str, sources: dict[str, str], default_source: str) -> str:
    """Where a key came from: its own line, else the --set that wrote below it, else its nearest section's
    line (a default the spec did not write is reported at its section), else the file."""
    overrides = [src for key, src in sources.items() if key.startswith(dotted + ".") and src.startswith("--set")]
    if overrides:
        return overrides[-1]
    parts = dotted.split(".")
    while parts:
        found = sources.get(".".join(parts))
        if found:
            return found
        parts.pop()
    return default_source


def usage(message: str) -> Problem:
    """A bad-usage problem (a flag's value), for SpecError."""
    return Problem("", message)


class SpecError(Exception):
    """Bad input. The CLI prints one line per problem and exits 2."""

    def __init__(self, problems: list[Problem]):
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


class PlanError(Exception):
    """A valid spec that cannot run (e.g. an impossible parallel layout). Exit 1."""

    def __init__(self, problems: list[str]):
        super().__init__("\n".join(problems))
        self.problems = problems


def print_errors(problems: Iterable[object]) -> None:
    """One `error: ...` line per problem on stderr: the CLI's single way of reporting them."""
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
