"""Spec -> Plan: what will run, decided once, before anything is written or started.

The plan holds the exact argv of the training and serving processes, their environment, the parallel
layout and the memory estimates. Renderers only read it. Modules, in the order make_plan uses them:
attention (kernel, packing), checks (evaluation data, volume sizes), train (DeepSpeed or, through backend
and megatron, Megatron-SWIFT; memory estimates), serve (vLLM layout, parallel), cluster (k8s nodes),
commands (the argv and environment), types (the frozen records).
"""

from __future__ import annotations

from ..errors import PlanError, Problem, SpecError
from ..facts import gpus as gpu_table
from ..facts import hub_config
from ..facts import models as model_table
from ..facts.models import ModelFacts
from ..spec import Spec
from . import attention, checks, serve, train
from .cluster import ClusterPlan, plan_cluster
from .commands import lora_base_name, serve_argv, serve_env, served_name
from .types import Attention, Plan, ServePlan, TrainPlan

__all__ = ["Attention", "ClusterPlan", "Plan", "ServePlan", "TrainPlan", "make_plan"]


def make_plan(spec: Spec) -> Plan:
    warnings: list[str] = []
    errors: list[str] = []
    facts = _model_facts(spec, errors)
    gpu = gpu_table.lookup(spec.hardware.gpu)
    if gpu is None:
        known = ", ".join(gpu_table.GPUS)
        raise PlanError([f"hardware.gpu: unknown GPU {spec.hardware.gpu!r}; known: {known}"])
    gpu_gib = gpu.memory_gib if spec.hardware.gpus > 0 else 0.0

    attn = attention.choose(spec, gpu, errors)
    checks.check_eval(spec, errors)
    train_plan = train.plan(spec, facts, gpu_gib, attn, warnings, errors)
    layout = serve.layout(spec, facts, gpu_gib, errors)
    serve.check_lora(spec, facts, errors)
    served = served_name(spec)
    base = lora_base_name(spec)
    serve_plan = ServePlan(serve_argv(spec, layout, served, facts), serve_env(spec), layout, served, base)
    megatron_gpus = train_plan.megatron.gpus_per_node if train_plan.megatron else None
    nodes = plan_cluster(spec, layout, warnings, errors, megatron_gpus)
    return Plan(spec, facts, gpu_gib, train_plan, serve_plan, nodes, warnings, errors)


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
