"""Hostile values in string fields cannot add a command to any rendered shell line or instruction."""

from __future__ import annotations

import shlex

import pytest
import yaml

from builder.errors import SpecError
from builder.load import validate
from builder.plan import make_plan
from builder.render import render_all

HOSTILE = [
    "x; touch /tmp/pwned",
    "$(touch /tmp/pwned)",
    "`touch /tmp/pwned`",
    "a\nRUN touch /tmp/pwned",
    "x' && touch /tmp/pwned '",
    'x" && touch /tmp/pwned "',
    "${IFS}touch${IFS}/tmp/pwned",
    "a|b&c>d<e",
]

# Every free-text string field that reaches a command line, and one constrained field of each kind.
FREE_TEXT = [("train", "dataset"), ("train", "extra_args"), ("serve", "extra_args"), ("train", "env"), ("serve", "env")]
CONSTRAINED = [
    ("model", "id"),
    ("model", "served_name"),
    ("images", "registry"),
    ("stack", "ms_swift"),
    ("stack", "vllm"),
    ("stack", "torch"),
    ("build", "pip_index_url"),
    ("volumes", "checkpoints"),
    ("name", None),
    ("k8s", "namespace"),
    ("model", "template"),
    ("serve", "bind_address"),
]


def _free_value(section: str, field: str, hostile: str):
    if field == "dataset":
        return {section: {field: [hostile]}}
    if field == "env":
        return {section: {field: {"NOTE": hostile}}}
    return {section: {field: {"note": hostile}}}


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("section,field", FREE_TEXT)
def test_free_text_stays_one_argv_element(section, field, hostile):
    if field == "dataset" and "\n" in hostile:
        with pytest.raises(SpecError, match="train.dataset"):
            validate(_free_value(section, field, hostile))
        return
    plan = make_plan(validate(_free_value(section, field, hostile)))
    files = render_all(plan)
    argv = plan.train.argv if section == "train" else plan.serve.argv
    env = plan.train.env if section == "train" else plan.serve.env
    assert hostile in argv or env.get("NOTE") == hostile
    # Round trip through the rendered YAML: the value comes back as one element, never split or executed.
    compose_doc = yaml.safe_load(files["compose/docker-compose.yml"])
    service = compose_doc["services"]["train" if section == "train" else "serve"]
    escaped = hostile.replace("$", "$$")
    assert escaped in service["command"] or service["environment"].get("NOTE") == escaped
    # Dockerfiles and the printed command never carry it unquoted.
    assert hostile not in files["Dockerfile.train"] + files["Dockerfile.serve"]
    assert shlex.split(shlex.join(argv)) == argv


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("section,field", CONSTRAINED)
def test_constrained_fields_refuse_metacharacters(section, field, hostile):
    data = {section: hostile} if field is None else {section: {field: hostile}}
    if (section, field) == ("volumes", "checkpoints"):
        data = {"volumes": {"checkpoints": {"mount": "/ckpt" + hostile}}}
    with pytest.raises(SpecError) as info:
        validate(data)
    assert section in str(info.value)
