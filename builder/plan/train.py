"""The training plan: DeepSpeed stage, micro-batch and accumulation, memory, checkpoints, and the argv and
environment of `swift sft` (or of `megatron sft` when backend.py picks Megatron-SWIFT)."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from ..facts import megatron as megatron_facts
from ..facts.models import ModelFacts
from ..spec import Spec
from . import backend as backends
from . import checks, memory
from .commands import megatron_argv, train_argv, train_env
from .types import Attention, TrainPlan

DS_ORDER = ["none", "zero2", "zero3", "zero2_offload", "zero3_offload"]  # fastest first


def plan(
    spec: Spec, m: ModelFacts | None, gpu_gib: float, attention: Attention, warnings: list[str], errors: list[str]
) -> TrainPlan:
    t = spec.train
    gpus = spec.hardware.gpus
    output_dir = f"{spec.volumes.checkpoints.mount.rstrip('/')}/{t.run_name}"
    lora_rank = t.lora_rank if t.tuner == "lora" else None
    micro_batch, grad_accum = _micro_batch(spec, m, gpu_gib, attention.packing)
    grad_accum = _grad_accum_for_tokens(spec, micro_batch, grad_accum, attention.packing)
    rows = micro_batch * grad_accum * max(gpus, 1) * spec.k8s.nodes
    backend = backends.choose(spec, m, rows, warnings, errors)
    if backend.megatron is not None and m is not None:
        return _plan_megatron(spec, m, backend, output_dir, attention, warnings, errors)
    estimates = _estimates(spec, m, micro_batch, attention.packing)
    host = spec.hardware.host_memory_gib

    def fits(stage: str) -> bool:
        est = estimates[stage]
        return _fits_gpu(est, gpu_gib) and (host is None or est.host_gib <= host * memory.HEADROOM)

    if gpus == 0:
        stage, reason = (
            ("none", "CPU run: DeepSpeed off") if t.deepspeed == "auto" else (t.deepspeed, "set in the spec")
        )
    elif t.deepspeed != "auto":
        stage, reason = t.deepspeed, "set in the spec"
        if estimates and not fits(stage):
            est = estimates[stage]
            fitting = [s for s in DS_ORDER if fits(s)]
            errors.append(
                spec.at(
                    "train.deepspeed",
                    f"train.deepspeed={stage} does not fit: needs {est.gpu_peak_gib:.1f} GiB per GPU "
                    f"(model states {est.model_states_gib:.1f} + activations {est.activations_gib:.1f}; "
                    f"{est.device_gib:.1f} with the allocator's reserve) and "
                    f"{est.host_gib:.0f} GiB host RAM; {spec.hardware.gpu} has {gpu_gib:.0f} GiB "
                    f"(planning tensors to {memory.HEADROOM:.0%}, with the reserve to {memory.DEVICE_HEADROOM:.0%}). "
                    f"Options that fit: {', '.join(fitting) or 'none'}",
                )
            )
    elif not estimates:
        stage, reason = "zero3", "model unknown: ZeRO-3 is the safe choice"
    else:
        candidates = [
            s for s in DS_ORDER if gpus * spec.k8s.nodes > 1 or s in ("none", "zero3_offload", "zero2_offload")
        ]
        fitting = [s for s in candidates if fits(s)]
        if fitting:
            stage = fitting[0]
            est = estimates[stage]
            reason = (
                f"fastest option that fits: {est.gpu_peak_gib:.1f} of {gpu_gib:.0f} GiB per GPU, "
                f"{est.device_gib:.1f} with the allocator's reserve"
            )
        else:
            stage = "zero3_offload"
            est = estimates[stage]
            reason = "nothing fits"
            gpu_ok = _fits_gpu(est, gpu_gib)
            levers = (  # name what changes the limiting figure: offload host RAM does not shrink with max_length
                f"host RAM limits it (hardware.host_memory_gib {host:.0f}): add host RAM, spread it over more nodes "
                "(k8s.nodes: offload RAM is per node), add GPUs so a stage without offload fits, or use train.tuner=lora"
                if gpu_ok
                else "GPU memory limits it: lower train.max_length or per_device_batch_size, use train.tuner=lora, "
                "or add GPUs"
            )
            errors.append(
                spec.at(
                    "hardware.gpus",
                    f"training does not fit on {gpus} x {spec.hardware.gpu}"
                    f"{f' x {spec.k8s.nodes} nodes' if spec.k8s.nodes > 1 else ''}: even zero3_offload needs "
                    f"{est.gpu_peak_gib:.1f} GiB per GPU and {est.host_gib:.0f} GiB host RAM; {levers}",
                )
            )
    chosen = estimates.get(stage)
    if gpus == 0 and chosen:  # a CPU run holds everything in host RAM: say so, not "per GPU"
        chosen = replace(chosen, host_gib=chosen.model_states_gib + chosen.activations_gib, gpu_peak_gib=0.0,
                         reserve_gib=0.0)  # fmt: skip
        if host is not None and chosen.host_gib > host * memory.HEADROOM:
            errors.append(
                spec.at(
                    "hardware.host_memory_gib",
                    f"the CPU run needs ~{chosen.host_gib:.0f} GiB of host RAM, hardware.host_memory_gib is {host:.0f}: "
                    "lower train.max_length, use train.tuner=lora, or train on GPUs",
                )
            )
    ckpt = memory.checkpoint_gib(m, lora_rank=lora_rank) if m else None
    if ckpt:
        checks.check_volumes(spec, m, ckpt, errors)
    if ckpt and spec.hardware.disk_free_gib is not None:
        need = ckpt * (t.save_total_limit + 1)  # the next one is written before the oldest is rotated out
        if need > spec.hardware.disk_free_gib:
            errors.append(
                spec.at(
                    "hardware.disk_free_gib",
                    f"checkpoints need {need:.0f} GiB ({t.save_total_limit}+1 x {ckpt:.0f} GiB) "
                    f"but hardware.disk_free_gib is {spec.hardware.disk_free_gib:.0f}",
                )
            )
    if chosen and host is None and chosen.host_gib > 64:
        warnings.append(
            f"{stage if gpus else 'the CPU run'} needs ~{chosen.host_gib:.0f} GiB of host RAM; "
            "set hardware.host_memory_gib to check it"
        )
    tokens_per_step = t.max_length * micro_batch * grad_accum * max(gpus, 1) * spec.k8s.nodes
    learning_rate, target_modules, defaults_applied = _tuner_defaults(spec, warnings)
    if t.extra_args:
        warnings.append(
            "train.extra_args passes " + ", ".join(f"--{k}" for k in t.extra_args) + " to swift sft unchecked "
            "(the plan does not model them)"
        )
    return TrainPlan(
        backend="deepspeed",
        backend_reason=backend.reason,
        argv=train_argv(spec, stage, output_dir, m, micro_batch, grad_accum, attention, learning_rate, target_modules),
        env=train_env(spec, int(ckpt * memory.GIB) if ckpt else None),
        output_dir=output_dir,
        deepspeed=stage,
        deepspeed_reason=reason,
        memory=chosen,
        checkpoint_gib=ckpt,
        fits=not errors,
        micro_batch=micro_batch,
        grad_accum=grad_accum,
        attention=attention,
        tokens_per_step=tokens_per_step,
        defaults_applied=defaults_applied,
    )


def _plan_megatron(
    spec: Spec, m: ModelFacts, backend: backends.Backend, output_dir: str, attention: Attention,
    warnings: list[str], errors: list[str],
) -> TrainPlan:  # fmt: skip
    """train.backend megatron (or auto's pick): `megatron sft` on the chosen layout."""
    t, choice = spec.train, backend.megatron
    assert choice is not None
    # HF safetensors (2 B/param, what serving reads) beside the mcore checkpoint (weights, fp32 master, Adam)
    ckpt = memory.checkpoint_gib(m, lora_rank=None) + m.total_params * 2 / memory.GIB
    checks.check_volumes(spec, m, ckpt, errors)
    learning_rate, _, defaults_applied = _tuner_defaults(spec, warnings)
    env = train_env(spec, int(ckpt * memory.GIB))
    for k, v in megatron_facts.ALLOC_ENV.items():  # train.env still wins
        env.setdefault(k, v)
    if choice.gpus_per_node > 1:
        env["NPROC_PER_NODE"] = str(choice.gpus_per_node)
    else:
        env.pop("NPROC_PER_NODE", None)
    if choice.gpus_per_node < spec.hardware.gpus:
        warnings.append(
            f"Megatron trains on {choice.gpus_per_node} of the {spec.hardware.gpus} GPUs per node (expected faster: "
            f"{choice.best.layout.describe()}); train.megatron.gpus sets it"
        )
    if choice.best.host_gib and spec.hardware.host_memory_gib is None:
        warnings.append(
            f"optimizer offload needs ~{choice.best.host_gib:.0f} GiB of host RAM per node; set "
            "hardware.host_memory_gib to check it"
        )
    return TrainPlan(
        argv=megatron_argv(spec, choice, output_dir, m, learning_rate, attention.packing),
        env=dict(sorted(env.items())),
        output_dir=output_dir,
        deepspeed="none",
        deepspeed_reason="Megatron-SWIFT trains (its distributed optimizer shards the optimizer states)",
        memory=None,
        checkpoint_gib=ckpt,
        fits=not errors,
        micro_batch=1,
        grad_accum=max(choice.global_batch // choice.best.layout.dp, 1),
        attention=attention,
        tokens_per_step=choice.global_batch * t.max_length,
        defaults_applied=defaults_applied,
        backend="megatron",
        backend_reason=backend.reason,
        megatron=choice,
    )


# A tuner's usual defaults where the spec does not set the value (ms-swift 4.6, Command-line-parameters.md:
# learning_rate 1e-5 for full fine-tuning, 1e-4 for LoRA; --target_modules all-linear, LoRA's usual).
TUNER_DEFAULTS: dict[str, dict[str, Any]] = {
    "full": {"learning_rate": 1e-5},
    "lora": {"learning_rate": 1e-4, "target_modules": ["all-linear"]},
}


def _tuner_defaults(spec: Spec, warnings: list[str]) -> tuple[float, list[str] | None, list[str]]:
    """(learning rate, LoRA target modules, the defaults applied): the tuner's usual values for what the spec
    leaves unset. A set rate far from the tuner's usual is kept, with a warning."""
    t = spec.train
    usual = TUNER_DEFAULTS[t.tuner]
    applied = []
    lr = t.learning_rate
    if "learning_rate" not in t.model_fields_set:
        lr = usual["learning_rate"]
        if lr != t.learning_rate:
            applied.append(f"learning_rate {lr:g} ({t.tuner}'s usual; train.learning_rate sets it)")
    elif not usual["learning_rate"] / 5 <= lr <= usual["learning_rate"] * 5:
        warnings.append(
            f"train.learning_rate {lr:g} is far from {t.tuner}'s usual {usual['learning_rate']:g}: check it"
        )
    modules = None
    if t.tuner != "lora" and t.target_modules is not None:
        warnings.append(f"train.target_modules is for LoRA; train.tuner={t.tuner} ignores it")
    if t.tuner == "lora":
        modules = t.target_modules or usual["target_modules"]
        if t.target_modules is None:
            applied.append(f"target_modules {' '.join(modules)} (lora's usual; train.target_modules sets it)")
    return lr, modules, applied


def _fits_gpu(est: memory.TrainMemory, gpu_gib: float) -> bool:
    return est.gpu_peak_gib <= gpu_gib * memory.HEADROOM and est.device_gib <= gpu_gib * memory.DEVICE_HEADROOM


def _estimates(spec: Spec, m: ModelFacts | None, micro_batch: int, packing: bool) -> dict[str, memory.TrainMemory]:
    if m is None:
        return {}
    t, gpus = spec.train, max(spec.hardware.gpus, 1)
    lora_rank = t.lora_rank if t.tuner == "lora" else None
    # ZeRO shards over every GPU of every node (k8s.nodes); host memory stays per node.
    return {
        stage: memory.estimate(
            m,
            stage,
            lora_rank=lora_rank,
            gpus=gpus * spec.k8s.nodes,
            gpus_per_node=gpus,
            seq=t.max_length,
            micro_batch=micro_batch,
            checkpointing=t.gradient_checkpointing,
            packing=packing,
        )
        for stage in DS_ORDER
    }


def _micro_batch(spec: Spec, m: ModelFacts | None, gpu_gib: float, packing: bool) -> tuple[int, int]:
    """(micro-batch, gradient accumulation). auto: 2 with accumulation halved (same global batch) when a
    stage without offload still fits at 2, since that measured +56-59% tokens/s on H200 (docs/benchmarks.md);
    never onto an offload stage, which costs 3-4x."""
    t = spec.train
    if t.per_device_batch_size != "auto":
        return t.per_device_batch_size, t.gradient_accumulation_steps
    if m is None or spec.hardware.gpus == 0 or t.gradient_accumulation_steps < 2:
        return 1, t.gradient_accumulation_steps
    stages = [t.deepspeed] if t.deepspeed != "auto" else ["none", "zero2", "zero3"]
    at_two = _estimates(spec, m, 2, packing)
    if any(not s.endswith("_offload") and _fits_gpu(at_two[s], gpu_gib) for s in stages):
        return 2, t.gradient_accumulation_steps // 2
    return 1, t.gradient_accumulation_steps


def _grad_accum_for_tokens(spec: Spec, micro_batch: int, grad_accum: int, packing: bool) -> int:
    """train.tokens_per_step with packing: every micro-batch is one max_length row, so a step of N accumulated
    micro-batches on W GPUs holds N x W x micro_batch x max_length tokens."""
    want = spec.train.tokens_per_step
    if want is None or not packing:
        return grad_accum
    per_micro = spec.train.max_length * micro_batch * max(spec.hardware.gpus, 1) * spec.k8s.nodes
    return max(1, round(want / per_micro))
