"""`zeptui serve`: Zep's REST API on the database, for Zep's SDKs and LangChain.

The command binds its port before it opens the store (so a port in use, a refused
host or a missing key change nothing), holds the store read-write while it serves
(summaries are made in the background, as Zep makes them), and on Ctrl-C or SIGTERM
lets the requests in flight finish, writes the summaries still due and closes the
file; a second Ctrl-C exits at once. The web stack loads only when it runs.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from typing import TYPE_CHECKING

import click

from zeptui.cli.core import State, command, pass_state
from zeptui.cli.errors import UserError, stop_at_once

if TYPE_CHECKING:
    from pathlib import Path

    from zeptui.server.run import Listening
    from zeptui.settings import Settings

LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


@command("serve")
@click.option("--host", metavar="ADDRESS", help="Where to listen. Default: 127.0.0.1.")
@click.option("--port", type=int, metavar="N", help="The port (0: any free one). Default: 8000.")
@click.option(
    "--max-body", metavar="SIZE", help="The largest request body (10MB, 512KiB). Default: 10MiB."
)
@click.option(
    "--api-key-env",
    metavar="VAR",
    help="Require the API key held in this environment variable (needed beyond 127.0.0.1).",
)
@click.option(
    "--log-level",
    type=click.Choice(LOG_LEVELS, case_sensitive=False),
    help="How much the server logs on stderr (debug adds each request). Default: info.",
)
@pass_state
def serve(
    state: State,
    host: str | None,
    port: int | None,
    max_body: str | None,
    api_key_env: str | None,
    log_level: str | None,
) -> None:
    """Serve the database as Zep's REST API (zep-python, LangChain) until Ctrl-C.

    Each option can also be set in the config file ([server]) or a ZEPTUI_SERVER_*
    variable (see zeptui config). The database is created if missing.
    """
    if state.remote is not None:
        raise UserError("zeptui serve serves a database file; --remote does not apply")
    from zeptui.compose import build_language_model
    from zeptui.server import ServerOptions
    from zeptui.server.run import ServeError, listen
    from zeptui.server.run import serve as run_server

    settings = state.settings(
        **{
            "server.host": host,
            "server.port": port,
            "server.max_body": max_body,
            "server.api_key_env": api_key_env,
            "server.log_level": log_level,
        }
    )
    server = settings.server
    options = ServerOptions(
        api_key=_api_key(settings),
        max_body=server.max_body,
        language_model=build_language_model(settings.summarizer.llm),
    )
    try:
        listener = listen(server.host, server.port, options.api_key)
    except ServeError as error:
        raise UserError(str(error)) from None
    with (
        contextlib.closing(listener),
        state.write(
            create=True,
            summaries=True,
            background_summaries=True,
            settings=settings,
            through_server=False,  # a file another server holds is refused, not proxied
        ) as store,
    ):
        path = state.resolved
        run_server(
            store,
            host=server.host,
            port=server.port,
            options=options,
            store_path=path,
            log_level=server.log_level,
            on_start=lambda listening: _banner(listening, path, settings),
            on_warm_up=lambda: click.echo(
                "zeptui serve: reading the recent sessions into memory first…"
            ),
            interrupted_again=stop_at_once,
            listener=listener,
        )
        _stop_at_once_on_signals()
        click.echo("Stopped; writing the summaries still due and closing the database.")
    click.echo("Closed.")


def _api_key(settings: Settings) -> str | None:
    """The key from the variable `server.api_key_env` names; a name without a value
    is an error (a server meant to need a key must not start open)."""
    variable = settings.server.api_key_env
    if variable is None:
        return None
    key = os.environ.get(variable, "").strip()
    if not key:
        where = settings.source("server.api_key_env")
        raise UserError(
            f"{where} names ${variable} for the API key, but ${variable} is not set; "
            "export the key in it, or leave the key out to serve 127.0.0.1 only"
        )
    return key


def _banner(listening: Listening, path: Path | None, settings: Settings) -> None:
    """What the server is, where, and how to reach it (stdout, flushed at once)."""
    from zeptui.settings import shown_value
    from zeptui.text import sanitize

    if listening.key_required:
        key = f"required (the value of ${settings.server.api_key_env})"
    else:
        key = "not required (only this machine can connect)"
    llm = settings.summarizer.llm
    if llm.base_url is None or llm.model is None:
        language = "none: classify and synthesize_question answer 501"
    else:
        language = f"{llm.model} at {shown_value('summarizer.llm.base_url', llm.base_url)}"
    lines = [
        f"zeptui serve: listening on {listening.url}",
        f"  database        {sanitize(str(path))}",
        f"  API key         {key}",
        f"  docs            {listening.docs_url}",
        f"  language model  {sanitize(language)}",
        "Ctrl-C stops (requests in flight and due summaries are finished first).",
    ]
    click.echo("\n".join(lines))


def _stop_at_once_on_signals() -> None:
    """From here on (writing the summaries still due), Ctrl-C or SIGTERM exits at once."""
    if threading.current_thread() is not threading.main_thread():
        return

    def handler(_signum: int, _frame: object) -> None:
        stop_at_once()

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, handler)
