"""k8s/: every manifest passes the Kubernetes schemas; probes, shm, GPUs and secrets are right."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from builder.load import validate
from builder.plan import make_plan
from builder.render import k8s

K8S_VERSION = "1.30"


def docs(root, name):
    return [d for d in yaml.safe_load_all((root / "k8s" / name).read_text()) if d]


def test_all_manifests_pass_kubernetes_schemas(root):
    files = sorted((root / "k8s").glob("*.yaml"))
    assert len(files) >= 7
    count = 0
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") == "Kustomization":
                continue
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
            count += 1
    assert count >= 8


def test_schema_validation_can_fail():
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "x"},
                                      "spec": {"ports": [{"port": "not-a-number"}]}}, K8S_VERSION, strict=True)


def test_kustomization_lists_every_manifest(root):
    [kustomization] = docs(root, "kustomization.yaml")
    listed = set(kustomization["resources"])
    on_disk = {p.name for p in (root / "k8s").glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == on_disk


def test_job_and_deployment_shape(root):
    [job] = docs(root, "train-job.yaml")
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 5
    assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in pod["volumes"]
    assert pod["restartPolicy"] == "OnFailure" and pod["enableServiceLinks"] is False
    assert container["args"][:2] == ["swift", "sft"]

    [deploy] = docs(root, "serve-deployment.yaml")
    pod = deploy["spec"]["template"]["spec"]
    [server] = pod["containers"]
    assert pod["enableServiceLinks"] is False
    assert server["startupProbe"]["httpGet"]["path"] == "/health"
    assert server["startupProbe"]["periodSeconds"] * server["startupProbe"]["failureThreshold"] >= 600
    assert server["readinessProbe"]["httpGet"]["path"] == "/health"
    key = next(e for e in server["env"] if e["name"] == "VLLM_API_KEY")
    assert key["valueFrom"]["secretKeyRef"]["key"] == "api-key"
    [service] = docs(root, "serve-service.yaml")
    assert service["spec"]["type"] == "ClusterIP"
    for doc in (job, deploy, service):
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "modelforge"


def test_k8s_dollar_paren_is_escaped():
    files = k8s.render(make_plan(validate({"train": {"extra_args": {"note": "$(rm -rf /)"}}})), "x")
    [job] = yaml.safe_load_all(files["k8s/train-job.yaml"])
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "$$(rm -rf /)" in args
