"""The "disk images", "disk model_cache", "disk checkpoints" and "volume sizes" checks: free space under
Docker's root dir for the images not built yet (their measured sizes, builder/facts/images.py), and where
docker compose puts the model-cache and checkpoint volumes (a bind mount, a docker volume, or the docker
root dir) against what the plan writes there, counting needs that share a disk together, in the order
they are filled (images, model, checkpoints); and the k8s claim sizes (volumes.*.size) against the same.
"""

from __future__ import annotations

import os
from pathlib import Path

from ...engine.build import IMAGES
from ...facts.images import BUILD_PEAK, image_gib, stack_kind
from ...plan import Plan
from ...render.compose import image_ref
from ..parse import GIB, DockerInfo, parse_quantity
from ..probe import Context, Host
from ..report import FAIL, PASS, WARN, Check

VOLUMES = ("model_cache", "checkpoints")  # in the order they fill: the model is downloaded first
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


def _images_need(plan: Plan, host: Host) -> tuple[float, str]:
    """GiB the images not built yet will take, and which they are."""
    stack = plan.spec.stack
    missing = [which for which in IMAGES if not host.image_exists(image_ref(plan.spec, which))]
    if not missing:
        return 0.0, f"{' and '.join(IMAGES)} images built"
    sizes = {which: image_gib(stack.torch, which, bool(stack.megatron)) for which in missing}
    parts = " + ".join(f"{which} {gib:.1f}" for which, gib in sizes.items())
    kind = stack_kind(stack.torch)
    return sum(sizes.values()), f"{parts} GiB to build, measured for the {kind} stack; the base image on top"


def check_disks(plan: Plan, host: Host, docker: DockerInfo, spec_dir: Path) -> list[Check]:
    spec, model = plan.spec, plan.model
    t = spec.train
    needs: dict[str, tuple[float | None, str]] = {}
    where: dict[str, tuple[str, str]] = {}
    checks = []
    if docker.reachable and docker.root_dir:  # images come first: built before the model is downloaded
        needs["images"] = _images_need(plan, host)
        where["images"] = (docker.root_dir, "docker root dir")
    else:
        checks.append(
            Check(
                "disk images",
                WARN,
                "not checked: Docker did not answer, so where images go and which are built is unknown",
                "start the Docker engine, then run doctor again",
            )
        )
    needs |= {
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
    where |= {key: _locate_volume(plan, key, host, docker, spec_dir) for key in VOLUMES}
    measured = {key: host.disk(path) for key, (path, _) in where.items()}
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
        # Needs on one disk add up: each counts the ones filled before it (images, then the model).
        earlier = list(needs)[: list(needs).index(key)]
        sharing = [other for other in earlier if (measured[other] or (0, None))[1] == device and needs[other][0]]
        total = need + sum(needs[other][0] or 0 for other in sharing)
        shared = f"; {total:.0f} GiB with {', '.join(sharing)} on the same disk" if sharing else ""
        if key == "images" and not need:
            checks.append(Check(name, PASS, f"{free_gib:.0f} GiB free at {path} ({how}); {why}"))
            continue
        needer = "the images need" if key == "images" else "the plan needs"
        detail = f"{free_gib:.0f} GiB free at {path} ({how}), {needer} {need:.0f} GiB ({why}){shared}"
        short = total - free_gib
        room = f"free {short:.0f} GiB there" if short > 0 else "free some space there"
        if key == "images":  # Docker's data-root is the lever, not a volume path
            fix = f"{room} (`docker image prune` removes images a rebuild left nameless), or move Docker's data-root"
            margin, tight = BUILD_PEAK, f": a build peaks at ~{BUILD_PEAK:g}x the finished image"
        else:
            fix = f"{room}, or set volumes.{key}.host_path to a disk with {total:.0f} GiB free"
            fix += " (or lower train.save_total_limit)" if key == "checkpoints" else ""
            margin, tight = DISK_MARGIN, ": less than 10% to spare"
        if free_gib < total:
            checks.append(Check(name, FAIL, detail, fix))
        elif free_gib < total * margin:
            checks.append(Check(name, WARN, detail + tight, fix))
        else:
            checks.append(Check(name, PASS, detail))
    sizes = []
    small = []
    for key in VOLUMES:
        need = needs[key][0]
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
