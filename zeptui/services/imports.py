"""One import run: expand the paths, detect formats, import, report.

Any front end drives it: `ImportRun(paths, ...)` plans (expands directories and
archives, detects each file's format; no store needed), `run(store, progress)`
imports the files and tells `progress` what happens (an `ImportProgress`: the CLI
draws a Rich bar, the app its own), and the run keeps the report of every file
(`entries`, `errors`, `totals`, `report_json`).

A store that offers `ImportTransactions` (a DuckDB file) takes the whole run as one
transaction: a cancel, a Ctrl-C or a crash leaves it exactly as it was. A file that
fails still adds nothing while the others are imported: the store has no
savepoints, so its failure rolls back the files before it too, and the run imports
those again. Any other store (a server's) takes each file in its own transaction:
a cancel rolls back the file under way, and the files finished before it stay.

`cancel()`, from any thread, stops a run at once: the statement under way is
interrupted, what is not committed is rolled back, and `run` raises
`ImportCancelled`.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from storage.models import ImportResult
from zeptui.importers import (
    HEAD_BYTES,
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
    from storage.capabilities import ImportTransaction
    from storage.models import SessionImport
    from storage.store import MemoryStore

__all__ = [
    "IMPORT_MEMORY_LIMIT",
    "Entry",
    "ImportCancelled",
    "ImportCounts",
    "ImportProgress",
    "ImportRun",
]

IMPORT_MEMORY_LIMIT = "256MB"
"""DuckDB's memory while zeptui imports (`zeptui import`, the app's import): big files
spill to disk instead of growing the process (peak memory stays flat as files grow;
~10-20% slower at a million messages than without a limit, see bench/README.md)."""


class ImportCancelled(Exception):
    """The run was cancelled: the file under way was rolled back, and so were the
    `done` files imported before the cancel unless `kept` (a store that takes each
    file in its own transaction)."""

    def __init__(self, file: str | None, done: int, *, kept: bool) -> None:
        super().__init__(f"import cancelled during {file}" if file else "import cancelled")
        self.file = file
        self.done = done
        self.kept = kept


@dataclass
class ImportCounts:
    """How far a run got: files done, and sessions and messages read so far."""

    files: int
    done: int = 0
    sessions: int = 0
    messages: int = 0
    started: float = field(default_factory=time.monotonic)
    all_or_nothing: bool = False
    """The run is one transaction: a cancel leaves nothing (see the module docstring)."""

    def rate(self) -> float:
        """Messages per second since the run started."""
        return self.messages / max(time.monotonic() - self.started, 1e-6)


class ImportProgress(Protocol):
    """What an import run tells its front end, in this order: each file starts,
    sessions and messages are counted as they go, the file ends; then the summaries
    of the imported sessions are made, if the store makes them. `counts` is the
    run's own (updated in place): read it, do not keep it."""

    def file_started(self, name: str, counts: ImportCounts) -> None: ...
    def counted(self, counts: ImportCounts) -> None: ...
    def file_ended(self, entry: Entry, counts: ImportCounts) -> None: ...
    def summaries(self, done: int, sessions: int) -> None:
        """The summary phase: `done` of `sessions` sessions summarised."""
        ...


class NoProgress:
    """An `ImportProgress` that shows nothing."""

    def file_started(self, name: str, counts: ImportCounts) -> None:
        pass

    def counted(self, counts: ImportCounts) -> None:
        pass

    def file_ended(self, entry: Entry, counts: ImportCounts) -> None:
        pass

    def summaries(self, done: int, sessions: int) -> None:
        pass


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
    store_reads: bool = True
    """Whether a store that reads such files itself may read it (not once that failed
    inside the run's transaction: then the importer reads it)."""


@dataclass
class ImportRun:
    """Plan (expand + detect, no store needed) on creation; `run` imports."""

    paths: list[Path]
    forced: Importer | None = None
    options: ImportOptions = field(default_factory=ImportOptions)
    entries: list[Entry] = field(default_factory=list)
    archive_limits: ArchiveLimits = field(default_factory=ArchiveLimits)
    """What a zip archive's chat files may expand to (see `ArchiveLimits`)."""
    _cancelled: threading.Event = field(default_factory=threading.Event, repr=False)
    _transaction: ImportTransaction | None = field(default=None, repr=False)
    _stored: bool = field(default=False, repr=False)

    def cancel(self) -> bool:
        """Stop the run at once (thread-safe); see the module docstring. False when it
        comes too late: the run's transaction is committing or committed."""
        self._cancelled.set()
        transaction = self._transaction
        if transaction is not None:
            return transaction.interrupt()
        return not self._stored

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
        try:
            head = source.head()
            if not head.strip() and len(head) < HEAD_BYTES:  # whatever the format: no record
                if source.in_container:
                    entry.note = "empty file"
                    return entry
                raise ImportFileError(
                    Path(source.name), None, "nothing to import: the file is empty"
                )
            if self.forced is not None:
                entry.importer = self.forced
                return entry
            # The head is read once: an archive member's path is only its name.
            path = source.path if source.member is None else Path(source.name)
            entry.importer = detect_importer(path, head=head)
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

    def run(self, store: MemoryStore, progress: ImportProgress | None = None) -> None:
        """Import the planned files in order, in one transaction if the store offers
        it (see the module docstring); then wait for the store's summaries of the
        imported sessions, if it makes them."""
        from storage.capabilities import ImportInterrupted, ImportTransactions, offered
        from storage.summary_scheduler import WaitsForSummaries

        shown: ImportProgress = progress or NoProgress()
        counts = ImportCounts(len(self.planned))
        atomic = None if self.options.dry_run else offered(store, ImportTransactions)
        if atomic is None:
            self._import_all(store, shown, counts)
        else:
            counts.all_or_nothing = True
            try:
                with atomic.import_transaction() as transaction:
                    self._transaction = transaction
                    self._import_all(store, shown, counts)
                self._stored = True  # before a cancel can miss the transaction
            except ImportInterrupted:  # cancelled as the transaction was to commit
                raise ImportCancelled(None, counts.done, kept=False) from None
            finally:
                self._transaction = None
        self._stored = True
        if isinstance(store, WaitsForSummaries):  # make them now, in sight
            store.wait_for_summaries(progress=shown.summaries)

    def _import_all(self, store: MemoryStore, shown: ImportProgress, counts: ImportCounts) -> None:
        planned = self.planned
        transaction = self._transaction
        for index, entry in enumerate(planned):
            self.stop_if_cancelled(None, counts)
            shown.file_started(entry.name, counts)
            restarts = transaction.restarts if transaction is not None else 0
            self._import(store, entry, _SessionCounter(counts, shown, self, entry.name))
            if transaction is not None and transaction.restarts != restarts:
                # Its failure rolled back the files before it too: import them again.
                entry.store_reads = False
                self._redo(store, planned[: index + 1], transaction)
            counts.done += 1
            shown.file_ended(entry, counts)
        if transaction is not None:  # a cancel up to the commit undoes it all
            self.stop_if_cancelled(None, counts)

    def _import(self, store: MemoryStore, entry: Entry, counter: _SessionCounter) -> None:
        """Import one file: its report, or its error, goes to `entry`."""
        from storage.capabilities import ImportInterrupted
        from storage.errors import StoreError, StoreLockedError

        assert entry.source is not None and entry.importer is not None
        try:
            entry.report = import_file(
                store,
                entry.source.readable(),
                entry.importer,
                self.options,
                name=entry.name,
                id_base=entry.source.id_base,
                on_session=counter,
                on_read=counter.read,
                on_summaries=counter.summaries,
                store_reads=entry.store_reads,
            )
        except ImportFileError as error:
            entry.error = str(error)
        except ImportInterrupted:
            raise ImportCancelled(entry.name, counter.counts.done, kept=False) from None
        except StoreLockedError:
            raise
        except StoreError as error:
            entry.error = f"{entry.name}: {error}"

    def _redo(
        self, store: MemoryStore, entries: list[Entry], transaction: ImportTransaction
    ) -> None:
        """Import again, quietly and in order, those of `entries` that were imported
        (in a new transaction: the last of them may be in the one that began after
        the failure, out of order)."""
        from storage.errors import StoreError

        transaction.restart()
        restarts = transaction.restarts
        quiet = ImportCounts(len(entries))
        for entry in entries:
            if entry.report is None:
                continue
            self._import(store, entry, _SessionCounter(quiet, NoProgress(), self, entry.name))
            if entry.error is not None or transaction.restarts != restarts:
                raise StoreError(f"{entry.name}: it could not be imported again: {entry.error}")

    def stop_if_cancelled(self, file: str | None, counts: ImportCounts) -> None:
        """Raise `ImportCancelled` once cancelled: raised inside the run's (or the
        file's) transaction, which is then rolled back."""
        if self._cancelled.is_set():
            kept = not counts.all_or_nothing
            raise ImportCancelled(file, counts.done, kept=kept)

    def totals(self) -> ImportResult:
        """The sum of every file's result."""
        return ImportResult.total(report.result for report in self.reports)

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


class _SessionCounter:
    """Counts the sessions and messages a file hands the store (a long session comes
    in parts: counted once), tells `progress`, and stops at a cancel."""

    def __init__(
        self, counts: ImportCounts, progress: ImportProgress, run: ImportRun, name: str
    ) -> None:
        self.counts = counts
        self.progress = progress
        self.run = run
        self.name = name
        self.sessions = 0
        self.last_session: str | None = None

    def read(self, sessions: int, messages: int) -> None:
        """A store read the whole file itself: what it holds, at once."""
        self.run.stop_if_cancelled(self.name, self.counts)
        self.counts.sessions += sessions
        self.counts.messages += messages
        self.progress.counted(self.counts)

    def summaries(self, done: int, sessions: int) -> None:
        """A store makes the summaries of the file's new sessions as it imports it."""
        self.run.stop_if_cancelled(self.name, self.counts)
        self.progress.summaries(done, sessions)

    def __call__(self, session: SessionImport) -> None:
        self.run.stop_if_cancelled(self.name, self.counts)
        if session.session_id != self.last_session:  # later parts of a long session: not again
            self.sessions += 1
            self.counts.sessions += 1
            self.last_session = session.session_id
        self.counts.messages += len(session.messages)
        self.progress.counted(self.counts)
