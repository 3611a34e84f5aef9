"""`data check`: every format detected, every problem type at its file:line(:col), streaming, reports."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import tracemalloc
import types
from pathlib import Path

import pytest

from builder.data import check
from builder.data.check import PROBLEM, WARNING, Progress, check_file, check_targets, read_records

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "data"
CLEAN, PROBLEMS = FIX / "clean", FIX / "problems"
PACKAGE = Path(check.__file__).parent  # builder/data/check/: what the images copy


def issues(path: Path, **kw) -> list[tuple]:
    rep = check_file(str(path), **kw)
    return [(i["severity"], i["code"], i["line"], i["col"], i["message"]) for i in rep.issues]


@pytest.mark.parametrize(
    "name, fmt, rows",
    [
        ("messages.jsonl", "messages", 3),
        ("sharegpt.jsonl", "sharegpt", 2),
        ("alpaca.jsonl", "alpaca", 3),
        ("query_response.jsonl", "query_response", 2),
        ("nested/list.json", "alpaca", 2),
        ("bom_crlf.jsonl", "query_response", 2),
    ],
)
def test_clean_files_detected_and_clean(name, fmt, rows):
    rep = check_file(str(CLEAN / name))
    assert (rep.file_format(), rep.rows, rep.problems, rep.warnings) == (fmt, rows, 0, 0), rep.issues
    assert rep.turns >= 2 * rows and rep.chars > 0


def test_folder_is_searched_recursively_for_jsonl_and_json():
    report, errors = check_targets([str(CLEAN)])
    assert not errors and report.exit_code == 0
    names = sorted(Path(f.path).relative_to(CLEAN).as_posix() for f in report.files)
    assert names == [
        "alpaca.jsonl",
        "bom_crlf.jsonl",
        "messages.jsonl",
        "nested/list.json",
        "query_response.jsonl",
        "sharegpt.jsonl",
    ]  # README.md is not data
    text = report.text()
    assert "messages format: clean" in text and "ShareGPT format" in text and "query/response format" in text
    assert text.splitlines()[-1] == "checked 6 files (14 rows): clean"


@pytest.mark.parametrize(
    "name, expected",
    [
        ("invalid_json.jsonl", (PROBLEM, "invalid_json", 2, 50, "invalid JSON: Expecting ',' delimiter")),
        ("empty_content.jsonl", (PROBLEM, "empty_content", 2, None, "messages[0].content: null")),
        (
            "unknown_role.jsonl",
            (
                PROBLEM,
                "unknown_role",
                3,
                None,
                "messages[1].role: unknown role 'robot' "
                "(allowed: system, user, assistant, tool, tool_call, tool_response)",
            ),
        ),
        ("no_assistant.jsonl", (PROBLEM, "no_assistant", 1, None, "messages: no assistant turn, nothing to train on")),
        ("system_not_first.jsonl", (PROBLEM, "system_not_first", 2, None, "messages[1]: system message not first")),
        ("invalid_utf8.jsonl", (PROBLEM, "invalid_utf8", 2, 47, "invalid UTF-8: byte 0xe9 (the file must be UTF-8)")),
        (
            "truncated.jsonl",
            (
                PROBLEM,
                "truncated",
                3,
                43,
                "truncated last line: no newline at the end and the JSON is "
                "incomplete (Unterminated string starting at column 43)",
            ),
        ),
        (
            "bad_list.json",
            (PROBLEM, "invalid_json", 3, 23, "invalid JSON: Expecting ',' delimiter; nothing after it is checked"),
        ),
        ("blank_lines.jsonl", (WARNING, "blank_line", 2, None, "blank line")),
    ],
)
def test_each_problem_type_at_its_line(name, expected):
    found = issues(PROBLEMS / name)
    assert found[0] == expected, found


def test_empty_string_content_and_mixed_formats():
    assert (PROBLEM, "empty_content", 3, None, "messages[1].content: empty") in issues(PROBLEMS / "empty_content.jsonl")
    (mixed,) = issues(PROBLEMS / "mixed_formats.jsonl")
    assert (
        mixed[:3] == (PROBLEM, "mixed_formats", 3)
        and "this row is alpaca" in mixed[4]
        and "(line 1) is messages" in mixed[4]
    )
    rep = check_file(str(PROBLEMS / "mixed_formats.jsonl"))
    assert rep.file_format() == "mixed" and rep.formats == {"messages": 2, "alpaca": 1}
    assert "mixed formats (messages 2, alpaca 1)" in check.Report([rep], []).text()


def test_unknown_format_and_non_object_rows():
    found = issues(PROBLEMS / "unknown_format.jsonl")
    assert [(f[1], f[2]) for f in found] == [("unknown_format", 2), ("not_object", 3)]
    assert "keys: text, label" in found[0][4] and found[1][4] == "row is a list, expected an object"


def test_sharegpt_and_alpaca_problems_name_the_field():
    assert [(f[1], f[4]) for f in issues(PROBLEMS / "sharegpt_problems.jsonl")] == [
        (
            "unknown_role",
            "conversations[1].from: unknown role 'observation' "
            "(allowed: system, human, user, gpt, assistant, bot, tool)",
        ),
        ("empty_content", "conversations[2].value: empty"),
    ]
    assert [(f[2], f[4]) for f in issues(PROBLEMS / "alpaca_problems.jsonl")] == [
        (1, "instruction: empty (and input is empty)"),
        (2, "output: null"),
        (3, "instruction: expected a string, got a number"),
    ]


def test_empty_file_is_a_problem():
    assert issues(PROBLEMS / "empty.jsonl") == [(PROBLEM, "no_rows", None, None, "no rows")]


def test_bom_and_crlf_are_accepted_with_a_note():
    rep = check_file(str(CLEAN / "bom_crlf.jsonl"))
    assert rep.problems == rep.warnings == 0
    assert [n["message"] for n in rep.notes] == [
        "UTF-8 byte-order mark at the start (accepted)",
        "CRLF line endings (accepted)",
    ]


def test_warnings_pass_unless_strict():
    rep = check_file(str(PROBLEMS / "warnings.jsonl"))
    assert rep.problems == 0 and [i["code"] for i in rep.issues] == ["role_alias", "role_alias", "ends_with_user"]
    strict = check_file(str(PROBLEMS / "warnings.jsonl"), strict=True)
    assert strict.problems == 3 and strict.bad_rows == 2 and all("--strict" in i["message"] for i in strict.issues)
    blank, _ = check_targets([str(PROBLEMS / "blank_lines.jsonl")])
    blank_strict, _ = check_targets([str(PROBLEMS / "blank_lines.jsonl")], strict=True)
    assert (blank.exit_code, blank_strict.exit_code) == (0, 1)


def test_problem_lines_are_file_line_col():
    report, _ = check_targets([str(PROBLEMS / "invalid_json.jsonl"), str(PROBLEMS / "unknown_role.jsonl")])
    text = report.text()
    assert f"  {PROBLEMS / 'invalid_json.jsonl'}:2:50: invalid JSON: Expecting ',' delimiter" in text
    assert f"  {PROBLEMS / 'unknown_role.jsonl'}:3: messages[1].role: unknown role 'robot'" in text
    assert report.exit_code == 1


def test_json_list_rows_carry_their_lines(tmp_path):
    path = tmp_path / "rows.json"
    path.write_text('[\n  {"query": "a",\n   "response": "b"},\n\n  {"query": "c", "response": ""}\n]\n')
    assert [(r.line, r.value["query"]) for r in read_records(str(path), lambda *a: None)] == [(2, "a"), (5, "c")]
    assert issues(path) == [(PROBLEM, "empty_content", 5, None, "response: empty")]


def test_json_list_without_closing_bracket(tmp_path):
    path = tmp_path / "cut.json"
    path.write_text('[{"query": "a", "response": "b"},\n {"query": "c", "response": "d"}\n')
    rep = check_file(str(path))
    assert rep.rows == 2 and [(i["code"], i["line"]) for i in rep.issues] == [("truncated", 3)]


def test_json_list_above_the_limit_is_refused_with_advice(tmp_path, monkeypatch):
    monkeypatch.setattr(check.read, "JSON_LIST_LIMIT", 10)
    path = tmp_path / "big.json"
    path.write_text('[{"query": "a", "response": "b"}]')
    rep = check_file(str(path))
    assert rep.problems == 1 and rep.rows == 0
    assert "too big to check in memory" in rep.issues[0]["message"] and "JSONL" in rep.issues[0]["message"]


def test_jsonl_named_json_gets_a_hint(tmp_path):
    path = tmp_path / "pretty.json"
    path.write_text('{\n  "query": "a"\n}\n')
    assert "a .json file holds a JSON list of rows, or one row per line" in issues(path)[0][4]


def test_streaming_keeps_memory_flat(tmp_path):
    path = tmp_path / "many.jsonl"
    row = json.dumps(
        {"messages": [{"role": "user", "content": "问" * 100}, {"role": "assistant", "content": "答" * 300}]},
        ensure_ascii=False,
    )
    path.write_text((row + "\n") * 4000, encoding="utf-8")
    assert path.stat().st_size > 4_000_000
    tracemalloc.start()
    rep = check_file(str(path))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert rep.rows == 4000 and rep.problems == 0
    assert peak < 1_000_000, f"peak {peak} bytes for a {path.stat().st_size} byte file"


def test_issue_list_is_capped_but_everything_counted(tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_text("{oops\n" * 120)
    rep = check_file(str(path), max_issues=10)
    assert rep.problems == 120 and rep.bad_rows == 120 and len(rep.issues) == 10
    text = check.Report([rep], []).text()
    assert "... and 110 more (all by kind: invalid_json 120)" in text


def test_progress_bar_only_on_a_terminal():
    quiet = io.StringIO()
    bar = Progress("x.jsonl", 3_400_000_000, stream=quiet)
    bar.update(1_200_000_000)
    assert quiet.getvalue() == "" and not bar.enabled  # StringIO is not a TTY
    shown = io.StringIO()
    bar = Progress("x.jsonl", 3_400_000_000, enabled=True, stream=shown, interval=0)
    bar.update(1_200_000_000)
    bar.close()
    assert shown.getvalue().startswith("\r  x.jsonl: 1.2 GB / 3.4 GB (35%)")


def test_missing_paths_are_usage_errors():
    report, errors = check_targets([str(CLEAN), "nope/train.jsonl", "/data/missing.jsonl#100"])
    assert report is None and errors == [
        "nope/train.jsonl: no such file or directory",
        "/data/missing.jsonl: no such file or directory",
    ]


def test_local_path_with_sample_suffix(tmp_path):
    path = tmp_path / "t.jsonl"
    shutil.copy(CLEAN / "alpaca.jsonl", path)
    report, errors = check_targets([f"{path}#2"])
    assert not errors and report.files[0].sample == 2 and "ms-swift samples 2" in report.text()


def test_tokens_counted_with_a_local_tokenizer(tmp_path, monkeypatch):
    seen = {}

    class FakeTokenizer:
        chat_template = "{{ messages }}"

        @classmethod
        def from_pretrained(cls, path, local_files_only):
            seen["path"], seen["local"] = path, local_files_only
            return cls()

        def apply_chat_template(self, messages, tokenize):
            return list(range(sum(len(m["content"]) for m in messages)))

    monkeypatch.setitem(sys.modules, "transformers", types.SimpleNamespace(AutoTokenizer=FakeTokenizer))
    report, _ = check_targets([str(CLEAN / "sharegpt.jsonl")], tokenizer=str(tmp_path))
    rep = report.files[0]
    assert seen == {"path": str(tmp_path), "local": True}
    assert rep.tokens == rep.chars and rep.max_tokens == rep.max_chars
    assert f"tokens counted with {tmp_path}" in report.text() and "tokens 93 (max 53 per row)" in report.text()


def test_tokens_skipped_with_a_note_without_transformers(monkeypatch):
    monkeypatch.setitem(sys.modules, "transformers", None)  # import fails
    report, _ = check_targets([str(CLEAN / "alpaca.jsonl")], tokenizer="/nowhere")
    assert report.exit_code == 0 and report.files[0].tokens is None
    assert "tokens not counted: transformers is not installed" in report.text()


def test_json_report():
    report, _ = check_targets([str(PROBLEMS / "invalid_json.jsonl")], offline=True)
    data = report.to_dict()
    assert data["ok"] is False and data["problems"] == 1 and data["rows"] == 3 and data["bad_rows"] == 1
    (f,) = data["files"]
    assert f["format"] == "messages" and f["issues"][0] == {
        "severity": PROBLEM,
        "code": "invalid_json",
        "line": 2,
        "col": 50,
        "message": "invalid JSON: Expecting ',' delimiter",
    }
    assert f["stats"]["turns"] == 4 and f["stats"]["tokens"] is None


def test_datasets_from_a_swift_command():
    argv = [
        "swift",
        "sft",
        "--model",
        "m",
        "--dataset",
        "/data/a.jsonl",
        "ms::x/y#5",
        "--max_length",
        "8",
        "--val_dataset=/data/v.jsonl",
        "--use_hf",
        "true",
    ]
    assert check.datasets_from_command(argv) == (["/data/a.jsonl", "ms::x/y#5", "/data/v.jsonl"], "huggingface")
    assert check.datasets_from_command(["swift", "sft"]) == ([], None)


def run_script(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    """`python3 -m check ...` as the training entrypoint runs it: the package's parent on PYTHONPATH and
    nothing else (-S -s: no site-packages, so it must live on the standard library alone)."""
    lib = cwd / "lib"
    return subprocess.run(
        [sys.executable, "-S", "-s", "-m", "check", *args], capture_output=True, text=True, cwd=cwd, timeout=60,
        env={"PYTHONPATH": str(lib), "PATH": "/usr/bin:/bin"},
    )  # fmt: skip


def test_standalone_package_alone_in_a_folder(tmp_path):
    shutil.copytree(PACKAGE, tmp_path / "lib" / "check", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(PROBLEMS / "unknown_role.jsonl", tmp_path / "train.jsonl")
    result = run_script("train.jsonl", cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "train.jsonl:3: messages[1].role: unknown role 'robot'" in result.stdout and "Traceback" not in result.stderr
    shutil.copy(CLEAN / "messages.jsonl", tmp_path / "good.jsonl")
    result = run_script(
        "--offline",
        "--from-command",
        "--",
        "swift",
        "sft",
        "--dataset",
        str(tmp_path / "good.jsonl"),
        "org/name#10",
        "--max_length",
        "8",
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "good.jsonl: 3 rows, messages format: clean" in result.stdout
    assert (
        "org/name#10: hub dataset on ModelScope, sample of 10 rows: not looked up on the hub (--offline)"
        in result.stdout
    )
    missing = run_script("--from-command", "--", "swift", "sft", "--dataset", "/data/nope.jsonl", cwd=tmp_path)
    assert missing.returncode == 2 and "error: /data/nope.jsonl: no such file or directory" in missing.stderr
    assert run_script("--from-command", "--", "swift", "sft", cwd=tmp_path).returncode == 0


def test_data_package_imports_no_pydantic_or_jinja(root):
    code = (
        "import sys, builder.data, builder.data.check, builder.data.convert; "
        "bad = [m for m in ('pydantic', 'jinja2', 'yaml', 'builder.spec') if m in sys.modules]; print(bad)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=root, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr


def test_other_file_formats_are_noted_not_failed(tmp_path):
    path = tmp_path / "train.csv"
    path.write_text("query,response\na,b\n")
    report, errors = check_targets([str(path)])
    assert not errors and report.exit_code == 0
    assert report.text().startswith(f"{path}: not checked: only JSONL and JSON files are")
