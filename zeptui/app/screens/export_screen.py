"""The export dialog (`x`): the open session, the filtered sessions or everything,
in any format of `zeptui export`, to a path.

The export service (`zeptui/services/export.py`) runs under the read lease
(`zeptui/app/transfer.py`): a file is replaced atomically, the database's own files
are refused, and a path that exists is only replaced once the user confirms.
Progress shows in the dialog; the result is a notification.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Footer,
    Input,
    Label,
    ProgressBar,
    RadioButton,
    RadioSet,
    Select,
    Static,
)

from zeptui.app.data import DataLayer, Failed
from zeptui.app.transfer import ExportFinished, ExportJob, Progressed, progress_line
from zeptui.app.widgets.fields import PathInput, format_select
from zeptui.services import ServiceError
from zeptui.services.filters import SessionFilter

if TYPE_CHECKING:
    from storage.models import SessionInfo
    from zeptui.app.widgets.sessions import SessionsPane

SUFFIXES = {
    "zep-json": ".json",
    "zep-dump": ".json",
    "zep-jsonl": ".jsonl",
    "markdown": ".md",
    "openai-jsonl": ".jsonl",
}
"""The file suffix proposed for each of `zeptui export`'s formats."""


class ExportScreen(ModalScreen[None]):
    """Choose what, how and where; the export runs in a worker."""

    DEFAULT_CSS: ClassVar[str] = """
    ExportScreen {
        align: center middle;
        & > #dialog {
            width: 100%;
            max-width: 90;
            height: auto;
            max-height: 100%;
            border: thick $primary;
            border-title-color: $accent;
            background: $surface;
            padding: 0 1;
        }
        & Label { margin-top: 1; color: $text-muted; }
        & RadioSet { width: 100%; }
        & #format { width: 24; }
        & #message { height: auto; }
        & #message.-error { color: $error; }
        & #message.-warning { color: $warning; }
        & .buttons { height: auto; align-horizontal: right; margin-top: 1; }
        & .buttons Button { margin-left: 2; }
        & #running { height: auto; display: none; }
        & #running.-shown { display: block; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="close"),
        Binding("ctrl+s", "export", "Export", id="export_start"),
    ]

    def __init__(
        self,
        data: DataLayer,
        *,
        session_id: str | None,
        session_filter: SessionFilter | None,
        filtered: int | None = None,
        total: int | None = None,
    ) -> None:
        super().__init__()
        self.data = data
        self.session_id = session_id
        self.session_filter = session_filter
        self.filtered = filtered
        self.total = total
        self.confirmed: Path | None = None
        """A path that exists, which the user agreed to replace."""
        self.running = False
        self.proposal = ""

    @classmethod
    def of(cls, data: DataLayer, info: SessionInfo | None, sessions: SessionsPane) -> ExportScreen:
        """The dialog for the open session (`info`) and the list's filter."""
        filtered = sessions.is_filtered
        return cls(
            data,
            session_id=info.session.session_id if info else None,
            session_filter=sessions.session_filter if filtered else None,
            filtered=sessions.total if filtered else None,
            total=None if filtered else sessions.total,
        )

    def compose(self) -> ComposeResult:
        from zeptui.exporters import FORMATS

        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Export"
            yield Label("Sessions")
            with RadioSet(id="what", compact=True):
                if self.session_id is not None:
                    yield RadioButton(f"This session: {self.session_id}", id="session", value=True)
                if self.session_filter is not None:
                    count = "" if self.filtered is None else f" ({self.filtered:,})"
                    yield RadioButton(f"The sessions the filter shows{count}", id="filtered")
                count = "" if self.total is None else f" ({self.total:,} sessions)"
                yield RadioButton(
                    f"Everything{count}", id="everything", value=self.session_id is None
                )
            yield Label("Format")
            yield format_select(FORMATS, "zep-json")
            yield Label("To (→ completes)")
            yield PathInput(self._proposed("zep-json"), id="output", compact=True)
            yield Static("", id="message", markup=False)
            with Vertical(id="running"):
                yield ProgressBar(id="bar", show_eta=False)
                yield Static("", id="progress-line", markup=False)
            with Horizontal(classes="buttons"):
                yield Button("Close", id="close", compact=True)
                yield Button("Export", id="export", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        self.query_one("#what", RadioSet).focus()  # top to bottom; ctrl+s exports from anywhere

    def _proposed(self, format_name: str) -> str:
        """The file name proposed: the session's id, or `zeptui-export`, and the
        format's suffix."""
        session = self._choice() == "session" and self.session_id
        stem = "".join(c if c.isalnum() or c in "-_." else "_" for c in session or "zeptui-export")
        self.proposal = stem + SUFFIXES.get(format_name, ".txt")
        return self.proposal

    def _choice(self) -> str:
        """`session`, `filtered` or `everything`."""
        if not self.is_mounted:
            return "session" if self.session_id is not None else "everything"
        pressed = self.query_one("#what", RadioSet).pressed_button
        return (pressed.id if pressed is not None else None) or "everything"

    @on(Select.Changed, "#format")
    @on(RadioSet.Changed)
    def _propose_again(self) -> None:
        """A new proposed file name, unless the user typed one."""
        output = self.query_one("#output", PathInput)
        if output.value in (self.proposal, ""):
            output.value = self._proposed(str(self.query_one("#format", Select).value))

    def _say(self, text: str, kind: str = "") -> None:
        message = self.query_one("#message", Static)
        message.update(text)
        message.set_class(kind == "error", "-error")
        message.set_class(kind == "warning", "-warning")

    @on(Input.Submitted, "#output")
    @on(Button.Pressed, "#export")
    def action_export(self) -> None:
        """Export (a path that exists: after the user confirms)."""
        if self.running:
            return
        from zeptui.services.export import ExportRequest, database_files, refuse_the_store

        output = self.query_one("#output", PathInput).path
        if output is None:
            self._say("Type the file to write.", "error")
            return
        try:
            refuse_the_store(output, database_files(self.data.leases.path))
        except ServiceError as error:
            self._say(str(error), "error")
            return
        if output.is_dir():
            self._say(f"{output} is a directory; give a file name", "error")
            return
        if output.exists() and self.confirmed != output:
            self.confirmed = output
            self._say(f"{output} exists: Export again to replace it.", "warning")
            return
        choice = self._choice()
        request = ExportRequest(
            str(self.query_one("#format", Select).value),
            (self.session_id,) if choice == "session" and self.session_id else (),
            output=output,
        )
        job = ExportJob(request, self, self.session_filter if choice == "filtered" else None)
        self.running = True
        self._say("")
        self.query_one("#running").add_class("-shown")
        self.data.read(self, job)

    @on(Progressed)
    def _progressed(self, event: Progressed) -> None:
        progress = event.progress
        self.query_one("#bar", ProgressBar).update(total=progress.total, progress=progress.done)
        self.query_one("#progress-line", Static).update(progress_line(progress))

    @on(ExportFinished)
    def _finished(self, event: ExportFinished) -> None:
        assert isinstance(event.request, ExportJob)
        request = event.request.request
        sessions = f"{event.sessions:,} session{'' if event.sessions == 1 else 's'}"
        self.app.notify(
            f"Exported {sessions} to {request.output} ({request.format_name}).",
            title="Export",
            markup=False,
        )
        self.dismiss(None)

    @on(Failed)
    def _failed(self, event: Failed) -> None:
        self.running = False
        self.confirmed = None
        self.query_one("#running").remove_class("-shown")
        self._say(f"Nothing exported: {event.text}", "error")

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        """Close the dialog (not while the export is being written)."""
        if self.running:
            self._say("The export is being written; it ends on its own.", "warning")
            return
        self.dismiss(None)
