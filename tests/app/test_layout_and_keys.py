"""The app at the sizes people use it, and its keys: what moves, what has focus, what
the footer offers, and what each key tells the user. Real app, real DuckDB files."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import Static

from storage.duckdb import DuckDBStore
from storage.models import Message, RoleType, SessionImport
from storage.store import MemoryStore
from tests.app.conftest import (
    build_store,
    make_app,
    notices,
    screen_lines,
    screen_text,
    session_ids,
    settle,
)
from tests.holders import held_database
from zeptui.app.app import ZeptuiApp
from zeptui.app.data import FirstPageRead, LockRetry
from zeptui.app.first_page import FirstPage, SessionRow
from zeptui.app.leases import StoreLeases
from zeptui.app.screens.search import SearchScreen
from zeptui.app.widgets.json_tree import JsonTree
from zeptui.app.widgets.sessions import FilterInput, plan_columns
from zeptui.app.widgets.transcript_bars import View

KYOTO = "Kyoto trip in late October"  # the ChatGPT sample's title


@pytest.fixture
def demo_db(tmp_path: Path) -> Path:
    """Every bundled sample, as `zeptui demo` loads them (12 sessions)."""
    return build_store(tmp_path / "demo.duckdb", samples=None)


def footer_keys(app: ZeptuiApp) -> dict[str, str]:
    """What the footer offers now: key -> description."""
    return {
        key: active.binding.description
        for key, active in app.screen.active_bindings.items()
        if active.binding.show
    }


# --- layout -------------------------------------------------------------------------


async def test_the_panes_share_the_width_from_80_to_250_columns(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        # 80x24: sessions and transcript; the inspector waits for `i`.
        assert app.sessions.region.width >= 28
        assert app.transcript.region.width >= 44
        assert not app.inspector.display
        assert app.sessions.region.width + app.transcript.region.width == 80
        newest = app.transcript.blocks[-1]
        for _ in range(100):  # bounded: the scroll lands after the layout
            if app.transcript.scroll.region.contains_region(newest.region):
                break
            await pilot.pause(0.02)
        assert app.transcript.scroll.region.contains_region(newest.region)
        table = app.sessions.table
        assert [str(key.value) for key in table.columns] == ["session", "messages"]
        narrow_title = table.columns["session"].width  # type: ignore[index]
        # Wider: three panes at 3:5:3, and the session list shows more.
        for size in ((120, 40), (250, 50)):
            await pilot.resize_terminal(*size)
            await settle(pilot)
            panes = (app.sessions, app.transcript, app.inspector)
            sessions, transcript, inspector = (pane.region.width for pane in panes)
            assert sessions + transcript + inspector == size[0]
            assert abs(sessions - inspector) <= 1
            assert transcript / sessions == pytest.approx(5 / 3, abs=0.1)
            assert [str(key.value) for key in table.columns] == [
                column.key for column in plan_columns(table.size.width, table.rows_shown)
            ]
        assert [str(key.value) for key in table.columns] == [
            "session",
            "messages",
            "tokens",
            "active",
        ]
        assert table.columns["session"].width > narrow_title  # type: ignore[index]


async def test_on_a_narrow_terminal_capital_i_shows_the_inspector_and_z_zooms(
    sample_db: Path,
) -> None:
    app = make_app(sample_db)
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        # `I`: the inspector, under the transcript.
        await pilot.press("I")
        await settle(pilot)
        assert app.inspector.display
        assert app.inspector.region.x == app.transcript.region.x
        assert app.inspector.region.y >= app.transcript.region.bottom
        assert "session id" in screen_text(app)
        await pilot.press("I")
        await settle(pilot)
        assert not app.inspector.display
        # `z`: the focused pane fills the screen, and the footer says how back.
        assert footer_keys(app)["z"] == "Zoom"
        await pilot.press("tab", "z")
        await settle(pilot)
        assert app.screen.maximized is app.transcript
        assert app.transcript.region.width == 80
        assert footer_keys(app)["z"] == "Restore"
        await pilot.press("tab")  # stays zoomed, on the next pane
        assert app.screen.maximized is app.sessions
        await pilot.press("escape")
        assert app.screen.maximized is None
        await pilot.press("z", "z")
        assert app.screen.maximized is None
        assert footer_keys(app)["z"] == "Zoom"
        await pilot.press("z", "I")  # `I` while zoomed: all panes again, with the inspector
        assert app.screen.maximized is None
        assert app.inspector.display
        await pilot.press("I")
        await pilot.resize_terminal(150, 40)  # the user's `I` outlives a resize
        await settle(pilot)
        assert not app.inspector.display


def test_session_columns_grow_with_the_pane(demo_db: Path) -> None:
    with DuckDBStore(demo_db, read_only=True) as store:
        rows = [SessionRow.of(info) for info in store.session_page().sessions]
    narrow = plan_columns(30, rows)
    wide = plan_columns(50, rows)
    widest = plan_columns(120, rows)
    assert [c.key for c in narrow] == ["session", "messages"]
    assert [c.key for c in wide] == ["session", "messages", "active"]
    assert [c.key for c in widest] == ["session", "user", "messages", "tokens", "active"]
    label = [plan[0].width for plan in (narrow, wide, widest)]
    assert label == sorted(label) and label[0] < label[-1]
    for width, plan in ((30, narrow), (50, wide), (120, widest)):
        used = sum(column.width + 2 for column in plan)
        assert used <= width - 2  # the scrollbar's gutter stays free


# --- keys and focus -----------------------------------------------------------------


async def test_j_k_home_end_move_in_the_session_list_and_enter_opens(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        table = app.sessions.table
        assert app.focused is table
        ids = session_ids(app)
        await pilot.press("j", "j")
        await settle(pilot)
        assert table.cursor_row == 2
        assert app.transcript.info is not None
        assert app.transcript.info.session.session_id == ids[2]
        await pilot.press("k")
        assert table.cursor_row == 1
        await pilot.press("end")
        assert table.cursor_row == len(ids) - 1
        await pilot.press("home")
        await settle(pilot)
        assert table.cursor_row == 0
        assert app.transcript.info.session.session_id == ids[0]
        # `enter` opens the session: its transcript gets the focus.
        await pilot.press("j", "enter")
        await settle(pilot)
        assert app.focused is app.transcript
        assert app.transcript.info.session.session_id == ids[1]


async def test_tab_cycles_the_three_panes_only(sample_db: Path) -> None:
    app = make_app(sample_db)
    async with app.run_test(size=(150, 42)) as pilot:
        await settle(pilot)
        order = [app.sessions.table, app.transcript, app.inspector, app.sessions.table]
        for expected in order[1:]:
            await pilot.press("tab")
            assert app.focused is expected
        await pilot.press("shift+tab")
        assert app.focused is app.inspector
        # From the filter box or a metadata tree, tab goes to the next pane.
        await pilot.press("f")
        assert isinstance(app.focused, FilterInput)
        await pilot.press("tab")
        assert app.focused is app.transcript
        await pilot.press("tab", "enter")  # the inspector, into a metadata tree
        assert isinstance(app.focused, JsonTree)
        await pilot.press("escape")
        assert app.focused is app.inspector
        await pilot.press("enter", "tab")
        assert app.focused is app.sessions.table
        # Hiding the inspector while it has the focus hands it to the transcript.
        await pilot.press("shift+tab")
        assert app.focused is app.inspector
        await pilot.press("I")
        assert not app.inspector.display
        assert app.focused is app.transcript


async def test_the_filter_is_entered_with_f_and_left_with_one_escape(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        await pilot.press("tab", "f")  # from any pane
        box = app.sessions.query_one(FilterInput)
        assert app.focused is box
        # The footer offers what works in the box: letters type, they are no keys.
        keys = footer_keys(app)
        assert "escape" in keys
        assert not {"s", "f", "q", "r", "z", "i", "I", "x", "question_mark", "slash"} & set(keys)
        await pilot.press(*"ws-priya", "s")  # `s` types, it does not sort
        await settle(pilot)
        assert box.value == "ws-priyas"
        await pilot.press("backspace")
        await settle(pilot)
        assert session_ids(app) == ["ws-priya-terraform-drift", "ws-priya-k8s-rollout"]
        await pilot.press("escape")
        assert app.focused is app.sessions.table
        assert box.value == "ws-priya"  # the filter stays
        assert len(session_ids(app)) == 2
        assert app.sessions.sort_index == 0


async def test_the_footer_shows_the_keys_of_the_focused_pane(sample_db: Path) -> None:
    app = make_app(sample_db)
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await settle(pilot)
        keys = footer_keys(app)
        assert keys["enter"] == "Open" and keys["s"] == "Sort"
        assert "v" not in keys
        await pilot.press("tab")
        keys = footer_keys(app)
        assert keys["v"] == "View" and keys["m"] == "Raw"
        assert "s" not in keys
        assert "v View" in screen_lines(app)[-1]
        # Keys that do nothing here say why.
        await pilot.press("plus")
        await settle(pilot)
        assert app.transcript.view is View.all
        assert "size the message window view" in notices(app)
        await pilot.press("b")
        await settle(pilot)
        assert "Token budget 32k" in notices(app)
        # The search dialog's footer shows its keys, not the transcript's.
        await pilot.press("slash")
        await settle(pilot)
        assert isinstance(app.screen, SearchScreen)
        bottom = screen_lines(app)[-1]
        assert "Close" in bottom
        assert "View" not in bottom and "Copy" not in bottom


# --- titles (9.19) ------------------------------------------------------------------


async def test_the_filter_and_the_palette_match_titles(demo_db: Path) -> None:
    app = make_app(demo_db)
    async with app.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        app.sessions.query_one(FilterInput).value = "kyoto"
        await settle(pilot)
        assert [i.session.metadata.get("title") for i in app.sessions.sessions] == [KYOTO]
        app.sessions.query_one(FilterInput).value = ""
        await settle(pilot)
        await pilot.press("ctrl+p")
        await settle(pilot)
        await pilot.press(*"kyoto")
        for _ in range(50):  # the palette searches in the background (bounded wait)
            await pilot.pause(0.05)
            if f"Session {KYOTO}" in screen_text(app):
                break
        assert f"Session {KYOTO}" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
        assert app.transcript.info is not None
        assert app.transcript.info.session.metadata["title"] == KYOTO


# --- feedback (9.21) ----------------------------------------------------------------


async def test_the_transcript_title_keeps_its_state_however_long_the_session_title(
    tmp_path: Path,
) -> None:
    long_title = "A very long conversation title " * 8
    session = SessionImport(
        session_id="long-title",
        metadata={"title": long_title},
        messages=[Message(role="user", role_type=RoleType.user, content="hello")],
    )
    app = make_app(build_store(tmp_path / "titles.duckdb", [session], samples=()))
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        title = str(app.transcript.border_title)
        assert title.startswith("A very long") and "…" in title
        assert title.endswith(" · all messages · markdown")
        assert " · all messages · markdown" in screen_text(app)
        await pilot.press("tab", "m", "v")
        await settle(pilot)
        # Too little room left for the title: the state takes its short form.
        title = str(app.transcript.border_title)
        assert title.startswith("A very long") and title.endswith(" · window 12 · raw")
        assert " · window 12 · raw" in screen_text(app)
        await pilot.press("z")  # room again: the long form
        await settle(pilot)
        assert str(app.transcript.border_title).endswith(" · message window · last 12 · raw")
        assert footer_keys(app)["m"] == "Markdown"


async def test_after_a_lock_clears_the_app_retries_by_itself(
    sample_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(LockRetry, "DELAYS", (0.1,) * 100)
    app = make_app(sample_db)
    # Notifications are kept as posted: on a loaded machine a toast can time out
    # before the test looks at the screen.
    posted: list[str] = []
    notify = app.notify

    def record(message: str, **options: Any) -> None:
        posted.append(message)
        notify(message, **options)

    monkeypatch.setattr(app, "notify", record)
    with held_database(sample_db) as holder:
        async with app.run_test(size=(120, 40), notifications=True) as pilot:
            await settle(pilot)
            status = app.sessions.query_one("#sessions-status", Static)
            assert f"in use by process {holder.pid}" in " ".join(str(status.render()).split())
            assert "Trying again in 0.1 s." in screen_text(app)
            holder.kill()
            holder.wait(timeout=10)
            # Bounded, and generous: each retry waits 0.1 s, then up to 0.5 s for the
            # lock, then opens the store, which takes seconds on a loaded machine.
            for _ in range(1200):
                await pilot.pause(0.05)
                if session_ids(app):
                    break
            await settle(pilot)
            assert session_ids(app) == ["support-NW-58213", "octavia-butler"]
            assert any("The database is free again" in message for message in posted)
            assert app.transcript.info is not None


async def test_markdown_keeps_raw_html_and_link_addresses(tmp_path: Path) -> None:
    content = (
        "Look: <script>alert('x')</script> and <b>bold?</b>\n\n"
        '<div class="note">a block of HTML</div>\n\n'
        "a [link](https://example.com/page) and a reference [ref]\n\n"
        "[ref]: https://example.com/ref\n"
    )
    session = SessionImport(
        session_id="html",
        messages=[Message(role="user", role_type=RoleType.user, content=content)],
    )
    app = make_app(build_store(tmp_path / "html.duckdb", [session], samples=()))
    async with app.run_test(size=(150, 42)) as pilot:
        await settle(pilot)
        assert app.transcript.markdown
        text = screen_text(app)
        for shown in (
            "<script>alert('x')</script>",
            "<b>bold?</b>",
            '<div class="note">a block of HTML</div>',
            "https://example.com/page",
            "[ref]: https://example.com/ref",
        ):
            assert shown in text, shown


# --- start-up (9.25) -----------------------------------------------------------------


async def test_the_first_frame_lists_the_sessions_kept_from_the_last_start(
    sample_db: Path,
) -> None:
    """The rows of the first page are kept between starts: with the file unchanged,
    they are on screen before the store answers (here it cannot: another process
    holds the file), and a changed file shows none of them."""
    first = make_app(sample_db)
    async with first.run_test(size=(120, 40)) as pilot:
        await settle(pilot)
        assert session_ids(first) == ["support-NW-58213", "octavia-butler"]
    with held_database(sample_db):
        again = make_app(sample_db)
        async with again.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert again.sessions.sessions == []  # the store has not answered
            shown = [row.session_id for row in again.sessions.table.rows_shown]
            assert shown == ["support-NW-58213", "octavia-butler"]
            assert "octavia-butler" in screen_text(again)
            assert "Trying again" in screen_text(again)  # and says why it waits
    with DuckDBStore(sample_db, summarizer=None) as writer:
        writer.add_memory("new-session", [Message(role="x", content="the file changed")])
    with held_database(sample_db):
        changed = make_app(sample_db)
        async with changed.run_test(size=(120, 40)) as pilot:
            await settle(pilot)
            assert changed.sessions.table.rows_shown == []
            assert "octavia-butler" not in screen_text(changed)


async def test_the_first_start_after_a_change_lists_the_sessions_read_ahead(
    sample_db: Path,
) -> None:
    """With nothing kept (the first start after an import, say), the first page is
    read from the file while the app starts: on screen before the store, slow to
    load, has answered (and not over another listing the user asked for since);
    the store's answer then takes over."""
    gate = threading.Event()

    def slow_opener() -> MemoryStore:
        assert gate.wait(30)
        return DuckDBStore(sample_db, read_only=True, summarizer=None)

    app = ZeptuiApp(StoreLeases(slow_opener, "sample.duckdb", path=sample_db))
    async with app.run_test(size=(120, 40)) as pilot:
        try:
            for _ in range(500):  # bounded: until the read-ahead thread has answered
                if app.sessions.table.rows_shown:
                    break
                await pilot.pause(0.01)
            shown = [row.session_id for row in app.sessions.table.rows_shown]
            assert shown == ["support-NW-58213", "octavia-butler"]
            assert app.sessions.sessions == []  # the store has not answered
            assert "octavia-butler" in screen_text(app)
            assert "2 of 2 sessions" in screen_text(app)
            # A page that comes once the user asked for another listing is not shown.
            app.sessions.query_one(FilterInput).value = "octa"
            await pilot.pause()
            late = FirstPage((SessionRow("late", "late", "", 1, 1, "2024-01-01"),), 1)
            app.sessions.post_message(FirstPageRead(late))
            await pilot.pause()
            assert "late" not in [row.session_id for row in app.sessions.table.rows_shown]
            gate.set()
            await settle(pilot)
            assert session_ids(app) == ["octavia-butler"]
            assert app.transcript.info is not None
        finally:
            gate.set()  # a failed check must not leave the store waiting
