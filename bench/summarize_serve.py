#!/usr/bin/env python3
"""Markdown table of one serving batch (bench/results/serve-<batch>-*.json), each configuration against the
baseline of the same batch (vllm-default), per workload and rate.

    python3 bench/summarize_serve.py s18a [--baseline vllm-default]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("batch")
    ap.add_argument("--baseline", default="vllm-default")
    args = ap.parse_args()
    rows = [json.loads(p.read_text()) for p in sorted(RESULTS.glob(f"serve-{args.batch}-*.json"))]
    rows = [r for r in rows if "config" in r]  # serve-<batch>-quality.json (serve_quality.py) is no benchmark row
    if not rows:
        raise SystemExit(f"no results for batch {args.batch!r} in {RESULTS}")
    base = {(r["workload"], r["request_rate"]): r for r in rows if r["config"] == args.baseline}
    print(
        "| workload | rate | config | out tok/s | × baseline | total tok/s | TTFT p50 / p99 ms | TPOT p50 / p99 ms "
        "| KV tokens (vLLM / planned) | ready in |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in sorted(rows, key=lambda r: (r["workload"], r["request_rate"], r["config"] != args.baseline)):
        b = base.get((r["workload"], r["request_rate"]))
        ratio = f"{r['output_tokens_per_s'] / b['output_tokens_per_s']:.2f}" if b else "-"
        print(
            f"| {r['workload']} ({r['input_len']} in / {r['output_len']} out, {r['num_prompts']} prompts) "
            f"| {r['request_rate']} | {r['config']} | {r['output_tokens_per_s']:,.0f} | {ratio} "
            f"| {r['total_tokens_per_s']:,.0f} | {r['ttft_ms_p50']:,.0f} / {r['ttft_ms_p99']:,.0f} "
            f"| {r['tpot_ms_p50']:.1f} / {r['tpot_ms_p99']:.1f} "
            f"| {r['kv_cache_tokens']:,} / {r['kv_cache_tokens_planned']:,} | {r['startup_s']:.0f} s |"
        )


if __name__ == "__main__":
    main()
