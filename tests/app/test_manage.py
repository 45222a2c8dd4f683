"""Delete, undo, deleted sessions and restore, summarise, and the users view, driven
through the app against a real DuckDB file, then checked in the store itself."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import Input
from textual.widgets.data_table import ColumnKey, RowKey

from storage.capabilities import SessionPages
from storage.duckdb import DuckDBStore
from storage.errors import NotFoundError
from storage.models import CreateUserRequest, Message, SummaryInfo
from storage.store import MemoryStore
from tests.app.conftest import (
    build_store,
    make_app,
    notices,
    screen_text,
    session_ids,
    settle,
    shown_uuids,
)
from tests.holders import held_database
from zeptui.app.app import ZeptuiApp
from zeptui.app.leases import StoreLeases
from zeptui.app.manage import ManagingApp
from zeptui.app.manage_requests import Kind
from zeptui.app.screens.delete import DeleteScreen
from zeptui.app.screens.summarize import SummarizeScreen
from zeptui.app.screens.users import UsersScreen, UsersTable

SUPPORT = "support-NW-58213"  # priya.raman's, 37 messages, summarised
BUTLER = "octavia-butler"  # jane's, 12 messages

T = TypeVar("T")


async def in_store(app: ZeptuiApp, call: Callable[[MemoryStore], T]) -> T:
    """`call` on the app's store, as it is now (through its read lease)."""
    return await asyncio.to_thread(app.data.leases.read, call)


def delete_screen(app: ZeptuiApp) -> DeleteScreen:
    screen = app.screen
    assert isinstance(screen, DeleteScreen)
    return screen


async def test_d_deletes_the_selected_message_and_ctrl_z_brings_it_back(
    app: ZeptuiApp, sample_db: Path
) -> None:
    async with app.run_test(notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+z")
        assert "Nothing to undo." in notices(app)
        await pilot.press("tab")  # the transcript: its newest message is selected
        selected = app.transcript.selected_item
        assert isinstance(selected, Message) and selected.uuid is not None
        await pilot.press("d")
        await settle(pilot)
        dialog = delete_screen(app)
        assert [c.target.kind for c in dialog.choices] == [Kind.message, Kind.session, Kind.user]
        assert dialog.chosen.target.kind is Kind.message  # from the transcript
        assert "Goes: 1 message by Nova (" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
        total = await in_store(app, lambda store: store.list_messages(SUPPORT).total_count)
        assert total == 36
        assert selected.uuid not in shown_uuids(app)
        assert "Deleted the message by Nova. ctrl+z undoes it." in notices(app)
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert selected.uuid in shown_uuids(app)
    with DuckDBStore(sample_db, read_only=True) as store:
        assert store.get_message(SUPPORT, selected.uuid).content == selected.content
        assert store.list_messages(SUPPORT).total_count == 37


async def test_a_deleted_session_is_listed_apart_and_restored_as_it_was(
    app: ZeptuiApp, sample_db: Path
) -> None:
    with DuckDBStore(sample_db, read_only=True) as store:
        summaries = [info.summary.uuid for info in store.list_summaries(SUPPORT)]
    async with app.run_test(notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("d", "escape")  # asked, then kept
        await settle(pilot)
        assert session_ids(app) == [SUPPORT, BUTLER]
        await pilot.press("d")  # from the list: the session is offered first
        await settle(pilot)
        assert delete_screen(app).chosen.target.kind is Kind.session
        goes = f"Goes: session {SUPPORT}: 37 messages, {len(summaries)} summaries."
        assert goes in " ".join(screen_text(app).split())
        await pilot.press("enter")
        await settle(pilot)
        assert session_ids(app) == [BUTLER]
        await pilot.press("D")
        await settle(pilot)
        assert session_ids(app) == [SUPPORT]
        assert app.sessions.border_title == "Sessions · deleted · recent"
        assert "deleted " + SUPPORT[:5] in screen_text(app)
        assert "R restores it with its 37 messages" in " ".join(screen_text(app).split())
        await pilot.press("R")
        await settle(pilot)
        assert session_ids(app) == []
        await pilot.press("D")
        await settle(pilot)
        assert session_ids(app) == [SUPPORT, BUTLER]
    with DuckDBStore(sample_db, read_only=True) as store:
        assert store.list_messages(SUPPORT).total_count == 37
        assert [info.summary.uuid for info in store.list_summaries(SUPPORT)] == summaries


async def test_deleting_a_user_takes_its_sessions_and_undo_gives_them_back(
    app: ZeptuiApp, sample_db: Path
) -> None:
    async with app.run_test(notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("down")  # jane's session
        await settle(pilot)
        await pilot.press("d")
        await settle(pilot)
        await pilot.press("down")  # from the session to its user
        await settle(pilot)
        assert delete_screen(app).chosen.target.kind is Kind.user
        text = " ".join(screen_text(app).split())
        assert "Goes: user jane and 1 session: 12 messages, 1 summary." in text
        await pilot.press("enter")
        await settle(pilot)
        assert session_ids(app) == [SUPPORT]
        with pytest.raises(NotFoundError):
            await in_store(app, lambda store: store.get_user("jane"))
        await pilot.press("ctrl+z")
        await settle(pilot)
        assert session_ids(app) == [SUPPORT, BUTLER]
        assert "Restored user jane." in notices(app)
    with DuckDBStore(sample_db, read_only=True) as store:
        assert [s.session_id for s in store.get_user_sessions("jane")] == [BUTLER]


async def test_a_delete_that_cannot_read_the_store_says_why_and_the_app_goes_on(
    sample_db: Path,
) -> None:
    # Idle for 50 ms, the app lets go of the file soon.
    app = ZeptuiApp(StoreLeases.for_file(sample_db, idle=0.05), location="sample.duckdb")
    async with app.run_test(notifications=True) as pilot:
        await settle(pilot)
        for _ in range(100):
            if not app.data.leases.is_open:
                break
            await pilot.pause(0.05)
        with held_database(sample_db):
            await pilot.press("d")
            await settle(pilot)
        assert "Cannot delete" in notices(app)
        assert "in use by process" in notices(app)
        assert not isinstance(app.screen, DeleteScreen)


async def test_summarise_again_from_scratch_names_the_summarizer_and_shows_the_new_summary(
    app: ZeptuiApp, sample_db: Path
) -> None:
    async with app.run_test(notifications=True) as pilot:
        await settle(pilot)
        before = await in_store(app, lambda store: store.list_summaries(SUPPORT))
        await pilot.press("S")
        await settle(pilot)
        assert isinstance(app.screen, SummarizeScreen)
        assert "Summarizer: extractive" in screen_text(app)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert "Made " in screen_text(app)
        after = await in_store(app, lambda store: store.list_summaries(SUPPORT))
        await pilot.press("escape")
        await settle(pilot)
        shown = [
            b.item.summary.uuid for b in app.transcript.blocks if isinstance(b.item, SummaryInfo)
        ]
    assert after and {info.summary.uuid for info in after}.isdisjoint(
        info.summary.uuid for info in before
    )
    assert shown and set(shown) <= {info.summary.uuid for info in after}
    with DuckDBStore(sample_db, read_only=True) as store:
        assert store.list_summaries(SUPPORT) == after


async def test_the_users_view_filters_the_sessions_by_the_user_picked(app: ZeptuiApp) -> None:
    async with app.run_test() as pilot:
        await settle(pilot)
        await pilot.press("U")
        await settle(pilot)
        screen = app.screen
        assert isinstance(screen, UsersScreen)
        counts = {info.user.user_id: info.session_count for info in screen.users}
        assert counts == {"priya.raman": 1, "jane": 1}
        assert "2 of 2 users" in screen_text(app)
        for _ in range(list(counts).index("jane")):
            await pilot.press("down")
        await pilot.press("enter")
        await settle(pilot)
        assert session_ids(app) == [BUTLER]
        assert "user:jane" in screen_text(app)
        await pilot.press("U", "escape")
        await settle(pilot)
        assert session_ids(app) == [BUTLER]


async def open_users(pilot: Pilot[None]) -> UsersScreen:
    await settle(pilot)
    await pilot.press("U")
    await settle(pilot)
    screen = pilot.app.screen
    assert isinstance(screen, UsersScreen)
    return screen


async def test_typing_in_the_users_view_filters_it(tmp_path: Path) -> None:
    # The cursor starts in the list (arrows, enter); letters typed there go to the
    # filter box above it, as a user expects of a list with a filter.
    path = build_store(tmp_path / "users.duckdb", samples=())
    with DuckDBStore(path) as store:
        for user_id in ("walker", "jane", "wanda"):
            store.add_user(CreateUserRequest(user_id=user_id))
    async with make_app(path).run_test() as pilot:
        screen = await open_users(pilot)
        await pilot.press("w", "a", "l")
        await settle(pilot)
        box = screen.query_one("#users-filter", Input)
        assert box.value == "wal"
        assert box.region.height == 1 and "wal" in screen_text(pilot.app)  # shown, focused
        assert [info.user.user_id for info in screen.users] == ["walker"]
        await pilot.press("enter")
        await settle(pilot)
        assert "user:walker" in screen_text(pilot.app)


async def test_the_users_view_pages_its_users(tmp_path: Path) -> None:
    path = build_store(tmp_path / "many.duckdb", samples=())
    with DuckDBStore(path) as store:
        for number in range(129):
            store.add_user(CreateUserRequest(user_id=f"user{number:03}"))
        store.add_user(CreateUserRequest(user_id="user129-of-a-longer-id"))
    async with make_app(path).run_test() as pilot:
        screen = await open_users(pilot)
        assert len(screen.users) == 100
        assert "100+ of 130 users" in screen_text(pilot.app)
        await pilot.press("end")  # near the end of the page: the next one loads
        await settle(pilot)
        assert [info.user.user_id for info in screen.users][-1] == "user129-of-a-longer-id"
        assert len(screen.users) == 130
        # The longer id widened its column (the table built again): the cursor stayed.
        table = screen.query_one(UsersTable)
        assert table.cursor_row == 99
        assert table.columns[ColumnKey("user")].width == len("user129-of-a-longer-id")


def test_the_bindings_have_ids_named_like_their_actions() -> None:
    ids = {binding.id: binding.action for binding in ManagingApp.BINDINGS}  # type: ignore[union-attr]
    assert {"delete", "undo", "toggle_deleted", "summarize", "users"} <= set(ids)
    assert all(key == action.partition("(")[0] for key, action in ids.items())


def pages_only(inner: MemoryStore) -> MemoryStore:
    """A real store seen through Zep's core and session pages only, as a Zep server
    is: no restoring, users with counts, summaries on request or single deletes."""

    def forward(name: str) -> object:
        if isinstance(getattr(MemoryStore, name, None), property):
            return property(lambda _self: getattr(inner, name))
        return lambda _self, *args, **kwargs: getattr(inner, name)(*args, **kwargs)

    names = {*MemoryStore.__abstractmethods__, *SessionPages.__abstractmethods__, "close"}
    kind = type("PagesOnly", (MemoryStore, SessionPages), {n: forward(n) for n in names})
    store: MemoryStore = kind()
    return store


async def test_a_store_without_these_capabilities_hides_their_flows(sample_db: Path) -> None:
    leases = StoreLeases(
        lambda: pages_only(DuckDBStore(sample_db, read_only=True)),
        "pages-only",
        write_opener=lambda: pages_only(DuckDBStore(sample_db)),
    )
    app = ZeptuiApp(leases, location="pages-only")
    async with app.run_test(notifications=True) as pilot:
        await settle(pilot)
        assert app.offers == frozenset()
        for key in ("U", "D", "S"):
            await pilot.press(key)
            await settle(pilot)
            assert app.screen is app.screen_stack[0]
            assert not app.sessions.show_deleted
        await pilot.press("d")
        await settle(pilot)
        assert [c.target.kind for c in delete_screen(app).choices] == [Kind.session, Kind.user]
        assert "it cannot be undone here" in screen_text(app)
        await pilot.press("enter")
        await settle(pilot)
        assert session_ids(app) == [BUTLER]
        assert "ctrl+z" not in notices(app)


async def test_the_users_view_sizes_its_columns_to_users_painted_before_the_table_idles(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Textual's DataTable measures auto-width columns only when it next idles, and keeps
    # the cells it painted before that at their old width (Textual issue 3533): under
    # load a paint landed in between and the view showed "pri…" for good.
    path = build_store(tmp_path / "users.duckdb", samples=())
    with DuckDBStore(path) as store:
        store.add_user(CreateUserRequest(user_id="priya.raman", email="priya@example.com"))
    added = UsersTable.add_row

    def add_and_paint(table: UsersTable, *cells: Text, **options: Any) -> RowKey:
        key = added(table, *cells, **options)
        for y in range(table.size.height):  # a paint before the table's next idle
            table.render_line(y)
        return key

    monkeypatch.setattr(UsersTable, "add_row", add_and_paint)
    async with make_app(path).run_test() as pilot:
        await open_users(pilot)
        await settle(pilot)
        shown = screen_text(pilot.app)
        assert "priya.raman" in shown and "priya@example.com" in shown
