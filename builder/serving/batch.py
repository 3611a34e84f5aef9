"""`modelforge batch IN.jsonl OUT.jsonl`: many requests through the OpenAI API, a few at a time.

IN holds one JSON object per line: {"query": "...", "system": "..."?} or {"messages": [...]}; other keys are
kept. OUT gets one line per input row: the row, plus "index" (its position among IN's rows, from 0),
"response", "reasoning" (thinking models), "finish_reason", "usage" and "latency_s". Rows that failed
carry "error". Training-format rows work as they are: a final assistant turn (or a "response" key) is
not sent but kept as "labels", as `swift infer` does.

Resumable: each answer is appended to OUT (and flushed) as soon as it arrives, so an interrupted run
loses nothing it was told. A rerun keeps OUT's answered rows whose request is unchanged, drops failed
and half-written lines, asks only the rest, and at the end rewrites OUT in input order.
"""

from __future__ import annotations

import json
import os
import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PlanError
from ..term import Progress
from .client import Endpoint, client, explain

REQUEST_KEYS = ("query", "system", "messages")


def read_input(path: Path) -> list[dict[str, Any]]:
    rows, problems = [], []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise PlanError([f"{path}: {exc.strerror}"]) from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{path}:{number}: not JSON ({exc.msg})")
            continue
        if not isinstance(row, dict):
            problems.append(f"{path}:{number}: a JSON object is needed")
        elif isinstance(row.get("messages"), list) and row["messages"]:
            rows.append(row)
        elif isinstance(row.get("query"), str) and row["query"].strip():
            rows.append(row)
        else:
            problems.append(f'{path}:{number}: needs "query" (a string) or "messages" (a list)')
    if problems:
        more = [f"... and {len(problems) - 10} more"] if len(problems) > 10 else []
        raise PlanError(problems[:10] + more)
    return rows


def messages(row: dict[str, Any], system: str | None) -> list[dict[str, Any]]:
    """What is sent. Training-format rows end with the assistant's answer: that turn is not sent
    (it becomes "labels" in OUT, as `swift infer` does)."""
    if "messages" in row and isinstance(row["messages"], list):
        sent = row["messages"]
        if len(sent) > 1 and isinstance(sent[-1], dict) and sent[-1].get("role") == "assistant":
            sent = sent[:-1]
        return sent
    prompt = row.get("system") or system
    return ([{"role": "system", "content": prompt}] if prompt else []) + [{"role": "user", "content": row["query"]}]


def labels(row: dict[str, Any]) -> Any:
    """The reference answer a row carries: its "response" (query/response rows) or final assistant turn."""
    if "response" in row:
        return row["response"]
    sent = row.get("messages")
    if isinstance(sent, list) and len(sent) > 1 and isinstance(sent[-1], dict) and sent[-1].get("role") == "assistant":
        return sent[-1].get("content")
    return None


def record(index: int, row: dict[str, Any], result: dict[str, Any]) -> dict[str, Any]:
    out = {"index": index, **{k: v for k, v in row.items() if k not in ("index", "response", "labels")}}
    reference = labels(row)
    if reference is not None:
        out["labels"] = reference
    out.update(result)
    return out


def _request(row: dict[str, Any]) -> dict[str, Any]:
    return {key: row.get(key) for key in REQUEST_KEYS}


def read_done(out: Path, rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Answered rows already in OUT whose request still matches IN (index -> output line)."""
    done: dict[int, dict[str, Any]] = {}
    if not out.exists():
        return done
    for line in out.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except json.JSONDecodeError:
            continue  # cut off by the interruption
        if not isinstance(entry, dict) or "error" in entry or "response" not in entry:
            continue
        index = entry.get("index")
        if isinstance(index, int) and 0 <= index < len(rows) and _request(entry) == _request(rows[index]):
            done[index] = entry
    return done


def write_sorted(out: Path, records: dict[int, dict[str, Any]]) -> None:
    tmp = out.with_name(out.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for index in sorted(records):
            handle.write(json.dumps(records[index], ensure_ascii=False) + "\n")
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(tmp, out)


@dataclass
class Settings:
    concurrency: int = 4
    max_tokens: int | None = 256
    temperature: float | None = None
    system: str | None = None
    retries: int = 2
    timeout: float = 600
    limit: int | None = None  # stop after this many new answers (tests; a budget)


def ask(api, ep: Endpoint, row: dict[str, Any], settings: Settings) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"model": ep.model, "messages": messages(row, settings.system)}
    if settings.max_tokens:
        kwargs["max_tokens"] = settings.max_tokens
    if settings.temperature is not None:
        kwargs["temperature"] = settings.temperature
    start = time.monotonic()
    reply = api.chat.completions.create(**kwargs)
    choice = reply.choices[0]
    message = choice.message
    result: dict[str, Any] = {"response": message.content or ""}
    reasoning = getattr(message, "reasoning_content", None) or getattr(message, "reasoning", None)
    if reasoning:
        result["reasoning"] = reasoning
    result["finish_reason"] = choice.finish_reason
    if reply.usage:
        result["usage"] = {
            "prompt_tokens": reply.usage.prompt_tokens,
            "completion_tokens": reply.usage.completion_tokens,
        }
    result["latency_s"] = round(time.monotonic() - start, 3)
    return result


def run(ep: Endpoint, in_path: Path, out_path: Path, settings: Settings, stream=None) -> dict[str, int]:
    """Ask every row of IN not answered in OUT yet. Returns counts; raises KeyboardInterrupt through."""
    rows = read_input(in_path)
    if out_path.resolve() == in_path.resolve():
        raise PlanError(["OUT must differ from IN"])
    out_path.parent.mkdir(parents=True, exist_ok=True)
    done = read_done(out_path, rows)
    write_sorted(out_path, done)  # drop failed and half-written lines before appending
    pending = [i for i in range(len(rows)) if i not in done]
    if settings.limit is not None:
        pending = pending[: settings.limit]
    counts = {"rows": len(rows), "already_done": len(done), "asked": 0, "answered": 0, "failed": 0}
    progress = Progress(len(rows), len(done), label="batch ", stream=stream)
    if done:
        progress.stream.write(f"resuming: {len(done)} of {len(rows)} rows already answered in {out_path}\n")
    progress.draw(force=True)
    api = client(ep, timeout=settings.timeout, retries=settings.retries)
    todo: queue.Queue[int] = queue.Queue()
    results: queue.Queue[tuple[int, dict[str, Any]]] = queue.Queue()
    stop = threading.Event()
    for index in pending:
        todo.put(index)

    def worker() -> None:
        while not stop.is_set():
            try:
                index = todo.get_nowait()
            except queue.Empty:
                return
            try:
                result = ask(api, ep, rows[index], settings)
            except Exception as exc:  # noqa: BLE001 - recorded in OUT; a rerun asks again
                result = {"error": explain(exc, ep)}
            if not stop.is_set():
                results.put((index, result))

    # Daemon threads: on Ctrl-C the process exits without waiting for requests in flight.
    threads = [
        threading.Thread(target=worker, daemon=True) for _ in range(max(1, min(settings.concurrency, len(pending))))
    ]
    for thread in threads:
        thread.start()
    records = dict(done)
    try:
        with out_path.open("a", encoding="utf-8") as handle:
            for _ in pending:
                index, result = results.get()
                line = record(index, rows[index], result)
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
                handle.flush()  # in the kernel's hands now: survives the process being killed
                counts["asked"] += 1
                failed = "error" in result
                counts["failed" if failed else "answered"] += 1
                records[index] = line
                progress.update(0 if failed else 1, 1 if failed else 0)
    finally:
        stop.set()
        progress.close()
        write_sorted(out_path, records)  # input order; also after an interruption
    counts["missing"] = len(rows) - len(done) - counts["answered"]
    return counts
