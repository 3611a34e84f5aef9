"""Dockerfiles: hadolint-clean, pinned, and independent of run config."""

from __future__ import annotations

import subprocess

from builder.load import validate
from builder.plan import make_plan
from builder.render import dockerfiles
from tests.conftest import tool


def test_hadolint_passes(root):
    dockerfiles = sorted(p.name for p in root.glob("Dockerfile.*"))  # every rendered one, new ones included
    assert {"Dockerfile.train", "Dockerfile.serve", "Dockerfile.eval"} <= set(dockerfiles)
    result = subprocess.run(
        [tool("hadolint"), *dockerfiles],
        cwd=root,
        capture_output=True,
        text=True,
    )
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
    changed = dockerfiles.render(
        make_plan(
            validate(
                {
                    "train": {"learning_rate": 0.001, "max_length": 1024, "epochs": 3, "dataset": ["/data/x.jsonl"]},
                    "serve": {"port": 9000, "max_model_len": 4096},
                    "hardware": {"gpus": 4},
                }
            )
        ),
        "modelforge.yaml",
    )
    assert base == changed


DIGEST = "sha256:" + "0123456789abcdef" * 4


def test_a_base_pinned_by_digest_is_built_from_and_labelled():
    spec = validate(
        {
            "images": {
                "train": {
                    "name": "modelforge/train",
                    "tag": "x",
                    "base": f"nvidia/cuda:13.0.1-cudnn-devel-ubuntu24.04@{DIGEST}",
                }
            }
        }
    )
    files = dockerfiles.render(make_plan(spec), "modelforge.yaml")
    train, serve = files["Dockerfile.train"], files["Dockerfile.serve"]
    assert f"ARG BASE_IMAGE=nvidia/cuda:13.0.1-cudnn-devel-ubuntu24.04@{DIGEST}" in train
    assert f"# Base: nvidia/cuda:13.0.1-cudnn-devel-ubuntu24.04, pinned by digest {DIGEST}" in train
    assert 'org.opencontainers.image.base.name="nvidia/cuda:13.0.1-cudnn-devel-ubuntu24.04"' in train
    assert f'org.opencontainers.image.base.digest="{DIGEST}"' in train
    assert "# Stack: torch==2.11.0 ms-swift==4.6.0 deepspeed==0.19.8" in train
    assert (
        'io.modelforge.stack="torch==2.11.0 ms-swift==4.6.0 deepspeed==0.19.8 transformers==5.17.0 '
        'flash-attn-4[cu13]==4.0.0b36 nvidia-cutlass-dsl==4.8.1 quack-kernels==0.6.5"'
    ) in train
    # The serving base is still a tag: said so, with how to pin it, and no digest label.
    assert "a tag, not pinned (images.serve.base: NAME:TAG@sha256:DIGEST pins it)" in serve
    assert "base.digest" not in serve and 'io.modelforge.stack="torch==2.11.0 vllm==0.25.1"' in serve


def test_a_malformed_digest_is_refused_by_field():
    import pytest

    from builder.errors import SpecError

    for bad in ("nvidia/cuda@sha256:abcdef", "nvidia/cuda:12@sha256:" + "G" * 64, "nvidia/cuda:12@md5:" + "0" * 32):
        with pytest.raises(SpecError) as err:
            validate({"images": {"serve": {"name": "x/serve", "base": bad}}})
        assert "images.serve.base" in str(err.value)


def test_images_run_as_an_unprivileged_user_owning_the_volume_mounts():
    spec = validate({"volumes": {"checkpoints": {"mount": "/ckpt"}}})
    for text in dockerfiles.render(make_plan(spec), "modelforge.yaml").values():
        assert "USER 1000:1000" in text and "ENV HOME=/home/modelforge" in text
        assert "chown 1000:1000 /models /data /ckpt /workspace" in text
        # USER comes after every install (they run as root, so the software is read-only to the user).
        assert text.index("USER 1000:1000") > text.rindex("pip-install")
