"""`modelforge plot`: the PNG is decoded and looked at, and the plotted data is the logged data."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from matplotlib import colors
from matplotlib.image import imread

from builder.errors import PlanError
from builder.runs import plot
from builder.runs import state as run_state

FIXTURES = Path(__file__).parent / "fixtures" / "monitor"


def run_dir(tmp_path: Path, name: str, log: str) -> Path:
    folder = tmp_path / name
    folder.mkdir()
    shutil.copy(FIXTURES / log, folder / "logging.jsonl")
    return folder


def pixels_of(image: np.ndarray, color: str, box: tuple[float, float, float, float]) -> int:
    """Pixels within 0.08 (per channel, 0..1) of a colour, in a box given as fractions (top, bottom, left, right)."""
    height, width = image.shape[:2]
    top, bottom, left, right = (int(box[0] * height), int(box[1] * height), int(box[2] * width), int(box[3] * width))
    region = image[top:bottom, left:right, :3]
    return int((np.abs(region - np.array(colors.to_rgb(color))).max(axis=2) < 0.08).sum())


def test_two_runs_overlaid_in_the_png(tmp_path, cli):
    first = run_dir(tmp_path, "lora", "lora-30-steps.logging.jsonl")
    second = run_dir(tmp_path, "resumed", "resumed-strings.logging.jsonl")
    out = tmp_path / "plots" / "loss.png"
    result = cli("plot", str(first), str(second), "-o", str(out), "-f", str(tmp_path / "none.yaml"))
    assert result.returncode == 0, result.stderr
    assert "lora: 30 points" in result.stdout and "resumed: 20 points" in result.stdout
    image = imread(out)
    height, width = image.shape[:2]
    assert (width, height) == (int(plot.SIZE_IN[0] * plot.DPI), int(plot.SIZE_IN[1] * plot.DPI))
    # The loss panel (upper ~60%) holds both runs' lines: C0 blue and C1 orange; so does the lr panel.
    loss_box, lr_box = (0.06, 0.6, 0.08, 0.98), (0.64, 0.93, 0.08, 0.98)
    for color in ("C0", "C1"):
        assert pixels_of(image, color, loss_box) > 300, color
        assert pixels_of(image, color, lr_box) > 150, color
    # ...and a blank figure would be only background
    background = (np.abs(image[..., :3] - 1.0).max(axis=2) < 0.02).mean()
    assert 0.5 < background < 0.97


def test_plotted_data_is_the_logged_data(tmp_path):
    runs = [
        run_state.read_run(run_dir(tmp_path, "a", "lora-30-steps.logging.jsonl")),
        run_state.read_run(run_dir(tmp_path, "b", "resumed-strings.logging.jsonl")),
    ]
    fig = plot.save(runs, tmp_path / "x.png", title="two runs")
    loss_ax, lr_ax = fig.axes
    lines = {line.get_label(): line for line in loss_ax.get_lines()}
    assert set(lines) >= {"a", "b", "b (eval)"}
    assert list(lines["a"].get_xdata()) == list(range(1, 31))
    assert lines["a"].get_ydata()[0] == pytest.approx(7.13156128)
    assert list(lines["b"].get_xdata()) == list(range(1, 21))  # resumed steps not doubled
    assert list(lines["b (eval)"].get_xdata()) == [20]
    lr_lines = {line.get_label(): line for line in lr_ax.get_lines()}
    assert lr_lines["b"].get_ydata()[-1] == pytest.approx(5e-06)
    assert fig._suptitle.get_text() == "two runs"
    assert lr_ax.get_xlabel() == "step"


def test_same_names_are_told_apart(tmp_path):
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    runs = [
        run_state.read_run(run_dir(tmp_path / "x", "run", "lora-30-steps.logging.jsonl")),
        run_state.read_run(run_dir(tmp_path / "y", "run", "lora-30-steps.logging.jsonl")),
    ]
    fig = plot.figure(runs)
    labels = [line.get_label() for line in fig.axes[0].get_lines() if not line.get_label().startswith("_")]
    assert labels == [str(tmp_path / "x" / "run"), str(tmp_path / "y" / "run")]


def test_nothing_to_plot(tmp_path):
    with pytest.raises(PlanError, match="nothing to plot"):
        plot.figure([run_state.read_run(tmp_path)])
