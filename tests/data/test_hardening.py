"""Hostile training data (issue 10): truncated files, mixed encodings, a 2 GB line, CRLF, BOM.

`data check` names each with file:line and never holds a huge line in memory; `data convert` never
drops a row silently: rows in = rows written + rows rejected, every rejected row copied to --rejects
byte for byte, checked against an independent count on thousands of generated files (hypothesis).
Figures: docs/reliability.md.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tracemalloc
from contextlib import contextmanager
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from builder.data import check
from builder.data.check import check_file
from builder.data.convert import convert

ROOT = Path(__file__).resolve().parents[2]
SCALE = float(os.environ.get("MODELFORGE_FUZZ_SCALE", "1"))
GiB = 1024**3


def fuzz(n: int) -> settings:
    """n cases (times MODELFORGE_FUZZ_SCALE), a fixed seed unless HYPOTHESIS_PROFILE=explore.

    No deadline: these check correctness, and a shared CI machine can stall any one example."""
    return settings(
        max_examples=max(1, int(n * SCALE)),
        derandomize=os.environ.get("HYPOTHESIS_PROFILE", "ci") != "explore",
        database=None,
        deadline=None,
        print_blob=True,
        suppress_health_check=list(HealthCheck),
    )


def codes(rep) -> list[tuple[str, int | None]]:
    return [(i["code"], i["line"]) for i in rep.issues]


@contextmanager
def line_limit(n: int):
    old = check.read.MAX_LINE_BYTES
    check.read.MAX_LINE_BYTES = n
    try:
        yield
    finally:
        check.read.MAX_LINE_BYTES = old


def sparse_huge_line(path: Path, size: int = 2 * GiB) -> Path:
    """A first line of `size` bytes (a JSON string of NUL bytes, never valid) and a good second row.
    Sparse: it takes no disk and is never allocated in memory here."""
    with open(path, "wb") as f:
        f.write(b'{"query": "')
        f.truncate(size)
        f.seek(0, os.SEEK_END)
        f.write(b'", "response": "x"}\n{"query": "q", "response": "r"}\n')
    return path


# --- a 2 GB line --------------------------------------------------------------------------------


def test_a_300mb_line_is_reported_not_read_into_memory(tmp_path):
    path = sparse_huge_line(tmp_path / "huge.jsonl", 300 * 1024**2)
    with line_limit(4 * 1024**2):
        tracemalloc.start()
        rep = check_file(str(path))
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert rep.rows == 2 and rep.bad_rows == 1 and rep.valid_rows == 1
    [issue] = rep.issues
    assert (issue["code"], issue["line"]) == ("line_too_long", 1)
    assert "a line of 314.6 MB, longer than a row may be (4.2 MB): not read" in issue["message"]
    assert peak < 12 * 1024**2, f"peak {peak:,} bytes for a 300 MiB line"


def test_a_2gb_line_through_the_cli_with_the_default_limit(tmp_path):
    """As users run it: `modelforge data check` with the shipped limit (128 MiB); exit 1, bounded memory."""
    path = sparse_huge_line(tmp_path / "huge.jsonl")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    code = (
        "import resource, sys; from builder.cli import main; rc = main(sys.argv[1:]); "
        "print('maxrss_kib', resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, file=sys.stderr); sys.exit(rc)"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, "data", "check", str(path)], capture_output=True, text=True, env=env, timeout=120
    )
    assert result.returncode == 1, result.stderr
    assert "huge.jsonl:1: a line of 2.1 GB, longer than a row may be (134.2 MB): not read" in result.stdout
    assert "2 rows" in result.stdout and "Traceback" not in result.stderr
    maxrss_mib = int(result.stderr.split("maxrss_kib")[1].split()[0]) / 1024
    assert maxrss_mib < 512, f"{maxrss_mib:.0f} MiB resident for a 2 GiB line"  # measured: 298 MiB


def test_convert_rejects_a_too_long_line_and_copies_it_whole(tmp_path):
    src = tmp_path / "in.jsonl"
    long_row = json.dumps({"query": "x" * 3_000_000, "response": "y"}).encode()
    src.write_bytes(b'{"query": "a", "response": "b"}\n' + long_row + b"\n" + b'{"query": "c", "response": "d"}')
    out, rejects = tmp_path / "out.jsonl", tmp_path / "rejects.jsonl"
    said: list[str] = []
    with line_limit(1024**2):
        result = convert(str(src), str(out), rejects=str(rejects), say=said.append)
    assert (result.rows_in, result.written, result.rejected) == (3, 2, 1)
    assert said == [
        f"{src}:2: rejected: a line of 3.0 MB, longer than a row may be (1.0 MB): not read; keep images "
        "and other media as files and put their paths in the row"
    ]
    assert rejects.read_bytes() == long_row + b"\n"
    assert [json.loads(line)["messages"][0]["content"] for line in out.read_text().splitlines()] == ["a", "c"]


def test_line_exactly_at_the_limit_is_read(tmp_path):
    row = json.dumps({"query": "q" * 100, "response": "r"}).encode()
    path = tmp_path / "edge.jsonl"
    path.write_bytes(row + b"\n" + row)
    with line_limit(len(row)):
        rep = check_file(str(path))
    assert rep.rows == 2 and rep.problems == 0
    with line_limit(len(row) - 1):
        rep = check_file(str(path))
    assert codes(rep) == [("line_too_long", 1), ("line_too_long", 2)]


# --- truncated files ----------------------------------------------------------------------------

ROWS = [{"query": f"问题 {i}", "response": f"答案 {i}", "id": i} for i in range(6)]
JSONL = b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\n" for r in ROWS)
JSON_LIST = json.dumps(ROWS, ensure_ascii=False, indent=2).encode()


@fuzz(150)
@given(st.integers(1, len(JSONL) - 1))
def test_jsonl_cut_anywhere(tmp_path_factory, cut):
    folder = tmp_path_factory.mktemp("cut")
    src, out = folder / "in.jsonl", folder / "out.jsonl"
    data = JSONL[:cut]
    src.write_bytes(data)
    rep = check_file(str(src))
    whole = data.count(b"\n")
    partial = not data.endswith(b"\n")
    assert rep.rows == whole + partial
    if partial:  # the cut row: named, at its line, as truncated (or, cut inside a character, not UTF-8)
        assert rep.problems == 0 or codes(rep)[-1] in (("truncated", whole + 1), ("invalid_utf8", whole + 1))
    result = convert(str(src), str(out), say=lambda _: None)
    assert result.rows_in == result.written + result.rejected == rep.rows


@fuzz(100)
@given(st.integers(1, len(JSON_LIST) - 1))
def test_json_list_cut_anywhere_writes_nothing(tmp_path_factory, cut):
    folder = tmp_path_factory.mktemp("cut")
    src, out = folder / "in.json", folder / "out.jsonl"
    src.write_bytes(JSON_LIST[:cut])
    rep = check_file(str(src))
    assert rep.problems >= 1
    assert {i["code"] for i in rep.issues} <= {"truncated", "invalid_json", "invalid_utf8", "no_rows"}
    result = convert(str(src), str(out), say=lambda _: None)
    assert result.fatal and not out.exists() and not list(folder.glob("*.tmp-*"))


# --- encodings, CRLF, BOM -----------------------------------------------------------------------


def test_mixed_encodings_are_named_per_line(tmp_path):
    row = {"query": "café 中文", "response": "ok"}
    text = json.dumps(row, ensure_ascii=False)
    path = tmp_path / "mixed.jsonl"
    path.write_bytes(
        b"\n".join(
            [
                text.encode(),
                text.encode("latin-1", "replace"),
                text.encode("gbk"),
                text.encode("utf-16-le"),
                text.encode("cp1252", "replace"),
                text.encode(),
            ]
        )
        + b"\n"
    )
    rep = check_file(str(path))
    assert rep.rows == 6 and rep.bad_rows == 4
    assert [c for c in codes(rep)] == [
        ("invalid_utf8", 2),
        ("invalid_utf8", 3),
        ("invalid_utf8", 4),
        ("invalid_utf8", 5),
    ]
    assert all("(the file must be UTF-8)" in i["message"] for i in rep.issues)
    result = convert(str(path), str(tmp_path / "out.jsonl"), say=lambda _: None)
    assert (result.rows_in, result.written, result.rejected) == (6, 2, 4)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_utf16_file_is_named_with_the_fix(tmp_path, encoding):
    path = tmp_path / "u16.jsonl"
    bom = {"utf-16": b"", "utf-16-le": b"\xff\xfe", "utf-16-be": b"\xfe\xff"}[encoding]
    path.write_bytes(bom + '{"query": "a", "response": "b"}\n'.encode(encoding))
    rep = check_file(str(path))
    assert codes(rep) == [("utf16", 1)] and "iconv -f UTF-16 -t UTF-8" in rep.issues[0]["message"]
    result = convert(str(path), str(tmp_path / "out.jsonl"), say=lambda _: None)
    assert result.fatal and not (tmp_path / "out.jsonl").exists()


def test_crlf_and_bom_convert_to_clean_lf(tmp_path):
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_bytes(b"\xef\xbb\xbf" + b"".join(json.dumps(r, ensure_ascii=False).encode() + b"\r\n" for r in ROWS))
    rep = check_file(str(src))
    assert (
        rep.rows == 6
        and rep.problems == 0
        and [n["message"] for n in rep.notes]
        == ["UTF-8 byte-order mark at the start (accepted)", "CRLF line endings (accepted)"]
    )
    result = convert(str(src), str(out))
    assert result.written == 6 and b"\r" not in out.read_bytes() and not out.read_bytes().startswith(b"\xef")


def test_cr_only_line_endings_are_named_not_called_crlf(tmp_path):
    path = tmp_path / "mac.jsonl"
    path.write_bytes(b"\r".join(json.dumps(r).encode() for r in ROWS) + b"\r")
    rep = check_file(str(path))
    assert codes(rep) == [("cr_line_endings", 1)] and "tr '\\r' '\\n'" in rep.issues[0]["message"]
    assert not rep.notes  # no 'CRLF line endings (accepted)'


def test_bom_in_the_middle_is_named(tmp_path):
    path = tmp_path / "joined.jsonl"
    path.write_bytes(JSONL + b"\xef\xbb\xbf" + JSONL)
    rep = check_file(str(path))
    assert codes(rep) == [("inner_bom", 7)] and "files joined" in rep.issues[0]["message"]


def test_nul_bytes_and_binary_lines(tmp_path):
    path = tmp_path / "bin.jsonl"
    path.write_bytes(JSONL + b"\x00" * 50 + b"\n" + os.urandom(300).replace(b"\n", b"") + b"\n" + JSONL)
    rep = check_file(str(path))
    assert rep.rows == 14 and rep.bad_rows == 2 and [line for _, line in codes(rep)] == [7, 8]


# --- convert never drops a row: fuzzed files against an independent count ------------------------

good_rows = st.one_of(
    st.builds(lambda q, r: {"query": q, "response": r}, st.text(min_size=1), st.text(min_size=1)),
    st.builds(lambda i, o: {"instruction": i, "input": "", "output": o}, st.text(min_size=1), st.text(min_size=1)),
    st.builds(
        lambda u, a: {"conversations": [{"from": "human", "value": u}, {"from": "gpt", "value": a}]},
        st.text(min_size=1),
        st.text(min_size=1),
    ),
    st.builds(
        lambda u, a: {"messages": [{"role": "user", "content": u}, {"role": "assistant", "content": a}]},
        st.text(min_size=1),
        st.text(min_size=1),
    ),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=10),
    lambda c: st.lists(c, max_size=3) | st.dictionaries(st.text(max_size=8), c, max_size=3),
    max_leaves=8,
)
bad_rows = st.one_of(
    json_values,
    st.dictionaries(
        st.sampled_from(
            [
                "messages",
                "conversations",
                "instruction",
                "output",
                "query",
                "response",
                "system",
                "history",
                "input",
                "id",
            ]
        ),
        json_values,
        max_size=4,
    ),
)


def _encode(value, how: str) -> bytes:
    text = json.dumps(value, ensure_ascii=(how == "ascii"))
    return text.encode("utf-8") if how != "latin-1" else text.encode("latin-1", "replace")


lines = st.one_of(
    st.tuples(st.sampled_from(["good"]), good_rows, st.sampled_from(["utf-8", "ascii"])),
    st.tuples(st.sampled_from(["bad"]), bad_rows, st.sampled_from(["utf-8", "ascii", "latin-1"])),
    st.tuples(st.just("bytes"), st.binary(max_size=40).map(lambda b: b.replace(b"\n", b"")), st.just("")),
    st.tuples(st.just("blank"), st.sampled_from([b"", b" ", b"\t", b"\r", b"  \r"]), st.just("")),
    st.tuples(st.just("long"), st.integers(300, 5000), st.just("")),
)


def oracle_rows(data: bytes, limit: int) -> int:
    """Rows as a person would count them: non-blank lines (a line too long to read is still a row)."""
    parts = data.split(b"\n")
    if data.endswith(b"\n"):
        parts.pop()
    count = 0
    for i, part in enumerate(parts):
        if i == 0 and part.startswith(b"\xef\xbb\xbf") and len(part) <= limit:
            part = part[3:]
        if len(part) > limit or part.strip():
            count += 1
    return count


@fuzz(400)
@given(st.lists(lines, max_size=25), st.booleans(), st.booleans(), st.booleans(), st.integers(0, 2**32))
def test_convert_accounts_for_every_row(tmp_path_factory, items, bom, crlf, final_newline, seed):
    folder = tmp_path_factory.mktemp("fuzz")
    src, out, rejects = folder / "in.jsonl", folder / "out.jsonl", folder / "rejects.jsonl"
    raw_lines = []
    for n, (kind, value, how) in enumerate(items):
        if kind in ("good", "bad"):
            if isinstance(value, dict):
                value = {**value, "mf_row": n}
            raw_lines.append(_encode(value, how))
        elif kind == "long":
            raw_lines.append(b'{"query": "' + b"x" * value + b'", "response": "y"}')
        else:
            raw_lines.append(value)
    eol = b"\r\n" if crlf else b"\n"
    data = (b"\xef\xbb\xbf" if bom else b"") + eol.join(raw_lines) + (eol if final_newline and raw_lines else b"")
    stripped = data[3:].lstrip() if bom else data.lstrip()
    if (
        stripped.startswith(b"[")
        or stripped.startswith((b"\xff\xfe", b"\xfe\xff"))
        or data[:2] in (b"\xff\xfe", b"\xfe\xff")
    ):
        return  # a JSON list, or UTF-16: other tests
    src.write_bytes(data)
    limit = 1000
    with line_limit(limit):
        rep = check_file(str(src))
        said: list[str] = []
        result = convert(str(src), str(out), rejects=str(rejects), say=said.append)
    expected = oracle_rows(data, limit)
    assert rep.rows == expected, (rep.rows, expected)
    assert result.rows_in == expected == result.written + result.rejected
    assert not result.fatal
    written = out.read_bytes().splitlines()
    assert len(written) == result.written
    assert len(said) == result.rejected and all(": rejected: " in s for s in said)
    assert rejects.read_bytes().count(b"\n") == result.rejected
    # Every written row is clean messages; rows keep their order and their other keys.
    if written:
        assert check_file(str(out)).problems == 0
    order = [json.loads(w).get("mf_row") for w in written]
    assert [n for n in order if n is not None] == sorted(n for n in order if n is not None)


@fuzz(200)
@given(st.lists(st.one_of(good_rows, bad_rows), max_size=20), st.sampled_from([None, 0, 2]), st.booleans())
def test_convert_json_list_accounts_for_every_row(tmp_path_factory, values, indent, ascii_only):
    folder = tmp_path_factory.mktemp("fuzzlist")
    src, out = folder / "in.json", folder / "out.jsonl"
    src.write_text(json.dumps(values, indent=indent, ensure_ascii=ascii_only), encoding="utf-8")
    rep = check_file(str(src))
    result = convert(str(src), str(out), say=lambda _: None)
    if not values:
        assert rep.rows == 0 and result.rows_in == 0
        return
    assert rep.rows == result.rows_in == len(values) == result.written + result.rejected
    assert len(out.read_bytes().splitlines()) == result.written
