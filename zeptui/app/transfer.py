"""The app's import and export: the services of `zeptui import` and `zeptui export`
(`zeptui/services/imports.py`, `export.py`) run by the data layer, with their
progress posted to the dialog that started them.

- `preview_import` plans an import (the service's `ImportRun`: expansion of
  directories and archives, format detection) and reads the first sessions it would
  import, bounded in time, without the store. It runs on a thread worker of the
  dialog.
- `ImportJob` runs the planned `ImportRun` under the write lease, with the import's
  memory limit, as the CLI does: on a database file all of it in one transaction, so a
  cancel leaves the store as it was; on a server each file in its own, so a cancel
  keeps the files finished before it (`zeptui/services/imports.py`).
- `ExportJob` runs the export service under the read lease: the open session, the
  sessions the list's filter shows, or everything.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.text import Text
from textual.message import Message

from zeptui.app.data import Reply, Request
from zeptui.services import ServiceError
from zeptui.services.imports import ImportCancelled, ImportCounts, ImportRun

if TYPE_CHECKING:
    from pathlib import Path

    from textual.message_pump import MessagePump

    from storage.models import Session, SessionImport
    from storage.store import MemoryStore
    from zeptui.importers import Importer, ImportOptions
    from zeptui.services.export import ExportRequest
    from zeptui.services.filters import SessionFilter
    from zeptui.services.imports import Entry

PREVIEW_SESSIONS = 50
"""Sessions the import preview lists."""
PREVIEW_SECONDS = 1.5
"""How long the preview goes on counting after the listed sessions (a huge file is
counted in part: the dialog then says "at least")."""
PROGRESS_EVERY = 0.1
"""Seconds between progress messages while an import or export counts."""


# --- import preview ---------------------------------------------------------------------


@dataclass(frozen=True)
class PreviewSession:
    """One session the import would write: its id, messages, and its first line."""

    session_id: str
    messages: int
    first_line: str


@dataclass
class ImportPreview:
    """What an import would do: the run as planned, the first sessions, the counts."""

    run: ImportRun
    sessions: list[PreviewSession] = field(default_factory=list)
    session_count: int = 0
    message_count: int = 0
    complete: bool = True
    """Every file was read to its end (else the counts are lower bounds)."""
    rejected: list[str] = field(default_factory=list)
    """Bad records found (`file:line: reason`): the import fails on them unless
    invalid records are skipped."""


def preview_import(
    run: ImportRun, cancelled: Callable[[], bool], seconds: float = PREVIEW_SECONDS
) -> ImportPreview:
    """Read `run`'s planned files as the import would (its options applied), listing
    the first `PREVIEW_SESSIONS` sessions and counting on for `seconds` at most."""
    from zeptui.importers import ImportFileError, ReadContext

    preview = ImportPreview(run)
    deadline = time.monotonic() + seconds
    for entry in run.planned:
        assert entry.source is not None and entry.importer is not None
        context = ReadContext(skip_invalid=True, id_base=entry.source.id_base)
        last: str | None = None
        try:
            for session in entry.importer.read(entry.source.readable(), context):
                if cancelled():
                    return preview
                run.options.apply(session)
                _count(preview, session, new=session.session_id != last)
                last = session.session_id
                if time.monotonic() > deadline and len(preview.sessions) >= PREVIEW_SESSIONS:
                    preview.complete = False
                    break
        except ImportFileError as failure:
            context.skipped.append(failure)
        for error in context.skipped:
            error.path = entry.name  # as the import names it (an archive member too)
            preview.rejected.append(str(error))
        if not preview.complete:
            break
    return preview


def _count(preview: ImportPreview, session: SessionImport, *, new: bool) -> None:
    from zeptui.text import sanitize

    preview.message_count += len(session.messages)
    if not new:  # a later part of a long session
        if preview.sessions and preview.sessions[-1].session_id == session.session_id:
            last = preview.sessions[-1]
            preview.sessions[-1] = replace(last, messages=last.messages + len(session.messages))
        return
    preview.session_count += 1
    if len(preview.sessions) < PREVIEW_SESSIONS:
        first = next((m.content for m in session.messages if m.content.strip()), "")
        line = sanitize(first.strip().splitlines()[0] if first.strip() else "")
        preview.sessions.append(PreviewSession(session.session_id, len(session.messages), line))


class ImportPreviewed(Message):
    """The preview of an import, or why there is none."""

    def __init__(self, preview: ImportPreview | None, error: str | None = None) -> None:
        super().__init__()
        self.preview = preview
        self.error = error


# --- progress ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    """Where an import or export is: a snapshot, safe to hand to the UI thread."""

    total: int | None
    """What `done` counts up to (files, messages or sessions), when known."""
    done: int
    sessions: int = 0
    messages: int = 0
    started: float = 0.0
    file: str = ""
    phase: str = ""
    all_or_nothing: bool = False
    """An import in one transaction: a cancel leaves the store as it was."""

    def seconds_left(self, now: float | None = None) -> float | None:
        """An estimate from the rate so far (None until there is one); `now` is
        `time.monotonic()` unless given."""
        elapsed = (time.monotonic() if now is None else now) - self.started
        if not self.total or not self.done or elapsed < 0.2:
            return None
        return max(self.total - self.done, 0) * elapsed / self.done


def duration(seconds: float) -> str:
    """`42 s`, `3 min 5 s`, `1 h 2 min`."""
    whole = round(seconds)
    if whole < 60:
        return f"{whole} s"
    if whole < 3600:
        return f"{whole // 60} min {whole % 60} s"
    return f"{whole // 3600} h {whole % 3600 // 60} min"


def progress_line(progress: Progress, now: float | None = None) -> Text:
    """The counts and the time left, under a progress bar; then the file."""
    if progress.phase == "summaries":
        text = f"Summarising: {progress.done:,} of {progress.total or 0:,} sessions"
    elif progress.messages:
        text = f"{progress.sessions:,} sessions · {progress.messages:,} messages"
    else:
        text = f"{progress.sessions:,} sessions"
    left = progress.seconds_left(now)
    line = Text(text + (f" · {duration(left)} left" if left is not None else ""))
    if progress.file:
        line.append("\n")
        line.append(progress.file, style="dim")
    return line


def cancel_note(progress: Progress) -> str:
    """What a cancel would undo now, under the progress bar."""
    if progress.phase == "summaries":
        return "The import is stored; its summaries are being made."
    if progress.all_or_nothing:
        return "A cancel leaves the store as it was before the import."
    return "A cancel rolls back the file under way only: this store keeps each file as it finishes."


def bar_total(expected_messages: int | None, files: int) -> int | None:
    """What the import's bar counts up to: the messages when the preview counted
    them all, else the files when there are several; else nothing (None: the bar
    pulses), as a file read whole moves no count until it is stored."""
    if expected_messages:
        return expected_messages
    return files if files > 1 else None


class Progressed(Message):
    """An import or export moved on."""

    def __init__(self, progress: Progress) -> None:
        super().__init__()
        self.progress = progress


class _PostedImportProgress:
    """An `ImportProgress` that posts `Progressed` to `target`, at most every
    `PROGRESS_EVERY` seconds while messages are counted. With `expected` messages
    (the preview's count) the bar follows messages, else files."""

    def __init__(self, target: MessagePump, expected: int | None) -> None:
        self.target = target
        self.expected = expected
        self.file = ""
        self.last = 0.0

    def _post(self, counts: ImportCounts) -> None:
        self.last = time.monotonic()
        progress = Progress(
            bar_total(self.expected, counts.files),
            counts.messages if self.expected else counts.done,
            counts.sessions,
            counts.messages,
            counts.started,
            self.file,
            all_or_nothing=counts.all_or_nothing,
        )
        self.target.post_message(Progressed(progress))

    def file_started(self, name: str, counts: ImportCounts) -> None:
        self.file = name
        self._post(counts)

    def counted(self, counts: ImportCounts) -> None:
        if time.monotonic() - self.last >= PROGRESS_EVERY:
            self._post(counts)

    def file_ended(self, entry: Entry, counts: ImportCounts) -> None:
        self._post(counts)

    def summaries(self, done: int, sessions: int) -> None:
        if done == sessions or time.monotonic() - self.last >= PROGRESS_EVERY:
            self.last = time.monotonic()
            progress = Progress(sessions, done, started=self.last, phase="summaries")
            self.target.post_message(Progressed(progress))


# --- import and export jobs ------------------------------------------------------------


@dataclass(eq=False)
class ImportJob(Request):
    """Import `paths` as `zeptui import` would, under the write lease, posting
    progress to `target`; `cancel` (from the UI thread) stops it."""

    group = "import"
    exclusive = False

    paths: list[Path]
    forced: Importer | None
    options: ImportOptions
    target: MessagePump
    expected_messages: int | None = None
    """The preview's count, when it read everything: the bar then follows messages."""
    import_run: ImportRun | None = None
    _cancel: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> bool:
        """Stop the import at once (from the UI thread: the roll-back runs on the
        import's); False when it came too late, the import being stored already."""
        self._cancel.set()
        if self.import_run is not None:
            return self.import_run.cancel()
        return True

    def run(self, store: MemoryStore, database: Path | None) -> ImportFinished:
        # Planned here, off the UI thread (detection reads each file's head).
        self.import_run = run = ImportRun(self.paths, self.forced, self.options)
        if self._cancel.is_set():
            run.cancel()
        try:
            run.run(store, _PostedImportProgress(self.target, self.expected_messages))
        except ImportCancelled as cancelled:
            return ImportFinished(self, run, cancelled)
        return ImportFinished(self, run)


class ImportFinished(Reply):
    """The import ended: the run's entries say what became of each file."""

    def __init__(
        self, request: ImportJob, run: ImportRun, cancelled: ImportCancelled | None = None
    ) -> None:
        super().__init__(request)
        self.run = run
        self.cancelled = cancelled


@dataclass(eq=False)
class ExportJob(Request):
    """Export under the read lease: `request`'s sessions, or with `session_filter`
    the sessions that filter shows. Progress goes to `target`."""

    group = "export"
    exclusive = False

    request: ExportRequest
    target: MessagePump
    session_filter: SessionFilter | None = None

    def run(self, store: MemoryStore, database: Path | None) -> ExportFinished:
        from zeptui.services.export import database_files, export

        request = self.request
        if self.session_filter is not None:
            ids = _filtered_ids(store, self.session_filter)
            if not ids:  # no ids would mean every session
                raise ServiceError("no sessions match the filter: nothing to export")
            request = replace(request, session_ids=ids)
        total = len(request.session_ids) if request.session_ids else _session_count(store)
        started = time.monotonic()
        written = 0
        last = 0.0

        def told(session: Session) -> None:
            nonlocal written, last
            written += 1
            if time.monotonic() - last >= PROGRESS_EVERY:
                last = time.monotonic()
                progress = Progress(total, written, sessions=written, started=started)
                self.target.post_message(Progressed(progress))

        export(store, request, database_files(database), on_session=told)
        return ExportFinished(self, written)


def _session_count(store: MemoryStore) -> int | None:
    from storage.capabilities import Maintenance, offered

    maintenance = offered(store, Maintenance)
    return None if maintenance is None else maintenance.stats().sessions


def _filtered_ids(store: MemoryStore, session_filter: SessionFilter) -> list[str]:
    from storage.capabilities import SessionPages, require
    from storage.models import SessionQuery

    pages = require(store, SessionPages, "list sessions by a filter")
    ids: list[str] = []
    cursor: int | None = 0
    while cursor is not None:
        query = SessionQuery(limit=500, cursor=cursor, **session_filter.query_fields())
        page = pages.session_page(query)
        ids.extend(info.session.session_id for info in page.sessions)
        cursor = page.next_cursor
    return ids


class ExportFinished(Reply):
    """The export is written: `sessions` of them."""

    def __init__(self, request: ExportJob, sessions: int) -> None:
        super().__init__(request)
        self.sessions = sessions


# --- the import's result ---------------------------------------------------------------


class _Lines(Console):
    """A console that keeps what is printed (Rich `Text` lines) instead of writing it."""

    def __init__(self) -> None:
        super().__init__(markup=False, emoji=False, highlight=False)
        self.lines: list[Text] = []

    def print(self, *objects: Any, **options: Any) -> None:
        self.lines.extend(item if isinstance(item, Text) else Text(str(item)) for item in objects)


def import_report(run: ImportRun, cancelled: ImportCancelled | None) -> Text:
    """What the import did, as `zeptui import` prints it: a line per file, the
    records skipped and why (`file:line: reason`), then the errors; a cancel first
    (after a cancel that undid everything, the files' lines are left out)."""
    from zeptui import render

    lines: list[Text] = []
    if cancelled is not None:
        lines.append(render.data(cancel_line(cancelled), "bold yellow"))
    if cancelled is None or cancelled.kept:
        console = _Lines()
        render.print_import_run(console, run)
        lines.extend(console.lines)
    lines.extend(render.data(f"error: {error}", "red") for error in run.errors)
    if not lines:
        lines.append(Text("Nothing to import."))
    return Text("\n").join(lines)


def cancel_line(cancelled: ImportCancelled) -> str:
    """What a cancel left: nothing at all, or the files finished before it."""
    files = f"{cancelled.done:,} file{'' if cancelled.done == 1 else 's'}"
    if not cancelled.kept:
        undone = f", not even the {files} finished before the cancel" if cancelled.done else ""
        return f"Cancelled: nothing was imported{undone}; the store is as it was."
    what = f"nothing of {cancelled.file} was written" if cancelled.file else "stopped"
    before = (
        f"; the {files} imported before the cancel stay (below)"
        if cancelled.done
        else "; nothing was imported"
    )
    return f"Cancelled: {what}{before}."
