"""The DuckDB schema, its migrations, and the check of a file's schema on opening.

`zeptui_meta` holds `format = zeptui` and `schema_version`. A file without that
table is refused unless it is empty; a file with a newer version is refused and
left untouched; an older version is migrated step by step in one transaction.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage.duckdb.terms import SUMMARIES, index_sql
from storage.errors import IncompatibleStoreError

if TYPE_CHECKING:  # only for annotations: `storage.duckdb.peek` reads the version without duckdb
    import duckdb

FORMAT_NAME = "zeptui"
SCHEMA_VERSION = 4

# Timestamps are naive TIMESTAMPs holding UTC: no time-zone extension needed.
# Uniqueness (session_id, user_id, message uuid) is enforced by the store, which
# serialises writes, rather than by ART indexes: DuckDB scans these columns in
# milliseconds, and indexes would slow bulk imports and complicate updates.
_V1 = [
    "CREATE TABLE zeptui_meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
    "CREATE SEQUENCE users_id_seq START 1",
    "CREATE SEQUENCE sessions_id_seq START 1",
    "CREATE SEQUENCE messages_id_seq START 1",
    "CREATE SEQUENCE summaries_id_seq START 1",
    """CREATE TABLE users (
        id BIGINT NOT NULL,
        uuid UUID NOT NULL,
        user_id VARCHAR NOT NULL,
        email VARCHAR,
        first_name VARCHAR,
        last_name VARCHAR,
        metadata JSON,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL
    )""",
    """CREATE TABLE sessions (
        id BIGINT NOT NULL,
        uuid UUID NOT NULL,
        session_id VARCHAR NOT NULL,
        user_id VARCHAR,
        metadata JSON,
        facts JSON,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        deleted_at TIMESTAMP,
        ended_at TIMESTAMP,
        message_count BIGINT NOT NULL DEFAULT 0,
        total_tokens BIGINT NOT NULL DEFAULT 0,
        last_activity TIMESTAMP NOT NULL
    )""",
    # `id` is the insertion order (Zep orders by it); `session_key` = sessions.id.
    # `search_len` is the number of indexed terms, BM25's document length.
    """CREATE TABLE messages (
        id BIGINT NOT NULL,
        uuid UUID NOT NULL,
        session_key BIGINT NOT NULL,
        role VARCHAR NOT NULL,
        role_type VARCHAR,
        content VARCHAR NOT NULL,
        token_count INTEGER NOT NULL,
        metadata JSON,
        created_at TIMESTAMP NOT NULL,
        updated_at TIMESTAMP NOT NULL,
        deleted_at TIMESTAMP,
        search_len INTEGER NOT NULL DEFAULT 0
    )""",
    """CREATE TABLE summaries (
        id BIGINT NOT NULL,
        uuid UUID NOT NULL,
        session_key BIGINT NOT NULL,
        content VARCHAR NOT NULL,
        token_count INTEGER NOT NULL,
        recent_message_uuid UUID NOT NULL,
        recent_message_id BIGINT NOT NULL,
        first_message_uuid UUID,
        message_count INTEGER NOT NULL,
        metadata JSON,
        created_at TIMESTAMP NOT NULL,
        deleted_at TIMESTAMP
    )""",
    # The full-text index: one row per (term, live message). Kept up to date on
    # every write; rewritten sorted by term after bulk imports so that DuckDB's
    # zone maps skip most of it for a query.
    """CREATE TABLE search_postings (
        term VARCHAR NOT NULL,
        message_id BIGINT NOT NULL,
        tf INTEGER NOT NULL,
        doc_len INTEGER NOT NULL
    )""",
]

# v2: a message without a role type is `norole` (Zep's SDKs reject a null role type).
# (DuckDB cannot add NOT NULL in the transaction that updates the column; the store
# writes `norole` itself.)
_V2 = ["UPDATE messages SET role_type = 'norole' WHERE role_type IS NULL"]

# v3: a deleted user is kept as a tombstone (`deleted_at`), as sessions, messages and
# summaries are, so that a change feed can report the deletion (docs/architecture.md).
_V3 = ["ALTER TABLE users ADD COLUMN deleted_at TIMESTAMP"]

# v4: summaries are searchable (`search_scope: summary`), indexed as messages are, in a
# sibling postings table; the summaries already stored are indexed by the migration.
_V4 = [
    "ALTER TABLE summaries ADD COLUMN search_len INTEGER DEFAULT 0",
    """CREATE TABLE summary_postings (
        term VARCHAR NOT NULL,
        summary_id BIGINT NOT NULL,
        tf INTEGER NOT NULL,
        doc_len INTEGER NOT NULL
    )""",
    *index_sql(SUMMARIES, "TRUE"),
]

MIGRATIONS: dict[int, list[str]] = {1: _V1, 2: _V2, 3: _V3, 4: _V4}
"""Statements that bring a store from version N-1 to version N."""

READABLE_FROM = 1
"""The oldest schema this zeptui reads without migrating it (read-only opens of an older
store work: reads treat a NULL role type as `norole`, and `compat_views` add the columns
added since)."""


def compat_views(version: int, database: str) -> list[str]:
    """Statements that make a file of an older `version`, open read-only (so not
    migrated), read like the current schema: temp views, per connection, with the
    columns added since. `database` is DuckDB's name for the file's catalog."""
    views = []
    if version < 3:  # no user was ever deleted softly
        views.append(
            "CREATE TEMP VIEW users AS SELECT *, NULL::TIMESTAMP AS deleted_at "
            f'FROM "{database}".main.users'
        )
    if version < 4:  # summaries not indexed yet: summary search finds nothing
        views += [
            "CREATE TEMP VIEW summaries AS SELECT *, 0 AS search_len "
            f'FROM "{database}".main.summaries',
            "CREATE TEMP VIEW summary_postings AS SELECT NULL::VARCHAR AS term, "
            "NULL::BIGINT AS summary_id, NULL::INTEGER AS tf, NULL::INTEGER AS doc_len "
            "WHERE FALSE",
        ]
    return views


def read_version(rows: list[tuple[Any, ...]]) -> tuple[str | None, int | None]:
    """(format, schema_version) from `SELECT key, value FROM zeptui_meta` rows."""
    meta = {str(key): str(value) for key, value in rows}
    version = meta.get("schema_version")
    return meta.get("format"), int(version) if version and version.isdigit() else None


def prepare(conn: duckdb.DuckDBPyConnection, path: Path, *, read_only: bool) -> list[str]:
    """Check that `conn` (the file at `path`) is a zeptui store this zeptui can use:
    give a new file the current schema and migrate an older one (read-write only).
    Returns what each connection to an older file open read-only must run first
    (`compat_views`)."""
    tables = {row[0] for row in conn.execute("SELECT table_name FROM duckdb_tables()").fetchall()}
    if "zeptui_meta" not in tables:
        if tables:
            names = ", ".join(sorted(tables)[:5])
            raise IncompatibleStoreError(
                f"{path} is a DuckDB database but not a zeptui store "
                f"(it has tables {names}); choose another --db"
            )
        if read_only:
            raise IncompatibleStoreError(f"{path} is empty, not a zeptui store")
        version = 0
    else:
        fmt, found = read_version(conn.execute("SELECT key, value FROM zeptui_meta").fetchall())
        if fmt != FORMAT_NAME or found is None:
            raise IncompatibleStoreError(f"{path} is not a zeptui store")
        if found > SCHEMA_VERSION:
            raise IncompatibleStoreError(
                f"{path} was written by a newer zeptui (schema {found}; this "
                f"zeptui reads up to {SCHEMA_VERSION}); upgrade zeptui to open it"
            )
        version = found
    if version == SCHEMA_VERSION:
        return []
    if read_only and version >= READABLE_FROM:
        # Readable as it is; the next read-write open migrates it.
        row = conn.execute("SELECT current_database()").fetchone()
        assert row is not None
        return compat_views(version, str(row[0]))
    if read_only:
        raise IncompatibleStoreError(
            f"{path} needs a schema upgrade (from {version}); open it read-write once"
        )
    conn.begin()
    try:
        for step in range(version + 1, SCHEMA_VERSION + 1):
            for statement in MIGRATIONS[step]:
                conn.execute(statement)
        conn.execute(
            "INSERT OR REPLACE INTO zeptui_meta VALUES ('format', ?), ('schema_version', ?)",
            [FORMAT_NAME, str(SCHEMA_VERSION)],
        )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return []
