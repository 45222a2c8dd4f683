"""Commands on sessions: list them (filtered, sorted, paged) and delete one."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from zeptui.cli.args import (
    SESSIONS_PAGE,
    limit_option,
    next_page_command,
    page_offset,
    page_option,
    parse_filters,
)
from zeptui.cli.core import State, command, maintenance, pass_state, require_user
from zeptui.cli.errors import UserError
from zeptui.cli.output import json_option, respond

if TYPE_CHECKING:
    from rich.console import Console

    from storage.models import PurgeResult

SESSION_SORTS = ("id", "created", "updated", "activity", "message_count")


@command()
@click.option("--user", "user_id", help="Only this user's sessions.")
@limit_option(SESSIONS_PAGE, "sessions")
@page_option
@click.option(
    "--sort",
    type=click.Choice(SESSION_SORTS),
    default="activity",
    show_default=True,
    help="activity: the latest message; updated: the session's own fields.",
)
@click.option(
    "--desc/--asc",
    "descending",
    default=None,
    help="Direction. Default: newest or largest first, ids ascending.",
)
@click.option(
    "--metadata",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Metadata filter; a dotted key reaches into objects. Repeatable.",
)
@click.option(
    "--filter",
    "filter_text",
    metavar="FILTER",
    help="The app's filter: words in the title, id or user; user:NAME; KEY=VALUE; "
    '>DATE and <DATE (created on or after, before); "quoted words" are literal.',
)
@json_option("Print a JSON array of Zep Sessions.")
@pass_state
@click.pass_context
def sessions(
    ctx: click.Context,
    state: State,
    user_id: str | None,
    limit: int,
    page: int,
    sort: str,
    descending: bool | None,
    filters: tuple[str, ...],
    filter_text: str | None,
    as_json: bool,
) -> None:
    """List sessions with their message and token counts, most recently active first."""
    from storage.capabilities import SessionPages, require
    from storage.models import SessionOrder, SessionQuery
    from zeptui.services.filters import parse_session_filter

    offset = page_offset(limit, page)
    fields = parse_session_filter(filter_text or "").query_fields()
    if user_id is not None and fields["user_id"] not in (None, user_id):
        raise UserError(f"--user {user_id} and --filter user:{fields['user_id']}: give one")
    fields["user_id"] = fields["user_id"] or user_id
    for key, value in parse_filters(filters, "--metadata").items():
        if fields["metadata"].setdefault(key, value) != value:
            given = fields["metadata"][key]
            raise UserError(f"--metadata {key}={value} and --filter {key}={given}: give one")
    query = SessionQuery(
        limit=limit,
        cursor=offset,
        order_by=SessionOrder(sort),
        descending=sort != "id" if descending is None else descending,
        **fields,
    )
    with state.read() as store:
        require_user(store, query.user_id)
        found = require(store, SessionPages, "list sessions with their counts").session_page(query)

    def human(console: Console) -> None:
        from zeptui import render

        more = next_page_command(ctx, page + 1) if found.next_cursor is not None else None
        render.print_sessions(console, found, offset + 1, more)

    respond(as_json, [info.session for info in found.sessions], human)


@command()
@click.argument("session_id")
@click.option(
    "--purge",
    is_flag=True,
    help="Then remove the session for good, with its messages and summaries.",
)
@json_option("Print what was done as JSON.")
@pass_state
def delete(state: State, session_id: str, purge: bool, as_json: bool) -> None:
    """Soft-delete a session with its messages and summaries."""
    with state.write() as store:
        store.delete_session(session_id)
        removed = maintenance(store).purge([session_id]) if purge else None

    def human(console: Console) -> None:
        from rich.text import Text

        from zeptui import render

        console.print(Text("Deleted session ").append_text(render.data(session_id)), soft_wrap=True)
        if removed is not None:
            console.print(Text(f"Purged it for good: {purge_counts(removed, sessions=False)}."))

    done = {"message": "OK", "session_id": session_id, "purged": removed}
    respond(as_json, done, human)


def purge_counts(result: PurgeResult, *, sessions: bool = True) -> str:
    """`1 deleted session, 12 messages and 1 summary` (without the sessions: the
    messages and summaries of the one session being purged), led by the deleted
    users when there are any (alone when they are all there is)."""
    parts = [
        f"{result.messages:,} message{'' if result.messages == 1 else 's'}",
        f"{result.summaries:,} summar{'y' if result.summaries == 1 else 'ies'}",
    ]
    if sessions:
        parts.insert(0, f"{result.sessions:,} deleted session{'' if result.sessions == 1 else 's'}")
    if result.users:
        users = f"{result.users:,} deleted user{'' if result.users == 1 else 's'}"
        parts = [users] if result.total == result.users else [users, *parts]
    return ", ".join(parts[:-1]) + " and " + parts[-1] if len(parts) > 1 else parts[0]
