"""Training data: `modelforge data check` and `modelforge data convert`.

check/ is a standard-library-only package, self-contained (the training and eval images copy it
and run it on the mounted data); convert.py builds on it. Nothing here
imports pydantic or jinja: the spec is loaded only when `data check` has no PATH and checks
the spec's train.dataset.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from . import check, convert


def register(sub, common: argparse.ArgumentParser) -> dict:
    """The `data` command and its actions, under the CLI's subparsers (builder/commands.py)."""
    p = sub.add_parser("data", help="check or convert training data")
    actions = p.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    c = actions.add_parser(
        "check",
        parents=[common],
        help="check data files, folders and hub names (default: the spec's train.dataset)",
        description="Check training data: formats, rows, problems with file:line. Without PATH, checks the "
        "spec's train.dataset (container paths on a bind-mounted volume are read from the host folder). "
        "Exit 0 clean, 1 problems, 2 bad usage.",
    )
    check.add_arguments(c)
    v = actions.add_parser(
        "convert",
        help="convert a data file to ms-swift's messages format, losslessly",
        description="rows in = rows written + rows rejected; each rejection is reported with its line.",
    )
    convert.add_arguments(v)
    return {"data": run_data}


def run_data(args: argparse.Namespace) -> int:
    if args.data_command == "convert":
        return convert.run(args)
    if args.paths or args.from_command:
        return check.run(args)
    targets, notes, missing, hub = spec_targets(args.file, args.overrides)
    if missing:
        for line in missing:
            print(f"error: {line}", file=sys.stderr)
        return 2
    args.hub = args.hub or hub
    if not targets:
        print("\n".join(notes + ["nothing to check on this host"]))
        return 0
    return check.run(args, targets=targets, preamble=notes)


def spec_targets(spec_file: str, overrides: list[str]) -> tuple[list[str], list[str], list[str], str]:
    """(targets, notes, missing, hub) for the spec's train.dataset, val_dataset and eval.dataset, as seen
    from this host.

    A container path under a bind-mounted volume (volumes.*.host_path, relative to compose/)
    maps to the host folder; one in a named volume or in the image can only be checked in the
    container (the training entrypoint does that); hub names pass through.
    """
    from ..load import load_spec  # the spec needs pydantic: only here, never for `data check PATH`

    spec = load_spec(spec_file, overrides)
    compose_dir = Path(spec_file).resolve().parent / "compose"
    hub = "huggingface" if spec.model.hub == "huggingface" else "modelscope"
    sections = {
        "train.dataset": spec.train.dataset,
        "train.val_dataset": spec.train.val_dataset,
        "eval.dataset": spec.eval.dataset,
    }
    entries = [(f"{key}[{i}]", entry) for key, items in sections.items() for i, entry in enumerate(items)]
    targets: list[str] = []
    notes: list[str] = []
    missing: list[str] = []
    for label, entry in entries:
        if not entry.startswith("/"):
            targets.append(entry)
            continue
        path, hashed, sample = entry.partition("#")
        host = None
        for key, vol in spec.volumes:
            mount = vol.mount.rstrip("/")
            if path == mount or path.startswith(mount + "/"):
                if not vol.host_path:
                    notes.append(
                        f"{label} {entry}: in the named volume volumes.{key}; checked in the container at start"
                    )
                    break
                host = (compose_dir / vol.host_path).resolve() / os.path.relpath(path, mount)
                break
        else:
            notes.append(f"{label} {entry}: not on a mounted volume (in the image?); checked in the container at start")
        if host is None:
            continue
        shown = os.path.relpath(host) if not os.path.relpath(host).startswith("../../") else str(host)
        if not host.exists():
            missing.append(f"{label} {entry} is {shown} on this host: no such file or directory")
            continue
        notes.append(f"{label} {entry} is {shown} on this host")
        targets.append(shown + (hashed + sample if hashed else ""))
    return targets, notes, missing, hub
