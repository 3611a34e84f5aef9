"""GPU facts: usable memory (what nvidia-smi reports as total) and dense bf16 TFLOP/s.

Sources: NVIDIA datasheets (dense, no sparsity); memory as nvidia-smi reports it
(e.g. H200 143771 MiB). The H200 row was read on this project's lent H200s.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Gpu:
    name: str
    memory_gib: float
    bf16_tflops: float
    interconnect: str  # "nvlink" or "pcie": decides whether tensor parallel across GPUs is cheap
    arch: str | None  # CUDA compute capability as sm<major><minor> (NVIDIA's CUDA GPUs table); picks attention kernels


GPUS: dict[str, Gpu] = {
    g.name: g
    for g in [
        Gpu("H200", 140.4, 989.0, "nvlink", "sm90"),
        Gpu("H100-80GB", 79.6, 989.0, "nvlink", "sm90"),
        Gpu("H100-PCIe", 79.6, 756.0, "pcie", "sm90"),
        Gpu("H20", 95.6, 148.0, "nvlink", "sm90"),
        Gpu("B200", 178.4, 2250.0, "nvlink", "sm100"),
        Gpu("A100-80GB", 79.3, 312.0, "nvlink", "sm80"),
        Gpu("A100-40GB", 39.4, 312.0, "nvlink", "sm80"),
        Gpu("A800-80GB", 79.3, 312.0, "nvlink", "sm80"),
        Gpu("L40S", 44.4, 362.0, "pcie", "sm89"),
        Gpu("L4", 22.0, 121.0, "pcie", "sm89"),
        Gpu("RTX4090", 23.6, 165.0, "pcie", "sm89"),
        Gpu("CPU", 0.0, 0.0, "pcie", None),
    ]
}


def lookup(name: str) -> Gpu | None:
    """Case- and dash-insensitive: 'h100-80gb', 'H100_80GB' and 'H100 80GB' all find H100-80GB."""
    key = name.upper().replace("_", "-").replace(" ", "-")
    for gpu in GPUS.values():
        if gpu.name.upper() == key:
            return gpu
    return None
