"""The check itself: each target (a file, a folder of them, a hub name) read and judged, rows streamed through
the format rules; tokens counted when a local tokenizer is given."""

from __future__ import annotations

import os
from collections.abc import Callable

from .formats import FORMAT_NAMES, NOTE, PROBLEM, _text, row_format, to_messages, validate_row
from .hub import OTHER_SUFFIXES, check_hub, classify_target, default_hub
from .read import DATA_SUFFIXES, read_records
from .report import FileReport, Report


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
