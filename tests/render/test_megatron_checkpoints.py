"""Megatron-SWIFT checkpoints the rest of the product understands (issue 20): the entrypoint's completeness rule
and resume (the real script, run with sh and a stand-in `megatron`), serving a Megatron checkpoint's HF copy,
and `status`/`plot` reading `megatron sft`'s logging.jsonl. The layout on disk is ms-swift 4.6.0's
(swift/megatron/trainers/base.py save_checkpoint; builder/plan/megatron.py)."""

from __future__ import annotations

import json
from pathlib import Path

from builder.runs import state as run_state
from tests.render.test_merge import run

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"


def megatron_ckpt(tmp_path: Path, step: int, *, metadata: bool = True, index: bool = True) -> Path:
    path = tmp_path / "run" / f"checkpoint-{step}"
    mcore = path / f"iter_{step:07d}"
    mcore.mkdir(parents=True)
    (path / "latest_checkpointed_iteration.txt").write_text(str(step))
    if metadata:  # megatron-core writes it only once the mcore checkpoint is complete
        (mcore / "metadata.json").write_text('{"sharded_backend": "torch_dist"}')
    (path / "config.json").write_text("{}")
    (path / "model-00001-of-00001.safetensors").write_text("w")
    if index:  # mcore-bridge's streaming saver writes the index last
        (path / "model.safetensors.index.json").write_text("{}")
    return path


def fake_megatron(tmp_path: Path) -> None:
    run(tmp_path, "serve", "true")  # makes the fake bin folder
    tool = tmp_path / "bin" / "megatron"
    tool.write_text('#!/bin/sh\necho megatron "$@"\n')
    tool.chmod(0o755)


TRAIN = ("megatron", "sft", "--model", "org/base", "--output_dir", "OUT")


def train(tmp_path: Path) -> tuple[list[str], str]:
    fake_megatron(tmp_path)
    result = run(tmp_path, "train", *TRAIN, MF_SKIP_DATA_CHECK="1")
    assert result.returncode == 0, result.stderr
    return result.stdout.split(), result.stderr


def test_megatron_resumes_from_the_newest_complete_mcore_checkpoint(tmp_path):
    megatron_ckpt(tmp_path, 50)
    newest = megatron_ckpt(tmp_path, 100)
    megatron_ckpt(tmp_path, 150, metadata=False)  # killed while saving the mcore checkpoint
    megatron_ckpt(tmp_path, 200, index=False)  # killed while writing the HF copy
    argv, log = train(tmp_path)
    assert argv[-4:] == ["--mcore_model", str(newest), "--finetune", "false"]
    assert argv[argv.index("--model") + 1] == "org/base"  # mcore-bridge reads the base's config
    assert "--resume_from_checkpoint" not in argv
    assert "skipping incomplete checkpoint" in log and f"resuming from {newest}" in log


def test_a_fresh_megatron_run_starts_without_resume_flags(tmp_path):
    argv, log = train(tmp_path)
    assert argv == list(TRAIN) and "starting a new run" in log


def test_the_server_serves_a_megatron_checkpoints_hf_copy(tmp_path):
    newest = megatron_ckpt(tmp_path, 100)
    megatron_ckpt(tmp_path, 150, index=False)
    result = run(tmp_path, "serve", "vllm", "serve")
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[2] == str(newest)


def test_status_reads_megatron_logs_and_checkpoints(tmp_path):
    megatron_ckpt(tmp_path, 10)
    megatron_ckpt(tmp_path, 20, metadata=False)
    lines = [
        {"loss": 2.5, "grad_norm": 9.1, "learning_rate": 1e-5, "load_balancing_loss": 1.01, "iteration": "1/30",
         "elapsed_time": "12s", "remaining_time": "6m", "memory(GiB)": 61.2, "train_speed(s/it)": 12.0},
        {"loss": 2.1, "grad_norm": 5.0, "learning_rate": 1e-5, "iteration": "10/30", "elapsed_time": "1m 40s",
         "remaining_time": "3m 20s", "memory(GiB)": 61.9, "train_speed(s/it)": 10.0},
        {"eval_loss": 2.2, "iteration": "10/30"},
        {"loss": 1.9, "iteration": "20/30", "elapsed_time": "3m 20s", "train_speed(s/it)": 10.0},
    ]  # fmt: skip
    run_dir = tmp_path / "run"
    (run_dir / "logging.jsonl").write_text("".join(json.dumps(x) + "\n" for x in lines))
    state = run_state.read_run(run_dir)
    assert (state.step, state.max_steps) == (20, 30) and not state.finished
    assert [p.step for p in state.points] == [1, 10, 20] and state.points[1].eval_loss == 2.2
    assert state.seconds_per_step == 10.0 and state.elapsed_s == 200
    assert [(c.step, c.complete) for c in state.checkpoints] == [(10, True), (20, False)]
    assert state.last_checkpoint.step == 10
    with (run_dir / "logging.jsonl").open("a") as f:  # the trainer's last line
        f.write(json.dumps({"last_model_checkpoint": str(run_dir / "checkpoint-30"), "best_model_checkpoint": None,
                            "best_metric": None}) + "\n")  # fmt: skip
    assert run_state.read_run(run_dir).finished


def test_status_reads_the_log_a_real_megatron_sft_wrote(tmp_path):
    """The last three lines of logging.jsonl from `megatron sft` on the H200 (bench batch i20b1, ms-swift 4.6.0)."""
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    (run_dir / "logging.jsonl").write_text((FIXTURES / "megatron-logging.jsonl").read_text())
    state = run_state.read_run(run_dir)
    assert (state.step, state.max_steps) == (10, 10) and state.finished
    assert [p.step for p in state.points] == [9, 10] and state.points[-1].loss == 11.41391373
    assert state.elapsed_s == 70
