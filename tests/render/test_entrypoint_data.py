"""The training entrypoint checks the data before the GPUs spin up: the rendered docker/check/ package, run as
the image runs it (`python3 -m check` with its parent on PYTHONPATH), on the training command's --dataset.
A bad row stops the run with its file:line and swift never starts; clean data goes on to swift."""

from __future__ import annotations

from tests.conftest import ROOT
from tests.render.test_merge import run

CHECKER = str(ROOT / "docker" / "check")  # what Dockerfile.train copies to /usr/local/lib/modelforge/check


def train(tmp_path, rows: str, **env: str):
    data = tmp_path / "train.jsonl"
    data.write_text(rows)
    command = ("swift", "sft", "--model", "org/base", "--dataset", str(data), "--output_dir", str(tmp_path / "out"))
    return data, run(tmp_path, "train", *command, MF_DATA_CHECKER=CHECKER, **env)


def test_a_bad_row_stops_training_at_its_line(tmp_path):
    good = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
    data, result = train(tmp_path, good + '{"messages": [{"role": "robot", "content": "x"}]}\n')
    assert result.returncode == 1, result.stderr
    assert f"{data}:2: messages[0].role: unknown role 'robot'" in result.stderr
    assert "the data check failed" in result.stderr and "Traceback" not in result.stderr
    assert not (tmp_path / "swift.log").exists()  # swift never started


def test_clean_data_goes_on_to_swift_and_the_check_can_be_skipped(tmp_path):
    good = '{"messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]}\n'
    data, result = train(tmp_path, good)
    assert result.returncode == 0, result.stderr
    assert f"{data}: 1 row, messages format: clean" in result.stderr
    assert "--dataset" in (tmp_path / "swift.log").read_text()
    _, skipped = train(tmp_path, "not json\n", MF_SKIP_DATA_CHECK="1")
    assert skipped.returncode == 0 and "data check skipped" in skipped.stderr, skipped.stderr
