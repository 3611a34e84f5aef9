"""The training object: a Job on one node; across nodes a Kubeflow PyTorchJob, JobSet or TrainJob.

Each pod runs the training image's entrypoint, which resumes from the newest complete checkpoint
on the shared checkpoint volume. Who restarts what after a pod or node is lost:
- Job: the pod restarts (backoffLimit 3).
- PyTorchJob: the failed pod restarts (restartPolicy OnFailure); the others fail when their
  collectives time out (k8s.collective_timeout_s) and restart too. No step completes without
  every node, so all of them find the same newest complete checkpoint.
- JobSet: any failed pod fails its Job, and JobSet recreates every Job (failurePolicy.maxRestarts).
- TrainJob: the ClusterTrainingRuntime the cluster runs decides (its JobSet template).
"""

from __future__ import annotations

from typing import Any

from ...plan import Plan
from ..common import ENTRYPOINT
from ..compose import image_ref
from . import download
from .common import (
    COMPLETION_INDEX,
    VOLUME_KEYS,
    container,
    field_env,
    hub_secrets,
    labels,
    literal,
    meta,
    mounts,
    plain_env,
    pod_meta,
    pod_security,
    pod_volumes,
    resources,
    scheduling,
    security_context,
    tracker_secrets,
    train_requests,
)
from .pods import pod_spec

COORDINATOR = "metadata.annotations['jobset.sigs.k8s.io/coordinator']"  # JobSet spec.coordinator sets it on every pod
MAX_RESTARTS = 3  # whole-group restarts (JobSet) or restarts per node (PyTorchJob) before the run is failed

FILES = {
    "job": "train-job.yaml",
    "pytorchjob": "train-pytorchjob.yaml",
    "jobset": "train-jobset.yaml",
    "trainjob": "train-trainjob.yaml",
}


# `kubectl wait` for the end of training, per object: (resource, the condition its controller sets on success).
DONE = {
    "job": ("job", "complete"),
    "pytorchjob": ("pytorchjob", "Succeeded"),
    "jobset": ("jobset", "Completed"),
    "trainjob": ("trainjob", "Complete"),
}


def wait_command(plan: Plan) -> str:
    """The command that returns once training has succeeded (a negative timeout waits up to a week)."""
    resource, condition = DONE[plan.cluster.operator]
    return (
        f"kubectl -n {plan.spec.k8s.namespace} wait --for=condition={condition} {resource}/{_name(plan)} --timeout=-1s"
    )


def file_name(plan: Plan) -> str:
    return FILES[plan.cluster.operator]


def render(plan: Plan) -> dict[str, Any]:
    return {"job": _job, "pytorchjob": _pytorchjob, "jobset": _jobset, "trainjob": _trainjob}[plan.cluster.operator](
        plan
    )


def _name(plan: Plan) -> str:
    return f"{plan.spec.name}-train"


def _argv(plan: Plan) -> list[str]:
    return [*plan.train.argv, *plan.cluster.train_args]


def _container(plan: Plan, name: str, env: list[dict[str, Any]]) -> dict[str, Any]:
    spec = plan.spec
    return container(
        spec,
        name,
        "train",
        _argv(plan),
        f"{spec.name}-train-config",
        [*hub_secrets(spec), *tracker_secrets(spec), *plain_env(plan.cluster.train_env), *env],
        VOLUME_KEYS,
        read_only=("data",),
        requests=train_requests(plan),
        rdma=plan.cluster.nodes > 1,
    )


def _pod(plan: Plan, main: dict[str, Any], restart_policy: str) -> dict[str, Any]:
    return pod_spec(
        plan,
        "train",
        main,
        pod_volumes(plan.spec, VOLUME_KEYS),
        waits_as="train",
        rdma=plan.cluster.nodes > 1,
        restart_policy=restart_policy,
    )


def _job(plan: Plan) -> dict[str, Any]:
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(plan.spec, _name(plan), "train", queue=True),
        "spec": {
            # Each restart resumes from the newest complete checkpoint on the PVC.
            "backoffLimit": MAX_RESTARTS,
            "template": _pod(plan, _container(plan, "train", []), "OnFailure"),
        },
    }


def _pytorchjob(plan: Plan) -> dict[str, Any]:
    """Kubeflow Training Operator v1. It injects MASTER_ADDR (<job>-master-0), MASTER_PORT (the port
    named pytorchjob-port of the container named pytorch) and PET_NODE_RANK, which torchrun reads."""
    spec, nodes = plan.spec, plan.cluster.nodes
    main = _container(plan, "pytorch", [])
    main["ports"] = [{"name": "pytorchjob-port", "containerPort": spec.k8s.master_port}]
    run_policy: dict[str, Any] = {"backoffLimit": MAX_RESTARTS * nodes}
    if (
        spec.k8s.gang_scheduling == "volcano"
    ):  # the operator creates the PodGroup (started with --gang-scheduler-name=volcano)
        run_policy["schedulingPolicy"] = {"minAvailable": nodes, "queue": spec.k8s.queue}
    replica = {"restartPolicy": "OnFailure", "template": _pod(plan, main, "OnFailure")}
    replicas: dict[str, Any] = {"Master": {"replicas": 1, **replica}}
    if nodes > 1:
        replicas["Worker"] = {"replicas": nodes - 1, **replica}
    return {
        "apiVersion": "kubeflow.org/v1",
        "kind": "PyTorchJob",
        "metadata": meta(spec, _name(plan), "train", queue=True),
        "spec": {
            "nprocPerNode": str(plan.cluster.nproc_per_node),
            "runPolicy": run_policy,
            "pytorchReplicaSpecs": replicas,
        },
    }


def _jobset(plan: Plan) -> dict[str, Any]:
    """JobSet: one Indexed Job of k8s.nodes pods. The pod's completion index is its node rank; the
    coordinator annotation JobSet puts on every pod is the DNS name of rank 0."""
    spec, nodes = plan.spec, plan.cluster.nodes
    main = _container(plan, "train", [field_env("NODE_RANK", COMPLETION_INDEX), field_env("MASTER_ADDR", COORDINATOR)])
    main["ports"] = [{"name": "rendezvous", "containerPort": spec.k8s.master_port}]
    job = {
        "completionMode": "Indexed",
        "completions": nodes,
        "parallelism": nodes,
        "backoffLimit": 0,  # a failed pod fails its Job, and JobSet restarts the whole group
        "template": _pod(plan, main, "Never"),
    }
    return {
        "apiVersion": "jobset.x-k8s.io/v1alpha2",
        "kind": "JobSet",
        "metadata": meta(spec, _name(plan), "train", queue=True),
        "spec": {
            "failurePolicy": {"maxRestarts": MAX_RESTARTS},
            "network": {"enableDNSHostnames": True},
            "coordinator": {"replicatedJob": "node", "jobIndex": 0, "podIndex": 0},
            "replicatedJobs": [
                {
                    "name": "node",
                    "replicas": 1,
                    "template": {"metadata": {"labels": labels(spec, "train")}, "spec": job},
                }
            ],
        },
    }


def _trainjob(plan: Plan) -> dict[str, Any]:
    """Kubeflow Trainer v2. The runtime's torch plugin sets PET_NNODES, PET_NPROC_PER_NODE, PET_NODE_RANK,
    PET_MASTER_ADDR and PET_MASTER_PORT (29500), which torchrun reads; PET_* are reserved in trainer.env.
    Volumes, placement and labels go in through runtimePatches; env only through trainer.env."""
    spec = plan.spec
    config = f"{spec.name}-train-config"
    env = [
        {"name": key, "valueFrom": {"configMapKeyRef": {"name": config, "key": key}}}
        for key in plan.train.env
        if key not in plan.cluster.train_env
    ]  # one entry per name
    env += [*hub_secrets(spec), *tracker_secrets(spec), *plain_env(plan.cluster.train_env)]
    # The image's entrypoint, named: a runtime may set a command of its own for the node container.
    trainer: dict[str, Any] = {"image": image_ref(spec, "train"), "command": [ENTRYPOINT, "train"]}
    if download.enabled(spec):  # runtime patches cannot add an init container: the wait runs first in the main one
        trainer["command"] = download.wait_then_entrypoint(spec, "train")
        env += download.wait_env(spec)
    trainer.update(
        args=[literal(a) for a in _argv(plan)],
        env=env,
        numNodes=plan.cluster.nodes,
        numProcPerNode=plan.cluster.nproc_per_node,
    )
    limits = resources(spec, train_requests(plan))
    if limits:
        trainer["resourcesPerNode"] = limits
    pod_spec: dict[str, Any] = {
        "containers": [
            {
                "name": "node",
                "volumeMounts": mounts(spec, VOLUME_KEYS, read_only=("data",)),
                "securityContext": security_context(spec, rdma=True),
            }
        ],
        "volumes": pod_volumes(spec, VOLUME_KEYS),
        "securityContext": pod_security(spec, rdma=True),
        **scheduling(spec),
    }
    patch = {
        "manager": "modelforge",
        "trainingRuntimeSpec": {
            "template": {
                "spec": {
                    "replicatedJobs": [
                        {
                            "name": "node",
                            "template": {"spec": {"template": {"metadata": pod_meta(spec, "train"), "spec": pod_spec}}},
                        },
                    ]
                }
            }
        },
    }
    return {
        "apiVersion": "trainer.kubeflow.org/v1alpha1",
        "kind": "TrainJob",
        "metadata": meta(spec, _name(plan), "train", queue=True),
        "spec": {
            "runtimeRef": {
                "apiGroup": "trainer.kubeflow.org",
                "kind": "ClusterTrainingRuntime",
                "name": spec.k8s.trainer_runtime,
            },
            "trainer": trainer,
            "runtimePatches": [patch],
        },
    }
