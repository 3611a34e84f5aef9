"""The container entrypoint (real script, run with sh): resume and serve the newest complete checkpoint."""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

import pytest

from builder.render.scripts import CONTEXT

SCRIPT = CONTEXT / "entrypoint.sh"


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
    result = run(
        "serve",
        tmp_path,
        "vllm",
        "serve",
        "--port",
        "8000",
        VLLM_API_KEY="k",
        MF_BASE_MODEL="org/base",
        PATH=f"{bin_dir}:{os.environ['PATH']}",
    )
    model = f"{tmp_path}/checkpoint-50" if have_checkpoint else "org/base"
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"vllm serve {model} --port 8000"


def test_serve_module_launcher_gets_model_flag(tmp_path):
    result = run(
        "serve",
        tmp_path,
        "echo",
        "python3",
        "-m",
        "vllm.entrypoints.openai.api_server",
        VLLM_API_KEY="k",
        MF_BASE_MODEL="/models/tiny",
    )
    assert result.stdout.strip() == "python3 -m vllm.entrypoints.openai.api_server --model /models/tiny"


def test_serve_base_only(tmp_path):
    checkpoint(tmp_path, 50)
    result = run("serve", tmp_path, "echo", "x", VLLM_API_KEY="k", MF_BASE_MODEL="org/base", MF_MODEL_SOURCE="base")
    assert result.stdout.strip() == "x --model org/base"


def test_unknown_mode(tmp_path):
    assert run("bogus", tmp_path).returncode == 2


def test_trainer_state_cut_short_means_incomplete(tmp_path):
    checkpoint(tmp_path, 10)
    checkpoint(tmp_path, 20)
    (tmp_path / "checkpoint-20" / "trainer_state.json").write_text('{"global_step": 2')  # disk full mid-write
    result = run("train", tmp_path, "echo", "go")
    assert result.stdout.strip() == f"go --resume_from_checkpoint {tmp_path}/checkpoint-10"
    assert "skipping incomplete checkpoint" in result.stderr


def test_no_room_for_one_checkpoint_refuses_before_training(tmp_path):
    result = run(
        "train",
        tmp_path / "run",
        "echo",
        "TRAINING",
        MF_CHECKPOINT_BYTES=str(10**18),
        MF_CHECKPOINTS_KEPT="2",
        MF_CHECKPOINT_VOLUME="volume demo-checkpoints",
    )
    assert result.returncode == 1 and "TRAINING" not in result.stdout
    assert (
        "the volume demo-checkpoints has" in result.stderr
        and "one checkpoint of this run takes about 931322574.6 GiB" in result.stderr
        and "volumes.checkpoints.size" in result.stderr
    )
    assert (
        run(
            "train", tmp_path / "run", "echo", "TRAINING", MF_CHECKPOINT_BYTES=str(10**18), MF_SKIP_SPACE_CHECK="1"
        ).stdout.strip()
        == "TRAINING"
    )


def test_room_for_one_checkpoint_but_not_all_warns_and_trains(tmp_path):
    stat = os.statvfs(tmp_path)
    free = stat.f_bavail * stat.f_frsize
    result = run(
        "train", tmp_path / "run", "echo", "TRAINING", MF_CHECKPOINT_BYTES=str(free // 3), MF_CHECKPOINTS_KEPT="3"
    )
    assert result.returncode == 0 and result.stdout.strip() == "TRAINING"
    assert "warning:" in result.stderr and "keeps up to 4 checkpoints" in result.stderr
    quiet = run("train", tmp_path / "run", "echo", "TRAINING", MF_CHECKPOINT_BYTES="1024", MF_CHECKPOINTS_KEPT="3")
    assert "warning" not in quiet.stderr and "a checkpoint takes about 0.0 MiB" in quiet.stderr


def test_training_exit_status_passes_through(tmp_path):
    result = run("train", tmp_path / "run", "sh", "-c", "exit 3", MF_CHECKPOINT_BYTES="1024")
    assert result.returncode == 3
    assert "full" not in result.stderr  # plenty of room: not called a full disk


def test_stop_signal_reaches_training(tmp_path):
    """Training runs as a child (to explain a full disk); `docker stop` must still reach it."""
    ready = tmp_path / "ready"
    child = f'sleep 60 & trap "echo got TERM; kill $!; exit 7" TERM; touch {ready}; wait'
    proc = subprocess.Popen(
        ["sh", str(SCRIPT), "train", "sh", "-c", child],
        env={"PATH": os.environ["PATH"], "MF_OUTPUT_DIR": str(tmp_path / "run")},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    for _ in range(300):
        if ready.exists():
            break
        time.sleep(0.1)
    proc.terminate()
    out, _ = proc.communicate(timeout=20)
    assert "got TERM" in out and proc.returncode == 7


def test_unwritable_checkpoint_volume_says_how_to_hand_it_over():
    import tempfile

    top = Path(tempfile.mkdtemp(prefix="mf-volume-", dir="/tmp"))  # pytest's tmp_path is private to root
    top.chmod(0o755)
    volume = top / "checkpoints"
    volume.mkdir()  # owned by root, as volumes made by the older root images are
    env = {
        "PATH": os.environ["PATH"],
        "MF_OUTPUT_DIR": str(volume / "run"),
        "MF_CHECKPOINT_VOLUME": "volume demo-checkpoints",
    }
    result = subprocess.run(
        [
            "setpriv",
            "--reuid",
            "1000",
            "--regid",
            "1000",
            "--clear-groups",
            "sh",
            str(SCRIPT),
            "train",
            "echo",
            "TRAINING",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=30,
    )
    assert result.returncode == 1 and "TRAINING" not in result.stdout
    assert (
        f"{volume}/run is not writable by this container's user (uid 1000); {volume} belongs to uid 0" in result.stderr
    )
    assert "The volume demo-checkpoints was probably made by an older image" in result.stderr
    assert "docker run --rm --user 0 --entrypoint chown -v VOLUME:/v IMAGE -R 1000:1000 /v" in result.stderr
    volume.rmdir()
    top.rmdir()
