"""The open DuckDB file: opening it (file checks, lock waiting, schema), a cursor per
thread, serialised write transactions, and letting go of the file for a while.

DuckDB lets one process hold a file read-write. A `Database` holds it from
construction to `close()`; a second process gets `StoreLockedError` naming the
holder after at most `lock_timeout` seconds, never a hang. Inside the process every
thread gets its own cursor, and writes are serialised by a lock, so the UI's worker
threads and the background summarizer can share one open file.
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from storage.duckdb import schema
from storage.duckdb.rows import to_db_time
from storage.errors import IncompatibleStoreError, NotFoundError, StoreError, StoreLockedError

LOCK_WAIT_SECONDS = 2.0
"""How long opening a file waits, by default, for another process to let go of it."""

DUCKDB_MAGIC = b"DUCK"
"""DuckDB's file magic, at bytes 8-11 of every database file."""
DUCKDB_MAGIC_OFFSET = 8
DUCKDB_HEADER_END = DUCKDB_MAGIC_OFFSET + len(DUCKDB_MAGIC)

_LOCK_HOLDER = re.compile(r"Conflicting lock is held in (?P<program>.+?) \(PID (?P<pid>\d+)\)")

Cursor = duckdb.DuckDBPyConnection
"""One thread's connection to the open file (what every query module takes)."""


class Database:
    """One DuckDB file, open for the threads of this process.

    `clock` replaces the system clock (tests). `memory_limit` (e.g. `"512MB"`) caps
    DuckDB's memory, which otherwise grows to 80% of RAM; beyond it DuckDB spills to
    a temporary directory beside the file.
    """

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool,
        lock_timeout: float,
        memory_limit: str | None,
        clock: Callable[[], datetime] | None,
    ) -> None:
        self.path = path
        self.read_only = read_only
        self._lock_timeout = lock_timeout
        self._memory_limit = memory_limit
        self._clock = clock
        self._write_lock = threading.RLock()
        self._local = threading.local()
        self._cursors: list[Cursor] = []
        self._cursors_lock = threading.Lock()
        self.closed = False
        self.generation = 0
        """Counts the changes this process has seen to the file (each commit, each time
        the file was let go): what is computed from the file at one generation holds
        until it changes (the search index's statistics are kept that way)."""
        self._compat: list[str] = []
        """Statements each new cursor runs first (an older schema, read-only)."""
        self._conn = self._open()
        try:
            if not read_only:
                clean_spill_directory(path)
        except BaseException:
            self._conn.close()
            raise

    def now(self) -> datetime:
        """Now, naive UTC as stored; from `clock` when one was given (tests)."""
        return to_db_time(self._clock()) if self._clock else datetime.now(UTC).replace(tzinfo=None)

    def cursor(self) -> Cursor:
        """This thread's cursor."""
        if self.closed:
            raise StoreError(f"{self.path}: the store is closed")
        cursor: Cursor | None = getattr(self._local, "cursor", None)
        if cursor is None:
            cursor = self._conn.cursor()
            for statement in self._compat:
                cursor.execute(statement)
            self._local.cursor = cursor
            with self._cursors_lock:
                self._cursors.append(cursor)
        return cursor

    @contextmanager
    def write(self, *, commit: bool = True) -> Iterator[Cursor]:
        """One write transaction, serialised with every other writer of this file.

        With `commit=False` it is rolled back at the end (a dry run)."""
        if self.read_only:
            raise StoreError(f"{self.path} is open read-only")
        with self._write_lock:
            cursor = self.cursor()
            cursor.begin()
            try:
                yield cursor
            except BaseException:
                cursor.rollback()
                raise
            if commit:
                cursor.commit()
                self.generation += 1  # after the commit: see `generation`
            else:
                cursor.rollback()

    @contextmanager
    def released(self) -> Iterator[None]:
        """Let go of the file (another process may take it meanwhile) and take it back
        after, waiting up to `lock_timeout` and checking it as on opening. If it
        cannot be taken back, the database is closed and the error raised."""
        self._disconnect()
        try:
            yield
        finally:
            try:
                self._conn = self._open()
                self._local = threading.local()  # every thread's cursor was closed
                self.generation += 1  # another process may have written meanwhile
            except BaseException:
                self.closed = True
                self._disconnect()
                raise

    def close(self) -> None:
        """Close every cursor and the connection: the file is free for other processes."""
        if not self.closed:
            self.closed = True
            self._disconnect()

    def _disconnect(self) -> None:
        with self._cursors_lock:
            for cursor in self._cursors:
                cursor.close()
            self._cursors.clear()
        self._conn.close()

    def _open(self) -> Cursor:
        conn = connect(
            self.path,
            read_only=self.read_only,
            lock_timeout=self._lock_timeout,
            memory_limit=self._memory_limit,
        )
        try:
            self._compat = schema.prepare(conn, self.path, read_only=self.read_only)
        except BaseException:
            conn.close()
            raise
        return conn


def connect(
    path: Path, *, read_only: bool, lock_timeout: float, memory_limit: str | None
) -> duckdb.DuckDBPyConnection:
    """A connection to the DuckDB file at `path`, waiting up to `lock_timeout` seconds
    for another process to let go of it."""
    if read_only and not path.exists():
        raise NotFoundError(f"{path}: no such database file")
    check_is_duckdb_file(path, read_only=read_only)
    if not read_only:
        path.parent.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + lock_timeout
    while True:
        try:
            config: dict[str, str | bool | int | float | list[str]] = {}
            if memory_limit:
                config["memory_limit"] = memory_limit
            return duckdb.connect(str(path), read_only=read_only, config=config)
        except duckdb.IOException as error:
            message = str(error)
            if "lock" not in message.lower():
                raise IncompatibleStoreError(
                    f"{path}: cannot open as a DuckDB database ({_first_line(message)})"
                ) from None
            if time.monotonic() >= deadline:
                raise StoreLockedError(_lock_message(path, message)) from None
            time.sleep(0.05)
        except duckdb.Error as error:
            raise IncompatibleStoreError(
                f"{path}: cannot open as a DuckDB database ({_first_line(str(error))})"
            ) from None


def check_is_duckdb_file(path: Path, *, read_only: bool) -> None:
    """Refuse, before DuckDB touches it, an existing file that is not a DuckDB database.

    DuckDB opens a data file (`.json`, `.csv`, `.parquet`) given as a database as an
    in-memory database with a view over it: every write would vanish silently.
    """
    if not path.exists():
        return
    if path.is_dir():
        raise IncompatibleStoreError(f"{path} is a directory, not a zeptui store")
    try:
        with path.open("rb") as file:
            header = file.read(DUCKDB_HEADER_END)
    except OSError as error:
        raise IncompatibleStoreError(f"{path}: cannot read it ({error.strerror})") from None
    if not header:
        if read_only:
            raise IncompatibleStoreError(f"{path} is empty, not a zeptui store")
        path.unlink()  # an empty file (say, from mktemp) is a new store; DuckDB refuses it
        return
    if header[DUCKDB_MAGIC_OFFSET:DUCKDB_HEADER_END] != DUCKDB_MAGIC:
        raise IncompatibleStoreError(
            f"{path} is not a zeptui store (it is not a DuckDB database file); choose another --db"
        )


def clean_spill_directory(path: Path) -> None:
    """Remove what a killed process left of DuckDB's spill files beside the store.

    Only a process that has the file open read-write spills there, so once this one
    does, anything in it is stale."""
    spill = path.with_name(path.name + ".tmp")
    if not spill.is_dir():
        return
    for leftover in spill.glob("duckdb_temp_*"):
        leftover.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: something else lives there
        spill.rmdir()


def _first_line(text: str) -> str:
    return text.strip().splitlines()[0] if text.strip() else text


def _lock_message(path: Path, error: str) -> str:
    match = _LOCK_HOLDER.search(error)
    holder = (
        f"process {match['pid']} ({Path(match['program']).name})" if match else "another process"
    )
    return (
        f"{path} is in use by {holder}; close it there (or point zeptui at another "
        "database with --db) and try again"
    )
