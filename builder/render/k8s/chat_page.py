"""k8s/ui/ (k8s.ui): the chat page as a Deployment and a ClusterIP Service, in front of the serving Service.

Same posture as the server: non-root, read-only root filesystem (/tmp and HOME are pod-local), no API token;
the API key comes from the Secret. Compare mode's preferences go to the checkpoint claim, so the pod prefers
the serving pods' node when the claim is ReadWriteOnce (as TensorBoard prefers training's).
`kubectl -n NS port-forward svc/<name>-ui 7860` opens it.
"""

from __future__ import annotations

from typing import Any

from ...plan import Plan
from ...plan.commands import CONTAINER_HOME
from .. import chat_page
from .common import meta, mounts, pod_meta, pod_security, pod_volumes, scheduling, secret_env, security_context

KEYS = ("checkpoints",)
PORT = chat_page.PORT


def name(plan: Plan) -> str:
    return f"{plan.spec.name}-ui"


def _selector(plan: Plan) -> dict[str, str]:
    return {"app.kubernetes.io/instance": plan.spec.name, "app.kubernetes.io/component": "ui"}


def deployment(plan: Plan) -> dict[str, Any]:
    spec = plan.spec
    api = f"http://{spec.name}-serve:{spec.serve.port}/v1"
    env = [{"name": k, "value": v} for k, v in chat_page.env(plan, api).items()]
    env += [
        secret_env(spec, "VLLM_API_KEY", "api-key", optional=False),
        secret_env(spec, "MF_UI_BASE_KEY", "ui-base-api-key", optional=True),
    ]
    main = {
        "name": "ui",
        "image": chat_page.image_ref(spec),
        "env": env,
        "ports": [{"name": "http", "containerPort": chat_page.PORT}],
        "readinessProbe": {"httpGet": {"path": "/", "port": "http"}, "periodSeconds": 10},
        "resources": {"requests": {"cpu": "500m", "memory": "1Gi"}},
        "volumeMounts": [
            *mounts(spec, KEYS, shm=False),
            {"name": "tmp", "mountPath": "/tmp"},
            {"name": "home", "mountPath": CONTAINER_HOME},
        ],
        "securityContext": {**security_context(spec), "readOnlyRootFilesystem": True},
    }
    volumes = [v for v in pod_volumes(spec, KEYS) if v["name"] != "dshm"]
    volumes += [{"name": "tmp", "emptyDir": {}}, {"name": "home", "emptyDir": {}}]
    pod: dict[str, Any] = {
        "enableServiceLinks": False,
        "automountServiceAccountToken": False,
        "securityContext": pod_security(spec),
        "containers": [main],
        "volumes": volumes,
        **scheduling(spec, gpu_pod=False),
    }
    if not plan.cluster.shared_volumes:
        serving = {"app.kubernetes.io/instance": spec.name, "app.kubernetes.io/component": "serve"}
        term = {"labelSelector": {"matchLabels": serving}, "topologyKey": "kubernetes.io/hostname"}
        pod["affinity"] = {
            "podAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [{"weight": 100, "podAffinityTerm": term}]
            }
        }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(spec, name(plan), "ui"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": _selector(plan)},
            "template": {"metadata": pod_meta(spec, "ui", gpu_pod=False), "spec": pod},
        },
    }


def service(plan: Plan) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(plan.spec, name(plan), "ui"),
        "spec": {
            "selector": _selector(plan),
            "ports": [{"name": "http", "port": chat_page.PORT, "targetPort": "http"}],
        },
    }
