"""The first page kept between starts: valid only for the unchanged file."""

from __future__ import annotations

from pathlib import Path

from storage.duckdb import DuckDBStore
from storage.models import Message
from tests.app.conftest import build_store
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
