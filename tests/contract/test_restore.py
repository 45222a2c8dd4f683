"""Contract: soft deletes undone (`Restoring`) and users listed with their session
counts (`UserPages`), on every store (a remote one through `zeptui serve`)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from storage.capabilities import MessageDeletion, Restoring, SessionPages, UserPages, offered
from storage.errors import ConflictError, NotFoundError
from storage.models import (
    CreateSessionRequest,
    CreateUserRequest,
    Message,
    SearchQuery,
    SessionQuery,
)
from storage.store import MemoryStore
from tests.contract.conftest import StoreFactory


class Clock:
    """A clock that moves one second per reading: every write has its own instant."""

    def __init__(self) -> None:
        self.now = datetime(2024, 5, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(seconds=1)
        return self.now


FullStore = Any
"""A store with every capability (MemoryStore, Restoring, UserPages, SessionPages, ...)."""


@pytest.fixture
def local(store_factory: StoreFactory) -> FullStore:
    store = store_factory(message_window=4, clock=Clock())
    for capability in (Restoring, UserPages, SessionPages, MessageDeletion):
        assert offered(store, capability) is store
    return store


def talk(store: MemoryStore, session_id: str, count: int = 6) -> list[Message]:
    return store.add_memory(
        session_id,
        [Message(role="ana", content=f"{session_id} word{n} kiwi") for n in range(count)],
    )


def found(store: MemoryStore, session_id: str) -> int:
    return len(store.search(SearchQuery(text="kiwi", session_id=session_id, limit=50)))


def test_a_session_comes_back_with_what_was_deleted_with_it(local: FullStore) -> None:
    messages = talk(local, "s")
    summaries = [info.summary.uuid for info in local.list_summaries("s")]
    assert summaries  # six messages over a window of four
    before = local.session_page(SessionQuery()).sessions[0]
    assert messages[0].uuid is not None
    local.delete_message("s", messages[0].uuid)  # deleted before: stays deleted
    local.delete_session("s")
    deleted = local.deleted_session_page(SessionQuery())
    assert [info.session.session_id for info in deleted.sessions] == ["s"]
    assert deleted.sessions[0].message_count == 5  # what restoring brings back
    assert local.session_page(SessionQuery()).total_count == 0

    local.restore_session("s")
    assert [m.uuid for m in local.list_messages("s").messages] == [m.uuid for m in messages[1:]]
    assert [info.summary.uuid for info in local.list_summaries("s")] == summaries
    after = local.session_page(SessionQuery()).sessions[0]
    assert after.message_count == 5
    assert after.total_tokens == before.total_tokens - (messages[0].token_count or 0)
    assert found(local, "s") == 5
    assert local.deleted_session_page(SessionQuery()).total_count == 0
    with pytest.raises(ConflictError, match="not deleted"):
        local.restore_session("s")
    with pytest.raises(NotFoundError):
        local.restore_session("never")


def test_deleted_sessions_are_filtered_like_live_ones(local: FullStore) -> None:
    local.add_user(CreateUserRequest(user_id="ana"))
    for name, user in [("a", "ana"), ("b", None), ("c", "ana")]:
        local.add_session(CreateSessionRequest(session_id=name, user_id=user))
        local.delete_session(name)
    page = local.deleted_session_page(SessionQuery(user_id="ana", order_by="created"))
    assert [info.session.session_id for info in page.sessions] == ["a", "c"]
    assert page.sessions[0].session.deleted_at is not None
    page = local.deleted_session_page(SessionQuery(limit=1, text="b"))
    assert [info.session.session_id for info in page.sessions] == ["b"]


def test_a_message_comes_back_into_its_session(local: FullStore) -> None:
    messages = talk(local, "s", count=2)
    uuid = messages[1].uuid
    assert uuid is not None
    local.delete_message("s", uuid)
    local.restore_message("s", uuid)
    assert local.get_message("s", uuid).content == messages[1].content
    assert local.session_page(SessionQuery()).sessions[0].message_count == 2
    assert found(local, "s") == 2
    with pytest.raises(ConflictError, match="not deleted"):
        local.restore_message("s", uuid)
    with pytest.raises(NotFoundError):
        local.restore_message("s", "00000000-0000-4000-8000-000000000000")


ANA = "ana+/ü x"
"""A user id with what paths encode (and the server decodes)."""


def test_a_user_comes_back_with_the_sessions_deleted_with_it(local: FullStore) -> None:
    local.add_user(CreateUserRequest(user_id=ANA, email="ana@example.com"))
    for name in ("one/1 x", "two", "gone-before"):
        local.add_session(CreateSessionRequest(session_id=name, user_id=ANA))
        talk(local, name, count=2)
    local.delete_session("gone-before")
    assert local.delete_user(ANA) == 2
    assert local.restore_user(ANA) == 2
    assert local.get_user(ANA).email == "ana@example.com"
    assert [s.session_id for s in local.get_user_sessions(ANA)] == ["one/1 x", "two"]
    assert found(local, "one/1 x") == 2
    with pytest.raises(NotFoundError):
        local.get_session("gone-before")
    with pytest.raises(ConflictError, match="not deleted"):
        local.restore_user(ANA)
    with pytest.raises(NotFoundError):
        local.restore_user("nobody")


def test_a_user_created_again_ends_the_restore(local: FullStore) -> None:
    local.add_user(CreateUserRequest(user_id="ana"))
    local.add_session(CreateSessionRequest(session_id="old", user_id="ana"))
    local.delete_user("ana")
    local.add_user(CreateUserRequest(user_id="ana"))
    with pytest.raises(ConflictError):
        local.restore_user("ana")
    assert local.get_user_sessions("ana") == []


def test_users_are_paged_with_their_session_counts(local: FullStore) -> None:
    for n in range(5):
        local.add_user(CreateUserRequest(user_id=f"user{n}", first_name="Ana" if n == 3 else None))
    for name, user in [("a", "user1"), ("b", "user1"), ("c", "user3"), ("d", "user3")]:
        local.add_session(CreateSessionRequest(session_id=name, user_id=user))
    local.delete_session("d")
    local.delete_user("user4")
    page = local.user_page(limit=2, cursor=1)
    assert [(info.user.user_id, info.session_count) for info in page.users] == [
        ("user1", 2),
        ("user2", 0),
    ]
    assert (page.total_count, page.next_cursor) == (4, 3)
    last = local.user_page(limit=2, cursor=3)
    assert [(info.user.user_id, info.session_count) for info in last.users] == [("user3", 1)]
    assert last.next_cursor is None
    named = local.user_page(text="ANA")
    assert [info.user.user_id for info in named.users] == ["user3"]
    assert local.user_page(text="nobody").total_count == 0
