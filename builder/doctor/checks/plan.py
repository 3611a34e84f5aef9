"""The "plan" check: is the spec's plan feasible at all (the planner's own errors), before any of the
host is looked at.
"""

from __future__ import annotations

from ...plan import Plan
from ..probe import Context
from ..report import FAIL, PASS, Check


def check_plan(plan: Plan) -> Check:
    mem = plan.train.memory
    if plan.feasible:
        detail = f"feasible: deepspeed {plan.train.deepspeed}"
        if mem and plan.spec.hardware.gpus:
            detail += f", {mem.gpu_peak_gib:.1f} of {plan.gpu_memory_gib:.0f} GiB per GPU"
        return Check("plan", PASS, detail)
    more = f" (and {len(plan.errors) - 1} more)" if len(plan.errors) > 1 else ""
    return Check("plan", FAIL, plan.errors[0] + more, "see `modelforge plan` and change the spec until it is feasible")


def feasible(ctx: Context) -> list[Check]:
    return [check_plan(ctx.plan)]
