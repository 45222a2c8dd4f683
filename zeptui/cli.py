"""The `zeptui` command line.

A bare `zeptui` opens the app on the resolved database; subcommands sit beside it.
Cold start matters: only click, click-default-group and platformdirs load at import;
the store (DuckDB, tiktoken, pydantic) and Rich are imported inside the commands.

Output is human-readable (Rich) by default and exactly Zep's JSON shapes with
`--json`. A user error prints one `zeptui: error: ...` line on stderr and exits 1.
"""

from __future__ import annotations

import errno
import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import click

from zeptui import __version__, config

if TYPE_CHECKING:
    from storage.models import RoleType, Session
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


def _user_message(exc: Exception) -> str | None:
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
    return None


class ZeptuiGroup(_DefaultGroup):
    """The top-level group.

    A bare `zeptui` runs the default command (`open`); a mistyped command name is an
    error rather than an argument to the default command. Expected failures
    (store errors, import errors, OS errors) become one-line `UserError`s.
    """

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        return click.Group.get_command(self, ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException:
            raise
        except Exception as exc:
            message = _user_message(exc)
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


@dataclass
class State:
    """Global options, passed to every command."""

    db: Path | None = None

    def db_path(self) -> Path:
        """The database: `--db`, else `$ZEPTUI_DB`, else the user data dir."""
        return config.resolve_db_path(self.db)


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
    one (`$ZEPTUI_SUMMARIZER`, default extractive); closing waits for them, and any
    that failed are reported as warnings. Without, the store makes none.
    `read_only` opens the file read-only (it must exist; no summaries are made).
    `memory_limit` caps DuckDB's memory (see `DuckDBStore`).
    """
    from storage.duckdb_store import DuckDBStore

    summaries = summaries and not read_only
    if summaries and summarizer is None:
        from storage.summarizers import summarizer_from_config

        summarizer = summarizer_from_config()
    store = DuckDBStore(
        path,
        summarizer=summarizer if summaries else None,
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
    """One JSON document on stdout, non-ASCII kept as is."""
    click.echo(json.dumps(value, ensure_ascii=False, indent=2))


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


def open_app(db_path: Path) -> None:
    """Open zeptui on `db_path`.

    On a terminal this opens the app; when output is piped it prints the most
    recently active sessions instead.
    """
    if sys.stdin.isatty() and sys.stdout.isatty():
        from zeptui.app.app import run

        run(db_path)
        return
    from rich.text import Text

    from storage.models import SessionOrder, SessionQuery
    from zeptui import render

    with open_store(db_path) as store:
        page = store.list_sessions(
            SessionQuery(limit=50, order_by=SessionOrder.activity, descending=True)
        )
    console = render.make_console()
    header = Text(f"zeptui {__version__}  ", style="bold")
    header.append_text(render.data(db_path, "dim"))
    console.print(header, soft_wrap=True)
    render.print_sessions(console, page, 0)
    console.print(
        Text("Try: zeptui show SESSION_ID, zeptui search TEXT, zeptui --help", style="dim")
    )


# --- the group -----------------------------------------------------------------------


@click.group(
    cls=ZeptuiGroup,
    default="open",
    default_if_no_args=True,
    invoke_without_command=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option(
    "--db",
    type=PATH,
    metavar="PATH",
    help=f"Database file. Default: ${config.DB_ENV_VAR}, else zeptui.duckdb in the user data dir.",
)
@click.version_option(__version__, "-V", "--version", prog_name="zeptui")
@click.pass_context
def cli(ctx: click.Context, db: Path | None) -> None:
    """Explore Zep-style chat memory (users, sessions, messages, summaries) offline.

    Run with no command to open the app on the database.
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
    state.db = db
    if ctx.invoked_subcommand is None:
        open_app(state.db_path())


@cli.command("open")
@pass_state
def open_command(state: State) -> None:
    """Open the app on the database (the default command)."""
    open_app(state.db_path())


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
    with open_store(state.db_path(), summaries=True) as store:
        stored = store.add_memory(session_id, [message])
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


@cli.command()
@click.option("--user", "user_id", help="Only this user's sessions.")
@click.option(
    "--limit", type=click.IntRange(min=0), default=50, show_default=True, help="0 for all."
)
@click.option("--cursor", type=click.IntRange(min=0), default=0, help="Sessions to skip.")
@click.option("--sort", type=click.Choice(SESSION_SORTS), default="id", show_default=True)
@click.option("--desc", is_flag=True, help="Sort descending.")
@click.option(
    "--metadata",
    "filters",
    multiple=True,
    metavar="KEY=VALUE",
    help="Metadata filter; a dotted key reaches into objects. Repeatable.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of Zep Sessions.")
@pass_state
def sessions(
    state: State,
    user_id: str | None,
    limit: int,
    cursor: int,
    sort: str,
    desc: bool,
    filters: tuple[str, ...],
    as_json: bool,
) -> None:
    """List sessions with their message and token counts."""
    from storage.models import SessionOrder, SessionQuery

    query = SessionQuery(
        limit=limit,
        cursor=cursor,
        order_by=SessionOrder(sort),
        descending=desc,
        user_id=user_id,
        metadata=parse_filters(filters, "--metadata"),
    )
    with open_store(state.db_path()) as store:
        page = store.list_sessions(query)
    if as_json:
        emit_json([info.session.model_dump(mode="json") for info in page.sessions])
        return
    from zeptui import render

    render.print_sessions(render.make_console(), page, cursor)


@cli.command()
@click.argument("session_id")
@click.option(
    "--memory-type", type=click.Choice(MEMORY_TYPES), default="perpetual", show_default=True
)
@click.option("--lastn", type=click.IntRange(min=1), help="Only the last N messages.")
@click.option("--json", "as_json", is_flag=True, help="Print the Zep Memory object.")
@pass_state
def show(state: State, session_id: str, memory_type: str, lastn: int | None, as_json: bool) -> None:
    """Show a session's memory as a client receives it, with its token total."""
    from storage.models import MemoryType

    with open_store(state.db_path()) as store:
        memory = store.get_memory(session_id, MemoryType(memory_type), lastn)
    if as_json:
        emit_json(memory.model_dump(mode="json"))
        return
    from zeptui import render

    render.print_memory(render.make_console(), session_id, memory, memory_type, lastn)


@cli.command()
@click.argument("session_id")
@click.option(
    "--limit", type=click.IntRange(1, 10_000), default=100, show_default=True, help="Page size."
)
@click.option(
    "--cursor", type=click.IntRange(min=1), default=1, show_default=True, help="Page number."
)
@click.option("--json", "as_json", is_flag=True, help="Print Zep's MessageListResponse.")
@pass_state
def messages(state: State, session_id: str, limit: int, cursor: int, as_json: bool) -> None:
    """List a session's full history, oldest first, a page at a time."""
    with open_store(state.db_path()) as store:
        response = store.list_messages(session_id, limit=limit, cursor=cursor)
    if as_json:
        emit_json(response.model_dump(mode="json"))
        return
    from zeptui import render

    render.print_message_page(render.make_console(), response, limit, cursor)


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
    with open_store(state.db_path()) as store:
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
        db_path = state.db_path()
        if dry_run and not db_path.exists():
            db_path = Path(":memory:")  # nothing to compare with: don't create the file
        with open_store(
            db_path, summaries=summaries and not dry_run, memory_limit=IMPORT_MEMORY_LIMIT
        ) as store:
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
    help="zep-json, zep-dump (zep-json plus the users: a full backup) and zep-jsonl "
    "re-import exactly; markdown is a transcript; openai-jsonl is one fine-tuning "
    "conversation per line.",
)
@click.option(
    "-o", "--output", type=PATH, metavar="PATH", help="Write to PATH (atomically). Default: stdout."
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
    belong to the --user, if given), else nothing is written.
    """
    from zeptui.exporters import export_sessions

    with open_store(state.db_path(), read_only=True) as store:
        sessions = _sessions_to_export(store, session_ids, user_id)
        if output is None or str(output) == "-":
            _export_to_stdout(lambda out: export_sessions(store, sessions, out, format_name))
        else:
            _export_to_file(output, lambda out: export_sessions(store, sessions, out, format_name))


def _sessions_to_export(
    store: MemoryStore, session_ids: Sequence[str], user_id: str | None
) -> Iterator[Session]:
    """The sessions to export; unknown ids fail here, before anything is written."""
    from storage.models import SessionQuery

    if user_id is not None:
        store.get_user(user_id)  # an unknown user is an error, not an empty export
    if session_ids:
        chosen = [store.get_session(session_id) for session_id in dict.fromkeys(session_ids)]
        for session in chosen:
            if user_id is not None and session.user_id != user_id:
                raise UserError(f"session {session.session_id!r} is not a session of {user_id!r}")
        return iter(chosen)

    def every_session() -> Iterator[Session]:
        cursor: int | None = 0
        while cursor is not None:
            page = store.list_sessions(SessionQuery(limit=500, cursor=cursor, user_id=user_id))
            yield from (info.session for info in page.sessions)
            cursor = page.next_cursor

    return every_session()


def _export_to_stdout(write: Callable[[IO[str]], None]) -> None:
    """Write UTF-8 to stdout, whatever the terminal's encoding."""
    import io

    binary = getattr(sys.stdout, "buffer", None)
    if binary is None:  # a text-only stream (e.g. replaced in tests)
        write(sys.stdout)
        return
    sys.stdout.flush()
    out = io.TextIOWrapper(binary, encoding="utf-8", newline="\n")
    try:
        write(out)
        out.flush()
    finally:
        out.detach()


def _export_to_file(path: Path, write: Callable[[IO[str]], None]) -> None:
    """Write to a temp file beside `path`, then rename it: never a partial file."""
    import os
    import tempfile

    folder = path.parent if str(path.parent) else Path()
    fd, temp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    temp = Path(temp_name)
    try:
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
@pass_state
def delete(state: State, session_id: str, purge: bool) -> None:
    """Soft-delete a session with its messages and summaries."""
    from rich.text import Text

    from zeptui import render

    with open_store(state.db_path()) as store:
        store.delete_session(session_id)
        removed = store.purge([session_id]) if purge else None
    console = render.make_console()
    console.print(Text("Deleted session ").append_text(render.data(session_id)), soft_wrap=True)
    if removed is not None:
        console.print(
            Text(
                f"Purged it for good: {removed.messages:,} messages and "
                f"{removed.summaries:,} summaries."
            )
        )


@cli.command()
@click.argument("session_id")
@click.option(
    "--summarizer",
    "summarizer_name",
    type=click.Choice(["extractive", "llm"]),
    help="Default: from the configuration.",
)
@click.option("--json", "as_json", is_flag=True, help="Print the summaries made as JSON.")
@pass_state
def summarize(state: State, session_id: str, summarizer_name: str | None, as_json: bool) -> None:
    """Summarise a session now (messages beyond the window), and wait for it."""
    from storage.summarizers import summarizer_from_config

    summarizer = summarizer_from_config(summarizer_name)
    with open_store(state.db_path(), summaries=True, summarizer=summarizer) as store:
        made = store.summarize(session_id)
        window = store.message_window
    if as_json:
        emit_json([info.model_dump(mode="json") for info in made])
        return
    from zeptui import render

    render.print_summaries(render.make_console(), made, window)


@cli.command()
@click.option("--json", "as_json", is_flag=True, help="Print the counts as JSON.")
@pass_state
def stats(state: State, as_json: bool) -> None:
    """Counts of users, sessions, messages and summaries."""
    path = state.db_path()
    with open_store(path) as store:
        counts = store.stats()
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
    with open_store(path, summaries=True) as store:
        reports = [import_file(store, sample) for sample in config.sample_files()]
    added = sum(report.result.messages_added for report in reports)
    present = sum(report.result.messages_skipped for report in reports)
    note = f"Demo data: {added:,} messages added, {present:,} already present."
    render.make_console().print(Text(note, style="dim"))
    open_app(path)


# --- users ---------------------------------------------------------------------------


@cli.group()
def users() -> None:
    """Manage users."""


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
@click.option("--limit", type=click.IntRange(min=0), default=50, show_default=True)
@click.option("--cursor", type=click.IntRange(min=0), default=0, help="Users to skip.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array of Zep Users.")
@pass_state
def users_list(state: State, limit: int, cursor: int, as_json: bool) -> None:
    """List users by creation order."""
    with open_store(state.db_path()) as store:
        found = store.list_users(limit=limit, cursor=cursor)
    if as_json:
        emit_json([user.model_dump(mode="json") for user in found])
        return
    from rich.text import Text

    from zeptui import render

    console = render.make_console()
    render.print_users(console, found)
    if limit and len(found) == limit:
        console.print(Text(f"Next page: --cursor {cursor + limit}", style="dim"))


@users.command("add")
@click.argument("user_id")
@_user_options
@pass_state
def users_add(state: State, /, user_id: str, as_json: bool, **fields: str | None) -> None:
    """Create a user."""
    from storage.models import CreateUserRequest

    request = CreateUserRequest(user_id=user_id, **_user_fields(fields))
    with open_store(state.db_path()) as store:
        user = store.add_user(request)
    _print_user(user, as_json)


@users.command("show")
@click.argument("user_id")
@click.option("--json", "as_json", is_flag=True, help="Print the Zep User.")
@pass_state
def users_show(state: State, user_id: str, as_json: bool) -> None:
    """Show a user."""
    with open_store(state.db_path()) as store:
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
    with open_store(state.db_path()) as store:
        user = store.update_user(user_id, request)
    _print_user(user, as_json)


def _user_fields(options: dict[str, str | None]) -> dict[str, Any]:
    """The user fields from `_user_options`, with --metadata parsed as a JSON object."""
    fields: dict[str, Any] = dict(options)
    fields["metadata"] = parse_json_object(options["metadata"], "--metadata")
    return fields


@users.command("delete")
@click.argument("user_id")
@pass_state
def users_delete(state: State, user_id: str) -> None:
    """Delete a user; the user's sessions go with it (soft-deleted: `zeptui purge` removes
    them for good)."""
    from rich.text import Text

    from zeptui import render

    with open_store(state.db_path()) as store:
        sessions = store.delete_user(user_id)
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
    with open_store(state.db_path()) as store:
        store.get_user(user_id)  # an unknown user is an error, not an empty list
        found = store.get_user_sessions(user_id)
    if as_json:
        emit_json([session.model_dump(mode="json") for session in found])
        return
    from zeptui import render

    render.print_session_list(render.make_console(), found)


def main(argv: Sequence[str] | None = None) -> None:
    """The console script: `zeptui`."""
    # A closed pipe (`zeptui export | head`) is handled by click: no traceback.
    cli.main(args=list(argv) if argv is not None else None, prog_name="zeptui")
