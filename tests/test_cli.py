"""The CLI as a user runs it: exit codes, one line per problem, no tracebacks."""

from __future__ import annotations

import json
import shlex


def test_plan_prints_exact_commands(cli):
    result = cli("plan")
    assert result.returncode == 0, result.stderr
    assert "swift sft --model Qwen/Qwen3-30B-A3B-Thinking-2507" in result.stdout
    assert "--tuner_type full" in result.stdout and "--train_type" not in result.stdout
    assert "--add_version false" in result.stdout
    assert "vllm serve" in result.stdout


def test_plan_json_fields(cli):
    result = cli("plan", "--json")
    data = json.loads(result.stdout)
    train, serve = data["train"], data["serve"]
    assert shlex.split(train["command_line"]) == train["command"]
    assert train["env"]["NPROC_PER_NODE"] == "5"
    assert train["deepspeed"] in {"zero3", "zero3_offload", "zero2", "zero2_offload", "none"}
    # The seed's --tensor-parallel-size 5 cannot start: 32 heads.
    assert 32 % serve["tensor_parallel"] == 0
    assert serve["tensor_parallel"] * serve["data_parallel"] * serve["pipeline_parallel"] <= 5


def test_plan_says_how_many_full_length_requests_the_cache_holds_and_what_fp8_would_give(cli):
    result = cli("plan", "--set", "hardware.gpus=1", "--set", "hardware.gpu=H100-80GB")
    assert result.returncode == 0, result.stderr
    data = json.loads(cli("plan", "--json", "--set", "hardware.gpus=1", "--set", "hardware.gpu=H100-80GB").stdout)
    serve = data["serve"]
    # vLLM's own "Maximum concurrency for 32,768 tokens per request: 4.12x" on that card (bench s18e)
    assert (
        serve["full_length_requests"] == round(serve["kv_cache_tokens"] / 32768, 2)
        and 4.0 < serve["full_length_requests"] < 4.3
    )
    assert f"({serve['full_length_requests']:.1f} requests at the full serve.max_model_len)" in result.stdout
    both = serve["kv_cache_tokens_with_fp8"]["both"]
    assert f"~{both:,} with both (opt-in" in result.stdout
    cpu = json.loads(cli("plan", "--json", "--set", "hardware.gpus=0").stdout)["serve"]
    assert cpu["kv_cache_tokens_with_fp8"] == {}


def test_spec_error_exit_2_without_traceback(cli, write_spec):
    path = write_spec("train:\n  deepspeed: zero9\n  epocs: 1\n")
    result = cli("render", "-f", str(path), "--check")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert all(line.startswith(f"error: {path}:") for line in lines)
    assert "train.deepspeed" in result.stderr and "did you mean 'epochs'" in result.stderr


def test_missing_spec_exit_2(cli, tmp_path):
    result = cli("plan", "-f", str(tmp_path / "missing.yaml"))
    assert result.returncode == 2 and "not found" in result.stderr and "Traceback" not in result.stderr


def test_infeasible_layout_exit_1_and_render_refuses(cli, root):
    result = cli("plan", "--set", "serve.tensor_parallel=5")
    assert result.returncode == 1
    assert "Total number of attention heads" in result.stderr or "num_attention_heads (32)" in result.stderr
    assert "data_parallel=5" in result.stderr  # says what to use instead
    render = cli("render", "--check", "--set", "serve.tensor_parallel=5")
    assert render.returncode == 1 and "infeasible" in render.stderr


def test_render_into_folder_and_check(cli, tmp_path, root):
    assert cli("render", "-o", str(tmp_path)).returncode == 0
    assert (tmp_path / "Dockerfile.train").exists() and (tmp_path / "k8s" / "kustomization.yaml").exists()
    assert cli("render", "-o", str(tmp_path), "--check").returncode == 0
    (tmp_path / "compose" / "docker-compose.yml").write_text("# edited\n")
    result = cli("render", "-o", str(tmp_path), "--check")
    assert result.returncode == 1 and "compose/docker-compose.yml" in result.stdout


# ---- issue 15: schema, completion, suggestions, one-line help


def test_a_mistyped_command_gets_a_suggestion_and_exit_2(cli):
    r = cli("paln")
    assert r.returncode == 2
    assert "unknown command 'paln'; did you mean 'plan'?" in r.stderr
    assert "did you mean" not in cli("zzzzzz").stderr and cli("zzzzzz").returncode == 2


def test_every_subcommand_help_opens_with_one_line_saying_what_it_does(cli):
    from builder.cli import _commands, parser

    for name, sub in _commands(parser()).items():
        out = cli(name, "--help").stdout
        first = " ".join(out.split("\n\n")[1].split()) if "\n\n" in out else ""  # argparse wraps it to the terminal
        assert first and first == " ".join((sub.description or "").split()), f"{name}: {out[:200]}"


def test_bash_completion_lists_commands_and_their_flags(cli):
    import subprocess

    script = cli("completion", "bash").stdout
    probe = (
        script + '\nCOMP_WORDS=(modelforge pl); COMP_CWORD=1; _modelforge; echo "${COMPREPLY[*]}"'
        '\nCOMP_WORDS=(modelforge plan --j); COMP_CWORD=2; _modelforge; echo "${COMPREPLY[*]}"'
    )
    out = subprocess.run(["bash", "-c", probe], capture_output=True, text=True, check=True).stdout.splitlines()
    assert out == ["plan plot", "--json"]


def test_the_committed_schema_is_current_and_validates_the_specs(cli, root):
    import json

    import jsonschema
    import yaml

    assert cli("schema", "--check", str(root / "modelforge.schema.json")).returncode == 0
    schema = json.loads((root / "modelforge.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for spec in ("modelforge.yaml", "examples/smoke.yaml"):
        assert not list(validator.iter_errors(yaml.safe_load((root / spec).read_text()))), spec
    bad = {"train": {"deepspeed": "zero9", "max_lenght": 8192}}
    messages = " ".join(e.message for e in validator.iter_errors(bad))
    assert "zero9" in messages and "max_lenght" in messages
    assert (root / "modelforge.yaml").read_text().startswith("# yaml-language-server: $schema=modelforge.schema.json\n")


def test_a_stale_schema_file_is_reported(cli, tmp_path):
    stale = tmp_path / "schema.json"
    stale.write_text("{}\n")
    r = cli("schema", "--check", str(stale))
    assert r.returncode == 1 and "modelforge schema -o" in r.stderr
