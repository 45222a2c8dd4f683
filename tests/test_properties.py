"""Property tests: metadata merge and pagination."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from storage.duckdb import DuckDBStore
from storage.metadata import merge_metadata, without_system
from storage.models import Message, SessionOrder, SessionQuery
from tests.examples import examples

keys = st.sampled_from(["a", "b", "c", "system", "nested", "ü"])
scalars = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), st.text(max_size=3))
values = st.recursive(
    st.one_of(scalars, st.lists(scalars, max_size=3)),
    lambda inner: st.dictionaries(keys, inner, max_size=3),
    max_leaves=8,
)
metadata = st.dictionaries(keys, values, max_size=4)


@given(metadata, metadata)
def test_merge_keeps_old_keys_and_takes_new_values(
    stored: dict[str, Any], update: dict[str, Any]
) -> None:
    merged = merge_metadata(stored, update)
    assert merged is not None
    assert set(merged) == set(stored) | set(update)
    for key, value in update.items():
        if isinstance(value, dict) and isinstance(stored.get(key), dict):
            assert merged[key] == merge_metadata(stored[key], value)
        else:
            assert merged[key] == value
    for key in set(stored) - set(update):
        assert merged[key] == stored[key]


@given(metadata, metadata)
def test_merge_is_idempotent_and_pure(stored: dict[str, Any], update: dict[str, Any]) -> None:
    stored_copy, update_copy = repr(stored), repr(update)
    once = merge_metadata(stored, update)
    assert merge_metadata(once, update) == once
    assert repr(stored) == stored_copy and repr(update) == update_copy


@given(metadata)
def test_merging_nothing_changes_nothing(stored: dict[str, Any]) -> None:
    assert merge_metadata(stored, None) == stored
    assert merge_metadata(stored, {}) == stored
    assert merge_metadata(None, stored) == stored


@given(metadata)
def test_unprivileged_updates_never_touch_system(update: dict[str, Any]) -> None:
    stored = {"system": {"intent": "kept"}}
    merged = merge_metadata(stored, without_system(update))
    assert merged is not None
    assert merged["system"] == {"intent": "kept"}


@settings(max_examples=examples(10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sizes=st.lists(st.integers(0, 4), min_size=0, max_size=12),
    limit=st.integers(1, 5),
    order=st.sampled_from(list(SessionOrder)),
    descending=st.booleans(),
)
def test_session_pages_cover_every_session_once(
    sizes: list[int], limit: int, order: SessionOrder, descending: bool
) -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        DuckDBStore(Path(folder) / "z.duckdb", summarizer=None) as store,
    ):
        for index, size in enumerate(sizes):
            store.add_memory(f"s{index}", [Message(role="x", content=f"m{n}") for n in range(size)])
        everything = store.session_page(SessionQuery(order_by=order, descending=descending))
        seen: list[str] = []
        cursor: int | None = 0
        for _ in range(len(sizes) + 2):
            if cursor is None:
                break
            page = store.session_page(
                SessionQuery(limit=limit, cursor=cursor, order_by=order, descending=descending)
            )
            assert len(page.sessions) <= limit
            assert page.total_count == len(sizes)
            seen += [info.session.session_id for info in page.sessions]
            cursor = page.next_cursor
        assert cursor is None
        assert seen == [info.session.session_id for info in everything.sessions]
        assert sorted(seen) == sorted(f"s{index}" for index in range(len(sizes)))


@settings(max_examples=examples(10), deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(count=st.integers(0, 25), limit=st.integers(1, 7))
def test_message_pages_cover_the_history_in_order(count: int, limit: int) -> None:
    with (
        tempfile.TemporaryDirectory() as folder,
        DuckDBStore(Path(folder) / "z.duckdb", summarizer=None) as store,
    ):
        store.add_memory("s", [Message(role="x", content=f"m{n}") for n in range(count)])
        seen: list[str] = []
        page_number = 1
        while page_number <= count + 2:
            page = store.list_messages("s", limit=limit, cursor=page_number)
            assert page.total_count == count
            if not page.messages:
                break
            seen += [m.content for m in page.messages]
            page_number += 1
        assert seen == [f"m{n}" for n in range(count)]
