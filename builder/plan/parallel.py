"""vLLM parallel layout: its validity rules, and the choice `auto` makes.

Rules, from vLLM's own checks (vllm/config/model.py verify_with_parallel_config;
fused MoE's intermediate-size split):
- num_attention_heads % tp == 0
- num_key_value_heads % tp == 0, or tp % num_key_value_heads == 0 (KV heads are replicated)
- MoE without expert parallel: moe_intermediate_size % tp == 0
- tp * pp * dp <= GPUs
"""

from __future__ import annotations

from dataclasses import dataclass

from ..facts.models import ModelFacts
from .memory import GIB

VLLM_OVERHEAD_GIB = 4.0  # CUDA graphs, activations of the profiling run, allocator slack
# Bytes per KV-cache element by serve.kv_cache_dtype; "auto" stores the model's dtype. On one H200 the
# planner's bf16 figure was 3.9 % under vLLM's own count and its fp8 figure 0.3 % over (docs/benchmarks.md).
KV_CACHE_BYTES = {"fp8": 1}


def kv_bytes(kv_cache_dtype: str, bytes_per_param: int) -> int:
    return KV_CACHE_BYTES.get(kv_cache_dtype, bytes_per_param)


def serve_bytes(m: ModelFacts | None, dtype: str, kv_cache_dtype: str, quantization: str | None) -> tuple[float, int]:
    """(bytes per weight, bytes per KV-cache element) for a serve spec: the one place dtype keys become sizes."""
    dtype_bytes = 4 if dtype == "float32" else 2
    weights = weight_bytes(m, dtype_bytes, quantization) if m is not None else dtype_bytes
    return weights, kv_bytes(kv_cache_dtype, dtype_bytes)


def weight_bytes(m: ModelFacts, bytes_per_param: int, quantization: str | None) -> float:
    """Average bytes per weight. vLLM's online fp8 quantizes the linear layers (attention, experts, dense MLP)
    to one byte each; embeddings, lm_head, norms and the MoE router stay in the model's dtype."""
    if quantization != "fp8":
        return bytes_per_param
    kept = m.embedding_params + m.layers * (m.experts * m.hidden if m.is_moe else 0)
    return (kept * bytes_per_param + (m.total_params - kept)) / m.total_params


@dataclass(frozen=True)
class Layout:
    tp: int
    pp: int
    dp: int
    ep: bool
    weights_gib_per_gpu: float
    kv_cache_tokens: int  # per replica (one dp rank)
    reason: str


def tp_problems(m: ModelFacts, tp: int, ep: bool) -> list[str]:
    problems = []
    if m.heads % tp:
        problems.append(f"vLLM requires num_attention_heads ({m.heads}) divisible by tensor parallel size ({tp})")
    if m.kv_heads % tp and tp % m.kv_heads:
        problems.append(f"num_key_value_heads ({m.kv_heads}) must divide by tp ({tp}) or tp be a multiple of it")
    if m.is_moe and not ep and m.moe_intermediate % tp:
        problems.append(
            f"the fused MoE layer needs moe_intermediate_size ({m.moe_intermediate}) divisible by tp ({tp})"
        )
    return problems


def layout_problems(m: ModelFacts, tp: int, pp: int, ep: bool) -> list[str]:
    """What stops a spec-set serve layout on any node count: tp divisibility, EP on a dense model, pp vs layers."""
    problems = tp_problems(m, tp, ep)
    if ep and not m.is_moe:
        problems.append("serve.expert_parallel needs a mixture-of-experts model")
    if pp > m.layers:
        problems.append(f"pipeline_parallel ({pp}) exceeds the model's {m.layers} layers")
    return problems


def weights_per_gpu(m: ModelFacts, tp: int, pp: int, dp: int, ep: bool, bytes_per_param: float) -> float:
    if m.is_moe and ep:
        experts = m.layers * m.experts * m.expert_params
        dense = m.total_params - experts
        return (dense / (tp * pp) + experts / (tp * dp * pp)) * bytes_per_param
    return m.total_params * bytes_per_param / (tp * pp)


def kv_tokens(m: ModelFacts, tp: int, pp: int, free_bytes: float, bytes_per_elem: float) -> int:
    kv_heads_per_gpu = max(m.kv_heads // tp, 1)
    per_token = 2 * (m.layers / pp) * kv_heads_per_gpu * m.head_dim * bytes_per_elem
    return max(int(free_bytes / per_token), 0)


def evaluate(
    m: ModelFacts,
    tp: int,
    pp: int,
    dp: int,
    ep: bool,
    gpu_gib: float,
    util: float,
    bytes_per_param: float,
    reason: str,
    kv_bytes: int | None = None,
) -> Layout:
    weights = weights_per_gpu(m, tp, pp, dp, ep, bytes_per_param)
    free = gpu_gib * GIB * util - weights - VLLM_OVERHEAD_GIB * GIB
    return Layout(tp, pp, dp, ep, weights / GIB, kv_tokens(m, tp, pp, free, kv_bytes or bytes_per_param), reason)


def valid_tps(m: ModelFacts, gpus: int, ep: bool) -> list[int]:
    return [tp for tp in range(1, max(gpus, 1) + 1) if not tp_problems(m, tp, ep)]


def choose(
    m: ModelFacts,
    gpus: int,
    gpu_gib: float,
    util: float,
    max_len: int,
    bytes_per_param: float,
    kv_bytes: int | None = None,
) -> Layout:
    """Throughput first: replicas when one GPU holds the model (plus a full-length request's KV cache),
    otherwise the smallest valid tensor-parallel group, replicated over the GPUs left."""
    gpus = max(gpus, 1)
    ep = m.is_moe and gpus > 1
    if gpu_gib <= 0:  # CPU serving: one process
        return Layout(1, 1, 1, False, m.total_params * bytes_per_param / GIB, 0, "CPU: one server process")
    for tp in valid_tps(m, gpus, ep):
        dp = gpus // tp
        layout = evaluate(m, tp, 1, dp, ep, gpu_gib, util, bytes_per_param, "", kv_bytes)
        if layout.kv_cache_tokens >= max_len:
            what = "one GPU holds the model" if tp == 1 else f"tp={tp} is the smallest valid group that holds it"
            extra = (
                "; expert parallel shards the experts over the replicas, leaving more room for KV cache" if ep else ""
            )
            idle = gpus - tp * dp
            idle_note = f"; {idle} GPU(s) idle: no valid tp uses them" if idle else ""
            return Layout(
                tp,
                1,
                dp,
                ep,
                layout.weights_gib_per_gpu,
                layout.kv_cache_tokens,
                f"{what}: {dp} replica(s) of tp={tp} for throughput{extra}{idle_note}",
            )
    # Nothing fits with tensor parallel alone: pipeline over all GPUs (uneven splits allowed).
    layout = evaluate(m, 1, gpus, 1, False, gpu_gib, util, bytes_per_param, "", kv_bytes)
    return Layout(
        1,
        gpus,
        1,
        False,
        layout.weights_gib_per_gpu,
        layout.kv_cache_tokens,
        "no tensor-parallel group fits; pipeline parallel over all GPUs",
    )


def alternatives(m: ModelFacts, gpus: int) -> str:
    """What would work on this many GPUs, for error messages."""
    options = []
    tps = [tp for tp in valid_tps(m, gpus, False) if tp > 1]
    options.append(f"data_parallel={gpus} (tensor_parallel=1{', expert_parallel=true' if m.is_moe else ''})")
    if tps:
        options.append(f"tensor_parallel={tps[-1]} (data_parallel={gpus // tps[-1]})")
    if gpus > 1:
        options.append(f"pipeline_parallel={gpus} (tensor_parallel=1)")
    return "; ".join(options)


def kv_too_small(layout: Layout, max_model_len: int) -> str | None:
    """Why a layout the spec set cannot serve one full-length request, or None when it can."""
    if layout.kv_cache_tokens >= max_model_len:
        return None
    return (
        f"serve layout tp={layout.tp} pp={layout.pp}: weights need {layout.weights_gib_per_gpu:.1f} GiB per GPU, "
        f"leaving KV cache for {layout.kv_cache_tokens} tokens < serve.max_model_len {max_model_len}"
    )
