"""GPU usage for `modelforge status`: nvidia-smi's query output, parsed (None where there is no nvidia-smi)."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass

from .state import number

# -- GPUs ------------------------------------------------------------------------------------------

GPU_QUERY = "index,name,utilization.gpu,memory.used,memory.total,power.draw,temperature.gpu"


@dataclass
class Gpu:
    index: int
    name: str
    util_pct: float | None
    mem_used_mib: float | None
    mem_total_mib: float | None
    power_w: float | None = None
    temp_c: float | None = None


def parse_nvidia_smi(text: str) -> list[Gpu]:
    """`nvidia-smi --query-gpu=GPU_QUERY --format=csv,noheader,nounits` output."""
    gpus = []
    for line in text.strip().splitlines():
        cells = [c.strip() for c in line.split(",")]
        if len(cells) < 5 or not cells[0].isdigit():
            continue
        values = [number(c) if c not in ("[N/A]", "N/A", "[Not Supported]") else None for c in cells]
        values += [None] * (7 - len(values))
        gpus.append(Gpu(int(cells[0]), cells[1], values[2], values[3], values[4], values[5], values[6]))
    return gpus


def gpu_usage() -> list[Gpu] | None:
    """Per-device use when nvidia-smi is on this machine's PATH; None when it is not."""
    binary = shutil.which("nvidia-smi")
    if not binary:
        return None
    try:
        result = subprocess.run(
            [binary, f"--query-gpu={GPU_QUERY}", "--format=csv,noheader,nounits"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    return parse_nvidia_smi(result.stdout) if result.returncode == 0 else None
