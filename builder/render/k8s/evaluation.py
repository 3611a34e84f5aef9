"""k8s/eval/: the evaluation stage as a Job, applied once the server answers (`kubectl apply -k k8s/eval/`).

It calls the serving Service with the API key from the Secret, reads eval.dataset from the data claim
(read-only) and writes reports under the run's eval/ folder on the checkpoint claim; `modelforge eval`
reads them back. No GPU, no API token, read-only root filesystem (HOME and /tmp are pod-local).
"""

from __future__ import annotations

from typing import Any

from ...plan import Plan
from ...plan.commands import CONTAINER_HOME
from .. import evaluation
from .common import meta, mounts, pod_meta, pod_security, pod_volumes, scheduling, secret_env, security_context

KEYS = evaluation.KEYS


def name(plan: Plan) -> str:
    return f"{plan.spec.name}-eval"


def job(plan: Plan) -> dict[str, Any]:
    spec = plan.spec
    api = f"http://{spec.name}-serve:{spec.serve.port}/v1"  # the serving Service (k8s/serve/)
    variables = [{"name": k, "value": v} for k, v in evaluation.env(plan, api).items()]
    variables.append(secret_env(spec, "VLLM_API_KEY", "api-key", optional=False))
    main = {
        "name": "eval",
        "image": evaluation.image_ref(spec),
        "env": variables,
        "volumeMounts": [
            *mounts(spec, KEYS, read_only=("data",), shm=False),
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "home", "mountPath": CONTAINER_HOME},
        ],
        "resources": {"requests": {"cpu": "2", "memory": "4Gi"}},
        "securityContext": {**security_context(spec), "readOnlyRootFilesystem": True},
    }
    volumes = [v for v in pod_volumes(spec, KEYS) if v["name"] != "dshm"]
    volumes += [{"name": "tmp", "emptyDir": {}}, {"name": "home", "emptyDir": {}}]
    pod = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "securityContext": pod_security(spec),
        "containers": [main],
        "volumes": volumes,
        **scheduling(spec, gpu_pod=False),
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(spec, name(plan), "eval"),
        "spec": {"backoffLimit": 0, "template": {"metadata": pod_meta(spec, "eval", gpu_pod=False), "spec": pod}},
    }
