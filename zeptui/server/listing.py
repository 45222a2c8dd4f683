"""JSON responses, and long lists streamed a chunk at a time.

A list that may be long (every session, every user, a session's whole history) is
read from the store `CHUNK` items at a time and written out as it is read, so its
length never decides how much memory a request holds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
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


def chunks(
    fetch: Callable[[int, int], Sequence[Item]], limit: int | None, offset: int
) -> Iterator[Sequence[Item]]:
    """`limit` items (None or 0: all) from `offset`, as the `fetch(limit, offset)`
    calls of at most CHUNK items that read them."""
    wanted = limit or None
    while wanted is None or wanted > 0:
        size = CHUNK if wanted is None else min(CHUNK, wanted)
        chunk = fetch(size, offset)
        yield chunk
        if len(chunk) < size:
            return
        offset += len(chunk)
        if wanted is not None:
            wanted -= len(chunk)


def _encoded(batches: Iterable[Sequence[BaseModel]], opening: bytes) -> Iterator[bytes]:
    """The items of `batches` as the pieces of a JSON array's body after `opening`,
    a piece a batch: Starlette takes each piece of a sync iterator on a worker thread
    and sends it on its own (a piece an item cost the server about a quarter of a
    millisecond each)."""
    first = True
    for batch in batches:
        if batch:
            items = b",".join(item.model_dump_json().encode() for item in batch)
            yield opening + (b"" if first else b",") + items
            opening, first = b"", False
    if opening:
        yield opening


def list_response(
    fetch: Callable[[int, int], Sequence[Item]], limit: int | None, offset: int
) -> Response:
    """A JSON array of `limit` items from `offset`: in one piece when it fits one
    chunk, else streamed."""
    if limit and limit <= CHUNK:
        return json_response(fetch(limit, offset))

    def body() -> Iterator[bytes]:
        yield from _encoded(chunks(fetch, limit, offset), b"[")
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

    sent = 0

    def listings() -> Iterator[list[Message]]:
        nonlocal sent
        listing, page_number, start, left = first, number + 1, skip, limit or None
        while True:
            batch = listing.messages[start:] if left is None else listing.messages[start:][:left]
            sent += len(batch)
            yield batch
            if left is not None:
                left -= len(batch)
            if left == 0 or len(listing.messages) < CHUNK:
                return
            page_number, start = page_number + 1, 0
            listing = fetch(CHUNK, page_number)

    def body() -> Iterator[bytes]:
        yield from _encoded(listings(), b'{"messages":[')
        yield f'],"total_count":{first.total_count},"row_count":{sent}}}'.encode()

    return StreamingResponse(body(), media_type="application/json")
