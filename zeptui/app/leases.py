"""How the app holds the database file: short leases, so other zeptui processes can use it.

DuckDB lets one process at a time hold a database file read-write, and refuses a
second handle on the same file with another configuration inside one process.

- The **read lease** opens the store read-only when a call needs it and closes it
  after `idle` seconds without calls, so `zeptui import` in another terminal (which
  waits up to two seconds for the file) gets in between. If another process holds
  the file, the call fails at once with `StoreLockedError`, which names the holder
  (a `zeptui serve` by its pid and URL: `zeptui.compose.connect`).
- The **write lease** waits for the reads under way to finish, closes the read-only
  handle, opens the file read-write (waiting a bounded time for another process),
  runs the write and closes the file again. Reads asked for meanwhile wait for it.

Both are called from worker threads (`zeptui/app/data.py`), never from the UI thread.

A server's store (`--remote URL|NAME`) has no file to let go of: `SharedStore` opens
one `RemoteStore` on the first call and runs every call on it, from any worker thread
(its `httpx.Client` "can be shared between threads", and it keeps no other state that
a call changes). Both kinds are a `StoreAccess`, which is all the data layer knows.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol, TypedDict, TypeVar, Unpack

from storage.errors import NotFoundError

if TYPE_CHECKING:
    from storage.store import MemoryStore
    from zeptui.compose import StoreTarget
    from zeptui.remote import RetryPolicy
    from zeptui.settings import Settings

T = TypeVar("T")

DEFAULT_IDLE_SECONDS = 1.0
READ_LOCK_WAIT = 0.5
"""Seconds a read waits for another process to let go of the file (the panes retry)."""

Opener = Callable[[], "MemoryStore"]
WriteOpener = Callable[..., "MemoryStore"]
"""Opens the store read-write; called with the `WriteOptions` that differ from
`WRITE_DEFAULTS` (`summaries=False`: without making summaries)."""


class WriteOptions(TypedDict, total=False):
    """How a write holds the store (each optional, `WRITE_DEFAULTS` otherwise)."""

    summaries: bool
    """False: the write makes no summaries (where the app makes them)."""
    memory_limit: str | None
    """Caps DuckDB's memory (e.g. `"256MB"`) for the write (an import's); a server
    owns its memory."""


WRITE_DEFAULTS: dict[str, object] = {"summaries": True, "memory_limit": None}


class StoreAccess(Protocol):
    """How the data layer reaches the store: `read` and `write` run a call on it from
    a worker thread; `close` lets go of it for good."""

    location: str
    """The store as the user named it (the header shows it)."""
    path: Path | None
    """The database file, when the store is one (the app keeps its first page)."""

    def read(self, call: Callable[[MemoryStore], T]) -> T: ...

    def write(self, call: Callable[[MemoryStore], T], **options: Unpack[WriteOptions]) -> T:
        """`call(store)` as a write, held as `options` say."""
        ...

    def close(self) -> None: ...


def _settings_once(
    settings: Callable[[], Settings] | None, flags: dict[str, object]
) -> Callable[[], Settings]:
    """`settings`, or zeptui's own (with `flags`), asked for once, from the first
    worker thread that opens the store (pydantic is not loaded before the first frame)."""

    @functools.cache
    def current() -> Settings:
        if settings is not None:
            return settings()
        from zeptui.settings import load

        return load(flags)

    return current


class StoreLeases:
    """Runs calls against a store opened for them: reads share a read-only handle
    released when idle; a write gets the file read-write for its length alone.

    Thread-safe: the app calls `read` and `write` from worker threads.
    """

    def __init__(
        self,
        read_opener: Opener,
        location: str,
        *,
        write_opener: WriteOpener | None = None,
        idle: float | None = DEFAULT_IDLE_SECONDS,
        path: Path | None = None,
    ) -> None:
        self._read_opener = read_opener
        self._write_opener = write_opener
        self.location = location
        self.path = path
        """The database file, when the store is one (the app keeps its first page)."""
        self._idle = idle
        self._state = threading.Condition()
        self._store: MemoryStore | None = None
        self._readers = 0
        self._writing = False
        self._writers_waiting = 0
        self._last_used = 0.0
        self._timer: threading.Timer | None = None
        self._closed = False

    @classmethod
    def for_file(
        cls,
        path: Path,
        *,
        settings: Callable[[], Settings] | None = None,
        idle: float | None = DEFAULT_IDLE_SECONDS,
    ) -> StoreLeases:
        """Leases on a DuckDB file, opened by the composition root: reads open it
        read-only; a write opens it read-write. `settings` gives the message window and
        the summarizer (asked once, from a worker thread, when the file is first
        opened); by default zeptui's settings as the config file and environment say."""
        from zeptui.compose import StoreTarget

        target = StoreTarget.file(path)
        current = _settings_once(settings, {"database.path": path})

        def read_opener() -> MemoryStore:
            from zeptui.compose import connect

            if not path.exists():
                raise NotFoundError(f"{path}: no database yet")
            # A file served when the app started is read through that server
            # (`store_access`); one served since is refused, naming the server.
            return connect(
                target,
                current(),
                read_only=True,
                lock_timeout=READ_LOCK_WAIT,
                through_server=False,
            )

        def write_opener(*, summaries: bool = True, memory_limit: str | None = None) -> MemoryStore:
            from zeptui.compose import connect

            # Summaries a write makes due are made as the lease ends (the CLI's way:
            # while an LLM is waited on, the file is let go).
            return connect(
                target,
                current(),
                summaries=summaries,
                memory_limit=memory_limit,
                through_server=False,
            )

        return cls(read_opener, str(path), write_opener=write_opener, idle=idle, path=path)

    @property
    def is_open(self) -> bool:
        """Whether the read-only handle is open now."""
        return self._store is not None

    @property
    def closed(self) -> bool:
        """True once `close` was called (another thread may call it at any time)."""
        return self._closed

    def read(self, call: Callable[[MemoryStore], T]) -> T:
        """`call(store)` on the read-only handle, opening it first if needed (a write
        under way or waiting goes first)."""
        with self._state:
            self._state.wait_for(
                lambda: self.closed or not (self._writing or self._writers_waiting)
            )
            if self._closed:
                raise RuntimeError("store access is closed")
            if self._store is None:
                self._store = self._read_opener()
            store = self._store
            self._readers += 1
        try:
            return call(store)
        finally:
            with self._state:
                self._readers -= 1
                self._last_used = time.monotonic()
                release = self.closed and not self._readers and self._store is not None
                if release:
                    self._store = None
                else:
                    self._arm_timer()
                self._state.notify_all()
            if release:  # closed while this call ran: the last call out closes the store
                store.close()

    def write(self, call: Callable[[MemoryStore], T], **options: Unpack[WriteOptions]) -> T:
        """`call(store)` with the file open read-write for its length alone (making
        the summaries the write makes due unless `summaries` is False, with DuckDB's
        memory capped at `memory_limit` if given). The handle is the write's own, so
        the limit ends with it: the reads' handle is opened without it.

        Waits for the reads under way, closes the read-only handle (DuckDB refuses a
        read-write handle beside it), and fails with `StoreLockedError` naming the
        holder when another process keeps the file longer than a CLI write would wait.
        """
        if self._write_opener is None:
            raise RuntimeError(f"{self.location}: this store is read-only here")
        with self._state:
            if self.closed:
                raise RuntimeError("store access is closed")
            self._writers_waiting += 1
            try:
                self._state.wait_for(lambda: not (self._writing or self._readers))
            finally:
                self._writers_waiting -= 1
            if self.closed:
                raise RuntimeError("store access is closed")
            self._writing = True
            reader, self._store = self._store, None
            self._cancel_timer()
        try:
            if reader is not None:
                reader.close()
            # An opener is given only what differs from the defaults (openers of
            # stores that never make summaries or cap memory take no arguments).
            given = {key: value for key, value in options.items() if value != WRITE_DEFAULTS[key]}
            store = self._write_opener(**given)
            try:
                return call(store)
            finally:
                store.close()
        finally:
            with self._state:
                self._writing = False
                self._state.notify_all()

    def _arm_timer(self) -> None:
        if self._idle is None or self._timer is not None or self._store is None:
            return
        self._timer = threading.Timer(self._idle, self._release_if_idle)
        self._timer.daemon = True
        self._timer.start()

    def _cancel_timer(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _release_if_idle(self) -> None:
        with self._state:
            self._timer = None
            if self._store is None or self._readers:
                return
            if time.monotonic() - self._last_used < (self._idle or 0):
                self._arm_timer()
                return
            store, self._store = self._store, None
        store.close()

    def close(self) -> None:
        """Release the store for good (once the calls still running have finished)."""
        with self._state:
            self._closed = True
            self._cancel_timer()
            self._state.notify_all()
            if self._readers:
                return
            store, self._store = self._store, None
        if store is not None:
            store.close()


class SharedStore:
    """A server's store for the app: one `RemoteStore`, opened by the first call that
    needs it and shared by every worker thread after that. No leases: the server holds
    its file. A store that could not be opened (the server down, a refused key) is
    opened again by the next call, so `r` in the app tries again."""

    path: Path | None = None

    def __init__(self, opener: Opener, location: str) -> None:
        self._opener = opener
        self.location = location
        self._lock = threading.Lock()
        self._store: MemoryStore | None = None
        self._closed = False

    @classmethod
    def for_target(
        cls,
        target: StoreTarget,
        *,
        settings: Callable[[], Settings] | None = None,
        retry: RetryPolicy | None = None,
    ) -> SharedStore:
        """The store of the server `target` names, opened by the composition root with
        `settings` (the API key, version and timeout; by default zeptui's settings) and
        `retry` (the client's default policy when None)."""
        current = _settings_once(settings, {})

        def opener() -> MemoryStore:
            from zeptui.compose import StoreTarget, connect

            # A named remote is read again: its key (or URL) may have been set right
            # since the last try.
            now = StoreTarget.remote(target.named.name) if target.named else target
            return connect(now, current(), retry=retry)

        return cls(opener, target.title)

    def _store_now(self) -> MemoryStore:
        # Under the lock: calls that arrive while the first one opens the store wait
        # for that one instead of opening a second client.
        with self._lock:
            if self._closed:
                raise RuntimeError("store access is closed")
            if self._store is None:
                self._store = self._opener()
            return self._store

    def read(self, call: Callable[[MemoryStore], T]) -> T:
        """`call(store)`, the store opened first if it is not yet."""
        return call(self._store_now())

    def write(self, call: Callable[[MemoryStore], T], **options: Unpack[WriteOptions]) -> T:
        """`call(store)`: the server makes the writes safe (and its summaries, and
        owns its memory, so `options` do not apply); nothing to hold here."""
        return call(self._store_now())

    def close(self) -> None:
        """Close the store for good (a call still running fails; its reply is dropped)."""
        with self._lock:
            self._closed = True
            store, self._store = self._store, None
        if store is not None:
            store.close()


def store_access(
    target: StoreTarget,
    *,
    settings: Callable[[], Settings] | None = None,
    retry: RetryPolicy | None = None,
) -> StoreAccess:
    """How the app reaches the store `target` names: leases on a database file, or a
    server's `SharedStore` (`retry` as its client's policy), which a file is too when
    the `zeptui serve` of this user holds it as the app starts (`StoreTarget.served`)."""
    if target.path is not None and target.kind == "file":
        from zeptui.compose import StoreTarget

        served = StoreTarget.served(target.path)
        if served is None:
            return StoreLeases.for_file(target.path, settings=settings)
        target = served
    return SharedStore.for_target(target, settings=settings, retry=retry)
