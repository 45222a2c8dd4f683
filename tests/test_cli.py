"""The `zeptui` CLI end to end: a real DuckDB file in tmp_path, through click and a subprocess."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli_helpers import fail, run, run_json, run_script, script_env
from tests.holders import held_database
from zeptui import config

FIXTURES = Path(__file__).parent / "fixtures" / "zep"
SESSION_FIELDS = {
    "uuid",
    "id",
    "created_at",
    "updated_at",
    "deleted_at",
    "ended_at",
    "session_id",
    "user_id",
    "metadata",
    "facts",
}
MESSAGE_FIELDS = {
    "uuid",
    "created_at",
    "updated_at",
    "role",
    "role_type",
    "content",
    "token_count",
    "metadata",
}
USER_FIELDS = {
    "uuid",
    "id",
    "created_at",
    "updated_at",
    "deleted_at",
    "user_id",
    "email",
    "first_name",
    "last_name",
    "metadata",
}


def import_samples() -> None:
    """Import the two Zep-format samples (the tests below count their sessions)."""
    samples = config.sample_data_dir()
    run("import", samples / "customer-support.json", samples / "octavia-butler.json")


# --- happy paths -----------------------------------------------------------------------


def test_add_and_show(db: Path) -> None:
    added = run_json(
        "add", "s1", "--role", "Jane", "--role-type", "user", "--content", "Hello there",
        "--metadata", '{"foo": "bar"}',
    )  # fmt: skip
    assert set(added) == MESSAGE_FIELDS
    assert (added["role"], added["role_type"], added["content"]) == ("Jane", "user", "Hello there")
    assert added["metadata"] == {"foo": "bar"} and added["token_count"] > 0
    human = run("add", "s1", "--role", "Bot", "--role-type", "assistant", "--content", "Hi Jane")
    assert "Added message" in human.stdout and "s1" in human.stdout

    memory = run_json("show", "s1")
    assert set(memory) == {"messages", "summary", "facts", "metadata"}
    assert [m["content"] for m in memory["messages"]] == ["Hello there", "Hi Jane"]
    assert memory["summary"] is None
    total = sum(m["token_count"] for m in memory["messages"])

    shown = run("show", "s1").stdout
    assert f"{total} tokens in total" in shown
    assert "Jane (user)" in shown and "Hello there" in shown and '{"foo": "bar"}' in shown
    last = run_json("show", "s1", "--lastn", "1", "--memory-type", "message_window")
    assert [m["content"] for m in last["messages"]] == ["Hi Jane"]


def test_sessions_listing_and_json(db: Path) -> None:
    import_samples()
    sessions = run_json("sessions", "--sort", "id")
    assert [s["session_id"] for s in sessions] == ["support-NW-58213", "octavia-butler"]
    by_activity = run_json("sessions")  # the default: the most recently active first
    assert [s["session_id"] for s in by_activity] == ["support-NW-58213", "octavia-butler"]
    oldest_first = run_json("sessions", "--asc")
    assert [s["session_id"] for s in oldest_first] == ["octavia-butler", "support-NW-58213"]
    assert all(set(s) == SESSION_FIELDS for s in sessions)
    assert sessions[1]["user_id"] == "jane" and sessions[1]["metadata"]["topic"] == "literature"

    by_user = run_json("sessions", "--user", "jane")
    assert [s["session_id"] for s in by_user] == ["octavia-butler"]
    by_meta = run_json("sessions", "--metadata", "channel=web_chat")
    assert [s["session_id"] for s in by_meta] == ["support-NW-58213"]
    by_count = run_json("sessions", "--sort", "message_count", "--desc", "--limit", "1")
    assert [s["session_id"] for s in by_count] == ["support-NW-58213"]
    page_two = run_json("sessions", "--sort", "id", "--limit", "1", "--page", "2")
    assert [s["session_id"] for s in page_two] == ["octavia-butler"]

    table = run("sessions").stdout
    for expected in ("Session", "User", "Messages", "Tokens", "Last activity", "priya.raman"):
        assert expected in table
    assert "octavia-butler" in table and "37" in table and "2024-05-16 22:04 UTC" in table
    first = run("sessions", "--limit", "1", "--user", "jane").stdout
    assert "Sessions 1–1 of 1." in first and "Next page" not in first
    first = run("sessions", "--limit", "1", "--sort", "id").stdout
    assert "Sessions 1–1 of 2. Next page: zeptui sessions --limit 1 --sort id --page 2" in first


def test_show_summary_and_token_total(db: Path) -> None:
    import_samples()
    memory = run_json("show", "support-NW-58213")
    assert memory["summary"] is not None, "37 messages with a window of 12 make summaries"
    assert set(memory["summary"]) >= {"uuid", "content", "token_count", "recent_message_uuid"}
    assert 0 < len(memory["messages"]) <= 12
    total = memory["summary"]["token_count"] + sum(m["token_count"] for m in memory["messages"])
    shown = run("show", "support-NW-58213").stdout
    assert f"{total:,} tokens in total" in shown and "Summary" in shown


def test_messages_pages(db: Path) -> None:
    import_samples()
    page = run_json("messages", "support-NW-58213", "--limit", "10", "--page", "2")
    assert set(page) == {"messages", "total_count", "row_count"}
    assert (page["total_count"], page["row_count"]) == (37, 10)
    assert all(set(m) == MESSAGE_FIELDS for m in page["messages"])
    everything = run_json("messages", "support-NW-58213")
    assert page["messages"] == everything["messages"][10:20]
    human = run("messages", "octavia-butler", "--limit", "2").stdout
    assert "#1" in human and "Who was Octavia Butler?" in human
    assert (
        "Messages 1–2 of 12. Next page: zeptui messages octavia-butler --limit 2 --page 2" in human
    )


def test_search(db: Path) -> None:
    import_samples()
    results = run_json("search", "refund")
    assert results and all(r["message"] for r in results)
    assert all(set(r) == {"message", "summary", "metadata", "score", "session_id"} for r in results)
    scores = [r["score"] for r in results]
    assert scores == sorted(scores, reverse=True)
    assert {r["session_id"] for r in results} == {"support-NW-58213"}
    users_only = run_json("search", "tent", "--role-type", "user", "--limit", "2")
    assert len(users_only) == 2 and all(r["message"]["role_type"] == "user" for r in users_only)
    assert run_json("search", "Butler", "--session", "support-NW-58213") == []
    human = run("search", "Parable Sower").stdout
    assert "Score" in human and "octavia-butler" in human and "HistoryBot" in human
    assert "No matches." in run("search", "xylophone").stdout


def test_import_reports_and_is_idempotent(db: Path) -> None:
    first = run_json("import", FIXTURES / "session-v2.json", FIXTURES / "messages.jsonl")
    assert [entry["file"] for entry in first["files"]] == [
        str(FIXTURES / "session-v2.json"),
        str(FIXTURES / "messages.jsonl"),
    ]
    assert first["files"][0] == {
        "file": str(FIXTURES / "session-v2.json"),
        "format": "zep",
        "users_created": 1,
        "sessions_created": 1,
        "sessions_updated": 0,
        "messages_added": 3,
        "messages_skipped": 0,
        "messages_restored": 0,
        "messages_conflicting": 0,
        "summaries_imported": 0,
        "records_skipped": 0,
        "skipped": [],
        "warning_count": 0,
        "warnings": [],
    }
    assert first["dry_run"] is False
    assert first["totals"]["messages_added"] == 7 and first["totals"]["errors"] == 0
    again = run_json("import", FIXTURES / "session-v2.json", FIXTURES / "messages.jsonl")
    assert again["totals"]["messages_added"] == 0 and again["totals"]["messages_skipped"] == 7
    # Said as what they are: not "skipped", the word for the invalid records listed below.
    said = run("import", FIXTURES / "session-v2.json", FIXTURES / "messages.jsonl").stdout
    assert "0 messages added, 3 already present" in said and "skipped" not in said
    assert "0 messages added, 7 already present" in said  # the total
    human = run("import", FIXTURES / "sessions-mixed.json").stdout
    assert "sessions-mixed.json (zep): 2 sessions created, 0 updated; 5 messages added" in human


def test_round_trip_of_messages_json(
    db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("import", FIXTURES / "session-v2.json")
    monkeypatch.chdir(tmp_path)  # a file without a session id names it by its path here
    Path("trip-lisbon.json").write_text(run("messages", "trip-lisbon", "--json").stdout)
    report = run_json("import", "trip-lisbon.json")
    assert report["totals"]["messages_added"] == 0
    assert report["totals"]["messages_skipped"] == 3


def test_delete_and_purge(db: Path) -> None:
    import_samples()
    assert "Deleted session octavia-butler" in run("delete", "octavia-butler").stdout
    assert [s["session_id"] for s in run_json("sessions")] == ["support-NW-58213"]
    fail("show", "octavia-butler")
    run("add", "gone", "--role-type", "user", "--content", "bye")
    assert "Purged" in run("delete", "gone", "--purge").stdout
    stats = run_json("stats")
    assert (stats["users"], stats["sessions"], stats["messages"]) == (2, 1, 37)


def test_summarize(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run("import", "--no-summaries", config.sample_data_dir() / "customer-support.json")
    assert run_json("stats")["summaries"] == 0
    made = run_json("summarize", "support-NW-58213", "--summarizer", "extractive")
    assert len(made) >= 1 and run_json("stats")["summaries"] == len(made)
    assert {"summary", "first_message_uuid", "message_count"} <= set(made[0])
    assert made[0]["summary"]["content"]
    again = run("summarize", "support-NW-58213").stdout
    assert "No summary was due" in again
    fail("summarize", "nope")
    for name in ("ZEPTUI_LLM_BASE_URL", "OPENAI_BASE_URL", "ZEPTUI_LLM_MODEL"):
        monkeypatch.delenv(name, raising=False)
    assert "llm summarizer needs" in fail("summarize", "support-NW-58213", "--summarizer", "llm")


def test_users(db: Path) -> None:
    user = run_json(
        "users", "add", "ann", "--email", "ann@example.com", "--first-name", "Ann",
        "--metadata", '{"plan": "free"}',
    )  # fmt: skip
    assert set(user) == USER_FIELDS
    assert (user["user_id"], user["email"]) == ("ann", "ann@example.com")
    assert user["metadata"] == {"plan": "free"}
    updated = run_json("users", "update", "ann", "--last-name", "Lee", "--metadata", '{"tier": 2}')
    assert (updated["first_name"], updated["last_name"]) == ("Ann", "Lee")
    assert updated["metadata"] == {"plan": "free", "tier": 2}
    assert run_json("users", "show", "ann")["last_name"] == "Lee"
    assert "ann@example.com" in run("users", "show", "ann").stdout
    run("import", FIXTURES / "session-v2.json")
    assert [u["user_id"] for u in run_json("users", "list")] == ["ann", "alice"]
    assert "alice" in run("users", "list").stdout
    sessions = run_json("users", "sessions", "alice")
    assert [s["session_id"] for s in sessions] == ["trip-lisbon"]
    assert "trip-lisbon" in run("users", "sessions", "alice").stdout
    assert "already exists" in fail("users", "add", "ann")
    run("users", "delete", "alice")
    fail("users", "show", "alice")
    assert run_json("sessions") == []


def test_stats(db: Path) -> None:
    import_samples()
    stats = run_json("stats")
    assert set(stats) == {"users", "sessions", "messages", "summaries"}
    assert (stats["users"], stats["sessions"], stats["messages"]) == (2, 2, 49)
    assert stats["summaries"] > 0
    human = run("stats").stdout
    assert str(db) in human and "Messages" in human and "49" in human


def test_demo_is_idempotent_and_opens_the_app(db: Path, tmp_path: Path) -> None:
    first = run("demo").stdout
    demo_db = tmp_path / "data" / "zeptui" / "demo.duckdb"
    assert demo_db.exists() and not db.exists()  # the demo never touches $ZEPTUI_DB
    added = re.search(r"Demo data: ([\d,]+) messages added, 0 already present", first)
    assert added is not None and int(added[1].replace(",", "")) >= 100
    assert "octavia-butler" in first and "support-NW-58213" in first
    assert "coding-help-rust-borrow" in first  # the ShareGPT sample
    assert f"0 messages added, {added[1]} already present" in run("demo").stdout
    other = tmp_path / "elsewhere.duckdb"
    assert "octavia-butler" in run("demo", "--db", other).stdout and other.exists()


def test_bare_command_opens_the_app(db: Path, tmp_path: Path) -> None:
    import_samples()
    listing = run().stdout
    assert str(db) in listing and "support-NW-58213" in listing
    other = tmp_path / "other.duckdb"
    run("--db", other, "users", "add", "nobody")
    assert "No sessions." in run("--db", other).stdout


def test_database_location(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    monkeypatch.delenv("ZEPTUI_DB", raising=False)
    default = config.resolve_db_path()
    assert default == tmp_path / "xdg" / "zeptui" / "zeptui.duckdb"
    assert not default.parent.exists()  # resolving a path creates nothing
    monkeypatch.setenv("ZEPTUI_DB", str(tmp_path / "env" / "e.duckdb"))
    assert config.resolve_db_path() == tmp_path / "env" / "e.duckdb"
    assert config.resolve_db_path(tmp_path / "opt.duckdb") == tmp_path / "opt.duckdb"


def test_sample_data() -> None:
    names = {path.name for path in config.sample_files()}
    assert {"octavia-butler.json", "customer-support.json"} <= names
    octavia = json.loads((config.sample_data_dir() / "octavia-butler.json").read_text())
    assert octavia["user_id"] == "jane" and octavia["metadata"]
    assert {"foo": "bar"} in [m.get("metadata") for m in octavia["messages"]]
    support = json.loads((config.sample_data_dir() / "customer-support.json").read_text())
    assert len(support["messages"]) >= 30
    assert all(m.get("created_at") for m in support["messages"])


# --- errors ----------------------------------------------------------------------------


def test_input_errors_write_nothing(db: Path) -> None:
    line = fail("add", "s", "--role-type", "robot", "--content", "x")
    assert "unknown role_type 'robot'" in line and "user, assistant" in line
    line = fail("add", "s", "--role-type", "user", "--content", "x", "--metadata", "{bad")
    assert "--metadata is not valid JSON" in line and "line 1, column 2" in line
    assert "must be a JSON object" in fail(
        "add", "s", "--role-type", "user", "--content", "x", "--metadata", "[1]"
    )
    assert "expects key=value" in fail("sessions", "--metadata", "nokey")
    assert "unknown role_type 'bot'" in fail("search", "x", "--role-type", "bot")
    assert not db.exists()


def test_unknown_session(db: Path) -> None:
    run("add", "real", "--role-type", "user", "--content", "x")
    for command in ("show", "messages", "delete"):
        assert "session 'ghost' not found" in fail(command, "ghost")


def test_import_errors(db: Path, tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    assert fail("import", missing) == f"zeptui: error: {missing}: No such file or directory"
    assert not db.exists()  # an unreadable file never opens the store
    line = fail("import", FIXTURES / "malformed.json")
    assert f"{FIXTURES / 'malformed.json'}:5: invalid JSON: Expecting ',' delimiter" in line
    line = fail("import", FIXTURES / "missing-content.json")
    assert line.endswith("missing-content.json:3: [1]: message has no content")
    assert "unknown role_type 'robot'" in fail("import", FIXTURES / "bad-role-type.jsonl")
    assert "unknown import format 'wordstar'" in fail(
        "import", "--format", "wordstar", FIXTURES / "session-v2.json"
    )


def test_import_options_dry_run_and_skip_invalid(db: Path, tmp_path: Path) -> None:
    sample = config.sample_data_dir() / "octavia-butler.json"
    planned = run_json("import", "--dry-run", sample)
    assert planned["dry_run"] is True and planned["totals"]["messages_added"] == 12
    assert not db.exists()  # a dry run against no database creates none
    assert "Dry run: nothing was written." in run("import", "--dry-run", sample).stdout

    run(
        "import",
        sample,
        "--session-prefix",
        "copy-",
        "--user",
        "sam",
        "--user-name",
        "Sam",
        "--assistant-name",
        "Archivist",
    )
    [session] = run_json("sessions")
    assert (session["session_id"], session["user_id"]) == ("copy-octavia-butler", "sam")
    roles = {m["role"] for m in run_json("messages", "copy-octavia-butler")["messages"]}
    assert roles == {"Sam", "Archivist"}

    mixed = tmp_path / "mixed.jsonl"
    mixed.write_text(
        '{"conversations": [{"from": "human", "value": "hi"}]}\n{broken\n'
        '{"conversations": [{"from": "human", "value": ""}, {"from": "gpt", "value": "yo"}]}\n'
    )
    assert f"{mixed}:2: invalid JSON" in fail("import", mixed)
    result = run("import", "--skip-invalid", mixed)
    assert "mixed.jsonl (sharegpt): 2 sessions created" in result.stdout
    assert f"skipped: {mixed}:2: invalid JSON" in result.stdout
    assert f"warning: {mixed}:3: conversations[0]: empty turn skipped" in result.stdout
    report = run_json("import", "--skip-invalid", "--dry-run", mixed)
    assert report["files"][0]["records_skipped"] == 1 and report["totals"]["errors"] == 0
    assert report["files"][0]["messages_skipped"] == 2


def test_bad_jsonl_line_leaves_store_unchanged(db: Path) -> None:
    run("import", FIXTURES / "session-v2.json")
    before = run_json("stats"), run_json("sessions")
    line = fail("import", FIXTURES / "bad-line3.jsonl")
    assert f"{FIXTURES / 'bad-line3.jsonl'}:3: invalid JSON" in line
    assert (run_json("stats"), run_json("sessions")) == before
    fail("show", "broken")


def test_good_files_still_import_beside_a_bad_one(db: Path) -> None:
    result = run(
        "import", FIXTURES / "bad-line3.jsonl", FIXTURES / "session-v2.json", "--json", code=1
    )
    assert result.stderr.count("zeptui: error: ") == 1 and ":3:" in result.stderr
    report = json.loads(result.stdout)
    assert report["files"][0]["error"].startswith(f"{FIXTURES / 'bad-line3.jsonl'}:3:")
    assert report["files"][1]["messages_added"] == 3
    assert [s["session_id"] for s in run_json("sessions")] == ["trip-lisbon"]


def test_not_a_zeptui_store(db: Path, tmp_path: Path) -> None:
    import duckdb

    foreign = tmp_path / "foreign.duckdb"
    with duckdb.connect(str(foreign)) as conn:
        conn.execute("CREATE TABLE orders (id INTEGER)")
    assert "not a zeptui store" in fail("--db", foreign, "sessions")
    text = tmp_path / "notes.duckdb"
    text.write_text("just some text\n")
    assert "not a DuckDB database file" in fail("--db", text, "stats")
    assert text.read_text() == "just some text\n"


@pytest.fixture
def held_db(tmp_path: Path) -> Iterator[tuple[Path, int]]:
    """A database held open read-write by another process (killed afterwards)."""
    path = tmp_path / "held.duckdb"
    with held_database(path) as holder:
        yield path, holder.pid


def test_database_held_by_another_process(db: Path, held_db: tuple[Path, int]) -> None:
    path, pid = held_db
    line = fail("--db", path, "sessions")
    assert f"{path} is in use by process {pid}" in line


# --- untrusted text ------------------------------------------------------------------------


def test_markup_and_control_characters_are_printed_literally(db: Path) -> None:
    run("import", FIXTURES / "hostile.json")
    outputs = [
        run("messages", "[bold red]hostile[/]").stdout,
        run("show", "[bold red]hostile[/]").stdout,
        run("sessions").stdout,
        run("search", "bold").stdout,
    ]
    for output in outputs:
        assert "\x1b" not in output and "\x07" not in output and "\x9b" not in output
    history = outputs[0]
    assert "[bold]not bold[/bold] [link=https://example.com]x[/link]" in history
    assert "\\x1b[31mred\\x1b[0m bell\\x07 csi\\x9b end" in history
    assert "[i]Mallory[/i] (user)" in history
    assert "[red]meta[/red]" in history
    assert "[bold red]hostile[/]" in outputs[1] and "[bold red]hostile[/]" in outputs[2]
    assert "[bold]not bold[/bold]" in outputs[3]
    added = run("add", "x", "--role-type", "user", "--content", "\x1b[2J[blink]boo[/blink]")
    assert "\x1b" not in added.stdout
    assert "\\x1b[2J[blink]boo[/blink]" in run("messages", "x").stdout


def test_error_lines_are_sanitized(db: Path) -> None:
    run("add", "real", "--role-type", "user", "--content", "x")
    line = fail("show", "evil\x1b[31m\nid")
    assert "\x1b" not in line and "\\x1b[31m" in line


# --- the installed console script ------------------------------------------------------


def test_console_script_in_a_subprocess(tmp_path: Path) -> None:
    env = script_env(tmp_path)

    def zeptui(*args: str | Path) -> subprocess.CompletedProcess[str]:
        return run_script(list(args), env)

    imported = zeptui("import", "--json", FIXTURES / "session-v2.json")
    assert imported.returncode == 0, imported.stderr
    assert json.loads(imported.stdout)["totals"]["messages_added"] == 3
    memory = zeptui("show", "trip-lisbon", "--json")
    assert [m["role"] for m in json.loads(memory.stdout)["messages"]] == [
        "Alice",
        "TravelBot",
        "Alice",
    ]
    bad = zeptui("import", FIXTURES / "bad-line3.jsonl")
    assert bad.returncode == 1 and bad.stdout == ""
    assert bad.stderr.startswith("zeptui: error: ") and ":3: invalid JSON" in bad.stderr
    assert bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    bare = zeptui()
    assert bare.returncode == 0 and "trip-lisbon" in bare.stdout
    version = subprocess.run(
        [sys.executable, "-m", "zeptui", "--version"], capture_output=True, text=True, timeout=60
    )
    assert version.stdout.strip() == "zeptui, version 0.1.0"


def test_the_command_leaves_at_once_with_all_its_output(tmp_path: Path) -> None:
    """The console script leaves without the interpreter's teardown (`cli.run`): what
    it wrote still arrives whole, through a pipe far bigger than the pipe holds, and
    every exit code is the command's."""
    env = script_env(tmp_path)
    history = tmp_path / "long.jsonl"
    lines = [
        {"session_id": "long", "role": "user", "content": f"line {n} " + "words " * 40}
        for n in range(2_000)
    ]
    history.write_text("".join(json.dumps(line) + "\n" for line in lines))
    assert run_script(["import", history], env).returncode == 0
    exported = run_script(["export", "--format", "zep-jsonl"], env)
    assert exported.returncode == 0, exported.stderr
    assert len(exported.stdout) > 800_000  # many times what a pipe holds at once
    contents = [json.loads(line)["content"] for line in exported.stdout.splitlines()]
    assert contents == [line["content"] for line in lines]
    assert run_script(["show", "nobody"], env).returncode == 1
    assert run_script(["--no-such-option"], env).returncode == 2


def test_failed_background_summaries_are_one_warning(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as sock:  # a local port with nobody listening
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    monkeypatch.setenv("ZEPTUI_SUMMARIZER", "llm")
    monkeypatch.setenv("ZEPTUI_LLM_BASE_URL", f"http://127.0.0.1:{port}/v1")
    monkeypatch.setenv("ZEPTUI_LLM_MODEL", "test-model")
    result = run("import", config.sample_data_dir() / "customer-support.json")
    assert "37 messages added" in result.stdout
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("zeptui: warning: summary failed: ")


def test_sessions_listing_shows_titles_on_a_wide_terminal(
    db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run("import", config.sample_data_dir() / "chatgpt-conversations.json")
    wide = run("sessions").stdout  # COLUMNS=200 (the db fixture)
    assert "Title" in wide and "Kyoto trip in late October" in wide
    assert "2b9c5a72-4e78-5856-983d-7cc128a88332" in wide  # the id whole, for commands
    monkeypatch.setenv("COLUMNS", "80")
    narrow = run("sessions").stdout
    assert "Title" not in narrow and "Kyoto" not in narrow
