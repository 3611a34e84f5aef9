"""Megatron-SWIFT layouts (train.backend: megatron): every parallel layout megatron-core accepts for the model
and the GPUs, the memory each needs per GPU, and the one expected fastest.

A layout is TP x CP x PP x DP GPUs (world = their product); the MoE layers regroup the same GPUs as
ETP x EP x EDP (expert data parallel), so EP x ETP must divide TP x CP x DP. The rules are megatron-core's
own asserts (RULES, with where each is); a layout that breaks one is never planned, and an explicit one is
refused with the rule and the layouts that work. Fewer GPUs than the machine has are candidates too: on
5 GPUs, 4 with EP 4 can beat 5 with EP 1 (128 experts split only by powers of two).

Memory per GPU (bytes), per pipeline stage, the largest stage counts:
  weights and gradients  6 x (local dense + local expert params)       bf16 weights, fp32 main grads
  optimizer states      12 x (local dense / (DP x CP) + local expert / EDP)   distributed optimizer
                        (0 on the GPU with optimizer offload: the host holds them)
  activations           in-flight micro-batches x per-micro-batch set (1F1B: PP - stage on stage s)
  local dense = the stage's attention, norms and router / TP, plus the embedding (first stage) and the
  LM head (last stage) / TP; local expert = the stage's experts / (EP x ETP). Activations as
  memory.activations (Korthikanti et al.), divided by TP (sequence parallel) and CP.
Checked on one H200 (4-layer Qwen3-30B-A3B proxy, 8K packed rows; builder/facts/megatron.py): torch's peak
allocation 68.0 GiB against 66.5 planned, 64.3 against 64.6 with full recompute. The device peak is that plus the
CUDA context once the allocator's segments expand (the plan sets it: 72.0 GiB); without that it was 109.6.

Expected step time (relative, what `auto` ranks by): the model's FLOPs over the GPUs used at the MFU measured on
one H200, times the pipeline bubble (1 + (PP - 1) / micro-batches per step), times the measured cost of full
recompute, plus the optimizer step on the host with offload and a communication term per TP / EP / CP degree
(COMM). The MFU and the recompute cost are measured (one GPU); COMM and the host's Adam rate are assumptions,
said so in the plan, since one GPU has no traffic to measure.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..facts import megatron as facts
from ..facts.models import ModelFacts
from .memory import CUDA_CONTEXT_GIB, GIB

# megatron-core 0.19 (megatron/core/transformer/transformer_config.py, parallel_state.py): what each rule checks.
RULES = {
    "world": "world size must be divisible by tensor x pipeline x context parallel (parallel_state."
    "initialize_model_parallel)",
    "heads": "num_attention_heads must be a multiple of tensor_model_parallel_size (TransformerConfig)",
    "groups": "num_query_groups (KV heads) must be a multiple or divisor of tensor_model_parallel_size "
    "(TransformerConfig)",
    "vocab": "the vocabulary must split evenly over tensor parallel (mcore-bridge pads none: tensor_parallel."
    "utils.divide)",
    "experts": "num_moe_experts must be divisible by expert_model_parallel_size (moe_layer.py)",
    "expert_width": "the experts' FFN width must split evenly over expert_tensor_parallel_size",
    "expert_dp": "world size must be divisible by expert_tensor x expert_model x pipeline parallel "
    "(parallel_state: the expert layers regroup the same GPUs, so EP x ETP divides TP x CP x DP)",
    "dense_ep": "a dense model has no experts: expert_model_parallel_size and expert_tensor_parallel_size stay 1",
    "layers": "num_layers must be divisible by pipeline_model_parallel_size, or the first/last stages set apart "
    "with the middle stages even (decoder_first/last_pipeline_num_layers; TransformerConfig 'Uneven PP')",
}

# Step-time assumptions (one GPU cannot measure them): the extra share of step time per degree of each
# communication-bound dimension over NVLink, and the host's Adam throughput for optimizer offload.
COMM = {"tp": 0.08, "ep": 0.05, "cp": 0.10, "pcie": 3.0}  # pcie multiplies the TP/EP/CP terms
HOST_ADAM_PARAMS_PER_S = 1.0e9  # CPU Adam + PCIe copies per node, parameters per second (order of magnitude)


@dataclass(frozen=True)
class Layout:
    tp: int
    pp: int
    cp: int
    dp: int
    ep: int
    etp: int
    stages: tuple[int, ...]  # layers per pipeline stage
    recompute: bool  # full recompute, uniform, one layer at a time
    offload: bool  # optimizer states on the host (--optimizer_cpu_offload with the precision-aware optimizer)

    @property
    def world(self) -> int:
        return self.tp * self.pp * self.cp * self.dp

    @property
    def edp(self) -> int:
        return self.tp * self.cp * self.dp // (self.ep * self.etp)

    @property
    def sequence_parallel(self) -> bool:
        return self.tp > 1

    @property
    def first_stage_layers(self) -> int | None:
        return self.stages[0] if len(set(self.stages)) > 1 else None

    @property
    def last_stage_layers(self) -> int | None:
        return self.stages[-1] if len(set(self.stages)) > 1 and self.pp > 2 else None

    def describe(self) -> str:
        parts = [f"tp={self.tp}", f"pp={self.pp}", f"ep={self.ep}", f"etp={self.etp}", f"cp={self.cp}",
                 f"dp={self.dp}"]  # fmt: skip
        if len(set(self.stages)) > 1:
            parts.append("stages " + "/".join(map(str, self.stages)))
        if self.recompute:
            parts.append("full recompute")
        if self.offload:
            parts.append("optimizer offload")
        return " ".join(parts)


@dataclass(frozen=True)
class Estimate:
    layout: Layout
    gpu_gib: float  # the largest stage: weights + grads + optimizer + activations + CUDA context
    weights_grads_gib: float
    optimizer_gib: float
    activations_gib: float
    host_gib: float  # per node, offloaded optimizer states
    step_s: float  # expected seconds per optimizer step (assumptions above)


def violations(m: ModelFacts, world: int, lay: Layout) -> list[str]:
    """The rules a layout breaks (keys of RULES); empty: megatron-core accepts it."""
    broken = []
    if world % (lay.tp * lay.pp * lay.cp) or lay.world != world:
        broken.append("world")
    if m.heads % lay.tp:
        broken.append("heads")
    if m.kv_heads % lay.tp and lay.tp % m.kv_heads:
        broken.append("groups")
    if not m.is_moe and (lay.ep > 1 or lay.etp > 1):
        broken.append("dense_ep")
    if m.vocab % lay.tp:
        broken.append("vocab")
    if m.is_moe and m.experts % lay.ep:
        broken.append("experts")
    if m.is_moe and m.moe_intermediate % lay.etp:
        broken.append("expert_width")
    if (lay.tp * lay.cp * lay.dp) % (lay.ep * lay.etp):
        broken.append("expert_dp")
    if sum(lay.stages) != m.layers or len(lay.stages) != lay.pp or len(set(lay.stages[1:-1])) > 1:
        broken.append("layers")
    return broken


def stage_split(m: ModelFacts, pp: int) -> tuple[int, ...] | None:
    """Layers per stage, even when they divide; else the first and last stages (which also hold the embedding
    and the LM head) take fewer so the middle ones stay even. None: no split megatron-core accepts."""
    if pp > m.layers:
        return None
    if m.layers % pp == 0:
        return (m.layers // pp,) * pp
    if pp == 2:
        return (m.layers // 2, m.layers - m.layers // 2)
    best = None
    for middle in range(m.layers // pp + 1, m.layers):  # middle stages each take `middle` layers
        rest = m.layers - middle * (pp - 2)
        if rest < 2:
            break
        first, last = rest // 2, rest - rest // 2
        if first >= 1 and (best is None or max(middle, last) < max(best)):
            best = (first, *(middle,) * (pp - 2), last)
    return best


def _params(m: ModelFacts, lay: Layout, stage: int) -> tuple[float, float]:
    """(local dense, local expert) parameters of one pipeline stage on one GPU."""
    layers = lay.stages[stage]
    router = m.hidden * m.experts
    dense = layers * (m.attention_params + (router if m.is_moe else m.mlp_params))
    if stage == 0:
        dense += m.vocab * m.hidden
    if stage == lay.pp - 1:
        dense += m.hidden + (0 if m.tied_embeddings else m.vocab * m.hidden)
    expert = layers * m.experts * m.expert_params if m.is_moe else 0
    return dense / lay.tp, expert / (lay.ep * lay.etp)


def _activations(m: ModelFacts, lay: Layout, stage: int, seq: int, micro_batch: int, in_flight: int) -> float:
    tokens = seq * micro_batch / lay.cp
    width = m.experts_per_token * m.moe_intermediate if m.is_moe else m.intermediate
    per_layer = tokens * (10 * m.hidden + 2 * 3 * width + 4 * m.hidden) / lay.tp
    layers = lay.stages[stage]
    kept = layers * 2 * tokens * m.hidden / lay.tp if lay.recompute else layers * per_layer
    total = in_flight * kept + per_layer  # one layer's full set while it runs (or is recomputed)
    if stage == lay.pp - 1:
        total += tokens * m.vocab * 4 * 2 / lay.tp  # fp32 logits and their gradient
    return total


def estimate(
    m: ModelFacts, lay: Layout, seq: int, micro_batch: int, global_batch: int, gpus_per_node: int,
    tflops: float, interconnect: str,
) -> Estimate:  # fmt: skip
    micro_batches = max(global_batch // (micro_batch * lay.dp), 1)
    worst = (0.0, 0.0, 0.0)  # weights and grads, optimizer, activations of the stage that needs the most
    host = 0.0
    for stage in range(lay.pp):
        dense, expert = _params(m, lay, stage)
        weights = 6 * (dense + expert)
        optimizer = 12 * (dense / (lay.dp * lay.cp) + expert / max(lay.edp, 1))
        in_flight = min(lay.pp - stage, micro_batches)
        act = _activations(m, lay, stage, seq, micro_batch, in_flight)
        if lay.offload:
            host = max(host, optimizer)
            optimizer = 0.0
        total = weights + optimizer + act
        if total > sum(worst):
            worst = (weights, optimizer, act)
    weights, optimizer, act = worst
    gpu = (weights + optimizer + act) / GIB + CUDA_CONTEXT_GIB
    ranks_per_node = min(lay.world, gpus_per_node)
    host_gib = host * ranks_per_node / GIB
    return Estimate(lay, gpu, weights / GIB, optimizer / GIB, act / GIB, host_gib,
                    step_seconds(m, lay, seq, global_batch, micro_batch, tflops, interconnect))  # fmt: skip


def step_seconds(
    m: ModelFacts, lay: Layout, seq: int, global_batch: int, micro_batch: int, tflops: float, interconnect: str
) -> float:
    """Expected seconds per optimizer step: MFU and recompute cost measured on one GPU; COMM and
    HOST_ADAM_PARAMS_PER_S assumed."""
    flops = 6 * m.active_params * seq * global_batch * (facts.RECOMPUTE_COST if lay.recompute else 1)
    compute = flops / (lay.world * tflops * 1e12 * facts.MFU)
    micro_batches = max(global_batch // (micro_batch * lay.dp), 1)
    bubble = 1 + (lay.pp - 1) / micro_batches
    link = COMM["pcie"] if interconnect == "pcie" else 1.0
    comm = 1 + link * (COMM["tp"] * (lay.tp - 1) + COMM["ep"] * (lay.ep > 1) + COMM["cp"] * (lay.cp - 1))
    offload = 0.0
    if lay.offload:
        dense, expert = _params(m, lay, 0)
        offload = (dense / (lay.dp * lay.cp) + expert / max(lay.edp, 1)) / HOST_ADAM_PARAMS_PER_S
    return compute * bubble * comm + offload


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def layouts(
    m: ModelFacts, world: int, seq: int, gpus_per_node: int, split: tuple[int, ...] | None = None
) -> list[Layout]:
    """Every layout megatron-core accepts on exactly `world` GPUs. Planned, not asserted upstream: TP stays inside a
    node (its all-reduces run per layer), ETP is 1 or TP, CP only for sequences of 16K tokens or more. `split`:
    the spec's own stage sizes, used instead of the planner's for that many stages."""
    found = []
    for tp in _divisors(min(world, gpus_per_node)):
        for cp in (_divisors(world // tp) if seq >= 16384 else [1]) if world % tp == 0 else []:
            for pp in _divisors(world // (tp * cp)):
                stages = split if split and len(split) == pp else stage_split(m, pp)
                if stages is None:
                    continue
                dp = world // (tp * cp * pp)
                for etp in sorted({1, tp}):
                    for ep in _divisors(m.experts) if m.is_moe else [1]:
                        for recompute in (False, True):
                            for offload in (False, True):
                                lay = Layout(tp, pp, cp, dp, ep, etp, stages, recompute, offload)
                                if not violations(m, world, lay):
                                    found.append(lay)
    return found


# -- choosing for a spec ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Choice:
    best: Estimate
    global_batch: int  # rows (packed: max_length each) per optimizer step, all GPUs
    gpus_per_node: int
    reason: str
    runners_up: tuple[Estimate, ...]  # the next fastest that fit, for the plan


def _global_batch(rows: int, lay: Layout, micro_batch: int) -> int:
    """ms-swift needs global_batch_size divisible by micro_batch_size x DP: the nearest multiple, at least one."""
    unit = micro_batch * lay.dp
    return max(unit, round(rows / unit) * unit)


def wanted(requested: dict[str, int | bool | tuple[int, ...] | None], lay: Layout) -> bool:
    return all(value is None or getattr(lay, key) == value for key, value in requested.items())


def candidates(
    m: ModelFacts, nodes: int, gpus: int, gpus_choice: int | None, seq: int, rows: int, micro_batch: int,
    tflops: float, interconnect: str, split: tuple[int, ...] | None = None,
) -> list[tuple[Estimate, int, int]]:  # fmt: skip
    """(estimate, global batch, GPUs per node) of every accepted layout on `gpus_choice` GPUs per node, or on each
    count from `gpus` down to half of them (fewer can be faster: 4 GPUs with EP 4 against 5 with EP 1); fastest
    per row first."""
    found = []
    for per_node in [gpus_choice] if gpus_choice else range(gpus, (gpus + 1) // 2 - 1, -1):
        for lay in layouts(m, per_node * nodes, seq, per_node, split):
            batch = _global_batch(rows, lay, micro_batch)
            found.append((estimate(m, lay, seq, micro_batch, batch, per_node, tflops, interconnect), batch, per_node))
    return sorted(found, key=lambda f: (f[0].step_s / f[1], f[0].gpu_gib))


def requested_layout(spec_m, m: ModelFacts) -> dict[str, int | bool | tuple[int, ...] | None]:
    """The spec's explicit train.megatron values (auto: None), as Layout fields."""

    def value(v):
        return None if v == "auto" else v

    stages = None
    pp = value(spec_m.pipeline_parallel)
    if spec_m.first_stage_layers or spec_m.last_stage_layers:
        # (): sizes that split no pipeline (or no pipeline_parallel to split): no layout matches, the "layers" rule
        stages = explicit_stages(m, pp or 0, spec_m.first_stage_layers, spec_m.last_stage_layers) or ()
    return {
        "tp": value(spec_m.tensor_parallel),
        "pp": pp,
        "ep": value(spec_m.expert_parallel),
        "etp": value(spec_m.expert_tensor_parallel),
        "cp": value(spec_m.context_parallel),
        "recompute": value(spec_m.recompute),
        "offload": value(spec_m.optimizer_offload),
        "stages": stages,
    }


def explicit_stages(m: ModelFacts, pp: int, first: int | None, last: int | None) -> tuple[int, ...] | None:
    """The stage sizes megatron-core makes of decoder_first/last_pipeline_num_layers; None when they cannot
    split the layers (the middle stages must be even)."""
    middle_stages = pp - (first is not None) - (last is not None)
    rest = m.layers - (first or 0) - (last or 0)
    if (
        pp < 2
        or middle_stages < 0
        or rest < 0
        or (middle_stages == 0 and rest)
        or (middle_stages and rest % middle_stages)
    ):
        return None
    middle = rest // middle_stages if middle_stages else 0
    sizes = [middle] * middle_stages
    if first is not None:
        sizes.insert(0, first)
    if last is not None:
        sizes.append(last)
    return tuple(sizes)


def broken_rules(m: ModelFacts, requested: dict, world: int) -> list[str]:
    """Which rules the explicit values break on their own (autos filled with 1, the rest of the GPUs as DP)."""
    tp, pp, cp = requested["tp"] or 1, requested["pp"] or 1, requested["cp"] or 1
    stages = requested["stages"]
    if stages is None:
        stages = stage_split(m, pp) or ()  # (): no split of the layers: the "layers" rule
    dp = max(world // (tp * pp * cp), 1)
    lay = Layout(tp, pp, cp, dp, requested["ep"] or 1, requested["etp"] or 1, stages, False, False)
    return violations(m, world, lay)
