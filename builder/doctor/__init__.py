"""`modelforge doctor`: is this host ready for the spec's plan?

The guide's pre-flight checklist, made real and tied to the spec and the plan: GPUs (count,
model, memory: nvidia-smi, else NVML), the driver against the CUDA of the training and
serving images, free disk on the model-cache and checkpoint volumes against what the plan
writes there, host RAM against the plan's DeepSpeed host memory, /dev/shm, the Docker
engine, the NVIDIA container runtime and Compose v2. Each check says PASS, WARN or FAIL and,
when not PASS, the fix in one line. Exit 1 on any FAIL. Nothing here needs a GPU: on a
machine without one the GPU checks FAIL (or PASS as "not needed" for hardware.gpus: 0).

Parsing (nvidia-smi CSV, `docker info` JSON, versions, image tags) is pure and tested against
recorded outputs; the live machine is reached only through Host, which tests replace.

Where things are: runner.py (run_doctor: probe, run the checks, print), probe.py (Host and the
Context the checks share), parse.py and cuda.py (the pure parsers), report.py (Check, PASS/WARN/FAIL,
text and JSON output), checks/ (one module per concern; checks/__init__.py lists them in order), and
the driver minimums in builder/facts/cuda.py. This module only re-exports the public names.
"""

from __future__ import annotations

from ..facts.cuda import CUDA_MIN_DRIVER
from .checks.compose import check_compose
from .checks.disk import DISK_MARGIN, check_disks
from .checks.docker import check_docker
from .checks.driver import check_driver
from .checks.gpus import check_gpu_count, check_gpu_model, suggest_gpu
from .checks.memory import SHM_FAIL_GIB, SHM_WARN_GIB, check_ram, check_shm
from .checks.plan import check_plan
from .checks.runtime import check_nvidia_runtime
from .cuda import cuda_of_image, cuda_of_wheels, driver_version, max_cuda, min_driver
from .parse import (
    GIB,
    DockerInfo,
    GpuInfo,
    parse_docker_info,
    parse_meminfo,
    parse_nvidia_smi,
    parse_quantity,
    parse_version,
)
from .probe import NVIDIA_SMI_QUERY, Host, query_docker, query_gpus
from .report import FAIL, PASS, WARN, Check, render_text
from .runner import run_checks, run_doctor

__all__ = [
    "CUDA_MIN_DRIVER",
    "DISK_MARGIN",
    "FAIL",
    "GIB",
    "NVIDIA_SMI_QUERY",
    "PASS",
    "SHM_FAIL_GIB",
    "SHM_WARN_GIB",
    "WARN",
    "Check",
    "DockerInfo",
    "GpuInfo",
    "Host",
    "check_compose",
    "check_disks",
    "check_docker",
    "check_driver",
    "check_gpu_count",
    "check_gpu_model",
    "check_nvidia_runtime",
    "check_plan",
    "check_ram",
    "check_shm",
    "cuda_of_image",
    "cuda_of_wheels",
    "driver_version",
    "max_cuda",
    "min_driver",
    "parse_docker_info",
    "parse_meminfo",
    "parse_nvidia_smi",
    "parse_quantity",
    "parse_version",
    "query_docker",
    "query_gpus",
    "render_text",
    "run_checks",
    "run_doctor",
    "suggest_gpu",
]
