"""Build the images from the rendered Dockerfiles with a real Docker engine (python-on-whales).

The build context is the render folder. Build-time network settings from the spec become
build args: a pip mirror, extra indexes, a local wheelhouse (copied into .build/wheelhouse)
and an extra CA bundle (copied to .build/extra-ca.pem). Nothing secret is passed.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from ..errors import PlanError
from ..plan import Plan
from ..render.common import pip_build_args
from ..render.compose import image_ref
from ..render.scripts import WHEELHOUSE_README
from ..term import say

IMAGES = ("train", "serve")


def prepare_context(plan: Plan, context: Path, spec_dir: Path) -> dict[str, str]:
    """Fill .build/ and return the build args for the spec's build settings."""
    b = plan.spec.build
    wheelhouse = context / ".build" / "wheelhouse"
    if wheelhouse.exists():
        shutil.rmtree(wheelhouse)
    wheelhouse.mkdir(parents=True)
    # The same README as docker/wheelhouse/: equal contents, so a compose build can reuse this build's layers.
    (wheelhouse / "README.md").write_text(WHEELHOUSE_README)
    for entry in b.pip_find_links:
        if "://" in entry:
            continue  # a URL: pip_build_args passes it
        folder = (spec_dir / entry).resolve()
        if not folder.is_dir():
            raise PlanError([f"build.pip_find_links: {entry!r} is not a folder (resolved to {folder})"])
        for wheel in sorted(folder.glob("*.whl")):
            dest = wheelhouse / wheel.name
            try:
                os.link(wheel, dest)  # hard link: no copy of multi-GB wheels when on one filesystem
            except OSError:
                shutil.copy2(wheel, dest)
    args = {**pip_build_args(plan.spec), "WHEELHOUSE": ".build/wheelhouse"}
    if b.ca_bundle:
        source = (spec_dir / b.ca_bundle).resolve()
        if not source.is_file():
            raise PlanError([f"build.ca_bundle: {b.ca_bundle!r} is not a file (resolved to {source})"])
        shutil.copyfile(source, context / ".build" / "extra-ca.pem")
        args["EXTRA_CA_BUNDLE"] = ".build/extra-ca.pem"
    return args


def engine_ready() -> str | None:
    """None when a Docker engine answers; otherwise what to do about it."""
    if not shutil.which("docker"):
        return "the docker CLI is not installed (Debian/Ubuntu: apt-get install docker.io)"
    result = subprocess.run(["docker", "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True)
    if result.returncode != 0:
        return "no Docker engine answers (start it: `dockerd &` as root, or `systemctl start docker`)"
    return None


def _use_classic_builder() -> None:
    has_buildx = subprocess.run(["docker", "buildx", "version"], capture_output=True).returncode == 0
    if not has_buildx and os.environ.get("DOCKER_BUILDKIT") != "0":
        say("docker buildx is not installed: using the classic builder (DOCKER_BUILDKIT=0)")
    if not has_buildx:
        os.environ["DOCKER_BUILDKIT"] = "0"


def build(
    plan: Plan,
    context: Path,
    spec_dir: Path,
    which: tuple[str, ...] = IMAGES,
    *,
    base_image: str | None = None,
    tag_suffix: str = "",
    extra_args: dict[str, str] | None = None,
) -> dict[str, float]:
    """Build the named images; returns seconds per image. base_image replaces both Dockerfiles' base (a build
    arg: the smoke test of the CUDA images on a machine that cannot pull nvidia/cuda); tag_suffix keeps
    such a build apart from the real tags; extra_args are more build args (e.g. TORCH_INDEX_URL)."""
    from python_on_whales import docker  # imported late: render/plan need no Docker

    problem = engine_ready()
    if problem:
        raise PlanError([f"cannot build images: {problem}"])
    _use_classic_builder()
    args = prepare_context(plan, context, spec_dir)
    if base_image:
        args["BASE_IMAGE"] = base_image
    args.update(extra_args or {})
    seconds = {}
    for name in which:
        tag = image_ref(plan.spec, name) + tag_suffix
        say(f"building {tag} from {context / f'Dockerfile.{name}'}" + (f" on {base_image}" if base_image else ""))
        start = time.monotonic()
        docker.legacy_build(
            context,
            file=context / f"Dockerfile.{name}",
            tags=[tag],
            build_args=args,
            network="host",
            quiet=os.environ.get("MF_BUILD_QUIET") == "1",
        )
        seconds[name] = time.monotonic() - start
        say(f"built {tag} in {seconds[name]:.0f} s")
    return seconds
