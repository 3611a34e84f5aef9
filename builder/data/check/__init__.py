"""Check training data before a run: `python3 -m check PATH... [--strict] [--json]`.

Standard library only, and self-contained on purpose: the training and eval images copy this package to
/usr/local/lib/modelforge/check/ and the training entrypoint runs it on the mounted data
(`--from-command -- swift sft ...` picks the --dataset values out of the training command). On the host it
is `modelforge data check`, which imports it as builder.data.check. Modules, in the order a row meets them:
read (files to rows with their lines), formats (a row's format, its problems, its messages form), hub (hub
dataset names), targets (files, folders and names checked), report (findings, text and JSON), cli.

Rows are messages (role/content), ShareGPT (conversations with from/value), alpaca
(instruction/input/output) or query/response; the format is detected per row and reported per file. Files
are JSONL (read line by line in binary: constant memory at any size; a line over 128 MiB is reported, never
held whole), a JSON list (parsed whole, up to 512 MiB) or folders of them. Hub names (org/name[:subset][#N],
with an optional hf:: or ms:: prefix) are checked for syntax, and on the hub when it answers within a few
seconds.

Exit codes: 0 clean; 1 a problem (with --strict, a warning too); 2 bad usage (a missing path).
"""

from __future__ import annotations

from .cli import add_arguments, datasets_from_command, main, run
from .formats import (
    CONSUMED,
    FORMAT_NAMES,
    FORMATS,
    MODEL_ROLES,
    NOTE,
    PROBLEM,
    ROLE_ALIASES,
    ROLES,
    SHAREGPT_ROLES,
    WARNING,
    detect_format,
    row_format,
    to_messages,
    validate_row,
)
from .hub import (
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
from .read import MAX_LINE_BYTES, Progress, Record, human_size, read_records
from .report import FileReport, Report, unchecked
from .targets import check_file, check_targets, expand_folder, load_token_counter

__all__ = [
    "CONSUMED",
    "FORMATS",
    "FORMAT_NAMES",
    "HUB_LABELS",
    "HUB_PREFIXES",
    "MAX_LINE_BYTES",
    "MODEL_ROLES",
    "NOTE",
    "PROBLEM",
    "ROLES",
    "ROLE_ALIASES",
    "SHAREGPT_ROLES",
    "WARNING",
    "FileReport",
    "HubDataset",
    "Progress",
    "Record",
    "Report",
    "add_arguments",
    "check_file",
    "check_hub",
    "check_targets",
    "classify_target",
    "datasets_from_command",
    "default_hub",
    "detect_format",
    "expand_folder",
    "hub_api_url",
    "human_size",
    "load_token_counter",
    "main",
    "parse_hub_dataset",
    "probe_hub",
    "read_records",
    "row_format",
    "run",
    "to_messages",
    "unchecked",
    "validate_row",
]
