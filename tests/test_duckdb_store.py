"""What only the DuckDB file store does: the file, its schema, locks, background work."""

from __future__ import annotations

import hashlib
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import duckdb
import pytest

from storage.duckdb import DuckDBStore
from storage.duckdb.schema import SCHEMA_VERSION
from storage.errors import IncompatibleStoreError, StoreLockedError
from storage.models import (
    CreateUserRequest,
    Message,
    RoleType,
    SearchQuery,
    SearchScope,
    SessionImport,
)
from storage.summarizers import Summarizer, SummaryDraft
from tests.holders import held_database


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_data_survives_reopening(tmp_path: Path) -> None:
    path = tmp_path / "z.duckdb"
    with DuckDBStore(path) as store:
        store.add_memory("s1", [Message(role="Jane", role_type=RoleType.user, content="kept")])
    with DuckDBStore(path, read_only=True) as store:
        assert store.list_messages("s1").messages[0].content == "kept"
        assert store.search(SearchQuery(text="kept"))[0].session_id == "s1"


def test_new_file_gets_the_current_schema_version(tmp_path: Path) -> None:
    path = tmp_path / "z.duckdb"
    DuckDBStore(path).close()
    with duckdb.connect(str(path), read_only=True) as conn:
        rows = dict(conn.execute("SELECT key, value FROM zeptui_meta").fetchall())
    assert rows == {"format": "zeptui", "schema_version": str(SCHEMA_VERSION)}


def test_a_newer_schema_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "z.duckdb"
    DuckDBStore(path).close()
    with duckdb.connect(str(path)) as conn:
        conn.execute("UPDATE zeptui_meta SET value = '99' WHERE key = 'schema_version'")
    before = digest(path)
    with pytest.raises(IncompatibleStoreError, match="newer zeptui"):
        DuckDBStore(path)
    assert digest(path) == before


def test_a_foreign_duckdb_file_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    with duckdb.connect(str(path)) as conn:
        conn.execute("CREATE TABLE invoices (id INTEGER)")
    before = digest(path)
    with pytest.raises(IncompatibleStoreError, match=r"not a zeptui store.*invoices"):
        DuckDBStore(path)
    assert digest(path) == before


def test_a_file_that_is_not_duckdb_is_refused_and_left_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_text("just some notes, not a database\n" * 200)
    before = digest(path)
    with pytest.raises(IncompatibleStoreError, match=r"notes\.duckdb"):
        DuckDBStore(path)
    assert digest(path) == before


@pytest.fixture
def held_database_file(tmp_path: Path) -> Iterator[tuple[Path, subprocess.Popen[str]]]:
    path = tmp_path / "held.duckdb"
    DuckDBStore(path).close()
    with held_database(path) as holder:
        yield path, holder


def test_a_file_held_by_another_process_fails_fast_naming_it(
    held_database_file: tuple[Path, subprocess.Popen[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """With no time to wait, a held file is refused after one try (it never waits or
    hangs), naming the process that holds it."""
    path, holder = held_database_file
    attempts: list[str] = []
    real_connect = duckdb.connect

    def counted(database: str, **options: Any) -> duckdb.DuckDBPyConnection:
        attempts.append(database)
        return real_connect(database, **options)

    monkeypatch.setattr(duckdb, "connect", counted)
    with pytest.raises(StoreLockedError) as raised:
        DuckDBStore(path, lock_timeout=0.0)
    assert attempts == [str(path)]
    assert f"process {holder.pid}" in str(raised.value)
    assert str(path) in str(raised.value)


def test_waits_for_a_short_hold_to_end(tmp_path: Path) -> None:
    path = tmp_path / "z.duckdb"
    DuckDBStore(path).close()
    with held_database(path, seconds=0.5), DuckDBStore(path, lock_timeout=10) as store:
        assert store.stats().messages == 0


class GatedSummarizer(Summarizer):
    """A summarizer that waits for the test to open a gate."""

    name = "gated"

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.calls = 0

    def summarize(self, previous: str | None, messages: Sequence[Message]) -> SummaryDraft:
        self.calls += 1
        assert self.gate.wait(timeout=10)
        return SummaryDraft(content=f"summary of {len(messages)}", metadata={"k": "v"})


def test_summaries_run_after_add_memory_returns(tmp_path: Path) -> None:
    summarizer = GatedSummarizer()
    with DuckDBStore(tmp_path / "z.duckdb", message_window=4, summarizer=summarizer) as store:
        messages = [Message(role="Jane", content=f"m{n}") for n in range(4)]
        store.add_memory("s1", messages)  # returns although the summarizer is blocked
        assert store.list_summaries("s1") == []
        assert len(store.list_messages("s1").messages) == 4
        summarizer.gate.set()
        store.wait_for_summaries()
        summaries = store.list_summaries("s1")
        assert [s.summary.content for s in summaries] == ["summary of 2"]
        assert summaries[0].summary.metadata == {"k": "v", "summarizer": "gated"}


def test_close_waits_for_pending_summaries(tmp_path: Path) -> None:
    path = tmp_path / "z.duckdb"
    summarizer = GatedSummarizer()
    store = DuckDBStore(path, message_window=4, summarizer=summarizer)
    store.add_memory("s1", [Message(role="Jane", content=f"m{n}") for n in range(4)])
    threading.Timer(0.2, summarizer.gate.set).start()
    store.close()
    with DuckDBStore(path, read_only=True) as reopened:
        assert len(reopened.list_summaries("s1")) == 1


def test_a_failing_summarizer_is_reported_not_raised(tmp_path: Path) -> None:
    class Broken(Summarizer):
        def summarize(self, previous: str | None, messages: Sequence[Message]) -> SummaryDraft:
            raise RuntimeError("model unavailable")

    with DuckDBStore(tmp_path / "z.duckdb", message_window=2, summarizer=Broken()) as store:
        store.add_memory("s1", [Message(role="a", content="x"), Message(role="b", content="y")])
        store.wait_for_summaries()
        assert store.summary_errors == ["model unavailable"]
        assert store.list_summaries("s1") == []


def test_threads_share_one_store(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "z.duckdb", summarizer=None) as store:
        errors: list[BaseException] = []

        def writer(name: str) -> None:
            try:
                for n in range(20):
                    store.add_memory(name, [Message(role="x", content=f"{name} {n}")])
                    store.get_memory(name)
            except BaseException as error:  # collected for the assertion below
                errors.append(error)

        threads = [threading.Thread(target=writer, args=(f"s{n}",)) for n in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert errors == []
        assert store.stats().messages == 80
        ids = [m.uuid for n in range(4) for m in store.list_messages(f"s{n}").messages]
        assert len(set(ids)) == 80


def test_optimize_keeps_search_results(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "z.duckdb", summarizer=None) as store:
        store.add_memory("s1", [Message(role="x", content=f"otter {n}") for n in range(50)])
        before = [
            r.message.uuid for r in store.search(SearchQuery(text="otter", limit=50)) if r.message
        ]
        store.optimize()
        after = [
            r.message.uuid for r in store.search(SearchQuery(text="otter", limit=50)) if r.message
        ]
        assert before == after
        assert len(after) == 50


# --- what is and is not a store ---------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("backup.json", '[{"session_id": "a", "messages": []}]'),
        ("history.jsonl", '{"session_id": "a", "content": "hi"}\n'),
        ("table.csv", "a,b\n1,2\n"),
        ("data.parquet", "PAR1 not really parquet"),
        ("tiny", "x"),
    ],
)
def test_an_existing_file_that_is_not_duckdb_is_refused_untouched(
    tmp_path: Path, name: str, content: str
) -> None:
    """DuckDB would open these as an in-memory database with a view: writes would vanish."""
    path = tmp_path / name
    path.write_text(content)
    before = digest(path)
    with pytest.raises(IncompatibleStoreError, match="not a zeptui store"):
        DuckDBStore(path)
    assert digest(path) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


def test_an_empty_file_becomes_a_new_store(tmp_path: Path) -> None:
    path = tmp_path / "fresh.duckdb"
    path.touch()
    with pytest.raises(IncompatibleStoreError, match="empty"):
        DuckDBStore(path, read_only=True)
    with DuckDBStore(path) as store:
        store.add_memory("s", [Message(role="u", content="kept")])
    with DuckDBStore(path, read_only=True) as store:
        assert store.stats().messages == 1


def test_stale_spill_files_are_cleaned_at_the_next_open(tmp_path: Path) -> None:
    path = tmp_path / "z.duckdb"
    DuckDBStore(path).close()
    spill = tmp_path / "z.duckdb.tmp"
    spill.mkdir()
    (spill / "duckdb_temp_storage_S32K-0.tmp").write_bytes(b"\0" * 64)
    DuckDBStore(path, read_only=True).close()
    assert spill.exists(), "a reader never touches it"
    DuckDBStore(path).close()
    assert not spill.exists()


def test_a_version_1_store_is_read_as_is_and_migrated_on_a_write_open(tmp_path: Path) -> None:
    from storage.duckdb import schema

    path = tmp_path / "v1.duckdb"
    with duckdb.connect(str(path)) as conn:
        for statement in schema.MIGRATIONS[1]:
            conn.execute(statement)
        conn.execute("INSERT INTO zeptui_meta VALUES ('format', 'zeptui'), ('schema_version', '1')")
        conn.execute(
            "INSERT INTO sessions (id, uuid, session_id, created_at, updated_at, last_activity, "
            "message_count) VALUES (1, uuid(), 's', now(), now(), now(), 1)"
        )
        conn.execute(
            "INSERT INTO messages (id, uuid, session_key, role, role_type, content, token_count, "
            "created_at, updated_at) VALUES (1, uuid(), 1, 'human', NULL, 'old', 3, now(), now())"
        )
    with DuckDBStore(path, read_only=True) as store:
        assert store.list_messages("s").messages[0].role_type is RoleType.norole
    with DuckDBStore(path) as store:
        assert store.list_messages("s").messages[0].role_type is RoleType.norole
    with duckdb.connect(str(path), read_only=True) as conn:
        assert conn.execute("SELECT role_type FROM messages").fetchall() == [("norole",)]
        version = conn.execute("SELECT value FROM zeptui_meta WHERE key = 'schema_version'")
        assert version.fetchone() == (str(SCHEMA_VERSION),)


def user_rows(path: Path) -> list[tuple[object, ...]]:
    """(user_id, deleted) of every row of `users`, as stored."""
    with duckdb.connect(str(path), read_only=True) as conn:
        return conn.execute(
            "SELECT user_id, deleted_at IS NOT NULL FROM users ORDER BY id"
        ).fetchall()


def test_a_deleted_user_stays_as_a_tombstone_until_purged(tmp_path: Path) -> None:
    """A change feed (for sync) must be able to report a deleted user."""
    path = tmp_path / "z.duckdb"
    with DuckDBStore(path, summarizer=None) as store:
        store.add_user(CreateUserRequest(user_id="jane", email="jane@example.com"))
        store.add_user(CreateUserRequest(user_id="sam"))
        store.delete_user("jane")
        assert [user.user_id for user in store.list_users()] == ["sam"]
        assert store.stats().users == 1
    assert user_rows(path) == [("jane", True), ("sam", False)]
    with DuckDBStore(path, summarizer=None) as store:
        store.purge()
    assert user_rows(path) == [("sam", False)]


@pytest.mark.parametrize("how", ["add_user", "import_sessions", "import_zep_jsonl"])
def test_a_deleted_user_created_again_replaces_its_tombstone(tmp_path: Path, how: str) -> None:
    path = tmp_path / "z.duckdb"
    with DuckDBStore(path, summarizer=None) as store:
        store.add_user(CreateUserRequest(user_id="jane", email="jane@example.com"))
        store.add_user(CreateUserRequest(user_id="sam"))
        store.delete_user("jane")
        if how == "add_user":
            store.add_user(CreateUserRequest(user_id="jane"))
        elif how == "import_sessions":
            store.import_sessions([SessionImport(session_id="s", user_id="jane")])
        else:
            lines = tmp_path / "s.jsonl"
            lines.write_text('{"session_id": "s", "user_id": "jane", "content": "hi"}\n')
            store.import_zep_jsonl(lines, default_session_id="s")
        assert [user.user_id for user in store.list_users()] == ["sam", "jane"]
        assert store.get_user("jane").email is None  # a new user, not the old one back
    assert user_rows(path) == [("sam", False), ("jane", False)]


def test_a_version_2_store_is_read_as_is_and_migrated_on_a_write_open(tmp_path: Path) -> None:
    """Users got `deleted_at` in version 3: a read-only open of an older file reads its
    users without migrating it (the app opens files read-only)."""
    from storage.duckdb import schema

    path = tmp_path / "v2.duckdb"
    with duckdb.connect(str(path)) as conn:
        for step in (1, 2):
            for statement in schema.MIGRATIONS[step]:
                conn.execute(statement)
        conn.execute("INSERT INTO zeptui_meta VALUES ('format', 'zeptui'), ('schema_version', '2')")
        conn.execute(
            "INSERT INTO users VALUES (1, uuid(), 'jane', NULL, 'Jane', NULL, NULL, now(), now())"
        )
    before = digest(path)
    with DuckDBStore(path, read_only=True) as store:
        assert [user.first_name for user in store.list_users()] == ["Jane"]
        assert store.get_user("jane").first_name == "Jane"
        assert store.stats().users == 1
        # Another thread gets its own cursor: the old file reads the same there.
        seen: list[str] = []
        reader = threading.Thread(target=lambda: seen.append(store.get_user("jane").user_id))
        reader.start()
        reader.join()
        assert seen == ["jane"]
    assert digest(path) == before
    with DuckDBStore(path) as store:
        store.delete_user("jane")
    assert user_rows(path) == [("jane", True)]


def test_a_version_3_store_gets_its_summaries_indexed_on_a_write_open(tmp_path: Path) -> None:
    """Summaries became searchable in version 4: a read-only open of an older file finds
    no summary (nothing indexed them yet), and the migration indexes those it has."""
    from storage.duckdb import schema

    path = tmp_path / "v3.duckdb"
    with duckdb.connect(str(path)) as conn:
        for step in (1, 2, 3):
            for statement in schema.MIGRATIONS[step]:
                conn.execute(statement)
        conn.execute("INSERT INTO zeptui_meta VALUES ('format', 'zeptui'), ('schema_version', '3')")
        conn.execute(
            "INSERT INTO sessions (id, uuid, session_id, created_at, updated_at, last_activity, "
            "message_count) VALUES (1, uuid(), 's', now(), now(), now(), 1)"
        )
        conn.execute(
            "INSERT INTO messages (id, uuid, session_key, role, role_type, content, token_count, "
            "created_at, updated_at) VALUES (1, uuid(), 1, 'u', 'user', 'an old walrus', 3, "
            "now(), now())"
        )
        conn.execute(
            "INSERT INTO summaries SELECT 1, uuid(), 1, 'The user saw a walrus.', 6, m.uuid, 1, "
            "m.uuid, 1, NULL, now(), NULL FROM messages m"
        )
    walrus = SearchQuery(text="walrus", scope=SearchScope.summary)
    with DuckDBStore(path, read_only=True) as store:
        assert store.search(walrus) == []
    with DuckDBStore(path) as store:
        found = store.search(walrus)
    assert [r.summary.content for r in found if r.summary] == ["The user saw a walrus."]


def test_duckdb_never_draws_its_progress_bar(tmp_path: Path) -> None:
    """A long query (a migration, a big import) must not write DuckDB's progress bar
    into the CLI's output, the server's banner or the app's terminal, whatever DuckDB's
    default (it draws the bar in some environments: seen when `bench_server` read the
    banner of a server migrating an older store). Checked in a fresh interpreter."""
    script = (
        "import sys; from pathlib import Path; from storage.duckdb import DuckDBStore\n"
        "for read_only in (False, True):\n"
        "    with DuckDBStore(Path(sys.argv[1]), read_only=read_only) as store:\n"
        "        cursor = store._db.cursor()\n"
        "        print(cursor.execute(\"SELECT current_setting('enable_progress_bar')\")"
        ".fetchone()[0])\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "store.duckdb")],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    assert done.stdout.split() == ["False", "False"]
