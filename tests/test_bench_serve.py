"""`modelforge bench-serve`: the docker command it runs, the built-in load generator (against a local
stand-in) and the summary. `vllm bench serve` against the real CPU server: tests/test_after_training.py."""

from __future__ import annotations

import json
import math

import pytest

from builder.errors import PlanError
from builder.load import load_spec, validate
from builder.plan import make_plan
from builder.serving import bench as benchserve
from builder.serving.client import Endpoint
from tests.fake_openai import KEY, MODEL, FakeOpenAI


def test_rates():
    assert benchserve.parse_rates("1, 4,inf") == ["1", "4", "inf"]
    assert [benchserve.rate_key(r) for r in ("0.5", "inf")] == [0.5, math.inf]
    for bad in ("", "0", "-1", "fast"):
        with pytest.raises(PlanError):
            benchserve.parse_rates(bad)


def test_docker_command_runs_vllm_bench_from_the_serving_image(root, tmp_path):
    spec = load_spec(root / "examples" / "smoke.yaml", ["name=mf-b", "serve.port=8011"])
    plan = make_plan(spec)
    ep = Endpoint("http://127.0.0.1:8011/v1", "s3cret-key", "tiny-qwen3-moe")
    load = benchserve.Load(["2", "inf"], num_prompts=8, input_len=32, output_len=16)
    command = benchserve.docker_command(spec, plan, ep, load, tmp_path, root / "examples", None)
    assert command[:5] == ["docker", "run", "--rm", "--network", "host"]
    assert "s3cret-key" not in " ".join(command)  # the key travels in the environment only
    assert command[command.index("OPENAI_API_KEY") - 1] == "-e"
    assert "mf-b-model-cache:/models" in command and "mf-b-checkpoints:/checkpoints:ro" in command
    assert f"{tmp_path}:/results" in command
    image = command.index("modelforge/smoke-serve:cpu")
    assert command[image - 2 : image] == ["--entrypoint", "python3"]
    assert command[image + 1] == "-c" and "vllm.entrypoints.cli.main" in command[image + 2]
    assert json.loads(command[image + 3]) == ["2", "inf"]
    args = command[image + 4 :]
    pairs = {flag: args[i + 1] for i, flag in enumerate(args[:-1]) if flag.startswith("--")}
    assert pairs["--base-url"] == "http://127.0.0.1:8011" and pairs["--model"] == "tiny-qwen3-moe"
    assert pairs["--tokenizer"] == "/models/tiny-qwen3-moe" and pairs["--dataset-name"] == "random"
    assert pairs["--random-input-len"] == "32" and pairs["--num-prompts"] == "8"
    assert pairs["--metric-percentiles"] == "50,90,99"
    assert "-e" in command and "HF_HUB_OFFLINE=1" in command


def test_builtin_load_generator_measures_and_summarizes(tmp_path):
    with FakeOpenAI(token_delay=0.005) as server:
        ep = Endpoint(server.url, KEY, MODEL)
        load = benchserve.Load(["20", "inf"], num_prompts=6, input_len=10, output_len=5, max_concurrency=3)
        summary = benchserve.run(None, None, ep, load, tmp_path, tmp_path, engine="builtin", log=lambda _: None)
        assert server.max_inflight <= 3
        completions = [r["body"] for r in server.requests if r["path"] == "/v1/completions"]
    assert len(completions) == 12 and all(b["stream"] and b["max_tokens"] == 5 and b["ignore_eos"] for b in completions)
    assert summary["engine"] == benchserve.BUILTIN_ENGINE
    for row in summary["results"]:
        assert row["completed"] == 6 and row["failed"] == 0
        assert row["request_throughput"] > 0 and row["output_throughput"] > 0
        assert 0 < row["p50_ttft_ms"] <= row["p90_ttft_ms"] <= row["p99_ttft_ms"]
        assert row["p50_tpot_ms"] > 0 and row["p99_e2el_ms"] >= row["p99_ttft_ms"]
    assert json.loads((tmp_path / "summary.json").read_text()) == summary
    assert json.loads((tmp_path / "rate-inf.json").read_text())["total_output_tokens"] == 30
    text = benchserve.table(summary)
    assert "TTFT ms p50/p90/p99" in text and text.splitlines()[2].split()[0] == "20"


def test_auto_falls_back_to_builtin_when_the_container_fails(tmp_path, monkeypatch):
    def broken(*args, **kwargs):
        raise PlanError(["vllm bench serve failed (exit 1)"])

    monkeypatch.setattr(benchserve, "run_vllm", broken)
    spec = validate({"serve": {"max_model_len": 1024}})
    notes = []
    with FakeOpenAI() as server:
        summary = benchserve.run(
            spec,
            make_plan(spec),
            Endpoint(server.url, KEY, MODEL),
            benchserve.Load(["inf"], 2, 4, 3),
            tmp_path,
            tmp_path,
            engine="auto",
            log=notes.append,
        )
    assert summary["engine"] == benchserve.BUILTIN_ENGINE
    assert any("falling back to the built-in load generator" in n for n in notes)
    with pytest.raises(PlanError, match="failed"):
        benchserve.run(
            spec,
            make_plan(spec),
            Endpoint("http://x/v1", "k", "m"),
            benchserve.Load(["inf"], 2, 4, 3),
            tmp_path,
            tmp_path,
            engine="vllm",
            log=notes.append,
        )


def test_lengths_must_fit_the_served_context(tmp_path):
    spec = validate({"serve": {"max_model_len": 512}})
    with pytest.raises(PlanError, match="max_model_len"):
        benchserve.run(
            spec,
            make_plan(spec),
            Endpoint("http://x/v1", "k", "m"),
            benchserve.Load(["1"], 1, 500, 100),
            tmp_path,
            tmp_path,
        )


def test_cli_builtin_against_a_stand_in(tmp_path, monkeypatch, cli):
    monkeypatch.setenv("VLLM_API_KEY", KEY)
    with FakeOpenAI() as server:
        result = cli(
            "bench-serve",
            "--url",
            server.url,
            "--model",
            MODEL,
            "--engine",
            "builtin",
            "--rates",
            "inf",
            "--num-prompts",
            "3",
            "--input-len",
            "8",
            "--output-len",
            "4",
            "-o",
            str(tmp_path / "b"),
            "-f",
            str(tmp_path / "none.yaml"),
        )
    assert result.returncode == 0, result.stderr
    assert "engine: builtin" in result.stdout and (tmp_path / "b" / "summary.json").is_file()
