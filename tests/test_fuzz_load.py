"""Fuzzing the spec loader and `--set` (issue 10): whatever bytes are in modelforge.yaml and whatever
strings follow --set, the answer is a valid Spec or a SpecError whose every line names where (the file,
or the --set), never another exception, never a hang. Through the CLI: exit 0 or 2, never a traceback.

Runs with hypothesis under a fixed seed (profile "ci": the same cases every run, so a red CI is always
reproducible). To explore new cases: HYPOTHESIS_PROFILE=explore MODELFORGE_FUZZ_SCALE=10 pytest tests/test_fuzz_load.py
Case counts and timings: docs/reliability.md.
"""

from __future__ import annotations

import atexit
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import typing
from contextlib import contextmanager
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from hypothesis.control import currently_in_test_context
from pydantic import BaseModel

from builder.errors import SpecError
from builder.load import MAX_SPEC_BYTES, load_spec
from builder.spec import Spec

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.filterwarnings("ignore::hypothesis.errors.HypothesisWarning")  # big reprs of bombs

# No per-example deadline: CI machines are shared and slow at times (a 1.9 s first call failed a
# 1.5 s deadline in CI). Hangs are caught by EXAMPLE_LIMIT_S, which is about DoS, not speed.
settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.register_profile(
    "explore",
    derandomize=False,
    database=None,
    deadline=None,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
SCALE = float(os.environ.get("MODELFORGE_FUZZ_SCALE", "1"))
EXAMPLE_LIMIT_S = 10  # one load, however hostile: a hang fails here instead of stalling CI
TEST_LIMIT_S = 300 * max(1.0, SCALE)  # one whole test, shrinking included: a runaway, not a speed check


def examples(n: int) -> int:
    return max(1, int(n * SCALE))


class Hang(Exception):
    pass


@contextmanager
def time_limit(seconds: float):
    """SIGALRM-based limit (main thread, POSIX): turns a hang into a failure naming the input."""

    def on_alarm(signum, frame):
        raise Hang(f"no answer within {seconds} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture(autouse=True)
def whole_test_limit():
    started = time.monotonic()
    yield
    assert time.monotonic() - started < TEST_LIMIT_S, "a fuzz test ran past its time budget"


# --- what the properties check ------------------------------------------------------------------

_DIR = Path(tempfile.mkdtemp(prefix="mf-fuzz-"))
atexit.register(shutil.rmtree, _DIR, ignore_errors=True)
SPEC = _DIR / "modelforge.yaml"


def outcome(data: bytes, overrides: list[str] | tuple[str, ...] = ()) -> str:
    """Load data (+ overrides): 'valid' or 'error'; anything else (another exception, a hang) fails."""
    SPEC.write_bytes(data)
    with time_limit(EXAMPLE_LIMIT_S):
        try:
            spec = load_spec(SPEC, list(overrides))
        except SpecError as exc:
            assert exc.problems, "a SpecError without a problem"
            for problem in exc.problems:
                line = str(problem)
                assert problem.message.strip(), line
                assert "\n" not in line, f"one problem, one line: {line!r}"
                # Every line says where: the file (with its line when known) or the --set it came from.
                assert problem.source.startswith((str(SPEC), "--set #")), line
                assert len(line) < 4000, f"unreadable error line of {len(line)} characters"
            assert len(exc.problems) <= 51
            if currently_in_test_context():
                event("SpecError")
            return "error"
    assert isinstance(spec, Spec)
    if currently_in_test_context():
        event("valid Spec")
    return "valid"


# --- generators ---------------------------------------------------------------------------------


def _paths(model: type[BaseModel], prefix: str = "") -> dict[str, list[str]]:
    """Every dotted path of the schema, as it is today, with plausible values (YAML text) for it."""
    out = {}
    for key, field in model.model_fields.items():
        ann = field.annotation
        if isinstance(ann, type) and issubclass(ann, BaseModel):
            out.update(_paths(ann, f"{prefix}{key}."))
            continue
        kinds = set(typing.get_args(ann)) | {ann}
        options = [
            json.dumps(v) for a in kinds for v in (typing.get_args(a) if typing.get_origin(a) is typing.Literal else ())
        ]
        options += ["true", "false"] if bool in kinds else []
        options += ["1", "2", "4", "8", "60", "1000"] if int in kinds else []
        options += ["0.5", "1.0e-5"] if float in kinds else []
        options += ["null"] if type(None) in kinds else []
        if field.default is not None and not callable(field.default):
            options.append(json.dumps(field.default, default=str))
        out[f"{prefix}{key}"] = options or ["null"]
    return out


PLAUSIBLE = _paths(Spec)
FIELDS = list(PLAUSIBLE)
BASE = Spec().model_dump(mode="json")
BASE_TEXT = yaml.safe_dump(BASE, sort_keys=False, allow_unicode=True)
MINIMAL = "name: fuzz\nhardware:\n  gpus: 1\n"

TAGS = [
    "!!int",
    "!!float",
    "!!bool",
    "!!null",
    "!!str",
    "!!binary",
    "!!timestamp",
    "!!map",
    "!!seq",
    "!!set",
    "!!omap",
    "!!pairs",
    "!!merge",
    "!!value",
    "!!python/object:os.system",
    "!!python/name:os.system",
    "!!python/object/apply:os.system",
    "!custom",
    "!<tag:yaml.org,2002:int>",
    "!<!>",
    "!!",
]
WORDS = [
    "yes",
    "no",
    "on",
    "off",
    "y",
    "n",
    "~",
    "null",
    "NULL",
    "true",
    "False",
    "auto",
    ".nan",
    ".inf",
    "-.inf",
    "0x",
    "0o",
    "0b",
    "0x1F",
    "0o17",
    "0b101",
    "+1",
    "-0",
    "1_000",
    "1e999",
    "-1e999",
    "1.7976931348623157e308",
    "2001-13-45",
    "2001-02-30",
    "2001-12-14t21:59:43.10-05:00",
    "9999-99-99 99:99:99",
    "190:20:30",
    "1:60",
    "=",
    "<<",
    "&a",
    "*a",
    "*",
    "&",
    "%YAML 1.1",
    "---",
    "...",
    "|",
    ">",
    "|-",
    "? ",
    "@",
    "`",
    "%",
    "!",
    "hf_" + "A" * 34,
    "sk-" + "b" * 40,
    "$(touch /tmp/x)",
    "${HOME}",
    "'",
    '"',
    "\\",
    "#",
]
UNICODE = [
    "\x00",
    "\x01",
    "\x07",
    "\x1b",
    "\x7f",
    "\x85",
    "\xa0",
    "\u2028",
    "\u2029",
    "\ufeff",
    "\ufffe",
    "\uffff",
    "\ud800",
    "\udfff",
    "\U0001f600",
    "\u202e",
    "\u0301",
    "é",
    "中文",
    "\t",
    "\r",
    "\r\n",
    "\n",
    "\x0b",
    "\x0c",
]


def huge_digits(n: int) -> str:
    return "9" * n


numbers = st.one_of(
    st.integers().map(str),
    st.integers(min_value=-(10**300), max_value=10**300).map(str),
    st.integers(min_value=1, max_value=20_000).map(huge_digits),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.lists(st.integers(0, 59), min_size=1, max_size=3000).map(lambda p: "1:" + ":".join(map(str, p))),
    st.tuples(st.integers(0, 99999), st.integers(0, 99), st.integers(0, 99)).map(lambda t: "%04d-%d-%d" % t),
    st.integers(min_value=0, max_value=5000).map(lambda n: "0x" + "f" * n),
)
plain_text = st.text(st.characters(codec="utf-8"), max_size=40)
scalars = st.one_of(
    numbers,
    st.sampled_from(WORDS),
    plain_text,
    st.text(max_size=40).map(lambda s: json.dumps(s)),  # double-quoted: lone surrogates and NUL via \u escapes
    st.text(max_size=20).map(lambda s: "'" + s.replace("'", "''") + "'"),
    st.tuples(st.sampled_from(TAGS), st.one_of(numbers, st.sampled_from(WORDS), plain_text)).map(" ".join),
)


def flow(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    keys = st.one_of(st.sampled_from(["a", "b", "name", "id", "gpus", "<<", "? x", "1", "~"]), plain_text)
    return st.one_of(
        st.lists(children, max_size=5).map(lambda xs: "[" + ", ".join(xs) + "]"),
        st.lists(st.tuples(keys, children), max_size=5).map(
            lambda kv: "{" + ", ".join(f"{k}: {v}" for k, v in kv) + "}"
        ),
    )


values = st.recursive(scalars, flow, max_leaves=12)


def billion_laughs(levels: int, width: int, style: str) -> str:
    """The classic: each anchor a list of `width` aliases of the previous one; `width ** levels` leaves."""
    lines = ["a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * width)
        lines.append(
            f"a{i}: &a{i} [{refs}]"
            if style == "flow"
            else f"a{i}: &a{i}\n" + "".join(f"  - *a{i - 1}\n" for _ in range(width)).rstrip("\n")
        )
    return "\n".join(lines) + "\n"


bombs = st.builds(billion_laughs, st.integers(1, 12), st.integers(1, 12), st.sampled_from(["flow", "block"]))
merge_bombs = st.integers(1, 9).map(
    lambda n: (
        "base: &b {gpus: 1}\n"
        + "".join(f"m{i}: &m{i}\n  <<: *{'b' if i == 0 else f'm{i - 1}'}\n  x{i}: 1\n" for i in range(n))
    )
)


def nested(depth: int, kind: str) -> str:
    if kind == "flow_list":
        return "train: " + "[" * depth + "]" * depth + "\n"
    if kind == "flow_map":
        return "train: " + "{a: " * depth + "1" + "}" * depth + "\n"
    if kind == "unclosed":
        return "x: " + "[{" * depth + "\n"
    if kind == "block_seq":
        return "train:\n  dataset:\n" + "    " + "- " * depth + "x\n"
    return "".join("  " * i + f"k{i}:\n" for i in range(depth)) + "  " * depth + "v\n"


deep = st.builds(
    nested, st.integers(1, 3000), st.sampled_from(["flow_list", "flow_map", "unclosed", "block_seq", "block_map"])
)


def _block(tree: dict, indent: int = 0) -> str:
    out = []
    for key, value in tree.items():
        if isinstance(value, dict):
            out.append(" " * indent + f"{key}:\n" + _block(value, indent + 2))
        else:
            out.append(" " * indent + f"{key}: {value}\n")
    return "".join(out)


def _as_text_tree(value):
    """Base spec values as YAML text leaves (JSON is YAML), keeping the section structure."""
    if isinstance(value, dict) and value:
        return {key: _as_text_tree(v) for key, v in value.items()}
    return json.dumps(value, ensure_ascii=False)


BASE_TREE = _as_text_tree(BASE)
MINIMAL_TREE = {"name": "fuzz", "hardware": {"gpus": "1"}}


@st.composite
def mutated_specs(draw) -> str:
    """The default spec (or a minimal one) with a few fields, or new keys, set to hostile values, as block YAML;
    sometimes a line twice (a duplicate key) or a hostile character inserted. One in four: plausible values
    only, so valid specs come out too."""
    hostile = draw(st.integers(0, 3)) > 0
    tree = json.loads(json.dumps(BASE_TREE if draw(st.booleans()) else MINIMAL_TREE))
    for _ in range(draw(st.integers(1, 4))):
        path = draw(
            st.one_of(st.sampled_from(FIELDS), st.lists(plain_text, min_size=1, max_size=3).map(".".join))
            if hostile
            else st.sampled_from(FIELDS)
        )
        node = tree
        parts = path.split(".")
        for part in parts[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        plausible = st.sampled_from(PLAUSIBLE.get(path, ["null"]))
        node[parts[-1]] = draw(st.one_of(values, plausible) if hostile else plausible)
    lines = _block(tree).splitlines(keepends=True)
    if hostile and draw(st.booleans()) and lines:  # the same key again, or a hostile character somewhere
        at = draw(st.integers(0, len(lines) - 1))
        lines.insert(at, draw(st.sampled_from(lines)))
    if hostile and draw(st.booleans()):
        at = draw(st.integers(0, len(lines)))
        lines.insert(at, draw(st.sampled_from(UNICODE)))
    return "".join(lines)


token_soup = st.lists(
    st.one_of(
        st.sampled_from(
            WORDS + UNICODE + [": ", "\n", "  ", "- ", "[", "]", "{", "}", ",", "&x ", "*x", "name", "train", "gpus"]
        ),
        plain_text,
    ),
    max_size=60,
).map("".join)


def as_bytes(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")  # a lone surrogate becomes bytes that are not UTF-8


# --- the properties -----------------------------------------------------------------------------


@settings(max_examples=examples(800))
@given(mutated_specs())
def test_mutated_specs_load_or_name_the_problem(text):
    outcome(as_bytes(text))


@settings(max_examples=examples(600))
@given(st.one_of(token_soup, st.text(max_size=300)))
def test_yaml_token_soup(text):
    outcome(as_bytes(text))


@settings(max_examples=examples(300))
@given(
    st.one_of(
        st.binary(max_size=2000),
        st.binary(max_size=300).map(lambda b: b"\xef\xbb\xbf" + b),
        st.binary(max_size=300).map(lambda b: b"name: " + b),
    )
)
def test_random_bytes(data):
    outcome(data)


@settings(max_examples=examples(150))
@given(st.one_of(bombs, merge_bombs))
def test_alias_bombs_are_refused(text):
    assert outcome(as_bytes(text)) == "error"


@settings(max_examples=examples(300))
@given(st.one_of(deep, numbers.map(lambda n: f"hardware:\n  gpus: {n}\n")))
def test_deep_nesting_and_huge_numbers(text):
    outcome(as_bytes(text))


@st.composite
def overrides(draw) -> str:
    kind = draw(st.integers(0, 9))
    if kind == 0:  # not PATH=VALUE at all
        return draw(plain_text)
    if kind == 1:
        path = draw(st.lists(st.one_of(plain_text, st.just("")), min_size=1, max_size=4).map(".".join))
    else:
        path = draw(st.sampled_from(FIELDS))
        if draw(st.booleans()):
            path += "." + draw(st.sampled_from(["x", "0", "a.b", "HF_TOKEN", "api_key"]))
    value = draw(
        st.one_of(
            values,
            bombs.map(lambda t: "{" + t.replace("\n", ", ").rstrip(", ") + "}"),
            st.integers(1, 3000).map(lambda d: "[" * d),
            st.just(""),
        )
    )
    return f"{path}={value}"


@settings(max_examples=examples(1000))
@given(st.lists(overrides(), min_size=1, max_size=3), st.sampled_from([MINIMAL, BASE_TEXT]))
def test_set_overrides(sets, base):
    outcome(as_bytes(base), sets)


# --- fixed cases: every hostile input named in issue 10, and each bug the fuzzing found ---------

LAUGHS = billion_laughs(9, 9, "flow")  # 9 ** 10 leaves if expanded
FIXED = {
    "billion laughs": LAUGHS,
    "billion laughs (block)": billion_laughs(9, 9, "block"),
    "merge-key bomb": "a: &a {x: 1}\nb:\n  <<: *a\n",
    "duplicate key": "train:\n  epochs: 1\n  epochs: 2\n",
    "duplicate section": "train: {}\ntrain: {}\n",
    "nested 3,000 deep (flow)": nested(3000, "flow_list"),
    "nested 100,000 deep (flow, 1 MB bound)": "x: " + "[" * 100_000 + "\n",
    "nested 500 deep (block)": nested(500, "block_map"),
    "nested 100,000 deep (block seq)": nested(100_000, "block_seq"),
    "5,000-digit int": "hardware:\n  gpus: " + "9" * 5000 + "\n",
    "sexagesimal 1:2:3 x 100,000": "hardware:\n  gpus: 1" + ":1" * 100_000 + "\n",
    "hex 0xfff x 50,000": "hardware:\n  gpus: 0x" + "f" * 50_000 + "\n",
    "1e999": "hardware:\n  gpus: 1e999\n",
    "timestamp 2001-13-45": "name: 2001-13-45\n",
    "!!timestamp garbage": "name: !!timestamp yesterday\n",
    "!!bool maybe": "name: !!bool maybe\n",
    "!!int abc": "hardware:\n  gpus: !!int abc\n",
    "!!float abc": "train:\n  learning_rate: !!float abc\n",
    "!!int with no value": "model:\n  id: !!int\n",
    "!!float with no value": "model:\n  id: !!float\n",
    "!!binary not base64": "name: !!binary '@@@'\n",
    "!!python/object": "name: !!python/object/apply:os.system [touch /tmp/pwned]\n",
    "NUL byte": "name: a\x00b\n",
    "escaped NUL": 'name: "a\\0b"\n',
    "lone surrogate (escaped)": 'name: "\\ud800"\n',
    "lone surrogate (raw bytes)": "name: \ud800\n",
    "latin-1": "name: caf\xe9\n".encode("latin-1"),
    "UTF-16": "name: x\n".encode("utf-16"),
    "BOM only": b"\xef\xbb\xbf",
    "empty": b"",
    "a list": "- 1\n- 2\n",
    "a scalar": "hello\n",
    "two documents": "name: a\n---\nname: b\n",
    "tab indentation": "train:\n\ttuner: full\n",
    "0.95 MB of unknown keys": "train:\n" + "".join(f"  k{i}: {i}\n" for i in range(60_000)),
    "over 1 MB": "name: " + "a" * MAX_SPEC_BYTES + "\n",
    "a directory": None,
}


@pytest.mark.parametrize("name", list(FIXED))
def test_fixed_hostile_specs(name, tmp_path):
    data = FIXED[name]
    if data is None:
        with pytest.raises(SpecError, match="cannot read the spec"):
            load_spec(tmp_path)
        return
    started = time.monotonic()
    result = outcome(data if isinstance(data, bytes) else as_bytes(data))
    assert result == "error" or name in ("empty", "BOM only")
    assert time.monotonic() - started < 20


FIXED_SETS = {
    "billion laughs": "train.dataset=[&a [x,x,x,x,x,x,x,x,x], &b [*a,*a,*a,*a,*a,*a,*a,*a,*a], "
    "&c [*b,*b,*b,*b,*b,*b,*b,*b,*b], &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]]",
    "literal bomb": "train.tuner="
    + "[&a [1,1,1,1,1,1,1,1,1]"
    + "".join(f", &{chr(98 + i)} [" + ",".join([f"*{chr(97 + i)}"] * 9) + "]" for i in range(8))
    + "]",
    "deep": "train.dataset=" + "[" * 50_000,
    "huge int": "hardware.gpus=" + "9" * 5000,
    "sexagesimal": "train.tuner=1" + ":1" * 5000,
    "bad timestamp": "name=2001-13-45",
    "!!bool maybe": "name=!!bool maybe",
    "python tag": "name=!!python/object/apply:os.system [id]",
    "duplicate key": "train.env={A: 1, A: 2}",
    "below a scalar": "name.x=1",
    "no equals": "hardware.gpus",
    "empty path": "=1",
    "empty part": "train..tuner=full",
    "secret env": "train.env.HF_TOKEN=hf_" + "A" * 34,
    "secret flag": "serve.extra_args.api_key=sk-" + "b" * 40,
}


@pytest.mark.parametrize("name", list(FIXED_SETS))
def test_fixed_hostile_set_values(name):
    assert outcome(as_bytes(MINIMAL), [FIXED_SETS[name]]) == "error"


def test_set_on_a_list_spec_is_an_error_not_a_type_error():
    # Found by fuzzing: --set on a spec that is a YAML list raised TypeError (list indices must be integers).
    assert outcome(b"- 1\n", ["name=x"]) == "error"
    assert outcome(b"just a string\n", ["a.b=1"]) == "error"


def test_set_still_types_values():
    SPEC.write_text(MINIMAL)
    spec = load_spec(
        SPEC,
        [
            "hardware.gpus=4",
            "train.dataset=[/data/a.jsonl, b/c]",
            "serve.bind_address=0.0.0.0",
            "train.env={NOTE: '[x'}",
            "serve.env.NOTE=[not-yaml",
            "train.extra_args.flag=0x1F",
        ],
    )
    assert spec.hardware.gpus == 4 and spec.train.dataset == ["/data/a.jsonl", "b/c"]
    assert spec.train.env == {"NOTE": "[x"} and spec.serve.env == {"NOTE": "[not-yaml"}
    assert spec.train.extra_args == {"flag": 31}


# --- through the CLI, as users run it ------------------------------------------------------------


def cli(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT), MF_HUB_OFFLINE="1")  # a fuzzed model id: no 8 s hub timeouts
    return subprocess.run(
        [sys.executable, "-m", "builder.cli", *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=60
    )


def assert_cli_answer(result: subprocess.CompletedProcess, spec_path: Path) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr[-3000:]
    # 2: a bad spec; 1: well-formed, but the planner refuses it (validate runs the plan's checks too)
    assert result.returncode in (0, 1, 2), (result.returncode, result.stderr[-3000:])
    if result.returncode:
        lines = result.stderr.strip().splitlines()
        assert lines and all(line.startswith(("error: " + str(spec_path), "error: --set #")) for line in lines), lines[
            :5
        ]


CLI_SPEC = _DIR / "cli" / "modelforge.yaml"


def _arg_ok(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return "\x00" not in text


@settings(max_examples=examples(15), deadline=None)
@given(st.one_of(mutated_specs(), bombs, deep, token_soup), st.lists(overrides().filter(_arg_ok), max_size=2))
def test_cli_exit_2_and_no_traceback(text, sets):
    CLI_SPEC.parent.mkdir(exist_ok=True)
    CLI_SPEC.write_bytes(as_bytes(text))
    result = cli("validate", "-f", str(CLI_SPEC), *[f"--set={s}" for s in sets])
    assert_cli_answer(result, CLI_SPEC)


CLI_FIXED = [
    "billion laughs",
    "merge-key bomb",
    "duplicate key",
    "nested 100,000 deep (flow, 1 MB bound)",
    "nested 500 deep (block)",
    "sexagesimal 1:2:3 x 100,000",
    "timestamp 2001-13-45",
    "!!bool maybe",
    "!!python/object",
    "NUL byte",
    "lone surrogate (escaped)",
    "latin-1",
    "a list",
    "over 1 MB",
]
CLI_FIXED_SETS = ["literal bomb", "deep", "huge int", "bad timestamp", "duplicate key", "no equals", "secret env"]


def test_cli_fixed_hostile_cases(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    jobs = []
    for i, name in enumerate(CLI_FIXED):
        path = tmp_path / f"{i}.yaml"
        data = FIXED[name]
        path.write_bytes(data if isinstance(data, bytes) else as_bytes(data))
        jobs.append((path, ["validate", "-f", str(path)]))
    base = tmp_path / "base.yaml"
    base.write_text(MINIMAL)
    for value in map(FIXED_SETS.get, CLI_FIXED_SETS):
        jobs.append((base, ["validate", "-f", str(base), f"--set={value}"]))
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda job: (job[0], cli(*job[1])), jobs))
    for path, result in results:
        assert result.returncode == 2, (path, result.stderr[-2000:])
        assert_cli_answer(result, path)
