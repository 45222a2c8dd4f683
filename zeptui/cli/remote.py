"""`zeptui remote ...`: servers named in the config file (add, list, show, remove, test).

A named remote (`zeptui.remotes`) is a URL and where its API key comes from: an
environment variable (`--api-key-env VAR`), or a file only its owner may read, written
from stdin (`--api-key-stdin`). `--remote NAME` then works wherever `--remote URL` does.
No command prints a key.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from zeptui.cli.core import State, ZeptuiSubGroup, pass_state
from zeptui.cli.errors import UserError
from zeptui.cli.output import json_option, respond

if TYPE_CHECKING:
    from rich.console import Console

    from zeptui.remotes import NamedRemote


@click.group(cls=ZeptuiSubGroup, invoke_without_command=True)
@click.pass_context
def remote(ctx: click.Context) -> None:
    """Name Zep servers for --remote NAME (without a command: list them)."""
    if ctx.invoked_subcommand is None:
        ctx.invoke(remote_list)


def _refuse_store_options(state: State) -> None:
    """`--db` and `--remote` name a store; these commands name servers themselves."""
    if state.db is not None or state.remote is not None:
        raise UserError(
            "zeptui remote names servers in the config file; --db and --remote do not apply"
        )


def _described(named: NamedRemote) -> dict[str, Any]:
    """A remote as JSON: no key, only where it comes from."""
    return {
        "name": named.name,
        "url": named.shown_url,
        "api_key_env": named.api_key_env,
        "api_key_file": None if named.api_key_file is None else str(named.api_key_file),
    }


@remote.command("add")
@click.argument("name")
@click.argument("url")
@click.option("--api-key-env", metavar="VAR", help="The environment variable holding its key.")
@click.option(
    "--api-key-stdin",
    is_flag=True,
    help="Read its key from stdin, kept in a file only you may read (never in config.toml).",
)
@pass_state
def remote_add(
    state: State, name: str, url: str, api_key_env: str | None, api_key_stdin: bool
) -> None:
    """Name the server at URL (its key from --api-key-env VAR or --api-key-stdin)."""
    from zeptui.remotes import add_remote

    _refuse_store_options(state)
    if api_key_env is not None and api_key_stdin:
        raise UserError("--api-key-env and --api-key-stdin name two keys; give one")
    key = _stdin_key() if api_key_stdin else None
    added = add_remote(name, url, api_key_env=api_key_env, api_key=key)
    _say(f"Added remote {added.name}: {added.shown_url}, its key from {added.key_source}.")


def _stdin_key() -> str:
    """The key on stdin's first line (a terminal is asked without echo)."""
    if sys.stdin.isatty():
        return str(click.prompt("API key", hide_input=True, err=True))
    return sys.stdin.readline().strip()


@remote.command("list")
@json_option("Print a JSON array of the remotes (no keys).")
@pass_state
def remote_list(state: State, as_json: bool) -> None:
    """The named remotes: name, URL, where the key comes from."""
    from zeptui.remotes import read_remotes

    _refuse_store_options(state)
    found = list(read_remotes().values())

    def human(console: Console) -> None:
        from rich.table import Table

        from zeptui import render

        if not found:
            console.print("No remotes yet: zeptui remote add NAME URL --api-key-env VAR")
            return
        table = Table(box=None, pad_edge=False)
        for column in ("name", "url", "key from"):
            table.add_column(column, overflow="fold")
        for named in found:
            table.add_row(named.name, render.data(named.shown_url), render.data(named.key_source))
        console.print(table)

    respond(as_json, [_described(named) for named in found], human)


@remote.command("show")
@click.argument("name")
@json_option("Print the remote as JSON (no key).")
@pass_state
def remote_show(state: State, name: str, as_json: bool) -> None:
    """A remote's URL and where its key comes from (never the key)."""
    from zeptui.config import SettingsError
    from zeptui.remotes import find_remote

    _refuse_store_options(state)
    named = find_remote(name)
    try:
        usable = named.api_key() is not None
        problem = None
    except SettingsError as error:
        usable, problem = False, str(error)
    data = {**_described(named), "key_usable": usable, "key_problem": problem}

    def human(console: Console) -> None:
        from rich.text import Text

        from zeptui import render

        for label, value in (("name", named.name), ("url", named.shown_url)):
            console.print(Text(f"{label:<9}").append_text(render.data(value)), soft_wrap=True)
        key = Text("key from ").append_text(render.data(named.key_source))
        if problem is not None:
            key.append("  (").append_text(render.data(problem, "red")).append(")")
        elif usable:
            key.append("  (present)", style="dim")
        console.print(key, soft_wrap=True)

    respond(as_json, data, human)


@remote.command("remove")
@click.argument("name")
@pass_state
def remote_remove(state: State, name: str) -> None:
    """Forget a remote (and the key file --api-key-stdin wrote for it)."""
    from zeptui.remotes import remove_remote

    _refuse_store_options(state)
    removed = remove_remote(name)
    _say(f"Removed remote {removed.name} ({removed.shown_url}).")


@remote.command("test")
@click.argument("server", metavar="NAME")
@pass_state
def remote_test(state: State, server: str) -> None:
    """Check a server (a name or a URL): health, version, API, key; one line."""
    from zeptui.compose import StoreTarget, connect
    from zeptui.remote import RemoteStore, RetryPolicy, check_server

    _refuse_store_options(state)
    target = StoreTarget.remote(server)
    settings = state.settings()
    with connect(target, settings, retry=RetryPolicy(attempts=2)) as store:
        if not isinstance(store, RemoteStore):  # a URL or a name is always a server's
            raise UserError(f"{target.title} is not a server")
        found = check_server(store)
    version = f" (X-Zep-Version {found.zep_version})" if found.zep_version else ""
    key = "no key sent"
    if found.keyed:
        named = target.named
        source = named.key_source if named is not None and named.has_own_key else None
        key = f"the key from {source or settings.source('remote.api_key')} accepted"
    kind = "zeptui serve" if found.zeptui else "a Zep server"
    _say(f"{target.title}: ok, {kind}, API {found.api_version}{version}, healthy, {key}.")


def _say(line: str) -> None:
    from zeptui import render

    render.make_console().print(render.data(line), soft_wrap=True)
