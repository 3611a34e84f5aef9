#!/usr/bin/env python3
"""Write bench/plans/serve/<config>.json: the serving configurations the GPU run starts (run here, no GPU).

Each file holds
  argv        the `vllm serve` argument list to start, with {MODEL} where the model folder goes
  planned     what the planner predicts for it (kv_cache_tokens, weights GiB per GPU, layout)
  workloads   name, input/output lengths, rates, prompts, and the `vllm bench serve` arguments that
              `modelforge bench-serve` uses (builder.serving.bench.vllm_bench_args), with {PORT},
              {SERVED}, {TOKENIZER} and {RESULTS} to fill in
  sets        the --set overrides; gpus; git commit

Configurations (issue 18), all for one H200 and the full 48-layer Qwen3-30B-A3B architecture:
  vllm-default    `vllm serve MODEL --max-model-len 32768`: vLLM's out-of-the-box flags, the model length the
                  spec serves (every other flag left to vLLM).
  product         the command `modelforge plan --set hardware.gpus=1` renders, exactly.
  product-kv-fp8  the product with serve.kv_cache_dtype=fp8 (--kv-cache-dtype fp8): half the KV bytes per token.
                  (Batch s18a passed the same flag through serve.extra_args, before the key existed.)
  product-fp8     the product with serve.quantization=fp8 (--quantization fp8): vLLM quantizes the weights at load.
  product-fp8-kv-fp8  both.

On several GPUs (--gpus N, for when 2/4-GPU machines are lent), the layout comparison:
  product         the planner's layout (replicas of tp=1 with expert parallel, for this model)
  product-tp      the same command with serve.tensor_parallel=N, data_parallel=1, expert_parallel=false
  vllm-default    `vllm serve MODEL --max-model-len 32768 --tensor-parallel-size N`: what a user types to use
                  N GPUs with vLLM's defaults

Workloads: short chat (1024 in / 256 out) and reasoning (512 in / 4096 out: a thinking model's long
outputs), each at saturation (rate inf) and chat also at a fixed request rate; reasoning-rates is the
reasoning workload at 1 and 2 requests/s (below and above one H200's bf16 saturation, ~1.3 requests/s in
s18a), 80 prompts each so a start and both rates fit one 600 s call.

    python3 bench/make_serve_plans.py                                  # batch plans for one H200
    MF_SERVE_PLANS_DIR=bench/plans/serve-s18e python3 bench/make_serve_plans.py \
        --configs vllm-default,product-fp8-kv-fp8 --workloads reasoning-rates
    MF_SERVE_PLANS_DIR=bench/plans/serve-2gpu python3 bench/make_serve_plans.py --gpus 2
    MF_SERVE_PLANS_DIR=bench/plans/serve-s18e-h100 python3 bench/make_serve_plans.py --gpu H100-80GB \
        --configs vllm-default,product,product-fp8-kv-fp8 --workloads reasoning-rates --rates 1,2 --prompts 40
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
from builder.serving.bench import Load, vllm_bench_args  # noqa: E402

MF = REPO / ".venv" / "bin" / "modelforge"
# The files of a batch that ran are its record: write a new batch's plans elsewhere (MF_SERVE_PLANS_DIR) and
# point bench/serve_session.sh at them (PLANS=...).
OUT = Path(os.environ.get("MF_SERVE_PLANS_DIR", REPO / "bench" / "plans" / "serve"))
CONFIGS = {
    "vllm-default": None,
    "product": [],
    "product-kv-fp8": ["serve.kv_cache_dtype=fp8"],
    "product-fp8": ["serve.quantization=fp8"],
    "product-fp8-kv-fp8": ["serve.quantization=fp8", "serve.kv_cache_dtype=fp8"],
}
MULTI_GPU_CONFIGS = {
    "vllm-default": None,
    "product": [],
    "product-tp": ["serve.tensor_parallel={gpus}", "serve.data_parallel=1", "serve.expert_parallel=false"],
}
WORKLOADS = {
    # name: (workload, input, output, rates, prompts)
    "reasoning": ("reasoning", 512, 4096, ["inf"], 200),
    "chat": ("chat", 1024, 256, ["16", "inf"], 300),
    "reasoning-rates": ("reasoning", 512, 4096, ["1", "2"], 80),
}
MAX_MODEL_LEN = "32768"


def plan(sets: list[str]) -> dict:
    args = [str(MF), "plan", "-f", str(REPO / "modelforge.yaml"), "--json"]
    for s in sets:
        args += ["--set", s]
    result = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--gpus", type=int, default=1)
    ap.add_argument("--configs", help="comma-separated; default: all for this GPU count")
    ap.add_argument("--workloads", default="reasoning,chat", help=f"comma-separated of {', '.join(WORKLOADS)}")
    ap.add_argument("--gpu", default="H200", help="the spec's hardware.gpu: the card the run gets (H200, H100-80GB)")
    ap.add_argument("--rates", help="comma-separated request rates for every workload, instead of its own")
    ap.add_argument("--prompts", type=int, help="prompts per rate for every workload, instead of its own")
    args = ap.parse_args()
    table = CONFIGS if args.gpus == 1 else MULTI_GPU_CONFIGS
    names = args.configs.split(",") if args.configs else list(table)
    unknown = [n for n in names if n not in table] + [w for w in args.workloads.split(",") if w not in WORKLOADS]
    if unknown:
        ap.error(f"unknown for {args.gpus} GPU(s): {', '.join(unknown)}")
    base = [f"hardware.gpus={args.gpus}", f"hardware.gpu={args.gpu}"]
    OUT.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    product = plan(base)
    for name in names:
        extra = table[name]
        if extra is None:
            argv = ["vllm", "serve", "{MODEL}", "--max-model-len", MAX_MODEL_LEN]
            p = product
            if args.gpus > 1:  # tensor parallel over every GPU: the planner's figures for that layout
                argv += ["--tensor-parallel-size", str(args.gpus)]
                p = plan(base + [e.format(gpus=args.gpus) for e in MULTI_GPU_CONFIGS["product-tp"]])
        else:
            extra = [e.format(gpus=args.gpus) for e in extra]
            p = plan(base + extra)
            argv = [*p["serve"]["command"], "--model", "{MODEL}"]
        served = p["serve"]["served_model_name"] if extra is not None else "{MODEL}"
        workloads = []
        for key in args.workloads.split(","):
            wname, inp, out, rates, prompts = WORKLOADS[key]
            rates = args.rates.split(",") if args.rates else rates
            prompts = args.prompts or prompts
            load = Load(rates, prompts, inp, out)
            bench_args = vllm_bench_args("http://127.0.0.1:{PORT}", served, "{TOKENIZER}", load, "{RESULTS}")
            workloads.append(
                {"name": wname, "input_len": inp, "output_len": out, "rates": rates, "num_prompts": prompts,
                 "args": bench_args}
            )  # fmt: skip
        doc = {
            "config": name,
            "gpus": args.gpus,
            "sets": base + (extra or []),
            "git_commit": commit,
            "argv": argv,
            "planned": {k: p["serve"][k] for k in ("kv_cache_tokens", "weights_gib_per_gpu", "layout_reason")},
            "workloads": workloads,
        }
        (OUT / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
        print(f"{name}: {' '.join(argv)}")


if __name__ == "__main__":
    main()
