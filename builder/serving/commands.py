"""`modelforge chat`, `batch` and `bench-serve`: the served model, tried and measured.

The spec (-f, --set) is optional where --url and --model say enough.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from ..commands import Handler, spec_if_any
from ..errors import SpecError, usage


def register(sub, common: argparse.ArgumentParser) -> dict[str, Handler]:
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
    return {"chat": _chat, "batch": _batch, "bench-serve": _bench}


def _endpoint(args: argparse.Namespace):
    from .client import endpoint

    spec = spec_if_any(args, needed=not (args.url and args.model))
    return spec, endpoint(spec, args.url, args.model)


def _chat(args: argparse.Namespace) -> int:
    from . import chat

    _, ep = _endpoint(args)
    return chat.run(ep, system=args.system, max_tokens=args.max_tokens, temperature=args.temperature)


def _batch(args: argparse.Namespace) -> int:
    from . import batch

    if args.concurrency < 1:
        raise SpecError([usage("--concurrency must be at least 1")])
    _, ep = _endpoint(args)
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


def _bench(args: argparse.Namespace) -> int:
    from ..plan import make_plan
    from . import bench

    spec, ep = _endpoint(args)
    plan = make_plan(spec) if spec is not None else None
    load = bench.Load(
        bench.parse_rates(args.rates), args.num_prompts, args.input_len, args.output_len, args.max_concurrency
    )
    name = spec.name if spec is not None else "server"
    out = Path(args.out) if args.out else Path("bench-serve") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"
    spec_dir = Path(args.file).resolve().parent
    summary = bench.run(spec, plan, ep, load, out, spec_dir, engine=args.engine, tokenizer=args.tokenizer)
    print(bench.table(summary))
    print(f"results: {out}/ (summary.json, rate-*.json)")
    return 0 if all((row["failed"] or 0) == 0 for row in summary["results"]) else 1
