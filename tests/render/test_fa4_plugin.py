"""The FA4 int-cast plugin shipped in the training image (templates/fa4_max_seqlen.py, issue 14).

It exists because transformers hands FA4's varlen kernel max_seqlen as 0-dim tensors under packing, which
flash-attn-4 4.0.0b36 rejects at the first step (measured: bench/results/i14b3-product-noplugin-1gpu-1.log).
These tests fail when the images' transformers or FA4 pins leave the versions the fix was verified with, and
when the installed transformers stops passing tensors (the fix would no longer be needed)."""

from __future__ import annotations

import importlib.util
import inspect
import json
import re

import pytest
from python_on_whales import docker

from builder.load import load_spec
from builder.render.compose import image_ref
from tests.conftest import ROOT


def _plugin():
    spec = importlib.util.spec_from_file_location("fa4_max_seqlen", ROOT / "templates" / "fa4_max_seqlen.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # importing applies nothing here: flash_attn is not installed
    return module


class ZeroDim:
    """Stands for a 0-dim torch tensor: ndim 0, int() gives its value."""

    ndim = 0

    def __init__(self, value: int):
        self.value = value

    def __int__(self) -> int:
        return self.value


def test_the_wrapper_casts_exactly_the_two_lengths_and_keeps_the_signature():
    plugin = _plugin()
    seen = {}

    def varlen(q, k, v, cu_seqlens_q=None, cu_seqlens_k=None, max_seqlen_q=None, max_seqlen_k=None, causal=False):
        seen.update(max_seqlen_q=max_seqlen_q, max_seqlen_k=max_seqlen_k, causal=causal, cu=cu_seqlens_q)

    wrapped = plugin.wrap(varlen)
    cu = ZeroDim(7)  # anything but the two lengths passes through untouched
    wrapped(1, 2, 3, cu_seqlens_q=cu, max_seqlen_q=ZeroDim(4610), max_seqlen_k=ZeroDim(4610), causal=True)
    assert seen == {"max_seqlen_q": 4610, "max_seqlen_k": 4610, "causal": True, "cu": cu}
    assert type(seen["max_seqlen_q"]) is int
    # transformers decides which kwargs to pass from the function's signature: the wrapper must keep it.
    assert inspect.signature(wrapped) == inspect.signature(varlen)
    assert plugin.wrap(wrapped) is wrapped  # applying twice does not stack wrappers
    wrapped(1, 2, 3, max_seqlen_q=None, max_seqlen_k=12)
    assert seen["max_seqlen_q"] is None and seen["max_seqlen_k"] == 12


def _pin(spec: str) -> str:
    return re.split(r"==", spec, maxsplit=1)[1]


def test_the_images_pins_are_the_versions_the_fix_was_verified_with():
    plugin = _plugin()
    stack = load_spec(ROOT / "modelforge.yaml").stack
    fa4 = next(p for p in stack.flash_attn if p.startswith("flash-attn-4"))
    assert _pin(stack.transformers) in plugin.VERIFIED["transformers"], "re-verify the FA4 fix for this transformers"
    assert _pin(fa4) in plugin.VERIFIED["flash-attn-4"], "re-verify the FA4 fix for this flash-attn-4"
    lock = dict(re.findall(r"^([a-z0-9-]+)==(\S+)$", (ROOT / "docs" / "locks" / "train.txt").read_text(), re.M))
    assert lock["transformers"] in plugin.VERIFIED["transformers"]
    assert lock["flash-attn-4"] in plugin.VERIFIED["flash-attn-4"]


def test_the_rendered_copy_is_the_template():
    assert (ROOT / "docker" / "fa4_max_seqlen.py").read_text() == (ROOT / "templates" / "fa4_max_seqlen.py").read_text()


@pytest.mark.docker
@pytest.mark.slow
def test_the_fix_is_still_needed_by_the_transformers_in_the_image(smoke_images):
    """In the training image (the CPU smoke build: same Dockerfile, same transformers pin), the real
    transformers code still hands the varlen function tensors for max_seqlen: the plugin is still needed."""
    image = image_ref(smoke_images.spec, "train")
    out = docker.run(image, ["/usr/local/lib/modelforge/plugins/fa4_max_seqlen.py", "--check-transformers"],
                     entrypoint="python3", remove=True, networks=["none"], envs={"HF_HUB_OFFLINE": "1", "HOME": "/tmp"})
    report = json.loads(out.strip().splitlines()[-1])
    assert report["transformers"] in report["verified"]["transformers"], report
    assert report["needed"] is True, report
    assert report["passed_types"] == {"max_seqlen_q": "Tensor", "max_seqlen_k": "Tensor"}
