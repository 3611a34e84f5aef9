#!/usr/bin/env python3
"""Write bench/plans/<name>.json: the rendered plans the GPU runs execute (run here, no GPU).

Each file holds
  plan        `modelforge plan --json --set hardware.gpus=N --set hardware.gpu=H200 [--set ...]`:
              the real model's plan, whose train.command / train.env the device runs (paths substituted)
  proxy_plan  the same plan with --set model.config_path=<proxy config.json> and the stage the real plan
              chose, so train.gpu_mem_gib is the planner's prediction for what actually runs
  sets        the --set overrides, config, gpus, git commit

Configurations:
  seed      the seed guide as written, in ms-swift 4.x flags: --tuner_type full --deepspeed zero3
            --per_device_train_batch_size 1 --max_length 8192 --torch_dtype bfloat16, gradient
            checkpointing on (ms-swift's default). Rendered with train.deepspeed=zero3; every other
            rendered flag already equals the seed's.
  default   exactly what the renderer produces for N H200s (train.deepspeed=auto).
  product   issue 14: the plan rendered for the seed's own hardware (hardware.gpus=5, hardware.gpu=H200), applied
            to the proxy on the GPUs at hand: its flags (FA4, packing, micro-batch, accumulation, plugin) as
            rendered, with NPROC_PER_NODE set to the GPUs the run uses.
  fa4       the seed with --attn_impl flash_attention_4 alone (no packing): the loss curve must match the seed's.
  product-liger-lite / product-liger-full   the product plus Liger kernels: liger-lite = RMSNorm, RoPE and fused
            linear cross-entropy (bench/plugins/liger_lite.py, keeps transformers' grouped_mm experts);
            liger-full = ms-swift's --use_liger_kernel true (liger's own Triton fused-MoE experts) with
            LIGER_FUSED_MOE_AUTOTUNE=0 (its autotuning over 16-32 configs is what looked like a stall).
  megatron  issue 20: `megatron sft` as the planner plans it for the proxy on the GPUs the run has
            (train.backend=megatron, stack.megatron set); megatron-recompute adds full recompute.
  levers    seed + one change: experts_impl=grouped_mm, micro-batch 2 or 4 (gradient accumulation
            cut to keep 4 sequences per GPU per step), gradient checkpointing off, attn_impl=sdpa;
            combos of those.

    python3 bench/make_plans.py            # uses .venv/bin/modelforge
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MF = REPO / ".venv" / "bin" / "modelforge"
# Earlier plans are records of what ran: a new batch of plans goes into its own folder (MF_PLANS_DIR).
PLANS = Path(os.environ.get("MF_PLANS_DIR", REPO / "bench" / "plans"))
PROXY = REPO / "bench" / "proxy"

# The seed guide's flags. Since issue 14 the defaults pick FA4 + packing, so the seed says sdpa, no packing, mbs 1.
SEED = ["train.deepspeed=zero3", "train.attn_impl=sdpa", "train.packing=false", "train.per_device_batch_size=1"]
LEVERS = {
    "grouped_mm": SEED + ["train.extra_args.experts_impl=grouped_mm"],
    "mbs2": SEED + ["train.per_device_batch_size=2", "train.gradient_accumulation_steps=2"],
    "mbs4": SEED + ["train.per_device_batch_size=4", "train.gradient_accumulation_steps=1"],
    "nogc": SEED + ["train.gradient_checkpointing=false"],
    "sdpa": SEED + ["train.attn_impl=sdpa"],
    "nogc-mbs2": SEED
    + ["train.gradient_checkpointing=false", "train.per_device_batch_size=2", "train.gradient_accumulation_steps=2"],
    "nogc-mbs4": SEED
    + ["train.gradient_checkpointing=false", "train.per_device_batch_size=4", "train.gradient_accumulation_steps=1"],
}
# PyTorch's expandable segments: less memory reserved-but-unused by the caching allocator (the
# nvidia-smi peak ran 1.2-1.9x the allocated peak in the first sessions).
EXPANDABLE = ["train.env.PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True"]
LEVERS["seed-es"] = SEED + EXPANDABLE
LEVERS["mbs2-es"] = LEVERS["mbs2"] + EXPANDABLE
CONFIGS: dict[str, list[str]] = {"seed": SEED, "default": [], **LEVERS, "seed-repeat": SEED}  # seed-repeat: noise check
# Issue 14: the product default. Its plan is made for 5 GPUs (the seed's hardware) and run on the GPUs at hand.
PRODUCT_GPUS = 5
CONFIGS["product"] = []
CONFIGS["fa4"] = SEED + ["train.attn_impl=flash_attention_4", "train.packing=false"]
CONFIGS["product-liger-lite"] = []
CONFIGS["product-liger-full"] = ["train.extra_args.use_liger_kernel=true", "train.env.LIGER_FUSED_MOE_AUTOTUNE='0'"]
CONFIGS["product-es"] = ["train.env.PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True"]
CONFIGS["product-tps"] = ["train.tokens_per_step=81920"]  # 5 GPUs x 2 packed rows: near the seed's ~62K tokens/step
# Issue 20: Megatron-SWIFT (`megatron sft`). The real model's plan is the 5-GPU one (a record: PP 5 cannot run on
# the GPUs at hand); what runs is the planner's own Megatron plan for the proxy on the GPUs the run has, so its
# per-GPU estimate is checked against what that layout uses. megatron-recompute: the same with full recompute.
MEGATRON_STACK = "stack.megatron=['megatron-core==0.19.2','mcore-bridge==1.6.5','transformer-engine[pytorch]==2.20.2']"
MEGATRON = ["train.backend=megatron", MEGATRON_STACK]
CONFIGS["megatron"] = MEGATRON
CONFIGS["megatron-recompute"] = MEGATRON + ["train.megatron.recompute=true"]
# cuDNN's fused attention instead of flash (TE's flash path here is FA4: flash-attn 2/3 have no wheels)
CONFIGS["megatron-fused"] = MEGATRON + ["train.extra_args.attention_backend=fused"]
CONFIGS["megatron-fused-es"] = CONFIGS["megatron-fused"] + EXPANDABLE
# kill after checkpoint-5, resume through the entrypoint (run_train_bench --sanity), on the 1-layer proxy
CONFIGS["megatron-sanity"] = MEGATRON
# expert parallel over every GPU of the run instead of the planner's pick (which is data parallel for the proxy):
# whether the planner's choice is the faster one, on 2 and 4 GPUs. Set on the proxy's plan only ({gpus}).
CONFIGS["megatron-ep"] = MEGATRON
PROXY_ONLY = {"megatron-ep": ["train.megatron.expert_parallel={gpus}"]}
MEGATRON_LIKE = (
    "megatron",
    "megatron-recompute",
    "megatron-fused",
    "megatron-fused-es",
    "megatron-sanity",
    "megatron-ep",
)
EXTRA_PLUGINS = {"product-liger-lite": ["bench/plugins/liger_lite.py"]}  # appended to --external_plugins
PRODUCT_LIKE = ("product", "product-liger-lite", "product-liger-full", "product-es", "product-tps", "product-noplugin")
# The product without the FA4 int-cast plugin: shows that the fix is needed (expected to fail at the first step).
CONFIGS["product-noplugin"] = []
NO_PLUGIN = ("product-noplugin",)
GPU_COUNTS = {
    "seed": (1, 2, 4),
    "product": (1, 2, 4),
    "default": (1, 2),
    "mbs2": (1, 2),
    "nogc-mbs2": (1, 2),
    "nogc-mbs4": (1, 2),
    "mbs4": (1, 2),
    # issue 20 on several GPUs (for when 2/4-GPU machines are lent): Megatron's layouts against the DeepSpeed product
    "megatron": (1, 2, 4),
    "megatron-ep": (2, 4),
}


def plan(sets: list[str]) -> dict:
    argv = [str(MF), "plan", "--json"]
    for s in sets:
        argv += ["--set", s]
    r = subprocess.run(argv, capture_output=True, text=True, cwd=REPO)
    if not r.stdout.strip().startswith("{"):
        sys.exit(f"modelforge plan failed ({r.returncode}): {r.stderr}")
    return json.loads(r.stdout)  # exit 1 (infeasible for the real model) still prints the plan


def proxy_config(layers: int) -> Path:
    out = PROXY / f"{layers}layer"
    subprocess.run(
        [
            sys.executable,
            str(REPO / "bench" / "make_proxy_model.py"),
            str(out),
            "--config-only",
            "--layers",
            str(layers),
        ],
        check=True,
        capture_output=True,
    )
    return out / "config.json"


def main() -> None:
    PLANS.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=REPO).stdout.strip()
    dirty = bool(
        subprocess.run(
            ["git", "status", "--porcelain", "--", "builder", "templates"], capture_output=True, text=True, cwd=REPO
        ).stdout.strip()
    )
    cfg4, cfg1 = proxy_config(4), proxy_config(1)
    only = set(sys.argv[1:])  # config names: write just those plans (earlier plans are records of what ran)
    jobs = [(c, g) for c in CONFIGS for g in GPU_COUNTS.get(c, (1,))] + [("sanity", 1), ("sanity", 2)]
    jobs = [(c, g) for c, g in jobs if not only or c in only]
    for config, gpus in jobs:
        plan_gpus = PRODUCT_GPUS if config in PRODUCT_LIKE + MEGATRON_LIKE else gpus
        sets = [f"hardware.gpus={plan_gpus}", "hardware.gpu=H200"] + (SEED if config == "sanity" else CONFIGS[config])
        real = plan(sets)
        stage = real["train"]["deepspeed"]
        cfg = cfg1 if config in ("sanity", "megatron-sanity") else cfg4
        if config in MEGATRON_LIKE:
            extra = [x.format(gpus=gpus) for x in PROXY_ONLY.get(config, [])]
            proxy_sets = [f"hardware.gpus={gpus}", *sets[1:], *extra, f"model.config_path={cfg}"]
            proxy = plan(proxy_sets)
            doc = {"config": config, "gpus": gpus, "plan_gpus": gpus, "sets": proxy_sets, "real_sets": sets}
            doc |= {"git_commit": commit, "git_dirty": dirty, "plan": proxy, "proxy_plan": proxy, "real_plan": real}
            (PLANS / f"{config}-{gpus}gpu.json").write_text(json.dumps(doc, indent=1) + "\n")
            m, rm = proxy["train"]["megatron"], real["train"]["megatron"]
            print(f"{config}-{gpus}gpu  proxy {m['layout']} {m['gpu_gib']} GiB; real 5-GPU plan {rm['layout']}")
            continue
        # The planner's prediction for what runs: the proxy, on the GPUs the run has, with the real plan's batch.
        t = real["train"]
        proxy_sets = [
            f"hardware.gpus={gpus}",
            *sets[1:],
            f"model.config_path={cfg}",
            f"train.deepspeed={stage}",
            f"train.per_device_batch_size={t['micro_batch']}",
            f"train.gradient_accumulation_steps={t['grad_accum']}",
        ]
        proxy = plan(proxy_sets)
        if plan_gpus != gpus:  # the 5-GPU plan's flags, launched on the GPUs this run has
            for p in (real, proxy):
                p["train"]["env"]["NPROC_PER_NODE"] = str(gpus)
                if gpus == 1:
                    del p["train"]["env"]["NPROC_PER_NODE"]
        if config in NO_PLUGIN:
            argv = real["train"]["command"]
            i = argv.index("--external_plugins")
            del argv[i : i + 2]
        name = f"{config}-{gpus}gpu"
        doc = {
            "config": config,
            "gpus": gpus,
            "plan_gpus": plan_gpus,
            "sets": sets,
            "proxy_sets": proxy_sets,
            "git_commit": commit,
            "git_dirty": dirty,
            "plan": real,
            "proxy_plan": proxy,
            "extra_plugins": EXTRA_PLUGINS.get(config, []),
        }
        (PLANS / f"{name}.json").write_text(json.dumps(doc, indent=1) + "\n")
        print(
            f"{name:20s} stage={stage:14s} real_gpu_mem={real['train']['gpu_mem_gib']:7.1f} fits={real['train']['fits']!s:5s}"
            f" proxy_gpu_mem={proxy['train']['gpu_mem_gib']:6.1f}"
        )


if __name__ == "__main__":
    main()
