"""What the keys screen (`?`) lists: every binding of the app, by where it applies.

Imported on the first `?` (it imports the forms' screens)."""

from __future__ import annotations

from collections.abc import Iterable

from textual.binding import BindingType

from zeptui.app.keys import Keymap
from zeptui.app.manage import ManagingApp
from zeptui.app.screens.composer import ComposerScreen
from zeptui.app.screens.form import FormScreen
from zeptui.app.screens.help import bindings_help
from zeptui.app.widgets.inspector import Inspector
from zeptui.app.widgets.json_tree import JsonTree
from zeptui.app.widgets.sessions import FilterInput, SessionsPane, SessionTable
from zeptui.app.widgets.transcript import TranscriptPane


def app_help_sections(
    everywhere: Iterable[BindingType], keymap: Keymap
) -> list[tuple[str, list[tuple[str, str]]]]:
    """The keys screen's sections: `everywhere` (the app's own bindings) first, then
    the changes, each pane's keys and the forms', with the keys `keymap` gives them."""
    return bindings_help(
        [
            (
                "Everywhere",
                [
                    ("tab", "", "Next pane"),
                    ("shift+tab", "", "Previous pane"),
                    *everywhere,
                ],
            ),
            ("Changes", ManagingApp.BINDINGS),
            ("Session list", [*SessionsPane.BINDINGS, *SessionTable.BINDINGS]),
            ("Filter box", [*FilterInput.BINDINGS, ("enter", "", "Back to the list")]),
            ("Transcript", TranscriptPane.BINDINGS),
            ("Inspector", [*Inspector.BINDINGS, *JsonTree.BINDINGS]),
            (
                "Forms (n, a, e)",
                [("tab", "", "Next field"), *FormScreen.BINDINGS, *ComposerScreen.BINDINGS],
            ),
        ],
        keymap,
    )
