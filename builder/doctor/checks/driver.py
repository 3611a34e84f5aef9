"""The "driver vs train" and "driver vs serve" checks: does the host's NVIDIA driver run the CUDA that
each image is built for (its base image's tag, and for training the PyTorch wheels' index URL too)?
The minimums come from builder/facts/cuda.py through ../cuda.py.
"""

from __future__ import annotations

from ...facts.cuda import CUDA_MIN_DRIVER
from ...plan import Plan
from ..cuda import cuda_of_image, cuda_of_wheels, driver_version, max_cuda, min_driver
from ..parse import GpuInfo
from ..probe import Context
from ..report import FAIL, PASS, WARN, Check


def _fmt_cuda(cuda: tuple[int, int] | None) -> str:
    return f"{cuda[0]}.{cuda[1]}" if cuda else "?"


def check_driver(plan: Plan, gpus: list[GpuInfo] | None, source: str, image: str) -> Check:
    spec = plan.spec
    name = f"driver vs {image}"
    if spec.hardware.gpus == 0:
        return Check(name, PASS, "not needed (hardware.gpus: 0)")
    base = getattr(spec.images, image).base
    cuda = cuda_of_image(base)
    wheels = cuda_of_wheels(spec.stack.torch_index_url) if image == "train" else None
    need = max(filter(None, [cuda, wheels]), default=None)
    what = f"images.{image}.base {base}" + (f" + torch {_fmt_cuda(wheels)} wheels" if wheels and wheels != cuda else "")
    if need is None:
        return Check(
            name,
            WARN,
            f"cannot tell which CUDA {base} is built for",
            "compare the image's CUDA with the driver's (nvidia-smi, top right) by hand",
        )
    minimum = min_driver(need)
    if minimum is None:
        return Check(
            name,
            WARN,
            f"CUDA {_fmt_cuda(need)} ({what}) is not in this table (newest: {_fmt_cuda(max(CUDA_MIN_DRIVER))})",
            "look up its minimum driver in NVIDIA's CUDA toolkit release notes (table 3)",
        )
    if gpus is None:
        series = minimum.split(".")[0]
        return Check(
            name,
            FAIL,
            f"no NVIDIA driver answered ({source}); CUDA {_fmt_cuda(need)} ({what}) needs driver >= {minimum}",
            f"install NVIDIA driver {series} or newer (e.g. the distribution's nvidia-driver-{series} package)",
        )
    if not gpus:
        return Check(
            name,
            WARN,
            f"driver version unknown: no GPU answered; CUDA {_fmt_cuda(need)} needs >= {minimum}",
            "see gpu count",
        )
    driver = min((g.driver for g in gpus), key=driver_version)
    if driver_version(driver) < driver_version(minimum):
        runs = max_cuda(driver)
        alt = (
            (
                f", or build on a CUDA {_fmt_cuda(runs)} base in images.{image}.base"
                + (" (and a matching stack.torch_index_url)" if image == "train" else "")
            )
            if runs
            else ""
        )
        return Check(
            name,
            FAIL,
            f"driver {driver} is older than {minimum}, the minimum for CUDA {_fmt_cuda(need)} ({what})",
            f"upgrade the NVIDIA driver to {minimum.split('.')[0]} or newer{alt}",
        )
    return Check(name, PASS, f"driver {driver} runs CUDA {_fmt_cuda(need)} (needs >= {minimum}; {what})")


def train_image(ctx: Context) -> list[Check]:
    return [check_driver(ctx.plan, ctx.gpus, ctx.gpu_source, "train")]


def serve_image(ctx: Context) -> list[Check]:
    return [check_driver(ctx.plan, ctx.gpus, ctx.gpu_source, "serve")]
