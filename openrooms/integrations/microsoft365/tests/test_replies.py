"""Graph's replies are read without the control characters Outlook lets a subject carry: on
their JSON text, before parsing, and only where the escape is one (not an escaped backslash)."""

from __future__ import annotations

import json

import pytest

from openrooms.integrations.microsoft365.graph.replies import (
    DeltaPageBody,
    reply_json,
    without_control_characters,
)


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("Budget\x00 2027", "Budget 2027"),
        ("A\x07B\x08C\x0bD\x0cE\x1fF\x7fG", "ABCDEFG"),
        ("Tab\there, lines\r\nkept", "Tab\there, lines\r\nkept"),
        ("C:\\build\\files\\u0000", "C:\\build\\files\\u0000"),  # backslashes, not escapes
        ("\\\x00", "\\"),
        ("Réunion ✓ 会議", "Réunion ✓ 会議"),
    ],
)
def test_control_characters_are_dropped_from_any_string_of_the_json(written, read):
    for ensure_ascii in (True, False):
        text = json.dumps({"subject": written, "nested": [{"name": written}]},
                          ensure_ascii=ensure_ascii)
        assert reply_json(text) == {"subject": read, "nested": [{"name": read}]}


def test_uppercase_escapes_and_short_escapes_are_dropped_too():
    assert reply_json('{"s": "a\\u001Fb\\u007Fc\\bd\\fe\\u000Bf"}') == {"s": "abcdef"}


def test_a_reply_without_any_is_the_same_text():
    text = json.dumps({"subject": "Planning \"Q4\" \\ Review", "value": []})
    assert without_control_characters(text) is text


def test_a_delta_page_is_parsed_clean():
    item = {"id": "AAMk\u0000", "subject": "Call\u0000 \u0007Bob", "start": {"dateTime":
            "2026-12-07T09:00:00.0000000", "timeZone": "UTC"}}
    page = DeltaPageBody.model_validate_json(
        without_control_characters(json.dumps({"value": [item]}))
    )
    [parsed] = page.value
    assert (parsed.id, parsed.subject) == ("AAMk", "Call Bob")
