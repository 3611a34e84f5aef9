"""The spec's field types and value rules, one place for each: the patterns that keep spec values from
breaking a Dockerfile line or a shell word, secret detection, the extra_args flags the planner owns, and
ms-swift's dataset syntax. spec/ builds its sections from these; load.py reuses the secret rules."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints

# Versions and image references land on Dockerfile ARG lines: no spaces, quotes or newlines.
Version = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9.+!_-]*$", max_length=64)]
ImageRef = Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9._/:@-]*$", max_length=255)]


# A base image, optionally pinned by digest (name:tag@sha256:<64 hex>): the digest, not the tag, is what a
# rebuild gets, so a pinned base makes the images reproducible.
def _base_image(value: str) -> str:
    name, at, digest = value.partition("@")
    if not re.fullmatch(r"[a-z0-9][a-z0-9._/:-]*", name):
        raise ValueError(f"{value!r} is not an image name (lowercase name[:tag], optionally @sha256:<digest>)")
    if at and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise ValueError(
            f"the digest {digest!r} must be sha256: followed by 64 lowercase hex characters "
            "(docker buildx imagetools inspect NAME:TAG shows it)"
        )
    return value


BaseImageRef = Annotated[str, StringConstraints(max_length=255), AfterValidator(_base_image)]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$")]
PackageSpec = Annotated[
    str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?([=<>!~]=?[A-Za-z0-9.+*!_-]+)?$")
]
# No user:password@ in the host part: URLs land in build args (image history) and ConfigMaps.
Url = Annotated[str, StringConstraints(pattern=r"^(https?|file)://[^\s'\"\\`$@/]*(/[^\s'\"\\`$]*)?$", max_length=1024)]
ContainerPath = Annotated[str, StringConstraints(pattern=r"^/[A-Za-z0-9._/-]*$", max_length=1024)]
Quantity = Annotated[str, StringConstraints(pattern=r"^[0-9]+(\.[0-9]+)?(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P)?$")]
ArgValue = str | int | float | bool
EnvName = Annotated[str, StringConstraints(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$", max_length=128)]
SECRET_WORDS = ("TOKEN", "SECRET", "PASSWORD", "API_KEY", "APIKEY", "CREDENTIAL")
# The shapes of real tokens (Hugging Face, OpenAI-style sk-, ModelScope, GitHub, AWS): a secret whatever its name.
SECRET_VALUE = re.compile(
    r"(?<![A-Za-z0-9])(hf_[A-Za-z0-9]{30,}|sk-[A-Za-z0-9_-]{20,}|ms-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-"
    r"[0-9a-f]{4}-[0-9a-f]{12}|gh[pousr]_[A-Za-z0-9]{30,}|AKIA[0-9A-Z]{16})"
)


def no_secrets_in_env(env: dict[str, str]) -> dict[str, str]:
    for name, value in env.items():
        if any(word in name.upper() for word in SECRET_WORDS) or SECRET_VALUE.search(value):
            raise ValueError(
                f"{name} looks like a secret (by its name or its value, not repeated here); secrets never go in the spec. "
                "Set it in the shell or .env for compose, or in the k8s Secret (see README 'Secrets')"
            )
    return env


def check_extra_args(args: dict[str, Any]) -> dict[str, Any]:
    for name in args:
        if not re.fullmatch(r"[a-z][a-z0-9_-]*", name):
            raise ValueError(
                f"extra_args key {name!r} must be a flag name without dashes in front, like 'warmup_ratio'"
            )
        if any(word.lower() in name.replace("-", "_") for word in SECRET_WORDS) or SECRET_VALUE.search(str(args[name])):
            raise ValueError(
                f"extra_args key {name!r} would put a secret on the command line; it comes from the environment"
            )
    return args


# Flags the planner sets: in extra_args they would replace a planned value without a re-check (issue 17),
# so they are refused, naming the spec key that owns each. A key with an empty owner is fixed by design.
PLANNED_TRAIN_FLAGS = {
    "model": "model.id", "model_type": "model.model_type", "template": "model.template",
    "tuner_type": "train.tuner", "train_type": "train.tuner (ms-swift 4 renamed --train_type to --tuner_type)",
    "torch_dtype": "train.torch_dtype", "deepspeed": "train.deepspeed", "dataset": "train.dataset",
    "val_dataset": "train.val_dataset", "split_dataset_ratio": "train.split_dataset_ratio",
    "eval_steps": "train.eval_steps", "report_to": "train.report_to",
    "max_length": "train.max_length", "per_device_train_batch_size": "train.per_device_batch_size",
    "gradient_accumulation_steps": "train.gradient_accumulation_steps or train.tokens_per_step",
    "learning_rate": "train.learning_rate", "num_train_epochs": "train.epochs", "max_steps": "train.max_steps",
    "gradient_checkpointing": "train.gradient_checkpointing", "attn_impl": "train.attn_impl",
    "packing": "train.packing", "padding_free": "train.packing", "save_steps": "train.save_steps",
    "save_total_limit": "train.save_total_limit", "logging_steps": "train.logging_steps",
    "dataloader_num_workers": "train.dataloader_num_workers", "lora_rank": "train.lora_rank",
    "lora_alpha": "train.lora_alpha", "target_modules": "train.target_modules",
    "output_dir": "volumes.checkpoints.mount and train.run_name",
    "logging_dir": "", "add_version": "", "check_model": "", "external_plugins": "",
}  # fmt: skip
PLANNED_SERVE_FLAGS = {
    "tensor_parallel_size": "serve.tensor_parallel", "tp": "serve.tensor_parallel",
    "pipeline_parallel_size": "serve.pipeline_parallel", "pp": "serve.pipeline_parallel",
    "data_parallel_size": "serve.data_parallel", "dp": "serve.data_parallel",
    "enable_expert_parallel": "serve.expert_parallel", "max_model_len": "serve.max_model_len",
    "gpu_memory_utilization": "serve.gpu_memory_utilization", "max_num_seqs": "serve.max_num_seqs",
    "dtype": "serve.dtype", "reasoning_parser": "serve.reasoning_parser", "port": "serve.port",
    "kv_cache_dtype": "serve.kv_cache_dtype", "quantization": "serve.quantization", "q": "serve.quantization",
    "served_model_name": "model.served_name", "host": "", "model": "model.id",
    "enable_lora": "serve.lora", "max_lora_rank": "serve.lora", "max_loras": "serve.lora",
    "lora_modules": "serve.lora", "lora_target_modules": "serve.lora",
}  # fmt: skip


def no_planned_flags(args: dict[str, Any], planned: dict[str, str], section: str) -> dict[str, Any]:
    for name in args:
        owner = planned.get(name.replace("-", "_"))
        if owner is None:
            continue
        if owner:
            raise ValueError(
                f"--{name} is planned from {owner}: set that instead, so the plan checks it (memory, layout)"
            )
        raise ValueError(f"--{name} is set by ModelForge itself and cannot be overridden in {section}.extra_args")
    return args


# ms-swift's dataset syntax: [HF::|MS::]id_or_path[:subset][#N], N the rows to take (a positive integer).
_DATASET_ROWS = re.compile(r"#(.*)$")
_LOCAL_FILE = re.compile(r"\.(jsonl|json|csv|txt|parquet|arrow)(#.*)?$", re.IGNORECASE)


def dataset_entry(entry: str) -> None:
    rows = _DATASET_ROWS.search(entry)
    if rows and not re.fullmatch(r"[1-9][0-9]*", rows.group(1)):
        raise ValueError(f"dataset entry {entry!r}: '#{rows.group(1)}' must be a positive number of rows, like #1000")
    path = re.sub(r"^(HF|MS|hf|ms)::", "", entry)
    if not path.startswith("/") and (path.startswith(("./", "../", "~")) or _LOCAL_FILE.search(path)):
        name = path.split("#")[0].rstrip("/").rsplit("/", 1)[-1]
        raise ValueError(
            f"dataset entry {entry!r} is a relative path, which does not exist inside the container (its workdir is "
            f"/workspace): use the container path under the data volume, e.g. /data/{name} (volumes.data.mount; "
            "compose binds volumes.data.host_path there)"
        )
