"""Training and serving on one machine: they take the same GPUs (all hardware.gpus of the spec), so they run
one after the other. `modelforge start` (make train / make serve) refuses to start one while the other runs:
a server started beside training fights it for GPU memory and serves the base model or an old checkpoint;
training started beside a server runs out of memory. --force (FORCE=1) starts it anyway.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..errors import PlanError
from ..plan import Plan
from ..term import say

OTHER = {"train": "serve", "serve": "train"}


def running(project: str, service: str) -> list[str]:
    """Names of this compose project's running containers of one service ([] when none, or no engine)."""
    result = subprocess.run(
        [
            "docker", "ps", "--format", "{{.Names}}",
            "--filter", f"label=com.docker.compose.project={project}",
            "--filter", f"label=com.docker.compose.service={service}",
            "--filter", "status=running",
        ],
        capture_output=True, text=True,
    )  # fmt: skip
    return result.stdout.split() if result.returncode == 0 else []


def refusal(plan: Plan, service: str, busy: list[str], compose: str) -> str:
    gpus = plan.spec.hardware.gpus
    what = f"the same {gpus} GPU(s) (hardware.gpus)" if gpus else "the same CPU and memory"
    if service == "serve":
        return (
            f"training is still running ({', '.join(busy)}) on {what}: a server started now would fight it for "
            "memory and serve the base model or an older checkpoint. Wait for it (`make logs`, `modelforge "
            f"status`), stop it (`{compose} stop train`), or start anyway with FORCE=1 (--force)"
        )
    return (
        f"the server is running ({', '.join(busy)}) on {what} that training needs: stop it first (`{compose} "
        "stop serve`, or `make down`), or start anyway with FORCE=1 (--force)"
    )


def start(plan: Plan, compose_file: Path, service: str, force: bool) -> None:
    """Refuse while the other service runs (unless force), then `docker compose --profile SERVICE up -d`."""
    compose = f"docker compose -f {compose_file}"
    busy = running(plan.spec.name, OTHER[service])
    if busy and not force:
        raise PlanError([refusal(plan, service, busy, compose)])
    if busy:
        say(f"--force: starting {service} while {OTHER[service]} runs ({', '.join(busy)})")
    result = subprocess.run(["docker", "compose", "-f", str(compose_file), "--profile", service, "up", "-d"])
    if result.returncode != 0:
        raise PlanError([f"`{compose} --profile {service} up -d` failed (exit {result.returncode})"])
