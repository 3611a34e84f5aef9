"""The "host RAM" and "/dev/shm" checks: host memory against the plan's DeepSpeed host-memory estimate
(offload needs it) and hardware.host_memory_gib, and the shared memory that NCCL and the data loaders
use (the containers share the host's: ipc: host).
"""

from __future__ import annotations

from ...plan import Plan
from ..parse import GIB
from ..probe import Context
from ..report import FAIL, PASS, WARN, Check

SHM_FAIL_GIB, SHM_WARN_GIB = 1.0, 8.0


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


def ram(ctx: Context) -> list[Check]:
    return [check_ram(ctx.plan, ctx.mem_total)]


def shm(ctx: Context) -> list[Check]:
    return [check_shm(ctx.plan, ctx.host.shm_total())]
