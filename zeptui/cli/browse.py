"""`zeptui` / `zeptui open`: the app on a terminal, the latest sessions into a pipe."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from zeptui import __version__, config
from zeptui.cli.args import SESSIONS_PAGE
from zeptui.cli.core import State, ask, command, no_database, open_store, pass_state

if TYPE_CHECKING:
    from zeptui.compose import StoreTarget


@command("open")
@pass_state
def open_command(state: State) -> None:
    """Open the app on the database (the default command)."""
    open_app(state)


def open_app(state: State, db_path: Path | None = None) -> None:
    """Open zeptui on `db_path` (default: the database the options and settings name),
    or on the server `--remote URL|NAME` names.

    On a terminal this opens the app (offering to create a missing database first);
    when output is piped it prints the most recently active sessions instead. The
    path is resolved without pydantic (`zeptui.config`): the app paints first.
    """
    from zeptui.compose import StoreTarget

    on_terminal = sys.stdin.isatty() and sys.stdout.isatty()
    if state.remote is not None:
        target = state.target()
        if on_terminal:
            from zeptui.app.app import run

            run(target, state.settings)
            return
        _print_latest(state, target, more=f"zeptui sessions --remote {shlex.quote(state.remote)}")
        return
    if db_path is None:
        db_path = state.resolved = config.resolve_db_path(state.db)
    target = StoreTarget.file(db_path)
    if not db_path.exists():
        if not on_terminal:
            raise no_database(db_path)
        from zeptui.text import sanitize

        if not ask(f"No database at {sanitize(str(db_path))}. Create it?"):
            raise click.exceptions.Exit(1)
        with open_store(target, state.settings()):
            pass
    if on_terminal:
        from zeptui.app.first_page import begin

        begin(db_path)  # the first page is read from the file while the app is imported
        from zeptui.app.app import run

        run(target, state.settings)
        return
    where = "" if db_path == config.resolve_db_path() else f" --db {shlex.quote(str(db_path))}"
    _print_latest(state, target, more=f"zeptui sessions{where}")


def _print_latest(state: State, target: StoreTarget, more: str) -> None:
    """The most recently active sessions, for a pipe; `more` is the command that lists
    them, to which the next page's number is added."""
    from rich.text import Text

    from storage.capabilities import SessionPages, require
    from storage.models import SessionOrder, SessionQuery
    from zeptui import render

    with open_store(target, state.settings(), read_only=True) as store:
        page = require(store, SessionPages, "list sessions with their counts").session_page(
            SessionQuery(limit=SESSIONS_PAGE, order_by=SessionOrder.activity, descending=True)
        )
    console = render.make_console()
    header = Text(f"zeptui {__version__}  ", style="bold")
    header.append_text(render.data(target.location, "dim"))
    console.print(header, soft_wrap=True)
    next_page = f"{more} --page 2" if page.next_cursor is not None else None
    render.print_sessions(console, page, 1, next_page)
    console.print(
        Text("Try: zeptui show SESSION_ID, zeptui search TEXT, zeptui --help", style="dim")
    )
