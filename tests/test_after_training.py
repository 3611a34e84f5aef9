"""After training, for real, on one CPU smoke stack of its own: a LoRA run of the tiny model (compose project
mf-issue8, port 8011, its own volumes), watched by `modelforge status` while it trains, plotted, merged by
the compose `merge` service and served merged by vLLM; then `chat` in a pseudo-terminal, `batch` killed
and resumed, and `bench-serve` (vllm bench serve from the serving image). Needs Docker: fails, never
skips, when the engine is missing."""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
import pytest
from matplotlib import colors
from matplotlib.image import imread
from python_on_whales import docker

from builder import demo
from builder.engine import local as host
from builder.render import monitor
from tests.conftest import ROOT, run_cli, share_smoke_wheelhouse
from tests.pty_session import PtySession

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAME = "mf-issue8"
PORT = 8011
OVERRIDES = (
    f"name={NAME}",
    "train.tuner=lora",
    f"serve.port={PORT}",
    # rendered one folder deeper than .smoke/, so the data folder is one more ../ away
    "volumes.data.host_path=../../../examples/data",
    "ui.max_tokens=48",  # the chat page's default; the tiny model's context is 512
)
BASE_SERVER = f"{NAME}-base-server"  # a second vLLM on the base model, on the project network
OUT = demo.SMOKE_DIR / "issue8"
SPEC_ARGS = ["-f", str(demo.SMOKE_SPEC), *[arg for o in OVERRIDES for arg in ("--set", o)]]
RUN = "/checkpoints/run"


def mf(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The CLI as users run it, against this module's stack."""
    return run_cli(*args, *SPEC_ARGS, timeout=timeout)


def volume_dir(stack: demo.Stack) -> Path:
    return Path(docker.volume.inspect(stack.volume["checkpoints"]).mountpoint) / "run"


@pytest.fixture(scope="module")
def stack():
    share_smoke_wheelhouse(OUT)
    stack = demo.prepare(demo.SMOKE_SPEC, OUT, OVERRIDES)
    yield stack
    stack.down()


@pytest.fixture(scope="module")
def trained(stack):
    """The LoRA run, with `modelforge status --json` polled (through the Docker volume) while it trains."""
    stack.client.compose.up(services=["train"], detach=True, force_recreate=True)
    seen = []
    deadline = time.monotonic() + 600
    while True:
        container = stack.container("train")
        container.reload()
        if not container.state.running and not container.state.restarting:
            break
        assert time.monotonic() < deadline, "training took over 10 minutes"
        result = mf("status", "--json")
        if result.returncode == 0:
            seen.append(json.loads(result.stdout))
        time.sleep(0.2)
    assert container.state.exit_code == 0, stack.client.compose.logs(services=["train"], tail="40")
    return stack, seen


@pytest.fixture(scope="module")
def merged(trained):
    stack, _ = trained
    result = subprocess.run(
        ["docker", "compose", "-f", str(stack.compose_file), "--profile", "merge", "run", "--rm", "-T", "merge"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    return stack, result


@pytest.fixture(scope="module")
def base_server(served):
    """serve.model_source=base in a second server container (`compose run` on the project network): the base
    model for `eval --api` and the chat page's compare mode. Its OpenAI URL as the project's containers see it."""
    stack, _ = served
    compose = ["docker", "compose", "-f", str(stack.compose_file)]
    started = subprocess.run(
        [*compose, "run", "-d", "--name", BASE_SERVER, "-e", "MF_MODEL_SOURCE=base", "serve"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert started.returncode == 0, started.stderr[-2000:]
    yield f"http://{BASE_SERVER}:{PORT}/v1"
    subprocess.run(["docker", "rm", "--force", BASE_SERVER], capture_output=True)


@pytest.fixture(scope="module")
def served(merged):
    stack, result = merged
    assert result.returncode == 0, result.stderr[-3000:]
    key = secrets.token_urlsafe(16)
    stack.serve(key)  # also exports VLLM_API_KEY, which the CLI below reads
    yield stack, key
    stack.client.compose.stop(services=["serve"])


def test_status_follows_the_run_and_reads_it_after(trained):
    stack, seen = trained
    mid_run = [s for s in seen if s["step"] and 0 < s["step"] < 30 and not s["finished"]]
    assert mid_run, f"no status while training ran: {seen}"
    assert all(s["max_steps"] == 30 and s["remaining_s"] is not None for s in mid_run)
    assert [s["step"] for s in seen if s["step"]] == sorted(s["step"] for s in seen if s["step"])  # only forward

    result = mf("status")
    assert result.returncode == 0, result.stderr
    text = result.stdout
    assert "30/30 steps 100%" in text and "finished in" in text
    assert f"{NAME}-checkpoints:/run/checkpoint-30" in text and "on disk: 10, 20, 30" in text
    # the smoke spec holds out a tenth of its rows (train.split_dataset_ratio) and evaluates every 10 steps
    assert "eval loss" in text and "(step 30)" in text, text

    logged = [e for e in map(json.loads, stack.read(f"{RUN}/logging.jsonl").splitlines()) if "loss" in e]
    data = json.loads(mf("status", "--json").stdout)
    assert data["finished"] and data["step"] == 30 and data["points"] == 30
    assert data["loss"] == pytest.approx(float(logged[-1]["loss"]))
    assert data["first_loss"] == pytest.approx(float(logged[0]["loss"]))
    assert data["learning_rate"] == pytest.approx(float(logged[-1]["learning_rate"]))
    # Through a throwaway container instead of the mountpoint (what a non-root user gets): the same run.
    via_container = json.loads(mf("status", "--json", "--via", "container").stdout)
    for key in (
        "step",
        "max_steps",
        "loss",
        "learning_rate",
        "grad_norm",
        "last_checkpoint",
        "checkpoints",
        "finished",
    ):
        assert via_container[key] == data[key], key
    # A container path, as the logs print it, finds the same run.
    assert json.loads(mf("status", RUN, "--json").stdout)["loss"] == data["loss"]


def test_plot_of_the_real_run(trained, tmp_path):
    out = tmp_path / "loss.png"
    result = mf("plot", "-o", str(out))
    assert result.returncode == 0, result.stderr
    assert "run: 30 points" in result.stdout
    image = imread(out)
    assert image.shape[:2] == (650, 900)
    blue = np.abs(image[40:380, 80:880, :3] - np.array(colors.to_rgb("C0"))).max(axis=2) < 0.08
    assert blue.sum() > 300  # the loss curve is drawn


def test_merge_writes_the_merged_model(merged):
    stack, result = merged
    assert result.returncode == 0, result.stderr[-3000:]
    assert f"merging the LoRA adapter {RUN}/checkpoint-30 into {RUN}/merged" in result.stderr
    run_dir = volume_dir(stack)
    assert (run_dir / "merged" / "config.json").is_file()
    assert any((run_dir / "merged").glob("*.safetensors"))
    assert (run_dir / "merged" / ".modelforge-merged-from").read_text().strip() == f"{RUN}/checkpoint-30"
    assert not (run_dir / "merged.partial").exists()
    again = subprocess.run(
        ["docker", "compose", "-f", str(stack.compose_file), "--profile", "merge", "run", "--rm", "-T", "merge"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert again.returncode == 0 and "already holds" in again.stderr
    assert "(from /checkpoints/run/checkpoint-30; current)" in mf("status").stdout


def test_server_serves_the_merged_model(served):
    stack, _ = served
    logs = stack.client.compose.logs(services=["serve"])
    assert f"serving {RUN}/merged" in logs


def test_chat_in_a_terminal(served):
    env = dict(os.environ, PYTHONPATH=str(ROOT), TERM="xterm")
    session = PtySession(
        [sys.executable, "-m", "builder.cli", "chat", *SPEC_ARGS, "--max-tokens", "12", "--temperature", "1.0"],
        env,
        cwd=str(ROOT),
    )
    try:
        assert f"chatting with tiny-qwen3-moe at http://127.0.0.1:{PORT}" in session.expect("you> ", timeout=60)
        session.send("What is 2 + 3?\n")
        turn = session.expect("you> ", timeout=120)
        assert "assistant>" in turn and "tokens" in turn and "error" not in turn
        session.send("And 4 + 4?\n")
        assert "assistant>" in session.expect("you> ", timeout=120)
        session.send("/exit\n")
        assert session.wait() == 0
    finally:
        session.close()


def test_batch_killed_then_resumed(served, tmp_path):
    rows = 150
    (tmp_path / "in.jsonl").write_text(
        "".join(json.dumps({"query": f"What is {i} + {i}?"}) + "\n" for i in range(rows))
    )
    out = tmp_path / "out.jsonl"
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "builder.cli",
            "batch",
            str(tmp_path / "in.jsonl"),
            str(out),
            *SPEC_ARGS,
            "-j",
            "2",
            "--max-tokens",
            "24",
        ],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 120
    while not out.exists() or len(out.read_text().splitlines()) < 10:
        assert process.poll() is None, "batch ended before it could be interrupted"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    process.send_signal(signal.SIGKILL)  # no clean-up at all
    process.wait(timeout=30)
    first = {}
    for line in out.read_text().splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            continue
        first[record["index"]] = record
    assert 10 <= len(first) < rows

    result = mf("batch", str(tmp_path / "in.jsonl"), str(out), "-j", "4", "--max-tokens", "24")
    assert result.returncode == 0, result.stderr[-2000:]
    assert f"{rows} rows: {len(first)} answered before, {rows - len(first)} now, 0 failed" in result.stdout
    final = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["index"] for r in final] == list(range(rows))
    assert all(r["query"] == f"What is {r['index']} + {r['index']}?" and "response" in r for r in final)
    assert all(final[i] == record for i, record in first.items())  # answered once, kept as they were


def test_bench_serve_runs_vllm_bench(served, tmp_path):
    result = mf(
        "bench-serve",
        "--engine",
        "vllm",
        "--rates",
        "2,inf",
        "--num-prompts",
        "8",
        "--input-len",
        "32",
        "--output-len",
        "16",
        "-o",
        str(tmp_path / "bench"),
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads((tmp_path / "bench" / "summary.json").read_text())
    assert summary["engine"] == "vllm bench serve" and summary["model"] == "tiny-qwen3-moe"
    assert [r["request_rate"] for r in summary["results"]] == ["2", "inf"]
    for row in summary["results"]:
        assert row["completed"] == 8 and row["failed"] == 0
        assert row["request_throughput"] > 0 and row["output_throughput"] > 0
        assert 0 < row["p50_ttft_ms"] <= row["p99_ttft_ms"] and row["p50_tpot_ms"] > 0
    raw = json.loads((tmp_path / "bench" / "rate-inf.json").read_text())
    assert raw["completed"] == 8 and raw["total_output_tokens"] == 8 * 16  # --ignore-eos: full length
    assert "TTFT ms p50/p90/p99" in result.stdout


def _prometheus(path: str) -> dict:
    with urllib.request.urlopen(f"http://127.0.0.1:{monitor.PROMETHEUS_PORT}{path}", timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]


def test_prometheus_scrapes_the_servers_vllm_metrics(served):
    """Issue 19: the compose profile `monitor` builds Prometheus (Debian's package, on the local base: the
    real default is debian:bookworm-slim) and scrapes the server; its query API returns vllm: series, the
    generation tokens of a request sent here arrive in them, and every series the Grafana dashboard reads
    is among them."""
    stack, key = served
    env = dict(os.environ, MF_PROMETHEUS_BASE_IMAGE=host.BASE_IMAGE, DOCKER_BUILDKIT="0")
    compose = ["docker", "compose", "-f", str(stack.compose_file), "--profile", "monitor"]
    built = subprocess.run([*compose, "build", "prometheus"], env=env, capture_output=True, text=True, timeout=900)
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    try:
        up = subprocess.run([*compose, "up", "-d", "--no-deps", "prometheus"], env=env, capture_output=True, text=True)
        assert up.returncode == 0, up.stderr[-2000:]
        demo.chat(stack.base_url, key, stack.plan.serve.served_name, "Count to three.")  # tokens to count
        deadline = time.monotonic() + 180
        tokens = 0.0
        while time.monotonic() < deadline:
            try:
                found = _prometheus("/api/v1/query?query=sum(vllm:generation_tokens_total)")["result"]
                tokens = float(found[0]["value"][1]) if found else 0.0
            except OSError:
                found = []
            if tokens > 0:
                break
            time.sleep(2)
        names = _prometheus("/api/v1/label/__name__/values")
        assert tokens > 0, f"no vllm:generation_tokens_total in Prometheus after 180 s; names: {names[:40]}"
        served_names = [n for n in names if n.startswith("vllm:")]
        for expected in ("vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:prompt_tokens_total"):
            assert expected in served_names, served_names
        # the k8s Grafana dashboard (k8s.monitoring) queries only series this server really exports
        missing = monitor.dashboard_metrics() - set(names)
        assert not missing, f"the dashboard reads series the server does not export: {sorted(missing)}"
        [target] = _prometheus("/api/v1/targets")["activeTargets"]
        assert target["labels"]["job"] == "vllm" and target["health"] == "up", target
    finally:
        subprocess.run([*compose, "rm", "--stop", "--force", "--volumes", "prometheus"], capture_output=True)
        subprocess.run(["docker", "volume", "rm", "--force", f"{NAME}-prometheus"], capture_output=True)


def test_eval_scores_the_fine_tuned_model_then_the_base_and_compares_them(served, base_server, monkeypatch):
    """Issue 19: `modelforge eval` builds the eval image (EvalScope 1.14.1 from PyPI, on the local base) and
    scores the served model on eval.dataset (the smoke spec's 6 rows, offline); a second server on the
    base model (serve.model_source=base, started by `compose run` on the project network) is scored with
    --api; the reports land on the checkpoint volume and the table shows both, base first."""
    stack, key = served
    monkeypatch.setenv("MF_EVAL_BASE_IMAGE", host.BASE_IMAGE)
    monkeypatch.setenv("MF_EXTRA_CA_BUNDLE", ".build/extra-ca.pem")
    monkeypatch.setenv("VLLM_API_KEY", key)
    bundle = ("-o", str(OUT))  # the stack's rendered folder
    tuned = mf("eval", *bundle, timeout=1800)
    assert tuned.returncode == 0, tuned.stdout[-4000:] + tuned.stderr[-3000:]
    reports = volume_dir(stack) / "eval"
    [first] = [json.loads(p.read_text()) for p in reports.glob("*/report.json")]
    assert first["label"] != "base" and first["model_root"].startswith(RUN), first["model_root"]
    [main] = [r for r in first["rows"] if r["primary"]]
    assert (main["dataset"], main["subset"], main["metric"]) == ("general_qa", "smoke-eval", "rouge-l-recall")
    assert main["samples"] == 6 and 0.0 <= main["score"] <= 1.0
    assert first["answers"]["total"] == 6, first["answers"]
    assert (reports / first["label"].replace("/", "_") / "evalscope" / "predictions").is_dir()

    base = mf("eval", *bundle, "--api", base_server, timeout=1800)  # waits while it loads
    assert base.returncode == 0, base.stdout[-4000:] + base.stderr[-3000:]
    table = mf("eval", "--report-only")
    assert table.returncode == 0, table.stderr
    print(table.stdout)  # pytest -s shows the comparison
    head, _, row = table.stdout.splitlines()[:3]
    assert head.split() == ["dataset/subset", "metric", "base", first["label"], "change"], table.stdout
    assert row.split()[:2] == ["general_qa/smoke-eval", "rouge-l-recall"], table.stdout
    assert len(list(reports.glob("*/report.json"))) == 2
    # no key in what the eval container wrote
    written = "".join(
        p.read_text(errors="replace") for p in reports.rglob("*") if p.is_file() and p.stat().st_size < 5e6
    )
    assert key not in written


def test_chat_page_in_a_browser_against_the_cpu_stack(served, base_server, monkeypatch, tmp_path):
    """Issue 21 on the real stack: `make ui`'s service (its Gradio image built on the local base) in front of
    the real vLLM server, driven by headless Chromium: an answer arrives for a typed prompt, and compare mode
    shows the fine-tuned (merged) model's answer beside the base server's, which streams in; the preference
    lands in the run's preferences.jsonl on the checkpoint volume."""
    from selenium.webdriver.common.by import By

    from tests.test_chat_page import ARTIFACTS, answers, browser, send, text, wait_for

    stack, key = served
    monkeypatch.setenv("MF_UI_BASE_IMAGE", host.BASE_IMAGE)
    monkeypatch.setenv("MF_EXTRA_CA_BUNDLE", ".build/extra-ca.pem")
    monkeypatch.setenv("MF_UI_BASE_API", base_server)
    monkeypatch.setenv("DOCKER_BUILDKIT", "0")
    compose = ["docker", "compose", "-f", str(stack.compose_file), "--profile", "ui"]
    up = subprocess.run([*compose, "up", "-d", "--build", "ui"], capture_output=True, text=True, timeout=1500)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    wait_for(lambda: answers("http://127.0.0.1:7860/"), timeout=120, every=0.5)  # Gradio is up
    driver = browser()
    try:
        driver.get("http://127.0.0.1:7860/")
        try:
            wait_for(lambda: "Ready:" in text(driver, "status"), timeout=120)
        except AssertionError:
            logs = subprocess.run([*compose, "logs", "ui"], capture_output=True, text=True).stdout[-3000:]
            raise AssertionError(f"page status {text(driver, 'status')!r}; page logs:\n{logs}") from None
        assert key not in driver.page_source
        send(driver, "What is 2 + 3?")
        # the merged tiny model ends at once: the page says so instead of a blank bubble
        # an answer bubble arrives (the tiny model's tokens may render as little text: count the bubbles)
        wait_for(lambda: driver.find_elements(By.CSS_SELECTOR, "#chat [data-testid='bot']"), timeout=120)
        assert "Problem" not in text(driver, "chat"), text(driver, "chat")
        driver.find_element(By.XPATH, "//button[@role='tab'][contains(., 'Compare')]").click()
        wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "#compare-prompt textarea")).send_keys("Count to ten.")
        # every DOM update of the base side, seen from inside the page (the tiny model answers in well
        # under a second: polling from here would miss the stream)
        watch = (
            "window.__sizes = []; const el = document.getElementById('right');"
            "new MutationObserver(() => window.__sizes.push(el.innerHTML.length))"
            ".observe(el, {subtree: true, childList: true, characterData: true});"
        )
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:  # the base server may still be loading: the note says so, retry
            driver.execute_script(watch)
            driver.find_element(By.ID, "compare").click()
            wait_for(lambda: "answering" in text(driver, "compare-note") or "which" in text(driver, "compare-note"))
            wait_for(lambda: "answering" not in text(driver, "compare-note"), timeout=240)
            if "which answer is better" in text(driver, "compare-note"):
                break
            time.sleep(5)
        lengths = driver.execute_script("return window.__sizes")
        assert "which answer is better" in text(driver, "compare-note"), text(driver, "compare-note")
        assert driver.find_elements(By.CSS_SELECTOR, "#right [data-testid='bot']"), text(driver, "right")
        assert "(empty answer)" not in text(driver, "right")  # the base model writes tokens
        assert len(set(lengths)) >= 3, f"the base answer did not stream in: {sorted(set(lengths))}"
        driver.find_element(By.ID, "prefer-right").click()
        wait_for(lambda: "saved: base preferred" in text(driver, "compare-note"))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "chat-page-cpu-stack.png"))
    except AssertionError as exc:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "chat-page-cpu-stack-failed.png"))
        logs = subprocess.run([*compose, "logs", "ui"], capture_output=True, text=True).stdout[-3000:]
        raise AssertionError(
            f"{exc}\nstatus {text(driver, 'status')!r}\nchat {text(driver, 'chat')!r}\n"
            f"note {text(driver, 'compare-note')!r}\nlogs:\n{logs}"
        ) from None
    finally:
        driver.quit()
        subprocess.run([*compose, "rm", "--stop", "--force", "ui"], capture_output=True)
    [row] = [json.loads(x) for x in (volume_dir(stack) / "preferences.jsonl").read_text().splitlines()]
    assert row["preferred"] == "base" and row["messages"][-2] == {"role": "user", "content": "Count to ten."}
    assert row["messages"][-1]["role"] == "assistant" and row["messages"][-1]["content"].strip()
