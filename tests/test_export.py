"""`zeptui export`: real DuckDB files in tmp_path, through the real CLI."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from storage.duckdb import DuckDBStore
from storage.models import Message, RoleType, SessionImport, UpdateUserRequest
from tests.cli_helpers import no_user_settings
from zeptui import config, exporters
from zeptui.cli import cli

SAMPLES = sorted(config.sample_files())


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ZEPTUI_DB", raising=False)
    monkeypatch.delenv("ZEPTUI_SUMMARIZER", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))


def run(db: Path, *args: str | Path, code: int = 0) -> Result:
    result = CliRunner().invoke(cli, ["--db", str(db), *[str(arg) for arg in args]])
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result


@pytest.fixture(scope="module")
def sample_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled samples, with summaries (small window, so every session has some),
    built once per module to copy from."""
    path = tmp_path_factory.mktemp("export") / "a.duckdb"
    with no_user_settings(path.parent / "config"):
        run(path, "import", "--no-summaries", *SAMPLES)
    with DuckDBStore(path, message_window=4, background_summaries=False) as store:
        for info in store.session_page().sessions:
            store.summarize(info.session.session_id)
    return path


@pytest.fixture
def sample_db(tmp_path: Path, sample_template: Path) -> Path:
    """A copy of the sample template for one test."""
    path = tmp_path / "a.duckdb"
    shutil.copyfile(sample_template, path)
    return path


def session_ids(db: Path) -> list[str]:
    with DuckDBStore(db, read_only=True, summarizer=None) as store:
        return [info.session.session_id for info in store.session_page().sessions]


@pytest.mark.parametrize(("fmt", "suffix"), [("zep-json", "json"), ("zep-jsonl", "jsonl")])
def test_zep_formats_round_trip_to_identical_bytes(
    tmp_path: Path, sample_db: Path, fmt: str, suffix: str
) -> None:
    first = tmp_path / f"1.{suffix}"
    second = tmp_path / f"2.{suffix}"
    empty = tmp_path / "b.duckdb"
    run(sample_db, "export", "--format", fmt, "-o", first)
    run(empty, "import", "--no-summaries", first)
    run(empty, "export", "--format", fmt, "-o", second)
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text(encoding="utf-8")
    assert text.endswith("\n")
    assert '"token_count":' not in text and '"updated_at":' not in text  # derived by the store
    records = (
        json.loads(text) if fmt == "zep-json" else [json.loads(line) for line in text.splitlines()]
    )
    assert records
    if fmt == "zep-json":
        assert [s["session_id"] for s in records] == session_ids(sample_db)
        keys = ["session_id", "user_id", "metadata", "created_at", "messages"]
        assert all(list(session) == keys for session in records)
        # streaming writes exactly what json.dumps writes for the whole list
        assert text == json.dumps(records, ensure_ascii=False, indent=2) + "\n"
    else:
        assert {r["session_id"] for r in records} == set(session_ids(sample_db))
        assert {r["user_id"] for r in records} >= {"priya.raman", "jane"}


def test_zep_dump_round_trips_users_too(tmp_path: Path, sample_db: Path) -> None:
    with DuckDBStore(sample_db, summarizer=None) as store:
        update = UpdateUserRequest(first_name="Jane", email="jane@example.com", metadata={"t": 1})
        store.update_user("jane", update)
    first, second = tmp_path / "1.json", tmp_path / "2.json"
    empty = tmp_path / "b.duckdb"
    run(sample_db, "export", "--format", "zep-dump", "-o", first)
    run(empty, "import", "--no-summaries", first)
    run(empty, "export", "--format", "zep-dump", "-o", second)
    assert first.read_bytes() == second.read_bytes()
    text = first.read_text(encoding="utf-8")
    document = json.loads(text)
    assert text == json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    assert list(document) == ["users", "sessions"]
    assert [s["session_id"] for s in document["sessions"]] == session_ids(sample_db)
    jane = next(u for u in document["users"] if u["user_id"] == "jane")
    assert jane == {
        "user_id": "jane",
        "email": "jane@example.com",
        "first_name": "Jane",
        "last_name": None,
        "metadata": {"t": 1},
    }
    with DuckDBStore(empty, read_only=True, summarizer=None) as restored:
        assert restored.get_user("jane").first_name == "Jane"
    # the sessions part is exactly the zep-json export
    zep_json = run(sample_db, "export", "--format", "zep-json").stdout
    assert json.loads(zep_json) == document["sessions"]
    with DuckDBStore(tmp_path / "none.duckdb", summarizer=None):
        pass
    empty_dump = run(tmp_path / "none.duckdb", "export", "--format", "zep-dump")
    assert empty_dump.stdout == '{\n  "users": [],\n  "sessions": []\n}\n'


def dump_users(db: Path, *args: str) -> list[str]:
    document = json.loads(run(db, "export", "--format", "zep-dump", *args).stdout)
    return [user["user_id"] for user in document["users"]]


def test_zep_dump_backup_restores_users_without_sessions(tmp_path: Path, sample_db: Path) -> None:
    """A full backup carries every user; a narrowed export only the users it needs."""
    run(sample_db, "users", "add", "solo", "--first-name", "Solo", "--metadata", '{"plan": "pro"}')
    backup, again = tmp_path / "backup.json", tmp_path / "again.json"
    run(sample_db, "export", "--format", "zep-dump", "-o", backup)
    restored = tmp_path / "restored.duckdb"
    run(restored, "import", "--no-summaries", backup)
    with DuckDBStore(restored, read_only=True, summarizer=None) as store:
        solo = store.get_user("solo")
        assert (solo.first_name, solo.metadata) == ("Solo", {"plan": "pro"})
        assert store.get_user_sessions("solo") == []
    with DuckDBStore(sample_db, read_only=True, summarizer=None) as store:
        every_user = [user.user_id for user in store.list_users()]
    assert "solo" in every_user
    assert dump_users(sample_db) == every_user  # in the store's order
    run(restored, "export", "--format", "zep-dump", "-o", again)
    assert backup.read_bytes() == again.read_bytes()
    # narrowed: the users those sessions need, or the one --user names
    assert dump_users(sample_db, "octavia-butler") == ["jane"]
    assert dump_users(sample_db, "--user", "jane") == ["jane"]
    assert dump_users(sample_db, "--user", "solo") == ["solo"]


def test_zep_json_stdout_matches_file_and_keeps_non_ascii(tmp_path: Path, sample_db: Path) -> None:
    out = tmp_path / "out.json"
    run(sample_db, "export", "-o", out)
    stdout = run(sample_db, "export").stdout_bytes
    assert stdout == out.read_bytes()
    assert "–".encode() in stdout  # an en dash in the samples, not \u2013


def test_empty_store_and_empty_session(tmp_path: Path) -> None:
    db = tmp_path / "e.duckdb"
    with DuckDBStore(db, summarizer=None):
        pass
    assert run(db, "export").stdout == "[]\n"
    with DuckDBStore(db, summarizer=None) as store:
        store.import_sessions([SessionImport(session_id="empty", metadata={"k": "v"})])
    text = run(db, "export").stdout
    assert json.loads(text)[0]["messages"] == []
    assert text == json.dumps(json.loads(text), ensure_ascii=False, indent=2) + "\n"
    assert run(db, "export", "--format", "zep-jsonl").stdout == ""
    assert run(db, "export", "--format", "openai-jsonl").stdout == ""


def test_markdown_has_every_message_and_summaries_after_their_message(sample_db: Path) -> None:
    text = run(sample_db, "export", "--format", "markdown").stdout
    with DuckDBStore(sample_db, read_only=True, summarizer=None) as store:
        for session in [info.session for info in store.session_page().sessions]:
            start = text.index(f"# Session {session.session_id}\n")
            messages = list(exporters.iter_messages(store, session.session_id))
            positions = []  # each message's content, in order, within this session
            for message in messages:
                positions.append(text.index(message.content.strip(), start))
                start = positions[-1]
            summaries = store.list_summaries(session.session_id)
            assert summaries
            for info in summaries:
                label = f"> **Summary** of {info.message_count} messages"
                index = next(
                    i for i, m in enumerate(messages) if m.uuid == info.summary.recent_message_uuid
                )
                at = text.index(label, positions[index])
                assert index + 1 == len(messages) or at < positions[index + 1]
                assert text.index(info.summary.content.split("\n")[0], at) > at
    assert "**Priya** (user) · 2024-09-03 14:02:51 UTC" in text


def test_markdown_closes_a_fence_a_message_leaves_open(tmp_path: Path) -> None:
    db = tmp_path / "f.duckdb"
    with DuckDBStore(db, summarizer=None) as store:
        store.add_memory(
            "s",
            [
                Message(role="a_b", role_type=RoleType.user, content="```python\nprint(1)"),
                Message(role="", role_type=None, content="# not a heading of ours"),
            ],
        )
    text = run(db, "export", "--format", "markdown").stdout
    assert "```python\nprint(1)\n```\n" in text
    assert "**a\\_b** (user)" in text
    assert "**(no name)** (norole)" in text


def test_openai_jsonl_maps_roles(tmp_path: Path, sample_db: Path) -> None:
    lines = run(sample_db, "export", "--format", "openai-jsonl").stdout.splitlines()
    assert len(lines) == len(session_ids(sample_db))
    conversations = [json.loads(line) for line in lines]
    roles = {m["role"] for c in conversations for m in c["messages"]}
    assert roles <= {"system", "user", "assistant", "tool"}
    assert {"system", "user", "assistant", "tool"} <= roles
    support = next(c["messages"] for c in conversations if "NW-58213" in json.dumps(c))
    assert support[0] == {"role": "system", "content": support[0]["content"]}  # no name: same
    assert support[1]["name"] == "Priya" and support[1]["role"] == "user"

    db = tmp_path / "o.duckdb"
    with DuckDBStore(db, summarizer=None) as store:
        store.add_memory(
            "s",
            [
                Message(role="Dr. Who", role_type=RoleType.norole, content="hi"),
                Message(role="", role_type=None, content="x"),
                Message(
                    role="calc",
                    role_type=RoleType.function,
                    content="2",
                    metadata={"tool_call_id": "call_1"},
                ),
            ],
        )
    (line,) = run(db, "export", "--format", "openai-jsonl").stdout.splitlines()
    assert json.loads(line)["messages"] == [
        {"role": "user", "content": "hi", "name": "Dr_Who"},
        {"role": "user", "content": "x"},
        {"role": "tool", "content": "2", "name": "calc", "tool_call_id": "call_1"},
    ]


def test_filters_by_session_id_and_user(sample_db: Path) -> None:
    ids = session_ids(sample_db)
    picked: Any = json.loads(run(sample_db, "export", ids[1], ids[0], ids[1]).stdout)
    assert [s["session_id"] for s in picked] == [ids[1], ids[0]]
    by_user = json.loads(run(sample_db, "export", "--user", "priya.raman").stdout)
    assert [s["user_id"] for s in by_user] == ["priya.raman"]
    both = json.loads(
        run(sample_db, "export", "--user", "priya.raman", by_user[0]["session_id"]).stdout
    )
    assert both == by_user


def test_errors_are_one_line_and_write_nothing(tmp_path: Path, sample_db: Path) -> None:
    out = tmp_path / "out.json"
    result = run(sample_db, "export", "nope", "-o", out, code=1)
    assert result.stdout == ""
    assert result.stderr == "zeptui: error: session 'nope' not found\n"
    assert run(sample_db, "export", "--user", "nobody", code=1).stderr.startswith(
        "zeptui: error: user 'nobody' not found"
    )
    other = session_ids(sample_db)[1]
    assert "is not a session of" in run(sample_db, "export", "--user", "priya.raman", other,
                                        code=1).stderr  # fmt: skip
    missing = run(tmp_path / "missing.duckdb", "export", code=1).stderr
    assert missing.startswith("zeptui: error:") and missing.count("\n") == 1
    assert not (tmp_path / "missing.duckdb").exists()
    assert not out.exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_output_is_atomic(tmp_path: Path, sample_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    calls = 0
    real = exporters.zep_message

    def failing(message: Message) -> dict[str, Any]:
        nonlocal calls
        calls += 1
        if calls == 5:
            raise OSError(28, "No space left on device")
        return real(message)

    monkeypatch.setattr(exporters, "zep_message", failing)
    result = run(sample_db, "export", "--format", "zep-jsonl", "-o", out, code=1)
    assert result.stderr == f"zeptui: error: {out}: No space left on device\n"  # the target
    assert out.read_text() == "old\n"  # untouched, and no temp file left behind
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith(".")) == []
    monkeypatch.setattr(exporters, "zep_message", real)
    run(sample_db, "export", "--format", "zep-jsonl", "-o", out)
    assert out.read_text().count("\n") > 10
    assert oct(out.stat().st_mode & 0o777) != oct(0o600)
