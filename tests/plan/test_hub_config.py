"""A model outside the catalog is planned from its real config.json, fetched from the hub's own file API
(a local stand-in server speaking the Hugging Face and ModelScope download URLs) and cached; with neither a
hub answer nor model.config_path, the plan says memory and layout are unknown and render refuses."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from builder.facts.models import CATALOG
from builder.load import validate
from builder.plan import make_plan

CONFIG = dict(CATALOG["meta-llama/Llama-3.1-70B"], architectures=["LlamaForCausalLM"])
TOKEN = "hf_" + "s" * 34


class StandInHub(BaseHTTPRequestHandler):
    seen: list[str] = []

    def do_GET(self):  # noqa: N802 (http.server's name)
        url = urlparse(self.path)
        self.seen.append(self.path)
        if url.path.startswith("/api/v1/models/"):  # ModelScope: /api/v1/models/{org}/{name}/repo?FilePath=...
            repo = url.path[len("/api/v1/models/") : -len("/repo")]
            ok = parse_qs(url.query).get("FilePath") == ["config.json"] and url.path.endswith("/repo")
        else:  # Hugging Face: /{org}/{name}/resolve/main/config.json
            repo, _, rest = url.path.strip("/").partition("/resolve/")
            ok = rest == "main/config.json"
        if not ok or repo not in ("acme/llama-70b", "acme/gated-70b"):
            self.send_error(404)
            return
        if repo == "acme/gated-70b" and self.headers.get("Authorization") != f"Bearer {TOKEN}":
            self.send_error(401)
            return
        body = json.dumps(CONFIG).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def hub(monkeypatch, tmp_path):
    monkeypatch.setenv("MF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("MF_HUB_OFFLINE", raising=False)
    monkeypatch.delenv("HF_TOKEN", raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), StandInHub)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    StandInHub.seen = []
    yield f"http://127.0.0.1:{server.server_address[1]}", server
    server.shutdown()


def _plan(model_id, hub_name, endpoint):
    # 70B checkpoints (920 GiB each, 3 kept while the next is written) need a larger volume than the default's.
    volumes = {"checkpoints": {"mount": "/checkpoints", "size": "3000Gi"}}
    return make_plan(validate({"model": {"id": model_id, "hub": hub_name, "endpoint": endpoint}, "volumes": volumes}))


@pytest.mark.parametrize("hub_name", ["huggingface", "modelscope"])
def test_an_unknown_model_is_planned_from_the_hubs_config_and_cached(hub, hub_name):
    endpoint, server = hub
    plan = _plan("acme/llama-70b", hub_name, endpoint)
    assert plan.feasible, plan.errors
    assert (
        plan.model.total_params == make_plan(validate({"model": {"id": "meta-llama/Llama-3.1-70B"}})).model.total_params
    )
    assert "cached at" in plan.model.source and endpoint in plan.model.source
    assert plan.serve.layout.tp >= 2  # 70B bf16 does not fit one H200: not the tp=1 an unchecked plan gave
    assert StandInHub.seen == (
        ["/acme/llama-70b/resolve/main/config.json"]
        if hub_name == "huggingface"
        else ["/api/v1/models/acme/llama-70b/repo?Revision=master&FilePath=config.json"]
    )
    server.shutdown()  # the hub goes away: the cached config still plans it
    again = _plan("acme/llama-70b", hub_name, endpoint)
    assert again.feasible and again.model.total_params == plan.model.total_params


def test_a_gated_model_needs_the_token_from_the_environment(hub, monkeypatch):
    endpoint, _ = hub
    refused = _plan("acme/gated-70b", "huggingface", endpoint)
    assert any("HTTP 401" in e and "set HF_TOKEN" in e for e in refused.errors)
    monkeypatch.setenv("HF_TOKEN", TOKEN)
    assert _plan("acme/gated-70b", "huggingface", endpoint).feasible


def test_with_no_hub_and_no_config_the_plan_is_unknown_and_render_refuses(cli, tmp_path):
    env_spec = tmp_path / "modelforge.yaml"
    env_spec.write_text("model:\n  id: acme/nowhere-70b\n  hub: huggingface\n  endpoint: http://127.0.0.1:9\n")
    r = cli("plan", "-f", str(env_spec))
    assert r.returncode == 1
    assert (
        "memory and layout are unknown" in r.stderr and "model.config_path" in r.stderr and "model.endpoint" in r.stderr
    )
    assert cli("render", "-f", str(env_spec)).returncode == 1
    assert cli("render", "-f", str(env_spec), "--force").returncode == 0


def test_a_container_path_without_config_names_config_path():
    plan = make_plan(validate({"model": {"id": "/models/mine"}}))
    assert any("set model.config_path" in e for e in plan.errors)
