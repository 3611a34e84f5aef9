"""A model's config.json from its hub, for planning a model the catalog lacks (issue 17).

The files' real download APIs, as the hubs' own clients call them:
  Hugging Face  GET {endpoint or https://huggingface.co}/{org}/{name}/resolve/main/config.json
                (Authorization: Bearer $HF_TOKEN when set: gated models)
  ModelScope    GET {endpoint or https://www.modelscope.cn}/api/v1/models/{org}/{name}/repo?Revision=master&FilePath=config.json
                (Authorization: Bearer $MODELSCOPE_API_TOKEN when set)
The answer is cached under $MF_CACHE_DIR (default ~/.cache/modelforge)/configs/<hub>/<org>/<name>/config.json, so
a plan is made once online and then offline. HF_HUB_OFFLINE=1 or MF_HUB_OFFLINE=1 reads the cache only.
"""

from __future__ import annotations

import json
import os
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

DEFAULT_ENDPOINTS = {"huggingface": "https://huggingface.co", "modelscope": "https://www.modelscope.cn"}
TOKENS = {"huggingface": "HF_TOKEN", "modelscope": "MODELSCOPE_API_TOKEN"}
TIMEOUT_S = 8.0


def cache_path(hub: str, model_id: str) -> Path:
    root = Path(
        os.environ.get("MF_CACHE_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "modelforge"
    )
    return root / "configs" / hub / model_id / "config.json"


def url(hub: str, model_id: str, endpoint: str | None) -> str:
    base = (endpoint or DEFAULT_ENDPOINTS[hub]).rstrip("/")
    if hub == "huggingface":
        return f"{base}/{model_id}/resolve/main/config.json"
    query = urllib.parse.urlencode({"Revision": "master", "FilePath": "config.json"})
    return f"{base}/api/v1/models/{model_id}/repo?{query}"


def fetch(hub: str, model_id: str, endpoint: str | None) -> tuple[dict | None, str]:
    """(config, where it came from) or (None, why not). Never raises for network trouble."""
    cached = cache_path(hub, model_id)
    if cached.is_file():
        try:
            return json.loads(cached.read_text()), f"{hub} config.json (cached at {cached})"
        except (OSError, ValueError):
            pass  # a cut-short cache file: fetch again
    if os.environ.get("MF_HUB_OFFLINE") == "1" or os.environ.get("HF_HUB_OFFLINE") == "1":
        return None, "offline (MF_HUB_OFFLINE/HF_HUB_OFFLINE) and not cached"
    address = url(hub, model_id, endpoint)
    request = urllib.request.Request(address, headers={"User-Agent": "modelforge"})
    token = os.environ.get(TOKENS[hub])
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as answer:
            body = answer.read(4_000_000)
    except urllib.error.HTTPError as exc:
        hint = f" (gated or private? set {TOKENS[hub]})" if exc.code in (401, 403) else ""
        return None, f"{address} answered HTTP {exc.code}{hint}"
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        reason = getattr(exc, "reason", exc)
        return None, f"cannot reach {address.split('?')[0]} ({reason})"
    try:
        config = json.loads(body)
    except ValueError:
        return None, f"{address} did not answer with JSON"
    if not isinstance(config, dict) or "num_hidden_layers" not in config.get("text_config", config):
        return None, f"{address} answered, but not with a model config.json"
    cached.parent.mkdir(parents=True, exist_ok=True)
    tmp = cached.with_suffix(".tmp")
    tmp.write_text(json.dumps(config))
    tmp.replace(cached)
    return config, f"{hub} config.json from {address.split('?')[0]} (cached at {cached})"
