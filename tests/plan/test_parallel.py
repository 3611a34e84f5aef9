"""vLLM layout rules and the `auto` choice."""

from __future__ import annotations

from builder.facts.models import lookup
from builder.load import validate
from builder.plan import make_plan, parallel

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


# Issue 18, measured on one H200 (bench/results/serve-s18a-*.server.log): vLLM 0.25.1 reported 744,080 KV-cache
# tokens for the full model at gpu_memory_utilization 0.9 (bf16) and 1,426,416 with --kv-cache-dtype fp8.
MEASURED_KV_TOKENS = {"auto": 744_080, "fp8": 1_426_416}


def test_the_kv_cache_estimate_holds_within_10_percent_of_what_vllm_reported_on_one_h200():
    for kv_dtype, measured in MEASURED_KV_TOKENS.items():
        spec = validate({"hardware": {"gpus": 1}, "serve": {"kv_cache_dtype": kv_dtype}})
        planned = make_plan(spec).serve.layout.kv_cache_tokens
        assert abs(planned - measured) / measured < 0.10, (kv_dtype, planned, measured)


def test_fp8_kv_cache_doubles_the_tokens_and_renders_its_flag_once():
    plain = make_plan(validate({"hardware": {"gpus": 1}}))
    fp8 = make_plan(validate({"hardware": {"gpus": 1}, "serve": {"kv_cache_dtype": "fp8"}}))
    assert fp8.serve.layout.kv_cache_tokens > 1.9 * plain.serve.layout.kv_cache_tokens
    assert "--kv-cache-dtype" not in plain.serve.argv
    argv = fp8.serve.argv
    assert argv.count("--kv-cache-dtype") == 1 and argv[argv.index("--kv-cache-dtype") + 1] == "fp8"
