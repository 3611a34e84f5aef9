"""Row formats: messages, ShareGPT, alpaca and query/response. Detection from a row's keys, validation of
one row (issues as (severity, code, message)), and conversion to ms-swift's messages format."""

from __future__ import annotations

from typing import Any

PROBLEM, WARNING, NOTE = "problem", "warning", "note"  # the severities of every finding

FORMATS = ("messages", "sharegpt", "alpaca", "query_response")
FORMAT_NAMES = {"messages": "messages", "sharegpt": "ShareGPT", "alpaca": "alpaca", "query_response": "query/response"}
# ms-swift's standard roles; tool_call/tool_response are its agent format (tool = tool_response).
ROLES = ("system", "user", "assistant", "tool", "tool_call", "tool_response")
ROLE_ALIASES = {"human": "user", "gpt": "assistant", "bot": "assistant"}  # ms-swift maps these, with a warning here
SHAREGPT_ROLES = {
    "system": "system",
    "human": "user",
    "user": "user",
    "gpt": "assistant",
    "assistant": "assistant",
    "bot": "assistant",
    "tool": "tool",
}
MODEL_ROLES = ("assistant", "tool_call")  # turns the model learns to write
CONSUMED = {  # top-level keys a format turns into messages; every other key is carried over as is
    "sharegpt": ("conversations", "system"),
    "alpaca": ("instruction", "input", "output", "system", "history"),
    "query_response": ("query", "response", "system", "history"),
}

Issue = tuple  # (severity, code, message)


def detect_format(row: dict) -> str | None:
    """The format of one row (a JSON object), from its keys; None when it is none of the four."""
    if "messages" in row:
        return "messages"
    if "conversations" in row:
        return "sharegpt"
    if "instruction" in row or ("input" in row and "output" in row):
        return "alpaca"
    if "query" in row or "response" in row:
        return "query_response"
    return None


def row_format(value: Any) -> tuple[str | None, str | None]:
    """(format, problem): the problem says why a parsed value is not a row."""
    if not isinstance(value, dict):
        return None, f"row is {_type(value)}, expected an object"
    fmt = detect_format(value)
    if fmt is None:
        keys = ", ".join(list(value)[:8]) + (", ..." if len(value) > 8 else "")
        return None, (
            f"unrecognised row (keys: {keys or 'none'}): expected messages, conversations, "
            "instruction/output, or query/response"
        )
    return fmt, None


def _type(value: Any) -> str:
    return {
        dict: "an object",
        list: "a list",
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _text(value: Any) -> tuple[str | None, bool]:
    """(text, has_media) of a content value: a string, or OpenAI-style parts; (None, False) otherwise."""
    if isinstance(value, str):
        return value, False
    if isinstance(value, list) and all(isinstance(part, (dict, str)) for part in value):
        texts, media = [], False
        for part in value:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part.get("text"), str):
                texts.append(part["text"])
            else:
                media = True
        return "".join(texts), media
    return None, False


def _content(
    value: Any, present: bool, where: str, role: str | None, issues: list[Issue], tool_calls: bool = False
) -> int:
    """Validate one content value; return its length in characters."""
    if not present:
        issues.append((PROBLEM, "missing_key", f"{where}: missing"))
        return 0
    severity = WARNING if role == "system" else PROBLEM
    if value is None:
        if not tool_calls:
            issues.append((severity, "empty_content", f"{where}: null"))
        return 0
    text, media = _text(value)
    if text is None:
        issues.append((PROBLEM, "bad_type", f"{where}: expected a string, got {_type(value)}"))
        return 0
    if not text.strip() and not media and not tool_calls:
        issues.append((severity, "empty_content", f"{where}: empty"))
    return len(text)


def _turn_list(row: dict, key: str, issues: list[Issue]) -> list | None:
    value = row.get(key)
    if isinstance(value, list):
        if not value:
            issues.append((PROBLEM, "empty_content", f"{key}: empty list"))
            return None
        return value
    issues.append((PROBLEM, "bad_type", f"{key}: expected a list of turns, got {_type(value)}"))
    return None


def _messages_turns(row: dict, issues: list[Issue]) -> list[tuple[str | None, str, int]]:
    msgs = _turn_list(row, "messages", issues)
    turns: list[tuple[str | None, str, int]] = []
    for i, msg in enumerate(msgs or []):
        where = f"messages[{i}]"
        if not isinstance(msg, dict):
            issues.append((PROBLEM, "bad_type", f"{where}: expected an object with role and content, got {_type(msg)}"))
            turns.append((None, where, 0))
            continue
        role, mapped = msg.get("role"), None
        if "role" not in msg:
            issues.append((PROBLEM, "missing_key", f"{where}.role: missing"))
        elif not isinstance(role, str):
            issues.append((PROBLEM, "bad_type", f"{where}.role: expected a string, got {_type(role)}"))
        elif role in ROLES:
            mapped = role
        elif role in ROLE_ALIASES:
            mapped = ROLE_ALIASES[role]
            issues.append(
                (
                    WARNING,
                    "role_alias",
                    f"{where}.role: {role!r} is not a standard role; ms-swift reads it "
                    f"as {mapped!r} (`modelforge data convert` rewrites it)",
                )
            )
        else:
            issues.append(
                (PROBLEM, "unknown_role", f"{where}.role: unknown role {role!r} (allowed: {', '.join(ROLES)})")
            )
        chars = _content(
            msg.get("content"),
            "content" in msg,
            f"{where}.content",
            mapped,
            issues,
            tool_calls=bool(msg.get("tool_calls")),
        )
        turns.append((mapped, where, chars))
    return turns


def _system_turn(row: dict, issues: list[Issue]) -> list[tuple[str | None, str, int]]:
    """The top-level `system` of a ShareGPT, alpaca or query/response row, as the first turn (if not empty)."""
    system = row.get("system")
    if system is None:
        return []
    if not isinstance(system, str):
        issues.append((PROBLEM, "bad_type", f"system: expected a string, got {_type(system)}"))
        return []
    return [("system", "system", len(system))] if system.strip() else []


def _sharegpt_turns(row: dict, issues: list[Issue]) -> list[tuple[str | None, str, int]]:
    turns = _system_turn(row, issues)
    conv = _turn_list(row, "conversations", issues)
    for i, msg in enumerate(conv or []):
        where = f"conversations[{i}]"
        if not isinstance(msg, dict):
            issues.append((PROBLEM, "bad_type", f"{where}: expected an object with from and value, got {_type(msg)}"))
            turns.append((None, where, 0))
            continue
        frm, mapped = msg.get("from"), None
        if "from" not in msg:
            issues.append((PROBLEM, "missing_key", f"{where}.from: missing"))
        elif not isinstance(frm, str):
            issues.append((PROBLEM, "bad_type", f"{where}.from: expected a string, got {_type(frm)}"))
        elif frm in SHAREGPT_ROLES:
            mapped = SHAREGPT_ROLES[frm]
        else:
            issues.append(
                (PROBLEM, "unknown_role", f"{where}.from: unknown role {frm!r} (allowed: {', '.join(SHAREGPT_ROLES)})")
            )
        chars = _content(msg.get("value"), "value" in msg, f"{where}.value", mapped, issues)
        turns.append((mapped, where, chars))
    return turns


def _pair_turns(row: dict, fmt: str, issues: list[Issue]) -> list[tuple[str | None, str, int]]:
    turns = _system_turn(row, issues)
    history = row.get("history")
    if history not in (None, []):
        if not isinstance(history, list):
            issues.append(
                (PROBLEM, "bad_type", f"history: expected a list of [query, response] pairs, got {_type(history)}")
            )
        else:
            for i, pair in enumerate(history):
                if not (isinstance(pair, list) and len(pair) == 2):
                    issues.append((PROBLEM, "bad_type", f"history[{i}]: expected a [query, response] pair"))
                    continue
                turns.append(("user", f"history[{i}]", _content(pair[0], True, f"history[{i}][0]", "user", issues)))
                turns.append(
                    ("assistant", f"history[{i}]", _content(pair[1], True, f"history[{i}][1]", "assistant", issues))
                )
    if fmt == "alpaca":
        instruction, input_ = row.get("instruction"), row.get("input")
        ok = True
        for key, value in (("instruction", instruction), ("input", input_)):
            if value is not None and not isinstance(value, str):
                issues.append((PROBLEM, "bad_type", f"{key}: expected a string, got {_type(value)}"))
                ok = False
        if ok:
            query = (instruction or "") + (input_ or "")
            if not query.strip():
                state = (
                    "null"
                    if instruction is None and "instruction" in row
                    else "empty"
                    if "instruction" in row
                    else "missing"
                )
                issues.append(
                    (
                        PROBLEM,
                        "missing_key" if state == "missing" else "empty_content",
                        f"instruction: {state}" + ("" if input_ is None else " (and input is empty)"),
                    )
                )
            turns.append(("user", "instruction", len(query)))
        turns.append(
            ("assistant", "output", _content(row.get("output"), "output" in row, "output", "assistant", issues))
        )
    else:
        turns.append(("user", "query", _content(row.get("query"), "query" in row, "query", "user", issues)))
        response = row.get("response")
        if isinstance(response, list) and response and all(isinstance(r, str) for r in response):
            issues.append(
                (WARNING, "response_list", "response: a list; ms-swift trains on one of them, picked at random")
            )
            chars = max(len(r) for r in response)
        else:
            chars = _content(response, "response" in row, "response", "assistant", issues)
        turns.append(("assistant", "response", chars))
    return turns


def validate_row(row: dict, fmt: str) -> tuple[list[Issue], int, int]:
    """(issues, turns, characters) of one row of a known format. Issues are (severity, code, message)."""
    issues: list[Issue] = []
    if fmt == "messages":
        turns, label = _messages_turns(row, issues), "messages"
    elif fmt == "sharegpt":
        turns, label = _sharegpt_turns(row, issues), "conversations"
    else:
        turns, label = _pair_turns(row, fmt, issues), ""
    roles = [role for role, _, _ in turns]
    for i, (role, where, _) in enumerate(turns):
        if role == "system" and i > 0:
            issues.append((PROBLEM, "system_not_first", f"{where}: system message not first"))
    if label and turns and None not in roles:
        if not any(role in MODEL_ROLES for role in roles):
            issues.append((PROBLEM, "no_assistant", f"{label}: no assistant turn, nothing to train on"))
        elif roles[-1] == "user":
            issues.append(
                (WARNING, "ends_with_user", f"{turns[-1][1]}: the last turn is the user's; it is not trained on")
            )
    return issues, sum(1 for role in roles if role != "system"), sum(chars for _, _, chars in turns)


def to_messages(row: dict, fmt: str) -> dict:
    """The row in ms-swift's messages format: same meaning, other keys (id, images, tools, ...) kept.

    Validate first (validate_row): this assumes the row has no problems. Alpaca joins
    instruction and input with a newline, as ms-swift's AlpacaPreprocessor does.
    """
    if fmt == "messages":
        renamed = [
            dict(m, role=ROLE_ALIASES.get(m["role"], m["role"])) if m.get("role") in ROLE_ALIASES else m
            for m in row["messages"]
        ]
        return {**row, "messages": renamed}
    extras = {key: value for key, value in row.items() if key not in CONSUMED[fmt]}
    msgs: list[dict] = []
    system = row.get("system")
    if isinstance(system, str) and system.strip():
        msgs.append({"role": "system", "content": system})
    if fmt == "sharegpt":
        for m in row["conversations"]:
            rest = {key: value for key, value in m.items() if key not in ("from", "value")}
            msgs.append({"role": SHAREGPT_ROLES[m["from"]], "content": m["value"], **rest})
        return {"messages": msgs, **extras}
    for query, response in row.get("history") or []:
        msgs += [{"role": "user", "content": query}, {"role": "assistant", "content": response}]
    if fmt == "alpaca":
        instruction, input_ = row.get("instruction") or "", row.get("input") or ""
        query = f"{instruction}\n{input_}" if instruction and input_ else instruction or input_
        msgs += [{"role": "user", "content": query}, {"role": "assistant", "content": row["output"]}]
    else:
        msgs += [{"role": "user", "content": row["query"]}, {"role": "assistant", "content": row["response"]}]
    return {"messages": msgs, **extras}
