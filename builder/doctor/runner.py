"""Running the doctor: probe the host once, run every check of the registry (checks/__init__.py) in
order, and print the report as text or JSON; the exit code is 1 on any FAIL.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from ..plan import Plan
from .checks import CHECKS
from .probe import Host, probe
from .report import FAIL, Check, render_json, render_text


def register(sub, common: argparse.ArgumentParser) -> dict:
    """`modelforge doctor` (builder/commands.py)."""
    from ..commands import plan_from

    p = sub.add_parser("doctor", parents=[common], help="check this host against the spec: GPUs, driver, disk, Docker")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    return {"doctor": lambda args: run_doctor(plan_from(args), args)}


def run_checks(plan: Plan, host: Host, spec_dir: Path) -> list[Check]:
    ctx = probe(plan, host, spec_dir)
    return [check for entry in CHECKS for check in entry(ctx)]


def run_doctor(plan: Plan, args: argparse.Namespace, host: Host | None = None) -> int:
    spec_file = Path(args.file)
    checks = run_checks(plan, host or Host(), spec_file.resolve().parent)
    failed = any(c.status == FAIL for c in checks)
    if getattr(args, "json", False):
        print(render_json(checks, spec_file))
    else:
        hw = plan.spec.hardware
        target = f"{hw.gpus} x {hw.gpu}" if hw.gpus else "CPU only"
        print(render_text(checks, f"modelforge doctor: {spec_file} ({target}, deepspeed {plan.train.deepspeed})"))
    return 1 if failed else 0
