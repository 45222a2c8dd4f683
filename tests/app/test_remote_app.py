"""The app on a server (`zeptui --remote URL|NAME`): a real `zeptui serve` app under
uvicorn on 127.0.0.1, a real DuckDB file behind it. The same panes as on a file; the
header names the server; a server that goes away or refuses the key is a message, never
a crash, and `r` tries again."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import Input, Static

from storage.duckdb import DuckDBStore
from storage.models import Memory, MemoryType, Message, SessionOrder, SessionQuery
from storage.store import MemoryStore
from tests.app.conftest import (
    build_store,
    notices,
    screen_text,
    session_ids,
    settle,
    settle_screen,
    shown_uuids,
)
from tests.remote.proxy import Fault, proxying
from tests.server.conftest import API_KEY
from tests.server.harness import serving
from zeptui.app.app import ZeptuiApp
from zeptui.app.leases import SharedStore, store_access
from zeptui.app.screens.search import SearchScreen
from zeptui.app.widgets.transcript_bars import View
from zeptui.compose import StoreTarget, connect
from zeptui.remote import RetryPolicy
from zeptui.remotes import add_remote, remove_remote
from zeptui.server import ServerOptions, create_app
from zeptui.server.discovery import Discovery, remove_discovery, write_discovery
from zeptui.settings import load

WRONG_KEY = "z_wrong-key-77aa"
LOCAL_TOKEN = "local-token-91be"
FAIL_FAST = RetryPolicy(attempts=2, backoff=0.01)
"""One more try after a failure, at once: what the app does, without its waits."""


@dataclass
class Server:
    """A served store of the app tests' samples, with what it holds (read before it
    was served: the server holds the file)."""

    url: str
    sessions: list[str]
    """Most recently active first, as the session list shows them."""
    messages: int
    newest: Message
    """The newest message of the most recently active session."""
    perpetual: Memory
    """That session's perpetual memory."""


def read_expected(path: Path) -> tuple[list[str], int, Message, Memory]:
    with DuckDBStore(path, read_only=True) as store:
        page = store.session_page(SessionQuery(order_by=SessionOrder.activity, descending=True))
        sessions = [info.session.session_id for info in page.sessions]
        newest = store.list_messages(sessions[0], limit=1000).messages[-1]
        perpetual = store.get_memory(sessions[0], MemoryType.perpetual)
        return sessions, store.stats().messages, newest, perpetual


def serve_store(stack: ExitStack, path: Path, api_key: str | None = API_KEY) -> str:
    """`zeptui serve`'s app on the store at `path`, until `stack` closes."""
    store = stack.enter_context(DuckDBStore(path, background_summaries=False))
    return stack.enter_context(serving(create_app(store, ServerOptions(api_key=api_key))))


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The app tests' sample store, built once for this module (tests serve copies)."""
    return build_store(tmp_path_factory.mktemp("built") / "samples.duckdb")


@pytest.fixture
def sample_copy(built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copyfile(built, tmp_path / "served.duckdb"))


@pytest.fixture(scope="module")
def server(built: Path) -> Iterator[Server]:
    """One server for the tests that only read (each opens its own app on it)."""
    path = Path(shutil.copyfile(built, built.with_name("served.duckdb")))
    expected = read_expected(path)
    with ExitStack() as stack:
        yield Server(serve_store(stack, path), *expected)


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEPTUI_API_KEY", API_KEY)


def on_server(server: str, location: str | None = None) -> ZeptuiApp:
    """The app on `server` (a URL or a remote's name), as `zeptui --remote` opens it."""
    return ZeptuiApp(store_access(StoreTarget.remote(server), retry=FAIL_FAST), location=location)


async def test_sessions_transcript_memory_views_and_search_as_on_a_file(server: Server) -> None:
    app = on_server(server.url)
    async with app.run_test() as pilot:
        await settle(pilot)
        assert session_ids(app) == server.sessions
        assert shown_uuids(app)[-1] == server.newest.uuid
        assert app.sub_title == (
            f"{server.url} · zeptui API v2 · 2 sessions · {server.messages:,} messages"
        )
        await pilot.press("tab", "v")
        await settle(pilot)
        assert app.transcript.view is View.window
        await pilot.press("v")
        await settle(pilot)
        assert app.transcript.view is View.perpetual
        assert shown_uuids(app) == [m.uuid for m in server.perpetual.messages]
        await pilot.press("slash")
        await settle(pilot)
        assert isinstance(app.screen, SearchScreen)
        app.screen.query_one(Input).value = "refund"
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, SearchScreen)
        hit = app.screen.hits[0]
        await pilot.press("enter")
        await settle(pilot)
        selected = app.transcript.selected_item
        assert isinstance(selected, Message)
        assert selected.uuid == hit.message_uuid


async def test_a_named_remote_whose_key_is_refused_then_set_right(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZEPTUI_API_KEY")
    add_remote("served", server.url, api_key=WRONG_KEY)
    app = on_server("served")
    async with app.run_test(notifications=True) as pilot:
        await settle(pilot)
        refused = f"{server.url} refused the API key (401 unauthorized)"
        assert refused in notices(app)
        assert refused in str(app.sessions.query_one("#sessions-status", Static).render())
        assert app.sub_title == f"served ({server.url}) · server"
        remove_remote("served")  # the key is set right meanwhile: r reads it again
        monkeypatch.setenv("SERVED_KEY", API_KEY)
        add_remote("served", server.url, api_key_env="SERVED_KEY")
        await pilot.press("r")
        await settle(pilot)
        assert len(session_ids(app)) == 2
        assert app.sub_title.startswith(f"served ({server.url}) · zeptui API v2 · 2 sessions")
        shown = app.export_screenshot()
        assert WRONG_KEY not in shown and API_KEY not in shown


async def test_the_server_going_away_is_a_notification_not_a_crash(sample_copy: Path) -> None:
    with ExitStack() as outer:
        stack = outer.enter_context(ExitStack())
        url = serve_store(stack, sample_copy)
        app = on_server(url)
        async with app.run_test(notifications=True) as pilot:
            await settle(pilot)
            assert len(session_ids(app)) == 2
            stack.close()  # the server stops
            app.clear_notifications()
            await pilot.press("r")
            await settle(pilot)
            assert f"cannot reach {url} (connection refused)" in notices(app)
            await pilot.press("j")  # the app keeps answering
            await pilot.press("tab", "v")
            await settle(pilot)
            assert "Cannot read this session" in screen_text(app)
            assert app.is_running


async def test_a_failing_server_recovers_on_reload(server: Server) -> None:
    with proxying(server.url) as proxy:
        proxy.faults.append(Fault("status", times=1000, status=503))
        app = on_server(proxy.url)
        async with app.run_test(notifications=True) as pilot:
            await settle(pilot)
            assert "Cannot read the store" in notices(app)
            proxy.faults.clear()  # the server is back
            await pilot.press("r")
            await settle(pilot)
            assert session_ids(app) == server.sessions


async def test_a_plain_zep_server_hides_what_it_cannot_do(server: Server) -> None:
    with proxying(server.url) as proxy:
        proxy.hide_zeptui = True
        app = on_server(proxy.url)
        async with app.run_test(notifications=True) as pilot:
            await settle(pilot)
            assert sorted(session_ids(app)) == sorted(server.sessions)
            # No counts (Zep keeps none): what the server is, and its API (0.x: v1).
            assert app.sub_title == f"{proxy.url} · Zep API v1"
            await pilot.press("slash")
            await settle(pilot)
            assert isinstance(app.screen, SearchScreen)
            app.screen.query_one(Input).value = "refund"
            await pilot.press("enter")  # every session: Zep searches one at a time
            await settle(pilot)
            status = app.screen.query_one("#search-status", Static)
            assert "searches one session at a time" in str(status.render())
            await pilot.press("ctrl+t")  # this session: Zep's own search
            await settle(pilot)
            assert app.screen.hits
            await pilot.press("escape", "f", "x")  # Zep narrows sessions by user only
            await settle(pilot)
            status = app.sessions.query_one("#sessions-status", Static)
            assert "can be narrowed by user only" in str(status.render())
            assert "Not offered by this store" in notices(app)


async def test_a_file_that_zeptui_serve_holds_is_read_through_the_server(
    sample_copy: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ZEPTUI_API_KEY")  # the discovery file's token stands in for it
    path = sample_copy
    with ExitStack() as stack:
        store = stack.enter_context(DuckDBStore(path, background_summaries=False))
        options = ServerOptions(api_key=API_KEY, local_token=LOCAL_TOKEN)
        url = stack.enter_context(serving(create_app(store, options)))
        write_discovery(path, Discovery(url, os.getpid(), LOCAL_TOKEN, str(path)))
        stack.callback(remove_discovery, path)
        app = ZeptuiApp(store_access(StoreTarget.file(path)))
        async with app.run_test() as pilot:
            await settle(pilot)
            assert len(session_ids(app)) == 2
            assert app.sub_title.startswith(f"{path} via {url} · zeptui API v2 · 2 sessions")


def test_workers_share_one_store_opened_once(server: Server) -> None:
    """Many worker threads at once: one RemoteStore (one connection pool), opened by
    the first, every call answered."""
    opened: list[MemoryStore] = []

    def opener() -> MemoryStore:
        store = connect(StoreTarget.remote(server.url), load())
        opened.append(store)
        return store

    shared = SharedStore(opener, server.url)

    def listed(_: int) -> list[str]:
        return shared.read(lambda store: sorted(s.session_id for s in store.list_sessions()))

    try:
        with ThreadPoolExecutor(8) as pool:
            answers = list(pool.map(listed, range(32)))
    finally:
        shared.close()
    assert len(opened) == 1
    assert answers == [sorted(server.sessions)] * 32


SnapCompare = Callable[..., bool]


def test_snapshot_on_a_server(snap_compare: SnapCompare, server: Server) -> None:
    async def loaded(pilot: Pilot[None]) -> None:
        await settle_screen(pilot)

    app = on_server(server.url, location="http://127.0.0.1:8000")
    assert snap_compare(app, terminal_size=(80, 24), run_before=loaded)
