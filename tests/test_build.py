"""The images as built (CPU smoke variant, real Docker engine): who they run as, what their labels say,
and that no secret reaches any layer. Needs Docker: fails, never skips, when the engine is missing."""

from __future__ import annotations

import os
import secrets
import subprocess
import uuid

import pytest
from python_on_whales import docker

from builder import demo
from builder.engine import local as host
from builder.render.compose import image_ref

pytestmark = [pytest.mark.docker, pytest.mark.slow]


def _real_looking_secrets() -> dict[str, str]:
    def alnum(n):
        return "".join(
            secrets.choice("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") for _ in range(n)
        )

    return {
        "HF_TOKEN": f"hf_{alnum(34)}",
        "HUGGING_FACE_HUB_TOKEN": f"hf_{alnum(34)}",
        "MODELSCOPE_API_TOKEN": f"ms-{uuid.uuid4()}",
        "VLLM_API_KEY": f"sk-{alnum(40)}",
        "OPENAI_API_KEY": f"sk-proj-{alnum(48)}",
        "WANDB_API_KEY": alnum(40).lower(),
    }


@pytest.fixture(scope="module")
def built_among_secrets():
    """The smoke images built while secrets sit where users keep them: the builder's environment, and
    .env files beside the rendered compose file and at the top of the build context."""
    planted = _real_looking_secrets()
    env_text = "".join(f"{key}={value}\n" for key, value in planted.items())
    files = [demo.SMOKE_DIR / "compose" / ".env", demo.SMOKE_DIR / ".env"]
    saved = {key: os.environ.get(key) for key in planted}
    try:
        os.environ.update(planted)
        for path in files:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(env_text)
        plan = demo.build_images()
        assert all(path.read_text() == env_text for path in files)  # still there during the build
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        for path in files:
            path.unlink(missing_ok=True)
    return plan, planted


def _found_in_image(image: str, values: list[str], needles) -> bytes:
    """What of `values` (whole, or their second halves) `docker save` of the image holds: every layer's
    files (also files a later layer deleted) and the image config (env, labels, build history)."""
    needles.write_text("".join(f"{v}\n{v[len(v) // 2 :]}\n" for v in values))
    save = subprocess.Popen(["docker", "save", image], stdout=subprocess.PIPE)
    scan = subprocess.run(["grep", "-a", "-o", "-F", "-f", str(needles)], stdin=save.stdout, capture_output=True)
    save.stdout.close()
    assert save.wait() == 0, f"docker save {image} failed"
    assert scan.returncode in (0, 1), scan.stderr
    return scan.stdout


def test_no_secret_in_any_layer_of_either_image(built_among_secrets, tmp_path):
    plan, planted = built_among_secrets
    for which in ("train", "serve"):
        image = image_ref(plan.spec, which)
        found = _found_in_image(image, list(planted.values()), tmp_path / "needles")
        assert not found, f"{image} holds a secret: {found[:200]!r}"
        print(f"{image}: {docker.image.inspect(image).size / 1e9:.2f} GB scanned, no secret")


def test_the_scan_finds_a_secret_a_layer_deleted(tmp_path):
    """The scan itself: a token written by one layer and deleted by the next is still in the image."""
    token = f"hf_{secrets.token_hex(17)}"
    host.ensure_base_image()
    container = docker.run(host.BASE_IMAGE, ["-c", f"echo {token} > /tmp/t"], entrypoint="sh", detach=True)
    docker.container.wait(container)
    leaked = docker.container.commit(container, "modelforge/test-leak:1")
    container.remove()
    try:
        container = docker.run(leaked, ["-c", "rm /tmp/t"], entrypoint="sh", detach=True)
        docker.container.wait(container)
        docker.container.commit(container, "modelforge/test-leak:2")
        container.remove()
        assert docker.run("modelforge/test-leak:2", ["-c", "ls /tmp"], entrypoint="sh", remove=True).strip() == ""
        assert token.encode() in _found_in_image("modelforge/test-leak:2", [token], tmp_path / "needles")
    finally:
        docker.image.remove(["modelforge/test-leak:2", "modelforge/test-leak:1"], force=True)


def test_images_run_as_an_unprivileged_user(built_among_secrets):
    plan, _ = built_among_secrets
    script = (
        "id -u; id -g; echo $HOME; test -w $HOME && echo home-writable; test -w /opt/venv || echo venv-read-only; "
        "stat -c %u /models /checkpoints /workspace"
    )
    for which in ("train", "serve"):
        out = docker.run(image_ref(plan.spec, which), ["-c", script], entrypoint="sh", remove=True, networks=["none"])
        assert out.split() == [
            "1000",
            "1000",
            "/home/modelforge",
            "home-writable",
            "venv-read-only",
            "1000",
            "1000",
            "1000",
        ]


def test_labels_name_the_base_and_the_versions_inside(built_among_secrets):
    """The labels are rendered from the spec; the distributions installed must have the versions they name."""
    plan, _ = built_among_secrets
    spec = plan.spec
    probe = "import sys; from importlib.metadata import version; print(' '.join(f'{n}=={version(n)}' for n in sys.argv[1:]))"
    for which in ("train", "serve"):
        image = image_ref(spec, which)
        labels = docker.image.inspect(image).config.labels
        assert labels["org.opencontainers.image.base.name"] == getattr(spec.images, which).base
        assert "org.opencontainers.image.base.digest" not in labels  # the smoke base is a local image: no digest
        names = [pin.split("==")[0] for pin in labels["io.modelforge.stack"].split()]
        stack = spec.stack
        pinned = [p for p in (stack.torch, stack.ms_swift, stack.deepspeed, stack.transformers, *stack.flash_attn) if p]
        assert len(names) == (len(pinned) if which == "train" else 2)
        installed = docker.run(
            image, ["-c", probe, *names], entrypoint="python3", remove=True, networks=["none"]
        ).strip()
        assert labels["io.modelforge.stack"] == installed
