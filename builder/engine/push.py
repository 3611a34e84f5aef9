"""Push the built images to the spec's registry (images.registry), for clusters that pull them from there.

Credentials come from the environment only (MF_REGISTRY_USER, MF_REGISTRY_PASSWORD): the login goes into a
throwaway Docker client config that is deleted after the push, so no password lands on disk, in an image or
in a rendered file. Without them the user's own `docker login` is used.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
import time

from ..errors import PlanError
from ..plan import Plan
from ..render.common import registry_host
from ..render.compose import image_ref
from ..term import say

USER_ENV, PASSWORD_ENV = "MF_REGISTRY_USER", "MF_REGISTRY_PASSWORD"
REFUSED = ("unauthorized", "no basic auth credentials", "authentication required", "denied")


def push(plan: Plan, which: tuple[str, ...]) -> dict[str, float]:
    """Push each named image; returns seconds per image. Raises PlanError saying what to change."""
    registry = plan.spec.images.registry
    if not registry:
        raise PlanError(
            [
                "images.registry is empty: the images would go to Docker Hub under "
                f"{plan.spec.images.train.name.split('/')[0]}/, a namespace you may not own. Set images.registry "
                "(e.g. registry.example.com:5000/team), then build and push again"
            ]
        )
    user, password = os.environ.get(USER_ENV), os.environ.get(PASSWORD_ENV)
    if bool(user) != bool(password):
        raise PlanError([f"set both {USER_ENV} and {PASSWORD_ENV}, or neither (then `docker login` is used)"])
    with tempfile.TemporaryDirectory(prefix="mf-docker-config-") as config:
        env = dict(os.environ)
        if user and password:
            env["DOCKER_CONFIG"] = config  # the login lives only as long as this push
            host = registry_host(registry)
            login = subprocess.run(
                ["docker", "login", host, "--username", user, "--password-stdin"],
                input=password,
                capture_output=True,
                text=True,
                env=env,
            )
            if login.returncode != 0:
                raise PlanError([f"docker login {host} as {user} ({USER_ENV}) failed: {_last(login)}"])
            say(f"logged in to {host} as {user} (from {USER_ENV}/{PASSWORD_ENV}; not saved)")
        seconds = {}
        for name in which:
            ref = image_ref(plan.spec, name)
            say(f"pushing {ref}")
            start = time.monotonic()
            result = subprocess.run(["docker", "push", ref], capture_output=True, text=True, env=env)
            if result.returncode != 0:
                raise PlanError([_push_problem(ref, registry, result)])
            seconds[name] = time.monotonic() - start
            say(f"pushed {ref} in {seconds[name]:.0f} s")
        return seconds


def _last(result: subprocess.CompletedProcess) -> str:
    lines = (result.stderr or result.stdout or "").strip().splitlines()
    return lines[-1] if lines else f"exit {result.returncode}"


def _push_problem(ref: str, registry: str, result: subprocess.CompletedProcess) -> str:
    said = _last(result)
    if "No such image" in said or "does not exist locally" in said:
        return f"{ref} is not built here: run `modelforge build` first ({said})"
    if any(word in said.lower() for word in REFUSED):
        return (
            f"{registry_host(registry)} refused the push of {ref} ({said}): set {USER_ENV} and {PASSWORD_ENV}, "
            f"or `docker login {registry_host(registry)}`"
        )
    return f"docker push {ref} failed: {said}"


__all__ = ["push", "registry_host"]
