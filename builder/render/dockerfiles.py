"""Dockerfile.train and Dockerfile.serve, from Jinja templates (their output is text).

Only the software stack reaches these files (base image, pins, packages); run config
(hyperparameters, ports, paths) never does, so changing it rebuilds nothing.
"""

from __future__ import annotations

import re
from pathlib import Path

import jinja2

from ..facts import trackers
from ..plan import Plan
from ..plan.commands import CONTAINER_HOME, CONTAINER_UID
from .common import ENTRYPOINT, header

# Inside the package, so a plain `pip install .` renders: dockerfile/ holds the Jinja templates (text only),
# context/ the files copied verbatim into the build context (builder/render/scripts.py).
TEMPLATES = Path(__file__).resolve().parents[1] / "templates"
_SAFE_ARG = re.compile(r"^[A-Za-z0-9._:/@+=<>!~\[\], -]*$")


def _arg(value: str | None) -> str:
    """A Dockerfile ARG default: the spec's patterns already forbid quotes and newlines; refuse them again."""
    value = value or ""
    if not _SAFE_ARG.match(value):
        raise ValueError(f"refusing to write {value!r} into a Dockerfile")
    return value


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES / "dockerfile"),
        undefined=jinja2.StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,
    )
    env.filters["arg"] = _arg
    return env


# The small images beside training and serving (Prometheus, MLflow, eval, the chat page): Debian 12 packages
# Prometheus 2.42 and Python 3.11 for the others, whose packages come from PyPI.
DEBIAN_BASE = "debian:bookworm-slim"


def tool_dockerfile(template: str, spec_file: str, **values) -> str:
    """A small Python image on DEBIAN_BASE (Dockerfile.mlflow, .eval, .ui): the same base and system packages."""
    return (
        environment()
        .get_template(template)
        .render(
            header=header(spec_file),
            base_image=_arg(DEBIAN_BASE),
            apt_packages="python3 python3-venv ca-certificates",
            **values,
        )
    )


def base_parts(ref: str) -> tuple[str, str | None]:
    """'name:tag@sha256:...' -> ('name:tag', 'sha256:...'); no digest -> (ref, None)."""
    name, _, digest = ref.partition("@")
    return name, digest or None


def render(plan: Plan, spec_file: str) -> dict[str, str]:
    spec = plan.spec
    env = environment()
    # The volumes' mount points exist in the image, owned by the container user: Docker copies that
    # ownership into a named volume it creates, so a fresh volume is writable without running as root.
    mounts = " ".join(_arg(getattr(spec.volumes, key).mount) for key in ("model_cache", "data", "checkpoints"))
    common = dict(
        spec_file=spec_file,
        header=header(spec_file),
        entrypoint=ENTRYPOINT,
        torch_spec=_arg(spec.stack.torch),
        torch_index_url=_arg(spec.stack.torch_index_url),
        exclude=_arg(" ".join(spec.stack.exclude_packages)),
        uid=CONTAINER_UID,
        home=CONTAINER_HOME,
        mounts=mounts,
    )
    train = env.get_template("Dockerfile.train.j2").render(
        **common,
        base_image=_arg(spec.images.train.base),
        base=base_parts(spec.images.train.base),
        which="train",
        stack=_arg(
            " ".join(
                p
                for p in (
                    spec.stack.torch,
                    spec.stack.ms_swift,
                    spec.stack.deepspeed,
                    spec.stack.transformers,
                    *spec.stack.flash_attn,
                    *spec.stack.megatron,
                )
                if p
            )
        ),
        apt_packages="python3 python3-venv python3-dev g++ libnuma1 ca-certificates git",
        deepspeed_spec=_arg(spec.stack.deepspeed),
        ms_swift_spec=_arg(spec.stack.ms_swift),
        transformers_spec=_arg(spec.stack.transformers),
        flash_attn=_arg(" ".join(spec.stack.flash_attn)),
        megatron=_arg(" ".join(spec.stack.megatron)),
        # the trackers train.report_to names need their client in the image (builder/facts/trackers.py)
        extras=_arg(" ".join([*spec.stack.train_extras, *trackers.packages(spec.train.report_to)])),
    )
    serve = env.get_template("Dockerfile.serve.j2").render(
        **common,
        base_image=_arg(spec.images.serve.base),
        base=base_parts(spec.images.serve.base),
        which="serve",
        stack=_arg(" ".join((spec.stack.torch, spec.stack.vllm))),
        # vLLM compiles at start (torch.compile / Triton): a C++ compiler and Python headers in the image;
        # vLLM's CPU kernels link libnuma.
        apt_packages="python3 python3-venv python3-dev g++ libnuma1 ca-certificates",
        vllm_spec=_arg(spec.stack.vllm),
        extras=_arg(" ".join(spec.stack.serve_extras)),
    )
    return {"Dockerfile.train": train, "Dockerfile.serve": serve}
