"""`modelforge chat` in a real pseudo-terminal against a local OpenAI-compatible stand-in that streams
reasoning like vLLM's reasoning parsers (`reasoning_content`, or `reasoning` in newer vLLM).
The real server: tests/test_after_training.py."""

from __future__ import annotations

import os
import sys

import pytest

from builder.load import validate
from builder.serving.client import base_url
from tests.conftest import ROOT
from tests.fake_openai import KEY, MODEL, FakeOpenAI
from tests.pty_session import PtySession


def chat(url: str, *extra: str, key: str = KEY) -> PtySession:
    env = dict(os.environ, PYTHONPATH=str(ROOT), VLLM_API_KEY=key, TERM="xterm")
    env.pop("NO_COLOR", None)
    return PtySession(
        [
            sys.executable,
            "-m",
            "builder.cli",
            "chat",
            "--url",
            url,
            "--model",
            MODEL,
            "-f",
            "/nonexistent/spec.yaml",
            *extra,
        ],
        env,
    )


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_streamed_chat_shows_reasoning_apart_and_keeps_history(field):
    with FakeOpenAI(reasoning=True, reasoning_field=field, token_delay=0.01) as server:
        session = chat(server.url, "--system", "be brief", "--max-tokens", "50")
        try:
            banner = session.expect("you> ")
            assert f"chatting with {MODEL}" in banner
            session.send("hello there\n")
            turn = session.expect("you> ")
            assert "thinking> let me think about it" in turn
            assert "assistant> echo: hello there" in turn
            assert turn.index("thinking>") < turn.index("assistant>")
            assert "tokens" in turn and "first token" in turn  # the stats line
            # the reasoning is dimmed on a terminal, the answer is not
            assert "\x1b[2mthinking> " in session.output
            session.send("and again\n")
            assert "assistant> echo: and again" in session.expect("you> ")
            session.send("/reset\n")
            assert "conversation cleared" in session.expect("you> ")
            session.send("fresh\n")
            session.expect("you> ")
            session.send("\x04")  # Ctrl-D
            assert session.wait() == 0
        finally:
            session.close()
        chats = [r["body"] for r in server.requests if r["path"] == "/v1/chat/completions"]
    assert all(body["stream"] and body["max_tokens"] == 50 for body in chats)
    # The second turn carries the first answer as history, without its reasoning.
    assert chats[1]["messages"] == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hello there"},
        {"role": "assistant", "content": "echo: hello there "},
        {"role": "user", "content": "and again"},
    ]
    assert chats[2]["messages"] == [{"role": "system", "content": "be brief"}, {"role": "user", "content": "fresh"}]


def test_exit_command_and_no_reasoning():
    with FakeOpenAI() as server:
        session = chat(server.url)
        try:
            session.expect("you> ")
            session.send("hi\n")
            turn = session.expect("you> ")
            assert "thinking>" not in turn and "assistant> echo: hi" in turn
            session.send("/exit\n")
            assert session.wait() == 0
        finally:
            session.close()


def test_wrong_key_and_no_server_are_one_line_errors():
    with FakeOpenAI() as server:
        session = chat(server.url, key="wrong")
        try:
            assert session.wait() == 1
        finally:
            session.close()
        assert "VLLM_API_KEY does not match" in session.output
    session = chat("http://127.0.0.1:9/v1")
    try:
        assert session.wait() == 1
    finally:
        session.close()
    assert "cannot reach http://127.0.0.1:9/v1" in session.output and "Traceback" not in session.output


def test_url_from_the_spec():
    assert base_url(validate({"serve": {"port": 8011}})) == "http://127.0.0.1:8011/v1"
    assert base_url(validate({"serve": {"port": 80, "bind_address": "0.0.0.0"}})) == "http://127.0.0.1:80/v1"
    assert base_url(validate({"serve": {"port": 80, "bind_address": "::1"}})) == "http://[::1]:80/v1"


def test_ctrl_c_stops_an_answer_and_the_chat_goes_on():
    with FakeOpenAI(token_delay=0.3) as server:
        session = chat(server.url)
        try:
            session.expect("you> ")
            session.send("one two three four five six seven eight nine ten\n")
            session.expect("assistant> echo:")
            session.send("\x03")  # Ctrl-C, through the terminal's line discipline
            turn = session.expect("you> ", timeout=20)
            assert "[stopped]" in turn and "ten" not in turn
            session.send("/exit\n")
            assert session.wait() == 0
        finally:
            session.close()
