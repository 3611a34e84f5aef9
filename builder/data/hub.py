"""Hub dataset names: `[hf::|ms::]org/name[:subset[/subset...]][#N]`, and a short look-up.

The syntax check is offline. The look-up asks the hub's API (ModelScope: MODELSCOPE_DOMAIN,
Hugging Face: HF_ENDPOINT, HF_TOKEN when set) with a deadline of a few seconds; when no
answer comes it says "cannot reach the hub, skipped" and is not a problem.

The code lives in check.py, which must stay one self-contained, stdlib-only file (the
training image copies it alone); this module is its hub API under a plain name.
"""

from __future__ import annotations

from .check import (
    HUB_LABELS,
    HUB_PREFIXES,
    HubDataset,
    check_hub,
    classify_target,
    default_hub,
    hub_api_url,
    parse_hub_dataset,
    probe_hub,
)

__all__ = [
    "HUB_LABELS",
    "HUB_PREFIXES",
    "HubDataset",
    "check_hub",
    "classify_target",
    "default_hub",
    "hub_api_url",
    "parse_hub_dataset",
    "probe_hub",
]
