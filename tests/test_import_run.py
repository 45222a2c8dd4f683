"""`zeptui import` beyond one file: archives, directories, options, dry runs, bad records,
truncated files, users from a dump, and a process killed in the middle of a file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from storage import processes, summary_scheduler, summary_workers
from storage.duckdb import DuckDBStore
from storage.models import RoleType, Session, SessionOrder, SessionQuery
from storage.summary_scheduler import Backlog
from zeptui.cli import cli
from zeptui.config import sample_data_dir
from zeptui.exporters import export_sessions
from zeptui.importers import ImportFileError, ImportOptions, ReadContext, import_file
from zeptui.importers.sharegpt import ShareGPTImporter
from zeptui.importers.sources import ArchiveLimits, expand
from zeptui.services.imports import Entry, ImportCancelled, ImportCounts, ImportRun, NoProgress

FIXTURES = Path(__file__).parent / "fixtures"
OCTAVIA = sample_data_dir() / "octavia-butler.json"


def sharegpt_lines(path: Path, records: list[Any]) -> Path:
    path.write_text(
        "\n".join(r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in records)
        + "\n",
        encoding="utf-8",
    )
    return path


def chat(record_id: str, *turns: str) -> dict[str, Any]:
    speakers = ("human", "gpt")
    return {
        "id": record_id,
        "conversations": [{"from": speakers[i % 2], "value": text} for i, text in enumerate(turns)],
    }


def dump(store: DuckDBStore) -> str:
    """Everything in the store, as Zep JSON (sessions, messages, metadata)."""
    import io

    out = io.StringIO()
    export_sessions(store, sessions(store), out, "zep-json")
    return out.getvalue()


def sessions(store: DuckDBStore, user_id: str | None = None) -> list[Session]:
    page = store.session_page(SessionQuery(limit=1000, user_id=user_id))
    return [info.session for info in page.sessions]


@pytest.fixture
def store(tmp_path: Path) -> DuckDBStore:
    with DuckDBStore(tmp_path / "store.duckdb", summarizer=None) as opened:
        yield opened  # type: ignore[misc]


# --- archives and directories ------------------------------------------------------------


def make_export(tmp_path: Path, name: str = "export.zip") -> Path:
    """A zip like a chat export: a chat file, a non-chat JSON, an image, macOS junk."""
    archive = tmp_path / name
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.write(OCTAVIA, "data/octavia-butler.json")
        zipped.writestr("user.json", json.dumps({"id": "u-1", "email": "jane@example.com"}))
        zipped.writestr("images/cat.png", b"\x89PNG not really")
        zipped.writestr("__MACOSX/data/._octavia-butler.json", b"\x00\x05junk")
        zipped.writestr("lines.jsonl", json.dumps(chat("z-1", "hi from a zip", "hello")) + "\n")
    return archive


@pytest.mark.parametrize("name", ["export.zip", "export-without-suffix"])
def test_zip_archive_imports_its_chat_files(store: DuckDBStore, tmp_path: Path, name: str) -> None:
    archive = make_export(tmp_path, name)
    run = ImportRun([archive])
    assert [(e.name, e.note) for e in run.entries] == [
        (f"{archive}/data/octavia-butler.json", None),
        (f"{archive}/lines.jsonl", None),
        (f"{archive}/user.json", "not a chat history in a known format"),
    ]
    run.run(store)
    assert run.errors == []
    assert [r.format for r in run.reports] == ["zep", "sharegpt"]
    assert run.totals().messages_added == 12 + 2
    assert {s.session_id for s in sessions(store)} == {
        "octavia-butler",
        "z-1",
    }
    assert list(tmp_path.glob("zeptui-import-*")) == []  # extracted members are removed


def test_export_archive_reads_only_conversation_files(tmp_path: Path) -> None:
    archive = tmp_path / "chatgpt.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        for name in ("conversations-001.json", "conversations-000.json"):
            zipped.writestr(name, "[]")
        zipped.writestr("shared_conversations.json", "[]")
        zipped.writestr("message_feedback.json", "[]")
    run = ImportRun([archive])
    assert [e.name.rsplit("/", 1)[1] for e in run.entries] == [
        "conversations-000.json",
        "conversations-001.json",
    ]


def test_directory_is_walked_in_name_order(store: DuckDBStore, tmp_path: Path) -> None:
    folder = tmp_path / "histories"
    (folder / "nested").mkdir(parents=True)
    sharegpt_lines(folder / "b.jsonl", [chat("b-1", "second file", "ok")])
    sharegpt_lines(folder / "nested" / "a.jsonl", [chat("a-1", "nested file", "ok")])
    (folder / "notes.txt").write_text("not json")
    (folder / ".hidden.json").write_text("{}")
    run = ImportRun([folder])
    assert [Path(e.name).relative_to(folder).as_posix() for e in run.entries] == [
        "b.jsonl",
        "nested/a.jsonl",
    ]
    run.run(store)
    assert run.totals().sessions_created == 2


def test_empty_directory_and_broken_zip_are_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    broken = tmp_path / "broken.zip"
    broken.write_bytes(b"PK\x03\x04" + b"\x00" * 20)
    run = ImportRun([tmp_path / "empty", broken, tmp_path / "missing.json"])
    assert len(run.errors) == 3
    assert "no JSON or JSONL files in this directory" in run.errors[0]
    assert run.errors[1].startswith(f"{broken}: not a readable zip archive")
    assert run.errors[2] == f"{tmp_path / 'missing.json'}: No such file or directory"


def test_errors_in_an_archive_member_name_the_member(store: DuckDBStore, tmp_path: Path) -> None:
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("good.jsonl", json.dumps(chat("g", "fine", "ok")) + "\n")
        zipped.writestr("bad.jsonl", json.dumps(chat("x", "ok", "ok")) + "\n{oops\n")
    run = ImportRun([archive])
    run.run(store)
    assert run.errors == [
        f"{archive}/bad.jsonl:2: invalid JSON: Expecting property name "
        "enclosed in double quotes (column 2)"
    ]
    assert [r.path for r in run.reports] == [f"{archive}/good.jsonl"]
    assert store.stats().sessions == 1  # the bad file added nothing


# --- bad records, truncated files, empty turns -------------------------------------------


def test_skip_invalid_lists_bad_records_and_keeps_the_rest(
    store: DuckDBStore, tmp_path: Path
) -> None:
    path = sharegpt_lines(
        tmp_path / "mixed.jsonl",
        [
            chat("ok-1", "first", "reply"),
            "{not json",
            {"id": "no-turns"},
            chat("ok-2", "second", "reply"),
        ],
    )
    with pytest.raises(ImportFileError) as caught:
        import_file(store, path)
    assert str(caught.value).startswith(f"{path}:2: invalid JSON")
    assert store.stats().sessions == 0

    report = import_file(store, path, options=ImportOptions(skip_invalid=True))
    assert report.result.sessions_created == 2
    assert report.skipped_count == 2
    assert report.skipped[0].startswith(f"{path}:2: invalid JSON")
    assert report.skipped[1] == f"{path}:3: expected a conversations list, got no conversations"


def test_truncated_json_array_reports_what_it_recovered(store: DuckDBStore, tmp_path: Path) -> None:
    records = [chat(f"t-{n}", f"question {n} ✓", f"answer {n}") for n in range(3)]
    text = json.dumps(records, ensure_ascii=False, indent=2)
    path = tmp_path / "cut.json"
    path.write_text(text[: text.index('"t-2"') + 8], encoding="utf-8")  # cut inside record 3

    with pytest.raises(ImportFileError) as caught:
        import_file(store, path)
    message = str(caught.value)
    assert message.startswith(f"{path}:")
    assert "truncated JSON" in message and "2 complete records before it recovered" in message
    assert store.stats().sessions == 0

    report = import_file(store, path, options=ImportOptions(skip_invalid=True))
    assert report.result.sessions_created == 2 and report.skipped_count == 1
    assert "2 complete records before it recovered" in report.skipped[0]


def test_truncated_jsonl_last_line(store: DuckDBStore, tmp_path: Path) -> None:
    path = tmp_path / "cut.jsonl"
    path.write_text(json.dumps(chat("a", "x", "y")) + "\n" + json.dumps(chat("b", "x", "y"))[:30])
    with pytest.raises(ImportFileError, match=r"cut.jsonl:2: truncated JSON"):
        import_file(store, path)
    report = import_file(store, path, options=ImportOptions(skip_invalid=True))
    assert report.result.sessions_created == 1 and report.skipped_count == 1


def test_empty_turns_are_skipped_with_a_warning(store: DuckDBStore, tmp_path: Path) -> None:
    path = sharegpt_lines(tmp_path / "gaps.jsonl", [chat("g", "hello", "   ", "still there?")])
    report = import_file(store, path)
    assert report.result.messages_added == 2
    assert report.warning_count == 1
    assert report.warnings == (f"{path}:1: conversations[1]: empty turn skipped",)


def test_broken_array_in_the_middle_keeps_only_the_records_before(tmp_path: Path) -> None:
    path = tmp_path / "broken.json"
    good = json.dumps(chat("a", "x", "y"))
    path.write_text(f"[{good}, {{oops}}, {good}]")
    context = ReadContext(skip_invalid=True)
    sessions = list(ShareGPTImporter().read(path, context))
    assert [s.session_id for s in sessions] == ["a"]
    assert "invalid JSON" in str(context.skipped[0])
    assert "1 complete records before it recovered" in str(context.skipped[0])


# --- options -----------------------------------------------------------------------------


def test_session_prefix_makes_an_independent_copy(store: DuckDBStore) -> None:
    import_file(store, OCTAVIA)
    copy = import_file(store, OCTAVIA, options=ImportOptions(session_prefix="copy-"))
    assert copy.result.sessions_created == 1 and copy.result.messages_added == 12
    again = import_file(store, OCTAVIA, options=ImportOptions(session_prefix="copy-"))
    assert again.result.messages_added == 0 and again.result.messages_skipped == 12
    original = store.list_messages("octavia-butler", limit=20).messages
    copied = store.list_messages("copy-octavia-butler", limit=20).messages
    assert [m.content for m in copied] == [m.content for m in original]
    assert not {m.uuid for m in copied} & {m.uuid for m in original}
    store.delete_session("octavia-butler")  # the copy does not depend on the original
    assert len(store.list_messages("copy-octavia-butler", limit=20).messages) == 12


def test_user_and_speaker_names(store: DuckDBStore) -> None:
    options = ImportOptions(user_id="sam", user_name="Sam", assistant_name="Archivist")
    report = import_file(store, OCTAVIA, options=options)
    assert report.result.users_created == 1
    session = store.get_session("octavia-butler")
    assert session.user_id == "sam"
    assert store.get_user("sam").user_id == "sam"
    names = {(m.role_type, m.role) for m in store.list_messages("octavia-butler").messages}
    assert names == {(RoleType.user, "Sam"), (RoleType.assistant, "Archivist")}


def test_users_of_a_dump_are_created_with_their_names(store: DuckDBStore) -> None:
    report = import_file(store, sample_data_dir() / "team-workspace.json")
    assert report.result.users_created == 3
    priya = store.get_user("priya.shah")
    assert (priya.first_name, priya.last_name, priya.email) == (
        "Priya",
        "Shah",
        "priya@northwind.example",
    )
    assert priya.metadata == {"team": "platform", "plan": "enterprise", "timezone": "Europe/London"}
    mine = sessions(store, "priya.shah")
    assert {s.session_id for s in mine} == {"ws-priya-k8s-rollout", "ws-priya-terraform-drift"}
    assert all(s.metadata and s.metadata["workspace"] == "northwind" for s in mine)


def test_user_option_overrides_the_dumps_users(store: DuckDBStore) -> None:
    path = sample_data_dir() / "team-workspace.json"
    report = import_file(store, path, options=ImportOptions(user_id="auditor"))
    assert report.result.users_created == 1
    assert [u.user_id for u in store.list_users()] == ["auditor"]


def test_bad_user_in_a_dump_names_the_record(store: DuckDBStore, tmp_path: Path) -> None:
    path = tmp_path / "dump.json"
    path.write_text(json.dumps({"users": [{"first_name": "No id"}], "sessions": []}))
    with pytest.raises(ImportFileError) as caught:
        import_file(store, path)
    assert str(caught.value).startswith(f"{path}:1: users[0]: user_id: ")


# --- dry run -----------------------------------------------------------------------------


def test_dry_run_counts_exactly_and_writes_nothing(store: DuckDBStore, tmp_path: Path) -> None:
    import_file(store, OCTAVIA)
    before = dump(store)
    support = sample_data_dir() / "customer-support.json"
    options = ImportOptions(dry_run=True)
    planned = [import_file(store, path, options=options).result for path in (OCTAVIA, support)]
    assert dump(store) == before
    assert planned[0].messages_added == 0 and planned[0].messages_skipped == 12
    real = import_file(store, support).result
    assert planned[1] == real


# --- a process killed in the middle of a file --------------------------------------------

_STALLING_IMPORT = """
import sys, time
from pathlib import Path
from storage.duckdb import DuckDBStore
from zeptui.importers import import_file
from zeptui.importers.sharegpt import ShareGPTImporter

class Stalling(ShareGPTImporter):
    def read(self, path, context=None):
        for count, session in enumerate(super().read(path, context)):
            if count == int(sys.argv[4]):
                Path(sys.argv[3]).write_text("in the middle")
                time.sleep(120)
            yield session

store = DuckDBStore(sys.argv[1], summarizer=None)
import_file(store, Path(sys.argv[2]), Stalling())
"""


def many_chats(path: Path, count: int) -> Path:
    return sharegpt_lines(
        path, [chat(f"bulk-{n}", f"question {n}", f"answer {n}") for n in range(count)]
    )


def kill_when(process: subprocess.Popen[bytes], ready: Any, polls: int = 6000) -> None:
    """Wait until `ready()` (at most `polls` looks, 10 ms apart: bounded by count, not
    by the clock, so a loaded machine only makes it slower), then SIGKILL the process
    and reap it."""
    try:
        for _ in range(polls):
            if ready():
                break
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            time.sleep(0.01)
        else:
            pytest.fail("the import never reached the kill point")
        assert process.poll() is None, "the import finished before it could be killed"
    finally:
        process.kill()
        process.wait(timeout=30)


def test_killed_import_leaves_the_store_as_before(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    with DuckDBStore(db, summarizer=None) as store:
        import_file(store, OCTAVIA)
        before = dump(store)
    # 3 chunks of sessions reach DuckDB before the stall (IMPORT_CHUNK_SESSIONS = 2,000)
    path = many_chats(tmp_path / "many.jsonl", 7_000)
    marker = tmp_path / "stalled"
    process = subprocess.Popen(
        [sys.executable, "-c", _STALLING_IMPORT, str(db), str(path), str(marker), "6500"],
        stderr=subprocess.PIPE,
    )
    kill_when(process, marker.exists)
    assert process.returncode == -signal.SIGKILL

    with DuckDBStore(db, summarizer=None) as store:
        assert dump(store) == before
        assert store.stats().sessions == 1
        again = import_file(store, path)  # and the file imports whole afterwards
        assert again.result.sessions_created == 7_000


def test_killed_cli_bulk_import_leaves_the_store_as_before(tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    with DuckDBStore(db, summarizer=None) as store:
        import_file(store, OCTAVIA)
        before = dump(store)
    size_before = db.stat().st_size
    path = tmp_path / "messages.jsonl"
    with path.open("w", encoding="utf-8") as out:
        for n in range(400_000):
            line = {"session_id": f"s{n // 100}", "role_type": "user", "content": f"message {n}"}
            out.write(json.dumps(line) + "\n")
    env = {**os.environ, "ZEPTUI_DB": str(db)}
    process = subprocess.Popen(
        [sys.executable, "-m", "zeptui", "import", "--no-summaries", str(path)],
        env=env,
        stderr=subprocess.PIPE,
    )
    # Kill once DuckDB writes the uncommitted rows into the file itself (it does so
    # for big transactions, before the commit): the worst moment to die.
    kill_when(process, lambda: db.stat().st_size > size_before + (2 << 20))

    with DuckDBStore(db, summarizer=None) as store:
        assert dump(store) == before


def cli_import(db: Path, *args: str | Path) -> dict[str, Any]:
    """`zeptui --db DB import --no-summaries --json ARGS...` through the real CLI."""
    result = CliRunner().invoke(
        cli, ["--db", str(db), "import", "--no-summaries", "--json", *map(str, args)]
    )
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    report: dict[str, Any] = json.loads(result.stdout)
    return report


def session_names(db: Path) -> set[str]:
    with DuckDBStore(db, read_only=True, summarizer=None) as opened:
        return {s.session_id for s in sessions(opened)}


def test_files_of_the_same_name_never_share_sessions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ids made from a file name are its path relative to the working directory:
    history.jsonl and sub/history.jsonl do not merge, on either import path; the same
    file imported again adds nothing, and a log that grew adds only its new lines."""
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "store.duckdb"
    Path("sub").mkdir()
    for folder, word in ((Path(), "top"), (Path("sub"), "nested")):
        sharegpt_lines(folder / "history.jsonl", [chat("", f"{word} question", "answer")])
        (folder / "log.jsonl").write_text(  # Zep lines without a session: the bulk path
            json.dumps({"role_type": "user", "content": f"{word} log"}) + "\n"
        )
    for name, added in (("history.jsonl", 2), ("sub/history.jsonl", 2), ("log.jsonl", 1)):
        assert cli_import(db, name)["totals"]["messages_added"] == added
    assert cli_import(db, "sub/log.jsonl")["totals"]["messages_added"] == 1
    assert session_names(db) == {"history:1", "sub/history:1", "log", "sub/log"}
    with DuckDBStore(db, read_only=True, summarizer=None) as opened:
        assert [m.content for m in opened.list_messages("sub/history:1").messages] == [
            "nested question",
            "answer",
        ]
    again = cli_import(db, "./history.jsonl", tmp_path / "sub" / "history.jsonl", "sub/log.jsonl")
    assert again["totals"]["messages_added"] == 0
    with Path("sub/log.jsonl").open("a") as log:  # the log grows
        log.write(json.dumps({"role_type": "assistant", "content": "new line"}) + "\n")
    grown = cli_import(db, "sub/log.jsonl")["totals"]
    assert (grown["messages_added"], grown["messages_skipped"]) == (1, 1)


def test_same_file_names_in_different_folders_get_their_own_sessions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Records without ids take their session ids from the file's path: train/data.jsonl
    and test/data.jsonl do not merge, nor do two folders or archives with the same
    layout; an archive unpacked beside itself (dataset.zip, dataset/) is the same file."""
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "store.duckdb"
    for top in ("dataset", "other"):
        for split in ("train", "test"):
            Path(top, split).mkdir(parents=True)
            sharegpt_lines(
                Path(top, split, "data.jsonl"),
                [{"conversations": [{"from": "human", "value": f"{top} {split} question"}]}],
            )
    zep_lines = Path("dataset/test/messages.jsonl")  # the Zep bulk path takes the base too
    zep_lines.write_text(json.dumps({"role_type": "user", "content": "no session id"}) + "\n")
    cli_import(db, "dataset", "other/")
    assert session_names(db) == {
        "dataset/test/data:1",
        "dataset/train/data:1",
        "dataset/test/messages",
        "other/test/data:1",
        "other/train/data:1",
    }
    for name in ("dataset", "other"):
        with zipfile.ZipFile(f"{name}.zip", "w") as zipped:
            zipped.write(Path(name, "train", "data.jsonl"), "train/data.jsonl")
    assert cli_import(db, "dataset.zip", "other.zip")["totals"]["messages_added"] == 0
    Path("elsewhere").mkdir()
    Path("dataset.zip").rename("elsewhere/dataset.zip")
    assert cli_import(db, "elsewhere/dataset.zip")["totals"]["messages_added"] == 1
    assert "elsewhere/dataset/train/data:1" in session_names(db)
    with DuckDBStore(db, summarizer=None) as opened:  # the API names a file by its stem
        direct = import_file(opened, Path("dataset/train/data.jsonl"))
    assert direct.result.sessions_created == 1
    assert "data:1" in session_names(db)


def chatgpt_conversation(conversation_id: str, start: float) -> dict[str, Any]:
    """A ChatGPT conversation: hidden custom instructions (no time), a prompt, and an
    answer whose create_time is null."""

    def node(node_id: str, parent: str | None, message: dict[str, Any]) -> dict[str, Any]:
        return {"id": node_id, "parent": parent, "children": [], "message": message}

    hidden = {"is_visually_hidden_from_conversation": True, "is_user_system_message": True}
    return {
        "id": conversation_id,
        "title": conversation_id,
        "create_time": start,
        "current_node": "answer",
        "mapping": {
            "ci": node(
                "ci",
                None,
                {
                    "author": {"role": "user"},
                    "create_time": None,
                    "content": {"content_type": "user_editable_context", "user_profile": "Me"},
                    "metadata": hidden,
                },
            ),
            "prompt": node(
                "prompt",
                "ci",
                {
                    "author": {"role": "user"},
                    "create_time": start + 60,
                    "content": {"content_type": "text", "parts": ["Hello?"]},
                },
            ),
            "answer": node(
                "answer",
                "prompt",
                {
                    "author": {"role": "assistant"},
                    "create_time": None,
                    "content": {"content_type": "text", "parts": ["Hi."]},
                    "recipient": "all",
                },
            ),
        },
    }


def test_times_are_never_the_import_time_where_the_source_has_times(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A message without a time takes the nearest earlier one of its conversation, so a
    2023 conversation keeps sorting as 2023; ShareGPT has no times: the import's."""
    monkeypatch.chdir(tmp_path)
    older, newer = datetime(2023, 3, 1, tzinfo=UTC), datetime(2024, 5, 1, tzinfo=UTC)
    Path("conversations.json").write_text(
        json.dumps(
            [
                chatgpt_conversation("old", older.timestamp()),
                chatgpt_conversation("new", newer.timestamp()),
            ]
        )
    )
    Path("claude.json").write_text(
        json.dumps(
            [
                {
                    "uuid": "claude-1",
                    "created_at": "2023-06-01T10:00:00Z",
                    "chat_messages": [
                        {"sender": "human", "text": "q", "created_at": "2023-06-01T10:00:05Z"},
                        {"sender": "assistant", "text": "a"},
                    ],
                }
            ]
        )
    )
    Path("zep.jsonl").write_text(
        json.dumps({"session_id": "zep-1", "content": "q", "created_at": "2023-07-01T00:00:00Z"})
        + "\n"
        + json.dumps({"session_id": "zep-1", "content": "a"})
        + "\n"
    )
    Path("chat.jsonl").write_text(json.dumps(chat("sharegpt-1", "q", "a")) + "\n")
    db = tmp_path / "store.duckdb"
    imported_from = datetime.now(UTC)
    cli_import(db, "conversations.json", "claude.json", "zep.jsonl", "chat.jsonl")
    with DuckDBStore(db, read_only=True, summarizer=None) as opened:
        query = SessionQuery(limit=10, order_by=SessionOrder.activity, descending=True)
        infos = opened.session_page(query).sessions
        activity = {info.session.session_id: info.last_activity for info in infos}
        assert [info.session.session_id for info in infos] == [
            "sharegpt-1",
            "new",
            "zep-1",
            "claude-1",
            "old",
        ]
        assert activity["old"] == older + timedelta(seconds=60)
        old = opened.list_messages("old").messages
        assert [m.content for m in old] == ["Hello?", "Hi."]  # the instructions are hidden
        assert [m.created_at for m in old] == [older + timedelta(seconds=60)] * 2
        claude = opened.list_messages("claude-1").messages
        assert claude[1].created_at == datetime(2023, 6, 1, 10, 0, 5, tzinfo=UTC)
        zep = opened.list_messages("zep-1").messages
        assert zep[1].created_at == datetime(2023, 7, 1, tzinfo=UTC)
        sharegpt = opened.list_messages("sharegpt-1").messages
        assert all(m.created_at is not None and m.created_at >= imported_from for m in sharegpt)


# --- archives that expand too far ----------------------------------------------------------


def bomb(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
        for name, data in members.items():
            zipped.writestr(name, data)
    return path


def test_a_zip_bomb_member_is_refused_in_one_line_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member that expands over 100 times (here a 4 MiB line in a few KiB) is refused
    before it is opened, naming the archive and member; the archive's other members
    still import; nothing is written to the temporary folder."""
    monkeypatch.chdir(tmp_path)
    temp = tmp_path / "temp"
    temp.mkdir()
    monkeypatch.setenv("TMPDIR", str(temp))
    monkeypatch.setattr(tempfile, "tempdir", None)
    line = json.dumps({"session_id": "bomb", "content": " " * (4 << 20)}) + "\n"
    good = json.dumps({"session_id": "fine", "role_type": "user", "content": "hi"}) + "\n"
    archive = bomb(tmp_path / "bomb.zip", {"a.jsonl": line.encode(), "b.jsonl": good.encode()})
    assert archive.stat().st_size < 50_000
    db = tmp_path / "store.duckdb"
    result = CliRunner().invoke(cli, ["--db", str(db), "import", "--no-summaries", "bomb.zip"])
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit)
    [error] = result.stderr.splitlines()
    assert error.startswith("zeptui: error: bomb.zip/a.jsonl: expands to 4.0 MiB from ")
    assert "more than an archive member may (100 to 1)" in error
    assert session_names(db) == {"fine"}
    assert list(temp.iterdir()) == []


def test_archive_limits_bound_each_member_and_the_total(tmp_path: Path, store: DuckDBStore) -> None:
    """Limits the tests can lower: a member's size, and the total of the members read
    (over it, the archive is refused whole, in one line)."""
    lines = [
        json.dumps({"session_id": f"s{n}", "role_type": "user", "content": f"message {n}"})
        for n in range(3)
    ]
    archive = bomb(
        tmp_path / "export.zip",
        {f"{n}.jsonl": (line + "\n").encode() for n, line in enumerate(lines)},
    )
    sizes = [len(line) + 1 for line in lines]
    small = ArchiveLimits(member_bytes=sizes[0] - 1, total_bytes=10_000)
    run = ImportRun([archive], archive_limits=small)
    assert run.planned == []
    assert run.errors == [
        f"{archive}/{n}.jsonl: expands to {sizes[n]} bytes, more than an archive member "
        f"may ({sizes[0] - 1} bytes); not imported"
        for n in range(3)
    ]
    tight = ArchiveLimits(member_bytes=10_000, total_bytes=100)
    run = ImportRun([archive], archive_limits=tight)
    assert run.planned == []
    assert run.errors == [
        f"{archive}/1.jsonl: the archive's chat files expand to more than 100 bytes (the most "
        "an import reads from one archive); none of them was imported"
    ]
    run = ImportRun([archive])
    run.run(store)
    assert run.errors == [] and run.totals().messages_added == 3


def test_archive_members_are_read_in_place(tmp_path: Path) -> None:
    """A member is read straight from the archive (never extracted): the path an
    importer gets does not exist on disk, reads the member's bytes, and a corrupt
    member is a one-line error."""
    data = json.dumps({"session_id": "s", "content": os.urandom(4000).hex()}) + "\n"
    archive = bomb(tmp_path / "a.zip", {"dir/chat.jsonl": data.encode()})
    sources, errors = expand([archive])
    [source] = sources
    path = source.readable()
    assert errors == [] and not path.exists() and path.name == "chat.jsonl"
    assert path.read_bytes() == data.encode()
    with path.open(encoding="utf-8") as text:
        assert text.readline() == data
    corrupt = bytearray(archive.read_bytes())
    start = corrupt.index(b"dir/chat.jsonl") + len("dir/chat.jsonl") + 1000
    corrupt[start : start + 50] = bytes(50)
    archive.write_bytes(bytes(corrupt))
    with DuckDBStore(tmp_path / "s.duckdb", summarizer=None) as opened:
        run = ImportRun([archive])
        run.run(opened)
    [error] = run.errors
    assert error.startswith(f"{archive}/dir/chat.jsonl: ") and "zip" in error


# --- lone surrogates ---------------------------------------------------------------------

SURROGATE = "\\ud800"  # as the JSON text has it: an escape Python decodes to a lone surrogate
SURROGATE_FILES = {
    "zep.jsonl": (
        '{"session_id": "z", "content": "ok"}\n'
        f'{{"session_id": "z", "content": "bad {SURROGATE}"}}\n',
        2,
    ),
    "zep-id.jsonl": (f'{{"session_id": "z{SURROGATE}", "content": "x"}}\n', 1),
    "zep-user.jsonl": (f'{{"session_id": "z", "user_id": "u{SURROGATE}", "content": "x"}}\n', 1),
    "session.json": (
        '{"session_id": "s",\n "messages": [{"content": "ok"},\n'
        f' {{"content": "{SURROGATE}"}}]}}',
        2,
    ),
    "sharegpt.json": (
        '[{"id": "a", "conversations": [{"from": "human", "value": "ok"}]},\n'
        f' {{"id": "b", "conversations": [{{"from": "human", "value": "{SURROGATE}"}}]}}]',
        2,
    ),
    "openai.jsonl": (
        '{"messages": [{"role": "user", "content": "ok"}]}\n'
        f'{{"messages": [{{"role": "user{SURROGATE}", "content": "x"}}]}}\n',
        2,
    ),
    "langchain.json": (
        '[{"type": "human", "data": {"content": "ok"}},\n'
        f' {{"type": "ai", "data": {{"content": "{SURROGATE}"}}}}]',
        2,
    ),
    "claude.json": (
        '[{"uuid": "c", "chat_messages": [{"sender": "human", "text": "ok"}]},\n'
        f' {{"uuid": "d", "chat_messages": [{{"sender": "human", "text": "{SURROGATE}"}}]}}]',
        2,
    ),
    "conversations.json": (
        '[{"id": "g", "title": "ok", "create_time": 1, "mapping": {}},\n'
        f' {{"id": "h", "title": "{SURROGATE}", "create_time": 1, "mapping": {{}}}}]',
        2,
    ),
}


@pytest.mark.parametrize("name", sorted(SURROGATE_FILES))
def test_lone_surrogates_are_bad_records_with_file_and_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    """A `\\ud800` escape decodes to text that cannot be stored: the record is refused
    with file:line (listed and skipped with --skip-invalid), never a traceback."""
    monkeypatch.chdir(tmp_path)
    text, line = SURROGATE_FILES[name]
    Path(name).write_text(text, encoding="utf-8")
    db = tmp_path / "store.duckdb"
    args = ["--db", str(db), "import", "--no-summaries", name]
    failed = CliRunner().invoke(cli, args)
    assert failed.exit_code == 1 and isinstance(failed.exception, SystemExit), failed.output
    [error] = failed.stderr.splitlines()
    assert error.startswith(f"zeptui: error: {name}:{line}: ")
    assert "lone surrogate" in error
    assert not db.exists() or session_names(db) == set()
    skipped = CliRunner().invoke(cli, [*args[:4], "--skip-invalid", "--json", name])
    assert skipped.exit_code == 0, skipped.output
    [report] = json.loads(skipped.stdout)["files"]
    assert report["records_skipped"] == 1 and "lone surrogate" in report["skipped"][0]


class Recorder:
    """An ImportProgress that writes down what it is told, in order."""

    def __init__(self) -> None:
        self.events: list[tuple[Any, ...]] = []

    def file_started(self, name: str, counts: ImportCounts) -> None:
        self.events.append(("started", Path(name).name))

    def counted(self, counts: ImportCounts) -> None:
        self.events.append(("counted", counts.sessions, counts.messages))

    def file_ended(self, entry: Entry, counts: ImportCounts) -> None:
        self.events.append(("ended", Path(entry.name).name, counts.sessions, counts.messages))

    def summaries(self, done: int, sessions: int) -> None:
        self.events.append(("summaries", done, sessions))


def test_progress_hears_the_bulk_read_and_the_summary_phase(tmp_path: Path) -> None:
    """Issue 9.23: the progress line is told what a file the store reads itself holds
    as soon as it is read (not only when it is written), and then how the summaries
    of the imported sessions go, session by session, up to all of them."""
    lines = [
        {"session_id": f"s{n // 14}", "role": "user", "role_type": "user", "content": f"Turn {n}."}
        for n in range(14 * 3)
    ]
    jsonl = tmp_path / "turns.jsonl"
    jsonl.write_text("".join(json.dumps(line) + "\n" for line in lines))
    recorder = Recorder()
    with DuckDBStore(tmp_path / "z.duckdb", defer_summaries=True) as store:
        ImportRun([jsonl, OCTAVIA]).run(store, recorder)
        assert store.list_summaries("s2")  # made inside the run, in sight
    events = recorder.events
    assert events[:3] == [
        ("started", "turns.jsonl"),
        ("counted", 3, 42),  # the store read the file itself: told at once, before the end
        ("ended", "turns.jsonl", 3, 42),
    ]
    assert events[3] == ("started", "octavia-butler.json")
    assert events[-3][0] == "ended" and events[-3][2:] == (4, 54)
    assert events[-2:] == [("summaries", 0, 4), ("summaries", 4, 4)]


class _CancelAt(NoProgress):
    """A front end whose user cancels once `sessions` sessions went by."""

    def __init__(self, run: ImportRun, sessions: int) -> None:
        self.run, self.sessions = run, sessions

    def counted(self, counts: ImportCounts) -> None:
        if counts.sessions == self.sessions:
            self.run.cancel()


def test_a_cancel_mid_run_leaves_the_store_as_it_was(store: DuckDBStore, tmp_path: Path) -> None:
    """The run is one transaction: a.jsonl, finished before the cancel, goes too."""
    import_file(store, OCTAVIA)
    before = dump(store)
    first = sharegpt_lines(tmp_path / "a.jsonl", [chat("a", "hi", "hello")])
    big = sharegpt_lines(tmp_path / "b.jsonl", [chat(f"b{n}", "hi", "hello") for n in range(200)])
    run = ImportRun([first, big])
    with pytest.raises(ImportCancelled) as cancelled:
        run.run(store, _CancelAt(run, 101))  # half-way through b.jsonl
    assert (cancelled.value.file, cancelled.value.done, cancelled.value.kept) == (
        str(big),
        1,
        False,
    )
    assert dump(store) == before


def test_a_cancel_after_the_commit_comes_too_late(store: DuckDBStore, tmp_path: Path) -> None:
    run = ImportRun([sharegpt_lines(tmp_path / "a.jsonl", [chat("a", "hi", "hello")])])
    run.run(store)
    assert run.cancel() is False
    assert [session.session_id for session in sessions(store)] == ["a"]


def test_progress_of_summaries_drafted_ahead(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With workers (as on idle cores) the Zep JSONL file's sessions are drafted while
    the file is imported and written with it, their progress shown before the next
    file; the summary phase counts the sessions left; the store holds what one
    process stores."""
    lines = [
        {"session_id": f"s{n // 14}", "role": "user", "role_type": "user", "content": f"Turn {n}."}
        for n in range(14 * 3)
    ]
    jsonl = tmp_path / "turns.jsonl"
    jsonl.write_text("".join(json.dumps(line) + "\n" for line in lines))

    def imported(name: str) -> tuple[list[tuple[Any, ...]], list[list[str]]]:
        recorder = Recorder()
        with DuckDBStore(tmp_path / name, defer_summaries=True) as store:
            ImportRun([jsonl, OCTAVIA]).run(store, recorder)
            made = [
                [found.summary.content for found in store.list_summaries(info.session.session_id)]
                for info in store.session_page(SessionQuery(limit=10)).sessions
            ]
        return recorder.events, made

    events, made = imported("one.duckdb")
    assert len(made) == 4 and all(made)
    monkeypatch.setattr(summary_workers, "MIN_SESSIONS", 2)
    monkeypatch.setattr(summary_workers, "AHEAD_SESSIONS", 1)
    monkeypatch.setattr(summary_scheduler, "BATCH_SESSIONS", 1)
    monkeypatch.setattr(processes, "_cores_and_load", lambda: (2, 0.5))
    ahead: list[bool] = []
    drafted_ahead = summary_workers.Workers.drafted_ahead

    def spy(workers: summary_workers.Workers, backlog: Backlog) -> Any:
        drafted = drafted_ahead(workers, backlog)
        ahead.append(drafted is not None)
        return drafted

    monkeypatch.setattr(summary_workers.Workers, "drafted_ahead", spy)
    events_ahead, made_ahead = imported("many.duckdb")
    assert made_ahead == made
    # The JSONL's sessions were summarised by its import, with their progress; the
    # summary phase made Octavia's.
    assert ahead == []  # none left drafted ahead (Octavia's, in this process)
    summarised = [("summaries", done, 3) for done in range(4)]
    assert events_ahead == [*events[:2], *summarised, *events[2:-2], *events_ahead[-2:]]
    assert events_ahead[-2:] == [("summaries", 0, 1), ("summaries", 1, 1)]
