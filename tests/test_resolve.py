"""The GPU images' pinned stack resolves for their target Python, from the real package index:
CUDA torch 2.11.0 with vLLM 0.25.1 (which pins it), and with ms-swift 4.6.0 + DeepSpeed 0.19.8."""

from __future__ import annotations

import pytest

from builder.engine.resolve import resolve
from builder.load import load_spec
from builder.plan import make_plan
from tests.conftest import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def plan():
    return make_plan(load_spec(ROOT / "modelforge.yaml"))


def test_serving_stack_resolves(plan):
    result = resolve(plan, "serve")
    assert result["ok"], result
    assert result["python"] == "3.12"
    assert result["versions"]["vllm"] == "0.25.1" and result["versions"]["torch"].startswith("2.11.0")
    assert result["versions"]["nvidia-cublas"].startswith("13.")  # a CUDA 13 build, as the cu130 image needs


def test_training_stack_resolves(plan):
    result = resolve(plan, "train")
    assert result["ok"], result
    assert result["versions"]["ms-swift"] == "4.6.0" and result["versions"]["torch"].startswith("2.11.0")
    assert result["versions"]["deepspeed"] == "0.19.8"
    # The fast path (issue 14): FA4 and the transformers version its int-cast plugin was verified with.
    assert result["versions"]["flash-attn-4"] == "4.0.0b36" and result["versions"]["nvidia-cutlass-dsl"] == "4.8.1"
    assert result["versions"]["transformers"] == "5.17.0"


def test_training_stack_with_megatron_resolves(plan):
    """Issue 20: the Megatron layer's pins (stack.megatron) beside the training stack: TransformerEngine's torch
    part is an sdist (compiled in the image), and its core must be the CUDA 13 wheel, as torch is."""
    megatron = ["megatron-core==0.19.2", "mcore-bridge==1.6.5", "transformer-engine[pytorch]==2.20.2"]
    spec = plan.spec.model_copy(update={"stack": plan.spec.stack.model_copy(update={"megatron": megatron})})
    result = resolve(make_plan(spec), "train")
    assert result["ok"], result
    v = result["versions"]
    assert (v["megatron-core"], v["mcore-bridge"]) == ("0.19.2", "1.6.5")
    assert v["transformer-engine"] == v["transformer-engine-torch"] == v["transformer-engine-cu13"] == "2.20.2"
    assert v["torch"].startswith("2.11.0") and v["ms-swift"] == "4.6.0"


def test_an_impossible_pin_fails(plan):
    broken = make_plan(
        plan.spec.model_copy(update={"stack": plan.spec.stack.model_copy(update={"vllm": "vllm==0.0.0"})})
    )
    assert resolve(broken, "serve")["ok"] is False
