"""The import dialog's cancel leaves nothing behind: a directory or archive with a
file finished before the cancel, and a Zep JSONL file the store reads itself,
cancelled from the import's own progress; the store is compared table by table."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot
from textual.widgets import Static

from tests.app.conftest import make_app, settle
from tests.app.test_transfer import (
    SHAREGPT,
    SHAREGPT_SESSIONS,
    import_now,
    preview,
    sample,
    stored,
    two_samples_in,
    until,
)
from tests.store_tables import every_table
from zeptui.app import transfer
from zeptui.app.screens.import_screen import ImportScreen
from zeptui.services.imports import IMPORT_MEMORY_LIMIT, ImportCounts, ImportRun

MEMORY_LIMIT_SHOWN = {"256MB": "244.1 MiB"}[IMPORT_MEMORY_LIMIT]
"""How DuckDB's `current_setting` shows the import's limit (it counts in MiB)."""


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "work"
    folder.mkdir()
    monkeypatch.chdir(folder)
    return folder


def cancel_from_progress(
    monkeypatch: pytest.MonkeyPatch, hook: str, when: Callable[[ImportCounts], bool]
) -> list[ImportScreen]:
    """Have the dialog's progress, on the import's thread, press the dialog's cancel
    (on the UI thread, waited for) the first time `when(counts)` holds as `hook` is
    told; returns the screens it cancelled."""
    original = getattr(transfer._PostedImportProgress, hook)
    cancelled: list[ImportScreen] = []

    def told(self: transfer._PostedImportProgress, *args: object) -> None:
        original(self, *args)
        counts = args[-1]
        assert isinstance(counts, ImportCounts)
        screen = self.target
        if not cancelled and isinstance(screen, ImportScreen) and when(counts):
            cancelled.append(screen)
            screen.app.call_from_thread(screen.action_cancel)

    monkeypatch.setattr(transfer._PostedImportProgress, hook, told)
    return cancelled


async def cancelled_result(pilot: Pilot[None], screen: ImportScreen) -> str:
    await pilot.press("ctrl+s")
    await until(pilot, lambda: screen.step == "done")
    return str(screen.query_one("#result-text", Static).render())


@pytest.mark.parametrize("container", ["zip", "directory"])
async def test_a_cancel_after_a_finished_file_leaves_the_store_as_it_was(
    workdir: Path, sample_db: Path, monkeypatch: pytest.MonkeyPatch, container: str
) -> None:
    typed = two_samples_in(workdir, container)
    before = every_table(sample_db)
    cancelled = cancel_from_progress(monkeypatch, "file_ended", lambda counts: counts.done == 1)
    app = make_app(sample_db)
    async with app.run_test() as pilot:
        screen = await preview(pilot, typed)
        result = await cancelled_result(pilot, screen)
        assert cancelled == [screen]
        note = str(screen.query_one("#cancel-note", Static).render())
        assert note == "A cancel leaves the store as it was before the import."
        assert result.startswith(
            "Cancelled: nothing was imported, not even the 1 file finished before the "
            "cancel; the store is as it was."
        )
        assert "sessions created" not in result  # no file's line: none of them stayed
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ImportScreen)
    assert every_table(sample_db) == before


def zep_jsonl(path: Path, sessions: int, per_session: int) -> Path:
    with path.open("w") as out:
        for number in range(sessions):
            for index in range(per_session):
                record = {
                    "session_id": f"big-{number}",
                    "role_type": "user" if index % 2 == 0 else "assistant",
                    "content": f"line {index} of big-{number}: tents, rivers and lanterns",
                }
                out.write(json.dumps(record) + "\n")
    return path


async def test_a_cancel_during_a_fast_path_import_leaves_nothing_and_the_app_goes_on(
    workdir: Path, sample_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The store reads the file itself and tells the progress what it holds; the
    cancel comes then, from that progress, before the writing ends. The import runs
    under the import's memory limit; the app imports again afterwards."""
    zep_jsonl(workdir / "big.jsonl", 40, 50)
    shutil.copy(sample(SHAREGPT), workdir / "coding.json")
    before = stored(sample_db)
    limits: list[str] = []
    run = ImportRun.run

    def limited(self: ImportRun, store: object, progress: object = None) -> None:
        setting = store._db.cursor().execute("SELECT current_setting('memory_limit')")  # type: ignore[attr-defined]
        limits.append(setting.fetchone()[0])
        run(self, store, progress)  # type: ignore[arg-type]

    monkeypatch.setattr(ImportRun, "run", limited)
    cancelled = cancel_from_progress(monkeypatch, "counted", lambda counts: counts.messages > 0)
    app = make_app(sample_db)
    told: list[str] = []  # what the dialog notified (a toast may be gone by the end)
    notify = ImportScreen.notify

    def noted(screen: ImportScreen, message: str, **options: Any) -> None:
        told.append(message)
        notify(screen, message, **options)

    monkeypatch.setattr(ImportScreen, "notify", noted)
    async with app.run_test() as pilot:
        screen = await preview(pilot, "big.jsonl")
        result = await cancelled_result(pilot, screen)
        assert cancelled == [screen]
        assert result.startswith("Cancelled: nothing was imported; the store is as it was.")
        assert told == ["Cancelling the import…"]  # at once, on the UI thread
        await pilot.press("escape")
        await settle(pilot)
        # Still usable: the next import goes through.
        screen = await preview(pilot, "coding.json")
        assert "3 sessions created" in await import_now(pilot, screen)
    assert limits == [MEMORY_LIMIT_SHOWN] * 2
    assert stored(sample_db) == before | SHAREGPT_SESSIONS  # nothing of big.jsonl
