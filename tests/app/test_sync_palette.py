"""Pull from a server through the command palette: the dialog asks for the server, a
bad address is a notification (the dialog stays), a real `zeptui serve` is pulled on
a worker, a summary notification follows and the session list shows what came."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input

from storage.duckdb import DuckDBStore
from storage.models import Message, RoleType
from tests.app.conftest import (
    SIZE,
    build_store,
    make_app,
    notices,
    screen_text,
    session_ids,
    settle,
)
from tests.server.conftest import ServeFactory, serve
from zeptui.app.screens.sync import SyncScreen

__all__ = ["serve"]  # the server tests' fixture

POLLS = 200


async def test_pull_from_remote_in_the_palette(serve: ServeFactory, tmp_path: Path) -> None:
    served = serve()
    served.store.add_memory(
        "from-the-server",
        [Message(role="Ana", role_type=RoleType.user, content="hello from afar")],
    )
    path = build_store(tmp_path / "local.duckdb", samples=("customer-support.json",))
    app = make_app(path)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await settle(pilot)
        await pilot.press("ctrl+p")
        await pilot.press(*"pull")
        for _ in range(POLLS):  # the palette searches in the background (bounded wait)
            await pilot.pause(0.05)
            if "Pull from remote" in screen_text(app):
                break
        await pilot.press("enter")
        await settle(pilot)
        dialog = app.screen
        assert isinstance(dialog, SyncScreen) and dialog.direction == "pull"
        entry = dialog.query_one(Input)
        entry.value = "not a server"
        await pilot.press("enter")
        await settle(pilot)
        assert "is not a server's URL" in notices(app)
        assert app.screen is dialog and not entry.disabled
        entry.value = served.url
        await pilot.press("enter")
        for _ in range(POLLS):  # the sync runs on a worker (bounded wait)
            await pilot.pause(0.05)
            if app.screen is not dialog:
                break
        await settle(pilot)
        assert "1 messages" in notices(app) and "Sync pull" in notices(app)
        assert "from-the-server" in session_ids(app)
    with DuckDBStore(path, read_only=True) as local:
        assert local.list_messages("from-the-server").messages[0].content == "hello from afar"
