"""The session filter language (`zeptui.services.filters`): what it parses to, its
errors, and (property tests) that a filter written back parses to itself."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.cli_helpers import fail, run
from zeptui.services.filters import (
    FilterError,
    SessionFilter,
    format_session_filter,
    parse_session_filter,
)


def test_words_users_metadata_and_dates() -> None:
    parsed = parse_session_filter(
        "  kayak  user:ana topic.name=boats >2024-05-01 <2024-06-01T13:30Z trip"
    )
    assert parsed == SessionFilter(
        text="kayak trip",
        user_id="ana",
        metadata=(("topic.name", "boats"),),
        created_after=datetime(2024, 5, 1, tzinfo=UTC),
        created_before=datetime(2024, 6, 1, 13, 30, tzinfo=UTC),
    )
    assert parsed.query_fields()["metadata"] == {"topic.name": "boats"}


def test_quotes_make_parts_literal() -> None:
    parsed = parse_session_filter(
        '"two  words" user:"Ana María" "title=a = b" k="x y" "user:x" k2='
    )
    assert parsed.text == "two  words title=a = b user:x"
    assert parsed.user_id == "Ana María"
    assert parsed.metadata == (("k", "x y"), ("k2", ""))
    assert parse_session_filter(r'"say \"hi\" \\ bye"').text == 'say "hi" \\ bye'
    assert parse_session_filter('"" ""') == SessionFilter()


def test_a_date_without_a_zone_is_utc_and_a_zone_is_kept() -> None:
    parsed = parse_session_filter(">2024-05-01T10:00+02:00")
    assert parsed.created_after == datetime(2024, 5, 1, 8, 0, tzinfo=UTC)
    assert parse_session_filter("<2024-05-01").created_before == datetime(2024, 5, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('"open', "a quote is not closed"),
        ("user:", "user: needs a name"),
        ("user:a user:b", "two users: user:a and user:b"),
        (">", "> needs a date"),
        ("<tomorrow", "not a date: <tomorrow (use YYYY-MM-DD"),
        (">2024-13-01", "not a date"),
        (">2024-05-01 >2024-06-01", "two > dates"),
        ("=x", "a metadata filter needs a key"),
        ("k=a k=b", "two values for k: a and b"),
    ],
)
def test_errors_say_what_is_wrong(text: str, message: str) -> None:
    with pytest.raises(FilterError, match="^" + message.replace("(", r"\(")):
        parse_session_filter(text)


def test_repeating_the_same_thing_is_not_an_error() -> None:
    assert parse_session_filter("user:a user:a k=1 k=1").metadata == (("k", "1"),)


names = st.text(min_size=1, max_size=12)
offsets = st.integers(-23 * 60, 23 * 60).map(lambda minutes: timedelta(minutes=minutes))
"""Zones as people write them: whole minutes."""
dates = st.datetimes(
    min_value=datetime(1, 1, 2),
    max_value=datetime(9999, 12, 30),
    timezones=st.builds(timezone, offsets),
)
filters = st.builds(
    SessionFilter,
    text=st.none() | names,
    user_id=st.none() | names,
    metadata=st.dictionaries(names, st.text(max_size=12), max_size=3).map(
        lambda d: tuple(d.items())
    ),
    created_after=st.none() | dates,
    created_before=st.none() | dates,
)


@given(filters)
def test_a_filter_written_back_parses_to_itself(session_filter: SessionFilter) -> None:
    assert parse_session_filter(format_session_filter(session_filter)) == session_filter


syntax = st.sampled_from(['"', "\\", "=", ":", ">", "<", " ", "user:", "2024-05-01", "a", "é"])


@given(st.lists(syntax | st.text(max_size=4), max_size=12).map("".join))
def test_any_text_parses_or_fails_with_a_filter_error_and_is_stable(text: str) -> None:
    try:
        parsed = parse_session_filter(text)
    except FilterError as error:
        assert str(error)  # a reason, not an empty message
        return
    assert parse_session_filter(format_session_filter(parsed)) == parsed


# --- zeptui sessions --filter --------------------------------------------------------


def test_sessions_filter_narrows_the_list(samples: Path) -> None:
    every = json.loads(run("sessions", "--limit", "0", "--json").stdout)
    user = next(session["user_id"] for session in every if session.get("user_id"))
    found = json.loads(run("sessions", "--filter", f"user:{user}", "--limit", "0", "--json").stdout)
    assert found and {session["user_id"] for session in found} == {user}
    assert len(found) < len(every)
    none = json.loads(run("sessions", "--filter", "<1990-01-01", "--json").stdout)
    assert none == []


def test_sessions_filter_errors_are_one_line(samples: Path) -> None:
    assert "not a date: >soon" in fail("sessions", "--filter", ">soon")
    line = fail("sessions", "--user", "a", "--filter", "user:b")
    assert "--user a and --filter user:b: give one" in line
    line = fail("sessions", "--metadata", "k=1", "--filter", "k=2")
    assert "--metadata k=1 and --filter k=2: give one" in line
    both = run("sessions", "--metadata", "k=1", "--filter", "k=1 user:nobody", code=1)
    assert "nobody" in both.stderr  # agreeing values are fine; the unknown user is not
