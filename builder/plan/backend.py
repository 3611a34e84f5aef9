"""train.backend: which trainer runs the job, DeepSpeed (`swift sft`) or Megatron-SWIFT (`megatron sft`), and
for Megatron on which layout (builder/plan/megatron.py).

auto picks Megatron only where there is reason to expect it faster and it can run: an MoE model (ms-swift's own
benchmark, Qwen3-30B-A3B full fine-tuning at 8K on 16 A800: 9.6 s/it vs ZeRO-3 91.2 s/it; dense 14B: 9.04 vs
10.56, docs/source_en/Megatron-SWIFT/Quick-start.md), a full fine-tune, GPUs, an image with Megatron
(stack.megatron), more than one GPU and a layout that fits. On one H200 Megatron was measured at 0.91x the
DeepSpeed default (builder/facts/megatron.py): with no ZeRO-3 traffic to save there, auto keeps DeepSpeed. The
multi-GPU gain is ms-swift's figure, not yet this project's measurement: the plan says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..facts import gpus as gpu_table
from ..facts import megatron as megatron_facts
from ..facts.models import ModelFacts
from ..spec import Spec
from . import megatron, memory

UPSTREAM = "ms-swift measures Megatron 9.5x ZeRO-3's speed on this kind of model (Qwen3-30B-A3B, 16 x A800)"


@dataclass(frozen=True)
class Backend:
    name: str  # "deepspeed" or "megatron"
    reason: str
    megatron: megatron.Choice | None = None


def choose(spec: Spec, m: ModelFacts | None, rows: int, warnings: list[str], errors: list[str]) -> Backend:
    """`rows`: what the DeepSpeed plan puts in one optimizer step (all GPUs); Megatron's global batch follows it."""
    t = spec.train
    wanted = t.backend
    blocker = _blocker(spec, m)
    if wanted == "deepspeed":
        return Backend("deepspeed", "set in the spec")
    if wanted == "auto" and blocker:
        return Backend("deepspeed", blocker)
    if blocker:
        errors.append(spec.at("train.backend", f"train.backend: megatron cannot run here: {blocker}"))
        return Backend("deepspeed", "train.backend: megatron refused")
    assert m is not None
    # train.megatron values written in the spec mean Megatron is wanted: their refusals are errors on auto too
    said = wanted == "megatron" or bool(t.megatron.model_dump(exclude_defaults=True))
    choice = _layout(spec, m, rows, errors if said else [])
    if choice is None:
        if said:
            return Backend("deepspeed", "train.backend: megatron refused")
        return Backend("deepspeed", "no Megatron layout fits these GPUs")
    where = "set in the spec" if wanted == "megatron" else f"MoE model and the image has Megatron: {UPSTREAM}"
    if t.extra_args:
        warnings.append("train.extra_args go to `megatron sft` as they are: its flags differ from swift sft's")
    return Backend("megatron", f"{where}; this project measured it on one GPU only (docs/benchmarks.md)", choice)


def _blocker(spec: Spec, m: ModelFacts | None) -> str | None:
    """Why Megatron cannot (or, on auto, should not) run this spec; None: it can."""
    t = spec.train
    if spec.hardware.gpus == 0:
        return "CPU run (Megatron needs GPUs)"
    if not spec.stack.megatron:
        return (
            "the image has no Megatron (stack.megatron is empty: add megatron-core, mcore-bridge and "
            "transformer-engine[pytorch] to build it in)"
        )
    if m is None:
        return "the model's architecture is unknown (set model.config_path): no layout can be checked"
    if t.tuner != "full":
        return "train.tuner is lora: the Megatron plan covers full fine-tuning only so far"
    if t.max_steps is None and t.epochs != int(t.epochs):
        return f"train.epochs {t.epochs} is fractional: megatron sft takes whole epochs (or set train.max_steps)"
    if t.backend == "auto" and spec.hardware.gpus * spec.k8s.nodes == 1:
        return megatron_facts.SINGLE_GPU
    if t.backend == "auto" and not m.is_moe:
        return "dense model: ms-swift measures Megatron only ~1.17x ZeRO-3 there; the measured DeepSpeed path stays"
    return None


def _layout(spec: Spec, m: ModelFacts, rows: int, errors: list[str]) -> megatron.Choice | None:
    t, hw = spec.train, spec.hardware
    gpu = gpu_table.lookup(hw.gpu)
    assert gpu is not None
    nodes = spec.k8s.nodes
    per_node = None if t.megatron.gpus == "auto" else t.megatron.gpus
    if per_node is not None and per_node > hw.gpus:
        errors.append(spec.at("train.megatron.gpus", f"train.megatron.gpus {per_node} > hardware.gpus {hw.gpus}"))
        return None
    requested = megatron.requested_layout(t.megatron, m)
    split = requested["stages"] if isinstance(requested["stages"], tuple) else None  # the spec's stage sizes
    found = megatron.candidates(
        m, nodes, hw.gpus, per_node, t.max_length, rows, 1, gpu.bf16_tflops, gpu.interconnect, split
    )
    limit = gpu.memory_gib * memory.HEADROOM
    host = hw.host_memory_gib

    def fits(e: megatron.Estimate) -> bool:
        return e.gpu_gib <= limit and (host is None or e.host_gib <= host * memory.HEADROOM)

    matching = [f for f in found if megatron.wanted(requested, f[0].layout)]
    fitting = [f for f in matching if fits(f[0])]
    works = [f for f in found if fits(f[0])]

    def options(items) -> str:
        return "; ".join(_short(e, n) for e, _, n in items[:3]) or "none on these GPUs"

    explicit = [k for k, v in requested.items() if v is not None]
    if not matching:
        world = (per_node or hw.gpus) * nodes
        rules = megatron.broken_rules(m, requested, world)
        said = ", ".join(f"{k}={requested[k]}" for k in explicit if k != "stages")
        why = "; ".join(megatron.RULES[r] for r in rules) or "no layout has all of these at once"
        errors.append(
            spec.at(
                _key(explicit),
                f"train.megatron ({said or 'these stage sizes'}) on {world} GPUs: {why}. Layouts that fit: "
                f"{options(works)}",
            )
        )
        return None
    if not fitting:
        e, _, n = matching[0]
        errors.append(
            spec.at(
                _key(explicit) if explicit else "hardware.gpus",
                f"no Megatron layout{' with these train.megatron values' if explicit else ''} fits "
                f"{spec.hardware.gpu} ({gpu.memory_gib:.0f} GiB, planning to {memory.HEADROOM:.0%}): the "
                f"fastest, {_short(e, n)}; other layouts that fit: {options(works)}",
            )
        )
        return None
    best, batch, n = fitting[0]
    runners = tuple(f[0] for f in fitting[1:4])
    why = (
        f"fastest expected of {len(works)} layouts that fit on {hw.gpus} x {hw.gpu}"
        f"{f' x {nodes} nodes' if nodes > 1 else ''} (GPUs per node tried: "
        f"{per_node or f'{hw.gpus} down to {max(1, (hw.gpus + 1) // 2)}'})"
    )
    return megatron.Choice(best, batch, n, why, runners)


def _key(explicit: list[str]) -> str:
    names = {"tp": "tensor_parallel", "pp": "pipeline_parallel", "ep": "expert_parallel",
             "etp": "expert_tensor_parallel", "cp": "context_parallel", "recompute": "recompute",
             "offload": "optimizer_offload", "stages": "first_stage_layers"}  # fmt: skip
    return f"train.megatron.{names[explicit[0]]}" if explicit else "train.megatron"


def _short(e: megatron.Estimate, per_node: int) -> str:
    return f"{per_node} GPUs/node {e.layout.describe()} ({e.gpu_gib:.0f} GiB/GPU, ~{e.step_s:.1f} s/step)"
