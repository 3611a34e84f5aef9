"""Hub dataset names: `[hf::|ms::]org/name[:subset[/subset...]][#N]`, and a short look-up.

The syntax check is offline. The look-up asks the hub's API (ModelScope: MODELSCOPE_DOMAIN, Hugging Face:
HF_ENDPOINT, HF_TOKEN when set) with a deadline of a few seconds; when no answer comes it says "cannot reach
the hub, skipped", which is never reported clean."""

from __future__ import annotations

import json
import os
import re
import threading
import urllib.error
import urllib.request
from typing import Any

from .formats import NOTE, PROBLEM, WARNING
from .read import DATA_SUFFIXES
from .report import FileReport

HUB_PREFIXES = {"ms": "modelscope", "hf": "huggingface"}
HUB_LABELS = {"modelscope": "ModelScope", "huggingface": "Hugging Face"}
_PART = r"[A-Za-z0-9][A-Za-z0-9._-]*"
OTHER_SUFFIXES = (".csv", ".parquet", ".txt", ".arrow", ".tsv")


class HubDataset:
    __slots__ = ("text", "hub", "repo", "subsets", "sample", "prefixed")

    def __init__(self, text: str, hub: str, repo: str, subsets: tuple[str, ...], sample: int | None, prefixed: bool):
        self.text, self.hub, self.repo, self.subsets, self.sample, self.prefixed = (
            text,
            hub,
            repo,
            subsets,
            sample,
            prefixed,
        )

    def describe(self) -> str:
        parts = [f"hub dataset on {HUB_LABELS[self.hub]}"]
        if self.subsets:
            parts.append(f"subsets {', '.join(self.subsets)}")
        if self.sample:
            parts.append(f"sample of {self.sample:,} rows")
        return ", ".join(parts)


def parse_hub_dataset(text: str, default_hub: str = "modelscope") -> HubDataset:
    """[hf::|ms::]org/name[:subset[/subset...]][#N]; raises ValueError saying what is wrong."""
    if not text or any(c.isspace() for c in text):
        raise ValueError("empty or holds whitespace")
    hub, rest, prefixed = default_hub, text, False
    if "::" in text:
        prefix, _, rest = text.partition("::")
        if prefix.lower() not in HUB_PREFIXES:
            raise ValueError(f"unknown hub prefix '{prefix}::' (use hf:: for Hugging Face, ms:: for ModelScope)")
        hub, prefixed = HUB_PREFIXES[prefix.lower()], True
    name, hashed, sample = rest.partition("#")
    if hashed and not (sample.isascii() and sample.isdigit() and int(sample) > 0):
        raise ValueError(f"'#{sample}': the sample count after # must be a positive whole number, e.g. #1000")
    repo, colon, subsets = name.partition(":")
    if repo.count("/") != 1:
        raise ValueError(f"{repo!r} is not org/name (e.g. AI-ModelScope/alpaca-gpt4-data-en)")
    if not re.fullmatch(f"{_PART}/{_PART}", repo):
        raise ValueError(f"{repo!r}: org and name take letters, digits, '.', '_' and '-' only")
    if colon and not re.fullmatch(f"{_PART}(/{_PART})*", subsets):
        raise ValueError(f"':{subsets}': subsets are names separated by '/', e.g. :default or :zh/en")
    return HubDataset(
        text, hub, repo, tuple(subsets.split("/")) if colon else (), int(sample) if hashed else None, prefixed
    )


def classify_target(arg: str) -> tuple[str, str, int | None]:
    """('local', path, sample) for a file or folder, ('hub', arg, None), or ('missing', path, None)."""
    path = os.path.expanduser(arg)
    if os.path.exists(path):
        return "local", path, None
    base, hashed, sample = path.partition("#")
    if hashed and sample.isdigit() and os.path.exists(base):
        return "local", base, int(sample)
    if base.lower().endswith(DATA_SUFFIXES + OTHER_SUFFIXES) or base.startswith(("/", ".", "~")) or "\\" in base:
        return "missing", base, None
    if "::" in arg or arg.split(":", 1)[0].split("#", 1)[0].count("/") == 1:
        return "hub", arg, None
    return "missing", path, None


def hub_api_url(ds: HubDataset) -> str:
    if ds.hub == "huggingface":
        return f"{os.environ.get('HF_ENDPOINT', 'https://huggingface.co').rstrip('/')}/api/datasets/{ds.repo}"
    scheme = os.environ.get("MODELSCOPE_URL_SCHEME", "https://")
    domain = os.environ.get("MODELSCOPE_DOMAIN", "www.modelscope.cn")
    return f"{scheme}{domain}/api/v1/datasets/{ds.repo}"


def probe_hub(ds: HubDataset, timeout: float = 3.0) -> tuple[str, str, str]:
    """(status, severity, message); status is found, missing, gated, unreachable or unknown.

    Runs in a thread joined with a deadline, so a hanging DNS lookup cannot stall the check.
    """
    url, label = hub_api_url(ds), HUB_LABELS[ds.hub]
    headers = {"User-Agent": "modelforge-data-check", "Accept": "application/json"}
    if ds.hub == "huggingface" and os.environ.get("HF_TOKEN"):
        headers["Authorization"] = f"Bearer {os.environ['HF_TOKEN']}"
    result: dict[str, Any] = {}

    def fetch() -> None:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as resp:
                result["status"], result["body"] = resp.status, resp.read(65536)
        except urllib.error.HTTPError as exc:
            result["status"] = exc.code
        except Exception as exc:  # URLError, timeouts, resets: the hub is not reachable from here
            result["error"] = getattr(exc, "reason", exc)

    worker = threading.Thread(target=fetch, daemon=True)
    worker.start()
    worker.join(timeout + 1)
    status = result.get("status")
    if status is None:
        reason = result.get("error", f"no answer in {timeout:.0f} s")
        return "unreachable", NOTE, f"cannot reach the hub, skipped ({label}: {reason})"
    if status == 200:
        try:
            body = json.loads(result.get("body") or b"{}")
        except ValueError:
            body = {}
        if isinstance(body, dict) and body.get("Success") is False:
            status = 404
        else:
            return "found", NOTE, f"found on {label}"
    if status == 404:
        hint = "; a Hugging Face dataset needs the hf:: prefix" if ds.hub == "modelscope" and not ds.prefixed else ""
        return "missing", PROBLEM, f"not found on {label} ({url}){hint}"
    if status in (401, 403):
        token = "HF_TOKEN" if ds.hub == "huggingface" else "MODELSCOPE_API_TOKEN"
        return "gated", WARNING, f"{label} answered {status}: missing, private or gated; with access, set {token}"
    return "unknown", NOTE, f"{label} answered HTTP {status}, skipped"


def default_hub() -> str:
    return "huggingface" if os.environ.get("USE_HF", "").lower() in ("1", "true", "yes") else "modelscope"


def check_hub(text: str, hub: str, *, offline: bool = False, timeout: float = 3.0, strict: bool = False) -> FileReport:
    rep = FileReport(text, kind="hub", strict=strict)
    try:
        ds = parse_hub_dataset(text, hub)
    except ValueError as exc:
        rep.add(PROBLEM, "hub_name", None, None, f"invalid hub dataset name: {exc}")
        rep.hub = {"valid": False}
        return rep
    rep.hub = {
        "valid": True,
        "hub": ds.hub,
        "repo": ds.repo,
        "subsets": list(ds.subsets),
        "sample": ds.sample,
        "description": ds.describe(),
    }
    if offline:
        rep.hub["status"] = "skipped"
        rep.add(NOTE, "hub_offline", None, None, "not looked up on the hub (--offline), skipped")
        return rep
    status, severity, message = probe_hub(ds, timeout)
    rep.hub["status"] = status
    rep.add(severity, f"hub_{status}", None, None, message)
    return rep
