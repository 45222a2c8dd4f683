"""Contract: add_memory, get_memory, messages, summaries and imports."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import tiktoken

from storage.errors import InvalidInputError, NotFoundError
from storage.models import (
    MemoryType,
    Message,
    RoleType,
    SessionImport,
    Summary,
    SummaryInfo,
)
from storage.store import MemoryStore
from storage.tokens import encoding
from tests.contract.conftest import StoreFactory


def say(content: str, role: str = "Jane", role_type: RoleType | None = RoleType.user) -> Message:
    return Message(role=role, role_type=role_type, content=content)


def numbered(count: int, start: int = 1) -> list[Message]:
    return [say(f"message {n}") for n in range(start, start + count)]


def contents(messages: list[Message]) -> list[str]:
    return [m.content for m in messages]


# --- add_memory ----------------------------------------------------------------------


def test_add_memory_creates_the_session_and_keeps_order(store: MemoryStore) -> None:
    stored = store.add_memory(
        "s1",
        [
            say("Who was Octavia Butler?"),
            say("An American science fiction author.", "HistoryBot", RoleType.assistant),
            Message(
                role="Jane", role_type=RoleType.user, content="Films?", metadata={"foo": "bar"}
            ),
        ],
    )
    assert len(stored) == 3
    assert store.get_session("s1").session_id == "s1"
    listed = store.list_messages("s1").messages
    assert contents(listed) == [
        "Who was Octavia Butler?",
        "An American science fiction author.",
        "Films?",
    ]
    assert [m.role for m in listed] == ["Jane", "HistoryBot", "Jane"]
    assert [m.role_type for m in listed] == [RoleType.user, RoleType.assistant, RoleType.user]
    assert listed[2].metadata == {"foo": "bar"}
    for message in listed:
        uuid.UUID(message.uuid or "")
        assert message.created_at is not None
        assert message.token_count > 0
    # A second add appends and leaves the earlier uuids alone.
    store.add_memory("s1", [say("More?")])
    again = store.list_messages("s1").messages
    assert [m.uuid for m in again[:3]] == [m.uuid for m in listed]
    assert again[3].content == "More?"


def test_token_count_is_cl100k_of_role_colon_content(store: MemoryStore) -> None:
    store.add_memory("s1", [say("Hello, world!", role="human", role_type=None)])
    message = store.list_messages("s1").messages[0]
    assert message.token_count == len(encoding().encode_ordinary("human: Hello, world!")) == 6
    # Zep's own test: "Hello, world!" is 4 cl100k_base tokens.
    assert encoding().encode_ordinary("Hello, world!") == [9906, 11, 1917, 0]
    assert isinstance(encoding(), tiktoken.Encoding)


def test_add_memory_keeps_supplied_uuid_and_created_at(store: MemoryStore) -> None:
    fixed = str(uuid.uuid4())
    when = datetime(2023, 5, 16, 21, 59, 11, 57919, tzinfo=UTC)
    store.add_memory(
        "s1",
        [Message(uuid=fixed, created_at=when, role="Jane", role_type=RoleType.user, content="hi")],
    )
    message = store.get_message("s1", fixed)
    assert message.uuid == fixed
    assert message.created_at == when
    assert message.model_dump(mode="json")["created_at"] == "2023-05-16T21:59:11.057919Z"


def test_readding_an_existing_uuid_changes_nothing(store: MemoryStore) -> None:
    fixed = str(uuid.uuid4())
    first = Message(uuid=fixed, role="Jane", role_type=RoleType.user, content="original")
    assert len(store.add_memory("s1", [first])) == 1
    again = Message(uuid=fixed, role="Bob", role_type=RoleType.user, content="changed")
    assert store.add_memory("s1", [again, say("new")]) != []
    listed = store.list_messages("s1").messages
    assert contents(listed) == ["original", "new"]
    # The same uuid twice in one batch is stored once.
    other = str(uuid.uuid4())
    batch = [Message(uuid=other, role="x", content="a"), Message(uuid=other, role="x", content="b")]
    assert len(store.add_memory("s1", batch)) == 1


def test_add_memory_undeletes_but_old_messages_stay_deleted(store: MemoryStore) -> None:
    store.add_memory("s1", [say("before")])
    store.delete_session("s1")
    store.add_memory("s1", [say("after")])
    assert store.get_session("s1").deleted_at is None
    assert contents(store.list_messages("s1").messages) == ["after"]


def test_add_memory_rejects_bad_input(store: MemoryStore) -> None:
    with pytest.raises(InvalidInputError):
        store.add_memory(" ", [say("x")])
    with pytest.raises(InvalidInputError, match="not-a-uuid"):
        store.add_memory("s1", [Message(uuid="not-a-uuid", role="x", content="y")])
    with pytest.raises(NotFoundError):
        store.get_session("s1")  # the failed add wrote nothing


def test_message_without_role_type_is_stored_as_norole(store: MemoryStore) -> None:
    store.add_memory("s1", [say("plain", role="human", role_type=None)])
    assert store.list_messages("s1").messages[0].role_type is RoleType.norole


# --- get_memory ----------------------------------------------------------------------


def test_get_memory_of_unknown_session_is_not_found(store: MemoryStore) -> None:
    with pytest.raises(NotFoundError):
        store.get_memory("nope")


def test_get_memory_lastn_and_window(store_factory: StoreFactory) -> None:
    store = store_factory(message_window=12, summarizer=None)
    store.add_memory("s1", numbered(20))
    memory = store.get_memory("s1", MemoryType.message_window, lastn=3)
    assert contents(memory.messages) == ["message 18", "message 19", "message 20"]
    assert memory.summary is None
    window = store.get_memory("s1", MemoryType.message_window)
    assert contents(window.messages) == [f"message {n}" for n in range(9, 21)]
    assert store.get_memory("s1", lastn=0).messages == window.messages
    assert contents(store.get_memory("s1", lastn=500).messages)[0] == "message 1"
    with pytest.raises(InvalidInputError):
        store.get_memory("s1", lastn=-1)


def test_small_session_returns_everything(store: MemoryStore) -> None:
    store.add_memory("s1", numbered(4))
    for memory_type in MemoryType:
        assert len(store.get_memory("s1", memory_type).messages) == 4


def test_perpetual_has_facts_and_total_tokens(store: MemoryStore) -> None:
    store.add_memory("s1", numbered(3))
    perpetual = store.get_memory("s1", MemoryType.perpetual)
    assert perpetual.facts == []
    assert store.get_memory("s1", MemoryType.message_window).facts is None
    assert perpetual.total_tokens == sum(m.token_count for m in perpetual.messages)


def test_zep_worked_example_window_12(store_factory: StoreFactory) -> None:
    """zep-semantics.md §3.2: one message per add, the summarizer finishing in between."""
    store = store_factory(message_window=12)
    for n in range(1, 12):
        store.add_memory("s1", numbered(1, start=n))
    assert store.list_summaries("s1") == []
    assert store.get_memory("s1").summary is None
    assert len(store.get_memory("s1").messages) == 11

    store.add_memory("s1", numbered(1, start=12))
    summaries = store.list_summaries("s1")
    assert len(summaries) == 1
    listed = store.list_messages("s1").messages
    a = summaries[0]
    assert a.message_count == 6
    assert a.first_message_uuid == listed[0].uuid
    assert a.summary.recent_message_uuid == listed[5].uuid
    memory = store.get_memory("s1")
    assert contents(memory.messages) == [f"message {n}" for n in range(7, 13)]
    assert memory.summary is not None
    assert memory.summary.uuid == a.summary.uuid
    assert memory.summary.token_count > 0
    assert memory.total_tokens == memory.summary.token_count + sum(
        m.token_count for m in memory.messages
    )

    for n in range(13, 18):
        store.add_memory("s1", numbered(1, start=n))
        assert len(store.list_summaries("s1")) == 1
    assert contents(store.get_memory("s1").messages) == [f"message {n}" for n in range(7, 18)]

    store.add_memory("s1", numbered(1, start=18))
    summaries = store.list_summaries("s1")
    assert len(summaries) == 2
    b = summaries[1]
    assert (b.first_message_uuid, b.summary.recent_message_uuid) == (
        listed[6].uuid,
        listed[11].uuid,
    )
    memory = store.get_memory("s1")
    assert contents(memory.messages) == [f"message {n}" for n in range(13, 19)]
    assert memory.summary is not None and memory.summary.uuid == b.summary.uuid

    for n in range(19, 25):
        store.add_memory("s1", numbered(1, start=n))
    summaries = store.list_summaries("s1")
    assert len(summaries) == 3
    listed = store.list_messages("s1").messages
    assert summaries[2].first_message_uuid == listed[12].uuid
    assert summaries[2].summary.recent_message_uuid == listed[17].uuid
    assert contents(store.get_memory("s1").messages) == [f"message {n}" for n in range(19, 25)]
    # With lastn, memory ignores the summary point but still carries the newest summary.
    memory = store.get_memory("s1", lastn=10)
    assert contents(memory.messages) == [f"message {n}" for n in range(15, 25)]
    assert memory.summary is not None
    assert memory.summary.uuid == summaries[2].summary.uuid


def test_a_batch_larger_than_the_window_is_summarised_without_gaps(
    store_factory: StoreFactory,
) -> None:
    store = store_factory(message_window=12)
    store.add_memory("s1", numbered(30))
    listed = store.list_messages("s1").messages
    spans = [
        (s.first_message_uuid, s.summary.recent_message_uuid, s.message_count)
        for s in store.list_summaries("s1")
    ]
    assert spans == [
        (listed[0].uuid, listed[5].uuid, 6),
        (listed[6].uuid, listed[11].uuid, 6),
        (listed[12].uuid, listed[17].uuid, 6),
        (listed[18].uuid, listed[23].uuid, 6),
    ]
    assert contents(store.get_memory("s1").messages) == [f"message {n}" for n in range(25, 31)]


def test_summaries_are_progressive_and_labelled(store_factory: StoreFactory) -> None:
    store = store_factory(message_window=4)
    store.add_memory(
        "s1",
        [
            say(
                "My order of blue kayaks never arrived. I ordered two of them in May for a "
                "river trip with my kids, paid for express shipping, and the tracking page "
                "has said 'label created' for three weeks now."
            ),
            say(
                "Sorry to hear that. What is the order number? I will ask the warehouse and "
                "the carrier what happened to the kayaks and how soon we can ship them.",
                "Agent",
                RoleType.assistant,
            ),
            say("It is 4471."),
            say("Thanks, I see order 4471 is delayed in Lisbon.", "Agent", RoleType.assistant),
        ],
    )
    first = store.list_summaries("s1")
    assert len(first) == 1
    assert first[0].summary.metadata is not None
    assert first[0].summary.metadata["summarizer"] == "extractive"
    assert "kayak" in first[0].summary.content.lower()
    store.add_memory(
        "s1", [say("Can you refund it?"), say("Yes, a refund is on its way.", "Agent")]
    )
    second = store.list_summaries("s1")
    assert len(second) == 2
    assert second[1].summary.content != second[0].summary.content


def test_empty_messages_are_not_counted_for_summaries(store_factory: StoreFactory) -> None:
    store = store_factory(message_window=4)
    store.add_memory("s1", [say("one"), say("   "), say("two"), say("")])
    assert store.list_summaries("s1") == []
    store.add_memory("s1", [say("three"), say("four")])
    assert len(store.list_summaries("s1")) == 1


def test_deleting_a_session_hides_its_summaries(store_factory: StoreFactory) -> None:
    store = store_factory(message_window=4)
    store.add_memory("s1", numbered(4))
    assert len(store.list_summaries("s1")) == 1
    store.delete_session("s1")
    store.add_memory("s1", numbered(1))
    assert store.list_summaries("s1") == []
    assert store.get_memory("s1").summary is None


# --- messages ------------------------------------------------------------------------


def test_list_messages_pages(store: MemoryStore) -> None:
    store.add_memory("s1", numbered(5))
    page1 = store.list_messages("s1", limit=2, cursor=1)
    page2 = store.list_messages("s1", limit=2, cursor=2)
    page3 = store.list_messages("s1", limit=2, cursor=3)
    assert contents(page1.messages) == ["message 1", "message 2"]
    assert contents(page2.messages) == ["message 3", "message 4"]
    assert contents(page3.messages) == ["message 5"]
    assert (page1.total_count, page1.row_count, page3.row_count) == (5, 2, 1)
    assert store.list_messages("s1", limit=2, cursor=4).messages == []


def test_list_messages_of_unknown_session_is_not_found(store: MemoryStore) -> None:
    with pytest.raises(NotFoundError):
        store.list_messages("nope")


def test_get_message(store: MemoryStore) -> None:
    stored = store.add_memory("s1", numbered(2))
    assert stored[1].uuid is not None
    assert store.get_message("s1", stored[1].uuid).content == "message 2"
    with pytest.raises(NotFoundError):
        store.get_message("s1", str(uuid.uuid4()))
    with pytest.raises(NotFoundError):
        store.get_message("other", stored[1].uuid)
    with pytest.raises(InvalidInputError):
        store.get_message("s1", "garbage")


def test_update_message_metadata_merges_and_keeps_tokens(store: MemoryStore) -> None:
    stored = store.add_memory(
        "s1",
        [Message(role="Jane", content="hi", metadata={"a": {"b": 1}, "system": {"intent": "x"}})],
    )
    message_uuid = stored[0].uuid
    assert message_uuid is not None
    before = store.get_message("s1", message_uuid)
    after = store.update_message_metadata(
        "s1", message_uuid, {"a": {"c": 2}, "reviewed": "yes", "system": {"intent": "evil"}}
    )
    assert after.metadata == {"a": {"b": 1, "c": 2}, "reviewed": "yes", "system": {"intent": "x"}}
    assert after.token_count == before.token_count > 0
    assert after.content == "hi"
    with pytest.raises(NotFoundError):
        store.update_message_metadata("s1", str(uuid.uuid4()), {"a": 1})


def test_delete_message(store: MemoryStore) -> None:
    stored = store.add_memory("s1", numbered(3))
    middle = stored[1].uuid
    assert middle is not None
    store.delete_message("s1", middle)
    assert contents(store.list_messages("s1").messages) == ["message 1", "message 3"]
    with pytest.raises(NotFoundError):
        store.get_message("s1", middle)
    with pytest.raises(NotFoundError):
        store.delete_message("s1", middle)
    info = store.session_page().sessions[0]
    assert info.message_count == 2
    assert info.total_tokens == stored[0].token_count + stored[2].token_count


# --- import --------------------------------------------------------------------------


def test_import_sessions_is_idempotent(store: MemoryStore) -> None:
    ids = [str(uuid.uuid4()) for _ in range(3)]
    batch = [
        SessionImport(
            session_id="imported",
            user_id="jane",
            metadata={"source": "test"},
            messages=[
                Message(uuid=i, role="Jane", role_type=RoleType.user, content=f"m{n}")
                for n, i in enumerate(ids)
            ],
        )
    ]
    first = store.import_sessions(batch)
    assert (first.users_created, first.sessions_created, first.messages_added) == (1, 1, 3)
    second = store.import_sessions(batch)
    assert (second.sessions_created, second.sessions_updated) == (0, 1)
    assert (second.messages_added, second.messages_skipped) == (0, 3)
    assert store.list_messages("imported").total_count == 3
    assert store.get_session("imported").user_id == "jane"


def test_summaries_carried_by_an_import_are_stored_before_the_store_summarises(
    store_factory: StoreFactory,
) -> None:
    store = store_factory(message_window=12)
    history = [
        Message(uuid=str(uuid.uuid4()), role="Jane", content=f"message {n}") for n in range(30)
    ]
    carried = SummaryInfo(
        summary=Summary(
            uuid=str(uuid.uuid4()),
            created_at=datetime(2024, 5, 1, tzinfo=UTC),
            content="What another store made of the first 24 messages.",
            token_count=11,
            recent_message_uuid=history[23].uuid or "",
        ),
        first_message_uuid=history[0].uuid,
        message_count=24,
    )
    batch = [SessionImport(session_id="s1", messages=history, summaries=[carried])]
    assert store.import_sessions(batch).summaries_imported == 1
    # The 6 messages after it are within the window: the store made nothing of its own.
    assert store.list_summaries("s1") == [carried]
    assert store.import_sessions(batch).summaries_imported == 0


def test_token_counts_carried_by_an_import_are_checked(store: MemoryStore) -> None:
    history = [say(f"message {n}: what the weather is like in Lisbon") for n in range(100)]
    claimed = [m.model_copy(update={"token_count": 3}) for m in history]  # all wrong
    store.import_sessions([SessionImport(session_id="s1", messages=claimed)], counted=True)
    stored = store.list_messages("s1", limit=100).messages
    assert [m.token_count for m in stored] == [
        len(encoding().encode_ordinary(f"Jane: {m.content}")) for m in history
    ]
    assert store.session_page().sessions[0].total_tokens == sum(m.token_count for m in stored)


def test_import_is_all_or_nothing(store: MemoryStore) -> None:
    def sessions() -> Iterator[SessionImport]:
        yield SessionImport(session_id="first", messages=numbered(3))
        raise ValueError("broken record")

    with pytest.raises(ValueError, match="broken record"):
        store.import_sessions(sessions())
    with pytest.raises(NotFoundError):
        store.get_session("first")
    assert store.stats().messages == 0


def test_stats_and_purge(store: MemoryStore) -> None:
    store.add_memory("s1", numbered(3))
    store.add_memory("s2", numbered(2))
    stats = store.stats()
    assert (stats.sessions, stats.messages) == (2, 5)
    store.delete_session("s2")
    assert store.stats().messages == 3
    removed = store.purge()
    assert (removed.sessions, removed.messages) == (1, 2)
    assert store.purge().total == 0


def test_message_position(store: MemoryStore) -> None:
    stored = store.add_memory("s1", numbered(7))
    assert [store.message_position("s1", m.uuid or "") for m in stored] == list(range(7))
    assert stored[2].uuid is not None
    store.delete_message("s1", stored[2].uuid)
    assert store.message_position("s1", stored[3].uuid or "") == 2
    with pytest.raises(NotFoundError):
        store.message_position("s1", stored[2].uuid)
    with pytest.raises(NotFoundError):
        store.message_position("s1", str(uuid.uuid4()))
