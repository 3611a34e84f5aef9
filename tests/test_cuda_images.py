"""Issue 16: the two images the bundle exists for, built for real. `make smoke-cuda` (and `make test`) builds
Dockerfile.train and Dockerfile.serve as committed for the default spec (CUDA 13 torch 2.11, ms-swift +
DeepSpeed + FA4, vLLM 0.25.1). No image can be pulled here, so the base is the build arg BASE_IMAGE: a
Debian base made locally (debootstrap), CUDA coming from the nvidia-* wheels torch 2.11 depends on. Then,
without a GPU: the training image's torch is a CUDA 13 build, DeepSpeed, ms-swift, FA4 and the entrypoint
load, and the tiny model trains a few steps on CPU through the real entrypoint; the serving image imports
vllm and vLLM's own parser accepts the rendered `vllm serve` arguments."""

from __future__ import annotations

import json
import re
import subprocess
import time

import pytest

from builder.demo import EXAMPLES, SMOKE_SPEC, Stack, training_summary
from builder.engine import local
from builder.engine.build import IMAGES, build
from builder.facts import vllm as vllm_facts
from builder.load import load_spec
from builder.plan import make_plan
from builder.render import render_all, write
from builder.render.compose import image_ref
from tests.conftest import ROOT

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SUFFIX = "-debian-smoke"  # apart from the real tags: these images sit on a Debian base, not nvidia/cuda
HOST_CA = "/etc/ssl/certs/ca-certificates.crt"  # builds reach the package index through a TLS proxy here
# download.pytorch.org does not resolve here; the package index's torch 2.11.0 is the same CUDA 13.0 build
# (asserted below), so the build arg points pip at the index alone.
ARGS = {"TORCH_INDEX_URL": ""}


def docker_run(image: str, *command: str, entrypoint: str = "python3", timeout: int = 600) -> str:
    result = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", entrypoint, image, *command],
        capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    assert result.returncode == 0, (command, result.stdout[-2000:], result.stderr[-4000:])
    return result.stdout


@pytest.fixture(scope="module")
def cuda_images():
    """Both images of the default spec, from the committed Dockerfiles (checked equal to a fresh render)."""
    local.ensure_engine()
    base = local.BASE_IMAGE
    local.ensure_base_image(base)
    plan = make_plan(load_spec(ROOT / "modelforge.yaml", [f"build.ca_bundle={HOST_CA}"]))
    fresh = render_all(plan, "modelforge.yaml")
    for name in IMAGES:  # the CA is a build arg: the Dockerfiles are the committed ones, byte for byte
        assert fresh[f"Dockerfile.{name}"] == (ROOT / f"Dockerfile.{name}").read_text()
    seconds = build(plan, ROOT, ROOT, IMAGES, base_image=base, tag_suffix=SUFFIX, extra_args=ARGS)
    refs = {name: image_ref(plan.spec, name) + SUFFIX for name in IMAGES}
    sizes = {}
    for name, ref in refs.items():
        size = subprocess.run(
            ["docker", "image", "inspect", ref, "--format", "{{.Size}}"], capture_output=True, text=True
        )
        sizes[name] = round(int(size.stdout) / 2**30, 2)
    report = {"build_seconds": {k: round(v) for k, v in seconds.items()}, "size_gib": sizes, "base": base}
    (ROOT / ".smoke").mkdir(exist_ok=True)
    (ROOT / ".smoke/cuda-images.json").write_text(json.dumps(report, indent=2) + "\n")
    print(f"\nCUDA images: {report}")
    return plan, refs, base


def test_the_training_image_holds_the_cuda_stack(cuda_images):
    _, refs, _ = cuda_images
    probe = (
        "import json, torch, deepspeed, swift, transformers, flash_attn.cute\n"
        "from importlib.metadata import version as v\n"
        "print(json.dumps({'cuda': torch.version.cuda, 'torch': torch.__version__, 'deepspeed': deepspeed.__version__,"
        " 'swift': v('ms-swift'), 'transformers': transformers.__version__, 'fa4': v('flash-attn-4'),"
        " 'gpu': torch.cuda.is_available()}))"
    )
    found = json.loads(docker_run(refs["train"], "-c", probe).strip().splitlines()[-1])
    assert found["cuda"].startswith("13.") and found["torch"].startswith("2.11.0"), found
    assert found["deepspeed"] == "0.19.8" and found["swift"] == "4.6.0" and found["transformers"] == "5.17.0"
    assert found["fa4"] == "4.0.0b36" and found["gpu"] is False  # a CUDA build, run here without a GPU
    # The entrypoint and the plugin the plan passes with FA4 are where the rendered command expects them.
    docker_run(refs["train"], "-n", "/usr/local/bin/modelforge-entrypoint", entrypoint="bash")
    docker_run(
        refs["train"], "-c", "import ast; ast.parse(open('/usr/local/lib/modelforge/plugins/fa4_max_seqlen.py').read())"
    )


def test_the_cuda_training_image_trains_the_tiny_model_on_cpu_through_its_entrypoint(cuda_images, tmp_path):
    """The smoke job (tiny random Qwen3-MoE, CPU plan) run by the CUDA image: same entrypoint, same volumes."""
    plan, refs, _ = cuda_images
    name, tag = refs["train"].rsplit(":", 1)
    overrides = (
        "name=mf-cuda-smoke",
        f"images.train.name={name}",
        f"images.train.tag={tag}",
        f"volumes.data.host_path={EXAMPLES / 'data'}",
        "train.max_steps=3",
        "train.save_steps=3",
    )
    smoke = make_plan(load_spec(SMOKE_SPEC, overrides))
    write(render_all(smoke, SMOKE_SPEC.name), tmp_path)
    stack = Stack(smoke, tmp_path)
    stack.down()
    try:
        stack.put_model()
        start = time.monotonic()
        code = stack.train(follow=False)
        logs = stack.client.compose.logs(services=["train"], tail="60")
        assert code == 0, logs
        summary = training_summary(stack)
        assert summary["steps"] == 3 and summary["final_loss"] is not None, summary
        print(f"\nCUDA image, CPU training: {summary} in {time.monotonic() - start:.0f} s")
    finally:
        stack.down()


MEGATRON = "megatron-core==0.19.2 mcore-bridge==1.6.5 transformer-engine[pytorch]==2.20.2"
MEGATRON_SUFFIX = "-ubuntu-megatron"
# The rendered `megatron sft` flags must be fields of the pinned ms-swift's Megatron arguments (parsing them for
# real initialises torch.distributed on GPUs: not here). Also: TransformerEngine's extension loads.
MEGATRON_PROBE = """
import dataclasses, json, sys
from importlib.metadata import version as v
from swift.megatron.arguments import MegatronSftArguments
import transformer_engine_torch
names = {f.name for f in dataclasses.fields(MegatronSftArguments)}
flags = [a[2:] for a in json.loads(sys.argv[1]) if a.startswith("--")]
print(json.dumps({"unknown": [f for f in flags if f not in names], "te": v("transformer-engine-torch"), "python": sys.version[:4],
                  "mcore": v("megatron-core"), "bridge": v("mcore-bridge"), "ext": transformer_engine_torch.__file__}))
"""


def test_the_megatron_layer_compiles_transformer_engine_and_knows_the_rendered_flags(cuda_images):
    """Issue 20: stack.megatron's layer on the CUDA training image, built for real (the build arg the spec's
    stack.megatron renders): TransformerEngine's PyTorch extension compiled from its sdist against the image's
    CUDA 13 torch, megatron-core and mcore-bridge installed; every flag of the planned `megatron sft` command
    is an argument of the pinned ms-swift."""
    plan, _, _ = cuda_images
    # megatron-core 0.19 ships cp312 wheels only: Ubuntu 24.04's Python, as the real base (Debian 12 has 3.11)
    local.ensure_base_image(local.UBUNTU_BASE_IMAGE)
    args = {**ARGS, "MEGATRON_PACKAGES": MEGATRON}
    start = time.monotonic()
    build(plan, ROOT, ROOT, ("train",), base_image=local.UBUNTU_BASE_IMAGE, tag_suffix=MEGATRON_SUFFIX, extra_args=args)
    seconds = time.monotonic() - start
    ref = image_ref(plan.spec, "train") + MEGATRON_SUFFIX
    stack = plan.spec.stack.model_copy(update={"megatron": MEGATRON.split()})
    megatron_plan = make_plan(plan.spec.model_copy(update={"stack": stack}))
    assert megatron_plan.train.backend == "megatron"
    argv = megatron_plan.train.argv

    def probe(flags: list[str]) -> dict:
        return json.loads(docker_run(ref, "-c", MEGATRON_PROBE, json.dumps(flags)).strip().splitlines()[-1])

    found = probe(argv[2:])
    assert found["unknown"] == [], found
    assert (found["te"], found["mcore"], found["bridge"]) == ("2.20.2", "0.19.2", "1.6.5"), found
    assert found["python"] == "3.12"
    # the entrypoint's resume flags are arguments too
    assert probe(["--mcore_model", "x", "--finetune", "false"])["unknown"] == []
    # across nodes (k8s): the layout spans them and the cluster plan adds its collective timeout to the command
    k8s = plan.spec.k8s.model_copy(update={"nodes": 2})
    two = make_plan(plan.spec.model_copy(update={"stack": stack, "k8s": k8s}))
    assert two.train.backend == "megatron" and two.train.megatron.best.layout.world > plan.spec.hardware.gpus
    assert two.cluster.train_args[:1] == ["--ddp_timeout"]
    across = probe([*two.train.argv[2:], *two.cluster.train_args])
    assert across["unknown"] == [], across
    print(f"\nMegatron layer: {found} in {seconds:.0f} s")
    path = ROOT / ".smoke/cuda-images.json"
    report = json.loads(path.read_text())
    report["megatron_layer_seconds"] = round(seconds)
    path.write_text(json.dumps(report, indent=2) + "\n")


# vLLM's parser builds its config defaults for the current platform, found through the CUDA driver
# (libcuda.so.1), which only a GPU host has; the flags themselves do not depend on it, so the probe names a
# CUDA platform without a GPU (vLLM's own UnspecifiedPlatform with device_type "cuda").
SERVE_PARSE = """
import json, sys
import vllm.platforms
from vllm.platforms.interface import UnspecifiedPlatform
vllm.platforms.current_platform = type("CudaWithoutGpu", (UnspecifiedPlatform,), {"device_type": "cuda"})()
try:
    from vllm.utils.argparse_utils import FlexibleArgumentParser
except ImportError:
    from vllm.utils import FlexibleArgumentParser
from vllm.entrypoints.openai.cli_args import make_arg_parser, validate_parsed_serve_args
import vllm
argv = json.loads(sys.argv[1])
args = make_arg_parser(FlexibleArgumentParser()).parse_args(argv)
validate_parsed_serve_args(args)
keys = ["model", "served_model_name", "tensor_parallel_size", "pipeline_parallel_size", "data_parallel_size",
        "enable_expert_parallel", "max_model_len", "reasoning_parser", "gpu_memory_utilization", "port"]
print(json.dumps({"vllm": vllm.__version__, **{k: getattr(args, k) for k in keys}}))
"""


def test_the_serving_image_imports_vllm_and_its_parser_accepts_the_rendered_command(cuda_images):
    plan, refs, _ = cuda_images
    argv = plan.serve.argv
    assert argv[:2] == ["vllm", "serve"]
    rendered = [*argv[2:], "--model", "/checkpoints/run/checkpoint-50"]  # the entrypoint appends the model
    parsed = json.loads(docker_run(refs["serve"], "-c", SERVE_PARSE, json.dumps(rendered)).strip().splitlines()[-1])
    layout = plan.serve.layout
    assert parsed["vllm"] == "0.25.1"
    assert (parsed["tensor_parallel_size"], parsed["pipeline_parallel_size"], parsed["data_parallel_size"]) == (
        layout.tp,
        layout.pp,
        layout.dp,
    )
    assert parsed["enable_expert_parallel"] is layout.ep and parsed["reasoning_parser"] == "qwen3"
    assert parsed["max_model_len"] == plan.spec.serve.max_model_len and parsed["port"] == plan.spec.serve.port
    # the spec's default utilization is the pinned vLLM's own (builder/facts/vllm.py): no flag, same value
    bare = json.loads(
        docker_run(refs["serve"], "-c", SERVE_PARSE, json.dumps(["--model", "/m"])).strip().splitlines()[-1]
    )
    assert bare["gpu_memory_utilization"] == vllm_facts.GPU_MEMORY_UTILIZATION == parsed["gpu_memory_utilization"]
    bad = subprocess.run(
        ["docker", "run", "--rm", "--network", "none", "--entrypoint", "python3", refs["serve"], "-c", SERVE_PARSE,
         json.dumps([*rendered, "--tensor-parallel-size", "two"])],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert bad.returncode != 0 and "tensor-parallel-size" in bad.stderr  # the parser does check


def test_a_hyperparameter_change_rebuilds_no_layer(cuda_images):
    """Hyperparameters reach the containers as their command: a new learning rate renders the same Dockerfiles,
    so every layer is reused (the build takes seconds, not the minutes of the first)."""
    plan, refs, base = cuda_images
    changed = make_plan(load_spec(ROOT / "modelforge.yaml", [f"build.ca_bundle={HOST_CA}", "train.learning_rate=2e-5"]))
    for name in IMAGES:
        assert render_all(changed)[f"Dockerfile.{name}"] == (ROOT / f"Dockerfile.{name}").read_text()
    before = {n: subprocess.run(["docker", "image", "inspect", r, "--format", "{{.Id}}"], capture_output=True,
                                text=True).stdout for n, r in refs.items()}  # fmt: skip
    seconds = build(changed, ROOT, ROOT, IMAGES, base_image=base, tag_suffix=SUFFIX, extra_args=ARGS)
    for name, ref in refs.items():
        after = subprocess.run(
            ["docker", "image", "inspect", ref, "--format", "{{.Id}}"], capture_output=True, text=True
        )
        assert after.stdout == before[name], name  # the same image: no layer rebuilt
    assert all(s < 120 for s in seconds.values()), seconds
    path = ROOT / ".smoke/cuda-images.json"
    report = json.loads(path.read_text())
    report["rebuild_after_learning_rate_change_seconds"] = {k: round(v) for k, v in seconds.items()}
    path.write_text(json.dumps(report, indent=2) + "\n")


# The metric names vLLM's own metrics code registers (vllm/v1/metrics/*.py), read without importing vLLM.
METRIC_NAMES = r"""
import importlib.util, pathlib, re
[root] = importlib.util.find_spec("vllm").submodule_search_locations
files = (pathlib.Path(root) / "v1" / "metrics").glob("*.py")
print(" ".join(sorted({m for p in files for m in re.findall(r'"(vllm:[a-z0-9_]+)"', p.read_text())})))
"""


def test_the_grafana_dashboard_reads_only_metrics_the_pinned_vllm_exports(cuda_images):
    """Issue 19: every metric the k8s dashboard's PromQL names is one vLLM 0.25.1 registers (Prometheus adds
    _total to counters and _bucket to histograms). The CPU stack's running server is checked in
    tests/test_after_training.py."""
    from builder.render import monitor

    _, refs, _ = cuda_images
    exported = set(docker_run(refs["serve"], "-c", METRIC_NAMES).split())
    assert "vllm:num_requests_running" in exported, sorted(exported)
    missing = {
        name
        for name in monitor.dashboard_metrics()
        if name not in exported and re.sub(r"_(total|bucket|sum|count)$", "", name) not in exported
    }
    assert not missing, f"the dashboard reads metrics vLLM does not export: {sorted(missing)}"
