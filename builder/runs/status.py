"""`modelforge status`: the run's state as a screen (or JSON), once or refreshed until the run finishes."""

from __future__ import annotations

import json
import sys
import time

from ..errors import PlanError
from ..term import bar, duration, fmt
from .gpus import Gpu, gpu_usage
from .source import Target, read_target
from .state import MERGED_DIR, RunState


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
