"""Faults on the real CPU stack (issue 10): training killed at random points, a checkpoint volume that
fills up, a volume left by an older root image, and a server started before any checkpoint exists.
Needs Docker: fails, never skips, when the engine is missing (.ci/run starts it)."""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import time
from pathlib import Path

import pytest
from python_on_whales import docker

from builder import demo
from builder.render.compose import image_ref
from builder.runs import state as run_state
from tests.test_demo import http, variant

pytestmark = [pytest.mark.docker, pytest.mark.slow]

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def stack():
    stack = demo.prepare()
    yield stack
    stack.down()


def _run_dir(stack: demo.Stack, run_name: str) -> Path:
    return Path(docker.volume.inspect(stack.volume["checkpoints"]).mountpoint) / run_name


def _logged_steps(run_dir: Path) -> int:
    """The highest step in ms-swift's logging.jsonl (one line per logging step); 0 before the first."""
    try:
        lines = (run_dir / "logging.jsonl").read_text().splitlines()
    except FileNotFoundError:
        return 0
    steps = [
        int(json.loads(line)["global_step/max_steps"].split("/")[0])
        for line in lines
        if line.startswith("{") and line.endswith("}") and "global_step/max_steps" in line
    ]
    return max(steps, default=0)


def _wait_stopped(container, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while True:
        container.reload()
        if not container.state.running:
            return
        assert time.monotonic() < deadline, "the container did not stop"
        time.sleep(0.2)


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_killed_at_a_random_point_resumes_and_finishes(stack, seed):
    """SIGKILL to the whole training container at a seeded random point: a random step, or (odd seeds)
    the moment a random checkpoint folder appears, so that it is left half-written. The next start resumes
    from the checkpoint the last-checkpoint link named when it died if that one is complete, else from the
    newest complete one; redoes at most save_steps steps; and ends at max_steps."""
    rng = random.Random(seed)
    max_steps, save_steps = 400, 50
    name = f"kill{seed}"
    run = variant(
        name,
        f"train.run_name={name}",
        f"train.max_steps={max_steps}",
        f"train.save_steps={save_steps}",
        "train.save_total_limit=20",
        "train.logging_steps=1",
    )
    run_dir = _run_dir(run, name)
    at_save = seed % 2 == 1
    target = (
        rng.randrange(save_steps, max_steps - save_steps, save_steps) if at_save else rng.randint(5, max_steps - 60)
    )
    run.client.compose.up(services=["train"], detach=True, force_recreate=True)
    container = run.container("train")
    deadline = time.monotonic() + 600
    if at_save:
        # A crash while the checkpoint is written (a save takes tens of milliseconds here): SIGKILL, straight
        # from this host, to the container's init, which takes every process in the container with it.
        folder = run_dir / f"checkpoint-{target}"
        init_pid = container.state.pid  # read now: reading it may inspect the container, which takes a while
        while not folder.exists():
            assert time.monotonic() < deadline, f"no {folder.name} within 10 minutes"
            time.sleep(0.001)
        os.kill(init_pid, signal.SIGKILL)
    else:
        while _logged_steps(run_dir) < target:
            assert time.monotonic() < deadline, f"step {target} not reached within 10 minutes"
            time.sleep(0.01)
        docker.container.kill(container)
    time.sleep(0.3)  # the processes are gone; the restarted container needs seconds before it writes anything
    killed_at = _logged_steps(run_dir)
    # The rule the entrypoint documents, as `modelforge status` applies it to the files left by the kill: the
    # checkpoint last-checkpoint names if complete (ms-swift swaps the link once every rank has saved), else
    # the newest complete one. A kill between trainer_state.json and the swap leaves a newer one unpublished.
    found, resume_point = run_state.checkpoints(run_dir, str(run_dir))
    complete = [c.step for c in found if c.complete]
    half_written = [c.step for c in found if not c.complete]
    link = run_dir / "last-checkpoint"
    linked = os.readlink(link) if link.is_symlink() else None
    assert killed_at < max_steps, "the kill came after training ended"
    if at_save:  # a crash: the restart policy (on-failure) starts it again by itself
        while container.restart_count == 0:
            assert time.monotonic() < deadline + 60, "the restart policy did not restart the crashed container"
            time.sleep(0.2)
            container.reload()
    else:  # `docker kill` is a manual stop: the policy leaves it down, and the user starts it again
        _wait_stopped(container)
        container.start()
    assert run.wait_exit("train", timeout=900) == 0, run.client.compose.logs(services=["train"], tail="60")
    logs = run.client.compose.logs(services=["train"])
    marker = f"resuming from /checkpoints/{name}/checkpoint-"
    resumed = int(logs.split(marker)[1].split()[0]) if marker in logs else 0  # killed before the first save
    redone = killed_at - resumed
    print(
        f"seed {seed}: killed at step {killed_at} ({'when checkpoint-' if at_save else 'target step '}{target}"
        f"{' appeared' if at_save else ''}), complete checkpoints {complete}, half-written {half_written}, "
        f"last-checkpoint -> {linked}, resumed from {resumed or 'the start'}, {redone} steps redone"
    )
    assert resumed == (resume_point.step if resume_point else 0)
    assert 0 <= redone <= save_steps
    state = json.loads((run_dir / "last-checkpoint" / "trainer_state.json").read_text())
    assert state["global_step"] == max_steps
    assert (run_dir / f"checkpoint-{max_steps}" / "model.safetensors").exists()


class Keeper:
    """A tmpfs checkpoint volume, kept mounted by a sleeping container: Docker unmounts (and empties) a
    tmpfs volume when its last container stops, and resuming needs the checkpoints to survive."""

    def __init__(self, stack: demo.Stack, size_mib: int):
        self.volume = stack.volume["checkpoints"]
        self.mount = stack.plan.spec.volumes.checkpoints.mount
        docker.volume.create(
            self.volume,
            driver="local",
            options={"type": "tmpfs", "device": "tmpfs", "o": f"size={size_mib}m,uid=1000,gid=1000"},
        )
        self.container = docker.run(
            image_ref(stack.plan.spec, "train"),
            ["infinity"],
            entrypoint="sleep",
            detach=True,
            volumes=[(self.volume, self.mount)],
            networks=["none"],
        )

    def sh(self, script: str) -> str:
        return docker.container.execute(self.container, ["sh", "-c", script])

    def free_bytes(self) -> int:
        return int(self.sh(f"df -Pk {self.mount} | awk 'NR == 2 {{ print $4 * 1024 }}'"))

    def leave_free(self, nbytes: int) -> None:
        """Fill the volume with a ballast file until about nbytes are left."""
        self.sh(f"rm -f {self.mount}/ballast")
        ballast = self.free_bytes() - nbytes
        self.sh(f"head -c {ballast} /dev/zero > {self.mount}/ballast")

    def close(self) -> None:
        docker.container.remove(self.container, force=True)
        docker.volume.remove(self.volume)


def test_full_checkpoint_volume(stack):
    """The checkpoint volume fills up: before training when not even one checkpoint fits (refused, with the
    space needed), and in the middle of writing checkpoint 20 (a clear error; checkpoint 10 stays the
    newest complete one and last-checkpoint still points at it). Freed, the run resumes and finishes."""
    run = variant(
        "full",
        "name=mf-full",
        "train.run_name=full",
        "train.max_steps=30",
        "train.save_steps=10",
        "train.save_total_limit=3",
        "train.logging_steps=5",
    )
    run.client.compose.down(volumes=True, remove_orphans=True)
    estimate = int(run.plan.train.env["MF_CHECKPOINT_BYTES"])
    keeper = Keeper(run, size_mib=64)  # before anything mounts the volume, so it is the tmpfs one
    try:
        run.put_model()
        run_dir = f"{keeper.mount}/full"
        # 1. Not even one checkpoint fits: refused before training starts.
        keeper.leave_free(estimate // 2)
        assert run.train(follow=False) == 1
        logs = run.client.compose.logs(services=["train"], no_log_prefix=True)
        assert (
            "the volume mf-full-checkpoints has" in logs
            and "one checkpoint of this run takes about 9.2 MiB: not starting" in logs
        )
        assert "volumes.checkpoints.size" in logs and "Traceback" not in logs
        print("\n".join(line for line in logs.splitlines() if line.startswith("[modelforge]")))
        assert "checkpoint-" not in keeper.sh(f"ls -1 {run_dir} 2> /dev/null || true")

        # 2. Room for one checkpoint and a half: the second fills the volume while it is written.
        keeper.leave_free(int(estimate * 1.5))
        code = run.train(follow=False)
        logs = run.client.compose.logs(services=["train"], no_log_prefix=True)
        assert code != 0, logs[-3000:]
        print("\n".join(line for line in logs.splitlines() if line.startswith("[modelforge]") or "Error" in line))
        assert "training stopped (exit" in logs and "with the volume mf-full-checkpoints full" in logs, logs[-3000:]
        assert f"The newest complete checkpoint is {run_dir}/checkpoint-10" in logs
        assert keeper.sh(f"readlink {run_dir}/last-checkpoint").strip() == "checkpoint-10"
        state = json.loads(keeper.sh(f"cat {run_dir}/checkpoint-10/trainer_state.json"))
        assert state["global_step"] == 10
        listing = keeper.sh(f"ls -1 {run_dir}").split()
        print(
            f"full volume: estimate {estimate / MiB:.1f} MiB per checkpoint, left "
            f"{estimate * 1.5 / MiB:.1f} MiB free; after the failure: {sorted(listing)}"
        )
        assert "checkpoint-20" in listing  # the half-written one, left for the entrypoint to skip

        # 3. Space freed: the same command resumes from checkpoint 10 (skipping 20) and finishes.
        keeper.sh(f"rm -f {keeper.mount}/ballast")
        assert run.train(follow=False) == 0
        logs = run.client.compose.logs(services=["train"], no_log_prefix=True)
        assert f"resuming from {run_dir}/checkpoint-10" in logs
        assert json.loads(keeper.sh(f"cat {run_dir}/last-checkpoint/trainer_state.json"))["global_step"] == 30
    finally:
        run.client.compose.down(remove_orphans=True)
        keeper.close()
        docker.volume.remove([v for v in (run.volume["model_cache"],) if docker.volume.exists(v)])


def test_volume_left_by_a_root_image_gets_a_fix_that_works(stack):
    """Images used to run as root. A checkpoint folder an older image created is not writable by the new
    unprivileged user: the entrypoint says so and prints a command; that command, run as printed, fixes it."""
    run = variant("legacy", "train.run_name=legacy", "train.max_steps=2", "train.save_steps=2")
    image = image_ref(run.plan.spec, "train")
    volume = run.volume["checkpoints"]
    docker.run(
        image,
        ["-c", "mkdir -p /checkpoints/legacy && touch /checkpoints/legacy/args.json"],
        entrypoint="sh",
        user="0",
        remove=True,
        volumes=[(volume, "/checkpoints")],
        networks=["none"],
    )
    assert run.train(follow=False) == 1
    logs = run.client.compose.logs(services=["train"], no_log_prefix=True)
    assert (
        "/checkpoints/legacy is not writable by this container's user (uid 1000); /checkpoints/legacy belongs to uid 0"
        in logs
    )
    fix = next(line for line in logs.splitlines() if "docker run --rm --user 0" in line).split("] ", 1)[1].strip()
    command = fix.replace("VOLUME", volume).replace("IMAGE", image).split()
    subprocess.run(command, check=True, timeout=120)
    assert run.train(follow=False) == 0
    assert "starting a new run" in run.client.compose.logs(services=["train"])


def test_server_before_any_checkpoint_serves_the_base_model(stack):
    """`make serve` before training: no checkpoint in the run's folder, so the base model is served (as
    serve.model_source says); the server comes up healthy, answers, and never restarts."""
    run = variant("fresh", "train.run_name=never-trained")
    key = secrets.token_urlsafe(16)
    run.serve(key)
    logs = run.client.compose.logs(services=["serve"])
    assert "no complete checkpoint with weights in /checkpoints/never-trained yet: serving the base model" in logs
    assert f"serving {run.plan.spec.model.id}" in logs
    body = {"model": run.plan.serve.served_name, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 2}
    assert http(f"{run.base_url}/v1/chat/completions", key, body) == 200
    container = run.container("serve")
    container.reload()
    assert container.restart_count == 0 and container.state.running
    run.client.compose.stop(services=["serve"])
