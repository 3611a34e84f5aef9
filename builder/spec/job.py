"""The job's own sections: the model, the hardware, training (with Megatron's knobs) and serving."""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import Field, StringConstraints, field_validator

from ..facts import vllm
from ..fields import (
    PLANNED_SERVE_FLAGS,
    PLANNED_TRAIN_FLAGS,
    ArgValue,
    EnvName,
    Slug,
    Url,
    check_extra_args,
    dataset_entry,
    no_planned_flags,
    no_secrets_in_env,
)
from .base import Strict


class ModelSpec(Strict):
    id: str = Field(
        "Qwen/Qwen3-30B-A3B-Thinking-2507",
        description="Hub id (org/name) or an absolute path inside the containers (e.g. /models/my-model).",
        pattern=r"^([A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*|/[^\x00\n\r]+)$",
        max_length=512,
    )
    hub: Literal["modelscope", "huggingface"] = "modelscope"
    model_type: str | None = Field(
        None, pattern=r"^[a-z0-9_]+$", description="ms-swift --model_type; default: from the catalog"
    )
    template: str | None = Field(
        None, pattern=r"^[a-z0-9_]+$", description="ms-swift --template; default: from the catalog"
    )
    served_name: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._/-]*$", max_length=128)
    config_path: str | None = Field(
        None, description="Local config.json (or its folder) for planning a model the catalog lacks."
    )
    endpoint: Url | None = Field(
        None,
        description="Hub mirror, e.g. https://hf-mirror.com (HF_ENDPOINT) or a ModelScope mirror (MODELSCOPE_ENDPOINT)",
    )


class HardwareSpec(Strict):
    gpus: int = Field(5, ge=0, le=1024, description="GPUs per node; 0 = CPU only (smoke runs)")
    gpu: str = Field("H200", description="GPU model name, e.g. H200, H100-80GB, A100-80GB, L40S, RTX4090")

    @field_validator("gpu")
    @classmethod
    def _known_gpu(cls, value: str) -> str:
        from ..facts import gpus  # the table of GPUs the planner knows (facts/gpus.py)

        if gpus.lookup(value) is None:
            close = difflib.get_close_matches(value.upper(), list(gpus.GPUS), n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise ValueError(f"unknown GPU {value!r}; {hint}known: {', '.join(gpus.GPUS)}")
        return value

    host_memory_gib: float | None = Field(None, gt=0, description="Host RAM, when known (offload planning)")
    disk_free_gib: float | None = Field(None, gt=0, description="Free disk on the checkpoint volume, when known")


Tracker = Literal["tensorboard", "wandb", "mlflow", "swanlab"]  # builder/facts/trackers.py: what each needs


class MegatronSpec(Strict):
    """train.backend: megatron: the layout; each auto is the planner's (builder/plan/megatron.py, `modelforge plan`)."""

    gpus: Literal["auto"] | Annotated[int, Field(ge=1, le=1024)] = Field(
        "auto", description="GPUs per node to train on: auto may use fewer than hardware.gpus when that is faster"
    )
    tensor_parallel: Literal["auto"] | Annotated[int, Field(ge=1, le=64)] = "auto"
    pipeline_parallel: Literal["auto"] | Annotated[int, Field(ge=1, le=512)] = "auto"
    expert_parallel: Literal["auto"] | Annotated[int, Field(ge=1, le=1024)] = "auto"
    expert_tensor_parallel: Literal["auto"] | Annotated[int, Field(ge=1, le=64)] = "auto"
    context_parallel: Literal["auto"] | Annotated[int, Field(ge=1, le=64)] = "auto"
    first_stage_layers: int | None = Field(
        None, ge=1, description="Uneven pipeline: layers on the first stage (the rest split evenly, last set apart)"
    )
    last_stage_layers: int | None = Field(None, ge=1, description="Uneven pipeline: layers on the last stage")
    recompute: Literal["auto"] | bool = Field("auto", description="Full activation recompute, one layer at a time")
    optimizer_offload: Literal["auto"] | bool = Field(
        "auto", description="Optimizer states in host RAM (--optimizer_cpu_offload, precision-aware optimizer)"
    )


class TrainSpec(Strict):
    tuner: Literal["full", "lora"] = "full"
    backend: Literal["auto", "deepspeed", "megatron"] = Field(
        "auto",
        description="deepspeed: swift sft with DeepSpeed ZeRO; megatron: megatron sft (Megatron-SWIFT, needs "
        "stack.megatron in the image). auto: Megatron for MoE models when the image has it and a layout fits, "
        "else DeepSpeed; `modelforge plan` says why",
    )
    megatron: MegatronSpec = MegatronSpec()
    deepspeed: Literal["auto", "none", "zero2", "zero3", "zero2_offload", "zero3_offload"] = "auto"
    dataset: list[str] = Field(
        default_factory=lambda: ["liucong/Chinese-DeepSeek-R1-Distill-data-110k#1000"], min_length=1
    )
    val_dataset: list[str] = Field(
        default_factory=list,
        description="Validation data, written like dataset (hub ids or container paths): ms-swift --val_dataset",
    )
    split_dataset_ratio: float = Field(
        0.0,
        ge=0,
        lt=1,
        description="Hold out this share of dataset for validation (ms-swift --split_dataset_ratio); "
        "an alternative to val_dataset, not both",
    )
    eval_steps: int | None = Field(
        None, ge=1, description="Evaluate on the validation data every N steps (ms-swift's default: save_steps)"
    )
    report_to: list[Tracker] = Field(
        default_factory=lambda: ["tensorboard"],  # type: ignore[arg-type,list-item]
        min_length=1,
        description="Experiment trackers (ms-swift --report_to). Their keys (WANDB_API_KEY, SWANLAB_API_KEY, "
        "MLFLOW_TRACKING_*) come from the environment (compose) or the Secret (k8s), never the spec; "
        "where to send runs goes in train.env (e.g. MLFLOW_TRACKING_URI, WANDB_PROJECT)",
    )
    max_length: int = Field(8192, ge=16, le=1_048_576)
    learning_rate: float = Field(1e-5, gt=0, lt=1)
    epochs: float = Field(1, gt=0, le=1000)
    max_steps: int | None = Field(None, ge=1)
    per_device_batch_size: Literal["auto"] | Annotated[int, Field(ge=1, le=4096)] = Field(
        "auto", description="auto: 2 when ZeRO-3 (or no offload) still fits, else 1 (bench: +56-59% tokens/s at 2)"
    )
    gradient_accumulation_steps: int = Field(
        4, ge=1, le=65536, description="at per_device_batch_size 1; auto batch 2 halves it, keeping the global batch"
    )
    gradient_checkpointing: bool = True
    attn_impl: Literal["auto", "flash_attention_4", "flash_attention_3", "flash_attention_2", "sdpa", "eager"] = Field(
        "auto",
        description="auto: the fastest kernel the GPU runs and the image holds (FA4 on Hopper/Blackwell), "
        "else sdpa; `modelforge plan` says why",
    )
    packing: Literal["auto"] | bool = Field(
        "auto",
        description="Bin-pack rows into max_length sequences (ms-swift --packing). auto: on wherever the "
        "attention kernel allows it (flash attention); measured 3.5-3.8x tokens/s with FA4 on H200",
    )
    tokens_per_step: int | None = Field(
        None,
        ge=1,
        description="With packing: derive gradient accumulation so each optimizer step holds about this "
        "many tokens (e.g. the unpacked run's). Default: keep gradient_accumulation_steps, so steps get larger",
    )
    save_steps: int = Field(50, ge=1)
    save_total_limit: int = Field(2, ge=1, le=1000)
    logging_steps: int = Field(5, ge=1)
    torch_dtype: Literal["bfloat16", "float16", "float32"] = "bfloat16"
    lora_rank: int = Field(8, ge=1, le=4096)
    lora_alpha: int = Field(32, ge=1)
    target_modules: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.*-]+$", max_length=128)]] | None = (
        Field(
            None,
            min_length=1,
            description="LoRA's target modules (ms-swift --target_modules). Default: the tuner's usual, all-linear",
        )
    )
    dataloader_num_workers: int = Field(4, ge=0, le=256)
    run_name: Slug = Field("run", description="Folder under the checkpoint volume that holds this run")
    extra_args: dict[str, ArgValue] = Field(default_factory=dict, description="Passed to `swift sft` as --key value")
    env: dict[EnvName, str] = Field(default_factory=dict, description="Extra environment for training (no secrets)")

    @field_validator("dataset", "val_dataset")
    @classmethod
    def _no_blank_dataset(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item.strip() or any(c in item for c in "\n\r\x00"):
                raise ValueError(f"dataset entry {item!r} is blank or holds a control character")
            dataset_entry(item)
        return value

    _env_ok = field_validator("env")(classmethod(lambda cls, v: no_secrets_in_env(v)))

    _args_ok = field_validator("extra_args")(
        classmethod(lambda cls, v: no_planned_flags(check_extra_args(v), PLANNED_TRAIN_FLAGS, "train"))
    )


class ServeSpec(Strict):
    tensor_parallel: Literal["auto"] | int = "auto"
    data_parallel: Literal["auto"] | int = "auto"
    pipeline_parallel: int = Field(1, ge=1, le=64)
    expert_parallel: Literal["auto"] | bool = "auto"
    port: int = Field(8000, ge=1, le=65535)
    bind_address: str = Field(
        "127.0.0.1", pattern=r"^[0-9a-fA-F.:]+$", description="Host address compose publishes the port on"
    )
    max_model_len: int = Field(32768, ge=16, le=1_048_576)
    gpu_memory_utilization: float = Field(vllm.GPU_MEMORY_UTILIZATION, gt=0, le=1, description="vLLM's default")
    max_num_seqs: int | None = Field(None, ge=1)
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = "auto"
    kv_cache_dtype: Literal["auto", "fp8"] = Field(
        "auto",
        description="KV-cache storage: auto = the model's dtype; fp8 = half the bytes per token, about twice the "
        "tokens in the cache (more concurrent long requests), at some accuracy cost (docs/benchmarks.md)",
    )
    quantization: Literal["fp8"] | None = Field(
        None,
        description="Weights: null = the model's dtype; fp8 = vLLM quantizes the linear layers to FP8 at load "
        "(about half the weight memory, faster decode; Ada/Hopper or newer run FP8 matmuls, Ampere weight-only "
        "FP8); accuracy cost measured in docs/benchmarks.md",
    )
    reasoning_parser: str | None = Field("auto", pattern=r"^[a-z0-9_]+$")
    model_source: Literal["latest_checkpoint", "base"] = Field(
        "latest_checkpoint",
        description="Serve the newest complete checkpoint (base model until one exists), or always the base",
    )
    lora: Literal["merged", "adapter"] = Field(
        "merged",
        description="LoRA runs: merged = serve <output_dir>/merged (make merge; fastest to serve); adapter = one "
        "server for both models: the base as <served name>-base and the newest adapter as the served name "
        "(vLLM --enable-lora), no merge step, the chat page compares the two",
    )
    extra_args: dict[str, ArgValue] = Field(default_factory=dict, description="Passed to vLLM as --key value")
    env: dict[EnvName, str] = Field(default_factory=dict, description="Extra environment for the server (no secrets)")

    _env_ok = field_validator("env")(classmethod(lambda cls, v: no_secrets_in_env(v)))
    _args_ok = field_validator("extra_args")(
        classmethod(lambda cls, v: no_planned_flags(check_extra_args(v), PLANNED_SERVE_FLAGS, "serve"))
    )

    @field_validator("tensor_parallel", "data_parallel")
    @classmethod
    def _positive(cls, value: Any) -> Any:
        if isinstance(value, int) and value < 1:
            raise ValueError("must be 'auto' or an integer >= 1")
        return value
