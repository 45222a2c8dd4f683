"""The first page before the store answers: kept between starts (valid only for the
unchanged file), or read ahead from the file without the store."""

from __future__ import annotations

import ast
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import duckdb

from storage.duckdb import DuckDBStore
from storage.duckdb.peek import recent_sessions
from storage.models import Message, RoleType, SessionImport, SessionOrder, SessionQuery
from tests.app.conftest import build_store
from tests.holders import held_database
from zeptui.app import first_page
from zeptui.app.first_page import FirstPage, SessionRow

ROWS = (
    SessionRow("s1", "[b]Title[/b] \\x1b", "[red]ana", 12, 3_400, "2024-05-01"),
    SessionRow("s2", "s2", "", 1, 7, "2024-04-01"),
)


def test_a_page_is_kept_for_the_unchanged_file_only(tmp_path: Path) -> None:
    database = build_store(tmp_path / "kept.duckdb")
    stamp = first_page.file_stamp(database)
    assert stamp is not None
    assert first_page.load(database) is None
    first_page.save(database, stamp, FirstPage(ROWS, 40))
    assert first_page.load(database) == FirstPage(ROWS, 40)
    assert first_page.cache_file(database).stat().st_mode & 0o777 == 0o600
    with DuckDBStore(database, summarizer=None) as store:  # any write changes the stamp
        store.add_memory("s3", [Message(role="x", content="new")])
    assert first_page.load(database) is None


def test_nothing_is_kept_when_the_file_changed_during_the_read(tmp_path: Path) -> None:
    database = build_store(tmp_path / "moving.duckdb")
    stamp = first_page.file_stamp(database)
    assert stamp is not None
    with DuckDBStore(database, summarizer=None) as store:
        store.add_memory("s3", [Message(role="x", content="new")])
    first_page.save(database, stamp, FirstPage(ROWS, 2))
    assert not first_page.cache_file(database).exists()


def test_a_write_ahead_log_or_a_missing_file_counts(tmp_path: Path) -> None:
    database = build_store(tmp_path / "wal.duckdb")
    stamp = first_page.file_stamp(database)
    assert stamp is not None and len(stamp) == 3
    first_page.save(database, stamp, FirstPage(ROWS, 2))
    wal = database.with_name(database.name + ".wal")
    wal.write_bytes(b"uncheckpointed")
    assert first_page.load(database) is None
    wal.unlink()
    assert first_page.load(database) == FirstPage(ROWS, 2)
    database.unlink()
    assert first_page.file_stamp(database) is None
    assert first_page.load(database) is None


def test_a_damaged_or_older_cache_is_ignored(tmp_path: Path) -> None:
    database = build_store(tmp_path / "damaged.duckdb")
    stamp = first_page.file_stamp(database)
    assert stamp is not None
    first_page.save(database, stamp, FirstPage(ROWS, 2))
    cache = first_page.cache_file(database)
    for damaged in ("{", "[]", '{"format": 0}', '{"format": 1, "stamp": "x"}', "\x00"):
        cache.write_text(damaged, encoding="utf-8")
        assert first_page.load(database) is None


# --- read ahead: the first page from the file, without the store ----------------------------


def peeked_rows(database: Path, limit: int) -> tuple[list[SessionRow], int] | None:
    found = recent_sessions(database, limit)
    if found is None:
        return None
    sessions, total = found
    rows = [
        SessionRow.shown(
            s.session_id, s.title, s.user_id, s.message_count, s.total_tokens, s.last_activity
        )
        for s in sessions
    ]
    return rows, total


def listed_rows(database: Path, limit: int) -> tuple[list[SessionRow], int]:
    query = SessionQuery(limit=limit, order_by=SessionOrder.activity, descending=True)
    with DuckDBStore(database, read_only=True) as store:
        page = store.session_page(query)
    return [SessionRow.of(info) for info in page.sessions], page.total_count


def test_a_peek_lists_what_the_store_lists(tmp_path: Path) -> None:
    """Same sessions, order, labels, users, counts and days as the store's first page."""
    day = datetime(2024, 6, 1, tzinfo=UTC)
    sessions = [
        SessionImport(
            session_id=f"s{n:02d}",
            user_id=["[red]ana", None, "bo"][n % 3],
            metadata={"title": [f"  Title {n} ", "   ", 42, None, {"x": 1}][n % 5]},
            messages=[
                Message(
                    role="u",
                    role_type=RoleType.user,
                    content=f"message {m}",
                    # Pairs of sessions tie on last activity: the id breaks ties.
                    created_at=day + timedelta(hours=n // 2),
                )
                for m in range(n % 4 + 1)
            ],
        )
        for n in range(30)
    ]
    database = build_store(tmp_path / "peek.duckdb", sessions, samples=None)
    with DuckDBStore(database, summarizer=None) as store:
        store.delete_session("s07")
    for limit in (1, 12, 100):
        assert peeked_rows(database, limit) == listed_rows(database, limit)
    rows, total = listed_rows(database, 100)
    ids = {row.session_id for row in rows}
    assert total == len(rows) and len(ids & {s.session_id for s in sessions}) == 29
    assert "s07" not in ids


def test_a_peek_gives_way_to_the_store_on_anything_unusual(tmp_path: Path) -> None:
    """None, and every file untouched: the store's answer says what is wrong."""
    data_file = tmp_path / "backup.json"
    data_file.write_text('[{"session_id": "x"}]', encoding="utf-8")
    empty = tmp_path / "empty.duckdb"
    empty.touch()
    foreign = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(foreign)) as connection:
        connection.execute("CREATE TABLE orders (id INTEGER)")
    newer = build_store(tmp_path / "newer.duckdb", samples=())
    with duckdb.connect(str(newer)) as connection:
        connection.execute("UPDATE zeptui_meta SET value = '99' WHERE key = 'schema_version'")
    held = build_store(tmp_path / "held.duckdb")
    files = [data_file, empty, foreign, newer, held, tmp_path]
    before = {path: path.read_bytes() for path in files if path.is_file()}
    with held_database(held):
        for path in [*files, tmp_path / "missing.duckdb"]:
            assert recent_sessions(path, 10) is None, path
    assert {path: path.read_bytes() for path in before} == before


def test_the_app_and_the_peek_load_neither_pydantic_nor_the_duckdb_package() -> None:
    """The first frame and the read-ahead stay light (what start-up time is made of)."""
    assert loaded_packages("zeptui.app.app, storage.duckdb.peek", {"pydantic", "duckdb"}) == []


def loaded_packages(modules: str, packages: set[str]) -> list[str]:
    """Which of `packages` a fresh Python loads to import `modules`."""
    code = (
        "import sys\n"
        f"import {modules}\n"
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & {packages!r}))\n"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60
    )
    return list(ast.literal_eval(loaded.stdout))


def test_the_read_ahead_begun_before_the_app_is_the_one_it_takes(tmp_path: Path) -> None:
    """`zeptui` begins reading the first page before it imports the app, and the app
    takes that read (once: a later app on the file reads afresh)."""
    database = build_store(tmp_path / "app.duckdb")
    first_page.begin(database)
    begun = first_page.take(database)
    assert begun.kept is None and begun.ahead is not None
    page = begun.ahead.result(timeout=60)
    assert page is not None and page.rows[0].session_id
    again = first_page.take(database)
    assert again.ahead is not None and again.ahead is not begun.ahead
    assert again.ahead.result(timeout=60) == page


def test_the_read_ahead_starts_before_rich_and_textual_are_loaded() -> None:
    """What `zeptui` imports to begin the read-ahead loads no UI library (they are
    what the read-ahead runs beside)."""
    assert loaded_packages("zeptui.app.first_page", {"rich", "textual"}) == []
