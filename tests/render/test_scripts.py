"""The container entrypoint (real script, run with sh): resume and serve the newest complete checkpoint."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from builder.render.dockerfiles import TEMPLATES

SCRIPT = TEMPLATES / "entrypoint.sh"


def run(mode: str, out: Path, *cmd: str, **env: str) -> subprocess.CompletedProcess:
    full_env = {"PATH": os.environ["PATH"], "MF_OUTPUT_DIR": str(out), **env}
    return subprocess.run(["sh", str(SCRIPT), mode, *cmd], capture_output=True, text=True, env=full_env, timeout=30)


def checkpoint(out: Path, step: int, complete: bool = True, deepspeed: bool = True, weights: bool = False) -> Path:
    path = out / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / "config.json").write_text("{}")
    if weights:
        (path / "model.safetensors").write_text("")
    if deepspeed:
        (path / f"global_step{step}").mkdir()
        if complete:
            (path / "latest").write_text(f"global_step{step}")
    if complete:
        (path / "trainer_state.json").write_text('{"global_step": %d}' % step)
    return path


def test_fresh_run_has_no_resume_flag(tmp_path):
    result = run("train", tmp_path / "run", "echo", "swift", "sft")
    assert result.returncode == 0
    assert result.stdout.strip() == "swift sft"
    assert "starting a new run" in result.stderr


def test_resumes_from_newest_complete_and_skips_half_written(tmp_path):
    checkpoint(tmp_path, 10)
    checkpoint(tmp_path, 20)
    checkpoint(tmp_path, 30, complete=False)  # killed mid-save: no trainer_state.json, no 'latest'
    (tmp_path / "checkpoint-40").mkdir()  # killed right after mkdir
    result = run("train", tmp_path, "echo", "swift", "sft")
    assert result.stdout.strip() == f"swift sft --resume_from_checkpoint {tmp_path}/checkpoint-20"
    assert "skipping incomplete" in result.stderr and "checkpoint-30" in result.stderr


def test_deepspeed_tag_missing_means_incomplete(tmp_path):
    checkpoint(tmp_path, 5)
    ckpt = checkpoint(tmp_path, 6)
    (ckpt / "latest").unlink()
    result = run("train", tmp_path, "echo", "go")
    assert result.stdout.strip().endswith("checkpoint-5")


def test_last_checkpoint_link_is_trusted_first(tmp_path):
    checkpoint(tmp_path, 10)
    checkpoint(tmp_path, 20)
    (tmp_path / "last-checkpoint").symlink_to("checkpoint-10")
    result = run("train", tmp_path, "echo", "go")
    assert result.stdout.strip() == f"go --resume_from_checkpoint {tmp_path}/checkpoint-10"


def test_full_parameter_checkpoint_is_also_the_model(tmp_path):
    # MoE experts are fused in memory but saved per expert; resume alone would not load them.
    checkpoint(tmp_path, 10, weights=True)
    result = run("train", tmp_path, "echo", "swift", "sft", "--model", "base")
    ckpt = f"{tmp_path}/checkpoint-10"
    assert result.stdout.strip() == f"swift sft --model base --model {ckpt} --resume_from_checkpoint {ckpt}"


def test_numeric_not_lexical_order(tmp_path):
    checkpoint(tmp_path, 9)
    checkpoint(tmp_path, 100)
    assert run("train", tmp_path, "echo").stdout.strip().endswith("checkpoint-100")


def test_serve_requires_api_key(tmp_path):
    result = run("serve", tmp_path, "echo", "vllm", "serve", MF_BASE_MODEL="org/base")
    assert result.returncode == 2 and "VLLM_API_KEY" in result.stderr


@pytest.mark.parametrize("have_checkpoint", [True, False])
def test_serve_newest_checkpoint_or_base(tmp_path, have_checkpoint):
    if have_checkpoint:
        checkpoint(tmp_path, 50)
    # A stand-in `vllm` on PATH prints its argv: the entrypoint's exec line is what is under test.
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "vllm").write_text('#!/bin/sh\necho vllm "$@"\n')
    (bin_dir / "vllm").chmod(0o755)
    result = run("serve", tmp_path, "vllm", "serve", "--port", "8000", VLLM_API_KEY="k", MF_BASE_MODEL="org/base",
                 PATH=f"{bin_dir}:{os.environ['PATH']}")
    model = f"{tmp_path}/checkpoint-50" if have_checkpoint else "org/base"
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"vllm serve {model} --port 8000"


def test_serve_module_launcher_gets_model_flag(tmp_path):
    result = run("serve", tmp_path, "echo", "python3", "-m", "vllm.entrypoints.openai.api_server",
                 VLLM_API_KEY="k", MF_BASE_MODEL="/models/tiny")
    assert result.stdout.strip() == "python3 -m vllm.entrypoints.openai.api_server --model /models/tiny"


def test_serve_base_only(tmp_path):
    checkpoint(tmp_path, 50)
    result = run("serve", tmp_path, "echo", "x", VLLM_API_KEY="k", MF_BASE_MODEL="org/base", MF_MODEL_SOURCE="base")
    assert result.stdout.strip() == "x --model org/base"


def test_unknown_mode(tmp_path):
    assert run("bogus", tmp_path).returncode == 2
