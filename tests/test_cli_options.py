"""Options and arguments of the CLI mean one thing everywhere: paging, ranges, unknown
ids, `--db` and `--json` on every command, a store-wide purge that asks first, text
that is not valid UTF-8, output into pipes."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest

from storage.duckdb import DuckDBStore
from storage.errors import InvalidInputError
from storage.models import Message, RoleType, SessionQuery
from storage.paging import MAX_LIMIT, MAX_OFFSET, MAX_PAGE
from tests.cli_helpers import (
    Terminal,
    fail,
    one_error_line,
    run,
    run_json,
    run_script,
    script_env,
)
from zeptui import config

SAMPLES = config.sample_data_dir()


# --- paging: --limit and --page on every list ------------------------------------------


def test_readme_paging_example_works_as_printed(samples: Path) -> None:
    page = run("messages", "octavia-butler", "--limit", "5", "--page", "2").stdout
    assert "#6  " in page and "#10  " in page and "#11  " not in page
    assert "Messages 6–10 of 12." in page


@pytest.mark.parametrize(
    ("command", "noun", "total"),
    [
        (["sessions", "--sort", "id"], "Sessions", 12),
        (["sessions", "--user", "priya.shah"], "Sessions", 2),
        (["messages", "support-NW-58213"], "Messages", 37),
        (["users", "list"], "Users", 5),
    ],
)
def test_every_list_pages_by_limit_and_page_and_prints_the_next_command(
    samples: Path, command: list[str], noun: str, total: int
) -> None:
    """Following the printed 'Next page' commands visits every item once, in order."""
    limit = 2 if total < 10 else 5
    args = [*command, "--limit", str(limit)]
    seen = pages = 0
    while True:
        pages += 1
        output = run(*args).stdout
        footer = output.strip().splitlines()[-1]
        shown = min(limit, total - seen)
        assert footer.startswith(f"{noun} {seen + 1}–{seen + shown} of {total}."), footer
        seen += shown
        if "Next page: " not in footer:
            break
        printed = shlex.split(footer.split("Next page: ", 1)[1])
        assert printed[0] == "zeptui" and f"--page {pages + 1}" in " ".join(printed)
        args = printed[1:]
    assert pages == -(-total // limit)
    # JSON pages are the same pages
    everything = run_json(*command, "--limit", "0")
    items = everything["messages"] if command[0] == "messages" else everything
    second = run_json(*command, "--limit", str(limit), "--page", "2")
    assert (second["messages"] if command[0] == "messages" else second) == items[limit : 2 * limit]


def test_a_page_past_the_end_says_how_many_there_are(samples: Path) -> None:
    assert (
        "No messages on this page: there are 12 messages."
        in run("messages", "octavia-butler", "--limit", "50", "--page", "2").stdout
    )
    assert (
        "No sessions on this page: there are 12 sessions." in run("sessions", "--page", "9").stdout
    )
    assert "No users on this page" in run("users", "list", "--page", "3").stdout
    assert "--page needs a --limit" in fail("sessions", "--limit", "0", "--page", "2")


def test_cursor_is_gone_everywhere(samples: Path) -> None:
    for command in (["sessions"], ["messages", "octavia-butler"], ["users", "list"]):
        line = fail(*command, "--cursor", "2", code=2)
        assert "No such option '--cursor'" in line and f"zeptui {command[0]}" in line


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["sesions"],
            (
                "zeptui: error: No such command 'sesions'. Did you mean 'sessions'? "
                "(see 'zeptui --help')"
            ),
        ),
        (["--json"], "zeptui: error: No such command '--json' (see 'zeptui --help')"),
        (
            ["users", "lsit"],
            (
                "zeptui: error: No such command 'lsit'. Did you mean 'list'? "
                "(see 'zeptui users --help')"
            ),
        ),
    ],
)
def test_an_unknown_command_is_one_line(db: Path, args: list[str], expected: str) -> None:
    assert fail(*args, code=2) == expected


# --- ranges -----------------------------------------------------------------------------


HUGE = str(2**64)


@pytest.mark.parametrize(
    "args",
    [
        ["sessions", "--limit", HUGE],
        ["sessions", "--page", HUGE],
        ["sessions", "--limit", "-1"],
        ["messages", "octavia-butler", "--limit", HUGE],
        ["messages", "octavia-butler", "--page", HUGE],
        ["messages", "octavia-butler", "--page", "0"],
        ["show", "octavia-butler", "--lastn", "1000000"],
        ["show", "octavia-butler", "--lastn", HUGE],
        ["users", "list", "--limit", HUGE],
        ["users", "list", "--page", HUGE],
        ["search", "x", "--limit", HUGE],
    ],
    ids=lambda args: " ".join(args).replace(HUGE, "2^64"),
)
def test_out_of_range_numbers_are_one_line_usage_errors(samples: Path, args: list[str]) -> None:
    line = fail(*args, code=2)
    assert "Invalid value for" in line and "is not in the range" in line


def test_the_largest_values_allowed_work(samples: Path) -> None:
    memory = run_json("show", "octavia-butler", "--lastn", str(MAX_LIMIT))
    assert len(memory["messages"]) == 12
    assert run_json("sessions", "--limit", str(MAX_LIMIT), "--page", str(MAX_PAGE)) == []
    assert (
        run_json("messages", "octavia-butler", "--limit", str(MAX_LIMIT), "--page", "1")[
            "row_count"
        ]
        == 12
    )


def test_the_store_refuses_out_of_range_paging(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "s.duckdb", summarizer=None) as store:
        store.add_memory("s", [Message(role_type=RoleType.user, content="hi")])
        calls = [
            lambda: store.get_memory("s", lastn=MAX_LIMIT + 1),
            lambda: store.get_memory("s", lastn=-1),
            lambda: store.list_messages("s", limit=2**63),
            lambda: store.list_messages("s", limit=10, cursor=2**63),
            lambda: store.list_messages("s", limit=-5),
            lambda: store.list_users(limit=2**64),
            lambda: store.list_users(cursor=MAX_OFFSET + 1),
            lambda: store.session_page(SessionQuery(limit=2**70)),
            lambda: store.session_page(SessionQuery(cursor=2**63)),
        ]
        for call in calls:
            with pytest.raises(InvalidInputError, match="must be between"):
                call()
        assert len(store.get_memory("s", lastn=MAX_LIMIT).messages) == 1
        assert store.session_page(SessionQuery(cursor=MAX_OFFSET)).sessions == []


# --- unknown ids ------------------------------------------------------------------------


UNKNOWN_SESSION = [
    ["show", "nope"],
    ["messages", "nope"],
    ["search", "tent", "--session", "nope"],
    ["delete", "nope"],
    ["delete", "nope", "--purge"],
    ["summarize", "nope"],
    ["export", "nope"],
]
UNKNOWN_USER = [
    ["sessions", "--user", "nobody"],
    ["search", "tent", "--user", "nobody"],
    ["export", "--user", "nobody"],
    ["users", "show", "nobody"],
    ["users", "sessions", "nobody"],
    ["users", "update", "nobody", "--email", "x@example.com"],
    ["users", "delete", "nobody"],
]


@pytest.mark.parametrize(
    "command", UNKNOWN_SESSION + UNKNOWN_USER, ids=lambda command: " ".join(command)
)
def test_unknown_ids_fail_the_same_way_everywhere(samples: Path, command: list[str]) -> None:
    before = run_json("stats")
    expected = (
        "session 'nope' not found" if command in UNKNOWN_SESSION else "user 'nobody' not found"
    )
    assert fail(*command) == f"zeptui: error: {expected}"
    json_line = fail(*command, "--json") if command[0] not in ("export", "summarize") else None
    assert json_line in (None, f"zeptui: error: {expected}")
    assert run_json("stats") == before


# --- --db after the command, --json everywhere the README says ---------------------------


def test_db_is_accepted_before_and_after_the_command(tmp_path: Path) -> None:
    path = tmp_path / "x.duckdb"
    run("add", "s1", "--role-type", "user", "--content", "hi", "--db", path)
    assert [s["session_id"] for s in run_json("sessions", "--db", path)] == ["s1"]
    assert [s["session_id"] for s in run_json("--db", path, "sessions")] == ["s1"]
    run("users", "add", "ann", "--db", path)
    assert [u["user_id"] for u in run_json("users", "list", "--db", path)] == ["ann"]
    assert "ann" in run("users", "--db", path).stdout
    other = tmp_path / "other.duckdb"
    run("--db", other, "add", "s2", "--role-type", "user", "--content", "yo", "--db", path)
    assert not other.exists()  # the one after the command wins


def test_users_without_a_subcommand_lists_them(samples: Path) -> None:
    listed = run("users").stdout
    assert listed == run("users", "list").stdout
    assert "priya.shah" in listed and "Users 1–5 of 5." in listed
    # The list's options work without naming it, as `zeptui users` is the list.
    assert run_json("users", "--json") == run_json("users", "list", "--json")
    assert (
        run("users", "--limit", "2", "--page", "2").stdout
        == run("users", "list", "--limit", "2", "--page", "2").stdout
    )


def test_delete_purge_and_users_delete_take_json(samples: Path) -> None:
    assert run_json("delete", "ws-lena-macro-review") == {
        "message": "OK",
        "session_id": "ws-lena-macro-review",
        "purged": None,
    }
    deleted = run_json("delete", "ws-marcus-dbt-tests", "--purge")
    assert deleted["purged"] == {"users": 0, "sessions": 1, "messages": 7, "summaries": 0}
    assert run_json("users", "delete", "priya.shah") == {
        "message": "OK",
        "user_id": "priya.shah",
        "sessions_deleted": 2,
    }
    assert run_json("purge", "--dry-run") == {
        "users": 1,
        "sessions": 3,
        "messages": 20,
        "summaries": 0,
        "dry_run": True,
    }
    assert run_json("purge", "--yes") == {
        "users": 1,
        "sessions": 3,
        "messages": 20,
        "summaries": 0,
        "dry_run": False,
    }
    assert run_json("purge", "--yes") == {
        "users": 0,
        "sessions": 0,
        "messages": 0,
        "summaries": 0,
        "dry_run": False,
    }


# --- zeptui purge -----------------------------------------------------------------------


def test_purge_without_a_terminal_needs_yes(samples: Path) -> None:
    run("delete", "octavia-butler")
    line = fail("purge")
    assert "Remove 1 deleted session, 12 messages and 1 summary for good" in line
    assert "pass --yes" in line
    assert run_json("purge", "--dry-run")["messages"] == 12  # still there
    assert (
        "Removed 1 deleted session, 12 messages and 1 summary for good."
        in run("purge", "--yes").stdout
    )
    assert "Nothing to purge" in run("purge").stdout  # nothing to ask about


def test_purge_asks_on_a_terminal(samples: Path, tmp_path: Path, terminal: list[Terminal]) -> None:
    env = script_env(tmp_path, ZEPTUI_DB=str(samples))
    run("delete", "octavia-butler")

    def answer(keys: bytes) -> Terminal:
        purge = Terminal(["purge"], env)
        terminal.append(purge)
        purge.read_until(b"Remove 1 deleted session, 12 messages and 1 summary for good? [y/N]")
        purge.type(keys)
        purge.wait()
        return purge

    declined = answer(b"n\r")
    assert declined.process.returncode == 1
    assert b"not confirmed; nothing was removed" in declined.output
    assert run_json("purge", "--dry-run")["sessions"] == 1
    accepted = answer(b"y\r")
    assert accepted.process.returncode == 0
    assert b"Removed 1 deleted session" in accepted.output
    assert run_json("purge", "--dry-run")["sessions"] == 0


def test_purge_removes_a_deleted_user_without_sessions(samples: Path) -> None:
    """`purge` removes everything deleted: a deleted user with nothing else to purge too."""
    run("users", "add", "lone")
    run("users", "delete", "lone")
    planned = run_json("purge", "--dry-run")
    assert planned == {"users": 1, "sessions": 0, "messages": 0, "summaries": 0, "dry_run": True}
    assert "Removed 1 deleted user for good." in run("purge", "--yes").stdout
    assert run_json("purge", "--dry-run")["users"] == 0


def test_purge_dry_run_says_so_when_there_is_nothing_to_purge(samples: Path) -> None:
    assert run_json("purge", "--dry-run")["dry_run"] is True
    assert run_json("purge", "--yes")["dry_run"] is False


def test_deleting_one_session_purges_only_that_one(samples: Path) -> None:
    run("delete", "octavia-butler")
    run("delete", "support-NW-58213", "--purge")
    assert run_json("purge", "--dry-run")["sessions"] == 1  # octavia's, still deleted


# --- importing nothing ------------------------------------------------------------------


def test_a_directory_with_nothing_to_import_fails(db: Path, tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    line = fail("import", empty)
    assert (
        line
        == f"zeptui: error: {empty}: nothing to import: no JSON or JSONL files in this directory"
    )
    other = tmp_path / "other"
    other.mkdir()
    (other / "package.json").write_text('{"name": "left-pad", "version": "1.0.0"}')
    (other / "settings.json").write_text('{"theme": "dark"}')
    result = run("import", other, code=1)
    line = one_error_line(result.stderr)
    assert line == (
        f"zeptui: error: {other}: nothing to import: "
        "2 JSON files, none of them a chat history in a known format"
    )
    assert not db.exists()  # nothing to import: no store created either


@pytest.mark.parametrize("forced", [[], ["--format", "zep"], ["--format", "sharegpt"]])
def test_an_empty_file_is_nothing_to_import(db: Path, tmp_path: Path, forced: list[str]) -> None:
    """An empty (or blank) file is refused as such, whether its format is detected or
    named, never "unrecognised" nor "0 messages added" with exit 0."""
    for name, text in (("empty.jsonl", ""), ("blank.json", " \n\n")):
        path = tmp_path / name
        path.write_text(text)
        line = fail("import", *forced, path)
        assert line == f"zeptui: error: {path}: nothing to import: the file is empty"
    assert not db.exists()


# --- text that is not valid UTF-8 --------------------------------------------------------


NOT_UTF8 = [
    [b"show", b"\xff"],
    [b"show", "\ud800".encode("utf-8", "surrogatepass")],  # a lone surrogate, as bytes
    [b"add", b"s\xfe", b"--role-type", b"user", b"--content", b"hi"],
    [b"add", b"s", b"--role-type", b"user", b"--content", b"caf\xe9"],
    [b"search", b"\xc3"],
    [b"users", b"add", b"\xed\xa0\x80"],
]


def test_arguments_that_are_not_utf8_are_refused(tmp_path: Path) -> None:
    env = script_env(tmp_path)
    seeded = run_script(["add", "s", "--role-type", "user", "--content", "hi"], env)
    assert seeded.returncode == 0, seeded.stderr
    for argv in NOT_UTF8:
        done = run_script(list(argv), env)
        assert done.returncode == 2, (argv, done.stderr)
        line = one_error_line(done.stderr)
        assert "is not valid UTF-8 text" in line and "\\x" in line, line
    stats = run_script(["stats", "--json"], env)
    assert json.loads(stats.stdout) == {"users": 0, "sessions": 1, "messages": 1, "summaries": 0}


def test_a_file_name_that_is_not_utf8_is_still_a_path(tmp_path: Path) -> None:
    env = script_env(tmp_path)
    done = run_script([b"import", bytes(tmp_path) + b"/caf\xe9.json"], env)
    assert done.returncode == 1
    line = one_error_line(done.stderr)
    assert "caf\\xe9.json: No such file or directory" in line


def test_lone_surrogates_in_process_are_refused(db: Path) -> None:
    run("add", "s", "--role-type", "user", "--content", "hi")
    line = fail("add", "s", "--role-type", "user", "--content", "bad \ud800 text", code=2)
    assert "\\ud800" in line and "not valid UTF-8" in line


# --- output into a pipe -----------------------------------------------------------------


def test_output_into_a_pipe_is_not_wrapped(db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COLUMNS")
    long_id = "a-session-with-a-rather-long-id-" + "x" * 80
    run("add", long_id, "--role-type", "user", "--content", "word " * 60)
    run("users", "add", "u-" + "y" * 90, "--email", "someone@example.com")
    for command in (["sessions"], ["search", "word"], ["users"], ["stats"]):
        output = run(*command).stdout
        if command[0] in ("sessions", "search"):
            assert long_id in output, output
        if command[0] == "users":
            assert "u-" + "y" * 90 in output
    assert any(len(line) > 80 for line in run("sessions").stdout.splitlines())
