"""A small web chat in front of the vLLM server (the seed guide's `swift app` step), stdlib only.

The browser talks to this process; this process holds the API key and talks to the server, so the
key never reaches the page. Run by the compose profile `ui` (make ui) from the serving image.
Environment: MF_API_BASE (e.g. http://serve:8000/v1), VLLM_API_KEY, MF_MODEL, MF_UI_PORT (7860).
"""

import json
import os
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

API_BASE = os.environ.get("MF_API_BASE", "http://127.0.0.1:8000/v1").rstrip("/")
MODEL = os.environ.get("MF_MODEL", "")
MAX_BODY = 1_000_000

PAGE = """<!doctype html><html><head><meta charset="utf-8"><title>ModelForge chat</title>
<style>body{font-family:sans-serif;max-width:46rem;margin:2rem auto}#log div{margin:.4rem 0;white-space:pre-wrap}
.user{color:#114}.assistant{color:#141}.reasoning{color:#888;font-size:.9em}textarea{width:100%;height:4rem}</style>
</head><body><h3>ModelForge chat: MODEL_NAME</h3><div id="log"></div>
<textarea id="q" placeholder="Ask something; Ctrl+Enter sends"></textarea><button id="send">Send</button>
<script>
const log = document.getElementById("log"), q = document.getElementById("q"), history = [];
function add(cls, text) { const d = document.createElement("div"); d.className = cls; d.textContent = text; log.appendChild(d); }
async function send() {
  const text = q.value.trim(); if (!text) return; q.value = "";
  history.push({role: "user", content: text}); add("user", "you: " + text);
  const r = await fetch("api/chat", {method: "POST", headers: {"Content-Type": "application/json"},
                                     body: JSON.stringify({messages: history})});
  const data = await r.json();
  if (!r.ok) { add("reasoning", "error: " + (data.error || r.status)); return; }
  if (data.reasoning) add("reasoning", data.reasoning);
  history.push({role: "assistant", content: data.content}); add("assistant", data.content);
}
document.getElementById("send").onclick = send;
q.addEventListener("keydown", e => { if (e.key === "Enter" && e.ctrlKey) send(); });
</script></body></html>"""


def ask(messages: list) -> dict:
    body = json.dumps({"model": MODEL, "messages": messages, "max_tokens": 512}).encode()
    request = urllib.request.Request(
        f"{API_BASE}/chat/completions",
        data=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {os.environ.get('VLLM_API_KEY', '')}"},
    )
    with urllib.request.urlopen(request, timeout=300) as response:
        message = json.load(response)["choices"][0]["message"]
    return {
        "content": message.get("content") or "",
        "reasoning": message.get("reasoning_content") or message.get("reasoning") or "",
    }


class Handler(BaseHTTPRequestHandler):
    def _reply(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, data: dict) -> None:
        self._reply(status, json.dumps(data, ensure_ascii=False).encode(), "application/json; charset=utf-8")

    def do_GET(self) -> None:
        if self.path in ("/", "/index.html"):
            self._reply(200, PAGE.replace("MODEL_NAME", MODEL).encode(), "text/html; charset=utf-8")
        elif self.path == "/health":
            self._json(200, {"ok": True})
        else:
            self._json(404, {"error": "not found"})

    def do_POST(self) -> None:
        if self.path != "/api/chat":
            return self._json(404, {"error": "not found"})
        length = int(self.headers.get("Content-Length") or 0)
        if length <= 0 or length > MAX_BODY:
            return self._json(400, {"error": f"body must be 1..{MAX_BODY} bytes"})
        try:
            messages = json.loads(self.rfile.read(length))["messages"]
            if not isinstance(messages, list):
                raise ValueError("messages must be a list")
            self._json(200, ask(messages))
        except (ValueError, KeyError, TypeError) as exc:
            self._json(400, {"error": f"bad request: {exc}"})
        except urllib.error.HTTPError as exc:
            self._json(502, {"error": f"the model server answered {exc.code}"})
        except (urllib.error.URLError, OSError) as exc:
            self._json(502, {"error": f"cannot reach the model server at {API_BASE}: {exc}"})


if __name__ == "__main__":
    port = int(os.environ.get("MF_UI_PORT", "7860"))
    print(f"[modelforge] web chat on :{port}, talking to {API_BASE} ({MODEL})", flush=True)
    ThreadingHTTPServer(("0.0.0.0", port), Handler).serve_forever()
