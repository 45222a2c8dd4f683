"""zep-python 2.0.0rc6, unchanged, against `zeptui serve`: a realistic scenario.

Sessions made by adding memory and explicitly, users and their sessions, the three
memory types with and without `lastn`, message pages and metadata updates, search,
deletes, 404s and ids that need encoding, with and without an API key.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Iterator

import pytest
from zep_python import ZepClient
from zep_python.exceptions import AuthError, NotFoundError
from zep_python.memory import Memory, MemorySearchPayload, Session
from zep_python.message import Message
from zep_python.user import CreateUserRequest, UpdateUserRequest

from tests.server.conftest import API_KEY, OTHER_KEY, Served, ServeFactory

AWKWARD_IDS = ["a b", "a+b", "a/b", "a%2Fb", "100% sure?", "é café", "🙂 emoji", "x&y=z#w"]


@pytest.fixture
def client(served: Served) -> Iterator[ZepClient]:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the version header must not make the SDK warn
        zep = ZepClient(api_url=served.url)
    yield zep
    zep.close()


def _chat(*lines: tuple[str, str, str]) -> Memory:
    return Memory(
        messages=[Message(role=role, role_type=kind, content=text) for role, kind, text in lines]
    )


def test_memory_round_trip_in_order_with_roles_and_nested_metadata(client: ZepClient) -> None:
    sent = [
        Message(
            role="Jane",
            role_type="user",
            content="Who was Octavia Butler?",
            metadata={"foo": "bar", "nested": {"n": 1, "tags": ["a", "b"]}},
        ),
        Message(role="HistoryBot", role_type="assistant", content="An American author."),
        # The v2 docs' own example leaves role_type out: it is served as norole.
        Message(role="Jane", content="Which books became films?"),
    ]
    assert client.memory.add_memory("chat-1", Memory(messages=sent)) == '{"message":"OK"}'
    memory = client.memory.get_memory("chat-1")
    assert [(m.role, m.role_type.value, m.content) for m in memory.messages] == [
        ("Jane", "user", "Who was Octavia Butler?"),
        ("HistoryBot", "assistant", "An American author."),
        ("Jane", "norole", "Which books became films?"),
    ]
    assert memory.messages[0].metadata == {"foo": "bar", "nested": {"n": 1, "tags": ["a", "b"]}}
    assert all(m.uuid and m.created_at and (m.token_count or 0) > 0 for m in memory.messages)
    first_uuids = [m.uuid for m in memory.messages]

    client.memory.add_memory("chat-1", _chat(("Jane", "user", "And her last novel?")))
    again = client.memory.get_memory("chat-1", memory_type="message_window")
    assert [m.uuid for m in again.messages][:3] == first_uuids
    assert len(again.messages) == 4
    assert client.memory.get_session("chat-1").session_id == "chat-1"


def test_memory_types_lastn_and_summaries(client: ZepClient) -> None:
    for number in range(14):
        role, kind = ("Ana", "user") if number % 2 == 0 else ("Bot", "assistant")
        client.memory.add_memory(
            "long", _chat((role, kind, f"Message number {number} about the harbour."))
        )
    perpetual = client.memory.get_memory("long", memory_type="perpetual")
    window = client.memory.get_memory("long", memory_type="message_window")
    retriever = client.memory.get_memory("long", memory_type="summary_retriever")
    # Window 12: the first summary covers messages 0-5; memory holds what follows it.
    assert perpetual.summary is not None and perpetual.summary.content
    assert window.messages[0].content == "Message number 6 about the harbour."
    assert len(window.messages) == len(retriever.messages) == 8
    assert perpetual.facts == [] and window.facts is None
    last_two = client.memory.get_memory("long", lastn=2)
    assert [m.content for m in last_two.messages] == [
        "Message number 12 about the harbour.",
        "Message number 13 about the harbour.",
    ]
    # rc6 sends lastn=0 as it is: it means "not given".
    assert len(client.memory.get_memory("long", lastn=0).messages) == 8


def test_message_pages_one_message_and_metadata_merge(client: ZepClient) -> None:
    client.memory.add_memory(
        "paged", _chat(*[("u", "user", f"line {number}") for number in range(5)])
    )
    page_one = client.message.get_session_messages("paged", limit=2, cursor=1)
    page_three = client.message.get_session_messages("paged", limit=2, cursor=3)
    assert [m.content for m in page_one] == ["line 0", "line 1"]
    assert [m.content for m in page_three] == ["line 4"]
    uuid = page_one[1].uuid
    assert uuid is not None
    assert client.message.get_session_message("paged", uuid).content == "line 1"
    client.message.update_message_metadata("paged", uuid, {"metadata": {"a": {"b": 1}}})
    merged = client.message.update_message_metadata(
        "paged", uuid, {"metadata": {"a": {"c": 2}, "system": {"x": 1}}}
    )
    assert merged.metadata == {"a": {"b": 1, "c": 2}}
    assert client.message.get_session_message("paged", uuid).metadata == {"a": {"b": 1, "c": 2}}
    assert merged.token_count == page_one[1].token_count


def test_users_and_their_sessions(client: ZepClient) -> None:
    for number in range(5):
        client.user.add(
            CreateUserRequest(
                user_id=f"user-{number}",
                email=f"{number}@x.org",
                first_name="Jane",
                metadata={"plan": "free"},
            )
        )
    updated = client.user.update(
        UpdateUserRequest(user_id="user-1", last_name="Doe", metadata={"tier": {"level": 2}})
    )
    assert (updated.first_name, updated.last_name) == ("Jane", "Doe")
    assert updated.metadata == {"plan": "free", "tier": {"level": 2}}
    assert client.user.get("user-1").email == "1@x.org"
    chunks = list(client.user.list_chunked(chunk_size=2))
    assert [u.user_id for chunk in chunks for u in chunk] == [f"user-{n}" for n in range(5)]
    assert [u.user_id for u in client.user.list(limit=2, cursor=2)] == ["user-2", "user-3"]

    session = client.memory.add_session(
        Session(session_id="trip", user_id="user-1", metadata={"topic": "travel", "level": 1})
    )
    assert (session.user_id, session.metadata) == ("user-1", {"topic": "travel", "level": 1})
    changed = client.memory.update_session(
        Session(session_id="trip", metadata={"level": 2, "mood": "happy"})
    )
    assert changed.metadata == {"topic": "travel", "level": 2, "mood": "happy"}
    assert [s.session_id for s in client.user.get_sessions("user-1")] == ["trip"]
    assert client.user.get_sessions("user-2") == []

    client.user.delete("user-1")
    with pytest.raises(NotFoundError):
        client.user.get("user-1")
    with pytest.raises(NotFoundError):
        client.memory.get_session("trip")
    client.user.add(CreateUserRequest(user_id="user-1"))
    assert client.user.get_sessions("user-1") == []


def test_session_lists_page_and_end(client: ZepClient) -> None:
    names = [f"s-{number:02}" for number in range(7)]
    for name in names:
        client.memory.add_session(Session(session_id=name))
    chunks = list(client.memory.list_all_sessions(chunk_size=3))
    assert [len(chunk) for chunk in chunks] == [3, 3, 1]
    assert [s.session_id for chunk in chunks for s in chunk] == names
    assert [s.session_id for s in client.memory.list_sessions(limit=2, cursor=4)] == names[4:6]
    assert len(client.memory.list_sessions()) == 7


def test_search_finds_a_unique_word_and_respects_limit(client: ZepClient) -> None:
    client.memory.add_memory(
        "searchable",
        _chat(
            ("Ana", "user", "I want to visit Lisbon in spring."),
            ("Bot", "assistant", "Lisbon is lovely; try the tram."),
            ("Ana", "user", "Any quokka sightings nearby?"),
        ),
    )
    found = client.memory.search_memory("searchable", MemorySearchPayload(text="quokka"))
    assert [r.message.content for r in found if r.message] == ["Any quokka sightings nearby?"]
    assert all(r.score is not None and 0 < r.score <= 1 for r in found)
    assert (
        len(client.memory.search_memory("searchable", MemorySearchPayload(text="lisbon"), limit=1))
        == 1
    )


def test_deletes_and_404s(client: ZepClient) -> None:
    client.memory.add_memory("doomed", _chat(("u", "user", "hello")))
    assert client.memory.delete_memory("doomed") == '{"message":"OK"}'
    missing_calls = [
        lambda: client.memory.get_memory("doomed"),
        lambda: client.memory.get_session("never"),
        lambda: client.memory.update_session(Session(session_id="never", metadata={"a": 1})),
        lambda: client.memory.get_memory("never"),
        lambda: client.memory.delete_memory("never"),
        lambda: client.memory.delete_memory("doomed"),
        lambda: client.message.get_session_messages("never"),
        lambda: client.memory.search_memory("never", MemorySearchPayload(text="x")),
        lambda: client.user.get("nobody"),
        lambda: client.user.get_sessions("nobody"),
    ]
    for call in missing_calls:
        with pytest.raises(NotFoundError):
            call()
    client.memory.add_memory("kept", _chat(("u", "user", "hello")))
    with pytest.raises(NotFoundError):
        client.message.get_session_message("kept", "00000000-0000-4000-8000-000000000000")
    # Adding memory again brings a deleted session back, without its old messages.
    client.memory.add_memory("doomed", _chat(("u", "user", "back")))
    assert [m.content for m in client.memory.get_memory("doomed").messages] == ["back"]


def test_awkward_ids_round_trip(client: ZepClient) -> None:
    for session_id in AWKWARD_IDS:
        _round_trip(client, session_id)


def _round_trip(client: ZepClient, session_id: str) -> None:
    client.memory.add_memory(session_id, _chat(("u", "user", "hi harbour")))
    assert client.memory.get_session(session_id).session_id == session_id
    # PATCH is the one call rc6 encodes with quote, not quote_plus.
    updated = client.memory.update_session(Session(session_id=session_id, metadata={"k": 1}))
    assert (updated.session_id, updated.metadata) == (session_id, {"k": 1})
    message = client.memory.get_memory(session_id).messages[0]
    assert message.uuid is not None
    assert client.message.get_session_message(session_id, message.uuid).content == "hi harbour"
    assert client.message.get_session_messages(session_id)[0].uuid == message.uuid
    assert client.memory.search_memory(session_id, MemorySearchPayload(text="harbour"))
    client.user.add(CreateUserRequest(user_id=session_id))
    assert client.user.get(session_id).user_id == session_id
    client.memory.delete_memory(session_id)
    with pytest.raises(NotFoundError):
        client.memory.get_session(session_id)
    assert session_id not in [s.session_id for s in client.memory.list_sessions()]


def test_async_methods(client: ZepClient) -> None:
    async def scenario() -> None:
        await client.memory.aadd_memory("async", _chat(("u", "user", "async hello")))
        memory = await client.memory.aget_memory("async", memory_type="perpetual", lastn=1)
        assert [m.content for m in memory.messages] == ["async hello"]
        assert await client.memory.adelete_memory("async") == '{"message":"OK"}'
        with pytest.raises(NotFoundError):
            await client.memory.aget_memory("async")
        await client.aclose()

    asyncio.run(scenario())


@pytest.mark.parametrize("key", [API_KEY, OTHER_KEY], ids=["Api-Key", "Bearer"])
def test_with_an_api_key(serve: ServeFactory, key: str) -> None:
    served = serve(api_key=key)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        right = ZepClient(api_url=served.url, api_key=key)
    right.memory.add_memory("keyed", _chat(("u", "user", "secret")))
    assert [m.content for m in right.memory.get_memory("keyed").messages] == ["secret"]
    wrong = ZepClient(api_url=served.url, api_key=key + "x")
    with pytest.raises(AuthError) as raised:
        wrong.memory.get_session("keyed")
    assert key not in str(raised.value)
    with pytest.raises(AuthError):
        ZepClient(api_url=served.url).memory.get_session("keyed")
    with pytest.raises(AuthError):
        wrong.user.list()
