"""Looking after the store: purge what was deleted, and counts."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

import click

from zeptui.cli.core import State, ask, command, maintenance, pass_state
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
            line = "Nothing to purge: no deleted sessions, messages or summaries."
        elif done is None:
            line = f"Would remove {purge_counts(planned)} for good (dry run)."
        else:
            line = f"Removed {purge_counts(done)} for good."
        console.print(line)

    respond(
        as_json, {**result.model_dump(), "dry_run": done is None and bool(planned.total)}, human
    )


@command()
@json_option("Print the counts as JSON.")
@pass_state
def stats(state: State, as_json: bool) -> None:
    """Counts of users, sessions, messages and summaries."""
    path = state.db_path()
    with state.read() as store:
        counts = maintenance(store).stats()
        location = store.location

    def human(console: Console) -> None:
        from zeptui import render

        size = path.stat().st_size if path.exists() else None
        render.print_stats(console, counts, location, size)

    respond(as_json, counts, human)
