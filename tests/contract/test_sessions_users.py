"""Contract: users and sessions (create, read, merge, delete, list)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from storage.errors import ConflictError, InvalidInputError, NotFoundError
from storage.models import (
    CreateSessionRequest,
    CreateUserRequest,
    Message,
    RoleType,
    SessionImport,
    SessionOrder,
    SessionQuery,
    UpdateUserRequest,
)
from storage.store import MemoryStore


def say(content: str, role: str = "Jane", role_type: RoleType = RoleType.user) -> Message:
    return Message(role=role, role_type=role_type, content=content)


# --- users ---------------------------------------------------------------------------


def test_add_and_get_user(store: MemoryStore) -> None:
    created = store.add_user(
        CreateUserRequest(
            user_id="jane", email="jane@example.com", first_name="Jane", metadata={"plan": "free"}
        )
    )
    assert created.user_id == "jane"
    assert created.id >= 1
    fetched = store.get_user("jane")
    assert fetched.model_dump() == created.model_dump()
    assert fetched.email == "jane@example.com"
    assert fetched.metadata == {"plan": "free"}


def test_duplicate_user_is_a_conflict(store: MemoryStore) -> None:
    store.add_user(CreateUserRequest(user_id="jane"))
    with pytest.raises(ConflictError, match="jane"):
        store.add_user(CreateUserRequest(user_id="jane"))


def test_unknown_user_is_not_found(store: MemoryStore) -> None:
    with pytest.raises(NotFoundError):
        store.get_user("nobody")
    with pytest.raises(NotFoundError):
        store.update_user("nobody", UpdateUserRequest(first_name="X"))
    with pytest.raises(NotFoundError):
        store.delete_user("nobody")


def test_update_user_sets_given_fields_and_merges_metadata_with_system(
    store: MemoryStore,
) -> None:
    store.add_user(
        CreateUserRequest(user_id="jane", first_name="Jane", last_name="Doe", metadata={"a": 1})
    )
    updated = store.update_user(
        "jane",
        UpdateUserRequest(first_name="Janet", last_name="", metadata={"b": 2, "system": {"x": 1}}),
    )
    assert updated.first_name == "Janet"
    assert updated.last_name == "Doe"  # empty strings do not overwrite
    # User updates are privileged in Zep: `system` is kept.
    assert updated.metadata == {"a": 1, "b": 2, "system": {"x": 1}}
    assert updated.updated_at >= updated.created_at


def test_list_users_pages_by_offset(store: MemoryStore) -> None:
    for index in range(5):
        store.add_user(CreateUserRequest(user_id=f"u{index}"))
    assert [u.user_id for u in store.list_users()] == ["u0", "u1", "u2", "u3", "u4"]
    assert [u.user_id for u in store.list_users(limit=2)] == ["u0", "u1"]
    assert [u.user_id for u in store.list_users(limit=2, cursor=2)] == ["u2", "u3"]
    assert [u.user_id for u in store.list_users(limit=2, cursor=4)] == ["u4"]
    assert store.list_users(limit=2, cursor=6) == []


def test_delete_user_soft_deletes_their_sessions(store: MemoryStore) -> None:
    store.add_user(CreateUserRequest(user_id="jane"))
    store.add_session(CreateSessionRequest(session_id="s1", user_id="jane"))
    store.add_session(CreateSessionRequest(session_id="other"))
    assert [s.session_id for s in store.get_user_sessions("jane")] == ["s1"]
    store.delete_user("jane")
    with pytest.raises(NotFoundError):
        store.get_user("jane")
    with pytest.raises(NotFoundError):
        store.get_session("s1")
    assert store.get_session("other").session_id == "other"
    assert store.get_user_sessions("jane") == []


def test_a_deleted_users_id_makes_a_new_user(store: MemoryStore) -> None:
    store.add_user(CreateUserRequest(user_id="jane", first_name="Jane"))
    store.add_user(CreateUserRequest(user_id="sam"))
    store.add_session(CreateSessionRequest(session_id="s1", user_id="jane"))
    store.delete_user("jane")
    with pytest.raises(NotFoundError):
        store.update_user("jane", UpdateUserRequest(first_name="X"))
    with pytest.raises(NotFoundError):
        store.delete_user("jane")
    again = store.add_user(CreateUserRequest(user_id="jane"))
    assert again.first_name is None
    assert [user.user_id for user in store.list_users()] == ["sam", "jane"]
    assert store.get_user_sessions("jane") == []  # the old sessions stay with the old user


def test_user_sessions_of_unknown_user_is_empty(store: MemoryStore) -> None:
    assert store.get_user_sessions("nobody") == []


# --- sessions ------------------------------------------------------------------------


def test_add_session_and_get_it(store: MemoryStore) -> None:
    store.add_user(CreateUserRequest(user_id="jane"))
    created = store.add_session(
        CreateSessionRequest(session_id="chat-42", user_id="jane", metadata={"topic": "travel"})
    )
    assert created.session_id == "chat-42"
    assert created.user_id == "jane"
    assert created.metadata == {"topic": "travel"}
    assert created.deleted_at is None
    assert store.get_session("chat-42").model_dump() == created.model_dump()


def test_add_session_rules(store: MemoryStore) -> None:
    store.add_session(CreateSessionRequest(session_id="s1"))
    with pytest.raises(ConflictError):
        store.add_session(CreateSessionRequest(session_id="s1"))
    with pytest.raises(InvalidInputError, match="ghost"):
        store.add_session(CreateSessionRequest(session_id="s2", user_id="ghost"))
    with pytest.raises(NotFoundError):
        store.get_session("s2")  # nothing was written
    with pytest.raises(InvalidInputError):
        store.add_session(CreateSessionRequest.model_construct(session_id="  "))


def test_add_session_conflicts_with_a_soft_deleted_one(store: MemoryStore) -> None:
    store.add_session(CreateSessionRequest(session_id="s1"))
    store.delete_session("s1")
    with pytest.raises(ConflictError):
        store.add_session(CreateSessionRequest(session_id="s1"))
    store.purge()
    assert store.add_session(CreateSessionRequest(session_id="s1")).session_id == "s1"


def test_update_session_deep_merges_and_drops_system(store: MemoryStore) -> None:
    store.add_session(
        CreateSessionRequest(
            session_id="s1", metadata={"A": 1, "B": {"C": 2}, "system": {"kept": True}}
        )
    )
    updated = store.update_session(
        "s1", {"A": 3, "B": {"D": 4}, "gone": None, "system": {"evil": 1}}
    )
    assert updated.metadata == {
        "A": 3,
        "B": {"C": 2, "D": 4},
        "gone": None,
        "system": {"kept": True},
    }
    assert store.get_session("s1").metadata == updated.metadata


def test_update_session_without_metadata_bumps_updated_at_only(store: MemoryStore) -> None:
    created = store.add_session(CreateSessionRequest(session_id="s1", metadata={"a": 1}))
    updated = store.update_session("s1", None)
    assert updated.metadata == {"a": 1}
    assert updated.updated_at >= created.updated_at


def test_update_session_undeletes(store: MemoryStore) -> None:
    store.add_memory("s1", [Message(role="Jane", role_type=RoleType.user, content="hello")])
    store.delete_session("s1")
    with pytest.raises(NotFoundError):
        store.get_session("s1")
    store.update_session("s1", {"back": True})
    assert store.get_session("s1").metadata == {"back": True}
    # Messages deleted before the undelete stay deleted.
    assert store.list_messages("s1").messages == []


def test_update_unknown_session_is_not_found(store: MemoryStore) -> None:
    with pytest.raises(NotFoundError):
        store.update_session("nope", {"a": 1})


def test_delete_session_hides_it_and_its_memory(store: MemoryStore) -> None:
    store.add_memory("s1", [say("hello there")])
    store.delete_session("s1")
    with pytest.raises(NotFoundError):
        store.get_session("s1")
    with pytest.raises(NotFoundError):
        store.get_memory("s1")
    with pytest.raises(NotFoundError):
        store.delete_session("s1")  # a second delete is a 404 in Zep
    assert store.session_page().sessions == []


def _seed_sessions(store: MemoryStore) -> None:
    store.add_user(CreateUserRequest(user_id="jane"))
    store.add_user(CreateUserRequest(user_id="bob"))
    plan = [
        ("alpha", "jane", {"channel": "web", "tier": {"level": "gold"}}, 3),
        ("beta", "bob", {"channel": "sms"}, 1),
        ("gamma", "jane", {"channel": "web"}, 5),
        ("delta", None, None, 2),
    ]
    base = datetime(2024, 5, 1, tzinfo=UTC)
    for index, (session_id, user_id, metadata, count) in enumerate(plan):
        store.import_sessions(
            [
                SessionImport(
                    session_id=session_id,
                    user_id=user_id,
                    metadata=metadata,
                    created_at=base + timedelta(days=index),
                )
            ]
        )
        store.add_memory(session_id, [say(f"{session_id} message {n}") for n in range(count)])


def test_list_sessions_with_aggregates(store: MemoryStore) -> None:
    _seed_sessions(store)
    page = store.session_page()
    assert [info.session.session_id for info in page.sessions] == [
        "alpha",
        "beta",
        "gamma",
        "delta",
    ]
    assert page.total_count == 4
    assert page.next_cursor is None
    alpha = page.sessions[0]
    assert alpha.message_count == 3
    assert alpha.total_tokens == sum(m.token_count for m in store.list_messages("alpha").messages)
    assert alpha.last_activity >= alpha.session.created_at


def test_list_sessions_sorts(store: MemoryStore) -> None:
    _seed_sessions(store)

    def ids(order: SessionOrder, descending: bool = False) -> list[str]:
        page = store.session_page(SessionQuery(order_by=order, descending=descending))
        return [info.session.session_id for info in page.sessions]

    assert ids(SessionOrder.message_count, descending=True) == ["gamma", "alpha", "delta", "beta"]
    assert ids(SessionOrder.created) == ["alpha", "beta", "gamma", "delta"]
    assert ids(SessionOrder.created, descending=True) == ["delta", "gamma", "beta", "alpha"]
    assert ids(SessionOrder.activity, descending=True)[0] == "delta"


def test_list_sessions_filters(store: MemoryStore) -> None:
    _seed_sessions(store)

    def ids(**filters: object) -> list[str]:
        page = store.session_page(SessionQuery(**filters))  # type: ignore[arg-type]
        return [info.session.session_id for info in page.sessions]

    assert ids(user_id="jane") == ["alpha", "gamma"]
    assert ids(metadata={"channel": "web"}) == ["alpha", "gamma"]
    assert ids(metadata={"tier.level": "gold"}) == ["alpha"]
    assert ids(metadata={"channel": "web", "tier.level": "silver"}) == []
    assert ids(created_after=datetime(2024, 5, 2, tzinfo=UTC)) == ["beta", "gamma", "delta"]
    assert ids(
        created_after=datetime(2024, 5, 2, tzinfo=UTC),
        created_before=datetime(2024, 5, 3, tzinfo=UTC),
    ) == ["beta"]
    assert ids(text="AMM") == ["gamma"]
    assert ids(text="bob") == ["beta"]


def test_list_sessions_pages_with_cursor(store: MemoryStore) -> None:
    _seed_sessions(store)
    seen: list[str] = []
    cursor: int | None = 0
    pages = 0
    while cursor is not None and pages < 10:
        page = store.session_page(SessionQuery(limit=3, cursor=cursor))
        assert page.total_count == 4
        seen += [info.session.session_id for info in page.sessions]
        cursor = page.next_cursor
        pages += 1
    assert seen == ["alpha", "beta", "gamma", "delta"]
    assert pages == 2
    empty = store.session_page(SessionQuery(limit=3, cursor=10))
    assert empty.sessions == []
    assert empty.total_count == 4
