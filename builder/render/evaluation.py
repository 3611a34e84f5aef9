"""The evaluation stage (`modelforge eval`): Dockerfile.eval and the eval container's environment, shared by
the compose service `eval` and k8s/eval/ (builder/render/k8s/evaluation.py).

The eval container reaches the server by its compose service or k8s Service name, with the server's API key
from the environment (compose) or the Secret (k8s): never a file. It reads eval.dataset from the data volume
(read-only) and writes its reports under the run's eval/ folder on the checkpoint volume, where
`modelforge eval` reads them back (base and fine-tuned side by side).
"""

from __future__ import annotations

import json

from ..plan import Plan
from ..plan.commands import CONTAINER_HOME, CONTAINER_UID
from ..spec import Spec
from .common import in_registry
from .dockerfiles import _arg, tool_dockerfile

EVALSCOPE_SPEC = "evalscope==1.14.1"  # PyPI; runs the OpenAI-API evaluation (no torch)
EVALSCOPE_TAG = "evalscope1.14.1"
KEYS = ("data", "checkpoints")  # data read-only, reports to the checkpoint volume


def image_ref(spec: Spec) -> str:
    return in_registry(spec, "modelforge/eval", EVALSCOPE_TAG)


def eval_dir(plan: Plan) -> str:
    return f"{plan.train.output_dir}/eval"


def env(plan: Plan, api: str) -> dict[str, str]:
    """What docker/evaluate.py reads (besides VLLM_API_KEY)."""
    e = plan.spec.eval
    out = {
        "MF_EVAL_API": api,
        "MF_EVAL_MODEL": plan.serve.served_name,  # the fine-tuned model (a LoRA server lists the base first)
        "MF_EVAL_DATASETS": json.dumps(e.dataset),
        "MF_EVAL_BENCHMARKS": json.dumps(e.benchmarks),
        "MF_EVAL_MAX_TOKENS": str(e.max_tokens),
        "MF_EVAL_TEMPERATURE": str(e.temperature),
        "MF_EVAL_CONCURRENCY": str(e.concurrency),
        "MF_EVAL_OUT": eval_dir(plan),
        "MF_EVAL_ROOT": plan.train.output_dir,
        # EvalScope caches datasets and NLTK data under HOME; offline it must not wait on the hub
        "HOME": CONTAINER_HOME,
    }
    if e.limit:
        out["MF_EVAL_LIMIT"] = str(e.limit)
    return out


def render(plan: Plan, spec_file: str) -> dict[str, str]:
    spec = plan.spec
    dockerfile = tool_dockerfile(
        "Dockerfile.eval.j2",
        spec_file,
        evalscope_spec=_arg(EVALSCOPE_SPEC),
        uid=CONTAINER_UID,
        home=CONTAINER_HOME,
        mounts=" ".join(_arg(getattr(spec.volumes, key).mount) for key in KEYS),
    )
    return {"Dockerfile.eval": dockerfile}
