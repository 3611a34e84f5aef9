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

Workloads: short chat (1024 in / 256 out) and reasoning (512 in / 4096 out: a thinking model's long
outputs), each at saturation (rate inf) and chat also at a fixed request rate.

    python3 bench/make_serve_plans.py      # uses .venv/bin/modelforge
"""

from __future__ import annotations

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
BASE = ["hardware.gpus=1", "hardware.gpu=H200"]
CONFIGS = {
    "vllm-default": None,
    "product": [],
    "product-kv-fp8": ["serve.kv_cache_dtype=fp8"],
    "product-fp8": ["serve.quantization=fp8"],
    "product-fp8-kv-fp8": ["serve.quantization=fp8", "serve.kv_cache_dtype=fp8"],
}
WORKLOADS = [
    # (name, input, output, rates, prompts)
    ("reasoning", 512, 4096, ["inf"], 200),
    ("chat", 1024, 256, ["16", "inf"], 300),
]
MAX_MODEL_LEN = "32768"


def plan(sets: list[str]) -> dict:
    args = [str(MF), "plan", "-f", str(REPO / "modelforge.yaml"), "--json"]
    for s in sets:
        args += ["--set", s]
    result = subprocess.run(args, capture_output=True, text=True, check=True)
    return json.loads(result.stdout)


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    product = plan(BASE)
    for name, extra in CONFIGS.items():
        if extra is None:
            argv = ["vllm", "serve", "{MODEL}", "--max-model-len", MAX_MODEL_LEN]
            p = product
        else:
            p = plan(BASE + extra)
            argv = [*p["serve"]["command"], "--model", "{MODEL}"]
        served = p["serve"]["served_model_name"] if extra is not None else "{MODEL}"
        workloads = []
        for wname, inp, out, rates, prompts in WORKLOADS:
            load = Load(rates, prompts, inp, out)
            args = vllm_bench_args("http://127.0.0.1:{PORT}", served, "{TOKENIZER}", load, "{RESULTS}")
            workloads.append(
                {"name": wname, "input_len": inp, "output_len": out, "rates": rates, "num_prompts": prompts,
                 "args": args}
            )  # fmt: skip
        doc = {
            "config": name,
            "gpus": 1,
            "sets": BASE + (extra or []),
            "git_commit": commit,
            "argv": argv,
            "planned": {k: p["serve"][k] for k in ("kv_cache_tokens", "weights_gib_per_gpu", "layout_reason")},
            "workloads": workloads,
        }
        (OUT / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
        print(f"{name}: {' '.join(argv)}")


if __name__ == "__main__":
    main()
