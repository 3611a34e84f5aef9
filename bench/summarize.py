#!/usr/bin/env python3
"""Print the markdown tables of docs/benchmarks.md from bench/results/*.json.

python3 bench/summarize.py [bench/results]
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ORDER = [
    "seed-1gpu",
    "seed-repeat-1gpu",
    "default-1gpu",
    "grouped_mm-1gpu",
    "sdpa-1gpu",
    "nogc-1gpu",
    "mbs2-1gpu",
    "mbs4-1gpu",
    "nogc-mbs2-1gpu",
    "seed-2gpu",
    "default-2gpu",
    "mbs2-2gpu",
]


def fmt(v, nd=1):
    return "–" if v is None else f"{v:,.{nd}f}"


def batches(runs: dict) -> None:
    """Issue 14 on: runs named by batch_id, each config against the seed runs of the same batch."""
    by_batch: dict = {}
    for name, r in sorted(runs.items()):
        if r.get("batch_id") and "detail" in r:  # training runs (serving results carry a batch_id too)
            by_batch.setdefault(r["batch_id"], []).append((name, r))
    if not by_batch:
        return
    print(
        "| batch | run | config | tokens/s/GPU | vs mean seed of the batch | vs mean product of the batch | step (s) | "
        "alloc / reserved / nvidia-smi GiB | loss first → last | eval |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")

    def mean_of(items: list, config: str) -> float | None:
        v = [r["tokens_per_s_per_gpu"] for _, r in items if r["config"] == config and r["tokens_per_s_per_gpu"]]
        return sum(v) / len(v) if v else None

    for batch, items in by_batch.items():
        base, product = mean_of(items, "seed"), mean_of(items, "product")
        for name, r in items:
            d, tps = r["detail"], r["tokens_per_s_per_gpu"]
            ratio = f"{tps / base:.2f}x" if tps and base and r["config"] != "seed" else "–"
            vs_product = f"{tps / product:.2f}x" if tps and product and r["config"] != "product" else "–"
            ev = "yes" if d.get("eval") else ""
            print(
                f"| {batch} | {name} | {r['config']} | {fmt(tps, 0)} | {ratio} | {vs_product} | {fmt(r['step_time_s'], 2)} | "
                f"{fmt(d['torch_max_allocated_gib'])} / {fmt(d['torch_max_reserved_gib'])} / {fmt(r['peak_mem_gib'])} | "
                f"{fmt(r['loss_first'], 3)} → {fmt(r['loss_last'], 3)} | {ev} |"
            )
    print()


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).resolve().parent / "results")
    runs = {p.stem: json.loads(p.read_text()) for p in root.glob("*.json") if p.stem != "dataset.stats"}
    batches(runs)
    runs = {n: r for n, r in runs.items() if not r.get("batch_id") and "detail" in r}
    names = [n for n in ORDER if n in runs] + sorted(n for n in runs if n not in ORDER and not n.startswith("sanity"))
    base = {1: runs.get("seed-1gpu"), 2: runs.get("seed-2gpu")}

    print(
        "| run | GPUs | ZeRO | mbs x GA | grad ckpt | tokens/s/GPU | vs seed | step time (s) | "
        "MFU | peak GiB (nvidia-smi) | padding | loss first → last |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for n in names:
        r = runs[n]
        d = r["detail"]
        b = base.get(r["gpus"])
        rel = (
            (r["tokens_per_s_per_gpu"] / b["tokens_per_s_per_gpu"] - 1) * 100
            if b and r["tokens_per_s_per_gpu"]
            else None
        )
        print(
            f"| {n} | {r['gpus']} | {d['deepspeed']} | {d['per_device_train_batch_size']} x {d['gradient_accumulation_steps']} "
            f"| {d['gradient_checkpointing']} | {fmt(r['tokens_per_s_per_gpu'], 0)} | "
            f"{'–' if rel is None or n in ('seed-1gpu', 'seed-2gpu') else f'{rel:+.0f}%'} "
            f"| {fmt(r['step_time_s'], 2)} | {fmt(r['mfu'] * 100 if r['mfu'] else None, 1)}% | {fmt(r['peak_mem_gib'])} "
            f"| {fmt((d['padding_fraction'] or 0) * 100, 0)}% | {fmt(r['loss_first'], 3)} → {fmt(r['loss_last'], 3)} |"
        )

    print()
    print(
        "| run | planner gpu_mem_gib (proxy) | torch max allocated | planner − 2.5 GiB context vs allocated | "
        "torch max reserved | nvidia-smi peak | nvidia-smi / planner |"
    )
    print("|---|---|---|---|---|---|---|")
    for n in names + sorted(n for n in runs if n.startswith("sanity")):
        r = runs[n]
        d, p = r["detail"], r["planner"]
        plan, alloc, res, smi = (
            p["proxy_gpu_mem_gib"],
            d["torch_max_allocated_gib"],
            d["torch_max_reserved_gib"],
            r["peak_mem_gib"],
        )
        err = ((plan - 2.5) / alloc - 1) * 100 if plan and alloc else None
        print(
            f"| {n} ({p['proxy_deepspeed']}) | {fmt(plan)} | {fmt(alloc)} | "
            f"{'–' if err is None else f'{err:+.0f}%'} | {fmt(res)} "
            f"| {fmt(smi)} | {fmt(smi / plan if plan else None, 2)}x |"
        )


if __name__ == "__main__":
    main()
