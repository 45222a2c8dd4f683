"""One `zeptui import` run: expand the paths, detect formats, import, report.

Kept apart from the CLI so that the app's import screen and tests can drive it too.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage.models import ImportResult
from zeptui.importers import (
    FileReport,
    Importer,
    ImportFileError,
    ImportOptions,
    UnrecognisedFormatError,
    detect_importer,
    import_file,
)
from zeptui.importers.sources import ArchiveLimits, Source, expand

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from storage.models import SessionImport
    from storage.store import MemoryStore

__all__ = ["Entry", "ImportRun"]


@dataclass
class Entry:
    """One file of the run and what became of it: a report, an error, or a note."""

    name: str
    source: Source | None = None
    importer: Importer | None = None
    report: FileReport | None = None
    error: str | None = None
    note: str | None = None
    """Why a file found in a directory or archive was left alone."""


@dataclass
class ImportRun:
    """Plan (expand + detect, no store needed) on creation; `run` imports."""

    paths: list[Path]
    forced: Importer | None = None
    options: ImportOptions = field(default_factory=ImportOptions)
    entries: list[Entry] = field(default_factory=list)
    archive_limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    """What a zip archive's chat files may expand to (see `ArchiveLimits`)."""

    def __post_init__(self) -> None:
        for path in self.paths:  # detect first: unreadable files never open the store
            sources, errors = expand([path], self.archive_limits)
            self.entries.extend(Entry(error.path, error=str(error)) for error in errors)
            entries = [self._plan(source) for source in sources]
            self.entries.extend(entries)
            if entries and all(entry.note is not None for entry in entries):
                # a directory or archive of JSON files none of which is a chat history
                files = f"{len(entries)} JSON file{'' if len(entries) == 1 else 's'}"
                reason = (
                    f"nothing to import: {files}, none of them a chat history in a known format"
                )
                self.entries.append(
                    Entry(str(path), error=str(ImportFileError(path, None, reason)))
                )

    def _plan(self, source: Source) -> Entry:
        entry = Entry(source.name, source)
        if self.forced is not None:
            entry.importer = self.forced
            return entry
        try:
            if source.member is None:
                entry.importer = detect_importer(source.path)
            else:
                entry.importer = detect_importer(Path(source.name), head=source.head())
        except UnrecognisedFormatError as error:
            if source.in_container:
                entry.note = "not a chat history in a known format"
            else:
                entry.error = str(error)
        except ImportFileError as error:
            entry.error = str(error)
        return entry

    @property
    def planned(self) -> list[Entry]:
        """The entries to import."""
        return [entry for entry in self.entries if entry.importer is not None]

    @property
    def errors(self) -> list[str]:
        """One line per file that failed (nothing of it was imported)."""
        return [entry.error for entry in self.entries if entry.error]

    @property
    def reports(self) -> list[FileReport]:
        return [entry.report for entry in self.entries if entry.report is not None]

    def run(self, store: MemoryStore, *, show_progress: bool = False) -> None:
        """Import each planned file in its own transaction, in order; then wait for
        the store's summaries of the imported sessions, if it makes them."""
        from storage.errors import StoreError, StoreLockedError
        from storage.summary_scheduler import WaitsForSummaries

        planned = self.planned
        with _ProgressDisplay(len(planned), enabled=show_progress) as progress:
            for entry in planned:
                assert entry.source is not None and entry.importer is not None
                progress.start_file(entry.name)
                try:
                    entry.report = import_file(
                        store,
                        entry.source.readable(),
                        entry.importer,
                        self.options,
                        name=entry.name,
                        id_base=entry.source.id_base,
                        on_session=progress.session,
                    )
                except ImportFileError as error:
                    entry.error = str(error)
                except StoreLockedError:
                    raise
                except StoreError as error:
                    entry.error = f"{entry.name}: {error}"
                progress.end_file(entry.report)
            if isinstance(store, WaitsForSummaries):  # make them now, in sight
                store.wait_for_summaries(progress=progress.summaries)

    def totals(self) -> ImportResult:
        """The sum of every file's result."""
        totals = ImportResult()
        for report in self.reports:
            for name in ImportResult.model_fields:
                setattr(totals, name, getattr(totals, name) + getattr(report.result, name))
        return totals

    def report_json(self) -> dict[str, Any]:
        """The machine-readable report: per file, and totals."""
        files: list[dict[str, Any]] = []
        for entry in self.entries:
            if entry.report is not None:
                report = entry.report
                files.append(
                    {
                        "file": report.path,
                        "format": report.format,
                        **report.result.model_dump(),
                        "records_skipped": report.skipped_count,
                        "skipped": list(report.skipped),
                        "warning_count": report.warning_count,
                        "warnings": list(report.warnings),
                    }
                )
            elif entry.error is not None:
                files.append({"file": entry.name, "error": entry.error})
            elif entry.note is not None:
                files.append({"file": entry.name, "ignored": entry.note})
        totals = {
            **self.totals().model_dump(),
            "records_skipped": sum(report.skipped_count for report in self.reports),
            "errors": len(self.errors),
        }
        return {"dry_run": self.options.dry_run, "files": files, "totals": totals}


class _ProgressDisplay:
    """A live line on stderr while files import: file, sessions, messages, rate."""

    REFRESH = 0.1

    def __init__(self, files: int, *, enabled: bool) -> None:
        self.files = files
        self.enabled = enabled and files > 0
        self.done = 0
        self.file_sessions = 0
        self.last_session: str | None = None
        self.sessions = 0
        self.messages = 0
        self.started = time.monotonic()
        self.last = 0.0
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def __enter__(self) -> _ProgressDisplay:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                SpinnerColumn,
                TextColumn,
                TimeElapsedColumn,
            )

            self.progress = Progress(
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(bar_width=20),
                MofNCompleteColumn(),
                TextColumn("{task.fields[unit]}"),
                TextColumn("{task.fields[counts]}"),
                TimeElapsedColumn(),
                console=Console(stderr=True),
                transient=True,
            )
            self.progress.start()
            self.task = self.progress.add_task("", total=self.files, counts="", unit="files")
        return self

    def __exit__(self, *exc: object) -> None:
        if self.progress is not None:
            self.progress.stop()

    def start_file(self, name: str) -> None:
        self.file_sessions = 0
        self.last_session = None
        if self.progress is not None and self.task is not None:
            from rich.markup import escape

            self.progress.update(self.task, description=escape(Path(name).name))

    def session(self, session: SessionImport) -> None:
        if session.session_id != self.last_session:  # later parts of a long session: not again
            self.sessions += 1
            self.file_sessions += 1
            self.last_session = session.session_id
        self.messages += len(session.messages)
        now = time.monotonic()
        if now - self.last >= self.REFRESH:
            self.last = now
            self._show()

    def end_file(self, report: FileReport | None) -> None:
        self.done += 1
        if report is not None and self.file_sessions == 0:  # a bulk import: no per-session calls
            result = report.result
            self.sessions += result.sessions_created + result.sessions_updated
            self.messages += result.messages_added + result.messages_skipped
        self._show()

    def summaries(self, done: int, sessions: int) -> None:
        """The summary phase: `done` of `sessions` sessions summarised."""
        if self.progress is None or self.task is None:
            return
        now = time.monotonic()
        if done == 0 or done == sessions or now - self.last >= self.REFRESH:
            self.last = now
            self.progress.update(
                self.task,
                description="summaries",
                completed=done,
                total=sessions,
                unit="sessions summarised",
                counts="",  # the import's rate would only decay from here
            )

    def _show(self) -> None:
        if self.progress is None or self.task is None:
            return
        elapsed = max(time.monotonic() - self.started, 1e-6)
        counts = (
            f"{self.sessions:,} sessions · {self.messages:,} messages · "
            f"{self.messages / elapsed:,.0f} msg/s"
        )
        self.progress.update(self.task, completed=self.done, counts=counts)
