"""The progress of an import or a sync on a terminal: one live Rich line on stderr."""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Self

if TYPE_CHECKING:
    from rich.progress import ProgressColumn, TaskID

    from zeptui.services.imports import Entry, ImportCounts
    from zeptui.services.sync import SyncCounts


class _Line:
    """A transient Rich progress line on stderr, shown for the length of a block."""

    def __init__(self, *columns: ProgressColumn) -> None:
        from rich.console import Console
        from rich.progress import Progress

        self.progress: Progress = Progress(*columns, console=Console(stderr=True), transient=True)

    def __enter__(self) -> Self:
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.progress.stop()


class ImportBar(_Line):
    """An `ImportProgress` drawn as a transient line on stderr: the file, a bar of files
    done, sessions, messages, the rate and the time; then the summaries made. A context
    manager: the line is removed when the block ends."""

    REFRESH = 0.1
    """Seconds between redraws while messages are counted."""

    def __init__(self, files: int) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.last = 0.0
        super().__init__(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("{task.fields[unit]}"),
            TextColumn("{task.fields[counts]}"),
            TimeElapsedColumn(),
        )
        self.task: TaskID = self.progress.add_task("", total=files, counts="", unit="files")

    def file_started(self, name: str, counts: ImportCounts) -> None:
        from rich.markup import escape

        self.progress.update(self.task, description=escape(Path(name).name))
        self._show(counts)

    def counted(self, counts: ImportCounts) -> None:
        now = time.monotonic()
        if now - self.last >= self.REFRESH:
            self.last = now
            self._show(counts)

    def file_ended(self, entry: Entry, counts: ImportCounts) -> None:
        self._show(counts)

    def summaries(self, done: int, sessions: int) -> None:
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

    def _show(self, counts: ImportCounts) -> None:
        text = (
            f"{counts.sessions:,} sessions · {counts.messages:,} messages · "
            f"{counts.rate():,.0f} msg/s"
        )
        # (Back to files, after a file's summaries were shown.)
        self.progress.update(
            self.task,
            completed=counts.done,
            total=counts.files,
            unit="files",
            counts=text,
        )


class SyncBar(_Line):
    """A sync's `SyncProgress` drawn as a transient line on stderr: a bar of messages
    copied, sessions done, the rate and the time left."""

    def __init__(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            SpinnerColumn,
            TextColumn,
            TimeRemainingColumn,
        )

        super().__init__(
            SpinnerColumn(),
            TextColumn("sync"),
            BarColumn(bar_width=20),
            MofNCompleteColumn(),
            TextColumn("messages · {task.fields[counts]}"),
            TimeRemainingColumn(),
        )
        self.task: TaskID = self.progress.add_task("", total=None, counts="planning")

    def __call__(self, counts: SyncCounts) -> None:
        text = f"{counts.sessions_done:,}/{counts.sessions:,} sessions · {counts.rate():,.0f} msg/s"
        self.progress.update(
            self.task, completed=counts.messages_done, total=counts.messages, counts=text
        )
