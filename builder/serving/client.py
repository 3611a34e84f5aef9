"""Talking to the running server: its URL, key and model name, from the spec and the environment."""

from __future__ import annotations

import os
from dataclasses import dataclass

from ..errors import PlanError
from ..plan.commands import served_name


@dataclass(frozen=True)
class Endpoint:
    base_url: str  # ends in /v1
    api_key: str
    model: str

    @property
    def root(self) -> str:
        return self.base_url[: -len("/v1")] if self.base_url.endswith("/v1") else self.base_url


def base_url(spec) -> str:
    host = spec.serve.bind_address
    if host in ("0.0.0.0", "", "::"):
        host = "127.0.0.1"
    elif ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{spec.serve.port}/v1"


def api_key() -> str:
    key = os.environ.get("VLLM_API_KEY", "")
    if key:
        return key
    if os.environ.get("MF_ALLOW_NO_API_KEY") == "1":
        return "EMPTY"
    raise PlanError(
        [
            "VLLM_API_KEY is not set: export the key the server was started with "
            "(or MF_ALLOW_NO_API_KEY=1 for a server without one)"
        ]
    )


def endpoint(spec, url: str | None = None, model: str | None = None) -> Endpoint:
    if url is None and spec is None:
        raise PlanError(["no server URL: pass --url, or a spec (-f) whose serve.port names it"])
    base = (url or base_url(spec)).rstrip("/")
    if not base.endswith("/v1"):
        base += "/v1"
    name = model or (served_name(spec) if spec is not None else None)
    if not name:
        raise PlanError(["no model name: pass --model, or a spec (-f)"])
    return Endpoint(base, api_key(), name)


def client(ep: Endpoint, timeout: float = 600, retries: int = 2):
    from openai import OpenAI

    return OpenAI(base_url=ep.base_url, api_key=ep.api_key, timeout=timeout, max_retries=retries)


def explain(exc: Exception, ep: Endpoint) -> str:
    """One line for the usual failures, instead of a traceback."""
    import openai

    if isinstance(exc, openai.AuthenticationError):
        return f"{ep.base_url}: 401 - VLLM_API_KEY does not match the server's key"
    if isinstance(exc, openai.NotFoundError):
        return f"{ep.base_url}: 404 - is the model named {ep.model!r}? ({exc.message})"
    if isinstance(exc, openai.APIConnectionError):
        return f"cannot reach {ep.base_url}: is the server up? (make serve; docker compose ps)"
    if isinstance(exc, openai.APIStatusError):
        return f"{ep.base_url}: HTTP {exc.status_code}: {exc.message}"
    return f"{type(exc).__name__}: {exc}"
