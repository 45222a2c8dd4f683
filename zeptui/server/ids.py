"""Ids in request paths, decoded from the raw path as each SDK generation encodes them.

zep-python 2.0.0rc6 encodes ids with `quote_plus` (a raw `+` is a space) except on
session PATCH, which uses `quote` (a space is `%20`, a `+` is `%2B`); both decode
right with `unquote_plus`. zep-python 1.5.0 does not encode ids at all, so on
`/api/v1` a raw `+` is a plus: `unquote`. Frameworks decode `%2F` before routing, so
`routing_path` keeps every segment encoded for the router, and the handlers decode.
"""

from __future__ import annotations

from urllib.parse import quote_from_bytes, unquote, unquote_plus

from storage import limits
from zeptui.server.errors import ApiError

_ROUTING_SAFE = "/%:@!$&'()*+,;="
"""Bytes kept as they are in the routing path; everything else is percent-encoded."""

_TRAVERSAL = {".", ".."}


def routing_path(raw_path: bytes) -> str:
    """The path the router matches: ASCII, every segment still percent-encoded.

    ApiError 400 for a `.` or `..` segment: clients normalise those away, so a path
    that still has one was written by hand to climb out of the API.
    """
    path = quote_from_bytes(raw_path, safe=_ROUTING_SAFE)
    for segment in path.split("/"):
        if unquote(segment) in _TRAVERSAL:
            raise ApiError(400, "the path has a '.' or '..' segment")
    return path


def decode_id(segment: str, what: str, *, plus_is_space: bool) -> str:
    """An id from one raw path segment: percent-decoded (and `+` as a space when the
    client encodes with `quote_plus`), valid UTF-8, within the store's limits.

    Parts of the id between slashes that are `.` or `..` are refused: a client that
    does not encode ids (zep-python 1.5.0) could never address such an id.
    """
    try:
        decode = unquote_plus if plus_is_space else unquote
        value = decode(segment, encoding="utf-8", errors="strict")
    except UnicodeDecodeError:
        raise ApiError(400, f"{what} in the path is not valid UTF-8") from None
    try:
        limits.check_id(value, what)
    except limits.LimitError as error:
        raise ApiError(400, str(error)) from None
    if any(part in _TRAVERSAL for part in value.split("/")):
        raise ApiError(400, f"{what} {value!r} has a '.' or '..' part between slashes")
    return value
