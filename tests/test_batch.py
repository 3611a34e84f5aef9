"""`modelforge batch`: bounded concurrency, input order, and resuming without re-asking finished rows,
against a local OpenAI-compatible stand-in (tests/fake_openai.py). The real server: test_after_training.py."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from builder.errors import PlanError
from builder.serving import batch
from builder.serving.client import Endpoint
from tests.conftest import ROOT
from tests.fake_openai import KEY, MODEL, FakeOpenAI
from tests.pty_session import default_sigint


def write_rows(path: Path, count: int) -> list[dict]:
    rows = []
    for i in range(count):
        if i % 3 == 2:  # training format: the final assistant turn is the reference, not sent
            rows.append(
                {
                    "messages": [
                        {"role": "user", "content": f"question {i}"},
                        {"role": "assistant", "content": f"reference {i}"},
                    ],
                    "id": f"r{i}",
                }
            )
        else:
            rows.append({"query": f"question {i}", "id": f"r{i}"})
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return rows


def asked(server) -> list[str]:
    return [r["body"]["messages"][-1]["content"] for r in server.requests if r["path"] == "/v1/chat/completions"]


def outputs(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def cli(*args: str, url: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), VLLM_API_KEY=KEY)
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "builder.cli",
            "batch",
            *args,
            "--url",
            url,
            "--model",
            MODEL,
            "-f",
            "/nonexistent/spec.yaml",
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )


def test_all_rows_answered_in_input_order(tmp_path):
    rows = write_rows(tmp_path / "in.jsonl", 12)
    with FakeOpenAI(delay=0.02) as server:
        result = cli(
            str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"), "-j", "4", "--max-tokens", "9", url=server.url
        )
        assert result.returncode == 0, result.stderr
        assert sorted(asked(server)) == sorted(f"question {i}" for i in range(12))  # each once; no reference sent
        assert all(r["body"]["max_tokens"] == 9 for r in server.requests)
    out = outputs(tmp_path / "out.jsonl")
    assert [o["index"] for o in out] == list(range(12))
    assert [o["id"] for o in out] == [r["id"] for r in rows]
    assert out[0]["response"] == "echo: question 0" and out[0]["finish_reason"] == "stop"
    assert out[2]["labels"] == "reference 2" and out[2]["response"] == "echo: question 2"
    assert out[0]["usage"]["completion_tokens"] == 3 and "latency_s" in out[0]
    assert "12 rows: 0 answered before, 12 now, 0 failed" in result.stdout
    assert "12/12" in result.stderr  # the progress bar


def test_concurrency_is_bounded(tmp_path):
    write_rows(tmp_path / "in.jsonl", 12)
    with FakeOpenAI(delay=0.2) as server:
        counts = batch.run(
            Endpoint(server.url, KEY, MODEL),
            tmp_path / "in.jsonl",
            tmp_path / "out.jsonl",
            batch.Settings(concurrency=3),
            stream=open(os.devnull, "w"),
        )
    assert counts["answered"] == 12
    assert server.max_inflight == 3  # 3 at a time: never more, and it did overlap


def test_interrupted_run_resumes_without_re_asking(tmp_path):
    write_rows(tmp_path / "in.jsonl", 40)
    out = tmp_path / "out.jsonl"
    with FakeOpenAI(delay=0.1) as server:
        env = dict(os.environ, PYTHONPATH=str(ROOT), VLLM_API_KEY=KEY)
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "builder.cli",
                "batch",
                str(tmp_path / "in.jsonl"),
                str(out),
                "--url",
                server.url,
                "--model",
                MODEL,
                "-j",
                "2",
                "-f",
                "/nonexistent.yaml",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=default_sigint,
        )
        deadline = time.monotonic() + 30
        while not out.exists() or len(out.read_text().splitlines()) < 8:
            assert time.monotonic() < deadline and process.poll() is None
            time.sleep(0.02)
        process.send_signal(signal.SIGINT)  # Ctrl-C
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 130, stderr
        first = outputs(out)
        done = {o["index"] for o in first}
        assert 8 <= len(done) < 40
        assert [o["index"] for o in first] == sorted(done)  # rewritten in input order on the way out
        before = len(server.requests)

        result = cli(str(tmp_path / "in.jsonl"), str(out), "-j", "3", url=server.url)
        assert result.returncode == 0, result.stderr
        again = asked(server)[before:]
    assert f"{len(done)} answered before" in result.stdout and "resuming" in result.stderr
    assert sorted(again) == sorted(f"question {i}" for i in range(40) if i not in done)  # only the rest, once each
    final = outputs(out)
    assert [o["index"] for o in final] == list(range(40))
    assert [o for o in final if o["index"] in done] == first  # the first run's answers kept as they were


def test_half_written_failed_and_changed_rows_are_asked_again(tmp_path):
    rows = write_rows(tmp_path / "in.jsonl", 6)
    out = tmp_path / "out.jsonl"
    with FakeOpenAI() as server:
        ep = Endpoint(server.url, KEY, MODEL)
        batch.run(ep, tmp_path / "in.jsonl", out, batch.Settings(), stream=open(os.devnull, "w"))
        lines = out.read_text().splitlines()
        lines[1] = json.dumps({**json.loads(lines[1]), "response": None, "error": "HTTP 500"})  # failed
        lines[4] = lines[4][:25]  # killed mid-write
        out.write_text("\n".join(lines[:5]) + "\n")  # row 5 never written
        rows[3]["query"] = "question 3, edited"  # the input changed since
        (tmp_path / "in.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
        before = len(server.requests)
        counts = batch.run(ep, tmp_path / "in.jsonl", out, batch.Settings(), stream=open(os.devnull, "w"))
        again = asked(server)[before:]
    assert sorted(again) == ["question 1", "question 3, edited", "question 4", "question 5"]
    assert counts == {"rows": 6, "already_done": 2, "asked": 4, "answered": 4, "failed": 0, "missing": 0}
    final = outputs(out)
    assert [o["index"] for o in final] == list(range(6)) and all("error" not in o for o in final)


def test_failures_are_recorded_and_retried_next_time(tmp_path):
    write_rows(tmp_path / "in.jsonl", 3)
    with FakeOpenAI(model="another-model") as server:  # the server answers 404 for our model name
        result = cli(str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"), "--retries", "0", url=server.url)
    assert result.returncode == 1 and "3 failed (rerun to ask them again)" in result.stdout
    out = outputs(tmp_path / "out.jsonl")
    assert [o["index"] for o in out] == [0, 1, 2] and all("404" in o["error"] for o in out)
    with FakeOpenAI() as server:
        result = cli(str(tmp_path / "in.jsonl"), str(tmp_path / "out.jsonl"), url=server.url)
        assert result.returncode == 0 and len(asked(server)) == 3


def test_bad_input_is_refused_with_line_numbers(tmp_path):
    (tmp_path / "in.jsonl").write_text('{"query": "ok"}\n\nnot json\n{"prompt": "x"}\n')
    with pytest.raises(PlanError) as info:
        batch.read_input(tmp_path / "in.jsonl")
    assert [p.split(":")[1] for p in info.value.problems] == ["3", "4"]


def test_wrong_key_fails_cleanly(tmp_path, monkeypatch):
    write_rows(tmp_path / "in.jsonl", 2)
    with FakeOpenAI() as server:
        counts = batch.run(
            Endpoint(server.url, "wrong", MODEL),
            tmp_path / "in.jsonl",
            tmp_path / "out.jsonl",
            batch.Settings(retries=0),
            stream=open(os.devnull, "w"),
        )
    assert counts["failed"] == 2
    assert all("VLLM_API_KEY does not match" in o["error"] for o in outputs(tmp_path / "out.jsonl"))
