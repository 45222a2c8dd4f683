"""The `zeptui` command line.

A bare `zeptui` opens the app on the resolved database; subcommands sit beside it.
Cold start matters: only click, click-default-group and platformdirs load at import;
the store (DuckDB, tiktoken, pydantic) and Rich are imported inside the commands.

Output is human-readable (Rich) by default and exactly Zep's JSON shapes with
`--json`. A user error prints one `zeptui: error: ...` line on stderr and exits 1.
"""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import os
import re
import shlex
import signal
import stat
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click
from click.core import ParameterSource

from storage.paging import MAX_LIMIT, MAX_PAGE
from zeptui import __version__, config

if TYPE_CHECKING:
    from storage.capabilities import Maintenance, Summarizing
    from storage.models import PurgeResult, RoleType, Session, User
    from storage.store import MemoryStore
    from storage.summarizers import Summarizer

    _DefaultGroup = click.Group  # click-default-group ships no type hints
else:
    from click_default_group import DefaultGroup as _DefaultGroup

ERROR_PREFIX = "zeptui: error: "
WARNING_PREFIX = "zeptui: warning: "
MEMORY_TYPES = ("perpetual", "message_window", "summary_retriever")
SESSION_SORTS = ("id", "created", "updated", "activity", "message_count")
EXPORT_FORMATS = ("zep-json", "zep-dump", "zep-jsonl", "markdown", "openai-jsonl")
PATH = click.Path(path_type=Path)


# --- errors --------------------------------------------------------------------------


def error_line(message: str, prefix: str = ERROR_PREFIX) -> str:
    """`zeptui: error: <message>` on one line, control characters made visible."""
    from zeptui.render import sanitize

    return prefix + sanitize(" ".join(str(message).split()))


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


def _user_message(exc: Exception, db_path: Path | None) -> str | None:
    """The one-line message for an expected failure, or None for a bug."""
    from storage.errors import StoreError
    from zeptui.importers import ImportFileError

    if isinstance(exc, StoreError | ImportFileError):
        return str(exc)
    if isinstance(exc, OSError) and exc.errno != errno.EPIPE:
        reason = exc.strerror or str(exc)
        return f"{exc.filename}: {reason}" if exc.filename else reason
    from pydantic import ValidationError

    if isinstance(exc, ValidationError):
        from storage.models import validation_message

        return f"invalid {validation_message(exc)}"
    return _database_message(exc, db_path)


def _is_interruption(exc: BaseException) -> bool:
    """Ctrl-C, however it arrives: DuckDB turns it into an error of its own while a
    query runs."""
    if isinstance(exc, KeyboardInterrupt):
        return True
    duckdb = sys.modules.get("duckdb")
    if duckdb is not None and isinstance(exc, duckdb.InterruptException):
        return True
    return isinstance(exc, RuntimeError) and str(exc) == "Query interrupted"


def _database_message(exc: Exception, db_path: Path | None) -> str | None:
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


def _set_db(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
    if value is not None:
        ctx.ensure_object(State).db = value


DB_HELP = f"Database file. Default: ${config.DB_ENV_VAR}, else zeptui.duckdb in the user data dir."


def _add_db_option(command: click.Command) -> None:
    if any("--db" in getattr(param, "opts", ()) for param in command.params):
        return  # `demo --db` names the demo's own database
    command.params.append(
        click.Option(
            ["--db"], type=PATH, metavar="PATH", expose_value=False, callback=_set_db, help=DB_HELP
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
            from zeptui.render import sanitize

            message = f"'{sanitize(item)}' is not valid UTF-8 text"
            raise click.BadParameter(message, ctx=ctx, param=param)


_SURROGATE = re.compile("[\ud800-\udfff]")


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
            if _is_interruption(exc):
                raise Interrupted() from None
            if not isinstance(exc, Exception):
                raise
            state = ctx.find_object(State)
            message = _user_message(exc, config.resolve_db_path(state.db if state else None))
            if message is None:
                raise
            raise UserError(message) from exc


class _WarningLines(logging.Handler):
    """Log records as `zeptui: warning: ...` lines on stderr, each text once."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text not in self.seen:
            self.seen.add(text)
            click.echo(error_line(text, WARNING_PREFIX), err=True)


# --- shared helpers ------------------------------------------------------------------


def _no_database(path: Path) -> UserError:
    hint = (
        "zeptui import or zeptui add creates it, zeptui demo opens sample data"
        if path == config.resolve_db_path(None, {})
        else f"check --db or ${config.DB_ENV_VAR}; zeptui import or zeptui add creates it"
    )
    return UserError(f"{path}: no such database ({hint})")


@dataclass
class State:
    """Global options, passed to every command."""

    db: Path | None = None

    def db_path(self, *, create: bool = False) -> Path:
        """The database: `--db`, else `$ZEPTUI_DB`, else the user data dir.

        It must exist unless `create` (only commands that add data create a store)."""
        path = config.resolve_db_path(self.db)
        try:
            str(path).encode()
        except UnicodeEncodeError:
            from zeptui.render import sanitize

            raise UserError(f"{sanitize(str(path))}: a database path must be UTF-8") from None
        if not create and not path.exists():
            raise _no_database(path)
        return path

    def read(self) -> AbstractContextManager[MemoryStore]:
        """The store, open read-only: reading never needs write access (a 0444 file, a
        read-only mount) and never waits for another reader."""
        return open_store(self.db_path(), read_only=True)

    def write(
        self, *, create: bool = False, summaries: bool = False, memory_limit: str | None = None
    ) -> AbstractContextManager[MemoryStore]:
        """The store, open read-write (created if missing when `create`)."""
        path = self.db_path(create=create)
        _check_writable(path)
        return open_store(path, summaries=summaries, memory_limit=memory_limit)


def _check_writable(path: Path) -> None:
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


@contextmanager
def open_store(
    path: Path,
    *,
    summaries: bool = False,
    summarizer: Summarizer | None = None,
    read_only: bool = False,
    memory_limit: str | None = None,
) -> Iterator[MemoryStore]:
    """The local store at `path`, open for the duration of the block, then closed.

    With `summaries`, writes make summaries with `summarizer`, else the configured
    one (`$ZEPTUI_SUMMARIZER`, default extractive). They are made when the block
    ends, before the store closes (`zeptui import` shows their progress), with the
    file let go while an LLM is waited on; any that failed are reported as warnings.
    Without, the store makes none.
    `read_only` opens the file read-only (it must exist; no summaries are made).
    `memory_limit` caps DuckDB's memory (see `DuckDBStore`).
    """
    from storage.duckdb import DuckDBStore

    summaries = summaries and not read_only
    if summaries and summarizer is None:
        from storage.summarizers import summarizer_from_config

        summarizer = summarizer_from_config()
    store = DuckDBStore(
        path,
        summarizer=summarizer if summaries else None,
        defer_summaries=True,
        read_only=read_only,
        memory_limit=memory_limit,
    )
    try:
        with store:
            yield store
    finally:
        for problem in dict.fromkeys(store.summary_errors):
            click.echo(error_line(f"summary failed: {problem}", WARNING_PREFIX), err=True)


def emit_json(value: Any) -> None:
    """One JSON document on stdout, non-ASCII kept as is (on a terminal, control
    characters that JSON leaves raw, such as C1 and bidi controls, as `\\uXXXX`)."""
    text = json.dumps(value, ensure_ascii=False, indent=2)
    if sys.stdout.isatty():
        from zeptui.render import json_safe

        text = json_safe(text)
    click.echo(text)


def parse_json_object(value: str | None, option: str) -> dict[str, Any] | None:
    """A `--metadata JSON` value: must be a JSON object."""
    if value is None:
        return None
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{option} is not valid JSON: {exc.msg} (line {exc.lineno}, column {exc.colno})"
        ) from exc
    if not isinstance(parsed, dict):
        raise UserError(f'{option} must be a JSON object, like \'{{"key": "value"}}\'')
    return parsed


def parse_filters(values: Sequence[str], option: str) -> dict[str, str]:
    """Repeated `key=value` options as a dict."""
    filters: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UserError(f"{option} expects key=value, got {item!r}")
        filters[key] = value
    return filters


def parse_role_type(value: str) -> RoleType:
    """A role type name, or a UserError listing the valid ones."""
    from storage.models import RoleType

    try:
        return RoleType(value)
    except ValueError:
        expected = ", ".join(role_type.value for role_type in RoleType)
        raise UserError(f"unknown role_type {value!r} (expected one of {expected})") from None


def _ask(question: str) -> bool:
    """A yes/no question on the terminal (stderr), no by default; no answer is no."""
    try:
        return click.confirm(question, default=False, err=True)
    except click.Abort:
        return False


def open_app(db_path: Path) -> None:
    """Open zeptui on `db_path`.

    On a terminal this opens the app (offering to create a missing database first);
    when output is piped it prints the most recently active sessions instead.
    """
    on_terminal = sys.stdin.isatty() and sys.stdout.isatty()
    if not db_path.exists():
        if not on_terminal:
            raise _no_database(db_path)
        from zeptui.render import sanitize

        if not _ask(f"No database at {sanitize(str(db_path))}. Create it?"):
            raise click.exceptions.Exit(1)
        with open_store(db_path):
            pass
    if on_terminal:
        from zeptui.app.app import run

        run(db_path)
        return
    from rich.text import Text

    from storage.capabilities import SessionPages, require
    from storage.models import SessionOrder, SessionQuery
    from zeptui import render

    with open_store(db_path, read_only=True) as store:
        page = require(store, SessionPages, "list sessions with their counts").session_page(
            SessionQuery(limit=SESSIONS_PAGE, order_by=SessionOrder.activity, descending=True)
        )
    console = render.make_console()
    header = Text(f"zeptui {__version__}  ", style="bold")
    header.append_text(render.data(db_path, "dim"))
    console.print(header, soft_wrap=True)
    more = None
    if page.next_cursor is not None:
        where = "" if db_path == config.resolve_db_path() else f" --db {shlex.quote(str(db_path))}"
        more = f"zeptui sessions{where} --page 2"
    render.print_sessions(console, page, 1, more)
    console.print(
        Text("Try: zeptui show SESSION_ID, zeptui search TEXT, zeptui --help", style="dim")
    )


# --- paging --------------------------------------------------------------------------

SESSIONS_PAGE = 50
"""Sessions (and users) per page by default."""


def limit_option(default: int, noun: str) -> Callable[[Any], Any]:
    """`--limit N`: items per page, 0 for all."""
    return click.option(
        "--limit",
        type=click.IntRange(0, MAX_LIMIT),
        default=default,
        show_default=True,
        help=f"{noun.capitalize()} per page; 0 for all on one page.",
    )


page_option = click.option(
    "--page",
    type=click.IntRange(1, MAX_PAGE),
    default=1,
    show_default=True,
    help="Which page, counting from 1 (the list ends with the command for the next one).",
)


def page_offset(limit: int, page: int) -> int:
    """Items before `page`; a page past the first needs a limit."""
    if limit == 0 and page > 1:
        raise UserError("--page needs a --limit (with --limit 0 everything is on page 1)")
    return (page - 1) * limit


def next_page_command(ctx: click.Context, page: int) -> str:
    """The command line that shows `page` of the same listing (the options given, and
    --db if it was given), for the footer of a page."""
    words = command_words(ctx)
    for param in ctx.command.params:
        name = param.name or ""
        if name not in ctx.params or name == "page":
            continue
        if ctx.get_parameter_source(name) is not ParameterSource.COMMANDLINE:
            continue
        words += _command_line_words(param, ctx.params[name])
    state = ctx.find_object(State)
    if state is not None and state.db is not None:
        words += ["--db", str(state.db)]
    words += ["--page", str(page)]
    return " ".join(shlex.quote(word) for word in words)


def _command_line_words(param: click.Parameter, value: Any) -> list[str]:
    """How `value` of `param` is written on a command line."""
    if not isinstance(param, click.Option):
        return [str(item) for item in (value if isinstance(value, tuple) else (value,))]
    name = next((opt for opt in param.opts if opt.startswith("--")), param.opts[0])
    if param.is_flag:
        if value:
            return [name]
        return param.secondary_opts[:1]
    values = value if param.multiple else (value,)
    return [word for item in values for word in (name, str(item))]


# --- the group -----------------------------------------------------------------------


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
    for handler in [h for h in read_log.handlers if isinstance(h, _WarningLines)]:
        read_log.removeHandler(handler)
    read_log.addHandler(_WarningLines())
    read_log.propagate = False
    state = ctx.ensure_object(State)
    if ctx.invoked_subcommand is None:
        open_app(config.resolve_db_path(state.db))


@cli.command("open")
@pass_state
def open_command(state: State) -> None:
    """Open the app on the database (the default command)."""
    open_app(config.resolve_db_path(state.db))


@cli.command()
@click.argument("session_id")
@click.option("--role", default="", help="The speaker's name, e.g. Jane (Zep's `role`).")
@click.option(
    "--role-type",
    required=True,
    metavar="TYPE",
    help="user, assistant, system, function, tool or norole.",
)
@click.option("--content", required=True, help="The message text.")
@click.option("--metadata", metavar="JSON", help="Message metadata, a JSON object.")
@click.option("--json", "as_json", is_flag=True, help="Print the stored Message as JSON.")
@pass_state
def add(
    state: State,
    session_id: str,
    role: str,
    role_type: str,
    content: str,
    metadata: str | None,
    as_json: bool,
) -> None:
    """Add a message to a session (created if missing)."""
    from storage.models import Message

    message = Message(
        role=role,
        role_type=parse_role_type(role_type),
        content=content,
        metadata=parse_json_object(metadata, "--metadata"),
    )
    with state.write(create=True, summaries=True) as store:
        stored = store.add_memory(session_id, [message])
        # Said before the store closes: a summary falling due is made then, and with an
        # LLM that can take until its deadline.
        if as_json:
            emit_json(stored[0].model_dump(mode="json") if stored else None)
            return
        from rich.text import Text

        from zeptui import render

        line = Text("Added message ")
        if stored:
            line.append_text(render.data(stored[0].uuid))
            line.append(f" ({stored[0].token_count} tokens)")
        line.append(" to session ")
        line.append_text(render.data(session_id))
        render.make_console().print(line, soft_wrap=True)


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


@cli.command()
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
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of Zep Sessions.")
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
    as_json: bool,
) -> None:
    """List sessions with their message and token counts, most recently active first."""
    from storage.models import SessionOrder, SessionQuery

    offset = page_offset(limit, page)
    query = SessionQuery(
        limit=limit,
        cursor=offset,
        order_by=SessionOrder(sort),
        descending=sort != "id" if descending is None else descending,
        user_id=user_id,
        metadata=parse_filters(filters, "--metadata"),
    )
    from storage.capabilities import SessionPages, require

    with state.read() as store:
        require_user(store, user_id)
        found = require(store, SessionPages, "list sessions with their counts").session_page(query)
    if as_json:
        emit_json([info.session.model_dump(mode="json") for info in found.sessions])
        return
    from zeptui import render

    more = next_page_command(ctx, page + 1) if found.next_cursor is not None else None
    render.print_sessions(render.make_console(), found, offset + 1, more)


@cli.command()
@click.argument("session_id")
@click.option(
    "--memory-type", type=click.Choice(MEMORY_TYPES), default="perpetual", show_default=True
)
@click.option("--lastn", type=click.IntRange(1, MAX_LIMIT), help="Only the last N messages.")
@click.option("--json", "as_json", is_flag=True, help="Print the Zep Memory object.")
@pass_state
def show(state: State, session_id: str, memory_type: str, lastn: int | None, as_json: bool) -> None:
    """Show a session's memory as a client receives it, with its token total."""
    from storage.models import MemoryType

    with state.read() as store:
        memory = store.get_memory(session_id, MemoryType(memory_type), lastn)
    if as_json:
        emit_json(memory.model_dump(mode="json"))
        return
    from zeptui import render

    render.print_memory(render.make_console(), session_id, memory, memory_type, lastn)


@cli.command()
@click.argument("session_id")
@limit_option(100, "messages")
@page_option
@click.option("--json", "as_json", is_flag=True, help="Print Zep's MessageListResponse.")
@pass_state
@click.pass_context
def messages(
    ctx: click.Context, state: State, session_id: str, limit: int, page: int, as_json: bool
) -> None:
    """List a session's full history, oldest first, a page at a time."""
    offset = page_offset(limit, page)
    with state.read() as store:
        response = store.list_messages(session_id, limit=limit, cursor=page)
    if as_json:
        emit_json(response.model_dump(mode="json"))
        return
    from zeptui import render

    shown = offset + len(response.messages)
    more = next_page_command(ctx, page + 1) if 0 < shown < response.total_count else None
    render.print_message_page(render.make_console(), response, offset + 1, more)


@cli.command()
@click.argument("text")
@click.option("--session", "session_id", help="Only this session.")
@click.option("--user", "user_id", help="Only this user's sessions.")
@click.option(
    "--role-type", "role_types", multiple=True, metavar="TYPE", help="Only these. Repeatable."
)
@click.option("--metadata", "filters", multiple=True, metavar="KEY=VALUE", help="Metadata filter.")
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of SearchResults.")
@pass_state
def search(
    state: State,
    text: str,
    session_id: str | None,
    user_id: str | None,
    role_types: tuple[str, ...],
    filters: tuple[str, ...],
    limit: int,
    as_json: bool,
) -> None:
    """Full-text search over message content, best first."""
    from storage.models import SearchQuery

    query = SearchQuery(
        text=text,
        limit=limit,
        session_id=session_id,
        user_id=user_id,
        role_types=[parse_role_type(value) for value in role_types],
        metadata=parse_filters(filters, "--metadata"),
    )
    with state.read() as store:
        require_user(store, user_id)
        results = store.search(query)
    if as_json:
        emit_json([result.model_dump(mode="json") for result in results])
        return
    from zeptui import render

    render.print_search(render.make_console(), results, text)


IMPORT_MEMORY_LIMIT = "256MB"
"""DuckDB's memory during `zeptui import`: big files spill to disk instead of growing
the process (peak memory stays flat as files grow; ~10-20% slower at a million
messages than without a limit, see bench/README.md)."""


@cli.command("import")
@click.argument("paths", nargs=-1, required=True, type=PATH, metavar="PATH...")
@click.option(
    "--format",
    "format_name",
    metavar="NAME",
    default="auto",
    show_default=True,
    help="auto, zep, chatgpt, claude, sharegpt, openai or langchain: skip detection.",
)
@click.option("--session-prefix", default="", metavar="P", help="Prepend P to every session id.")
@click.option("--user", "user_id", metavar="U", help="Import every session as user U's.")
@click.option("--user-name", metavar="NAME", help="Speaker name for user messages.")
@click.option("--assistant-name", metavar="NAME", help="Speaker name for assistant messages.")
@click.option("--dry-run", is_flag=True, help="Show what would be imported; write nothing.")
@click.option(
    "--skip-invalid", is_flag=True, help="Skip and list bad records instead of failing the file."
)
@click.option(
    "--summaries/--no-summaries",
    default=True,
    show_default=True,
    help="Summarise the imported sessions before returning (slow for big imports).",
)
@click.option("--json", "as_json", is_flag=True, help="Print a machine-readable report.")
@pass_state
@click.pass_context
def import_command(
    ctx: click.Context,
    state: State,
    paths: tuple[Path, ...],
    format_name: str,
    session_prefix: str,
    user_id: str | None,
    user_name: str | None,
    assistant_name: str | None,
    dry_run: bool,
    skip_invalid: bool,
    summaries: bool,
    as_json: bool,
) -> None:
    """Import chat histories: files, directories or .zip exports.

    Formats: Zep JSON/JSONL, ChatGPT and Claude data exports, ShareGPT, OpenAI chat
    JSONL and LangChain message dumps, detected from each file's content (--format
    overrides it). Each file is imported in one transaction: a file with an error
    adds nothing, and the other files are still imported. Importing a file twice
    adds nothing.
    """
    from zeptui.importers import ImportOptions, get_importer
    from zeptui.importers.run import ImportRun

    forced = None
    if format_name != "auto":
        try:
            forced = get_importer(format_name)
        except ValueError as exc:
            raise UserError(str(exc)) from None
    options = ImportOptions(
        session_prefix=session_prefix,
        user_id=user_id,
        user_name=user_name,
        assistant_name=assistant_name,
        skip_invalid=skip_invalid,
        dry_run=dry_run,
    )
    run = ImportRun(list(paths), forced, options)
    if run.planned:
        opened: AbstractContextManager[MemoryStore]
        if dry_run and not state.db_path(create=True).exists():
            # nothing to compare with: don't create the file
            opened = open_store(Path(":memory:"), memory_limit=IMPORT_MEMORY_LIMIT)
        else:
            opened = state.write(
                create=True, summaries=summaries and not dry_run, memory_limit=IMPORT_MEMORY_LIMIT
            )
        with opened as store:
            run.run(store, show_progress=sys.stderr.isatty())

    for message in run.errors:
        click.echo(error_line(message), err=True)
    if as_json:
        emit_json(run.report_json())
    else:
        from zeptui import render

        render.print_import_run(render.make_console(), run)
    if run.errors:
        ctx.exit(1)


@cli.command()
@click.argument("session_ids", nargs=-1, metavar="[SESSION_ID]...")
@click.option("--user", "user_id", help="Only this user's sessions.")
@click.option(
    "--format",
    "format_name",
    type=click.Choice(EXPORT_FORMATS),
    default="zep-json",
    show_default=True,
    help="zep-json, zep-dump (zep-json plus users; of everything: a full backup) and zep-jsonl "
    "re-import exactly; markdown is a transcript; openai-jsonl is one fine-tuning "
    "conversation per line.",
)
@click.option(
    "-o",
    "--output",
    type=PATH,
    metavar="PATH",
    help="Write to PATH: a file is replaced atomically, a pipe or device written to; "
    "- is stdout (the default).",
)
@pass_state
def export(
    state: State,
    session_ids: tuple[str, ...],
    user_id: str | None,
    format_name: str,
    output: Path | None,
) -> None:
    """Export sessions (default: all of them) with their messages.

    Session ids and --user narrow the export; every session id must exist (and
    belong to the --user, if given), else nothing is written. On a terminal, control
    characters in the data are shown escaped; files and pipes get the exact text.
    """
    from zeptui.exporters import every_user, export_sessions

    db_path = state.db_path()
    to_stdout = output is None or str(output) == "-"
    if not to_stdout:
        assert output is not None
        _refuse_the_store(output, db_path)
    with state.read() as store:
        sessions = _sessions_to_export(store, session_ids, user_id)
        # The users a zep-dump carries: a full export is a backup, with every user
        # (those without sessions too); a narrowed one has the users it needs.
        users: Iterable[User] | None = None
        if user_id is not None:
            users = [store.get_user(user_id)]
        elif not session_ids:
            users = every_user(store)

        def write(out: IO[str]) -> None:
            export_sessions(store, sessions, out, format_name, users)

        if to_stdout:
            _refuse_the_store(Path("/dev/stdout"), db_path, fd=sys.stdout)
            _export_to_stdout(write, format_name)
        else:
            assert output is not None
            _export_to_path(output, write, format_name)


def _sessions_to_export(
    store: MemoryStore, session_ids: Sequence[str], user_id: str | None
) -> Iterator[Session]:
    """The sessions to export; unknown ids fail here, before anything is written."""

    if user_id is not None:
        store.get_user(user_id)  # an unknown user is an error, not an empty export
    if session_ids:
        chosen = [store.get_session(session_id) for session_id in dict.fromkeys(session_ids)]
        for session in chosen:
            if user_id is not None and session.user_id != user_id:
                raise UserError(f"session {session.session_id!r} is not a session of {user_id!r}")
        return iter(chosen)

    def every_session() -> Iterator[Session]:
        if user_id is not None:  # Zep lists a user's sessions whole
            yield from store.get_user_sessions(user_id)
            return
        cursor = 0
        while sessions := store.list_sessions(limit=500, cursor=cursor):
            yield from sessions
            cursor += len(sessions)

    return every_session()


def _refuse_the_store(output: Path, db_path: Path, fd: IO[Any] | None = None) -> None:
    """Refuse to write an export over the database or its journal, whatever the path
    (a symlink, `..`, a hard link, or stdout redirected onto it)."""
    store_files = [db_path, db_path.with_name(db_path.name + ".wal")]
    try:
        target = os.fstat(fd.fileno()) if fd is not None else os.stat(output)
    except (OSError, ValueError, AttributeError):  # missing, or no file behind the stream
        target = None
    for store_file in store_files:
        same = os.path.realpath(output) == os.path.realpath(store_file)
        if target is not None and not same:
            try:
                found = os.stat(store_file)
            except OSError:
                continue
            same = (found.st_dev, found.st_ino) == (target.st_dev, target.st_ino)
        if same:
            where = "stdout" if fd is not None else str(output)
            raise UserError(f"{where} is the database itself ({store_file}); export elsewhere")


def _terminal_escape(format_name: str) -> Callable[[str], str]:
    """How control characters in exported data are shown on a terminal: as visible
    `\\x1b` in a Markdown transcript, as JSON `\\u001b` escapes (the same data) in JSON."""
    from zeptui.render import json_safe, sanitize

    return sanitize if format_name == "markdown" else json_safe


class _ExportStream(io.TextIOWrapper):
    """UTF-8 text over a binary stream, optionally passing every write through `escape`."""

    def __init__(self, binary: IO[bytes], escape: Callable[[str], str] | None) -> None:
        super().__init__(binary, encoding="utf-8", newline="\n")
        self._escape = escape

    def write(self, text: str) -> int:
        return super().write(self._escape(text) if self._escape else text)


def _export_to_stdout(write: Callable[[IO[str]], None], format_name: str) -> None:
    """Write UTF-8 to stdout, whatever the terminal's encoding; on a terminal, with
    control characters escaped."""
    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:  # a text-only stream (e.g. replaced in tests)
        write(sys.stdout)
        return
    sys.stdout.flush()
    _export_to_stream(binary, write, format_name)


def _export_to_stream(
    binary: IO[bytes], write: Callable[[IO[str]], None], format_name: str
) -> None:
    """Write UTF-8 onto `binary` as the export goes; on a terminal, with control
    characters escaped."""
    escape = _terminal_escape(format_name) if binary.isatty() else None
    out = _ExportStream(binary, escape)
    try:
        write(out)
        out.flush()
    finally:
        out.detach()


def _export_to_path(output: Path, write: Callable[[IO[str]], None], format_name: str) -> None:
    """Write the export to `output`. A regular file (or a new path, or a symlink to
    one) is replaced atomically; anything else (a FIFO, a terminal, /dev/null) is
    written to as a stream. Errors name `output`, never a temporary file."""
    try:
        mode = os.stat(output).st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:
        raise UserError(f"{output}: {error.strerror}") from None
    if mode is not None and stat.S_ISDIR(mode):
        raise UserError(f"{output} is a directory; give a file name")
    try:
        if mode is None or stat.S_ISREG(mode):
            _replace_file(Path(os.path.realpath(output)), write)
            return
        with open(output, "wb", buffering=0) as binary:
            _export_to_stream(binary, write, format_name)
    except OSError as error:
        if error.errno == errno.EPIPE:
            raise
        raise UserError(f"{output}: {error.strerror or error}") from None


def _replace_file(path: Path, write: Callable[[IO[str]], None]) -> None:
    """Write to a temp file beside `path` (symlinks already resolved), then rename it
    over `path`: never a partial file. An existing file keeps its permissions (and, for
    root, its owner); a new one gets the umask's."""
    import tempfile

    try:
        existing: os.stat_result | None = os.stat(path)
    except FileNotFoundError:
        existing = None
    fd, temp_name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    temp = Path(temp_name)
    try:
        if existing is not None:
            os.fchmod(fd, stat.S_IMODE(existing.st_mode))
            if os.geteuid() == 0:
                os.fchown(fd, existing.st_uid, existing.st_gid)
        else:
            umask = os.umask(0)
            os.umask(umask)
            os.fchmod(fd, 0o666 & ~umask)
        with open(fd, "w", encoding="utf-8", newline="\n") as out:
            write(out)
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


@cli.command()
@click.argument("session_id")
@click.option(
    "--purge",
    is_flag=True,
    help="Then remove the session for good, with its messages and summaries.",
)
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@pass_state
def delete(state: State, session_id: str, purge: bool, as_json: bool) -> None:
    """Soft-delete a session with its messages and summaries."""
    with state.write() as store:
        store.delete_session(session_id)
        removed = maintenance(store).purge([session_id]) if purge else None
    if as_json:
        emit_json(
            {
                "message": "OK",
                "session_id": session_id,
                "purged": removed.model_dump() if removed else None,
            }
        )
        return
    from rich.text import Text

    from zeptui import render

    console = render.make_console()
    console.print(Text("Deleted session ").append_text(render.data(session_id)), soft_wrap=True)
    if removed is not None:
        console.print(Text(f"Purged it for good: {_purge_counts(removed, sessions=False)}."))


@cli.command()
@click.option("--yes", "-y", is_flag=True, help="Do not ask first (for scripts).")
@click.option("--dry-run", is_flag=True, help="Only count what would be removed.")
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
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
            question = f"Remove {_purge_counts(planned)} for good?"
            if not sys.stdin.isatty():
                raise UserError(f"{question[:-1]}: pass --yes to confirm (no terminal to ask on)")
            if not _ask(question):
                raise UserError("not confirmed; nothing was removed")
        with state.write() as store:
            done = maintenance(store).purge()
    result = done or planned
    if as_json:
        emit_json({**result.model_dump(), "dry_run": done is None and bool(planned.total)})
        return
    from rich.text import Text

    from zeptui import render

    if not planned.total:
        line = "Nothing to purge: no deleted sessions, messages or summaries."
    elif done is None:
        line = f"Would remove {_purge_counts(planned)} for good (dry run)."
    else:
        line = f"Removed {_purge_counts(done)} for good."
    render.make_console().print(Text(line))


def _purge_counts(result: PurgeResult, *, sessions: bool = True) -> str:
    """`1 deleted session, 12 messages and 1 summary` (without the sessions: the
    messages and summaries of the one session being purged)."""
    parts = [
        f"{result.messages:,} message{'' if result.messages == 1 else 's'}",
        f"{result.summaries:,} summar{'y' if result.summaries == 1 else 'ies'}",
    ]
    if sessions:
        parts.insert(0, f"{result.sessions:,} deleted session{'' if result.sessions == 1 else 's'}")
    return ", ".join(parts[:-1]) + " and " + parts[-1]


@cli.command()
@click.argument("session_id")
@click.option(
    "--summarizer",
    "summarizer_name",
    type=click.Choice(["extractive", "llm"]),
    help="Default: from the configuration.",
)
@click.option(
    "--again",
    is_flag=True,
    help="Summarise the whole session anew (e.g. with an LLM after an extractive import); "
    "its earlier summaries are soft-deleted when the new ones are stored.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summaries made as JSON.")
@pass_state
def summarize(
    state: State, session_id: str, summarizer_name: str | None, again: bool, as_json: bool
) -> None:
    """Summarise a session now (messages beyond the window), and wait for it."""
    from storage.summarizers import summarizer_from_config

    summarizer = summarizer_from_config(summarizer_name)
    with open_store(state.db_path(), summaries=True, summarizer=summarizer) as store:
        made = summarizing(store).summarize(session_id, again=again)
        window = store.message_window
    if as_json:
        emit_json([info.model_dump(mode="json") for info in made])
        return
    from zeptui import render

    console = render.make_console()
    if again and not made:
        console.print(f"No summary is due: the session has fewer than {window} messages.")
        return
    render.print_summaries(console, made, window)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_state
def stats(state: State, as_json: bool) -> None:
    """Counts of users, sessions, messages and summaries."""
    path = state.db_path()
    with state.read() as store:
        counts = maintenance(store).stats()
        location = store.location
    if as_json:
        emit_json(counts.model_dump(mode="json"))
        return
    from zeptui import render

    size = path.stat().st_size if path.exists() else None
    render.print_stats(render.make_console(), counts, location, size)


@cli.command()
@click.option("--db", "demo_db", type=PATH, metavar="PATH", help="Default: demo.duckdb.")
@pass_state
def demo(state: State, demo_db: Path | None) -> None:
    """Load the bundled sample conversations into a demo database and open it."""
    from rich.text import Text

    from zeptui import render
    from zeptui.importers import import_file

    path = config.demo_db_path(demo_db or state.db)
    _check_writable(path)
    with open_store(path, summaries=True) as store:
        reports = [import_file(store, sample) for sample in config.sample_files()]
    added = sum(report.result.messages_added for report in reports)
    present = sum(report.result.messages_skipped for report in reports)
    note = f"Demo data: {added:,} messages added, {present:,} already present."
    render.make_console().print(Text(note, style="dim"))
    open_app(path)


# --- users ---------------------------------------------------------------------------


@cli.group(invoke_without_command=True)
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
            click.option("--json", "as_json", is_flag=True, help="Print the Zep User."),
        ]
    ):
        func = option(func)
    return func


def _print_user(user: Any, as_json: bool) -> None:
    if as_json:
        emit_json(user.model_dump(mode="json"))
        return
    from zeptui import render

    render.print_user(render.make_console(), user)


@users.command("list")
@limit_option(SESSIONS_PAGE, "users")
@page_option
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of Zep Users.")
@pass_state
@click.pass_context
def users_list(ctx: click.Context, state: State, limit: int, page: int, as_json: bool) -> None:
    """List users by creation order."""
    offset = page_offset(limit, page)
    with state.read() as store:
        found = store.list_users(limit=limit, cursor=offset)
        total = maintenance(store).stats().users
    if as_json:
        emit_json([user.model_dump(mode="json") for user in found])
        return
    from zeptui import render

    more = next_page_command(ctx, page + 1) if 0 < offset + len(found) < total else None
    render.print_users(render.make_console(), found, offset + 1, total, more)


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
    _print_user(user, as_json)


@users.command("show")
@click.argument("user_id")
@click.option("--json", "as_json", is_flag=True, help="Print the Zep User.")
@pass_state
def users_show(state: State, user_id: str, as_json: bool) -> None:
    """Show a user."""
    with state.read() as store:
        user = store.get_user(user_id)
    _print_user(user, as_json)


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
    _print_user(user, as_json)


def _user_fields(options: dict[str, str | None]) -> dict[str, Any]:
    """The user fields from `_user_options`, with --metadata parsed as a JSON object."""
    fields: dict[str, Any] = dict(options)
    fields["metadata"] = parse_json_object(options["metadata"], "--metadata")
    return fields


@users.command("delete")
@click.argument("user_id")
@click.option("--json", "as_json", is_flag=True, help="Print what was done as JSON.")
@pass_state
def users_delete(state: State, user_id: str, as_json: bool) -> None:
    """Delete a user; the user's sessions go with it (soft-deleted: `zeptui purge` removes
    them for good)."""
    with state.write() as store:
        sessions = store.delete_user(user_id)
    if as_json:
        emit_json({"message": "OK", "user_id": user_id, "sessions_deleted": sessions})
        return
    from rich.text import Text

    from zeptui import render

    line = Text("Deleted user ").append_text(render.data(user_id))
    line.append(
        f" and {sessions:,} session{'' if sessions == 1 else 's'} of theirs "
        "(soft-deleted; they are no longer anyone's)"
        if sessions
        else " (who had no sessions)"
    )
    render.make_console().print(line, soft_wrap=True)


@users.command("sessions")
@click.argument("user_id")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of Zep Sessions.")
@pass_state
def users_sessions(state: State, user_id: str, as_json: bool) -> None:
    """List a user's sessions."""
    with state.read() as store:
        store.get_user(user_id)  # an unknown user is an error, not an empty list
        found = store.get_user_sessions(user_id)
    if as_json:
        emit_json([session.model_dump(mode="json") for session in found])
        return
    from zeptui import render

    render.print_session_list(render.make_console(), found)


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
        with contextlib.suppress(OSError, ValueError):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(Interrupted.exit_code)


def _first_interrupt(_signum: int, _frame: object) -> None:
    """Ctrl-C: stop what runs (the write rolls back and the store closes, see
    `Interrupted`); a second Ctrl-C while that cleanup runs stops at once."""
    signal.signal(signal.SIGINT, _second_interrupt)
    raise KeyboardInterrupt


def _second_interrupt(_signum: int, _frame: object) -> None:
    # Like kill -9, which the store survives: DuckDB replays its journal at the next open.
    # Nothing is imported here: the first Ctrl-C may have stopped an import half-way.
    os.write(2, f"{ERROR_PREFIX}interrupted again; stopped at once\n".encode())
    os._exit(Interrupted.exit_code)
