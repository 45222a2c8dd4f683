"""One record must never poison the store: limits at every way in, and reads that
survive whatever is in the file.

Input limits (storage/limits.py) are checked by the models, so the CLI, every importer
and the API refuse the same values; the Zep JSONL fast path checks them in SQL or
hands the file to the reference reader. Rows that break them anyway (written by an
older zeptui or another tool) are read with a warning, never a crash.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import duckdb
import pytest
from click.testing import CliRunner, Result
from pydantic import ValidationError

from storage import limits
from storage.duckdb import DuckDBStore
from storage.models import CreateUserRequest, Message, RoleType, SessionImport
from zeptui.cli import cli


def run(db: Path, *args: str | Path, code: int = 0) -> Result:
    result = CliRunner().invoke(cli, ["--db", str(db), *[str(arg) for arg in args]])
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    assert "Traceback" not in result.stderr
    return result


def nested(depth: int) -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(depth - 1):
        value = {"n": value}
    return value


def jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


# --- the rules ----------------------------------------------------------------------------

BAD_TIMES = [
    "9999-12-31T23:00:00-05:00",  # year 10000 in UTC
    "0001-01-01T00:30:00+01:00",  # year 0 in UTC
]


@pytest.mark.parametrize("when", BAD_TIMES)
def test_timestamps_outside_years_1_to_9999_in_utc_are_refused(when: str) -> None:
    with pytest.raises(ValidationError, match="out of range"):
        Message(role="u", content="x", created_at=when)  # type: ignore[arg-type]
    with pytest.raises(ValidationError, match="out of range"):
        SessionImport(session_id="s", created_at=when)  # type: ignore[arg-type]


def test_metadata_depth_size_and_values_are_bounded() -> None:
    Message(role="u", content="x", metadata=nested(limits.MAX_METADATA_DEPTH))
    with pytest.raises(ValidationError, match="nested more than"):
        Message(role="u", content="x", metadata=nested(limits.MAX_METADATA_DEPTH + 1))
    with pytest.raises(ValidationError, match="nested more than"):
        Message(role="u", content="x", metadata=nested(10_000))
    with pytest.raises(ValidationError, match="larger than"):
        CreateUserRequest(user_id="u", metadata={"blob": "x" * limits.MAX_METADATA_BYTES})
    with pytest.raises(ValidationError, match="JSON cannot hold"):
        Message(role="u", content="x", metadata={"x": float("nan")})


@pytest.mark.parametrize("session_id", ["   ", "a\x00b", "two\nlines", "tab\there", "x" * 513])
def test_ids_follow_one_rule(session_id: str) -> None:
    with pytest.raises(ValidationError):
        SessionImport(session_id=session_id)


def test_lone_surrogates_and_oversized_content_are_refused() -> None:
    with pytest.raises(ValidationError, match="surrogate"):
        Message(role="u", content="broken \ud800 text")
    with pytest.raises(ValidationError, match="surrogate"):
        Message(role="u", content="ok", metadata={"k": "\udfff"})
    with pytest.raises(ValidationError, match="MiB"):
        Message(role="u", content="é" * (limits.MAX_CONTENT_BYTES // 2 + 1))


# --- every way in ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "when",
    ["9999-12-31T23:00:00-05:00", "294247-01-01T00:00:00Z", "-0001-01-01T00:00:00Z", "0000-06-01"],
)
@pytest.mark.parametrize("suffix", [".jsonl", ".json"])
def test_import_refuses_a_bad_timestamp_with_file_and_line(
    tmp_path: Path, when: str, suffix: str
) -> None:
    db = tmp_path / "x.duckdb"
    lines = [
        {"session_id": "s", "role_type": "user", "content": "fine"},
        {"session_id": "s", "role_type": "user", "content": "bad", "created_at": when},
    ]
    source = tmp_path / f"bad{suffix}"
    if suffix == ".jsonl":
        jsonl(source, lines)
    else:
        source.write_text(json.dumps(lines, indent=1))
    failed = run(db, "import", source, code=1)
    assert f"bad{suffix}:" in failed.stderr and "created_at" in failed.stderr
    assert not db.exists() or "No sessions" in run(db, "sessions").stdout


@pytest.mark.parametrize("depth", [limits.MAX_METADATA_DEPTH + 1, 10_000])
def test_import_refuses_deep_metadata(tmp_path: Path, depth: int) -> None:
    db = tmp_path / "x.duckdb"
    source = tmp_path / "deep.jsonl"
    line = {"session_id": "s", "role_type": "user", "content": "x", "metadata": {}}
    text = json.dumps(line).replace(
        '"metadata": {}', '"metadata": ' + '{"n": ' * depth + "1" + "}" * depth
    )
    source.write_text(text + "\n")
    failed = run(db, "import", source, code=1)
    assert "deep.jsonl:1" in failed.stderr and "nested" in failed.stderr


def test_add_refuses_deep_metadata_and_bad_ids(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    deep = json.dumps(nested(300))
    failed = run(
        db, "add", "s", "--role-type", "user", "--content", "x", "--metadata", deep, code=1
    )
    assert f"nested more than {limits.MAX_METADATA_DEPTH} levels" in failed.stderr
    for bad in ["   ", "two\nlines"]:
        failed = run(db, "add", bad, "--role-type", "user", "--content", "x", code=1)
        assert "session_id" in failed.stderr


def test_import_refuses_blank_and_control_character_session_ids(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    for number, session_id in enumerate(["   ", "a\u0000b", "line\nbreak"]):
        source = jsonl(
            tmp_path / f"ids{number}.jsonl", [{"session_id": session_id, "content": "x"}]
        )
        failed = run(db, "import", source, code=1)
        assert f"ids{number}.jsonl:1" in failed.stderr and "session_id" in failed.stderr


# --- reads survive what is in the file ------------------------------------------------------


def poison(path: Path) -> None:
    """Rows no input accepts any more, as an older zeptui or another tool could leave."""
    with duckdb.connect(str(path)) as conn:
        conn.execute(
            "UPDATE messages SET created_at = TIMESTAMP '294247-01-01 00:00:00' "
            "WHERE content = 'far future'"
        )
        conn.execute(
            "UPDATE messages SET metadata = ? WHERE content = 'deep'",
            ['{"n": ' * 3000 + "1" + "}" * 3000],
        )
        conn.execute("UPDATE messages SET role_type = 'wizard' WHERE content = 'odd role'")
        conn.execute(
            "UPDATE sessions SET last_activity = TIMESTAMP '-0001-06-01 00:00:00' "
            "WHERE session_id = 'poisoned'"
        )


def test_no_stored_row_crashes_a_read(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    db = tmp_path / "x.duckdb"
    with DuckDBStore(db, summarizer=None) as store:
        store.add_memory(
            "poisoned",
            [
                Message(role="u", role_type=RoleType.user, content=text)
                for text in ["before", "far future", "deep", "odd role", "after"]
            ],
        )
        store.add_memory("healthy", [Message(role="u", content="fine and searchable")])
    poison(db)
    with caplog.at_level(logging.WARNING):
        listing = run(db, "sessions", "--json").stdout
        assert {s["session_id"] for s in json.loads(listing)} == {"poisoned", "healthy"}
        shown = json.loads(run(db, "show", "poisoned", "--json").stdout)
        assert [m["content"] for m in shown["messages"]] == [
            "before",
            "far future",
            "deep",
            "odd role",
            "after",
        ]
        messages = run(db, "messages", "poisoned")
        assert "far future" in messages.stdout and "warning" in messages.stderr
        assert json.loads(run(db, "search", "deep", "--json").stdout)
        exported = json.loads(run(db, "export").stdout)
        assert sorted(s["session_id"] for s in exported) == ["healthy", "poisoned"]
    warnings = messages.stderr.splitlines()
    assert all(line.startswith("zeptui: warning: message ") for line in warnings)
    assert [line.split(": ", 3)[3] for line in warnings] == [
        "created_at is out of range; shown as 0001-01-01",
        "metadata cannot be read (nested too deep); shown as null",
        "unknown role_type 'wizard'; shown as norole",
    ]
