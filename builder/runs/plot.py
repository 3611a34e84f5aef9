"""`modelforge plot`: loss and learning rate against steps, one or more runs overlaid, as a PNG."""

from __future__ import annotations

from pathlib import Path

from ..errors import PlanError
from .state import RunState

SIZE_IN = (9.0, 6.5)
DPI = 100


def figure(runs: list[RunState], title: str | None = None):
    """The matplotlib Figure (Agg, no display needed): loss on top, learning rate below, shared steps."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    from matplotlib.figure import Figure

    plotted = [run for run in runs if any(p.loss is not None for p in run.points)]
    if not plotted:
        names = ", ".join(run.where for run in runs)
        raise PlanError([f"nothing to plot: no logged loss in {names} (training logs every train.logging_steps steps)"])
    labels = [run.label for run in plotted]
    if len(set(labels)) < len(labels):
        labels = [run.where for run in plotted]

    fig = Figure(figsize=SIZE_IN, dpi=DPI, layout="constrained")
    loss_ax, lr_ax = fig.subplots(2, 1, sharex=True, height_ratios=[2, 1])
    for index, (run, label) in enumerate(zip(plotted, labels)):
        color = f"C{index % 10}"
        steps = [p.step for p in run.points if p.loss is not None]
        loss_ax.plot(steps, [p.loss for p in run.points if p.loss is not None], color=color, linewidth=1.6, label=label)
        evals = [p for p in run.points if p.eval_loss is not None]
        if evals:
            loss_ax.plot(
                [p.step for p in evals],
                [p.eval_loss for p in evals],
                color=color,
                linestyle="--",
                marker="o",
                markersize=3,
                linewidth=1,
                label=f"{label} (eval)",
            )
        lrs = [p for p in run.points if p.learning_rate is not None]
        if lrs:
            lr_ax.plot([p.step for p in lrs], [p.learning_rate for p in lrs], color=color, linewidth=1.4, label=label)
        if run.max_steps:
            loss_ax.axvline(run.max_steps, color=color, linewidth=0.6, linestyle=":", alpha=0.6)
    loss_ax.set_ylabel("training loss")
    loss_ax.grid(True, alpha=0.3)
    loss_ax.legend(loc="upper right", fontsize="small")
    lr_ax.set_ylabel("learning rate")
    lr_ax.set_xlabel("step")
    lr_ax.grid(True, alpha=0.3)
    lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
    fig.suptitle(
        title or ("training loss: " + ", ".join(labels) if len(labels) <= 3 else f"training loss, {len(labels)} runs")
    )
    return fig


def save(runs: list[RunState], out: Path, title: str | None = None):
    fig = figure(runs, title)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png", dpi=DPI)
    return fig
