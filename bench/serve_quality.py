#!/usr/bin/env python3
"""What FP8 does to the numbers (issue 18): the same prompts through vLLM in bf16, with FP8 weights
(serve.quantization: fp8), with an FP8 KV cache (serve.kv_cache_dtype: fp8) and with both, compared with bf16.

No real checkpoint can be downloaded here, so the model is the proxy with real (random-init, std 0.02)
weights in the Qwen3-30B-A3B layer shape: make_proxy_model.py OUT --layers 2. What this measures is the
numerical perturbation FP8 adds to the very kernels and shapes the product serves, not task accuracy
(`modelforge eval` against two servers measures that on a user's own model and data).

Per variant, in its own process (GPU memory is released between them), with vLLM's offline LLM:
  teacher-forced  every prompt token's log-probability (prompt_logprobs) and whether the model's argmax at
                  each position is the same as bf16's
  greedy          64 tokens at temperature 0 from the first 64 tokens of each prompt

    python3 bench/serve_quality.py --model DIR --out FILE.json [--prompts 32]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from textgen import corpus  # noqa: E402

VARIANTS = {
    "bf16": {},
    "fp8-weights": {"quantization": "fp8"},
    "fp8-kv": {"kv_cache_dtype": "fp8"},
    "fp8-both": {"quantization": "fp8", "kv_cache_dtype": "fp8"},
}
PROMPT_TOKENS = 256
GREEDY_PREFIX = 64
GREEDY_TOKENS = 64


def worker(model: str, variant: str, n: int, out: Path) -> None:
    from vllm import LLM, SamplingParams

    t0 = time.time()
    llm = LLM(
        model=model,
        seed=0,
        enforce_eager=True,  # start in seconds; eager and graph kernels compute the same thing
        gpu_memory_utilization=0.3,
        max_model_len=1024,
        **VARIANTS[variant],
    )
    tok = llm.get_tokenizer()
    ids = [tok(text)["input_ids"][:PROMPT_TOKENS] for text in corpus(11, n * 3)]
    ids = [i for i in ids if len(i) >= PROMPT_TOKENS // 2][:n]
    forced = llm.generate(
        [{"prompt_token_ids": i} for i in ids], SamplingParams(max_tokens=1, prompt_logprobs=1, temperature=0)
    )
    logprobs, argmax = [], []
    for prompt, result in zip(ids, forced):
        lp, am = [], []
        for pos, entry in enumerate(result.prompt_logprobs[1:], start=1):
            lp.append(entry[prompt[pos]].logprob)
            am.append(max(entry.items(), key=lambda kv: kv[1].logprob)[0])  # rank-1 entry is the argmax
        logprobs.append(lp)
        argmax.append(am)
    greedy = llm.generate(
        [{"prompt_token_ids": i[:GREEDY_PREFIX]} for i in ids],
        SamplingParams(max_tokens=GREEDY_TOKENS, temperature=0, ignore_eos=True),
    )
    out.write_text(
        json.dumps(
            {
                "variant": variant,
                "vllm_args": VARIANTS[variant],
                "seconds": round(time.time() - t0, 1),
                "logprobs": logprobs,
                "argmax": argmax,
                "greedy": [list(r.outputs[0].token_ids) for r in greedy],
            }
        )
    )


def compare(base: dict, other: dict) -> dict:
    diffs, same_top, n = [], 0, 0
    for lb, lo, ab, ao in zip(base["logprobs"], other["logprobs"], base["argmax"], other["argmax"]):
        diffs += [o - b for b, o in zip(lb, lo)]
        same_top += sum(x == y for x, y in zip(ab, ao))
        n += len(ab)
    first_diff = []
    for gb, go in zip(base["greedy"], other["greedy"]):
        first_diff.append(next((i for i, (x, y) in enumerate(zip(gb, go)) if x != y), len(gb)))
    nll_base = -sum(sum(lp) for lp in base["logprobs"]) / n
    nll_other = -sum(sum(lp) for lp in other["logprobs"]) / n
    return {
        "positions": n,
        "mean_abs_logprob_diff": sum(abs(d) for d in diffs) / n,
        "max_abs_logprob_diff": max(abs(d) for d in diffs),
        "perplexity_ratio": math.exp(nll_other - nll_base),
        "top1_agreement": same_top / n,
        "greedy_identical": sum(d == GREEDY_TOKENS for d in first_diff) / len(first_diff),
        "greedy_mean_first_divergence": sum(first_diff) / len(first_diff),
        "nll_per_token": nll_other,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--worker", choices=list(VARIANTS))
    ap.add_argument("--worker-out")
    args = ap.parse_args()
    if args.worker:
        worker(args.model, args.worker, args.prompts, Path(args.worker_out))
        return 0
    tmp = Path(args.out).with_suffix(".parts")
    tmp.mkdir(parents=True, exist_ok=True)
    runs = {}
    for variant in VARIANTS:
        part = tmp / f"{variant}.json"
        cmd = [sys.executable, __file__, "--model", args.model, "--out", args.out, "--prompts", str(args.prompts)]
        print(f"[quality] {variant} ...", flush=True)
        r = subprocess.run([*cmd, "--worker", variant, "--worker-out", str(part)], capture_output=True, text=True)
        if r.returncode != 0 or not part.is_file():
            print(f"[quality] {variant} failed ({r.returncode}):\n{(r.stdout + r.stderr)[-4000:]}", flush=True)
            return 1
        runs[variant] = json.loads(part.read_text())
        print(f"[quality] {variant}: {runs[variant]['seconds']} s", flush=True)
    report = {
        "model": args.model,
        "prompt_tokens": PROMPT_TOKENS,
        "prompts": args.prompts,
        "machine": os.uname().nodename,
        "nll_per_token_bf16": compare(runs["bf16"], runs["bf16"])["nll_per_token"],
        "against_bf16": {v: compare(runs["bf16"], runs[v]) for v in VARIANTS if v != "bf16"},
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n")
    for v, c in report["against_bf16"].items():
        print(
            f"[quality] {v}: mean |dlogp| {c['mean_abs_logprob_diff']:.4f}, ppl x{c['perplexity_ratio']:.4f}, "
            f"top-1 agree {c['top1_agreement']:.3f}, greedy identical {c['greedy_identical']:.2f} "
            f"(first divergence at {c['greedy_mean_first_divergence']:.1f} of {GREEDY_TOKENS})",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
