"""The live machine: Host asks this machine its questions (nvidia-smi or NVML, `docker info`, Compose,
docker volumes and images, free disk, /proc/meminfo, /dev/shm); query_gpus and query_docker turn its answers into
records; probe() asks once and hands the checks a Context. Tests substitute Host with recorded answers
(tests/fixtures/doctor/); everything past Host is pure.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from ..engine.volumes import mountpoint_command
from ..plan import Plan
from .parse import DockerInfo, GpuInfo, parse_docker_info, parse_meminfo, parse_nvidia_smi

NVIDIA_SMI_QUERY = ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"]


class Host:
    """Questions to this machine. Tests substitute recorded answers (tests/fixtures/doctor/)."""

    timeout = 20

    def run(self, argv: list[str]) -> tuple[int, str, str] | None:
        """(exit code, stdout, stderr), or None when the program is not installed."""
        try:
            proc = subprocess.run(argv, capture_output=True, text=True, timeout=self.timeout)
        except FileNotFoundError:
            return None
        except subprocess.TimeoutExpired:
            return 124, "", f"{argv[0]} did not answer in {self.timeout} s"
        except OSError as exc:
            return 126, "", str(exc)
        return proc.returncode, proc.stdout, proc.stderr

    def nvidia_smi(self) -> tuple[int, str, str] | None:
        return self.run(NVIDIA_SMI_QUERY)

    def nvml(self) -> list[GpuInfo] | None:
        """GPUs through NVML (pynvml), when nvidia-smi is missing but the library is there."""
        try:
            import pynvml  # type: ignore[import-not-found]

            pynvml.nvmlInit()
        except Exception:
            return None
        try:
            driver = pynvml.nvmlSystemGetDriverVersion()
            driver = driver.decode() if isinstance(driver, bytes) else driver
            found = []
            for i in range(pynvml.nvmlDeviceGetCount()):
                handle = pynvml.nvmlDeviceGetHandleByIndex(i)
                name = pynvml.nvmlDeviceGetName(handle)
                name = name.decode() if isinstance(name, bytes) else name
                found.append(GpuInfo(name, pynvml.nvmlDeviceGetMemoryInfo(handle).total // 1024**2, driver))
            return found
        except Exception:
            return None
        finally:
            try:
                pynvml.nvmlShutdown()
            except Exception:
                pass

    def docker_info(self) -> tuple[int, str, str] | None:
        return self.run(["docker", "info", "--format", "{{json .}}"])

    def compose_version(self) -> tuple[int, str, str] | None:
        return self.run(["docker", "compose", "version", "--short"])

    def compose_v1_version(self) -> tuple[int, str, str] | None:
        return self.run(["docker-compose", "version", "--short"])

    def volume_mountpoint(self, name: str) -> str | None:
        result = self.run(mountpoint_command(name))
        return result[1].strip() or None if result and result[0] == 0 else None

    def image_exists(self, ref: str) -> bool:
        result = self.run(["docker", "image", "inspect", "--format", "{{.Id}}", ref])
        return bool(result and result[0] == 0)

    def which(self, name: str) -> str | None:
        return shutil.which(name)

    def exists(self, path: str) -> bool:
        return os.path.exists(path)

    def disk(self, path: str) -> tuple[int, int] | None:
        """(free bytes for an unprivileged writer, device id), or None when the path cannot be read here."""
        try:
            st = os.statvfs(path)
            return st.f_bavail * st.f_frsize, os.stat(path).st_dev
        except OSError:
            return None

    def mem_total(self) -> int | None:
        try:
            with open("/proc/meminfo") as f:
                return parse_meminfo(f.read())
        except OSError:
            try:
                return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
            except (ValueError, OSError, AttributeError):
                return None

    def shm_total(self) -> int | None:
        try:
            st = os.statvfs("/dev/shm")
            return st.f_blocks * st.f_frsize
        except OSError:
            return None


def query_gpus(host: Host) -> tuple[list[GpuInfo] | None, str]:
    """(GPUs, source): None when no driver answered, [] when it sees no GPU; source says which, or why not."""
    result = host.nvidia_smi()
    if result is None:
        found = host.nvml()
        return (found, "NVML") if found is not None else (None, "nvidia-smi not found")
    code, out, err = result
    if code != 0:
        message = next((line.strip() for line in (out + "\n" + err).splitlines() if line.strip()), f"exit {code}")
        if "no devices were found" in message.lower():
            return [], "nvidia-smi: no devices were found"
        return None, f"nvidia-smi failed: {message[:200]}"
    try:
        return parse_nvidia_smi(out), "nvidia-smi"
    except ValueError as exc:
        return None, str(exc)


def query_docker(host: Host) -> DockerInfo:
    result = host.docker_info()
    if result is None:
        return DockerInfo(False, error="the docker CLI is not installed")
    code, out, err = result
    info = parse_docker_info(out) if out.strip() else DockerInfo(False, error="")
    if not info.reachable and not info.error.startswith("Cannot") and err.strip():
        info.error = err.strip().splitlines()[-1][:300]
    if not info.reachable and not info.error:
        info.error = f"docker info exited {code}"
    return info


@dataclass
class Context:
    """What every check is handed: the plan, the host (for questions only some checks ask), where the
    spec lives, and the answers that several checks share, asked once."""

    plan: Plan
    host: Host
    spec_dir: Path
    gpus: list[GpuInfo] | None  # None: no driver answered; []: it sees no GPU
    gpu_source: str  # which tool answered, or why none did
    docker: DockerInfo
    mem_total: int | None  # bytes of host RAM, from /proc/meminfo, else what `docker info` reports


def probe(plan: Plan, host: Host, spec_dir: Path) -> Context:
    gpus, source = query_gpus(host)
    docker = query_docker(host)
    return Context(plan, host, spec_dir, gpus, source, docker, host.mem_total() or docker.mem_total)
