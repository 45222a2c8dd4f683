"""Importers: turn chat-history files into `SessionImport`s for `MemoryStore.import_sessions`.

The plug-in shape: an importer is any object with

- `name`: a short id used by `zeptui import --format NAME` (e.g. `"zep"`);
- `description`: one line for help and reports;
- `priority`: detection order, highest first. Specific formats (ChatGPT, Claude, ...)
  should use a positive priority; the Zep importer is the generic fallback at 0;
- `detect(path, head) -> bool`: does this file look like mine? `head` is the file's
  first `HEAD_BYTES` bytes; this must be cheap and must not raise, and must look at
  `head` and the path's name only (for an archive member the path does not exist);
- optionally `bulk_import(store, path, context, on_read, on_summaries) -> ImportResult | None`:
  import the file straight into a store it knows how to load faster, or return None to fall
  back to `read` (the Zep importer lets a DuckDB store read JSONL itself);
- `read(path, context=None) -> Iterator[SessionImport]`: the sessions, oldest message
  first, read lazily (stream big files). Bad input raises `ImportFileError` naming the
  file and the line (or record) that is wrong. A bad *record* (one conversation, one
  line, one message) goes to `context.reject(error)` instead, which raises it unless
  the user asked to skip invalid records; then the reader goes on with the next one.
  Things skipped on purpose (an empty turn) go to `context.warn(error)`. Users the
  file describes (with names, not only ids) go to `context.users` before the first
  session is yielded.

Session ids a reader makes up for records without one start with the *file base*,
`ReadContext.id_base`: for `zeptui import`, the file's path relative to the working
directory without its suffix (`sub/history` for `sub/history.jsonl`), so files of the
same name never share sessions; the file's stem when none is given.

Readers do not apply the user's options (`--session-prefix`, `--user`,
`--user-name`, `--assistant-name`): `import_file` applies them to what they yield.

Add a format by writing a module with such an object and listing the module in
`BUILTIN_IMPORTERS` (its import registers it with `register`), or by calling `register`.
`import_file` runs one `import_sessions` transaction per file, so a file that fails
anywhere leaves nothing behind.
"""

from __future__ import annotations

import importlib
import itertools
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, runtime_checkable

if TYPE_CHECKING:
    from storage.models import CreateUserRequest, ImportResult, SessionImport
    from storage.store import MemoryStore

__all__ = [
    "BUILTIN_IMPORTERS",
    "HEAD_BYTES",
    "FileReport",
    "ImportFileError",
    "ImportOptions",
    "Importer",
    "ReadContext",
    "UnrecognisedFormatError",
    "detect_importer",
    "get_importer",
    "import_file",
    "importers",
    "register",
]

HEAD_BYTES = 64 * 1024
"""How much of a file `detect` sees."""

BUILTIN_IMPORTERS: tuple[str, ...] = (
    "zeptui.importers.zep",
    "zeptui.importers.sharegpt",
    "zeptui.importers.openai_jsonl",
    "zeptui.importers.chatgpt",
    "zeptui.importers.langchain",
    "zeptui.importers.claude",
)
"""Modules imported on first use of the registry; each registers its importer."""


class ImportFileError(Exception):
    """A file that cannot be imported: unreadable, malformed, or with a bad record.

    `str()` is `path:line: reason` (JSONL, JSON syntax errors), `path: record: reason`
    (a bad record in a JSON document) or `path: reason`.
    """

    def __init__(
        self,
        path: str | Path,
        line: int | None,
        reason: str,
        *,
        record: str | None = None,
    ) -> None:
        self.path = str(path)
        self.line = line
        self.reason = reason
        self.record = record
        super().__init__(str(self))

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        if self.record:
            where = f"{where}: {self.record}"
        return f"{where}: {self.reason}"


PROBLEMS_KEPT = 1000
"""How many skipped records and warnings a report lists per file (the rest are counted)."""


@dataclass
class ReadContext:
    """What a reader hands back besides sessions: rejected records, warnings, users."""

    skip_invalid: bool = False
    """Skip (and list) bad records instead of failing the whole file."""
    id_base: str | None = None
    """The base of the session ids of records without their own (`<base>:<line>`):
    None for the file's stem; `zeptui import` gives the file's path relative to the
    working directory without the suffix (`sources.id_base`), so `history.jsonl` and
    `sub/history.jsonl`, or `train/data.jsonl` and `test/data.jsonl`, do not share
    sessions."""
    skipped: list[ImportFileError] = field(default_factory=list)
    skipped_count: int = 0
    warnings: list[ImportFileError] = field(default_factory=list)
    warning_count: int = 0
    users: list[CreateUserRequest] = field(default_factory=list)

    def reject(self, error: ImportFileError) -> None:
        """A bad record: raise `error`, or with `skip_invalid` note it and go on."""
        if not self.skip_invalid:
            raise error
        self.skipped_count += 1
        if len(self.skipped) < PROBLEMS_KEPT:
            self.skipped.append(error)

    def warn(self, error: ImportFileError) -> None:
        """Something left out on purpose (an empty turn, an unreadable part)."""
        self.warning_count += 1
        if len(self.warnings) < PROBLEMS_KEPT:
            self.warnings.append(error)


class UnrecognisedFormatError(ImportFileError):
    """No importer recognises the file."""


@runtime_checkable
class Importer(Protocol):
    """One input format. See the module docstring for the contract."""

    name: str
    description: str
    priority: int

    def detect(self, path: Path, head: bytes) -> bool:
        """True if the file looks like this format (cheap; never raises)."""
        ...

    def read(self, path: Path, context: ReadContext | None = None) -> Iterator[SessionImport]:
        """The file's sessions, lazily; raises ImportFileError on bad input."""
        ...


_registry: dict[str, Importer] = {}
_builtins_loaded = False


def register(importer: Importer) -> Importer:
    """Add (or replace) an importer under its `name`; returns it."""
    _registry[importer.name] = importer
    return importer


def _load_builtins() -> None:
    global _builtins_loaded
    if not _builtins_loaded:
        _builtins_loaded = True
        for module in BUILTIN_IMPORTERS:
            importlib.import_module(module)


def importers() -> list[Importer]:
    """Every registered importer, in detection order (highest priority first)."""
    _load_builtins()
    return sorted(_registry.values(), key=lambda importer: -importer.priority)


def get_importer(name: str) -> Importer:
    """The importer called `name`; ValueError naming the known ones if none is."""
    _load_builtins()
    try:
        return _registry[name]
    except KeyError:
        known = ", ".join(sorted(_registry))
        raise ValueError(f"unknown import format {name!r} (known: {known})") from None


def read_head(path: Path) -> bytes:
    """The first `HEAD_BYTES` bytes of `path`; ImportFileError if it cannot be read."""
    try:
        with path.open("rb") as file:
            return file.read(HEAD_BYTES)
    except OSError as exc:
        raise ImportFileError(path, None, os_reason(exc)) from exc


def os_reason(exc: OSError) -> str:
    """The OS's words for an error, without the path (the caller names the file)."""
    return exc.strerror or str(exc)


def detect_importer(path: Path, head: bytes | None = None) -> Importer:
    """The first importer whose `detect` accepts the file; ImportFileError if none does.

    `head`, when given, is the file's first `HEAD_BYTES` (for an archive member, whose
    `path` is then only its name).
    """
    if head is None:
        if path.is_dir():
            raise ImportFileError(path, None, "is a directory, not a file")
        head = read_head(path)
    for importer in importers():
        if importer.detect(path, head):
            return importer
    formats = ", ".join(importer.description for importer in importers())
    raise UnrecognisedFormatError(path, None, f"unrecognised format (expected one of: {formats})")


@dataclass(frozen=True)
class ImportOptions:
    """The user's choices for an import, applied to whatever the reader yields."""

    session_prefix: str = ""
    """Prepended to every session id. Message uuids are derived anew from it, so the
    same file imported with another prefix is a second, independent copy."""
    user_id: str | None = None
    """Every session belongs to this user (created if missing)."""
    user_name: str | None = None
    """The speaker name (`role`) of user messages."""
    assistant_name: str | None = None
    """The speaker name (`role`) of assistant messages."""
    skip_invalid: bool = False
    """Skip and list bad records instead of failing the file."""
    dry_run: bool = False
    """Read and count everything, write nothing."""

    @property
    def rewrites(self) -> bool:
        """Whether sessions need changing on their way to the store."""
        return bool(self.session_prefix or self.user_id or self.user_name or self.assistant_name)

    def apply(self, session: SessionImport) -> SessionImport:
        """`session` with these options applied (changed in place, and returned)."""
        from storage.import_rules import import_uuid
        from storage.models import RoleType

        if self.session_prefix:
            session.session_id = self.session_prefix + session.session_id
            for message in session.messages:
                if message.uuid:
                    message.uuid = import_uuid(self.session_prefix, message.uuid)
        if self.user_id:
            session.user_id = self.user_id
        names = {RoleType.user: self.user_name, RoleType.assistant: self.assistant_name}
        if self.user_name or self.assistant_name:
            for message in session.messages:
                name = names.get(message.role_type) if message.role_type else None
                if name:
                    message.role = name
        return session


@dataclass(frozen=True)
class FileReport:
    """What importing one file did (or, in a dry run, would do)."""

    path: str
    format: str
    result: ImportResult
    skipped: tuple[str, ...] = ()
    """Bad records left out (`--skip-invalid`), as `file:line: reason` lines."""
    skipped_count: int = 0
    warnings: tuple[str, ...] = ()
    """Things left out on purpose (empty turns), as `file:line: reason` lines."""
    warning_count: int = 0
    dry_run: bool = False


def import_file(
    store: MemoryStore,
    path: Path,
    importer: Importer | None = None,
    options: ImportOptions | None = None,
    *,
    name: str | None = None,
    id_base: str | None = None,
    on_session: Callable[[SessionImport], None] | None = None,
    on_read: Callable[[int, int], None] | None = None,
    on_summaries: Callable[[int, int], None] | None = None,
    store_reads: bool = True,
) -> FileReport:
    """Import one file in one transaction: all of it, or (on any error) none of it.

    The file streams through the store one session at a time; users named by a
    session's `user_id` are created by the store when missing. `name` is how errors
    and the report call the file (an archive member's `export.zip/conversations.json`),
    `id_base` the base of its synthesized session ids (see `ReadContext.id_base`);
    `on_session` sees each session as it goes by (for a progress display); a store that
    reads the file itself tells `on_read(sessions, messages)` instead, once it has,
    and `on_summaries(done, sessions)` how the summaries it makes with the file go;
    `store_reads=False` has the importer read it even for such a store.
    """
    options = options or ImportOptions()
    name = name or str(path)
    try:
        from storage.capabilities import BulkImport, require

        importer = importer or detect_importer(path)
        context = ReadContext(skip_invalid=options.skip_invalid, id_base=id_base)
        result = None
        bulk_import = getattr(importer, "bulk_import", None)
        if bulk_import is not None and store_reads and not options.rewrites and not options.dry_run:
            result = bulk_import(store, path, context, on_read, on_summaries)
        if result is None:
            sessions = _applying(options, importer.read(path, context), on_session)
            first = next(sessions, None)  # reading has begun: a dump's users are known now
            users = [] if options.user_id else context.users
            result = require(store, BulkImport, "import whole sessions").import_sessions(
                itertools.chain([] if first is None else [first], sessions),
                users=users,
                dry_run=options.dry_run,
                on_conflict=lambda conflict: context.reject(
                    ImportFileError(path, line_of(path, conflict.message_uuid), str(conflict))
                ),
            )
    except ImportFileError as error:
        raise _renamed(error, name) from None
    return FileReport(
        path=name,
        format=importer.name,
        result=result,
        skipped=tuple(str(_renamed(error, name)) for error in context.skipped),
        skipped_count=context.skipped_count,
        warnings=tuple(str(_renamed(error, name)) for error in context.warnings),
        warning_count=context.warning_count,
        dry_run=options.dry_run,
    )


def line_of(path: Path, text: str, chunk_size: int = 1 << 20) -> int | None:
    """The 1-based line of the first case-insensitive occurrence of ASCII `text` in
    the file, or None. For errors found after reading (a uuid another session holds)."""
    needle = text.lower().encode("ascii")
    line, tail = 1, b""
    try:
        with path.open("rb") as file:
            while chunk := file.read(chunk_size):
                window = tail + chunk.lower()
                found = window.find(needle)
                if found >= 0:
                    return line + window.count(b"\n", 0, found) - tail.count(b"\n")
                line += chunk.count(b"\n")
                tail = window[-len(needle) :]
    except OSError:
        return None
    return None


def _applying(
    options: ImportOptions,
    sessions: Iterable[SessionImport],
    on_session: Callable[[SessionImport], None] | None,
) -> Iterator[SessionImport]:
    """`sessions` with the user's options applied, each shown to `on_session`."""
    for session in sessions:
        if options.rewrites:
            options.apply(session)
        if on_session is not None:
            on_session(session)
        yield session


def _renamed(error: ImportFileError, name: str) -> ImportFileError:
    """`error` about the file called `name` (an extracted archive member's real name)."""
    error.path = name
    return error
