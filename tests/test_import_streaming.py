"""Long sessions stream: every importer hands a session to the store in parts as it
reads, whatever the file's shape, and the parts store exactly what a whole session
would. (Peak memory itself is measured by `bench/bench_import_memory.py`.)"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from storage import import_rules
from storage.duckdb import DuckDBStore
from storage.models import SessionImport
from zeptui import config
from zeptui.exporters import every_user, export_sessions
from zeptui.importers import (
    ImportFileError,
    ImportOptions,
    ReadContext,
    _jsonstream,
    get_importer,
    import_file,
)

FIXTURES = Path(__file__).parent / "fixtures"
PART = 3
IMPORTED = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)


@pytest.fixture
def small_parts(monkeypatch: pytest.MonkeyPatch) -> None:
    """Parts of PART messages, and objects longer than 64 characters read lazily."""
    monkeypatch.setattr(import_rules, "PART_MESSAGES", PART)
    monkeypatch.setattr(_jsonstream, "LAZY_CHARACTERS", 64)


def every_file() -> list[Path]:
    """The samples and fixtures, but for JSON files whose text is broken: read lazily,
    those keep the complete messages of a session cut short (whole, the session)."""
    files = sorted(config.sample_files())
    for directory in sorted(FIXTURES.iterdir()):
        files.extend(sorted(path for path in directory.iterdir() if path.is_file()))
    return [path for path in files if path.suffix == ".jsonl" or _parses(path)]


def _parses(path: Path) -> bool:
    try:
        json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        return False
    return True


def backup(store: DuckDBStore) -> str:
    """Everything in the store (users, sessions, messages with their times), as a dump."""
    from storage.models import SessionQuery

    out = io.StringIO()
    sessions = [info.session for info in store.session_page(SessionQuery(limit=1000)).sessions]
    export_sessions(store, sessions, out, "zep-dump", every_user(store))
    return out.getvalue()


def import_everything(db: Path) -> tuple[str, list[str]]:
    """Import every sample and fixture (bad records skipped); the store's dump and, per
    file, its result or error."""
    outcomes: list[str] = []
    with DuckDBStore(db, summarizer=None, clock=lambda: IMPORTED) as store:
        for path in every_file():
            try:
                report = import_file(store, path, options=ImportOptions(skip_invalid=True))
            except ImportFileError as error:
                outcomes.append(f"{path.name}: {error.reason}")
                continue
            outcomes.append(f"{path.name}: {report.result} {report.skipped}")
        return backup(store), outcomes


def test_parts_store_exactly_what_whole_sessions_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Consecutive parts of one session are one session: same messages, order, times,
    metadata, created_at and counts as the session handed on whole, on every path."""
    whole = import_everything(tmp_path / "whole.duckdb")
    monkeypatch.setattr(import_rules, "PART_MESSAGES", 2)
    monkeypatch.setattr(_jsonstream, "LAZY_CHARACTERS", 100)
    parted = import_everything(tmp_path / "parts.duckdb")
    assert parted[1] == whole[1]
    assert parted[0] == whole[0]


def write(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document, indent=1), encoding="utf-8")
    return path


def messages(count: int, word: str = "message") -> list[dict[str, Any]]:
    return [
        {"role_type": "user" if n % 2 == 0 else "assistant", "content": f"{word} {n}"}
        for n in range(count)
    ]


def broken_tail(path: Path) -> Path:
    """The file with its last characters replaced by garbage (a stray `}`)."""
    text = path.read_text(encoding="utf-8").rstrip()
    path.write_text(text[:-12] + "}", encoding="utf-8")
    return path


def first_part(fmt: str, path: Path) -> SessionImport:
    """The first session the reader hands on: read before the end of the file."""
    sessions: Iterator[SessionImport] = get_importer(fmt).read(path, ReadContext())
    return next(sessions)


SHAPES: list[tuple[str, str, Any]] = [
    ("zep", "session.json", {"session_id": "s", "messages": messages(20)}),
    ("zep", "list.json", [{"session_id": "s", "messages": messages(20)}]),
    (
        "zep",
        "dump.json",
        {"users": [], "sessions": [{"session_id": "s", "messages": messages(20)}]},
    ),
    ("zep", "bare.json", messages(20)),
    ("zep", "response.json", {"messages": messages(20), "total_count": 20}),
    ("openai", "bare.json", [{"role": "user", "content": f"m {n}"} for n in range(20)]),
    (
        "langchain",
        "history.json",
        [{"type": "human", "data": {"content": f"m {n}"}} for n in range(20)],
    ),
]


@pytest.mark.usefixtures("small_parts")
@pytest.mark.parametrize(("fmt", "name", "document"), SHAPES, ids=[s[1] for s in SHAPES])
def test_a_long_session_streams_in_parts(
    tmp_path: Path, fmt: str, name: str, document: Any
) -> None:
    """A session longer than a part reaches the store in parts, and the first is handed
    on before the reader has seen the end of the file (a broken end shows it)."""
    path = write(tmp_path / name, document)
    parts = list(get_importer(fmt).read(path))
    assert [len(part.messages) for part in parts] == [3, 3, 3, 3, 3, 3, 2]
    assert len({part.session_id for part in parts}) == 1
    contents = [message.content for part in parts for message in part.messages]
    assert contents[0].endswith(" 0") and contents[-1].endswith(" 19")
    assert len(first_part(fmt, broken_tail(path)).messages) == PART
    with pytest.raises(ImportFileError, match=r"(truncated|invalid) JSON"):
        list(get_importer(fmt).read(path))


@pytest.mark.usefixtures("small_parts")
def test_a_dump_with_its_users_last_still_knows_them_first(tmp_path: Path) -> None:
    """Dumps written before the users came first: a pass of its own reads them."""
    path = write(
        tmp_path / "old-dump.json",
        {
            "sessions": [{"session_id": "s", "user_id": "ann", "messages": messages(7)}],
            "users": [{"user_id": "ann", "first_name": "Ann"}],
        },
    )
    with DuckDBStore(tmp_path / "s.duckdb", summarizer=None) as store:
        report = import_file(store, path)
        assert report.result.users_created == 1
        assert store.get_user("ann").first_name == "Ann"
        assert store.get_session("s").user_id == "ann"
        assert (report.result.sessions_created, report.result.sessions_updated) == (1, 0)
        assert report.result.messages_added == 7


@pytest.mark.usefixtures("small_parts")
def test_session_fields_after_a_long_message_list(tmp_path: Path) -> None:
    """Fields that come after a message list longer than a part: metadata and user still
    apply; a created_at that can no longer apply is an error, never silently lost."""
    late = write(
        tmp_path / "late.json",
        {"session_id": "s", "messages": messages(7), "user_id": "ann", "metadata": {"k": 1}},
    )
    with DuckDBStore(tmp_path / "s.duckdb", summarizer=None) as store:
        import_file(store, late)
        session = store.get_session("s")
        assert (session.user_id, session.metadata) == ("ann", {"k": 1})
    too_late = write(
        tmp_path / "too-late.json",
        {"session_id": "t", "messages": messages(7), "created_at": "2024-01-01T00:00:00Z"},
    )
    with pytest.raises(ImportFileError, match="created_at comes after more than 3 messages"):
        list(get_importer("zep").read(too_late))
    short = write(
        tmp_path / "short.json",
        {"messages": messages(2), "session_id": "u", "created_at": "2024-01-01T00:00:00Z"},
    )
    [session] = list(get_importer("zep").read(short))
    assert session.session_id == "u" and session.created_at is not None


@pytest.mark.usefixtures("small_parts")
def test_langchain_lines_stream_and_a_bad_message_keeps_its_place(tmp_path: Path) -> None:
    lines = [{"type": "human", "data": {"content": f"line {n}"}} for n in range(8)]
    lines[4] = {"type": "human"}  # no data
    path = tmp_path / "redis.jsonl"
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    context = ReadContext(skip_invalid=True)
    parts = list(get_importer("langchain").read(path, context))
    assert [len(part.messages) for part in parts] == [3, 3, 1]
    assert [str(error) for error in context.skipped] == [
        f"{path}:5: data must be an object, got none"
    ]
    uuids = [message.uuid for part in parts for message in part.messages]
    lines[4] = {"type": "human", "data": {"content": "line 4"}}  # fixed: the others keep theirs
    path.write_text("\n".join(json.dumps(line) for line in lines) + "\n")
    fixed = [m.uuid for part in get_importer("langchain").read(path) for m in part.messages]
    assert set(uuids) < set(fixed)


def test_a_record_longer_than_the_limit_is_rejected_by_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One line or record may be at most MAX_RECORD_CHARACTERS: a longer one is
    rejected with its place (the rest of the file is still read), never read whole."""
    monkeypatch.setattr(_jsonstream, "MAX_RECORD_CHARACTERS", 1 << 20)
    monkeypatch.setattr(_jsonstream, "LAZY_CHARACTERS", 1 << 10)
    record = {"id": "big", "conversations": [{"from": "human", "value": "x" * (1 << 20)}]}
    small = {"id": "small", "conversations": [{"from": "human", "value": "hi"}]}
    lines = tmp_path / "chats.jsonl"
    lines.write_text(f"{json.dumps(small)}\n{json.dumps(record)}\n{json.dumps(small)}\n")
    array = write(tmp_path / "chats.json", [small, record, small])
    for path, where in ((lines, f"{lines}:2"), (array, f"{array}:11: [1]")):
        context = ReadContext(skip_invalid=True)
        sessions = list(get_importer("sharegpt").read(path, context))
        assert [s.session_id for s in sessions] == ["small", "small"]
        assert [str(error) for error in context.skipped] == [
            f"{where}: a value longer than 1 MiB is not read"
        ]


@pytest.mark.usefixtures("small_parts")
def test_progress_counts_a_session_in_parts_once(tmp_path: Path) -> None:
    from zeptui.services.imports import ImportCounts, ImportRun, NoProgress

    class Counted(NoProgress):
        def __init__(self) -> None:
            self.seen: list[tuple[int, int]] = []

        def counted(self, counts: ImportCounts) -> None:
            self.seen.append((counts.sessions, counts.messages))

    path = write(tmp_path / "s.json", [{"session_id": "s", "messages": messages(20)}])
    progress = Counted()
    with DuckDBStore(tmp_path / "s.duckdb", summarizer=None) as store:
        ImportRun([path]).run(store, progress)
    assert len(progress.seen) > 1  # the session came in parts
    assert progress.seen[-1] == (1, 20)
