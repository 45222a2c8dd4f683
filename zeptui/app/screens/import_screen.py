"""The import dialog (`i`): pick, preview, import with progress, read the result.

Four steps in one modal, as `zeptui import` goes:

1. **pick** a file, directory or zip archive: a path box with completion over a
   tree of the working directory (chat files, directories and archives only);
2. **review**: the format detected (or forced), the sessions the import would write
   (the first ones listed, all counted within a bounded read) and the options of
   `zeptui import`;
3. **import**: the service's `ImportRun` under the write lease
   (`zeptui/app/transfer.py`), with a progress bar, counts and time left; `esc`
   cancels at once: on a database file nothing of the import stays, on a server
   the files finished before the cancel do (a note under the bar says which);
4. **result**: what each file did, the records skipped and why, the errors, as the
   CLI prints them.

Nothing blocks the screen: the preview runs on a thread worker, the import on the
data layer's. Paths, ids and file content are shown literally.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Checkbox,
    ContentSwitcher,
    DataTable,
    DirectoryTree,
    Footer,
    Input,
    ProgressBar,
    Select,
    Static,
)
from textual.worker import get_current_worker

from zeptui.app.data import DataLayer, Failed
from zeptui.app.transfer import (
    ImportFinished,
    ImportJob,
    ImportPreview,
    ImportPreviewed,
    Progressed,
    bar_total,
    cancel_note,
    import_report,
    preview_import,
    progress_line,
)
from zeptui.app.widgets.fields import PathInput, format_select
from zeptui.importers import Importer, ImportOptions, get_importer
from zeptui.importers.sources import CHAT_SUFFIXES
from zeptui.services.imports import IMPORT_MEMORY_LIMIT, ImportRun

IMPORT_FORMATS = ("auto", "zep", "chatgpt", "claude", "sharegpt", "openai", "langchain")
"""`zeptui import --format`'s choices."""
PICKED_SUFFIXES = CHAT_SUFFIXES | {".zip"}


class ChatFileTree(DirectoryTree):
    """Directories, chat files and zip archives; hidden entries left out."""

    def filter_paths(self, paths: Iterable[Path]) -> list[Path]:
        return [
            path
            for path in paths
            if not path.name.startswith(".")
            and (path.is_dir() or path.suffix.lower() in PICKED_SUFFIXES)
        ]


class ImportScreen(ModalScreen[bool]):
    """The import dialog; dismissed with True when anything was imported."""

    DEFAULT_CSS: ClassVar[str] = """
    ImportScreen {
        align: center middle;
        & > #dialog {
            width: 100%;
            max-width: 110;
            height: 100%;
            max-height: 36;
            border: thick $primary;
            border-title-color: $accent;
            background: $surface;
            padding: 0 1;
        }
        & ContentSwitcher, & ContentSwitcher > Vertical { height: 1fr; }
        & #tree { height: 1fr; }
        & #preview-table { height: 1fr; }
        & .note { color: $text-muted; height: auto; }
        & .error { color: $error; height: auto; }
        & .options { height: auto; }
        & .options Input { width: 1fr; }
        & .options Select { width: 16; }
        & .options Checkbox { width: auto; margin-right: 2; }
        & .buttons { height: auto; align-horizontal: right; }
        & .buttons Button { margin-left: 2; }
        & #result { height: 1fr; }
        & ProgressBar { margin: 1 0; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        # One key, three meanings: `check_action` keeps the one of the current step.
        Binding("escape", "close", "Close", id="close"),
        Binding("escape", "back", "Back", id="import_back"),
        Binding("escape", "cancel", "Cancel", id="import_cancel"),
        Binding("ctrl+s", "start", "Import", id="import_start"),
    ]
    STEP_ACTIONS: ClassVar[dict[str, str]] = {"back": "review", "cancel": "progress"}

    def __init__(self, data: DataLayer, start: Path | None = None) -> None:
        super().__init__()
        self.data = data
        self.start = start or Path(".")
        self.preview: ImportPreview | None = None
        self.job: ImportJob | None = None
        self.imported = False

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog") as dialog:
            dialog.border_title = "Import"
            with ContentSwitcher(initial="pick", id="steps"):
                with Vertical(id="pick"):
                    yield Static("File, directory or .zip archive (→ completes):", classes="note")
                    yield PathInput(placeholder="path to import", id="path", compact=True)
                    yield ChatFileTree(self.start, id="tree")
                    yield Static("", id="pick-error", classes="error", markup=False)
                with Vertical(id="review"):
                    yield Static("", id="summary", markup=False)
                    yield DataTable(id="preview-table", cursor_type="row", zebra_stripes=True)
                    yield Static("", id="rejected", classes="error", markup=False)
                    with Horizontal(classes="options"):
                        yield format_select(IMPORT_FORMATS, "auto")
                        yield Input(placeholder="user (--user)", id="user", compact=True)
                        yield Input(placeholder="session prefix", id="prefix", compact=True)
                    with Horizontal(classes="options"):
                        yield Input(placeholder="user name", id="user-name", compact=True)
                        yield Input(placeholder="assistant name", id="assistant-name", compact=True)
                    with Horizontal(classes="options"):
                        yield Checkbox("Skip invalid records", id="skip-invalid", compact=True)
                        yield Checkbox("Summaries", value=True, id="summaries", compact=True)
                    with Horizontal(classes="buttons"):
                        yield Button("Back", id="back", compact=True)
                        yield Button("Import", id="start", variant="primary", compact=True)
                with Vertical(id="progress"):
                    yield Static("", id="progress-title", markup=False)
                    yield ProgressBar(id="bar", show_eta=False)
                    yield Static("", id="progress-line", markup=False)
                    yield Static("", id="cancel-note", classes="note", markup=False)
                    with Horizontal(classes="buttons"):
                        yield Button("Cancel", id="cancel", variant="error", compact=True)
                with Vertical(id="done"):
                    with VerticalScroll(id="result"):
                        yield Static("", id="result-text")
                    with Horizontal(classes="buttons"):
                        yield Button("Close", id="close", variant="primary", compact=True)
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one("#preview-table", DataTable)
        table.add_column("session", key="session")
        table.add_column("msgs", key="msgs")
        table.add_column("first line", key="first")
        # The tree's root as the paths it gives are written: relative to it.
        self.query_one("#tree", ChatFileTree).root.set_label(f"{self.start}/")
        self.query_one("#path", PathInput).focus()

    @property
    def step(self) -> str:
        return self.query_one("#steps", ContentSwitcher).current or "pick"

    def _go(self, step: str) -> None:
        self.query_one("#steps", ContentSwitcher).current = step
        self.refresh_bindings()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        step = self.step
        if action == "start":
            return step == "review" and self.preview is not None
        if action == "close":
            return step in ("pick", "done")
        if action in self.STEP_ACTIONS:
            return step == self.STEP_ACTIONS[action]
        return True

    # --- pick ---------------------------------------------------------------------------

    @on(DirectoryTree.FileSelected)
    def _file_picked(self, event: DirectoryTree.FileSelected) -> None:
        self._pick(event.path)

    @on(DirectoryTree.DirectorySelected)
    def _directory_picked(self, event: DirectoryTree.DirectorySelected) -> None:
        self.query_one("#path", PathInput).value = str(event.path) + "/"

    @on(Input.Submitted, "#path")
    def _path_submitted(self, event: Input.Submitted) -> None:
        path = self.query_one("#path", PathInput).path
        if path is None:
            self._pick_error("Type a path, or pick one in the tree.")
        else:
            self._pick(path)

    def _pick(self, path: Path) -> None:
        self.query_one("#path", PathInput).value = str(path)
        self._pick_error("")
        self._plan()

    def _pick_error(self, text: str) -> None:
        self.query_one("#pick-error", Static).update(text)

    def _choices(self) -> tuple[Path, Importer | None, ImportOptions] | None:
        """The path, the forced format and the options, as the dialog shows them."""
        path = self.query_one("#path", PathInput).path
        if path is None:
            return None
        format_name = self.query_one("#format", Select).value
        forced = None if format_name == "auto" else get_importer(str(format_name))
        options = ImportOptions(
            session_prefix=self._text("#prefix"),
            user_id=self._text("#user") or None,
            user_name=self._text("#user-name") or None,
            assistant_name=self._text("#assistant-name") or None,
            skip_invalid=self.query_one("#skip-invalid", Checkbox).value,
        )
        return path, forced, options

    def _plan(self) -> None:
        """Plan the import of the path with the options shown, and preview it."""
        choices = self._choices()
        if choices is not None:
            self._preview(*choices)

    def _text(self, selector: str) -> str:
        return self.query_one(selector, Input).value.strip()

    @work(thread=True, exclusive=True, group="import-preview", exit_on_error=False)
    def _preview(self, path: Path, forced: Importer | None, options: ImportOptions) -> None:
        worker = get_current_worker()
        try:
            run = ImportRun([path], forced, options)
            if not run.planned:
                reason = run.errors[0] if run.errors else f"{path}: nothing to import"
                self.post_message(ImportPreviewed(None, reason))
                return
            preview = preview_import(run, lambda: worker.is_cancelled)
        except OSError as error:  # a file that went away meanwhile
            self.post_message(ImportPreviewed(None, f"{path}: {error.strerror or error}"))
            return
        if not worker.is_cancelled:
            self.post_message(ImportPreviewed(preview))

    @on(ImportPreviewed)
    def _previewed(self, event: ImportPreviewed) -> None:
        if event.preview is None:
            self.preview = None
            if self.step == "review":
                self._show_rejected([event.error or ""], blocking=True)
            else:
                self._pick_error(event.error or "")
            return
        self.preview = preview = event.preview
        self._show_preview(preview)
        if self.step == "pick":
            self._go("review")
            self.query_one("#start", Button).focus()
        self.refresh_bindings()

    def _show_preview(self, preview: ImportPreview) -> None:
        run = preview.run
        formats = sorted({entry.importer.name for entry in run.planned if entry.importer})
        files = len(run.planned)
        at_least = "" if preview.complete else "at least "
        summary = (
            f"{self.query_one('#path', PathInput).value} · "
            f"{'format ' + ', '.join(formats)}"
            f"{' (forced)' if run.forced else ' (detected)'} · "
            f"{files:,} file{'' if files == 1 else 's'} · "
            f"{at_least}{preview.session_count:,} sessions, "
            f"{at_least}{preview.message_count:,} messages"
        )
        self.query_one("#summary", Static).update(summary)
        table = self.query_one("#preview-table", DataTable)
        table.clear()
        for session in preview.sessions:
            table.add_row(
                Text(session.session_id), Text(f"{session.messages:,}"), Text(session.first_line)
            )
        problems = [*run.errors, *preview.rejected]
        self._show_rejected(problems, blocking=False)

    def _show_rejected(self, problems: list[str], *, blocking: bool) -> None:
        widget = self.query_one("#rejected", Static)
        if not problems:
            widget.update("")
            return
        skip = self.query_one("#skip-invalid", Checkbox).value
        head = problems[0] + (f" (and {len(problems) - 1:,} more)" if len(problems) > 1 else "")
        if blocking:
            widget.update(head)
        elif skip:
            widget.update(f"Skipped: {head}")
        else:
            widget.update(f"{head}\nThe file fails on this: tick Skip invalid records to skip it.")

    @on(Select.Changed, "#format")
    @on(Checkbox.Changed, "#skip-invalid")
    def _options_changed(self) -> None:
        if self.step == "review":
            self._plan()

    @on(Input.Submitted, "#user, #prefix, #user-name, #assistant-name")
    def _option_submitted(self) -> None:
        self._plan()

    # --- import -------------------------------------------------------------------------

    @on(Button.Pressed, "#start")
    def action_start(self) -> None:
        """Import what the preview shows, with the options shown."""
        preview, choices = self.preview, self._choices()
        if preview is None or choices is None or self.step != "review":
            return
        path, forced, options = choices
        self.query_one("#progress-title", Static).update(f"Importing {path}")
        expected = preview.message_count if preview.complete else None
        self.query_one("#bar", ProgressBar).update(
            total=bar_total(expected, len(preview.run.planned)), progress=0
        )
        self._go("progress")
        self.query_one("#cancel", Button).focus()
        self.job = ImportJob([path], forced, options, self, expected)
        summaries = self.query_one("#summaries", Checkbox).value
        self.data.write(self, self.job, summaries=summaries, memory_limit=IMPORT_MEMORY_LIMIT)

    @on(Progressed)
    def _progressed(self, event: Progressed) -> None:
        progress = event.progress
        bar = self.query_one("#bar", ProgressBar)
        bar.update(total=progress.total, progress=progress.done)
        self.query_one("#progress-line", Static).update(progress_line(progress))
        self.query_one("#cancel-note", Static).update(cancel_note(progress))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        """Cancel the import (see `cancel_note`); the roll-back runs off the UI thread."""
        if self.job is None:
            return
        if self.job.cancel():
            self.notify("Cancelling the import…")
            self.query_one("#progress-line", Static).update("Cancelling…")
        else:
            self.notify(
                "Too late to cancel: the import is stored.",
                severity="warning",
            )

    @on(ImportFinished)
    def _finished(self, event: ImportFinished) -> None:
        run = event.run
        self.imported = bool(run.reports) and (event.cancelled is None or event.cancelled.kept)
        self.query_one("#result-text", Static).update(import_report(run, event.cancelled))
        self._go("done")
        self.query_one("#close", Button).focus()

    @on(Failed)
    def _failed(self, event: Failed) -> None:
        self.query_one("#result-text", Static).update(Text(f"Nothing imported: {event.text}"))
        self._go("done")
        self.query_one("#close", Button).focus()

    # --- leaving ------------------------------------------------------------------------

    @on(Button.Pressed, "#back")
    def action_back(self) -> None:
        """Back to the path."""
        self._go("pick")
        self.query_one("#path", PathInput).focus()

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        """Close the dialog."""
        self.dismiss(self.imported)
