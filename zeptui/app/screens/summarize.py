"""Summarise a session now, or again from scratch: the summarizer named, then progress.

The app runs the summary (a write, on a worker of the app's, so closing this dialog
never stops it) and tells the dialog when it is done, if it is still open.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, ProgressBar, Static
from textual.widgets.option_list import Option

from zeptui.app.screens.delete import DIALOG_CSS

NOW, AGAIN = "now", "again"


class SummarizeScreen(ModalScreen[None]):
    """Pick how to summarise `session`; `start(again)` runs it."""

    DEFAULT_CSS: ClassVar[str] = (
        DIALOG_CSS.replace("{screen}", "SummarizeScreen")
        + """
    SummarizeScreen > Vertical { border: thick $primary; }
    SummarizeScreen ProgressBar { display: none; margin: 1 0 0 0; }
    SummarizeScreen.-working ProgressBar { display: block; }
    SummarizeScreen #summarize-status { height: auto; }
    SummarizeScreen #summarize-status.-error { color: $error; }
    """
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        # The list's own enter, shown in the footer (it said only esc Close).
        Binding(
            "enter",
            "choose",
            "Summarise",
            tooltip="Summarise as chosen",
            priority=True,
            id="summarize_start",
        ),
        Binding(
            "escape", "close", "Close", tooltip="Close (a summary under way goes on)", id="close"
        ),
    ]

    def __init__(
        self,
        session: str,
        summarizer: str,
        window: int,
        start: Callable[[bool], None],
        *,
        again: bool | None = None,
    ) -> None:
        """`again`: start at once, from scratch (True) or not (False)."""
        super().__init__()
        self._again = again
        self._session = session
        self._summarizer = summarizer
        self._window = window
        self._start = start

    def compose(self) -> ComposeResult:
        with Vertical() as dialog:
            dialog.border_title = "Summarise"
            yield Static(Text(f"Session {self._session}"), markup=False)
            yield Static(
                f"Summarizer: {self._summarizer}",
                id="summarizer",
                classes="dialog-text",
                markup=False,
            )
            yield OptionList(
                Option(f"Summarise now: the messages beyond the window ({self._window})", id=NOW),
                Option(
                    "Summarise again from scratch: from the first message; "
                    "the session's summaries are replaced",
                    id=AGAIN,
                ),
                id="summarize-choices",
            )
            yield ProgressBar(total=None, show_eta=False, show_percentage=False)
            yield Static("", id="summarize-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        if self._again is not None:
            options.highlighted = 1 if self._again else 0
            self._begin(self._again)

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self._begin(event.option_id == AGAIN)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`enter` is on while no summary is under way."""
        if action == "choose":
            return not self.has_class("-working")
        return True

    def action_choose(self) -> None:
        """Summarise as the highlighted choice says."""
        self._begin(self.query_one(OptionList).highlighted == 1)

    def _begin(self, again: bool) -> None:
        self.query_one(OptionList).disabled = True
        self.add_class("-working")
        self.refresh_bindings()
        how = "again from scratch" if again else "now"
        self.query_one("#summarize-status", Static).update(
            f"Summarising {how} with {self._summarizer}… (esc closes this; it goes on)"
        )
        self._start(again)

    def done(self, text: str, *, error: bool = False) -> None:
        """The summary finished (or failed: `error`): say how."""
        self.remove_class("-working")
        self.refresh_bindings()
        status = self.query_one("#summarize-status", Static)
        status.set_class(error, "-error")
        status.update(text)
        self.query_one(OptionList).disabled = False

    def action_close(self) -> None:
        self.dismiss(None)
