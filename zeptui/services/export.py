"""Exporting sessions: which ones, in which format, and where the bytes go.

`ExportRequest` names the sessions (ids, a user's, or all), the format and the
output; `export` checks the selection (an unknown id or user fails before anything
is written), refuses to write over the store's own files, and writes:

- onto a regular file (or a new path, or a symlink to one): a temporary file beside
  it renamed over it, so a failed export leaves the old file whole;
- onto anything else (a pipe, a terminal, /dev/null) or stdout: as a stream, as the
  export goes, with control characters escaped when the stream is a terminal.
"""

from __future__ import annotations

import errno
import io
import os
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from zeptui.services import ServiceError

if TYPE_CHECKING:
    from storage.models import Session, User
    from storage.store import MemoryStore

__all__ = ["ExportRequest", "database_files", "export", "refuse_the_store", "select_sessions"]

STDOUT = Path("-")


@dataclass(frozen=True)
class ExportRequest:
    """What to export and where: `session_ids` and `user_id` narrow the selection (none:
    every session); `output` is a path, or `-` (the default) for stdout."""

    format_name: str = "zep-json"
    session_ids: Sequence[str] = ()
    user_id: str | None = None
    output: Path = STDOUT

    @property
    def to_stdout(self) -> bool:
        return str(self.output) == "-"


def export(
    store: MemoryStore,
    request: ExportRequest,
    store_files: Sequence[Path] = (),
    on_session: Callable[[Session], None] | None = None,
) -> None:
    """Write `request`'s sessions in its format to its output.

    `store_files` are the files of the store being read (a local database and its
    journal): the output may not be one of them, whatever path leads there.
    `on_session` hears of each session as it is written (for a progress display).
    """
    from zeptui.exporters import export_sessions

    if not request.to_stdout:
        refuse_the_store(request.output, store_files)
    sessions, users = select_sessions(store, request.session_ids, request.user_id)
    if on_session is not None:
        sessions = _told(sessions, on_session)

    def write(out: IO[str]) -> None:
        export_sessions(store, sessions, out, request.format_name, users)

    if request.to_stdout:
        refuse_the_store(Path("/dev/stdout"), store_files, fd=sys.stdout)
        _export_to_stdout(write, request.format_name)
    else:
        _export_to_path(request.output, write, request.format_name)


def select_sessions(
    store: MemoryStore, session_ids: Sequence[str], user_id: str | None
) -> tuple[Iterator[Session], Iterable[User] | None]:
    """The sessions to export, and the users a zep-dump carries (None: those of the
    sessions). Unknown ids fail here, before anything is written.

    A full export is a backup, with every user (those without sessions too); a
    narrowed one has the users it needs (the `user_id`'s, else its sessions')."""
    from zeptui.exporters import every_user

    users: Iterable[User] | None = None
    if user_id is not None:
        users = [store.get_user(user_id)]  # an unknown user is an error, not an empty export
    elif not session_ids:
        users = every_user(store)
    if session_ids:
        chosen = [store.get_session(session_id) for session_id in dict.fromkeys(session_ids)]
        for session in chosen:
            if user_id is not None and session.user_id != user_id:
                raise ServiceError(
                    f"session {session.session_id!r} is not a session of {user_id!r}"
                )
        return iter(chosen), users

    def every_session() -> Iterator[Session]:
        if user_id is not None:  # Zep lists a user's sessions whole
            yield from store.get_user_sessions(user_id)
            return
        cursor = 0
        while sessions := store.list_sessions(limit=500, cursor=cursor):
            yield from sessions
            cursor += len(sessions)

    return every_session(), users


def _told(sessions: Iterator[Session], on_session: Callable[[Session], None]) -> Iterator[Session]:
    for session in sessions:
        on_session(session)
        yield session


def database_files(database: Path | None) -> list[Path]:
    """The files of a local database that no export may overwrite: the file and its
    journal (none for a store that is not a local file)."""
    if database is None:
        return []
    return [database, database.with_name(database.name + ".wal")]


def refuse_the_store(output: Path, store_files: Sequence[Path], fd: IO[Any] | None = None) -> None:
    """Refuse to write an export over the database or its journal, whatever the path
    (a symlink, `..`, a hard link, or stdout redirected onto it)."""
    try:
        target = os.fstat(fd.fileno()) if fd is not None else os.stat(output)
    except (OSError, ValueError, AttributeError):  # missing, or no file behind the stream
        target = None
    for store_file in store_files:
        same = os.path.realpath(output) == os.path.realpath(store_file)
        if target is not None and not same:
            try:
                found = os.stat(store_file)
            except OSError:
                continue
            same = (found.st_dev, found.st_ino) == (target.st_dev, target.st_ino)
        if same:
            where = "stdout" if fd is not None else str(output)
            raise ServiceError(f"{where} is the database itself ({store_file}); export elsewhere")


def _terminal_escape(format_name: str) -> Callable[[str], str]:
    """How control characters in exported data are shown on a terminal: as visible
    `\\x1b` in a Markdown transcript, as JSON `\\u001b` escapes (the same data) in JSON."""
    from zeptui.text import json_safe, sanitize

    return sanitize if format_name == "markdown" else json_safe


class _ExportStream(io.TextIOWrapper):
    """UTF-8 text over a binary stream, optionally passing every write through `escape`."""

    def __init__(self, binary: IO[bytes], escape: Callable[[str], str] | None) -> None:
        super().__init__(binary, encoding="utf-8", newline="\n")
        self._escape = escape

    def write(self, text: str) -> int:
        return super().write(self._escape(text) if self._escape else text)


def _export_to_stdout(write: Callable[[IO[str]], None], format_name: str) -> None:
    """Write UTF-8 to stdout, whatever the terminal's encoding; on a terminal, with
    control characters escaped."""
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:  # a text-only stream (e.g. replaced in tests)
        write(sys.stdout)
        return
    sys.stdout.flush()
    _export_to_stream(binary, write, format_name)


def _export_to_stream(
    binary: IO[bytes], write: Callable[[IO[str]], None], format_name: str
) -> None:
    """Write UTF-8 onto `binary` as the export goes; on a terminal, with control
    characters escaped."""
    escape = _terminal_escape(format_name) if binary.isatty() else None
    out = _ExportStream(binary, escape)
    try:
        write(out)
        out.flush()
    finally:
        out.detach()


def _export_to_path(output: Path, write: Callable[[IO[str]], None], format_name: str) -> None:
    """Write the export to `output`. A regular file (or a new path, or a symlink to
    one) is replaced atomically; anything else (a FIFO, a terminal, /dev/null) is
    written to as a stream. Errors name `output`, never a temporary file."""
    try:
        mode = os.stat(output).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        raise ServiceError(f"{output}: {error.strerror}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise ServiceError(f"{output} is a directory; give a file name")
    try:
        if mode is None or stat.S_ISREG(mode):
            _replace_file(Path(os.path.realpath(output)), write)
            return
        with open(output, "wb", buffering=0) as binary:
            _export_to_stream(binary, write, format_name)
    except OSError as error:
        if error.errno == errno.EPIPE:
            raise
        raise ServiceError(f"{output}: {error.strerror or error}") from None


def _replace_file(path: Path, write: Callable[[IO[str]], None]) -> None:
    """Write to a temp file beside `path` (symlinks already resolved), then rename it
    over `path`: never a partial file. An existing file keeps its permissions (and, for
    root, its owner); a new one gets the umask's."""
    import tempfile

    try:
        existing: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        existing = None
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temp = Path(temp_name)
    try:
        if existing is not None:
            os.fchmod(fd, stat.S_IMODE(existing.st_mode))
            if os.geteuid() == 0:
                os.fchown(fd, existing.st_uid, existing.st_gid)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
        with open(fd, "w", encoding="utf-8", newline="\n") as out:
            write(out)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
