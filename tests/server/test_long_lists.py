"""Lists longer than one chunk are streamed, and still exactly Zep's pages."""

from __future__ import annotations

import asyncio
import json

import httpx
from starlette.types import ASGIApp
from starlette.types import Message as Message_

from storage.models import CreateSessionRequest, Message
from tests.server.conftest import Served
from zeptui.server import create_app
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
    # Each chunk read from the store goes out as one piece of the body, not a piece
    # an item: Starlette takes each piece on a worker thread and sends it alone.
    app = create_app(served.store)
    for path, read in [
        ("/api/v2/sessions", lambda body: [s["session_id"] for s in body]),
        ("/api/v2/sessions/s0000/messages", lambda body: [m["content"] for m in body["messages"]]),
    ]:
        pieces = asyncio.run(_body_pieces(app, path))
        assert len(pieces) <= count // CHUNK + 2, path  # the chunks, and the closing
        assert len(read(json.loads(b"".join(pieces)))) == count, path


async def _body_pieces(app: ASGIApp, path: str) -> list[bytes]:
    """The pieces of the body `app` sends for a GET of `path`."""
    pieces: list[bytes] = []
    requests = [{"type": "http.request", "body": b"", "more_body": False}]

    async def receive() -> Message_:
        if requests:
            return requests.pop()
        await asyncio.sleep(60)  # (the client stays; the app stops waiting once it sent all)
        return {"type": "http.disconnect"}

    async def send(message: Message_) -> None:
        if message["type"] == "http.response.body" and message.get("body"):
            pieces.append(message["body"])

    scope = {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"test")],
        "client": ("127.0.0.1", 1),
        "server": ("127.0.0.1", 80),
    }
    await app(scope, receive, send)
    return pieces
