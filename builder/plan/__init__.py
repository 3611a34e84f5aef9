"""Spec -> Plan: what will run, decided once, before anything is written or started.

The plan holds the exact argv of the training and serving processes, their
environment, the parallel layout and the memory estimates. Renderers only read it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from typing import Any

from ..errors import PlanError, Problem, SpecError
from ..facts import gpus as gpu_table
from ..facts import hub_config, kernels
from ..facts import lora as lora_facts
from ..facts import megatron as megatron_facts
from ..facts import models as model_table
from ..facts.models import ModelFacts
from ..spec import Spec
from . import backend as backends
from . import megatron, memory, parallel
from .cluster import ClusterPlan, multi_node_layout, plan_cluster
from .commands import (
    lora_base_name,
    megatron_argv,
    serve_argv,
    serve_env,
    served_name,
    train_argv,
    train_env,
    uses_cpu_vllm,
)

DS_ORDER = ["none", "zero2", "zero3", "zero2_offload", "zero3_offload"]  # fastest first
HEADROOM = 0.9  # plan tensors to at most 90% of a GPU's memory ...
DEVICE_HEADROOM = 0.97  # ... and tensors plus the allocator's reserve to at most 97% (never at the edge)


@dataclass(frozen=True)
class TrainPlan:
    argv: list[str]
    env: dict[str, str]
    output_dir: str
    deepspeed: str
    deepspeed_reason: str
    memory: memory.TrainMemory | None
    checkpoint_gib: float | None
    fits: bool
    micro_batch: int
    grad_accum: int
    attention: Attention
    tokens_per_step: int  # at most (without packing) / about (with packing) per optimizer step, all GPUs
    defaults_applied: list[str] = field(default_factory=list)  # tuner defaults the spec did not set
    backend: str = "deepspeed"  # or "megatron" (builder/plan/backend.py)
    backend_reason: str = ""
    megatron: megatron.Choice | None = None  # the layout, when backend is megatron


@dataclass(frozen=True)
class Attention:
    impl: str  # transformers' attn_implementation, passed as ms-swift --attn_impl
    packing: bool
    reason: str


@dataclass(frozen=True)
class ServePlan:
    argv: list[str]  # without the model: the entrypoint adds the newest checkpoint or the base model
    env: dict[str, str]
    layout: parallel.Layout
    served_name: str  # what clients ask for: the fine-tuned model (with serve.lora: adapter, the adapter)
    base_name: str | None = None  # serve.lora: adapter: the base model's name on the same server


@dataclass(frozen=True)
class Plan:
    spec: Spec
    model: ModelFacts | None
    gpu_memory_gib: float
    train: TrainPlan
    serve: ServePlan
    cluster: ClusterPlan  # k8s, one node or several (builder/plan/cluster.py)
    warnings: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def feasible(self) -> bool:
        return not self.errors


def make_plan(spec: Spec) -> Plan:
    warnings: list[str] = []
    errors: list[str] = []
    facts = _model_facts(spec, errors)
    gpu = gpu_table.lookup(spec.hardware.gpu)
    if gpu is None:
        known = ", ".join(gpu_table.GPUS)
        raise PlanError([f"hardware.gpu: unknown GPU {spec.hardware.gpu!r}; known: {known}"])
    gpu_gib = gpu.memory_gib if spec.hardware.gpus > 0 else 0.0

    attention = _attention(spec, gpu, errors)
    _check_eval(spec, errors)
    train = _plan_train(spec, facts, gpu_gib, attention, warnings, errors)
    layout = _plan_layout(spec, facts, gpu_gib, errors)
    _check_lora_serving(spec, facts, errors)
    served = served_name(spec)
    base = lora_base_name(spec)
    serve = ServePlan(serve_argv(spec, layout, served, facts), serve_env(spec), layout, served, base)
    nodes = plan_cluster(spec, layout, warnings, errors, train.megatron.gpus_per_node if train.megatron else None)
    return Plan(spec, facts, gpu_gib, train, serve, nodes, warnings, errors)


def _check_eval(spec: Spec, errors: list[str]) -> None:
    """ms-swift quietly drops split_dataset_ratio when val_dataset is set, and never evaluates without
    validation data: say so here instead of after hours."""
    t = spec.train
    if t.val_dataset and t.split_dataset_ratio:
        errors.append(
            spec.at(
                "train.split_dataset_ratio",
                "train.split_dataset_ratio and train.val_dataset both name validation data; ms-swift would ignore "
                "the ratio: keep one",
            )
        )
    mounts = [spec.volumes.data.mount.rstrip("/") + "/", spec.volumes.checkpoints.mount.rstrip("/") + "/"]
    for i, path in enumerate(spec.eval.dataset):
        if not any(path.startswith(m) for m in mounts):
            errors.append(
                spec.at(
                    f"eval.dataset.{i}",
                    f"eval.dataset entry {path} is on neither volume the eval container mounts: put it under "
                    f"{mounts[0]} (volumes.data) or {mounts[1]} (volumes.checkpoints)",
                )
            )
    if spec.k8s.tensorboard and "tensorboard" not in t.report_to:
        errors.append(
            spec.at(
                "k8s.tensorboard",
                "k8s.tensorboard shows what training writes for TensorBoard, and train.report_to has no "
                "tensorboard: add it, or turn k8s.tensorboard off",
            )
        )
    if t.eval_steps and not (t.val_dataset or t.split_dataset_ratio):
        errors.append(
            spec.at(
                "train.eval_steps",
                "train.eval_steps has nothing to evaluate: set train.val_dataset, or train.split_dataset_ratio "
                "(e.g. 0.02) to hold out part of train.dataset",
            )
        )


def _check_lora_serving(spec: Spec, m: ModelFacts | None, errors: list[str]) -> None:
    """serve.lora: adapter: vLLM serves the adapter beside the base (builder/facts/lora.py)."""
    if spec.serve.lora != "adapter":
        return
    if spec.train.tuner != "lora":
        errors.append(
            spec.at(
                "serve.lora",
                f"serve.lora: adapter serves a LoRA adapter, and train.tuner is {spec.train.tuner} (its checkpoints "
                "are whole models, served as they are): remove serve.lora, or set train.tuner: lora",
            )
        )
        return
    rank = spec.train.lora_rank
    if lora_facts.max_lora_rank(rank) is None:
        errors.append(
            spec.at(
                "train.lora_rank",
                f"train.lora_rank {rank} is above what vLLM serves as an adapter (--max-lora-rank at most "
                f"{lora_facts.MAX_LORA_RANKS[-1]}): lower it, or serve the merged model (serve.lora: merged)",
            )
        )
    if uses_cpu_vllm(spec) and m is not None and not lora_facts.cpu_vllm_serves_lora(m.is_moe):
        errors.append(
            spec.at(
                "serve.lora",
                f"serve.lora: adapter with {spec.stack.vllm}: its MoE LoRA path needs Triton, which the CPU build "
                "lacks (the first request fails); serve the merged model (serve.lora: merged) on the CPU stack",
            )
        )


def _model_facts(spec: Spec, errors: list[str]) -> ModelFacts | None:
    """The model's architecture: a local config.json, the catalog, or the hub's config.json (cached)."""
    try:
        facts = model_table.lookup(spec.model.id, spec.model.config_path)
    except (OSError, ValueError, KeyError) as exc:
        where = spec.where("model.config_path")
        raise SpecError([Problem("model.config_path", f"cannot read the model config: {exc}", where)]) from None
    if facts is not None:
        return facts
    if spec.model.id.startswith("/"):  # a path inside the containers: nothing here to read it from
        errors.append(
            spec.at(
                "model.id",
                f"model {spec.model.id}: no config.json to plan from (the path is inside the containers), so memory "
                "and layout are unknown: set model.config_path to a copy of its config.json (render --force skips this)",
            )
        )
        return None
    config, where = hub_config.fetch(spec.model.hub, spec.model.id, spec.model.endpoint)
    if config is not None:
        try:
            return model_table.facts_from_config(config, where)
        except (KeyError, ValueError, TypeError) as exc:
            where = f"its config.json lacks {exc}"
    errors.append(
        spec.at(
            "model.id",
            f"model {spec.model.id!r} is not in the catalog and its config.json could not be read from the hub "
            f"({where}), so memory and layout are unknown: set model.config_path to a local config.json, or make the "
            f"hub reachable (model.endpoint for a mirror, {hub_config.TOKENS[spec.model.hub]} for a gated model); "
            "render --force skips this",
        )
    )
    return None


def _attention(spec: Spec, gpu: gpu_table.Gpu, errors: list[str]) -> Attention:
    """The attention kernel and packing: the fastest kernel the GPU runs and the image holds (facts/kernels.py).
    Packing bin-packs rows into max_length sequences: no padding and no short rows, measured 3.5-3.8x tokens/s
    with FA4 on H200 (docs/benchmarks.md); ms-swift allows it only with a flash-attention kernel."""
    t = spec.train
    arch = gpu.arch if spec.hardware.gpus > 0 else None
    have = kernels.kernels_in(spec.stack.flash_attn)
    if t.attn_impl != "auto":
        impl: str = t.attn_impl
        reason = "set in the spec"
        if impl in kernels.PACKAGE_OF:
            if impl not in have:
                errors.append(
                    spec.at(
                        "train.attn_impl",
                        f"train.attn_impl={impl} needs {kernels.PACKAGE_OF[impl]} in the training image: "
                        f"add it to stack.flash_attn, or use train.attn_impl=auto",
                    )
                )
            elif arch not in kernels.RUNS_ON[impl]:
                errors.append(
                    spec.at(
                        "train.attn_impl",
                        f"train.attn_impl={impl} has no kernels for {spec.hardware.gpu} ({arch or 'CPU'}); "
                        f"it runs on {', '.join(kernels.RUNS_ON[impl])}. Use train.attn_impl=auto",
                    )
                )
    elif arch is None:
        impl, reason = "sdpa", "CPU run: no flash attention"
    else:
        picks = [k for k in have if arch in kernels.AUTO_ARCHS[k]]
        if picks:
            impl, reason = picks[0], f"fastest kernel for {spec.hardware.gpu} ({arch}) in the image"
        elif not have:
            impl, reason = "sdpa", "the image holds no flash attention (stack.flash_attn is empty)"
        else:
            impl = "sdpa"
            reason = (
                f"{', '.join(have)} in the image, but not tuned for {spec.hardware.gpu} ({arch}) upstream and "
                f"unmeasured here; set train.attn_impl={have[0]} to try it"
            )
    if t.packing == "auto":
        packing = impl in kernels.PACKING_KERNELS
        reason += "; packing on" if packing else "; packing off (ms-swift packs only with flash attention)"
    else:
        packing = t.packing
        if packing and impl not in kernels.PACKING_KERNELS:
            errors.append(
                spec.at(
                    "train.packing",
                    f"train.packing=true needs a flash-attention kernel (ms-swift 4.6 refuses it with {impl}); "
                    f"set train.attn_impl to one of {', '.join(kernels.PACKING_KERNELS)} or train.packing=auto",
                )
            )
    if t.tokens_per_step is not None and not packing:
        errors.append(
            spec.at(
                "train.tokens_per_step",
                "train.tokens_per_step needs packing (unpacked rows vary in length, so no accumulation count "
                "gives a fixed number of tokens); set train.packing or drop tokens_per_step",
            )
        )
    return Attention(impl, packing, reason)


def _grad_accum_for_tokens(spec: Spec, micro_batch: int, grad_accum: int, packing: bool) -> int:
    """train.tokens_per_step with packing: every micro-batch is one max_length row, so a step of N accumulated
    micro-batches on W GPUs holds N x W x micro_batch x max_length tokens."""
    want = spec.train.tokens_per_step
    if want is None or not packing:
        return grad_accum
    per_micro = spec.train.max_length * micro_batch * max(spec.hardware.gpus, 1) * spec.k8s.nodes
    return max(1, round(want / per_micro))


def _plan_train(
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
        return _fits_gpu(est, gpu_gib) and (host is None or est.host_gib <= host * HEADROOM)

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
                    f"(planning tensors to {HEADROOM:.0%}, with the reserve to {DEVICE_HEADROOM:.0%}). "
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
        if host is not None and chosen.host_gib > host * HEADROOM:
            errors.append(
                spec.at(
                    "hardware.host_memory_gib",
                    f"the CPU run needs ~{chosen.host_gib:.0f} GiB of host RAM, hardware.host_memory_gib is {host:.0f}: "
                    "lower train.max_length, use train.tuner=lora, or train on GPUs",
                )
            )
    ckpt = memory.checkpoint_gib(m, lora_rank=lora_rank) if m else None
    if ckpt:
        _check_volumes(spec, m, ckpt, errors)
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
    _check_volumes(spec, m, ckpt, errors)
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


_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50,
          "K": 1e3, "M": 1e6, "G": 1e9, "T": 1e12, "P": 1e15, "": 1}  # fmt: skip


def quantity_gib(size: str) -> float:
    """A Kubernetes quantity (the spec's volume sizes: '1500Gi', '2T') in GiB."""
    number, unit = re.fullmatch(r"([0-9.]+)([A-Za-z]*)", size).groups()  # type: ignore[union-attr]
    return float(number) * _UNITS[unit] / 2**30


def _check_volumes(spec: Spec, m: ModelFacts | None, ckpt: float, errors: list[str]) -> None:
    """Each volume's size (the PVC k8s gets) against what the plan will write there."""
    t = spec.train
    needs = {"checkpoints": (ckpt * (t.save_total_limit + 1), f"{t.save_total_limit}+1 checkpoints x {ckpt:.0f} GiB")}
    if m is not None:  # the base model's weights in the hub cache (bf16)
        needs["model_cache"] = (
            m.total_params * 2 / memory.GIB,
            f"the base model's {m.total_params / 1e9:.1f}B bf16 weights",
        )
    for key, (need, what) in needs.items():
        size = getattr(spec.volumes, key).size
        if quantity_gib(size) < need:
            lever = " or lower train.save_total_limit" if key == "checkpoints" else ""
            errors.append(
                spec.at(
                    f"volumes.{key}.size",
                    f"volumes.{key}.size {size} is less than the ~{need:.0f} GiB the run writes there ({what}): "
                    f"raise volumes.{key}.size{lever}",
                )
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
    return est.gpu_peak_gib <= gpu_gib * HEADROOM and est.device_gib <= gpu_gib * DEVICE_HEADROOM


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


def _plan_layout(spec: Spec, m: ModelFacts | None, gpu_gib: float, errors: list[str]) -> parallel.Layout:
    s = spec.serve
    if spec.k8s.nodes > 1 and m is not None and gpu_gib:
        across = multi_node_layout(spec, m, gpu_gib, errors)
        if across is not None:
            return across
    gpus = max(spec.hardware.gpus, 1)
    if s.quantization and not gpu_gib:
        errors.append(
            spec.at("serve.quantization", f"serve.quantization {s.quantization} needs GPUs (hardware.gpus is 0)")
        )
    bytes_per_param, kv = parallel.serve_bytes(m, s.dtype, s.kv_cache_dtype, s.quantization)
    if m is None:
        tp = s.tensor_parallel if s.tensor_parallel != "auto" else 1
        dp = s.data_parallel if s.data_parallel != "auto" else max(gpus // (tp * s.pipeline_parallel), 1)
        return parallel.Layout(
            tp, s.pipeline_parallel, dp, s.expert_parallel is True, 0.0, 0, "model unknown: not checked"
        )
    auto = parallel.choose(
        m, spec.hardware.gpus, gpu_gib, s.gpu_memory_utilization, s.max_model_len, bytes_per_param, kv
    )
    if (
        s.tensor_parallel == "auto"
        and s.data_parallel == "auto"
        and s.pipeline_parallel == 1
        and s.expert_parallel == "auto"
    ):
        if gpu_gib and auto.kv_cache_tokens < s.max_model_len:
            errors.append(spec.at("serve.max_model_len", _does_not_fit(spec, m, auto, gpu_gib)))
        return auto
    tp = s.tensor_parallel if s.tensor_parallel != "auto" else (1 if s.data_parallel != "auto" else auto.tp)
    pp = s.pipeline_parallel
    dp = s.data_parallel if s.data_parallel != "auto" else max(gpus // (tp * pp), 1)
    ep = s.expert_parallel if s.expert_parallel != "auto" else (m.is_moe and dp * tp > 1)
    problems = parallel.tp_problems(m, tp, ep)
    if ep and not m.is_moe:
        problems.append("serve.expert_parallel needs a mixture-of-experts model")
    if tp * pp * dp > gpus:
        problems.append(f"tp*pp*dp = {tp}*{pp}*{dp} = {tp * pp * dp} exceeds hardware.gpus ({gpus})")
    if pp > m.layers:
        problems.append(f"pipeline_parallel ({pp}) exceeds the model's {m.layers} layers")
    if problems:
        errors.append(
            spec.at(
                "serve.tensor_parallel",
                f"serve layout tp={tp} pp={pp} dp={dp} cannot start: "
                + "; ".join(problems)
                + f". On {gpus} GPUs use instead: {parallel.alternatives(m, gpus)}",
            )
        )
    layout = parallel.evaluate(
        m, tp, pp, dp, ep, gpu_gib, s.gpu_memory_utilization, bytes_per_param, "set in the spec", kv
    )
    if gpu_gib and not problems and layout.kv_cache_tokens < s.max_model_len:
        errors.append(
            spec.at(
                "serve.max_model_len",
                f"serve layout tp={tp} pp={pp}: weights need {layout.weights_gib_per_gpu:.1f} GiB per GPU, leaving "
                f"KV cache for {layout.kv_cache_tokens} tokens < serve.max_model_len {s.max_model_len}",
            )
        )
    return layout


def _does_not_fit(spec: Spec, m: ModelFacts, layout: parallel.Layout, gpu_gib: float) -> str:
    """No layout on these GPUs holds the weights plus one full-length request: say what would."""
    s = spec.serve
    what = (
        f"no serve layout fits on {spec.hardware.gpus} x {spec.hardware.gpu}: even pipeline parallel over all of "
        f"them needs {layout.weights_gib_per_gpu:.1f} GiB of weights per GPU, leaving KV cache for "
        f"{layout.kv_cache_tokens} tokens < serve.max_model_len {s.max_model_len}"
    )
    if s.quantization is None:
        weights, kv = parallel.serve_bytes(m, s.dtype, s.kv_cache_dtype, "fp8")
        fp8 = parallel.choose(m, spec.hardware.gpus, gpu_gib, s.gpu_memory_utilization, s.max_model_len, weights, kv)
        if fp8.kv_cache_tokens >= s.max_model_len:
            return f"{what}; serve.quantization: fp8 would fit ({fp8.weights_gib_per_gpu:.1f} GiB per GPU)"
    return f"{what}; use more GPUs (hardware.gpus, k8s.nodes) or a lower serve.max_model_len"
