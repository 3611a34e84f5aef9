"""Reading rows: JSONL streamed in binary (constant memory at any size; a line over 128 MiB is reported, never
held whole) and a JSON list parsed whole (up to 512 MiB), each row with its line; file-level findings (BOM,
CRLF, UTF-16, truncation) go to a callback."""

from __future__ import annotations

import json
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

from .formats import NOTE, PROBLEM, WARNING

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


def _json_error(exc: json.JSONDecodeError) -> str:
    """The decoder's message; 'Unterminated string starting at' gets the column it refers to."""
    return f"{exc.msg} column {exc.colno}" if exc.msg.endswith(" at") else exc.msg
