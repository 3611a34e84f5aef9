"""Pieces every k8s object is built from: names, labels, volumes, containers, scheduling.

Kubernetes expands `$(VAR)` in command, args and env values, so spec-derived strings have
`$(` escaped as `$$(` (literal()). The few `$(...)` ModelForge writes on purpose (LeaderWorkerSet's
LWS_LEADER_ADDRESS / LWS_WORKER_INDEX) are added after escaping. Secrets are referenced
(secretKeyRef), never written: the user creates the Secret (README, 'Secrets').
"""

from __future__ import annotations

import math
from typing import Any

from ...facts import trackers
from ...plan import Plan, commands
from ...spec import Spec
from ..compose import image_ref

VOLUME_KEYS = ("model_cache", "data", "checkpoints")
COMPLETION_INDEX = "metadata.annotations['batch.kubernetes.io/job-completion-index']"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"
VOLCANO_QUEUE_ANNOTATION = "scheduling.volcano.sh/queue-name"


def literal(value: str) -> str:
    return value.replace("$(", "$$(")


def labels(spec: Spec, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "modelforge",
        "app.kubernetes.io/instance": spec.name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "modelforge",
        "app.kubernetes.io/managed-by": "modelforge",
    }


def meta(spec: Spec, name: str, component: str, queue: bool = False) -> dict[str, Any]:
    """Object metadata; queue=True adds the Kueue queue label (gang admission) when the spec asks for it."""
    out: dict[str, Any] = {"name": name, "namespace": spec.k8s.namespace, "labels": labels(spec, component)}
    if queue and spec.k8s.gang_scheduling == "kueue":
        out["labels"][KUEUE_QUEUE_LABEL] = spec.k8s.queue
    if queue and spec.k8s.gang_scheduling == "volcano":
        out["annotations"] = {VOLCANO_QUEUE_ANNOTATION: spec.k8s.queue}
    return out


def pod_meta(
    spec: Spec, component: str, annotations: dict[str, str] | None = None, gpu_pod: bool = True
) -> dict[str, Any]:
    out: dict[str, Any] = {"labels": labels(spec, component)}
    annotations = dict(annotations or {})
    if gpu_pod and spec.k8s.gang_scheduling == "volcano":
        annotations[VOLCANO_QUEUE_ANNOTATION] = spec.k8s.queue
    if annotations:
        out["annotations"] = annotations
    return out


def pvc_name(spec: Spec, key: str) -> str:
    return commands.volume_name(spec, key)  # the same name as the compose volume


def pvc(spec: Spec, key: str) -> dict[str, Any]:
    vol = getattr(spec.volumes, key)
    pvc_spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": vol.size}}}
    if vol.storage_class:
        pvc_spec["storageClassName"] = vol.storage_class
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": meta(spec, pvc_name(spec, key), "storage"),
        "spec": pvc_spec,
    }


def secret_env(spec: Spec, name: str, key: str, optional: bool) -> dict[str, Any]:
    ref: dict[str, Any] = {"name": spec.k8s.secret_name, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def hub_secrets(spec: Spec) -> list[dict[str, Any]]:
    keys = {"HF_TOKEN": "hf-token", "MODELSCOPE_API_TOKEN": "modelscope-token"}
    return [secret_env(spec, name, keys[name], True) for name in commands.hub_token_env(spec)]


def tracker_secrets(spec: Spec) -> list[dict[str, Any]]:
    """train.report_to's credentials: optional keys of the Secret (a tracker without a key still starts)."""
    return [secret_env(spec, name, key, True) for name, key in trackers.secrets(spec.train.report_to)]


def plain_env(env: dict[str, str]) -> list[dict[str, Any]]:
    return [{"name": key, "value": literal(value)} for key, value in env.items()]


def field_env(name: str, path: str) -> dict[str, Any]:
    return {"name": name, "valueFrom": {"fieldRef": {"fieldPath": path}}}


def volume_name(key: str) -> str:
    return key.replace("_", "-")


def pod_volumes(spec: Spec, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    volumes = [{"name": volume_name(key), "persistentVolumeClaim": {"claimName": pvc_name(spec, key)}} for key in keys]
    # NCCL and PyTorch data loaders share memory through /dev/shm; the container default (64 MiB) is far too small.
    volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory"}})
    return volumes


def mounts(
    spec: Spec, keys: tuple[str, ...], read_only: tuple[str, ...] = (), shm: bool = True
) -> list[dict[str, Any]]:
    out = []
    for key in keys:
        mount: dict[str, Any] = {"name": volume_name(key), "mountPath": getattr(spec.volumes, key).mount}
        if key in read_only:
            mount["readOnly"] = True
        out.append(mount)
    if shm:
        out.append({"name": "dshm", "mountPath": "/dev/shm"})
    return out


# What a pod asks of its node besides GPUs, so the scheduler places it where it fits and the kubelet does
# not evict it first: each training rank is a process plus its data-loader workers; vLLM runs a process per
# GPU plus the API server. Memory: training's host RAM from the plan (ZeRO offload holds optimizer states
# there), at least POD_MEMORY_FLOOR_GIB (tokenizers, data loading, NCCL buffers); vLLM's workers each take
# a few GiB of host RAM (SERVE_GIB_PER_GPU) besides the weights they stream to the GPU.
POD_MEMORY_FLOOR_GIB = 16
SERVE_GIB_PER_GPU = 4


def train_requests(plan: Plan) -> dict[str, str]:
    spec, mem = plan.spec, plan.train.memory
    procs = max(spec.hardware.gpus, 1)
    host = mem.host_gib if mem else 0.0
    memory = max(POD_MEMORY_FLOOR_GIB, math.ceil(host * 1.1))  # 10 %: the plan's figure is an estimate
    return {"cpu": str(procs * (1 + spec.train.dataloader_num_workers)), "memory": f"{memory}Gi"}


def serve_requests(plan: Plan) -> dict[str, str]:
    gpus = max(plan.spec.hardware.gpus, 1)
    return {"cpu": str(gpus + 2), "memory": f"{POD_MEMORY_FLOOR_GIB + SERVE_GIB_PER_GPU * gpus}Gi"}


def resources(spec: Spec, requests: dict[str, str] | None = None) -> dict[str, Any]:
    """GPUs as limits (extended resources: the request equals the limit); CPU and memory as requests only,
    so a pod may use more when the node has it (no memory limit: an OOM kill mid-step loses the step)."""
    limits: dict[str, Any] = {}
    if spec.hardware.gpus > 0:
        limits["nvidia.com/gpu"] = spec.hardware.gpus
        limits.update(spec.k8s.extra_resources)
    out: dict[str, Any] = {"limits": limits} if limits else {}
    if requests:
        out["requests"] = dict(requests)
    return out


def security_context(spec: Spec, rdma: bool = False) -> dict[str, Any]:
    capabilities: dict[str, Any] = {"drop": ["ALL"]}
    if rdma and spec.k8s.nccl.ib == "on":
        capabilities["add"] = ["IPC_LOCK"]  # RDMA registers (pins) memory
    return {"allowPrivilegeEscalation": False, "capabilities": capabilities}


def pod_security(spec: Spec, rdma: bool = False) -> dict[str, Any]:
    """Pods run as the images' unprivileged user; fsGroup makes the PVCs writable to it (checked only at
    the volume's root on later mounts: a 1.5 TB volume is not re-chowned at every start)."""
    out: dict[str, Any] = {"seccompProfile": {"type": "RuntimeDefault"}}
    if rdma and spec.k8s.nccl.ib == "on":
        # Kubernetes grants added capabilities to uid 0 only: RDMA's IPC_LOCK needs the pod to run as root.
        out.update(runAsUser=0, runAsGroup=0)
        return out
    uid = commands.CONTAINER_UID
    out.update(runAsNonRoot=True, runAsUser=uid, runAsGroup=uid, fsGroup=uid, fsGroupChangePolicy="OnRootMismatch")
    return out


def container(
    spec: Spec,
    name: str,
    which: str,
    argv: list[str],
    config: str | None,
    env: list[dict[str, Any]],
    keys: tuple[str, ...],
    read_only: tuple[str, ...] = (),
    rdma: bool = False,
    requests: dict[str, str] | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name, "image": image_ref(spec, which), "args": [literal(a) for a in argv]}
    if config:
        out["envFrom"] = [{"configMapRef": {"name": config}}]
    out.update(env=env, volumeMounts=mounts(spec, keys, read_only), securityContext=security_context(spec, rdma))
    limits = resources(spec, requests)
    if limits:
        out["resources"] = limits
    return out


def config_map(spec: Spec, name: str, component: str, env: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": meta(spec, name, component),
        "data": {k: literal(v) for k, v in env.items()},
    }


def scheduling(spec: Spec, gpu_pod: bool = True) -> dict[str, Any]:
    """Pod-spec fields every pod shares: node selector, tolerations, Volcano as scheduler, and the Secret
    that pulls the images from a private registry (k8s.image_pull_secret; README "Kubernetes")."""
    out: dict[str, Any] = {}
    if spec.k8s.image_pull_secret:
        out["imagePullSecrets"] = [{"name": spec.k8s.image_pull_secret}]
    if spec.k8s.node_selector:
        out["nodeSelector"] = dict(spec.k8s.node_selector)
    if spec.k8s.tolerations:
        out["tolerations"] = [toleration(t) for t in spec.k8s.tolerations]
    if gpu_pod and spec.k8s.gang_scheduling == "volcano":
        out["schedulerName"] = "volcano"
    return out


def toleration(t) -> dict[str, Any]:
    out: dict[str, Any] = {"operator": t.operator}
    if t.key is not None:
        out["key"] = t.key
    if t.value is not None:
        out["value"] = t.value
    if t.effect is not None:
        out["effect"] = t.effect
    if t.toleration_seconds is not None:
        out["tolerationSeconds"] = t.toleration_seconds
    return out
