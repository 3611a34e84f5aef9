"""`modelforge resolve`: prove the pinned GPU stack installs, without a GPU or the CUDA base image.

The CUDA base images cannot be pulled everywhere (not on CI), so the images' dependency layers
are resolved instead: uv, asked for the images' target (CPython of the base image, manylinux
x86_64), must find one consistent set of distributions for exactly the pins the Dockerfiles
install. It reads metadata only, so nothing multi-GB is downloaded. PyPI's torch 2.11.0 is itself
a CUDA 13 build (it pulls nvidia-cublas 13.x), so the check needs no PyTorch index.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..errors import PlanError
from ..plan import Plan

# CPython of the base image's distribution: what `apt-get install python3` gives there.
PYTHON_OF_BASE = {"ubuntu24.04": "3.12", "ubuntu22.04": "3.10", "bookworm": "3.11", "trixie": "3.13"}
NOTABLE = (
    "torch",
    "vllm",
    "ms-swift",
    "deepspeed",
    "transformers",
    "peft",
    "trl",
    "accelerate",
    "flashinfer-python",
    "xgrammar",
    "flash-attn-4",
    "nvidia-cutlass-dsl",
    "quack-kernels",
    "nvidia-cublas",
    "nvidia-nccl-cu13",
    "nvidia-cudnn-cu13",
    "triton",
    "modelscope",
    "megatron-core",
    "mcore-bridge",
    "transformer-engine",
    "transformer-engine-cu13",
    "transformer-engine-torch",
)


def python_for(base_image: str) -> str:
    for key, version in PYTHON_OF_BASE.items():
        if key in base_image:
            return version
    return f"{sys.version_info.major}.{sys.version_info.minor}"


def requirements(plan: Plan, which: str) -> list[str]:
    stack = plan.spec.stack
    if which == "train":
        return [
            stack.torch,
            *([stack.deepspeed] if stack.deepspeed else []),
            stack.ms_swift,
            *([stack.transformers] if stack.transformers else []),
            *stack.train_extras,
            *stack.flash_attn,
            *stack.megatron,
        ]
    return [stack.torch, stack.vllm, *stack.serve_extras]


def _uv() -> str:
    found = shutil.which("uv") or shutil.which("uv", path=str(Path(sys.executable).parent))
    if not found:
        raise PlanError(["uv is needed to resolve for another Python version: pip install uv (make setup does)"])
    return found


def resolve(plan: Plan, which: str) -> dict:
    base = getattr(plan.spec.images, which).base
    python = python_for(base)
    reqs = requirements(plan, which)
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "requirements.in").write_text("\n".join(reqs) + "\n")
        lock = Path(tmp) / "requirements.txt"
        argv = [
            _uv(),
            "pip",
            "compile",
            str(Path(tmp) / "requirements.in"),
            "-o",
            str(lock),
            "--quiet",
            "--python-version",
            python,
            "--python-platform",
            "x86_64-manylinux_2_28",
            "--native-tls",
            "--no-header",
            "--no-annotate",
        ]
        if plan.spec.build.pip_index_url:
            argv += ["--index-url", plan.spec.build.pip_index_url]
        for url in plan.spec.build.pip_extra_index_urls:
            argv += ["--extra-index-url", url]
        start = time.monotonic()
        result = subprocess.run(argv, capture_output=True, text=True, env=dict(os.environ, UV_NO_CONFIG="1"))
        seconds = round(time.monotonic() - start, 1)
        if result.returncode != 0:
            return {
                "image": which,
                "ok": False,
                "python": python,
                "requirements": reqs,
                "errors": result.stderr.strip().splitlines()[-8:],
            }
        text = lock.read_text()
    pins = dict(re.findall(r"^([A-Za-z0-9._-]+)==([^\s;]+)", text, flags=re.M))
    pins = {name.lower(): version for name, version in pins.items()}
    return {
        "image": which,
        "ok": True,
        "python": python,
        "base": base,
        "requirements": reqs,
        "packages": len(pins),
        "seconds": seconds,
        "versions": {name: pins[name] for name in NOTABLE if name in pins},
        "lock": text,
    }
