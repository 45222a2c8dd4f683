"""Contract: the store keeps exactly what it was given, and nothing moves by accident.

Message uuids belong to one session; soft-deleted messages come back when the same
message is imported again; role types are never null; a deleted user's sessions go
with the user; purges remove only what they name.
"""

from __future__ import annotations

import uuid

import pytest

from storage.errors import ConflictError, NotFoundError
from storage.models import (
    CreateSessionRequest,
    CreateUserRequest,
    MemoryType,
    Message,
    RoleType,
    SearchQuery,
    SessionImport,
    SessionQuery,
)
from storage.store import MemoryStore


def message(content: str, message_uuid: str | None = None, **fields: object) -> Message:
    return Message(
        uuid=message_uuid, role="Jane", role_type=RoleType.user, content=content, **fields
    )  # type: ignore[arg-type]


def contents(store: MemoryStore, session_id: str) -> list[str]:
    return [m.content for m in store.list_messages(session_id, limit=0).messages]


# --- a message uuid belongs to one session ---------------------------------------------


def test_a_uuid_stored_in_another_session_is_a_conflict_not_a_silent_drop(
    store: MemoryStore,
) -> None:
    shared = str(uuid.uuid4())
    store.add_memory("A", [message("in A", shared)])
    with pytest.raises(ConflictError, match=rf"{shared}.*'A'"):
        store.add_memory("B", [message("in B", shared)])
    with pytest.raises(NotFoundError):
        store.get_session("B")  # nothing of the failed add was written
    assert contents(store, "A") == ["in A"]


def test_the_same_message_added_again_to_its_session_is_skipped(store: MemoryStore) -> None:
    known = str(uuid.uuid4())
    store.add_memory("A", [message("once", known)])
    assert store.add_memory("A", [message("once", known), message("new")])[0].content == "new"
    assert contents(store, "A") == ["once", "new"]


def test_an_import_conflict_names_the_uuid_and_the_session_that_holds_it(
    store: MemoryStore,
) -> None:
    shared = str(uuid.uuid4())
    store.add_memory("A", [message("in A", shared)])
    with pytest.raises(ConflictError, match=rf"{shared}.*'A'"):
        store.import_sessions([SessionImport(session_id="B", messages=[message("x", shared)])])
    with pytest.raises(NotFoundError):
        store.get_session("B")


def test_import_conflicts_can_be_skipped_and_reported(store: MemoryStore) -> None:
    shared = str(uuid.uuid4())
    store.add_memory("A", [message("in A", shared)])
    conflicts: list[ConflictError] = []
    result = store.import_sessions(
        [SessionImport(session_id="B", messages=[message("x", shared), message("kept")])],
        on_conflict=conflicts.append,
    )
    assert result.messages_added == 1
    assert contents(store, "B") == ["kept"]
    assert len(conflicts) == 1 and shared in str(conflicts[0])


def test_one_uuid_twice_in_one_import_in_two_sessions_is_a_conflict(store: MemoryStore) -> None:
    shared = str(uuid.uuid4())
    with pytest.raises(ConflictError, match=shared):
        store.import_sessions(
            [
                SessionImport(session_id="A", messages=[message("a", shared)]),
                SessionImport(session_id="B", messages=[message("b", shared)]),
            ]
        )


# --- restoring what was soft-deleted -----------------------------------------------------


def test_reimporting_a_deleted_session_restores_its_messages(store: MemoryStore) -> None:
    history = [message(f"m{n}", str(uuid.uuid4())) for n in range(5)]
    store.import_sessions([SessionImport(session_id="A", messages=history)])
    store.delete_session("A")
    result = store.import_sessions([SessionImport(session_id="A", messages=history)])
    assert result.messages_restored == 5
    assert result.messages_added == 0
    assert contents(store, "A") == [f"m{n}" for n in range(5)]
    info = store.session_page(SessionQuery()).sessions[0]
    assert info.message_count == 5
    assert info.total_tokens == sum(m.token_count for m in store.list_messages("A").messages)
    assert [r.message.content for r in store.search(SearchQuery(text="m3")) if r.message] == ["m3"]


def test_adding_a_deleted_message_again_restores_it_in_place(store: MemoryStore) -> None:
    stored = store.add_memory("A", [message("one"), message("two"), message("three")])
    gone = stored[1]
    assert gone.uuid is not None
    store.delete_message("A", gone.uuid)
    assert contents(store, "A") == ["one", "three"]
    store.add_memory("A", [message("two", gone.uuid)])
    assert contents(store, "A") == ["one", "two", "three"]


# --- role types -------------------------------------------------------------------------


def test_a_message_without_a_role_type_is_norole_everywhere(store: MemoryStore) -> None:
    stored = store.add_memory("A", [Message(role="narrator", content="no role type")])
    assert stored[0].role_type is RoleType.norole
    assert store.get_memory("A", MemoryType.perpetual).messages[0].role_type is RoleType.norole
    assert store.list_messages("A").messages[0].role_type is RoleType.norole
    store.import_sessions(
        [SessionImport(session_id="B", messages=[Message(role="x", content="imported")])]
    )
    dumped = store.get_memory("B").model_dump(mode="json")
    assert dumped["messages"][0]["role_type"] == "norole"


# --- users ------------------------------------------------------------------------------


def test_a_deleted_users_sessions_never_pass_to_a_new_user_of_that_id(
    store: MemoryStore,
) -> None:
    store.add_user(CreateUserRequest(user_id="jane"))
    store.add_session(CreateSessionRequest(session_id="s1", user_id="jane"))
    store.add_memory("s1", [message("private")])
    assert store.delete_user("jane") == 1
    store.add_user(CreateUserRequest(user_id="jane"))
    assert store.get_user_sessions("jane") == []
    store.add_memory("s1", [message("the session comes back")])  # undeleted by an add
    assert store.get_session("s1").user_id is None
    assert store.get_user_sessions("jane") == []
    assert contents(store, "s1") == ["the session comes back"]


# --- purge ------------------------------------------------------------------------------


def test_purging_one_session_leaves_other_deleted_data(store: MemoryStore) -> None:
    store.add_memory("keep-deleted", [message("a"), message("b")])
    store.add_memory("purge-me", [message("c")])
    stored = store.add_memory("live", [message("d"), message("e")])
    store.delete_session("keep-deleted")
    store.delete_session("purge-me")
    assert stored[0].uuid is not None
    store.delete_message("live", stored[0].uuid)

    preview = store.purge(["purge-me"], dry_run=True)
    assert (preview.sessions, preview.messages) == (1, 1)
    assert store.purge(["purge-me"]) == preview
    with pytest.raises(ConflictError):  # still there, deleted
        store.add_session(CreateSessionRequest(session_id="keep-deleted"))
    store.add_session(CreateSessionRequest(session_id="purge-me"))  # gone for good

    live = store.purge(["live"])  # a live session: its deleted messages only
    assert (live.sessions, live.messages) == (0, 1)
    assert contents(store, "live") == ["e"]

    everything = store.purge(dry_run=True)
    assert (everything.sessions, everything.messages) == (1, 2)
    assert store.purge() == everything
    assert store.purge().total == 0


def test_purging_an_unknown_session_fails(store: MemoryStore) -> None:
    with pytest.raises(NotFoundError):
        store.purge(["nope"])


# --- unknown ids and titles -------------------------------------------------------------


def test_search_in_an_unknown_session_is_not_found(store: MemoryStore) -> None:
    store.add_memory("A", [message("hello")])
    with pytest.raises(NotFoundError, match="nope"):
        store.search(SearchQuery(text="hello", session_id="nope"))


def test_the_session_filter_matches_titles(store: MemoryStore) -> None:
    store.add_session(CreateSessionRequest(session_id="c-1", metadata={"title": "Trip to Kyoto"}))
    store.add_session(CreateSessionRequest(session_id="c-2", metadata={"title": "Taxes"}))
    page = store.session_page(SessionQuery(text="kyoto"))
    assert [info.session.session_id for info in page.sessions] == ["c-1"]


# --- the reserved `system` key ------------------------------------------------------------


def test_an_import_into_an_existing_session_cannot_touch_system(store: MemoryStore) -> None:
    first = {"system": {"intent": "kept"}, "topic": "a"}
    store.import_sessions([SessionImport(session_id="s", metadata=first)])
    assert store.get_session("s").metadata == first  # stored as given on create
    again = {"system": {"intent": "overwritten", "extra": 1}, "topic": "b"}
    store.import_sessions([SessionImport(session_id="s", metadata=again)])
    assert store.get_session("s").metadata == {"system": {"intent": "kept"}, "topic": "b"}
    # The same within one import: the first mention creates, the next ones update.
    store.import_sessions(
        [
            SessionImport(session_id="t", metadata={"system": {"v": 1}}),
            SessionImport(session_id="t", metadata={"system": {"v": 2}, "x": 1}),
        ]
    )
    assert store.get_session("t").metadata == {"system": {"v": 1}, "x": 1}
