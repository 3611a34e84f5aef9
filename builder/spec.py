"""The spec: what a user writes in modelforge.yaml, as pydantic models.

Everything here is declarative; defaults are the seed guide's job (full-parameter
fine-tune of Qwen3-30B-A3B-Thinking-2507 on 5 GPUs, then vLLM serving).
Fields whose values end up inside a Dockerfile instruction or an image reference
are held to strict patterns, because a newline there would be a new instruction
(the patterns and the other value rules are in fields.py).
"""

from __future__ import annotations

import difflib
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    StringConstraints,
    field_validator,
    model_validator,
)

from .errors import nearest_source
from .fields import (
    PLANNED_SERVE_FLAGS,
    PLANNED_TRAIN_FLAGS,
    ArgValue,
    BaseImageRef,
    ContainerPath,
    EnvName,
    ImageRef,
    PackageSpec,
    Quantity,
    Slug,
    Url,
    Version,
    check_extra_args,
    dataset_entry,
    no_planned_flags,
    no_secrets_in_env,
)


class Strict(BaseModel):
    """Unknown keys are errors (with a 'did you mean'), never silently dropped."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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
        from .facts import gpus  # the table of GPUs the planner knows (facts/gpus.py)

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
    gpu_memory_utilization: float = Field(0.9, gt=0, le=1)
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


class StackSpec(Strict):
    """Pinned software; each version is proven somewhere (see docs/versions.md)."""

    torch: PackageSpec = "torch==2.11.0"
    torch_index_url: Url | None = "https://download.pytorch.org/whl/cu130"
    ms_swift: PackageSpec = "ms-swift==4.6.0"
    deepspeed: PackageSpec | None = "deepspeed==0.19.8"
    vllm: PackageSpec = "vllm==0.25.1"
    # The version every GPU measurement in docs/benchmarks.md ran with (and the FA4 fix is verified for).
    transformers: PackageSpec | None = "transformers==5.17.0"
    # FlashAttention-4 (CuTe DSL, pure Python wheels, JIT-compiled at first use): what makes packing possible.
    # Empty: no flash attention in the image; the planner then picks sdpa without packing.
    flash_attn: list[PackageSpec] = Field(
        default_factory=lambda: ["flash-attn-4[cu13]==4.0.0b36", "nvidia-cutlass-dsl==4.8.1", "quack-kernels==0.6.5"]
    )
    train_extras: list[PackageSpec] = Field(default_factory=lambda: ["tensorboard"])
    # Megatron-SWIFT (train.backend: megatron) in the training image: its own layer. TransformerEngine's PyTorch
    # part has no wheel and compiles against the torch above (nvcc from the -devel base). Empty: no Megatron.
    megatron: list[PackageSpec] = Field(
        default_factory=list,
        description="e.g. [megatron-core==0.19.2, mcore-bridge==1.6.5, transformer-engine[pytorch]==2.20.2]",
    )
    # modelscope: vLLM downloads the base model through it (VLLM_USE_MODELSCOPE) before a checkpoint exists.
    serve_extras: list[PackageSpec] = Field(default_factory=lambda: ["openai", "modelscope"])
    exclude_packages: list[Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$")]] = Field(
        default_factory=list,
        description="Declared needs left out of the images (e.g. torchvision beside a CPU torch build)",
    )


class ImageSpec(Strict):
    name: ImageRef
    tag: Version = "latest"
    base: BaseImageRef = Field(description="Base image: name:tag, or name:tag@sha256:<digest> to pin it")


class ImagesSpec(Strict):
    registry: str = Field("", pattern=r"^([a-z0-9.-]+(:[0-9]+)?(/[a-z0-9._-]+)*)?$")
    train: ImageSpec = ImageSpec(
        name="modelforge/train", tag="cu130-swift4.6.0", base="nvidia/cuda:13.0.1-cudnn-devel-ubuntu24.04"
    )
    serve: ImageSpec = ImageSpec(
        name="modelforge/serve", tag="cu130-vllm0.25.1", base="nvidia/cuda:13.0.1-base-ubuntu24.04"
    )


class VolumeSpec(Strict):
    mount: ContainerPath
    size: Quantity = "100Gi"
    host_path: str | None = Field(
        None,
        description="Bind-mount this host folder (relative to compose/) instead of a named volume",
        pattern=r"^[^\x00\n\r$]+$",
    )
    storage_class: str | None = Field(None, pattern=r"^[a-z0-9.-]+$")


class VolumesSpec(Strict):
    model_cache: VolumeSpec = VolumeSpec(mount="/models", size="300Gi")
    data: VolumeSpec = VolumeSpec(mount="/data", size="20Gi", host_path="../data")
    checkpoints: VolumeSpec = VolumeSpec(mount="/checkpoints", size="1500Gi")


class BuildSpec(Strict):
    """Build-time network settings: corporate proxies and air-gapped mirrors."""

    pip_index_url: Url | None = None
    pip_extra_index_urls: list[Url] = Field(default_factory=list)
    pip_find_links: list[str] = Field(
        default_factory=list,
        description="Wheelhouse folders inside the build context (relative paths) or URLs",
        max_length=16,
    )
    ca_bundle: str | None = Field(
        None, description="Extra CA bundle (PEM) copied into the build context and trusted by pip"
    )

    @field_validator("pip_find_links")
    @classmethod
    def _safe_links(cls, value: list[str]) -> list[str]:
        for link in value:
            if not link or any(c in link for c in " \t\n\r\"'`$\\"):
                raise ValueError(f"find-links entry {link!r} must be a plain path or URL without spaces or quotes")
        return value


LabelKey = Annotated[
    str,
    StringConstraints(
        pattern=r"^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$"
    ),
]
LabelValue = Annotated[str, StringConstraints(pattern=r"^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$")]


class TolerationSpec(Strict):
    key: LabelKey | None = None
    operator: Literal["Equal", "Exists"] = "Equal"
    value: LabelValue | None = None
    effect: Literal["NoSchedule", "PreferNoSchedule", "NoExecute"] | None = None
    toleration_seconds: int | None = Field(None, ge=0)

    @model_validator(mode="after")
    def _exists_has_no_value(self) -> TolerationSpec:
        if self.operator == "Exists" and self.value:
            raise ValueError("a toleration with operator Exists takes no value")
        if self.key is None and self.operator != "Exists":
            raise ValueError("a toleration without a key needs operator Exists (it then tolerates every taint)")
        return self


class NcclSpec(Strict):
    """NCCL across nodes. The defaults leave NCCL's own detection alone and only make failures readable."""

    socket_ifname: str | None = Field(
        None,
        pattern=r"^[\^=]?[A-Za-z0-9_.:-]+(,[A-Za-z0-9_.:-]+)*$",
        description="NCCL_SOCKET_IFNAME (and GLOO_SOCKET_IFNAME), e.g. eth0 or ^lo,docker; default: NCCL picks",
    )
    ib: Literal["auto", "on", "off"] = Field(
        "auto", description="InfiniBand/RoCE: auto = NCCL detects; off sets NCCL_IB_DISABLE=1"
    )
    ib_hca: str | None = Field(
        None, pattern=r"^[\^=]?[A-Za-z0-9_.:-]+(,[A-Za-z0-9_.:-]+)*$", description="NCCL_IB_HCA, e.g. mlx5"
    )
    debug: Literal["none", "VERSION", "WARN", "INFO"] = Field("WARN", description="NCCL_DEBUG")


class AutoscalingSpec(Strict):
    enabled: bool = Field(
        False, description="HorizontalPodAutoscaler on vLLM's waiting requests (needs a custom-metrics adapter)"
    )
    min_replicas: int = Field(1, ge=1, le=1000)
    max_replicas: int = Field(4, ge=1, le=1000)
    waiting_requests: int = Field(5, ge=1, description="Target vllm:num_requests_waiting per replica")
    metric: str = Field(
        "vllm_num_requests_waiting",
        pattern=r"^[A-Za-z_][A-Za-z0-9_:]*$",
        description="Metric name as the custom-metrics adapter exposes it",
    )


class K8sSpec(Strict):
    namespace: Slug = "modelforge"
    service_type: Literal["ClusterIP", "NodePort", "LoadBalancer"] = "ClusterIP"
    secret_name: Slug = "modelforge-secrets"
    image_pull_secret: Slug | None = Field(
        None,
        description="A docker-registry Secret every pod pulls its image with (a private images.registry); "
        "kubectl create secret docker-registry NAME ... makes it",
    )
    startup_timeout_s: int = Field(
        1800, ge=60, description="How long the server may take to load before it is restarted"
    )
    # Across nodes (issue 9): see builder/plan/cluster.py and README 'Kubernetes across nodes'.
    nodes: int = Field(1, ge=1, le=512, description="Training nodes, each with hardware.gpus GPUs")
    training_operator: Literal["auto", "job", "pytorchjob", "jobset", "trainjob"] = Field(
        "auto", description="auto: a Job on one node, Kubeflow PyTorchJob on several"
    )
    trainer_runtime: Slug = Field(
        "torch-distributed", description="TrainJob only: the ClusterTrainingRuntime to run on"
    )
    master_port: int = Field(29500, ge=1024, le=65535, description="torch rendezvous port (PyTorchJob, JobSet)")
    collective_timeout_s: int = Field(
        1800, ge=60, description="Across nodes: ms-swift --ddp_timeout, so survivors of a lost node fail and restart"
    )
    gang_scheduling: Literal["none", "kueue", "volcano"] = "none"
    queue: Slug = Field("default", description="Kueue LocalQueue or Volcano queue")
    serve_replicas: int = Field(1, ge=1, le=1000, description="vLLM instances behind the Service")
    autoscaling: AutoscalingSpec = AutoscalingSpec()
    monitoring: bool = Field(
        False,
        description="Render a PodMonitor (Prometheus Operator) for the server's /metrics and a Grafana "
        "dashboard ConfigMap (label grafana_dashboard: '1') into k8s/serve/",
    )
    ui: bool = Field(
        False,
        description="Render k8s/ui/: the chat page (Deployment + ClusterIP Service on 7860) in front of the "
        "serving Service, key from the Secret",
    )
    tensorboard: bool = Field(
        False,
        description="Render k8s/tensorboard/: TensorBoard (training image) reading the run's logs from the "
        "checkpoint claim read-only, behind a ClusterIP Service on port 6006",
    )
    monitoring_labels: dict[LabelKey, LabelValue] = Field(
        default_factory=dict,
        description="More labels on the PodMonitor, for the Prometheus that selects it "
        "(kube-prometheus-stack: release: <its release name>)",
    )
    model_download: bool = Field(True, description="A Job fills the model cache once; pods wait for it")
    model_download_timeout_s: int = Field(21600, ge=60, description="How long pods wait for the model download")
    shared_storage_class: str | None = Field(
        None,
        pattern=r"^[a-z0-9.-]+$",
        description="ReadWriteMany storage class for the volumes pods on several nodes share",
    )
    node_selector: dict[LabelKey, LabelValue] = Field(default_factory=dict, description="For every pod")
    tolerations: list[TolerationSpec] = Field(default_factory=list, description="For every pod")
    extra_resources: dict[LabelKey, int] = Field(
        default_factory=dict, description="More limits for GPU pods, e.g. rdma/ib: 1 for an InfiniBand device plugin"
    )
    nccl: NcclSpec = NcclSpec()

    @model_validator(mode="after")
    def _operator_fits(self) -> K8sSpec:
        if self.training_operator == "job" and self.nodes > 1:
            raise ValueError(
                "training_operator 'job' runs one node; with k8s.nodes > 1 use auto, pytorchjob, jobset or trainjob"
            )
        if self.gang_scheduling == "volcano" and self.nodes > 1 and self.training_operator in ("jobset", "trainjob"):
            raise ValueError(
                f"gang_scheduling 'volcano' is wired for pytorchjob (the training operator's Volcano "
                f"integration) and LeaderWorkerSet; with {self.training_operator} use 'kueue'"
            )
        if (
            self.autoscaling.enabled
            and max(self.autoscaling.min_replicas, self.serve_replicas) > self.autoscaling.max_replicas
        ):
            raise ValueError("autoscaling.max_replicas is below autoscaling.min_replicas or serve_replicas (the floor)")
        return self


class EvalSpec(Strict):
    """`modelforge eval`: EvalScope scores the served model (builder/templates/context/evaluate.py)."""

    dataset: list[str] = Field(
        default_factory=list,
        description="Your own eval rows: container paths of JSONL/JSON files on the data volume, in any format "
        "`data check` reads; the last assistant turn is the reference answer. Scored with BLEU and ROUGE "
        "(EvalScope general_qa, main score ROUGE-L recall); works offline",
    )
    benchmarks: list[Annotated[str, Field(pattern=r"^[a-z0-9_]+$")]] = Field(
        default_factory=list,
        description="Named EvalScope benchmarks (gsm8k, mmlu, ifeval, ...): their data comes from ModelScope, "
        "so they need the hub",
    )
    limit: int | None = Field(None, ge=1, description="At most this many rows per dataset (null: all)")
    max_tokens: int = Field(1024, ge=1, description="Longest answer; a thinking model needs room to reason")
    temperature: float = Field(0.0, ge=0, le=2, description="0: greedy, comparable between runs")
    concurrency: int = Field(8, ge=1, le=512, description="Requests in flight")

    @field_validator("dataset")
    @classmethod
    def _local_files(cls, value: list[str]) -> list[str]:
        for item in value:
            if not item.startswith("/") or any(c in item for c in "\n\r\x00#"):
                raise ValueError(
                    f"eval.dataset entry {item!r} must be a container path of a file on the data volume, "
                    "like /data/eval.jsonl (hub datasets go in eval.benchmarks by their EvalScope name)"
                )
        return value


class UiSpec(Strict):
    """The chat page (`make ui`, k8s.ui): builder/templates/context/chatui.py."""

    base_api: str | None = Field(
        None,
        pattern=r"^https?://[A-Za-z0-9._:/-]+$",
        description="Compare mode: the OpenAI URL of a server on the base model, as the page's container sees "
        "it (e.g. http://base:8000/v1); its key is MF_UI_BASE_KEY, or the server's key",
    )
    base_model: str | None = Field(None, pattern=r"^[A-Za-z0-9._/:-]+$", description="Its model name")
    max_tokens: int = Field(2048, ge=16, le=1_048_576, description="The page's default max tokens")


class Spec(Strict):
    name: Slug = "qwen3-30b-a3b-sft"
    model: ModelSpec = ModelSpec()
    hardware: HardwareSpec = HardwareSpec()
    train: TrainSpec = TrainSpec()
    serve: ServeSpec = ServeSpec()
    stack: StackSpec = StackSpec()
    images: ImagesSpec = ImagesSpec()
    volumes: VolumesSpec = VolumesSpec()
    build: BuildSpec = BuildSpec()
    k8s: K8sSpec = K8sSpec()
    eval: EvalSpec = EvalSpec()
    ui: UiSpec = UiSpec()
    # Where each dotted key came from ("modelforge.yaml:12", "--set #1 (...)"): set by builder/load.py.
    _sources: dict[str, str] = PrivateAttr(default_factory=dict)
    _file: str = PrivateAttr(default="")

    def locate(self, sources: dict[str, str], file: str) -> None:
        self._sources, self._file = dict(sources), file

    def where(self, dotted: str) -> str:
        """'modelforge.yaml:31' for a key (or its section when the default applies); '' when built in code."""
        return nearest_source(dotted, self._sources, self._file)

    def at(self, dotted: str, message: str) -> str:
        """A planner's refusal of this key, prefixed with where the key was written (one line, like SpecError's)."""
        where = self.where(dotted)
        return f"{where}: {message}" if where else message

    def __eq__(self, other: object) -> bool:  # the same values are the same spec, wherever they were written
        return isinstance(other, Spec) and self.model_dump() == other.model_dump()

    __hash__ = None  # type: ignore[assignment]
