"""The delete confirmation: which target (message, session, user), and exactly what goes."""

from __future__ import annotations

from typing import ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Footer, OptionList, Static
from textual.widgets.option_list import Option

from zeptui.app.manage_requests import DeleteChoice, Target

DIALOG_CSS = """
{screen} {
    align: center middle;
    & > Vertical {
        width: 90%;
        max-width: 90;
        height: auto;
        max-height: 90%;
        border: thick $error;
        border-title-color: $text;
        background: $surface;
        padding: 0 1;
    }
    & OptionList, & OptionList:focus { height: auto; max-height: 8; border: none; padding: 0; }
    & .dialog-text { color: $text-muted; height: auto; }
}
"""
"""A small dialog in the middle of the screen (`{screen}`: the screen's class name)."""


class DeleteScreen(ModalScreen[Target | None]):
    """Pick what to delete; says what goes with it. Dismisses with the target, or None."""

    DEFAULT_CSS: ClassVar[str] = (
        DIALOG_CSS.replace("{screen}", "DeleteScreen")
        + """
    DeleteScreen #delete-goes { color: $text; margin: 1 0 0 0; }
    """
    )

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "delete", "Delete", priority=True, id="delete_confirm"),
        Binding("escape", "close", "Cancel", id="close"),
    ]

    def __init__(
        self,
        choices: tuple[DeleteChoice, ...],
        chosen: int,
        undoable: bool,
        note: str | None = None,
    ) -> None:
        super().__init__()
        self.choices = choices
        self._chosen = chosen
        self._undoable = undoable
        self._note = note

    def compose(self) -> ComposeResult:
        with Vertical() as dialog:
            dialog.border_title = "Delete"
            yield OptionList(
                *(
                    Option(Text(f"Delete {choice.target.name}"), id=str(number))
                    for number, choice in enumerate(self.choices)
                ),
                id="delete-choices",
            )
            yield Static("", id="delete-goes", markup=False)
            undo = (
                "ctrl+z undoes it while the app is open."
                if self._undoable
                else "This store cannot restore it: it cannot be undone here."
            )
            yield Static(undo, classes="dialog-text", markup=False)
            if self._note:
                yield Static(Text(self._note), classes="dialog-text")
        yield Footer()

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.highlighted = self._chosen
        options.focus()
        self._describe(self._chosen)

    @property
    def chosen(self) -> DeleteChoice:
        """The choice under the cursor."""
        return self.choices[self.query_one(OptionList).highlighted or 0]

    @on(OptionList.OptionHighlighted)
    def _highlighted(self, event: OptionList.OptionHighlighted) -> None:
        self._describe(event.option_index)

    def _describe(self, index: int) -> None:
        goes = self.query_one("#delete-goes", Static)
        goes.update(Text(f"Goes: {self.choices[index].goes}."))

    def action_delete(self) -> None:
        """Delete the choice under the cursor."""
        self.dismiss(self.chosen.target)

    def action_close(self) -> None:
        self.dismiss(None)
