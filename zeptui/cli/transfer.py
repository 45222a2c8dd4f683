"""Moving data in and out: import, export, and the demo (the samples imported)."""

from __future__ import annotations

import sys
from contextlib import AbstractContextManager, nullcontext
from pathlib import Path
from typing import TYPE_CHECKING

import click

from zeptui import config
from zeptui.cli.browse import open_app
from zeptui.cli.core import PATH, State, check_writable, command, open_store, pass_state
from zeptui.cli.errors import UserError, error_line
from zeptui.cli.output import json_option, respond

if TYPE_CHECKING:
    from rich.console import Console

    from storage.store import MemoryStore
    from zeptui.services.imports import ImportProgress

EXPORT_FORMATS = ("zep-json", "zep-dump", "zep-jsonl", "markdown", "openai-jsonl")
"""`zeptui.exporters.FORMATS`, spelled out: that module loads the store's models."""


@command("import")
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
@json_option("Print a machine-readable report.")
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
    overrides it). The import is one transaction: Ctrl-C leaves the database as it
    was (with --remote, each file is one). A file with an error adds nothing, and
    the other files are still imported. Importing a file twice adds nothing.
    """
    from zeptui.compose import StoreTarget
    from zeptui.importers import ImportOptions, get_importer
    from zeptui.services.imports import IMPORT_MEMORY_LIMIT, ImportRun

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
        settings = state.settings()
        opened: AbstractContextManager[MemoryStore]
        local = state.remote is None
        if dry_run and local and not state.db_path(create=True, settings=settings).exists():
            # nothing to compare with: don't create the file
            memory = StoreTarget.file(Path(":memory:"))
            opened = open_store(memory, settings, memory_limit=IMPORT_MEMORY_LIMIT)
        else:
            opened = state.write(
                create=True,
                summaries=summaries and not dry_run,
                memory_limit=IMPORT_MEMORY_LIMIT,
                settings=settings,
            )
        with opened as store, _progress(len(run.planned)) as progress:
            run.run(store, progress)

    for message in run.errors:
        click.echo(error_line(message), err=True)

    def human(console: Console) -> None:
        from zeptui import render

        render.print_import_run(console, run)

    respond(as_json, run.report_json(), human)
    if run.errors:
        ctx.exit(1)


def _progress(files: int) -> AbstractContextManager[ImportProgress | None]:
    """The progress bar on a terminal; nothing into a pipe or file."""
    if not sys.stderr.isatty():
        return nullcontext()
    from zeptui.cli.progress import ImportBar

    return ImportBar(files)


@command()
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
    from zeptui.services.export import (
        STDOUT,
        ExportRequest,
        database_files,
        export,
        refuse_the_store,
    )

    settings = state.settings()
    store_files = database_files(state.local_path(settings))
    request = ExportRequest(format_name, session_ids, user_id, output or STDOUT)
    if not request.to_stdout:
        refuse_the_store(request.output, store_files)
    with state.read(settings) as store:
        export(store, request, store_files)


@command()
@click.option("--db", "demo_db", type=PATH, metavar="PATH", help="Default: demo.duckdb.")
@pass_state
def demo(state: State, demo_db: Path | None) -> None:
    """Load the bundled sample conversations into a demo database and open it."""
    if state.remote is not None:
        raise UserError("demo makes a database file of sample data; --remote does not apply")
    from rich.text import Text

    from zeptui import render
    from zeptui.compose import StoreTarget
    from zeptui.importers import import_file

    path = state.resolved = config.demo_db_path(demo_db or state.db)
    check_writable(path)
    with open_store(StoreTarget.file(path), state.settings(), summaries=True) as store:
        reports = [import_file(store, sample) for sample in config.sample_files()]
    added = sum(report.result.messages_added for report in reports)
    present = sum(report.result.messages_skipped for report in reports)
    note = f"Demo data: {added:,} messages added, {present:,} already present."
    render.make_console().print(Text(note, style="dim"))
    open_app(state, path)
