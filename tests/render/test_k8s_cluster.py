"""k8s across nodes (issue 9): every object of every layout passes its schema (Kubernetes, or the operator's
published CRD), the kustomize overlays build, and each engine's env wiring, restarts, scheduling and
serving spread are what the README says."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from builder.errors import SpecError
from builder.load import validate
from builder.plan import make_plan
from builder.render import drift, k8s, render_all, write
from builder.render.k8s import download
from tests.render.k8s_schemas import crd_validators, kustomize, rendered_docs, walk
from tests.render.k8s_schemas import validate as validate_object

EXAMPLES = Path(__file__).resolve().parents[2] / "builder" / "examples"

BIG_MOE = {
    "model": {"id": "Qwen/Qwen3-235B-A22B"},
    "hardware": {"gpus": 4, "gpu": "A100-80GB"},
    "train": {"tuner": "lora"},
    # 235B bf16 weights are ~438 GiB: the default 300Gi model cache is refused by the planner (issue 17).
    "volumes": {"model_cache": {"mount": "/models", "size": "600Gi"}},
}

SCENARIOS = {
    "pytorchjob": {"k8s": {"nodes": 2}},
    "jobset": {"k8s": {"nodes": 3, "training_operator": "jobset", "gang_scheduling": "kueue"}},
    "trainjob": {"k8s": {"nodes": 2, "training_operator": "trainjob", "shared_storage_class": "nfs-client"}},
    "lws": {
        **BIG_MOE,
        "k8s": {
            "nodes": 4,
            "serve_replicas": 2,
            "autoscaling": {"enabled": True, "max_replicas": 3},
            "monitoring": True,
        },
    },
    "replicas": {
        "k8s": {
            "serve_replicas": 3,
            "autoscaling": {"enabled": True},
            "monitoring": True,
            "monitoring_labels": {"release": "kube-prometheus-stack"},
        }
    },
    "volcano": {
        "k8s": {
            "nodes": 2,
            "gang_scheduling": "volcano",
            "queue": "gpu",
            "node_selector": {"nvidia.com/gpu.product": "NVIDIA-H200"},
            "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            "nccl": {"ib": "on", "ib_hca": "mlx5", "socket_ifname": "=eth0", "debug": "INFO"},
            "extra_resources": {"rdma/ib": 1},
        }
    },
    "cpu": {
        "model": {"id": "/models/tiny", "config_path": str(EXAMPLES / "tiny-qwen3-moe.config.json")},
        "hardware": {"gpus": 0, "gpu": "CPU"},
        "train": {"deepspeed": "none"},
        "k8s": {"nodes": 2, "nccl": {"ib": "off"}},
    },
}


COMPONENT = "app.kubernetes.io/component"


def plan_for(data):
    plan = make_plan(validate(data))
    assert plan.feasible, plan.errors
    return plan


def render_tree(tmp_path: Path, data) -> tuple[dict[str, str], list[dict]]:
    plan = plan_for(data)
    files = render_all(plan, "modelforge.yaml")
    write(files, tmp_path)
    return files, kustomize(tmp_path / "k8s") + kustomize(tmp_path / "k8s" / "serve")  # train, then serve


def by_kind(built, kind):
    return [d for d in built if d["kind"] == kind]


def env_of(container) -> dict:
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_object_passes_its_schema(tmp_path, scenario):
    files, built = render_tree(tmp_path, SCENARIOS[scenario])
    assert (tmp_path / "k8s/overlays/multi-node/kustomization.yaml").exists()
    checked = {validate_object(doc) for doc in built}
    # each rendered file on its own too (what a user applying one file gets)
    for doc in rendered_docs(files):
        validate_object(doc)
    assert "crd" in checked
    claims = by_kind(built, "PersistentVolumeClaim")
    assert len(claims) == 3 and all(c["spec"]["accessModes"] == ["ReadWriteMany"] for c in claims)
    assert all(d["metadata"].get("namespace") == "modelforge" for d in built if d["kind"] != "Namespace")


def test_crd_schemas_are_the_published_ones_and_can_fail():
    validators = crd_validators()
    assert set(validators) == {
        ("kubeflow.org/v1", "PyTorchJob"),
        ("jobset.x-k8s.io/v1alpha2", "JobSet"),
        ("trainer.kubeflow.org/v1alpha1", "TrainJob"),
        ("leaderworkerset.x-k8s.io/v1", "LeaderWorkerSet"),
        ("monitoring.coreos.com/v1", "PodMonitor"),
    }
    plan = plan_for(SCENARIOS["lws"])
    [lws] = yaml.safe_load_all(k8s.render(plan, "x")["k8s/serve/serve-leaderworkerset.yaml"])
    validate_object(lws)
    bad = json.loads(json.dumps(lws))
    bad["spec"]["leaderWorkerTemplate"]["size"] = "two"
    with pytest.raises(jsonschema.ValidationError):
        validate_object(bad)
    typo = json.loads(json.dumps(lws))
    typo["spec"]["leaderWorkerTemplate"]["restartPolicyy"] = "None"  # pruned silently by the API server: an error here
    with pytest.raises(jsonschema.ValidationError):
        validate_object(typo)
    bad_pod = json.loads(json.dumps(lws))
    bad_pod["spec"]["leaderWorkerTemplate"]["workerTemplate"]["spec"]["containers"][0]["ports"] = [
        {"containerPort": "x"}
    ]
    with pytest.raises(Exception):
        validate_object(bad_pod)


def test_pytorchjob_wiring(tmp_path):
    _, built = render_tree(tmp_path, SCENARIOS["pytorchjob"])
    [job] = by_kind(built, "PyTorchJob")
    spec = job["spec"]
    assert spec["nprocPerNode"] == "5" and spec["runPolicy"]["backoffLimit"] == 6
    assert (
        spec["pytorchReplicaSpecs"]["Master"]["replicas"] == 1
        and spec["pytorchReplicaSpecs"]["Worker"]["replicas"] == 1
    )
    for replica in spec["pytorchReplicaSpecs"].values():
        assert replica["restartPolicy"] == "OnFailure"
        [main] = replica["template"]["spec"]["containers"]
        # the operator finds its port by these names and injects MASTER_ADDR/MASTER_PORT/PET_NODE_RANK
        assert main["name"] == "pytorch" and main["ports"] == [{"name": "pytorchjob-port", "containerPort": 29500}]
        env = env_of(main)
        assert env["NNODES"] == "2" and env["NPROC_PER_NODE"] == "5" and env["NCCL_DEBUG"] == "WARN"
        assert not {"NODE_RANK", "MASTER_ADDR", "MASTER_PORT"} & set(env)
        assert main["args"][-2:] == ["--ddp_timeout", "1800"]
        assert main["resources"]["limits"]["nvidia.com/gpu"] == 5
        assert replica["template"]["spec"]["initContainers"][0]["name"] == "wait-for-model"
    [deploy] = by_kind(built, "Deployment")  # the 30B model fits one node: one Deployment, Recreate
    assert deploy["spec"]["replicas"] == 1 and deploy["spec"]["strategy"]["type"] == "Recreate"


def test_jobset_wiring(tmp_path):
    _, built = render_tree(tmp_path, SCENARIOS["jobset"])
    [jobset] = by_kind(built, "JobSet")
    spec = jobset["spec"]
    assert jobset["metadata"]["labels"]["kueue.x-k8s.io/queue-name"] == "default"
    assert spec["failurePolicy"] == {"maxRestarts": 3} and spec["coordinator"]["replicatedJob"] == "node"
    [rjob] = spec["replicatedJobs"]
    job = rjob["template"]["spec"]
    assert rjob["name"] == "node" and job["completionMode"] == "Indexed"
    assert job["completions"] == job["parallelism"] == 3 and job["backoffLimit"] == 0
    pod = job["template"]["spec"]
    assert pod["restartPolicy"] == "Never"
    env = env_of(pod["containers"][0])
    assert env["NODE_RANK"] == {
        "fieldRef": {"fieldPath": "metadata.annotations['batch.kubernetes.io/job-completion-index']"}
    }
    assert env["MASTER_ADDR"] == {"fieldRef": {"fieldPath": "metadata.annotations['jobset.sigs.k8s.io/coordinator']"}}
    assert env["MASTER_PORT"] == "29500" and env["NNODES"] == "3"


def test_trainjob_wiring(tmp_path):
    _, built = render_tree(tmp_path, SCENARIOS["trainjob"])
    [tj] = by_kind(built, "TrainJob")
    trainer = tj["spec"]["trainer"]
    assert tj["spec"]["runtimeRef"] == {
        "apiGroup": "trainer.kubeflow.org",
        "kind": "ClusterTrainingRuntime",
        "name": "torch-distributed",
    }
    assert trainer["numNodes"] == 2 and trainer["numProcPerNode"] == 5
    assert trainer["resourcesPerNode"]["limits"] == {"nvidia.com/gpu": 5}
    assert set(trainer["resourcesPerNode"]["requests"]) == {"cpu", "memory"}  # from the plan
    env = env_of(trainer)
    assert not [name for name in env if name.startswith("PET_")]  # reserved: the runtime sets them
    assert env["NNODES"] == "2" and env["MODELSCOPE_CACHE"] == {
        "configMapKeyRef": {"name": "qwen3-30b-a3b-sft-train-config", "key": "MODELSCOPE_CACHE"}
    }
    # no init container through runtime patches: the wait runs first, then the image's entrypoint
    assert trainer["command"][:2] == ["python3", "-c"] and trainer["command"][-2:] == [
        "/usr/local/bin/modelforge-entrypoint",
        "train",
    ]
    [patch] = tj["spec"]["runtimePatches"]
    [rjob] = patch["trainingRuntimeSpec"]["template"]["spec"]["replicatedJobs"]
    pod = rjob["template"]["spec"]["template"]["spec"]
    assert pod["containers"][0]["name"] == "node" and {v["name"] for v in pod["volumes"]} >= {
        "model-cache",
        "checkpoints",
    }
    assert all(c["spec"].get("storageClassName") == "nfs-client" for c in by_kind(built, "PersistentVolumeClaim"))


def test_leaderworkerset_serves_a_model_no_node_holds(tmp_path):
    plan = plan_for(SCENARIOS["lws"])
    layout = plan.serve.layout
    assert (layout.tp, layout.pp, layout.dp) == (4, 2, 1) and plan.cluster.serve_nodes == 2
    _, built = render_tree(tmp_path, SCENARIOS["lws"])
    [lws] = by_kind(built, "LeaderWorkerSet")
    lwt = lws["spec"]["leaderWorkerTemplate"]
    assert "replicas" not in lws["spec"]  # the HPA owns it
    assert lwt["size"] == 2 and lwt["restartPolicy"] == "RecreateGroupOnPodRestart"
    [leader] = lwt["leaderTemplate"]["spec"]["containers"]
    [worker] = lwt["workerTemplate"]["spec"]["containers"]
    assert leader["args"][-8:] == [
        "--nnodes",
        "2",
        "--node-rank",
        "0",
        "--master-addr",
        "$(LWS_LEADER_ADDRESS)",
        "--master-port",
        "29501",
    ]
    assert worker["args"][-9:] == [
        "--nnodes",
        "2",
        "--node-rank",
        "$(LWS_WORKER_INDEX)",
        "--master-addr",
        "$(LWS_LEADER_ADDRESS)",
        "--master-port",
        "29501",
        "--headless",
    ]
    assert (
        "--tensor-parallel-size" in leader["args"]
        and leader["args"][leader["args"].index("--pipeline-parallel-size") + 1] == "2"
    )
    assert "startupProbe" in leader and "startupProbe" not in worker and "ports" not in worker
    [service] = by_kind(built, "Service")
    assert service["spec"]["selector"]["app.kubernetes.io/component"] == "serve"  # leaders only
    assert lwt["leaderTemplate"]["metadata"]["labels"]["app.kubernetes.io/component"] == "serve"
    assert lwt["workerTemplate"]["metadata"]["labels"]["app.kubernetes.io/component"] == "serve-worker"
    [hpa] = by_kind(built, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"]["kind"] == "LeaderWorkerSet" and hpa["spec"]["maxReplicas"] == 3
    assert hpa["spec"]["metrics"][0]["pods"]["metric"]["name"] == "vllm_num_requests_waiting"
    [pdb] = by_kind(built, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchExpressions"][0]["values"] == ["serve", "serve-worker"]
    [job] = by_kind(built, "PyTorchJob")  # training: 4 nodes, LoRA
    assert job["spec"]["pytorchReplicaSpecs"]["Worker"]["replicas"] == 3


def test_serving_replicas_behind_one_service(tmp_path):
    _, built = render_tree(tmp_path, SCENARIOS["replicas"])
    assert by_kind(built, "Job")[0]["metadata"]["name"].endswith("-model-download")
    [train] = [j for j in by_kind(built, "Job") if j["metadata"]["name"].endswith("-train")]  # one training node
    assert "NNODES" not in env_of(train["spec"]["template"]["spec"]["containers"][0])
    [deploy] = by_kind(built, "Deployment")
    assert "replicas" not in deploy["spec"]
    assert deploy["spec"]["strategy"] == {
        "type": "RollingUpdate",
        "rollingUpdate": {"maxSurge": 0, "maxUnavailable": 1},
    }
    assert deploy["spec"]["template"]["metadata"]["annotations"]["prometheus.io/path"] == "/metrics"
    [hpa] = by_kind(built, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": "qwen3-30b-a3b-sft-serve",
    }
    assert hpa["spec"]["minReplicas"] == 3  # serve_replicas is the floor


def test_volcano_placement_and_nccl(tmp_path):
    _, built = render_tree(tmp_path, SCENARIOS["volcano"])
    [job] = by_kind(built, "PyTorchJob")
    assert job["spec"]["runPolicy"]["schedulingPolicy"] == {"minAvailable": 2, "queue": "gpu"}
    pods = [r["template"] for r in job["spec"]["pytorchReplicaSpecs"].values()]
    [deploy] = by_kind(built, "Deployment")
    [download_job] = [j for j in by_kind(built, "Job") if j["metadata"]["name"].endswith("-model-download")]
    for template in [*pods, deploy["spec"]["template"], download_job["spec"]["template"]]:
        assert template["spec"]["nodeSelector"] == {"nvidia.com/gpu.product": "NVIDIA-H200"}
        assert template["spec"]["tolerations"] == [
            {"operator": "Exists", "key": "nvidia.com/gpu", "effect": "NoSchedule"}
        ]
    for template in [*pods, deploy["spec"]["template"]]:
        assert template["spec"]["schedulerName"] == "volcano"
        assert template["metadata"]["annotations"]["scheduling.volcano.sh/queue-name"] == "gpu"
    assert "schedulerName" not in download_job["spec"]["template"]["spec"]
    main = pods[0]["spec"]["containers"][0]
    env = env_of(main)
    assert env["NCCL_IB_DISABLE"] == "0" and env["NCCL_IB_HCA"] == "mlx5" and env["NCCL_DEBUG"] == "INFO"
    assert env["NCCL_SOCKET_IFNAME"] == "=eth0" and env["GLOO_SOCKET_IFNAME"] == "eth0"
    assert main["securityContext"]["capabilities"]["add"] == ["IPC_LOCK"]
    assert main["resources"]["limits"] == {"nvidia.com/gpu": 5, "rdma/ib": 1}


def test_cpu_multi_node_has_no_download_and_one_process_per_node():
    plan = plan_for(SCENARIOS["cpu"])
    assert plan.cluster.train_env == {
        "ACCELERATE_USE_CPU": "true",
        "NCCL_DEBUG": "WARN",
        "NCCL_IB_DISABLE": "1",
        "NNODES": "2",
        "NPROC_PER_NODE": "1",
    }
    files = k8s.render(plan, "x")
    assert not any("model-download" in path for path in files)


def test_mirror_endpoint_reaches_download_training_and_serving():
    plan = plan_for({"model": {"hub": "huggingface", "endpoint": "https://hf-mirror.example.com/"}})
    assert plan.train.env["HF_ENDPOINT"] == plan.serve.env["HF_ENDPOINT"] == "https://hf-mirror.example.com"
    [job] = yaml.safe_load_all(k8s.render(plan, "x")["k8s/base/model-download-job.yaml"])
    env = env_of(job["spec"]["template"]["spec"]["containers"][0])
    assert (
        env["HF_ENDPOINT"] == "https://hf-mirror.example.com"
        and env["MF_HUB"] == "huggingface"
        and env["USE_HF"] == "1"
    )
    assert env["HF_TOKEN"]["secretKeyRef"]["key"] == "hf-token"
    ms = plan_for({"model": {"endpoint": "https://ms-mirror.example.com"}})
    assert ms.train.env["MODELSCOPE_ENDPOINT"] == "https://ms-mirror.example.com"
    assert ms.train.env["MODELSCOPE_DOMAIN"] == "ms-mirror.example.com"


def test_spec_refuses_combinations_that_cannot_run():
    with pytest.raises(SpecError, match="k8s"):
        validate({"k8s": {"nodes": 2, "training_operator": "job"}})
    with pytest.raises(SpecError, match="volcano"):
        validate({"k8s": {"nodes": 2, "training_operator": "jobset", "gang_scheduling": "volcano"}})
    with pytest.raises(SpecError, match="nccl"):
        validate({"k8s": {"nccl": {"socket_ifname": "eth0; reboot"}}})


def test_planner_checks_the_layout_across_nodes():
    # 235B does not fit one node of 4 x A100-80GB, nor is 1 node given
    one = make_plan(validate({**BIG_MOE, "k8s": {"nodes": 1}}))
    assert one.cluster.serve_nodes == 1
    # an explicit layout bigger than the nodes given
    too_big = make_plan(
        validate({**BIG_MOE, "serve": {"tensor_parallel": 4, "pipeline_parallel": 4}, "k8s": {"nodes": 2}})
    )
    assert any("need 4 nodes but k8s.nodes is 2" in e for e in too_big.errors)
    uneven = make_plan(
        validate({**BIG_MOE, "serve": {"tensor_parallel": 2, "pipeline_parallel": 3}, "k8s": {"nodes": 2}})
    )
    assert any("not a multiple of hardware.gpus" in e for e in uneven.errors)
    ok = make_plan(validate({**BIG_MOE, "serve": {"tensor_parallel": 4, "pipeline_parallel": 2}, "k8s": {"nodes": 2}}))
    assert ok.feasible and ok.cluster.serve_nodes == 2
    # training memory: ZeRO shards over every GPU of every node, so more nodes need less per GPU
    per_gpu = {
        n: make_plan(
            validate(
                {"hardware": {"gpus": 8, "gpu": "H100-80GB"}, "train": {"deepspeed": "zero3"}, "k8s": {"nodes": n}}
            )
        ).train.memory.model_states_gib
        for n in (1, 2, 4)
    }
    assert per_gpu[1] > per_gpu[2] > per_gpu[4]


def test_switching_layout_leaves_stale_files_the_drift_check_names(tmp_path):
    write(render_all(plan_for({})), tmp_path)
    files = render_all(plan_for(SCENARIOS["pytorchjob"]))
    write(files, tmp_path)
    stale = drift(files, tmp_path)
    assert "k8s/overlays/single-node/train-job.yaml (not rendered any more: delete it)" in stale
    assert yaml.safe_load((tmp_path / "k8s/kustomization.yaml").read_text())["resources"] == ["overlays/multi-node"]


def test_spec_values_stay_escaped_across_nodes():
    plan = plan_for({**SCENARIOS["lws"], "serve": {"extra_args": {"note": "$(LWS_LEADER_ADDRESS)"}}})
    [lws] = yaml.safe_load_all(k8s.render(plan, "x")["k8s/serve/serve-leaderworkerset.yaml"])
    args = lws["spec"]["leaderWorkerTemplate"]["leaderTemplate"]["spec"]["containers"][0]["args"]
    assert "$$(LWS_LEADER_ADDRESS)" in args and args[args.index("--master-addr") + 1] == "$(LWS_LEADER_ADDRESS)"


def _run_script(script: str, tmp_path: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    fake = tmp_path / "fake"
    (fake / "huggingface_hub").mkdir(parents=True, exist_ok=True)
    (fake / "modelscope" / "hub").mkdir(parents=True, exist_ok=True)
    calls = tmp_path / "calls.jsonl"
    record = "import json, os\ndef _log(*a):\n    open(os.environ['CALLS'], 'a').write(json.dumps(a) + '\\n')\n"
    (fake / "huggingface_hub" / "__init__.py").write_text(
        record
        + "def snapshot_download(m):\n    _log('hf', m, os.environ.get('HF_ENDPOINT'))\n    return '/cache/hf/' + m\n"
    )
    (fake / "modelscope" / "__init__.py").write_text(
        record + "def snapshot_download(m):\n    _log('ms', m)\n    return '/cache/ms/' + m\n"
    )
    (fake / "modelscope" / "hub" / "__init__.py").write_text("")
    (fake / "modelscope" / "hub" / "api.py").write_text(
        record + "class HubApi:\n    def login(self, token):\n        _log('login', token)\n"
    )
    full = {"PATH": os.environ["PATH"], "PYTHONPATH": str(fake), "CALLS": str(calls), **env}
    return subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, env=full, timeout=30)


def test_download_script_fills_the_cache_once(tmp_path):
    ready = tmp_path / "models/.modelforge/ready/modelscope/Qwen/Qwen3-8B"
    env = {
        "MF_MODEL_ID": "Qwen/Qwen3-8B",
        "MF_HUB": "modelscope",
        "MF_MODEL_READY_FILE": str(ready),
        "MODELSCOPE_API_TOKEN": "tok",
    }
    first = _run_script(download.DOWNLOAD_SCRIPT, tmp_path, env)
    assert first.returncode == 0, first.stderr
    assert ready.read_text() == "/cache/ms/Qwen/Qwen3-8B\n"
    second = _run_script(download.DOWNLOAD_SCRIPT, tmp_path, env)
    assert "already in the model cache" in second.stdout
    calls = [json.loads(line) for line in (tmp_path / "calls.jsonl").read_text().splitlines()]
    assert calls == [["login", "tok"], ["ms", "Qwen/Qwen3-8B"]]  # the second run downloaded nothing
    hf_ready = tmp_path / "hf-ready"
    hf = _run_script(
        download.DOWNLOAD_SCRIPT,
        tmp_path,
        {
            "MF_MODEL_ID": "org/m",
            "MF_HUB": "huggingface",
            "MF_MODEL_READY_FILE": str(hf_ready),
            "HF_ENDPOINT": "http://mirror",
        },
    )
    assert hf.returncode == 0 and hf_ready.read_text() == "/cache/hf/org/m\n"
    assert json.loads((tmp_path / "calls.jsonl").read_text().splitlines()[-1]) == ["hf", "org/m", "http://mirror"]


def test_wait_script_waits_then_runs_the_entrypoint(tmp_path):
    ready = tmp_path / "ready"
    gave_up = _run_script(download.WAIT_SCRIPT, tmp_path, {"MF_MODEL_READY_FILE": str(ready), "MF_MODEL_WAIT_S": "0"})
    assert gave_up.returncode == 1 and "gave up waiting" in gave_up.stderr
    ready.write_text("/cache/x\n")
    done = _run_script(
        download.WAIT_SCRIPT, tmp_path, {"MF_MODEL_READY_FILE": str(ready)}, "/bin/echo", "train", "swift"
    )
    assert done.returncode == 0 and done.stdout.splitlines()[-1] == "train swift"


HOSTILE = ["x; touch /tmp/pwned", "$(touch /tmp/pwned)", "a\nb", "x' && y '", "${IFS}x", "a|b&c>d<e", "../x"]
NEW_FIELDS = [
    lambda v: {"k8s": {"queue": v}},
    lambda v: {"k8s": {"trainer_runtime": v}},
    lambda v: {"k8s": {"shared_storage_class": v}},
    lambda v: {"k8s": {"node_selector": {"a": v}}},
    lambda v: {"k8s": {"node_selector": {v: "a"}}},
    lambda v: {"k8s": {"tolerations": [{"key": v}]}},
    lambda v: {"k8s": {"tolerations": [{"key": "a", "value": v}]}},
    lambda v: {"k8s": {"extra_resources": {v: 1}}},
    lambda v: {"k8s": {"nccl": {"socket_ifname": v}}},
    lambda v: {"k8s": {"nccl": {"ib_hca": v}}},
    lambda v: {"k8s": {"autoscaling": {"metric": v}}},
    lambda v: {"model": {"endpoint": v}},
]


@pytest.mark.parametrize("hostile", HOSTILE)
@pytest.mark.parametrize("field", range(len(NEW_FIELDS)))
def test_new_fields_refuse_metacharacters(field, hostile):
    with pytest.raises(SpecError):
        validate(NEW_FIELDS[field](hostile))


def test_tolerations_are_checked_like_kubernetes_does():
    with pytest.raises(SpecError, match="Exists"):
        validate({"k8s": {"tolerations": [{"key": "a", "operator": "Exists", "value": "b"}]}})
    with pytest.raises(SpecError, match="key"):
        validate({"k8s": {"tolerations": [{"operator": "Equal", "value": "b"}]}})
    assert validate({"k8s": {"tolerations": [{"operator": "Exists"}]}}).k8s.tolerations[0].key is None


@pytest.mark.parametrize("scenario", sorted(SCENARIOS))
def test_every_container_names_each_variable_once(scenario):
    files = k8s.render(plan_for(SCENARIOS[scenario]), "x")

    for doc in rendered_docs(files):
        for container in (node for node in walk(doc) if isinstance(node.get("env"), list)):
            names = [e["name"] for e in container["env"]]
            assert len(names) == len(set(names)), (doc["kind"], names)


def test_keyed_lists_refuse_repeats_as_the_api_server_does():
    plan = plan_for(SCENARIOS["trainjob"])
    [tj] = yaml.safe_load_all(k8s.render(plan, "x")["k8s/overlays/multi-node/train-trainjob.yaml"])
    validate_object(tj)
    tj["spec"]["trainer"]["env"].append(dict(tj["spec"]["trainer"]["env"][0]))
    with pytest.raises(jsonschema.ValidationError, match="repeated"):
        validate_object(tj)


def test_monitoring_renders_a_pod_monitor_and_a_grafana_dashboard_for_the_server(tmp_path):
    from builder.render import monitor

    files, built = render_tree(tmp_path, SCENARIOS["replicas"])
    [podmon] = by_kind(built, "PodMonitor")
    assert validate_object(podmon) == "crd"
    assert podmon["metadata"]["labels"]["release"] == "kube-prometheus-stack"
    [deployment] = by_kind(built, "Deployment")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert podmon["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    [endpoint] = podmon["spec"]["podMetricsEndpoints"]
    [port] = deployment["spec"]["template"]["spec"]["containers"][0]["ports"]
    assert endpoint["port"] == port["name"] and endpoint["path"] == "/metrics"
    bad = json.loads(json.dumps(podmon))
    bad["spec"]["podMetricsEndpoints"][0]["interval"] = 15  # a number, not a duration string
    with pytest.raises(jsonschema.ValidationError):
        validate_object(bad)

    [board_map] = [d for d in by_kind(built, "ConfigMap") if d["metadata"]["name"].endswith("grafana-dashboard")]
    assert board_map["metadata"]["labels"]["grafana_dashboard"] == "1"
    [board_json] = board_map["data"].values()
    board = json.loads(board_json)
    exprs = [t["expr"] for p in board["panels"] for t in p["targets"]]
    assert len(board["panels"]) == len(monitor.PANELS) >= 6 and all("vllm:" in e for e in exprs)
    assert all(t["datasource"]["uid"] == "${datasource}" for p in board["panels"] for t in p["targets"])
    assert {"vllm:num_requests_running", "vllm:time_to_first_token_seconds_bucket"} <= monitor.dashboard_metrics()

    plain, _ = render_tree(tmp_path / "off", {})
    assert not any("podmonitor" in path or "dashboard" in path for path in plain)


@pytest.mark.parametrize("shared", [False, True])
def test_tensorboard_reads_the_checkpoint_claim_read_only_beside_training(tmp_path, shared):
    data = {"k8s": {"tensorboard": True, **({"nodes": 2, "shared_storage_class": "nfs-client"} if shared else {})}}
    files, built = render_tree(tmp_path, data)
    board = kustomize(tmp_path / "k8s" / "tensorboard")
    assert {d["kind"] for d in board} == {"Deployment", "Service"}
    assert {validate_object(d) for d in board} == {"kubernetes"}
    [deployment] = by_kind(board, "Deployment")
    [service] = by_kind(board, "Service")
    pod = deployment["spec"]["template"]["spec"]
    [c] = pod["containers"]
    assert c["command"] == ["tensorboard"] and c["args"][:2] == ["--logdir", plan_for(data).train.output_dir]
    [ckpt] = [m for m in c["volumeMounts"] if m["name"] == "checkpoints"]
    assert ckpt["readOnly"] is True and ckpt["mountPath"] == "/checkpoints"
    assert c["securityContext"]["readOnlyRootFilesystem"] is True and pod["automountServiceAccountToken"] is False
    assert pod["securityContext"]["runAsNonRoot"] is True and "nvidia.com/gpu" not in json.dumps(c)
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    # a ReadWriteOnce claim mounts only on the node that has it: prefer the training pods' node
    assert ("affinity" in pod) is (not shared)
    if not shared:
        [term] = pod["affinity"]["podAffinity"]["preferredDuringSchedulingIgnoredDuringExecution"]
        wanted = term["podAffinityTerm"]["labelSelector"]["matchLabels"]
        train_pods = [p for d in built for p in walk(d) if p.get("labels", {}).get(COMPONENT) == "train"]
        assert train_pods and all(wanted.items() <= p["labels"].items() for p in train_pods)
    # apart from training and serving: deleting it touches nothing else
    assert not [d for d in built if d["metadata"]["name"].endswith("tensorboard")]
    assert "kubectl apply -k k8s/tensorboard/" in files["k8s/README.md"]


def test_tensorboard_without_tensorboard_logs_is_refused():
    plan = make_plan(validate({"k8s": {"tensorboard": True}, "train": {"report_to": ["mlflow"]}}))
    assert any("k8s.tensorboard" in e and "train.report_to" in e for e in plan.errors), plan.errors
    assert not plan_for({"k8s": {"tensorboard": False}, "train": {"report_to": ["mlflow"]}}).errors
