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
