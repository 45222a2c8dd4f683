"""What the transcript pane says about itself: its views, its title (the session, the
view and Markdown or raw) and its token bar (the history's totals, or what the view
sends a client against a context budget)."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING

from rich.cells import cell_len
from rich.text import Text

if TYPE_CHECKING:
    from storage.models import Memory, SessionInfo

BUDGETS = (8_000, 32_000, 128_000)
TITLE_FRAME = 6
"""Cells of a pane's top border around its title (corners, rules and spaces)."""
TITLE_MIN_LABEL = 12
"""Below this room for the session's title, the pane title's state is shortened."""
BAR_WIDTH = 12
"""Cells of the token bar itself."""


class View(StrEnum):
    """The transcript's views, in the order the view key cycles through them."""

    all = "all messages"
    window = "message window"
    perpetual = "perpetual"


VIEW_HELP = "View: all messages, message window (get_memory lastn=N), perpetual"


def view_state(view: View, lastn: int, markdown: bool, *, short: bool = False) -> str:
    """` · message window · last 12 · markdown`, or ` · window 12 · md`."""
    if short:
        short_views = {View.all: "all", View.window: f"window {lastn}"}
        shown = short_views.get(view, "perpetual")
        return f" · {shown} · {'md' if markdown else 'raw'}"
    state = [view.value]
    if view is View.window:
        state.append(f"last {lastn}")
    state.append("markdown" if markdown else "raw")
    return " · " + " · ".join(state)


def pane_title(label: Text, view: View, lastn: int, markdown: bool, width: int) -> Text:
    """`label · view · markdown` for a pane `width` cells wide (0: not laid out yet):
    the state always shows; a long label is cut, and on a narrow pane the state takes
    its short form (`window 12 · md`)."""
    label = label.copy()
    suffix = view_state(view, lastn, markdown)
    room = width - TITLE_FRAME - cell_len(suffix)
    if width and label.cell_len > room and room < TITLE_MIN_LABEL:
        suffix = view_state(view, lastn, markdown, short=True)
        room = width - TITLE_FRAME - cell_len(suffix)
    if width and label.cell_len > room:
        label.truncate(max(room, 1), overflow="ellipsis")
    # Text, not str: a str border title is parsed as markup.
    return label + Text(suffix)


def token_bar(info: SessionInfo | None, memory: Memory | None, budget: int, width: int) -> Text:
    """The line above the messages: nothing without a session; the whole history's
    counts in the all-messages view (no `memory`); else the tokens the view sends a
    client, as a bar against `budget`, fitted to `width` cells (0: not laid out)."""
    if info is None:
        return Text()
    if memory is None:
        count = info.message_count
        return Text(
            f"{count:,} message{'' if count == 1 else 's'} · "
            f"{info.total_tokens:,} tokens in the whole history",
            style="dim",
        )
    tokens = memory.total_tokens
    filled = min(BAR_WIDTH, round(BAR_WIDTH * tokens / budget))
    style = "red" if tokens > budget else "green"
    share = f" {100 * tokens / budget:.0f}% of {budget // 1000}k"
    what = f"{tokens:,} tokens to the client "
    if cell_len(what) + BAR_WIDTH + len(share) > width > 0:
        what = f"{tokens:,} tokens "  # a narrow pane keeps the numbers whole
    text = Text()
    text.append(what, style="bold")
    text.append("█" * filled, style=style)
    text.append("░" * (BAR_WIDTH - filled), style="dim")
    text.append(share, style="dim")
    return text
