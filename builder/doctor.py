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
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
from collections import Counter
from dataclasses import asdict, dataclass
from pathlib import Path

from .facts import gpus as gpu_table
from .plan import Plan

PASS, WARN, FAIL = "PASS", "WARN", "FAIL"
GIB = 1024**3
NVIDIA_SMI_QUERY = ["nvidia-smi", "--query-gpu=name,memory.total,driver_version", "--format=csv,noheader,nounits"]

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
SHM_FAIL_GIB, SHM_WARN_GIB = 1.0, 8.0
DISK_MARGIN = 1.1  # WARN when free space is within 10% of the need


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # PASS / WARN / FAIL
    detail: str
    fix: str = ""


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


# ---------------------------------------------------------------------------------------------
# Parsing (pure)
# ---------------------------------------------------------------------------------------------


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


def _fmt_cuda(cuda: tuple[int, int] | None) -> str:
    return f"{cuda[0]}.{cuda[1]}" if cuda else "?"


def _gpu_matches(spec_gpu: str, smi_name: str) -> bool:
    """'H100-80GB' matches 'NVIDIA H100 80GB HBM3'; 'RTX4090' matches 'NVIDIA GeForce RTX 4090'."""
    flat = smi_name.upper().replace(" ", "").replace("-", "").replace("_", "")
    return all(token in flat for token in spec_gpu.upper().replace("_", "-").split("-") if token)


def suggest_gpu(smi_name: str) -> str | None:
    """The GPU table entry (facts/gpus.py) that names this nvidia-smi name, longest name first."""
    for name in sorted(gpu_table.GPUS, key=len, reverse=True):
        if name != "CPU" and _gpu_matches(name, smi_name):
            return name
    return None


# ---------------------------------------------------------------------------------------------
# The live machine
# ---------------------------------------------------------------------------------------------


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
        result = self.run(["docker", "volume", "inspect", "--format", "{{.Mountpoint}}", name])
        return result[1].strip() or None if result and result[0] == 0 else None

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


# ---------------------------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------------------------


def check_plan(plan: Plan) -> Check:
    mem = plan.train.memory
    if plan.feasible:
        detail = f"feasible: deepspeed {plan.train.deepspeed}"
        if mem and plan.spec.hardware.gpus:
            detail += f", {mem.gpu_peak_gib:.1f} of {plan.gpu_memory_gib:.0f} GiB per GPU"
        return Check("plan", PASS, detail)
    more = f" (and {len(plan.errors) - 1} more)" if len(plan.errors) > 1 else ""
    return Check("plan", FAIL, plan.errors[0] + more, "see `modelforge plan` and change the spec until it is feasible")


def check_gpu_count(plan: Plan, gpus: list[GpuInfo] | None, source: str) -> Check:
    hw = plan.spec.hardware
    found = len(gpus or [])
    if hw.gpus == 0:
        return Check("gpu count", PASS, f"not needed (hardware.gpus: 0, a CPU run); {found} found")
    why = f" ({source})" if not gpus else ""
    if found < hw.gpus:
        lower = "--set hardware.gpus=0 for a CPU smoke run" if found == 0 else f"lower hardware.gpus to {found}"
        return Check(
            "gpu count",
            FAIL,
            f"{found} GPU{'s' * (found != 1)} found{why}, the spec needs {hw.gpus} x {hw.gpu}",
            f"run on a host with {hw.gpus} GPUs and a working NVIDIA driver, or {lower} (then make render)",
        )
    models = ", ".join(f"{n} x {name}" for name, n in Counter(g.name for g in gpus or []).items())
    extra = f"; the plan uses {hw.gpus}" if found > hw.gpus else ""
    return Check("gpu count", PASS, f"{models} (hardware.gpus: {hw.gpus}){extra}")


def check_gpu_model(plan: Plan, gpus: list[GpuInfo] | None) -> Check:
    hw = plan.spec.hardware
    if hw.gpus == 0:
        return Check("gpu model", PASS, "not needed (hardware.gpus: 0)")
    if not gpus:
        return Check("gpu model", WARN, "not checked: no GPU found", "see gpu count")
    names = Counter(g.name for g in gpus)
    if len(names) > 1:
        listed = ", ".join(f"{n} x {name}" for name, n in names.items())
        return Check(
            "gpu model",
            WARN,
            f"mixed GPU models: {listed}",
            "the plan assumes one model: expose identical GPUs (CUDA_VISIBLE_DEVICES / NVIDIA_VISIBLE_DEVICES)",
        )
    name = gpus[0].name
    sizes = [g.memory_mib for g in gpus if g.memory_mib]
    if not sizes:
        return Check(
            "gpu model", WARN, f"{name}: nvidia-smi reports no memory size", "check the GPUs by hand (nvidia-smi -q)"
        )
    have = min(sizes) / 1024
    planned = plan.gpu_memory_gib
    mem = plan.train.memory
    peak = mem.gpu_peak_gib if mem else None
    suggestion = suggest_gpu(name)
    set_it = f"--set hardware.gpu={suggestion}" if suggestion else "set hardware.gpu to this GPU"
    if have < planned * 0.98:
        if peak and peak > have * 0.9:
            return Check(
                "gpu model",
                FAIL,
                f"{name} has {have:.1f} GiB, the plan needs {peak:.1f} GiB per GPU "
                f"(it assumed {hw.gpu}, {planned:.1f} GiB)",
                f"{set_it} and re-plan (`modelforge plan`): it picks a DeepSpeed stage that fits, or says what to change",
            )
        return Check(
            "gpu model",
            WARN,
            f"{name} has {have:.1f} GiB, the plan assumed {hw.gpu} with {planned:.1f} GiB",
            f"{set_it} so the plan's memory figures are this machine's",
        )
    if not _gpu_matches(hw.gpu, name):
        return Check(
            "gpu model",
            WARN,
            f"found {name} ({have:.1f} GiB), the spec says {hw.gpu}",
            f"{set_it} so the plan matches the hardware",
        )
    fit = f"; the plan's peak is {peak:.1f} GiB" if peak else ""
    return Check("gpu model", PASS, f"{name}, {have:.1f} GiB each (hardware.gpu: {hw.gpu}, {planned:.1f} GiB){fit}")


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


def _locate_volume(plan: Plan, key: str, host: Host, docker: DockerInfo, spec_dir: Path) -> tuple[str, str]:
    """(path to measure, how it was found) for a volume as docker compose would place it."""
    spec = plan.spec
    vol = getattr(spec.volumes, key)
    if vol.host_path:
        path = Path(vol.host_path) if os.path.isabs(vol.host_path) else (spec_dir / "compose" / vol.host_path).resolve()
        while not host.exists(str(path)) and path != path.parent:
            path = path.parent
        return str(path), f"bind mount {vol.host_path}"
    volume = f"{spec.name}-{key.replace('_', '-')}"
    if docker.reachable:
        mountpoint = host.volume_mountpoint(volume)
        if mountpoint and host.disk(mountpoint):
            return mountpoint, f"docker volume {volume}"
        if docker.root_dir and host.disk(docker.root_dir):
            state = "not visible here" if mountpoint else "not created yet"
            return docker.root_dir, f"docker root dir; volume {volume} {state}"
    return "/", f"docker volume {volume} " + (
        "not visible here" if docker.reachable else "unknown: the engine did not answer"
    )


def check_disks(plan: Plan, host: Host, docker: DockerInfo, spec_dir: Path) -> list[Check]:
    spec, model = plan.spec, plan.model
    t = spec.train
    needs: dict[str, tuple[float | None, str]] = {
        "model_cache": (
            (model.total_params * 2 / GIB, f"bf16 weights of {model.total_params / 1e9:.1f}B parameters")
            if model
            else (None, "")
        ),
        "checkpoints": (
            (
                plan.train.checkpoint_gib * (t.save_total_limit + 1),
                f"{t.save_total_limit}+1 checkpoints x {plan.train.checkpoint_gib:.0f} GiB",
            )
            if plan.train.checkpoint_gib
            else (None, "")
        ),
    }
    where = {key: _locate_volume(plan, key, host, docker, spec_dir) for key in needs}
    measured = {key: host.disk(path) for key, (path, _) in where.items()}
    checks = []
    for key, (need, why) in needs.items():
        path, how = where[key]
        name = f"disk {key}"
        found = measured[key]
        if found is None:
            checks.append(
                Check(name, WARN, f"cannot measure free space at {path} ({how})", f"check by hand: df -h {path}")
            )
            continue
        free, device = found
        free_gib = free / GIB
        if need is None:
            checks.append(
                Check(
                    name,
                    WARN,
                    f"{free_gib:.0f} GiB free at {path} ({how}); the need is unknown (model not in the catalog)",
                    "set model.config_path so the plan knows the model's size",
                )
            )
            continue
        # Volumes on one disk add up: each counts the ones filled before it (the model is downloaded first).
        earlier = list(needs)[: list(needs).index(key)]
        sharing = [other for other in earlier if (measured[other] or (0, None))[1] == device and needs[other][0]]
        total = need + sum(needs[other][0] or 0 for other in sharing)
        shared = f"; {total:.0f} GiB with {', '.join(sharing)} on the same disk" if sharing else ""
        detail = f"{free_gib:.0f} GiB free at {path} ({how}), the plan needs {need:.0f} GiB ({why}){shared}"
        if free_gib < total:
            checks.append(
                Check(
                    name,
                    FAIL,
                    detail,
                    f"free {total - free_gib:.0f} GiB there, or set volumes.{key}.host_path to a disk with "
                    f"{total:.0f} GiB free" + (" (or lower train.save_total_limit)" if key == "checkpoints" else ""),
                )
            )
        elif free_gib < total * DISK_MARGIN:
            checks.append(
                Check(
                    name,
                    WARN,
                    detail + ": less than 10% to spare",
                    f"free some space, or set volumes.{key}.host_path to a larger disk",
                )
            )
        else:
            checks.append(Check(name, PASS, detail))
    sizes = []
    small = []
    for key, (need, _) in needs.items():
        size = parse_quantity(getattr(spec.volumes, key).size)
        if need is None or size is None:
            continue
        sizes.append(f"{key} {getattr(spec.volumes, key).size} >= {need:.0f} GiB")
        if size < need:
            small.append((key, need))
    if small:
        key, need = small[0]
        checks.append(
            Check(
                "volume sizes",
                WARN,
                f"volumes.{key}.size {getattr(spec.volumes, key).size} is below the "
                f"plan's {need:.0f} GiB (the k8s PersistentVolumeClaim)",
                f"--set volumes.{key}.size={int(need * DISK_MARGIN) + 1}Gi (then make render)",
            )
        )
    elif sizes:
        checks.append(Check("volume sizes", PASS, ", ".join(sizes) + " (k8s claims)"))
    return checks


def check_ram(plan: Plan, total: int | None) -> Check:
    hw = plan.spec.hardware
    if total is None:
        return Check("host RAM", WARN, "cannot read the host's memory size", "check by hand: free -g")
    have = total / GIB
    mem = plan.train.memory
    if mem is None:
        return Check(
            "host RAM",
            WARN,
            f"{have:.0f} GiB here; not compared: the plan has no estimate (model not in the catalog)",
            "set model.config_path so the plan can estimate host memory",
        )
    need, stage = mem.host_gib, plan.train.deepspeed
    if need > have * 0.9:
        return Check(
            "host RAM",
            FAIL,
            f"deepspeed {stage} needs ~{need:.0f} GiB of host RAM, this host has {have:.0f} GiB",
            f"--set hardware.host_memory_gib={int(have)} and re-plan (it avoids offload that does not fit), "
            "or use a host with more RAM",
        )
    if hw.host_memory_gib and hw.host_memory_gib > have * 1.05:
        return Check(
            "host RAM",
            WARN,
            f"hardware.host_memory_gib is {hw.host_memory_gib:.0f} but this host has {have:.0f} GiB",
            f"--set hardware.host_memory_gib={int(have)} and re-plan",
        )
    if need > have * 0.75:
        return Check(
            "host RAM",
            WARN,
            f"deepspeed {stage} needs ~{need:.0f} of {have:.0f} GiB: little left for the page cache and data loaders",
            "use a host with more RAM, or a stage without offload",
        )
    return Check("host RAM", PASS, f"{have:.0f} GiB here, deepspeed {stage} needs ~{need:.0f} GiB")


def check_shm(plan: Plan, total: int | None) -> Check:
    if total is None:
        return Check(
            "/dev/shm",
            WARN,
            "no /dev/shm here",
            "the containers use the host's /dev/shm (ipc: host): check the GPU host",
        )
    have = total / GIB
    fix = "sudo mount -o remount,size=32G /dev/shm (the containers share it: ipc: host)"
    if plan.spec.hardware.gpus and have < SHM_FAIL_GIB:
        return Check("/dev/shm", FAIL, f"{have:.2f} GiB: NCCL and the data loaders need more", fix)
    if plan.spec.hardware.gpus and have < SHM_WARN_GIB:
        return Check(
            "/dev/shm",
            WARN,
            f"{have:.1f} GiB: tight for NCCL and {plan.spec.train.dataloader_num_workers} data-loader workers per GPU",
            fix,
        )
    return Check("/dev/shm", PASS, f"{have:.1f} GiB")


def check_docker(docker: DockerInfo) -> Check:
    if docker.reachable:
        return Check("docker engine", PASS, f"Docker {docker.server_version} answers (root {docker.root_dir or '?'})")
    error = docker.error
    if "not installed" in error:
        fix = "install Docker Engine (https://docs.docker.com/engine/install/)"
    elif "permission denied" in error.lower():
        fix = "add yourself to the docker group (sudo usermod -aG docker $USER, then log in again)"
    else:
        fix = "start the engine (sudo systemctl start docker), or check DOCKER_HOST / the docker context"
    return Check("docker engine", FAIL, f"not reachable: {error}", fix)


def check_nvidia_runtime(plan: Plan, docker: DockerInfo, host: Host) -> Check:
    if plan.spec.hardware.gpus == 0:
        return Check("nvidia runtime", PASS, "not needed (hardware.gpus: 0)")
    if "nvidia" in docker.runtimes:
        default = " (the default)" if docker.default_runtime == "nvidia" else ""
        return Check("nvidia runtime", PASS, f"'nvidia' runtime registered with Docker{default}")
    hook = next((b for b in ("nvidia-container-runtime-hook", "nvidia-container-runtime") if host.which(b)), None)
    if hook:
        return Check(
            "nvidia runtime",
            PASS,
            f"NVIDIA Container Toolkit found ({host.which(hook)}); compose's GPU reservations go through it",
        )
    cdi_dirs = docker.cdi_dirs or ("/etc/cdi", "/var/run/cdi")
    cdi = next((os.path.join(d, "nvidia.yaml") for d in cdi_dirs if host.exists(os.path.join(d, "nvidia.yaml"))), None)
    if cdi:
        return Check("nvidia runtime", PASS, f"NVIDIA CDI spec {cdi}")
    seen = f"runtimes: {', '.join(docker.runtimes)}" if docker.reachable else "docker info unavailable"
    return Check(
        "nvidia runtime",
        FAIL,
        f"NVIDIA Container Toolkit not found ({seen}; no nvidia-container-runtime-hook)",
        "install nvidia-container-toolkit, then: sudo nvidia-ctk runtime configure --runtime=docker "
        "&& sudo systemctl restart docker",
    )


def check_compose(host: Host) -> Check:
    fix = "install Compose v2 (the docker-compose-plugin package), or `make setup` links the venv's as a docker CLI plugin"
    result = host.compose_version()
    if result and result[0] == 0:
        version = parse_version(result[1])
        if version and version[0] >= 2:
            return Check("compose", PASS, f"docker compose {'.'.join(map(str, version))}")
        return Check(
            "compose", FAIL, f"docker compose reports {result[1].strip() or 'no version'}: not Compose v2", fix
        )
    v1 = host.compose_v1_version()
    if v1 and v1[0] == 0:
        version = parse_version(v1[1])
        if version and version[0] >= 2:  # a v2 standalone binary, not a CLI plugin
            return Check(
                "compose",
                WARN,
                f"docker-compose {'.'.join(map(str, version))} (standalone), but `docker compose` fails",
                "link it as a CLI plugin: ln -s $(command -v docker-compose) ~/.docker/cli-plugins/docker-compose",
            )
        return Check(
            "compose",
            FAIL,
            f"only docker-compose {v1[1].strip()} (v1); compose/ and make need `docker compose` v2",
            fix,
        )
    reason = (result[2].strip().splitlines() or ["failed"])[0] if result else "the docker CLI is not installed"
    return Check("compose", FAIL, f"`docker compose` not available: {reason[:200]}", fix)


def run_checks(plan: Plan, host: Host, spec_dir: Path) -> list[Check]:
    gpus, source = query_gpus(host)
    docker = query_docker(host)
    mem_total = host.mem_total() or docker.mem_total
    return [
        check_plan(plan),
        check_gpu_count(plan, gpus, source),
        check_gpu_model(plan, gpus),
        check_driver(plan, gpus, source, "train"),
        check_driver(plan, gpus, source, "serve"),
        check_docker(docker),
        check_nvidia_runtime(plan, docker, host),
        check_compose(host),
        *check_disks(plan, host, docker, spec_dir),
        check_ram(plan, mem_total),
        check_shm(plan, host.shm_total()),
    ]


def render_text(checks: list[Check], title: str) -> str:
    lines = [title]
    width = max(len(c.name) for c in checks) + 2
    for c in checks:
        lines.append(f"{c.status}  {c.name:<{width}}{c.detail}")
        if c.fix and c.status != PASS:
            lines.append(f"{'':6}{'':<{width}}fix: {c.fix}")
    counts = Counter(c.status for c in checks)
    summary = ", ".join(f"{counts[s]} {s}" for s in (FAIL, WARN, PASS) if counts[s])
    verdict = "fix the FAIL lines before `make train`" if counts[FAIL] else "ready"
    lines.append(f"{summary}: {verdict}")
    return "\n".join(lines)


def run_doctor(plan: Plan, args: argparse.Namespace, host: Host | None = None) -> int:
    spec_file = Path(args.file)
    checks = run_checks(plan, host or Host(), spec_file.resolve().parent)
    failed = any(c.status == FAIL for c in checks)
    if getattr(args, "json", False):
        counts = Counter(c.status for c in checks)
        print(
            json.dumps(
                {
                    "spec": str(spec_file),
                    "ok": not failed,
                    "summary": {s: counts[s] for s in (PASS, WARN, FAIL)},
                    "checks": [asdict(c) for c in checks],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
    else:
        hw = plan.spec.hardware
        target = f"{hw.gpus} x {hw.gpu}" if hw.gpus else "CPU only"
        print(render_text(checks, f"modelforge doctor: {spec_file} ({target}, deepspeed {plan.train.deepspeed})"))
    return 1 if failed else 0
