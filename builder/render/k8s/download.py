"""The model cache, filled once: a download Job, and a wait before every pod that reads it.

Every replica downloading 60 GB for itself is slow, costly and races on the cache. Here one Job
(the training image: ms-swift brings modelscope and huggingface_hub) downloads the model into the
same cache layout ms-swift and vLLM read (MODELSCOPE_CACHE / HF_HOME on the model-cache volume),
then writes a marker file. Training and serving pods wait for the marker before they start
(an init container; TrainJob's runtime patches cannot add one, so there the wait runs before the
entrypoint in the main container). Hub tokens come from the Secret; a mirror from model.endpoint.
"""

from __future__ import annotations

from typing import Any

from ...plan import Plan
from ...spec import Spec
from ..common import ENTRYPOINT
from ..compose import image_ref
from .common import (
    hub_secrets,
    literal,
    meta,
    mounts,
    plain_env,
    pod_meta,
    pod_security,
    pod_volumes,
    scheduling,
    security_context,
)

# Static text (no spec value in it); the model, hub and paths come from the environment.
DOWNLOAD_SCRIPT = """\
import os, pathlib, sys
model, hub = os.environ["MF_MODEL_ID"], os.environ["MF_HUB"]
ready = pathlib.Path(os.environ["MF_MODEL_READY_FILE"])
if ready.exists():
    print(f"[modelforge] {model} is already in the model cache ({ready.read_text().strip()})", flush=True)
    sys.exit(0)
print(f"[modelforge] downloading {model} from {hub} into the model cache", flush=True)
if hub == "huggingface":
    from huggingface_hub import snapshot_download  # HF_HOME, HF_TOKEN, HF_ENDPOINT from the environment
    path = snapshot_download(model)
else:
    from modelscope import snapshot_download  # MODELSCOPE_CACHE, MODELSCOPE_ENDPOINT from the environment
    token = os.environ.get("MODELSCOPE_API_TOKEN")
    if token:
        from modelscope.hub.api import HubApi
        HubApi().login(token)
    path = snapshot_download(model)
ready.parent.mkdir(parents=True, exist_ok=True)
partial = ready.with_name(ready.name + ".partial")
partial.write_text(str(path) + "\\n")
partial.replace(ready)
print(f"[modelforge] {model} is in the model cache: {path}", flush=True)
"""

# Waits for the marker; with arguments it then becomes them (exec), as TrainJob's command.
WAIT_SCRIPT = """\
import os, pathlib, sys, time
ready = pathlib.Path(os.environ["MF_MODEL_READY_FILE"])
deadline = time.monotonic() + int(os.environ.get("MF_MODEL_WAIT_S", "21600"))
job = os.environ.get("MF_DOWNLOAD_JOB", "the model-download Job")
next_note = 0.0
while not ready.exists():
    if time.monotonic() > deadline:
        sys.exit(f"[modelforge] gave up waiting for {ready}: see `kubectl logs job/{job}`")
    if time.monotonic() >= next_note:
        print(f"[modelforge] waiting for {job} to fill the model cache ({ready})", flush=True)
        next_note = time.monotonic() + 60
    time.sleep(5)
print(f"[modelforge] model cache ready: {ready.read_text().strip()}", flush=True)
if len(sys.argv) > 1:
    os.execv(sys.argv[1], sys.argv[1:])
"""

CACHE_ENV = ("MODELSCOPE_CACHE", "HF_HOME", "USE_HF", "HF_ENDPOINT", "MODELSCOPE_ENDPOINT", "MODELSCOPE_DOMAIN")


def enabled(spec: Spec) -> bool:
    """Hub ids only: a model given as a path inside the containers is the user's to put there."""
    return spec.k8s.model_download and not spec.model.id.startswith("/")


def job_name(spec: Spec) -> str:
    return f"{spec.name}-model-download"


def ready_file(spec: Spec) -> str:
    return f"{spec.volumes.model_cache.mount.rstrip('/')}/.modelforge/ready/{spec.model.hub}/{spec.model.id}"


def wait_env(spec: Spec) -> list[dict[str, Any]]:
    return plain_env(
        {
            "MF_MODEL_READY_FILE": ready_file(spec),
            "MF_MODEL_WAIT_S": str(spec.k8s.model_download_timeout_s),
            "MF_DOWNLOAD_JOB": job_name(spec),
        }
    )


def wait_init_containers(spec: Spec, which: str) -> list[dict[str, Any]]:
    """The init container that holds a pod until the model cache is filled ([] when there is no download)."""
    if not enabled(spec):
        return []
    return [
        {
            "name": "wait-for-model",
            "image": image_ref(spec, which),
            "command": ["python3", "-c", literal(WAIT_SCRIPT)],
            "env": wait_env(spec),
            "volumeMounts": mounts(spec, ("model_cache",), read_only=("model_cache",), shm=False),
            "securityContext": security_context(spec),
        }
    ]


def wait_then_entrypoint(spec: Spec, mode: str) -> list[str]:
    """A container command that waits for the cache, then runs the image's entrypoint (TrainJob)."""
    return ["python3", "-c", literal(WAIT_SCRIPT), ENTRYPOINT, mode]


def download_job(plan: Plan) -> dict[str, Any]:
    spec = plan.spec
    cache = {key: value for key, value in plan.train.env.items() if key in CACHE_ENV}
    env = plain_env(
        {
            "MF_MODEL_ID": spec.model.id,
            "MF_HUB": spec.model.hub,
            "MF_MODEL_READY_FILE": ready_file(spec),
            **cache,
            "PYTHONUNBUFFERED": "1",
        }
    ) + hub_secrets(spec)
    container = {
        "name": "download",
        "image": image_ref(spec, "train"),
        "command": ["python3", "-c", literal(DOWNLOAD_SCRIPT)],
        "env": env,
        "volumeMounts": mounts(spec, ("model_cache",), shm=False),
        "resources": {"requests": {"cpu": "1", "memory": "2Gi"}},
        "securityContext": security_context(spec),
    }
    volumes = [v for v in pod_volumes(spec, ("model_cache",)) if v["name"] != "dshm"]
    return {
        "apiVersion": "batch/v1",
        "kind": "Job",
        "metadata": meta(spec, job_name(spec), "model-download"),
        "spec": {
            "backoffLimit": 6,  # a dropped connection resumes: hub clients skip files already complete
            "activeDeadlineSeconds": spec.k8s.model_download_timeout_s,
            "template": {
                "metadata": pod_meta(spec, "model-download", gpu_pod=False),
                "spec": {
                    "restartPolicy": "OnFailure",
                    "enableServiceLinks": False,
                    "securityContext": pod_security(spec),
                    "containers": [container],
                    "volumes": volumes,
                    **scheduling(spec, gpu_pod=False),
                },
            },
        },
    }
