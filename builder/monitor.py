"""`modelforge status`: where a training run stands, read from what ms-swift writes.

ms-swift writes into the run's output_dir:
  logging.jsonl            one JSON object per logging step: {"loss": .., "grad_norm": .., "learning_rate": ..,
                           "global_step/max_steps": "20/30", "elapsed_time": "1m 3s", "remaining_time": "9s",
                           "train_speed(s/it)": ..}; values may be numbers or strings. A finished run
                           ends with a train_runtime line and a summary (last_model_checkpoint, log_history).
  checkpoint-N/            trainer_state.json (global_step, max_steps, log_history) is its last write
  last-checkpoint          a symlink to the newest complete checkpoint
  merged/                  the merged LoRA model (`make merge`), with .modelforge-merged-from

The run folder may be a host folder, or a folder on a named Docker volume (the compose default). A volume
is read through its mountpoint when this user may read it (root on the engine's host), otherwise
through a throwaway container that tars the small files out (`docker run --rm -v VOL:/c:ro IMAGE`).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import PlanError

COMPLETE_MARK = "trainer_state.json"
MERGED_DIR = "merged"
MERGED_FROM = ".modelforge-merged-from"
SNAPSHOT_MAX_FILE = "-8M"  # find -size: files the snapshot copies out of a volume (weights stay behind)


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


def duration(value: float | None) -> str:
    if value is None:
        return "?"
    value = max(int(round(value)), 0)
    days, rest = divmod(value, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h {minutes}m"
    if hours:
        return f"{hours}h {minutes:02d}m {secs:02d}s"
    if minutes:
        return f"{minutes}m {secs:02d}s"
    return f"{secs}s"


def fmt(value: float | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    if value != 0 and (abs(value) < 1e-3 or abs(value) >= 1e5):
        return f"{value:.2e}"
    return f"{value:.{digits}g}"


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


def _is_complete(folder: Path) -> bool:
    """The entrypoint's rule (builder/templates/context/entrypoint.sh is_complete): trainer_state.json written last, and
    it parses (a full disk can cut it short); DeepSpeed checkpoints also need the 'latest' tag."""
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
        step = max_steps = None
        progress = entry.get("global_step/max_steps")
        if isinstance(progress, str) and "/" in progress:
            left, right = progress.split("/", 1)
            step, max_steps = (int(v) if v.strip().isdigit() else None for v in (left, right))
        elif isinstance(entry.get("step"), int):
            step = entry["step"]
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


# -- where the run lives ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A run folder: on the host (volume None), or `path` inside the named Docker volume."""

    path: str
    volume: str | None = None
    image: str | None = None  # for reading a volume through a container
    label: str | None = None

    @property
    def shown_as(self) -> str:
        return f"{self.volume}:/{self.path.strip('/')}" if self.volume else self.path


def volume_mountpoint(volume: str) -> Path:
    try:
        result = subprocess.run(
            ["docker", "volume", "inspect", "--format", "{{.Mountpoint}}", volume],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except FileNotFoundError:
        raise PlanError(["the docker CLI is not installed: cannot read a Docker volume"]) from None
    if result.returncode != 0:
        raise PlanError(
            [
                f"docker volume {volume!r}: {result.stderr.strip() or 'not found'} "
                "(no training has run with this spec yet? `docker volume ls` lists them)"
            ]
        )
    return Path(result.stdout.strip())


def _readable(folder: Path) -> bool:
    try:
        return folder.is_dir() and os.access(folder, os.R_OK | os.X_OK)
    except OSError:
        return False


def snapshot(volume: str, path: str, image: str, dest: Path) -> Path:
    """Copy the run's small files (logs, states, configs; not weights) out of a volume via a container."""
    script = (
        'cd "/c/$1" 2> /dev/null || { echo "no folder $1 on the volume" >&2; exit 3; }; '
        f"find . -maxdepth 2 \\( -type d -o -type l -o \\( -type f -size {SNAPSHOT_MAX_FILE} \\) \\) -print0 "
        "| tar -c --null --no-recursion -T - -f -"
    )
    command = [
        "docker",
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        f"{volume}:/c:ro",
        "--entrypoint",
        "sh",
        image,
        "-c",
        script,
        "sh",
        path.strip("/"),
    ]
    result = subprocess.run(command, capture_output=True, timeout=300)
    if result.returncode != 0:
        raise PlanError(
            [
                f"cannot read {volume}:/{path.strip('/')} through {image}: "
                f"{result.stderr.decode(errors='replace').strip()[-400:]}"
            ]
        )
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        for member in archive.getmembers():
            try:
                archive.extract(member, dest, filter="data")
            except (tarfile.TarError, OSError):
                continue  # a link that leaves the folder: not needed
    return dest


@contextlib.contextmanager
def local(target: Target, via: str = "auto") -> Iterator[Path]:
    """The run as a local folder for the time of the with-block. via: auto | mountpoint | container."""
    if target.volume is None:
        yield Path(target.path)
        return
    if via in ("auto", "mountpoint"):
        mount = volume_mountpoint(target.volume)
        folder = mount / target.path.strip("/")
        if _readable(mount):
            yield folder
            return
        if via == "mountpoint":
            raise PlanError(
                [
                    f"cannot read the volume's mountpoint {mount} (not root, or the engine runs elsewhere): "
                    "use --via container"
                ]
            )
    if not target.image:
        raise PlanError([f"reading volume {target.volume!r} needs an image to run (pass --image, or a spec)"])
    with tempfile.TemporaryDirectory(prefix="modelforge-run-") as tmp:
        yield snapshot(target.volume, target.path, target.image, Path(tmp))


def read_target(target: Target, via: str = "auto") -> RunState:
    with local(target, via) as folder:
        if not folder.is_dir():
            where = target.shown_as
            raise PlanError(
                [
                    f"no run folder at {where} (has training started? `modelforge status` with no "
                    "RUN_DIR reads the spec's run)"
                ]
            )
        return read_run(
            folder, label=target.label or Path(target.path.rstrip("/")).name or target.path, shown_as=target.shown_as
        )


# -- GPUs ------------------------------------------------------------------------------------------

GPU_QUERY = "index,name,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu"


@dataclass
class Gpu:
    index: int
    name: str
    util_pct: float | None
    mem_used_mib: float | None
    mem_total_mib: float | None
    power_w: float | None = None
    temp_c: float | None = None


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """`nvidia-smi --query-gpu=GPU_QUERY --format=csv,noheader,nounits` output."""
    gpus = []
    for line in text.strip().splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) < 5 or not cells[0].isdigit():
            continue
        values = [number(c) if c not in ("[N/A]", "N/A", "[Not Supported]") else None for c in cells]
        values += [None] * (7 - len(values))
        gpus.append(Gpu(int(cells[0]), cells[1], values[2], values[3], values[4], values[5], values[6]))
    return gpus


def gpu_usage() -> list[Gpu] | None:
    """Per-device use when nvidia-smi is on this machine's PATH; None when it is not."""
    binary = shutil.which("nvidia-smi")
    if not binary:
        return None
    try:
        result = subprocess.run(
            [binary, f"--query-gpu={GPU_QUERY}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_nvidia_smi(result.stdout) if result.returncode == 0 else None


# -- display ---------------------------------------------------------------------------------------


def bar(fraction: float | None, width: int = 30) -> str:
    if fraction is None:
        return "[" + "?" * width + "]"
    filled = int(round(fraction * width))
    return "[" + "#" * filled + "-" * (width - filled) + "]"


def render(state: RunState, gpus: list[Gpu] | None = None) -> str:
    lines = [f"run         {state.where}"]
    if state.source == "none":
        lines.append("state       no training log yet (logging.jsonl appears after the first logging step)")
    else:
        if state.step is not None and state.max_steps:
            progress = f"{bar(state.fraction)} {state.step}/{state.max_steps} steps {state.fraction:.0%}"
        else:
            progress = f"step {state.step if state.step is not None else '?'}"
        lines.append(f"progress    {progress}")
        if state.finished:
            runtime = state.train_runtime_s if state.train_runtime_s is not None else state.elapsed_s
            timing = f"finished in {duration(runtime)}"
        else:
            eta = state.remaining_s
            timing = f"elapsed {duration(state.elapsed_s)}   ETA {duration(eta) if eta is not None else '?'}"
            if state.seconds_per_step:
                timing += f"   {state.seconds_per_step:.3g} s/step"
            if state.updated_s_ago is not None:
                timing += f"   (log updated {duration(state.updated_s_ago)} ago)"
        lines.append(f"time        {timing}")
        latest = state.latest
        if latest:
            first = next(p.loss for p in state.points if p.loss is not None)
            lowest = min(p.loss for p in state.points if p.loss is not None)
            lines.append(
                f"loss        {fmt(latest.loss)}   (step {latest.step}; first {fmt(first)}, lowest {fmt(lowest)})"
            )
            extra = f"lr          {fmt(latest.learning_rate)}   grad norm {fmt(latest.grad_norm)}"
            if latest.epoch is not None:
                extra += f"   epoch {latest.epoch:.3g}"
            lines.append(extra)
        evals = [p for p in state.points if p.eval_loss is not None]
        if evals:
            lines.append(f"eval loss   {fmt(evals[-1].eval_loss)} (step {evals[-1].step})")
        if state.tokens_per_s:
            lines.append(f"tokens/s    {state.tokens_per_s:,.0f}")
    if state.last_checkpoint:
        steps = ", ".join(str(c.step) + ("" if c.complete else " (incomplete)") for c in state.checkpoints)
        lines.append(f"checkpoint  {state.last_checkpoint.path}   (on disk: {steps})")
    elif state.checkpoints:
        lines.append(f"checkpoint  none complete yet ({len(state.checkpoints)} being written)")
    else:
        lines.append("checkpoint  none yet")
    if state.merged_from:
        note = "current" if state.merged_current else "older than the newest checkpoint: run `make merge` again"
        lines.append(f"merged      {state.where}/{MERGED_DIR}   (from {state.merged_from}; {note})")
    if gpus:
        for gpu in gpus:
            mem = (
                f"{gpu.mem_used_mib / 1024:.1f}/{gpu.mem_total_mib / 1024:.1f} GiB"
                if gpu.mem_used_mib is not None and gpu.mem_total_mib
                else "? GiB"
            )
            util = f"{gpu.util_pct:.0f}%" if gpu.util_pct is not None else "?"
            more = f"   {gpu.power_w:.0f} W" if gpu.power_w is not None else ""
            more += f"   {gpu.temp_c:.0f} C" if gpu.temp_c is not None else ""
            lines.append(
                f"gpu {gpu.index:<7} {bar((gpu.util_pct or 0) / 100, 10)} util {util:>4}   mem {mem}{more}   {gpu.name}"
            )
    return "\n".join(lines)


def status(
    target: Target,
    *,
    via: str = "auto",
    as_json: bool = False,
    watch: float | None = None,
    stream=None,
    max_rounds: int | None = None,
) -> int:
    """Print the run's status once, or every `watch` seconds until it finishes (or Ctrl-C)."""
    stream = stream or sys.stdout
    rounds = 0
    tty = hasattr(stream, "isatty") and stream.isatty()
    while True:
        try:
            state = read_target(target, via)
        except PlanError as exc:
            if not watch or "no run folder" not in str(exc.problems[0]):
                raise
            stream.write(f"waiting for the run at {target.shown_as} ...\n")
            stream.flush()
            time.sleep(watch)
            continue
        gpus = gpu_usage()
        if as_json:
            data = state.to_dict()
            data["gpus"] = [vars(g) for g in gpus] if gpus is not None else None
            text = json.dumps(data, ensure_ascii=False)
        else:
            text = render(state, gpus)
        if watch and tty and not as_json:
            stream.write("\x1b[H\x1b[2J")  # home + clear: a refreshing screen
        stream.write(text + "\n")
        if watch and not tty and not as_json:
            stream.write("\n")
        stream.flush()
        rounds += 1
        if not watch or state.finished or (max_rounds and rounds >= max_rounds):
            return 0
        time.sleep(watch)


# -- from the command line -------------------------------------------------------------------------


def spec_run(spec, spec_file: str | Path) -> Target:
    """The spec's run folder: on the checkpoint volume (compose default) or its host folder."""
    from .plan.commands import volume_name
    from .render.compose import image_ref

    vol = spec.volumes.checkpoints
    run_name = spec.train.run_name
    if vol.host_path:
        # host_path is relative to compose/ (where compose resolves it), which sits beside the spec.
        folder = (Path(spec_file).resolve().parent / "compose" / vol.host_path / run_name).resolve()
        return Target(str(folder), label=run_name)
    return Target(run_name, volume=volume_name(spec, "checkpoints"), image=image_ref(spec, "train"), label=run_name)


def targets(run_dirs: list[str], volume: str | None, image: str | None, spec, spec_file: str | Path) -> list[Target]:
    """RUN_DIR arguments as targets. With --volume they are paths on that volume (a leading checkpoint
    mount such as /checkpoints is dropped, so paths from the logs work as they are)."""
    if not run_dirs:
        if spec is None:
            raise PlanError([f"no RUN_DIR given and no spec at {spec_file}: pass a run folder (or -f SPEC)"])
        default = spec_run(spec, spec_file)
        if volume:
            return [
                Target(
                    default.path if default.volume else spec.train.run_name,
                    volume=volume,
                    image=image or default.image,
                    label=default.label,
                )
            ]
        return [Target(default.path, default.volume, image or default.image, default.label)]
    from .plan.commands import volume_name
    from .render.compose import image_ref

    mount = spec.volumes.checkpoints.mount.rstrip("/") if spec else None
    default_image = image or (image_ref(spec, "train") if spec else None)
    found = []
    for run_dir in run_dirs:
        inside = run_dir
        if mount and (run_dir == mount or run_dir.startswith(mount + "/")):
            inside = run_dir[len(mount) :].strip("/")
        if volume:
            found.append(Target(inside.strip("/"), volume=volume, image=default_image))
        elif (
            not Path(run_dir).exists()
            and spec is not None
            and mount
            and inside != run_dir
            and not spec.volumes.checkpoints.host_path
        ):
            # A container path like /checkpoints/run: read it from the spec's checkpoint volume.
            found.append(Target(inside, volume=volume_name(spec, "checkpoints"), image=default_image))
        else:
            found.append(Target(run_dir))
    return found
