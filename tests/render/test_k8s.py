"""k8s/ for the default spec (one node): every manifest passes the Kubernetes schemas, the kustomize tree
builds, and probes, shm, GPUs, secrets and the model-cache wait are right."""

from __future__ import annotations

import kubernetes_validate
import pytest
import yaml

from builder.load import validate
from builder.plan import make_plan
from builder.render import k8s
from tests.render.k8s_schemas import K8S_VERSION, kustomize, walk
from tests.render.k8s_schemas import validate as validate_object

OVERLAY = "overlays/single-node"


def docs(root, name):
    return [d for d in yaml.safe_load_all((root / "k8s" / name).read_text()) if d]


def test_all_manifests_pass_kubernetes_schemas(root):
    files = sorted((root / "k8s").rglob("*.yaml"))
    assert len(files) >= 11
    count = 0
    for path in files:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") == "Kustomization":
                continue
            assert validate_object(doc) == "kubernetes", path  # one node: no operator kinds
            count += 1
    assert count >= 11


def test_kubectl_apply_k_k8s_trains_and_k8s_serve_serves_after(root):
    """Training and serving ask for the same GPUs: `k8s/` holds training, `k8s/serve/` serving, applied in
    the order k8s/README.md states, and serving's kustomization holds no PVC (deleting it keeps them)."""
    built = kustomize(root / "k8s")
    kinds = sorted(d["kind"] for d in built)
    assert kinds == sorted(
        ["Namespace", "PersistentVolumeClaim", "PersistentVolumeClaim", "PersistentVolumeClaim"]
        + ["ConfigMap", "ConfigMap", "Job", "Job"]
    )
    serving = kustomize(root / "k8s" / "serve")
    assert sorted(d["kind"] for d in serving) == ["Deployment", "PodDisruptionBudget", "Service"]
    steps = (root / "k8s" / "README.md").read_text()
    order = [
        "kubectl apply -k k8s/ ",
        "wait --for=condition=complete job/qwen3-30b-a3b-sft-train",
        "apply -k k8s/serve/",
    ]
    assert all(step in steps for step in order)
    assert [steps.index(step) for step in order] == sorted(steps.index(step) for step in order)
    built += serving
    for doc in built:
        validate_object(doc)
        if doc["kind"] != "Namespace":
            assert doc["metadata"]["namespace"] == "modelforge"
    claims = [d for d in built if d["kind"] == "PersistentVolumeClaim"]
    assert all(c["spec"]["accessModes"] == ["ReadWriteOnce"] for c in claims)


def test_schema_validation_can_fail():
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": "x"},
                "spec": {"ports": [{"port": "not-a-number"}]},
            },
            K8S_VERSION,
            strict=True,
        )


def test_kustomizations_list_every_manifest(root):
    [top] = docs(root, "kustomization.yaml")
    assert top["resources"] == [OVERLAY]
    for folder in ("base", OVERLAY, "serve"):
        [kustomization] = docs(root, f"{folder}/kustomization.yaml")
        listed = {r for r in kustomization["resources"] if not r.startswith("..")}
        on_disk = {p.name for p in (root / "k8s" / folder).glob("*.yaml")} - {"kustomization.yaml"}
        assert listed == on_disk
    assert not (root / "k8s" / "overlays" / "multi-node").exists()


def test_job_and_deployment_shape(root):
    [job] = docs(root, f"{OVERLAY}/train-job.yaml")
    pod = job["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert container["resources"]["limits"]["nvidia.com/gpu"] == 5
    assert {"name": "dshm", "emptyDir": {"medium": "Memory"}} in pod["volumes"]
    assert pod["restartPolicy"] == "OnFailure" and pod["enableServiceLinks"] is False
    assert container["args"][:2] == ["swift", "sft"]
    assert "--ddp_timeout" not in container["args"] and "NNODES" not in str(container["env"])  # one node

    [deploy] = docs(root, "serve/serve-deployment.yaml")
    assert deploy["spec"]["replicas"] == 1 and deploy["spec"]["strategy"] == {"type": "Recreate"}
    pod = deploy["spec"]["template"]["spec"]
    [server] = pod["containers"]
    assert pod["enableServiceLinks"] is False
    assert server["startupProbe"]["httpGet"]["path"] == "/health"
    assert server["startupProbe"]["periodSeconds"] * server["startupProbe"]["failureThreshold"] >= 600
    assert server["readinessProbe"]["httpGet"]["path"] == "/health"
    key = next(e for e in server["env"] if e["name"] == "VLLM_API_KEY")
    assert key["valueFrom"]["secretKeyRef"]["key"] == "api-key"
    [service] = docs(root, "serve/serve-service.yaml")
    assert service["spec"]["type"] == "ClusterIP"
    [pdb] = docs(root, "serve/serve-pdb.yaml")
    assert pdb["spec"]["maxUnavailable"] == 1  # one replica: a drain may still evict it
    for doc in (job, deploy, service, pdb):
        assert doc["metadata"]["labels"]["app.kubernetes.io/name"] == "modelforge"


def test_model_cache_is_filled_once_and_pods_wait_for_it(root):
    [download] = docs(root, "base/model-download-job.yaml")
    [container] = download["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e.get("value", e.get("valueFrom")) for e in container["env"]}
    assert env["MF_MODEL_ID"] == "Qwen/Qwen3-30B-A3B-Thinking-2507" and env["MF_HUB"] == "modelscope"
    assert env["MODELSCOPE_CACHE"] == "/models/modelscope"  # the cache ms-swift and vLLM read
    assert env["MODELSCOPE_API_TOKEN"]["secretKeyRef"]["key"] == "modelscope-token"
    assert "resources" in container and "nvidia.com/gpu" not in str(container["resources"])
    ready = env["MF_MODEL_READY_FILE"]
    for name in (f"{OVERLAY}/train-job.yaml", "serve/serve-deployment.yaml"):
        [obj] = docs(root, name)
        [wait] = obj["spec"]["template"]["spec"]["initContainers"]
        assert wait["name"] == "wait-for-model" and wait["command"][:2] == ["python3", "-c"]
        assert {"name": "MF_MODEL_READY_FILE", "value": ready} in wait["env"]
        assert wait["volumeMounts"] == [{"name": "model-cache", "mountPath": "/models", "readOnly": True}]


def test_no_download_for_a_model_path():
    files = k8s.render(make_plan(validate({"model": {"id": "/models/mine"}})), "x")
    assert not any("model-download" in path for path in files)
    [job] = yaml.safe_load_all(files["k8s/overlays/single-node/train-job.yaml"])
    assert "initContainers" not in job["spec"]["template"]["spec"]


def test_k8s_dollar_paren_is_escaped():
    files = k8s.render(make_plan(validate({"train": {"extra_args": {"note": "$(rm -rf /)"}}})), "x")
    [job] = yaml.safe_load_all(files["k8s/overlays/single-node/train-job.yaml"])
    args = job["spec"]["template"]["spec"]["containers"][0]["args"]
    assert "$$(rm -rf /)" in args


def _pods(obj):
    """Every pod spec inside an object (Job, Deployment, PyTorchJob replicas, JobSet, LWS templates)."""
    return (node for node in walk(obj) if "containers" in node)


@pytest.mark.parametrize(
    "extra",
    [
        {},
        {
            "k8s": {"nodes": 2, "training_operator": "pytorchjob", "nccl": {"ib": "off"}},
            "train": {"deepspeed": "zero3"},
        },
    ],
)
def test_a_private_registry_reaches_every_pod_and_pods_request_cpu_and_memory(tmp_path, extra):
    data = {"images": {"registry": "registry.example.com:5000/team"}, **extra}
    data["k8s"] = {**data.get("k8s", {}), "image_pull_secret": "regcred"}
    plan = make_plan(validate(data))
    assert plan.feasible, plan.errors
    files = k8s.render(plan, "x")
    pods = [p for path, text in files.items() if path.endswith(".yaml") for d in yaml.safe_load_all(text) if d
            for p in _pods(d)]  # fmt: skip
    assert len(pods) >= 3
    for pod in pods:
        assert pod["imagePullSecrets"] == [{"name": "regcred"}]
        for c in pod["containers"] + pod.get("initContainers", []):
            if "image" in c:
                assert c["image"].startswith("registry.example.com:5000/team/modelforge/"), c["image"]
    train = next(c for p in pods for c in p["containers"] if c["name"] in ("train", "pytorch"))
    requests = train["resources"]["requests"]
    host = plan.train.memory.host_gib
    assert int(requests["memory"].removesuffix("Gi")) >= max(16, host) and int(requests["cpu"]) == 5 * 5
    assert "memory" not in train["resources"]["limits"]  # no OOM kill mid-step: requests only
    server = next(c for p in pods for c in p["containers"] if c["name"] == "vllm")
    assert set(server["resources"]["requests"]) == {"cpu", "memory"}


def test_the_steps_wait_for_the_training_object_the_plan_picked():
    plan = make_plan(validate({"k8s": {"nodes": 2, "training_operator": "jobset", "nccl": {"ib": "off"}}}))
    steps = k8s.render(plan, "x")["k8s/README.md"]
    assert "wait --for=condition=Completed jobset/qwen3-30b-a3b-sft-train" in steps
    assert "# set images.registry in the spec, then: make push" in steps  # no registry: the step says to set one
