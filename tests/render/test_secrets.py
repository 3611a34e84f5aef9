"""Secrets and exposure in rendered files (issue 10).

Real-looking tokens in the environment of `modelforge render` never reach a rendered file; putting one
in the spec through --set is refused (by name or by shape) without echoing it; the API key is a
required reference (compose ${VLLM_API_KEY}, k8s secretKeyRef), never a value; compose publishes
ports on 127.0.0.1 unless the spec says otherwise; k8s Services are ClusterIP by default; every k8s
container drops all capabilities and disallows privilege escalation. Figures: docs/reliability.md.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from builder.errors import SpecError
from builder.load import load_spec, validate
from builder.plan import make_plan
from builder.render import render_all
from tests.render.k8s_schemas import walk

ROOT = Path(__file__).resolve().parents[2]

SECRETS = {
    "HF_TOKEN": "hf_" + "QzLwT8kR2mN5vB7xC4yJ9aH3sD6fG1pK0u",
    "HUGGING_FACE_HUB_TOKEN": "hf_" + "Aq1Ws2Ed3Rf4Tg5Yh6Uj7Ik8Ol9Pz0Xc1V",
    "VLLM_API_KEY": "sk-" + "mf7Hc2Qp9Lx4Vb8Nt1Rw6Ks3Jd5Gy0Ze-Ua_Fo2Ei",
    "MODELSCOPE_API_TOKEN": "ms-" + "3f9c2a71-5d4e-4b8a-9c1f-7e6d5a4b3c2d",
    "OPENAI_API_KEY": "sk-" + "proj-Xy7Zw3Vu1Ts9Rq5Po2Nm8Lk4Jh6Gf0Ed",
    "WANDB_API_KEY": "0d7e3c9b5a1f4e8d2c6b0a9f8e7d6c5b4a3f2e1d",
    "SWANLAB_API_KEY": "sw-" + "Kp3Lm9Qr2Tx7Vz5Bn1Hc8Jd4Fg6Ws0Ea",
    "MLFLOW_TRACKING_PASSWORD": "mlf-" + "Yb7Uc3Nd9Ke2Pf5Rg1Sh8Ti4Vj6Wk0Xl",
    "MLFLOW_TRACKING_TOKEN": "mlt-" + "Za1Xb2Yc3Wd4Ve5Uf6Tg7Sh8Ri9Qj0Pk",
}
# Pieces that must not appear either: a token with its prefix cut, or cut in half.
NEEDLES = sorted(
    {v for v in SECRETS.values()} | {v[3:] for v in SECRETS.values()} | {v[: len(v) // 2] for v in SECRETS.values()}
)

VARIANTS = {  # spec text -> everything the renderer can emit: compose, single- and multi-node k8s, each operator
    "default": {},
    "lora, huggingface, mirror": {
        "model": {"hub": "huggingface", "endpoint": "https://hf-mirror.com"},
        "train": {"tuner": "lora"},
    },
    "pytorchjob + serving across nodes + hpa": {
        "k8s": {"nodes": 2, "serve_replicas": 2, "autoscaling": {"enabled": True}}
    },
    "jobset + kueue": {"k8s": {"nodes": 2, "training_operator": "jobset", "gang_scheduling": "kueue"}},
    "trainjob": {"k8s": {"nodes": 2, "training_operator": "trainjob"}},
    "volcano + infiniband": {"k8s": {"nodes": 2, "gang_scheduling": "volcano", "nccl": {"ib": "on"}}},
    "every tracker": {"train": {"report_to": ["tensorboard", "wandb", "mlflow", "swanlab"]}},
}


@pytest.fixture
def secret_env(monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    return SECRETS


def rendered(data: dict) -> dict[str, str]:
    return render_all(make_plan(validate(data)))


def assert_no_secret(files: dict[str, str]) -> None:
    for rel, text in files.items():
        for needle in NEEDLES:
            assert needle not in text, f"{rel} holds a secret from the environment ({needle[:6]}...)"


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_environment_secrets_never_rendered(secret_env, variant):
    files = rendered(VARIANTS[variant])
    assert files and any(rel.startswith("k8s/") for rel in files) and "compose/docker-compose.yml" in files
    assert_no_secret(files)


def test_cli_render_with_secrets_in_its_environment(tmp_path):
    """`modelforge render` as a process whose environment holds the tokens: scan every file it wrote, and its output."""
    env = dict(os.environ, PYTHONPATH=str(ROOT), **SECRETS)
    outputs = []
    for spec, out in (
        (ROOT / "examples" / "smoke.yaml", tmp_path / "smoke"),
        (ROOT / "modelforge.yaml", tmp_path / "seed"),
    ):
        result = subprocess.run(
            [sys.executable, "-m", "builder.cli", "render", "-f", str(spec), "-o", str(out), "--force"],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr[-2000:]
        outputs.append(result.stdout + result.stderr)
    written = {str(p.relative_to(tmp_path)): p.read_text(errors="replace") for p in tmp_path.rglob("*") if p.is_file()}
    assert len(written) > 10
    assert_no_secret({**written, "stdout+stderr": "\n".join(outputs)})


# --- a secret through --set or the spec: refused, and never echoed -------------------------------

SET_ATTEMPTS = {
    # by name
    "train.env.HF_TOKEN": f"train.env.HF_TOKEN={SECRETS['HF_TOKEN']}",
    "serve.env.VLLM_API_KEY": f"serve.env.VLLM_API_KEY={SECRETS['VLLM_API_KEY']}",
    "serve.env.MODELSCOPE_API_TOKEN": f"serve.env.MODELSCOPE_API_TOKEN={SECRETS['MODELSCOPE_API_TOKEN']}",
    "train.env.hf_token (lower case)": f"train.env.hf_token={SECRETS['HF_TOKEN']}",
    "serve.extra_args.api_key": f"serve.extra_args.api_key={SECRETS['VLLM_API_KEY']}",
    "serve.extra_args.api-key": f"serve.extra_args.api-key={SECRETS['VLLM_API_KEY']}",
    "train.extra_args.hub_token": f"train.extra_args.hub_token={SECRETS['HF_TOKEN']}",
    "train.env.WANDB_API_KEY": f"train.env.WANDB_API_KEY={SECRETS['WANDB_API_KEY']}",
    # turning authentication off from the spec is refused too (the entrypoint's escape hatch is the shell's)
    "serve.env.MF_ALLOW_NO_API_KEY": "serve.env.MF_ALLOW_NO_API_KEY='1'",
    # by shape, under an innocent name
    "serve.env.HUB_AUTH=hf_...": f"serve.env.HUB_AUTH={SECRETS['HF_TOKEN']}",
    "train.env.NOTE=sk-...": f"train.env.NOTE={SECRETS['VLLM_API_KEY']}",
    "serve.env.MS=ms-...": f"serve.env.MS={SECRETS['MODELSCOPE_API_TOKEN']}",
    "serve.extra_args.auth=hf_...": f"serve.extra_args.auth={SECRETS['HF_TOKEN']}",
    "train.extra_args.report=... sk-...": f"train.extra_args.report=wandb --key {SECRETS['OPENAI_API_KEY']}",
}


@pytest.mark.parametrize("attempt", list(SET_ATTEMPTS))
def test_secret_through_set_is_refused_without_echoing_it(write_spec, attempt):
    path = write_spec("name: x\n")
    text = SET_ATTEMPTS[attempt]
    with pytest.raises(SpecError) as info:
        load_spec(path, [text])
    message = str(info.value)
    assert "secret" in message
    value = text.split("=", 1)[1]
    if len(value) > 8:
        assert value not in message and value[:8] not in message.replace(text.split("=", 1)[0], ""), message


def test_secret_through_set_via_the_cli_is_refused_and_not_printed(tmp_path):
    spec = tmp_path / "modelforge.yaml"
    spec.write_text("name: x\n")
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    for text in (SET_ATTEMPTS["train.env.HF_TOKEN"], SET_ATTEMPTS["serve.env.HUB_AUTH=hf_..."]):
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "builder.cli",
                "render",
                "-f",
                str(spec),
                "-o",
                str(tmp_path / "out"),
                f"--set={text}",
            ],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert result.returncode == 2 and "secret" in result.stderr
        assert SECRETS["HF_TOKEN"] not in result.stderr + result.stdout
        assert SECRETS["HF_TOKEN"][:8] not in result.stderr + result.stdout
    assert not (tmp_path / "out").exists()


def test_secret_written_in_the_spec_file_is_refused(write_spec):
    path = write_spec(f"serve:\n  env:\n    OPENAI_KEY: {SECRETS['OPENAI_API_KEY']}\n")
    with pytest.raises(SpecError, match="serve.env: .*secret"):
        load_spec(path)


# --- the API key is required, a reference, never a value -----------------------------------------


def _docs(files: dict[str, str]):
    for rel, text in files.items():
        if rel.endswith((".yaml", ".yml")):
            for doc in yaml.safe_load_all(text):
                if doc:
                    yield rel, doc


def containers(doc) -> list[dict]:
    """Every container and init container of a manifest, whatever object holds the pod template."""
    out = []
    for node in walk(doc):
        for key in ("containers", "initContainers"):
            if isinstance(node.get(key), list):
                out += [c for c in node[key] if isinstance(c, dict) and "image" in c]
    return out


def test_api_key_is_a_required_reference_in_compose_and_k8s():
    for variant in VARIANTS.values():
        files = rendered(variant)
        compose = yaml.safe_load(files["compose/docker-compose.yml"])
        assert compose["services"]["serve"]["environment"]["VLLM_API_KEY"] == "${VLLM_API_KEY:-}"
        serving = [
            c
            for rel, doc in _docs(files)
            if doc.get("kind") in ("Deployment", "LeaderWorkerSet")
            for c in containers(doc)
            if c["name"] == "vllm"
        ]
        assert serving
        for c in serving:
            [key] = [e for e in c["env"] if e["name"] == "VLLM_API_KEY"]
            assert "value" not in key and key["valueFrom"]["secretKeyRef"]["key"] == "api-key"
            assert not key["valueFrom"]["secretKeyRef"].get("optional"), "the server must not start without its key"
        for rel, doc in _docs(files):
            if doc.get("kind") in ("ConfigMap", "Secret"):
                assert not set(doc.get("data") or {}) & (set(SECRETS) | {"MF_ALLOW_NO_API_KEY"}), rel
        # Only the entrypoint names the escape hatch (to refuse without it); no compose or k8s file sets it.
        assert not any("MF_ALLOW_NO_API_KEY" in text for rel, text in files.items() if rel.endswith((".yml", ".yaml")))


# --- exposure: compose ports, k8s Services, container privileges ---------------------------------


def _ports(compose: dict) -> list[str]:
    return [str(p) for service in compose["services"].values() for p in service.get("ports", [])]


def test_compose_publishes_on_loopback_unless_the_spec_says_otherwise():
    compose = yaml.safe_load(rendered({})["compose/docker-compose.yml"])
    ports = _ports(compose)
    assert ports and all(p.startswith("127.0.0.1:") and p.count(":") == 2 for p in ports), ports
    assert not any("network_mode" in s or "privileged" in s or "cap_add" in s for s in compose["services"].values())
    opened = yaml.safe_load(rendered({"serve": {"bind_address": "0.0.0.0"}})["compose/docker-compose.yml"])
    assert all(p.startswith("0.0.0.0:") for p in _ports(opened))


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_k8s_services_are_cluster_ip_and_pods_use_no_host_network(variant):
    docs = list(_docs(rendered(VARIANTS[variant])))
    services = [doc for _, doc in docs if doc.get("kind") == "Service"]
    assert services and all(s["spec"]["type"] == "ClusterIP" for s in services)
    for node in (n for _, doc in docs for n in walk(doc)):
        assert not node.get("hostNetwork") and not node.get("hostPID") and not node.get("hostIPC")
        assert "hostPort" not in node and "hostPath" not in node


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_k8s_container_drops_capabilities_and_escalation(variant):
    found = 0
    for rel, doc in _docs(rendered(VARIANTS[variant])):
        for c in containers(doc):
            found += 1
            ctx = c.get("securityContext") or {}
            assert ctx.get("allowPrivilegeEscalation") is False, (rel, c["name"])
            assert ctx.get("capabilities", {}).get("drop") == ["ALL"], (rel, c["name"])
            assert not ctx.get("privileged"), (rel, c["name"])
            assert set(ctx.get("capabilities", {}).get("add", [])) <= {"IPC_LOCK"}, (rel, c["name"])
    assert found >= 2


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_every_k8s_pod_runs_as_the_unprivileged_user(variant):
    """runAsNonRoot with the images' uid, and fsGroup so the PVCs are writable to it; the one exception is
    a pod that needs IPC_LOCK for RDMA (nccl.ib: on), as Kubernetes grants added capabilities to uid 0 only."""
    pods = [
        (rel, node)
        for rel, doc in _docs(rendered(VARIANTS[variant]))
        for node in walk(doc)
        if isinstance(node.get("containers"), list)
    ]
    assert len(pods) >= 3
    for rel, pod in pods:
        ctx = pod["securityContext"]
        assert ctx["seccompProfile"] == {"type": "RuntimeDefault"}, rel
        rdma = any(
            "IPC_LOCK" in (c.get("securityContext") or {}).get("capabilities", {}).get("add", [])
            for c in pod["containers"]
        )
        if rdma:
            assert ctx["runAsUser"] == 0 and "runAsNonRoot" not in ctx and variant == "volcano + infiniband", rel
        else:
            assert ctx["runAsNonRoot"] is True and ctx["runAsUser"] == ctx["runAsGroup"] == ctx["fsGroup"] == 1000, rel
            assert ctx["fsGroupChangePolicy"] == "OnRootMismatch", rel


def test_serving_pod_has_a_read_only_root_filesystem():
    files = rendered({})
    [deployment] = [doc for _, doc in _docs(files) if doc.get("kind") == "Deployment"]
    [vllm] = [c for c in containers(deployment) if c["name"] == "vllm"]
    assert vllm["securityContext"].get("readOnlyRootFilesystem") is True
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["automountServiceAccountToken"] is False
    empty_dirs = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
    assert {m["mountPath"] for m in vllm["volumeMounts"] if m["name"] in empty_dirs} >= {
        "/tmp",
        "/dev/shm",
        "/home/modelforge/.cache",
    }


def test_other_errors_on_a_secret_set_mask_its_value(write_spec):
    """A --set that fails for another reason (here: a list, not a string) is quoted in the error line, masked."""
    path = write_spec("name: x\n")
    for text in (f"train.env.HF_TOKEN=[{SECRETS['HF_TOKEN']}]", f"hardware.gpus={SECRETS['VLLM_API_KEY']}"):
        with pytest.raises(SpecError) as info:
            load_spec(path, [text])
        message = str(info.value)
        assert "***" in message and text.split("=", 1)[1][1:9] not in message, message
