"""The serving layout (tensor, pipeline, data and expert parallel) and the LoRA-serving rules."""

from __future__ import annotations

from ..facts import lora as lora_facts
from ..facts.models import ModelFacts
from ..spec import Spec
from . import parallel
from .cluster import multi_node_layout
from .commands import uses_cpu_vllm


def layout(spec: Spec, m: ModelFacts | None, gpu_gib: float, errors: list[str]) -> parallel.Layout:
    s = spec.serve
    if spec.k8s.nodes > 1 and m is not None and gpu_gib:
        across = multi_node_layout(spec, m, gpu_gib, errors)
        if across is not None:
            return across
    gpus = max(spec.hardware.gpus, 1)
    if s.quantization and not gpu_gib:
        errors.append(
            spec.at("serve.quantization", f"serve.quantization {s.quantization} needs GPUs (hardware.gpus is 0)")
        )
    bytes_per_param, kv = parallel.serve_bytes(m, s.dtype, s.kv_cache_dtype, s.quantization)
    if m is None:
        tp = s.tensor_parallel if s.tensor_parallel != "auto" else 1
        dp = s.data_parallel if s.data_parallel != "auto" else max(gpus // (tp * s.pipeline_parallel), 1)
        return parallel.Layout(
            tp, s.pipeline_parallel, dp, s.expert_parallel is True, 0.0, 0, "model unknown: not checked"
        )
    auto = parallel.choose(
        m, spec.hardware.gpus, gpu_gib, s.gpu_memory_utilization, s.max_model_len, bytes_per_param, kv
    )
    if (
        s.tensor_parallel == "auto"
        and s.data_parallel == "auto"
        and s.pipeline_parallel == 1
        and s.expert_parallel == "auto"
    ):
        if gpu_gib and auto.kv_cache_tokens < s.max_model_len:
            errors.append(spec.at("serve.max_model_len", _does_not_fit(spec, m, auto, gpu_gib)))
        return auto
    tp = s.tensor_parallel if s.tensor_parallel != "auto" else (1 if s.data_parallel != "auto" else auto.tp)
    pp = s.pipeline_parallel
    dp = s.data_parallel if s.data_parallel != "auto" else max(gpus // (tp * pp), 1)
    ep = s.expert_parallel if s.expert_parallel != "auto" else (m.is_moe and dp * tp > 1)
    problems = parallel.layout_problems(m, tp, pp, ep)
    if tp * pp * dp > gpus:
        problems.append(f"tp*pp*dp = {tp}*{pp}*{dp} = {tp * pp * dp} exceeds hardware.gpus ({gpus})")
    if problems:
        errors.append(
            spec.at(
                "serve.tensor_parallel",
                f"serve layout tp={tp} pp={pp} dp={dp} cannot start: "
                + "; ".join(problems)
                + f". On {gpus} GPUs use instead: {parallel.alternatives(m, gpus)}",
            )
        )
    layout = parallel.evaluate(
        m, tp, pp, dp, ep, gpu_gib, s.gpu_memory_utilization, bytes_per_param, "set in the spec", kv
    )
    short = parallel.kv_too_small(layout, s.max_model_len)
    if gpu_gib and not problems and short:
        errors.append(spec.at("serve.max_model_len", short))
    return layout


def fp8_cache(spec: Spec, m: ModelFacts | None, gpu_gib: float, layout: parallel.Layout) -> dict[str, int]:
    """KV-cache tokens per replica, on this layout, for the FP8 keys the spec has not set yet (opt-in: they change
    the model's numbers). The cache is what long outputs run out of: on one H100 the bf16 command's 135K tokens
    held ~29 requests of 4.6K, and both keys (878K) gave 1.97-2.50x the output tokens/s (docs/benchmarks.md, s18e)."""
    s = spec.serve
    if m is None or not gpu_gib or not layout.kv_cache_tokens or s.dtype == "float32":
        return {}
    options = {}
    steps = []
    if s.kv_cache_dtype == "auto":
        steps.append(("serve.kv_cache_dtype: fp8", "fp8", s.quantization))
    if s.quantization is None:
        steps.append(("serve.quantization: fp8", s.kv_cache_dtype, "fp8"))
    if len(steps) == 2:
        steps.append(("both", "fp8", "fp8"))
    for label, kv_dtype, quantization in steps:
        weights, kv = parallel.serve_bytes(m, s.dtype, kv_dtype, quantization)
        at = parallel.evaluate(
            m, layout.tp, layout.pp, layout.dp, layout.ep, gpu_gib, s.gpu_memory_utilization, weights, "", kv
        )
        options[label] = at.kv_cache_tokens
    return options


def _does_not_fit(spec: Spec, m: ModelFacts, layout: parallel.Layout, gpu_gib: float) -> str:
    """No layout on these GPUs holds the weights plus one full-length request: say what would."""
    s = spec.serve
    what = (
        f"no serve layout fits on {spec.hardware.gpus} x {spec.hardware.gpu}: even pipeline parallel over all of "
        f"them needs {layout.weights_gib_per_gpu:.1f} GiB of weights per GPU, leaving KV cache for "
        f"{layout.kv_cache_tokens} tokens < serve.max_model_len {s.max_model_len}"
    )
    if s.quantization is None:
        weights, kv = parallel.serve_bytes(m, s.dtype, s.kv_cache_dtype, "fp8")
        fp8 = parallel.choose(m, spec.hardware.gpus, gpu_gib, s.gpu_memory_utilization, s.max_model_len, weights, kv)
        if fp8.kv_cache_tokens >= s.max_model_len:
            return f"{what}; serve.quantization: fp8 would fit ({fp8.weights_gib_per_gpu:.1f} GiB per GPU)"
    return f"{what}; use more GPUs (hardware.gpus, k8s.nodes) or a lower serve.max_model_len"


def check_lora(spec: Spec, m: ModelFacts | None, errors: list[str]) -> None:
    """serve.lora: adapter: vLLM serves the adapter beside the base (builder/facts/lora.py)."""
    if spec.serve.lora != "adapter":
        return
    if spec.train.tuner != "lora":
        errors.append(
            spec.at(
                "serve.lora",
                f"serve.lora: adapter serves a LoRA adapter, and train.tuner is {spec.train.tuner} (its checkpoints "
                "are whole models, served as they are): remove serve.lora, or set train.tuner: lora",
            )
        )
        return
    rank = spec.train.lora_rank
    if lora_facts.max_lora_rank(rank) is None:
        errors.append(
            spec.at(
                "train.lora_rank",
                f"train.lora_rank {rank} is above what vLLM serves as an adapter (--max-lora-rank at most "
                f"{lora_facts.MAX_LORA_RANKS[-1]}): lower it, or serve the merged model (serve.lora: merged)",
            )
        )
    if uses_cpu_vllm(spec) and m is not None and not lora_facts.cpu_vllm_serves_lora(m.is_moe):
        errors.append(
            spec.at(
                "serve.lora",
                f"serve.lora: adapter with {spec.stack.vllm}: its MoE LoRA path needs Triton, which the CPU build "
                "lacks (the first request fails); serve the merged model (serve.lora: merged) on the CPU stack",
            )
        )
