"""`modelforge data check|convert` as users run them: exit codes 0/1/2, no tracebacks.

One test runs the CLI as a process; the rest call its main() in-process (same code, faster).
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from builder.cli import main

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "data"


@pytest.fixture
def mf(capsys):
    def run(*args: str) -> SimpleNamespace:
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = exc.code
        out = capsys.readouterr()
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return run


def test_check_problems_exit_1_with_file_line(cli):
    path = FIX / "problems" / "unknown_role.jsonl"
    result = cli("data", "check", str(path))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"{path}:3: messages[1].role: unknown role 'robot'" in result.stdout


def test_check_clean_folder_json(mf):
    result = mf("data", "check", "--json", str(FIX / "clean"))
    assert result.returncode == 0, result.stdout + result.stderr
    data = json.loads(result.stdout)
    assert data["ok"] and data["rows"] == 14 and len(data["files"]) == 6


def test_check_missing_path_exit_2(mf, tmp_path):
    result = mf("data", "check", str(tmp_path / "nope.jsonl"))
    assert result.returncode == 2 and "no such file or directory" in result.stderr and "Traceback" not in result.stderr


def test_check_without_path_reads_the_spec(mf, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_bytes((FIX / "clean" / "sharegpt.jsonl").read_bytes())
    spec = tmp_path / "modelforge.yaml"
    spec.write_text(
        "train:\n  dataset:\n    - /data/train.jsonl#1\n    - /checkpoints/extra.jsonl\n    - org/name#10\n"
        "volumes:\n  data: {mount: /data, host_path: ../data}\n"
    )
    result = mf("data", "check", "-f", str(spec), "--offline")
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "train.dataset[0] /data/train.jsonl#1 is " in out
    assert "train.jsonl: 2 rows, ms-swift samples 1, ShareGPT format: clean" in out
    assert (
        "train.dataset[1] /checkpoints/extra.jsonl: in the named volume volumes.checkpoints; checked in the container"
        in out
    )
    assert "org/name#10: hub dataset on ModelScope, sample of 10 rows" in out
    spec.write_text("train:\n  dataset: [/data/missing.jsonl]\n")
    missing = mf("data", "check", "-f", str(spec))
    assert missing.returncode == 2 and "train.dataset[0] /data/missing.jsonl is " in missing.stderr
    assert "no such file or directory" in missing.stderr and "Traceback" not in missing.stderr


def test_check_without_path_also_checks_the_eval_set(mf, tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "train.jsonl").write_bytes((FIX / "clean" / "sharegpt.jsonl").read_bytes())
    (tmp_path / "data" / "eval.jsonl").write_bytes((FIX / "problems" / "unknown_role.jsonl").read_bytes())
    spec = tmp_path / "modelforge.yaml"
    spec.write_text(
        "train:\n  dataset: [/data/train.jsonl]\neval:\n  dataset: [/data/eval.jsonl]\n"
        "volumes:\n  data: {mount: /data, host_path: ../data}\n"
    )
    result = mf("data", "check", "-f", str(spec), "--offline")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "eval.dataset[0] /data/eval.jsonl is " in result.stdout
    assert "eval.jsonl:3: messages[1].role: unknown role 'robot'" in result.stdout


def test_convert_reports_rows_and_rejections(mf, tmp_path):
    out = tmp_path / "out.jsonl"
    ok = mf("data", "convert", str(FIX / "clean" / "alpaca.jsonl"), str(out), "--to", "messages")
    assert ok.returncode == 0, ok.stderr
    assert ok.stdout.strip().endswith("3 rows in = 3 written (from alpaca 3) + 0 rejected")
    bad = mf("data", "convert", str(FIX / "problems" / "invalid_json.jsonl"), str(out), "--to", "messages")
    assert bad.returncode == 1
    assert bad.stdout.splitlines() == [
        f"{FIX / 'problems' / 'invalid_json.jsonl'}:2:50: rejected: invalid JSON: Expecting ',' delimiter",
        f"{FIX / 'problems' / 'invalid_json.jsonl'} -> {out} (messages): 3 rows in = 2 written (from messages 2) + 1 rejected",
    ]
    usage = mf("data", "convert", str(FIX / "clean"), str(out), "--to", "messages")
    assert usage.returncode == 2 and "convert takes one file" in usage.stderr


def test_usage_errors_exit_2(mf):
    assert mf("data").returncode == 2
    assert mf("data", "convert", "a.jsonl", "b.jsonl").returncode == 2  # --to is required
    assert mf("data", "convert", "a.jsonl", "b.jsonl", "--to", "alpaca").returncode == 2
