"""Issue 19: validation data, evaluation steps and experiment trackers, from spec keys to `swift sft` flags,
the training image and its credentials (by name only: compose from the environment, k8s from optional keys
of the Secret). The CPU smoke stack evaluates for real (builder/examples/smoke.yaml; tests/test_after_training.py)."""

from __future__ import annotations

import pytest
import yaml

from builder.errors import SpecError
from builder.facts import trackers
from builder.load import validate
from builder.plan import make_plan
from builder.render import render_all


def flags(argv: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    key = None
    for arg in argv[2:]:
        if arg.startswith("--"):
            key = arg[2:]
            out[key] = []
        elif key:
            out[key].append(arg)
    return out


def test_validation_data_and_eval_steps_become_swift_flags():
    plan = make_plan(validate({"train": {"val_dataset": ["/data/val.jsonl", "ms::a/b#50"], "eval_steps": 25}}))
    got = flags(plan.train.argv)
    assert got["val_dataset"] == ["/data/val.jsonl", "ms::a/b#50"] and got["eval_steps"] == ["25"]
    assert got["split_dataset_ratio"] == ["0"]  # written even at 0: the spec's word, not ms-swift's default
    held_out = make_plan(validate({"train": {"split_dataset_ratio": 0.05}}))
    assert flags(held_out.train.argv)["split_dataset_ratio"] == ["0.05"] and "val_dataset" not in flags(
        held_out.train.argv
    )
    assert "eval_steps" not in flags(make_plan(validate({})).train.argv)  # ms-swift's default: save_steps


@pytest.mark.parametrize(
    ("train", "key", "words"),
    [
        ({"val_dataset": ["/data/v.jsonl"], "split_dataset_ratio": 0.1}, "train.split_dataset_ratio", "keep one"),
        ({"eval_steps": 10}, "train.eval_steps", "nothing to evaluate"),
    ],
)
def test_contradictory_or_empty_evaluation_is_refused_naming_file_and_line(write_spec, train, key, words):
    from builder.load import load_spec

    body = "train:\n" + "".join(f"  {k}: {v!r}\n".replace("'", '"') for k, v in train.items())
    spec = load_spec(write_spec(body))
    [error] = make_plan(spec).errors
    assert words in error and key in error and "modelforge.yaml:" in error


@pytest.mark.parametrize("flag", ["val_dataset", "split_dataset_ratio", "eval_steps", "report_to"])
def test_the_planned_evaluation_and_tracking_flags_are_refused_in_extra_args(flag):
    with pytest.raises(SpecError) as caught:
        validate({"train": {"extra_args": {flag: "x"}}})
    assert f"train.{flag}" in str(caught.value)


def test_relative_validation_paths_are_refused_like_training_ones():
    with pytest.raises(SpecError) as caught:
        validate({"train": {"val_dataset": ["data/val.jsonl"]}})
    assert "/data/val.jsonl" in str(caught.value)


def test_trackers_bring_their_client_and_their_credentials_by_name_only():
    files = render_all(make_plan(validate({"train": {"report_to": ["tensorboard", "wandb", "mlflow", "swanlab"]}})))
    assert 'ARG EXTRA_PACKAGES="tensorboard wandb mlflow-skinny==3.17.2 swanlab"' in files["Dockerfile.train"]
    compose = yaml.safe_load(files["compose/docker-compose.yml"])
    assert flags(compose["services"]["train"]["command"])["report_to"] == ["tensorboard", "wandb", "mlflow", "swanlab"]
    names = [name for name, _ in trackers.secrets(["wandb", "mlflow", "swanlab"])]
    train_env = compose["services"]["train"]["environment"]
    assert all(train_env[n] == "${%s:-}" % n for n in names)
    assert not any(n in compose["services"]["serve"]["environment"] for n in names)  # training only
    [job] = [yaml.safe_load(t) for p, t in files.items() if p.startswith("k8s/overlays/") and "train-job" in p]
    env = {e["name"]: e for e in job["spec"]["template"]["spec"]["containers"][0]["env"]}
    for name, key in trackers.secrets(["wandb", "mlflow", "swanlab"]):
        ref = env[name]["valueFrom"]["secretKeyRef"]
        assert ref["key"] == key and ref["optional"] is True
    plain = render_all(make_plan(validate({})))
    assert "WANDB_API_KEY" not in plain["compose/docker-compose.yml"]
    assert 'ARG EXTRA_PACKAGES="tensorboard"' in plain["Dockerfile.train"]


def test_an_unknown_tracker_is_refused():
    with pytest.raises(SpecError) as caught:
        validate({"train": {"report_to": ["comet"]}})
    assert "train.report_to" in str(caught.value)
