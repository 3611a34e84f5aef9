"""CUDA facts: the minimum NVIDIA driver of each CUDA toolkit, which the doctor holds the host's
driver against.

Source: NVIDIA's CUDA toolkit release notes, table 3 (minimum Linux x86_64 driver of each toolkit's
first release).
"""

from __future__ import annotations

# Minimum Linux x86_64 driver of each CUDA toolkit (its first release), from NVIDIA's CUDA
# toolkit release notes, table 3. The nvidia/cuda images enforce it (NVIDIA_REQUIRE_CUDA).
CUDA_MIN_DRIVER: dict[tuple[int, int], str] = {
    (13, 0): "580.65.06",
    (12, 9): "575.51.03",
    (12, 8): "570.26",
    (12, 6): "560.28.03",
    (12, 5): "555.42.02",
    (12, 4): "550.54.14",
    (12, 3): "545.23.06",
    (12, 2): "535.54.03",
    (12, 1): "530.30.02",
    (12, 0): "525.60.13",
    (11, 8): "520.61.05",
}
