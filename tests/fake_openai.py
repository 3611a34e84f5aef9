"""A small OpenAI-compatible server for unit tests (no Docker, no model): /v1/models, /v1/chat/completions
and /v1/completions, streamed or not, with Bearer-key checking, per-request delay, a reasoning stream like
vLLM's reasoning parsers produce, and a log of every request it answered.

Run in a thread (FakeOpenAI context manager) or as a process: python -m tests.fake_openai PORT [DELAY] [KEY].
"""

from __future__ import annotations

import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

MODEL = "fake-model"
KEY = "test-key"


class Handler(BaseHTTPRequestHandler):
    server: Server

    def log_message(self, *args) -> None:  # quiet
        pass

    def _authorized(self) -> bool:
        if self.headers.get("Authorization") == f"Bearer {self.server.key}":
            return True
        self._json(401, {"error": {"message": "bad key", "type": "invalid_request_error", "code": 401}})
        return False

    def _json(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        if self.path == "/health":
            self._json(200, {})
        elif self.path == "/v1/models" and self._authorized():
            data = [{"id": self.server.model, "object": "model", "owned_by": "me", "root": "/models/base"}]
            if self.server.adapter:  # as vLLM lists a --lora-modules entry: after the base, with its parent
                name, path = self.server.adapter
                data.append({"id": name, "object": "model", "owned_by": "me", "root": path, "parent": data[0]["id"]})
            self._json(200, {"object": "list", "data": data})
        elif self.path != "/v1/models":
            self._json(404, {"error": {"message": "not found"}})

    def do_POST(self) -> None:
        if not self._authorized():
            return
        length = int(self.headers.get("Content-Length", 0))
        body = json.loads(self.rfile.read(length) or b"{}")
        with self.server.lock:
            self.server.requests.append({"path": self.path, "body": body})
            if self.server.log_path:
                with open(self.server.log_path, "a") as log:
                    log.write(json.dumps({"path": self.path, "body": body}) + "\n")
        if body.get("model") != self.server.model:
            self._json(404, {"error": {"message": f"model {body.get('model')} does not exist", "code": 404}})
            return
        with self.server.lock:
            self.server.inflight += 1
            self.server.max_inflight = max(self.server.max_inflight, self.server.inflight)
        try:
            time.sleep(self.server.delay)
            if self.path == "/v1/chat/completions":
                self._chat(body)
            elif self.path == "/v1/completions":
                self._completion(body)
            else:
                self._json(404, {"error": {"message": "not found"}})
        finally:
            with self.server.lock:
                self.server.inflight -= 1

    def _answer(self, body: dict) -> str:
        messages = body.get("messages") or []
        last = messages[-1]["content"] if messages else body.get("prompt", "")
        return f"echo: {last}"

    def _chat(self, body: dict) -> None:
        answer = self._answer(body)
        reasoning = "let me think about it" if self.server.reasoning else None
        usage = {"prompt_tokens": 5, "completion_tokens": len(answer.split()), "total_tokens": 5 + len(answer.split())}
        if not body.get("stream"):
            message = {"role": "assistant", "content": answer}
            if reasoning:
                message["reasoning_content"] = reasoning
            self._json(
                200,
                {
                    "id": "c1",
                    "object": "chat.completion",
                    "created": 0,
                    "model": self.server.model,
                    "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
                    "usage": usage,
                },
            )
            return
        deltas = [{"role": "assistant", "content": ""}]
        if reasoning:
            deltas += [{self.server.reasoning_field: word + " "} for word in reasoning.split()]
        deltas += [{"content": word + " "} for word in answer.split()]
        chunks = [{"choices": [{"index": 0, "delta": d, "finish_reason": None}]} for d in deltas]
        chunks.append({"choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append({"choices": [], "usage": usage})
        self._stream("chat.completion.chunk", chunks)

    def _completion(self, body: dict) -> None:
        tokens = int(body.get("max_tokens") or 8)
        chunks = [{"choices": [{"index": 0, "text": f" t{i}", "finish_reason": None}]} for i in range(tokens)]
        chunks.append({"choices": [{"index": 0, "text": "", "finish_reason": "length"}]})
        if (body.get("stream_options") or {}).get("include_usage"):
            chunks.append(
                {"choices": [], "usage": {"prompt_tokens": 7, "completion_tokens": tokens, "total_tokens": 7 + tokens}}
            )
        self._stream("text_completion", chunks)

    def _stream(self, kind: str, chunks: list[dict]) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        for chunk in chunks:
            chunk.update(id="s1", object=kind, created=0, model=self.server.model)
            self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
            self.wfile.flush()
            time.sleep(self.server.token_delay)
        self.wfile.write(b"data: [DONE]\n\n")
        self.wfile.flush()


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(
        self,
        port: int = 0,
        *,
        delay: float = 0.0,
        token_delay: float = 0.0,
        reasoning: bool = False,
        reasoning_field: str = "reasoning_content",
        key: str = KEY,
        model: str = MODEL,
        log_path: str | None = None,
        adapter: tuple[str, str] | None = None,  # (name, path): a LoRA adapter served beside `model`
    ):
        super().__init__(("127.0.0.1", port), Handler)
        self.delay, self.token_delay, self.reasoning, self.reasoning_field = (
            delay,
            token_delay,
            reasoning,
            reasoning_field,
        )
        self.key, self.model, self.log_path, self.adapter = key, model, log_path, adapter
        self.requests: list[dict] = []
        self.inflight = self.max_inflight = 0
        self.lock = threading.Lock()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"


class FakeOpenAI:
    def __init__(self, **kwargs):
        self.server = Server(**kwargs)

    def __enter__(self) -> Server:
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self.server

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


if __name__ == "__main__":
    port = int(sys.argv[1])
    delay = float(sys.argv[2]) if len(sys.argv) > 2 else 0.0
    log = sys.argv[3] if len(sys.argv) > 3 else None
    server = Server(port, delay=delay, log_path=log)
    Path(log or "/dev/null").touch() if log else None
    server.serve_forever()
