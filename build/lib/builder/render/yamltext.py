"""YAML built as data and dumped: no template can mis-indent or mis-quote a value."""

from __future__ import annotations

import re
from typing import Any

import yaml


class _Dumper(yaml.SafeDumper):
    pass


# Strings a YAML 1.2 reader (Go: compose, kubectl) would take for numbers, booleans or null.
# PyYAML speaks YAML 1.1 and leaves some of them (e.g. 1e-05) unquoted.
_AMBIGUOUS = re.compile(
    r"^([-+]?(\.[0-9]+|[0-9][0-9_]*(\.[0-9_]*)?)([eE][-+]?[0-9]+)?|0x[0-9a-fA-F]+|0o[0-7]+|[-+]?\.(inf|Inf|INF)"
    r"|\.(nan|NaN|NAN)|true|false|yes|no|on|off|y|n|null|~)$",
    re.IGNORECASE,
)


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    if "\n" in value:
        style = "|"  # multi-line scripts stay readable
    elif _AMBIGUOUS.match(value) or value == "":
        style = "'"
    else:
        style = None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(data: Any, header: str = "", documents: bool = False) -> str:
    body = (yaml.dump_all if documents else yaml.dump)(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True, width=120
    )
    return (f"# {header}\n" if header else "") + body
