#!/usr/bin/env python3
"""`modelforge eval` inside the eval image: score the served model with EvalScope and write a report.

EvalScope (not `swift eval`): `swift eval` runs EvalScope too, but needs the whole training image (torch,
ms-swift); EvalScope alone talks to any OpenAI-compatible server from a small image, on a workstation or
as a Kubernetes Job, and its dataset and metric names are the ones ms-swift's docs use.

What it scores:
  eval.dataset     the user's own rows (any format `modelforge data check` reads: messages, ShareGPT,
                   alpaca, query/response); the last assistant turn is the reference answer, the turns
                   before it the prompt. EvalScope's general_qa benchmark: BLEU and ROUGE against the
                   reference (main score ROUGE-L recall). Offline: only local files.
  eval.benchmarks  named EvalScope benchmarks (gsm8k, mmlu, ...): their data comes from the hub (ModelScope),
                   so they need it reachable (MODELSCOPE_DOMAIN); refused up front when it is not.

Environment (compose and the k8s Job set it; the key comes from the environment or the Secret, never a file):
  MF_EVAL_API         the server's OpenAI base URL (http://serve:8000/v1)
  VLLM_API_KEY        its key
  MF_EVAL_DATASETS    JSON list of data files (container paths)
  MF_EVAL_BENCHMARKS  JSON list of EvalScope benchmark names
  MF_EVAL_LIMIT, MF_EVAL_MAX_TOKENS, MF_EVAL_TEMPERATURE, MF_EVAL_CONCURRENCY
  MF_EVAL_OUT         where reports go: <output_dir>/eval on the checkpoint volume
  MF_EVAL_ROOT        the run folder (<output_dir>): a served model under it is a checkpoint, else the base
  MF_EVAL_LABEL       optional: the report's name (default: base, or the checkpoint's path under the run)
  MF_EVAL_WAIT_S      how long to wait for a server that is still starting (default 600)

Writes MF_EVAL_OUT/<label>/report.json ({label, served_model, model_root, finished, rows: [{dataset, subset,
metric, score, samples}]}) beside EvalScope's own outputs (predictions, reviews, reports), and prints a table.
Exit 0 done, 1 the evaluation failed, 2 bad input (data or settings), 3 the server cannot be reached.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import check  # noqa: E402  (the data checker, copied beside this file: one reading of every format)

GENERAL_QA = "general_qa"


class Refused(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code


def say(text: str) -> None:
    print(f"[eval] {text}", flush=True)


def served_model(
    api: str, key: str, want: str = "", wait_s: float = float(os.environ.get("MF_EVAL_WAIT_S", "600"))
) -> tuple[str, str]:
    """(served name, the path or id vLLM loaded) from /v1/models, waiting while the server starts. `want`: the
    model to score (a server with a LoRA adapter lists the base and the adapter); empty: the first listed."""
    deadline = time.monotonic() + wait_s
    request = urllib.request.Request(f"{api}/models", headers={"Authorization": f"Bearer {key}"})
    while True:
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                data = json.loads(response.read())["data"]
            if not data:
                raise Refused(3, f"{api}/models lists no model")
            found = [m for m in data if m["id"] == want] if want else data[:1]
            if not found:
                names = ", ".join(m["id"] for m in data)
                raise Refused(3, f"{api} serves no model named {want} (it serves {names}): pass --model NAME")
            return found[0]["id"], found[0].get("root") or found[0]["id"]
        except urllib.error.HTTPError as exc:
            if exc.code == 401:
                raise Refused(3, f"{api} refused the API key (401): VLLM_API_KEY must be the server's key") from exc
            problem = f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError) as exc:
            problem = str(getattr(exc, "reason", exc))
        if time.monotonic() > deadline:
            raise Refused(3, f"the server at {api} does not answer ({problem}): start it (make serve) and retry")
        say(f"waiting for {api} ({problem})")
        time.sleep(5)


def hub_endpoint() -> str:
    """Where EvalScope downloads named benchmarks: ModelScope (MODELSCOPE_DOMAIN, as modelscope resolves it)."""
    domain = os.environ.get("MODELSCOPE_DOMAIN", "www.modelscope.cn").rstrip("/")
    return domain if domain.startswith(("http://", "https://")) else f"https://{domain}"


def check_hub(benchmarks: list[str], timeout: float = 5.0) -> None:
    """Named benchmarks need the hub: refuse in seconds when it does not answer, not after EvalScope's
    retries. Any HTTP answer counts as reachable."""
    if not benchmarks:
        return
    endpoint = hub_endpoint()
    try:
        urllib.request.urlopen(urllib.request.Request(endpoint, method="HEAD"), timeout=timeout).close()
    except urllib.error.HTTPError:
        return
    except (urllib.error.URLError, OSError) as exc:
        raise Refused(
            2,
            f"eval.benchmarks ({', '.join(benchmarks)}) download their data from {endpoint}, which does not answer "
            f"here ({getattr(exc, 'reason', exc)}): evaluate eval.dataset offline, or run where the hub answers",
        ) from exc


def label_for(root: str, run_dir: str) -> str:
    """base, or the checkpoint's path under the run folder (v0-20261204-101500/checkpoint-30, .../merged)."""
    run_dir = run_dir.rstrip("/")
    if run_dir and (root == run_dir or root.startswith(run_dir + "/")):
        return root[len(run_dir) :].strip("/") or "run"
    return "base"


def slug(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "model"


def eval_rows(path: str) -> tuple[list[dict], list[str]]:
    """General-QA rows ({messages, answer}) of one file, and its problems as 'file:line: message'."""
    rows: list[dict] = []
    problems: list[str] = []

    def on_issue(severity: str, code: str, line: int | None, col: int | None, message: str) -> None:
        if severity == check.PROBLEM:
            problems.append(f"{path}:{line or 1}: {message}")

    for record in check.read_records(path, on_issue, progress=False):
        where = f"{path}:{record.line}"
        if record.error is not None:
            problems.append(f"{where}: {record.error[1]}")
            continue
        fmt = check.detect_format(record.value) if isinstance(record.value, dict) else None
        if fmt is None:
            problems.append(f"{where}: not a row of a known format ({', '.join(check.FORMAT_NAMES.values())})")
            continue
        issues, _, _ = check.validate_row(record.value, fmt)
        bad = [message for severity, _, message in issues if severity == check.PROBLEM]
        if bad:
            problems.extend(f"{where}: {message}" for message in bad)
            continue
        messages = check.to_messages(record.value, fmt)["messages"]
        if not messages or messages[-1].get("role") != "assistant":
            problems.append(f"{where}: the last turn must be the assistant's: it is the reference answer")
            continue
        prompt = [{"role": m["role"], "content": m["content"]} for m in messages[:-1]]
        rows.append({"messages": prompt, "answer": messages[-1]["content"]})
    if not rows and not problems:
        problems.append(f"{path}: no rows")
    return rows, problems


def prepare_general_qa(files: list[str], work: Path) -> list[str]:
    """Write each file's rows as <work>/general_qa/<subset>.jsonl (EvalScope's local layout); the subsets."""
    folder = work / GENERAL_QA
    folder.mkdir(parents=True, exist_ok=True)
    subsets, problems = [], []
    for path in files:
        if not os.path.isfile(path):
            problems.append(f"{path}: no such file (eval.dataset names files on the data volume)")
            continue
        rows, found = eval_rows(path)
        problems += found
        name = slug(Path(path).stem)
        while name in subsets:
            name += "_"
        (folder / f"{name}.jsonl").write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))
        subsets.append(name)
        say(f"{path}: {len(rows)} rows -> subset {name}")
    if problems:
        raise Refused(2, "eval.dataset has rows that cannot be scored:\n  " + "\n  ".join(problems[:20]))
    return subsets


def metric_name(metric: dict) -> str:
    """bleu-1, rouge-l-recall, acc: EvalScope 1.x names a metric by identity (name + dimensions)."""
    identity = metric.get("identity") or {}
    if not identity:
        return str(metric.get("legacy_name") or metric.get("name"))
    dims = identity.get("dimensions") or {}
    # a fixed order (EvalScope's dicts vary): the variant or n-gram first, the statistic last
    dims = [str(dims[k]) for k in sorted(dims, key=lambda k: (k == "statistic", k))]
    return "-".join([str(identity.get("name")), *dims]).lower()


def report_rows(reports: Path) -> list[dict]:
    """EvalScope's reports/<model>/<dataset>.json, flattened to one row per dataset, subset and metric;
    `primary` marks the benchmark's main score (general_qa: ROUGE-L recall)."""
    rows = []
    for path in sorted(reports.rglob("*.json")):
        doc = json.loads(path.read_text())
        dataset = doc.get("dataset_name") or path.stem
        primary = doc.get("primary_metric_identity")
        for metric in doc.get("metrics", []):
            subsets = [s for c in metric.get("categories", []) for s in c.get("subsets", [])]
            for sub in subsets or [{"name": "all", "score": metric.get("score"), "num": metric.get("num")}]:
                rows.append(
                    {
                        "dataset": dataset,
                        "subset": sub.get("name"),
                        "metric": metric_name(metric),
                        "primary": bool(primary) and metric.get("identity") == primary,
                        "score": sub.get("score"),
                        "samples": sub.get("num"),
                    }
                )
    return rows


def answer_counts(predictions: Path, max_tokens: int) -> dict[str, int]:
    """How many answers came back, how many were empty, and how many of those used all of max_tokens: a
    thinking model that spends them on its reasoning returns no answer (vLLM's reasoning parser keeps the
    reasoning apart). An empty answer scores 0 and says little about the model."""
    total = empty = at_limit = 0
    for path in predictions.rglob("*.jsonl"):
        for line in path.read_text().splitlines():
            output = json.loads(line).get("model_output") or {}
            message = ((output.get("choices") or [{}])[0].get("message")) or {}
            content = message.get("content")
            if not isinstance(content, str):
                content = "".join(p.get("text", "") for p in content or [] if isinstance(p, dict))
            total += 1
            if not content.strip():
                empty += 1
                at_limit += ((output.get("usage") or {}).get("output_tokens") or 0) >= max_tokens
    return {"total": total, "empty": empty, "empty_at_max_tokens": at_limit}


def env_json(name: str) -> list[str]:
    try:
        value = json.loads(os.environ.get(name) or "[]")
    except json.JSONDecodeError as exc:
        raise Refused(2, f"{name} is not a JSON list: {exc}") from exc
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise Refused(2, f"{name} must be a JSON list of strings")
    return value


def main() -> int:
    api = os.environ.get("MF_EVAL_API", "http://serve:8000/v1").rstrip("/")
    key = os.environ.get("VLLM_API_KEY", "")
    files, benchmarks = env_json("MF_EVAL_DATASETS"), env_json("MF_EVAL_BENCHMARKS")
    if not files and not benchmarks:
        raise Refused(2, "nothing to evaluate: set eval.dataset (your own rows) or eval.benchmarks in the spec")
    if not key:
        raise Refused(2, "VLLM_API_KEY is not set: export the server's key (compose passes it through)")
    check_hub(benchmarks)
    served, root = served_model(api, key, os.environ.get("MF_EVAL_MODEL", ""))
    label = os.environ.get("MF_EVAL_LABEL") or label_for(root, os.environ.get("MF_EVAL_ROOT", ""))
    out = Path(os.environ.get("MF_EVAL_OUT", "/tmp/eval")) / slug(label)
    say(f"model {served} ({root}) as '{label}' -> {out}")
    work = out / "data"
    datasets, dataset_args = [], {}
    if files:
        subsets = prepare_general_qa(files, work)
        datasets.append(GENERAL_QA)
        dataset_args[GENERAL_QA] = {"local_path": str(work / GENERAL_QA), "subset_list": subsets}
    datasets += benchmarks

    from evalscope import TaskConfig, run_task  # the heavy import after the cheap checks

    limit = os.environ.get("MF_EVAL_LIMIT")
    config = TaskConfig(
        model=served,
        api_url=api,
        api_key=key,
        eval_type="openai_api",
        datasets=datasets,
        dataset_args=dataset_args,
        generation_config={
            "max_tokens": int(os.environ.get("MF_EVAL_MAX_TOKENS", "1024")),
            "temperature": float(os.environ.get("MF_EVAL_TEMPERATURE", "0")),
        },
        eval_batch_size=int(os.environ.get("MF_EVAL_CONCURRENCY", "8")),
        limit=int(limit) if limit else None,
        work_dir=str(out / "evalscope"),
        no_timestamp=True,
    )
    started = time.monotonic()
    run_task(task_cfg=config)
    rows = report_rows(out / "evalscope" / "reports")
    if not rows:
        raise Refused(1, f"EvalScope wrote no report under {out / 'evalscope' / 'reports'}")
    answers = answer_counts(out / "evalscope" / "predictions", int(os.environ.get("MF_EVAL_MAX_TOKENS", "1024")))
    report: dict[str, object] = {
        "label": label,
        "served_model": served,
        "model_root": root,
        "api": api,
        "datasets": datasets,
        "files": files,
        "generation": config.generation_config.model_dump(exclude_none=True)
        if hasattr(config.generation_config, "model_dump")
        else dict(config.generation_config),
        "seconds": round(time.monotonic() - started, 1),
        "answers": answers,
        "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "rows": rows,
    }
    (out / "report.json").write_text(json.dumps(report, indent=1) + "\n")
    say(f"report: {out / 'report.json'}")
    if answers["empty_at_max_tokens"]:
        say(
            f"warning: {answers['empty_at_max_tokens']} of {answers['total']} answers are empty after all "
            f"{os.environ.get('MF_EVAL_MAX_TOKENS', '1024')} tokens: a thinking model spent eval.max_tokens "
            "reasoning (they score 0); raise it"
        )
    if answers["empty"] > answers["empty_at_max_tokens"]:
        say(f"note: {answers['empty'] - answers['empty_at_max_tokens']} answers were empty: the model stopped at once")
    for row in rows:
        score = row["score"]
        shown = f"{score:.4f}" if isinstance(score, (int, float)) else str(score)
        main_score = "  <- main score" if row["primary"] else ""
        say(f"  {row['dataset']}/{row['subset']}  {row['metric']:<18} {shown}  (n={row['samples']}){main_score}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Refused as exc:
        print(f"[eval] error: {exc}", file=sys.stderr, flush=True)
        sys.exit(exc.code)
