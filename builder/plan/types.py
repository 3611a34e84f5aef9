"""The plan's records: frozen, built once by make_plan (builder/plan/__init__.py), read by every renderer."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..facts.models import ModelFacts
from ..spec import Spec
from . import megatron, memory, parallel
from .cluster import ClusterPlan


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
