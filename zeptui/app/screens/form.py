"""What the editing dialogs share: a modal form with `ctrl+s` to save and `esc` to
cancel, field labels with an inline line that says what to fix, and a status line.

Each form is typed by what it dismisses with (posting's typed modal screens). Text
from the store (ids, names, metadata) is shown literally: labels and messages are
`Text`, never markup.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar, TypeVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import ModalScreen
from textual.widgets import Input, Static

from zeptui.app.widgets.json_editor import JsonEditor
from zeptui.render import sanitize

T = TypeVar("T")


def field_label(text: str, *, for_id: str) -> Static:
    """A field's label; its `-problem` sibling line (`#<for_id>-problem`) says what to fix."""
    return Static(Text(text), classes="form-label", id=f"{for_id}-label")


def problem_line(for_id: str) -> Static:
    """The line under a field that says what is wrong with it (empty when nothing is)."""
    return Static("", classes="form-problem", id=f"{for_id}-problem")


def limit_problem(value: str, what: str, rule: str = "id") -> str | None:
    """What the store would refuse in `value` (`storage.limits`): an `id` (empty, too
    long, control characters), a `name` (role, email, names) or `content`."""
    from storage import limits

    check: dict[str, Callable[[str, str], object]] = {
        "id": limits.check_id,
        "name": limits.check_name,
        "content": limits.check_content,
    }
    try:
        check[rule](value, what)
    except limits.LimitError as error:
        return str(error)
    return None


def metadata_and_status(label: str) -> ComposeResult:
    """A form's last fields: the metadata editor under `label`, and the status line."""
    yield field_label(label, for_id="metadata")
    yield JsonEditor(id="metadata")
    yield problem_line("metadata")
    yield Static("", id="form-status")


class FormScreen(ModalScreen[T]):
    """A modal form: `ctrl+s` saves (`save`), `esc` cancels (`dismiss(None)`)."""

    CSS_PATH = Path(__file__).with_name("forms.tcss")

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("ctrl+s", "save", "Save", tooltip="Save (create, send)", id="save", priority=True),
        Binding("escape", "cancel", "Cancel", tooltip="Close without saving", id="close"),
    ]

    saving = False
    """A write is under way: `ctrl+s` waits for its answer."""

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = False  # still screenshots

    def action_cancel(self) -> None:
        """Close without saving."""
        self.dismiss(None)

    def action_save(self) -> None:
        raise NotImplementedError

    def show_problem(self, for_id: str, problem: str | None) -> bool:
        """Show (or clear, with None) what is wrong with a field; True if something is."""
        line = self.query_one(f"#{for_id}-problem", Static)
        line.update(Text(f"✗ {sanitize(problem)}") if problem else "")
        line.display = bool(problem)
        return problem is not None

    def show_status(self, text: str, *, error: bool = False) -> None:
        """The form's status line (under the fields): saving, or why saving failed."""
        status = self.query_one("#form-status", Static)
        status.set_class(error, "-error")
        status.update(Text(sanitize(text)))
