"""`data convert`: lossless (rows in = rows out + rejected, each rejection with its line), UTF-8 kept as text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from builder.data.check import check_file
from builder.data.convert import convert

FIX = Path(__file__).resolve().parents[1] / "fixtures" / "data"
CLEAN, PROBLEMS = FIX / "clean", FIX / "problems"


def rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.mark.parametrize(
    "name",
    ["messages.jsonl", "sharegpt.jsonl", "alpaca.jsonl", "query_response.jsonl", "nested/list.json", "bom_crlf.jsonl"],
)
def test_clean_files_convert_whole_and_check_clean(tmp_path, name):
    out = tmp_path / "out.jsonl"
    said: list[str] = []
    result = convert(str(CLEAN / name), str(out), say=said.append)
    assert result.exit_code == 0 and result.rejected == 0 and said == []
    assert result.written == result.rows_in == len(rows(out))
    rep = check_file(str(out))
    assert rep.file_format() == "messages" and rep.problems == rep.warnings == 0


def test_chinese_stays_text(tmp_path):
    out = tmp_path / "out.jsonl"
    convert(str(CLEAN / "sharegpt.jsonl"), str(out))
    raw = out.read_bytes()
    assert "把这句话翻译成英文：我爱编程。".encode() in raw and b"\\u" not in raw
    assert rows(out)[1] == {
        "messages": [
            {"role": "user", "content": "把这句话翻译成英文：我爱编程。"},
            {"role": "assistant", "content": "I love programming."},
            {"role": "user", "content": "谢谢"},
            {"role": "assistant", "content": "不客气！"},
        ],
        "source": "demo",
    }


def test_messages_pass_through_with_other_keys(tmp_path):
    out = tmp_path / "out.jsonl"
    convert(str(CLEAN / "messages.jsonl"), str(out))
    assert rows(out) == rows(CLEAN / "messages.jsonl")  # tools, id and tool_call/tool_response roles kept


def test_lossless_with_rejections(tmp_path):
    src = tmp_path / "in.jsonl"
    parts = [
        "invalid_json.jsonl",
        "unknown_role.jsonl",
        "invalid_utf8.jsonl",
        "warnings.jsonl",
        "blank_lines.jsonl",
        "mixed_formats.jsonl",
        "truncated.jsonl",
    ]
    src.write_bytes(b"".join((PROBLEMS / p).read_bytes() for p in parts))
    out, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl"
    said: list[str] = []
    result = convert(str(src), str(out), rejects=str(rejects), say=said.append)
    assert result.rows_in == 19 and result.blank_lines == 2
    assert result.rows_in == result.written + result.rejected and result.rejected == 4 and result.exit_code == 1
    assert said == [
        f"{src}:2:50: rejected: invalid JSON: Expecting ',' delimiter",
        f"{src}:6: rejected: messages[1].role: unknown role 'robot' "
        "(allowed: system, user, assistant, tool, tool_call, tool_response)",
        f"{src}:8:47: rejected: invalid UTF-8: byte 0xe9 (the file must be UTF-8)",
        f"{src}:21:43: rejected: truncated last line: no newline at the end and the JSON is incomplete "
        "(Unterminated string starting at column 43)",
    ]
    assert len(rows(out)) == result.written and result.formats == {"messages": 14, "alpaca": 1}
    assert b"caf\xe9" in rejects.read_bytes() and len(rejects.read_bytes().splitlines()) == 4  # as they were
    converted = rows(out)
    assert {"role": "user", "content": "hi"} in converted[-1]["messages"]  # the alpaca row, now messages
    assert all(m["role"] in ("user", "assistant") for r in converted for m in r["messages"])  # aliases rewritten


def test_response_list_is_rejected_not_guessed(tmp_path):
    src = tmp_path / "in.jsonl"
    src.write_text(json.dumps({"query": "q", "response": ["a", "b"]}) + "\n")
    said: list[str] = []
    result = convert(str(src), str(tmp_path / "out.jsonl"), say=said.append)
    assert (result.rows_in, result.written, result.rejected) == (1, 0, 1)
    assert said == [f"{src}:1: rejected: response: a list; ms-swift trains on one of them, picked at random"]


def test_unreadable_json_list_writes_nothing(tmp_path):
    out = tmp_path / "out.jsonl"
    result = convert(str(PROBLEMS / "bad_list.json"), str(out))
    assert result.exit_code == 1 and result.fatal == [
        f"{PROBLEMS / 'bad_list.json'}:3:23: invalid JSON: Expecting ',' delimiter; nothing after it is checked"
    ]
    assert not out.exists() and list(tmp_path.iterdir()) == []


def test_only_messages_target():
    with pytest.raises(ValueError):
        convert("in", "out", to="alpaca")
