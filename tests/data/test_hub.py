"""Hub dataset names: syntax offline; the look-up against a local stand-in for the hub APIs."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from builder.data.check import check_targets
from builder.data.check.hub import check_hub, classify_target, hub_api_url, parse_hub_dataset, probe_hub


@pytest.mark.parametrize(
    "text, hub, repo, subsets, sample",
    [
        (
            "liucong/Chinese-DeepSeek-R1-Distill-data-110k#1000",
            "modelscope",
            "liucong/Chinese-DeepSeek-R1-Distill-data-110k",
            (),
            1000,
        ),
        ("AI-ModelScope/alpaca-gpt4-data-en", "modelscope", "AI-ModelScope/alpaca-gpt4-data-en", (), None),
        (
            "hf::HuggingFaceH4/ultrachat_200k:default#500",
            "huggingface",
            "HuggingFaceH4/ultrachat_200k",
            ("default",),
            500,
        ),
        ("MS::swift/self-cognition:zh/en", "modelscope", "swift/self-cognition", ("zh", "en"), None),
    ],
)
def test_valid_names(text, hub, repo, subsets, sample):
    ds = parse_hub_dataset(text)
    assert (ds.hub, ds.repo, ds.subsets, ds.sample) == (hub, repo, subsets, sample)


@pytest.mark.parametrize(
    "text, says",
    [
        ("org/name#abc", "'#abc': the sample count after # must be a positive whole number"),
        ("org/name#0", "'#0'"),
        ("org/name#", "'#'"),
        ("xx::org/name", "unknown hub prefix 'xx::' (use hf:: for Hugging Face, ms:: for ModelScope)"),
        ("::org/name", "unknown hub prefix '::'"),
        ("hf::justaname", "'justaname' is not org/name"),
        ("a/b/c", "'a/b/c' is not org/name"),
        ("org/na!me", "org and name take letters, digits"),
        ("org/name:", "':': subsets are names separated by '/'"),
        ("org/name #5", "whitespace"),
    ],
)
def test_invalid_names_say_why(text, says):
    with pytest.raises(ValueError, match=None) as err:
        parse_hub_dataset(text)
    assert says in str(err.value)


def test_classify_target(tmp_path):
    data = tmp_path / "t.jsonl"
    data.write_text("")
    assert classify_target(str(data)) == ("local", str(data), None)
    assert classify_target(f"{data}#5") == ("local", str(data), 5)
    assert classify_target(str(tmp_path)) == ("local", str(tmp_path), None)
    assert classify_target("data/train.jsonl")[0] == "missing"
    assert classify_target("/data/x.jsonl#9") == ("missing", "/data/x.jsonl", None)
    assert classify_target("org/name#100")[0] == "hub"
    assert classify_target("hf::org/name")[0] == "hub"
    assert classify_target("org/name:sub/other#3")[0] == "hub"
    assert classify_target("justaword")[0] == "missing"


def test_hub_defaults_to_modelscope_and_use_hf_switches(monkeypatch):
    monkeypatch.delenv("USE_HF", raising=False)
    report, _ = check_targets(["a/b"], offline=True)
    assert report.files[0].hub["hub"] == "modelscope"
    monkeypatch.setenv("USE_HF", "1")
    report, _ = check_targets(["a/b", "ms::c/d"], offline=True)
    assert [f.hub["hub"] for f in report.files] == ["huggingface", "modelscope"]


def test_syntax_error_is_a_problem_even_offline():
    report, _ = check_targets(["org/name#many"], offline=True)
    assert report.exit_code == 1
    assert "org/name#many:\n  invalid hub dataset name: '#many'" in report.text()


def test_unreachable_hub_is_said_plainly_and_is_not_a_problem(monkeypatch):
    monkeypatch.setenv("MODELSCOPE_URL_SCHEME", "http://")
    monkeypatch.setenv("MODELSCOPE_DOMAIN", "127.0.0.1:9")  # discard port: nothing listens
    rep = check_hub("liucong/Chinese-DeepSeek-R1-Distill-data-110k#1000", "modelscope", timeout=2)
    assert rep.problems == 0 and rep.hub["status"] == "unreachable"
    assert rep.notes[0]["message"].startswith("cannot reach the hub, skipped")


class FakeHub(BaseHTTPRequestHandler):
    """ModelScope and Hugging Face dataset APIs, as far as the probe asks them."""

    answers = {
        "/api/v1/datasets/good/data": (200, {"Code": 200, "Success": True, "Data": {"Id": 1}}),
        "/api/v1/datasets/gone/data": (200, {"Code": 10010205001, "Success": False, "Message": "dataset not found"}),
        "/api/v1/datasets/teapot/data": (500, {}),
        "/api/datasets/good/data": (200, {"id": "good/data"}),
        "/api/datasets/gated/data": (401, {"error": "Repository not found"}),
        "/api/datasets/slow/data": (200, {}),
    }

    def do_GET(self):  # noqa: N802 (http.server's name)
        status, body = self.answers.get(self.path, (404, {"error": "not found"}))
        if "slow" in self.path:
            time.sleep(30)  # far past any bound below: only the probe's timeout can end the wait early
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except OSError:
            pass

    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def hub_server():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeHub)
    server.daemon_threads = True
    server.block_on_close = False
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def fake_hub(hub_server, monkeypatch):
    monkeypatch.setenv("MODELSCOPE_URL_SCHEME", "http://")
    monkeypatch.setenv("MODELSCOPE_DOMAIN", hub_server)
    monkeypatch.setenv("HF_ENDPOINT", f"http://{hub_server}")
    return hub_server


@pytest.mark.parametrize(
    "name, status, severity",
    [
        ("good/data", "found", "note"),
        ("missing/data", "missing", "problem"),
        ("gone/data", "missing", "problem"),
        ("teapot/data", "unknown", "note"),
        ("hf::good/data", "found", "note"),
        ("hf::missing/data", "missing", "problem"),
        ("hf::gated/data", "gated", "warning"),
    ],
)
def test_probe_answers(fake_hub, name, status, severity):
    ds = parse_hub_dataset(name)
    found_status, found_severity, message = probe_hub(ds, timeout=2)
    assert (found_status, found_severity) == (status, severity), message
    assert fake_hub in hub_api_url(ds)


def test_not_found_on_modelscope_hints_at_the_hf_prefix(fake_hub):
    _, _, message = probe_hub(parse_hub_dataset("missing/data"), timeout=2)
    assert message.startswith("not found on ModelScope") and "needs the hf:: prefix" in message


def test_slow_hub_is_cut_off(fake_hub):
    start = time.monotonic()
    status, _, message = probe_hub(parse_hub_dataset("hf::slow/data"), timeout=0.3)
    assert status == "unreachable" and "cannot reach the hub, skipped" in message
    assert time.monotonic() - start < 10  # the timeout cut it, not the server's 30 s answer (margin for a busy CI)
