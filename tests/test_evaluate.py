"""The evaluation stage without Docker: the runner's reading of eval rows (every format the data checker
reads, problems with file:line), its labels and report parsing, the rendered compose service and k8s Job,
and the CLI's comparison table. The real run (EvalScope against vLLM) is in test_after_training."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest
import yaml

from builder.load import validate
from builder.plan import make_plan
from builder.render import render_all
from builder.serving import evaluate as cli_eval
from tests.render.k8s_schemas import validate as validate_object

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def runner():
    sys.path.insert(0, str(ROOT / "builder" / "data"))  # the image has the check package beside evaluate.py
    spec = importlib.util.spec_from_file_location("mf_evaluate", ROOT / "builder/templates/context/evaluate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    sys.path.remove(str(ROOT / "builder" / "data"))


def test_every_training_format_becomes_a_prompt_and_its_reference_answer(runner, tmp_path):
    rows = [
        {"messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q1"},
                      {"role": "assistant", "content": "A1"}]},
        {"query": "Q2", "response": "A2", "system": "S2"},
        {"instruction": "Add.", "input": "3 + 9", "output": "12"},
        {"conversations": [{"from": "human", "value": "Q4"}, {"from": "gpt", "value": "A4"}]},
    ]  # fmt: skip
    path = tmp_path / "mine.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    got, problems = runner.eval_rows(str(path))
    assert problems == []
    assert got[0] == {
        "messages": [{"role": "system", "content": "S"}, {"role": "user", "content": "Q1"}],
        "answer": "A1",
    }
    assert got[1] == {
        "messages": [{"role": "system", "content": "S2"}, {"role": "user", "content": "Q2"}],
        "answer": "A2",
    }
    assert got[2]["messages"] == [{"role": "user", "content": "Add.\n3 + 9"}] and got[2]["answer"] == "12"
    assert got[3] == {"messages": [{"role": "user", "content": "Q4"}], "answer": "A4"}


def test_rows_that_cannot_be_scored_are_named_by_file_and_line(runner, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text(
        json.dumps({"messages": [{"role": "user", "content": "Q"}, {"role": "assistant", "content": "A"}]}) + "\n"
        + json.dumps({"messages": [{"role": "user", "content": "no answer"}]}) + "\n"
        + "{not json\n"
        + json.dumps({"text": "unknown format"}) + "\n"
    )  # fmt: skip
    rows, problems = runner.eval_rows(str(path))
    assert len(rows) == 1
    assert any(p.startswith(f"{path}:2: ") for p in problems), problems
    assert any(p.startswith(f"{path}:3: ") for p in problems), problems
    assert any(p.startswith(f"{path}:4: ") and "known format" in p for p in problems), problems
    with pytest.raises(runner.Refused) as refused:
        runner.prepare_general_qa([str(path)], tmp_path / "work")
    assert refused.value.code == 2 and f"{path}:2" in str(refused.value)


def test_labels_say_base_or_which_checkpoint(runner):
    assert runner.label_for("/models/Qwen/Qwen3-0.6B", "/checkpoints/run") == "base"
    assert runner.label_for("/checkpoints/run/v0-1/checkpoint-30", "/checkpoints/run") == "v0-1/checkpoint-30"
    assert runner.label_for("/checkpoints/run2/x", "/checkpoints/run") == "base"
    assert runner.slug("v0-1/checkpoint-30") == "v0-1_checkpoint-30"


def test_evalscope_reports_flatten_to_rows_with_the_main_score_marked(runner, tmp_path):
    primary = {"name": "rouge", "aggregation": "mean", "dimensions": {"variant": "l", "statistic": "recall"}}
    doc = {
        "dataset_name": "general_qa",
        "primary_metric_identity": primary,
        "metrics": [
            {"identity": {"name": "bleu", "aggregation": "mean", "dimensions": {"ngram": 1}}, "score": 0.5, "num": 4,
             "categories": [{"name": ["default"], "subsets": [{"name": "mine", "score": 0.5, "num": 4}]}]},
            {"identity": primary, "score": 0.75, "num": 4,
             "categories": [{"name": ["default"], "subsets": [{"name": "mine", "score": 0.75, "num": 4}]}]},
        ],
    }  # fmt: skip
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "general_qa.json").write_text(json.dumps(doc))
    rows = runner.report_rows(tmp_path)
    assert [(r["metric"], r["score"], r["primary"], r["samples"]) for r in rows] == [
        ("bleu-1", 0.5, False, 4),
        ("rouge-l-recall", 0.75, True, 4),
    ]


def test_compose_service_and_k8s_job_hold_no_key_and_write_to_the_run(tmp_path):
    plan = make_plan(validate({"eval": {"dataset": ["/data/e.jsonl"], "benchmarks": ["gsm8k"], "limit": 50}}))
    files = render_all(plan)
    service = yaml.safe_load(files["compose/docker-compose.yml"])["services"]["eval"]
    env = service["environment"]
    assert env["VLLM_API_KEY"] == "${VLLM_API_KEY:-}" and env["MF_EVAL_API"].startswith("${MF_EVAL_API:-http://serve:")
    assert json.loads(env["MF_EVAL_DATASETS"]) == ["/data/e.jsonl"] and env["MF_EVAL_LIMIT"] == "50"
    assert env["MF_EVAL_OUT"] == f"{plan.train.output_dir}/eval" and service["read_only"] is True
    assert "../data:/data:ro" in service["volumes"] and service["profiles"] == ["eval"]
    [job] = [d for d in yaml.safe_load_all(files["k8s/eval/eval-job.yaml"]) if d]
    assert validate_object(job) == "kubernetes"
    pod = job["spec"]["template"]["spec"]
    [c] = pod["containers"]
    key = next(e for e in c["env"] if e["name"] == "VLLM_API_KEY")
    assert key["valueFrom"]["secretKeyRef"]["key"] == "api-key"
    api = next(e["value"] for e in c["env"] if e["name"] == "MF_EVAL_API")
    assert api == f"http://{plan.spec.name}-serve:{plan.spec.serve.port}/v1"
    assert c["securityContext"]["readOnlyRootFilesystem"] and pod["automountServiceAccountToken"] is False
    assert "kubectl apply -k k8s/eval/" in files["k8s/README.md"]
    assert "evalscope==1.14.1" in files["Dockerfile.eval"] and "COPY docker/check/" in files["Dockerfile.eval"]


def test_an_eval_dataset_must_be_on_a_volume_the_eval_container_mounts():
    plan = make_plan(validate({"eval": {"dataset": ["/data/ok.jsonl", "/models/elsewhere.jsonl"]}}))
    [error] = [e for e in plan.errors if "eval.dataset" in e]
    assert "/models/elsewhere.jsonl" in error and "/data/" in error and "/data/ok.jsonl" not in error


def test_an_eval_dataset_must_be_a_container_path():
    with pytest.raises(Exception, match="eval.dataset"):
        validate({"eval": {"dataset": ["data/eval.jsonl"]}})
    with pytest.raises(Exception, match="benchmarks"):
        validate({"eval": {"benchmarks": ["GSM8K; rm -rf /"]}})


def test_the_table_puts_base_and_fine_tuned_side_by_side():
    def report(label, score, finished):
        row = {"dataset": "general_qa", "subset": "mine", "metric": "rouge-l-recall", "primary": True}
        other = {"dataset": "general_qa", "subset": "mine", "metric": "bleu-1", "primary": False}
        return {
            "label": label,
            "finished": finished,
            "rows": [dict(row, score=score, samples=6), dict(other, score=0.1)],
        }

    reports = [report("v0/checkpoint-30", 0.5, "2026-12-04T10:00"), report("base", 0.25, "2026-12-04T11:00")]
    ordered = sorted(reports, key=lambda r: (r["label"] != "base", r["finished"]))
    rows = cli_eval.comparison(ordered, all_metrics=False)
    assert len(rows) == 1 and rows[0]["scores"]["base"]["score"] == 0.25
    text = cli_eval.table(ordered, rows)
    head = text.splitlines()[0].split()
    assert head == ["dataset/subset", "metric", "base", "v0/checkpoint-30", "change"]
    assert "+0.2500" in text
    assert len(cli_eval.comparison(ordered, all_metrics=True)) == 2


def test_named_benchmarks_are_refused_at_once_when_the_hub_does_not_answer(runner, monkeypatch):
    import socket
    import time

    with socket.socket() as s:  # a port nothing listens on: the hub "does not answer"
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    monkeypatch.setenv("MODELSCOPE_DOMAIN", f"http://127.0.0.1:{port}")
    started = time.monotonic()
    with pytest.raises(runner.Refused) as refused:
        runner.check_hub(["gsm8k"])
    assert refused.value.code == 2 and "gsm8k" in str(refused.value) and f"127.0.0.1:{port}" in str(refused.value)
    assert time.monotonic() - started < 10
    runner.check_hub([])  # only user data: no hub needed
    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI() as answering:  # any HTTP answer (its 404 too) counts as reachable
        monkeypatch.setenv("MODELSCOPE_DOMAIN", answering.url.rsplit("/v1", 1)[0])
        runner.check_hub(["gsm8k"])


def test_the_runner_scores_the_model_it_is_told_to(runner):
    """A server with a LoRA adapter (serve.lora: adapter) lists the base first and the adapter after it."""
    from tests.fake_openai import KEY, FakeOpenAI

    with FakeOpenAI(model="m-base", adapter=("m", "/checkpoints/run/checkpoint-30")) as server:
        assert runner.served_model(server.url, KEY, "m") == ("m", "/checkpoints/run/checkpoint-30")
        assert runner.served_model(server.url, KEY, "m-base") == ("m-base", "/models/base")
        assert runner.served_model(server.url, KEY, "") == ("m-base", "/models/base")  # --api: the first listed
        with pytest.raises(runner.Refused, match=r"serves no model named x \(it serves m-base, m\)"):
            runner.served_model(server.url, KEY, "x", wait_s=1)
