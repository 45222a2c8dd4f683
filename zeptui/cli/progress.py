"""The import's progress on a terminal: one live Rich line on stderr."""

from __future__ import annotations

import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

    from zeptui.services.imports import Entry, ImportCounts


class ImportBar:
    """An `ImportProgress` drawn as a transient line on stderr: the file, a bar of files
    done, sessions, messages, the rate and the time; then the summaries made. A context
    manager: the line is removed when the block ends."""

    REFRESH = 0.1
    """Seconds between redraws while messages are counted."""

    def __init__(self, files: int) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self.last = 0.0
        self.progress: Progress = Progress(
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
        self.task: TaskID = self.progress.add_task("", total=files, counts="", unit="files")

    def __enter__(self) -> ImportBar:
        self.progress.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.progress.stop()

    def file_started(self, name: str, counts: ImportCounts) -> None:
        from rich.markup import escape

        self.progress.update(self.task, description=escape(Path(name).name))

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
        self.progress.update(self.task, completed=counts.done, counts=text)
