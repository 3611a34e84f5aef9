"""One pod spec for every GPU pod (training and serving): the security posture, the wait for the model
download, the volumes and the placement are the same; what differs is passed in. And one for the CPU-only
helpers beside them (side_pod)."""

from __future__ import annotations

from typing import Any

from ...plan import Plan
from . import download
from .common import mounts, pod_meta, pod_security, pod_volumes, scheduling, security_context


def pod_spec(
    plan: Plan,
    component: str,
    main: dict[str, Any],
    volumes: list[dict[str, Any]],
    *,
    waits_as: str,
    rdma: bool,
    restart_policy: str | None = None,
    service_account_token: bool = True,
    annotations: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A pod template: non-root (pod_security), no service links, the download wait (as `waits_as`: train or
    serve), one main container. The server needs no Kubernetes API token (service_account_token=False)."""
    spec = plan.spec
    pod: dict[str, Any] = {}
    if restart_policy:
        pod["restartPolicy"] = restart_policy
    pod["enableServiceLinks"] = False
    if not service_account_token:
        pod["automountServiceAccountToken"] = False
    pod["securityContext"] = pod_security(spec, rdma=rdma)
    init = download.wait_init_containers(spec, waits_as)
    if init:
        pod["initContainers"] = init
    pod.update(containers=[main], volumes=volumes, **scheduling(spec))
    return {"metadata": pod_meta(spec, component, annotations), "spec": pod}


def side_pod(
    plan: Plan,
    component: str,
    main: dict[str, Any],
    claims: tuple[str, ...],
    read_only: tuple[str, ...] = (),
    writable: dict[str, str] | None = None,
    near: str | None = None,
    restart_policy: str | None = None,
) -> dict[str, Any]:
    """A pod template for the CPU-only helpers beside training and serving (TensorBoard, the chat page, the
    eval Job): no GPU, no API token, non-root, read-only root filesystem with pod-local `writable` folders
    ({volume name: mount path}), the `claims` mounted (those in `read_only` read-only). A ReadWriteOnce claim
    mounts only on a node that has it: `near` (a component: train, serve) is the pod it prefers to sit beside
    (preferred, not required: once that pod is gone any node will do); shared claims need no placement."""
    spec = plan.spec
    writable = writable or {"tmp": "/tmp"}
    main = {
        **main,
        "volumeMounts": [
            *mounts(spec, claims, read_only, shm=False),
            *({"name": name, "mountPath": path} for name, path in writable.items()),
        ],
        "securityContext": {**security_context(spec), "readOnlyRootFilesystem": True},
    }
    volumes = [v for v in pod_volumes(spec, claims) if v["name"] != "dshm"]
    volumes += [{"name": name, "emptyDir": {}} for name in writable]
    pod: dict[str, Any] = {}
    if restart_policy:
        pod["restartPolicy"] = restart_policy
    pod.update(
        enableServiceLinks=False,
        automountServiceAccountToken=False,
        securityContext=pod_security(spec),
        containers=[main],
        volumes=volumes,
        **scheduling(spec, gpu_pod=False),
    )
    if near and not plan.cluster.shared_volumes:
        beside = {"app.kubernetes.io/instance": spec.name, "app.kubernetes.io/component": near}
        term = {"labelSelector": {"matchLabels": beside}, "topologyKey": "kubernetes.io/hostname"}
        preferred = [{"weight": 100, "podAffinityTerm": term}]
        pod["affinity"] = {"podAffinity": {"preferredDuringSchedulingIgnoredDuringExecution": preferred}}
    return {"metadata": pod_meta(spec, component, gpu_pod=False), "spec": pod}
