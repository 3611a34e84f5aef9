"""`modelforge status`: parsing ms-swift's logging.jsonl and checkpoints, the display, --watch, --json,
where the run is looked for, and nvidia-smi parsing. No Docker (tests/test_after_training.py reads a real run)."""

from __future__ import annotations

import io
import json
import os
import shutil
import threading
import time
from pathlib import Path

import pytest

from builder import term
from builder.errors import PlanError
from builder.load import load_spec, validate
from builder.runs import gpus as run_gpus
from builder.runs import source as run_source
from builder.runs import state as run_state
from builder.runs import status as run_status

FIXTURES = Path(__file__).parent / "fixtures" / "monitor"
REAL_LOG = FIXTURES / "lora-30-steps.logging.jsonl"  # copied from a real LoRA run of the smoke stack
STRING_LOG = FIXTURES / "resumed-strings.logging.jsonl"  # string values, a resume, an eval, a cut-off last line


def checkpoint(run: Path, step: int, *, complete: bool = True, lora: bool = False, deepspeed: bool = False) -> Path:
    path = run / f"checkpoint-{step}"
    path.mkdir(parents=True)
    (path / ("adapter_config.json" if lora else "config.json")).write_text("{}")
    if deepspeed:
        (path / f"global_step{step}").mkdir()
        if complete:
            (path / "latest").write_text(f"global_step{step}")
    if complete:
        (path / "trainer_state.json").write_text(json.dumps({"global_step": step, "max_steps": 40, "log_history": []}))
    return path


@pytest.mark.parametrize(
    "text, value",
    [
        ("4.7", 4.7),
        (4.7, 4.7),
        ("1e-05", 1e-05),
        ("35%", 35.0),
        (3, 3.0),
        ("nan?", None),
        (None, None),
        (True, None),
        ([1], None),
    ],
)
def test_number(text, value):
    assert run_state.number(text) == value


@pytest.mark.parametrize(
    "text, value",
    [
        ("9s", 9),
        ("1m 3s", 63),
        ("2h 0m 5s", 7205),
        ("1d 1h 1m 1s", 90061),
        ("0:01:05", 65),
        (12.5, 12.5),
        ("12.5", 12.5),
        ("soon", None),
        ("", None),
        ("3m later", None),
    ],
)
def test_seconds(text, value):
    assert run_state.seconds(text) == value


def test_duration():
    assert [term.duration(v) for v in (None, 0, 9.4, 63, 7205, 90061)] == [
        "?",
        "0s",
        "9s",
        "1m 03s",
        "2h 00m 05s",
        "1d 1h 1m",
    ]
    assert run_state.seconds(term.duration(7205)) == 7205


def test_real_logging_jsonl_of_a_finished_run():
    state = run_state.RunState("run")
    run_state.parse_logging(REAL_LOG.read_text(), state)
    assert (state.step, state.max_steps) == (30, 30)
    assert state.finished and state.train_runtime_s == pytest.approx(20.3241)
    assert [p.step for p in state.points] == list(range(1, 31))
    assert state.points[0].loss == pytest.approx(7.13156128)
    assert state.latest.loss == pytest.approx(6.55947542)
    assert state.latest.learning_rate == 0.0 and state.latest.grad_norm == pytest.approx(2.87834597)
    assert state.remaining_s == 0 and state.fraction == 1.0


def test_string_values_resume_eval_and_a_half_written_line():
    state = run_state.RunState("run")
    run_state.parse_logging(STRING_LOG.read_text(), state)
    assert (state.step, state.max_steps) == (20, 40) and not state.finished
    # steps 11-14 were logged twice (resumed from checkpoint-10): the later lines win, no duplicates
    assert [p.step for p in state.points] == list(range(1, 21))
    assert state.points[10].loss == pytest.approx(4.5 - 1.1)
    assert state.latest.loss == pytest.approx(2.5) and state.latest.learning_rate == pytest.approx(5e-06)
    assert state.points[-1].eval_loss == pytest.approx(3.1)
    assert state.elapsed_s == 50 and state.remaining_s == 100 and state.seconds_per_step == 5.0
    # tokens/s from num_input_tokens_seen over the resumed session only (elapsed_time restarts)
    assert state.tokens_per_s == pytest.approx((81920 - 45056) / 45)


def test_trainer_state_fallback_without_logging_jsonl(tmp_path):
    ckpt = checkpoint(tmp_path, 20)
    history = [
        {"loss": 3.0 - i / 10, "learning_rate": 1e-5, "grad_norm": 1.0, "epoch": i / 10, "step": i}
        for i in range(1, 21)
    ]
    history.append({"train_runtime": 40.0, "step": 20})
    (ckpt / "trainer_state.json").write_text(
        json.dumps({"global_step": 20, "max_steps": 20, "log_history": history, "num_input_tokens_seen": 8000})
    )
    state = run_state.read_run(tmp_path)
    assert state.source == "trainer_state.json"
    assert (state.step, state.max_steps, state.finished) == (20, 20, True)
    assert len(state.points) == 20 and state.latest.loss == pytest.approx(1.0)
    assert state.tokens_per_s == pytest.approx(200.0)


def test_checkpoints_complete_incomplete_and_the_link(tmp_path):
    shutil.copy(STRING_LOG, tmp_path / "logging.jsonl")
    checkpoint(tmp_path, 5)
    checkpoint(tmp_path, 10, deepspeed=True)
    checkpoint(tmp_path, 15, deepspeed=True, complete=False)  # killed mid-save
    (tmp_path / "last-checkpoint").symlink_to("checkpoint-5")
    state = run_state.read_run(tmp_path, shown_as="/checkpoints/run")
    assert [(c.step, c.complete) for c in state.checkpoints] == [(5, True), (10, True), (15, False)]
    assert state.last_checkpoint.path == "/checkpoints/run/checkpoint-5"  # ms-swift's link is trusted first
    (tmp_path / "last-checkpoint").unlink()
    assert run_state.read_run(tmp_path).last_checkpoint.step == 10  # else the newest complete one
    text = run_status.render(run_state.read_run(tmp_path, shown_as="/checkpoints/run"))
    assert "checkpoint  /checkpoints/run/checkpoint-10" in text and "15 (incomplete)" in text


def test_a_trainer_state_cut_short_is_incomplete_as_the_entrypoint_says(tmp_path):
    """A full disk can stop trainer_state.json mid-write: the entrypoint skips such a checkpoint on resume,
    so `status` must not call it the newest complete one."""
    checkpoint(tmp_path, 10)
    (checkpoint(tmp_path, 20) / "trainer_state.json").write_text('{"global_step": 2')
    (checkpoint(tmp_path, 30) / "trainer_state.json").write_text("")  # created, nothing written yet
    state = run_state.read_run(tmp_path)
    assert [(c.step, c.complete) for c in state.checkpoints] == [(10, True), (20, False), (30, False)]
    assert state.last_checkpoint.step == 10


def test_merged_current_or_stale(tmp_path):
    checkpoint(tmp_path, 10, lora=True)
    merged = tmp_path / "merged"
    merged.mkdir()
    (merged / "config.json").write_text("{}")
    (merged / run_state.MERGED_FROM).write_text("/checkpoints/run/checkpoint-10\n")
    state = run_state.read_run(tmp_path)
    assert state.merged_from == "/checkpoints/run/checkpoint-10" and state.merged_current
    checkpoint(tmp_path, 20, lora=True)
    state = run_state.read_run(tmp_path)
    assert not state.merged_current
    assert "merge" in run_status.render(state) and "older than the newest checkpoint" in run_status.render(state)


def test_render_while_running_has_bar_eta_and_numbers(tmp_path):
    shutil.copy(STRING_LOG, tmp_path / "logging.jsonl")
    checkpoint(tmp_path, 10)
    text = run_status.render(run_state.read_run(tmp_path, shown_as="/checkpoints/run"))
    assert "[###############---------------] 20/40 steps 50%" in text
    assert "elapsed 50s" in text and "ETA 1m 40s" in text
    assert "loss        2.5" in text and "lr          5.00e-06" in text and "grad norm 1.2" in text
    assert "tokens/s    819" in text and "eval loss   3.1" in text
    assert "log updated" in text


def test_render_before_the_first_log(tmp_path):
    text = run_status.render(run_state.read_run(tmp_path))
    assert "no training log yet" in text and "checkpoint  none yet" in text


NVIDIA_SMI = """0, NVIDIA H200, 97, 120345, 143771, 612.50, 71
1, NVIDIA H200, 0, 4, 143771, [N/A], 33
"""


def test_nvidia_smi_parsing_and_display(tmp_path):
    gpus = run_gpus.parse_nvidia_smi(NVIDIA_SMI)
    assert [(g.index, g.util_pct, g.mem_used_mib, g.power_w) for g in gpus] == [(0, 97, 120345, 612.5), (1, 0, 4, None)]
    text = run_status.render(run_state.read_run(tmp_path), gpus)
    assert "gpu 0" in text and "util  97%" in text and "117.5/140.4 GiB" in text and "NVIDIA H200" in text


def test_gpu_usage_uses_nvidia_smi_from_path(tmp_path, monkeypatch):
    fake = tmp_path / "nvidia-smi"
    fake.write_text(f"#!/bin/sh\ncat <<'EOF'\n{NVIDIA_SMI}EOF\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    assert [g.index for g in run_gpus.gpu_usage()] == [0, 1]
    monkeypatch.setenv("PATH", "/nonexistent")
    assert run_gpus.gpu_usage() is None


def test_watch_refreshes_until_the_run_finishes(tmp_path):
    lines = REAL_LOG.read_text().splitlines()
    log = tmp_path / "logging.jsonl"
    log.write_text("\n".join(lines[:5]) + "\n")

    def train():  # the rest of the run, a line at a time, while status watches
        for line in lines[5:]:
            time.sleep(0.01)
            with log.open("a") as handle:
                handle.write(line + "\n")

    writer = threading.Thread(target=train)
    writer.start()
    out = io.StringIO()
    assert run_status.status(run_source.Target(str(tmp_path)), watch=0.05, stream=out, as_json=True) == 0
    writer.join()
    reports = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(reports) >= 2 and reports[-1]["finished"] and reports[-1]["step"] == 30
    assert not reports[0]["finished"] and reports[0]["step"] == 5
    assert reports[0]["remaining_s"] is not None


def test_watch_waits_for_the_run_folder(tmp_path):
    run = tmp_path / "run"
    out = io.StringIO()

    def start():
        time.sleep(0.2)
        run.mkdir()
        shutil.copy(REAL_LOG, run / "logging.jsonl")

    threading.Thread(target=start).start()
    assert run_status.status(run_source.Target(str(run)), watch=0.05, stream=out) == 0
    assert "waiting for the run" in out.getvalue() and "finished in 20s" in out.getvalue()


def test_missing_run_folder_is_a_clear_error(tmp_path):
    with pytest.raises(PlanError, match="no run folder"):
        run_status.status(run_source.Target(str(tmp_path / "nope")), stream=io.StringIO())


def test_targets_from_the_spec(tmp_path, root):
    spec = load_spec(root / "examples" / "smoke.yaml", ["name=mf-x"])
    [target] = run_source.targets([], None, None, spec, root / "examples" / "smoke.yaml")
    assert (target.volume, target.path, target.image) == ("mf-x-checkpoints", "run", "modelforge/smoke-train:cpu")
    # a container path from the logs reads the spec's volume
    [target] = run_source.targets(["/checkpoints/other"], None, None, spec, "x")
    assert (target.volume, target.path) == ("mf-x-checkpoints", "other")
    [target] = run_source.targets(["/checkpoints/run"], "vol", None, spec, "x")
    assert (target.volume, target.path) == ("vol", "run")
    [target] = run_source.targets([str(tmp_path)], None, None, spec, "x")
    assert target.volume is None and target.path == str(tmp_path)
    # a bind-mounted checkpoint folder (host_path, relative to compose/ beside the spec)
    spec = validate({"volumes": {"checkpoints": {"mount": "/checkpoints", "host_path": "../ckpt"}}})
    [target] = run_source.targets([], None, None, spec, tmp_path / "modelforge.yaml")
    assert target.volume is None and target.path == str(tmp_path / "ckpt" / "run")
    with pytest.raises(PlanError, match="no RUN_DIR"):
        run_source.targets([], None, None, None, "missing.yaml")


def test_status_cli_on_a_host_folder(cli, tmp_path):
    shutil.copy(STRING_LOG, tmp_path / "logging.jsonl")
    checkpoint(tmp_path, 10)
    result = cli("status", str(tmp_path), "-f", str(tmp_path / "no-spec.yaml"))
    assert result.returncode == 0, result.stderr
    assert "20/40 steps 50%" in result.stdout and "checkpoint-10" in result.stdout
    result = cli("status", str(tmp_path), "--json")
    data = json.loads(result.stdout)
    assert (
        data["step"] == 20
        and data["max_steps"] == 40
        and data["loss"] == 2.5
        and data["last_checkpoint"].endswith("checkpoint-10")
    )
    result = cli("status", str(tmp_path / "missing"))
    assert result.returncode == 1 and "no run folder" in result.stderr
