"""The fast path for Zep JSONL (one message per line): DuckDB reads the file itself.

`zeptui.importers.zep` is the reference reader for Zep's formats; this module
does the same for the common case of one message per line, in SQL, so a million
messages load at the speed of DuckDB's `read_json` instead of Python's `json`.
It checks every record first and declines (`BulkImportDeclined`) any file it
cannot take exactly as the reference reader would: a session object on a line,
a record with a wrong type, an unknown role_type, a bad uuid or timestamp,
invalid JSON. The caller then uses the reference reader, which reports the
problem with its file and line. `tests/test_zep_bulk.py` checks that both paths
store the same thing.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from pathlib import Path

import duckdb

from storage import limits
from storage.ids import uuid5_sql
from storage.models import RoleType

ZEP_IMPORT_NAMESPACE = uuid.UUID("3b5c7c4e-5f0e-4a8e-9d63-2f1e8c0b6a71")
"""The uuid5 namespace for messages imported without a uuid (both paths use it)."""


def import_uuid(*parts: str) -> str:
    """The uuid an importer gives a message that has none: uuid5 of `parts` joined by
    U+001F, in ZEP_IMPORT_NAMESPACE (the SQL fast path computes the same)."""
    return str(uuid.uuid5(ZEP_IMPORT_NAMESPACE, "\x1f".join(parts)))


_COLUMNS = (
    "{session_id: 'JSON', user_id: 'JSON', uuid: 'JSON', created_at: 'JSON', role: 'JSON', "
    "role_type: 'JSON', name: 'JSON', content: 'JSON', metadata: 'JSON', messages: 'JSON'}"
)
_ROLE_TYPES = "[" + ", ".join(f"'{r.value}'" for r in RoleType) + "]"


_GLOB_CHARACTERS = frozenset("*?[]{}")


class BulkImportDeclined(Exception):
    """The file is not a plain, valid message-per-line Zep JSONL file."""


@dataclass
class StagedFile:
    """A checked file in the temp table `zep_rows`, one row per message in file order."""

    rows: int
    groups: int
    """Runs of consecutive lines of one session (the reference reader's SessionImports)."""


_EARLIEST = "TIMESTAMP '0001-01-01 00:00:00'"
_LATEST = "TIMESTAMP '9999-12-31 23:59:59.999999'"


def _fits_limits() -> str:
    """SQL: the record is surely within `storage.limits`; a record that may not be goes
    to the reference reader, which checks exactly and names its line."""
    # Python's str.strip() whitespace (a superset of RE2's \s) and the Cc category.
    blank = "'^[\\s\\p{Z}\\x{85}\\x{1c}-\\x{1f}]*$'"
    control = "'[\\x{0}-\\x{1f}\\x{7f}-\\x{9f}]'"

    def good_id(column: str) -> str:
        value = f"({column} ->> '$')"
        return (
            f"({column} IS NULL OR json_type({column}) = 'NULL' OR {value} = '' "
            f"OR (length({value}) <= "
            f"{limits.MAX_ID_CHARS} AND NOT regexp_matches({value}, {blank}) "
            f"AND NOT regexp_matches({value}, {control})))"
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


def _string_or_null(column: str) -> str:
    return f"({column} IS NULL OR json_type({column}) IN ('VARCHAR', 'NULL'))"


def stage(cursor: duckdb.DuckDBPyConnection, path: Path, default_session_id: str) -> StagedFile:
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
    # The reference reader's rules, in SQL: v2 role_type, v3 role + name, v0.x
    # free-form role; a missing uuid is uuid5(namespace, session \x1f index \x1f
    # role_type \x1f role \x1f content): SHA-1, then the version and variant bits.
    try:
        cursor.execute(
            f"""
            CREATE OR REPLACE TEMP TABLE zep_rows AS
            WITH raw AS (
                SELECT row_number() OVER () AS seq, *
                FROM read_json($path, format = 'newline_delimited', columns = {_COLUMNS},
                               maximum_object_size = 16777216)
            ),
            checked AS (
                SELECT seq,
                    -- NULL is not ok: bool_and() below would skip it.
                    coalesce(messages IS NULL
                    AND content IS NOT NULL AND json_type(content) = 'VARCHAR'
                    AND (session_id IS NULL OR (json_type(session_id) = 'VARCHAR'
                                                AND session_id ->> '$' <> ''))
                    AND {_string_or_null("user_id")} AND {_string_or_null("role")}
                    AND {_string_or_null("name")} AND {_string_or_null("role_type")}
                    AND {_string_or_null("uuid")} AND {_string_or_null("created_at")}
                    AND (metadata IS NULL OR json_type(metadata) IN ('OBJECT', 'NULL'))
                    AND (coalesce(role_type ->> '$', '') = ''
                         OR list_contains({_ROLE_TYPES}, role_type ->> '$'))
                    AND (coalesce(uuid ->> '$', '') = ''
                         OR try_cast(uuid ->> '$' AS UUID) IS NOT NULL)
                    AND (coalesce(created_at ->> '$', '') = ''
                         OR starts_with(created_at ->> '$', '0001-01-01')
                         OR coalesce(timezone('UTC', try_cast(created_at ->> '$' AS TIMESTAMPTZ))
                                     BETWEEN {_EARLIEST} AND {_LATEST}, FALSE))
                    AND {_fits_limits()}, FALSE) AS ok,
                    coalesce(session_id ->> '$', $default) AS session_id,
                    nullif(user_id ->> '$', '') AS user_id,
                    try_cast(nullif(uuid ->> '$', '') AS UUID) AS given_uuid,
                    CASE WHEN starts_with(created_at ->> '$', '0001-01-01') THEN NULL
                         ELSE timezone('UTC', try_cast(nullif(created_at ->> '$', '')
                                                       AS TIMESTAMPTZ)) END AS created_at,
                    content ->> '$' AS content,
                    CASE WHEN json_type(metadata) = 'OBJECT' THEN metadata END AS metadata,
                    coalesce(role ->> '$', '') AS raw_role,
                    nullif(role_type ->> '$', '') AS raw_role_type,
                    coalesce(name ->> '$', '') AS name,
                    name IS NOT NULL AS has_name
                FROM raw
            ),
            roles AS (
                SELECT *,
                    CASE WHEN raw_role_type IS NOT NULL THEN raw_role_type
                         WHEN list_contains({_ROLE_TYPES}, raw_role) THEN raw_role
                         WHEN lower(raw_role) = 'human' THEN 'user'
                         WHEN lower(raw_role) = 'ai' THEN 'assistant'
                    END AS role_type,
                    CASE WHEN raw_role_type IS NULL AND has_name
                              AND list_contains({_ROLE_TYPES}, raw_role) THEN name
                         ELSE raw_role END AS role,
                    row_number() OVER (PARTITION BY session_id ORDER BY seq) AS position
                FROM checked
            ),
            named AS (
                SELECT *,
                    session_id || chr(31) || (position - 1)::VARCHAR || chr(31)
                    || coalesce(role_type, '') || chr(31) || role || chr(31)
                    || coalesce(content, '') AS uuid_name
                FROM roles
            )
            SELECT seq, ok, session_id, user_id, created_at, content, metadata, role, role_type,
                   seq - position AS island,
                   coalesce(given_uuid, {uuid5_sql(ZEP_IMPORT_NAMESPACE, "uuid_name")}) AS uuid
            FROM named
            """,
            {"path": str(path), "default": default_session_id},
        )
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
