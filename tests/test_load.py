"""Spec loading: every bad input names file:line and the dotted path, exits 2, never a traceback."""

from __future__ import annotations

import pytest

from builder.errors import SpecError
from builder.load import load_spec


def problems(path, overrides=()):
    with pytest.raises(SpecError) as info:
        load_spec(path, overrides)
    return [str(p) for p in info.value.problems]


def test_default_file_is_valid(root):
    spec = load_spec(root / "modelforge.yaml")
    assert spec.model.id == "Qwen/Qwen3-30B-A3B-Thinking-2507"
    assert spec.hardware.gpus == 5
    assert spec.train.tuner == "full"


def test_unknown_key_names_line_and_suggests(write_spec):
    path = write_spec("train:\n  tuner: full\n  learnin_rate: 0.1\n")
    [msg] = problems(path)
    assert f"{path}:3: train.learnin_rate: unknown key; did you mean 'learning_rate'?" in msg


def test_wrong_type_and_bad_enum(write_spec):
    path = write_spec("hardware:\n  gpus: five\ntrain:\n  deepspeed: zero4\n")
    msgs = problems(path)
    assert any(m.startswith(f"{path}:2: hardware.gpus:") and "integer" in m for m in msgs)
    assert any(m.startswith(f"{path}:4: train.deepspeed:") and "'zero3'" in m and "zero4" in m for m in msgs)


def test_missing_file(tmp_path):
    [msg] = problems(tmp_path / "nope.yaml")
    assert "nope.yaml" in msg and "not found" in msg


def test_invalid_yaml_names_line(write_spec):
    path = write_spec("train:\n  tuner: [full\n")
    [msg] = problems(path)
    assert msg.startswith(f"{path}:") and "invalid YAML" in msg


def test_duplicate_key_is_an_error(write_spec):
    path = write_spec("train:\n  epochs: 1\n  epochs: 3\n")
    [msg] = problems(path)
    assert f"{path}:3: train.epochs: duplicate key" in msg


def test_aliases_refused(write_spec):
    path = write_spec("a: &x [1, 2]\nb: *x\n")
    [msg] = problems(path)
    assert "aliases" in msg


def test_not_a_mapping(write_spec):
    [msg] = problems(write_spec("- 1\n- 2\n"))
    assert "mapping" in msg


def test_set_overrides_are_typed(write_spec):
    path = write_spec("name: x\n")
    spec = load_spec(
        path, ["hardware.gpus=4", "train.dataset=[/data/a.jsonl, /data/b.jsonl]", "serve.tensor_parallel=2"]
    )
    assert spec.hardware.gpus == 4
    assert spec.train.dataset == ["/data/a.jsonl", "/data/b.jsonl"]
    assert spec.serve.tensor_parallel == 2


def test_bad_set_override_names_it(write_spec):
    path = write_spec("name: x\n")
    [msg] = problems(path, ["hardware.gpus=lots"])
    assert msg.startswith("--set #1 (hardware.gpus=lots): hardware.gpus:")
    [msg] = problems(path, ["no-equals-sign"])
    assert "--set #1" in msg and "dotted.path=value" in msg


def test_secrets_refused_in_env_and_args(write_spec):
    path = write_spec("train:\n  env:\n    HF_TOKEN: hf_abc\nserve:\n  extra_args:\n    api_key: sk-1\n")
    msgs = problems(path)
    assert any("train.env" in m and "secret" in m for m in msgs)
    assert any("serve.extra_args" in m and "secret" in m for m in msgs)


def test_nul_byte_and_non_utf8(write_spec, tmp_path):
    assert "NUL" in problems(write_spec("name: a\x00b\n"))[0]
    bad = tmp_path / "latin.yaml"
    bad.write_bytes(b"name: caf\xe9\n")
    assert "UTF-8" in problems(bad)[0]


def test_credentials_in_urls_are_refused_and_not_echoed(write_spec):
    path = write_spec("build:\n  pip_index_url: https://alice:s3cret@mirror.example/simple\n")
    [msg] = problems(path)
    assert "build.pip_index_url" in msg and "s3cret" not in msg and "***@" in msg
