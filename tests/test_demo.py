"""The real stack, end to end, on the CPU smoke variant: images built by a real Docker engine,
real ms-swift training, a real vLLM server, a real OpenAI client. Needs Docker: fails, never
skips, when the engine is missing (.ci/run starts it)."""

from __future__ import annotations

import json
import secrets
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from python_on_whales import docker
from python_on_whales.exceptions import DockerException

from builder import demo
from builder.engine.build import build
from builder.load import load_spec
from builder.plan import make_plan
from builder.render import render_all, write
from builder.render.compose import image_ref

pytestmark = [pytest.mark.docker, pytest.mark.slow]


@pytest.fixture(scope="module")
def stack():
    stack = demo.prepare()
    yield stack
    stack.down()


def variant(name: str, *overrides: str) -> demo.Stack:
    """The smoke spec with overrides, rendered one folder deeper; the images are the same ones."""
    # host_path is relative to the rendered compose/ folder, which sits one level deeper here.
    spec = load_spec(demo.SMOKE_SPEC, ("volumes.data.host_path=../../../examples/data", *overrides))
    plan = make_plan(spec)
    out = demo.SMOKE_DIR / name
    write(render_all(plan, demo.SMOKE_SPEC.name), out)
    return demo.Stack(plan, out)


def http(url: str, key: str | None = None, body: dict | None = None) -> int:
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode() if body else None,
        headers={"Content-Type": "application/json", **({"Authorization": f"Bearer {key}"} if key else {})},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def _answers(url: str) -> bool:
    """True once the URL answers 200; docker-proxy accepts and drops connections until the process listens."""
    try:
        return http(url) == 200
    except OSError:
        return False


def test_train_serve_chat(stack, monkeypatch):
    # Real-looking hub tokens in the environment compose passes on: they must show up in no log line.
    hub = {"HF_TOKEN": f"hf_{secrets.token_hex(17)}", "MODELSCOPE_API_TOKEN": f"ms-{secrets.token_hex(16)}"}
    for name, value in hub.items():
        monkeypatch.setenv(name, value)
    assert stack.train() == 0
    summary = demo.training_summary(stack)
    assert summary["steps"] == stack.plan.spec.train.max_steps
    assert float(summary["final_loss"]) < float(summary["first_loss"])  # it learned something
    key = secrets.token_urlsafe(16)
    seconds = stack.serve(key)
    assert seconds < 900
    # The server loaded the newest checkpoint from the shared volume, not the base model.
    serve_logs = stack.client.compose.logs(services=["serve"])
    assert f"serving {summary['checkpoint']}" in serve_logs
    reply = demo.chat(stack.base_url, key, stack.plan.serve.served_name, "What is 2 + 3?")
    assert isinstance(reply, str) and reply.strip()

    # The API key is required; health needs none; the model name is the spec's.
    chat_body = {
        "model": stack.plan.serve.served_name,
        "messages": [{"role": "user", "content": "hi"}],
        "max_tokens": 2,
    }
    assert http(f"{stack.base_url}/v1/chat/completions", None, chat_body) == 401
    assert http(f"{stack.base_url}/v1/chat/completions", "wrong-key", chat_body) == 401
    assert http(f"{stack.base_url}/health") == 200
    assert http(f"{stack.base_url}/v1/models") == 401
    with urllib.request.urlopen(
        urllib.request.Request(f"{stack.base_url}/v1/models", headers={"Authorization": f"Bearer {key}"}), timeout=30
    ) as r:
        models = json.load(r)
    assert [m["id"] for m in models["data"]] == [stack.plan.serve.served_name]

    logs = stack.client.compose.logs(services=["train", "serve"])
    assert "serving /checkpoints/" in logs and "200 OK" in logs
    for value in (key, *hub.values()):
        assert value not in logs and value[len(value) // 2 :] not in logs
    stack.client.compose.stop(services=["serve"])


def _volume_path(stack: demo.Stack) -> Path:
    return Path(docker.volume.inspect(stack.volume["checkpoints"]).mountpoint)


def test_restart_mid_run_resumes_from_newest_complete_checkpoint(stack):
    run = variant(
        "resume",
        "train.run_name=resume",
        "train.max_steps=600",
        "train.save_steps=50",
        "train.save_total_limit=20",
        "train.logging_steps=50",
    )
    run_dir = _volume_path(run) / "resume"
    run.client.compose.up(services=["train"], detach=True, force_recreate=True)
    deadline = time.monotonic() + 600
    while not (run_dir / "last-checkpoint" / "trainer_state.json").exists():
        assert time.monotonic() < deadline, "no checkpoint within 10 minutes"
        time.sleep(0.2)
    # A checkpoint left half-written by a kill: the newest by number, without its last files.
    (run_dir / "checkpoint-99999").mkdir()
    (run_dir / "checkpoint-99999" / "config.json").write_text("{}")
    container = run.container("train")
    container.restart()
    assert run.wait_exit("train") == 0
    logs = run.client.compose.logs(services=["train"])
    assert "resuming from /checkpoints/resume/checkpoint-" in logs
    resumed_from = int(logs.split("resuming from /checkpoints/resume/checkpoint-")[1].split()[0])
    assert 50 <= resumed_from < 600 and resumed_from % 50 == 0  # a real checkpoint, not the half-written one
    state = json.loads((run_dir / "last-checkpoint" / "trainer_state.json").read_text())
    assert state["global_step"] == 600


def test_learning_rate_change_rebuilds_no_layer(stack):
    before = docker.image.inspect(image_ref(stack.plan.spec, "train")).id
    run = variant("lr", "train.learning_rate=0.5")
    build(run.plan, run.out, demo.SMOKE_SPEC.parent, ("train",))
    assert docker.image.inspect(image_ref(run.plan.spec, "train")).id == before


def test_server_under_load_and_after_a_crash(stack):
    """A bounded load test (zero failures), then the server process dies: the restart policy brings it back,
    requests in the gap fail fast instead of hanging, and /health turns green again. Secrets: the API key
    is in no process list, no image layer or history."""
    import concurrent.futures

    key = secrets.token_urlsafe(16)
    stack.serve(key)
    body = {"model": stack.plan.serve.served_name, "messages": [{"role": "user", "content": "1 + 1?"}], "max_tokens": 4}
    url = f"{stack.base_url}/v1/chat/completions"

    def one(_: int) -> tuple[int, float]:
        start = time.monotonic()
        return http(url, key, body), time.monotonic() - start

    started = time.monotonic()
    with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
        results = list(pool.map(one, range(300)))
    elapsed = time.monotonic() - started
    latencies = sorted(seconds for _, seconds in results)
    print(
        f"load: 300 requests at concurrency 16 in {elapsed:.1f} s ({300 / elapsed:.1f} req/s), "
        f"p50 {latencies[150]:.2f} s, p99 {latencies[296]:.2f} s"
    )
    assert [status for status, _ in results] == [200] * 300

    container = stack.container("serve")
    processes = docker.container.execute(container, ["sh", "-c", "cat /proc/[0-9]*/cmdline | tr '\\0' ' '"])
    assert "api_server" in processes and key not in processes  # the key travels in the environment only
    history = subprocess.run(
        ["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image_ref(stack.plan.spec, "serve")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert key not in history and "VLLM_API_KEY=" not in history

    # Kill the server's processes inside (a manual `docker stop` would switch the restart policy off).
    restarts = container.restart_count
    try:
        docker.container.execute(container, ["sh", "-c", "kill -9 -1"])
    except DockerException:
        pass  # the exec dies with them
    gap = time.monotonic()
    try:
        status = http(url, key, body)
    except OSError:
        status = None
    assert status != 200 and time.monotonic() - gap < 30, "a request in the gap must fail, and fail fast"
    deadline = gap + 600
    while not (_answers(f"{stack.base_url}/health") and stack.container("serve").restart_count > restarts):
        assert time.monotonic() < deadline, "the server did not come back within 10 minutes"
        time.sleep(2)
    print(f"server back after {time.monotonic() - gap:.0f} s")
    assert http(url, key, body) == 200
    stack.client.compose.stop(services=["serve"])
