"""k8s/: kustomize base with Namespace, PVCs, ConfigMaps, the training Job and the serving
Deployment + Service. Built as data.

Kubernetes expands `$(VAR)` in command, args and env values, so spec-derived strings have
`$(` escaped as `$$(`. Secrets are referenced (secretKeyRef), never written: the user creates
the Secret (README, 'Secrets').
"""

from __future__ import annotations

from typing import Any

from ..plan import Plan
from ..spec import Spec
from .compose import image_ref
from .yamltext import dump

VOLUME_KEYS = ("model_cache", "data", "checkpoints")


def literal(value: str) -> str:
    return value.replace("$(", "$$(")


def _labels(spec: Spec, component: str) -> dict[str, str]:
    return {
        "app.kubernetes.io/name": "modelforge",
        "app.kubernetes.io/instance": spec.name,
        "app.kubernetes.io/component": component,
        "app.kubernetes.io/part-of": "modelforge",
        "app.kubernetes.io/managed-by": "modelforge",
    }


def _meta(spec: Spec, name: str, component: str) -> dict[str, Any]:
    return {"name": name, "namespace": spec.k8s.namespace, "labels": _labels(spec, component)}


def _pvc_name(spec: Spec, key: str) -> str:
    return f"{spec.name}-{key.replace('_', '-')}"


def _pvc(spec: Spec, key: str) -> dict[str, Any]:
    vol = getattr(spec.volumes, key)
    pvc_spec: dict[str, Any] = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": vol.size}}}
    if vol.storage_class:
        pvc_spec["storageClassName"] = vol.storage_class
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": _meta(spec, _pvc_name(spec, key), "storage"), "spec": pvc_spec}


def _secret_env(spec: Spec, name: str, key: str, optional: bool) -> dict[str, Any]:
    ref = {"name": spec.k8s.secret_name, "key": key}
    if optional:
        ref["optional"] = True
    return {"name": name, "valueFrom": {"secretKeyRef": ref}}


def _pod_volumes(spec: Spec, keys: tuple[str, ...]) -> list[dict[str, Any]]:
    volumes = [{"name": key.replace("_", "-"), "persistentVolumeClaim": {"claimName": _pvc_name(spec, key)}} for key in keys]
    # NCCL and PyTorch data loaders share memory through /dev/shm; the container default (64 MiB) is far too small.
    volumes.append({"name": "dshm", "emptyDir": {"medium": "Memory"}})
    return volumes


def _mounts(spec: Spec, keys: tuple[str, ...], read_only: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    mounts = []
    for key in keys:
        mount = {"name": key.replace("_", "-"), "mountPath": getattr(spec.volumes, key).mount}
        if key in read_only:
            mount["readOnly"] = True
        mounts.append(mount)
    mounts.append({"name": "dshm", "mountPath": "/dev/shm"})
    return mounts


def _resources(gpus: int) -> dict[str, Any]:
    return {"limits": {"nvidia.com/gpu": gpus}} if gpus > 0 else {}


def _container(spec: Spec, name: str, which: str, argv: list[str], config: str, env: list[dict[str, Any]],
               keys: tuple[str, ...], read_only: tuple[str, ...] = ()) -> dict[str, Any]:
    container = {
        "name": name,
        "image": image_ref(spec, which),
        "args": [literal(a) for a in argv],
        "envFrom": [{"configMapRef": {"name": config}}],
        "env": env,
        "volumeMounts": _mounts(spec, keys, read_only),
        "securityContext": {"allowPrivilegeEscalation": False, "capabilities": {"drop": ["ALL"]}},
    }
    resources = _resources(spec.hardware.gpus)
    if resources:
        container["resources"] = resources
    return container


def _config_map(spec: Spec, name: str, component: str, env: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": _meta(spec, name, component),
            "data": {k: literal(v) for k, v in env.items()}}


def render(plan: Plan, spec_file: str) -> dict[str, str]:
    spec = plan.spec
    name = spec.name
    hub_secrets = [_secret_env(spec, "HF_TOKEN", "hf-token", True),
                   _secret_env(spec, "MODELSCOPE_API_TOKEN", "modelscope-token", True)]
    train_keys = VOLUME_KEYS
    job = {
        "apiVersion": "batch/v1", "kind": "Job", "metadata": _meta(spec, f"{name}-train", "train"),
        "spec": {
            # Each restart resumes from the newest complete checkpoint on the PVC.
            "backoffLimit": 3,
            "template": {
                "metadata": {"labels": _labels(spec, "train")},
                "spec": {
                    "restartPolicy": "OnFailure",
                    "enableServiceLinks": False,
                    "containers": [_container(spec, "train", "train", plan.train.argv, f"{name}-train-config",
                                              hub_secrets, train_keys, read_only=("data",))],
                    "volumes": _pod_volumes(spec, train_keys),
                },
            },
        },
    }
    serve_keys = ("model_cache", "checkpoints")
    port = spec.serve.port
    server = _container(spec, "vllm", "serve", plan.serve.argv, f"{name}-serve-config",
                        [_secret_env(spec, "VLLM_API_KEY", "api-key", False), *hub_secrets],
                        serve_keys, read_only=("checkpoints",))
    probe = {"httpGet": {"path": "/health", "port": "http"}}
    server.update(
        ports=[{"name": "http", "containerPort": port}],
        # Model load + compile can take many minutes; liveness only starts once startup succeeded.
        startupProbe={**probe, "periodSeconds": 10, "failureThreshold": max(spec.k8s.startup_timeout_s // 10, 1)},
        readinessProbe={**probe, "periodSeconds": 10, "failureThreshold": 3},
        livenessProbe={**probe, "periodSeconds": 30, "timeoutSeconds": 10, "failureThreshold": 3},
    )
    selector = {"app.kubernetes.io/instance": name, "app.kubernetes.io/component": "serve"}
    deployment = {
        "apiVersion": "apps/v1", "kind": "Deployment", "metadata": _meta(spec, f"{name}-serve", "serve"),
        "spec": {
            "replicas": 1,
            "strategy": {"type": "Recreate"},  # GPUs are not free for a surge pod
            "selector": {"matchLabels": selector},
            "template": {
                "metadata": {"labels": _labels(spec, "serve")},
                "spec": {"enableServiceLinks": False, "containers": [server], "volumes": _pod_volumes(spec, serve_keys)},
            },
        },
    }
    service = {
        "apiVersion": "v1", "kind": "Service", "metadata": _meta(spec, f"{name}-serve", "serve"),
        "spec": {"type": spec.k8s.service_type, "selector": selector,
                 "ports": [{"name": "http", "port": port, "targetPort": "http"}]},
    }
    namespace = {"apiVersion": "v1", "kind": "Namespace",
                 "metadata": {"name": spec.k8s.namespace, "labels": _labels(spec, "namespace")}}
    docs = {
        "k8s/namespace.yaml": namespace,
        "k8s/pvc.yaml": [_pvc(spec, key) for key in VOLUME_KEYS],
        "k8s/configmap.yaml": [_config_map(spec, f"{name}-train-config", "train", plan.train.env),
                               _config_map(spec, f"{name}-serve-config", "serve", plan.serve.env)],
        "k8s/train-job.yaml": job,
        "k8s/serve-deployment.yaml": deployment,
        "k8s/serve-service.yaml": service,
    }
    header = f"Rendered by ModelForge from {spec_file}; do not edit by hand (make render)."
    files = {path: dump(doc, header, documents=isinstance(doc, list)) for path, doc in docs.items()}
    kustomization = {
        "apiVersion": "kustomize.config.k8s.io/v1beta1", "kind": "Kustomization",
        "namespace": spec.k8s.namespace,
        "resources": [path.split("/", 1)[1] for path in docs],
    }
    files["k8s/kustomization.yaml"] = dump(kustomization, header)
    return files
