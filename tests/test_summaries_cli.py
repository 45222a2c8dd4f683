"""Summaries through the real CLI: `zeptui add` against a slow or hanging LLM server,
`zeptui summarize --again`, credentials in warnings, and the import's summary phase.

`zeptui add` runs in a subprocess so that the test can act while it waits on the
server (issue 10.8): take the file, write, or summarise the session first.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from storage.duckdb import DuckDBStore
from storage.models import Message
from tests.llm_server import FakeLLM, serve_llm
from tests.test_cli import fail, run, run_json
from zeptui import config
from zeptui.cli.progress import ImportBar
from zeptui.services.imports import Entry, ImportCounts, ImportRun

WAIT = 60.0
"""Seconds a test waits for the subprocess before failing (never reached)."""


@pytest.fixture
def llm_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeLLM]:
    yield from serve_llm(monkeypatch)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A store of one session `s1` with 11 messages: the next add makes a summary due."""
    path = tmp_path / "zeptui.duckdb"
    monkeypatch.setenv("ZEPTUI_DB", str(path))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("COLUMNS", "200")
    with DuckDBStore(path, summarizer=None) as store:
        store.add_memory(
            "s1", [Message(role="Jane", content=f"Message {n} is about kayaks.") for n in range(11)]
        )
    return path


def use_llm(monkeypatch: pytest.MonkeyPatch, base_url: str, timeout: str = "30") -> None:
    monkeypatch.setenv("ZEPTUI_SUMMARIZER", "llm")
    monkeypatch.setenv("ZEPTUI_LLM_BASE_URL", base_url)
    monkeypatch.setenv("ZEPTUI_LLM_MODEL", "test-model")
    monkeypatch.setenv("ZEPTUI_LLM_TIMEOUT", timeout)


def start_add(db: Path) -> subprocess.Popen[str]:
    """`zeptui add` of the 12th message, in another process."""
    command = [sys.executable, "-m", "zeptui", "--db", str(db), "add", "s1"]
    options = ["--role", "Jane", "--role-type", "user", "--content", "Message 12."]
    return subprocess.Popen(
        [*command, *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(adding: subprocess.Popen[str]) -> tuple[str, str]:
    try:
        stdout, stderr = adding.communicate(timeout=WAIT)
    finally:
        adding.kill()
    assert adding.returncode == 0, stderr
    assert "Traceback" not in stderr
    return stdout, stderr


def summaries(db: Path) -> list[str]:
    with DuckDBStore(db, read_only=True) as store:
        return [info.summary.content for info in store.list_summaries("s1")]


# --- zeptui add and a slow LLM (issue 10.8) -----------------------------------------


def test_add_returns_at_the_deadline_with_a_warning(
    db: Path, llm_server: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_server.mode = "hang"  # never answers
    use_llm(monkeypatch, llm_server.base_url, timeout="1")
    stdout, stderr = finish(start_add(db))
    assert stdout.startswith("Added message ")
    assert stderr.splitlines() == [
        f"zeptui: warning: summary failed: LLM summarizer: POST {llm_server.base_url}"
        "/chat/completions failed: no complete reply within 1 s"
    ]
    assert summaries(db) == []
    with DuckDBStore(db, read_only=True) as store:
        assert store.list_messages("s1").messages[-1].content == "Message 12."


def test_another_process_writes_while_add_waits_for_the_llm(
    db: Path, llm_server: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_server.mode = "gate"  # answers once released
    use_llm(monkeypatch, llm_server.base_url)
    adding = start_add(db)
    try:
        assert llm_server.received.wait(WAIT)
        assert adding.stdout is not None  # the add is said before the summary is waited on
        assert adding.stdout.readline().startswith("Added message ")
        with DuckDBStore(db, summarizer=None, lock_timeout=5) as other:  # read-write
            other.add_memory("s2", [Message(role="Ana", content="Written meanwhile.")])
    finally:
        llm_server.release.set()
        _, stderr = finish(adding)
    assert stderr == ""
    assert summaries(db) == ["SUMMARY-1"]
    with DuckDBStore(db, read_only=True) as store:
        assert store.stats().messages == 13


def test_add_drops_its_draft_when_the_session_was_summarised_meanwhile(
    db: Path, llm_server: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_server.mode = "gate"
    use_llm(monkeypatch, llm_server.base_url)
    adding = start_add(db)
    try:
        assert llm_server.received.wait(WAIT)
        made = run_json("summarize", "s1", "--summarizer", "extractive")
    finally:
        llm_server.release.set()
        _, stderr = finish(adding)
    assert stderr == ""
    assert summaries(db) == [made[0]["summary"]["content"]]


def test_warnings_never_show_credentials(
    db: Path, llm_server: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    llm_server.mode = "500"
    host = llm_server.base_url.removeprefix("http://")
    use_llm(monkeypatch, f"http://ana:pa55word@{host}?api-key=sekrit-123&v=2")
    result = run("add", "s1", "--role", "Jane", "--role-type", "user", "--content", "Hi.")
    assert f"ana:***@{host}/chat/completions?api-key=***&v=2 failed: HTTP 500" in result.stderr
    assert "pa55word" not in result.stderr and "sekrit" not in result.stderr


def test_a_key_that_is_not_ascii_is_one_line(
    db: Path, llm_server: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    use_llm(monkeypatch, llm_server.base_url)
    monkeypatch.setenv("ZEPTUI_LLM_API_KEY", "sk-clé")
    line = fail("add", "s1", "--role", "Jane", "--role-type", "user", "--content", "Hi.")
    assert "printable ASCII" in line and "clé" not in line


# --- zeptui summarize --again (issue 9.24) ------------------------------------------


def test_summarize_again_with_an_llm_after_an_extractive_import(
    tmp_path: Path, llm_server: FakeLLM, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "z.duckdb"
    monkeypatch.setenv("ZEPTUI_DB", str(path))
    run("import", config.sample_data_dir() / "customer-support.json")
    with DuckDBStore(path, read_only=True) as store:
        extractive = store.list_summaries("support-NW-58213")
    assert len(extractive) == 5
    use_llm(monkeypatch, llm_server.base_url)
    llm_server.mode = "500"
    assert "HTTP 500" in fail("summarize", "support-NW-58213", "--again")
    with DuckDBStore(path, read_only=True) as store:
        assert store.list_summaries("support-NW-58213") == extractive
    llm_server.mode = "ok"
    made = run_json("summarize", "support-NW-58213", "--again")
    assert [info["summary"]["content"] for info in made] == [f"SUMMARY-{n}" for n in range(2, 7)]
    assert [info["message_count"] for info in made] == [s.message_count for s in extractive]
    with DuckDBStore(path, read_only=True) as store:
        replaced = store.list_summaries("support-NW-58213")
    assert [info.summary.uuid for info in replaced] == [info["summary"]["uuid"] for info in made]
    assert "No summary was due" in run("summarize", "support-NW-58213").stdout
    assert "not found" in fail("summarize", "nope", "--again")


def test_summarize_again_on_a_short_session(db: Path) -> None:
    assert "No summary is due: the session has fewer than 12 messages" in (
        run("summarize", "s1", "--again", "--summarizer", "extractive").stdout
    )


# --- the import's summary phase (issue 9.23) ----------------------------------------


def test_import_makes_the_summaries_in_sight_before_the_store_closes(tmp_path: Path) -> None:
    with DuckDBStore(tmp_path / "z.duckdb", defer_summaries=True) as store:
        ImportRun([config.sample_data_dir() / "customer-support.json"]).run(store)
        assert len(store.list_summaries("support-NW-58213")) == 5  # made inside the run


def test_the_progress_line_shows_the_summary_phase() -> None:
    with ImportBar(1) as display:
        display.counted(ImportCounts(1, done=1))
        display.summaries(0, 7_168)
        [task] = display.progress.tasks
        assert (task.description, task.fields["unit"]) == ("summaries", "sessions summarised")
        assert task.fields["counts"] == ""  # not the import's decaying rate
        assert (task.completed, task.total) == (0, 7_168)
        display.summaries(7_168, 7_168)
        assert task.completed == task.total == 7_168


def test_the_progress_line_shows_files_again_after_a_files_summaries() -> None:
    """A file whose import makes its summaries shows them; the next file shows files."""
    counts = ImportCounts(2)
    with ImportBar(2) as display:
        display.file_started("a.jsonl", counts)
        display.summaries(3, 3)
        counts.done = 1
        display.file_ended(Entry("a.jsonl"), counts)
        display.file_started("b.json", counts)
        [task] = display.progress.tasks
        assert (task.description, task.fields["unit"]) == ("b.json", "files")
        assert (task.completed, task.total) == (1, 2)
