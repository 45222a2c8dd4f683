"""Each import rule's Python and SQL (storage/import_rules.py) give the same answers.

The readers apply the Python, the DuckDB fast path for Zep JSONL the SQL; here both
run on the same inputs (tests/test_zep_bulk.py compares the two import paths whole).
"""

from __future__ import annotations

import itertools
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage import ids
from storage.import_rules import (
    ROLE_TYPES,
    TimeFill,
    import_uuid,
    import_uuid_sql,
    is_zero_time,
    time_fill_sql,
    zep_message_uuid,
    zep_message_uuid_sql,
    zep_role,
    zep_role_sql,
    zep_role_type_sql,
    zero_time_sql,
)
from storage.models import RoleType
from tests.examples import examples

# Text DuckDB can hold (no lone surrogates, which the models refuse anyway).
TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=30)


@pytest.fixture(scope="module")
def db() -> Iterator[duckdb.DuckDBPyConnection]:
    with duckdb.connect() as conn:
        yield conn


def _sql_roles(
    db: duckdb.DuckDBPyConnection, cases: list[tuple[str, str | None, str | None]]
) -> list[tuple[str, RoleType | None]]:
    """`zep_role` of each case, computed by the SQL (in one query, in order)."""
    rows = db.execute(
        f"""
        SELECT {zep_role_sql("role", "role_type", "coalesce(name, '')", "name IS NOT NULL")},
               {zep_role_type_sql("role", "role_type")}
        FROM (SELECT unnest($roles::VARCHAR[]) AS role,
                     nullif(unnest($types::VARCHAR[]), '') AS role_type,
                     unnest($names::VARCHAR[]) AS name,
                     unnest(range(len($roles::VARCHAR[]))) AS n)
        ORDER BY n
        """,
        {
            "roles": [role for role, _, _ in cases],
            "types": [role_type for _, role_type, _ in cases],
            "names": [name for _, _, name in cases],
        },
    ).fetchall()
    return [(role, None if kind is None else RoleType(kind)) for role, kind in rows]


def test_every_role_convention_agrees(db: duckdb.DuckDBPyConnection) -> None:
    roles = [*ROLE_TYPES, "human", "HUMAN", "Ai", "ai ", "narrator", "", "Jane", "ＡＩ"]
    role_types: list[str | None] = [None, "", *ROLE_TYPES]
    names: list[str | None] = [None, "", "Bot"]
    cases = list(itertools.product(roles, role_types, names))
    python = [zep_role(role, role_type or None, name) for role, role_type, name in cases]
    assert _sql_roles(db, cases) == python
    # The conventions themselves, one of each.
    assert zep_role("Jane", "user", None) == ("Jane", RoleType.user)  # v2
    assert zep_role("assistant", None, "Bot") == ("Bot", RoleType.assistant)  # v3
    assert zep_role("human", None, None) == ("human", RoleType.user)  # v0.x
    assert zep_role("AI", None, None) == ("AI", RoleType.assistant)
    assert zep_role("narrator", None, None) == ("narrator", None)


@settings(max_examples=examples(25), deadline=None)
@given(st.lists(st.tuples(TEXT, st.sampled_from([None, *ROLE_TYPES]), st.none() | TEXT)))
def test_roles_of_any_text_agree(
    db: duckdb.DuckDBPyConnection, cases: list[tuple[str, str | None, str | None]]
) -> None:
    assert _sql_roles(db, cases) == [zep_role(*case) for case in cases]


@settings(max_examples=examples(25), deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=6))
def test_import_uuids_agree(db: duckdb.DuckDBPyConnection, parts: list[str]) -> None:
    placeholders = [f"${n + 1}" for n in range(len(parts))]
    row = db.execute(f"SELECT {import_uuid_sql(*placeholders)}::VARCHAR", parts).fetchone()
    assert row == (import_uuid(*parts),)


@settings(max_examples=examples(25), deadline=None)
@given(TEXT, st.uuids(), st.integers(0, 12))
def test_store_uuids_agree(
    db: duckdb.DuckDBPyConnection, session_id: str, message: uuid.UUID, revision: int
) -> None:
    row = db.execute(
        f"SELECT {ids.session_uuid_sql('$1')}::VARCHAR, "
        f"{ids.summary_uuid_sql('$2::UUID', '$3')}::VARCHAR",
        [session_id, str(message), revision],
    ).fetchone()
    assert row == (ids.session_uuid(session_id), ids.summary_uuid(str(message), revision))


@settings(max_examples=examples(25), deadline=None)
@given(TEXT, st.integers(0, 10**6), st.sampled_from([None, *RoleType]), TEXT, TEXT)
def test_zep_message_uuids_agree(
    db: duckdb.DuckDBPyConnection,
    session_id: str,
    index: int,
    role_type: RoleType | None,
    role: str,
    content: str,
) -> None:
    sql = zep_message_uuid_sql("$session", "$index", "$kind", "$role", "$content")
    row = db.execute(
        f"SELECT {sql}::VARCHAR",
        {
            "session": session_id,
            "index": index,
            "kind": role_type.value if role_type else None,
            "role": role,
            "content": content,
        },
    ).fetchone()
    assert row == (zep_message_uuid(session_id, index, role_type, role, content),)


@pytest.mark.parametrize(
    "text",
    ["0001-01-01T00:00:00Z", "0001-01-01 00:00:00", "0001-01-02T00:00:00Z", "2024-05-01", ""],
)
def test_zero_time_agrees(db: duckdb.DuckDBPyConnection, text: str) -> None:
    assert db.execute(f"SELECT {zero_time_sql('$1')}", [text]).fetchone() == (is_zero_time(text),)
    assert is_zero_time(text) is text.startswith("0001-01-01")


@settings(max_examples=examples(25), deadline=None)
@given(st.lists(st.tuples(st.sampled_from("abc"), st.none() | st.integers(0, 1000))))
def test_time_fill_agrees(
    db: duckdb.DuckDBPyConnection, rows: list[tuple[str, int | None]]
) -> None:
    """Messages of interleaved sessions in file order, some without a time."""
    start = datetime(2024, 1, 1)
    times = [None if minutes is None else start + timedelta(minutes=minutes) for _, minutes in rows]
    fills: dict[str, TimeFill] = {}
    python = [
        fills.setdefault(session, TimeFill())(time)
        for (session, _), time in zip(rows, times, strict=True)
    ]
    sql: list[Any] = [
        row[0]
        for row in db.execute(
            f"""
            SELECT {time_fill_sql("t", "s", "n")} FROM (
                SELECT unnest($sessions::VARCHAR[]) AS s, unnest($times::TIMESTAMP[]) AS t,
                       unnest(range(len($sessions::VARCHAR[]))) AS n)
            ORDER BY n
            """,
            {"sessions": [session for session, _ in rows], "times": times},
        ).fetchall()
    ]
    assert sql == python


def test_a_session_object_time_starts_the_fill() -> None:
    fill = TimeFill(datetime(2024, 5, 1))
    assert fill(None) == datetime(2024, 5, 1)
    assert fill(datetime(2024, 5, 2)) == datetime(2024, 5, 2)
    assert fill(None) == datetime(2024, 5, 2)
