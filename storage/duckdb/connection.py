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
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import duckdb

from storage.capabilities import ImportInterrupted, ImportTransaction
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
        self.changed: Callable[[Collection[int] | None], None] = lambda _keys: None
        """Told what each committed write changed (see `write`); the store's memory
        cache listens (storage/duckdb/memory_cache.py)."""
        self._transaction: Transaction | None = None
        """The open `transaction` block, whose thread holds the write lock."""
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
    def write(
        self,
        *,
        commit: bool = True,
        changes: Collection[int] | None = None,
        keeps: tuple[type[Exception], ...] = (),
        checkpoint: bool = False,
    ) -> Iterator[Cursor]:
        """One write transaction, serialised with every other writer of this file.

        With `commit=False` it is rolled back at the end (a dry run). Once it has
        committed, `changed` is told what it changed: `changes`, the keys of the
        sessions whose memory it may have changed (read when the block ends, so the
        block may fill it), or None for anything.

        Inside a `transaction` block (same thread) the write joins that block's
        transaction: it commits with it. A write that fails there rolls the block
        back and begins it again (`Transaction.restarts`), unless the error is one of
        `keeps` (raised before writing anything) and left the transaction usable.

        With `checkpoint`, its commit (or the block's it joins) writes the changes
        into the file itself (a checkpoint) rather than into the write-ahead log,
        which the next checkpoint (at the latest, closing the file) copies into the
        file again: for big writes (a corpus import's log was 12.6 MB)."""
        if self.read_only:
            raise StoreError(f"{self.path} is open read-only")
        with self._write_lock:
            if self._transaction is not None:  # held by this thread: it holds the lock
                self._transaction.checkpoint |= checkpoint
                with self._transaction.joined(commit=commit, changes=changes, keeps=keeps):
                    yield self._transaction.cursor
                return
            cursor = self.cursor()
            cursor.begin()
            try:
                yield cursor
            except BaseException:
                cursor.rollback()
                raise
            if commit:
                _commit(cursor, checkpoint=checkpoint)
                self._committed(changes)
            else:
                cursor.rollback()

    def _committed(self, changes: Collection[int] | None) -> None:
        self.generation += 1  # after the commit: see `generation`
        self.changed(changes)

    @contextmanager
    def transaction(self) -> Iterator[Transaction]:
        """One transaction for every `write` of this thread inside the block (see
        `ImportTransactions.import_transaction`): committed as the block ends, rolled
        back if it raises or was interrupted. The other threads' writes wait."""
        if self.read_only:
            raise StoreError(f"{self.path} is open read-only")
        with self._write_lock:
            if self._transaction is not None:
                raise StoreError("an import transaction is open already")
            transaction = Transaction(self.cursor())
            self._transaction = transaction
            try:
                yield transaction
                transaction.commit()
            finally:
                self._transaction = None
                transaction.end()
            self._committed(transaction.changes)
            for scheduled in transaction.on_commit:
                scheduled()

    def on_commit(self, call: Callable[[], None]) -> None:
        """Run `call` once this thread's writes are committed: now, or when the open
        `transaction` block commits (never, if it is rolled back)."""
        transaction = self._transaction
        if transaction is not None and transaction.thread == threading.get_ident():
            transaction.on_commit.append(call)
        else:
            call()

    def interruption_check(self) -> Callable[[], None]:
        """What raises `ImportInterrupted` once this thread's `transaction` block is
        interrupted (a no-op outside one): long writes call it between their steps,
        from any thread (their helper threads see a cancel too)."""
        transaction = self._transaction
        if transaction is not None and transaction.thread == threading.get_ident():
            return transaction.check
        return lambda: None

    @contextmanager
    def serialised(self) -> Iterator[None]:
        """Hold the write lock for the block (writes inside it nest): the other
        threads' writes wait."""
        with self._write_lock:
            yield

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
                self.changed(None)
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


class Transaction(ImportTransaction):
    """A `Database.transaction` block's transaction (see `ImportTransaction`)."""

    def __init__(self, cursor: Cursor) -> None:
        self.cursor = cursor
        self.thread = threading.get_ident()
        self.changes: set[int] | None = set()
        """The sessions the block's writes changed (None: anything), told at commit."""
        self.on_commit: list[Callable[[], None]] = []
        self.checkpoint = False
        """Whether a write asked for its commit to be a checkpoint (`Database.write`)."""
        self._restarts = 0
        self._state = threading.Lock()
        self._interrupted = False
        self._committing = False
        self._open = False
        self._begin()

    @property
    def restarts(self) -> int:
        return self._restarts

    def restart(self) -> None:
        self._rollback()
        self.changes = set()
        self.on_commit.clear()
        self._restarts += 1
        self.check()
        self._begin()

    def interrupt(self) -> bool:
        with self._state:
            if self._committing:
                return False
            self._interrupted = True
            if self._open:  # (under the lock: the cursor is not closed meanwhile)
                self.cursor.interrupt()  # the statement under way, if any (else a no-op)
        return True

    def check(self) -> None:
        """Raise `ImportInterrupted` once `interrupt` was called."""
        if self._interrupted:
            raise ImportInterrupted("the import was interrupted: nothing of it was stored")

    @contextmanager
    def joined(
        self,
        *,
        commit: bool,
        changes: Collection[int] | None,
        keeps: tuple[type[Exception], ...],
    ) -> Iterator[None]:
        """A `Database.write` inside the block."""
        if not commit:
            raise StoreError("a dry run cannot join an import transaction")
        self.check()
        try:
            yield
        except Exception as error:
            self.check()  # interrupted: the block is rolled back as this propagates
            duckdb_interrupt = isinstance(error, duckdb.InterruptException)  # Ctrl-C
            if not duckdb_interrupt and not (isinstance(error, keeps) and self._usable()):
                self.restart()
            raise
        if self.changes is not None:
            self.changes = None if changes is None else self.changes | set(changes)

    def commit(self) -> None:
        """Commit, unless interrupted (then `ImportInterrupted`)."""
        with self._state:
            self._committing = not self._interrupted
            self._open = not self._committing
        self.check()
        _commit(self.cursor, checkpoint=self.checkpoint)

    def end(self) -> None:
        """Roll back what was not committed."""
        self._rollback()

    def _begin(self) -> None:
        self.cursor.begin()
        with self._state:
            self._open = True

    def _rollback(self) -> None:
        with self._state:
            was_open, self._open = self._open, False
        if was_open:
            self.cursor.rollback()

    def _usable(self) -> bool:
        """Whether the transaction survived a failed statement (DuckDB aborts it)."""
        try:
            self.cursor.execute("SELECT 1")
        except duckdb.Error:
            return False
        return True


@contextmanager
def one_thread(cursor: Cursor) -> Iterator[None]:
    """A block whose statements DuckDB runs on one thread: for rows that must be written
    in order, or small statements while other processes use the cores (several
    threads then only cost more CPU). The setting is the database's: it is put back
    as it was, also when a statement of the block fails."""
    found = cursor.execute("SELECT current_setting('threads')").fetchone()
    assert found is not None
    restore = f"SET threads = {int(found[0])}"
    cursor.execute("SET threads = 1")
    try:
        yield
    finally:
        _set_anyway(cursor, restore)


def _set_anyway(cursor: Cursor, setting: str) -> None:
    """Run `setting` (a database-wide SET or RESET) on `cursor`, or, if its transaction
    failed and takes no statement, on another connection to the same database."""
    try:
        cursor.execute(setting)
    except duckdb.Error:
        with cursor.cursor() as other:
            other.execute(setting)


def _commit(cursor: Cursor, *, checkpoint: bool) -> None:
    """Commit; with `checkpoint`, into the file instead of the write-ahead log: DuckDB
    checkpoints at a commit whose log would pass `checkpoint_threshold`, and then writes
    no log (a database-wide setting, so it is put back at once)."""
    if not checkpoint:
        cursor.commit()
        return
    cursor.execute("SET checkpoint_threshold = '0b'")
    try:
        cursor.commit()
    finally:
        _set_anyway(cursor, "RESET checkpoint_threshold")


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
            conn = duckdb.connect(str(path), read_only=read_only, config=config)
            # DuckDB draws a progress bar on stdout for a query over 2 s (a migration, a
            # big import): the CLI's output, the server's banner and the app's screen are
            # not DuckDB's to write to. (A session setting: cursors inherit it.)
            conn.execute("SET enable_progress_bar = false")
            return conn
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
