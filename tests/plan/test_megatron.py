"""train.backend: megatron — the layouts megatron-core accepts, the planner's pick, its refusals and the
`megatron sft` command (issue 20), and what the runs on one H200 changed (builder/facts/megatron.py)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from builder.facts import models
from builder.load import load_spec, validate
from builder.plan import make_plan
from builder.plan import megatron as mg
from builder.plan.memory import GIB, HEADROOM

QWEN = models.lookup("Qwen/Qwen3-30B-A3B-Thinking-2507")
PROXY = Path(__file__).resolve().parents[2] / "bench" / "proxy" / "4layer" / "config.json"  # what ran on the H200
STACK = {"stack": {"megatron": ["megatron-core==0.19.2", "mcore-bridge==1.6.5", "transformer-engine[pytorch]==2.20.2"]}}


def lay(**kw) -> mg.Layout:
    base = dict(tp=1, pp=1, cp=1, dp=5, ep=1, etp=1, stages=(48,), recompute=False, offload=False)
    return mg.Layout(**{**base, **kw})


@pytest.mark.parametrize(
    ("layout", "world", "rule"),
    [
        (lay(tp=3, dp=1), 3, "heads"),  # 32 heads
        (lay(tp=64, dp=1), 64, "heads"),
        (lay(ep=3, dp=3), 3, "experts"),  # 128 experts
        (lay(ep=4), 5, "expert_dp"),  # EP 4 inside 5 data-parallel ranks
        (lay(pp=5, dp=1, stages=(10,) * 5), 5, "layers"),  # 50 != 48
        (lay(pp=5, dp=1, stages=(8, 10, 11, 10, 9)), 5, "layers"),  # middle stages uneven
        (lay(dp=4), 5, "world"),
        (lay(etp=5, dp=5), 5, "expert_width"),  # 768 % 5
    ],
)
def test_each_megatron_core_rule_refuses_what_it_asserts(layout, world, rule):
    assert rule in mg.violations(QWEN, world, layout)


def test_kv_groups_may_divide_tp_or_be_divided_by_it():
    assert "groups" not in mg.violations(QWEN, 8, lay(tp=8, dp=1))  # 8 % 4 groups == 0
    odd = replace(QWEN, heads=24, kv_heads=6)
    assert "groups" in mg.violations(odd, 4, lay(tp=4, dp=1))  # neither 6 % 4 nor 4 % 6


def test_a_dense_model_has_no_expert_parallel():
    dense = replace(QWEN, experts=0, experts_per_token=0, intermediate=6144)
    assert "dense_ep" in mg.violations(dense, 2, lay(ep=2, dp=2))
    assert all(x.ep == 1 and x.etp == 1 for x in mg.layouts(dense, 4, 8192, 8))


def test_stage_splits_keep_the_middle_even():
    assert mg.stage_split(QWEN, 5) == (9, 10, 10, 10, 9)  # 48 layers: the ends also hold embedding and head
    assert mg.stage_split(QWEN, 4) == (12,) * 4
    assert mg.stage_split(replace(QWEN, layers=47), 2) == (23, 24)
    for pp in range(2, 17):
        stages = mg.stage_split(QWEN, pp)
        assert stages is None or not mg.violations(QWEN, pp, lay(pp=pp, dp=1, stages=stages)), (pp, stages)
    assert mg.explicit_stages(QWEN, 2, 25, None) == (25, 23)  # ms-swift's mcore_bridge example
    assert mg.explicit_stages(QWEN, 5, 9, 9) == (9, 10, 10, 10, 9)
    assert mg.explicit_stages(QWEN, 5, 10, 10) is None  # 28 layers over 3 middle stages


def test_five_gpus_leave_expert_parallel_one_and_four_take_four():
    on_five = {(x.tp, x.pp, x.ep) for x in mg.layouts(QWEN, 5, 8192, 5)}
    assert on_five == {(1, 1, 1), (1, 5, 1)}  # 32 heads and 128 experts: no 5 anywhere
    on_four = mg.layouts(QWEN, 4, 8192, 4)
    assert any(x.ep == 4 and x.dp == 4 for x in on_four)


def test_memory_per_gpu_is_the_formula_in_the_docstring():
    layout = lay(pp=5, dp=1, stages=(9, 10, 10, 10, 9), recompute=True)
    e = mg.estimate(QWEN, layout, 8192, 1, 20, 5, 989.0, "nvlink")
    # the last stage holds the most (its fp32 logits): 9 layers of attention + router, the LM head and the
    # final norm as dense, 128 experts a layer; nothing sharded (tp=ep=dp=1)
    dense = 9 * (QWEN.attention_params + QWEN.hidden * QWEN.experts) + QWEN.vocab * QWEN.hidden + QWEN.hidden
    expert = 9 * QWEN.experts * QWEN.expert_params
    assert e.weights_grads_gib == pytest.approx(6 * (dense + expert) / GIB, rel=1e-9)
    assert e.optimizer_gib == pytest.approx(12 * (dense + expert) / GIB, rel=1e-9)
    # everything on every GPU does not fit an H200: 6 bytes per parameter of 30.5B alone is 170 GiB
    assert mg.estimate(QWEN, lay(), 8192, 1, 20, 5, 989.0, "nvlink").gpu_gib > 170


def test_without_megatron_in_the_image_auto_keeps_deepspeed_and_says_why():
    plan = make_plan(validate({}))
    assert plan.train.backend == "deepspeed" and "stack.megatron is empty" in plan.train.backend_reason
    assert plan.train.argv[:2] == ["swift", "sft"]


def test_auto_picks_megatron_for_the_moe_model_with_an_uneven_pipeline_on_five_gpus():
    plan = make_plan(validate(STACK))
    assert plan.feasible, plan.errors
    t = plan.train
    assert t.backend == "megatron" and "9.5x" in t.backend_reason and "one GPU only" in t.backend_reason
    best = t.megatron.best
    assert (best.layout.tp, best.layout.pp, best.layout.ep) == (1, 5, 1) and best.layout.stages == (9, 10, 10, 10, 9)
    assert best.gpu_gib <= 140.4 * HEADROOM
    argv = t.argv
    assert argv[:2] == ["megatron", "sft"]
    flags = dict(zip(argv[2::2], argv[3::2], strict=False))
    assert flags["--pipeline_model_parallel_size"] == "5"
    assert flags["--decoder_first_pipeline_num_layers"] == "9" and flags["--decoder_last_pipeline_num_layers"] == "9"
    assert flags["--global_batch_size"] == str(t.megatron.global_batch)
    assert t.megatron.global_batch % (best.layout.dp * 1) == 0
    assert "--resume_from_checkpoint" not in argv and "--deepspeed" not in argv
    assert t.env["NPROC_PER_NODE"] == "5"
    # the data-parallel dimension with experts: rendered only for MoE models
    assert flags["--expert_model_parallel_size"] == "1" and flags["--moe_grouped_gemm"] == "true"
    # measured on one H200: cuDNN attention (flash trained with wrong losses), expandable allocator segments
    assert flags["--attention_backend"] == "fused"
    assert t.env["PYTORCH_CUDA_ALLOC_CONF"] == "expandable_segments:True"


def test_the_attention_backend_and_allocator_hold_without_packing_and_train_env_wins():
    plan = make_plan(
        validate({**STACK, "train": {"packing": False, "env": {"PYTORCH_CUDA_ALLOC_CONF": "max_split_size_mb:512"}}})
    )
    t = plan.train
    assert t.backend == "megatron", plan.errors
    assert t.argv[t.argv.index("--attention_backend") + 1] == "fused" and "--packing" not in t.argv
    assert t.env["PYTORCH_CUDA_ALLOC_CONF"] == "max_split_size_mb:512"


def test_one_gpu_keeps_deepspeed_on_auto_and_runs_megatron_when_asked():
    one = {**STACK, "hardware": {"gpus": 1, "gpu": "H200"}, "model": {"config_path": str(PROXY)}}
    auto = make_plan(validate(one))
    assert auto.train.backend == "deepspeed" and "one GPU" in auto.train.backend_reason
    asked = make_plan(validate({**one, "train": {"backend": "megatron"}}))
    assert asked.train.backend == "megatron", asked.errors
    assert "NPROC_PER_NODE" not in asked.train.env


def test_the_step_time_model_is_calibrated_to_the_one_gpu_runs():
    """bench/results/i20b3-megatron-fused-1gpu-1.json: 0.921 s per step of 4 packed 8K rows on the 4-layer proxy,
    tp=pp=ep=1, no recompute; i20b2: full recompute 1.43x the step without (same batch)."""
    proxy = models.facts_from_config(json.loads(PROXY.read_text()), "proxy")
    plain = mg.estimate(proxy, lay(dp=1, stages=(4,)), 8192, 1, 4, 1, 989.0, "nvlink")
    assert plain.step_s == pytest.approx(0.921, rel=0.1)
    redo = mg.estimate(proxy, lay(dp=1, stages=(4,), recompute=True), 8192, 1, 4, 1, 989.0, "nvlink")
    assert redo.step_s / plain.step_s == pytest.approx(1.43, rel=0.01)
    # the memory formula against torch's peak allocation in the same runs: 68.0 GiB (66.5 planned) and 64.3
    assert plain.gpu_gib == pytest.approx(68.0, rel=0.05) and redo.gpu_gib == pytest.approx(64.3, rel=0.05)


def test_four_gpus_of_five_when_told_to():
    plan = make_plan(validate({**STACK, "train": {"megatron": {"gpus": 4, "expert_parallel": 4}}}))
    assert plan.feasible, plan.errors
    best = plan.train.megatron.best.layout
    assert best.world == 4 and best.ep == 4
    assert plan.train.env["NPROC_PER_NODE"] == "4"
    assert any("4 of the 5 GPUs" in w for w in plan.warnings)


def spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "modelforge.yaml"
    path.write_text("stack:\n  megatron: [megatron-core==0.19.2]\n" + text)
    return path


def test_an_impossible_layout_is_refused_with_the_rule_and_what_works(tmp_path):
    plan = make_plan(
        load_spec(spec_file(tmp_path, "train:\n  backend: megatron\n  megatron:\n    tensor_parallel: 3\n"))
    )
    [error] = plan.errors
    assert error.startswith(f"{tmp_path}/modelforge.yaml:6: train.megatron (tp=3) on 5 GPUs:")
    assert mg.RULES["heads"] in error and "Layouts that fit:" in error and "pp=5" in error
    # EP 4 on five GPUs: the planner trains on four of them (no backend named: the values say Megatron)
    plan = make_plan(load_spec(spec_file(tmp_path, "train:\n  megatron:\n    expert_parallel: 4\n")))
    assert plan.feasible and plan.train.megatron.best.layout.world == 4, plan.errors
    # ... unless told to use all five: then EP 4 cannot fit inside 5 data-parallel ranks
    plan = make_plan(load_spec(spec_file(tmp_path, "train:\n  megatron:\n    gpus: 5\n    expert_parallel: 4\n")))
    [error] = plan.errors
    assert mg.RULES["expert_dp"] in error and ":6: train.megatron (ep=4) on 5 GPUs" in error
    assert "Layouts that fit: 5 GPUs/node tp=1 pp=5" in error


def test_megatron_needs_gpus_the_image_and_a_full_fine_tune(tmp_path):
    cpu = make_plan(load_spec(Path("builder/examples/smoke.yaml"), ("train.backend=megatron",)))
    assert any("train.backend: megatron cannot run here: CPU run" in e for e in cpu.errors)
    no_image = make_plan(validate({"train": {"backend": "megatron"}}))
    assert any("stack.megatron is empty" in e for e in no_image.errors)
    lora = make_plan(validate({**STACK, "train": {"backend": "megatron", "tuner": "lora"}}))
    assert any("full fine-tuning only" in e for e in lora.errors)
    # auto on the same specs quietly stays on DeepSpeed
    assert make_plan(validate({**STACK, "train": {"tuner": "lora"}})).train.backend == "deepspeed"


def test_a_dense_model_stays_on_deepspeed_on_auto_and_gets_megatron_when_asked():
    dense = {"model": {"id": "Qwen/Qwen3-8B"}}
    assert "dense model" in make_plan(validate({**STACK, **dense})).train.backend_reason
    asked = make_plan(validate({**STACK, **dense, "train": {"backend": "megatron"}}))
    assert asked.train.backend == "megatron", asked.errors
    assert "--expert_model_parallel_size" not in asked.train.argv


def test_the_rendered_bundle_runs_megatron_sft_through_the_entrypoint():
    from builder.render import render_all

    files = render_all(make_plan(validate(STACK)))
    assert "megatron sft" in files["compose/docker-compose.yml"].replace("\n    - ", " ").replace("- ", "")
    assert (
        'ARG MEGATRON_PACKAGES="megatron-core==0.19.2 mcore-bridge==1.6.5 transformer-engine[pytorch]==2.20.2"'
        in (files["Dockerfile.train"])
    )
    assert 'ARG MEGATRON_PACKAGES=""' in render_all(make_plan(validate({})))["Dockerfile.train"]


def test_explicit_stage_sizes_are_planned_as_written_or_refused(tmp_path):
    """first/last_stage_layers: a split megatron-core takes is planned as written (not the planner's own); one it
    refuses (uneven middle stages, or no pipeline_parallel to split) is refused, never dropped."""
    pipeline = "train:\n  megatron:\n    pipeline_parallel: 5\n    first_stage_layers: {}\n    last_stage_layers: {}\n"
    plan = make_plan(load_spec(spec_file(tmp_path, pipeline.format(12, 6))))
    assert plan.feasible, plan.errors
    assert plan.train.megatron.best.layout.stages == (12, 10, 10, 10, 6)
    argv = plan.train.argv
    assert argv[argv.index("--decoder_first_pipeline_num_layers") + 1] == "12"
    assert argv[argv.index("--decoder_last_pipeline_num_layers") + 1] == "6"
    uneven = make_plan(load_spec(spec_file(tmp_path, pipeline.format(10, 10))))  # 28 layers over 3 middle stages
    [error] = uneven.errors
    assert f"{tmp_path}/modelforge.yaml:5: train.megatron (pp=5)" in error and mg.RULES["layers"] in error
    alone = make_plan(load_spec(spec_file(tmp_path, "train:\n  megatron:\n    first_stage_layers: 12\n")))
    [error] = alone.errors
    assert ":5: train.megatron (these stage sizes)" in error and mg.RULES["layers"] in error
