"""Looking after the store and zeptui: purge what was deleted, counts, settings."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from zeptui import config
from zeptui.cli.core import State, ZeptuiSubGroup, ask, command, maintenance, pass_state
from zeptui.cli.errors import UserError
from zeptui.cli.output import json_option, respond
from zeptui.cli.sessions import purge_counts

if TYPE_CHECKING:
    from rich.console import Console

    from storage.models import PurgeResult


@command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask first (for scripts).")
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@json_option("Print the counts as JSON.")
@pass_state
def purge(state: State, yes: bool, dry_run: bool, as_json: bool) -> None:
    """Remove everything deleted, in every session, for good.

    Says how many sessions, messages and summaries that is and asks first (--yes
    skips the question; without a terminal to ask on, --yes is needed).
    """

    with state.write() as store:  # counted, then the file is let go while we ask
        planned = maintenance(store).purge(dry_run=True)
    done: PurgeResult | None = None
    if planned.total and not dry_run:
        if not yes:
            question = f"Remove {purge_counts(planned)} for good?"
            if not sys.stdin.isatty():
                raise UserError(f"{question[:-1]}: pass --yes to confirm (no terminal to ask on)")
            if not ask(question):
                raise UserError("not confirmed; nothing was removed")
        with state.write() as store:
            done = maintenance(store).purge()
    result = done or planned

    def human(console: Console) -> None:
        if not planned.total:
            line = "Nothing to purge: no deleted users, sessions, messages or summaries."
        elif done is None:
            line = f"Would remove {purge_counts(planned)} for good (dry run)."
        else:
            line = f"Removed {purge_counts(done)} for good."
        console.print(line)

    respond(as_json, {**result.model_dump(), "dry_run": dry_run}, human)


@command()
@json_option("Print the counts as JSON.")
@pass_state
def stats(state: State, as_json: bool) -> None:
    """Counts of users, sessions, messages and summaries."""
    path = state.local_path()
    with state.read() as store:
        counts = maintenance(store).stats()
        location = store.location

    def human(console: Console) -> None:
        from zeptui import render

        size = path.stat().st_size if path is not None and path.exists() else None
        render.print_stats(console, counts, location, size)

    respond(as_json, counts, human)


@click.group("config", cls=ZeptuiSubGroup, invoke_without_command=True)
@json_option("Print the settings, their values and sources as JSON.")
@pass_state
@click.pass_context
def config_command(ctx: click.Context, state: State, as_json: bool) -> None:
    """Show the effective settings and where each comes from (without a command).

    Each setting is a flag, else an environment variable, else the config file, else
    its default; secrets are masked.
    """
    if ctx.invoked_subcommand is not None:
        return
    from zeptui.settings import rows

    settings = state.settings()
    shown = rows(settings)
    data = {
        "config_file": str(settings.config_file),
        "config_file_exists": settings.config_file.exists(),
        "settings": {
            row.name: {"value": row.value, "source": row.source.kind, "from": row.source.where}
            for row in shown
        },
    }

    def human(console: Console) -> None:
        from rich.text import Text

        from zeptui import render

        width = max(len(row.name) for row in shown)
        for row in shown:  # never cut: a path or URL stays whole on its line
            line = Text(row.name.ljust(width + 2))
            line.append_text(render.data("(not set)" if row.value is None else row.value))
            line.append("  from ", style="dim").append_text(render.data(row.source, "dim"))
            console.print(line, soft_wrap=True)
        found = "" if data["config_file_exists"] else " (none yet)"
        note = Text("Config file: ", style="dim").append_text(render.data(settings.config_file))
        console.print(note.append(found, style="dim"), soft_wrap=True)

    respond(as_json, data, human)


@config_command.command("path")
def config_path() -> None:
    """Print where the config file is (it may not exist yet)."""
    click.echo(config.config_file())
