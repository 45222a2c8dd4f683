"""Pull from and push to a server, from the command palette ("Pull from remote", "Push
to remote"): a dialog asks for the server, the sync (zeptui/services/sync.py) runs on a
worker under the write lease (a pull) or the read lease (a push), the dialog shows its
progress, then a notification says what it did and the app reads the store again. A
failure is a notification (and stays in the dialog, to try another address); nothing
is raised in the app.
"""

from __future__ import annotations

import contextlib
from functools import partial
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, Input, ProgressBar, Static

from zeptui.app.data import DataLayer, Failed
from zeptui.app.sync_request import SyncDone, SyncRequest

if TYPE_CHECKING:
    from zeptui.services.sync import SyncCounts, SyncReport
    from zeptui.services.sync_rules import Direction

COMMANDS: tuple[tuple[str, str, Direction], ...] = (
    ("Pull from remote", "Copy a server's memory into this database", "pull"),
    ("Push to remote", "Copy this database's memory into a server", "push"),
)


def summary(report: SyncReport) -> str:
    """The report in a line or two, for a notification."""
    line = (
        f"{report.messages_copied:,} messages, {report.summaries_copied:,} summaries and "
        f"{report.users_created:,} users copied; sessions: {report.sessions_created:,} "
        f"created, {report.sessions_updated:,} updated, {report.sessions_deleted:,} deleted; "
        f"users: {report.users_updated:,} updated, {report.users_deleted:,} deleted; "
        f"{report.messages_updated:,} messages' metadata updated."
    )
    if report.conflicts:
        line += f" {len(report.conflicts):,} conflicts (zeptui sync --dry-run lists them)."
    if report.not_carried:
        line += " Not carried: " + "; ".join(report.not_carried) + "."
    return line


class SyncScreen(ModalScreen[None]):
    """Asks for the server, then shows the sync's progress until it ends."""

    DEFAULT_CSS: ClassVar[str] = """
    SyncScreen {
        align: center middle;
        & > #sync-dialog {
            width: 80%;
            max-width: 100;
            height: auto;
            border: thick $primary;
            border-title-color: $accent;
            background: $surface;
            padding: 0 1;
        }
        & #sync-status {
            color: $text-muted;
        }
        & #sync-status.-error {
            color: $error;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close", id="close")]

    def __init__(self, data: DataLayer, direction: Direction) -> None:
        super().__init__()
        self._data = data
        self.direction: Direction = direction
        self.running = False

    def compose(self) -> ComposeResult:
        title = next(name for name, _, direction in COMMANDS if direction == self.direction)
        with Vertical(id="sync-dialog") as dialog:
            dialog.border_title = title
            yield Input(
                placeholder="The server: http://HOST:PORT, or a remote's name", id="sync-remote"
            )
            yield ProgressBar(id="sync-bar", show_eta=True)
            yield Static(
                "The key comes from $ZEPTUI_API_KEY or the config file.",
                id="sync-status",
                markup=False,
            )
        yield Footer()

    @on(Input.Submitted, "#sync-remote")
    def start(self, event: Input.Submitted) -> None:
        remote = event.value.strip()
        if not remote or self.running:
            return
        self.running = True
        self.query_one(Input).disabled = True
        self._status("Connecting…")
        request = SyncRequest(self.direction, remote, self._progress_from_worker)
        if self.direction == "pull":
            self._data.write(self, request)
        else:
            self._data.read(self, request)

    def _progress_from_worker(self, counts: SyncCounts) -> None:
        shown = (counts.sessions_done, counts.sessions, counts.messages_done, counts.messages)
        rate = counts.rate()
        with contextlib.suppress(RuntimeError):  # the app is closing
            self.app.call_from_thread(self._show_progress, *shown, rate)

    def _show_progress(
        self, sessions_done: int, sessions: int, done: int, messages: int, rate: float
    ) -> None:
        self.query_one(ProgressBar).update(total=max(messages, 1), progress=done)
        self._status(
            f"{sessions_done:,}/{sessions:,} sessions · {done:,}/{messages:,} messages · "
            f"{rate:,.0f} msg/s"
        )

    def on_sync_done(self, event: SyncDone) -> None:
        self.running = False
        title = f"Sync {self.direction}"
        self.app.notify(summary(event.report), title=title, markup=False, timeout=10)
        self.dismiss(None)
        reload = getattr(self.app, "action_reload", None)
        if callable(reload):  # the panes show what the sync brought
            reload()

    def on_failed(self, event: Failed) -> None:
        self.running = False
        self.app.notify(
            event.text, title=f"Sync {self.direction} failed", severity="error", markup=False
        )
        self._status(event.text, error=True)
        entry = self.query_one(Input)
        entry.disabled = False
        entry.focus()

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#sync-status", Static)
        status.update(text)
        status.set_class(error, "-error")

    def action_close(self) -> None:
        if self.running:
            self.app.notify("The sync goes on; this closes when it ends.", markup=False)
            return
        self.dismiss(None)


class SyncCommands(Provider):
    """The palette's "Pull from remote" and "Push to remote"."""

    def _open(self, direction: Direction) -> None:
        data = getattr(self.app, "data", None)
        if isinstance(data, DataLayer):
            self.app.push_screen(SyncScreen(data, direction))

    async def discover(self) -> Hits:
        for name, help_text, direction in COMMANDS:
            yield DiscoveryHit(name, partial(self._open, direction), help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, direction in COMMANDS:
            score = matcher.match(name)
            if score > 0:
                yield Hit(
                    score, matcher.highlight(name), partial(self._open, direction), help=help_text
                )
