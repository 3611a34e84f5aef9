"""The product images' locks (builder/engine/locks.py): the chat page, evaluation and MLflow images install
exactly the distributions a tested build installed, while the lock names their pins.

Offline: every image has a lock for its default base's Python, made for the pins its renderer holds now
(this fails after a pin change until `make locks` runs). With Docker: the images, built as `make ui`,
`make eval` and `make track` build them (on the local Debian base), hold exactly their locks; an image whose
pins differ from its lock's resolves afresh and says so, instead of failing on a conflict."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from builder.engine import locks
from builder.engine.resolve import python_for
from builder.load import load_spec
from builder.plan import make_plan
from builder.render import render_all, write
from builder.render.dockerfiles import DEBIAN_BASE
from tests.conftest import ROOT, compose_build, tool

SMOKE = ROOT / "examples" / "smoke.yaml"
# What the build prints when it does not use the lock: a line of its own (the Step line echoes the command too).
AFRESH = re.compile(r"^modelforge: no lock for these pins and this Python .*: resolving afresh$", re.M)


def lock_of(image: str):
    return locks.lock_path(image, python_for(DEBIAN_BASE))


@pytest.mark.parametrize("image", sorted(locks.PINS))
def test_each_image_has_a_lock_for_its_pins(image):
    path = lock_of(image)
    assert path.is_file(), f"no lock {path.name}: build the image and run `make locks`"
    assert locks.read_pins(path) == locks.PINS[image], f"{path.name} was made for other pins: run `make locks`"
    held = locks.locked(path)
    for pin in locks.PINS[image].split():
        name, version = pin.split("==")
        assert held.get(locks.normalize(name)) == version, (pin, path.name)
    assert len(held) > 20  # a whole environment, not just the pins


@pytest.mark.parametrize("image", sorted(locks.PINS))
def test_the_dockerfile_installs_under_the_lock(image):
    text = (ROOT / f"Dockerfile.{image}").read_text()
    assert f"COPY docker/locks/{image}-py*.txt /etc/modelforge/locks/" in text
    assert 'grep -qxF "# pins: $' in text and 'pip-install "$@"' in text
    assert (ROOT / "docker" / "locks" / lock_of(image).name).is_file()


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    spec = load_spec(SMOKE, [])
    out = tmp_path_factory.mktemp("locks")
    write(render_all(make_plan(spec), SMOKE.name), out)
    (out / ".build").mkdir()
    shutil.copy("/etc/ssl/certs/ca-certificates.crt", out / ".build" / "extra-ca.pem")
    return out, spec


@pytest.mark.docker
@pytest.mark.slow
def test_built_images_hold_exactly_their_locks(bundle):
    out, spec = bundle
    built = compose_build(out / "compose" / "docker-compose.yml", sorted(locks.PINS))
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-2000:]
    assert not AFRESH.search(built.stdout + built.stderr), built.stdout[-3000:]
    for image in sorted(locks.PINS):
        python, frozen = locks.freeze(locks.image_ref(spec, image))
        path = locks.lock_path(image, python)
        want = [line for line in path.read_text().splitlines() if not line.startswith("#")]
        missing, extra = sorted(set(want) - set(frozen)), sorted(set(frozen) - set(want))
        assert not missing and not extra, f"{image}: not installed {missing[:10]}; not in the lock {extra[:10]}"


@pytest.mark.docker
@pytest.mark.slow
def test_other_pins_resolve_afresh_and_say_so(bundle):
    """The chat page's image with a pin set its lock was not made for (openai alone): no constraint conflict."""
    out, spec = bundle
    tag = "modelforge/ui:locks-test"
    compose = (out / "compose" / "docker-compose.yml").read_text()
    (out / "compose" / "docker-compose.yml").write_text(compose.replace(locks.image_ref(spec, "ui"), tag))
    try:
        built = compose_build(
            out / "compose" / "docker-compose.yml", ["ui"], UI_PACKAGES="openai==3.60.0 gradio==6.31.0"
        )
        log = built.stdout + built.stderr
        assert AFRESH.search(log), log[-3000:]
        # the page's check line still ran: the packages installed, unconstrained
        assert "gradio 6.31.0 openai 3.60.0" in log, log[-3000:]
        assert built.returncode == 0, log[-3000:]
    finally:
        (out / "compose" / "docker-compose.yml").write_text(compose)
        subprocess.run([tool("docker"), "rmi", "-f", tag], capture_output=True)
