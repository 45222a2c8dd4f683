"""Shared plumbing for JSON/JSONL importers: which files are JSONL, their records as
(location, value) pairs, and turning records into sessions (the reading itself, as it
goes, is `_jsonstream`)."""

from __future__ import annotations

import itertools
import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import ValidationError

from storage import limits
from storage.models import Message, SessionImport, validation_message
from zeptui.importers import ImportFileError, ReadContext, os_reason
from zeptui.importers._jsonstream import (
    NOTHING,
    Lazy,
    Where,
    elements,
    fail,
    is_list,
    json_document,
    jsonl_records,
    whole,
)
from zeptui.importers._sessions import SessionParts, in_parts

JSONL_SUFFIXES = {".jsonl", ".ndjson"}

T = TypeVar("T")


def type_name(value: Any) -> str:
    """`a string`, `a list`, ... for error messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    return "an object"


def json_text(head: bytes) -> bytes | None:
    """`head` without BOM and leading blanks if it starts like JSON, else None."""
    text = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    return text if text.startswith((b"{", b"[")) else None


def has_key(head: bytes, pattern: bytes) -> bool:
    """Whether `head` has a JSON key matching `pattern` (a regex alternative list)."""
    return re.search(rb'"(?:' + pattern + rb')"\s*:', head) is not None


FIRST_LINE_LIMIT = 16 << 20
"""`is_jsonl` parses a first line up to this long; a longer one followed by more lines
counts as JSONL (a JSON document spread over lines has no such line)."""


def is_jsonl(path: Path) -> bool:
    """JSONL by suffix, or when the first non-blank line is a whole JSON value followed by
    more lines (JSONL saved as `.json`). Reads in bounded pieces: a one-line JSON
    document of any size is never held in memory here."""
    if path.suffix.lower() in JSONL_SUFFIXES:
        return True
    try:
        with path.open("rb") as file:
            first, cut = b"", False
            while not first.strip():
                first, cut = _read_line(file)
                if not first:
                    return False  # empty file
            if not _more_text(file):
                return False
    except OSError as exc:
        raise ImportFileError(path, None, os_reason(exc)) from exc
    if cut:
        return True
    try:
        json.loads(first.decode("utf-8-sig"))
    except RecursionError:
        return True  # one value on the line, too deep to decode: JSONL, rejected later
    except (UnicodeDecodeError, json.JSONDecodeError):
        return False
    return True


def _read_line(file: IO[bytes]) -> tuple[bytes, bool]:
    """The next line, kept up to FIRST_LINE_LIMIT bytes (the rest is skipped), and
    whether it was cut."""
    line = file.readline(FIRST_LINE_LIMIT)
    cut = bool(line) and not line.endswith(b"\n") and len(line) == FIRST_LINE_LIMIT
    if cut:
        while (piece := file.readline(FIRST_LINE_LIMIT)) and not piece.endswith(b"\n"):
            pass
    return line, cut


def _more_text(file: IO[bytes]) -> bool:
    """Whether anything but blanks follows, read in bounded pieces."""
    while piece := file.read(1 << 16):
        if piece.strip():
            return True
    return False


class Items:
    """A JSON array read as it goes: its (location, item) pairs, items possibly `Lazy`."""

    def __init__(self, pairs: Iterator[tuple[Where, Any]]) -> None:
        self.pairs = pairs

    def __iter__(self) -> Iterator[tuple[Where, Any]]:
        return self.pairs


def records(
    path: Path,
    context: ReadContext | None = None,
    *,
    one_session: Callable[[Any], bool] | None = None,
    wrapper: str | None = None,
) -> Iterator[tuple[Where, Any, str]]:
    """(location, record, default session id) for each record of a JSON or JSONL file,
    read as it goes; a record is decoded whole (one longer than MAX_RECORD_CHARACTERS
    goes to `context.reject`).

    JSONL: each line, with id `<base>:<line>`. JSON: each item of a top-level list
    (`<base>:<index>`), each item of the list in a top-level `{wrapper: [...]}` object
    (the same ids), or a top-level object (`<base>`). When `one_session(first item)`
    (`NOTHING` for an empty list) says a top-level list is one record (a bare list of
    messages), that record is an `Items` stream over the list. Lines that are not
    JSON and broken JSON are handled as `jsonl_records` and `json_document` say.
    """
    context = context or ReadContext()
    base = stem(path, context)
    if is_jsonl(path):
        for where, record in jsonl_records(path, context):
            yield where, record, f"{base}:{where.line}"
        return
    with json_document(path, context) as root:
        if is_list(root):
            pairs = elements(root, Where())
            first = next(pairs, None)
            pairs = itertools.chain([first] if first is not None else [], pairs)
            if one_session is not None and one_session(NOTHING if first is None else first[1]):
                yield Where(), Items(pairs), base
                return
            items: Iterable[tuple[Where, Any]] = pairs
        elif isinstance(root, Lazy):
            items = _members_or_wrapped(root, wrapper)
        else:
            raise fail(path, Where(), f"expected a JSON object or list, got {type_name(root)}")
        for index, (where, value) in enumerate(items):
            try:
                record = whole(value)
            except ImportFileError as error:
                context.reject(error)
                continue
            yield where, record, base if where.record is None else f"{base}:{index}"


def _members_or_wrapped(root: Lazy, wrapper: str | None) -> Iterator[tuple[Where, Any]]:
    """The items of the object's `wrapper` list if it has one, else the object itself
    (as one record, `Where()`)."""
    document: dict[str, Any] = {}
    for key, where, value in root.members():
        if key == wrapper and is_list(value):
            yield from elements(value, where)
            return  # the other members are left unread
        document[key] = whole(value)
    if root.stream.broken is None:
        yield Where(), document


def record_id(
    path: Path, record: dict[str, Any], keys: Sequence[str], where: Where, default: str
) -> str:
    """The first of `keys` the record has (a string or number, as a string), else
    `default`: a source's own id for a session."""
    for key in keys:
        value = record.get(key)
        if value is None or value == "":
            continue
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise fail(path, where, f"{key} must be a string or number, got {type_name(value)}")
        return str(value)
    return default


def required_list(path: Path, record: dict[str, Any], key: str, where: Where) -> list[Any]:
    """`record[key]`, which must be a list: `expected a KEY list, got no KEY` otherwise."""
    value = record.get(key)
    if not isinstance(value, list):
        got = f"no {key}" if value is None else f"{key} is {type_name(value)}"
        raise fail(path, where, f"expected a {key} list, got {got}")
    return value


def convert_each(
    path: Path,
    context: ReadContext | None,
    items: Iterable[tuple[Where, Any, str]],
    convert: Callable[[Any, Where, str], SessionImport | Iterable[SessionImport] | None],
) -> Iterator[SessionImport]:
    """The sessions of `convert(record, where, default_id)` for each item: a whole
    session (handed on in parts, see `_sessions.in_parts`), parts it yields as it reads,
    or None (nothing to import). A record it rejects with ImportFileError, or whose
    values break the store's limits (a ValidationError), goes to `context.reject`
    (skipped with `skip_invalid`; parts already handed on stay)."""
    context = context or ReadContext()
    for where, record, default_id in items:
        try:
            converted = convert(record, where, default_id)
            if isinstance(converted, SessionImport):
                converted = in_parts(converted)
            yield from converted or ()
        except ImportFileError as error:
            context.reject(error)
        except ValidationError as error:
            context.reject(fail(path, where, validation_message(error)))


def streamed_session(
    path: Path,
    context: ReadContext,
    head: SessionImport,
    items: Iterable[tuple[Where, Any]],
    build: Callable[[Any, Where, int], Message | None],
) -> Iterator[SessionImport]:
    """A session whose messages are read as they go (`build(item, where, index)` makes
    each, None to leave it out), handed on in parts; a message `build` rejects is left
    out alone (see `or_reject`)."""
    parts = SessionParts(head)
    for index, (where, item) in enumerate(items):
        message = or_reject(path, context, where, partial(build, item, where, index))
        if message is not None and (full := parts.add(message)) is not None:
            yield full
    yield from parts.end()


def or_reject(path: Path, context: ReadContext, where: Where, build: Callable[[], T]) -> T | None:
    """`build()`, or None when it rejects its input with ImportFileError or breaks the
    store's limits (a ValidationError): then the error, at `where`, goes to
    `context.reject`. For one message of a session that is kept without it."""
    try:
        return build()
    except ImportFileError as error:
        context.reject(error)
    except ValidationError as error:
        context.reject(fail(path, where, validation_message(error)))
    return None


def stem(path: Path, context: ReadContext | None = None) -> str:
    """The base of synthesized session ids: `context.id_base`, else the file's stem."""
    if context is not None and context.id_base:
        return context.id_base
    return path.stem or path.name


def iso_time(path: Path, value: str, key: str, where: Where) -> datetime:
    """An ISO 8601 time as an aware UTC datetime (naive times are UTC); ImportFileError
    if it is none, or out of the store's range (years 1 to 9999 in UTC)."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(path, where, f"{key} is not an ISO 8601 time: {value!r}") from None
    try:
        checked = limits.check_timestamp(parsed, key)
    except limits.LimitError as error:
        raise fail(path, where, str(error)) from None
    assert checked is not None
    return checked


def optional_str(path: Path, record: dict[str, Any], key: str, where: Where) -> str | None:
    """`record[key]` if it is a string, None if absent/null; ImportFileError otherwise."""
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise fail(path, where, f"{key} must be a string, got {type_name(value)}")
    return value
