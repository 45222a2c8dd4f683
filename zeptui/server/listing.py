"""JSON responses, and long lists streamed a chunk at a time.

A list that may be long (every session, every user, a session's whole history) is
read from the store `CHUNK` items at a time and written out as it is read, so its
length never decides how much memory a request holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter
from starlette.responses import Response, StreamingResponse

from storage.models import Message, MessageListResponse

CHUNK = 100
"""Items read from the store at once for a streamed list."""

Item = TypeVar("Item", bound=BaseModel)


def json_response(value: BaseModel | Sequence[BaseModel], status_code: int = 200) -> Response:
    """`value` as JSON, serialised by pydantic (FastAPI's own encoder is slower)."""
    body: str | bytes
    if isinstance(value, BaseModel):
        body = value.model_dump_json()
    else:
        body = _list_adapter(type(value[0]) if value else BaseModel).dump_json(list(value))
    return Response(body, status_code=status_code, media_type="application/json")


@cache
def _list_adapter(kind: type[BaseModel]) -> TypeAdapter[list[Any]]:
    return TypeAdapter(list[kind])  # type: ignore[valid-type]


def pages(
    fetch: Callable[[int, int], Sequence[Item]], limit: int | None, offset: int
) -> Iterator[Item]:
    """`limit` items (None or 0: all) from `offset`, fetched as `fetch(limit, offset)`
    calls of at most CHUNK items."""
    wanted = limit or None
    while wanted is None or wanted > 0:
        size = CHUNK if wanted is None else min(CHUNK, wanted)
        chunk = fetch(size, offset)
        yield from chunk
        if len(chunk) < size:
            return
        offset += len(chunk)
        if wanted is not None:
            wanted -= len(chunk)


def _encoded(items: Iterator[BaseModel]) -> Iterator[bytes]:
    for number, item in enumerate(items):
        yield (b"," if number else b"") + item.model_dump_json().encode()


def list_response(
    fetch: Callable[[int, int], Sequence[Item]], limit: int | None, offset: int
) -> Response:
    """A JSON array of `limit` items from `offset`: in one piece when it fits one
    chunk, else streamed."""
    if limit and limit <= CHUNK:
        return json_response(fetch(limit, offset))

    def body() -> Iterator[bytes]:
        yield b"["
        yield from _encoded(pages(fetch, limit, offset))
        yield b"]"

    return StreamingResponse(body(), media_type="application/json")


def message_list_response(
    fetch: Callable[[int, int], MessageListResponse], limit: int, page: int
) -> Response:
    """Zep's message list (`limit` 0: every message; `page` counts from 1), with
    `total_count` and `row_count`; a long one streamed.

    `fetch(size, number)` is the store's `list_messages` page `number` of `size`."""
    if 0 < limit <= CHUNK:
        return json_response(fetch(limit, page))
    offset = (max(page, 1) - 1) * limit
    number, skip = divmod(offset, CHUNK)
    first = fetch(CHUNK, number + 1)  # an unknown session raises before anything is sent

    def history() -> Iterator[Message]:
        listing, page_number, start, left = first, number + 1, skip, limit or None
        while True:
            batch = listing.messages[start:] if left is None else listing.messages[start:][:left]
            yield from batch
            if left is not None:
                left -= len(batch)
            if left == 0 or len(listing.messages) < CHUNK:
                return
            page_number, start = page_number + 1, 0
            listing = fetch(CHUNK, page_number)

    def body() -> Iterator[bytes]:
        count = 0
        yield b'{"messages":['
        for message in history():
            yield (b"," if count else b"") + message.model_dump_json().encode()
            count += 1
        yield f'],"total_count":{first.total_count},"row_count":{count}}}'.encode()

    return StreamingResponse(body(), media_type="application/json")
