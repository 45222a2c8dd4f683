"""How the app holds the store: a lease, so other zeptui processes can use the file.

DuckDB lets one process at a time hold a database file. The app opens the store
when a call needs it and closes it after `idle` seconds without calls, so
`zeptui import` in another terminal (which waits up to two seconds for the file)
gets in between. If another process holds the file when the app needs it, the
call fails at once with `StoreLockedError`, which names the holder; the panes
then try again by themselves after growing delays (`LockRetry`).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, TypeVar

from storage.errors import NotFoundError

if TYPE_CHECKING:
    from textual.timer import Timer
    from textual.widget import Widget

    from storage.models import SessionPage, SessionQuery, StoreStats
    from storage.store import MemoryStore

T = TypeVar("T")

DEFAULT_IDLE_SECONDS = 1.0


class StoreAccess:
    """Runs calls against a store opened on demand and released when idle.

    Thread-safe: the app calls `run` from worker threads.
    """

    def __init__(
        self,
        opener: Callable[[], MemoryStore],
        location: str,
        *,
        idle: float | None = DEFAULT_IDLE_SECONDS,
        path: Path | None = None,
    ) -> None:
        self._opener = opener
        self.location = location
        self.path = path
        """The database file, when the store is one (the app keeps its first page)."""
        self._idle = idle
        self._guard = threading.Lock()
        self._store: MemoryStore | None = None
        self._active = 0
        self._last_used = 0.0
        self._timer: threading.Timer | None = None
        self._closed = False

    @classmethod
    def for_file(cls, path: Path, *, idle: float | None = DEFAULT_IDLE_SECONDS) -> StoreAccess:
        """Access to a DuckDB file, read-only (the app browses; it never writes)."""

        def opener() -> MemoryStore:
            from storage.duckdb import DuckDBStore

            if not path.exists():
                raise NotFoundError(f"{path}: no database yet")
            return DuckDBStore(path, read_only=True, summarizer=None, lock_timeout=0.5)

        return cls(opener, str(path), idle=idle, path=path)

    @property
    def is_open(self) -> bool:
        return self._store is not None

    @property
    def closed(self) -> bool:
        """True once `close` was called (another thread may call it at any time)."""
        return self._closed

    def run(self, call: Callable[[MemoryStore], T]) -> T:
        """`call(store)`, opening the store first if needed."""
        with self._guard:
            if self._closed:
                raise RuntimeError("store access is closed")
            if self._store is None:
                self._store = self._opener()
            store = self._store
            self._active += 1
        try:
            return call(store)
        finally:
            with self._guard:
                self._active -= 1
                self._last_used = time.monotonic()
                release = self.closed and not self._active and self._store is not None
                if release:
                    self._store = None
                else:
                    self._arm_timer()
            if release:  # closed while this call ran: the last call out closes the store
                store.close()

    def _arm_timer(self) -> None:
        if self._idle is None or self._timer is not None:
            return
        self._timer = threading.Timer(self._idle, self._release_if_idle)
        self._timer.daemon = True
        self._timer.start()

    def _release_if_idle(self) -> None:
        with self._guard:
            self._timer = None
            if self._store is None or self._active:
                return
            if time.monotonic() - self._last_used < (self._idle or 0):
                self._arm_timer()
                return
            store, self._store = self._store, None
        store.close()

    def close(self) -> None:
        """Release the store for good (once the calls still running have finished)."""
        with self._guard:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if self._active:
                return
            store, self._store = self._store, None
        if store is not None:
            store.close()


class LockRetry:
    """Retrying while another process holds the database file: after growing
    delays, a bounded number of times (never a busy loop)."""

    DELAYS: ClassVar[tuple[float, ...]] = (0.5, 1, 2, 4, 8, 15, 30, 30, 30)
    """Seconds before each retry: about two minutes in all, then the user presses r."""

    def __init__(self, owner: Widget) -> None:
        self._owner = owner
        self._timer: Timer | None = None
        self.attempts = 0

    def schedule(self, retry: Callable[[], object]) -> str:
        """Run `retry` after the next delay; returns the line that tells the user."""
        self.cancel()
        if self.attempts >= len(self.DELAYS):
            self.attempts = 0  # the user's next `r` starts a new round
            return "Press r to try again."
        delay = self.DELAYS[self.attempts]
        self.attempts += 1
        self._timer = self._owner.set_timer(delay, retry)
        return f"Trying again in {delay:g} s."

    def cancel(self) -> None:
        """Drop a pending retry (a newer request replaces it)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def succeeded(self) -> bool:
        """The store answered; True if that ended a round of retries."""
        retried, self.attempts = self.attempts > 0, 0
        return retried


def session_page(store: MemoryStore, query: SessionQuery) -> SessionPage:
    """A page of the session list (the store's `SessionPages` capability)."""
    from storage.capabilities import SessionPages, require

    return require(store, SessionPages, "list sessions with their counts").session_page(query)


def store_stats(store: MemoryStore) -> StoreStats | None:
    """The header's counts, when the store keeps them (a remote Zep server does not)."""
    from storage.capabilities import Maintenance, offered

    maintenance = offered(store, Maintenance)
    return None if maintenance is None else maintenance.stats()
