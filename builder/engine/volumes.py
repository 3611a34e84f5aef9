"""Docker volumes seen from the host: where a named volume's files are (its mountpoint).

One place for `docker volume inspect`: `modelforge status/plot` read runs through it, and `doctor`
measures the free space under it.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

from ..errors import PlanError


def mountpoint_command(volume: str) -> list[str]:
    """The docker command that prints a named volume's folder on the engine's host."""
    return ["docker", "volume", "inspect", "--format", "{{.Mountpoint}}", volume]


def volume_mountpoint(volume: str) -> Path:
    try:
        result = subprocess.run(
            mountpoint_command(volume),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except FileNotFoundError:
        raise PlanError(["the docker CLI is not installed: cannot read a Docker volume"]) from None
    if result.returncode != 0:
        raise PlanError(
            [
                f"docker volume {volume!r}: {result.stderr.strip() or 'not found'} "
                "(no training has run with this spec yet? `docker volume ls` lists them)"
            ]
        )
    return Path(result.stdout.strip())
