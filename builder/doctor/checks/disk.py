"""The "disk model_cache", "disk checkpoints" and "volume sizes" checks: free space where docker compose
puts the model-cache and checkpoint volumes (a bind mount, a docker volume, or the docker root dir)
against what the plan writes there, counting volumes that share a disk together; and the k8s claim
sizes (volumes.*.size) against the same needs.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...plan import Plan
from ..parse import GIB, DockerInfo, parse_quantity
from ..probe import Context, Host
from ..report import FAIL, PASS, WARN, Check

DISK_MARGIN = 1.1  # WARN when free space is within 10% of the need


def _locate_volume(plan: Plan, key: str, host: Host, docker: DockerInfo, spec_dir: Path) -> tuple[str, str]:
    """(path to measure, how it was found) for a volume as docker compose would place it."""
    spec = plan.spec
    vol = getattr(spec.volumes, key)
    if vol.host_path:
        path = Path(vol.host_path) if os.path.isabs(vol.host_path) else (spec_dir / "compose" / vol.host_path).resolve()
        while not host.exists(str(path)) and path != path.parent:
            path = path.parent
        return str(path), f"bind mount {vol.host_path}"
    volume = f"{spec.name}-{key.replace('_', '-')}"
    if docker.reachable:
        mountpoint = host.volume_mountpoint(volume)
        if mountpoint and host.disk(mountpoint):
            return mountpoint, f"docker volume {volume}"
        if docker.root_dir and host.disk(docker.root_dir):
            state = "not visible here" if mountpoint else "not created yet"
            return docker.root_dir, f"docker root dir; volume {volume} {state}"
    return "/", f"docker volume {volume} " + (
        "not visible here" if docker.reachable else "unknown: the engine did not answer"
    )


def check_disks(plan: Plan, host: Host, docker: DockerInfo, spec_dir: Path) -> list[Check]:
    spec, model = plan.spec, plan.model
    t = spec.train
    needs: dict[str, tuple[float | None, str]] = {
        "model_cache": (
            (model.total_params * 2 / GIB, f"bf16 weights of {model.total_params / 1e9:.1f}B parameters")
            if model
            else (None, "")
        ),
        "checkpoints": (
            (
                plan.train.checkpoint_gib * (t.save_total_limit + 1),
                f"{t.save_total_limit}+1 checkpoints x {plan.train.checkpoint_gib:.0f} GiB",
            )
            if plan.train.checkpoint_gib
            else (None, "")
        ),
    }
    where = {key: _locate_volume(plan, key, host, docker, spec_dir) for key in needs}
    measured = {key: host.disk(path) for key, (path, _) in where.items()}
    checks = []
    for key, (need, why) in needs.items():
        path, how = where[key]
        name = f"disk {key}"
        found = measured[key]
        if found is None:
            checks.append(
                Check(name, WARN, f"cannot measure free space at {path} ({how})", f"check by hand: df -h {path}")
            )
            continue
        free, device = found
        free_gib = free / GIB
        if need is None:
            checks.append(
                Check(
                    name,
                    WARN,
                    f"{free_gib:.0f} GiB free at {path} ({how}); the need is unknown (model not in the catalog)",
                    "set model.config_path so the plan knows the model's size",
                )
            )
            continue
        # Volumes on one disk add up: each counts the ones filled before it (the model is downloaded first).
        earlier = list(needs)[: list(needs).index(key)]
        sharing = [other for other in earlier if (measured[other] or (0, None))[1] == device and needs[other][0]]
        total = need + sum(needs[other][0] or 0 for other in sharing)
        shared = f"; {total:.0f} GiB with {', '.join(sharing)} on the same disk" if sharing else ""
        detail = f"{free_gib:.0f} GiB free at {path} ({how}), the plan needs {need:.0f} GiB ({why}){shared}"
        if free_gib < total:
            checks.append(
                Check(
                    name,
                    FAIL,
                    detail,
                    f"free {total - free_gib:.0f} GiB there, or set volumes.{key}.host_path to a disk with "
                    f"{total:.0f} GiB free" + (" (or lower train.save_total_limit)" if key == "checkpoints" else ""),
                )
            )
        elif free_gib < total * DISK_MARGIN:
            checks.append(
                Check(
                    name,
                    WARN,
                    detail + ": less than 10% to spare",
                    f"free some space, or set volumes.{key}.host_path to a larger disk",
                )
            )
        else:
            checks.append(Check(name, PASS, detail))
    sizes = []
    small = []
    for key, (need, _) in needs.items():
        size = parse_quantity(getattr(spec.volumes, key).size)
        if need is None or size is None:
            continue
        sizes.append(f"{key} {getattr(spec.volumes, key).size} >= {need:.0f} GiB")
        if size < need:
            small.append((key, need))
    if small:
        key, need = small[0]
        checks.append(
            Check(
                "volume sizes",
                WARN,
                f"volumes.{key}.size {getattr(spec.volumes, key).size} is below the "
                f"plan's {need:.0f} GiB (the k8s PersistentVolumeClaim)",
                f"--set volumes.{key}.size={int(need * DISK_MARGIN) + 1}Gi (then make render)",
            )
        )
    elif sizes:
        checks.append(Check("volume sizes", PASS, ", ".join(sizes) + " (k8s claims)"))
    return checks


def volumes(ctx: Context) -> list[Check]:
    return check_disks(ctx.plan, ctx.host, ctx.docker, ctx.spec_dir)
