"""A small session's rows as a search scores them, kept between searches by the
memory cache (storage/duckdb/memory_cache.py), which drops them with every write that
may change the session.

Why: a search of one session (storage/duckdb/ranking.py) reads the session's live
messages whole and scores them in Python, and that read is one DuckDB query costing
about 2.5 ms of CPU whatever its shape (each wide column's vector is decompressed,
whatever the rows taken): most of a search. Unpacking kept rows costs about 0.1 ms.

The rows are kept packed, to hold a large store's in little memory: the tuples
`ranking` scores, without the session id, times as microseconds since the epoch,
marshalled and compressed (zlib at its fastest): about 170 bytes a message, 170 MiB
for bench_store's 1,000,000 messages (2.3 KiB a message as Python objects).

A server reads them all before it listens (`warm`), as far as they fit; any other
session's rows are kept when a search first reads them.
"""

from __future__ import annotations

import marshal
import zlib
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from itertools import groupby
from operator import itemgetter
from typing import Any

from storage.duckdb.connection import Cursor
from storage.duckdb.memory_cache import MemoryCache
from storage.duckdb.rows import message_columns

ROWS_SQL = (
    f"SELECT m.id, m.session_key, m.search_len, {message_columns('epoch_us')} FROM messages m "
    "WHERE m.deleted_at IS NULL AND {where} ORDER BY m.session_key, m.id"
)
"""The live messages of the sessions matching `where` as `ranking` scores them, but
with the session's key in the session id's place and times as microseconds since
the epoch."""
WARM_SESSIONS = 1_000
"""Sessions whose rows one query of `warm` reads (a few hundred thousand rows at most,
as their sessions are small)."""
ESTIMATED_BYTES = 200
"""The packed size of a message, as `warm` estimates it (bench_store's: 170)."""

_EPOCH = datetime(1970, 1, 1)
_MICROSECOND = timedelta(microseconds=1)


def pack(rows: Sequence[Sequence[Any]]) -> bytes:
    """`rows` (as `ROWS_SQL` reads them) packed to be kept."""
    return zlib.compress(
        marshal.dumps([(row[0], *row[2:]) for row in rows]),
        1,
    )


def unpack(packed: bytes, session_id: str) -> list[tuple[Any, ...]]:
    """Kept rows as `ranking` scores them, (id, session id, search_len,
    MESSAGE_COLUMNS), but with their times as numbers: `with_times` makes them times
    again, for the rows found (a tenth of a millisecond for a session's)."""
    return [(row[0], session_id, *row[1:]) for row in marshal.loads(zlib.decompress(packed))]


def with_times(found: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
    """Rows of `unpack` (with a score inserted after the session id, or not: the times
    are counted from the end) with their times as MESSAGE_COLUMNS reads them."""
    return [(*row[:-7], _time(row[-7]), _time(row[-6]), *row[-5:]) for row in found]


def _time(value: int | None) -> datetime | None:
    return None if value is None else _EPOCH + value * _MICROSECOND


def session_rows(
    cursor: Cursor, cache: MemoryCache, key: int, session_id: str
) -> list[tuple[Any, ...]]:
    """The live messages of session `key` (live, and small), kept or read and kept, as
    `unpack` gives them."""
    kept = cache.rows(key)
    if kept is not None:
        return unpack(kept, session_id)
    read_at = cache.now()
    # A constant filter: DuckDB's zone maps skip the row groups without the session.
    rows = cursor.execute(ROWS_SQL.format(where="m.session_key = ?"), [key]).fetchall()
    if cache.keeps_rows:
        cache.put_rows(key, read_at, pack(rows))
    return [(row[0], session_id, *row[2:]) for row in rows]  # as `unpack` gives them


def warm(
    cursor: Cursor, cache: MemoryCache, read_at: int, sessions: Sequence[tuple[int, int]]
) -> int:
    """Keep the rows of `sessions` (key, live messages: live and small, the most wanted
    first) read after `read_at`, as far as they fit without dropping others; how many
    were kept.

    The sessions that fit by an estimate of their size are read in the order of their
    keys, WARM_SESSIONS at a time, a range of keys each: messages lie mostly in the
    order of their session's key, so DuckDB's zone maps skip most of the table."""
    room = cache.rows_room // ESTIMATED_BYTES
    wanted = []
    for key, messages in sessions:
        room -= messages
        if room < 0:
            break
        wanted.append(key)
    kept = 0
    for chunk in _chunks(sorted(wanted)):
        rows = cursor.execute(
            ROWS_SQL.format(
                where="m.session_key BETWEEN ? AND ? "
                "AND m.session_key IN (SELECT unnest(?::BIGINT[]))"
            ),
            [chunk[0], chunk[-1], chunk],
        ).fetchall()
        found = {key: list(session) for key, session in groupby(rows, itemgetter(1))}
        for key in chunk:
            if not cache.put_rows(key, read_at, pack(found.get(key, [])), evict=False):
                return kept
            kept += 1
    return kept


def _chunks(keys: Sequence[int]) -> Iterator[Sequence[int]]:
    for start in range(0, len(keys), WARM_SESSIONS):
        yield keys[start : start + WARM_SESSIONS]
