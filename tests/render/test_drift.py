"""The committed artifacts are exactly a fresh render of modelforge.yaml, byte for byte."""

from __future__ import annotations

from builder.load import load_spec
from builder.plan import make_plan
from builder.render import drift, render_all


def test_committed_artifacts_match_fresh_render(root):
    files = render_all(make_plan(load_spec(root / "modelforge.yaml")))
    assert drift(files, root) == [], "run `make render` and commit the result"


def test_render_is_deterministic(root):
    spec = load_spec(root / "modelforge.yaml")
    assert render_all(make_plan(spec)) == render_all(make_plan(load_spec(root / "modelforge.yaml")))
