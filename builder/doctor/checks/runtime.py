"""The "nvidia runtime" check: can Docker hand GPUs to containers? Any of an 'nvidia' runtime registered
with the engine, the NVIDIA Container Toolkit's hook on PATH, or an NVIDIA CDI spec will do.
"""

from __future__ import annotations

import os

from ...plan import Plan
from ..parse import DockerInfo
from ..probe import Context, Host
from ..report import FAIL, PASS, Check


def check_nvidia_runtime(plan: Plan, docker: DockerInfo, host: Host) -> Check:
    if plan.spec.hardware.gpus == 0:
        return Check("nvidia runtime", PASS, "not needed (hardware.gpus: 0)")
    if "nvidia" in docker.runtimes:
        default = " (the default)" if docker.default_runtime == "nvidia" else ""
        return Check("nvidia runtime", PASS, f"'nvidia' runtime registered with Docker{default}")
    hook = next((b for b in ("nvidia-container-runtime-hook", "nvidia-container-runtime") if host.which(b)), None)
    if hook:
        return Check(
            "nvidia runtime",
            PASS,
            f"NVIDIA Container Toolkit found ({host.which(hook)}); compose's GPU reservations go through it",
        )
    cdi_dirs = docker.cdi_dirs or ("/etc/cdi", "/var/run/cdi")
    cdi = next((os.path.join(d, "nvidia.yaml") for d in cdi_dirs if host.exists(os.path.join(d, "nvidia.yaml"))), None)
    if cdi:
        return Check("nvidia runtime", PASS, f"NVIDIA CDI spec {cdi}")
    seen = f"runtimes: {', '.join(docker.runtimes)}" if docker.reachable else "docker info unavailable"
    return Check(
        "nvidia runtime",
        FAIL,
        f"NVIDIA Container Toolkit not found ({seen}; no nvidia-container-runtime-hook)",
        "install nvidia-container-toolkit, then: sudo nvidia-ctk runtime configure --runtime=docker "
        "&& sudo systemctl restart docker",
    )


def nvidia(ctx: Context) -> list[Check]:
    return [check_nvidia_runtime(ctx.plan, ctx.docker, ctx.host)]
