"""Where a run lives: a host folder, or a folder on a named Docker volume (the compose default).

A volume is read through its mountpoint when this user may read it (root on the engine's host), otherwise
through a throwaway container that tars the small files out (`docker run --rm -v VOL:/c:ro IMAGE`).
"""

from __future__ import annotations

import contextlib
import io
import os
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..engine.volumes import volume_mountpoint
from ..errors import PlanError
from .state import RunState, read_run

SNAPSHOT_MAX_FILE = "-8M"  # find -size: files the snapshot copies out of a volume (weights stay behind)


# -- where the run lives ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Target:
    """A run folder: on the host (volume None), or `path` inside the named Docker volume."""

    path: str
    volume: str | None = None
    image: str | None = None  # for reading a volume through a container
    label: str | None = None

    @property
    def shown_as(self) -> str:
        return f"{self.volume}:/{self.path.strip('/')}" if self.volume else self.path


def _readable(folder: Path) -> bool:
    try:
        return folder.is_dir() and os.access(folder, os.R_OK | os.X_OK)
    except OSError:
        return False


def snapshot(volume: str, path: str, image: str, dest: Path) -> Path:
    """Copy the run's small files (logs, states, configs; not weights) out of a volume via a container."""
    script = (
        'cd "/c/$1" 2> /dev/null || { echo "no folder $1 on the volume" >&2; exit 3; }; '
        f"find . -maxdepth 2 \\( -type d -o -type l -o \\( -type f -size {SNAPSHOT_MAX_FILE} \\) \\) -print0 "
        "| tar -c --null --no-recursion -T - -f -"
    )
    command = [
        "docker",
        "run",
        "--rm",
        "--network",
        "none",
        "-v",
        f"{volume}:/c:ro",
        "--entrypoint",
        "sh",
        image,
        "-c",
        script,
        "sh",
        path.strip("/"),
    ]
    result = subprocess.run(command, capture_output=True, timeout=300)
    if result.returncode != 0:
        raise PlanError(
            [
                f"cannot read {volume}:/{path.strip('/')} through {image}: "
                f"{result.stderr.decode(errors='replace').strip()[-400:]}"
            ]
        )
    with tarfile.open(fileobj=io.BytesIO(result.stdout)) as archive:
        for member in archive.getmembers():
            try:
                archive.extract(member, dest, filter="data")
            except (tarfile.TarError, OSError):
                continue  # a link that leaves the folder: not needed
    return dest


@contextlib.contextmanager
def local(target: Target, via: str = "auto") -> Iterator[Path]:
    """The run as a local folder for the time of the with-block. via: auto | mountpoint | container."""
    if target.volume is None:
        yield Path(target.path)
        return
    if via in ("auto", "mountpoint"):
        mount = volume_mountpoint(target.volume)
        folder = mount / target.path.strip("/")
        if _readable(mount):
            yield folder
            return
        if via == "mountpoint":
            raise PlanError(
                [
                    f"cannot read the volume's mountpoint {mount} (not root, or the engine runs elsewhere): "
                    "use --via container"
                ]
            )
    if not target.image:
        raise PlanError([f"reading volume {target.volume!r} needs an image to run (pass --image, or a spec)"])
    with tempfile.TemporaryDirectory(prefix="modelforge-run-") as tmp:
        yield snapshot(target.volume, target.path, target.image, Path(tmp))


def read_target(target: Target, via: str = "auto") -> RunState:
    with local(target, via) as folder:
        if not folder.is_dir():
            where = target.shown_as
            raise PlanError(
                [
                    f"no run folder at {where} (has training started? `modelforge status` with no "
                    "RUN_DIR reads the spec's run)"
                ]
            )
        return read_run(
            folder, label=target.label or Path(target.path.rstrip("/")).name or target.path, shown_as=target.shown_as
        )


# -- from the command line -------------------------------------------------------------------------


def spec_run(spec, spec_file: str | Path) -> Target:
    """The spec's run folder: on the checkpoint volume (compose default) or its host folder."""
    from ..plan.commands import volume_name
    from ..render.compose import image_ref

    vol = spec.volumes.checkpoints
    run_name = spec.train.run_name
    if vol.host_path:
        # host_path is relative to compose/ (where compose resolves it), which sits beside the spec.
        folder = (Path(spec_file).resolve().parent / "compose" / vol.host_path / run_name).resolve()
        return Target(str(folder), label=run_name)
    return Target(run_name, volume=volume_name(spec, "checkpoints"), image=image_ref(spec, "train"), label=run_name)


def targets(run_dirs: list[str], volume: str | None, image: str | None, spec, spec_file: str | Path) -> list[Target]:
    """RUN_DIR arguments as targets. With --volume they are paths on that volume (a leading checkpoint
    mount such as /checkpoints is dropped, so paths from the logs work as they are)."""
    if not run_dirs:
        if spec is None:
            raise PlanError([f"no RUN_DIR given and no spec at {spec_file}: pass a run folder (or -f SPEC)"])
        default = spec_run(spec, spec_file)
        if volume:
            return [
                Target(
                    default.path if default.volume else spec.train.run_name,
                    volume=volume,
                    image=image or default.image,
                    label=default.label,
                )
            ]
        return [Target(default.path, default.volume, image or default.image, default.label)]
    from ..plan.commands import volume_name
    from ..render.compose import image_ref

    mount = spec.volumes.checkpoints.mount.rstrip("/") if spec else None
    default_image = image or (image_ref(spec, "train") if spec else None)
    found = []
    for run_dir in run_dirs:
        inside = run_dir
        if mount and (run_dir == mount or run_dir.startswith(mount + "/")):
            inside = run_dir[len(mount) :].strip("/")
        if volume:
            found.append(Target(inside.strip("/"), volume=volume, image=default_image))
        elif (
            not Path(run_dir).exists()
            and spec is not None
            and mount
            and inside != run_dir
            and not spec.volumes.checkpoints.host_path
        ):
            # A container path like /checkpoints/run: read it from the spec's checkpoint volume.
            found.append(Target(inside, volume=volume_name(spec, "checkpoints"), image=default_image))
        else:
            found.append(Target(run_dir))
    return found
