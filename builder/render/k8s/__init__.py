"""k8s/: a kustomize base plus the overlay the spec calls for, all built as data.

    k8s/kustomization.yaml            -> overlays/<single-node|multi-node> (so `kubectl apply -k k8s/` works)
    k8s/base/                         namespace, PVCs, ConfigMaps, model-download Job, Service, PodDisruptionBudget
    k8s/overlays/single-node/         the training Job and the serving Deployment; volumes ReadWriteOnce
    k8s/overlays/multi-node/          the training operator's object (PyTorchJob / JobSet / TrainJob, or a Job
                                      when only serving spreads), the serving Deployment or LeaderWorkerSet,
                                      the optional HPA, and a patch making the shared volumes ReadWriteMany

Which overlay is rendered follows the plan (builder/plan/cluster.py): multi-node as soon as pods of
one deployment may land on several nodes (k8s.nodes > 1, serving replicas or autoscaling, or a
vLLM instance larger than a node). Only that overlay is written; the other one is not rendered.
"""

from __future__ import annotations

import json
from typing import Any

from ...plan import Plan
from ..common import header as render_header
from ..yamltext import dump
from . import download, serve, train
from .common import VOLUME_KEYS, config_map, labels, literal, pvc, pvc_name

__all__ = ["literal", "render"]

KUSTOMIZATION = {"apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization"}


def render(plan: Plan, spec_file: str) -> dict[str, str]:
    spec = plan.spec
    name = spec.name
    header = render_header(spec_file)
    namespace = {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": spec.k8s.namespace, "labels": labels(spec, "namespace")},
    }
    base: dict[str, Any] = {
        "namespace.yaml": namespace,
        "pvc.yaml": [pvc(spec, key) for key in VOLUME_KEYS],
        "configmap.yaml": [
            config_map(spec, f"{name}-train-config", "train", plan.train.env),
            config_map(spec, f"{name}-serve-config", "serve", plan.serve.env),
        ],
    }
    if download.enabled(spec):
        base["model-download-job.yaml"] = download.download_job(plan)
    base.update({"serve-service.yaml": serve.service(plan), "serve-pdb.yaml": serve.disruption_budget(plan)})

    cluster = plan.cluster
    overlay: dict[str, Any] = {train.file_name(plan): train.render(plan)}
    if cluster.serve_nodes > 1:
        overlay["serve-leaderworkerset.yaml"] = serve.leaderworkerset(plan)
    else:
        overlay["serve-deployment.yaml"] = serve.deployment(plan)
    if spec.k8s.autoscaling.enabled:
        overlay["serve-hpa.yaml"] = serve.autoscaler(plan)

    layout = cluster.layout
    files: dict[str, str] = {}
    for folder, docs in (("k8s/base", base), (f"k8s/overlays/{layout}", overlay)):
        for path, doc in docs.items():
            doc = json.loads(json.dumps(doc))  # no shared sub-objects, so no YAML anchors and aliases
            files[f"{folder}/{path}"] = dump(doc, header, documents=isinstance(doc, list))
    files["k8s/base/kustomization.yaml"] = dump(
        {**KUSTOMIZATION, "namespace": spec.k8s.namespace, "resources": list(base)}, header
    )
    kustomization: dict[str, Any] = {**KUSTOMIZATION, "resources": ["../../base", *overlay]}
    if cluster.shared_volumes:
        kustomization["patches"] = [_shared_volume_patch(plan, key) for key in VOLUME_KEYS]
    files[f"k8s/overlays/{layout}/kustomization.yaml"] = dump(kustomization, header)
    files["k8s/kustomization.yaml"] = dump({**KUSTOMIZATION, "resources": [f"overlays/{layout}"]}, header)
    return files


def _shared_volume_patch(plan: Plan, key: str) -> dict[str, Any]:
    """Pods on several nodes mount the same claims: ReadWriteMany, from k8s.shared_storage_class when set."""
    spec = plan.spec
    ops: list[dict[str, Any]] = [{"op": "replace", "path": "/spec/accessModes", "value": ["ReadWriteMany"]}]
    if spec.k8s.shared_storage_class:
        ops.append({"op": "add", "path": "/spec/storageClassName", "value": spec.k8s.shared_storage_class})
    return {
        "target": {"version": "v1", "kind": "PersistentVolumeClaim", "name": pvc_name(spec, key)},
        "patch": dump(ops).rstrip("\n"),
    }
