"""The "docker engine" check: does `docker info` get an answer from the engine, and if not, the likely
fix (install it, join the docker group, or start it).
"""

from __future__ import annotations

from ..parse import DockerInfo
from ..probe import Context
from ..report import FAIL, PASS, Check


def check_docker(docker: DockerInfo) -> Check:
    if docker.reachable:
        return Check("docker engine", PASS, f"Docker {docker.server_version} answers (root {docker.root_dir or '?'})")
    error = docker.error
    if "not installed" in error:
        fix = "install Docker Engine (https://docs.docker.com/engine/install/)"
    elif "permission denied" in error.lower():
        fix = "add yourself to the docker group (sudo usermod -aG docker $USER, then log in again)"
    else:
        fix = "start the engine (sudo systemctl start docker), or check DOCKER_HOST / the docker context"
    return Check("docker engine", FAIL, f"not reachable: {error}", fix)


def engine(ctx: Context) -> list[Check]:
    return [check_docker(ctx.docker)]
