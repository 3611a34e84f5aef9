"""`modelforge plan`: the plan as text for a person and as JSON for tools (`plan --json`), from one dict."""

from __future__ import annotations

import json
import shlex

from ..errors import print_errors
from ..facts import megatron as megatron_facts
from . import parallel, serve
from .memory import GIB
from .types import Plan


def _megatron_dict(choice) -> dict | None:
    """The Megatron layout and its estimate (builder/plan/megatron.py), for `plan --json` and the text."""
    if choice is None:
        return None

    def one(e) -> dict:
        lay = e.layout
        return {
            "layout": lay.describe(),
            "tp": lay.tp, "pp": lay.pp, "ep": lay.ep, "etp": lay.etp, "cp": lay.cp, "dp": lay.dp,
            "stages": list(lay.stages), "recompute": lay.recompute, "optimizer_offload": lay.offload,
            "gpus": lay.world,
            "gpu_gib": round(e.gpu_gib, 1), "weights_grads_gib": round(e.weights_grads_gib, 1),
            "optimizer_gib": round(e.optimizer_gib, 1), "activations_gib": round(e.activations_gib, 1),
            "host_gib": round(e.host_gib, 1), "expected_step_s": round(e.step_s, 2),
        }  # fmt: skip

    return {
        **one(choice.best),
        "gpus_per_node": choice.gpus_per_node,
        "global_batch": choice.global_batch,
        "reason": choice.reason,
        "runners_up": [one(e) for e in choice.runners_up],
    }


def _served_model_args(s) -> list[str]:
    """What the entrypoint adds to the server command at start (it knows the newest checkpoint then)."""
    if s.base_name:  # serve.lora: adapter
        return ["<base model>", "--lora-modules", f"{s.served_name}=<newest adapter checkpoint>"]
    return ["<newest checkpoint or base model>"]


def _compare_base(plan: Plan) -> str:
    """What the chat page's compare mode costs: a second server on the base model (ui.base_api)."""
    spec, layout = plan.spec, plan.serve.layout
    if plan.serve.base_name and not spec.ui.base_api:
        return (
            f"the chat page compares {plan.serve.served_name} (the adapter) with {plan.serve.base_name} on the same "
            "server (serve.lora: adapter): no second instance"
        )
    where = f"ui.base_api = {spec.ui.base_api}" if spec.ui.base_api else "set ui.base_api to use it"
    if spec.train.tuner == "lora" and not spec.ui.base_api:
        where += "; or serve.lora: adapter serves base and adapter from one server"
    if spec.hardware.gpus == 0:
        return f"the chat page's compare mode needs a second server on the base model: one more CPU process ({where})"
    gpus = layout.tp * layout.pp  # one replica is enough to compare against
    weights = ""
    if plan.model is not None:
        per_weight, _ = parallel.serve_bytes(
            plan.model, spec.serve.dtype, spec.serve.kv_cache_dtype, spec.serve.quantization
        )
        gib = parallel.weights_per_gpu(plan.model, layout.tp, layout.pp, 1, False, per_weight) / GIB
        weights = f", {gib:.1f} GiB of weights per GPU"
    return (
        f"the chat page's compare mode needs a second server on the base model: one replica on {gpus} more "
        f"{spec.hardware.gpu}{weights}, so on GPUs other than these, or after this server stops ({where})"
    )


def _size(gib: float | None) -> str:
    if gib is None:
        return "unknown"
    return f"{gib:.0f} GiB" if gib >= 1 else f"{gib * 1024:.1f} MiB"


def plan_dict(plan: Plan) -> dict:
    t, s = plan.train, plan.serve
    mem = t.memory
    return {
        "model": {
            "id": plan.spec.model.id,
            "source": plan.model.source if plan.model else None,
            "total_params": plan.model.total_params if plan.model else None,
            "active_params": plan.model.active_params if plan.model else None,
        },
        "hardware": {
            "gpus": plan.spec.hardware.gpus,
            "gpu": plan.spec.hardware.gpu,
            "gpu_memory_gib": plan.gpu_memory_gib,
        },
        "train": {
            "command": t.argv,
            "command_line": shlex.join(t.argv),
            "env": t.env,
            "backend": t.backend,
            "backend_reason": t.backend_reason,
            "megatron": _megatron_dict(t.megatron),
            "deepspeed": t.deepspeed,
            "deepspeed_reason": t.deepspeed_reason,
            "attn_impl": t.attention.impl,
            "packing": t.attention.packing,
            "attention_reason": t.attention.reason,
            "defaults_applied": t.defaults_applied,
            "micro_batch": t.micro_batch,
            "grad_accum": t.grad_accum,
            "tokens_per_step": t.tokens_per_step,
            "model_states_gib": round(mem.model_states_gib, 2) if mem else None,
            "activations_gib": round(mem.activations_gib, 2) if mem else None,
            "gpu_mem_gib": round(mem.gpu_peak_gib, 2) if mem else None,
            "allocator_reserve_gib": round(mem.reserve_gib, 2) if mem else None,
            "device_mem_gib": round(mem.device_gib, 2) if mem else None,
            "host_mem_gib": round(mem.host_gib, 2) if mem else None,
            "checkpoint_gib": round(t.checkpoint_gib, 4) if t.checkpoint_gib else None,
            "output_dir": t.output_dir,
            "fits": t.fits,
        },
        "serve": {
            "command": s.argv,
            "command_line": shlex.join([*s.argv, "--model", *_served_model_args(s)]),
            "env": s.env,
            "served_model_name": s.served_name,
            "base_model_name": s.base_name,
            "tensor_parallel": s.layout.tp,
            "pipeline_parallel": s.layout.pp,
            "data_parallel": s.layout.dp,
            "expert_parallel": s.layout.ep,
            "weights_gib_per_gpu": round(s.layout.weights_gib_per_gpu, 2),
            "kv_cache_tokens": s.layout.kv_cache_tokens,
            "full_length_requests": round(s.layout.kv_cache_tokens / plan.spec.serve.max_model_len, 2),
            "kv_cache_tokens_with_fp8": serve.fp8_cache(plan.spec, plan.model, plan.gpu_memory_gib, s.layout),
            "layout_reason": s.layout.reason,
            "compare_base": _compare_base(plan),
        },
        "volumes": {key: vol.model_dump() for key, vol in plan.spec.volumes},
        "kubernetes": _cluster_dict(plan),
        "warnings": plan.warnings,
        "errors": plan.errors,
    }


def _cluster_dict(plan: Plan) -> dict:
    c = plan.cluster
    return {
        "layout": c.layout,
        "nodes": c.nodes,
        "operator": c.operator,
        "operator_reason": c.operator_reason,
        "nproc_per_node": c.nproc_per_node,
        "train_env": c.train_env,
        "train_args": c.train_args,
        "serve_nodes": c.serve_nodes,
        "serve_replicas": c.serve_replicas,
        "notes": c.notes,
    }


def _count(n: int) -> str:
    return f"{n / 1e9:.2f}B" if n >= 1e9 else f"{n / 1e6:.2f}M"


def show(plan: Plan, as_json: bool) -> int:
    """Print the plan; exit 1 when it cannot run (its errors on stderr), else 0."""
    data = plan_dict(plan)
    if as_json:
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0 if plan.feasible else 1
    t, s = data["train"], data["serve"]
    m = data["model"]
    lines = [f"model     {m['id']}"]
    if m["total_params"]:
        lines.append(
            f"          {_count(m['total_params'])} params, {_count(m['active_params'])} active ({m['source']})"
        )
    hw = data["hardware"]
    lines.append(
        f"hardware  {hw['gpus']} x {hw['gpu']} ({hw['gpu_memory_gib']:.0f} GiB each)"
        if hw["gpus"]
        else "hardware  CPU only (hardware.gpus 0)"
    )
    mg = t["megatron"]
    backend = [f"  backend     {t['backend']} ({t['backend_reason']})"]
    if mg:
        backend += [
            f"  layout      {mg['layout']} on {mg['gpus']} GPUs ({mg['reason']})",
            f"  per GPU     {mg['gpu_gib']:.1f} GiB = {mg['weights_grads_gib']:.1f} weights and grads + "
            f"{mg['optimizer_gib']:.1f} optimizer + {mg['activations_gib']:.1f} activations + CUDA context "
            f"(largest stage; formula in builder/plan/megatron.py, within 2.3 % of torch's peak on one H200)"
            + (f"; host RAM {mg['host_gib']:.0f} GiB" if mg["host_gib"] else ""),
            f"  expected    ~{mg['expected_step_s']:.1f} s per step of {mg['global_batch']} rows (MFU and recompute "
            "cost measured on one H200; communication and offload rates assumed)",
        ]
        backend += [f"  also fits   {r['layout']} ({r['gpu_gib']:.0f} GiB, ~{r['expected_step_s']:.1f} s)"
                    for r in mg["runners_up"]]  # fmt: skip
    else:
        backend.append(f"  deepspeed   {t['deepspeed']} ({t['deepspeed_reason']})")
    lines += [
        "",
        "TRAIN",
        *backend,
        (
            f"  attention   Megatron's attention_backend {megatron_facts.ATTENTION_BACKEND} (cuDNN)"
            f"{' + packing' if t['packing'] else ''}"
            if mg
            else f"  attention   {t['attn_impl']}{' + packing' if t['packing'] else ''} ({t['attention_reason']})"
        ),
        (
            f"  batch       {mg['global_batch']} rows per step (micro-batch 1 x {t['grad_accum']} per data-parallel "
            f"rank x dp {mg['dp']})"
            if mg
            else f"  batch       {t['micro_batch']} per {'GPU' if hw['gpus'] else 'process'} x {t['grad_accum']} "
            "accumulated x " + (f"{hw['gpus']} GPU(s)" if hw["gpus"] else "1 CPU process")
        )
        + f"{f' x {plan.spec.k8s.nodes} nodes' if plan.spec.k8s.nodes > 1 else ''}: "
        + (
            f"each optimizer step holds ~{t['tokens_per_step']:,} tokens (packed rows of "
            f"{plan.spec.train.max_length}; more per step and fewer steps than unpacked rows: "
            "train.tokens_per_step sets it)"
            if t["packing"]
            else f"each optimizer step holds up to {t['tokens_per_step']:,} tokens (rows of up to "
            f"{plan.spec.train.max_length}, padding not counted)"
        ),
    ]
    if t["gpu_mem_gib"] is not None and not hw["gpus"]:
        lines.append(
            f"  memory      ~{t['host_mem_gib']:.1f} GiB of host RAM = {t['model_states_gib']:.1f} model states "
            f"+ {t['activations_gib']:.1f} activations (CPU run)   one checkpoint {_size(t['checkpoint_gib'])}"
        )
    elif t["gpu_mem_gib"] is not None:
        lines.append(
            f"  per GPU     {t['gpu_mem_gib']:.1f} GiB peak = {t['model_states_gib']:.1f} model states "
            f"+ {t['activations_gib']:.1f} activations + CUDA context; "
            f"{t['device_mem_gib']:.1f} with the caching allocator's reserve"
        )
        lines.append(f"  host RAM    {t['host_mem_gib']:.0f} GiB   one checkpoint {_size(t['checkpoint_gib'])}")
    for applied in t["defaults_applied"]:
        lines.append(f"  default     {applied}")
    lines.append(f"  output      {t['output_dir']}")
    lines.append("  env         " + " ".join(f"{k}={shlex.quote(v)}" for k, v in t["env"].items()))
    lines.append("  command     " + t["command_line"])
    lines += [
        "",
        "SERVE",
        f"  layout      tp={s['tensor_parallel']} pp={s['pipeline_parallel']} dp={s['data_parallel']} "
        f"ep={'on' if s['expert_parallel'] else 'off'} ({s['layout_reason']})",
    ]
    if s["kv_cache_tokens"]:
        lines.append(
            f"  per GPU     {s['weights_gib_per_gpu']:.1f} GiB weights, KV cache ~{s['kv_cache_tokens']:,} tokens per replica"
            f" ({s['full_length_requests']:.1f} requests at the full serve.max_model_len)"
        )
    if s["kv_cache_tokens_with_fp8"]:
        room = ", ".join(f"~{tokens:,} with {key}" for key, tokens in s["kv_cache_tokens_with_fp8"].items())
        lines.append(
            f"  fp8 option  KV cache {room} (opt-in: FP8 changes the model's numbers; speed and quality measured in "
            "docs/benchmarks.md)"
        )
    lines.append("  command     " + s["command_line"])
    lines.append("  compare     " + s["compare_base"])
    kube = data["kubernetes"]
    if kube and kube["layout"] == "multi-node":  # across nodes (issue 9): builder/plan/cluster.py
        lines += [
            "",
            "KUBERNETES (k8s/overlays/multi-node)",
            f"  training    {kube['nodes']} node(s) x {kube['nproc_per_node']} process(es): "
            f"{kube['operator']} ({kube['operator_reason']})",
            f"  serving     {kube['serve_replicas']} instance(s) of {kube['serve_nodes']} node(s) "
            f"({'LeaderWorkerSet' if kube['serve_nodes'] > 1 else 'Deployment'})",
            "  train env   "
            + " ".join(f"{k}={shlex.quote(v)}" for k, v in kube["train_env"].items())
            + ("  + " + shlex.join(kube["train_args"]) if kube["train_args"] else ""),
        ]
        lines += [f"  note        {note}" for note in kube["notes"]]
    lines += ["", "VOLUMES"] + [
        f"  {key:<12}{vol['mount']:<14}{vol['host_path'] or 'volume'}  {vol['size']}"
        for key, vol in data["volumes"].items()
    ]
    for warning in data["warnings"]:
        lines.append(f"warning: {warning}")
    print("\n".join(lines))
    print_errors(data["errors"])
    return 0 if plan.feasible else 1
