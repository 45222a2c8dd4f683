"""The main screen's footer: the keys a user needs first, as many as the width holds.

The app has more keys than 80 columns can show. The footer lists the keys that are
on, by rank: the writing flows (`n a e d i x`) first, then the focused pane's main
key, then the rest; `?` help, `q` quit and the command palette always, at the end
(posting and harlequin keep theirs in view the same way). On a narrow terminal the
lowest ranked keys are left out; every key is still in `?` and the command palette.
The order is the same in every pane, so a key stays where the eye last found it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from rich.cells import cell_len
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Footer
from textual.widgets._footer import FooterKey

ALWAYS = ("help", "quit", "command_palette")
"""Binding ids the footer always shows, last, in this order."""

RANKS = (
    # The writing flows (issue 14), in the order a new user meets them.
    "new_session",
    "append",
    "edit_metadata",
    "delete",
    "restore_session",  # on only in the deleted sessions, where delete is off
    # The ways back, named by their actions: `z` on a zoomed pane (its id is zoom's),
    # `D` in the deleted sessions.
    "restore",
    "toggle_deleted(False)",
    "import",
    "export",
    # The focused pane's main key.
    "open_session",
    "view",
    "explore_metadata",
    "filter_leave",
    "tree_leave",
    # Then what there is room for.
    "search",
    "undo",
    "summarize",
    "users",
    "toggle_deleted",
    "filter",
    "sort",
    "markdown",
    "budget",
    "copy",
    "zoom",
    "inspector",
    "reload",
)
"""The other keys by rank, most needed first (by binding id, or by action where one id
has two bindings); a key not named here comes after them."""

Shown = tuple[Binding, bool, str]
"""A binding the footer shows, whether it is enabled, and its tooltip."""

FooterKeyArgs = tuple[str, str, str, str, bool, str]
"""A key as the footer shows it: key, key display, description, action, disabled,
tooltip."""


def fitting(
    keys: Sequence[Shown], width: int, key_display: Callable[[Binding], str]
) -> list[Shown]:
    """`keys` in the footer's order (by rank, the `ALWAYS` ones last), without the
    lowest ranked ones that leave the rest wider than `width` cells."""

    def rank(key: Shown) -> int:
        binding = key[0]
        binding_id = binding.action if binding.action in RANKS else binding.id or ""
        if binding_id in ALWAYS:
            return -1  # never left out
        return RANKS.index(binding_id) if binding_id in RANKS else len(RANKS)

    def place(key: Shown) -> tuple[int, int]:
        binding_id = key[0].id or ""
        if binding_id in ALWAYS:
            return len(RANKS) + 1, ALWAYS.index(binding_id)
        return rank(key), 0

    def cells(key: Shown) -> int:
        binding = key[0]
        description = f" {binding.description}" if binding.description else ""
        return cell_len(key_display(binding) + description)

    # Python's sort is stable: unranked keys keep the order Textual gives them.
    kept = sorted(keys, key=place)
    # The lowest rank first; of equal ranks, the rightmost first.
    for dropped in sorted(reversed(kept), key=rank, reverse=True):
        if sum(cells(key) + 1 for key in kept) - 1 <= width or rank(dropped) < 0:
            break
        kept.remove(dropped)
    return kept


class FittingFooter(Footer):
    """A compact footer of the keys that are on, the most needed ones that fit."""

    def __init__(self) -> None:
        super().__init__(show_command_palette=False, compact=True)
        self._laid_out_for = 0
        self._shown: list[FooterKeyArgs] | None = None
        """The keys composed last, or None before the first keys."""

    def _keys(self) -> list[FooterKeyArgs]:
        """The keys to show now, as FooterKey's arguments."""
        # One key per action, the first Textual lists (the focused widget's first).
        by_action: dict[str, Shown] = {}
        for _, binding, enabled, tooltip in self.screen.active_bindings.values():
            if binding.show:
                by_action.setdefault(binding.action, (binding, enabled, tooltip))
        width = self.size.width or self.app.size.width
        self._laid_out_for = width
        get_key_display = self.app.get_key_display
        return [
            (
                binding.key,
                get_key_display(binding),
                binding.description,
                binding.action,
                not enabled,
                tooltip,
            )
            for binding, enabled, tooltip in fitting(
                list(by_action.values()), width, get_key_display
            )
        ]

    def compose(self) -> ComposeResult:
        if not self._bindings_ready:
            return
        self._shown = self._keys()
        for key, key_display, description, action, disabled, tooltip in self._shown:
            yield FooterKey(
                key, key_display, description, action, disabled=disabled, tooltip=tooltip
            ).data_bind(compact=Footer.compact)

    async def recompose(self) -> None:
        """Compose again only when the keys to show change: the footer hears of every
        change of focus, and most leave its keys as they were (a compose mounts a
        widget per key)."""
        if self._shown is not None and self._bindings_ready and self._keys() == self._shown:
            return
        await super().recompose()

    def on_resize(self, event: events.Resize) -> None:
        if event.size.width != self._laid_out_for:
            self.call_after_refresh(self.recompose)
