"""Training memory against DeepSpeed's published estimator formulas and the model's real size."""

from __future__ import annotations

import pytest

from builder.facts.models import lookup
from builder.load import validate
from builder.plan import make_plan, memory

QWEN3_30B = lookup("Qwen/Qwen3-30B-A3B-Thinking-2507")


def test_param_counts_match_published_sizes():
    # Qwen3-30B-A3B model card: 30.5B total, 3.3B activated.
    assert QWEN3_30B.total_params == pytest.approx(30.5e9, rel=0.01)
    assert QWEN3_30B.active_params == pytest.approx(3.3e9, rel=0.03)
    assert lookup("Qwen/Qwen3-8B").total_params == pytest.approx(8.2e9, rel=0.01)
    assert lookup("meta-llama/Llama-3.1-70B").total_params == pytest.approx(70.6e9, rel=0.01)


def test_zero3_formula_on_5_gpus():
    gpu, host = memory.model_states(
        "zero3",
        QWEN3_30B.total_params,
        QWEN3_30B.total_params,
        QWEN3_30B.largest_module_params,
        gpus=5,
        gpus_per_node=5,
    )
    # facts.md: 4L + 18P/N = 104.6 GiB per GPU
    assert gpu / memory.GIB == pytest.approx(104.6, abs=0.2)


def test_offload_moves_states_to_host():
    gpu, host = memory.model_states(
        "zero3_offload",
        QWEN3_30B.total_params,
        QWEN3_30B.total_params,
        QWEN3_30B.largest_module_params,
        gpus=5,
        gpus_per_node=5,
    )
    assert gpu / memory.GIB < 3
    assert host / memory.GIB > 700  # the seed guide's "64 GB RAM" is far too little


def test_explicit_stage_that_cannot_fit_is_an_error():
    plan = make_plan(validate({"hardware": {"gpu": "A100-80GB"}, "train": {"deepspeed": "zero2"}}))
    assert any("does not fit" in e and "Options that fit" in e for e in plan.errors)


def test_auto_picks_offload_on_small_gpus_and_says_why():
    plan = make_plan(validate({"hardware": {"gpu": "A100-80GB"}}))
    # 104.6 GiB of ZeRO-3 model states cannot fit 80 GB: an offload stage it must be.
    assert plan.train.deepspeed.endswith("_offload")
    assert plan.train.memory.gpu_peak_gib <= 79.3 * 0.9
    assert "fits" in plan.train.deepspeed_reason


def test_lora_is_much_smaller():
    full = make_plan(validate({"train": {"deepspeed": "zero3"}}))
    lora = make_plan(validate({"train": {"tuner": "lora", "deepspeed": "zero3"}}))
    assert lora.train.memory.model_states_gib < full.train.memory.model_states_gib / 2
    assert lora.train.checkpoint_gib < 10


def test_auto_micro_batch_two_only_where_zero3_still_fits_with_the_allocator_reserve():
    # Micro-batch 2 measured bimodal at the memory edge (0.86x / 1.86x, 132 of 140 GiB reserved): it is taken only
    # where the tensors fit 90% AND tensors plus the caching allocator's reserve fit 97% of the GPU.
    five = make_plan(validate({}))
    assert (five.train.micro_batch, five.train.grad_accum) == (1, 4)  # 2 would need ~130 GiB of 126
    six = make_plan(validate({"hardware": {"gpus": 6}}))  # 2 fits the tensors (112.6) but not with the reserve
    assert (six.train.micro_batch, six.train.grad_accum) == (1, 4) and six.train.deepspeed == "zero3"
    eight = make_plan(validate({"hardware": {"gpus": 8}}))
    assert (eight.train.micro_batch, eight.train.grad_accum) == (2, 2) and eight.train.deepspeed == "zero3"
    assert eight.train.memory.device_gib <= 140.4 * 0.97
    assert "--per_device_train_batch_size" in eight.train.argv
    assert eight.train.argv[eight.train.argv.index("--per_device_train_batch_size") + 1] == "2"
    # Never onto an offload stage for the sake of a bigger batch.
    small = make_plan(validate({"hardware": {"gpu": "A100-80GB"}}))
    assert small.train.micro_batch == 1
    explicit = make_plan(validate({"hardware": {"gpus": 8}, "train": {"per_device_batch_size": 1}}))
    assert (explicit.train.micro_batch, explicit.train.grad_accum) == (1, 4)
