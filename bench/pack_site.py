#!/usr/bin/env python3
"""Pack what the GPU machine lacks from a built training image into .whl/<name>.partN pieces (issue 20).

The device machine has Python 3.12, torch 2.11.0+cu130 and its nvidia-* runtime, transformers and accelerate,
but no network: ms-swift, DeepSpeed, FA4 with cutlass-dsl, and the Megatron stack (megatron-core, mcore-bridge,
TransformerEngine with its torch extension compiled in the image) travel from the image the product builds
(`Dockerfile.train` with MEGATRON_PACKAGES, as tests/test_cuda_images.py builds it). The distributions below
are copied from the image's site-packages by their RECORD files, packed as one tar.xz and cut into pieces
under the 64 MiB a device call carries; bench/device_session.sh unpacks them (PARTS, PARTS_SHA256).

    python3 bench/pack_site.py modelforge/train:cu130-swift4.6.0-ubuntu-megatron      # -> .whl/mg.part0..N
"""

from __future__ import annotations

import csv
import hashlib
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
SITE = "/opt/venv/lib/python3.12/site-packages"
CARRY_LIMIT = 64 * 2**20  # what one device call carries: the piece AND the repo's tracked tree


def piece_size() -> int:
    """Pieces travel with the whole tracked tree (~9 MB in 2026-12, growing with bench/results): leave it room,
    plus 2 MiB for results added before the pieces are carried."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    files = [REPO / n for n in listed.decode().split("\0") if n]
    tree = sum(f.stat().st_size for f in files if f.is_file())
    return CARRY_LIMIT - tree - 2 * 2**20


def xz_tar(root: Path, members: list[str], level: str) -> bytes:
    """`tar -C root members | xz -LEVEL`, in memory (a few hundred MiB)."""
    tar = subprocess.Popen(["tar", "-C", str(root), "-cf", "-", *members], stdout=subprocess.PIPE)
    data = subprocess.run(["xz", f"-{level}", "-T0"], stdin=tar.stdout, capture_output=True, check=True).stdout
    if tar.wait() != 0:
        sys.exit("tar failed")
    return data


def write_pieces(data: bytes, name: str, var: str, what: str) -> None:
    """Replace .whl/<name>.part* with `data` cut to piece_size(), and print the session script's variables
    (<var>=count, <var>_SHA256=checksum of the whole)."""
    out_dir = REPO / ".whl"
    out_dir.mkdir(exist_ok=True)
    for old in out_dir.glob(f"{name}.part*"):
        old.unlink()
    size = piece_size()
    pieces = [data[i : i + size] for i in range(0, len(data), size)]
    for i, piece in enumerate(pieces):
        (out_dir / f"{name}.part{i}").write_bytes(piece)
    print(f"{what}, {len(data) / 2**20:.0f} MiB in {len(pieces)} pieces: .whl/{name}.part0..{len(pieces) - 1}")
    print(f"{var}={len(pieces)} {var}_SHA256={hashlib.sha256(data).hexdigest()}")


# ms-swift and what it needs beyond the machine (the issue-14 wheel set), FA4, the Megatron stack. Left out:
# what the machine has, the CUDA header wheels (only TE's build needs them) and cudnn-frontend (TE imports it
# only for sm100 grouped MLPs).
DISTS = """ms_swift peft trl datasets modelscope modelscope_hub addict attrdict binpacking cpm_kernels dacite fastapi
starlette importlib_metadata zipp lazy_importer json_repair nltk defusedxml openai httpx2 httpcore2 truststore jiter
sniffio rouge uvicorn zstandard dill multiprocess xxhash pydantic pydantic_core typing_inspection annotated_types
typing_extensions opentelemetry_api hjson fsspec cryptography cffi pycparser oss2 transformers_stream_generator
deepspeed ninja py_cpuinfo msgpack
flash_attn_4 nvidia_cutlass_dsl nvidia_cutlass_dsl_libs_base nvidia_cutlass_dsl_libs_core nvidia_cutlass_dsl_libs_cu13
quack_kernels apache_tvm_ffi torch_c_dlpack_ext
megatron_core mcore_bridge transformer_engine transformer_engine_cu13 transformer_engine_torch einops onnx onnxscript
onnx_ir ml_dtypes nvdlfw_inspect protobuf""".split()


def main() -> int:
    image, name = sys.argv[1], (sys.argv[2] if len(sys.argv) > 2 else "mg")
    with tempfile.TemporaryDirectory() as tmp:
        sp = Path(tmp) / "sp"
        cid = subprocess.run(["docker", "create", image, "true"], capture_output=True, text=True, check=True).stdout
        try:
            subprocess.run(["docker", "cp", f"{cid.strip()}:{SITE}", str(sp)], check=True)
        finally:
            subprocess.run(["docker", "rm", cid.strip()], capture_output=True)
        have = {d.name[: -len(".dist-info")].rsplit("-", 1)[0]: d for d in sp.glob("*.dist-info")}
        missing = [d for d in DISTS if d not in have]
        if missing:
            sys.exit(f"not in {image}: {', '.join(missing)}")
        files: set[str] = set()
        for dist in DISTS:
            for row in csv.reader((have[dist] / "RECORD").open()):
                rel = Path(row[0])
                if ".." in rel.parts or "__pycache__" in rel.parts or rel.parts[0] == "bin":
                    continue  # scripts land outside site-packages; the harness runs modules
                if (sp / rel).is_file():
                    files.add(str(rel))
        listing = Path(tmp) / "files.txt"
        listing.write_text("\n".join(sorted(files)) + "\n")
        data = xz_tar(sp, ["-T", str(listing)], "3")
    write_pieces(data, name, "PARTS", f"{len(files)} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
