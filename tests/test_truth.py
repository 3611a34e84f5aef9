"""Issue 17: every check tells the truth. Planned flags have one owner, bad names and paths are caught by
`validate` with file:line, CPU plans and advice are honest, volumes are sized against the plan, nothing
unchecked is called clean, and every command follows one exit-code contract."""

from __future__ import annotations

import json

import pytest

from builder.cli import _commands, parser
from builder.errors import SpecError
from builder.load import validate
from builder.plan import make_plan

BAD_SPEC = "train:\n  deepspeed: zero9\n"


@pytest.mark.parametrize(
    ("override", "expected"),
    [
        ("hardware.gpu=H300", "unknown GPU 'H300'; did you mean 'H200'?"),
        ("train.dataset=[ms::foo/bar#-5]", "'#-5' must be a positive number of rows"),
        ("train.dataset=[data/train.jsonl]", "use the container path under the data volume, e.g. /data/train.jsonl"),
        ("train.dataset=[./my.json]", "is a relative path"),
        ("train.extra_args={deepspeed: zero1}", "--deepspeed is planned from train.deepspeed"),
        ("train.extra_args.per_device_train_batch_size=8", "planned from train.per_device_batch_size"),
        ("train.extra_args.train_type=lora", "ms-swift 4 renamed --train_type"),
        ("serve.extra_args.tensor-parallel-size=5", "--tensor-parallel-size is planned from serve.tensor_parallel"),
        ("serve.extra_args.max_model_len=4096", "planned from serve.max_model_len"),
        ("serve.extra_args.host=0.0.0.0", "set by ModelForge itself"),
    ],
)
def test_validate_catches_it_naming_the_source_and_the_key_to_use(cli, override, expected):
    r = cli("validate", "--set", override)
    assert r.returncode == 2, r.stdout
    assert expected in r.stderr and "--set #1" in r.stderr, r.stderr


def test_the_spec_file_line_is_named(cli, write_spec):
    spec = write_spec("name: x\nhardware:\n  gpus: 2\n  gpu: A10O-80GB\n")
    r = cli("validate", "-f", str(spec))
    assert r.returncode == 2 and f"{spec}:4: hardware.gpu: unknown GPU 'A10O-80GB'; did you mean" in r.stderr


PLANNER_REFUSALS = [  # (spec lines, the line the error must name, what it says): one per planner key
    ("train:\n  attn_impl: sdpa\n  packing: true\n", 3, "train.packing=true needs a flash-attention kernel"),
    ("train:\n  tokens_per_step: 100000\n  packing: false\n", 2, "train.tokens_per_step needs packing"),
    ("hardware:\n  gpus: 1\n  gpu: RTX4090\ntrain:\n  deepspeed: none\n", 5, "train.deepspeed=none does not fit"),
    ("serve:\n  tensor_parallel: 3\n", 2, "serve layout tp=3"),
    (
        "volumes:\n  checkpoints:\n    mount: /checkpoints\n    size: 100Gi\n",
        4,
        "volumes.checkpoints.size 100Gi is less than",
    ),
    ("hardware:\n  gpus: 5\n  disk_free_gib: 10\n", 3, "but hardware.disk_free_gib is 10"),
    ("train:\n  attn_impl: flash_attention_3\n", 2, "train.attn_impl=flash_attention_3 needs"),
]


@pytest.mark.parametrize(("text", "line", "expected"), PLANNER_REFUSALS)
def test_validate_runs_the_planners_checks_naming_file_and_line(cli, write_spec, text, line, expected):
    """One code path: `validate` makes the plan, so a spec it accepts is one `plan` and `render` accept; the
    planner's refusals name the line of the key to change, in `validate` and in `plan` alike (exit 1)."""
    spec = write_spec("name: x\n" + text)
    for command in ("validate", "plan"):
        r = cli(command, "-f", str(spec))
        assert r.returncode == 1, (command, r.stdout, r.stderr)
        assert f"error: {spec}:{line + 1}: " in r.stderr and expected in r.stderr, (command, r.stderr)  # + "name: x"
        assert "Traceback" not in r.stderr


def test_validate_names_a_planner_refusal_from_set_and_a_default_at_its_section(cli, write_spec):
    r = cli("validate", "--set", "serve.tensor_parallel=3")
    assert r.returncode == 1 and "error: --set #1 (serve.tensor_parallel=3): serve layout tp=3" in r.stderr
    spec = write_spec("name: x\nhardware:\n  gpus: 2\n  disk_free_gib: 10\ntrain:\n  save_total_limit: 1\n")
    r = cli("validate", "-f", str(spec))  # the refusal's own key is not written: its section's line
    assert f"error: {spec}:4: checkpoints need" in r.stderr, r.stderr


def test_validate_says_the_plan_fits_and_an_unreadable_config_is_bad_input(cli, write_spec, tmp_path):
    r = cli("validate")
    assert r.returncode == 0 and "valid, and the plan fits" in r.stdout, r.stderr
    bad = tmp_path / "config.json"
    bad.write_text("{not json")
    spec = write_spec(f"name: x\nmodel:\n  id: org/unknown\n  config_path: {bad}\n")
    r = cli("validate", "-f", str(spec))
    assert r.returncode == 2 and f"error: {spec}:4: model.config_path: cannot read the model config" in r.stderr


def test_hub_ids_and_container_paths_pass():
    spec = validate({"train": {"dataset": ["org/name#500", "MS::org/name:subset", "/data/train.jsonl#20", "org/x.y"]}})
    assert len(spec.train.dataset) == 4


def test_unknown_flags_pass_through_with_a_warning_that_they_are_unchecked():
    plan = make_plan(validate({"train": {"extra_args": {"warmup_ratio": 0.05}}}))
    assert "--warmup_ratio" in plan.train.argv
    assert any("--warmup_ratio" in w and "unchecked" in w for w in plan.warnings)


def test_a_tuner_brings_its_usual_defaults_unless_the_spec_sets_them():
    lora = make_plan(validate({"train": {"tuner": "lora"}}))
    argv = lora.train.argv
    assert argv[argv.index("--learning_rate") + 1] == "0.0001"
    assert argv[argv.index("--target_modules") + 1 :][:1] == ["all-linear"]
    assert [d.split(" (")[0] for d in lora.train.defaults_applied] == [
        "learning_rate 0.0001",
        "target_modules all-linear",
    ]
    kept = make_plan(
        validate({"train": {"tuner": "lora", "learning_rate": 1e-5, "target_modules": ["q_proj", "v_proj"]}})
    )
    argv = kept.train.argv
    assert argv[argv.index("--learning_rate") + 1] == "1e-05" and argv[-3:] == ["--target_modules", "q_proj", "v_proj"]
    assert kept.train.defaults_applied == []  # nothing applied: a far-off rate is a warning, not a default
    assert any("far from lora's usual 0.0001" in w for w in kept.warnings)
    full = make_plan(validate({"train": {"target_modules": ["q_proj"]}}))
    assert full.train.defaults_applied == [] and "--target_modules" not in full.train.argv
    assert any("train.target_modules is for LoRA" in w for w in full.warnings)


def test_cpu_plans_count_host_ram_not_gpu_memory(cli):
    plan = make_plan(validate({"hardware": {"gpus": 0}}))
    mem = plan.train.memory
    assert mem.gpu_peak_gib == 0 and mem.host_gib > 500  # 30B params, full FT, all in RAM
    out = cli("plan", "--set", "hardware.gpus=0").stdout
    assert "CPU only" in out and "GiB of host RAM" in out and "per GPU" not in out and "0 GiB each" not in out
    short = make_plan(validate({"hardware": {"gpus": 0, "host_memory_gib": 64}}))
    assert any("CPU run needs" in e and "hardware.host_memory_gib is 64" in e for e in short.errors)


def test_advice_names_the_lever_that_moves_the_limiting_figure():
    host_bound = make_plan(validate({"hardware": {"gpu": "A100-80GB", "host_memory_gib": 512}}))
    [error] = [e for e in host_bound.errors if "does not fit" in e]
    assert "host RAM limits it" in error and "max_length" not in error
    gpu_bound = make_plan(validate({"hardware": {"gpu": "RTX4090", "gpus": 1}, "train": {"max_length": 131072}}))
    [error] = [e for e in gpu_bound.errors if "does not fit" in e]
    assert "GPU memory limits it" in error and "max_length" in error


def test_volumes_smaller_than_what_the_plan_writes_are_errors_naming_the_key(cli):
    plan = make_plan(validate({"model": {"id": "meta-llama/Llama-3.1-70B"}}))
    assert any(e.startswith("volumes.checkpoints.size 1500Gi is less than") for e in plan.errors)
    small = make_plan(validate({"volumes": {"model_cache": {"mount": "/models", "size": "20Gi"}}}))
    assert any(e.startswith("volumes.model_cache.size 20Gi is less than") for e in small.errors)
    r = cli("render", "-o", "/nonexistent-not-written", "--set", "volumes.checkpoints.size=100Gi")
    assert r.returncode == 1 and "raise volumes.checkpoints.size" in r.stderr
    assert make_plan(validate({})).feasible


def test_data_check_never_calls_unchecked_clean(cli):
    r = cli("data", "check", "--offline")
    assert r.returncode == 0 and "1 unchecked" in r.stdout and "clean" not in r.stdout
    strict = cli("data", "check", "--offline", "--strict")
    assert strict.returncode == 1 and "unchecked fails" in strict.stdout
    data = json.loads(cli("data", "check", "--offline", "--json").stdout)
    assert data["unchecked"] == 1


def test_bench_serve_without_a_server_says_why_and_saves_no_zeros(cli, tmp_path, monkeypatch):
    monkeypatch.setenv("VLLM_API_KEY", "x")
    out = tmp_path / "bench"
    r = cli("bench-serve", "--engine", "builtin", "--url", "http://127.0.0.1:9/v1", "--model", "m",
            "--num-prompts", "2", "--rates", "inf", "-o", str(out))  # fmt: skip
    assert r.returncode == 1 and "no request at rate inf got an answer" in r.stderr and "is the server up" in r.stderr
    assert not (out / "summary.json").exists()


# ---- one exit-code contract: 0 ok, 1 infeasible / problems / failed, 2 bad input or usage


def _spec_commands() -> list[tuple[str, list[str]]]:
    """Every command that reads a spec (-f), with the arguments it needs to get that far."""
    extra = {"plot": ["-o", "x.png"], "batch": ["in.jsonl", "out.jsonl"], "data": ["check"], "start": ["serve"]}
    found = []
    for name, sub in _commands(parser()).items():
        options = {o for a in sub._actions for o in a.option_strings}
        if "-f" in options or name == "data":
            found.append((name, extra.get(name, [])))
    return found


@pytest.mark.parametrize("name", sorted(_commands(parser())))
def test_every_command_help_exits_0_and_a_bad_flag_exits_2(cli, name):
    assert cli(name, "--help").returncode == 0
    bad = cli(name, "--no-such-flag")
    assert bad.returncode == 2, (name, bad.stderr)


@pytest.mark.parametrize(("name", "args"), _spec_commands())
def test_every_spec_reading_command_exits_2_on_a_bad_spec(cli, write_spec, name, args, tmp_path):
    spec = write_spec(BAD_SPEC)
    argv = [name, *args[:1], "-f", str(spec), *args[1:]] if name == "data" else [name, *args, "-f", str(spec)]
    r = cli(*argv, cwd=tmp_path)
    assert r.returncode == 2, (name, r.returncode, r.stderr[-500:])
    assert "train.deepspeed" in r.stderr


@pytest.mark.parametrize("name", ["validate", "plan", "render", "doctor"])
def test_an_infeasible_plan_exits_1(cli, name, tmp_path):
    r = cli(name, "--set", "hardware.gpu=RTX4090", "--set", "hardware.gpus=1", cwd=None)
    assert r.returncode == 1, (name, r.stderr[-300:])


def test_a_spec_error_is_a_spec_error_not_a_traceback():
    with pytest.raises(SpecError):
        validate({"hardware": {"gpu": "nope"}})
