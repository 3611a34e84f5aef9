"""`modelforge doctor`: parsers against recorded outputs, checks against the plan, and the live machine."""

from __future__ import annotations

import json
import shutil
from argparse import Namespace
from pathlib import Path

import pytest

from builder import doctor
from builder.doctor import (
    FAIL,
    GIB,
    PASS,
    WARN,
    Host,
    cuda_of_image,
    cuda_of_wheels,
    max_cuda,
    min_driver,
    parse_docker_info,
    parse_meminfo,
    parse_nvidia_smi,
    parse_quantity,
    parse_version,
    run_checks,
    run_doctor,
    suggest_gpu,
)
from builder.facts.images import MEGATRON_LAYER_GIB, image_gib
from builder.plan import make_plan
from builder.render.compose import image_ref
from builder.spec import Spec

FIX = Path(__file__).resolve().parent / "fixtures" / "doctor"


def read(name: str) -> str:
    return (FIX / name).read_text()


def plan_for(**spec):
    return make_plan(Spec.model_validate(spec))


class FakeHost(Host):
    """Answers from tests/fixtures/doctor/ instead of the machine."""

    def __init__(
        self,
        smi="nvidia-smi-h200x5.csv",
        smi_rc=0,
        docker="docker-info-nvidia.json",
        docker_rc=0,
        docker_err="",
        compose="compose-version-v2.txt",
        compose_v1=None,
        disks=None,
        free_gib=5000,
        mem="meminfo-2tib.txt",
        shm_gib=1000.0,
        tools=(),
        paths=(),
        volumes=None,
        images=(),
    ):
        self.smi, self.smi_rc, self.docker, self.docker_rc, self.docker_err = smi, smi_rc, docker, docker_rc, docker_err
        self.compose, self.compose_v1 = compose, compose_v1
        self.disks, self.free_gib, self.mem, self.shm_gib = disks or {}, free_gib, mem, shm_gib
        self.tools, self.paths, self.volumes = tools, set(paths), volumes or {}
        self.images = set(images)  # refs built here

    def nvidia_smi(self):
        return None if self.smi is None else (self.smi_rc, read(self.smi), "")

    def nvml(self):
        return None

    def docker_info(self):
        return None if self.docker is None else (self.docker_rc, read(self.docker), self.docker_err)

    def compose_version(self):
        if self.compose is None:
            return 1, "", read("compose-missing.stderr")
        return 0, read(self.compose), ""

    def compose_v1_version(self):
        return None if self.compose_v1 is None else (0, read(self.compose_v1), "")

    def volume_mountpoint(self, name):
        return self.volumes.get(name)

    def which(self, name):
        return f"/usr/bin/{name}" if name in self.tools else None

    def image_exists(self, ref):
        return ref in self.images

    def exists(self, path):
        return path in self.paths or path == "/"

    def disk(self, path):
        free, device = self.disks.get(path, (self.free_gib, 1))
        return int(free * GIB), device

    def mem_total(self):
        return parse_meminfo(read(self.mem)) if self.mem else None

    def shm_total(self):
        return None if self.shm_gib is None else int(self.shm_gib * GIB)


def by_name(checks) -> dict:
    return {c.name: c for c in checks}


# --- parsers ------------------------------------------------------------------------------------


def test_parse_nvidia_smi_recordings():
    h200 = parse_nvidia_smi(read("nvidia-smi-h200x5.csv"))
    assert len(h200) == 5 and h200[0] == doctor.GpuInfo("NVIDIA H200", 143771, "580.95.05")
    mixed = parse_nvidia_smi(read("nvidia-smi-a100-mixed.csv"))
    assert {g.name for g in mixed} == {"NVIDIA A100-SXM4-80GB", "NVIDIA A100-SXM4-40GB"}
    assert parse_nvidia_smi(read("nvidia-smi-memory-na.csv")) == [doctor.GpuInfo("NVIDIA H200", None, "580.95.05")]
    assert parse_nvidia_smi("") == []
    with pytest.raises(ValueError):
        parse_nvidia_smi(read("nvidia-smi-no-driver.txt"))


def test_parse_docker_info_recordings():
    gpu_host = parse_docker_info(read("docker-info-nvidia.json"))
    assert gpu_host.reachable and gpu_host.server_version == "27.3.1" and "nvidia" in gpu_host.runtimes
    assert gpu_host.root_dir == "/var/lib/docker" and gpu_host.cdi_dirs == ("/etc/cdi", "/var/run/cdi")
    here = parse_docker_info(read("docker-info-no-nvidia.json"))
    assert here.reachable and here.server_version.startswith("20.10") and "nvidia" not in here.runtimes
    down = parse_docker_info(read("docker-info-unreachable.json"))
    assert not down.reachable
    assert not parse_docker_info("Cannot connect to the Docker daemon").reachable


@pytest.mark.parametrize(
    "ref, cuda",
    [
        ("nvidia/cuda:13.0.1-cudnn-devel-ubuntu24.04", (13, 0)),
        ("nvidia/cuda:12.8.1-base-ubuntu22.04", (12, 8)),
        ("registry.example.com:5000/mirror/nvidia/cuda:12.4.1-devel-ubuntu22.04", (12, 4)),
        ("pytorch/pytorch:2.5.1-cuda12.4-cudnn9-devel", (12, 4)),
        ("vllm/vllm-openai:v0.9.0-cu128", (12, 8)),
        ("example/train:cu118", (11, 8)),
        ("ubuntu:24.04", None),
        ("nvidia/cuda@sha256:abcdef", None),
        ("python", None),
    ],
)
def test_cuda_of_image(ref, cuda):
    assert cuda_of_image(ref) == cuda


def test_driver_table():
    assert cuda_of_wheels("https://download.pytorch.org/whl/cu130") == (13, 0)
    assert cuda_of_wheels("https://pypi.org/simple") is None
    assert min_driver((13, 0)) == "580.65.06" and min_driver((12, 8)) == "570.26" and min_driver((12, 4)) == "550.54.14"
    assert min_driver((12, 7)) == "570.26"  # no such release: the next one's minimum
    assert min_driver((13, 1)) is None and min_driver((10, 2)) is None
    assert max_cuda("580.95.05") == (13, 0) and max_cuda("550.127.05") == (12, 4) and max_cuda("470.1") is None


def test_small_parsers():
    assert parse_version("Docker Compose version v2.29.7") == (2, 29, 7) and parse_version("5.6.1\n") == (5, 6, 1)
    assert parse_version("") is None
    assert (
        parse_quantity("300Gi") == 300 and parse_quantity("1Ti") == 1024 and round(parse_quantity("500G"), 1) == 465.7
    )
    assert parse_quantity("lots") is None
    assert parse_meminfo(read("meminfo-2tib.txt")) == 2112767152 * 1024
    assert suggest_gpu("NVIDIA H100 80GB HBM3") == "H100-80GB" and suggest_gpu("NVIDIA GeForce RTX 4090") == "RTX4090"
    assert suggest_gpu("NVIDIA A100-SXM4-40GB") == "A100-40GB" and suggest_gpu("Tesla V100") is None


# --- checks against the plan ------------------------------------------------------------------


def test_ready_gpu_host_passes_everything(tmp_path):
    checks = run_checks(plan_for(), FakeHost(), tmp_path)
    assert [c.name for c in checks if c.status != PASS] == []
    found = by_name(checks)
    assert found["gpu count"].detail == "5 x NVIDIA H200 (hardware.gpus: 5)"
    assert "driver 580.95.05 runs CUDA 13.0 (needs >= 580.65.06" in found["driver vs train"].detail
    assert "'nvidia' runtime registered with Docker" in found["nvidia runtime"].detail
    assert found["compose"].detail == "docker compose 2.29.7"


def test_no_gpu_reports_and_fails_with_fixes(tmp_path):
    checks = by_name(run_checks(plan_for(), FakeHost(smi=None, docker="docker-info-no-nvidia.json"), tmp_path))
    count = checks["gpu count"]
    assert count.status == FAIL and count.detail == "0 GPUs found (nvidia-smi not found), the spec needs 5 x H200"
    assert "--set hardware.gpus=0" in count.fix and "\n" not in count.fix
    assert checks["gpu model"].status == WARN
    assert (
        checks["driver vs train"].status == FAIL
        and "install NVIDIA driver 580 or newer" in checks["driver vs train"].fix
    )
    assert checks["nvidia runtime"].status == FAIL and "nvidia-ctk runtime configure" in checks["nvidia runtime"].fix


def test_driver_not_loaded(tmp_path):
    checks = by_name(run_checks(plan_for(), FakeHost(smi="nvidia-smi-no-driver.txt", smi_rc=9), tmp_path))
    assert checks["gpu count"].status == FAIL
    assert "nvidia-smi failed: NVIDIA-SMI has failed because it couldn't communicate" in checks["gpu count"].detail
    no_devices = by_name(run_checks(plan_for(), FakeHost(smi="nvidia-smi-no-devices.txt", smi_rc=6), tmp_path))
    assert "no devices were found" in no_devices["gpu count"].detail and no_devices["driver vs train"].status == WARN


def test_old_driver_and_smaller_gpus_fail(tmp_path):
    host = FakeHost(smi="nvidia-smi-h100x8-driver550.csv")
    checks = by_name(run_checks(plan_for(), host, tmp_path))
    driver = checks["driver vs train"]
    assert driver.status == FAIL and driver.detail.startswith(
        "driver 550.127.05 is older than 580.65.06, the minimum for CUDA 13.0"
    )
    assert "upgrade the NVIDIA driver to 580 or newer, or build on a CUDA 12.4 base" in driver.fix
    model = checks["gpu model"]  # the plan assumed 140 GiB H200s and needs ~118 GiB per GPU
    assert model.status == FAIL and "--set hardware.gpu=H100-80GB" in model.fix
    assert checks["gpu count"].status == PASS and "the plan uses 5" in checks["gpu count"].detail
    # planned for what is there: the model check passes, the driver still does not
    fixed = by_name(run_checks(plan_for(hardware={"gpus": 8, "gpu": "H100-80GB"}), host, tmp_path))
    assert fixed["gpu model"].status == PASS and fixed["driver vs train"].status == FAIL
    cu124 = {
        "images": {
            "train": {"name": "t/train", "base": "nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04"},
            "serve": {"name": "t/serve", "base": "nvidia/cuda:12.4.1-base-ubuntu22.04"},
        },
        "stack": {"torch_index_url": "https://download.pytorch.org/whl/cu124"},
        "hardware": {"gpus": 8, "gpu": "H100-80GB"},
    }
    assert by_name(run_checks(plan_for(**cu124), host, tmp_path))["driver vs train"].status == PASS


def test_torch_wheels_raise_the_driver_need(tmp_path):
    spec = {
        "images": {"train": {"name": "t/train", "base": "nvidia/cuda:12.4.1-cudnn-devel-ubuntu22.04"}},
        "stack": {"torch_index_url": "https://download.pytorch.org/whl/cu128"},
    }
    checks = by_name(run_checks(plan_for(**spec), FakeHost(smi="nvidia-smi-h100x8-driver550.csv"), tmp_path))
    assert checks["driver vs train"].status == FAIL and "CUDA 12.8" in checks["driver vs train"].detail
    assert "torch 12.8 wheels" in checks["driver vs train"].detail


def test_mixed_and_unnamed_gpus_warn(tmp_path):
    plan = plan_for(hardware={"gpus": 3, "gpu": "A100-80GB"})
    mixed = by_name(run_checks(plan, FakeHost(smi="nvidia-smi-a100-mixed.csv"), tmp_path))
    assert mixed["gpu model"].status == WARN and "mixed GPU models" in mixed["gpu model"].detail
    na = by_name(run_checks(plan_for(hardware={"gpus": 1}), FakeHost(smi="nvidia-smi-memory-na.csv"), tmp_path))
    assert na["gpu model"].status == WARN and "no memory size" in na["gpu model"].detail


def test_other_gpu_model_with_enough_memory_warns(tmp_path):
    spec = {"model": {"id": "Qwen/Qwen3-8B"}, "train": {"tuner": "lora"}, "hardware": {"gpus": 1, "gpu": "L4"}}
    checks = by_name(run_checks(plan_for(**spec), FakeHost(smi="nvidia-smi-rtx4090.csv"), tmp_path))
    assert checks["gpu model"].status == WARN and "--set hardware.gpu=RTX4090" in checks["gpu model"].fix


def test_cpu_spec_skips_gpu_checks(tmp_path):
    host = FakeHost(smi=None, docker="docker-info-no-nvidia.json", shm_gib=0.06)
    checks = by_name(run_checks(plan_for(hardware={"gpus": 0}), host, tmp_path))
    for name in ("gpu count", "gpu model", "driver vs train", "driver vs serve", "nvidia runtime"):
        assert checks[name].status == PASS and "not needed" in checks[name].detail, name
    assert checks["/dev/shm"].status == PASS


def test_docker_unreachable_and_compose_missing(tmp_path):
    host = FakeHost(
        docker="docker-info-unreachable.json",
        docker_rc=1,
        docker_err=read("docker-info-unreachable.stderr"),
        compose=None,
        tools=("nvidia-container-runtime-hook",),
    )
    checks = by_name(run_checks(plan_for(), host, tmp_path))
    engine = checks["docker engine"]
    assert engine.status == FAIL and "Cannot connect to the Docker daemon" in engine.detail
    assert "systemctl start docker" in engine.fix
    assert (
        checks["nvidia runtime"].status == PASS and "nvidia-container-runtime-hook" in checks["nvidia runtime"].detail
    )
    compose = checks["compose"]
    assert (
        compose.status == FAIL
        and compose.detail == "`docker compose` not available: docker: 'compose' is not a docker command."
    )
    assert "docker-compose-plugin" in compose.fix
    v1 = by_name(run_checks(plan_for(), FakeHost(compose=None, compose_v1="docker-compose-v1-version.txt"), tmp_path))
    assert v1["compose"].status == FAIL and "only docker-compose 1.29.2 (v1)" in v1["compose"].detail
    cli_missing = by_name(run_checks(plan_for(), FakeHost(docker=None), tmp_path))
    assert cli_missing["docker engine"].status == FAIL and "install Docker Engine" in cli_missing["docker engine"].fix


def test_cdi_spec_counts_as_nvidia_runtime(tmp_path):
    host = FakeHost(docker="docker-info-no-nvidia.json", paths=("/var/run/cdi/nvidia.yaml",))
    assert by_name(run_checks(plan_for(), host, tmp_path))["nvidia runtime"].status == PASS


def test_disk_needs_from_the_plan(tmp_path):
    plan = plan_for()
    ckpt = plan.train.checkpoint_gib * (plan.spec.train.save_total_limit + 1)
    weights = plan.model.total_params * 2 / GIB
    volumes = {"qwen3-30b-a3b-sft-model-cache": "/vol/models", "qwen3-30b-a3b-sft-checkpoints": "/vol/ckpt"}
    host = FakeHost(volumes=volumes, disks={"/vol/models": (weights * 3, 1), "/vol/ckpt": (ckpt * 0.5, 2)})
    checks = by_name(run_checks(plan, host, tmp_path))
    cache = checks["disk model_cache"]
    assert cache.status == PASS and "docker volume qwen3-30b-a3b-sft-model-cache" in cache.detail
    disk = checks["disk checkpoints"]
    assert disk.status == FAIL
    assert f"the plan needs {ckpt:.0f} GiB (2+1 checkpoints x {plan.train.checkpoint_gib:.0f} GiB)" in disk.detail
    assert "train.save_total_limit" in disk.fix
    # one disk for both: the checkpoints count the model too; tight is a WARN
    shared = FakeHost(disks={"/var/lib/docker": ((ckpt + weights) * 1.05, 1)})
    checks = by_name(run_checks(plan, shared, tmp_path))
    assert checks["disk model_cache"].status == PASS
    assert (
        checks["disk checkpoints"].status == WARN
        and "with images, model_cache on the same disk" in checks["disk checkpoints"].detail
    )
    assert "docker root dir; volume qwen3-30b-a3b-sft-checkpoints not created yet" in checks["disk checkpoints"].detail


def test_disk_for_the_images_not_built_yet(tmp_path):
    plan = plan_for()
    train, serve = image_gib(plan.spec.stack.torch, "train"), image_gib(plan.spec.stack.torch, "serve")
    roomy = by_name(run_checks(plan, FakeHost(), tmp_path))["disk images"]
    assert (
        roomy.status == PASS and f"the images need {train + serve:.0f} GiB (train {train:.1f} + serve" in roomy.detail
    )
    assert "measured for the CUDA stack" in roomy.detail and "at /var/lib/docker (docker root dir)" in roomy.detail
    # the image is in, the serving image is still to build: only it counts
    built = {image_ref(plan.spec, "train")}
    half = by_name(run_checks(plan, FakeHost(images=built, free_gib=serve * 1.2), tmp_path))["disk images"]
    assert half.status == WARN and f"need {serve:.0f} GiB (serve {serve:.1f} GiB to build" in half.detail
    assert "a build peaks at" in half.detail and "data-root" in half.fix
    short = by_name(run_checks(plan, FakeHost(free_gib=train), tmp_path))["disk images"]
    assert short.status == FAIL and f"free {serve:.0f} GiB there (`docker image prune`" in short.fix
    every = {image_ref(plan.spec, which) for which in ("train", "serve")}
    done = by_name(run_checks(plan, FakeHost(images=every, free_gib=1), tmp_path))["disk images"]
    assert done.status == PASS and done.detail.endswith("train and serve images built")


def test_disk_for_images_follows_the_stack(tmp_path):
    cpu = by_name(run_checks(plan_for(stack={"torch": "torch==2.13.0+cpu"}), FakeHost(), tmp_path))["disk images"]
    assert f"train {image_gib('torch==2.13.0+cpu', 'train'):.1f} +" in cpu.detail and "CPU stack" in cpu.detail
    megatron = plan_for(stack={"megatron": ["megatron-core==0.19.2"]})
    detail = by_name(run_checks(megatron, FakeHost(), tmp_path))["disk images"].detail
    assert f"train {image_gib('torch==2.11.0', 'train') + MEGATRON_LAYER_GIB:.1f} +" in detail
    unknown = by_name(run_checks(plan_for(), FakeHost(docker=None), tmp_path))["disk images"]
    assert unknown.status == WARN and unknown.detail.startswith("not checked: Docker did not answer")


def test_bind_mounted_volume_is_measured_at_its_host_folder(tmp_path):
    spec = {"volumes": {"checkpoints": {"mount": "/checkpoints", "host_path": "/srv/ckpt/run1"}}}
    host = FakeHost(paths=("/srv/ckpt",), disks={"/srv/ckpt": (10_000, 7)})
    disk = by_name(run_checks(plan_for(**spec), host, tmp_path))["disk checkpoints"]
    assert disk.status == PASS and "at /srv/ckpt (bind mount /srv/ckpt/run1)" in disk.detail


def test_volume_size_below_the_need_warns(tmp_path):
    spec = {"volumes": {"checkpoints": {"mount": "/checkpoints", "size": "500Gi"}}}
    sizes = by_name(run_checks(plan_for(**spec), FakeHost(), tmp_path))["volume sizes"]
    assert sizes.status == WARN and "volumes.checkpoints.size 500Gi" in sizes.detail
    assert "--set volumes.checkpoints.size=" in sizes.fix


def test_host_ram_against_the_plan(tmp_path):
    plan = plan_for(train={"deepspeed": "zero3_offload"})
    need = plan.train.memory.host_gib
    small = FakeHost(mem=None)
    small.mem_total = lambda: int(need * 0.5 * GIB)
    ram = by_name(run_checks(plan, small, tmp_path))["host RAM"]
    assert (
        ram.status == FAIL
        and f"needs ~{need:.0f} GiB of host RAM" in ram.detail
        and "hardware.host_memory_gib=" in ram.fix
    )
    assert by_name(run_checks(plan, FakeHost(), tmp_path))["host RAM"].status == PASS
    optimistic = by_name(run_checks(plan_for(hardware={"host_memory_gib": 4096}), FakeHost(), tmp_path))["host RAM"]
    assert optimistic.status == WARN and "hardware.host_memory_gib is 4096" in optimistic.detail


def test_small_shm(tmp_path):
    assert by_name(run_checks(plan_for(), FakeHost(shm_gib=0.0625), tmp_path))["/dev/shm"].status == FAIL
    assert by_name(run_checks(plan_for(), FakeHost(shm_gib=4), tmp_path))["/dev/shm"].status == WARN


def test_infeasible_plan_fails_the_plan_check(tmp_path):
    checks = by_name(run_checks(plan_for(serve={"tensor_parallel": 5}), FakeHost(), tmp_path))
    assert checks["plan"].status == FAIL and "modelforge plan" in checks["plan"].fix


def test_report_text_and_json(tmp_path, capsys):
    args = Namespace(file=str(tmp_path / "modelforge.yaml"), json=False)
    assert run_doctor(plan_for(), args, FakeHost(smi=None)) == 1
    text = capsys.readouterr().out.splitlines()
    assert text[0].startswith("modelforge doctor: ") and text[0].endswith("(5 x H200, deepspeed zero3)")
    assert "FAIL  gpu count" in "\n".join(text) and text[-1].endswith("fix the FAIL lines before `make train`")
    fixes = [line for line in text if line.strip().startswith("fix: ")]
    assert fixes and all(line.startswith(" " * 6) for line in fixes)
    args.json = True
    assert run_doctor(plan_for(), args, FakeHost()) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["ok"] and data["summary"]["FAIL"] == 0 and {"name", "status", "detail", "fix"} <= set(data["checks"][0])


# --- the live machine -------------------------------------------------------------------------


def test_live_doctor_on_this_machine(tmp_path, capsys):
    """The real Host: whatever this machine has, the doctor reports and never crashes."""
    args = Namespace(file=str(tmp_path / "modelforge.yaml"), json=True)
    code = run_doctor(plan_for(), args, Host())
    data = json.loads(capsys.readouterr().out)
    checks = {c["name"]: c for c in data["checks"]}
    assert code == (0 if data["ok"] else 1) and all(c["status"] in (PASS, WARN, FAIL) for c in data["checks"])
    assert {
        "gpu count",
        "driver vs train",
        "docker engine",
        "nvidia runtime",
        "compose",
        "disk checkpoints",
        "host RAM",
        "/dev/shm",
    } <= set(checks)
    if shutil.which("nvidia-smi") is None:  # this project's dev machine: no GPU, so FAIL with a one-line fix
        assert checks["gpu count"]["status"] == FAIL and checks["gpu count"]["detail"].startswith("0 GPUs found")
        assert "the spec needs 5 x H200" in checks["gpu count"]["detail"] and checks["gpu count"]["fix"]
        assert code == 1
    if shutil.which("docker"):
        assert checks["docker engine"]["status"] in (PASS, FAIL)


def test_live_doctor_cli(cli):
    result = cli("doctor", "--set", "hardware.gpus=0")
    assert "Traceback" not in result.stderr and result.returncode in (0, 1)
    assert "PASS  gpu count" in result.stdout and "not needed (hardware.gpus: 0" in result.stdout
