"""The `zeptui` command line.

A bare `zeptui` opens the app on the resolved database; subcommands sit beside it,
one module per group of commands (`browse`, `memory`, `sessions`, `users`,
`transfer`, `maintenance`, `serve`, `remote`, `sync`). A command parses its options,
calls a service or the store, and prints through `output.respond`: human-readable
(Rich) by default, exactly Zep's JSON shapes with `--json`. A user error prints one
`zeptui: error: ...` line on stderr and exits 1 (`errors`).

Cold start matters: only click, click-default-group and platformdirs load at import;
the store (DuckDB, tiktoken, pydantic) and Rich are imported inside the commands.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence
from typing import NoReturn

import click

from zeptui import __version__
from zeptui.cli.browse import open_app, open_command
from zeptui.cli.core import State, ZeptuiGroup
from zeptui.cli.errors import Interrupted, WarningLines, stop_at_once
from zeptui.cli.maintenance import config_command, purge, stats
from zeptui.cli.memory import add, messages, search, show, summarize
from zeptui.cli.remote import remote
from zeptui.cli.serve import serve
from zeptui.cli.sessions import delete, sessions
from zeptui.cli.sync import sync
from zeptui.cli.transfer import demo, export, import_command
from zeptui.cli.users import users

__all__ = ["cli", "main", "run"]


@click.group(
    cls=ZeptuiGroup,
    default="open",
    default_if_no_args=True,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.version_option(__version__, "-V", "--version", prog_name="zeptui")
@click.pass_context
def cli(ctx: click.Context) -> None:
    """Explore Zep-style chat memory (users, sessions, messages, summaries) offline.

    Run with no command to open the app on the database. Every command takes --db
    (before or after its name).
    """
    store_log = logging.getLogger("storage")
    if not store_log.handlers:  # failed summaries are reported as warnings, once
        store_log.addHandler(logging.NullHandler())
    # Rows a read could not show as stored: said once each, per command.
    read_log = logging.getLogger("storage.reads")
    for handler in [h for h in read_log.handlers if isinstance(h, WarningLines)]:
        read_log.removeHandler(handler)
    read_log.addHandler(WarningLines())
    read_log.propagate = False
    if ctx.invoked_subcommand is None:
        open_app(ctx.ensure_object(State))


for _command in (
    open_command,
    add,
    sessions,
    show,
    messages,
    search,
    import_command,
    export,
    delete,
    purge,
    summarize,
    stats,
    demo,
    users,
    config_command,
    serve,
    remote,
    sync,
):
    cli.add_command(_command)


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: `zeptui`."""
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, _first_interrupt)
    try:
        # A closed pipe (`zeptui export | head`) is handled by click: no traceback.
        cli.main(args=list(argv) if argv is not None else None, prog_name="zeptui")
    except SystemExit as stop:
        if stop.code != Interrupted.exit_code:
            raise
        # A background summary may still be inside DuckDB: leave without finalising the
        # interpreter under it (which aborts the process), as kill -9 would; the store's
        # journal makes that safe, and the interrupted write was rolled back already.
        _leave(Interrupted.exit_code)


def run() -> NoReturn:
    """The `zeptui` command (and `python -m zeptui`): `main`, then out of the process
    without the interpreter's teardown once the output is flushed. The store is closed
    by then; the teardown only frees memory the system takes back anyway, and runs
    garbage collections over every object left (0.2-0.4 s after a big import, which
    the user would wait for). `main` itself returns (or raises SystemExit) as usual:
    tests call it in process."""
    try:
        main()
        code = 0
    except SystemExit as stop:
        code = _exit_code(stop.code)
    logging.shutdown()
    _leave(code)


def _leave(code: int) -> NoReturn:
    """Flush the output and end the process now, without the interpreter's teardown."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):  # a closed pipe: nothing to lose
            stream.flush()
    os._exit(code)


def _exit_code(code: object) -> int:
    """A SystemExit's code as the process's (a message is printed, as Python does)."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    with contextlib.suppress(OSError, ValueError):
        print(code, file=sys.stderr)
    return 1


def _first_interrupt(_signum: int, _frame: object) -> None:
    """Ctrl-C: stop what runs (the write rolls back and the store closes, see
    `Interrupted`); a second Ctrl-C while that cleanup runs stops at once."""
    signal.signal(signal.SIGINT, _second_interrupt)
    raise KeyboardInterrupt


def _second_interrupt(_signum: int, _frame: object) -> None:
    # Nothing is imported here: the first Ctrl-C may have stopped an import half-way.
    stop_at_once()
