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
from .common import meta, secret_env
from .pods import side_pod
from .serve import api_url

KEYS = ("checkpoints",)
PORT = chat_page.PORT


def name(plan: Plan) -> str:
    return f"{plan.spec.name}-ui"


def _selector(plan: Plan) -> dict[str, str]:
    return {"app.kubernetes.io/instance": plan.spec.name, "app.kubernetes.io/component": "ui"}


def deployment(plan: Plan) -> dict[str, Any]:
    spec = plan.spec
    env = [{"name": k, "value": v} for k, v in chat_page.env(plan, api_url(plan)).items()]
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
    }
    writable = {"tmp": "/tmp", "home": CONTAINER_HOME}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": meta(spec, name(plan), "ui"),
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": _selector(plan)},
            "template": side_pod(plan, "ui", main, KEYS, writable=writable, near="serve"),
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
