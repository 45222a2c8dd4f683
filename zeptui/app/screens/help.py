"""The keys screen: every binding, by section, in a scrollable two-column list."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Footer, Label, Static

from zeptui.app.keys import Keymap, readable_keys

HelpRows = Sequence[tuple[str, str]]
"""(keys, description) rows."""


def _binding_row(binding: BindingType, keymap: Keymap) -> tuple[str, str] | None:
    """(keys, what they do): a binding's tooltip says more than its footer word."""
    if isinstance(binding, Binding):
        description = binding.tooltip or binding.description
        shown = keymap.shown_keys(binding)
    else:
        description = binding[2] if len(binding) > 2 else ""
        shown = readable_keys(binding[0])
    if not description:
        return None
    return shown, description


def bindings_help(
    sources: Sequence[tuple[str, Iterable[BindingType]]],
    keymap: Keymap | None = None,
) -> list[tuple[str, list[tuple[str, str]]]]:
    """Help sections from BINDINGS lists: (title, [(keys, description), ...]).

    Keys are those in use: a binding `keymap` rebinds shows its new keys. A
    binding's tooltip, else its description, says what it does; bindings without
    either are left out; bindings of one section that do the same are merged into
    one row (`j, down  Next message`); sections left empty are dropped.
    """
    sections: list[tuple[str, list[tuple[str, str]]]] = []
    for title, bindings in sources:
        merged: dict[str, list[str]] = {}
        for binding in bindings:
            row = _binding_row(binding, keymap or Keymap())
            if row is None:
                continue
            keys, description = row
            shown = merged.setdefault(description, [])
            if keys not in shown:
                shown.append(keys)
        if merged:
            sections.append(
                (title, [(", ".join(keys), description) for description, keys in merged.items()])
            )
    return sections


class HelpScreen(ModalScreen[None]):
    """The given help sections in a modal; Escape, q or ? closes it."""

    DEFAULT_CSS: ClassVar[str] = """
    HelpScreen {
        align: center middle;
        & > #help-dialog {
            width: 80;
            max-width: 95%;
            height: auto;
            max-height: 90%;
            border: thick $primary;
            border-title-color: $accent;
            border-subtitle-color: $text-muted;
            background: $surface;
            padding: 0 1;
        }
        & .help-heading {
            text-style: bold;
            color: $accent;
            margin-top: 1;
        }
        & .help-rows {
            grid-size: 2;
            grid-columns: auto 1fr;
            grid-gutter: 0 2;
            grid-rows: auto;
            height: auto;
            padding-left: 1;
        }
        & .help-keys {
            text-style: bold;
            color: $primary;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="close"),
        Binding("q,question_mark", "close", "Close", show=False, id="help_close"),
    ]

    def __init__(self, sections: Sequence[tuple[str, HelpRows]], *, title: str = "Keys") -> None:
        super().__init__()
        self._sections = sections
        self._title = title

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="help-dialog") as dialog:
            dialog.border_title = self._title
            dialog.border_subtitle = "esc, q or ? closes"
            if not self._sections:
                yield Static("No keys to show.", markup=False)
            for title, rows in self._sections:
                yield Static(Text(title), classes="help-heading")
                with Grid(classes="help-rows"):
                    for keys, description in rows:
                        yield Label(keys, classes="help-keys", markup=False)
                        yield Label(description, classes="help-description", markup=False)
        yield Footer()  # this dialog's keys, not those of the panes behind it

    def on_mount(self) -> None:
        self.query_one("#help-dialog", VerticalScroll).focus()

    def action_close(self) -> None:
        """Close the help."""
        self.dismiss(None)
