"""Right data through the real CLI: conflicts are reported, deletes can be undone by a
re-import, role types are never null, and a deleted user's sessions stay theirs."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner, Result

from zeptui.cli import cli

SAMPLE = Path(__file__).parent.parent / "sample_data" / "octavia-butler.json"


def run(db: Path, *args: str | Path, code: int = 0) -> Result:
    result = CliRunner().invoke(cli, ["--db", str(db), *[str(arg) for arg in args]])
    assert result.exit_code == code, (result.stdout, result.stderr, result.exception)
    return result


def jsonl(path: Path, lines: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines), encoding="utf-8")
    return path


def test_add_with_a_uuid_of_another_session_names_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    shared = str(uuid.uuid4())
    lines = [{"session_id": "A", "uuid": shared, "role_type": "user", "content": "in A"}]
    run(db, "import", jsonl(tmp_path / "a.jsonl", lines))
    lines[0]["session_id"] = "B"
    for path_name in ("b.jsonl", "b.json"):  # the fast path and the reference reader
        source = tmp_path / path_name
        if path_name.endswith(".json"):
            source.write_text(json.dumps(lines))
        else:
            jsonl(source, lines)
        failed = run(db, "import", source, code=1)
        assert (
            f"{source.name}:1: message {shared} of session 'B' is already stored in session 'A'"
            in failed.stderr
        )
        assert "Traceback" not in failed.stderr
    assert "B" not in run(db, "sessions").stdout


def test_import_conflicts_are_listed_with_skip_invalid(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    shared = str(uuid.uuid4())
    run(
        db,
        "import",
        jsonl(tmp_path / "a.jsonl", [{"session_id": "A", "uuid": shared, "content": "a"}]),
    )
    source = jsonl(
        tmp_path / "b.jsonl",
        [
            {"session_id": "B", "content": "kept"},
            {"session_id": "B", "uuid": shared, "content": "conflict"},
        ],
    )
    report = json.loads(run(db, "import", source, "--skip-invalid", "--json").stdout)
    file = report["files"][0]
    assert (file["messages_added"], file["records_skipped"]) == (1, 1)
    assert "b.jsonl:2: message " + shared in file["skipped"][0]
    listed = json.loads(run(db, "messages", "B", "--json").stdout)
    assert [m["content"] for m in listed["messages"]] == ["kept"]


@pytest.mark.parametrize("purge", [False, True])
def test_reimporting_a_deleted_session_restores_it(tmp_path: Path, purge: bool) -> None:
    db = tmp_path / "x.duckdb"
    run(db, "import", SAMPLE)
    before = json.loads(run(db, "messages", "octavia-butler", "--json").stdout)
    summaries_before = json.loads(run(db, "show", "octavia-butler", "--json").stdout)["summary"]
    run(db, "delete", "octavia-butler", *(["--purge"] if purge else []))
    again = run(db, "import", SAMPLE)
    assert "12 restored" in again.stdout if not purge else "12 messages added" in again.stdout
    after = json.loads(run(db, "messages", "octavia-butler", "--json").stdout)
    assert [m["uuid"] for m in after["messages"]] == [m["uuid"] for m in before["messages"]]
    assert [m["content"] for m in after["messages"]] == [m["content"] for m in before["messages"]]
    shown = json.loads(run(db, "show", "octavia-butler", "--json").stdout)
    assert (shown["summary"] is None) == (summaries_before is None)
    hits = json.loads(run(db, "search", "Kindred", "--session", "octavia-butler", "--json").stdout)
    assert hits, "restored messages are searchable again"


def test_reimporting_a_deleted_zep_jsonl_session_restores_it(tmp_path: Path) -> None:
    """The fast path hands such a file to the reference reader, which restores."""
    db = tmp_path / "x.duckdb"
    lines = [
        {"session_id": "s", "uuid": str(uuid.uuid4()), "role_type": "user", "content": f"m{n}"}
        for n in range(4)
    ]
    source = jsonl(tmp_path / "s.jsonl", lines)
    run(db, "import", source)
    run(db, "delete", "s")
    assert "4 restored" in run(db, "import", source).stdout
    listed = json.loads(run(db, "messages", "s", "--json").stdout)
    assert [m["content"] for m in listed["messages"]] == ["m0", "m1", "m2", "m3"]


def test_no_role_type_is_norole_in_every_output(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    source = jsonl(
        tmp_path / "v0.jsonl", [{"session_id": "s", "role": "narrator", "content": "hi"}]
    )
    run(db, "import", source)
    outputs = [
        json.loads(run(db, "messages", "s", "--json").stdout)["messages"],
        json.loads(run(db, "show", "s", "--json").stdout)["messages"],
        [r["message"] for r in json.loads(run(db, "search", "hi", "--json").stdout)],
        json.loads(run(db, "export").stdout)[0]["messages"],
        [
            json.loads(line)
            for line in run(db, "export", "--format", "zep-jsonl").stdout.splitlines()
        ],
    ]
    for messages in outputs:
        assert [m["role_type"] for m in messages] == ["norole"]


def test_deleting_a_user_says_what_happens_to_the_sessions(tmp_path: Path) -> None:
    db = tmp_path / "x.duckdb"
    run(db, "users", "add", "jane")
    lines = [{"session_id": "s1", "user_id": "jane", "role_type": "user", "content": "private"}]
    run(db, "import", jsonl(tmp_path / "j.jsonl", lines))
    said = run(db, "users", "delete", "jane").stdout
    assert "1 session" in said and "soft-deleted" in said
    run(db, "users", "add", "jane")
    assert json.loads(run(db, "users", "sessions", "jane", "--json").stdout) == []
