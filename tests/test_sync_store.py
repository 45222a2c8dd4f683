"""What sync asks of a store, on a real DuckDB file: the inventory (deleted sessions and
messages too, filtered, paged), whole sessions in bulk, and summaries imported by the
rules of `SummaryImport`; and the metadata rule as a pure function."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from storage.duckdb import DuckDBStore
from storage.metadata import metadata_stamp
from storage.models import (
    CreateSessionRequest,
    CreateUserRequest,
    InventoryQuery,
    Message,
    Summary,
    SummaryInfo,
)
from zeptui.services.sync_rules import merge_metadata_3way

NOW = datetime(2024, 5, 1, 12, tzinfo=UTC)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[DuckDBStore]:
    clock = iter(NOW + timedelta(seconds=n) for n in range(10_000))
    with DuckDBStore(tmp_path / "s.duckdb", summarizer=None, clock=lambda: next(clock)) as opened:
        opened.add_user(CreateUserRequest(user_id="ana"))
        for name in ("a", "b", "c"):
            opened.add_session(CreateSessionRequest(session_id=name, user_id="ana"))
            opened.add_memory(name, [Message(role="u", content=f"{name} {n}") for n in range(3)])
        yield opened


def summary(uuid: str, last: str, content: str = "sum") -> SummaryInfo:
    return SummaryInfo(
        summary=Summary(
            uuid=uuid, created_at=NOW, content=content, token_count=1, recent_message_uuid=last
        ),
        first_message_uuid=None,
        message_count=1,
    )


def test_the_inventory_lists_deletions_filters_and_pages(store: DuckDBStore) -> None:
    gone = store.list_messages("b").messages[0].uuid
    store.delete_message("b", gone)
    store.delete_session("c")
    first = store.inventory(InventoryQuery(limit=2))
    assert [item.session.session_id for item in first.sessions] == ["a", "b"]
    rest = store.inventory(InventoryQuery(limit=2, after=first.next_after or 0))
    assert rest.next_after is None
    [deleted] = rest.sessions
    assert deleted.session.deleted_at is not None and len(deleted.deleted_messages) == 3
    b = first.sessions[1]
    assert b.deleted_messages == [gone] and gone not in b.messages and len(b.messages) == 2
    named = store.inventory(InventoryQuery(session_ids=["c", "zz"], user_id="ana"))
    assert [item.session.session_id for item in named.sessions] == ["c"]
    late = store.inventory(InventoryQuery(changed_since=NOW + timedelta(days=1)))
    assert late.sessions == []


def test_contents_are_the_live_sessions_whole_in_the_order_named(store: DuckDBStore) -> None:
    store.delete_session("c")
    found = store.session_contents(["b", "c", "a"])
    assert [item.session_id for item in found] == ["b", "a"]
    assert [m.content for m in found[0].messages] == ["b 0", "b 1", "b 2"]


def test_summaries_are_imported_by_uuid_and_never_behind_the_newest(store: DuckDBStore) -> None:
    uuids = [m.uuid or "" for m in store.list_messages("a").messages]
    first, second = "11111111-0000-4000-8000-000000000001", "11111111-0000-4000-8000-000000000002"
    behind, orphan = "11111111-0000-4000-8000-000000000003", "11111111-0000-4000-8000-000000000004"
    stored = store.import_summaries(
        {
            "a": [
                summary(first, uuids[1]),
                summary(behind, uuids[0]),  # ends before the one just stored
                summary(orphan, "22222222-0000-4000-8000-000000000000"),  # no such message
                summary(second, uuids[2], content="newest"),
            ],
            "c": [summary(first, uuids[2])],  # another session's message
        }
    )
    assert stored == 2
    assert [x.summary.uuid for x in store.list_summaries("a")] == [first, second]
    assert store.list_summaries("a")[-1].summary.created_at == NOW
    assert store.import_summaries({"a": [summary(second, uuids[2])]}) == 0  # known
    assert store.inventory(InventoryQuery(session_ids=["a"])).sessions[0].summaries == [
        first,
        second,
    ]


def test_metadata_changed_on_one_side_wins_on_both_the_target_keeps_its_own() -> None:
    base = ({"title": "old", "tag": "x"}, {"title": "old", "tag": "x"})
    source = {"title": "new", "tag": "y", "added": 1, "system": {"s": 1}}
    target = {"title": "old", "tag": "z", "mine": 2}
    update, conflicts = merge_metadata_3way(source, target, base)
    assert update == {"title": "new", "added": 1}
    assert conflicts == [("tag", "y", "z")]
    first_time, clashes = merge_metadata_3way({"a": 1, "b": 2}, {"a": 3}, None)
    assert (first_time, clashes) == ({"b": 2}, [("a", 1, 3)])


def test_the_inventory_stamps_metadata_as_python_does_and_lists_deleted_users(
    store: DuckDBStore,
) -> None:
    shapes = [
        None,
        {"n": 1},
        {"system": {"intent": "x"}},
        {"b": [1, "two"], "a": {"deep": True}, "system": {"q": 1}},
        {"text": "café, \u65e5\u672c"},
    ]
    store.add_memory("a", [Message(role="u", content="m", metadata=shape) for shape in shapes])
    [item] = store.inventory(InventoryQuery(session_ids=["a"])).sessions
    assert item.metadata_stamps[-5:] == [metadata_stamp(shape) for shape in shapes]
    assert item.metadata_stamps[-5:-3] == [None, metadata_stamp({"n": 1})]
    assert item.metadata_stamps[-3] is None  # `system` alone: nothing sync compares
    store.add_user(CreateUserRequest(user_id="bo", email="bo@example.com"))
    store.delete_user("ana")
    users = {user.user_id: user for user in store.user_inventory()}
    assert users["ana"].deleted_at is not None and users["bo"].deleted_at is None
    assert users["bo"].email == "bo@example.com"
