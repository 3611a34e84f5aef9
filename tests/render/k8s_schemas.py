"""Schema checks for every rendered k8s object, strict (unknown fields are errors, as kubectl --validate=strict).

- Core kinds: the Kubernetes OpenAPI schemas of kubernetes-validate.
- Operator kinds (PyTorchJob, JobSet, TrainJob, LeaderWorkerSet): the openAPIV3Schema of the CRDs the
  operators publish (tests/fixtures/crds/, extracted by extract.py there, release tags named in each file),
  with jsonschema. Their metadata, and every full pod template inside them, also go through the
  Kubernetes schemas. Not evaluated: CEL rules (x-kubernetes-validations) and admission webhooks.
- Kustomize: `kubectl kustomize` builds the tree, so patches and the namespace transformer really run.
"""

from __future__ import annotations

import functools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

from tests.conftest import tool

K8S_VERSION = "1.30"
CRDS = Path(__file__).resolve().parents[1] / "fixtures" / "crds"


def _strict(node: Any) -> Any:
    """Structural CRD schemas prune unknown fields silently; here they are errors, like strict field validation."""
    if isinstance(node, dict):
        out = {k: _strict(v) for k, v in node.items()}
        if (
            "properties" in out
            and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(node, list):
        return [_strict(v) for v in node]
    return node


@functools.cache
def crd_validators() -> dict[tuple[str, str], jsonschema.Draft7Validator]:
    validators = {}
    for path in sorted(CRDS.glob("*.json")):
        data = json.loads(path.read_text())
        schema = _strict(data["openAPIV3Schema"])
        jsonschema.Draft7Validator.check_schema(schema)
        validators[(data["apiVersion"], data["kind"])] = jsonschema.Draft7Validator(schema)
    return validators


def list_map_duplicates(schema: dict[str, Any], value: Any, path: str = "") -> list[str]:
    """Lists the API server keys by name (x-kubernetes-list-type: map): a repeated key is rejected there."""
    found = []
    if isinstance(value, list):
        keys = schema.get("x-kubernetes-list-map-keys")
        if schema.get("x-kubernetes-list-type") == "map" and keys:
            seen = [tuple(item.get(k) for k in keys) for item in value if isinstance(item, dict)]
            found += [f"{path}: {key} repeated" for key in sorted(set(seen), key=str) if seen.count(key) > 1]
        for index, item in enumerate(value):
            found += list_map_duplicates(schema.get("items", {}), item, f"{path}[{index}]")
    elif isinstance(value, dict):
        props = schema.get("properties", {})
        extra = schema.get("additionalProperties")
        for key, item in value.items():
            sub = props.get(key, extra if isinstance(extra, dict) else {})
            found += list_map_duplicates(sub, item, f"{path}.{key}")
    return found


def pod_templates(doc: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Full pod templates inside an operator's object (TrainJob patches carry partial ones: not these)."""
    spec = doc.get("spec", {})
    kind = doc["kind"]
    if kind == "PyTorchJob":
        yield from (r["template"] for r in spec["pytorchReplicaSpecs"].values())
    elif kind == "JobSet":
        yield from (r["template"]["spec"]["template"] for r in spec["replicatedJobs"])
    elif kind == "LeaderWorkerSet":
        lwt = spec["leaderWorkerTemplate"]
        yield from (lwt[k] for k in ("leaderTemplate", "workerTemplate") if k in lwt)


def validate(doc: dict[str, Any]) -> str:
    """Raise on any schema violation; returns which schema checked it ('kubernetes' or 'crd')."""
    key = (doc.get("apiVersion"), doc.get("kind"))
    validators = crd_validators()
    if key not in validators:
        kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        return "kubernetes"
    validators[key].validate(doc)
    duplicates = list_map_duplicates(validators[key].schema, doc)
    if duplicates:
        raise jsonschema.ValidationError("; ".join(duplicates))
    # metadata (labels, annotations, name) as Kubernetes checks it for any object
    kubernetes_validate.validate(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": doc["metadata"]}, K8S_VERSION, strict=True
    )
    for template in pod_templates(doc):
        kubernetes_validate.validate(
            {"apiVersion": "v1", "kind": "PodTemplate", "metadata": {"name": "check"}, "template": template},
            K8S_VERSION,
            strict=True,
        )
    return "crd"


def kustomize(folder: Path) -> list[dict[str, Any]]:
    result = subprocess.run([tool("kubectl"), "kustomize", str(folder)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def rendered_docs(files: dict[str, str], prefix: str = "k8s/") -> list[dict[str, Any]]:
    docs = []
    for path, text in files.items():
        if path.startswith(prefix) and path.endswith(".yaml"):
            docs += [d for d in yaml.safe_load_all(text) if d and d.get("kind") != "Kustomization"]
    return docs


def walk(node: Any) -> Iterator[dict[str, Any]]:
    """Every mapping inside a rendered object, depth first (pod specs, containers, probes, ...)."""
    if isinstance(node, dict):
        yield node
        for value in node.values():
            yield from walk(value)
    elif isinstance(node, list):
        for value in node:
            yield from walk(value)
