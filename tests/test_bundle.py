"""Issue 16: the committed bundle is enough. `docker compose build` works in a fresh clone of the rendered
files (no builder, no .build/), sharing the builder's layers; and on one machine training and serving never
run at once on the same GPUs: `modelforge start` refuses while the other holds them, unless --force."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from builder.demo import SMOKE_DIR, SMOKE_SPEC
from builder.load import load_spec
from builder.plan import make_plan
from builder.render import render_all, write
from tests.conftest import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def git(*args: str, cwd: Path) -> None:
    subprocess.run(["git", "-c", "user.email=ci@example.com", "-c", "user.name=ci", *args], cwd=cwd, check=True,
                   capture_output=True)  # fmt: skip


def layers(image: str) -> list[str]:
    out = subprocess.run(["docker", "image", "inspect", image, "--format", "{{json .RootFS.Layers}}"],
                         capture_output=True, text=True, check=True).stdout  # fmt: skip
    return json.loads(out)


def test_docker_compose_builds_a_fresh_clone_of_the_committed_bundle(smoke_images, tmp_path):
    refs = ("modelforge/smoke-train:cpu", "modelforge/smoke-serve:cpu")
    builders = {ref: layers(ref) for ref in refs}  # what `modelforge build` made
    bundle, clone = tmp_path / "bundle", tmp_path / "clone"
    write(render_all(smoke_images, "smoke.yaml"), bundle)  # what a user commits: the rendered files only
    git("init", "-q", cwd=bundle)
    git("add", "-A", cwd=bundle)
    git("commit", "-qm", "bundle", cwd=bundle)
    git("clone", "-q", str(bundle), str(clone), cwd=tmp_path)
    assert not (clone / ".build").exists() and (clone / "docker/wheelhouse/README.md").is_file()
    # What this machine needs and a user behind the same proxy would add: the CA (as a file under docker/,
    # named by MF_EXTRA_CA_BUNDLE) and the CPU torch wheel the index lacks (into docker/wheelhouse/).
    shutil.copyfile("/etc/ssl/certs/ca-certificates.crt", clone / "docker/host-ca.pem")
    for wheel in (SMOKE_DIR / "wheelhouse").glob("*.whl"):
        os.link(wheel, clone / "docker/wheelhouse" / wheel.name)
    env = {**os.environ, "DOCKER_BUILDKIT": "0", "MF_EXTRA_CA_BUNDLE": "docker/host-ca.pem"}
    result = subprocess.run(
        ["docker", "compose", "-f", "compose/docker-compose.yml", "build", "train", "serve"],
        cwd=clone, env=env, capture_output=True, text=True, timeout=3600,
    )  # fmt: skip
    out = result.stdout + result.stderr
    assert result.returncode == 0, out[-3000:]
    assert (
        "Successfully tagged modelforge/smoke-train:cpu" in out
        and "Successfully tagged modelforge/smoke-serve:cpu" in out
    )
    # The same Dockerfiles, args and inputs as `modelforge build`: the same filesystem layers, every one
    # reused from its build (compose adds only a label), so the images hold the stack the builder's do.
    for ref in refs:
        assert layers(ref) == builders[ref], ref


@pytest.fixture
def lifecycle(smoke_images, tmp_path):
    """The smoke bundle under its own compose project (no clash with the demo's), torn down afterwards."""
    overrides = ("name=mf-lifecycle", f"volumes.data.host_path={ROOT / 'builder/examples/data'}")
    spec = tmp_path / "smoke.yaml"
    shutil.copyfile(SMOKE_SPEC, spec)
    plan = make_plan(load_spec(spec, overrides))
    write(render_all(plan, "smoke.yaml"), tmp_path)
    compose = ["docker", "compose", "-f", str(tmp_path / "compose/docker-compose.yml"), "--profile", "train",
               "--profile", "serve"]  # fmt: skip

    def start(*args: str) -> subprocess.CompletedProcess:
        sets = [a for o in overrides for a in ("--set", o)]
        return subprocess.run(
            [sys.executable, "-m", "builder.cli", "start", "-f", str(spec), *sets, *args],
            capture_output=True, text=True, cwd=ROOT, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=300,
        )  # fmt: skip

    def hold(service: str) -> None:
        """A container of that compose service, running (what `compose up` makes, minus the workload)."""
        subprocess.run([*compose, "run", "-d", "--no-deps", "--entrypoint", "sleep", service, "600"], check=True,
                       capture_output=True)  # fmt: skip

    yield start, hold
    subprocess.run([*compose, "down", "--volumes", "--remove-orphans", "--timeout", "2"], capture_output=True)


def test_serving_waits_for_training_and_training_for_serving(lifecycle):
    start, hold = lifecycle
    hold("train")
    refused = start("serve")
    assert refused.returncode == 1, refused.stdout + refused.stderr
    assert "training is still running (mf-lifecycle-train-run-" in refused.stderr
    assert "serve the base model or an older checkpoint" in refused.stderr and "FORCE=1" in refused.stderr
    assert "Creating" not in refused.stdout + refused.stderr and "Started" not in refused.stderr  # nothing started


def test_training_refuses_beside_a_server_unless_forced(lifecycle):
    start, hold = lifecycle
    hold("serve")
    refused = start("train")
    assert refused.returncode == 1 and "the server is running (mf-lifecycle-serve-run-" in refused.stderr
    forced = start("train", "--force")
    assert forced.returncode == 0, forced.stderr[-2000:]
    assert "--force: starting train while serve runs" in forced.stdout + forced.stderr
    names = subprocess.run(
        ["docker", "ps", "-a", "--filter", "label=com.docker.compose.project=mf-lifecycle", "--format", "{{.Names}}"],
        capture_output=True,
        text=True,
    ).stdout.split()
    assert "mf-lifecycle-train-1" in names, names
