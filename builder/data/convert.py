"""`modelforge data convert IN OUT --to messages`: every row of IN in ms-swift's messages format.

Lossless by construction: rows in = rows written + rows rejected, each rejected row is
reported with its line (and, with --rejects FILE, copied there as it was). Keys other than
the converted ones (id, images, tools, ...) are carried over; the output is UTF-8 text
(Chinese stays Chinese, never \\u escapes). JSONL is streamed: memory stays flat.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from dataclasses import dataclass, field

from .check import FORMAT_NAMES, PROBLEM, read_records, row_format, to_messages, validate_row

TARGETS = ("messages",)
REJECTING_WARNINGS = ("response_list",)  # fine for training, but no single messages row says the same


@dataclass
class ConvertResult:
    rows_in: int = 0
    written: int = 0
    rejected: int = 0
    blank_lines: int = 0
    formats: dict[str, int] = field(default_factory=dict)
    fatal: list[str] = field(default_factory=list)  # file-level: nothing was written

    @property
    def exit_code(self) -> int:
        return 1 if self.fatal or self.rejected else 0


def convert(
    src: str,
    dst: str,
    *,
    to: str = "messages",
    rejects: str | None = None,
    progress: bool | None = None,
    say: Callable[[str], None] = print,
) -> ConvertResult:
    """Convert src (JSONL or a JSON list) into dst (JSONL); dst appears only when the whole file was read."""
    if to not in TARGETS:
        raise ValueError(f"--to {to}: only {', '.join(TARGETS)}")
    result = ConvertResult()
    tmp = f"{dst}.tmp-{os.getpid()}"
    rejects_tmp = f"{rejects}.tmp-{os.getpid()}" if rejects else None

    def on_issue(severity: str, code: str, line: int | None, col: int | None, message: str) -> None:
        if code == "blank_line":
            result.blank_lines += 1
        elif severity == PROBLEM:
            where = src + (f":{line}" if line else "") + (f":{col}" if line and col else "")
            result.fatal.append(f"{where}: {message}")

    out = open(tmp, "w", encoding="utf-8", newline="\n")
    rej = open(rejects_tmp, "wb") if rejects_tmp else None
    try:
        for rec in read_records(src, on_issue, progress):
            result.rows_in += 1
            problems: list[tuple[str, int | None]] = []
            fmt = None
            if rec.error:
                problems.append((rec.error[1], rec.col))
            else:
                fmt, why = row_format(rec.value)
                if fmt is None:
                    problems.append((why or "unknown format", None))
                else:
                    issues, _, _ = validate_row(rec.value, fmt)
                    problems += [
                        (message, None)
                        for severity, code, message in issues
                        if severity == PROBLEM or code in REJECTING_WARNINGS
                    ]
            if problems:
                result.rejected += 1
                message, col = problems[0]
                more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
                say(f"{src}:{rec.line}{f':{col}' if col else ''}: rejected: {message}{more}")
                if rej is not None and rec.span is not None:  # a line too long to hold: copied in chunks
                    _copy_span(src, rec.span, rej)
                elif rej is not None:
                    rej.write(
                        rec.raw
                        if rec.raw is not None
                        else (json.dumps(rec.value, ensure_ascii=False) + "\n").encode("utf-8")
                    )
                    if rec.raw is not None and not rec.raw.endswith(b"\n"):
                        rej.write(b"\n")
                continue
            assert fmt is not None  # rows without a format were rejected above
            result.formats[fmt] = result.formats.get(fmt, 0) + 1
            out.write(json.dumps(to_messages(rec.value, fmt), ensure_ascii=False) + "\n")
            result.written += 1
    except BaseException:
        out.close()
        if rej is not None:
            rej.close()
        _remove(tmp, rejects_tmp)
        raise
    out.close()
    if rej is not None:
        rej.close()
    if result.fatal:
        _remove(tmp, rejects_tmp)
        return result
    assert result.rows_in == result.written + result.rejected
    os.replace(tmp, dst)
    if rejects_tmp and rejects:
        os.replace(rejects_tmp, rejects)
    return result


def _copy_span(src: str, span: tuple[int, int], out) -> None:
    offset, length = span
    last = b""
    with open(src, "rb") as f:
        f.seek(offset)
        while length > 0:
            chunk = f.read(min(length, 1024**2))
            if not chunk:
                break
            out.write(chunk)
            length -= len(chunk)
            last = chunk[-1:]
    if last != b"\n":
        out.write(b"\n")


def _remove(*paths: str | None) -> None:
    for path in paths:
        if path and os.path.exists(path):
            os.remove(path)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("input", metavar="IN", help="JSONL or JSON-list file (messages, ShareGPT, alpaca, query/response)")
    p.add_argument("output", metavar="OUT", help="JSONL file to write")
    p.add_argument("--to", choices=TARGETS, required=True, help="target format")
    p.add_argument("--rejects", metavar="FILE", help="also write the rejected rows, as they were, to FILE")


def run(args: argparse.Namespace) -> int:
    src, dst = args.input, args.output
    if not os.path.isfile(src):
        print(
            f"error: {src}: " + ("a folder: convert takes one file" if os.path.isdir(src) else "no such file"),
            file=sys.stderr,
        )
        return 2
    for path in filter(None, [dst, args.rejects]):
        folder = os.path.dirname(os.path.abspath(path))
        if os.path.isdir(path) or not os.path.isdir(folder):
            print(
                f"error: {path}: " + ("is a folder" if os.path.isdir(path) else f"no folder {folder}"), file=sys.stderr
            )
            return 2
        if os.path.exists(path) and os.path.samefile(src, path):
            print(f"error: {path}: is the input file; write somewhere else", file=sys.stderr)
            return 2
    result = convert(src, dst, to=args.to, rejects=args.rejects)
    for line in result.fatal:
        print(line)
    if result.fatal:
        print(
            f"nothing written: {src} cannot be read to the end (fix the above, or convert it to JSONL)", file=sys.stderr
        )
        return 1
    formats = ", ".join(f"{FORMAT_NAMES[k]} {v:,}" for k, v in result.formats.items())
    blank = f"; {result.blank_lines:,} blank line(s) skipped" if result.blank_lines else ""
    print(
        f"{src} -> {dst} ({args.to}): {result.rows_in:,} rows in = {result.written:,} written"
        f"{f' (from {formats})' if formats else ''} + {result.rejected:,} rejected{blank}"
    )
    if result.rejected and args.rejects:
        print(f"rejected rows written to {args.rejects}")
    return result.exit_code
