"""Tests for storage/sentences.py helpers that the summarizers lean on."""

from __future__ import annotations

import sys

from hypothesis import given
from hypothesis import strategies as st

from storage.sentences import one_line

WHITESPACE = [chr(code) for code in range(sys.maxunicode + 1) if chr(code).isspace()]


@given(st.lists(st.sampled_from([*WHITESPACE, " ", "  ", "a", "é", "日", ".", "\u200b"])))
def test_one_line_makes_every_whitespace_run_one_space(parts: list[str]) -> None:
    text = "".join(parts)
    assert one_line(text) == " ".join(text.split())


def test_one_line_keeps_a_text_already_on_one_line() -> None:
    text = "user: It's 3 p.m. in Kyoto, and the blossoms are out."
    assert one_line(text) is text
    assert one_line(" two\u00a0spaces\u2003here \n") == "two spaces here"
