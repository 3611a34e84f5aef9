"""The chat page (`make ui`, k8s.ui): Dockerfile.ui and the page's environment, shared by the compose
service `ui` and k8s/ui/ (builder/render/k8s/chat_page.py). The page is builder/templates/context/chatui.py.

Compare mode needs the base model served too. A LoRA run with serve.lora: adapter has it on the same server
(vLLM --enable-lora: the base as <name>-base), and compare mode is on by default. Otherwise it is a second
server (ui.base_api): for a full fine-tune a second vLLM instance with the same GPUs as serving (the plan
says how many), so on one workstation it runs after the fine-tuned one or on other GPUs; any
OpenAI-compatible URL works (a hosted base model too).
"""

from __future__ import annotations

from ..plan import Plan
from ..plan.commands import CONTAINER_HOME, CONTAINER_UID
from ..spec import Spec
from .common import in_registry
from .dockerfiles import _arg, tool_dockerfile

UI_PACKAGES = "gradio==6.31.0 openai==3.60.0"  # PyPI; gradio brings httpx, which the page uses for health checks
UI_TAG = "gradio6.31.0"
PORT = 7860


def image_ref(spec: Spec) -> str:
    return in_registry(spec, "modelforge/ui", UI_TAG)


def preferences_path(plan: Plan) -> str:
    return f"{plan.train.output_dir}/preferences.jsonl"


def env(plan: Plan, api: str) -> dict[str, str]:
    """What docker/chatui.py reads, besides VLLM_API_KEY (and MF_UI_BASE_KEY for another provider's base)."""
    spec = plan.spec
    return {
        "MF_API_BASE": api,
        "MF_MODEL": plan.serve.served_name,
        "MF_UI_PORT": str(PORT),
        # serve.lora: adapter: the base is on the same server under its own name, so compare mode is on
        "MF_UI_BASE_API": spec.ui.base_api or (api if plan.serve.base_name else ""),
        "MF_UI_BASE_MODEL": spec.ui.base_model or plan.serve.base_name or plan.serve.served_name,
        "MF_UI_MAX_TOKENS": str(spec.ui.max_tokens),
        "MF_UI_PREFERENCES": preferences_path(plan),
        "HOME": CONTAINER_HOME,
    }


def render(plan: Plan, spec_file: str) -> dict[str, str]:
    spec = plan.spec
    dockerfile = tool_dockerfile(
        "Dockerfile.ui.j2",
        spec_file,
        ui_packages=UI_PACKAGES,
        uid=CONTAINER_UID,
        home=CONTAINER_HOME,
        mounts=_arg(spec.volumes.checkpoints.mount),
        port=PORT,
    )
    return {"Dockerfile.ui": dockerfile}
