"""The fast path for Zep JSONL (one message per line): DuckDB reads the file itself.

`zeptui.importers.zep` is the reference reader for Zep's formats; this module
does the same for the common case of one message per line, in SQL, so a million
messages load at the speed of DuckDB's `read_json` instead of Python's `json`.
It checks every record first and declines (`BulkImportDeclined`) any file it
cannot take exactly as the reference reader would: a session object on a line,
a record with a wrong type, an unknown role_type, a bad uuid or timestamp,
invalid JSON. The caller then uses the reference reader, which reports the
problem with its file and line. Both apply the rules of `storage.import_rules`
(this module their SQL); `tests/test_zep_bulk.py` checks that both paths store the
same thing.

Then it counts tokens while DuckDB reads the same rows' search terms (on processes
forked onto the spare cores, or on a thread), and inserts in bulk. The messages of
the sessions it creates are handed on for their summaries, so that the summary run
need not read them back.
"""

from __future__ import annotations

import gc
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import duckdb

from storage import ids, import_rules, limits
from storage.capabilities import BulkImportDeclined
from storage.duckdb import search, zep_counts
from storage.duckdb.connection import Cursor, one_thread
from storage.duckdb.rows import EARLIEST_SQL, LATEST_SQL
from storage.duckdb.terms import MESSAGES, insert_postings_sql, tokenise_sql
from storage.duckdb.writes import insert_user, reserve_ids
from storage.import_rules import (
    ROLE_TYPES_SQL,
    time_fill_sql,
    zep_message_uuid_sql,
    zep_role_sql,
    zep_role_type_sql,
    zero_time_sql,
)
from storage.models import CreateUserRequest, ImportResult
from storage.tokens import encoding

if TYPE_CHECKING:
    from storage.duckdb.summary_host import ShareDrafts
    from storage.summary_scheduler import StoredMessage

_COLUMNS = (
    "{session_id: 'JSON', user_id: 'JSON', uuid: 'JSON', created_at: 'JSON', role: 'JSON', "
    "role_type: 'JSON', name: 'JSON', content: 'JSON', metadata: 'JSON', messages: 'JSON'}"
)
_GLOB_CHARACTERS = frozenset("*?[]{}")
RECORD_BYTES = 16 * 1024 * 1024
"""The longest line DuckDB reads (its reading buffers are sized from it); a longer
one fails the read, and the reference reader names it."""


@contextmanager
def collections_paused() -> Iterator[None]:
    """A block in which Python's cyclic garbage collector does not run (as it was
    after). A big import makes a few hundred thousand objects that form no cycles
    (rows read for the counting children, their summaries sent back): each full
    collection meanwhile walks all of them and every object of the process, for
    nothing (0.19 s of a corpus import, most of it while the other core waited for
    the first counting child). The children forked meanwhile inherit the pause:
    drafting makes no cycles either, and they end with the import."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


@dataclass
class StagedFile:
    """A checked file in the temp table `zep_rows`, one row per message in file order."""

    rows: int
    groups: int
    """Runs of consecutive lines of one session (the reference reader's SessionImports)."""


def _fits_limits() -> str:
    """SQL: the record is surely within `storage.limits`; a record that may not be goes
    to the reference reader, which checks exactly and names its line."""
    # Blank (Python's str.strip() whitespace, a superset of RE2's \s) or holding a
    # character of the Cc category: one pattern, one pass over the id.
    bad_id = "'^[\\s\\p{Z}\\x{85}\\x{1c}-\\x{1f}]*$|[\\x{0}-\\x{1f}\\x{7f}-\\x{9f}]'"

    def good_id(column: str) -> str:
        value = f"({column} ->> '$')"
        return (
            f"({column} IS NULL OR {value} = '' "
            f"OR (length({value}) <= {limits.MAX_ID_CHARS} "
            f"AND NOT regexp_matches({value}, {bad_id})))"
        )

    metadata_text = "coalesce(metadata::VARCHAR, '')"
    brackets = (
        f"(length({metadata_text}) - length(replace(replace({metadata_text}, '{{', ''), '[', '')))"
    )
    return " AND ".join(
        [
            good_id("session_id"),
            good_id("user_id"),
            f"strlen(coalesce(content ->> '$', '')) <= {limits.MAX_CONTENT_BYTES}",
            f"length(coalesce(role ->> '$', '')) <= {limits.MAX_NAME_CHARS}",
            f"length(coalesce(name ->> '$', '')) <= {limits.MAX_NAME_CHARS}",
            # Over-counts (brackets inside strings, JSON's bytes vs. the walk's estimate):
            # only ever sends a record to the exact check.
            f"{brackets} <= {limits.MAX_METADATA_DEPTH}",
            f"strlen({metadata_text}) <= {limits.MAX_METADATA_BYTES // 2}",
            f"NOT regexp_matches({metadata_text}, 'NaN|Infinity')",
        ]
    )


STRING = '"'
OBJECT = "{"


def _is_json(column: str, kind: str) -> str:
    """SQL: whether the value of the JSON column `column` (not NULL) is a `STRING` or an
    `OBJECT`. `read_json` hands such a value over written anew, without white space,
    and a JSON null as SQL NULL: its first character is its type, read without
    parsing the value again as `json_type` does (0.05 s of `stage` for a corpus of
    258,112 lines)."""
    return f"starts_with({column}::VARCHAR, '{kind}')"


def _string_or_null(column: str) -> str:
    return f"({column} IS NULL OR {_is_json(column, STRING)})"


def stage(cursor: Cursor, path: Path, default_session_id: str) -> StagedFile:
    """Read and check `path` into the temp table `zep_rows`, or decline it.

    One pass: DuckDB parses the file, checks each record, applies the role rules
    and derives missing uuids in a single query.
    """
    # DuckDB expands glob patterns (and `~`, URLs) in file names: a path is a path, so a
    # name it would read as a pattern goes to the reference reader instead.
    path = path.resolve()
    if any(char in _GLOB_CHARACTERS for char in str(path)):
        raise BulkImportDeclined(f"{path.name}: a file name DuckDB would read as a pattern")
    try:
        limits.check_id(default_session_id)
    except limits.LimitError as error:
        raise BulkImportDeclined(str(error)) from None
    cursor.execute("SET TimeZone = 'UTC'")
    # The reference reader's rules (storage.import_rules), in SQL: roles, the uuid
    # of a message without one, the zero time, the time of a message without one.
    uuid_sql = zep_message_uuid_sql("session_id", "position - 1", "role_type", "role", "content")
    try:
        # Checked and converted on every core into a table that keeps the file's order
        # (a SELECT of one table function, inserted in order), then numbered: numbering
        # the rows as they are read would hold the checks to one thread.
        cursor.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE zep_checked AS
                SELECT
                    -- NULL is not ok: bool_and() below would skip it.
                    coalesce(messages IS NULL
                    AND content IS NOT NULL AND {_is_json("content", STRING)}
                    AND (session_id IS NULL OR ({_is_json("session_id", STRING)}
                                                AND session_id ->> '$' <> ''))
                    AND {_string_or_null("user_id")} AND {_string_or_null("role")}
                    AND {_string_or_null("name")} AND {_string_or_null("role_type")}
                    AND {_string_or_null("uuid")} AND {_string_or_null("created_at")}
                    AND (metadata IS NULL OR {_is_json("metadata", OBJECT)})
                    AND (coalesce(role_type ->> '$', '') = ''
                         OR list_contains({ROLE_TYPES_SQL}, role_type ->> '$'))
                    AND (coalesce(uuid ->> '$', '') = ''
                         OR try_cast(uuid ->> '$' AS UUID) IS NOT NULL)
                    AND (coalesce(created_at ->> '$', '') = ''
                         OR {zero_time_sql("created_at ->> '$'")}
                         OR coalesce(timezone('UTC', try_cast(created_at ->> '$' AS TIMESTAMPTZ))
                                     BETWEEN {EARLIEST_SQL} AND {LATEST_SQL}, FALSE))
                    AND {_fits_limits()}, FALSE) AS ok,
                    coalesce(session_id ->> '$', $default) AS session_id,
                    nullif(user_id ->> '$', '') AS user_id,
                    try_cast(nullif(uuid ->> '$', '') AS UUID) AS given_uuid,
                    CASE WHEN {zero_time_sql("created_at ->> '$'")} THEN NULL
                         ELSE timezone('UTC', try_cast(nullif(created_at ->> '$', '')
                                                       AS TIMESTAMPTZ)) END AS created_at,
                    content ->> '$' AS content,
                    CASE WHEN {_is_json("metadata", OBJECT)} THEN metadata END AS metadata,
                    coalesce(role ->> '$', '') AS raw_role,
                    nullif(role_type ->> '$', '') AS raw_role_type,
                    coalesce(name ->> '$', '') AS name,
                    name IS NOT NULL AS has_name
                FROM read_json($path, format = 'newline_delimited', columns = {_COLUMNS},
                               maximum_object_size = {RECORD_BYTES})
            """,
            {"path": str(path), "default": default_session_id},
        )
        cursor.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE zep_rows AS
            WITH checked AS (SELECT row_number() OVER () AS seq, * FROM zep_checked),
            roles AS (
                SELECT *,
                    {zep_role_type_sql("raw_role", "raw_role_type")} AS role_type,
                    {zep_role_sql("raw_role", "raw_role_type", "name", "has_name")} AS role,
                    row_number() OVER (PARTITION BY session_id ORDER BY seq) AS position,
                    {time_fill_sql("created_at", "session_id", "seq")} AS filled_at
                FROM checked
            )
            SELECT seq, ok, session_id, user_id, filled_at AS created_at, content, metadata,
                   role, role_type, position, seq - position AS island,
                   CASE WHEN given_uuid IS NULL THEN {uuid_sql} ELSE given_uuid END AS uuid
            FROM roles
            """
        )
        cursor.execute("DROP TABLE zep_checked")
    except duckdb.InterruptException:
        raise  # a cancel (or Ctrl-C), not a file to decline
    except duckdb.Error as error:
        raise BulkImportDeclined(str(error).splitlines()[0]) from None
    counts = cursor.execute(
        "SELECT count(*), count(DISTINCT (session_id, island)), bool_and(ok) FROM zep_rows"
    ).fetchone()
    assert counts is not None
    if counts[2] is False:
        cursor.execute("DROP TABLE zep_rows")
        raise BulkImportDeclined("some records need the reference reader")
    return StagedFile(rows=int(counts[0]), groups=int(counts[1]))


def import_file(
    cursor: Cursor,
    path: Path,
    default_session_id: str,
    now: datetime,
    clock: Stopwatch,
    on_read: Callable[[int, int], None] | None = None,
    backlogs: dict[int, Sequence[StoredMessage]] | None = None,
    on_kept: Callable[[], None] | None = None,
    drafts: ShareDrafts | None = None,
    on_stored: Callable[[], None] | None = None,
) -> tuple[ImportResult, list[int]]:
    """Import the Zep JSONL file at `path` in the caller's transaction: what
    `BulkImport.import_sessions` stores for it read by `zeptui.importers.zep`. Returns
    the counts and the keys of the sessions touched; the phases are timed on `clock`,
    and `on_read(sessions, messages)` hears what the file holds once it is checked.
    With `backlogs`, the messages of the sessions the file creates are put there as a
    summary backlog holds them (for `summaries.backlogs`), when they fit in
    `IN_MEMORY_BYTES`, and `drafts` (if given) has the children that count their
    tokens draft them, else `on_kept()` is called once they are there; `on_stored()`
    is called once the new messages and their search index are stored (the import is
    committed after it). Raises `BulkImportDeclined` (before writing anything) for a
    file that needs that reader."""
    result = ImportResult()
    # The tokenizer loads (a fifth of a second of Python, on first use) while DuckDB
    # reads the file, which lets go of the GIL: the counting after needs it.
    threading.Thread(target=encoding, name="zeptui-tokenizer", daemon=True).start()
    staged = stage(cursor, path, default_session_id)
    if _staged_uuids_need_care(cursor):
        raise BulkImportDeclined(
            "messages to restore or uuids held by other sessions need the reference reader"
        )
    clock.lap("read")
    if on_read is not None:
        on_read(staged.groups, staged.rows)
    # Users named by the sessions' messages, then the sessions.
    users = cursor.execute(
        "SELECT r.user_id FROM zep_rows r WHERE r.user_id IS NOT NULL "
        "AND r.user_id NOT IN (SELECT user_id FROM users WHERE deleted_at IS NULL) "
        "GROUP BY r.user_id ORDER BY min(r.seq)"
    ).fetchall()
    for (user_id,) in users:
        insert_user(cursor, CreateUserRequest(user_id=user_id), now)
    result.users_created = len(users)
    cursor.execute(
        """
        CREATE OR REPLACE TEMP TABLE zep_sessions AS
        SELECT session_id,
               arg_min(user_id, seq) FILTER (WHERE user_id IS NOT NULL) AS user_id,
               min(created_at) FILTER (WHERE island = first_island
                                       AND position <= $part) AS first_created,
               min(seq) AS first_seq
        FROM (SELECT *, min(island) OVER (PARTITION BY session_id) AS first_island
              FROM zep_rows)
        GROUP BY session_id
        """,
        # The reference readers hand a long session on in parts: the first
        # decides the session's created_at.
        {"part": import_rules.PART_MESSAGES},
    )
    # New sessions get ids in the order the file first names them.
    cursor.execute(
        "CREATE OR REPLACE TEMP TABLE zep_created AS "
        "SELECT z.*, row_number() OVER (ORDER BY z.first_seq) AS position "
        "FROM zep_sessions z ANTI JOIN sessions s ON s.session_id = z.session_id"
    )
    created = cursor.execute("SELECT count(*) FROM zep_created").fetchone()
    result.sessions_created = int(created[0]) if created else 0
    session_keys = reserve_ids(cursor, "sessions_id_seq", result.sessions_created)
    if session_keys:
        cursor.execute(
            "INSERT INTO sessions (id, uuid, session_id, user_id, created_at, "
            "updated_at, last_activity) "
            f"SELECT $first + z.position - 1, {ids.session_uuid_sql('z.session_id')}, "
            "z.session_id, z.user_id, "
            "coalesce(z.first_created, $now), $now, coalesce(z.first_created, $now) "
            "FROM zep_created z ORDER BY z.position",
            {"now": now, "first": session_keys[0]},
        )
    result.sessions_updated = staged.groups - result.sessions_created
    cursor.execute(
        "UPDATE sessions SET deleted_at = NULL, updated_at = $now, "
        "user_id = coalesce(sessions.user_id, z.user_id) "
        "FROM zep_sessions z WHERE sessions.session_id = z.session_id",
        {"now": now},
    )
    # New messages: the first line of each uuid not already stored.
    cursor.execute(
        """
        CREATE OR REPLACE TEMP TABLE zep_new AS
        SELECT r.*, s.id AS session_key FROM (
            SELECT * FROM zep_rows
            QUALIFY row_number() OVER (PARTITION BY uuid ORDER BY seq) = 1
        ) r
        JOIN sessions s ON s.session_id = r.session_id
        ANTI JOIN messages m ON m.uuid = r.uuid
        """
    )
    clock.lap("sessions")
    row = cursor.execute("SELECT count(*), min(seq), max(seq) FROM zep_new").fetchone()
    assert row is not None
    result.messages_added = int(row[0])
    result.messages_skipped = staged.rows - result.messages_added
    if result.messages_added:
        clock.lap("new messages")
        message_ids = reserve_ids(cursor, "messages_id_seq", result.messages_added)
        _number_rows(cursor, message_ids[0])
        keep = None
        # A big import into an empty index writes it sorted: no re-sort after.
        compact = search.compact_due(cursor, result.messages_added, stored=False)
        in_order = compact and search.is_empty(cursor)
        if backlogs is not None and session_keys and zep_counts.fits_in_memory(cursor):
            if drafts is not None:
                drafts.first_new = session_keys[0]
                drafts.sessions = len(session_keys)

            def kept() -> None:  # drafting ahead on workers, unless the children do
                if on_kept is not None and (drafts is None or drafts.forked is None):
                    on_kept()

            keep = zep_counts.BacklogRows(backlogs, session_keys[0], kept)
        zep_counts.count_staged_tokens(
            cursor,
            result.messages_added,
            int(row[1]),
            int(row[2]),
            clock,
            keep,
            lambda: _index_terms(cursor, in_order=in_order),
            drafts,
        )
        clock.lap("tokens and terms")
        # Ids follow the file's line order (`zep_ids`), whatever order the join
        # and DuckDB's threads produce the rows in. The rows are written in that
        # order too, by one thread: sorting them on several threads at once
        # holds more than the import's memory limit and cannot spill.
        with one_thread(cursor):
            cursor.execute(
                "INSERT INTO messages (id, uuid, session_key, role, role_type, content, "
                "token_count, metadata, created_at, updated_at, search_len) "
                "SELECT i.id, n.uuid, "
                "n.session_key, n.role, coalesce(n.role_type, 'norole'), n.content, "
                "t.token_count, n.metadata, "
                "coalesce(n.created_at, $now), $now, coalesce(l.n, 0) "
                "FROM zep_new n JOIN zep_ids i USING (seq) JOIN zep_tokens t ON t.id = i.id "
                "LEFT JOIN new_lengths l ON l.id = i.id "
                "ORDER BY n.seq",
                {"now": now},
            )
        cursor.execute(
            """
            UPDATE sessions SET
                message_count = sessions.message_count + a.n,
                total_tokens = sessions.total_tokens + a.tokens,
                last_activity = greatest(sessions.last_activity, a.newest)
            FROM (SELECT session_key, count(*) AS n, sum(token_count) AS tokens,
                         max(created_at) AS newest
                  FROM messages WHERE id >= $first  -- the new ones (ids reserved above)
                  GROUP BY session_key) a
            WHERE sessions.id = a.session_key
            """,
            {"first": message_ids[0]},
        )
        clock.lap("insert")
        cursor.execute("DROP TABLE new_lengths")
        if on_stored is not None:
            on_stored()
        if compact and not in_order:
            search.compact(cursor)
            clock.lap("compact")
    touched = [
        int(row[0])
        for row in cursor.execute(
            "SELECT s.id FROM sessions s SEMI JOIN zep_sessions z "
            "ON s.session_id = z.session_id ORDER BY s.id"
        ).fetchall()
    ]
    for table in ("zep_rows", "zep_sessions", "zep_created", "zep_new", "zep_tokens", "zep_ids"):
        cursor.execute(f"DROP TABLE IF EXISTS {table}")
    return result, touched


def _staged_uuids_need_care(cursor: Cursor) -> bool:
    """Whether staged rows name a soft-deleted message of their session (to restore)
    or a uuid of another session (a conflict): the reference path handles both."""
    row = cursor.execute(
        """
        SELECT EXISTS (
            SELECT 1 FROM zep_rows r JOIN messages m ON m.uuid = r.uuid
            JOIN sessions s ON s.id = m.session_key
            WHERE s.session_id <> r.session_id OR m.deleted_at IS NOT NULL
        ) OR EXISTS (
            SELECT 1 FROM zep_rows GROUP BY uuid HAVING count(DISTINCT session_id) > 1
        )
        """
    ).fetchone()
    return bool(row and row[0])


def _number_rows(cursor: Cursor, first_id: int) -> None:
    """`zep_ids(seq, id)`: the message id of each row of `zep_new`, in file order from
    `first_id` (one column sorted: little memory however big the file)."""
    cursor.execute(
        "CREATE OR REPLACE TEMP TABLE zep_ids AS "
        "SELECT seq, $first + row_number() OVER (ORDER BY seq) - 1 AS id FROM zep_new",
        {"first": first_id},
    )


def _index_terms(cursor: Cursor, *, in_order: bool) -> None:
    """The search postings of the rows of `zep_new` under their message ids (sorted,
    `in_order`), written before the rows themselves (while their tokens are counted
    elsewhere; one transaction), and their lengths left in `new_lengths` for the rows'
    insert."""
    for statement in tokenise_sql(
        "(SELECT i.id, n.content FROM zep_new n JOIN zep_ids i USING (seq))"
    ):
        cursor.execute(statement)
    cursor.execute(insert_postings_sql(MESSAGES, in_order=in_order))
    cursor.execute("DROP TABLE new_terms")


class Stopwatch:
    """Durations of the phases of a long operation, for diagnostics; `check`, called at
    each lap, may stop it between phases (by raising)."""

    def __init__(self, check: Callable[[], None] = lambda: None) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()
        self.check = check
        """Raises to stop the operation (between its steps, and at each lap)."""

    def lap(self, name: str) -> None:
        self.check()
        now = time.perf_counter()
        self.laps[name] = self.laps.get(name, 0.0) + now - self._last
        self._last = now
