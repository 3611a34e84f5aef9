#!/usr/bin/env python3
"""One serving configuration on the GPU machine: start `vllm serve` as a plan file says (bench/plans/serve/,
written by make_serve_plans.py) with dummy weights, wait until it answers, read vLLM's own KV-cache size from
its log, run every workload's `vllm bench serve` (the arguments `modelforge bench-serve` uses) at each rate,
and write one result per workload and rate:

    <results>/serve-<batch>-<config>-<workload>-<rate>.json
      config, gpus, gpu_name, workload, request_rate, output_tokens_per_s, total_tokens_per_s,
      ttft_ms_p50/p99, tpot_ms_p50/p99, batch_id, kv_cache_tokens (vLLM's log) and kv_cache_tokens_planned,
      startup_s, the argv that ran, the machine (host, GPU UUID), and vLLM's full result under "vllm".

vLLM starts once per configuration (start-up and compile dominate a run); every workload runs against it.

    python3 bench/run_serve_bench.py PLAN.json --model DIR --results DIR --batch-id ID --deadline EPOCH_S
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

VLLM = [sys.executable, "-m", "vllm.entrypoints.cli.main"]  # wheels unpacked with --target: no `vllm` script
KV_LINE = re.compile(r"GPU KV cache size: ([\d,]+) tokens")


def fill(args: list[str], values: dict[str, str]) -> list[str]:
    out = []
    for a in args:
        for key, value in values.items():
            a = a.replace("{" + key + "}", value)
        out.append(a)
    return out


def gpu() -> tuple[str, str]:
    q = subprocess.run(
        ["nvidia-smi", "--query-gpu=name,uuid", "--format=csv,noheader"], capture_output=True, text=True
    ).stdout.splitlines()[0]
    name, uuid = (s.strip() for s in q.split(","))
    return name, uuid


def wait_ready(port: int, proc: subprocess.Popen, deadline: float) -> bool:
    while time.time() < deadline:
        if proc.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=5) as r:
                if r.status == 200:
                    return True
        except OSError:
            pass
        time.sleep(2)
    return False


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("plan")
    ap.add_argument("--model", required=True)
    ap.add_argument("--results", required=True)
    ap.add_argument("--batch-id", required=True)
    ap.add_argument("--deadline", type=float, required=True, help="epoch seconds: no workload starts after it")
    ap.add_argument("--port", type=int, default=8011)
    args = ap.parse_args()
    plan = json.loads(Path(args.plan).read_text())
    results = Path(args.results)
    results.mkdir(parents=True, exist_ok=True)
    name, uuid = gpu()
    config = plan["config"]
    argv = fill(plan["argv"], {"MODEL": args.model})
    if "--port" in argv:
        argv[argv.index("--port") + 1] = str(args.port)
    else:
        argv += ["--port", str(args.port)]
    argv += ["--load-format", "dummy"]  # the real architecture, random weights: no download
    command = VLLM + argv[1:]  # argv[0] is "vllm"
    log_path = results / f"serve-{args.batch_id}-{config}.server.log"
    print(f"[{config}] starting: {' '.join(argv)}", flush=True)
    start = time.time()
    with open(log_path, "w") as log:
        proc = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        if not wait_ready(args.port, proc, args.deadline):
            print(f"[{config}] server not ready (exit {proc.poll()}); log tail:", flush=True)
            print("\n".join(log_path.read_text(errors="replace").splitlines()[-40:]))
            return 1
        startup = time.time() - start
        found = KV_LINE.search(log_path.read_text(errors="replace"))
        kv = int(found.group(1).replace(",", "")) if found else None
        planned = plan["planned"]["kv_cache_tokens"]
        print(f"[{config}] ready in {startup:.0f} s; KV cache {kv} tokens (planned {planned})", flush=True)
        served = argv[argv.index("--served-model-name") + 1] if "--served-model-name" in argv else args.model
        failed = 0
        for w in plan["workloads"]:
            for rate in w["rates"]:
                left = args.deadline - time.time()
                if left < 30:
                    print(f"[{config}] skip {w['name']} at {rate}: {left:.0f} s left", flush=True)
                    continue
                tmp = results / "tmp"
                tmp.mkdir(exist_ok=True)
                bench = fill(
                    w["args"],
                    {
                        "PORT": str(args.port),
                        "SERVED": served,
                        "MODEL": args.model,
                        "TOKENIZER": args.model,
                        "RESULTS": str(tmp),
                    },
                )
                fname = f"raw-{config}-{w['name']}-{rate}.json"
                cmd = VLLM + ["bench", "serve", *bench, "--request-rate", rate, "--result-filename", fname]
                t0 = time.time()
                try:
                    r = subprocess.run(cmd, capture_output=True, text=True, timeout=left - 10)
                except subprocess.TimeoutExpired:
                    print(f"[{config}] {w['name']} at {rate}: ran past the deadline", flush=True)
                    failed += 1
                    continue
                raw_path = tmp / fname
                if r.returncode != 0 or not raw_path.is_file():
                    print(f"[{config}] {w['name']} at {rate} failed ({r.returncode}):\n{r.stderr[-3000:]}", flush=True)
                    failed += 1
                    continue
                raw = json.loads(raw_path.read_text())
                if not raw.get("completed") or raw.get("failed"):
                    print(f"[{config}] {w['name']} at {rate}: {raw.get('failed')} requests failed", flush=True)
                    print("\n".join((r.stdout + r.stderr).splitlines()[-30:]), flush=True)
                    failed += 1
                    continue
                out = {
                    "config": config,
                    "gpus": plan["gpus"],
                    "gpu_name": name,
                    "workload": w["name"],
                    "input_len": w["input_len"],
                    "output_len": w["output_len"],
                    "num_prompts": w["num_prompts"],
                    "request_rate": rate,
                    "output_tokens_per_s": raw.get("output_throughput"),
                    "total_tokens_per_s": raw.get("total_token_throughput"),
                    "ttft_ms_p50": raw.get("p50_ttft_ms", raw.get("median_ttft_ms")),
                    "ttft_ms_p99": raw.get("p99_ttft_ms"),
                    "tpot_ms_p50": raw.get("p50_tpot_ms", raw.get("median_tpot_ms")),
                    "tpot_ms_p99": raw.get("p99_tpot_ms"),
                    "completed": raw.get("completed"),
                    "failed": raw.get("failed"),
                    "bench_seconds": round(time.time() - t0, 1),
                    "batch_id": args.batch_id,
                    "kv_cache_tokens": kv,
                    "kv_cache_tokens_planned": planned,
                    "startup_s": round(startup, 1),
                    "argv": argv,
                    "sets": plan["sets"],
                    "git_commit": plan["git_commit"],
                    "machine": {"host": os.uname().nodename, "gpu_uuid": uuid},
                    "vllm": raw,
                }
                dest = results / f"serve-{args.batch_id}-{config}-{w['name']}-{rate}.json"
                dest.write_text(json.dumps(out, indent=1) + "\n")
                print(
                    f"[{config}] {w['name']} rate {rate}: {out['output_tokens_per_s']:.0f} out tok/s, "
                    f"{out['total_tokens_per_s']:.0f} total tok/s, TTFT p50/p99 {out['ttft_ms_p50']:.0f}/"
                    f"{out['ttft_ms_p99']:.0f} ms, TPOT p50/p99 {out['tpot_ms_p50']:.1f}/{out['tpot_ms_p99']:.1f} ms "
                    f"({out['bench_seconds']} s)",
                    flush=True,
                )
        return 1 if failed else 0
    finally:
        try:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(proc.pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
