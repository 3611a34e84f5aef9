"""The spec's JSON Schema, generated from the pydantic models in builder/spec/.

Editors complete and check modelforge.yaml with it: the spec's first line
`# yaml-language-server: $schema=modelforge.schema.json` points the YAML language server
(VS Code's YAML extension, and others) at the committed copy, which `make check` keeps current.
"""

from __future__ import annotations

import json

from .spec import Spec

SCHEMA_FILE = "modelforge.schema.json"
SCHEMA_LINE = f"# yaml-language-server: $schema={SCHEMA_FILE}"


def schema() -> dict:
    doc = Spec.model_json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "ModelForge spec (modelforge.yaml)",
        **{k: v for k, v in doc.items() if k != "title"},
    }


def schema_text() -> str:
    return json.dumps(schema(), indent=2, ensure_ascii=False) + "\n"
