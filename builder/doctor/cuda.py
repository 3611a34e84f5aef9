"""Which CUDA an image needs and which NVIDIA driver runs it: the CUDA version read from a base image's
tag or a PyTorch wheel index URL, driver version comparison, and lookups in the minimum-driver table of
builder/facts/cuda.py. Pure functions of strings; the driver check (checks/driver.py) uses them.
"""

from __future__ import annotations

import re

from ..facts.cuda import CUDA_MIN_DRIVER


def driver_version(text: str) -> tuple[int, ...]:
    return tuple(int(part) for part in re.findall(r"\d+", text))


def _cuda_digits(digits: str) -> tuple[int, int]:
    return int(digits[:-1]), int(digits[-1])  # cu130 -> 13.0, cu128 -> 12.8, cu118 -> 11.8


def cuda_of_image(ref: str) -> tuple[int, int] | None:
    """CUDA major.minor an image was built for, from its reference: nvidia/cuda:13.0.1-... -> (13, 0);
    tags like pytorch:2.5.1-cuda12.4-cudnn9-devel or ...-cu128 work too. None when the tag does not say."""
    last = ref.rsplit("/", 1)[-1]
    if "@" in last or ":" not in last:
        return None
    name, _, tag = ref.rpartition(":")
    if name.rsplit("/", 1)[-1] == "cuda":
        match = re.match(r"(\d+)\.(\d+)", tag)
        return (int(match[1]), int(match[2])) if match else None
    match = re.search(r"cuda[-_]?(\d+)\.(\d+)", tag)
    if match:
        return int(match[1]), int(match[2])
    match = re.search(r"(?<![a-z])cu(\d{2,3})(?!\d)", tag)
    return _cuda_digits(match[1]) if match else None


def cuda_of_wheels(index_url: str | None) -> tuple[int, int] | None:
    """CUDA of PyTorch wheels from their index URL (https://download.pytorch.org/whl/cu130 -> (13, 0))."""
    match = re.search(r"/cu(\d{2,3})/?$", index_url or "")
    return _cuda_digits(match[1]) if match else None


def min_driver(cuda: tuple[int, int]) -> str | None:
    """Minimum driver for a CUDA version: its own row, else the next newer minor of the same major."""
    if cuda in CUDA_MIN_DRIVER:
        return CUDA_MIN_DRIVER[cuda]
    newer = sorted(key for key in CUDA_MIN_DRIVER if key[0] == cuda[0] and key > cuda)
    return CUDA_MIN_DRIVER[newer[0]] if newer else None


def max_cuda(driver: str) -> tuple[int, int] | None:
    """The newest CUDA in the table that this driver runs."""
    fits = [key for key, minimum in CUDA_MIN_DRIVER.items() if driver_version(driver) >= driver_version(minimum)]
    return max(fits) if fits else None
