"""The command line: `python3 -m check PATH... [--strict] [--json] [--from-command -- swift sft ...]`, and
the arguments `modelforge data check` shares. Exit codes: 0 clean; 1 a problem (with --strict, a warning or
an unchecked target too); 2 bad usage (a missing path)."""

from __future__ import annotations

import argparse
import json
import sys

from .targets import check_targets


def datasets_from_command(argv: list[str]) -> tuple[list[str], str | None]:
    """The --dataset / --val_dataset values of a `swift sft ...` command, and its hub (--use_hf)."""
    found: list[str] = []
    hub = None
    i = 0
    while i < len(argv):
        name, eq, value = argv[i].partition("=")
        if name in ("--dataset", "--val_dataset"):
            if eq:
                found.append(value)
            else:
                i += 1
                while i < len(argv) and not argv[i].startswith("--"):
                    found.append(argv[i])
                    i += 1
                continue
        elif name == "--use_hf":
            flag = value if eq else (argv[i + 1] if i + 1 < len(argv) else "true")
            hub = "huggingface" if flag.lower() in ("true", "1") else "modelscope"
        i += 1
    return found, hub


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="JSONL / JSON files, folders of them, or hub datasets ([hf::|ms::]org/name[#N])",
    )
    p.add_argument("--strict", action="store_true", help="warnings count as problems (exit 1)")
    p.add_argument("--tokenizer", metavar="PATH", help="count tokens with this local tokenizer (needs transformers)")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument(
        "--hub",
        choices=["modelscope", "huggingface"],
        default=None,
        help="hub of names without hf::/ms:: (default: huggingface when USE_HF=1, else modelscope)",
    )
    p.add_argument("--offline", action="store_true", help="do not look hub datasets up")
    p.add_argument(
        "--max-issues", type=int, default=50, metavar="N", help="issues listed per file (default 50; all are counted)"
    )
    p.add_argument(
        "--from-command",
        action="store_true",
        help="the PATHs are a swift command (after --): check its --dataset and --val_dataset values",
    )


def run(args: argparse.Namespace, targets: list[str] | None = None, preamble: list[str] | None = None) -> int:
    targets = list(args.paths) if targets is None else targets
    hub = args.hub
    if args.from_command:
        targets, command_hub = datasets_from_command(targets)
        hub = hub or command_hub
        if not targets:
            print("no --dataset in the command: nothing to check")
            return 0
    if not targets:
        print("error: nothing to check: give PATH... (files, folders, hub names)", file=sys.stderr)
        return 2
    report, errors = check_targets(
        targets,
        strict=args.strict,
        tokenizer=args.tokenizer,
        hub=hub,
        offline=args.offline,
        max_issues=max(args.max_issues, 0),
    )
    if report is None:
        for error in errors:
            print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        data = report.to_dict()
        if preamble:
            data["notes"] = preamble + data["notes"]
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print("\n".join((preamble or []) + [report.text()]))
    return report.exit_code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="check", description="Check ms-swift training data (stdlib only).")
    add_arguments(p)
    argv = sys.argv[1:] if argv is None else list(argv)
    rest: list[str] = []
    if "--" in argv:  # everything after -- is a PATH (or, with --from-command, the swift command)
        argv, rest = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    args = p.parse_intermixed_args(argv)
    args.paths += rest
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1
