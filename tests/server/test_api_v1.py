"""`/api/v1` as zep-python 1.5.0 and LangChain's Zep memory call it.

zep-python 1.5.0 needs an older httpx than 2.0.0rc6, so it cannot share this
environment: these tests send the exact requests its source makes (`zep_python/
{memory,message,user}/client.py` at tag v1.5.0: ids unencoded, `.dict(exclude_none=True)`
bodies, search bodies with explicit nulls, `?limit=&cursor=` on user lists) and check
what it reads back. docs/zep-compatibility.md says how to run the real SDK.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from packaging.version import Version

from tests.server.conftest import OTHER_KEY, Served, ServeFactory


@pytest.fixture
def v1(served: Served) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served.url + "/api/v1", timeout=10) as client:
        yield client


def test_health_check_passes_the_version_check(served: Served) -> None:
    response = httpx.get(served.url + "/healthz")
    assert (response.status_code, response.text) == (200, ".")
    # 1.5.0 parses the part before "-" and warns below 0.21.0.
    assert Version(response.headers["X-Zep-Version"].split("-")[0]) >= Version("0.21.0")


def test_langchain_chat_history_sequence(v1: httpx.Client) -> None:
    """ZepChatMessageHistory: memory of a new session, add_user/ai_message, search, clear."""
    first = v1.get("/sessions/lc-1/memory")
    assert (first.status_code, first.json()["messages"]) == (200, [])
    for role, content, metadata in [
        ("human", "Who was Octavia Butler?", None),
        ("ai", "An American science fiction author.", {"source": "wiki"}),
    ]:
        message = {"role": role, "content": content}
        if metadata is not None:
            message["metadata"] = metadata
        added = v1.post("/sessions/lc-1/memory", json={"messages": [message]})
        assert (added.status_code, added.text) == (200, "OK")
    memory = v1.get("/sessions/lc-1/memory").json()
    assert [(m["role"], m["content"]) for m in memory["messages"]] == [
        ("human", "Who was Octavia Butler?"),
        ("ai", "An American science fiction author."),
    ]
    assert memory["messages"][1]["metadata"] == {"source": "wiki"}
    assert all(m["token_count"] > 0 and m["uuid"] for m in memory["messages"])
    payload = {
        "text": "science fiction",
        "metadata": None,
        "search_scope": "messages",
        "search_type": "similarity",
        "mmr_lambda": None,
    }
    results = v1.post("/sessions/lc-1/search", json=payload).json()
    assert results[0]["message"]["content"] == "An American science fiction author."
    assert 0 < results[0]["dist"] <= 1 and results[0]["embedding"] is None
    cleared = v1.delete("/sessions/lc-1/memory")
    assert (cleared.status_code, cleared.text) == (200, "OK")
    assert v1.delete("/sessions/lc-1/memory").status_code == 404


def test_unknown_sessions_answer_as_v0_27_2(v1: httpx.Client) -> None:
    assert v1.get("/sessions/nope/memory").json() == {
        "messages": [],
        "summary": None,
        "facts": None,
        "metadata": None,
    }
    assert v1.get("/sessions/nope/messages", params={"limit": 10, "cursor": 1}).json() == {
        "messages": [],
        "total_count": 0,
        "row_count": 0,
    }
    assert v1.post("/sessions/nope/search", json={"text": "x"}).json() == []
    assert v1.get("/sessions/nope").status_code == 404
    assert v1.get("/user/nobody/sessions").json() == []


def test_sessions_messages_and_users(v1: httpx.Client) -> None:
    created = v1.post("/user", json={"user_id": "jane", "email": "jane@example.com"})
    assert created.status_code == 201 and created.json()["user_id"] == "jane"
    session = v1.post(
        "/sessions", json={"session_id": "s1", "user_id": "jane", "metadata": {"foo": "bar"}}
    )
    assert session.status_code == 201 and session.json()["metadata"] == {"foo": "bar"}
    patched = v1.patch("/sessions/s1", json={"session_id": "s1", "metadata": {"qax": "baz"}})
    assert patched.json()["metadata"] == {"foo": "bar", "qax": "baz"}
    messages = [{"role": "human", "content": f"line {number}"} for number in range(3)]
    assert v1.post("/sessions/s1/memory", json={"messages": messages}).text == "OK"

    listing = v1.get("/sessions/s1/messages", params={"limit": 2, "cursor": 2}).json()
    assert (listing["total_count"], listing["row_count"]) == (3, 1)
    assert [m["content"] for m in listing["messages"]] == ["line 2"]
    every = v1.get("/sessions/s1/messages").json()  # no parameters: every message
    assert [m["content"] for m in every["messages"]] == ["line 0", "line 1", "line 2"]
    uuid = every["messages"][0]["uuid"]
    assert v1.get(f"/sessions/s1/messages/{uuid}").json()["content"] == "line 0"
    updated = v1.patch(f"/sessions/s1/messages/{uuid}", json={"metadata": {"foo": "bar"}})
    assert updated.json()["metadata"] == {"foo": "bar"}
    assert [m["content"] for m in v1.get("/sessions/s1/memory?lastn=1").json()["messages"]] == [
        "line 2"
    ]

    users = v1.get("/user", params={"limit": None, "cursor": None})  # sends ?limit=&cursor=
    assert users.url.query == b"limit=&cursor="
    assert [u["user_id"] for u in users.json()] == ["jane"]
    renamed = v1.patch("/user/jane", json={"user_id": "jane", "first_name": "Janet"})
    assert renamed.json()["first_name"] == "Janet"
    assert [s["session_id"] for s in v1.get("/user/jane/sessions").json()] == ["s1"]
    deleted = v1.delete("/user/jane")
    assert (deleted.status_code, deleted.text) == (200, "OK")
    assert v1.get("/user/jane").status_code == 404


def test_list_all_sessions_pages_by_offset(v1: httpx.Client) -> None:
    for number in range(5):
        v1.post("/sessions", json={"session_id": f"s{number}"})
    seen, cursor = [], None
    for _ in range(10):  # 1.5.0's list_all_sessions: no cursor, then 0+chunk, ...
        params = {"limit": 2} if cursor is None else {"limit": 2, "cursor": cursor}
        page = v1.get("/sessions", params=params).json()
        if not page:
            break
        seen += [s["session_id"] for s in page]
        cursor = (cursor or 0) + 2
    assert seen == [f"s{number}" for number in range(5)]


def test_ids_are_not_encoded_by_1_5_0(v1: httpx.Client) -> None:
    # 1.5.0 puts ids in the path as they are: httpx then encodes a space, keeps a plus.
    for session_id in ["a b", "a+b", "é café"]:
        added = v1.post(
            f"/sessions/{session_id}/memory",
            json={"messages": [{"role": "human", "content": "hello"}]},
        )
        assert added.text == "OK"
        assert v1.get(f"/sessions/{session_id}").json()["session_id"] == session_id


def test_bearer_key(serve: ServeFactory) -> None:
    served = serve(api_key=OTHER_KEY)
    url = served.url + "/api/v1/sessions"
    assert httpx.get(url, headers={"Authorization": f"Bearer {OTHER_KEY}"}).status_code == 200
    assert httpx.get(url).status_code == 401
    assert httpx.get(served.url + "/healthz").text == "."
