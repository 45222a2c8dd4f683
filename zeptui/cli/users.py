"""`zeptui users ...`: list (the default), add, show, update, delete; a user's sessions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

from zeptui.cli.args import (
    SESSIONS_PAGE,
    limit_option,
    next_page_command,
    page_offset,
    page_option,
    parse_json_object,
)
from zeptui.cli.core import State, ZeptuiListGroup, maintenance, pass_state
from zeptui.cli.output import json_option, respond

if TYPE_CHECKING:
    from rich.console import Console

    from storage.models import User


@click.group(cls=ZeptuiListGroup)
@click.pass_context
def users(ctx: click.Context) -> None:
    """Manage users (without a command: list them)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(users_list)


def _user_options(func: Any) -> Any:
    for option in reversed(
        [
            click.option("--email"),
            click.option("--first-name"),
            click.option("--last-name"),
            click.option("--metadata", metavar="JSON", help="A JSON object (merged on update)."),
            json_option("Print the Zep User."),
        ]
    ):
        func = option(func)
    return func


def _respond_user(user: User, as_json: bool) -> None:
    def human(console: Console) -> None:
        from zeptui import render

        render.print_user(console, user)

    respond(as_json, user, human)


@users.command("list")
@limit_option(SESSIONS_PAGE, "users")
@page_option
@json_option("Print a JSON array of Zep Users.")
@pass_state
@click.pass_context
def users_list(ctx: click.Context, state: State, limit: int, page: int, as_json: bool) -> None:
    """List users by creation order."""
    offset = page_offset(limit, page)
    with state.read() as store:
        found = store.list_users(limit=limit, cursor=offset)
        total = maintenance(store).stats().users

    def human(console: Console) -> None:
        from zeptui import render

        more = next_page_command(ctx, page + 1) if 0 < offset + len(found) < total else None
        render.print_users(console, found, offset + 1, total, more)

    respond(as_json, found, human)


@users.command("add")
@click.argument("user_id")
@_user_options
@pass_state
def users_add(state: State, /, user_id: str, as_json: bool, **fields: str | None) -> None:
    """Create a user."""
    from storage.models import CreateUserRequest

    request = CreateUserRequest(user_id=user_id, **_user_fields(fields))
    with state.write(create=True) as store:
        user = store.add_user(request)
    _respond_user(user, as_json)


@users.command("show")
@click.argument("user_id")
@json_option("Print the Zep User.")
@pass_state
def users_show(state: State, user_id: str, as_json: bool) -> None:
    """Show a user."""
    with state.read() as store:
        user = store.get_user(user_id)
    _respond_user(user, as_json)


@users.command("update")
@click.argument("user_id")
@_user_options
@pass_state
def users_update(state: State, /, user_id: str, as_json: bool, **fields: str | None) -> None:
    """Update a user's fields; metadata is deep-merged."""
    from storage.models import UpdateUserRequest

    request = UpdateUserRequest(**_user_fields(fields))
    with state.write() as store:
        user = store.update_user(user_id, request)
    _respond_user(user, as_json)


def _user_fields(options: dict[str, str | None]) -> dict[str, Any]:
    """The user fields from `_user_options`, with --metadata parsed as a JSON object."""
    fields: dict[str, Any] = dict(options)
    fields["metadata"] = parse_json_object(options["metadata"], "--metadata")
    return fields


@users.command("delete")
@click.argument("user_id")
@json_option("Print what was done as JSON.")
@pass_state
def users_delete(state: State, user_id: str, as_json: bool) -> None:
    """Delete a user; the user's sessions go with it (soft-deleted: `zeptui purge` removes
    them for good)."""
    with state.write() as store:
        sessions = store.delete_user(user_id)

    def human(console: Console) -> None:
        from rich.text import Text

        from zeptui import render

        line = Text("Deleted user ").append_text(render.data(user_id))
        line.append(
            f" and {sessions:,} session{'' if sessions == 1 else 's'} of theirs "
            "(soft-deleted; they are no longer anyone's)"
            if sessions
            else " (who had no sessions)"
        )
        console.print(line, soft_wrap=True)

    done = {"message": "OK", "user_id": user_id, "sessions_deleted": sessions}
    respond(as_json, done, human)


@users.command("sessions")
@click.argument("user_id")
@json_option("Print a JSON array of Zep Sessions.")
@pass_state
def users_sessions(state: State, user_id: str, as_json: bool) -> None:
    """List a user's sessions."""
    with state.read() as store:
        store.get_user(user_id)  # an unknown user is an error, not an empty list
        found = store.get_user_sessions(user_id)

    def human(console: Console) -> None:
        from zeptui import render

        render.print_session_list(console, found)

    respond(as_json, found, human)
