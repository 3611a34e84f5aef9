"""`modelforge demo`: the whole job end to end on this machine, CPU only, from builder/examples/smoke.yaml.

render -> build both images -> tiny model and data into the shared volumes -> `swift sft` in the
training container -> vLLM in the serving container loads the newest checkpoint -> one chat
completion through the OpenAI client -> summary. Same templates, entrypoint and compose shape as
the GPU default; only the spec differs.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

from .engine import local
from .engine.build import build
from .errors import PlanError
from .load import load_spec
from .plan import Plan, make_plan
from .plan.commands import volume_name
from .render import render_all, write
from .render.compose import image_ref
from .term import say

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = Path(__file__).resolve().parent / "examples"  # in the package: `pip install .` brings them
SMOKE_SPEC = EXAMPLES / "smoke.yaml"
# A checkout renders the demo into its own .smoke/; an installed package into .smoke/ of the current folder.
SMOKE_DIR = (ROOT if (ROOT / "pyproject.toml").exists() else Path.cwd()) / ".smoke"


@dataclass
class Stages:
    seconds: dict[str, float] = field(default_factory=dict)

    def run(self, name: str, func, *args, **kwargs):
        say(f"--- {name}")
        start = time.monotonic()
        result = func(*args, **kwargs)
        self.seconds[name] = round(time.monotonic() - start, 1)
        say(f"    {name}: {self.seconds[name]:.0f} s")
        return result


class Stack:
    """The rendered smoke stack, driven through python-on-whales (compose v2)."""

    def __init__(self, plan: Plan, out: Path):
        from python_on_whales import DockerClient

        self.plan = plan
        self.out = out
        self.compose_file = out / "compose" / "docker-compose.yml"
        self.client = DockerClient(compose_files=[self.compose_file], compose_profiles=["train", "serve"])
        self.volume = {key: volume_name(plan.spec, key) for key in ("model_cache", "checkpoints")}

    # -- volumes -------------------------------------------------------------------------------
    def in_volume(self, command: list[str], *, write_models: bool = False, env: dict[str, str] | None = None) -> str:
        """Run a command in the training image with the shared volumes mounted; returns its output."""
        spec = self.plan.spec
        volumes = [
            (self.volume["model_cache"], spec.volumes.model_cache.mount, "rw" if write_models else "ro"),
            (self.volume["checkpoints"], spec.volumes.checkpoints.mount, "ro"),
            (str(EXAMPLES), "/examples", "ro"),
        ]
        return self.client.run(
            image_ref(spec, "train"),
            command[1:],
            entrypoint=command[0],
            remove=True,
            volumes=volumes,
            envs={"HF_HUB_OFFLINE": "1", **(env or {})},
            networks=["none"],
        )

    def put_model(self) -> str:
        spec = self.plan.spec
        config = Path(spec.model.config_path or "tiny-qwen3-moe.config.json").name  # its architecture, beside it
        return self.in_volume(
            ["python3", "/examples/tiny_model.py", spec.model.id, "/examples/data/smoke.jsonl"],
            write_models=True,
            env={"MF_TINY_CONFIG": config},
        )

    def read(self, path: str) -> str:
        return self.in_volume(["cat", path])

    # -- services ------------------------------------------------------------------------------
    def container(self, service: str):
        found = self.client.compose.ps(services=[service], all=True)
        return found[0] if found else None

    def train(self, follow: bool = True) -> int:
        self.client.compose.up(services=["train"], detach=True, force_recreate=True)
        if follow:
            for _, line in self.client.compose.logs(services=["train"], follow=True, stream=True, no_log_prefix=True):
                text = line.decode(errors="replace").rstrip()
                if _worth_showing(text):
                    print(f"  train | {text}", flush=True)
        return self.wait_exit("train")

    def wait_exit(self, service: str, timeout: float = 1800) -> int:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            container = self.container(service)
            container.reload()
            if not container.state.running and not container.state.restarting:
                return container.state.exit_code
            time.sleep(1)
        raise PlanError([f"{service} did not finish within {timeout:.0f} s"])

    def serve(self, api_key: str, timeout: float = 900) -> float:
        os.environ["VLLM_API_KEY"] = api_key  # compose interpolates ${VLLM_API_KEY}; never written to a file
        self.client.compose.up(services=["serve"], detach=True, force_recreate=True)
        return self.wait_healthy(timeout)

    def wait_healthy(self, timeout: float) -> float:
        start = time.monotonic()
        url = f"{self.base_url}/health"
        last_note = 0.0
        while time.monotonic() - start < timeout:
            container = self.container("serve")
            container.reload()
            if container.restart_count or not container.state.running:
                logs = self.client.compose.logs(services=["serve"], tail="40")
                raise PlanError([f"the server exited ({container.state.exit_code}) before it was healthy:\n{logs}"])
            try:
                with urllib.request.urlopen(url, timeout=5) as response:
                    if response.status == 200:
                        return time.monotonic() - start
            except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
                pass
            if time.monotonic() - last_note > 15:
                say(f"    waiting for {url} ({time.monotonic() - start:.0f} s)")
                last_note = time.monotonic()
            time.sleep(2)
        raise PlanError(
            [f"the server was not healthy within {timeout:.0f} s: `docker compose -f {self.compose_file} logs serve`"]
        )

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.plan.spec.serve.port}"

    def down(self) -> None:
        self.client.compose.down(volumes=True, remove_orphans=True)


def _worth_showing(line: str) -> bool:
    """Progress lines and problems; not the per-step tqdm noise."""
    keys = (
        "[modelforge]",
        "'loss'",
        '"loss"',
        "Error",
        "error",
        "Saving model checkpoint",
        "train_runtime",
        "last_model_checkpoint",
    )
    return any(key in line for key in keys)


def chat(base_url: str, api_key: str, model: str, prompt: str) -> str:
    from openai import OpenAI

    client = OpenAI(base_url=f"{base_url}/v1", api_key=api_key, timeout=120)
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}], max_tokens=24, temperature=0.7
    )
    return reply.choices[0].message.content or ""


def training_summary(stack: Stack) -> dict:
    out = stack.plan.train.output_dir
    logs = [
        json.loads(line) for line in stack.read(f"{out}/logging.jsonl").splitlines() if line.strip().startswith("{")
    ]
    losses = [(entry.get("global_step/max_steps", ""), entry["loss"]) for entry in logs if "loss" in entry]
    state = json.loads(stack.read(f"{out}/last-checkpoint/trainer_state.json"))
    return {
        "steps": state["global_step"],
        "first_loss": losses[0][1] if losses else None,
        "final_loss": losses[-1][1] if losses else None,
        "checkpoint": f"{out}/checkpoint-{state['global_step']}",
    }


def build_images(
    spec_path: Path = SMOKE_SPEC, out: Path = SMOKE_DIR, overrides: tuple[str, ...] = (), stages: Stages | None = None
) -> Plan:
    """Engine, base image, wheelhouse, render, build: everything up to images on this machine."""
    stages = stages or Stages()
    stages.run("docker engine", local.ensure_engine)
    local.ensure_compose()
    # Wherever the package lives (a checkout or site-packages): the wheelhouse this function fills and the
    # demo's data folder, as absolute paths; the caller's overrides come after and win.
    where = (f"build.pip_find_links=[{out / 'wheelhouse'}]", f"volumes.data.host_path={EXAMPLES / 'data'}")
    plan = make_plan(load_spec(spec_path, (*where, *overrides)))
    stages.run("base image", local.ensure_base_image, plan.spec.images.train.base)
    stages.run("wheelhouse", local.ensure_wheelhouse, out / "wheelhouse", plan.spec.stack.torch)
    stages.run("render", write, render_all(plan, spec_path.name), out)
    stages.run("build images", build, plan, out, spec_path.parent)
    return plan


def prepare(
    spec_path: Path = SMOKE_SPEC, out: Path = SMOKE_DIR, overrides: tuple[str, ...] = (), stages: Stages | None = None
) -> Stack:
    """Everything before training: images, then a clean set of volumes holding the tiny model."""
    stages = stages or Stages()
    plan = build_images(spec_path, out, overrides, stages)
    stack = Stack(plan, out)
    stack.client.compose.down(volumes=True, remove_orphans=True)  # a clean slate, also after an aborted run
    stages.run("tiny model into the volume", stack.put_model)
    return stack


def run(keep: bool = False) -> dict:
    stages = Stages()
    started = time.monotonic()
    stack = prepare(stages=stages)
    try:
        code = stages.run("train (swift sft)", stack.train)
        if code != 0:
            raise PlanError([f"training exited with {code}: `docker compose -f {stack.compose_file} logs train`"])
        summary = training_summary(stack)
        api_key = secrets.token_urlsafe(24)
        stages.run("serve (vLLM healthy)", stack.serve, api_key)
        served = stack.plan.serve.served_name
        reply = stages.run("chat completion", chat, stack.base_url, api_key, served, "What is 2 + 3?")
    finally:
        if not keep:
            stages.run("teardown", stack.down)
    summary.update(
        reply=reply, served_model=served, seconds=stages.seconds, total_seconds=round(time.monotonic() - started, 1)
    )
    (SMOKE_DIR / "demo-summary.json").write_text(json.dumps(summary, indent=2, ensure_ascii=False) + "\n")
    _print_summary(summary)
    return summary


def _print_summary(summary: dict) -> None:
    print()
    print("ModelForge demo: done")
    print(f"  trained     {summary['steps']} steps, loss {summary['first_loss']} -> {summary['final_loss']}")
    print(f"  checkpoint  {summary['checkpoint']} (checkpoint volume)")
    print(f"  served as   {summary['served_model']}")
    print(f"  reply       {summary['reply']!r}  (random weights: any text proves the path)")
    print("  time per stage:")
    for name, seconds in summary["seconds"].items():
        print(f"    {name:<28}{seconds:>7.0f} s")
    print(f"    {'total':<28}{summary['total_seconds']:>7.0f} s")


def register(sub, common) -> dict:
    """`modelforge demo` (builder/commands.py): it reads no spec of the user's, so no -f/--set."""
    p = sub.add_parser(
        "demo",
        help="the whole job on this machine, CPU only: build, train, serve, chat "
        "(a tiny model, builder/examples/smoke.yaml)",
    )
    p.add_argument("--keep", action="store_true", help="leave the containers and volumes up afterwards")
    return {"demo": _command}


def _command(args: argparse.Namespace) -> int:
    import sys

    from python_on_whales.exceptions import DockerException

    from .engine.commands import output_tail

    try:
        run(keep=args.keep)
    except DockerException as exc:
        print(
            f"error: docker failed (exit {exc.return_code}): {' '.join(map(str, exc.docker_command[:4]))} ...\n"
            f"{output_tail(exc, 20)}",
            file=sys.stderr,
        )
        return 1
    return 0
