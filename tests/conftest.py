"""Shared fixtures: the repo root, a spec writer, and the CLI run as a subprocess (as users run it)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def root() -> Path:
    return ROOT


@pytest.fixture
def write_spec(tmp_path: Path):
    def _write(text: str, name: str = "modelforge.yaml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return _write


def run_cli(*args: str, cwd: Path | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    """The CLI as users run it (`python -m builder.cli ...`), from the checkout."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run(
        [sys.executable, "-m", "builder.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd or ROOT,
        env=env,
        timeout=timeout,
    )


def tool(name: str) -> str:
    """A command-line tool from PATH or from this Python's environment (the venv's bin/)."""
    found = shutil.which(name) or shutil.which(name, path=str(Path(sys.executable).parent))
    assert found, f"{name} is required and missing: run `make setup` (CI: .ci/run installs it)"
    return found


COMPOSE_PROFILE = {"ui": "ui", "eval": "eval", "mlflow": "track"}  # compose service -> the profile holding it


def compose_build(
    compose_file: Path, services: list[str], timeout: float = 1800, **build_args: str
) -> subprocess.CompletedProcess:
    """`docker compose build SERVICE...` as `make ui` / `make eval` / `make track` run it, on the local Debian
    base and the host's CA (the proxy's; .build/extra-ca.pem in the bundle). The caller asserts on the result."""
    from builder.engine import local as host

    host.ensure_base_image()
    env = dict(os.environ, MF_EXTRA_CA_BUNDLE=".build/extra-ca.pem", DOCKER_BUILDKIT="0")
    env.update({f"MF_{service.upper()}_BASE_IMAGE": host.BASE_IMAGE for service in services})
    cmd = [tool("docker"), "compose", "-f", str(compose_file)]
    for service in services:
        cmd += ["--profile", COMPOSE_PROFILE[service]]
    cmd += ["build", *(f"--build-arg={key}={value}" for key, value in build_args.items()), *services]
    return subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def cli():
    return run_cli


@pytest.fixture(scope="session")
def smoke_images():
    """The CPU smoke images, built for real (cached layers make a second build take seconds)."""
    from builder import demo

    return demo.build_images()


def share_smoke_wheelhouse(out: Path) -> None:
    """A smoke stack rendered into its own folder (`out`) builds from out/wheelhouse: link the CPU torch wheel
    of .smoke/wheelhouse (the spec's pip_find_links) there, instead of downloading it a second time."""
    from builder import demo
    from builder.engine import local
    from builder.load import load_spec

    local.ensure_wheelhouse(demo.SMOKE_DIR / "wheelhouse", load_spec(demo.SMOKE_SPEC).stack.torch)
    target = out / "wheelhouse"
    target.mkdir(parents=True, exist_ok=True)
    for wheel in (demo.SMOKE_DIR / "wheelhouse").glob("*.whl"):
        if not (target / wheel.name).exists():
            try:
                os.link(wheel, target / wheel.name)
            except OSError:
                pass  # another filesystem: prepare() fetches it


# Disk hygiene. A rebuild moves an image's tag and leaves the old image nameless (the serving CUDA image is
# 11 GB), and a push leaves a registry-prefixed tag: runs of the suite piled up 36 GB of these and filled a
# CI disk. At the end the session removes the images that bore a modelforge name when it began and have lost
# it since, and the tags it pushed. Only those: a nameless image it did not name may be another build's
# layer in progress (removing one broke a concurrent build).
PUSHED_REF = re.compile(r"^(127\.0\.0\.1|localhost):\d+/")
_BEFORE: dict[str, set[str]] = {}


def _docker_images(*args: str) -> list[str] | None:
    """Lines of `docker images --no-trunc ARGS`, or None when there is no engine."""
    docker = shutil.which("docker")
    if not docker:
        return None
    try:
        listed = subprocess.run([docker, "images", "--no-trunc", *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return listed.stdout.split("\n") if listed.returncode == 0 else None


def _named() -> dict[str, str] | None:
    """{ref: image id} of every tagged image."""
    lines = _docker_images("--format", "{{.Repository}}:{{.Tag}} {{.ID}}")
    if lines is None:
        return None
    return dict(line.split() for line in lines if line.strip() and not line.startswith("<none>"))


def pytest_sessionstart(session):
    named = _named()
    if named is not None:
        _BEFORE["refs"] = set(named)
        _BEFORE["ours"] = {image for ref, image in named.items() if "modelforge/" in ref}


def pytest_sessionfinish(session, exitstatus):
    named = _named()
    if "refs" not in _BEFORE or named is None:
        return  # no engine at one end: nothing this run can have left
    pushed = sorted(ref for ref in set(named) - _BEFORE["refs"] if PUSHED_REF.match(ref))
    nameless = set(_docker_images("-q", "--filter", "dangling=true") or [])
    replaced = sorted(nameless & _BEFORE["ours"])
    for batch in (pushed, replaced):  # untag first: a pushed tag is the other name of a built image
        if batch:
            subprocess.run([shutil.which("docker"), "rmi", *batch], capture_output=True, timeout=600)
