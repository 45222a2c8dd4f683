"""How the CLI fails: one `zeptui: error: ...` line on stderr and an exit code.

Exit codes: 1 for a user error, 2 for a command line click cannot parse, 130 after
Ctrl-C. Expected failures raised deeper down (store, import, settings and service
errors, OS errors, DuckDB failing on an open file) become one line here; anything
else is a bug and keeps its traceback.
"""

from __future__ import annotations

import errno
import logging
import os
import sys
from pathlib import Path
from typing import IO, Any, NoReturn

import click

ERROR_PREFIX = "zeptui: error: "
WARNING_PREFIX = "zeptui: warning: "


def error_line(message: str, prefix: str = ERROR_PREFIX) -> str:
    """`zeptui: error: <message>` on one line, control characters made visible."""
    from zeptui.text import sanitize

    return prefix + sanitize(" ".join(str(message).split()))


def warn(message: str) -> None:
    """A `zeptui: warning: ...` line on stderr."""
    click.echo(error_line(message, WARNING_PREFIX), err=True)


class UserError(click.ClickException):
    """An error in the user's input or environment: one line on stderr, exit code 1."""

    exit_code = 1

    def show(self, file: IO[Any] | None = None) -> None:
        click.echo(error_line(self.message), err=True)


class UsageLine(UserError):
    """A command line click cannot parse, in one line (exit code 2, as click's own)."""

    exit_code = 2

    def __init__(self, error: click.UsageError) -> None:
        hint = f" (see '{' '.join(command_words(error.ctx))} --help')" if error.ctx else ""
        super().__init__(error.format_message().rstrip(".") + hint)


def command_words(ctx: click.Context) -> list[str]:
    """`zeptui` and the (sub)command names that lead to `ctx`'s command."""
    names: list[str] = []
    node: click.Context | None = ctx
    while node is not None and node.parent is not None:
        names.append(node.info_name or "")
        node = node.parent
    return ["zeptui", *reversed(names)]


class Interrupted(UserError):
    """Ctrl-C: what was being written is rolled back; exit code 130, as shells expect."""

    exit_code = 130

    def __init__(self) -> None:
        super().__init__("interrupted; nothing half-written was kept")


def stop_at_once() -> NoReturn:
    """A second Ctrl-C while the first one's cleanup runs: exit now, as kill -9 would,
    which the store survives (DuckDB replays its journal at the next open). Safe in a
    signal handler: it imports nothing and writes with one system call."""
    os.write(2, f"{ERROR_PREFIX}interrupted again; stopped at once\n".encode())
    os._exit(Interrupted.exit_code)


def user_message(exc: Exception, db_path: Path | None) -> str | None:
    """The one-line message for an expected failure, or None for a bug."""
    from storage.errors import StoreError
    from zeptui.config import SettingsError
    from zeptui.importers import ImportFileError
    from zeptui.services import ServiceError

    if isinstance(exc, StoreError | ImportFileError | ServiceError | SettingsError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno != errno.EPIPE:
        reason = exc.strerror or str(exc)
        return f"{exc.filename}: {reason}" if exc.filename else reason
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        from storage.models import validation_message

        return f"invalid {validation_message(exc)}"
    return database_message(exc, db_path)


def is_interruption(exc: BaseException) -> bool:
    """Ctrl-C, however it arrives: DuckDB turns it into an error of its own while a
    query runs."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    duckdb = sys.modules.get("duckdb")
    if duckdb is not None and isinstance(exc, duckdb.InterruptException):
        return True
    return isinstance(exc, RuntimeError) and str(exc) == "Query interrupted"


def database_message(exc: Exception, db_path: Path | None) -> str | None:
    """One line for DuckDB failing on the file once it is open: damaged, unwritable or
    out of space (the write is rolled back in each case). None for other DuckDB errors,
    which are bugs."""
    duckdb = sys.modules.get("duckdb")  # loaded by then, if the store was opened
    if duckdb is None or not isinstance(exc, duckdb.Error):
        return None
    detail = " ".join(str(exc).split())
    lowered = detail.lower()
    where = str(db_path) if db_path is not None else "the database"
    if "no space left" in lowered:
        return f"{where}: the disk is full, nothing was changed ({detail})"
    if "corrupt database" in lowered or "could not read enough bytes" in lowered:
        return f"{where} is damaged ({detail}); restore it from a backup"
    if isinstance(exc, duckdb.IOException | duckdb.TransactionException | duckdb.FatalException):
        return f"{where}: cannot write, nothing was changed ({detail})"
    return None


class WarningLines(logging.Handler):
    """Log records as `zeptui: warning: ...` lines on stderr, each text once."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text not in self.seen:
            self.seen.add(text)
            warn(text)
