"""The main screen's footer at 80 columns: the writing flows, `?` help, `q` quit and
the palette, whole, in every pane; what it leaves out is in `?` and the palette."""

from __future__ import annotations

from textual.binding import Binding
from textual.widgets import Label
from textual.widgets._footer import FooterKey

from tests.app.conftest import settle
from zeptui.app.app import ZeptuiApp
from zeptui.app.commands import ZeptuiCommands
from zeptui.app.keys import app_bindings
from zeptui.app.screens.help import HelpScreen
from zeptui.app.widgets.footer import ALWAYS, RANKS, fitting

FLOWS = ["n New", "a Append", "e Edit", "d Delete", "i Import", "x Export"]
KEPT = ["? Help", "q Quit", "^p Palette"]
NOT_IN_PALETTE = {
    *("open_session", "explore_metadata", "filter_leave", "tree_leave", "restore"),
    *("quit", "command_palette"),
}
"""A pane's own moves (enter, esc; the palette's Zoom says how back), quit (Textual's
palette has its own Quit) and the palette itself."""


def footer(app: ZeptuiApp) -> list[str]:
    """The keys the footer shows, each checked to be whole on the screen."""
    keys = list(app.screen.query(FooterKey))
    for key in keys:
        assert key.region.right <= app.size.width, f"{key.key_display} is cut"
    return [f"{key.key_display} {key.description}" for key in keys]


def palette_help(app: ZeptuiApp) -> str:
    """The help lines of the palette's commands (each ends with the command's keys)."""
    return " ".join(help_text for _, help_text, _ in ZeptuiCommands(app.screen)._commands())


def test_the_lowest_ranked_keys_go_first_and_help_quit_and_palette_never() -> None:
    keys = [
        (Binding(key, key, description, id=binding_id), True, "")
        for key, description, binding_id in [
            ("q", "Quit", "quit"),
            ("s", "Sort", "sort"),
            ("n", "New", "new_session"),
            ("w", "Unranked", "unranked"),
            ("y", "Last", "last_unranked"),
            ("?", "Help", "help"),
        ]
    ]

    def shown(width: int) -> list[str]:
        return [key[0].description for key in fitting(keys, width, lambda b: b.key)]

    assert shown(80) == ["New", "Sort", "Unranked", "Last", "Help", "Quit"]
    assert shown(len("n New s Sort w Unranked ? Help q Quit")) == [
        *("New", "Sort", "Unranked"),  # of two unranked keys, the rightmost goes first
        *("Help", "Quit"),
    ]
    assert shown(len("n New s Sort ? Help q Quit")) == ["New", "Sort", "Help", "Quit"]
    assert shown(len("n New ? Help q Quit")) == ["New", "Help", "Quit"]
    assert shown(3) == ["Help", "Quit"]  # too narrow: still the ones always shown


async def test_at_80x24_the_footer_shows_the_flows_help_quit_and_palette(app: ZeptuiApp) -> None:
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        assert footer(app) == [*FLOWS, "⏎ Open", *KEPT]
        await pilot.press("tab")  # the transcript: its main key instead of the list's
        assert footer(app) == [*FLOWS, "v View", *KEPT]
        await pilot.press("z")  # zoomed: the way back is shown
        await settle(pilot)
        assert footer(app) == [*FLOWS[:4], "z Restore", "i Import", *KEPT]
        await pilot.press("z", "D")  # the deleted sessions (none here): the way back
        await settle(pilot)
        assert footer(app)[:4] == ["n New", "D Live", *FLOWS[4:]] and footer(app)[-3:] == KEPT
        palette = palette_help(app)
        await pilot.press("D")
        await settle(pilot)
        # Every key the footer may leave out is in `?` and in the palette (in the deleted
        # sessions or the live ones), with its keys.
        palette += palette_help(app)
        by_id = app_bindings()
        actions = {binding.action for bindings in by_id.values() for binding in bindings}
        assert set(RANKS) <= set(by_id) | actions  # each rank names a binding id or action
        ranked = sorted(name for name in {*RANKS, *ALWAYS} if name in by_id)
        for binding_id in sorted(set(ranked) - NOT_IN_PALETTE):
            assert f"key {app.keymap.keys_for(binding_id)}" in palette, binding_id
        await pilot.press("question_mark")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        listed = {str(label.render()) for label in app.screen.query(Label)}
        for binding_id in ranked:
            said = {binding.tooltip or binding.description for binding in by_id[binding_id]}
            assert said & listed, binding_id


async def test_the_footer_keeps_its_keys_until_the_keys_to_show_change(app: ZeptuiApp) -> None:
    """Every change of focus tells the footer; it composes its keys again (a widget per
    key) only when what it shows changes."""
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = list(app.screen.query(FooterKey))
        app.screen.refresh_bindings()
        await settle(pilot)
        kept = list(app.screen.query(FooterKey))
        assert len(kept) == len(before)
        assert all(now is then for now, then in zip(kept, before, strict=True))
        await pilot.press("tab")  # the transcript: its main key instead of the list's
        await settle(pilot)
        after = list(app.screen.query(FooterKey))
        assert footer(app) != [f"{key.key_display} {key.description}" for key in before]
        assert not any(now is then for now in after for then in before)


async def test_a_dialog_leaves_the_footer_behind_it_as_it_was(app: ZeptuiApp) -> None:
    # The palette has no footer of its own: the main screen's shows through, and must
    # not turn on keys that are off there (Restore in the live list).
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        before = footer(app)
        await pilot.press("ctrl+p")
        await settle(pilot)
        assert app.screen is not app.screen_stack[0]
        behind = app.screen_stack[0].query(FooterKey)
        assert [f"{key.key_display} {key.description}" for key in behind] == before
