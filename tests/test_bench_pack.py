"""The GPU machine's vLLM bundle (bench/pack_serve.py) is the serving image's resolved lock minus what the
machine has and what serving never loads: the filter keeps vLLM and what it imports at start-up, drops the
machine's torch and CUDA runtime, and every name it drops on purpose is still in the lock (a renamed package
would otherwise slip back in unnoticed)."""

from __future__ import annotations

import importlib.util
import sys


def _bench_module(root, name: str):
    sys.path.insert(0, str(root / "bench"))  # pack_serve imports pack_site beside it
    try:
        spec = importlib.util.spec_from_file_location(name, root / "bench" / f"{name}.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(root / "bench"))


def test_the_bundle_is_the_serving_lock_minus_the_machine_and_what_serving_never_loads(root):
    pack = _bench_module(root, "pack_serve")
    lock = {line.split("==")[0] for line in pack.LOCK.read_text().splitlines() if "==" in line}
    names = {pin.split("==")[0] for pin in pack.pins()}
    assert {"vllm", "xgrammar", "transformers", "numba", "flashinfer-python"} <= names
    assert not {"torch", "triton", "cuda-toolkit"} & names
    assert not [n for n in names if n.startswith("nvidia-")]
    assert pack.NOT_NEEDED <= lock, pack.NOT_NEEDED - lock
    assert not pack.NOT_NEEDED & names
    assert all("==" in pin for pin in pack.pins())  # exact pins only: the bundle is the lock's set


def test_pieces_leave_room_for_the_tree_that_travels_with_them(root):
    size = _bench_module(root, "pack_site").piece_size()
    assert 32 * 2**20 < size < 64 * 2**20
