"""Issue 19, experiment tracking for real: the compose profile `track` builds and starts an MLflow server
(PyPI mlflow, on the local base), the CPU smoke training runs with train.report_to: [tensorboard, mlflow]
(its image then holds mlflow-skinny), and the run's loss comes back through MLflow's REST API, one point per
logged step. Needs Docker: fails, never skips, when the engine is missing."""

from __future__ import annotations

import json
import os
import subprocess
import time
import urllib.request

import pytest

from builder import demo
from builder.engine import local as host
from builder.render import monitor
from tests.conftest import compose_build, share_smoke_wheelhouse

pytestmark = [pytest.mark.docker, pytest.mark.slow]

NAME = "mf-mlflow"
EXPERIMENT = "mf-smoke"
OVERRIDES = (
    f"name={NAME}",
    "serve.port=8012",
    "images.train.tag=cpu-mlflow",  # another package set than the shared smoke image: its own tag
    "train.report_to=[tensorboard, mlflow]",
    f"train.env.MLFLOW_TRACKING_URI=http://mlflow:{monitor.MLFLOW_PORT}",
    f"train.env.MLFLOW_EXPERIMENT_NAME={EXPERIMENT}",
)
OUT = demo.SMOKE_DIR / "mlflow"
API = f"http://127.0.0.1:{monitor.MLFLOW_PORT}/api/2.0/mlflow"


def _api(path: str, body: dict | None = None) -> dict:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(f"{API}/{path}", data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.fixture(scope="module")
def tracked():
    share_smoke_wheelhouse(OUT)
    stack = demo.prepare(demo.SMOKE_SPEC, OUT, OVERRIDES)
    # the local base, and the proxy's CA the builder staged for the spec's build.ca_bundle (.build/ in the bundle)
    env = dict(
        os.environ,
        MF_MLFLOW_BASE_IMAGE=host.BASE_IMAGE,
        MF_EXTRA_CA_BUNDLE=".build/extra-ca.pem",
        DOCKER_BUILDKIT="0",
    )
    compose = ["docker", "compose", "-f", str(stack.compose_file), "--profile", "track"]
    try:
        built = compose_build(stack.compose_file, ["mlflow"], timeout=1200)
        assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-2000:]
        up = subprocess.run([*compose, "up", "-d", "mlflow"], env=env, capture_output=True, text=True, timeout=300)
        assert up.returncode == 0, up.stderr[-2000:]
        deadline = time.monotonic() + 180
        while True:
            try:
                _api("experiments/search", {"max_results": 1})
                break
            except OSError as exc:
                assert time.monotonic() < deadline, f"MLflow did not answer in 180 s: {exc}"
                time.sleep(2)
        code = stack.train(follow=False)
        assert code == 0, stack.client.compose.logs(services=["train"], tail="60")
        yield stack
    finally:
        subprocess.run([*compose, "down", "--volumes", "--remove-orphans"], env=env, capture_output=True)
        stack.down()
        subprocess.run(["docker", "volume", "rm", "--force", f"{NAME}-mlflow"], capture_output=True)


def test_the_runs_loss_comes_back_through_mlflows_rest_api(tracked):
    [experiment] = [
        e for e in _api("experiments/search", {"max_results": 100})["experiments"] if e["name"] == EXPERIMENT
    ]
    [run] = _api("runs/search", {"experiment_ids": [experiment["experiment_id"]]})["runs"]
    assert run["info"]["status"] == "FINISHED", run["info"]
    with urllib.request.urlopen(
        f"{API}/metrics/get-history?run_id={run['info']['run_id']}&metric_key=loss", timeout=10
    ) as response:
        history = json.loads(response.read())["metrics"]
    steps = sorted(point["step"] for point in history)
    assert steps == list(range(1, 31)), steps  # logging_steps 1, max_steps 30: every step's loss
    assert all(point["value"] > 0 for point in history)
    params = {p["key"]: p["value"] for p in run["data"].get("params", [])}
    assert params.get("learning_rate") == "0.001", sorted(params)[:20]  # the run's hyperparameters too
