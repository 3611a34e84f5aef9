"""k8s/: a kustomize base plus the overlay the spec calls for, all built as data.

    k8s/kustomization.yaml            -> overlays/<single-node|multi-node>: `kubectl apply -k k8s/` trains
    k8s/base/                         namespace, PVCs, ConfigMaps, model-download Job
    k8s/overlays/single-node/         the training Job; volumes ReadWriteOnce
    k8s/overlays/multi-node/          the training operator's object (PyTorchJob / JobSet / TrainJob, or a Job
                                      when only serving spreads) and a patch making the volumes ReadWriteMany
    k8s/serve/                        serving, applied once training is done (`kubectl apply -k k8s/serve`):
                                      the Deployment or LeaderWorkerSet, Service, PodDisruptionBudget, HPA
    k8s/eval/                         the evaluation Job (EvalScope against the serving Service), after serving
    k8s/ui/                           k8s.ui: the chat page in front of the serving Service (optional)
    k8s/tensorboard/                  k8s.tensorboard: TensorBoard on the checkpoint claim, read-only (optional)
    k8s/README.md                     the order, with this spec's names: apply, wait, serve

Training and serving ask for the same GPUs: applied together, one stays Pending, and a server that wins
serves the base model while training waits. So they are two kustomizations, applied in order.

Which overlay is rendered follows the plan (builder/plan/cluster.py): multi-node as soon as pods of
one deployment may land on several nodes (k8s.nodes > 1, serving replicas or autoscaling, or a
vLLM instance larger than a node). Only that overlay is written; the other one is not rendered.
"""

from __future__ import annotations

import json
from typing import Any

from ...plan import Plan
from ...plan.commands import serves_adapter
from ..common import header as render_header
from ..common import registry_host
from ..yamltext import dump
from . import chat_page, download, evaluation, monitoring, serve, tensorboard, train
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

    cluster = plan.cluster
    overlay: dict[str, Any] = {train.file_name(plan): train.render(plan)}
    serving: dict[str, Any] = {}
    if cluster.serve_nodes > 1:
        serving["serve-leaderworkerset.yaml"] = serve.leaderworkerset(plan)
    else:
        serving["serve-deployment.yaml"] = serve.deployment(plan)
    serving.update({"serve-service.yaml": serve.service(plan), "serve-pdb.yaml": serve.disruption_budget(plan)})
    if spec.k8s.autoscaling.enabled:
        serving["serve-hpa.yaml"] = serve.autoscaler(plan)
    if spec.k8s.monitoring:
        serving["serve-podmonitor.yaml"] = monitoring.pod_monitor(plan)
        serving["serve-dashboard.yaml"] = monitoring.dashboard_config_map(plan)

    folders = [("k8s/base", base), (f"k8s/overlays/{cluster.layout}", overlay), ("k8s/serve", serving)]
    folders.append(("k8s/eval", {"eval-job.yaml": evaluation.job(plan)}))
    if spec.k8s.ui:
        page = {"ui-deployment.yaml": chat_page.deployment(plan), "ui-service.yaml": chat_page.service(plan)}
        folders.append(("k8s/ui", page))
    if spec.k8s.tensorboard:
        board = {
            "tensorboard-deployment.yaml": tensorboard.deployment(plan),
            "tensorboard-service.yaml": tensorboard.service(plan),
        }
        folders.append(("k8s/tensorboard", board))
    layout = cluster.layout
    files: dict[str, str] = {}
    for folder, docs in folders:
        for path, doc in docs.items():
            doc = json.loads(json.dumps(doc))  # no shared sub-objects, so no YAML anchors and aliases
            files[f"{folder}/{path}"] = dump(doc, header, documents=isinstance(doc, list))
        if folder != f"k8s/overlays/{layout}":  # the overlay's own kustomization (base, patches) is below
            files[f"{folder}/kustomization.yaml"] = dump(
                {**KUSTOMIZATION, "namespace": spec.k8s.namespace, "resources": list(docs)}, header
            )
    # k8s/serve's kustomization has no ../base: `kubectl delete -k k8s/serve` must never take the PVCs
    # (checkpoints) with it; each helper folder (eval, ui, tensorboard) is deleted on its own the same way.
    kustomization: dict[str, Any] = {**KUSTOMIZATION, "resources": ["../../base", *overlay]}
    if cluster.shared_volumes:
        kustomization["patches"] = [_shared_volume_patch(plan, key) for key in VOLUME_KEYS]
    files[f"k8s/overlays/{layout}/kustomization.yaml"] = dump(kustomization, header)
    files["k8s/kustomization.yaml"] = dump({**KUSTOMIZATION, "resources": [f"overlays/{layout}"]}, header)
    files["k8s/README.md"] = steps(plan, spec_file)
    return files


def steps(plan: Plan, spec_file: str) -> str:
    """k8s/README.md: the order a user runs, with this spec's names (the project README explains why)."""
    spec = plan.spec
    ns, name = spec.k8s.namespace, spec.name
    registry = spec.images.registry
    push = (
        f"make push                      # images to {registry} (MF_REGISTRY_USER/_PASSWORD or docker login)"
        if registry
        else "# set images.registry in the spec, then: make push   (the cluster pulls the images from there)"
    )
    pull_secret = spec.k8s.image_pull_secret
    secret = (
        f"kubectl -n {ns} create secret docker-registry {pull_secret} --docker-server={registry_host(registry) or 'REGISTRY'} "
        "--docker-username=USER --docker-password=PASSWORD"
        if pull_secret
        else "# a private registry: set k8s.image_pull_secret and create that docker-registry Secret"
    )
    merge = (
        f"\n# LoRA: merge the adapter before serving\nkubectl apply -f k8s/jobs/merge-job.yaml\n"
        f"kubectl -n {ns} wait --for=condition=complete job/{name}-merge --timeout=-1s\n"
        if spec.train.tuner == "lora" and not serves_adapter(spec)
        else ""
    )
    ready = (
        f"kubectl -n {ns} wait --for=condition=Available leaderworkerset/{name}-serve --timeout=30m"
        if plan.cluster.serve_nodes > 1
        else f"kubectl -n {ns} rollout status deployment/{name}-serve --timeout=30m"
    )
    return f"""<!-- {render_header(spec_file)} -->
# {name} on Kubernetes

Training and serving ask for the same GPUs, so they are applied one after the other: `k8s/` trains,
`k8s/serve/` serves once training has finished (applied together, one would stay Pending, and a server
that won the GPUs would serve the base model while training waited).

```bash
{push}
kubectl apply -f k8s/base/namespace.yaml
kubectl -n {ns} create secret generic {spec.k8s.secret_name} --from-literal=api-key="$VLLM_API_KEY"
{secret}
kubectl apply -k k8s/                 # storage, config, model download, training
{train.wait_command(plan)}
{merge}kubectl apply -k k8s/serve/           # the vLLM server, its Service and disruption budget
{ready}
kubectl delete job {name}-eval --ignore-not-found; kubectl apply -k k8s/eval/   # score it (eval.dataset)
kubectl -n {ns} wait --for=condition=complete job/{name}-eval --timeout=-1s; kubectl -n {ns} logs job/{name}-eval
```

`kubectl delete -k k8s/serve/` stops serving and keeps the volumes; `kubectl delete -k k8s/` deletes the
training objects and the volumes (checkpoints included).
{_tensorboard_steps(plan)}{_ui_steps(plan)}"""


def _ui_steps(plan: Plan) -> str:
    spec = plan.spec
    if not spec.k8s.ui:
        return ""
    port = chat_page.PORT
    return f"""
## The chat page (k8s.ui)

```bash
kubectl apply -k k8s/ui/              # after k8s/serve/; the page holds the key, the browser never sees it
kubectl -n {spec.k8s.namespace} port-forward svc/{chat_page.name(plan)} {port}:{port}   # then http://127.0.0.1:{port}
```

Compare mode calls ui.base_api (a server on the base model); a key for it other than the server's goes in
the Secret as `ui-base-api-key`.
"""


def _tensorboard_steps(plan: Plan) -> str:
    spec = plan.spec
    if not spec.k8s.tensorboard:
        return ""
    return f"""
## Training curves (k8s.tensorboard)

```bash
kubectl apply -k k8s/tensorboard/     # beside training; reads the checkpoint claim read-only
kubectl -n {spec.k8s.namespace} port-forward svc/{tensorboard.name(plan)} {tensorboard.PORT}:{tensorboard.PORT}   # then http://127.0.0.1:{tensorboard.PORT}
```

`kubectl delete -k k8s/tensorboard/` removes it and nothing else.
"""


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
