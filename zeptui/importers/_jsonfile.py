"""Shared plumbing for JSON/JSONL importers: reading, streaming, and exact error locations."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from pydantic import ValidationError

from storage.limits import MAX_METADATA_DEPTH
from storage.models import validation_message
from zeptui.importers import ImportFileError, ReadContext, os_reason

if TYPE_CHECKING:
    from storage.models import SessionImport

JSONL_SUFFIXES = {".jsonl", ".ndjson"}


@dataclass(frozen=True)
class Where:
    """Where a value sits: a line (JSONL, 1-based) and/or a JSON path such as `[2].messages[0]`."""

    line: int | None = None
    record: str | None = None

    def child(self, key: str) -> Where:
        """The location of `key` (`.name` or `[i]`) inside this one."""
        record = f"{self.record}{key}" if self.record else key.lstrip(".")
        return Where(self.line, record)


TOO_DEEP = f"nested too deep to read (metadata may be at most {MAX_METADATA_DEPTH} levels deep)"


def fail(path: Path, where: Where, reason: str) -> ImportFileError:
    """An ImportFileError for `path` at `where`."""
    return ImportFileError(path, where.line, reason, record=where.record)


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


def load_json(path: Path) -> Any:
    """The whole file as one JSON value; errors name the line. (A top-level array is
    better read by `stream_json_array`, which also keeps the complete records of a
    file that is cut short.)"""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ImportFileError(path, None, os_reason(exc)) from exc
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportFileError(path, line, "not UTF-8 text") from exc
    try:
        return json.loads(text)
    except RecursionError:
        raise ImportFileError(path, None, TOO_DEEP) from None
    except json.JSONDecodeError as exc:
        reason = f"invalid JSON: {exc.msg} (column {exc.colno})"
        if exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string"):
            reason = "truncated JSON: the file ends in the middle of a value"
        raise ImportFileError(path, exc.lineno, reason) from exc


_NUMBER_CHARACTERS = frozenset("0123456789.eE+-")


class _ArrayStream:
    """A file's top-level JSON array, decoded an item at a time from a window of the
    file that is refilled as needed, so memory is bounded by the largest item."""

    CHUNK = 1 << 20

    def __init__(self, path: Path, file: IO[str]) -> None:
        self.path = path
        self.file = file
        self.buffer = ""
        self.position = 0
        self.line = 1  # the line of buffer[0] ...
        self.column = 0  # ... and how many characters of that line came before it
        self.eof = False
        self.decoder = json.JSONDecoder()

    def fill(self, at_least: int = 0) -> bool:
        """Read at least `at_least` (and at least CHUNK) more characters; False at the end."""
        if self.eof:
            return False
        if self.position > self.CHUNK:  # forget what was decoded
            done = self.buffer[: self.position]
            newline = done.rfind("\n")
            self.line += done.count("\n")
            self.column = len(done) - newline - 1 if newline >= 0 else self.column + len(done)
            self.buffer = self.buffer[self.position :]
            self.position = 0
        try:
            more = self.file.read(max(self.CHUNK, at_least))
        except UnicodeDecodeError as exc:
            line = self.where(len(self.buffer))[0]
            raise ImportFileError(self.path, line, "not UTF-8 text") from exc
        except OSError as exc:
            raise ImportFileError(self.path, None, os_reason(exc)) from exc
        if not more:
            self.eof = True
            return False
        self.buffer += more
        return True

    def where(self, position: int) -> tuple[int, int]:
        """(line, column), 1-based, of `buffer[position]` in the file."""
        newline = self.buffer.rfind("\n", 0, position)
        line = self.line + self.buffer.count("\n", 0, position)
        column = position - newline if newline >= 0 else self.column + position + 1
        return line, column

    def peek(self) -> str:
        """The next non-blank character (not consumed), or "" at the end of the file."""
        while True:
            self.position = _skip_blanks(self.buffer, self.position)
            if self.position < len(self.buffer):
                return self.buffer[self.position]
            if not self.fill():
                return ""

    def item(self) -> Any:
        """Decode the value at the position (JSONDecodeError if it is broken or cut
        short by the end of the file)."""
        wanted = 0
        while True:
            try:
                item, end = self.decoder.raw_decode(self.buffer, self.position)
            except json.JSONDecodeError:
                # Perhaps only incomplete: read (twice as much each time) and retry.
                wanted = max(wanted * 2, len(self.buffer) - self.position)
                if self.fill(wanted):
                    continue
                raise
            if self._cut_number(item, end) and self.fill():
                continue  # a number at the window's edge may go on in the next chunk
            self.position = end
            return item

    def _cut_number(self, item: Any, end: int) -> bool:
        """Whether `item` is a number that may continue past the window (`12` of `12.5`)."""
        if isinstance(item, bool) or not isinstance(item, int | float) or self.eof:
            return False
        return end >= len(self.buffer) or self.buffer[end] in _NUMBER_CHARACTERS

    def error(self, message: str) -> json.JSONDecodeError:
        return json.JSONDecodeError(message, self.buffer, self.position)


def stream_json_array(path: Path, context: ReadContext | None) -> Iterator[Any] | None:
    """Each item of the file's top-level JSON array, decoded one at a time (memory
    bounded by the largest item, not by the file), or None if the file does not hold
    an array. A file cut short (a truncated download) or broken part-way yields its
    complete items, then its error, which says how many there were, goes to
    `context.reject`: raised, or with `skip_invalid` listed and the items kept."""
    try:
        file = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        raise ImportFileError(path, None, os_reason(exc)) from exc
    stream = _ArrayStream(path, file)
    try:
        is_array = stream.peek() == "["
    except BaseException:
        file.close()
        raise
    if not is_array:
        file.close()
        return None
    stream.position += 1
    return _array_items(stream, context or ReadContext())


def _array_items(stream: _ArrayStream, context: ReadContext) -> Iterator[Any]:
    count = 0
    with stream.file:
        try:
            if stream.peek() == "]":
                stream.position += 1
            else:
                while True:
                    if stream.peek() == "":
                        raise stream.error("Expecting value")
                    item = stream.item()
                    after = stream.peek()
                    if after not in (",", "]"):
                        raise stream.error("Expecting ',' delimiter")
                    yield item
                    count += 1
                    stream.position += 1
                    if after == "]":
                        break
            if stream.peek() != "":
                raise stream.error("Extra data")
        except RecursionError:
            line, _ = stream.where(stream.position)
            context.reject(
                ImportFileError(
                    stream.path, line, f"{TOO_DEEP}; {count:,} complete records before it"
                )
            )
        except json.JSONDecodeError as exc:
            line, column = stream.where(exc.pos)
            cut = exc.pos >= len(stream.buffer.rstrip()) or exc.msg.startswith("Unterminated")
            if stream.eof and cut:
                reason = "truncated JSON: the file ends in the middle of a value"
            else:
                reason = f"invalid JSON: {exc.msg} (column {column})"
            context.reject(
                ImportFileError(
                    stream.path, line, f"{reason}; {count:,} complete records before it recovered"
                )
            )


def _skip_blanks(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def jsonl_records(path: Path, context: ReadContext | None = None) -> Iterator[tuple[Where, Any]]:
    """Each non-blank line's JSON value, streamed, with its line number. A line that is
    not JSON goes to `context.reject` (skipped with `skip_invalid`, else raised)."""
    context = context or ReadContext()
    try:
        file = path.open("rb")
    except OSError as exc:
        raise ImportFileError(path, None, os_reason(exc)) from exc
    with file:
        try:
            for number, raw in enumerate(file, start=1):
                if not raw.strip():
                    continue
                try:
                    text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
                except UnicodeDecodeError:
                    context.reject(ImportFileError(path, number, "not UTF-8 text"))
                    continue
                try:
                    record = json.loads(text)
                except RecursionError:
                    context.reject(ImportFileError(path, number, TOO_DEEP))
                    continue
                except json.JSONDecodeError as exc:
                    reason = f"invalid JSON: {exc.msg} (column {exc.colno})"
                    if not raw.endswith(b"\n") and exc.pos >= len(text.rstrip()):
                        reason = "truncated JSON: the file ends in the middle of this line"
                    context.reject(ImportFileError(path, number, reason))
                    continue
                yield Where(line=number), record
        except OSError as exc:
            raise ImportFileError(path, None, os_reason(exc)) from exc


def records(
    path: Path,
    as_one: Callable[[Any], Any | None] | None = None,
    context: ReadContext | None = None,
) -> Iterator[tuple[Where, Any, str]]:
    """(location, record, default session id) for each record of a JSON or JSONL file.

    JSONL: each line, with id `<stem>:<line>`. JSON: each item of a top-level list
    (`<stem>:<index>`), or a top-level object (`<stem>`). `as_one` may turn a whole
    document into one record (e.g. a bare list of messages), or return None.
    Lines that are not JSON and the complete records of a truncated array are
    handled as `jsonl_records` and `stream_json_array` say.
    """
    base = stem(path, context)
    if is_jsonl(path):
        for where, record in jsonl_records(path, context):
            yield where, record, f"{base}:{where.line}"
        return
    document: Any
    items = stream_json_array(path, context)
    if items is None:
        document = load_json(path)
    elif as_one is None:  # a top-level array streams, an item at a time
        for index, record in enumerate(items):
            yield Where(record=f"[{index}]"), record, f"{base}:{index}"
        return
    else:
        document = list(items)  # `as_one` looks at the whole list (such files are small)
    whole = as_one(document) if as_one is not None else None
    if whole is not None:
        yield Where(), whole, base
    elif isinstance(document, list):
        for index, record in enumerate(document):
            yield Where(record=f"[{index}]"), record, f"{base}:{index}"
    elif isinstance(document, dict):
        yield Where(), document, base
    else:
        raise fail(path, Where(), f"expected a JSON object or list, got {type_name(document)}")


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
    convert: Callable[[Any, Where, str], SessionImport | None],
) -> Iterator[SessionImport]:
    """`convert(record, where, default_id)` for each item; a record it rejects with
    ImportFileError, or whose values break the store's limits (a ValidationError),
    goes to `context.reject` (skipped with `skip_invalid`), and a None result
    (nothing to import) is left out."""
    context = context or ReadContext()
    for where, record, default_id in items:
        try:
            session = convert(record, where, default_id)
        except ImportFileError as error:
            context.reject(error)
            continue
        except ValidationError as error:
            context.reject(fail(path, where, validation_message(error)))
            continue
        if session is not None:
            yield session


def stem(path: Path, context: ReadContext | None = None) -> str:
    """The base of synthesized session ids: `context.id_base`, else the file's stem."""
    if context is not None and context.id_base:
        return context.id_base
    return path.stem or path.name


def optional_str(path: Path, record: dict[str, Any], key: str, where: Where) -> str | None:
    """`record[key]` if it is a string, None if absent/null; ImportFileError otherwise."""
    value = record.get(key)
    if value is not None and not isinstance(value, str):
        raise fail(path, where, f"{key} must be a string, got {type_name(value)}")
    return value
