"""The chat page as rendered: its own image, the key only from the environment or the Secret, compare mode's
base server from the spec (or the shell), the same posture as the server on Kubernetes."""

from __future__ import annotations

import yaml

from builder.load import validate
from builder.plan import make_plan
from builder.render import render_all
from tests.render.k8s_schemas import validate as validate_object


def test_compose_ui_runs_its_own_image_and_holds_the_key_from_the_shell():
    plan = make_plan(validate({"ui": {"base_api": "http://base:8000/v1", "base_model": "Qwen/Qwen3-30B-A3B"}}))
    files = render_all(plan)
    ui = yaml.safe_load(files["compose/docker-compose.yml"])["services"]["ui"]
    env = ui["environment"]
    assert ui["image"] == "modelforge/ui:gradio6.31.0" and ui["build"]["dockerfile"] == "Dockerfile.ui"
    assert env["VLLM_API_KEY"] == "${VLLM_API_KEY:-}" and env["MF_UI_BASE_KEY"] == "${MF_UI_BASE_KEY:-}"
    assert env["MF_UI_BASE_API"] == "${MF_UI_BASE_API:-http://base:8000/v1}"
    assert env["MF_UI_PREFERENCES"] == f"{plan.train.output_dir}/preferences.jsonl"
    assert env["MF_API_BASE"] == f"http://serve:{plan.spec.serve.port}/v1"
    assert ui["read_only"] is True and ui["ports"] == ["127.0.0.1:7860:7860"]
    text = files["Dockerfile.ui"]
    assert "gradio==6.31.0 openai==3.60.0" in text and "GRADIO_ANALYTICS_ENABLED=False" in text
    assert "COPY docker/chatui.py" in text and "USER 1000:1000" in text
    assert "webui.py" not in files["Dockerfile.serve"]


def test_k8s_ui_is_opt_in_non_root_and_reads_the_key_from_the_secret():
    assert not any(p.startswith("k8s/ui/") for p in render_all(make_plan(validate({}))))
    plan = make_plan(validate({"k8s": {"ui": True}, "ui": {"base_api": "http://base:8000/v1"}}))
    files = render_all(plan)
    docs = {p: [d for d in yaml.safe_load_all(t) if d] for p, t in files.items() if p.startswith("k8s/ui/")}
    assert set(docs) == {"k8s/ui/ui-deployment.yaml", "k8s/ui/ui-service.yaml", "k8s/ui/kustomization.yaml"}
    [deployment] = docs["k8s/ui/ui-deployment.yaml"]
    [service] = docs["k8s/ui/ui-service.yaml"]
    assert validate_object(deployment) == validate_object(service) == "kubernetes"
    pod = deployment["spec"]["template"]["spec"]
    [c] = pod["containers"]
    env = {e["name"]: e for e in c["env"]}
    assert env["VLLM_API_KEY"]["valueFrom"]["secretKeyRef"] == {"name": "modelforge-secrets", "key": "api-key"}
    assert env["MF_UI_BASE_KEY"]["valueFrom"]["secretKeyRef"]["optional"] is True
    assert env["MF_API_BASE"]["value"] == f"http://{plan.spec.name}-serve:{plan.spec.serve.port}/v1"
    assert env["MF_UI_BASE_API"]["value"] == "http://base:8000/v1"
    assert pod["automountServiceAccountToken"] is False and pod["securityContext"]["runAsNonRoot"] is True
    assert c["securityContext"]["readOnlyRootFilesystem"] is True and "nvidia.com/gpu" not in str(c)
    assert service["spec"]["selector"].items() <= deployment["spec"]["template"]["metadata"]["labels"].items()
    assert "kubectl apply -k k8s/ui/" in files["k8s/README.md"]


def test_a_base_api_that_is_not_a_url_is_refused():
    import pytest

    with pytest.raises(Exception, match="ui.base_api"):
        validate({"ui": {"base_api": "base:8000; rm -rf /"}})
