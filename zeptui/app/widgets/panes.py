"""The main screen's grid: sessions, transcript and inspector, laid out by the
terminal's width and the user's `I`."""

from __future__ import annotations

from textual import events
from textual.containers import Grid

WIDE = 120
"""From this terminal width the inspector is a third column; on narrower terminals
it is hidden, and `I` shows it under the transcript."""

LAYOUTS = ("-columns", "-stacked", "-two")


class Panes(Grid):
    """Sessions, transcript and inspector, sharing the width by proportion."""

    DEFAULT_CSS = """
    Panes.-columns { grid-size: 3 1; grid-columns: 3fr 5fr 3fr; }
    Panes.-two { grid-size: 2 1; grid-columns: 2fr 3fr; }
    Panes.-stacked { grid-size: 2 2; grid-columns: 2fr 3fr; grid-rows: 3fr 2fr; }
    Panes.-stacked > #sessions { row-span: 2; }
    Panes.-two > #inspector { display: none; }
    """

    inspector_choice: bool | None = None
    """The user's `I` (None: shown on wide terminals only)."""

    @property
    def inspector_shown(self) -> bool:
        if self.inspector_choice is not None:
            return self.inspector_choice
        return self.app.size.width >= WIDE

    def arrange_panes(self) -> None:
        """Pick the layout for the terminal's width and the user's choice."""
        if not self.inspector_shown:
            layout = "-two"
        else:
            layout = "-columns" if self.app.size.width >= WIDE else "-stacked"
        for name in LAYOUTS:
            self.set_class(name == layout, name)

    def on_resize(self, event: events.Resize) -> None:
        self.arrange_panes()
