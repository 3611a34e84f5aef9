"""k8s.tensorboard: TensorBoard on the cluster, reading the training run's logs from the checkpoint claim.

k8s/tensorboard/ is its own kustomization, applied beside training (`kubectl apply -k k8s/tensorboard`) and
removed without touching it. The claim is mounted read-only. A ReadWriteOnce claim can only be mounted on
the node that already has it, so the pod prefers the training pods' node (preferred, not required: once
training is gone any node will do); with k8s.shared_storage_class the claim is ReadWriteMany and it may run
anywhere. No GPU, no API token, read-only root filesystem; /tmp is a pod-local emptyDir.
"""

from __future__ import annotations

from typing import Any

from ...plan import Plan
from ..compose import image_ref
from .common import meta
from .pods import side_pod

PORT = 6006
KEYS = ("checkpoints",)


def name(plan: Plan) -> str:
    return f"{plan.spec.name}-tensorboard"


def _selector(plan: Plan) -> dict[str, str]:
    return {"app.kubernetes.io/instance": plan.spec.name, "app.kubernetes.io/component": "tensorboard"}


def deployment(plan: Plan) -> dict[str, Any]:
    spec = plan.spec
    main = {
        "name": "tensorboard",
        "image": image_ref(spec, "train"),  # the training image has TensorBoard (train.report_to's default)
        "command": ["tensorboard"],
        "args": ["--logdir", plan.train.output_dir, "--host", "0.0.0.0", "--port", str(PORT)],
        "ports": [{"name": "http", "containerPort": PORT}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(spec, name(plan), "tensorboard"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": _selector(plan)},
            "template": side_pod(plan, "tensorboard", main, KEYS, read_only=KEYS, near="train"),
        },
    }


def service(plan: Plan) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(plan.spec, name(plan), "tensorboard"),
        "spec": {"selector": _selector(plan), "ports": [{"name": "http", "port": PORT, "targetPort": "http"}]},
    }
