"""One pod spec for every GPU pod (training and serving): the security posture, the wait for the model
download, the volumes and the placement are the same; what differs is passed in."""

from __future__ import annotations

from typing import Any

from ...plan import Plan
from . import download
from .common import pod_meta, pod_security, scheduling


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
