"""`modelforge chat`: an interactive terminal chat with the running server, streamed.

Thinking models' reasoning (vLLM's `reasoning_content` delta field, `reasoning` in newer versions)
is shown apart from the answer, dimmed, and is not sent back in the history.
Commands: /reset clears the conversation, /exit (or Ctrl-D) quits; Ctrl-C stops an answer.
"""

from __future__ import annotations

import os
import sys
import time

from .client import Endpoint, client, explain

PROMPT = "you> "


class Style:
    def __init__(self, stream):
        on = hasattr(stream, "isatty") and stream.isatty() and not os.environ.get("NO_COLOR")
        self.dim = "\x1b[2m" if on else ""
        self.bold = "\x1b[1m" if on else ""
        self.reset = "\x1b[0m" if on else ""


def delta_parts(delta) -> tuple[str, str]:
    """(reasoning, content) of one streamed delta."""
    if delta is None:
        return "", ""
    reasoning = getattr(delta, "reasoning_content", None) or getattr(delta, "reasoning", None) or ""
    if not reasoning and getattr(delta, "model_extra", None):
        reasoning = delta.model_extra.get("reasoning_content") or delta.model_extra.get("reasoning") or ""
    return reasoning, delta.content or ""


def answer(
    api, ep: Endpoint, messages: list[dict], out, style: Style, max_tokens: int | None, temperature: float | None
) -> tuple[str, dict]:
    """Stream one reply to `out`; returns (content, stats)."""
    kwargs = {"model": ep.model, "messages": messages, "stream": True, "stream_options": {"include_usage": True}}
    if max_tokens:
        kwargs["max_tokens"] = max_tokens
    if temperature is not None:
        kwargs["temperature"] = temperature
    start = time.monotonic()
    first = None
    section = None  # "reasoning" | "answer"
    content: list[str] = []
    usage = None
    stream = api.chat.completions.create(**kwargs)
    try:
        for chunk in stream:
            if getattr(chunk, "usage", None):
                usage = chunk.usage
            for choice in chunk.choices or []:
                reasoning, text = delta_parts(choice.delta)
                if (reasoning or text) and first is None:
                    first = time.monotonic() - start
                if reasoning:
                    if section != "reasoning":
                        out.write(f"{style.dim}thinking> ")
                        section = "reasoning"
                    out.write(reasoning)
                if text:
                    if section != "answer":
                        out.write(f"{style.reset}\n" if section == "reasoning" else "")
                        out.write(f"{style.bold}assistant>{style.reset} ")
                        section = "answer"
                    out.write(text)
                    content.append(text)
                out.flush()
    except KeyboardInterrupt:
        out.write(f"{style.reset} [stopped]")
    finally:
        stream.close()
    if section is None:
        out.write(f"{style.bold}assistant>{style.reset} ")
    out.write(f"{style.reset}\n")
    spent = time.monotonic() - start
    stats = {"seconds": spent, "ttft": first}
    if usage is not None:
        stats["completion_tokens"] = usage.completion_tokens
        if spent > (first or 0):
            stats["tokens_per_s"] = usage.completion_tokens / max(spent - (first or 0), 1e-6)
    note = [f"{spent:.1f} s"]
    if first is not None:
        note.append(f"first token {first:.2f} s")
    if "completion_tokens" in stats:
        note.append(f"{stats['completion_tokens']} tokens")
    if stats.get("tokens_per_s"):
        note.append(f"{stats['tokens_per_s']:.1f} tok/s")
    out.write(f"{style.dim}[{', '.join(note)}]{style.reset}\n")
    out.flush()
    return "".join(content), stats


def run(
    ep: Endpoint,
    *,
    system: str | None = None,
    max_tokens: int | None = None,
    temperature: float | None = None,
    stdin=None,
    out=None,
) -> int:
    stdin = stdin or sys.stdin
    out = out or sys.stdout
    style = Style(out)
    api = client(ep, timeout=600, retries=1)
    history: list[dict] = [{"role": "system", "content": system}] if system else []
    try:
        served = [m.id for m in api.models.list()]
    except Exception as exc:  # noqa: BLE001 - one line, not a traceback
        out.write(f"error: {explain(exc, ep)}\n")
        return 1
    if served and ep.model not in served:
        out.write(f"error: the server serves {', '.join(served)}, not {ep.model!r} (pass --model)\n")
        return 1
    out.write(
        f"chatting with {ep.model} at {ep.root}  (/reset clears, /exit or Ctrl-D quits, Ctrl-C stops an answer)\n"
    )
    out.flush()
    while True:
        try:
            if stdin is sys.stdin and out is sys.stdout:
                line = input(PROMPT)
            else:
                out.write(PROMPT)
                out.flush()
                line = stdin.readline()
                if not line:
                    raise EOFError
        except EOFError:
            out.write("\n")
            return 0
        except KeyboardInterrupt:
            out.write("\n")
            return 0
        text = line.strip()
        if not text:
            continue
        if text in ("/exit", "/quit", "/q"):
            return 0
        if text == "/reset":
            history = history[:1] if system else []
            out.write("(conversation cleared)\n")
            continue
        history.append({"role": "user", "content": line.rstrip("\n")})
        try:
            reply, _ = answer(api, ep, history, out, style, max_tokens, temperature)
        except KeyboardInterrupt:  # before the first token arrived
            history.pop()
            out.write(f"{style.reset} [stopped]\n")
            continue
        except Exception as exc:  # noqa: BLE001 - shown, then the user may try again
            history.pop()
            out.write(f"{style.reset}error: {explain(exc, ep)}\n")
            out.flush()
            continue
        history.append({"role": "assistant", "content": reply})
