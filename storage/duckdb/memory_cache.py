"""Memory answers kept in the process, so a busy session's `get_memory` costs no query,
and the heads of the sessions' memory, so any other session's costs one.

While a store holds its file nobody else writes it, so what it read stays true until
it writes. Every write transaction reports what it changed once it has committed
(`Database.write(changes=...)`): the keys of the sessions whose memory it may have
changed (appends, summaries, a message's edit or delete, a session's update or
delete), none (new users and sessions, user updates), or everything (any other write,
and taking the file back after letting it go). A read notes the time (a change counter) before it
queries, and its answer is kept only while no change to its session came after that
time. So an answer is never kept stale, and a read made after a write has returned
sees that write.

A session's head (its key, facts, newest summary and the ids of the messages after
it: `reads.SessionHead`) takes three queries that each scan a column; the heads of
the MAX_HEADS most recently active sessions are read together in one, by the
HEAD_MISSES-th read that misses after the cache started or everything changed, and
kept on the same terms as the answers. A read of a session whose answer is not kept
then costs the one query of its messages' rows.

Each kept answer is also kept as its JSON, which a server sends as it is
(`get_json`). A server can warm the cache before it listens: the default memory
(perpetual, no lastn) of the most recently active sessions, as JSON only, up to
MAX_WARM_BYTES, read in two queries (`DuckDBStore.warm_memory`); these answers are
dropped on the same terms as the others.

It also keeps, on the same terms, the rows a search of a small session scores, packed
(storage/duckdb/search_rows.py), up to MAX_ROWS_BYTES in all: reading them is one
DuckDB query of about 2.5 ms of CPU, most of a search's cost.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from storage.models import Memory, MemoryType

if TYPE_CHECKING:
    from storage.duckdb.reads import SessionHead

MAX_ANSWERS = 2_048
"""Answers kept (a session's memory per memory type and lastn); the least recently
used go first."""
MAX_ANSWER_BYTES = 64 * 1024
"""An answer larger than this (as JSON) is not kept: the cache holds at most
MAX_ANSWERS x MAX_ANSWER_BYTES."""
MAX_HEADS = 20_000
"""Session heads kept (each a few hundred bytes, with its summary's text)."""
HEAD_MISSES = 32
"""Reads without a kept head after which every recent session's head is read."""
MAX_WARM_BYTES = 64 * 1024 * 1024
"""The JSON of the answers a warm-up keeps, at most (about 40 MiB for 10,000 sessions
of a 1,000,000-message store)."""
MAX_ROWS_BYTES = 256 * 1024 * 1024
"""The packed search rows kept, at most (about 170 MiB for the 1,000,000-message store
of bench/bench_store.py); the least recently used go first."""
MAX_CHANGED_SESSIONS = 100_000
"""Sessions whose last change time is remembered; past that, everything counts as
changed (and the list starts again), so the bookkeeping stays bounded."""

Question = tuple[str, MemoryType, int | None]
"""(session id, memory type, lastn)."""


@dataclass(frozen=True)
class _Answer:
    key: int
    read_at: int
    memory: Memory
    json: bytes


@dataclass(frozen=True)
class _WarmAnswer:
    key: int
    read_at: int
    json: bytes


class MemoryCache:
    """Recent `get_memory` answers, dropped as soon as a write may change them."""

    def __init__(
        self, max_answers: int = MAX_ANSWERS, max_rows_bytes: int = MAX_ROWS_BYTES
    ) -> None:
        self._max_answers = max_answers
        self._max_rows_bytes = max_rows_bytes if max_answers else 0
        self._lock = threading.Lock()
        self._answers: OrderedDict[Question, _Answer] = OrderedDict()
        self._clock = 0
        self._everything_changed_at = 0
        self._changed_at: dict[int, int] = {}
        self._warm: dict[str, _WarmAnswer] = {}
        """Session id -> the JSON of its default memory, from a warm-up."""
        self._heads: dict[str, tuple[int, SessionHead]] = {}
        """Session id -> (read at, head)."""
        self._head_misses = 0
        """Reads that found no head since everything last changed; at HEAD_MISSES the
        heads are read together (once: the count goes on past it)."""
        self._rows: OrderedDict[int, tuple[int, bytes]] = OrderedDict()
        """Session key -> (read at, its packed search rows)."""
        self._rows_bytes = 0

    @property
    def keeps_answers(self) -> bool:
        """Whether it keeps anything (`max_answers` 0: nothing)."""
        return bool(self._max_answers)

    def now(self) -> int:
        """The time to note before reading what will be `put`."""
        with self._lock:
            return self._clock

    def get(self, question: Question) -> Memory | None:
        """A kept answer that no change has touched since it was read; a copy, so
        the caller may change it."""
        with self._lock:
            answer = self._answers.get(question)
            if answer is None:
                return None
            if not self._still_true(answer.key, answer.read_at):
                del self._answers[question]
                return None
            self._answers.move_to_end(question)
        return answer.memory.model_copy(deep=True)

    def get_json(self, question: Question) -> bytes | None:
        """The JSON of a kept answer (one a warm-up read too) that no change has
        touched since it was read."""
        with self._lock:
            answer = self._answers.get(question)
            if answer is not None:
                if self._still_true(answer.key, answer.read_at):
                    self._answers.move_to_end(question)
                    return answer.json
                del self._answers[question]
            session_id, memory_type, lastn = question
            if memory_type is not MemoryType.perpetual or lastn is not None:
                return None
            warm = self._warm.get(session_id)
            if warm is None:
                return None
            if self._still_true(warm.key, warm.read_at):
                return warm.json
            del self._warm[session_id]
            return None

    def put(self, question: Question, key: int, read_at: int, memory: Memory) -> bytes:
        """Keep `memory` (the answer for session `key`, read after `read_at`) unless
        a change came since, or it is too large; its JSON either way."""
        json = memory.model_dump_json().encode()
        if not self._max_answers or len(json) > MAX_ANSWER_BYTES:
            return json
        kept = memory.model_copy(deep=True)
        with self._lock:
            if not self._still_true(key, read_at):
                return json
            self._answers[question] = _Answer(key, read_at, kept, json)
            self._answers.move_to_end(question)
            while len(self._answers) > self._max_answers:
                self._answers.popitem(last=False)
        return json

    def put_warm(self, read_at: int, answers: Iterable[tuple[str, int, bytes]]) -> int:
        """Keep the JSON of default memory answers (session id, key, JSON) read after
        `read_at`, up to MAX_WARM_BYTES in all; how many were kept."""
        if not self._max_answers:
            return 0
        size = 0
        with self._lock:
            self._warm.clear()  # a warm-up replaces the last one's answers
            for session_id, key, json in answers:
                size += len(json)
                if size > MAX_WARM_BYTES:
                    break
                if self._still_true(key, read_at):
                    self._warm[session_id] = _WarmAnswer(key, read_at, json)
            return len(self._warm)

    def head(self, session_id: str) -> SessionHead | None:
        """A kept head of the session that no change has touched since it was read."""
        with self._lock:
            kept = self._heads.get(session_id)
            if kept is None:
                return None
            read_at, head = kept
            if not self._still_true(head.key, read_at):
                del self._heads[session_id]
                return None
            return head

    def claim_heads(self) -> bool:
        """Called by a read that found no head: whether it should read every head now
        (`put_heads`). True for the HEAD_MISSES-th such read after the cache started or
        everything changed, so a short-lived process (a CLI command) never pays for
        it, and a server does once it serves many sessions."""
        with self._lock:
            self._head_misses += 1
            return bool(self._max_answers) and self._head_misses == HEAD_MISSES

    def put_heads(self, read_at: int, heads: Collection[tuple[str, SessionHead]]) -> None:
        """Keep heads read after `read_at` (those of sessions changed since are not),
        up to MAX_HEADS in all."""
        if not self._max_answers:
            return
        with self._lock:
            for session_id, head in heads:
                if len(self._heads) >= MAX_HEADS:
                    return
                if self._still_true(head.key, read_at):
                    self._heads[session_id] = (read_at, head)

    def rows(self, key: int) -> bytes | None:
        """The kept search rows of session `key` that no change has touched since
        they were read."""
        with self._lock:
            kept = self._rows.get(key)
            if kept is None:
                return None
            if not self._still_true(key, kept[0]):
                self._drop_rows(key)
                return None
            self._rows.move_to_end(key)
            return kept[1]

    def put_rows(self, key: int, read_at: int, packed: bytes, *, evict: bool = True) -> bool:
        """Keep the search rows of session `key` read after `read_at`, unless a change
        came since; the least recently used go to make room (`evict`), else rows that
        do not fit are not kept. Whether there was room."""
        with self._lock:
            if len(packed) > self._max_rows_bytes - (0 if evict else self._rows_bytes):
                return False
            if self._still_true(key, read_at):
                self._drop_rows(key)
                self._rows[key] = (read_at, packed)
                self._rows_bytes += len(packed)
                while self._rows_bytes > self._max_rows_bytes:
                    self._drop_rows(next(iter(self._rows)))
            return True

    @property
    def keeps_rows(self) -> bool:
        """Whether it keeps search rows."""
        return bool(self._max_rows_bytes)

    @property
    def rows_room(self) -> int:
        """The bytes of search rows it has room for."""
        with self._lock:
            return self._max_rows_bytes - self._rows_bytes

    def _drop_rows(self, key: int) -> None:
        kept = self._rows.pop(key, None)
        if kept is not None:
            self._rows_bytes -= len(kept[1])

    def changed(self, keys: Collection[int] | None) -> None:
        """A write committed: it changed the sessions `keys` (None: anything)."""
        with self._lock:
            self._clock += 1
            if keys is None or len(self._changed_at) + len(keys) > MAX_CHANGED_SESSIONS:
                self._everything_changed_at = self._clock
                self._changed_at.clear()
                self._answers.clear()
                self._warm.clear()
                self._heads.clear()
                self._rows.clear()
                self._rows_bytes = 0
                self._head_misses = 0
                return
            for key in keys:
                self._changed_at[key] = self._clock
                self._drop_rows(key)

    def _still_true(self, key: int, read_at: int) -> bool:
        return self._everything_changed_at <= read_at and self._changed_at.get(key, 0) <= read_at
