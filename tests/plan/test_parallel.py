"""vLLM layout rules and the `auto` choice."""

from __future__ import annotations

import pytest

from builder.facts.models import lookup
from builder.load import validate
from builder.plan import make_plan, parallel
from builder.plan import serve as serve_plan

QWEN3_30B = lookup("Qwen/Qwen3-30B-A3B-Thinking-2507")


def test_seed_tp5_is_invalid_for_32_heads():
    problems = parallel.tp_problems(QWEN3_30B, 5, ep=False)
    assert any("num_attention_heads (32)" in p for p in problems)
    assert any("moe_intermediate_size (768)" in p for p in problems)


def test_valid_tps_for_qwen3_30b():
    assert parallel.valid_tps(QWEN3_30B, 8, ep=False) == [1, 2, 4, 8]


def test_auto_on_5_h200_uses_all_gpus_validly():
    plan = make_plan(validate({}))
    layout = plan.serve.layout
    assert layout.tp * layout.pp * layout.dp == 5
    assert not parallel.tp_problems(QWEN3_30B, layout.tp, layout.ep)
    assert layout.kv_cache_tokens >= 32768


def test_explicit_tp5_fails_with_alternatives():
    plan = make_plan(validate({"serve": {"tensor_parallel": 5}}))
    [error] = plan.errors
    assert "tp=5" in error and "data_parallel=5" in error and "tensor_parallel=4" in error


def test_big_model_needs_tensor_parallel():
    plan = make_plan(
        validate(
            {
                "model": {"id": "Qwen/Qwen3-235B-A22B"},
                "hardware": {"gpus": 8, "gpu": "H100-80GB"},
                "train": {"tuner": "lora"},
                "serve": {"max_model_len": 8192},
            }
        )
    )
    layout = plan.serve.layout
    # 438 GiB of bf16 weights: no single 80 GB GPU holds them; tp > 1 with experts sharded over all 8.
    assert layout.tp > 1 and 64 % layout.tp == 0 and layout.tp * layout.dp == 8 and layout.ep
    assert layout.weights_gib_per_gpu < 79.6 * 0.9


def test_dense_model_has_no_expert_parallel():
    plan = make_plan(validate({"model": {"id": "Qwen/Qwen3-8B"}, "hardware": {"gpus": 2}}))
    assert plan.serve.layout.ep is False and plan.serve.layout.dp == 2


# Issue 18: vLLM 0.25.1's "GPU KV cache size: N tokens" for the full 48-layer Qwen3-30B-A3B at max-model-len
# 32768 on one GPU, by (GPU, weight quantization, KV dtype, gpu_memory_utilization as the log states it:
# vLLM's default 0.92 where the run passed none), from bench/results/serve-s18{a,b,d,e}-*.server.log.
MEASURED_KV_TOKENS = {
    ("H200", None, "auto", 0.92): 744_080,
    ("H200", None, "fp8", 0.90): 1_426_416,
    ("H200", "fp8", "auto", 0.90): 1_017_392,
    ("H200", "fp8", "fp8", 0.90): 2_034_800,
    ("H100-80GB", None, "auto", 0.92): 134_896,
    ("H100-80GB", "fp8", "fp8", 0.90): 842_912,
    ("H100-80GB", "fp8", "fp8", 0.92): 877_504,
}


def test_the_kv_cache_estimate_holds_to_what_vllm_reported_on_h200_and_h100():
    # The bar is 10 %; the model is within 0.3 % of every run, so 2 % catches a regression early.
    for (gpu, quantization, kv_dtype, utilization), measured in MEASURED_KV_TOKENS.items():
        serve = {"kv_cache_dtype": kv_dtype, "quantization": quantization, "gpu_memory_utilization": utilization}
        spec = validate({"hardware": {"gpus": 1, "gpu": gpu}, "serve": serve})
        planned = make_plan(spec).serve.layout.kv_cache_tokens
        assert abs(planned - measured) / measured < 0.02, (gpu, quantization, kv_dtype, planned, measured)


def test_the_default_utilization_is_vllms_own_so_the_product_keeps_its_cache():
    # The rendered command states vLLM's default (0.92): the product's bf16 cache equals `vllm serve MODEL`'s.
    plan = make_plan(validate({"hardware": {"gpus": 1}}))
    argv = plan.serve.argv
    assert argv[argv.index("--gpu-memory-utilization") + 1] == "0.92"
    measured = MEASURED_KV_TOKENS[("H200", None, "auto", 0.92)]
    assert abs(plan.serve.layout.kv_cache_tokens - measured) / measured < 0.02


def test_the_fp8_option_figures_are_the_plans_those_keys_would_make():
    # `plan` shows, beside the bf16 cache, what each FP8 key would give on the same layout: each figure must be
    # what a plan with that key set says (s18e: on one H100 the bf16 cache held ~29 of 40 long requests).
    base = {"hardware": {"gpus": 1, "gpu": "H100-80GB"}}
    plan = make_plan(validate(base))
    room = serve_plan.fp8_cache(plan.spec, plan.model, plan.gpu_memory_gib, plan.serve.layout)
    keyed = {
        "serve.kv_cache_dtype: fp8": {"kv_cache_dtype": "fp8"},
        "serve.quantization: fp8": {"quantization": "fp8"},
        "both": {"kv_cache_dtype": "fp8", "quantization": "fp8"},
    }
    assert set(room) == set(keyed)
    for label, serve in keyed.items():
        assert room[label] == make_plan(validate({**base, "serve": serve})).serve.layout.kv_cache_tokens, label
    assert room["both"] == pytest.approx(MEASURED_KV_TOKENS[("H100-80GB", "fp8", "fp8", 0.92)], rel=0.02)
    # Keys already set are not offered again; the CPU stack and an unknown model get no figure.
    half = make_plan(validate({**base, "serve": {"kv_cache_dtype": "fp8"}}))
    assert set(serve_plan.fp8_cache(half.spec, half.model, half.gpu_memory_gib, half.serve.layout)) == {
        "serve.quantization: fp8"
    }
    both = make_plan(validate({**base, "serve": keyed["both"]}))
    assert serve_plan.fp8_cache(both.spec, both.model, both.gpu_memory_gib, both.serve.layout) == {}
    cpu = make_plan(validate({"hardware": {"gpus": 0}}))
    assert serve_plan.fp8_cache(cpu.spec, cpu.model, cpu.gpu_memory_gib, cpu.serve.layout) == {}


def test_fp8_kv_cache_doubles_the_tokens_and_renders_its_flag_once():
    plain = make_plan(validate({"hardware": {"gpus": 1}}))
    fp8 = make_plan(validate({"hardware": {"gpus": 1}, "serve": {"kv_cache_dtype": "fp8"}}))
    assert fp8.serve.layout.kv_cache_tokens > 1.9 * plain.serve.layout.kv_cache_tokens
    assert "--kv-cache-dtype" not in plain.serve.argv
    argv = fp8.serve.argv
    assert argv.count("--kv-cache-dtype") == 1 and argv[argv.index("--kv-cache-dtype") + 1] == "fp8"


def test_fp8_weights_halve_the_linear_layers_and_leave_embeddings_and_router_in_bf16():
    m = lookup("Qwen/Qwen3-30B-A3B-Thinking-2507")
    per_weight = parallel.weight_bytes(m, 2, "fp8")
    kept = m.embedding_params + m.layers * m.experts * m.hidden
    assert per_weight == pytest.approx((2 * kept + m.total_params - kept) / m.total_params)
    assert 1.0 < per_weight < 1.05  # the 30B MoE is almost all linear weights
    assert parallel.weight_bytes(m, 2, None) == 2


def test_fp8_weights_free_memory_for_kv_cache_and_render_the_vllm_flag():
    plain = make_plan(validate({"hardware": {"gpus": 1}}))
    fp8 = make_plan(validate({"hardware": {"gpus": 1}, "serve": {"quantization": "fp8"}}))
    assert fp8.serve.layout.weights_gib_per_gpu < 0.52 * plain.serve.layout.weights_gib_per_gpu
    # ~28 GiB more free memory at ~96 KiB per bf16 KV token: well over 1.3x the tokens
    assert fp8.serve.layout.kv_cache_tokens > 1.3 * plain.serve.layout.kv_cache_tokens
    argv = fp8.serve.argv
    assert argv[argv.index("--quantization") + 1] == "fp8" and "--quantization" not in plain.serve.argv


def test_a_model_too_big_for_the_gpus_is_refused_and_fp8_offered_when_it_would_fit():
    # Qwen3-235B-A22B: ~438 GiB in bf16 does not fit 4 x H100-80GB; in FP8 with expert parallel it does.
    spec = {"model": {"id": "Qwen/Qwen3-235B-A22B-Thinking-2507"}, "hardware": {"gpus": 4, "gpu": "H100-80GB"}}
    bf16 = make_plan(validate(spec))
    (error,) = [e for e in bf16.errors if "serve layout" in e]
    assert "serve.max_model_len" in error and "serve.quantization: fp8 would fit" in error, error
    fp8 = make_plan(validate({**spec, "serve": {"quantization": "fp8"}}))
    assert not [e for e in fp8.errors if "serve" in e], fp8.errors
    assert fp8.serve.layout.kv_cache_tokens >= 32768 and fp8.serve.layout.weights_gib_per_gpu < 70
    on_two = make_plan(validate({**spec, "hardware": {"gpus": 2, "gpu": "H100-80GB"}}))
    (error,) = [e for e in on_two.errors if "serve layout" in e]
    assert "fp8 would fit" not in error and "more GPUs" in error, error


def test_fp8_weights_on_the_cpu_stack_are_refused_naming_the_key():
    plan = make_plan(validate({"hardware": {"gpus": 0, "gpu": "CPU"}, "serve": {"quantization": "fp8"}}))
    assert any("serve.quantization" in e and "needs GPUs" in e for e in plan.errors), plan.errors


def test_quantization_in_serve_extra_args_is_refused_as_planned():
    with pytest.raises(Exception, match="serve.quantization"):
        validate({"serve": {"extra_args": {"quantization": "fp8"}}})


@pytest.mark.parametrize(
    "extra",
    [{}, {"k8s": {"nodes": 2}}],
    ids=["one node", "across nodes"],
)
@pytest.mark.parametrize(
    ("model", "serve", "rule"),
    [
        (
            "Qwen/Qwen3-30B-A3B-Thinking-2507",
            {"pipeline_parallel": 64, "tensor_parallel": 1},
            "exceeds the model's 48 layers",
        ),
        (
            "Qwen/Qwen3-8B",
            {"expert_parallel": True, "tensor_parallel": 1, "pipeline_parallel": 10},
            "mixture-of-experts",
        ),
    ],
)
def test_one_set_of_layout_rules_on_one_node_and_across_nodes(model, serve, rule, extra):
    """The tp/EP/pp rules are written once (parallel.layout_problems) and both serve planners refuse by them."""
    plan = make_plan(validate({"model": {"id": model}, "serve": serve, **extra}))
    assert any(e.startswith("serve layout tp=1") and rule in e for e in plan.errors), plan.errors
