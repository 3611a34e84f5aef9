"""Row formats: detection, validation, conversion to messages.

The code lives in check.py, which must stay one self-contained, stdlib-only file (the
training image copies it alone and runs it on the mounted data); this module is its
format API under a plain name for the rest of the builder.
"""

from __future__ import annotations

from .check import (
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

__all__ = [
    "CONSUMED",
    "FORMAT_NAMES",
    "FORMATS",
    "MODEL_ROLES",
    "NOTE",
    "PROBLEM",
    "ROLE_ALIASES",
    "ROLES",
    "SHAREGPT_ROLES",
    "WARNING",
    "detect_format",
    "row_format",
    "to_messages",
    "validate_row",
]
