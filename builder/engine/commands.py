"""`modelforge build` (and --push), `resolve` and `start`: the images, built with Docker (or their pins resolved
without it) and pushed; training and serving started one after the other."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from ..commands import Handler, plan_from, render_files
from ..errors import EXIT_FAILED, EXIT_OK


def register(sub, common: argparse.ArgumentParser) -> dict[str, Handler]:
    p = sub.add_parser("build", parents=[common], help="render, then build the images with Docker")
    p.add_argument(
        "images",
        nargs="*",
        choices=["train", "serve", []],
        default=[],
        metavar="IMAGE",
        help="train and/or serve (default: both)",
    )
    p.add_argument("-o", "--out", default=None, help="render/build-context folder (default: the spec's folder)")
    p.add_argument("--force", action="store_true", help="build even when the plan is infeasible")
    p.add_argument(
        "--push",
        action="store_true",
        help="then push them to images.registry (credentials: MF_REGISTRY_USER/MF_REGISTRY_PASSWORD, or docker login)",
    )

    p = sub.add_parser(
        "resolve",
        parents=[common],
        help="prove the images' pinned Python stack installs for their target (no GPU, no base image)",
    )
    p.add_argument("images", nargs="*", default=[], metavar="IMAGE", help="train and/or serve (default: both)")
    p.add_argument("--lock-dir", default=None, help="write the resolved pins there (<image>.txt)")

    p = sub.add_parser(
        "start",
        parents=[common],
        help="start training or serving with compose; refuses while the other one holds the GPUs",
    )
    p.add_argument("service", choices=["train", "serve"], help="train or serve")
    p.add_argument("-o", "--out", default=None, help="the rendered folder (default: the spec's folder)")
    p.add_argument("--force", action="store_true", help="start even while the other one runs")
    return {"build": _build, "resolve": _resolve, "start": _start}


def _start(args: argparse.Namespace) -> int:
    from .lifecycle import start

    plan = plan_from(args)
    out = Path(args.out) if args.out else Path(args.file).resolve().parent
    start(plan, out / "compose" / "docker-compose.yml", args.service, args.force)
    return EXIT_OK


def output_tail(exc: Exception, lines: int) -> str:
    """The last lines a failed docker command printed: where its own error message is."""
    output = getattr(exc, "stderr", None) or getattr(exc, "stdout", None) or ""
    return "\n".join(output.strip().splitlines()[-lines:])


def _build(args: argparse.Namespace) -> int:
    from python_on_whales.exceptions import DockerException

    from .build import IMAGES, build
    from .push import push

    plan = plan_from(args)
    if args.push and not plan.spec.images.registry:
        push(plan, ())  # refuses before a long build, naming images.registry
    args.check = False
    status = render_files(plan, args)
    if status:
        return status
    out = Path(args.out) if args.out else Path(args.file).resolve().parent
    which = tuple(args.images) or IMAGES
    try:
        build(plan, out, Path(args.file).resolve().parent, which)
    except DockerException as exc:
        print(f"error: docker build failed (exit {exc.return_code}):\n{output_tail(exc, 15)}", file=sys.stderr)
        return EXIT_FAILED
    if args.push:
        push(plan, which)
    return EXIT_OK


def _resolve(args: argparse.Namespace) -> int:
    from .resolve import resolve

    plan = plan_from(args)
    status = EXIT_OK
    for which in args.images or ["train", "serve"]:
        print(f"resolving the {which} image's pinned stack for its base image's Python...", flush=True)
        result = resolve(plan, which)
        lock = result.pop("lock", "")
        print(json.dumps(result, indent=2))
        if args.lock_dir and lock:
            path = Path(args.lock_dir) / f"{which}.txt"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                f"# `modelforge resolve` for {result['base']} (Python {result['python']}): {args.file}\n" + lock
            )
            print(f"wrote {path}")
        status |= EXIT_OK if result["ok"] else EXIT_FAILED
    return status
