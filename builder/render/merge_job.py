"""k8s/jobs/merge-job.yaml: the LoRA merge stage as a Job, outside the kustomization.

It runs after training, by hand (README, 'Merge a LoRA run'): the training image's entrypoint in merge
mode, with the training ConfigMap, writes <output_dir>/merged on the checkpoint claim; the serving pod
prefers it at its next start. For a full-parameter run the entrypoint has nothing to merge and exits 0.
"""

from __future__ import annotations

from typing import Any

from ..plan import Plan
from ..plan.commands import merge_argv
from .common import header
from .compose import ENTRYPOINT
from .k8s.common import container, hub_secrets, meta, pod_meta, pod_security, pod_volumes, scheduling
from .yamltext import dump

PATH = "k8s/jobs/merge-job.yaml"
KEYS = ("model_cache", "checkpoints")


def job(plan: Plan) -> dict[str, Any]:
    spec = plan.spec
    main = container(spec, "merge", "train", merge_argv(spec), f"{spec.name}-train-config", hub_secrets(spec), KEYS)
    main["command"] = [ENTRYPOINT, "merge"]
    pod = {
        "restartPolicy": "Never",
        "enableServiceLinks": False,
        "securityContext": pod_security(spec),
        "containers": [main],
        "volumes": pod_volumes(spec, KEYS),
        **scheduling(spec),
    }
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(spec, f"{spec.name}-merge", "merge"),
        "spec": {"backoffLimit": 1, "template": {"metadata": pod_meta(spec, "merge"), "spec": pod}},
    }


def render(plan: Plan, spec_file: str) -> dict[str, str]:
    return {PATH: dump(job(plan), header(spec_file))}
