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
# CI disk. The session removes what it left so, and only that: nameless images older than the run stay.
PUSHED_REF = re.compile(r"^(127\.0\.0\.1|localhost):\d+/")
_BEFORE: dict[str, set[str] | None] = {}


def _images(*filters: str) -> set[str] | None:
    docker = shutil.which("docker")
    if not docker:
        return None
    args = [docker, "images", "--no-trunc", *filters]
    try:
        listed = subprocess.run(args, capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    return set(listed.stdout.split()) if listed.returncode == 0 else None  # None: no engine


def _image_state() -> dict[str, set[str] | None]:
    return {
        "nameless": _images("-q", "--filter", "dangling=true"),
        "refs": _images("--format", "{{.Repository}}:{{.Tag}}"),
    }


def pytest_sessionstart(session):
    _BEFORE.update(_image_state())


def pytest_sessionfinish(session, exitstatus):
    after = _image_state()
    if _BEFORE.get("refs") is None or after["refs"] is None:
        return  # no engine at one end: nothing this run can have left
    pushed = sorted(ref for ref in after["refs"] - _BEFORE["refs"] if PUSHED_REF.match(ref))
    nameless = sorted((after["nameless"] or set()) - (_BEFORE["nameless"] or set()))
    for batch in (pushed, nameless):  # untag first: a pushed tag is the other name of a built image
        if batch:
            subprocess.run([shutil.which("docker"), "rmi", *batch], capture_output=True, timeout=600)
