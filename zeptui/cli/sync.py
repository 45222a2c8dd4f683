"""`zeptui sync pull|push --remote URL`: the local file and a server's store made to hold
the same (zeptui/services/sync.py does it; the rules are docs/sync.md)."""

from __future__ import annotations

import sys
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import click

from zeptui.cli.core import State, ZeptuiSubGroup, pass_state
from zeptui.cli.errors import UserError
from zeptui.cli.output import json_option, respond

if TYPE_CHECKING:
    from rich.console import Console

    from zeptui.services.sync import SyncProgress, SyncReport
    from zeptui.services.sync_rules import Direction


@click.group(cls=ZeptuiSubGroup)
def sync() -> None:
    """Copy memory between the database file and a server (--remote URL).

    pull copies the server's users, sessions, messages and summaries into the file,
    push the file's into the server. Messages are matched by uuid: a second run
    copies nothing, and an interrupted one is finished by the next. What was deleted
    on one side is not brought back, and what changed on both sides is not
    overwritten: the report lists each such conflict (docs/sync.md).
    """


def _sync_options(command: Callable[..., None]) -> Callable[..., None]:
    options = [
        click.option(
            "--session",
            "session_ids",
            multiple=True,
            metavar="S",
            help="Only this session (repeatable).",
        ),
        click.option("--user", "user_id", metavar="U", help="Only user U's sessions."),
        click.option(
            "--since",
            metavar="DATE",
            help="Only sessions created, changed or with messages since DATE (YYYY-MM-DD).",
        ),
        click.option("--dry-run", is_flag=True, help="Show what would be copied; write nothing."),
        json_option("Print the report as JSON."),
    ]
    for option in reversed(options):
        command = option(command)
    return command


def _sync_command(direction: Direction, summary: str) -> None:
    @sync.command(direction, help=summary)
    @_sync_options
    @pass_state
    def command(state: State, /, **options: Any) -> None:
        _run(state, direction, **options)


_sync_command("pull", "Copy the server's memory into the database file (created if missing).")
_sync_command("push", "Copy the database file's memory into the server.")

for _command in (sync, *sync.commands.values()):
    for _param in _command.params:
        if isinstance(_param, click.Option) and "--remote" in _param.opts:
            # Here the server is the other side, not a store instead of the file.
            _param.help = (
                "The server to sync with (zeptui serve, or Zep); its key from "
                "$ZEPTUI_API_KEY or the config file's remote.api_key."
            )


def _run(
    state: State,
    direction: Direction,
    session_ids: tuple[str, ...],
    user_id: str | None,
    since: str | None,
    dry_run: bool,
    as_json: bool,
) -> None:
    from zeptui.compose import StoreTarget
    from zeptui.services.sync import SyncScope, run_sync

    if state.remote is None:
        raise UserError(f"sync {direction} needs the server: --remote URL")
    settings = state.settings()
    local = state.file_path(create=direction == "pull", settings=settings)
    scope = SyncScope(session_ids=session_ids, user_id=user_id, since=_date(since))
    with _progress() as progress:
        report = run_sync(
            direction,
            local,
            StoreTarget.remote(state.remote),
            settings,
            scope=scope,
            dry_run=dry_run,
            progress=progress,
        )

    def human(console: Console) -> None:
        _print_report(console, report)

    respond(as_json, report, human)


def _date(text: str | None) -> datetime | None:
    if text is None:
        return None
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(f"--since {text!r} is not a date (use YYYY-MM-DD)") from None
    return when if when.tzinfo is not None else when.replace(tzinfo=UTC)


def _progress() -> AbstractContextManager[SyncProgress | None]:
    """The progress bar on a terminal; nothing into a pipe or file."""
    if not sys.stderr.isatty():
        return nullcontext()
    from zeptui.cli.progress import SyncBar

    return SyncBar()


def _print_report(console: Console, report: SyncReport) -> None:
    from rich.text import Text

    from zeptui import render

    arrow = f"{render.sanitize(report.source)} -> {render.sanitize(report.target)}"
    verb = "would copy" if report.dry_run else "copied"
    console.print(Text(f"sync {report.direction}: {arrow}", style="bold"), soft_wrap=True)
    counts = (
        f"{verb}: {report.messages_copied:,} messages, {report.summaries_copied:,} "
        f"summaries, {report.users_created:,} users",
        f"sessions: {report.sessions_created:,} created, {report.sessions_updated:,} "
        f"updated, {report.sessions_deleted:,} deleted, {report.sessions_unchanged:,} unchanged",
        f"messages: {report.messages_deleted:,} deleted, {report.messages_updated:,} with "
        f"newer metadata; users: {report.users_updated:,} updated, {report.users_deleted:,} "
        "deleted",
    )
    for text in counts:
        console.print(text, markup=False, highlight=False)
    if report.messages_kept_deleted:
        console.print(
            f"{report.messages_kept_deleted:,} messages deleted on the target stay deleted",
            markup=False,
        )
    for conflict in report.conflicts:
        line = Text(f"conflict ({conflict.rule}): ", style="yellow")
        line.append(render.sanitize(f"{conflict.subject}: {conflict.detail}"))
        console.print(line, soft_wrap=True)
    for what in report.not_carried:
        console.print(Text(f"not carried: {what}", style="dim"), soft_wrap=True)
    if report.dry_run:
        console.print(Text("Dry run: nothing was written.", style="yellow"))
    else:
        console.print(f"done in {report.seconds:.1f} s", markup=False, highlight=False)
