#!/usr/bin/env python3
"""Check training data before a run: `python3 check.py PATH... [--strict] [--json]`.

Standard library only, and self-contained on purpose: the training image copies this one
file to /usr/local/lib/modelforge/check.py and its entrypoint runs it on the mounted data
(`--from-command swift sft ...` picks the --dataset values out of the training command).
On the host it is `modelforge data check`, which imports it as builder.data.check.

Rows are messages (role/content), ShareGPT (conversations with from/value), alpaca
(instruction/input/output) or query/response; the format is detected per row and
reported per file. Files are JSONL (read line by line in binary: constant memory at any
size; a line over 128 MiB is reported, never held whole), a JSON list (parsed whole, up to
512 MiB) or folders of them. Hub names (org/name[:subset][#N], with an optional hf:: or ms::
prefix) are checked for syntax, and on the hub when it answers within a few seconds.

Exit codes: 0 clean; 1 a problem (with --strict, a warning too); 2 bad usage (a missing path).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

PROBLEM, WARNING, NOTE = "problem", "warning", "note"

# ---------------------------------------------------------------------------------------------
# Formats: detection, row validation, conversion to messages
# ---------------------------------------------------------------------------------------------

FORMATS = ("messages", "sharegpt", "alpaca", "query_response")
FORMAT_NAMES = {"messages": "messages", "sharegpt": "ShareGPT", "alpaca": "alpaca", "query_response": "query/response"}
# ms-swift's standard roles; tool_call/tool_response are its agent format (tool = tool_response).
ROLES = ("system", "user", "assistant", "tool", "tool_call", "tool_response")
ROLE_ALIASES = {"human": "user", "gpt": "assistant", "bot": "assistant"}  # ms-swift maps these, with a warning here
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "bot": "assistant",
    "tool": "tool",
}
MODEL_ROLES = ("assistant", "tool_call")  # turns the model learns to write
CONSUMED = {  # top-level keys a format turns into messages; every other key is carried over as is
    "sharegpt": ("conversations", "system"),
    "alpaca": ("instruction", "input", "output", "system", "history"),
    "query_response": ("query", "response", "system", "history"),
}

Issue = tuple  # (severity, code, message)


def detect_format(row: dict) -> str | None:
    """The format of one row (a JSON object), from its keys; None when it is none of the four."""
    if "messages" in row:
        return "messages"
    if "conversations" in row:
        return "sharegpt"
    if "instruction" in row or ("input" in row and "output" in row):
        return "alpaca"
    if "query" in row or "response" in row:
        return "query_response"
    return None


def _type(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _text(value: Any) -> tuple[str | None, bool]:
    """(text, has_media) of a content value: a string, or OpenAI-style parts; (None, False) otherwise."""
    if isinstance(value, str):
        return value, False
    if isinstance(value, list) and all(isinstance(part, (dict, str)) for part in value):
        texts, media = [], False
        for part in value:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                media = True
        return "".join(texts), media
    return None, False


def _content(
    value: Any, present: bool, where: str, role: str | None, issues: list[Issue], tool_calls: bool = False
) -> int:
    """Validate one content value; return its length in characters."""
    if not present:
        issues.append((PROBLEM, "missing_key", f"{where}: missing"))
        return 0
    severity = WARNING if role == "system" else PROBLEM
    if value is None:
        if not tool_calls:
            issues.append((severity, "empty_content", f"{where}: null"))
        return 0
    text, media = _text(value)
    if text is None:
        issues.append((PROBLEM, "bad_type", f"{where}: expected a string, got {_type(value)}"))
        return 0
    if not text.strip() and not media and not tool_calls:
        issues.append((severity, "empty_content", f"{where}: empty"))
    return len(text)


def _turn_list(row: dict, key: str, issues: list[Issue]) -> list | None:
    value = row.get(key)
    if isinstance(value, list):
        if not value:
            issues.append((PROBLEM, "empty_content", f"{key}: empty list"))
            return None
        return value
    issues.append((PROBLEM, "bad_type", f"{key}: expected a list of turns, got {_type(value)}"))
    return None


def _messages_turns(row: dict, issues: list[Issue]) -> list[tuple[str | None, str, int]]:
    msgs = _turn_list(row, "messages", issues)
    turns: list[tuple[str | None, str, int]] = []
    for i, msg in enumerate(msgs or []):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            issues.append((PROBLEM, "bad_type", f"{where}: expected an object with role and content, got {_type(msg)}"))
            turns.append((None, where, 0))
            continue
        role, mapped = msg.get("role"), None
        if "role" not in msg:
            issues.append((PROBLEM, "missing_key", f"{where}.role: missing"))
        elif not isinstance(role, str):
            issues.append((PROBLEM, "bad_type", f"{where}.role: expected a string, got {_type(role)}"))
        elif role in ROLES:
            mapped = role
        elif role in ROLE_ALIASES:
            mapped = ROLE_ALIASES[role]
            issues.append(
                (
                    WARNING,
                    "role_alias",
                    f"{where}.role: {role!r} is not a standard role; ms-swift reads it "
                    f"as {mapped!r} (`modelforge data convert` rewrites it)",
                )
            )
        else:
            issues.append(
                (PROBLEM, "unknown_role", f"{where}.role: unknown role {role!r} (allowed: {', '.join(ROLES)})")
            )
        chars = _content(
            msg.get("content"),
            "content" in msg,
            f"{where}.content",
            mapped,
            issues,
            tool_calls=bool(msg.get("tool_calls")),
        )
        turns.append((mapped, where, chars))
    return turns


def _sharegpt_turns(row: dict, issues: list[Issue]) -> list[tuple[str | None, str, int]]:
    turns: list[tuple[str | None, str, int]] = []
    system = row.get("system")
    if system is not None:
        if not isinstance(system, str):
            issues.append((PROBLEM, "bad_type", f"system: expected a string, got {_type(system)}"))
        elif system.strip():
            turns.append(("system", "system", len(system)))
    conv = _turn_list(row, "conversations", issues)
    for i, msg in enumerate(conv or []):
        where = f"conversations[{i}]"
        if not isinstance(msg, dict):
            issues.append((PROBLEM, "bad_type", f"{where}: expected an object with from and value, got {_type(msg)}"))
            turns.append((None, where, 0))
            continue
        frm, mapped = msg.get("from"), None
        if "from" not in msg:
            issues.append((PROBLEM, "missing_key", f"{where}.from: missing"))
        elif not isinstance(frm, str):
            issues.append((PROBLEM, "bad_type", f"{where}.from: expected a string, got {_type(frm)}"))
        elif frm in SHAREGPT_ROLES:
            mapped = SHAREGPT_ROLES[frm]
        else:
            issues.append(
                (PROBLEM, "unknown_role", f"{where}.from: unknown role {frm!r} (allowed: {', '.join(SHAREGPT_ROLES)})")
            )
        chars = _content(msg.get("value"), "value" in msg, f"{where}.value", mapped, issues)
        turns.append((mapped, where, chars))
    return turns


def _pair_turns(row: dict, fmt: str, issues: list[Issue]) -> list[tuple[str | None, str, int]]:
    turns: list[tuple[str | None, str, int]] = []
    system = row.get("system")
    if system is not None:
        if not isinstance(system, str):
            issues.append((PROBLEM, "bad_type", f"system: expected a string, got {_type(system)}"))
        elif system.strip():
            turns.append(("system", "system", len(system)))
    history = row.get("history")
    if history not in (None, []):
        if not isinstance(history, list):
            issues.append(
                (PROBLEM, "bad_type", f"history: expected a list of [query, response] pairs, got {_type(history)}")
            )
        else:
            for i, pair in enumerate(history):
                if not (isinstance(pair, list) and len(pair) == 2):
                    issues.append((PROBLEM, "bad_type", f"history[{i}]: expected a [query, response] pair"))
                    continue
                turns.append(("user", f"history[{i}]", _content(pair[0], True, f"history[{i}][0]", "user", issues)))
                turns.append(
                    ("assistant", f"history[{i}]", _content(pair[1], True, f"history[{i}][1]", "assistant", issues))
                )
    if fmt == "alpaca":
        instruction, input_ = row.get("instruction"), row.get("input")
        ok = True
        for key, value in (("instruction", instruction), ("input", input_)):
            if value is not None and not isinstance(value, str):
                issues.append((PROBLEM, "bad_type", f"{key}: expected a string, got {_type(value)}"))
                ok = False
        if ok:
            query = (instruction or "") + (input_ or "")
            if not query.strip():
                state = (
                    "null"
                    if instruction is None and "instruction" in row
                    else "empty"
                    if "instruction" in row
                    else "missing"
                )
                issues.append(
                    (
                        PROBLEM,
                        "missing_key" if state == "missing" else "empty_content",
                        f"instruction: {state}" + ("" if input_ is None else " (and input is empty)"),
                    )
                )
            turns.append(("user", "instruction", len(query)))
        turns.append(
            ("assistant", "output", _content(row.get("output"), "output" in row, "output", "assistant", issues))
        )
    else:
        turns.append(("user", "query", _content(row.get("query"), "query" in row, "query", "user", issues)))
        response = row.get("response")
        if isinstance(response, list) and response and all(isinstance(r, str) for r in response):
            issues.append(
                (WARNING, "response_list", "response: a list; ms-swift trains on one of them, picked at random")
            )
            chars = max(len(r) for r in response)
        else:
            chars = _content(response, "response" in row, "response", "assistant", issues)
        turns.append(("assistant", "response", chars))
    return turns


def validate_row(row: dict, fmt: str) -> tuple[list[Issue], int, int]:
    """(issues, turns, characters) of one row of a known format. Issues are (severity, code, message)."""
    issues: list[Issue] = []
    if fmt == "messages":
        turns, label = _messages_turns(row, issues), "messages"
    elif fmt == "sharegpt":
        turns, label = _sharegpt_turns(row, issues), "conversations"
    else:
        turns, label = _pair_turns(row, fmt, issues), ""
    roles = [role for role, _, _ in turns]
    for i, (role, where, _) in enumerate(turns):
        if role == "system" and i > 0:
            issues.append((PROBLEM, "system_not_first", f"{where}: system message not first"))
    if label and turns and None not in roles:
        if not any(role in MODEL_ROLES for role in roles):
            issues.append((PROBLEM, "no_assistant", f"{label}: no assistant turn, nothing to train on"))
        elif roles[-1] == "user":
            issues.append(
                (WARNING, "ends_with_user", f"{turns[-1][1]}: the last turn is the user's; it is not trained on")
            )
    return issues, sum(1 for role in roles if role != "system"), sum(chars for _, _, chars in turns)


def to_messages(row: dict, fmt: str) -> dict:
    """The row in ms-swift's messages format: same meaning, other keys (id, images, tools, ...) kept.

    Validate first (validate_row): this assumes the row has no problems. Alpaca joins
    instruction and input with a newline, as ms-swift's AlpacaPreprocessor does.
    """
    if fmt == "messages":
        renamed = [
            dict(m, role=ROLE_ALIASES.get(m["role"], m["role"])) if m.get("role") in ROLE_ALIASES else m
            for m in row["messages"]
        ]
        return {**row, "messages": renamed}
    extras = {key: value for key, value in row.items() if key not in CONSUMED[fmt]}
    msgs: list[dict] = []
    system = row.get("system")
    if isinstance(system, str) and system.strip():
        msgs.append({"role": "system", "content": system})
    if fmt == "sharegpt":
        for m in row["conversations"]:
            rest = {key: value for key, value in m.items() if key not in ("from", "value")}
            msgs.append({"role": SHAREGPT_ROLES[m["from"]], "content": m["value"], **rest})
        return {"messages": msgs, **extras}
    for query, response in row.get("history") or []:
        msgs += [{"role": "user", "content": query}, {"role": "assistant", "content": response}]
    if fmt == "alpaca":
        instruction, input_ = row.get("instruction") or "", row.get("input") or ""
        query = f"{instruction}\n{input_}" if instruction and input_ else instruction or input_
        msgs += [{"role": "user", "content": query}, {"role": "assistant", "content": row["output"]}]
    else:
        msgs += [{"role": "user", "content": row["query"]}, {"role": "assistant", "content": row["response"]}]
    return {"messages": msgs, **extras}


# ---------------------------------------------------------------------------------------------
# Reading: JSONL streamed in binary, a JSON list parsed whole
# ---------------------------------------------------------------------------------------------

BOM = b"\xef\xbb\xbf"
UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
JSON_LIST_LIMIT = 512 * 1024**2
MAX_LINE_BYTES = 128 * 1024**2  # one JSONL row; a longer line is reported, and never read into memory whole
SKIP_CHUNK = 1024**2
DATA_SUFFIXES = (".jsonl", ".json")
_WS = re.compile(r"[ \t\n\r]*")


def _skip_ws(text: str, pos: int = 0) -> int:
    """Index of the first non-whitespace character at or after pos (the pattern matches the empty string)."""
    match = _WS.match(text, pos)
    assert match is not None
    return match.end()


def human_size(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} TB"


class Progress:
    """'\\r  file: 1.2 GB / 3.4 GB (35%)' on stderr every 0.5 s, only when stderr is a terminal."""

    def __init__(self, label: str, total: int, enabled: bool | None = None, stream=None, interval: float = 0.5):
        self.stream = stream or sys.stderr
        self.enabled = bool(total) and (self.stream.isatty() if enabled is None else enabled)
        self.label, self.total, self.interval = label, total, interval
        self.last = time.monotonic()
        self.shown = False

    def update(self, done: int) -> None:
        now = time.monotonic()
        if now - self.last < self.interval:
            return
        self.last = now
        pct = min(100, int(100 * done / self.total))
        self.stream.write(f"\r  {self.label}: {human_size(done)} / {human_size(self.total)} ({pct}%)\x1b[K")
        self.stream.flush()
        self.shown = True

    def close(self) -> None:
        if self.shown:
            self.stream.write("\r\x1b[K")
            self.stream.flush()


class Record:
    """One row as read: its line, its parsed value, or the reason it could not be parsed."""

    __slots__ = ("line", "value", "raw", "error", "col", "span")

    def __init__(
        self,
        line: int,
        value: Any = None,
        raw: bytes | None = None,
        error: tuple[str, str] | None = None,
        col: int | None = None,
        span: tuple[int, int] | None = None,
    ):
        self.line, self.value, self.raw, self.error, self.col = line, value, raw, error, col
        self.span = span  # (offset, length) in the file of a line too long to hold as raw


OnIssue = Callable[[str, str, "int | None", "int | None", str], Any]  # (severity, code, line, col, message)


def _first_byte(path: str) -> bytes:
    with open(path, "rb") as f:
        head = f.read(65536)
    head = head[len(BOM) :] if head.startswith(BOM) else head
    stripped = head.lstrip()
    return stripped[:1]


def read_records(path: str, on_issue: OnIssue, progress: bool | None = None) -> Iterator[Record]:
    """Every row of a JSONL file or JSON list, in order. File-level findings go to on_issue."""
    size = os.path.getsize(path)
    bar = Progress(os.path.basename(path), size, enabled=progress)
    try:
        if _first_byte(path) == b"[":
            yield from _read_json_list(path, size, on_issue)
        else:
            yield from _read_jsonl(path, on_issue, bar)
    finally:
        bar.close()


def _read_jsonl(path: str, on_issue: OnIssue, bar: Progress) -> Iterator[Record]:
    line = done = 0
    crlf = False
    hint = " (a .json file holds a JSON list of rows, or one row per line)" if path.endswith(".json") else ""
    with open(path, "rb") as f:
        while True:
            start = done
            raw = f.readline(MAX_LINE_BYTES + 1)  # bounded: `for raw in f` would hold a 2 GB line whole
            if not raw:
                break
            line += 1
            done += len(raw)
            if len(raw) > MAX_LINE_BYTES and not raw.endswith(b"\n"):
                start += len(BOM) if line == 1 and raw.startswith(BOM) else 0
                del raw
                while True:  # skip to the end of the line in chunks: memory stays flat
                    chunk = f.read(SKIP_CHUNK)
                    end = chunk.find(b"\n")
                    if end >= 0:
                        done += end + 1
                        f.seek(done)
                        break
                    done += len(chunk)
                    if not chunk:
                        break
                yield Record(
                    line,
                    span=(start, done - start),
                    error=(
                        "line_too_long",
                        f"a line of {human_size(done - start)}, longer than a row may be "
                        f"({human_size(MAX_LINE_BYTES)}): not read; keep images and other media as files and put "
                        "their paths in the row",
                    ),
                )
                continue
            if bar.enabled:
                bar.update(done)
            if line == 1 and raw.startswith(UTF16_BOMS):
                on_issue(
                    PROBLEM,
                    "utf16",
                    1,
                    None,
                    "the file is UTF-16 (it starts with a UTF-16 byte-order mark); it "
                    "must be UTF-8: iconv -f UTF-16 -t UTF-8 IN > OUT; nothing in it is checked",
                )
                return
            if line == 1 and raw.startswith(BOM):
                raw = raw[len(BOM) :]
                on_issue(NOTE, "bom", 1, None, "UTF-8 byte-order mark at the start (accepted)")
            ended = raw.endswith(b"\n")
            body = raw[:-1] if ended else raw
            if ended and body.endswith(b"\r"):
                body = body[:-1]
                if not crlf:
                    crlf = True
                    on_issue(NOTE, "crlf", line, None, "CRLF line endings (accepted)")
            if not body.strip():
                on_issue(WARNING, "blank_line", line, None, "blank line")
                continue
            try:
                text = body.decode("utf-8")
            except UnicodeDecodeError as exc:
                col = len(body[: exc.start].decode("utf-8", "replace")) + 1
                yield Record(
                    line,
                    raw=raw,
                    col=col,
                    error=("invalid_utf8", f"invalid UTF-8: byte 0x{body[exc.start]:02x} (the file must be UTF-8)"),
                )
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                if exc.msg == "Extra data" and "\r" in text:
                    yield Record(
                        line,
                        raw=raw,
                        col=exc.colno,
                        error=(
                            "cr_line_endings",
                            "rows separated by CR (\\r) alone, old Mac line endings; JSONL rows end "
                            "with LF (\\n): convert them (e.g. tr '\\r' '\\n' < IN > OUT)",
                        ),
                    )
                elif text.startswith("\ufeff"):
                    yield Record(
                        line,
                        raw=raw,
                        col=1,
                        error=(
                            "inner_bom",
                            "a UTF-8 byte-order mark in the middle of the file (files joined with cat?): remove it",
                        ),
                    )
                elif not ended:
                    yield Record(
                        line,
                        raw=raw,
                        col=exc.colno,
                        error=(
                            "truncated",
                            "truncated last line: no newline at the end and the JSON is "
                            f"incomplete ({_json_error(exc)})",
                        ),
                    )
                else:
                    message = f"invalid JSON: {_json_error(exc)}{hint if line == 1 else ''}"
                    yield Record(line, raw=raw, col=exc.colno, error=("invalid_json", message))
                continue
            yield Record(line, value, raw)


def _read_json_list(path: str, size: int, on_issue: OnIssue) -> Iterator[Record]:
    if size > JSON_LIST_LIMIT:
        on_issue(
            PROBLEM,
            "too_big",
            None,
            None,
            f"a {human_size(size)} JSON list is too big to check in memory (limit {human_size(JSON_LIST_LIMIT)}): "
            "convert it to JSONL, one row per line (e.g. jq -c '.[]' IN > OUT.jsonl)",
        )
        return
    with open(path, "rb") as f:
        data = f.read()
    if data.startswith(BOM):
        data = data[len(BOM) :]
        on_issue(NOTE, "bom", 1, None, "UTF-8 byte-order mark at the start (accepted)")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        on_issue(
            PROBLEM,
            "invalid_utf8",
            line,
            None,
            f"invalid UTF-8: byte 0x{data[exc.start]:02x} (the file must be UTF-8); nothing after it is checked",
        )
        return
    del data
    decoder = json.JSONDecoder()
    idx = _skip_ws(text) + 1  # past '['
    counted, line = 0, 1

    def line_at(pos: int) -> int:
        nonlocal counted, line
        line += text.count("\n", counted, pos)
        counted = pos
        return line

    def where(pos: int) -> tuple[int, int]:
        return line_at(pos), pos - text.rfind("\n", 0, pos)

    idx = _skip_ws(text, idx)
    if text.startswith("]", idx):
        return
    while True:
        try:
            value, end = decoder.raw_decode(text, idx)
        except json.JSONDecodeError as exc:
            truncated = exc.pos >= len(text.rstrip())
            on_issue(
                PROBLEM,
                "truncated" if truncated else "invalid_json",
                exc.lineno,
                exc.colno,
                ("truncated file: the JSON list ends early" if truncated else f"invalid JSON: {_json_error(exc)}")
                + "; nothing after it is checked",
            )
            return
        yield Record(line_at(idx), value)
        idx = _skip_ws(text, end)
        if idx >= len(text):
            ln, col = where(idx)
            on_issue(PROBLEM, "truncated", ln, col, "truncated file: the JSON list has no closing ']'")
            return
        if text[idx] == "]":
            idx = _skip_ws(text, idx + 1)
            if idx < len(text):
                ln, col = where(idx)
                on_issue(PROBLEM, "invalid_json", ln, col, "invalid JSON: extra data after the closing ']'")
            return
        if text[idx] != ",":
            ln, col = where(idx)
            on_issue(
                PROBLEM, "invalid_json", ln, col, "invalid JSON: Expecting ',' delimiter; nothing after it is checked"
            )
            return
        idx = _skip_ws(text, idx + 1)


def row_format(value: Any) -> tuple[str | None, str | None]:
    """(format, problem): the problem says why a parsed value is not a row."""
    if not isinstance(value, dict):
        return None, f"row is {_type(value)}, expected an object"
    fmt = detect_format(value)
    if fmt is None:
        keys = ", ".join(list(value)[:8]) + (", ..." if len(value) > 8 else "")
        return None, (
            f"unrecognised row (keys: {keys or 'none'}): expected messages, conversations, "
            "instruction/output, or query/response"
        )
    return fmt, None


# ---------------------------------------------------------------------------------------------
# Hub dataset names
# ---------------------------------------------------------------------------------------------

HUB_PREFIXES = {"ms": "modelscope", "hf": "huggingface"}
HUB_LABELS = {"modelscope": "ModelScope", "huggingface": "Hugging Face"}
_PART = r"[A-Za-z0-9][A-Za-z0-9._-]*"
OTHER_SUFFIXES = (".csv", ".parquet", ".txt", ".arrow", ".tsv")


class HubDataset:
    __slots__ = ("text", "hub", "repo", "subsets", "sample", "prefixed")

    def __init__(self, text: str, hub: str, repo: str, subsets: tuple[str, ...], sample: int | None, prefixed: bool):
        self.text, self.hub, self.repo, self.subsets, self.sample, self.prefixed = (
            text,
            hub,
            repo,
            subsets,
            sample,
            prefixed,
        )

    def describe(self) -> str:
        parts = [f"hub dataset on {HUB_LABELS[self.hub]}"]
        if self.subsets:
            parts.append(f"subsets {', '.join(self.subsets)}")
        if self.sample:
            parts.append(f"sample of {self.sample:,} rows")
        return ", ".join(parts)


def parse_hub_dataset(text: str, default_hub: str = "modelscope") -> HubDataset:
    """[hf::|ms::]org/name[:subset[/subset...]][#N]; raises ValueError saying what is wrong."""
    if not text or any(c.isspace() for c in text):
        raise ValueError("empty or holds whitespace")
    hub, rest, prefixed = default_hub, text, False
    if "::" in text:
        prefix, _, rest = text.partition("::")
        if prefix.lower() not in HUB_PREFIXES:
            raise ValueError(f"unknown hub prefix '{prefix}::' (use hf:: for Hugging Face, ms:: for ModelScope)")
        hub, prefixed = HUB_PREFIXES[prefix.lower()], True
    name, hashed, sample = rest.partition("#")
    if hashed and not (sample.isascii() and sample.isdigit() and int(sample) > 0):
        raise ValueError(f"'#{sample}': the sample count after # must be a positive whole number, e.g. #1000")
    repo, colon, subsets = name.partition(":")
    if repo.count("/") != 1:
        raise ValueError(f"{repo!r} is not org/name (e.g. AI-ModelScope/alpaca-gpt4-data-en)")
    if not re.fullmatch(f"{_PART}/{_PART}", repo):
        raise ValueError(f"{repo!r}: org and name take letters, digits, '.', '_' and '-' only")
    if colon and not re.fullmatch(f"{_PART}(/{_PART})*", subsets):
        raise ValueError(f"':{subsets}': subsets are names separated by '/', e.g. :default or :zh/en")
    return HubDataset(
        text, hub, repo, tuple(subsets.split("/")) if colon else (), int(sample) if hashed else None, prefixed
    )


def classify_target(arg: str) -> tuple[str, str, int | None]:
    """('local', path, sample) for a file or folder, ('hub', arg, None), or ('missing', path, None)."""
    path = os.path.expanduser(arg)
    if os.path.exists(path):
        return "local", path, None
    base, hashed, sample = path.partition("#")
    if hashed and sample.isdigit() and os.path.exists(base):
        return "local", base, int(sample)
    if base.lower().endswith(DATA_SUFFIXES + OTHER_SUFFIXES) or base.startswith(("/", ".", "~")) or "\\" in base:
        return "missing", base, None
    if "::" in arg or arg.split(":", 1)[0].split("#", 1)[0].count("/") == 1:
        return "hub", arg, None
    return "missing", path, None


def hub_api_url(ds: HubDataset) -> str:
    if ds.hub == "huggingface":
        return f"{os.environ.get('HF_ENDPOINT', 'https://huggingface.co').rstrip('/')}/api/datasets/{ds.repo}"
    scheme = os.environ.get("MODELSCOPE_URL_SCHEME", "https://")
    domain = os.environ.get("MODELSCOPE_DOMAIN", "www.modelscope.cn")
    return f"{scheme}{domain}/api/v1/datasets/{ds.repo}"


def probe_hub(ds: HubDataset, timeout: float = 3.0) -> tuple[str, str, str]:
    """(status, severity, message); status is found, missing, gated, unreachable or unknown.

    Runs in a thread joined with a deadline, so a hanging DNS lookup cannot stall the check.
    """
    url, label = hub_api_url(ds), HUB_LABELS[ds.hub]
    headers = {"User-Agent": "modelforge-data-check", "Accept": "application/json"}
    if ds.hub == "huggingface" and os.environ.get("HF_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['HF_TOKEN']}"
    result: dict[str, Any] = {}

    def fetch() -> None:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
                result["status"], result["body"] = resp.status, resp.read(65536)
        except urllib.error.HTTPError as exc:
            result["status"] = exc.code
        except Exception as exc:  # URLError, timeouts, resets: the hub is not reachable from here
            result["error"] = getattr(exc, "reason", exc)

    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    worker.join(timeout + 1)
    status = result.get("status")
    if status is None:
        reason = result.get("error", f"no answer in {timeout:.0f} s")
        return "unreachable", NOTE, f"cannot reach the hub, skipped ({label}: {reason})"
    if status == 200:
        try:
            body = json.loads(result.get("body") or b"{}")
        except ValueError:
            body = {}
        if isinstance(body, dict) and body.get("Success") is False:
            status = 404
        else:
            return "found", NOTE, f"found on {label}"
    if status == 404:
        hint = "; a Hugging Face dataset needs the hf:: prefix" if ds.hub == "modelscope" and not ds.prefixed else ""
        return "missing", PROBLEM, f"not found on {label} ({url}){hint}"
    if status in (401, 403):
        token = "HF_TOKEN" if ds.hub == "huggingface" else "MODELSCOPE_API_TOKEN"
        return "gated", WARNING, f"{label} answered {status}: missing, private or gated; with access, set {token}"
    return "unknown", NOTE, f"{label} answered HTTP {status}, skipped"


# ---------------------------------------------------------------------------------------------
# Tokens (optional: transformers and a local tokenizer)
# ---------------------------------------------------------------------------------------------


def load_token_counter(name: str) -> tuple[Callable[[list[dict]], int] | None, str]:
    """(count(messages) -> tokens, note). Local files only: a path, or a hub id already in a cache."""
    try:
        from transformers import AutoTokenizer  # type: ignore[import-not-found]
    except Exception:
        return None, "tokens not counted: transformers is not installed"
    path = os.path.expanduser(name)
    if not os.path.isdir(path):
        for root in filter(None, [os.environ.get("MODELSCOPE_CACHE"), os.path.expanduser("~/.cache/modelscope")]):
            for sub in ("models", "hub/models", "hub"):
                candidate = os.path.join(root, sub, name)
                if os.path.isfile(os.path.join(candidate, "tokenizer_config.json")):
                    path = candidate
                    break
    try:
        tok = AutoTokenizer.from_pretrained(path if os.path.isdir(path) else name, local_files_only=True)
    except Exception as exc:
        return (
            None,
            f"tokens not counted: cannot load the tokenizer {name!r} from local files ({str(exc).splitlines()[0][:160]})",
        )
    templated = [bool(getattr(tok, "chat_template", None))]

    def count(messages: list[dict]) -> int:
        if templated[0]:
            try:
                ids = tok.apply_chat_template(messages, tokenize=True)
                ids = ids["input_ids"] if isinstance(ids, dict) or hasattr(ids, "keys") else ids
                return len(ids)
            except Exception:
                templated[0] = False  # roles or content this template does not take: plain text from now on
        return sum(len(tok.encode(_text(m.get("content"))[0] or "", add_special_tokens=False)) for m in messages)

    return count, f"tokens counted with {name}"


# ---------------------------------------------------------------------------------------------
# The check and its report
# ---------------------------------------------------------------------------------------------


class FileReport:
    """What one file (or hub name) holds and what is wrong with it; issues kept up to max_issues."""

    def __init__(self, path: str, kind: str = "file", strict: bool = False, max_issues: int = 50):
        self.path, self.kind, self.strict, self.max_issues = path, kind, strict, max_issues
        self.rows = self.bad_rows = self.valid_rows = 0  # valid: parsed, of a known format
        self.format: str | None = None
        self.format_line = 0
        self.formats: dict[str, int] = {}
        self.issues: list[dict] = []
        self.notes: list[dict] = []
        self.counts = {PROBLEM: 0, WARNING: 0, NOTE: 0}
        self.codes: dict[str, int] = {}
        self.turns = self.max_turns = self.chars = self.max_chars = 0
        self.tokens: int | None = None
        self.max_tokens = 0
        self.size: int | None = None
        self.sample: int | None = None
        self.hub: dict | None = None

    def add(self, severity: str, code: str, line: int | None, col: int | None, message: str) -> str:
        if severity == WARNING and self.strict:
            severity, message = PROBLEM, f"{message} (a warning; --strict)"
        self.counts[severity] += 1
        self.codes[code] = self.codes.get(code, 0) + 1
        if severity == NOTE:
            if len(self.notes) < self.max_issues:
                self.notes.append({"line": line, "col": col, "message": message})
        elif len(self.issues) < self.max_issues:
            self.issues.append({"severity": severity, "code": code, "line": line, "col": col, "message": message})
        return severity

    def where(self, line: int | None, col: int | None) -> str:
        return self.path + (f":{line}" if line else "") + (f":{col}" if line and col else "")

    @property
    def problems(self) -> int:
        return self.counts[PROBLEM]

    @property
    def warnings(self) -> int:
        return self.counts[WARNING]

    def to_dict(self) -> dict:
        data: dict[str, Any] = {
            "path": self.path,
            "kind": self.kind,
            "problems": self.problems,
            "warnings": self.warnings,
            "issues": self.issues,
            "omitted": self.problems + self.warnings - len(self.issues),
            "issue_counts": self.codes,
            "notes": [f"{self.where(n['line'], n['col'])}: {n['message']}" for n in self.notes],
        }
        if self.kind != "file":
            data["hub"] = self.hub
            return data
        data.update(
            format=self.file_format(),
            formats=self.formats,
            rows=self.rows,
            bad_rows=self.bad_rows,
            bytes=self.size,
            sample=self.sample,
            stats={
                "turns": self.turns,
                "max_turns": self.max_turns,
                "chars": self.chars,
                "max_chars": self.max_chars,
                "tokens": self.tokens,
                "max_tokens": self.max_tokens if self.tokens is not None else None,
            },
        )
        return data

    def file_format(self) -> str | None:
        if len(self.formats) > 1:
            return "mixed"
        return self.format


def check_file(
    path: str,
    *,
    strict: bool = False,
    max_issues: int = 50,
    progress: bool | None = None,
    count_tokens: Callable[[list[dict]], int] | None = None,
    display: str | None = None,
) -> FileReport:
    """Check one JSONL / JSON-list file, streaming: memory stays flat whatever its size."""
    rep = FileReport(display or path, strict=strict, max_issues=max_issues)
    try:
        rep.size = os.path.getsize(path)
        for rec in read_records(path, rep.add, progress):
            rep.rows += 1
            bad = False
            if rec.error:
                rep.add(PROBLEM, rec.error[0], rec.line, rec.col, rec.error[1])
                rep.bad_rows += 1
                continue
            fmt, why = row_format(rec.value)
            if fmt is None:
                rep.add(
                    PROBLEM,
                    "not_object" if not isinstance(rec.value, dict) else "unknown_format",
                    rec.line,
                    None,
                    why or "",
                )
                rep.bad_rows += 1
                continue
            rep.formats[fmt] = rep.formats.get(fmt, 0) + 1
            if rep.format is None:
                rep.format, rep.format_line = fmt, rec.line
            elif fmt != rep.format:
                bad = True
                rep.add(
                    PROBLEM,
                    "mixed_formats",
                    rec.line,
                    None,
                    f"mixed formats: this row is {FORMAT_NAMES[fmt]}, the file's first row (line {rep.format_line}) "
                    f"is {FORMAT_NAMES[rep.format]}; ms-swift reads a file in one format",
                )
            issues, turns, chars = validate_row(rec.value, fmt)
            rep.valid_rows += 1
            for severity, code, message in issues:
                bad = rep.add(severity, code, rec.line, None, message) == PROBLEM or bad
            rep.turns += turns
            rep.chars += chars
            rep.max_turns = max(rep.max_turns, turns)
            rep.max_chars = max(rep.max_chars, chars)
            if count_tokens is not None and not any(sev == PROBLEM for sev, _, _ in issues):
                tokens = count_tokens(to_messages(rec.value, fmt)["messages"])
                rep.tokens = (rep.tokens or 0) + tokens
                rep.max_tokens = max(rep.max_tokens, tokens)
            rep.bad_rows += bad
    except OSError as exc:
        rep.add(PROBLEM, "unreadable", None, None, f"cannot read: {exc.strerror or exc}")
    if rep.rows == 0 and not rep.problems:
        rep.add(PROBLEM, "no_rows", None, None, "no rows")
    return rep


def expand_folder(folder: str) -> list[str]:
    found = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found += [
            os.path.join(root, name)
            for name in sorted(files)
            if name.lower().endswith(DATA_SUFFIXES) and not name.startswith(".")
        ]
    return found


def default_hub() -> str:
    return "huggingface" if os.environ.get("USE_HF", "").lower() in ("1", "true", "yes") else "modelscope"


def check_hub(text: str, hub: str, *, offline: bool = False, timeout: float = 3.0, strict: bool = False) -> FileReport:
    rep = FileReport(text, kind="hub", strict=strict)
    try:
        ds = parse_hub_dataset(text, hub)
    except ValueError as exc:
        rep.add(PROBLEM, "hub_name", None, None, f"invalid hub dataset name: {exc}")
        rep.hub = {"valid": False}
        return rep
    rep.hub = {
        "valid": True,
        "hub": ds.hub,
        "repo": ds.repo,
        "subsets": list(ds.subsets),
        "sample": ds.sample,
        "description": ds.describe(),
    }
    if offline:
        rep.hub["status"] = "skipped"
        rep.add(NOTE, "hub_offline", None, None, "not looked up on the hub (--offline), skipped")
        return rep
    status, severity, message = probe_hub(ds, timeout)
    rep.hub["status"] = status
    rep.add(severity, f"hub_{status}", None, None, message)
    return rep


def unchecked(f: FileReport) -> bool:
    """Not looked at: a path skipped here, or a hub name the hub did not confirm (offline, unreachable, odd answer).
    Such a target is never reported clean; --strict fails on it."""
    return f.kind == "skipped" or (
        f.kind == "hub" and (f.hub or {}).get("status") in ("unreachable", "unknown", "skipped")
    )


class Report:
    def __init__(self, files: list[FileReport], notes: list[str], strict: bool = False):
        self.files, self.notes, self.strict = files, notes, strict

    @property
    def unchecked(self) -> int:
        return sum(1 for f in self.files if unchecked(f))

    @property
    def problems(self) -> int:
        return sum(f.problems for f in self.files)

    @property
    def warnings(self) -> int:
        return sum(f.warnings for f in self.files)

    @property
    def exit_code(self) -> int:
        return 1 if self.problems or (self.strict and self.unchecked) else 0

    def to_dict(self) -> dict:
        return {
            "ok": not self.problems and not (self.strict and self.unchecked),
            "problems": self.problems,
            "unchecked": self.unchecked,
            "warnings": self.warnings,
            "rows": sum(f.rows for f in self.files),
            "bad_rows": sum(f.bad_rows for f in self.files),
            "files": [f.to_dict() for f in self.files],
            "notes": self.notes,
        }

    def text(self) -> str:
        lines: list[str] = []
        for f in self.files:
            lines += _file_text(f)
        files = [f for f in self.files if f.kind == "file"]
        hubs = sum(1 for f in self.files if f.kind == "hub")
        what = [f"{_n(len(files), 'file')} ({_n(sum(f.rows for f in files), 'row')})"] if files else []
        what += [_n(hubs, "hub dataset")] if hubs else []
        verdict = _n(self.problems, "problem") if self.problems else "clean"
        if self.unchecked:  # never "clean" for what was not looked at
            rest = len(self.files) - self.unchecked
            verdict = f"{self.unchecked:,} unchecked" + (f", {verdict} in the other {rest:,}" if rest else "")
            if self.strict:
                verdict += " (--strict: unchecked fails)"
        if self.warnings:
            verdict += f", {_n(self.warnings, 'warning')}"
        bad_rows = sum(f.bad_rows for f in files)
        if bad_rows:
            verdict += f"; rows with problems: {bad_rows:,} of {sum(f.rows for f in files):,}"
        lines += self.notes
        lines.append(f"{'looked at' if self.unchecked else 'checked'} {' and '.join(what) or 'nothing'}: {verdict}")
        return "\n".join(lines)


def _n(count: int, word: str) -> str:
    return f"{count:,} {word}{'s' * (count != 1)}"


def _json_error(exc: json.JSONDecodeError) -> str:
    """The decoder's message; 'Unterminated string starting at' gets the column it refers to."""
    return f"{exc.msg} column {exc.colno}" if exc.msg.endswith(" at") else exc.msg


def _file_text(f: FileReport) -> list[str]:
    if f.kind == "skipped":
        return [f"{f.path}: {f.notes[0]['message']}"]
    if f.kind == "hub":
        head = f"{f.path}: {f.hub['description']}" if f.hub and f.hub.get("valid") else f.path
        issue_lines = [
            f"  {i['message'] if i['severity'] == PROBLEM else 'warning: ' + i['message']}" for i in f.issues
        ]
        notes = [n["message"] for n in f.notes]
        if not issue_lines and notes:
            return [f"{head}: {'; '.join(notes)}"]
        return [f"{head}:"] + issue_lines + [f"  {n}" for n in notes]
    fmt = f.file_format()
    if fmt == "mixed":
        fmt_text = "mixed formats (" + ", ".join(f"{FORMAT_NAMES[k]} {v:,}" for k, v in f.formats.items()) + ")"
    else:
        fmt_text = f"{FORMAT_NAMES[fmt]} format" if fmt else "format unknown"
    status = "clean"
    if f.problems or f.warnings:
        parts = (
            [_n(f.problems, "problem") + (f" in {_n(f.bad_rows, 'row')}" if f.bad_rows else "")] if f.problems else []
        )
        parts += [_n(f.warnings, "warning")] if f.warnings else []
        status = ", ".join(parts)
    sample = f", ms-swift samples {f.sample:,}" if f.sample else ""
    lines = [f"{f.path}: {_n(f.rows, 'row')}{sample}, {fmt_text}: {status}"]
    for issue in f.issues:
        label = "" if issue["severity"] == PROBLEM else "warning: "
        lines.append(f"  {f.where(issue['line'], issue['col'])}: {label}{issue['message']}")
    omitted = f.problems + f.warnings - len(f.issues)
    if omitted > 0:
        by_code = ", ".join(
            f"{code} {n:,}"
            for code, n in sorted(f.codes.items(), key=lambda kv: -kv[1])
            if not code.startswith(("bom", "crlf"))
        )
        lines.append(f"  ... and {omitted:,} more (all by kind: {by_code})")
    lines += [f"  {f.where(n['line'], n['col'])}: note: {n['message']}" for n in f.notes]
    if f.valid_rows:
        stats = (
            f"  turns {f.turns:,} ({f.turns / f.valid_rows:.1f} per row, max {f.max_turns:,}), "
            f"characters {f.chars:,} (max {f.max_chars:,} per row)"
        )
        if f.tokens is not None:
            stats += f", tokens {f.tokens:,} (max {f.max_tokens:,} per row)"
        lines.append(stats)
    return lines


def check_targets(
    targets: list[str],
    *,
    strict: bool = False,
    tokenizer: str | None = None,
    hub: str | None = None,
    offline: bool = False,
    timeout: float = 3.0,
    max_issues: int = 50,
    progress: bool | None = None,
) -> tuple[Report | None, list[str]]:
    """(report, usage errors). With usage errors (a missing path) nothing is checked: exit 2."""
    hub = hub or default_hub()
    plan: list[tuple[str, str, int | None]] = []
    errors: list[str] = []
    for arg in targets:
        kind, path, sample = classify_target(arg)
        if kind == "missing":
            errors.append(f"{path}: no such file or directory")
        elif kind == "hub":
            plan.append(("hub", arg, None))
        elif os.path.isdir(path):
            files = expand_folder(path)
            if not files:
                errors.append(f"{path}: a folder without .jsonl or .json files")
            plan += [("file", p, None) for p in files]
        else:
            plan.append(("file", path, sample))
    if errors:
        return None, errors
    notes: list[str] = []
    counter = None
    if tokenizer and any(kind == "file" for kind, _, _ in plan):
        counter, note = load_token_counter(tokenizer)
        notes.append(note)
    elif any(kind == "file" for kind, _, _ in plan):
        notes.append("tokens not counted (--tokenizer PATH counts them, with transformers installed)")
    reports = []
    for kind, path, sample in plan:
        if kind == "file" and path.lower().endswith(OTHER_SUFFIXES):
            rep = FileReport(path, kind="skipped", strict=strict)
            rep.add(
                NOTE,
                "not_checked",
                None,
                None,
                "not checked: only JSONL and JSON files are (ms-swift reads this "
                "format too; `modelforge data convert` does not)",
            )
            reports.append(rep)
        elif kind == "hub":
            reports.append(check_hub(path, hub, offline=offline, timeout=timeout, strict=strict))
        else:
            rep = check_file(path, strict=strict, max_issues=max_issues, progress=progress, count_tokens=counter)
            rep.sample = sample
            reports.append(rep)
    return Report(reports, notes, strict=strict), []


def datasets_from_command(argv: list[str]) -> tuple[list[str], str | None]:
    """The --dataset / --val_dataset values of a `swift sft ...` command, and its hub (--use_hf)."""
    found: list[str] = []
    hub = None
    i = 0
    while i < len(argv):
        name, eq, value = argv[i].partition("=")
        if name in ("--dataset", "--val_dataset"):
            if eq:
                found.append(value)
            else:
                i += 1
                while i < len(argv) and not argv[i].startswith("--"):
                    found.append(argv[i])
                    i += 1
                continue
        elif name == "--use_hf":
            flag = value if eq else (argv[i + 1] if i + 1 < len(argv) else "true")
            hub = "huggingface" if flag.lower() in ("true", "1") else "modelscope"
        i += 1
    return found, hub


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "paths",
        nargs="*",
        metavar="PATH",
        help="JSONL / JSON files, folders of them, or hub datasets ([hf::|ms::]org/name[#N])",
    )
    p.add_argument("--strict", action="store_true", help="warnings count as problems (exit 1)")
    p.add_argument("--tokenizer", metavar="PATH", help="count tokens with this local tokenizer (needs transformers)")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument(
        "--hub",
        choices=["modelscope", "huggingface"],
        default=None,
        help="hub of names without hf::/ms:: (default: huggingface when USE_HF=1, else modelscope)",
    )
    p.add_argument("--offline", action="store_true", help="do not look hub datasets up")
    p.add_argument(
        "--max-issues", type=int, default=50, metavar="N", help="issues listed per file (default 50; all are counted)"
    )
    p.add_argument(
        "--from-command",
        action="store_true",
        help="the PATHs are a swift command (after --): check its --dataset and --val_dataset values",
    )


def run(args: argparse.Namespace, targets: list[str] | None = None, preamble: list[str] | None = None) -> int:
    targets = list(args.paths) if targets is None else targets
    hub = args.hub
    if args.from_command:
        targets, command_hub = datasets_from_command(targets)
        hub = hub or command_hub
        if not targets:
            print("no --dataset in the command: nothing to check")
            return 0
    if not targets:
        print("error: nothing to check: give PATH... (files, folders, hub names)", file=sys.stderr)
        return 2
    report, errors = check_targets(
        targets,
        strict=args.strict,
        tokenizer=args.tokenizer,
        hub=hub,
        offline=args.offline,
        max_issues=max(args.max_issues, 0),
    )
    if report is None:
        for error in errors:
            print(f"error: {error}", file=sys.stderr)
        return 2
    if args.json:
        data = report.to_dict()
        if preamble:
            data["notes"] = preamble + data["notes"]
        print(json.dumps(data, indent=2, ensure_ascii=False))
    else:
        print("\n".join((preamble or []) + [report.text()]))
    return report.exit_code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="check.py", description="Check ms-swift training data (stdlib only).")
    add_arguments(p)
    argv = sys.argv[1:] if argv is None else list(argv)
    rest: list[str] = []
    if "--" in argv:  # everything after -- is a PATH (or, with --from-command, the swift command)
        argv, rest = argv[: argv.index("--")], argv[argv.index("--") + 1 :]
    args = p.parse_intermixed_args(argv)
    args.paths += rest
    try:
        return run(args)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        return 1


if __name__ == "__main__":
    sys.exit(main())
