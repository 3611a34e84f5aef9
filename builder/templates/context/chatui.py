"""The chat page (the seed guide's `swift app` step): Gradio in front of the vLLM server's OpenAI API.

Gradio is what ms-swift's `swift app` and LLaMA-Factory's web UI use: streaming chat, collapsible "thinking"
messages, markdown and code rendering, and browser-side state come with it. This process holds the API key
and talks to the server; the browser talks only to this process, so the key never reaches the page.

- Chat: tokens stream as they come; a thinking model's reasoning (vLLM's reasoning parser sends it apart,
  as `reasoning_content` or `reasoning`) is shown in its own collapsible message above the answer; multi-turn;
  system prompt, temperature, top-p and max tokens; the conversation and settings are kept in the browser
  (localStorage) and come back on reload. A server that is down or still loading gets a message, never a
  blank wait.
- Compare: the same prompt to the fine-tuned model and the base model side by side (MF_UI_BASE_API: a second
  server on the base model), and the user's preference saved as JSONL (MF_UI_PREFERENCES, on the checkpoint
  volume): each row is a messages row whose last turn is the preferred answer (usable as `eval.dataset`),
  with the other answer as `rejected_response` (ms-swift's DPO/RLHF format).

Environment: MF_API_BASE, VLLM_API_KEY, MF_MODEL, MF_UI_PORT (7860), MF_UI_BASE_API, MF_UI_BASE_MODEL,
MF_UI_BASE_KEY (default VLLM_API_KEY), MF_UI_PREFERENCES, MF_UI_MAX_TOKENS (default max tokens).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import gradio as gr
import httpx
import openai

API = os.environ.get("MF_API_BASE", "http://127.0.0.1:8000/v1").rstrip("/")
MODEL = os.environ.get("MF_MODEL", "")
BASE_API = os.environ.get("MF_UI_BASE_API", "").rstrip("/")
BASE_MODEL = os.environ.get("MF_UI_BASE_MODEL", "") or MODEL
PREFERENCES = Path(os.environ.get("MF_UI_PREFERENCES", "/tmp/preferences.jsonl"))
MAX_TOKENS = int(os.environ.get("MF_UI_MAX_TOKENS", "2048"))
NO_BASE = (
    "Compare needs a server on the base model: set ui.base_api in the spec (or MF_UI_BASE_API for `make ui`); "
    "README, 'Chat page'"
)
DEFAULTS = {"system": "", "temperature": 0.6, "top_p": 0.95, "max_tokens": MAX_TOKENS}


def client(api: str, key_env: str = "VLLM_API_KEY") -> openai.OpenAI:
    key = os.environ.get(key_env) or os.environ.get("VLLM_API_KEY") or "EMPTY"
    # openai's own Timeout class: openai 3.60 runs on httpx2, which refuses an httpx.Timeout (seen with httpx2 2.17.0)
    return openai.OpenAI(base_url=api, api_key=key, timeout=openai.Timeout(600, connect=5), max_retries=0)


def server_state(api: str) -> str:
    """'ready', or why not, for the status line and for errors."""
    health = api.rsplit("/v1", 1)[0] + "/health"
    try:
        r = httpx.get(health, timeout=3)
    except httpx.HTTPError:
        return f"the server at {api} is not reachable: is it started (make serve)? Its logs: make logs"
    if r.status_code == 200:
        return "ready"
    return f"the server at {api} is still loading the model (health {r.status_code}): try again in a minute"


def explain(exc: Exception, api: str) -> str:
    if isinstance(exc, openai.AuthenticationError):
        return "the server refused the API key: the page's VLLM_API_KEY is not the server's"
    if isinstance(exc, openai.APIConnectionError | openai.APITimeoutError):
        return server_state(api)
    if isinstance(exc, openai.APIStatusError):
        if exc.status_code in (502, 503, 504):
            return server_state(api)
        return f"the server answered {exc.status_code}: {str(exc.message)[:300]}"
    return f"{type(exc).__name__}: {exc}"


def messages_for(turns: list[dict], settings: dict, prompt: str) -> list[dict]:
    out: list[dict] = []
    if settings.get("system", "").strip():
        out.append({"role": "system", "content": settings["system"]})
    for t in turns:
        out += [{"role": "user", "content": t["user"]}, {"role": "assistant", "content": t["answer"]}]
    return out + [{"role": "user", "content": prompt}]


def stream(api: str, model: str, key_env: str, messages: list[dict], settings: dict) -> Iterator[tuple[str, str]]:
    """(reasoning so far, answer so far) as the server streams them."""
    reasoning = answer = ""
    chunks: Any = client(api, key_env).chat.completions.create(
        model=model,
        messages=messages,  # type: ignore[arg-type]
        temperature=float(settings["temperature"]),
        top_p=float(settings["top_p"]),
        max_tokens=int(settings["max_tokens"]),
        stream=True,
    )
    for chunk in chunks:
        if not chunk.choices:
            continue
        delta = chunk.choices[0].delta
        extra = delta.model_extra or {}
        reasoning += extra.get("reasoning_content") or extra.get("reasoning") or ""
        answer += delta.content or ""
        yield reasoning, answer


def bubbles(turns: list[dict], pending: dict | None = None) -> list[dict]:
    """The chatbot's messages: user, then the reasoning (collapsible) and the answer of each turn."""
    out: list[dict] = []
    for t in [*turns, *([pending] if pending else [])]:
        out.append({"role": "user", "content": t["user"]})
        if t.get("reasoning"):
            status = "pending" if t is pending and not t.get("answer") else "done"
            out.append(
                {"role": "assistant", "content": t["reasoning"], "metadata": {"title": "Reasoning", "status": status}}
            )
        if t.get("error"):
            out.append({"role": "assistant", "content": f"Problem: {t['error']}"})
        elif t.get("answer"):
            out.append({"role": "assistant", "content": t["answer"]})
        elif t is not pending or t.get("done"):
            note = "(no answer: the reasoning used all of max tokens)" if t.get("reasoning") else "(empty answer)"
            out.append({"role": "assistant", "content": note})
    return out


def chat(prompt: str, saved: dict) -> Iterator[tuple[list[dict], dict, str, str]]:
    saved = {"turns": [], "settings": dict(DEFAULTS), **(saved or {})}
    if not prompt.strip():
        yield bubbles(saved["turns"]), saved, "", status_line()
        return
    turn = {"user": prompt, "reasoning": "", "answer": ""}
    yield bubbles(saved["turns"], turn), saved, "", "asking the server…"
    try:
        messages = messages_for(saved["turns"], saved["settings"], prompt)
        for reasoning, answer in stream(API, MODEL, "VLLM_API_KEY", messages, saved["settings"]):
            turn.update(reasoning=reasoning, answer=answer)
            yield bubbles(saved["turns"], turn), saved, "", "streaming…"
    except Exception as exc:  # every failure becomes a message on the page, never a blank wait
        turn["error"] = explain(exc, API)
        yield bubbles(saved["turns"], turn), saved, prompt, f"Problem: {turn['error']}"
        return
    saved["turns"] = [*saved["turns"], {k: turn[k] for k in ("user", "reasoning", "answer")}]
    yield bubbles(saved["turns"]), saved, "", status_line()


def set_setting(name: str):
    def update(value: Any, saved: dict) -> dict:
        saved = {"turns": [], "settings": dict(DEFAULTS), **(saved or {})}
        saved["settings"] = {**saved["settings"], name: value}
        return saved

    return update


def restore(saved: dict) -> tuple:
    saved = {"turns": [], "settings": dict(DEFAULTS), **(saved or {})}
    s = {**DEFAULTS, **saved["settings"]}
    return bubbles(saved["turns"]), s["system"], s["temperature"], s["top_p"], s["max_tokens"], status_line()


def clear(saved: dict) -> tuple[list, dict]:
    saved = {"turns": [], "settings": dict(DEFAULTS), **(saved or {})}
    return [], {**saved, "turns": []}


def status_line() -> str:
    state = server_state(API)
    return f"Ready: {MODEL} at {API}" if state == "ready" else f"Problem: {state}"


# -- compare mode ------------------------------------------------------------------------------------


def compare(prompt: str, saved: dict) -> Iterator[tuple[list, list, dict, str]]:
    settings = {**DEFAULTS, **((saved or {}).get("settings") or {})}
    if not BASE_API:
        yield [], [], {}, NO_BASE
        return
    if not prompt.strip():
        yield [], [], {}, ""
        return
    messages = messages_for([], settings, prompt)
    sides = {"fine-tuned": (API, MODEL, "VLLM_API_KEY"), "base": (BASE_API, BASE_MODEL, "MF_UI_BASE_KEY")}
    turns: dict[str, dict[str, Any]] = {side: {"user": prompt, "reasoning": "", "answer": ""} for side in sides}
    for side, (api, model, key_env) in sides.items():  # one after the other: each streams as it comes
        try:
            for reasoning, answer in stream(api, model, key_env, messages, settings):
                turns[side].update(reasoning=reasoning, answer=answer)
                yield bubbles([], turns["fine-tuned"]), bubbles([], turns["base"]), {}, f"{side} is answering…"
        except Exception as exc:
            turns[side]["error"] = explain(exc, api)
        turns[side]["done"] = True
    pair = {"messages": messages, "answers": {s: t["answer"] for s, t in turns.items()}}
    final = bubbles([], turns["fine-tuned"]), bubbles([], turns["base"])
    errors = [f"{s}: {t['error']}" for s, t in turns.items() if t.get("error")]
    note = "Problem: " + "; ".join(errors) if errors else "which answer is better? (saved for evaluation and RLHF)"
    yield *final, pair, note


def prefer(choice: str):
    def save(pair: dict) -> str:
        if not pair or not pair.get("answers"):
            return "Nothing to rate yet: compare first"
        other = "base" if choice == "fine-tuned" else "fine-tuned"
        if not pair["answers"][choice].strip():
            return f"Not saved: the {choice} answer is empty (an eval row needs a reference answer)"
        row = {
            "messages": [*pair["messages"], {"role": "assistant", "content": pair["answers"][choice]}],
            "rejected_response": pair["answers"][other],
            "preferred": choice,
            "models": {"fine-tuned": f"{MODEL} at {API}", "base": f"{BASE_MODEL} at {BASE_API}"},
            "time": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        }
        PREFERENCES.parent.mkdir(parents=True, exist_ok=True)
        with PREFERENCES.open("a", encoding="utf-8") as f:
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
        return f"saved: {choice} preferred ({PREFERENCES})"

    return save


def build() -> gr.Blocks:
    with gr.Blocks(title="ModelForge chat") as page:
        saved = gr.BrowserState({"turns": [], "settings": dict(DEFAULTS)}, storage_key="modelforge-chat")
        gr.Markdown(f"### ModelForge chat: `{MODEL}`")
        status = gr.Markdown(elem_id="status")
        with gr.Tab("Chat"):
            bot = gr.Chatbot(label="Conversation", elem_id="chat", height=480, buttons=["copy", "copy_all"])
            with gr.Row():
                box = gr.Textbox(placeholder="Ask something (Enter sends)", show_label=False, scale=8, elem_id="prompt")
                send = gr.Button("Send", variant="primary", scale=1, elem_id="send")
                new = gr.Button("New chat", scale=1, elem_id="new")
            with gr.Accordion("Settings", open=False):
                system = gr.Textbox(label="System prompt", lines=2, elem_id="system")
                temperature = gr.Slider(0, 2, step=0.05, label="Temperature", elem_id="temperature")
                top_p = gr.Slider(0.05, 1, step=0.05, label="Top-p", elem_id="top_p")
                max_tokens = gr.Slider(16, 32768, step=16, label="Max tokens", elem_id="max_tokens")
        with gr.Tab("Compare", elem_id="compare-tab"):
            gr.Markdown("The same prompt to the fine-tuned model (left) and the base model (right).")
            cbox = gr.Textbox(placeholder="A prompt for both", show_label=False, elem_id="compare-prompt")
            go = gr.Button("Compare", variant="primary", elem_id="compare")
            with gr.Row():
                left = gr.Chatbot(label=f"fine-tuned: {MODEL}", elem_id="left", height=360)
                right = gr.Chatbot(label=f"base: {BASE_MODEL if BASE_API else '(not configured)'}", elem_id="right",
                                   height=360)  # fmt: skip
            pair = gr.State({})
            with gr.Row():
                like_left = gr.Button("Fine-tuned is better", elem_id="prefer-left")
                like_right = gr.Button("Base is better", elem_id="prefer-right")
            note = gr.Markdown(elem_id="compare-note")

        page.load(restore, [saved], [bot, system, temperature, top_p, max_tokens, status])
        for trigger in (send.click, box.submit):
            trigger(chat, [box, saved], [bot, saved, box, status])
        new.click(clear, [saved], [bot, saved])
        for name, widget in (("system", system), ("temperature", temperature), ("top_p", top_p),
                             ("max_tokens", max_tokens)):  # fmt: skip
            widget.change(set_setting(name), [widget, saved], [saved])
        for trigger in (go.click, cbox.submit):
            trigger(compare, [cbox, saved], [left, right, pair, note])
        like_left.click(prefer("fine-tuned"), [pair], [note])
        like_right.click(prefer("base"), [pair], [note])
    return page


if __name__ == "__main__":
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    time.tzset()
    build().queue(default_concurrency_limit=16).launch(
        server_name="0.0.0.0", server_port=int(os.environ.get("MF_UI_PORT", "7860")), show_error=True
    )
