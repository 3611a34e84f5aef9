"""Serving: replicas of a one-node vLLM (Deployment) or instances across nodes (LeaderWorkerSet),
behind one Service, with a PodDisruptionBudget and, optionally, a HorizontalPodAutoscaler.

Across nodes vLLM runs its multiprocessing multi-node mode: every pod runs `vllm serve` with
--nnodes/--node-rank/--master-addr; rank 0 (the LWS leader) serves the API, the others run
--headless. LeaderWorkerSet injects LWS_LEADER_ADDRESS and LWS_WORKER_INDEX into every container,
and the kubelet expands them in args.
"""

from __future__ import annotations

from typing import Any

from ...plan import Plan
from ...plan.commands import CONTAINER_HOME
from .common import container, hub_secrets, meta, plain_env, pod_volumes, secret_env, serve_requests
from .pods import pod_spec

SERVE_KEYS = ("model_cache", "checkpoints")


def _name(plan: Plan) -> str:
    return f"{plan.spec.name}-serve"


def api_url(plan: Plan) -> str:
    """The server's OpenAI base URL inside the cluster: what the chat page and the eval Job call."""
    return f"http://{_name(plan)}:{plan.spec.serve.port}/v1"


def selector(plan: Plan) -> dict[str, str]:
    return {"app.kubernetes.io/instance": plan.spec.name, "app.kubernetes.io/component": "serve"}


def _server(plan: Plan, node_args: list[str], api: bool) -> dict[str, Any]:
    spec = plan.spec
    server = container(
        spec,
        "vllm",
        "serve",
        plan.serve.argv,
        f"{spec.name}-serve-config",
        [secret_env(spec, "VLLM_API_KEY", "api-key", False), *hub_secrets(spec), *plain_env(plan.cluster.serve_env)],
        SERVE_KEYS,
        read_only=("checkpoints",),
        rdma=plan.cluster.serve_nodes > 1,
        requests=serve_requests(plan),
    )
    server["args"] += node_args  # written here on purpose: $(LWS_...) must reach the kubelet unescaped
    if api:
        probe = {"httpGet": {"path": "/health", "port": "http"}}
        server.update(
            ports=[{"name": "http", "containerPort": spec.serve.port}],
            # Model load + compile can take many minutes; liveness only starts once startup succeeded.
            startupProbe={**probe, "periodSeconds": 10, "failureThreshold": max(spec.k8s.startup_timeout_s // 10, 1)},
            readinessProbe={**probe, "periodSeconds": 10, "failureThreshold": 3},
            livenessProbe={**probe, "periodSeconds": 30, "timeoutSeconds": 10, "failureThreshold": 3},
        )
    return server


WRITABLE_MOUNTS = ({"name": "tmp", "mountPath": "/tmp"}, {"name": "cache", "mountPath": f"{CONTAINER_HOME}/.cache"})


def _pod(plan: Plan, main: dict[str, Any], component: str) -> dict[str, Any]:
    spec = plan.spec
    # Read-only root filesystem: what vLLM writes (torch.compile/Triton caches under ~/.cache, /tmp) goes to
    # pod-local emptyDirs; the model comes from the read-only volumes.
    main = {
        **main,
        "securityContext": {**main["securityContext"], "readOnlyRootFilesystem": True},
        "volumeMounts": [*main["volumeMounts"], *WRITABLE_MOUNTS],
    }
    main["env"] = [*main.get("env", []), {"name": "TRITON_CACHE_DIR", "value": f"{CONTAINER_HOME}/.cache/triton"}]
    volumes = [*pod_volumes(spec, SERVE_KEYS), *({"name": m["name"], "emptyDir": {}} for m in WRITABLE_MOUNTS)]
    annotations = None
    if spec.k8s.autoscaling.enabled and component == "serve":  # for a Prometheus that discovers pods by annotation
        annotations = {
            "prometheus.io/scrape": "true",
            "prometheus.io/port": str(spec.serve.port),
            "prometheus.io/path": "/metrics",
        }
    # The server needs no Kubernetes API token, and no syscalls beyond the runtime's default profile.
    return pod_spec(
        plan,
        component,
        main,
        volumes,
        waits_as="serve",
        rdma=plan.cluster.serve_nodes > 1,
        service_account_token=False,
        annotations=annotations,
    )


def deployment(plan: Plan) -> dict[str, Any]:
    spec = plan.spec
    replicas = plan.cluster.serve_replicas
    autoscaled = spec.k8s.autoscaling.enabled
    body: dict[str, Any] = {} if autoscaled else {"replicas": replicas}  # the HPA owns replicas when there is one
    if replicas == 1 and not autoscaled:
        body["strategy"] = {"type": "Recreate"}  # GPUs are not free for a surge pod
    else:  # one replica at a time, never more pods than GPUs allow
        body["strategy"] = {"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1}}
    body.update(selector={"matchLabels": selector(plan)}, template=_pod(plan, _server(plan, [], api=True), "serve"))
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": meta(spec, _name(plan), "serve"), "spec": body}


def leaderworkerset(plan: Plan) -> dict[str, Any]:
    spec, cluster = plan.spec, plan.cluster
    leader = _server(plan, cluster.serve_node_args("0", "$(LWS_LEADER_ADDRESS)"), api=True)
    worker = _server(plan, cluster.serve_node_args("$(LWS_WORKER_INDEX)", "$(LWS_LEADER_ADDRESS)"), api=False)
    body: dict[str, Any] = {} if spec.k8s.autoscaling.enabled else {"replicas": cluster.serve_replicas}
    body.update(
        startupPolicy="LeaderCreated",
        rolloutStrategy={"type": "RollingUpdate", "rollingUpdateConfiguration": {"maxSurge": 0, "maxUnavailable": 1}},
        leaderWorkerTemplate={
            "size": cluster.serve_nodes,
            # One lost pod breaks the instance's collectives: restart the whole group.
            "restartPolicy": "RecreateGroupOnPodRestart",
            "leaderTemplate": _pod(plan, leader, "serve"),
            "workerTemplate": _pod(plan, worker, "serve-worker"),
        },
    )
    return {
        "apiVersion": "leaderworkerset.x-k8s.io/v1",
        "kind": "LeaderWorkerSet",
        "metadata": meta(spec, _name(plan), "serve", queue=True),
        "spec": body,
    }


def service(plan: Plan) -> dict[str, Any]:
    spec = plan.spec
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": meta(spec, _name(plan), "serve"),
        "spec": {
            "type": spec.k8s.service_type,
            "selector": selector(plan),
            "ports": [{"name": "http", "port": spec.serve.port, "targetPort": "http"}],
        },
    }


def disruption_budget(plan: Plan) -> dict[str, Any]:
    """One serving pod (or instance) down at a time for drains; with one replica a drain may still proceed."""
    spec = plan.spec
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": meta(spec, _name(plan), "serve"),
        "spec": {
            "maxUnavailable": 1,
            "selector": {
                "matchLabels": {"app.kubernetes.io/instance": spec.name},
                "matchExpressions": [
                    {"key": "app.kubernetes.io/component", "operator": "In", "values": ["serve", "serve-worker"]}
                ],
            },
        },
    }


def autoscaler(plan: Plan) -> dict[str, Any]:
    """Scale on vLLM's waiting requests per instance (a Pods metric from a custom-metrics adapter such as
    prometheus-adapter). For a LeaderWorkerSet the scale subresource selects leaders: one metric per instance."""
    spec, a = plan.spec, plan.spec.k8s.autoscaling
    target = (
        {"apiVersion": "leaderworkerset.x-k8s.io/v1", "kind": "LeaderWorkerSet", "name": _name(plan)}
        if plan.cluster.serve_nodes > 1
        else {"apiVersion": "apps/v1", "kind": "Deployment", "name": _name(plan)}
    )
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": meta(spec, _name(plan), "serve"),
        "spec": {
            "scaleTargetRef": target,
            "minReplicas": plan.cluster.serve_replicas,  # the larger of k8s.serve_replicas and autoscaling.min_replicas
            "maxReplicas": a.max_replicas,
            "metrics": [
                {
                    "type": "Pods",
                    "pods": {
                        "metric": {"name": a.metric},
                        "target": {"type": "AverageValue", "averageValue": str(a.waiting_requests)},
                    },
                }
            ],
            # A new instance takes minutes to load: add one at a time, and wait long before removing one.
            "behavior": {
                "scaleUp": {
                    "stabilizationWindowSeconds": 60,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 120}],
                },
                "scaleDown": {
                    "stabilizationWindowSeconds": 600,
                    "policies": [{"type": "Pods", "value": 1, "periodSeconds": 300}],
                },
            },
        },
    }
