"""After training: the `status`, `plot`, `chat`, `batch` and `bench-serve` commands (parsers and dispatch).

builder/cli.py adds these parsers and hands these commands here. The spec (-f, --set) is optional where
the arguments say enough: a RUN_DIR on the host, or --url and --model.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from .errors import PlanError, SpecError, print_errors

COMMANDS = ("status", "plot", "chat", "batch", "bench-serve")


def add_parsers(sub, common: argparse.ArgumentParser) -> None:
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

    def server(p: argparse.ArgumentParser) -> None:
        p.add_argument("--url", help="server base URL (default: http://127.0.0.1:<serve.port>/v1 from the spec)")
        p.add_argument("--model", help="model name (default: the spec's served name)")

    p = sub.add_parser(
        "chat", parents=[common], help="chat with the running server in this terminal (streamed; key from VLLM_API_KEY)"
    )
    server(p)
    p.add_argument("--system", help="system prompt")
    p.add_argument("--max-tokens", type=int, default=None)
    p.add_argument("--temperature", type=float, default=None)

    p = sub.add_parser("batch", parents=[common], help="answer every row of IN.jsonl into OUT.jsonl; resumable")
    p.add_argument("input", metavar="IN.jsonl", help='rows {"query": ...} or {"messages": [...]}')
    p.add_argument("output", metavar="OUT.jsonl", help="answers, in input order; a rerun asks only the missing rows")
    server(p)
    p.add_argument("-j", "--concurrency", type=int, default=4, help="requests in flight (default 4)")
    p.add_argument("--max-tokens", type=int, default=256, help="per answer (default 256)")
    p.add_argument("--temperature", type=float, default=None)
    p.add_argument("--system", help="system prompt for query rows without their own")
    p.add_argument("--retries", type=int, default=2, help="retries per request on connection errors, 429 and 5xx")
    p.add_argument("--limit", type=int, default=None, help=argparse.SUPPRESS)

    p = sub.add_parser(
        "bench-serve", parents=[common], help="load-test the running server (vllm bench serve) at a few request rates"
    )
    server(p)
    p.add_argument(
        "--rates", default="1,4,16,inf", help="request rates per second, comma-separated (default 1,4,16,inf)"
    )
    p.add_argument("--num-prompts", type=int, default=100, help="requests per rate (default 100)")
    p.add_argument("--input-len", type=int, default=512, help="prompt tokens (default 512)")
    p.add_argument("--output-len", type=int, default=128, help="generated tokens (default 128)")
    p.add_argument("--max-concurrency", type=int, default=None, help="cap on requests in flight")
    p.add_argument("--tokenizer", help="tokenizer for the random prompts (default: the spec's base model)")
    p.add_argument(
        "--engine",
        choices=["auto", "vllm", "builtin"],
        default="auto",
        help="vllm: `vllm bench serve` in the serving image; builtin: this process; auto: vllm, "
        "then builtin if that fails",
    )
    p.add_argument("-o", "--out", help="results folder (default: bench-serve/<name>-<time>)")


def _spec(args: argparse.Namespace, needed: bool):
    """The spec, or None when it is not needed and there is none at -f."""
    from .load import load_spec

    if not needed and not Path(args.file).exists():
        return None
    return load_spec(args.file, args.overrides)


def run(args: argparse.Namespace) -> int:
    try:
        return _dispatch(args)
    except SpecError as exc:
        print_errors(exc.problems)
        return 2
    except PlanError as exc:
        print_errors(exc.problems)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130


def _dispatch(args: argparse.Namespace) -> int:
    command = args.command
    if command in ("status", "plot"):
        from . import monitor

        if command == "status":
            run_dirs = [args.run_dirs] if args.run_dirs else []
        else:
            run_dirs = list(args.run_dirs)
        spec = _spec(args, needed=not run_dirs)
        found = monitor.targets(run_dirs, args.volume, args.image, spec, args.file)
        if command == "status":
            if args.watch is not None and args.watch <= 0:
                raise PlanError(["--watch needs a positive number of seconds"])
            return monitor.status(found[0], via=args.via, as_json=args.json, watch=args.watch)
        from .plot import save

        runs = [monitor.read_target(target, args.via) for target in found]
        out = Path(args.output)
        save(runs, out, args.title)
        print(f"wrote {out} ({', '.join(f'{r.label}: {len(r.points)} points' for r in runs)})")
        return 0

    from .client import endpoint

    spec = _spec(args, needed=not (args.url and args.model))
    if command == "chat":
        from . import chat

        ep = endpoint(spec, args.url, args.model)
        return chat.run(ep, system=args.system, max_tokens=args.max_tokens, temperature=args.temperature)
    if command == "batch":
        from . import batch

        if args.concurrency < 1:
            raise PlanError(["--concurrency must be at least 1"])
        ep = endpoint(spec, args.url, args.model)
        settings = batch.Settings(
            concurrency=args.concurrency,
            max_tokens=args.max_tokens,
            temperature=args.temperature,
            system=args.system,
            retries=args.retries,
            limit=args.limit,
        )
        counts = batch.run(ep, Path(args.input), Path(args.output), settings)
        print(
            f"{counts['rows']} rows: {counts['already_done']} answered before, {counts['answered']} now, "
            f"{counts['failed']} failed"
            + (" (rerun to ask them again)" if counts["failed"] else "")
            + f"; {args.output} is in input order"
        )
        return 1 if counts["failed"] or counts["missing"] else 0
    if command == "bench-serve":
        from . import benchserve

        plan = None
        if spec is not None:
            from .plan import make_plan

            plan = make_plan(spec)
        ep = endpoint(spec, args.url, args.model)
        load = benchserve.Load(
            benchserve.parse_rates(args.rates), args.num_prompts, args.input_len, args.output_len, args.max_concurrency
        )
        name = spec.name if spec is not None else "server"
        out = Path(args.out) if args.out else Path("bench-serve") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
        spec_dir = Path(args.file).resolve().parent
        summary = benchserve.run(spec, plan, ep, load, out, spec_dir, engine=args.engine, tokenizer=args.tokenizer)
        print(benchserve.table(summary))
        print(f"results: {out}/ (summary.json, rate-*.json)")
        return 0 if all((row["failed"] or 0) == 0 for row in summary["results"]) else 1
    raise PlanError([f"unknown command {command}"])
