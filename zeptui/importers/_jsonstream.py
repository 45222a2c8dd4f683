"""JSON read as it goes: a file through a refilled window (big objects and arrays
handed out lazily), JSONL line by line, with exact error locations and bounds on
what is decoded at once."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from storage.limits import MAX_METADATA_DEPTH
from zeptui.importers import ImportFileError, ReadContext, os_reason


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


LAZY_CHARACTERS = 4 << 20
"""An object or array whose text is longer than this is not decoded at once but handed
out as a `Lazy`, read a member or an item at a time: a session of a million messages
streams, and memory is bounded by the largest message, not by the session."""

MAX_RECORD_CHARACTERS = 256 << 20
"""The longest record decoded whole (a JSONL line, a conversation, a string): longer
ones are rejected by name, so one line of a gigabyte cannot exhaust memory."""

_NUMBER_CHARACTERS = frozenset("0123456789.eE+-")
_QUOTE_OR_ESCAPE = re.compile(r'["\\]')


def too_long() -> str:
    """The reason a value longer than MAX_RECORD_CHARACTERS is rejected."""
    return f"a value longer than {MAX_RECORD_CHARACTERS >> 20} MiB is not read"


class _TooLong(Exception):
    """The value's text runs past the length being decoded."""


class Broken(Exception):
    """The JSON text is broken here (`JsonStream.broken` says how): reading stops."""


class JsonStream:
    """A JSON file read through a window that is refilled as needed: values are decoded
    one at a time, and big objects and arrays are handed out as `Lazy` views, so memory
    is bounded by the largest value decoded, not by the file.

    A broken text (invalid, cut short, nested too deep) ends every iteration in
    progress, so readers finish what they have from the complete values before it, and
    sets `broken`, the error to report, which says how many complete records came first.
    """

    CHUNK = 1 << 20

    def __init__(self, path: Path, file: IO[str]) -> None:
        self.path = path
        self.file = file
        self.buffer = ""
        self.position = 0
        self.line = 1  # the line of buffer[0] ...
        self.column = 0  # ... and how many characters of that line came before it
        self.mark = (0, 1, 1)
        """A position of the window with its line and column, for `where`."""
        self.eof = False
        self.decoder = json.JSONDecoder()
        self.broken: ImportFileError | None = None
        self.open_arrays = 0
        self.records = 0
        """Complete items of the outermost arrays, for the report of a broken text."""
        self.in_array = False

    @classmethod
    @contextmanager
    def open(cls, path: Path) -> Iterator[JsonStream]:
        """The file as a stream (BOM skipped); OS errors as ImportFileError."""
        try:
            file = path.open(encoding="utf-8-sig", newline="")
        except OSError as exc:
            raise ImportFileError(path, None, os_reason(exc)) from exc
        with file:
            yield cls(path, file)

    # --- the window ------------------------------------------------------------------

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
            self.mark = (0, self.line, self.column + 1)
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
        """(line, column), 1-based, of `buffer[position]` in the file. Counted on from
        the last position asked for, so asking for each value in turn costs the
        length of the window once, not once per value."""
        start, line, column = self.mark
        if position < start:  # behind the mark: count from the window's start
            start, line, column = 0, self.line, self.column + 1
        newlines = self.buffer.count("\n", start, position)
        if newlines:
            line += newlines
            column = position - self.buffer.rfind("\n", start, position)
        else:
            column += position - start
        self.mark = (position, line, column)
        return line, column

    def here(self, where: Where) -> Where:
        """`where` at the line of the position."""
        return Where(self.where(self.position)[0], where.record)

    def peek(self) -> str:
        """The next non-blank character (not consumed), or "" at the end of the file."""
        while True:
            self.position = _skip_blanks(self.buffer, self.position)
            if self.position < len(self.buffer):
                return self.buffer[self.position]
            if not self.fill():
                return ""

    def error(self, message: str) -> json.JSONDecodeError:
        return json.JSONDecodeError(message, self.buffer, self.position)

    # --- values ----------------------------------------------------------------------

    def read_value(self, limit: int) -> Any:
        """Decode the value at the position whole; _TooLong if its text is longer than
        `limit`, JSONDecodeError if it is broken or cut short by the end of the file."""
        wanted = 0
        while True:
            try:
                value, end = self.decoder.raw_decode(self.buffer, self.position)
            except json.JSONDecodeError:
                # Perhaps only incomplete: read (twice as much each time) and retry.
                have = len(self.buffer) - self.position
                if have > limit and not self.eof:
                    raise _TooLong from None
                wanted = max(wanted * 2, have)
                if self.fill(wanted):
                    continue
                raise
            if self._cut_number(value, end) and self.fill():
                continue  # a number at the window's edge may go on in the next chunk
            if end - self.position > limit:
                raise _TooLong
            self.position = end
            return value

    def _cut_number(self, value: Any, end: int) -> bool:
        """Whether `value` is a number that may continue past the window (`12` of `12.5`)."""
        if isinstance(value, bool) or not isinstance(value, int | float) or self.eof:
            return False
        return end >= len(self.buffer) or self.buffer[end] in _NUMBER_CHARACTERS

    def node(self, where: Where, *, skipping: bool = False) -> Any:
        """The value at the position: decoded, or a `Lazy` for an object or array longer
        than LAZY_CHARACTERS (which must be read before the stream moves on). When
        `skipping`, a string too long to decode is passed over (and None returned)."""
        try:
            return self.read_value(LAZY_CHARACTERS)
        except _TooLong:
            if self.buffer[self.position] in "[{":
                return Lazy(self, self.here(where), self.buffer[self.position])
        if skipping and self.buffer[self.position] == '"':
            self._skip_string()
            return None
        return self.read_value(MAX_RECORD_CHARACTERS)  # a long string

    def _skip_string(self) -> None:
        """Move past the string at the position without decoding it, holding no more
        than the window whatever its length."""
        self.position += 1  # the opening quote
        while True:
            found = _QUOTE_OR_ESCAPE.search(self.buffer, self.position)
            if found is None or (found.end() == len(self.buffer) and found.group() == "\\"):
                # Not closed in the window (or an escape cut at its edge): read on.
                self.position = len(self.buffer) if found is None else found.start()
                if not self.fill():
                    raise self.error("Unterminated string starting at")
                continue
            if found.group() == '"':
                self.position = found.end()
                return
            self.position = found.end() + 1  # an escape and the character it escapes

    def root(self) -> Any:
        """The document's value: a `Lazy` for an object or array, else decoded."""
        char = self.peek()
        if char in ("[", "{"):
            return Lazy(self, self.here(Where()), char)
        if char == "":
            raise ImportFileError(self.path, None, "empty file: no JSON value")
        try:
            return self.node(Where())
        except (json.JSONDecodeError, RecursionError, _TooLong) as exc:
            raise self.break_off(exc) from None

    def end(self) -> None:
        """After the document's value: only blanks may follow."""
        if self.broken is None and self.peek() != "":
            self.break_off(self.error("Extra data"))

    def too_long(self, where: Where) -> ImportFileError:
        """The error for a value longer than MAX_RECORD_CHARACTERS at `where`."""
        return fail(self.path, where, too_long())

    def break_off(self, exc: BaseException) -> Broken:
        """Note where and how the text is broken (once); the Broken exception to raise."""
        if self.broken is None:
            if isinstance(exc, json.JSONDecodeError):
                line, column = self.where(exc.pos)
                cut = exc.pos >= len(self.buffer.rstrip()) or exc.msg.startswith("Unterminated")
                if self.eof and cut:
                    reason = "truncated JSON: the file ends in the middle of a value"
                else:
                    reason = f"invalid JSON: {exc.msg} (column {column})"
            else:
                line = self.where(self.position)[0]
                reason = too_long() if isinstance(exc, _TooLong) else TOO_DEEP
            if self.in_array:
                reason = f"{reason}; {self.records:,} complete records before it recovered"
            self.broken = ImportFileError(self.path, line, reason)
        return Broken()

    # --- containers ------------------------------------------------------------------

    def items(self, where: Where, *, skipping: bool = False) -> Iterator[tuple[Where, Any]]:
        """(location, value) of each item of the array at the position; a value may be a
        `Lazy`, read (or left, and then skipped) before the next item. See `node` for
        `skipping`."""
        level = self.open_arrays
        self.open_arrays += 1
        self.in_array = True
        self.position += 1  # the [
        index = 0
        try:
            if self.peek() == "]":
                self.position += 1
                return
            while True:
                if self.peek() == "":
                    raise self.error("Expecting value")
                child = self.here(where.child(f"[{index}]"))
                value = self.node(child, skipping=skipping)
                yield child, value
                if isinstance(value, Lazy):
                    value.skip()
                if self.broken is not None:
                    return
                after = self.peek()
                if after not in (",", "]"):
                    raise self.error("Expecting ',' delimiter")
                self.position += 1
                index += 1
                if level == 0:
                    self.records += 1
                if after == "]":
                    return
        except (json.JSONDecodeError, RecursionError, _TooLong) as exc:
            self.break_off(exc)
        finally:
            self.open_arrays -= 1

    def members(self, where: Where, *, skipping: bool = False) -> Iterator[tuple[str, Where, Any]]:
        """(key, location, value) of each member of the object at the position; a value
        may be a `Lazy`, read (or left, and then skipped) before the next member. See
        `node` for `skipping`."""
        self.position += 1  # the {
        try:
            if self.peek() == "}":
                self.position += 1
                return
            while True:
                if self.peek() != '"':
                    raise self.error("Expecting property name enclosed in double quotes")
                key = self.read_value(MAX_RECORD_CHARACTERS)
                if self.peek() != ":":
                    raise self.error("Expecting ':' delimiter")
                self.position += 1
                if self.peek() == "":
                    raise self.error("Expecting value")
                child = self.here(where.child(f".{key}"))
                value = self.node(child, skipping=skipping)
                yield key, child, value
                if isinstance(value, Lazy):
                    value.skip()
                if self.broken is not None:
                    return
                after = self.peek()
                if after == ",":
                    self.position += 1
                elif after == "}":
                    self.position += 1
                    return
                else:
                    raise self.error("Expecting ',' delimiter")
        except (json.JSONDecodeError, RecursionError, _TooLong) as exc:
            self.break_off(exc)


class Lazy:
    """An object or array of a `JsonStream` too big to decode at once, read in order:
    `items()` or `members()` once, or `decode()` it whole (up to MAX_RECORD_CHARACTERS)."""

    def __init__(self, stream: JsonStream, where: Where, opener: str) -> None:
        self.stream = stream
        self.where = where
        self.is_object = opener == "{"
        self._reading: Iterator[Any] | None = None

    def items(self) -> Iterator[tuple[Where, Any]]:
        """An array's (location, value) pairs (see `JsonStream.items`)."""
        assert not self.is_object and self._reading is None
        self._reading = self.stream.items(self.where)
        return self._reading

    def members(self) -> Iterator[tuple[str, Where, Any]]:
        """An object's (key, location, value) triples (see `JsonStream.members`)."""
        assert self.is_object and self._reading is None
        self._reading = self.stream.members(self.where)
        return self._reading

    def decode(self) -> Any:
        """The whole value. A value longer than MAX_RECORD_CHARACTERS is skipped and
        rejected (ImportFileError); a broken text raises Broken."""
        assert self._reading is None
        stream = self.stream
        try:
            value = stream.read_value(MAX_RECORD_CHARACTERS)
        except _TooLong:
            self.skip()
            if stream.broken is not None:
                raise Broken from None
            raise stream.too_long(self.where) from None
        except (json.JSONDecodeError, RecursionError) as exc:
            raise stream.break_off(exc) from None
        self._reading = iter(())
        return value

    def skip(self) -> None:
        """Read past what is left of the value, holding one item at a time (strings too
        long to decode are passed over)."""
        if self._reading is None:
            stream, where = self.stream, self.where
            if self.is_object:
                self._reading = stream.members(where, skipping=True)
            else:
                self._reading = stream.items(where, skipping=True)
        for entry in self._reading:
            value = entry[-1]
            if isinstance(value, Lazy):
                value.skip()


def whole(value: Any) -> Any:
    """`value` decoded whole if it is a `Lazy` (see `Lazy.decode`)."""
    return value.decode() if isinstance(value, Lazy) else value


def elements(value: Any, where: Where) -> Iterator[tuple[Where, Any]]:
    """(location, item) of a list, decoded or `Lazy`, at `where`."""
    if isinstance(value, Lazy):
        return value.items()
    return ((where.child(f"[{index}]"), item) for index, item in enumerate(value))


def is_list(value: Any) -> bool:
    """A JSON array, decoded or `Lazy`."""
    return isinstance(value, list) or (isinstance(value, Lazy) and not value.is_object)


@contextmanager
def json_document(path: Path, context: ReadContext) -> Iterator[Any]:
    """The file's top-level value (see `JsonStream.root`), to be read inside the block.
    A broken text ends reading; its error goes to `context.reject` at the end (raised,
    or with `skip_invalid` listed, the complete records before it kept)."""
    with JsonStream.open(path) as stream:
        try:
            root = stream.root()
            yield root
            if isinstance(root, Lazy):
                root.skip()  # what the reader left unread
            stream.end()
        except Broken:
            pass
        if stream.broken is not None:
            context.reject(stream.broken)


def _skip_blanks(text: str, position: int) -> int:
    while position < len(text) and text[position] in " \t\r\n":
        position += 1
    return position


def jsonl_records(path: Path, context: ReadContext | None = None) -> Iterator[tuple[Where, Any]]:
    """Each non-blank line's JSON value, streamed, with its line number. A line that is
    not JSON, or longer than MAX_RECORD_CHARACTERS, goes to `context.reject` (skipped
    with `skip_invalid`, else raised)."""
    context = context or ReadContext()
    try:
        file = path.open("rb")
    except OSError as exc:
        raise ImportFileError(path, None, os_reason(exc)) from exc
    with file:
        try:
            number = 0
            while raw := file.readline(MAX_RECORD_CHARACTERS + 1):
                number += 1
                if len(raw) > MAX_RECORD_CHARACTERS and not raw.endswith(b"\n"):
                    while (rest := file.readline(1 << 20)) and not rest.endswith(b"\n"):
                        pass  # the rest of the line, in bounded pieces
                    context.reject(ImportFileError(path, number, too_long()))
                    continue
                if not raw.strip():
                    continue
                record = _decode_line(path, number, raw, context)
                if record is not NOTHING:
                    yield Where(line=number), record
        except OSError as exc:
            raise ImportFileError(path, None, os_reason(exc)) from exc


NOTHING = object()
"""No value: a rejected line; for `records`' `one_session`, an empty list."""


def _decode_line(path: Path, number: int, raw: bytes, context: ReadContext) -> Any:
    """A JSONL line's value, or NOTHING when it is rejected."""
    try:
        text = raw.decode("utf-8-sig" if number == 1 else "utf-8")
    except UnicodeDecodeError:
        context.reject(ImportFileError(path, number, "not UTF-8 text"))
        return NOTHING
    try:
        return json.loads(text)
    except RecursionError:
        context.reject(ImportFileError(path, number, TOO_DEEP))
    except json.JSONDecodeError as exc:
        reason = f"invalid JSON: {exc.msg} (column {exc.colno})"
        if not raw.endswith(b"\n") and exc.pos >= len(text.rstrip()):
            reason = "truncated JSON: the file ends in the middle of this line"
        context.reject(ImportFileError(path, number, reason))
    return NOTHING
