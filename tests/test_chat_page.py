"""Issue 21, the chat page in a real browser: the compose service `ui`'s image (Gradio, built here on the
local Debian base) in front of two OpenAI-compatible servers that stream like vLLM with a reasoning parser
(tests/fake_openai.py: the fine-tuned one sends reasoning apart, token by token), driven by headless Chromium
(Debian's chromium and chromium-driver) through Selenium. The page against the real CPU stack's vLLM is in
test_after_training. Screenshots go to .smoke/artifacts/. Needs Docker: fails, never skips."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By

from builder import demo
from builder.load import load_spec
from builder.plan import make_plan
from builder.render import render_all, write
from tests.conftest import compose_build
from tests.fake_openai import FakeOpenAI

pytestmark = [pytest.mark.docker, pytest.mark.slow]

ARTIFACTS = demo.SMOKE_DIR / "artifacts"
BUNDLE = demo.SMOKE_DIR / "chatpage"
KEY = "test-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def build_ui_image(compose_file: Path) -> None:
    """`docker compose build ui` as `make ui` runs it, on the local base and the host's CA (the proxy's)."""
    built = compose_build(compose_file, ["ui"], timeout=1500)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-2000:]


def browser() -> webdriver.Chrome:
    options = webdriver.ChromeOptions()
    options.binary_location = shutil.which("chromium") or "/usr/bin/chromium"
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1280,1000"):
        options.add_argument(arg)
    return webdriver.Chrome(service=Service(shutil.which("chromedriver") or "/usr/bin/chromedriver"), options=options)


def wait_for(predicate, timeout: float = 60, every: float = 0.1):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            value = predicate()
        except (NoSuchElementException, StaleElementReferenceException):
            value = None  # not rendered yet
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"not within {timeout} s: {predicate.__doc__ or predicate}")


def answers(url: str) -> bool:
    """The page's server is up: its URL answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except OSError:
        return False


def text(driver, element_id: str) -> str:
    """The element's text; "" while the page's app has not rendered it yet."""
    try:
        return driver.find_element(By.ID, element_id).text
    except (NoSuchElementException, StaleElementReferenceException):
        return ""


def send(driver, prompt: str) -> None:
    driver.find_element(By.CSS_SELECTOR, "#prompt textarea").send_keys(prompt)
    driver.find_element(By.ID, "send").click()


@pytest.fixture(scope="module")
def image():
    spec = load_spec(str(demo.SMOKE_SPEC), [])
    plan = make_plan(spec)
    write(render_all(plan, demo.SMOKE_SPEC.name), BUNDLE)
    (BUNDLE / ".build").mkdir(exist_ok=True)
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", BUNDLE / ".build" / "extra-ca.pem")
    build_ui_image(BUNDLE / "compose" / "docker-compose.yml")
    from builder.render import chat_page

    return chat_page.image_ref(spec), plan


@pytest.fixture
def page(image, tmp_path):
    """The page's container on the host network, in front of a fine-tuned and a base fake server."""
    ref, _ = image
    started: list[str] = []

    def start(api: str, base_api: str = "", model: str = "tuned", base_model: str = "base-model") -> str:
        port = free_port()
        prefs = tmp_path / "checkpoints"
        prefs.mkdir(exist_ok=True)
        prefs.chmod(0o777)
        name = f"mf-chatpage-{port}"
        env = {
            "MF_API_BASE": api,
            "MF_MODEL": model,
            "MF_UI_PORT": str(port),
            "MF_UI_BASE_API": base_api,
            "MF_UI_BASE_MODEL": base_model,
            "MF_UI_PREFERENCES": "/checkpoints/preferences.jsonl",
            "VLLM_API_KEY": KEY,
        }
        cmd = ["docker", "run", "-d", "--name", name, "--network", "host", "--read-only", "--tmpfs", "/tmp",
               "--tmpfs", "/home/modelforge", "-v", f"{prefs}:/checkpoints"]  # fmt: skip
        for k, v in env.items():
            cmd += ["-e", f"{k}={v}"]
        run = subprocess.run([*cmd, ref], capture_output=True, text=True)
        assert run.returncode == 0, run.stderr
        started.append(name)
        url = f"http://127.0.0.1:{port}/"

        try:
            wait_for(lambda: answers(url), timeout=90, every=0.5)
        except AssertionError:
            logs = subprocess.run(["docker", "logs", name], capture_output=True, text=True)
            raise AssertionError(f"the page did not come up:\n{logs.stdout[-3000:]}{logs.stderr[-3000:]}") from None
        return url

    driver = browser()
    yield start, driver, tmp_path / "checkpoints"
    driver.quit()
    for name in started:
        subprocess.run(["docker", "rm", "--force", name], capture_output=True)


def test_streams_shows_reasoning_apart_keeps_history_and_compares(page):
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    start, driver, prefs = page
    with (
        FakeOpenAI(reasoning=True, token_delay=0.15, model="tuned") as tuned,
        FakeOpenAI(token_delay=0.02, model="base-model") as base,
    ):
        url = start(tuned.url, base.url)
        driver.get(url)
        assert wait_for(lambda: "Ready: tuned" in text(driver, "status"))
        # the key never reaches the browser: not in the page, not in Gradio's config
        assert KEY not in driver.page_source
        with urllib.request.urlopen(f"{url}config", timeout=10) as r:
            assert KEY not in r.read().decode()

        # settings are sent with the request
        driver.find_element(By.XPATH, "//button[contains(., 'Settings')]").click()
        system = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "#system textarea"))
        system.send_keys("Answer briefly.")
        driver.find_element(By.CSS_SELECTOR, "#prompt textarea").click()  # blur: the change event saves it
        time.sleep(1)

        send(driver, "What is 2 + 3?")
        # streamed: the answer grows word by word while the request runs
        lengths = []
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not text(driver, "status").startswith("Ready"):
            lengths.append(len(text(driver, "chat")))
            time.sleep(0.05)
        growth = sorted(set(lengths))
        assert len(growth) >= 4, f"no streaming seen: {lengths[:50]}"
        final = wait_for(lambda: "echo: What is 2 + 3?" in text(driver, "chat") and text(driver, "chat"))
        # reasoning apart: a collapsed "Reasoning" block, its text shown only when opened
        assert "Reasoning" in final and "let me think about it" not in final
        driver.find_element(By.XPATH, "//*[@id='chat']//*[contains(text(), 'Reasoning')]").click()
        assert wait_for(lambda: "let me think about it" in text(driver, "chat"))
        driver.save_screenshot(str(ARTIFACTS / "chat-page-chat.png"))
        [request] = [r for r in tuned.requests if r["path"] == "/v1/chat/completions"]
        body = request["body"]
        assert body["stream"] is True and body["messages"][0] == {"role": "system", "content": "Answer briefly."}
        assert body["messages"][-1] == {"role": "user", "content": "What is 2 + 3?"}
        assert {"temperature", "top_p", "max_tokens"} <= body.keys()

        # multi-turn: the second request carries the first exchange
        send(driver, "And 4 + 4?")
        wait_for(lambda: "echo: And 4 + 4?" in text(driver, "chat"))
        second = [r for r in tuned.requests if r["path"] == "/v1/chat/completions"][-1]["body"]["messages"]
        assert [m["role"] for m in second] == ["system", "user", "assistant", "user"]
        assert second[2]["content"].strip() == "echo: What is 2 + 3?"

        # reload: history and settings come back (browser storage, written when the answer is complete)
        wait_for(lambda: text(driver, "status").startswith("Ready"))
        time.sleep(1)
        driver.refresh()
        assert wait_for(lambda: "echo: And 4 + 4?" in text(driver, "chat"), timeout=30)
        driver.find_element(By.XPATH, "//button[contains(., 'Settings')]").click()
        assert wait_for(
            lambda: driver.find_element(By.CSS_SELECTOR, "#system textarea").get_attribute("value") == "Answer briefly."
        )

        # markdown and code are rendered, not shown as raw marks
        send(driver, "**bold** and `x = 1`")
        assert wait_for(lambda: driver.find_elements(By.XPATH, "//*[@id='chat']//strong[contains(., 'bold')]"))
        assert wait_for(lambda: driver.find_elements(By.XPATH, "//*[@id='chat']//code[contains(., 'x = 1')]"))

        # compare: the same prompt to both, side by side; the preference is saved as an eval row
        driver.find_element(By.XPATH, "//button[@role='tab'][contains(., 'Compare')]").click()
        box = wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "#compare-prompt textarea"))
        box.send_keys("Say hi")
        driver.find_element(By.ID, "compare").click()
        wait_for(lambda: "which answer is better" in text(driver, "compare-note"), timeout=30)
        assert "echo: Say hi" in text(driver, "left") and "echo: Say hi" in text(driver, "right")
        assert "Reasoning" in text(driver, "left") and "Reasoning" not in text(driver, "right")
        assert any(r["body"].get("model") == "base-model" for r in base.requests)
        driver.find_element(By.ID, "prefer-right").click()
        wait_for(lambda: "saved: base preferred" in text(driver, "compare-note"))
        driver.save_screenshot(str(ARTIFACTS / "chat-page-compare.png"))
    [row] = [json.loads(line) for line in (prefs / "preferences.jsonl").read_text().splitlines()]
    assert row["preferred"] == "base" and row["messages"][-1]["role"] == "assistant"
    assert row["messages"][-2] == {"role": "user", "content": "Say hi"} and row["rejected_response"].strip()
    # the saved row is an eval row: the evaluation stage reads it (last assistant turn = the reference)
    check = subprocess.run(
        [sys.executable, "-m", "builder.cli", "data", "check", str(prefs / "preferences.jsonl")],
        capture_output=True, text=True, cwd=Path(__file__).resolve().parents[1],
    )  # fmt: skip
    assert check.returncode == 0, check.stdout + check.stderr


def test_a_server_that_is_down_gets_a_message_not_a_blank_wait(page):
    start, driver, _ = page
    closed = free_port()  # nothing listens there
    url = start(f"http://127.0.0.1:{closed}/v1")
    driver.get(url)
    assert wait_for(lambda: "not reachable" in text(driver, "status"))
    send(driver, "Hello?")
    assert wait_for(
        lambda: "Problem: the server at" in text(driver, "chat") and "not reachable" in text(driver, "chat")
    )
    # compare without a base server says how to configure one
    driver.find_element(By.XPATH, "//button[@role='tab'][contains(., 'Compare')]").click()
    wait_for(lambda: driver.find_element(By.CSS_SELECTOR, "#compare-prompt textarea")).send_keys("x")
    driver.find_element(By.ID, "compare").click()
    assert wait_for(lambda: "ui.base_api" in text(driver, "compare-note"))
