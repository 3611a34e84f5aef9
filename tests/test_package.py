"""A plain `pip install .` works (issue 15): templates and the demo's files ship inside the package, so an
installed `modelforge` renders and demos from any folder, with no checkout beside it."""

from __future__ import annotations

import filecmp
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    venv = tmp_path_factory.mktemp("venv")
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # A copy of the tree: a build must not write into the checkout (build/, *.egg-info).
    src = tmp_path_factory.mktemp("src") / "modelforge"
    shutil.copytree(
        ROOT,
        src,
        symlinks=True,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", ".smoke", ".build", "build", ".whl", "bench", "tests", "__pycache__", "*.egg-info"
        ),
    )
    subprocess.run([str(venv / "bin" / "pip"), "install", "-q", str(src)], check=True, timeout=900)
    return venv / "bin" / "modelforge"


def test_installed_modelforge_renders_in_any_folder_the_same_files(installed, tmp_path):
    shutil.copy(ROOT / "modelforge.yaml", tmp_path / "modelforge.yaml")
    run = subprocess.run([str(installed), "render"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    for rel in (
        "Dockerfile.train",
        "Dockerfile.serve",
        "docker/entrypoint.sh",
        "docker/fa4_max_seqlen.py",
        "docker/check/read.py",
        "docker/locks/ui-py3.11.txt",
        "compose/docker-compose.yml",
        "k8s/kustomization.yaml",
    ):
        assert filecmp.cmp(tmp_path / rel, ROOT / rel, shallow=False), rel


def test_installed_demo_help_and_its_files(installed, tmp_path):
    run = subprocess.run([str(installed), "demo", "--help"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0 and "the whole job on this machine" in run.stdout
    site = subprocess.run(
        [
            str(installed.parent / "python"),
            "-c",
            "import builder, pathlib; print(pathlib.Path(builder.__file__).parent)",
        ],
        capture_output=True,
        text=True,
    ).stdout.strip()
    for rel in (
        "examples/smoke.yaml",
        "examples/tiny_model.py",
        "examples/data/smoke.jsonl",
        "examples/tiny-qwen3-moe.config.json",
        "templates/dockerfile/Dockerfile.train.j2",
    ):
        assert (ROOT / "builder" / rel).read_bytes() == (Path(site) / rel).read_bytes(), rel
