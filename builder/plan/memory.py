"""Training memory: DeepSpeed's own estimator formulas, plus activations and checkpoint size.

Model-state formulas are those of deepspeed/runtime/zero/stage3.py
(estimate_zero3_model_states_mem_needs, zero_init=True) and stage_1_and_2.py
(estimate_zero2_model_states_mem_needs), including their 1.5x host buffer factor.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..facts.models import ModelFacts

GIB = 1024**3
HEADROOM = 0.9  # plan tensors to at most 90% of a GPU's memory (DeepSpeed and Megatron plans alike) ...
DEVICE_HEADROOM = 0.97  # ... and tensors plus the allocator's reserve to at most 97% (never at the edge)
HOST_BUFFER = 1.5  # DeepSpeed's additional_buffer_factor
CUDA_CONTEXT_GIB = 2.5  # CUDA context, NCCL buffers, allocator fragmentation (measured order of magnitude)
# PyTorch's caching allocator keeps freed blocks for reuse, so the device holds more than the tensors do.
# Measured on one H200 with the 4-layer proxy (issue 14, bench/results/i14b2-*): reserved - allocated was
# 14.5 GiB with FA4 + packing and 18.7 GiB without packing (variable row lengths fragment more), against a
# planned working set (activations + 4 x the largest module) of 12.2 GiB. The reserve is that factor times it.
RESERVE_FACTOR = {True: 1.2, False: 1.55}  # keyed by packing


@dataclass(frozen=True)
class TrainMemory:
    stage: str
    model_states_gib: float  # per GPU, DeepSpeed's estimate
    activations_gib: float  # per GPU
    gpu_peak_gib: float  # per GPU, what the tensors need (DeepSpeed's estimator + activations + context)
    host_gib: float  # per node
    reserve_gib: float = 0.0  # per GPU, the caching allocator's reserve on top (what nvidia-smi adds)

    @property
    def device_gib(self) -> float:
        """What the GPU must hold: tensors plus the allocator's reserve."""
        return self.gpu_peak_gib + self.reserve_gib


def model_states(
    stage: str, total: int, trainable: int, largest: int, gpus: int, gpus_per_node: int
) -> tuple[float, float]:
    """(GPU bytes per GPU, host bytes per node) for the model states under a ZeRO stage.

    `trainable` differs from `total` only for LoRA: frozen weights cost 2 bytes (bf16)
    and no gradients or optimizer states.
    """
    gpus = max(gpus, 1)
    frozen = total - trainable
    if stage in ("zero3", "zero3_offload"):
        largest_mem = 4 * largest
        if stage == "zero3_offload":  # optimizer + parameters on the host
            return largest_mem, trainable * 18 * HOST_BUFFER + frozen * 2
        return largest_mem + 18 * trainable / gpus + 2 * frozen / gpus, largest * 4 * gpus_per_node * HOST_BUFFER
    if stage == "zero2_offload":
        return 2 * total, trainable * max(4 * gpus, 16) * HOST_BUFFER
    if stage == "zero2":  # bf16 weights everywhere; gradients and optimizer states partitioned
        return 2 * total + 18 * trainable / gpus, trainable * 4 * gpus_per_node * HOST_BUFFER
    # no DeepSpeed: bf16 weights + grads + fp32 Adam states and master weights, all on every GPU
    return 2 * frozen + 18 * trainable, 0.0


def activations(m: ModelFacts, seq: int, micro_batch: int, checkpointing: bool) -> float:
    """Bytes of activations per GPU for one micro-batch (bf16, flash/sdpa attention: no s^2 term).

    Per layer, after Korthikanti et al. (2022), table 2 without the attention-score term:
    attention 10*s*b*h bytes; MLP 2*s*b*(2 gate/up + 1 act) * width, where an MoE token goes
    through top-k experts. With gradient checkpointing only each layer's input (2*s*b*h) is kept,
    plus one layer's full set while it is recomputed. The logits (fp32) and their gradient come on top.
    """
    tokens = seq * micro_batch
    width = m.experts_per_token * m.moe_intermediate if m.is_moe else m.intermediate
    per_layer = tokens * (10 * m.hidden + 2 * 3 * width + 4 * m.hidden)
    kept = m.layers * (2 * tokens * m.hidden) + per_layer if checkpointing else m.layers * per_layer
    logits = tokens * m.vocab * 4 * 2
    return kept + logits


def lora_trainable(m: ModelFacts, rank: int) -> int:
    """LoRA on all linear layers (ms-swift's default target 'all-linear'): r*(in+out) per matrix."""
    attn = rank * (2 * (m.hidden + m.heads * m.head_dim) + 2 * (m.hidden + m.kv_heads * m.head_dim))
    if m.is_moe:
        mlp = m.experts * rank * 3 * (m.hidden + m.moe_intermediate)
    else:
        mlp = rank * 3 * (m.hidden + m.intermediate)
    return m.layers * (attn + mlp)


def estimate(
    m: ModelFacts,
    stage: str,
    *,
    lora_rank: int | None,
    gpus: int,
    gpus_per_node: int,
    seq: int,
    micro_batch: int,
    checkpointing: bool,
    packing: bool = False,
) -> TrainMemory:
    """Per-GPU memory. With packing every micro-batch is max_length tokens (rows bin-packed up to it), so the
    activations are those of the longest unpacked row: the same worst case, hit on every step."""
    total = m.total_params
    trainable = lora_trainable(m, lora_rank) if lora_rank else total
    total_with_adapters = total + (trainable if lora_rank else 0)
    gpu_states, host = model_states(stage, total_with_adapters, trainable, m.largest_module_params, gpus, gpus_per_node)
    acts = activations(m, seq, micro_batch, checkpointing)
    working_set = acts + 4 * m.largest_module_params
    return TrainMemory(
        stage=stage,
        model_states_gib=gpu_states / GIB,
        activations_gib=acts / GIB,
        gpu_peak_gib=(gpu_states + acts) / GIB + CUDA_CONTEXT_GIB,
        host_gib=host / GIB,
        reserve_gib=RESERVE_FACTOR[packing] * working_set / GIB,
    )


def checkpoint_gib(m: ModelFacts, *, lora_rank: int | None) -> float:
    """One checkpoint on disk: bf16 weights + fp32 master weights and two Adam moments (12 B/param)."""
    if lora_rank:
        return lora_trainable(m, lora_rank) * (2 + 12) / GIB
    return m.total_params * (2 + 12) / GIB
