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
from .common import meta, secret_env
from .pods import side_pod
from .serve import api_url

KEYS = evaluation.KEYS


def name(plan: Plan) -> str:
    return f"{plan.spec.name}-eval"


def job(plan: Plan) -> dict[str, Any]:
    spec = plan.spec
    variables = [{"name": k, "value": v} for k, v in evaluation.env(plan, api_url(plan)).items()]
    variables.append(secret_env(spec, "VLLM_API_KEY", "api-key", optional=False))
    main = {
        "name": "eval",
        "image": evaluation.image_ref(spec),
        "env": variables,
        "resources": {"requests": {"cpu": "2", "memory": "4Gi"}},
    }
    writable = {"tmp": "/tmp", "home": CONTAINER_HOME}
    # reports go to the checkpoint claim: beside the serving pod, which has it mounted
    pod = side_pod(
        plan, "eval", main, KEYS, read_only=("data",), writable=writable, near="serve", restart_policy="Never"
    )
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(spec, name(plan), "eval"),
        "spec": {"backoffLimit": 0, "template": pod},
    }
