"""The CLI's command classes and the state every command shares.

Every command takes `--db` before or after its name, refuses text arguments that
are not valid Unicode, and reports a command line click cannot parse in one line.
`State` holds the global options and opens the store for a command.
"""

from __future__ import annotations

import errno
import os
import re
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from zeptui import config
from zeptui.cli.errors import (
    Interrupted,
    UsageLine,
    UserError,
    is_interruption,
    user_message,
    warn,
)

if TYPE_CHECKING:
    from storage.capabilities import Maintenance, Summarizing
    from storage.store import MemoryStore
    from zeptui.compose import StoreTarget
    from zeptui.settings import Settings

    _DefaultGroup = click.Group  # click-default-group ships no type hints
else:
    from click_default_group import DefaultGroup as _DefaultGroup

PATH = click.Path(path_type=Path)


class ZeptuiCommand(click.Command):
    """A zeptui command: takes `--db` after its name too (`zeptui sessions --db x`),
    refuses text arguments that are not valid Unicode, and reports usage errors in one
    line."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _add_db_option(self)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return _parse_args(super().parse_args, ctx, args)


class ZeptuiSubGroup(click.Group):
    """A group of zeptui commands (`zeptui users ...`), with ZeptuiCommand's conventions."""

    command_class = ZeptuiCommand

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        _add_db_option(self)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        return _parse_args(super().parse_args, ctx, args)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        try:
            return super().resolve_command(ctx, args)
        except click.UsageError as error:  # a mistyped command name: one line too
            raise UsageLine(error) from None


class ZeptuiListGroup(ZeptuiSubGroup, _DefaultGroup):
    """A group whose bare name runs its `list` command, with that command's options
    (`zeptui users --json` is `zeptui users list --json`). Its callback invokes the
    list when no command follows (`zeptui users --db x`: only the group's options)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("default", "list")
        kwargs.setdefault("invoke_without_command", True)
        super().__init__(*args, **kwargs)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name.startswith("-"):  # an option of the list: it goes to the list
            return super().get_command(ctx, cmd_name)
        return click.Group.get_command(self, ctx, cmd_name)  # a mistyped name is an error


class ZeptuiGroup(ZeptuiSubGroup, _DefaultGroup):
    """The top-level group.

    A bare `zeptui` runs the default command (`open`); a mistyped command name is an
    error rather than an argument to the default command. Expected failures
    (store errors, import errors, OS errors, a damaged or full database) become
    one-line `UserError`s, Ctrl-C becomes `Interrupted`.
    """

    group_class = ZeptuiSubGroup

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return click.Group.get_command(self, ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise
        except click.exceptions.Exit:
            raise
        except (Exception, KeyboardInterrupt) as exc:
            if is_interruption(exc):
                raise Interrupted() from None
            if not isinstance(exc, Exception):
                raise
            state = ctx.find_object(State)
            message = user_message(exc, state.resolved if state else None)
            if message is None:
                raise
            raise UserError(message) from exc


def command(name: str | None = None, **settings: Any) -> Callable[[Any], ZeptuiCommand]:
    """`@command()`: a zeptui command, to be added to a group."""
    decorator: Callable[[Any], ZeptuiCommand] = click.command(name, cls=ZeptuiCommand, **settings)
    return decorator


def _set_db(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(State).db = value


def _set_remote(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.ensure_object(State).remote = value


DB_HELP = (
    f"Database file. Default: ${config.DB_ENV_VAR}, else the config file's database.path, "
    "else zeptui.duckdb in the user data dir."
)

REMOTE_HELP = (
    "A Zep server (zeptui serve, or Zep) instead of a file: its URL, or a name from "
    "zeptui remote add; its key from the remote, else $ZEPTUI_API_KEY or remote.api_key."
)


def _add_db_option(command: click.Command) -> None:
    if any("--db" in getattr(param, "opts", ()) for param in command.params):
        return  # `demo --db` names the demo's own database
    command.params.append(
        click.Option(
            ["--db"], type=PATH, metavar="PATH", expose_value=False, callback=_set_db, help=DB_HELP
        )
    )
    command.params.append(
        click.Option(
            ["--remote"],
            metavar="URL|NAME",
            expose_value=False,
            callback=_set_remote,
            help=REMOTE_HELP,
        )
    )


def _parse_args(
    parse: Callable[[click.Context, list[str]], list[str]], ctx: click.Context, args: list[str]
) -> list[str]:
    try:
        rest = parse(ctx, args)
        for param in ctx.command.params:
            _refuse_undecodable(ctx, param, ctx.params.get(param.name or ""))
    except click.UsageError as error:
        raise UsageLine(error) from None
    return rest


def _refuse_undecodable(ctx: click.Context, param: click.Parameter, value: object) -> None:
    """Text that is not valid Unicode: bytes that are not UTF-8 in argv (Python keeps them
    as lone surrogates) or a lone surrogate itself. Paths may hold such bytes; text cannot
    be stored or shown."""
    values = value if isinstance(value, tuple) else (value,)
    for item in values:
        if isinstance(item, str) and _SURROGATE.search(item):
            from zeptui.text import sanitize

            message = f"'{sanitize(item)}' is not valid UTF-8 text"
            raise click.BadParameter(message, ctx=ctx, param=param)


_SURROGATE = re.compile("[\ud800-\udfff]")


# --- the store -----------------------------------------------------------------------


def no_database(path: Path) -> UserError:
    hint = (
        "zeptui import or zeptui add creates it, zeptui demo opens sample data"
        if path == config.default_db_path()
        else f"check --db or ${config.DB_ENV_VAR}; zeptui import or zeptui add creates it"
    )
    return UserError(f"{path}: no such database ({hint})")


@dataclass
class State:
    """Global options, passed to every command; the settings and the store from them."""

    db: Path | None = None
    remote: str | None = None
    resolved: Path | None = None
    """The database path once a command resolved it (for error messages)."""
    _settings: dict[str, Settings] = field(default_factory=dict, repr=False)

    def settings(self, **flags: object) -> Settings:
        """The settings: these flags (by dotted name) and --db, then the environment,
        then the config file (read once per command for the same flags)."""
        from zeptui.settings import load

        given = {"database.path": self.db, **flags}
        key = repr(sorted(given.items()))
        if key not in self._settings:
            self._settings[key] = load(given)
        return self._settings[key]

    def db_path(self, *, create: bool = False, settings: Settings | None = None) -> Path:
        """The database: `--db`, else `$ZEPTUI_DB`, else the config file's, else the
        user data dir's. It must exist unless `create` (only commands that add data
        create a store). Commands that also work on a server ask `remote` first."""
        if self.remote is not None:
            raise UserError("this command works on a database file, not on a server")
        return self.file_path(create=create, settings=settings)

    def file_path(self, *, create: bool = False, settings: Settings | None = None) -> Path:
        """The database file (`db_path`), also beside `--remote` (`zeptui sync`, whose
        remote is the other side)."""
        path = (settings or self.settings()).database.path
        self.resolved = path
        try:
            str(path).encode()
        except UnicodeEncodeError:
            from zeptui.text import sanitize

            raise UserError(f"{sanitize(str(path))}: a database path must be UTF-8") from None
        if not create and not path.exists():
            raise no_database(path)
        return path

    def local_path(self, settings: Settings | None = None) -> Path | None:
        """The database file, or None with `--remote` (the store is a server's)."""
        return None if self.remote is not None else self.db_path(settings=settings)

    def target(self, *, create: bool = False, settings: Settings | None = None) -> StoreTarget:
        """The store the options name: `--remote URL`, else the database file."""
        from zeptui.compose import StoreTarget

        if self.remote is not None:
            if self.db is not None:
                raise UserError("--db and --remote name two stores; give one")
            return StoreTarget.remote(self.remote)
        return StoreTarget.file(self.db_path(create=create, settings=settings))

    def read(self, settings: Settings | None = None) -> AbstractContextManager[MemoryStore]:
        """The store, open read-only: reading never needs write access (a 0444 file, a
        read-only mount) and never waits for another reader."""
        settings = settings or self.settings()
        return open_store(self.target(settings=settings), settings, read_only=True)

    def write(
        self,
        *,
        create: bool = False,
        summaries: bool = False,
        background_summaries: bool = False,
        memory_limit: str | None = None,
        settings: Settings | None = None,
        through_server: bool = True,
    ) -> AbstractContextManager[MemoryStore]:
        """The store, open read-write (created if missing when `create`); summaries as
        `zeptui.compose.open_store` makes them; a file that a running `zeptui serve`
        holds through that server, unless not `through_server`."""
        settings = settings or self.settings()
        target = self.target(create=create, settings=settings)
        if target.path is not None:
            check_writable(target.path)
        return open_store(
            target,
            settings,
            summaries=summaries,
            background_summaries=background_summaries,
            memory_limit=memory_limit,
            through_server=through_server,
        )


def check_writable(path: Path) -> None:
    """A store that cannot be written is refused before DuckDB tries (and says that
    reading it still works)."""
    try:
        os.close(os.open(path, os.O_RDWR))
    except OSError as error:
        if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
            return  # missing (it will be created) or not a file: the store says what
        raise UserError(
            f"{path} cannot be written ({error.strerror}); this command changes it, "
            "commands that only read it still work"
        ) from None


pass_state = click.make_pass_decorator(State, ensure=True)


def open_store(
    target: StoreTarget, settings: Settings, **options: Any
) -> AbstractContextManager[MemoryStore]:
    """`zeptui.compose.open_store` (same options), with failed summaries said as
    warnings."""
    from zeptui import compose

    return compose.open_store(target, settings, summary_failed=_summary_failed, **options)


def _summary_failed(problem: str) -> None:
    warn(f"summary failed: {problem}")


def maintenance(store: MemoryStore) -> Maintenance:
    """The store's counts and purges (a remote Zep server has neither)."""
    from storage.capabilities import Maintenance, require

    return require(store, Maintenance, "count or purge what it holds")


def summarizing(store: MemoryStore) -> Summarizing:
    """The store's summaries on request."""
    from storage.capabilities import Summarizing, require

    return require(store, Summarizing, "summarise on request")


def require_user(store: MemoryStore, user_id: str | None) -> None:
    """An unknown user in a filter is an error (as an unknown session is), not an empty
    result."""
    if user_id is not None:
        store.get_user(user_id)


def ask(question: str) -> bool:
    """A yes/no question on the terminal (stderr), no by default; no answer is no."""
    try:
        return click.confirm(question, default=False, err=True)
    except click.Abort:
        return False
