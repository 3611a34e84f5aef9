"""Row formats: detection from keys, validation of each field, conversion to messages."""

from __future__ import annotations

import pytest

from builder.data.check.formats import PROBLEM, WARNING, detect_format, row_format, to_messages, validate_row


def codes(row: dict) -> list[tuple[str, str]]:
    fmt = detect_format(row)
    return [(severity, code) for severity, code, _ in validate_row(row, fmt)[0]]


@pytest.mark.parametrize(
    "row, fmt",
    [
        ({"messages": []}, "messages"),
        ({"conversations": [], "system": "s"}, "sharegpt"),
        ({"instruction": "i", "output": "o"}, "alpaca"),
        ({"input": "i", "output": "o"}, "alpaca"),
        ({"query": "q", "response": "r"}, "query_response"),
        ({"response": "r"}, "query_response"),
        ({"text": "t"}, None),
        ({}, None),
    ],
)
def test_detect_format(row, fmt):
    assert detect_format(row) == fmt


def test_row_format_explains_non_rows():
    assert row_format([1])[1] == "row is a list, expected an object"
    assert row_format("x")[1] == "row is a string, expected an object"
    assert "keys: none" in row_format({})[1]


def test_assistant_tool_call_with_null_content_is_fine():
    row = {
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [{"function": {"name": "w"}}]},
            {"role": "tool", "content": "sunny"},
            {"role": "assistant", "content": "Sunny."},
        ]
    }
    assert codes(row) == []


def test_multimodal_content_parts():
    row = {
        "messages": [
            {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "x.png"}}]},
            {"role": "assistant", "content": [{"type": "text", "text": "a cat"}]},
        ]
    }
    issues, turns, chars = validate_row(row, "messages")
    assert issues == [] and turns == 2 and chars == len("a cat")


def test_empty_system_is_a_warning_not_a_problem():
    row = {
        "messages": [
            {"role": "system", "content": ""},
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": "a"},
        ]
    }
    assert codes(row) == [(WARNING, "empty_content")]


@pytest.mark.parametrize(
    "row, expected",
    [
        ({"messages": "[]"}, [(PROBLEM, "bad_type")]),
        ({"messages": []}, [(PROBLEM, "empty_content")]),
        ({"messages": ["hi"]}, [(PROBLEM, "bad_type")]),
        ({"messages": [{"content": "x"}, {"role": "assistant", "content": "y"}]}, [(PROBLEM, "missing_key")]),
        ({"messages": [{"role": 1, "content": "x"}, {"role": "assistant", "content": "y"}]}, [(PROBLEM, "bad_type")]),
        ({"messages": [{"role": "user"}, {"role": "assistant", "content": "y"}]}, [(PROBLEM, "missing_key")]),
        (
            {"messages": [{"role": "user", "content": 5}, {"role": "assistant", "content": "y"}]},
            [(PROBLEM, "bad_type")],
        ),
        ({"messages": [{"role": "user", "content": "x"}, {"role": "tool_call", "content": "{}"}]}, []),
        ({"conversations": [{"from": "human", "value": "x"}]}, [(PROBLEM, "no_assistant")]),
        ({"conversations": [{"value": "x"}, {"from": "gpt", "value": "y"}]}, [(PROBLEM, "missing_key")]),
        (
            {"system": 3, "conversations": [{"from": "human", "value": "x"}, {"from": "gpt", "value": "y"}]},
            [(PROBLEM, "bad_type")],
        ),
        ({"instruction": "", "input": "only input", "output": "o"}, []),
        ({"instruction": "i", "output": "o", "history": [["q"]]}, [(PROBLEM, "bad_type")]),
        ({"instruction": "i", "output": "o", "history": [["q", ""]]}, [(PROBLEM, "empty_content")]),
        ({"instruction": "i", "output": "o", "history": "[['q', 'r']]"}, [(PROBLEM, "bad_type")]),
        ({"output": "o", "input": ""}, [(PROBLEM, "missing_key")]),
        ({"query": "q"}, [(PROBLEM, "missing_key")]),
        ({"query": "q", "response": ["a", "b"]}, [(WARNING, "response_list")]),
        ({"query": "", "response": "r"}, [(PROBLEM, "empty_content")]),
    ],
)
def test_field_problems(row, expected):
    assert codes(row) == expected


def test_turns_and_characters():
    row = {"system": "sys", "instruction": "ab", "input": "cd", "output": "efg", "history": [["h", "i"]]}
    _, turns, chars = validate_row(row, "alpaca")
    assert turns == 4 and chars == len("sys") + len("abcd") + len("efg") + 2


def test_to_messages_each_format():
    assert to_messages(
        {
            "conversations": [{"from": "human", "value": "你好", "loss": False}, {"from": "gpt", "value": "嗨"}],
            "system": "s",
            "id": 7,
        },
        "sharegpt",
    ) == {
        "messages": [
            {"role": "system", "content": "s"},
            {"role": "user", "content": "你好", "loss": False},
            {"role": "assistant", "content": "嗨"},
        ],
        "id": 7,
    }
    assert to_messages(
        {"instruction": "Translate", "input": "hola", "output": "hello", "images": ["a.png"]}, "alpaca"
    ) == {
        "messages": [{"role": "user", "content": "Translate\nhola"}, {"role": "assistant", "content": "hello"}],
        "images": ["a.png"],
    }
    assert (
        to_messages({"instruction": "", "input": "just input", "output": "o"}, "alpaca")["messages"][0]["content"]
        == "just input"
    )
    assert to_messages(
        {"query": "q2", "response": "r2", "history": [["q1", "r1"]], "system": ""}, "query_response"
    ) == {
        "messages": [
            {"role": "user", "content": "q1"},
            {"role": "assistant", "content": "r1"},
            {"role": "user", "content": "q2"},
            {"role": "assistant", "content": "r2"},
        ]
    }
    row = {"messages": [{"role": "human", "content": "x"}, {"role": "bot", "content": "y"}], "tools": "[]"}
    assert to_messages(row, "messages") == {
        "messages": [{"role": "user", "content": "x"}, {"role": "assistant", "content": "y"}],
        "tools": "[]",
    }
    assert row["messages"][0]["role"] == "human"  # the input row is not modified
