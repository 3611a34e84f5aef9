"""The planner's numbers against the real things, run inside the smoke images: parameter counts
from transformers' own meta-device models, DeepSpeed's own estimator, vLLM's own config checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from python_on_whales import docker

from builder.facts.models import CATALOG, lookup
from builder.plan import memory, parallel
from builder.render.compose import image_ref

pytestmark = [pytest.mark.docker, pytest.mark.slow]

MODELS = {
    "qwen3-30b-a3b": ("Qwen/Qwen3-30B-A3B-Thinking-2507", "Qwen3MoeForCausalLM"),
    "qwen3-8b": ("Qwen/Qwen3-8B", "Qwen3ForCausalLM"),
    "llama-3.1-8b": ("meta-llama/Llama-3.1-8B", "LlamaForCausalLM"),
}
PROBES = Path(__file__).parent / "probes"


@pytest.fixture(scope="module")
def configs(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("configs")
    for folder, (model_id, arch) in MODELS.items():
        (root / folder).mkdir()
        config = dict(CATALOG[model_id], architectures=[arch], torch_dtype="bfloat16")
        (root / folder / "config.json").write_text(json.dumps(config))
    return root


def probe(image: str, script: str, configs: Path) -> dict:
    folders = [f"/configs/{name}" for name in MODELS]
    # As this process's user: pytest's tmp folders are private to it, and the images' own user is uid 1000.
    output = docker.run(
        image,
        [f"/probes/{script}", *folders],
        entrypoint="python3",
        remove=True,
        networks=["none"],
        volumes=[(str(configs), "/configs", "ro"), (str(PROBES), "/probes", "ro")],
        envs={"HF_HUB_OFFLINE": "1", "HOME": "/tmp"},
        user=f"{os.getuid()}:{os.getgid()}",
    )
    line = next(line for line in output.splitlines() if line.startswith("RESULT "))
    return {Path(k).name: v for k, v in json.loads(line[len("RESULT ") :]).items()}


def test_param_counts_and_deepspeed_estimates(smoke_images, configs):
    measured = probe(image_ref(smoke_images.spec, "train"), "deepspeed_probe.py", configs)
    for folder, (model_id, _) in MODELS.items():
        facts, real = lookup(model_id), measured[folder]
        assert facts.total_params == real["total"], folder
        assert facts.largest_module_params == real["largest"], folder
        for key, value in real.items():
            if "/" not in key:
                continue
            (stage, gpus), (gpu_bytes, host_bytes) = key.split("/"), value
            ours = memory.model_states(
                stage,
                facts.total_params,
                facts.total_params,
                facts.largest_module_params,
                gpus=int(gpus),
                gpus_per_node=int(gpus),
            )
            assert ours[0] == pytest.approx(gpu_bytes, rel=1e-6), f"{folder} {key} GPU"
            assert ours[1] == pytest.approx(host_bytes, rel=1e-6), f"{folder} {key} host"


def test_tensor_parallel_rules_match_vllm(smoke_images, configs):
    verdicts = probe(image_ref(smoke_images.spec, "serve"), "vllm_probe.py", configs)
    for folder, (model_id, _) in MODELS.items():
        facts = lookup(model_id)
        for tp, error in verdicts[folder].items():
            heads_problems = [p for p in parallel.tp_problems(facts, int(tp), ep=False) if "attention_heads" in p]
            assert bool(error) == bool(heads_problems), f"{folder} tp={tp}: vLLM says {error!r}"
    assert "must be divisible by tensor parallel size (5)" in verdicts["qwen3-30b-a3b"]["5"]
