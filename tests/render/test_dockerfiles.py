"""Dockerfiles: hadolint-clean, pinned, and independent of run config."""

from __future__ import annotations

import subprocess

from builder.load import validate
from builder.plan import make_plan
from builder.render import dockerfiles
from tests.conftest import tool


def test_hadolint_passes(root):
    result = subprocess.run([tool("hadolint"), "Dockerfile.train", "Dockerfile.serve"], cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_catches_a_bad_dockerfile(tmp_path):
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM debian\nRUN apt-get install curl\n")
    result = subprocess.run([tool("hadolint"), str(bad)], capture_output=True, text=True)
    assert result.returncode != 0


def test_pins_and_base_are_build_args(root):
    text = (root / "Dockerfile.train").read_text()
    assert "ARG BASE_IMAGE=nvidia/cuda:" in text and "FROM ${BASE_IMAGE}" in text
    assert "ARG MS_SWIFT_SPEC=ms-swift==4.6.0" in text and "ARG DEEPSPEED_SPEC=deepspeed==0.19.8" in text
    for arg in ("PIP_INDEX_URL", "PIP_EXTRA_INDEX_URL", "PIP_FIND_LINKS", "EXTRA_CA_BUNDLE"):
        assert f"ARG {arg}" in text
    serve = (root / "Dockerfile.serve").read_text()
    assert "ARG VLLM_SPEC=vllm==0.25.1" in serve


def test_hyperparameters_never_change_a_dockerfile():
    base = dockerfiles.render(make_plan(validate({})), "modelforge.yaml")
    changed = dockerfiles.render(make_plan(validate({
        "train": {"learning_rate": 0.001, "max_length": 1024, "epochs": 3, "dataset": ["/data/x.jsonl"]},
        "serve": {"port": 9000, "max_model_len": 4096}, "hardware": {"gpus": 4},
    })), "modelforge.yaml")
    assert base == changed
