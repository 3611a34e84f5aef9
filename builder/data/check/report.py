"""What a check found: FileReport per file or hub name (issues kept up to max_issues, all counted), Report
over all of them with the exit code, and the text and JSON forms."""

from __future__ import annotations

from typing import Any

from .formats import FORMAT_NAMES, NOTE, PROBLEM, WARNING


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
