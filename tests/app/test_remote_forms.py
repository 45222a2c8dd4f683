"""The app's writing flows over `--remote`: a real `zeptui serve` app under uvicorn on
127.0.0.1 (one for the module), each flow driven through the app, then the served
store checked directly. What the server cannot do is hidden or says why."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from textual.widgets import Input, Select, TextArea
from textual.widgets._footer import FooterKey

from storage.duckdb import DuckDBStore
from storage.errors import NotFoundError
from storage.models import RoleType
from tests.app.conftest import notices, quiet, screen_text, session_ids, settle
from tests.app.test_remote_app import on_server
from tests.app.test_transfer import SHAREGPT, SHAREGPT_SESSIONS, export_with, import_now, preview
from tests.remote.proxy import proxying
from tests.server.conftest import API_KEY
from tests.server.harness import serving
from zeptui.app.commands import ZeptuiCommands
from zeptui.app.manage_requests import Kind
from zeptui.app.screens.composer import ComposerScreen
from zeptui.app.screens.delete import DeleteScreen
from zeptui.app.screens.metadata_editor import MetadataEditorScreen
from zeptui.app.screens.new_session import NEW_USER, NewSessionScreen
from zeptui.app.screens.summarize import SummarizeScreen
from zeptui.app.widgets.json_editor import JsonEditor
from zeptui.config import sample_files
from zeptui.server import ServerOptions, create_app

SUPPORT = "support-NW-58213"  # priya.raman's, 37 messages, summarised
BUTLER = "octavia-butler"  # jane's, 12 messages


@dataclass
class Served:
    url: str
    store: DuckDBStore
    """The store the server holds: what the flows wrote, read directly."""


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory, sample_template: Path) -> Iterator[Served]:
    """One server for the module, on a copy of the app tests' samples: each test
    writes sessions of its own."""
    path = tmp_path_factory.mktemp("served") / "served.duckdb"
    shutil.copyfile(sample_template, path)
    with ExitStack() as stack:
        store = stack.enter_context(DuckDBStore(path, background_summaries=False))
        url = stack.enter_context(serving(create_app(store, ServerOptions(api_key=API_KEY))))
        yield Served(url, store)


@pytest.fixture(autouse=True)
def api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ZEPTUI_API_KEY", API_KEY)


async def test_new_session_append_metadata_import_and_export_on_the_server(
    served: Served, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "work"
    work.mkdir()
    shutil.copy(next(p for p in sample_files() if p.name == SHAREGPT), work / "coding.json")
    monkeypatch.chdir(work)
    out = tmp_path / "session.json"
    app = on_server(served.url)
    async with app.run_test(notifications=True) as pilot:
        await quiet(pilot)
        await pilot.press("n")
        await quiet(pilot)
        assert isinstance(app.screen, NewSessionScreen)
        app.screen.query_one("#session-id", Input).value = "remote-1"
        app.screen.query_one("#user", Select).value = NEW_USER
        await quiet(pilot)
        for name, value in (("user-id", "rina"), ("email", "rina@x.org"), ("first-name", "Rina")):
            app.screen.query_one(f"#{name}", Input).value = value
        app.screen.query_one(JsonEditor).text = '{"topic": {"a": 1}}'
        await pilot.press("ctrl+s")
        await quiet(pilot)
        assert not isinstance(app.screen, NewSessionScreen), notices(app)
        assert app.transcript.info is not None
        assert app.transcript.info.session.session_id == "remote-1"
        # a: no message yet, so the speaker is the session user's first name.
        await pilot.press("a")
        await quiet(pilot)
        assert isinstance(app.screen, ComposerScreen)
        assert app.screen.query_one("#role", Input).value == "Rina"
        app.screen.query_one("#content", TextArea).insert("Hello over HTTP")
        app.screen.query_one(JsonEditor).text = '{"via": "tui"}'
        await pilot.press("ctrl+s")
        await quiet(pilot)
        assert not isinstance(app.screen, ComposerScreen)
        assert app.transcript.info.message_count == 1
        # e: the session's metadata (from the list), merged.
        app.focus_pane(app.sessions)
        await pilot.press("e")
        await quiet(pilot)
        assert isinstance(app.screen, MetadataEditorScreen)
        app.screen.query_one(JsonEditor).text = '{"topic": {"b": 2}}'
        await quiet(pilot)
        await pilot.press("ctrl+s")
        await quiet(pilot)
        assert not isinstance(app.screen, MetadataEditorScreen), notices(app)
        # i: a file imported into the server; x: the open session exported from it.
        screen = await preview(pilot, "coding.json")
        screen.query_one("#prefix", Input).value = "r-"
        result = await import_now(pilot, screen)
        assert "3 sessions created" in result, result
        await pilot.press("escape")
        await quiet(pilot)
        assert await export_with(pilot, "session", out) == ""
    store = served.store
    session = store.get_session("remote-1")
    assert session.user_id == "rina"
    assert session.metadata == {"topic": {"a": 1, "b": 2}}
    user = store.get_user("rina")
    assert (user.email, user.first_name) == ("rina@x.org", "Rina")
    [message] = store.list_messages("remote-1").messages
    assert (message.role, message.role_type, message.content) == (
        "Rina",
        RoleType.user,
        "Hello over HTTP",
    )
    assert message.metadata == {"via": "tui"} and message.token_count > 0
    for name, count in SHAREGPT_SESSIONS.items():
        assert store.list_messages(f"r-{name}").total_count == count
    [exported] = json.loads(out.read_text())
    assert exported["session_id"] == "remote-1"
    assert [m["uuid"] for m in exported["messages"]] == [message.uuid]


async def test_delete_undo_restore_and_summarise_on_the_server(served: Served) -> None:
    store = served.store
    app = on_server(served.url)
    async with app.run_test(notifications=True) as pilot:
        await quiet(pilot)
        app.open_session(BUTLER)
        await quiet(pilot)
        await pilot.press("shift+tab", "d")  # from the list: the session
        await quiet(pilot)
        assert isinstance(app.screen, DeleteScreen), notices(app)
        assert app.screen.chosen.target.kind is Kind.session
        await pilot.press("enter")
        await quiet(pilot)
        with pytest.raises(NotFoundError):
            store.get_session(BUTLER)
        assert app.transcript.info is not None and app.transcript.info.session.session_id != BUTLER
        await pilot.press("ctrl+z")
        await quiet(pilot)
        assert store.get_session(BUTLER).session_id == BUTLER
        assert app.transcript.info.session.session_id == BUTLER  # back, and selected
        assert store.list_messages(BUTLER).total_count == 12
        # Deleted again; then restored from the deleted sessions.
        app.open_session(BUTLER)
        await quiet(pilot)
        await pilot.press("shift+tab", "d")
        await quiet(pilot)
        await pilot.press("enter")
        await quiet(pilot)
        assert BUTLER not in session_ids(app)
        await pilot.press("D")
        await quiet(pilot)
        assert session_ids(app) == [BUTLER]
        await pilot.press("R")
        await quiet(pilot)
        assert session_ids(app) == []
        assert store.list_messages(BUTLER).total_count == 12
        await pilot.press("D")
        await quiet(pilot)
        # S: summarise from scratch, on the server.
        app.open_session(SUPPORT)
        await quiet(pilot)
        before = {info.summary.uuid for info in store.list_summaries(SUPPORT)}
        await pilot.press("S")
        await settle(pilot)
        assert isinstance(app.screen, SummarizeScreen), notices(app)
        await pilot.press("down", "enter")
        await quiet(pilot)
        assert "Made " in notices(app)
    after = {info.summary.uuid for info in store.list_summaries(SUPPORT)}
    assert after and after.isdisjoint(before)


async def test_a_plain_zep_server_hides_or_explains_what_it_cannot_do(served: Served) -> None:
    """Zep has no endpoint to import whole sessions, restore, summarise on demand, page
    users or delete one message: those keys are off and out of the footer and palette,
    and the delete dialog says why the selected message is not offered. What Zep can
    do (append here) writes through its own API."""
    with proxying(served.url) as proxy:
        proxy.hide_zeptui = True
        app = on_server(proxy.url)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await quiet(pilot)
            app.open_session(BUTLER)
            await quiet(pilot)
            shown = [f"{key.key_display} {key.description}" for key in app.query(FooterKey)]
            assert "x Export" in shown and "i Import" not in shown
            commands = [name for name, _, _ in ZeptuiCommands(app.screen)._commands()]
            assert "Export" in commands
            assert not {"Import", "Undo the last delete", "Summarise now", "Users"} & set(commands)
            await pilot.press("i", "S", "U", "D")
            await quiet(pilot)
            assert app.screen is app.screen_stack[0] and not app.sessions.show_deleted
            await pilot.press("d")  # from the transcript, its newest message selected
            await quiet(pilot)
            assert isinstance(app.screen, DeleteScreen)
            assert [choice.target.kind for choice in app.screen.choices] == [
                Kind.session,
                Kind.user,
            ]
            said = " ".join(screen_text(app).split())
            assert f"{proxy.url} deletes whole sessions: not one message." in said
            assert "This store cannot restore it" in said
            await pilot.press("escape", "a")
            await quiet(pilot)
            assert isinstance(app.screen, ComposerScreen)
            app.screen.query_one("#content", TextArea).insert("Through Zep's API")
            await pilot.press("ctrl+s")
            await quiet(pilot)
            assert not isinstance(app.screen, ComposerScreen), notices(app)
    newest = served.store.list_messages(BUTLER, limit=1000).messages[-1]
    assert (newest.content, newest.role_type) == ("Through Zep's API", RoleType.user)
