"""The benchmark proxy (bench/make_proxy_model.py) has the real model's shape, from the planner's catalog:
at 48 layers the planner counts the same parameters as for Qwen3-30B-A3B-Thinking-2507, and the 4-layer
proxy is the size the benchmark pages say."""

from __future__ import annotations

import json
import subprocess
import sys

from builder.facts.models import facts_from_config, lookup


def _proxy(root, tmp_path, layers: int):
    out = tmp_path / f"proxy{layers}"
    subprocess.run(
        [
            sys.executable,
            str(root / "bench" / "make_proxy_model.py"),
            str(out),
            "--layers",
            str(layers),
            "--config-only",
        ],
        check=True,
        capture_output=True,
    )
    return facts_from_config(json.loads((out / "config.json").read_text()), str(out))


def test_proxy_has_the_catalog_shape(root, tmp_path):
    real = lookup("Qwen/Qwen3-30B-A3B-Thinking-2507")
    full, four = _proxy(root, tmp_path, 48), _proxy(root, tmp_path, 4)
    assert full.total_params == real.total_params and full.active_params == real.active_params
    assert (four.layers, four.experts, four.heads, four.kv_heads) == (4, real.experts, real.heads, real.kv_heads)
    # docs/benchmarks.md describes the 4-layer proxy as 3.11 B parameters, 850 M active
    assert round(four.total_params / 1e9, 2) == 3.11 and round(four.active_params / 1e6, -1) == 850
