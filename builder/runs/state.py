"""`modelforge status`: where a training run stands, read from what ms-swift writes.

ms-swift writes into the run's output_dir:
  logging.jsonl            one JSON object per logging step: {"loss": .., "grad_norm": .., "learning_rate": ..,
                           "global_step/max_steps": "20/30", "elapsed_time": "1m 3s", "remaining_time": "9s",
                           "train_speed(s/it)": ..}; values may be numbers or strings. A finished run
                           ends with a train_runtime line and a summary (last_model_checkpoint, log_history).
  checkpoint-N/            trainer_state.json (global_step, max_steps, log_history) is its last write
Megatron-SWIFT (`megatron sft`) writes the same logging.jsonl with "iteration": "20/30" for the progress, ends
with a last_model_checkpoint line, and each checkpoint-N holds latest_checkpointed_iteration.txt, the mcore
checkpoint iter_<N>/ (metadata.json last) and the HF safetensors (the shard index last).
  last-checkpoint          a symlink to the newest complete checkpoint
  merged/                  the merged LoRA model (`make merge`), with .modelforge-merged-from

The run folder may be a host folder, or a folder on a named Docker volume (the compose default). A volume
is read through its mountpoint when this user may read it (root on the engine's host), otherwise
through a throwaway container that tars the small files out (`docker run --rm -v VOL:/c:ro IMAGE`).
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

COMPLETE_MARK = "trainer_state.json"
MERGED_DIR = "merged"
MERGED_FROM = ".modelforge-merged-from"


# -- values ---------------------------------------------------------------------------------------


def number(value: Any) -> float | None:
    """ms-swift logs numbers, or numbers as strings ('4.7', '1e-05', '35%'); anything else is None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        text = value.strip().rstrip("%")
        try:
            return float(text)
        except ValueError:
            return None
    return None


_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([dhms])")


def seconds(value: Any) -> float | None:
    """'1d 2h 3m 4s', '3m 4s', '9s' (ms-swift's format_time) or a number of seconds."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    plain = number(text)
    if plain is not None:
        return plain
    if ":" in text:  # tqdm style h:mm:ss
        try:
            total = 0.0
            for part in text.split(":"):
                total = total * 60 + float(part)
            return total
        except ValueError:
            return None
    parts = _DURATION.findall(text)
    if not parts or _DURATION.sub("", text).strip():
        return None
    scale = {"d": 86400, "h": 3600, "m": 60, "s": 1}
    return sum(float(n) * scale[unit] for n, unit in parts)


# -- the run ---------------------------------------------------------------------------------------


@dataclass
class Point:
    """One logging step, numbers parsed."""

    step: int
    loss: float | None = None
    learning_rate: float | None = None
    grad_norm: float | None = None
    epoch: float | None = None
    token_acc: float | None = None
    eval_loss: float | None = None
    tokens_per_s: float | None = None


@dataclass
class Checkpoint:
    step: int
    path: str
    complete: bool


@dataclass
class RunState:
    label: str
    where: str = ""
    points: list[Point] = field(default_factory=list)
    step: int | None = None
    max_steps: int | None = None
    elapsed_s: float | None = None
    remaining_s: float | None = None
    seconds_per_step: float | None = None
    tokens_per_s: float | None = None
    finished: bool = False
    train_runtime_s: float | None = None
    checkpoints: list[Checkpoint] = field(default_factory=list)
    last_checkpoint: Checkpoint | None = None
    merged_from: str | None = None  # set when merged/ holds a complete merged model
    merged_current: bool = False  # ...made from the newest complete checkpoint
    updated_s_ago: float | None = None
    source: str = ""  # logging.jsonl | trainer_state.json | none

    @property
    def latest(self) -> Point | None:
        with_loss = [p for p in self.points if p.loss is not None]
        return with_loss[-1] if with_loss else None

    @property
    def fraction(self) -> float | None:
        if self.step is None or not self.max_steps:
            return None
        return min(self.step / self.max_steps, 1.0)

    def to_dict(self) -> dict[str, Any]:
        latest = self.latest
        return {
            "label": self.label,
            "where": self.where,
            "source": self.source,
            "step": self.step,
            "max_steps": self.max_steps,
            "fraction": self.fraction,
            "elapsed_s": self.elapsed_s,
            "remaining_s": self.remaining_s,
            "seconds_per_step": self.seconds_per_step,
            "finished": self.finished,
            "train_runtime_s": self.train_runtime_s,
            "loss": latest.loss if latest else None,
            "learning_rate": latest.learning_rate if latest else None,
            "grad_norm": latest.grad_norm if latest else None,
            "epoch": latest.epoch if latest else None,
            "tokens_per_s": self.tokens_per_s,
            "first_loss": next((p.loss for p in self.points if p.loss is not None), None),
            "points": len(self.points),
            "checkpoints": [{"step": c.step, "path": c.path, "complete": c.complete} for c in self.checkpoints],
            "last_checkpoint": self.last_checkpoint.path if self.last_checkpoint else None,
            "merged_from": self.merged_from,
            "merged_current": self.merged_current,
            "updated_s_ago": self.updated_s_ago,
        }


def _megatron_complete(folder: Path) -> bool:
    """The entrypoint's is_complete_megatron: the mcore checkpoint's metadata.json and the HF copy's index."""
    try:
        iteration = int((folder / "latest_checkpointed_iteration.txt").read_text().strip())
    except (OSError, ValueError):
        return False
    hf = folder / "model.safetensors.index.json"
    return (
        _nonempty(folder / f"iter_{iteration:07d}" / "metadata.json")
        and _nonempty(folder / "config.json")
        and (_nonempty(hf) or _nonempty(folder / "model.safetensors"))
    )


def _nonempty(path: Path) -> bool:
    return path.is_file() and path.stat().st_size > 0


def _is_complete(folder: Path) -> bool:
    """The entrypoint's rule (builder/templates/context/entrypoint.sh is_complete): trainer_state.json written last, and
    it parses (a full disk can cut it short); DeepSpeed checkpoints also need the 'latest' tag."""
    if (folder / "latest_checkpointed_iteration.txt").exists():
        return _megatron_complete(folder)
    try:
        json.loads((folder / COMPLETE_MARK).read_text())  # missing, empty or cut short: not complete
    except (OSError, ValueError):
        return False
    if any(folder.glob("global_step*")):
        latest = folder / "latest"
        return latest.is_file() and latest.stat().st_size > 0
    return True


def checkpoints(run: Path, shown_as: str) -> tuple[list[Checkpoint], Checkpoint | None]:
    found = []
    for child in run.iterdir() if run.is_dir() else ():
        match = re.fullmatch(r"checkpoint-(\d+)", child.name)
        if match and child.is_dir() and not child.is_symlink():
            found.append(Checkpoint(int(match.group(1)), f"{shown_as}/{child.name}", _is_complete(child)))
    found.sort(key=lambda c: c.step)
    last = None
    link = run / "last-checkpoint"
    if link.is_symlink():
        target = Path(os.readlink(link)).name
        last = next((c for c in found if c.path.endswith("/" + target) and c.complete), None)
    if last is None:
        last = next((c for c in reversed(found) if c.complete), None)
    return found, last


def _point(entry: dict[str, Any], step: int) -> Point:
    tokens = None
    for key, value in entry.items():
        if "tokens_per_second" in key or "tokens/s" in key:
            tokens = number(value)
    return Point(
        step=step,
        loss=number(entry.get("loss")),
        learning_rate=number(entry.get("learning_rate")),
        grad_norm=number(entry.get("grad_norm")),
        epoch=number(entry.get("epoch")),
        token_acc=number(entry.get("token_acc")),
        eval_loss=number(entry.get("eval_loss")),
        tokens_per_s=tokens,
    )


def progress_of(entry: dict[str, Any]) -> tuple[int | None, int | None]:
    """(step, max_steps) of a logging.jsonl row: ms-swift writes 'global_step/max_steps': '20/30' (its Megatron
    trainer 'iteration': '20/30'), transformers' own rows an int 'step'."""
    progress = entry.get("global_step/max_steps", entry.get("iteration"))
    if isinstance(progress, str) and "/" in progress:
        left, right = progress.split("/", 1)
        step, max_steps = (int(v) if v.strip().isdigit() else None for v in (left, right))
        return step, max_steps
    if isinstance(entry.get("step"), int):
        return entry["step"], None
    return None, None


def parse_logging(text: str, state: RunState) -> None:
    """logging.jsonl into state. Later lines for a step win: a resumed run logs steps again."""
    by_step: dict[int, Point] = {}
    last_kind = None
    session: list[tuple[float, float]] = []  # (tokens seen, elapsed s) since the (re)start of training
    for line in text.splitlines():
        line = line.strip()
        if not line.startswith("{"):
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line being written right now
        if not isinstance(entry, dict):
            continue
        step, max_steps = progress_of(entry)
        if step is not None:
            state.step = step
        if max_steps:
            state.max_steps = max_steps
        if "elapsed_time" in entry:
            state.elapsed_s = seconds(entry["elapsed_time"])
        if "remaining_time" in entry:
            state.remaining_s = seconds(entry["remaining_time"])
        if "train_speed(s/it)" in entry:
            state.seconds_per_step = number(entry["train_speed(s/it)"])
        if "last_model_checkpoint" in entry and step is None and "loss" not in entry:  # Megatron-SWIFT's last line
            last_kind = "end"
            continue
        if "train_runtime" in entry:
            state.train_runtime_s = number(entry["train_runtime"])
            last_kind = "end"
            tokens = next((number(v) for k, v in entry.items() if "tokens_per_second" in k), None)
            if tokens:
                state.tokens_per_s = tokens
            continue
        if step is None:
            continue
        if "loss" in entry or "eval_loss" in entry:
            point = _point(entry, step)
            old = by_step.get(step)
            if old and point.loss is None:  # an eval line for a step that also has a train line
                old.eval_loss = point.eval_loss
            elif old and point.eval_loss is None and old.eval_loss is not None:
                point.eval_loss = old.eval_loss
                by_step[step] = point
            else:
                by_step[step] = point
            if point.tokens_per_s:
                state.tokens_per_s = point.tokens_per_s
            seen = number(entry.get("num_input_tokens_seen"))
            if seen and state.elapsed_s is not None:
                if session and state.elapsed_s < session[-1][1]:
                    session = []  # elapsed_time restarts with a resumed process
                session.append((seen, state.elapsed_s))
            last_kind = "train"
    state.points = [by_step[s] for s in sorted(by_step)]
    state.finished = last_kind == "end"
    if state.tokens_per_s is None and len(session) > 1 and session[-1][1] > session[0][1]:
        state.tokens_per_s = (session[-1][0] - session[0][0]) / (session[-1][1] - session[0][1])


def parse_trainer_state(data: dict[str, Any], state: RunState) -> None:
    """A checkpoint's trainer_state.json: the fallback when logging.jsonl is missing (other trainers)."""
    by_step: dict[int, Point] = {}
    for entry in data.get("log_history") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("step"), int):
            continue
        if "train_runtime" in entry:
            state.train_runtime_s = number(entry["train_runtime"])
            continue
        if "loss" in entry or "eval_loss" in entry:
            point = _point(entry, entry["step"])
            old = by_step.get(point.step)
            if old and point.loss is None:
                old.eval_loss = point.eval_loss
            else:
                by_step[point.step] = point
    state.points = [by_step[s] for s in sorted(by_step)]
    state.step = data.get("global_step") if isinstance(data.get("global_step"), int) else state.step
    state.max_steps = data.get("max_steps") or state.max_steps
    state.finished = bool(state.max_steps and state.step and state.step >= state.max_steps)
    seen = number(data.get("num_input_tokens_seen"))
    if seen and state.train_runtime_s:
        state.tokens_per_s = seen / state.train_runtime_s


def read_run(run: Path, label: str | None = None, shown_as: str | None = None) -> RunState:
    """Everything `status` and `plot` need from a local run folder."""
    shown_as = (shown_as or str(run)).rstrip("/")
    state = RunState(label=label or run.name, where=shown_as)
    state.checkpoints, state.last_checkpoint = checkpoints(run, shown_as)
    log = run / "logging.jsonl"
    if log.is_file():
        parse_logging(log.read_text(errors="replace"), state)
        state.source = "logging.jsonl"
        state.updated_s_ago = max(time.time() - log.stat().st_mtime, 0.0)
    elif state.last_checkpoint:
        folder = run / Path(state.last_checkpoint.path).name
        try:
            parse_trainer_state(json.loads((folder / COMPLETE_MARK).read_text()), state)
            state.source = "trainer_state.json"
            state.updated_s_ago = max(time.time() - (folder / COMPLETE_MARK).stat().st_mtime, 0.0)
        except (OSError, json.JSONDecodeError):
            state.source = "none"
    else:
        state.source = "none"
    if state.step is None and state.last_checkpoint:
        state.step = state.last_checkpoint.step
    merged = run / MERGED_DIR
    if (merged / "config.json").is_file():
        marker = merged / MERGED_FROM
        state.merged_from = marker.read_text().strip() if marker.is_file() else "(unknown checkpoint)"
        if state.last_checkpoint:
            name = Path(state.last_checkpoint.path).name
            state.merged_current = state.merged_from.rstrip("/").endswith("/" + name)
    return state
