"""The import (`i`) and export (`x`) dialogs, end to end against real DuckDB files;
the store is checked directly afterwards."""

from __future__ import annotations

import io
import json
import shutil
import threading
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Checkbox, DataTable, Input, RadioButton, Static

from storage.duckdb import DuckDBStore
from tests.app.conftest import build_store, make_app, settle, settle_screen, wait_for_workers
from zeptui.app.app import ZeptuiApp
from zeptui.app.screens.export_screen import ExportScreen
from zeptui.app.screens.import_screen import ImportScreen
from zeptui.app.transfer import Progress, bar_total, progress_line
from zeptui.config import sample_files
from zeptui.exporters import export_sessions
from zeptui.services.imports import ImportRun

SHAREGPT = "sharegpt-coding-help.json"
SHAREGPT_SESSIONS = {
    "coding-help-pandas-groupby": 7,
    "coding-help-rust-borrow": 4,
    "coding-help-git-undo": 4,
}


def sample(name: str) -> Path:
    return next(path for path in sample_files() if path.name == name)


def stored(path: Path) -> dict[str, int]:
    """Session id -> message count, read from the file itself."""
    with DuckDBStore(path, read_only=True, summarizer=None) as store:
        return {
            session.session_id: store.list_messages(session.session_id, limit=1).total_count
            for session in store.list_sessions()
        }


def dumped(path: Path) -> str:
    """Every session of the store as zep-json (what a re-import must reproduce)."""
    out = io.StringIO()
    with DuckDBStore(path, read_only=True, summarizer=None) as store:
        export_sessions(store, store.list_sessions(), out, "zep-json")
    return out.getvalue()


async def until(pilot: Pilot[None], done: Callable[[], bool], rounds: int = 300) -> None:
    """Let workers finish and messages land until `done()` (a bounded number of polls)."""
    for _ in range(rounds):
        await wait_for_workers(pilot.app)
        await pilot.pause()
        if done():
            return
        await pilot.pause(0.02)
    raise AssertionError("the dialog did not get there")


async def preview(pilot: Pilot[None], path: str) -> ImportScreen:
    """`i`, the path typed, enter: the dialog at its review step."""
    await settle(pilot)
    await pilot.press("i")
    screen = pilot.app.screen
    assert isinstance(screen, ImportScreen)
    await until(pilot, lambda: screen.query_one("#path", Input).has_focus)
    screen.query_one("#path", Input).value = path
    await pilot.press("enter")
    await until(pilot, lambda: screen.step == "review" and screen.preview is not None)
    return screen


async def import_now(pilot: Pilot[None], screen: ImportScreen) -> str:
    """ctrl+s; the result's text once the import has ended."""
    await pilot.press("ctrl+s")
    await until(pilot, lambda: screen.step == "done")
    return str(screen.query_one("#result-text", Static).render())


def table_column(screen: ImportScreen, key: str) -> list[str]:
    table = screen.query_one("#preview-table", DataTable)
    return [str(table.get_cell(row, key)) for row in table.rows]


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The working directory the dialog starts in, with the ShareGPT sample."""
    folder = tmp_path / "work"
    folder.mkdir()
    shutil.copy(sample(SHAREGPT), folder / "coding.json")
    monkeypatch.chdir(folder)
    return folder


async def test_import_a_sample_file_previewed_then_imported(workdir: Path, tmp_path: Path) -> None:
    db = tmp_path / "new.duckdb"  # no database yet: the import makes it
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await preview(pilot, "coding.json")
        summary = str(screen.query_one("#summary", Static).render())
        assert "format sharegpt (detected)" in summary
        assert "3 sessions, 15 messages" in summary
        assert table_column(screen, "session") == list(SHAREGPT_SESSIONS)
        assert table_column(screen, "msgs") == ["7", "4", "4"]
        # Options apply to the preview and the import alike.
        screen.query_one("#prefix", Input).value = "p-"
        screen.query_one("#prefix", Input).focus()
        await pilot.press("enter")
        await until(pilot, lambda: table_column(screen, "session")[0].startswith("p-"))
        result = await import_now(pilot, screen)
        assert "coding.json (sharegpt): 3 sessions created" in result
        assert "15 messages added" in result
        await pilot.press("escape")
        await until(pilot, lambda: len(app.sessions.sessions) == 3)
    assert stored(db) == {f"p-{name}": count for name, count in SHAREGPT_SESSIONS.items()}


def two_samples_in(workdir: Path, container: str) -> str:
    """The ShareGPT and customer-support samples in a zip archive or a directory of
    `workdir`; the path to type."""
    names = (SHAREGPT, "customer-support.json")
    if container == "zip":
        with zipfile.ZipFile(workdir / "export.zip", "w") as archive:
            for name in names:
                archive.write(sample(name), f"chats/{name}")
        return "export.zip"
    (workdir / "chats").mkdir()
    for name in names:
        shutil.copy(sample(name), workdir / "chats" / name)
    return "chats/"


@pytest.mark.parametrize("container", ["zip", "directory"])
async def test_import_a_zip_archive_or_a_directory(
    workdir: Path, tmp_path: Path, container: str
) -> None:
    typed = two_samples_in(workdir, container)
    db = tmp_path / "new.duckdb"
    async with make_app(db).run_test(size=(80, 24)) as pilot:
        screen = await preview(pilot, typed)
        assert "2 files" in str(screen.query_one("#summary", Static).render())
        result = await import_now(pilot, screen)
        assert "Total: 2 files" in result
    sessions = stored(db)
    assert set(SHAREGPT_SESSIONS) < set(sessions)
    assert len(sessions) > len(SHAREGPT_SESSIONS)


async def test_invalid_records_fail_the_file_unless_skipped(workdir: Path, tmp_path: Path) -> None:
    # Names and content with markup and escapes are shown as they are.
    lines = [
        {"messages": [{"role": "user", "content": "[bold]first[/] \x1b[31mred"}]},
        {"messages": [{"role": "user", "content": 3}]},
        {"messages": [{"role": "user", "content": "third"}]},
    ]
    (workdir / "[b]chat.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    db = tmp_path / "new.duckdb"
    async with make_app(db).run_test(size=(80, 24)) as pilot:
        screen = await preview(pilot, "[b]chat.jsonl")
        assert table_column(screen, "first")[0] == "[bold]first[/] \\x1b[31mred"
        rejected = str(screen.query_one("#rejected", Static).render())
        assert rejected.startswith("[b]chat.jsonl:2: ")
        assert "Skip invalid records" in rejected
        result = await import_now(pilot, screen)
        assert "error: [b]chat.jsonl:2: " in result
        assert not db.exists() or not stored(db)  # the file adds nothing
        # Back to the dialog: skip invalid, import again.
        await pilot.press("escape")
        screen = await preview(pilot, "[b]chat.jsonl")
        screen.query_one("#skip-invalid", Checkbox).value = True
        await until(pilot, lambda: "Skipped" in str(screen.query_one("#rejected").render()))
        result = await import_now(pilot, screen)
        assert "[b]chat.jsonl (openai): 2 sessions created" in result
        assert "skipped: [b]chat.jsonl:2: " in result
    assert stored(db) == {"[b]chat:1": 1, "[b]chat:3": 1}


def test_progress_says_what_is_done_and_the_time_left() -> None:
    progress = Progress(100, 25, sessions=3, messages=25, started=0.0, file="big.jsonl")
    assert str(progress_line(progress, now=10.0)) == (
        "3 sessions · 25 messages · 30 s left\nbig.jsonl"
    )
    assert progress.seconds_left(now=0.1) is None  # too early to tell
    assert str(progress_line(Progress(None, 4, sessions=4), now=5.0)) == "4 sessions"
    summaries = Progress(10, 5, started=0.0, phase="summaries")
    assert (
        str(progress_line(summaries, now=600.0))
        == "Summarising: 5 of 10 sessions · 10 min 0 s left"
    )


def test_the_bar_pulses_while_nothing_it_could_count_is_known() -> None:
    # One file whose message count the preview could not read to the end: the
    # store reads it whole and writes it in phases, so no count moves until it
    # ends; a bar at 0% for the whole import looks like a hang: it pulses.
    assert bar_total(expected_messages=None, files=1) is None
    assert bar_total(expected_messages=None, files=3) == 3  # files, as they end
    assert bar_total(expected_messages=500, files=1) == 500  # messages, as they go


async def test_a_cancelled_import_leaves_nothing(workdir: Path, tmp_path: Path) -> None:
    with (workdir / "big.jsonl").open("w") as out:
        for n in range(300):
            turn = [{"role": "user", "content": f"q{n}"}, {"role": "assistant", "content": "a"}]
            out.write(json.dumps({"messages": turn}) + "\n")
    db = build_store(tmp_path / "sample.duckdb")
    before = dumped(db)
    app = make_app(db)
    async with app.run_test(size=(80, 24)) as pilot:
        screen = await preview(pilot, "big.jsonl")
        # A read under way: the import's write lease waits for it, so the cancel
        # lands before the first session (tests/test_import_run.py cancels mid-file).
        reading, release = threading.Event(), threading.Event()
        reader = threading.Thread(
            target=app.data.leases.read, args=(lambda _store: reading.set() or release.wait(),)
        )
        reader.start()
        assert reading.wait(10)
        await pilot.press("ctrl+s")
        assert screen.step == "progress"
        await pilot.press("escape")  # cancel
        release.set()
        reader.join(10)
        await until(pilot, lambda: screen.step == "done")
        result = str(screen.query_one("#result-text", Static).render())
        assert result.startswith("Cancelled: ")
        assert "nothing was imported" in result
        await pilot.press("escape")
        await settle(pilot)
        assert not isinstance(app.screen, ImportScreen)
    assert dumped(db) == before


async def test_unreadable_or_unknown_files_are_refused_inline(workdir: Path) -> None:
    (workdir / "notes.json").write_text('{"hello": "world"}')
    async with make_app(workdir / "db.duckdb").run_test(size=(80, 24)) as pilot:
        await pilot.press("i")
        screen = pilot.app.screen
        assert isinstance(screen, ImportScreen)
        error = screen.query_one("#pick-error", Static)
        for typed, reason in (("notes.json", "unrecognised format"), ("gone.json", "No such")):
            screen.query_one("#path", Input).value = typed
            screen.query_one("#path", Input).focus()
            await pilot.press("enter")
            await until(pilot, lambda reason=reason: reason in str(error.render()))  # type: ignore[misc]
            assert screen.step == "pick"


async def export_with(pilot: Pilot[None], choice: str, output: Path, fmt: str = "zep-json") -> str:
    """`x`, `choice` picked, `output` typed, Export pressed: the dialog's message."""
    await settle(pilot)
    await pilot.press("x")
    screen = pilot.app.screen
    assert isinstance(screen, ExportScreen)
    await settle(pilot)
    screen.query_one(f"#{choice}", RadioButton).value = True
    screen.query_one("#format").value = fmt  # type: ignore[attr-defined]
    screen.query_one("#output", Input).value = str(output)
    await pilot.press("ctrl+s")
    await until(pilot, lambda: not screen.is_attached or screen.running is False)
    return str(screen.query_one("#message", Static).render()) if screen.is_attached else ""


async def test_export_everything_reimports_to_identical_data(
    sample_db: Path, tmp_path: Path
) -> None:
    out = tmp_path / "all.json"
    app = make_app(sample_db)
    async with app.run_test(size=(80, 24), notifications=True) as pilot:
        assert await export_with(pilot, "everything", out) == ""
        assert out.exists()
        # A path that exists is replaced only once confirmed; the database never.
        message = await export_with(pilot, "everything", out)
        assert "exists: Export again to replace it" in message
        await pilot.press("ctrl+s")
        await until(pilot, lambda: not isinstance(app.screen, ExportScreen))
        message = await export_with(pilot, "everything", sample_db)
        assert "is the database itself" in message
        await pilot.press("escape")
        # The filter's sessions only.
        await pilot.press("f", *"support", "enter")
        await settle(pilot)
        filtered = tmp_path / "filtered.jsonl"
        await export_with(pilot, "filtered", filtered, "zep-jsonl")
    again = tmp_path / "again.duckdb"
    with DuckDBStore(again, summarizer=None) as store:
        ImportRun([out]).run(store)
    assert dumped(again) == dumped(sample_db)
    ids = {json.loads(line)["session_id"] for line in filtered.read_text().splitlines()}
    assert ids and ids < set(stored(sample_db))
    assert all("support" in session_id for session_id in ids)


async def test_export_the_open_session_as_markdown(sample_db: Path, tmp_path: Path) -> None:
    out = tmp_path / "one.md"
    app: ZeptuiApp = make_app(sample_db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert app.transcript.info is not None
        session_id = app.transcript.info.session.session_id
        await export_with(pilot, "session", out, "markdown")
    assert session_id in out.read_text()


async def test_the_export_dialog_starts_at_its_first_choice(sample_db: Path) -> None:
    # Top to bottom, as it reads: which sessions, then the format, then the path.
    async with make_app(sample_db).run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        await pilot.press("x")
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, ExportScreen)
        await pilot.press("down", "space", "tab", "tab")
        await settle(pilot)
        assert screen.query_one("#everything", RadioButton).value
        assert pilot.app.focused is screen.query_one("#output", Input)
        assert screen.query_one("#output", Input).value == "zeptui-export.json"


# --- snapshots ----------------------------------------------------------------------------

SnapCompare = Callable[..., bool]
WIDE = (160, 45)


async def _open_import(pilot: Pilot[None]) -> None:
    await settle_screen(pilot)
    await pilot.press("i")
    await settle_screen(pilot)


async def _review(pilot: Pilot[None]) -> None:
    await preview(pilot, "coding.json")
    await settle_screen(pilot)


async def _result(pilot: Pilot[None]) -> None:
    screen = await preview(pilot, "coding.json")
    await import_now(pilot, screen)
    await settle_screen(pilot)


@pytest.mark.parametrize(
    ("step", "size"),
    [
        ("pick", (80, 24)),
        ("review", (80, 24)),
        ("review", WIDE),
        ("result", (80, 24)),
    ],
    ids=lambda value: value if isinstance(value, str) else f"{value[0]}x{value[1]}",
)
def test_import_dialog_snapshot(
    snap_compare: SnapCompare, workdir: Path, tmp_path: Path, step: str, size: tuple[int, int]
) -> None:
    steps = {"pick": _open_import, "review": _review, "result": _result}
    app = make_app(tmp_path / "new.duckdb", location="new.duckdb")
    assert snap_compare(app, terminal_size=size, run_before=steps[step])


@pytest.mark.parametrize("size", [(80, 24), WIDE], ids=lambda s: f"{s[0]}x{s[1]}")
def test_export_dialog_snapshot(
    snap_compare: SnapCompare, sample_db: Path, size: tuple[int, int]
) -> None:
    async def open_export(pilot: Pilot[None]) -> None:
        await settle_screen(pilot)
        await pilot.press("x")
        await settle_screen(pilot)

    assert snap_compare(make_app(sample_db), terminal_size=size, run_before=open_export)
