"""`add_memory` with group commit: concurrent appends written in one transaction.

One commit per append made DuckDB's transaction and index upkeep the cost of every
request: a server under concurrent writers spent most of its time there. Here each
append joins a queue; one caller at a time (the leader) takes what is queued, writes
it in one transaction (sessions made or undeleted, messages inserted and indexed in
queue order, so ids keep each session's order) and wakes the others with their
results. The leader then hands the lead to the first caller still waiting. While one
group is written the next one gathers, so the groups grow with the load and a lone
caller writes alone, without waiting for anyone.

Each append is still all-or-nothing and fails alone: if a group fails (a uuid that
belongs to another session, say), it is rolled back and its appends are written
again one by one, each in its own transaction, so only the failing ones raise, with
the error they would have raised alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from storage.duckdb.connection import Cursor, Database
from storage.duckdb.messages import insert_message_batches
from storage.duckdb.writes import ensure_sessions
from storage.models import Message

MAX_GROUP_MESSAGES = 5_000
"""Messages written in one transaction at most (an append larger than this goes alone)."""


@dataclass(eq=False)
class _Append:
    """One caller's append, its outcome, and how the caller is woken."""

    session_id: str
    messages: list[Message]
    woken: threading.Event = field(default_factory=threading.Event)
    finished: bool = False
    key: int = 0
    stored: list[Message] = field(default_factory=list)
    error: BaseException | None = None


class GroupCommit:
    """The queue of appends of one open file, and the leader that writes them.

    `committed(keys)` is called with the keys of the sessions a transaction wrote,
    after its commit and before any of its callers returns (the store schedules
    their summaries there)."""

    def __init__(self, db: Database, committed: Callable[[list[int]], None]) -> None:
        self._db = db
        self._committed = committed
        self._lock = threading.Lock()
        self._queue: list[_Append] = []
        self._leading = False

    def append(self, session_id: str, messages: Sequence[Message]) -> tuple[int, list[Message]]:
        """Append `messages` to the session (made or undeleted), as one transaction
        of its own would; returns the session's key and the messages inserted."""
        mine = _Append(session_id, list(messages))
        with self._lock:
            self._queue.append(mine)
            lead = not self._leading
            self._leading = True
        if not lead:
            mine.woken.wait()  # finished by a leader, or handed the lead
        if not mine.finished:
            self._lead(mine)
        if mine.error is not None:
            raise mine.error
        return mine.key, mine.stored

    @property
    def queued(self) -> int:
        """Appends waiting for a leader to write them (diagnostics and tests)."""
        with self._lock:
            return len(self._queue)

    def _lead(self, mine: _Append) -> None:
        """Write groups until `mine` is written, then hand the lead on."""
        try:
            while not mine.finished:
                with self._db.serialised():  # the next group gathers while this waits
                    self._write(self._take())
        finally:
            with self._lock:
                if self._queue:
                    self._queue[0].woken.set()  # not finished: it leads next
                else:
                    self._leading = False

    def _take(self) -> list[_Append]:
        """The oldest queued appends, up to MAX_GROUP_MESSAGES messages (at least one)."""
        with self._lock:
            count, size = 0, 0
            for item in self._queue:
                size += len(item.messages)
                if count and size > MAX_GROUP_MESSAGES:
                    break
                count += 1
            group, self._queue = self._queue[:count], self._queue[count:]
        return group

    def _write(self, group: list[_Append]) -> None:
        """Write `group` in one transaction, or (if that fails) each append in its own.
        Every outcome, failures too, goes to the appends: this never raises."""
        try:
            try:
                self._commit(group)
            except Exception as error:
                if len(group) == 1:
                    group[0].error = error
                else:
                    self._write_each(group)
            self._committed(sorted({item.key for item in group if item.error is None}))
        except BaseException as error:  # handed to the callers, who raise it
            for item in group:
                item.error = item.error or error
        finally:
            for item in group:
                item.finished = True
                item.woken.set()

    def _write_each(self, group: list[_Append]) -> None:
        """Each append in its own transaction, so only the failing ones fail."""
        for item in group:
            try:
                self._commit([item])
            except Exception as error:
                item.error = error

    def _commit(self, group: list[_Append]) -> None:
        """`group` in one transaction, which tells the memory cache which sessions it
        changed (`Database.write` reads `changed` after the block has filled it)."""
        changed: set[int] = set()
        with self._db.write(changes=changed) as cursor:
            changed.update(_insert(cursor, group, self._db))


def _insert(cursor: Cursor, group: list[_Append], db: Database) -> list[int]:
    """The writes of `group`, in order, inside the caller's transaction; the keys of
    the sessions written."""
    now = db.now()
    keys = ensure_sessions(cursor, [item.session_id for item in group], now)
    for item in group:
        item.key = keys[item.session_id]
    stored = insert_message_batches(cursor, [(item.key, item.messages) for item in group], now)
    for item, inserted in zip(group, stored, strict=True):
        item.stored = inserted
    return list(keys.values())
