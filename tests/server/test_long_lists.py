"""Lists longer than one chunk are streamed, and still exactly Zep's pages."""

from __future__ import annotations

import httpx

from storage.models import CreateSessionRequest, Message
from tests.server.conftest import Served
from zeptui.server.listing import CHUNK


def test_long_lists_stream_whole_and_exact(served: Served) -> None:
    count = 2 * CHUNK + 37
    for number in range(count):
        served.store.add_session(CreateSessionRequest(session_id=f"s{number:04}"))
    served.store.add_memory("s0000", [Message(role="u", content=f"m{n}") for n in range(count)])
    names = [f"s{number:04}" for number in range(count)]
    with httpx.Client(base_url=served.url + "/api/v2") as client:
        assert [s["session_id"] for s in client.get("/sessions").json()] == names
        page = client.get("/sessions", params={"limit": CHUNK + 50, "cursor": 30}).json()
        assert [s["session_id"] for s in page] == names[30 : 30 + CHUNK + 50]
        every = client.get("/sessions/s0000/messages", params={"limit": "", "cursor": ""}).json()
        assert [m["content"] for m in every["messages"]] == [f"m{n}" for n in range(count)]
        assert (every["total_count"], every["row_count"]) == (count, count)
        size = CHUNK + 7
        second = client.get("/sessions/s0000/messages", params={"limit": size, "cursor": 2})
        wanted = [f"m{n}" for n in range(size, min(2 * size, count))]
        assert [m["content"] for m in second.json()["messages"]] == wanted
        assert second.json()["row_count"] == len(wanted)
