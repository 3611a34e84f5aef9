#!/usr/bin/env python3
"""Pack vLLM and what it needs for the GPU machine into .whl/bundle.partN pieces (issue 18).

The device machine has Python 3.12, torch 2.11.0+cu130 with its nvidia-* runtime, and no network. The serving
image's resolved lock (docs/locks/serve.txt, written by `modelforge resolve`) names every distribution vLLM
0.25.1 runs with; this downloads them as Python 3.12 wheels for x86-64 Linux, minus what the machine brings
(torch and the CUDA runtime) and what serving this model never loads (NOT_NEEDED), so the bundle is the
product image's set, not a hand-picked one. The wheels are unpacked into one site-packages tree, packed as one
tar.xz (a third smaller than the wheels' own zip compression) and cut into pieces under the 64 MiB a device
call carries; bench/serve_session.sh unpacks them into /tmp/vsite (PIECES, PIECES_SHA256).

    python3 bench/pack_serve.py [WHEEL_DIR]   # -> .whl/bundle.part0..N, prints PIECES=... PIECES_SHA256=...
                                              # (WHEEL_DIR keeps the downloads for the next run)

The CI serving image cannot be packed instead (as bench/pack_site.py packs the training image): CI builds it
on a Debian base with Python 3.11, and compiled dependencies are tagged for one Python version.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from pack_site import REPO, write_pieces, xz_tar  # noqa: E402

LOCK = REPO / "docs/locks/serve.txt"
# The machine's own torch build and the CUDA runtime wheels it came with (torch 2.11.0+cu130 needs them). The
# other nvidia-* wheels are not needed either (batch s18d ran with exactly this bundle): the CUDA compilers
# (nvcc, nvvm, tileiras), cuDNN's frontend, cutlass-dsl (vLLM's CuTe-DSL kernels are for other models),
# nvidia-ml-py (vLLM carries its own pynvml).
MACHINE_HAS = re.compile(r"^(torch|triton|nvidia-.*|cuda-toolkit)$")
# Never imported when serving a text MoE model with dummy weights (batch s18d started and served without
# them): other attention/MLA kernels and their compilers, video decoding (vLLM imports cv2 in a try, with a
# placeholder), the cubin cache, ModelScope.
NOT_NEEDED = {"tokenspeed-triton", "tokenspeed-mla", "tilelang", "z3-solver", "flashinfer-cubin", "torchcodec",
              "pynvvideocodec", "opencv-python-headless", "modelscope", "modelscope-hub"}  # fmt: skip
# Python 3.12 on glibc 2.34 or newer (the machine's Ubuntu has more). pip does not widen a --platform to older
# glibc versions itself, so every manylinux tag up to 2.34 is named; pure-Python wheels match "none"/"any".
PLATFORMS = [f"manylinux_2_{minor}_x86_64" for minor in range(5, 35)] + ["manylinux2014_x86_64", "linux_x86_64"]


def pins() -> list[str]:
    out = []
    for line in LOCK.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        name = line.split("==", 1)[0].lower()
        if not MACHINE_HAS.match(name) and name not in NOT_NEEDED:
            out.append(line)
    return out


def download(reqs: list[str], dest: Path) -> None:
    platform = [a for p in PLATFORMS for a in ("--platform", p)]
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version", "3.12",
           "--implementation", "cp", "--abi", "cp312", "--abi", "abi3", "--abi", "none", *platform, "-d", str(dest),
           *reqs]  # fmt: skip
    # the host's pip constraints (if any) are for this machine's Python, not the bundle's
    subprocess.run(cmd, check=True, env={**os.environ, "PIP_CONSTRAINT": ""})


def unpack(wheel: Path, site: Path) -> None:
    """What pip does with a wheel, less the console scripts (the harness runs `python3 -m`): its files go
    under site-packages; a `<name>.data/purelib` or `platlib` folder is merged in, other .data kinds dropped."""
    with zipfile.ZipFile(wheel) as z:
        z.extractall(site)
    for data in site.glob("*.data"):
        for kind in ("purelib", "platlib"):
            if (data / kind).is_dir():
                subprocess.run(["cp", "-a", f"{data / kind}/.", str(site)], check=True)
        shutil.rmtree(data)


def main() -> int:
    reqs = pins()
    print(f"{len(reqs)} distributions from {LOCK.relative_to(REPO)}")
    with tempfile.TemporaryDirectory() as tmp:
        wheels, site = Path(sys.argv[1] if len(sys.argv) > 1 else Path(tmp) / "wheels"), Path(tmp) / "site"
        download(reqs, wheels)
        found = sorted(wheels.glob("*.whl"))
        for wheel in found:
            unpack(wheel, site)
        # one xz stream of the unpacked tree: a third smaller than the wheels' zip compression
        data = xz_tar(site, ["."], "6")
    write_pieces(data, "bundle", "PIECES", f"{len(found)} wheels")
    return 0


if __name__ == "__main__":
    sys.exit(main())
