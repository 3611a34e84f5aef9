"""`make locks`: the product's own images (chat page, evaluation, MLflow) pinned to the exact distributions
a tested build installed.

Their top-level pins live with their renderers (chat_page.UI_PACKAGES, evaluation.EVALSCOPE_SPEC,
monitor.MLFLOW_SPEC); what those pull in was left to pip on every build, and a cold build once got
httpx2 2.17.0, which broke the chat page. A lock is `pip freeze` of the built image, for its Python, under
a `# pins:` line naming the pins it was made for. The Dockerfile passes it to pip as constraints only while
that line matches its pins and the image's Python matches the file name; otherwise it resolves afresh and
says so. tests/test_locks.py fails until the lock is rewritten for new pins, and checks that a built image
holds exactly its lock.

    make locks     # after the images are built (the Docker tests build them): rewrites builder/templates/locks/

Images the user's spec pins (training, serving) are not locked here: `modelforge resolve --lock-dir` resolves
those for the spec.
"""

from __future__ import annotations

import datetime
import re
import subprocess
import sys
from pathlib import Path

from ..render import chat_page, evaluation, monitor
from ..render.dockerfiles import TEMPLATES
from ..spec import Spec

LOCKS = TEMPLATES / "locks"
PINS = {"ui": chat_page.UI_PACKAGES, "eval": evaluation.EVALSCOPE_SPEC, "mlflow": monitor.MLFLOW_SPEC}
_PYTHON = "import sys; print('%d.%d' % sys.version_info[:2])"


def image_ref(spec: Spec, image: str) -> str:
    refs = {"ui": chat_page.image_ref, "eval": evaluation.image_ref, "mlflow": monitor.mlflow_image_ref}
    return refs[image](spec)


def lock_path(image: str, python: str) -> Path:
    return LOCKS / f"{image}-py{python}.txt"


def pins_line(image: str) -> str:
    """The lock's first line; Dockerfile.<image> compares it with its pins (grep -x)."""
    return f"# pins: {PINS[image]}"


def read_pins(path: Path) -> str | None:
    for line in path.read_text().splitlines():
        if line.startswith("# pins: "):
            return line.removeprefix("# pins: ")
    return None


def locked(path: Path) -> dict[str, str]:
    """{normalized name: version} of a lock file."""
    found = re.findall(r"^([A-Za-z0-9._-]+)==(\S+)$", path.read_text(), flags=re.M)
    return {normalize(name): version for name, version in found}


def normalize(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def freeze(ref: str) -> tuple[str, list[str]]:
    """(the image's Python as X.Y, its `pip freeze` lines)."""

    def run(*argv: str) -> str:
        result = subprocess.run(
            ["docker", "run", "--rm", "--network", "none", "--entrypoint", argv[0], ref, *argv[1:]],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if result.returncode != 0:
            raise RuntimeError(f"{ref}: {' '.join(argv)} failed: {result.stderr.strip()[-500:]}")
        return result.stdout

    python = run("python3", "-c", _PYTHON).strip()
    lines = sorted((line for line in run("pip", "freeze").splitlines() if "==" in line), key=str.lower)
    return python, lines


def write(image: str, ref: str) -> Path:
    python, lines = freeze(ref)
    path = lock_path(image, python)
    header = [
        pins_line(image),
        f"# What a tested build of {ref} installed (pip freeze; Python {python}), written by `make locks` on",
        f"# {datetime.date.today().isoformat()}. Dockerfile.{image} passes it to pip as constraints while the pins",
        "# line matches its pins; after changing the pins, build the image and run `make locks` again.",
    ]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(header + lines) + "\n")
    return path


def main(argv: list[str]) -> int:
    from ..load import load_spec

    spec = load_spec(Path("modelforge.yaml"), [])
    for image in argv or list(PINS):
        if image not in PINS:
            print(f"locks: unknown image {image!r}; known: {', '.join(PINS)}", file=sys.stderr)
            return 2
        ref = image_ref(spec, image)
        try:
            path = write(image, ref)
        except (RuntimeError, OSError) as exc:
            print(
                f"locks: {exc} (build it first: the Docker tests, or make ui / make eval / make track)", file=sys.stderr
            )
            return 1
        print(f"{path}: {len(locked(path))} distributions from {ref}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
