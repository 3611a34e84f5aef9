"""The "gpu count" and "gpu model" checks: as many GPUs as hardware.gpus, all one model, with at least
the memory the plan assumed for hardware.gpu; and suggest_gpu, which names the GPU table entry
(builder/facts/gpus.py) for what nvidia-smi reports, for the fix lines.
"""

from __future__ import annotations

from collections import Counter

from ...facts import gpus as gpu_table
from ...plan import Plan
from ..parse import GpuInfo
from ..probe import Context
from ..report import FAIL, PASS, WARN, Check


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


def count(ctx: Context) -> list[Check]:
    return [check_gpu_count(ctx.plan, ctx.gpus, ctx.gpu_source)]


def model(ctx: Context) -> list[Check]:
    return [check_gpu_model(ctx.plan, ctx.gpus)]
