"""Pure parsers of what the host's tools print: nvidia-smi's CSV, `docker info`'s JSON, version strings,
k8s quantities and /proc/meminfo, with the records they produce (GpuInfo, DockerInfo). Nothing here
touches the machine; tests feed these the recorded outputs in tests/fixtures/doctor/.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass

GIB = 1024**3


@dataclass(frozen=True)
class GpuInfo:
    name: str
    memory_mib: int | None
    driver: str


@dataclass
class DockerInfo:
    reachable: bool
    server_version: str = ""
    root_dir: str = ""
    runtimes: tuple[str, ...] = ()
    default_runtime: str = ""
    cdi_dirs: tuple[str, ...] = ()
    mem_total: int | None = None
    error: str = ""


def parse_nvidia_smi(text: str) -> list[GpuInfo]:
    """Rows of `nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader,nounits`."""
    gpus = []
    for line in text.splitlines():
        if not line.strip():
            continue
        parts = [part.strip() for part in line.rsplit(",", 2)]
        if len(parts) != 3 or not re.fullmatch(r"\d+(\.\d+)+", parts[2]):
            raise ValueError(f"unexpected nvidia-smi output: {line.strip()!r}")
        name, memory, driver = parts
        gpus.append(GpuInfo(name, int(float(memory)) if re.fullmatch(r"\d+(\.\d+)?", memory) else None, driver))
    return gpus


def parse_docker_info(text: str) -> DockerInfo:
    """`docker info --format '{{json .}}'`; an engine that did not answer shows as ServerErrors."""
    try:
        data = json.loads(text)
    except ValueError:
        first = text.strip().splitlines()[0] if text.strip() else "no output"
        return DockerInfo(False, error=f"docker info printed no JSON: {first[:200]}")
    if not isinstance(data, dict):
        return DockerInfo(False, error="docker info printed unexpected JSON")
    errors = data.get("ServerErrors") or []
    if errors or not data.get("ServerVersion"):
        return DockerInfo(False, error=str(errors[0]) if errors else "docker info has no server version")
    return DockerInfo(
        True,
        str(data["ServerVersion"]),
        str(data.get("DockerRootDir") or ""),
        tuple(sorted((data.get("Runtimes") or {}).keys())),
        str(data.get("DefaultRuntime") or ""),
        tuple(data.get("CDISpecDirs") or ()),
        data.get("MemTotal") if isinstance(data.get("MemTotal"), int) else None,
    )


def parse_version(text: str) -> tuple[int, ...] | None:
    """The first x.y[.z] in text ('Docker Compose version v2.29.1' -> (2, 29, 1))."""
    match = re.search(r"(\d+)\.(\d+)(?:\.(\d+))?", text or "")
    return tuple(int(g) for g in match.groups() if g is not None) if match else None


def parse_quantity(text: str) -> float | None:
    """A k8s quantity in GiB: 300Gi -> 300, 1Ti -> 1024, 500G -> 465.7."""
    match = re.fullmatch(r"([0-9]+(?:\.[0-9]+)?)(Ki|Mi|Gi|Ti|Pi|K|M|G|T|P)?", text or "")
    if not match:
        return None
    scale = {
        None: 1,
        "Ki": 1024,
        "Mi": 1024**2,
        "Gi": 1024**3,
        "Ti": 1024**4,
        "Pi": 1024**5,
        "K": 1e3,
        "M": 1e6,
        "G": 1e9,
        "T": 1e12,
        "P": 1e15,
    }[match[2]]
    return float(match[1]) * scale / GIB


def parse_meminfo(text: str) -> int | None:
    match = re.search(r"^MemTotal:\s+(\d+)\s*kB", text, re.M)
    return int(match[1]) * 1024 if match else None
