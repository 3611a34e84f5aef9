"""`modelforge eval`: score the served model (compose service `eval`: EvalScope, docker/evaluate.py), then
print every report of the run side by side: the base model's (evaluated while the server served it: before
training, or with serve.model_source: base) next to each checkpoint's.

Reports live on the checkpoint volume under <output_dir>/eval/<label>/report.json, so an evaluation made on
the cluster (k8s/eval/) is read the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from ..commands import Handler
from ..errors import PlanError, SpecError, usage
from ..plan.commands import lora_base_name, served_name


def register(sub, common: argparse.ArgumentParser) -> dict[str, Handler]:
    p = sub.add_parser(
        "eval",
        parents=[common],
        help="score the served model on eval.dataset / eval.benchmarks (EvalScope) and compare with earlier reports",
        description="Runs the compose service `eval` (builds its image when missing) against the running server "
        "with VLLM_API_KEY, then prints every report of the run: base and checkpoints side by side.",
    )
    p.add_argument(
        "--api", help="another server's OpenAI URL as the eval container sees it (default: the compose serve)"
    )
    p.add_argument(
        "--model",
        help="the served model name to score (default: the spec's served name; with --api, the first it lists)",
    )
    p.add_argument("--label", help="the report's name (default: base, or the served checkpoint's path in the run)")
    p.add_argument("--report-only", action="store_true", help="print the reports already made; evaluate nothing")
    p.add_argument("--all-metrics", action="store_true", help="every metric, not only each benchmark's main score")
    p.add_argument("--json", action="store_true", help="the reports as JSON")
    p.add_argument("--save", metavar="FILE", help="also write the comparison (JSON) to this file")
    p.add_argument("-o", "--out", default=None, help="the rendered folder (default: the spec's folder)")
    return {"eval": _eval}


def _eval(args: argparse.Namespace) -> int:
    from ..load import load_spec

    spec = load_spec(args.file, args.overrides)
    if not args.report_only:
        if not spec.eval.dataset and not spec.eval.benchmarks:
            raise SpecError([usage("nothing to evaluate: set eval.dataset (your rows) or eval.benchmarks in the spec")])
        if not os.environ.get("VLLM_API_KEY"):
            raise SpecError([usage("VLLM_API_KEY is not set: export the key the server was started with")])
        out = Path(args.out) if args.out else Path(args.file).resolve().parent
        models: list[str | None] = [args.model]
        base = lora_base_name(spec)
        if base and not (args.api or args.model or args.label):
            # serve.lora: adapter: one server has both, so both are scored (the base as "base")
            models = [served_name(spec), base]
            print(f"eval: the server holds the adapter ({models[0]}) and the base ({base}): scoring both", flush=True)
        for i, model in enumerate(models):
            code = _run_container(out / "compose" / "docker-compose.yml", args, model, build=i == 0)
            if code != 0:
                print(f"error: the evaluation failed (exit {code}); its output is above", file=sys.stderr)
                return code
    reports = _read_reports(spec, args.file)
    if not reports:
        raise PlanError(["no evaluation reports for this run yet: run `modelforge eval` with the server up"])
    rows = comparison(reports, args.all_metrics)
    if args.save:
        Path(args.save).write_text(json.dumps({"reports": reports, "rows": rows}, indent=1) + "\n")
    if args.json:
        print(json.dumps({"reports": reports, "rows": rows}, indent=1))
    else:
        print(table(reports, rows))
    return 0


def _run_container(compose_file: Path, args: argparse.Namespace, model: str | None, build: bool = True) -> int:
    """One evaluation by the compose service `eval` (its image built first, once per command)."""
    if not compose_file.is_file():
        raise PlanError([f"{compose_file} is missing: run `modelforge render` first"])
    compose = ["docker", "compose", "-f", str(compose_file), "--profile", "eval"]
    env = dict(os.environ)
    env.setdefault("DOCKER_BUILDKIT", "0")  # the classic builder where buildx is missing (as `modelforge build`)
    if args.api:
        env["MF_EVAL_API"] = args.api
        env["MF_EVAL_MODEL"] = ""  # another server: the model it lists first, unless --model names one
    if model:
        env["MF_EVAL_MODEL"] = model
    if args.label:
        env["MF_EVAL_LABEL"] = args.label
    if build:
        print("eval: building the eval image if needed (docker compose build eval)", flush=True)
        if subprocess.run([*compose, "build", "eval"], env=env).returncode != 0:
            raise PlanError(["building the eval image failed: see the output above"])
    print("eval: scoring the served model (EvalScope)", flush=True)
    return subprocess.run([*compose, "run", "--rm", "-T", "eval"], env=env).returncode


def _read_reports(spec, spec_file: str) -> list[dict[str, Any]]:
    from ..runs.source import Target, local, spec_run

    run = spec_run(spec, spec_file)
    target = Target(f"{run.path.rstrip('/')}/eval", volume=run.volume, image=run.image, label=run.label)
    try:
        with local(target) as folder:
            found = []
            for path in sorted(folder.glob("*/report.json")) if folder.is_dir() else []:
                try:
                    found.append(json.loads(path.read_text()))
                except (OSError, json.JSONDecodeError) as exc:
                    print(f"warning: skipping {path}: {exc}", file=sys.stderr)
    except PlanError:
        return []
    # the base first, then the checkpoints in the order they were evaluated
    return sorted(found, key=lambda r: (r.get("label") != "base", r.get("finished", "")))


def comparison(reports: list[dict[str, Any]], all_metrics: bool) -> list[dict[str, Any]]:
    """One row per (dataset, subset, metric) with each report's score by label."""
    rows: dict[tuple[str, str, str], dict[str, Any]] = {}
    for report in reports:
        for r in report.get("rows", []):
            if not all_metrics and not r.get("primary"):
                continue
            key = (r["dataset"], str(r["subset"]), r["metric"])
            row = rows.setdefault(key, {"dataset": key[0], "subset": key[1], "metric": key[2], "scores": {}})
            row["scores"][report["label"]] = {"score": r.get("score"), "samples": r.get("samples")}
    return list(rows.values())


def table(reports: list[dict[str, Any]], rows: list[dict[str, Any]]) -> str:
    labels = [r["label"] for r in reports]
    head = ["dataset/subset", "metric", *labels]
    if len(labels) == 2:
        head.append("change")
    lines = []
    for row in rows:
        scores = [row["scores"].get(label, {}).get("score") for label in labels]
        cells = [f"{row['dataset']}/{row['subset']}", row["metric"], *(_num(s) for s in scores)]
        if len(labels) == 2:
            a, b = scores
            cells.append(f"{b - a:+.4f}" if isinstance(a, (int, float)) and isinstance(b, (int, float)) else "")
        lines.append(cells)
    widths = [max(len(str(c)) for c in col) for col in zip(head, *lines)]
    fmt = "  ".join(f"{{:<{w}}}" for w in widths)
    out = [fmt.format(*head), fmt.format(*("-" * w for w in widths))]
    out += [fmt.format(*cells) for cells in lines]
    for report in reports:
        answers = report.get("answers") or {}
        empty = f", {answers['empty']} empty (scored 0)" if answers.get("empty") else ""
        out.append(
            f"{report['label']}: {report.get('model_root')} as {report.get('served_model')}, "
            f"{report.get('finished')}, {report.get('seconds')} s, {answers.get('total', '?')} answers{empty}"
        )
    return "\n".join(out)


def _num(value: Any) -> str:
    return f"{value:.4f}" if isinstance(value, (int, float)) else "-"
