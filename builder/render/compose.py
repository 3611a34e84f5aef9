"""compose/docker-compose.yml for a workstation: train, serve, tensorboard, merge, prometheus, mlflow, eval, ui.

Built as data. Compose interpolates `$VAR` in every value, so each spec-derived string
has `$` doubled; the only interpolations are the secrets, read from the user's shell
or compose/.env at run time and never written here.
"""

from __future__ import annotations

from typing import Any

from ..plan import Plan
from ..plan.commands import CONTAINER_HOME, hub_token_env, merge_argv, tracker_env, volume_name
from ..spec import Spec, VolumeSpec
from . import chat_page, evaluation, monitor
from .common import ENTRYPOINT, header, in_registry, pip_build_args
from .dockerfiles import DEBIAN_BASE
from .yamltext import dump

STACK_BYTES = 67108864  # 64 MiB: the stack size NVIDIA recommends for PyTorch containers


def literal(value: str) -> str:
    return value.replace("$", "$$")


def image_ref(spec: Spec, which: str) -> str:
    image = getattr(spec.images, which)
    return in_registry(spec, image.name, image.tag)


def _environment(env: dict[str, str], secrets: tuple[str, ...]) -> dict[str, str]:
    out = {key: literal(value) for key, value in env.items()}
    out.update({name: "${%s:-}" % name for name in secrets})
    return out


def _volume(spec: Spec, key: str, read_only: bool = False) -> str:
    vol: VolumeSpec = getattr(spec.volumes, key)
    source = vol.host_path or key.replace("_", "-")
    return f"{literal(source)}:{vol.mount}" + (":ro" if read_only else "")


def _gpus(count: int) -> dict[str, Any]:
    if count <= 0:
        return {}
    device = {"driver": "nvidia", "count": count, "capabilities": ["gpu"]}
    return {"deploy": {"resources": {"reservations": {"devices": [device]}}}}


def _build(spec: Spec, which: str, base: str | None = None, pip: bool = True) -> dict[str, Any]:
    """`docker compose build` from a clone of the committed bundle, without the builder: the same Dockerfile
    and package sources as `modelforge build`. What differs per machine comes from the environment:
    MF_<IMAGE>_BASE_IMAGE (a mirror of the base), MF_EXTRA_CA_BUNDLE (a proxy's CA, a file under docker/),
    MF_WHEELHOUSE (a folder of wheels; docker/wheelhouse by default). pip=False: an image that installs
    distribution packages only (Prometheus) takes the base alone."""
    base = base or getattr(spec.images, which).base
    args = {"BASE_IMAGE": "${MF_%s_BASE_IMAGE:-%s}" % (which.upper(), literal(base))}
    if pip:
        args.update(
            EXTRA_CA_BUNDLE="${MF_EXTRA_CA_BUNDLE:-docker/extra-ca.pem}",
            WHEELHOUSE="${MF_WHEELHOUSE:-docker/wheelhouse}",
            **{key: literal(value) for key, value in pip_build_args(spec).items()},
        )
    # network host: what `modelforge build` uses too (proxies and mirrors on the host's loopback reachable)
    return {"context": "..", "dockerfile": f"Dockerfile.{which}", "network": "host", "args": args}


def render(plan: Plan, spec_file: str) -> dict[str, str]:
    spec = plan.spec
    gpus = spec.hardware.gpus
    # init: a real PID 1 forwards SIGTERM to torchrun/vLLM and reaps their children.
    runtime: dict[str, Any] = {"ipc": "host", "init": True}
    if gpus > 0:
        # NVIDIA's recommendation for PyTorch containers (pinned memory, NCCL/RDMA). Only with GPUs:
        # unprivileged or nested engines may refuse raising memlock, and CPU runs do not need it.
        runtime["ulimits"] = {"memlock": -1, "stack": STACK_BYTES}
    train = {
        "image": image_ref(spec, "train"),
        "build": _build(spec, "train"),
        "profiles": ["train"],
        "command": [literal(arg) for arg in plan.train.argv],
        "environment": _environment(plan.train.env, (*hub_token_env(spec), *tracker_env(spec))),
        "volumes": [_volume(spec, "model_cache"), _volume(spec, "data", read_only=True), _volume(spec, "checkpoints")],
        **runtime,
        **_gpus(gpus),
        # A crash restarts the container, and the entrypoint resumes from the newest complete checkpoint.
        "restart": "on-failure:3",
    }
    port = spec.serve.port
    health = f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/health', timeout=5)"
    serve = {
        "image": image_ref(spec, "serve"),
        "build": _build(spec, "serve"),
        "profiles": ["serve"],
        "command": [literal(arg) for arg in plan.serve.argv],
        "environment": _environment(plan.serve.env, (*hub_token_env(spec), "VLLM_API_KEY")),
        "volumes": [_volume(spec, "model_cache"), _volume(spec, "checkpoints", read_only=True)],
        "ports": [f"{spec.serve.bind_address}:{port}:{port}"],
        **runtime,
        **_gpus(gpus),
        "healthcheck": {
            "test": ["CMD", "python3", "-c", health],
            "interval": "30s",
            "timeout": "10s",
            "retries": 3,
            # Loading a 60 GB model (and compiling) takes minutes; failures before this don't count.
            "start_period": f"{spec.k8s.startup_timeout_s}s",
        },
        "restart": "unless-stopped",
    }
    tensorboard = {
        "image": image_ref(spec, "train"),
        "profiles": ["train", "monitor"],
        "entrypoint": ["tensorboard"],
        "command": ["--logdir", plan.train.output_dir, "--host", "0.0.0.0", "--port", "6006"],
        "volumes": [_volume(spec, "checkpoints", read_only=True)],
        "ports": [f"{spec.serve.bind_address}:6006:6006"],
        "restart": "unless-stopped",
    }
    # LoRA runs: `docker compose --profile merge run --rm merge` merges the newest complete checkpoint into
    # <output_dir>/merged, which the server then prefers. Full-parameter runs: the entrypoint does nothing.
    merge = {
        "image": image_ref(spec, "train"),
        "profiles": ["merge"],
        "entrypoint": [ENTRYPOINT, "merge"],
        "command": [literal(arg) for arg in merge_argv(spec)],
        "environment": _environment(plan.train.env, hub_token_env(spec)),
        "volumes": [_volume(spec, "model_cache"), _volume(spec, "checkpoints")],
        **runtime,
        **_gpus(gpus),
        "restart": "no",
    }
    volumes = {
        key.replace("_", "-"): {"name": volume_name(spec, key)}
        for key in ("model_cache", "data", "checkpoints")
        if not getattr(spec.volumes, key).host_path
    }
    volumes.update({key: {"name": volume_name(spec, key)} for key in ("prometheus", "mlflow")})
    services: dict[str, dict] = {
        "train": train,
        "serve": serve,
        "tensorboard": tensorboard,
        "merge": merge,
        # make monitor: Prometheus scraping the server (its /metrics needs no key); compose/prometheus.yml.
        "prometheus": {
            "image": monitor.image_ref(spec),
            "build": _build(spec, "prometheus", DEBIAN_BASE, pip=False),
            "profiles": ["monitor"],
            "volumes": ["./prometheus.yml:/etc/prometheus/prometheus.yml:ro", "prometheus:/prometheus"],
            "ports": [f"{spec.serve.bind_address}:{monitor.PROMETHEUS_PORT}:{monitor.PROMETHEUS_PORT}"],
            "read_only": True,
            "restart": "unless-stopped",
        },
        # make track: an MLflow server for train.report_to: [mlflow] (MLFLOW_TRACKING_URI=http://mlflow:5000)
        "mlflow": {
            "image": monitor.mlflow_image_ref(spec),
            "build": _build(spec, "mlflow", DEBIAN_BASE),
            "profiles": ["track"],
            "volumes": ["mlflow:/mlflow"],
            "ports": [f"{spec.serve.bind_address}:{monitor.MLFLOW_PORT}:{monitor.MLFLOW_PORT}"],
            "restart": "unless-stopped",
        },
    }
    # modelforge eval: EvalScope against the server (docker/evaluate.py); reports go to the run's eval/ folder.
    # MF_EVAL_API / _MODEL / _LABEL: `modelforge eval --api/--model/--label` point it at another server or model.
    api = f"http://serve:{port}/v1"  # the server's OpenAI URL on the project network
    eval_env = _environment(evaluation.env(plan, api), ("VLLM_API_KEY", "MF_EVAL_LABEL"))
    eval_env["MF_EVAL_API"] = "${MF_EVAL_API:-%s}" % eval_env["MF_EVAL_API"]
    eval_env["MF_EVAL_MODEL"] = "${MF_EVAL_MODEL-%s}" % eval_env["MF_EVAL_MODEL"]  # set empty: the first listed
    services["eval"] = {
        "image": evaluation.image_ref(spec),
        "build": _build(spec, "eval", DEBIAN_BASE),
        "profiles": ["eval"],
        "environment": eval_env,
        "volumes": [_volume(spec, "data", read_only=True), _volume(spec, "checkpoints")],
        "read_only": True,
        "tmpfs": ["/tmp", CONTAINER_HOME],
        "restart": "no",
    }
    document = {"name": spec.name, "services": services, "volumes": volumes}
    # make ui: the chat page (Gradio, its own image); it holds the API key, the browser never sees it.
    # MF_UI_BASE_API/_MODEL/_KEY from the shell point compare mode at a base-model server (ui.base_api default).
    ui_env = _environment(chat_page.env(plan, api), ("VLLM_API_KEY", "MF_UI_BASE_KEY"))
    for name in ("MF_UI_BASE_API", "MF_UI_BASE_MODEL"):
        ui_env[name] = "${%s:-%s}" % (name, ui_env[name])
    services["ui"] = {
        "image": chat_page.image_ref(spec),
        "build": _build(spec, "ui", DEBIAN_BASE),
        "profiles": ["ui"],
        "environment": ui_env,
        "volumes": [_volume(spec, "checkpoints")],  # compare mode's preferences.jsonl, beside the run
        "ports": [f"{spec.serve.bind_address}:{chat_page.PORT}:{chat_page.PORT}"],
        "read_only": True,
        "tmpfs": ["/tmp", CONTAINER_HOME],
        "restart": "unless-stopped",
    }
    return {"compose/docker-compose.yml": dump(document, header(spec_file))}
