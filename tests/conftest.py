"""Shared fixtures: the repo root, a spec writer, and the CLI run as a subprocess (as users run it)."""

from __future__ import annotations

import os
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
