"""The attention kernel and packing the planner picks (issue 14): from the GPU's architecture and what the
training image holds (facts/kernels.py), with the reason said, and the tokens-per-step consequence."""

from __future__ import annotations

import pytest

from builder.facts import gpus as gpu_table
from builder.facts import kernels
from builder.load import validate
from builder.plan import make_plan


def _flag(argv: list[str], name: str) -> str | None:
    return argv[argv.index(name) + 1] if name in argv else None


def test_the_seed_hardware_gets_fa4_packing_and_the_plugin():
    plan = make_plan(validate({}))
    a = plan.train.attention
    assert (a.impl, a.packing) == ("flash_attention_4", True)
    assert "H200" in a.reason and "sm90" in a.reason
    argv = plan.train.argv
    assert _flag(argv, "--attn_impl") == "flash_attention_4" and _flag(argv, "--packing") == "true"
    assert _flag(argv, "--external_plugins") == kernels.FA4_PLUGIN
    assert plan.train.tokens_per_step == 8192 * 1 * 4 * 5


@pytest.mark.parametrize("gpu", [g.name for g in gpu_table.GPUS.values() if g.arch])
def test_every_gpu_gets_a_kernel_that_runs_there_and_packing_only_with_flash(gpu):
    plan = make_plan(validate({"hardware": {"gpu": gpu, "gpus": 8}}))
    a = plan.train.attention
    arch = gpu_table.lookup(gpu).arch
    if a.impl in kernels.AUTO_ARCHS:
        assert arch in kernels.AUTO_ARCHS[a.impl] and arch in kernels.RUNS_ON[a.impl]
    else:
        assert a.impl == "sdpa" and arch in a.reason  # older GPUs: the reason names the architecture
    assert a.packing == (a.impl in kernels.PACKING_KERNELS)
    assert ("--packing" in plan.train.argv) == a.packing


def test_ampere_keeps_sdpa_and_says_how_to_try_fa4():
    plan = make_plan(validate({"hardware": {"gpu": "A100-80GB", "gpus": 8}}))
    a = plan.train.attention
    assert (a.impl, a.packing) == ("sdpa", False)
    assert "train.attn_impl=flash_attention_4" in a.reason and "--external_plugins" not in plan.train.argv
    tried = make_plan(
        validate({"hardware": {"gpu": "A100-80GB", "gpus": 8}, "train": {"attn_impl": "flash_attention_4"}})
    )
    assert tried.feasible and tried.train.attention.packing


def test_an_image_without_flash_attention_plans_sdpa_without_packing():
    plan = make_plan(validate({"stack": {"flash_attn": []}}))
    assert (plan.train.attention.impl, plan.train.attention.packing) == ("sdpa", False)
    assert "stack.flash_attn is empty" in plan.train.attention.reason
    refused = make_plan(validate({"stack": {"flash_attn": []}, "train": {"attn_impl": "flash_attention_4"}}))
    assert any("needs flash-attn-4 in the training image" in e for e in refused.errors)


def test_cpu_plans_sdpa_and_refuses_flash_kernels():
    cpu = make_plan(validate({"hardware": {"gpus": 0, "gpu": "CPU"}}))
    assert (cpu.train.attention.impl, cpu.train.attention.packing) == ("sdpa", False)
    refused = make_plan(validate({"hardware": {"gpus": 0, "gpu": "CPU"}, "train": {"attn_impl": "flash_attention_4"}}))
    assert any("has no kernels for CPU" in e for e in refused.errors)


def test_packing_with_sdpa_is_refused_naming_the_keys():
    plan = make_plan(validate({"train": {"attn_impl": "sdpa", "packing": True}}))
    assert any("train.packing=true needs a flash-attention kernel" in e and "train.attn_impl" in e for e in plan.errors)
    off = make_plan(validate({"train": {"packing": False}}))
    assert off.feasible and "--packing" not in off.train.argv and off.train.attention.impl == "flash_attention_4"


@pytest.mark.parametrize(("tokens", "gpus", "accum"), [(81920, 5, 2), (40960, 5, 1), (1, 5, 1), (1_000_000, 4, 31)])
def test_tokens_per_step_sets_the_accumulation_under_packing(tokens, gpus, accum):
    plan = make_plan(validate({"hardware": {"gpus": gpus}, "train": {"tokens_per_step": tokens}}))
    assert plan.train.grad_accum == accum
    assert _flag(plan.train.argv, "--gradient_accumulation_steps") == str(accum)
    assert plan.train.tokens_per_step == 8192 * plan.train.micro_batch * accum * gpus


def test_tokens_per_step_without_packing_is_refused():
    plan = make_plan(validate({"train": {"tokens_per_step": 50000, "packing": False}}))
    assert any("train.tokens_per_step needs packing" in e for e in plan.errors)


def test_plan_prints_the_kernel_and_the_tokens_per_step(cli):
    out = cli("plan").stdout
    assert "attention   flash_attention_4 + packing" in out
    assert "each optimizer step holds ~163,840 tokens" in out
    assert "with the caching allocator's reserve" in out
