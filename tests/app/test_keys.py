"""Binding ids and the user's keymap (`[app.keys]`)."""

from __future__ import annotations

import re
from pathlib import Path

from textual import events
from textual.widgets import Label

from tests.app.conftest import make_app, notices, palette_shows, screen_text, settle
from zeptui.app.app import ZeptuiApp
from zeptui.app.keys import Keymap, app_bindings, key_problem
from zeptui.app.screens.help import HelpScreen
from zeptui.app.screens.new_session import NewSessionScreen

README = Path(__file__).parents[2] / "README.md"


def test_every_binding_of_the_app_has_an_id_the_readme_lists() -> None:
    bindings = app_bindings()
    assert "" not in bindings, [b.key for b in bindings.get("", [])]
    listed = set(re.findall(r"`([a-z_]+)`", README.read_text(encoding="utf-8")))
    assert sorted(set(bindings) - listed) == []


def test_keys_are_checked_and_normalised() -> None:
    keymap = Keymap.read(
        {
            "help": "f1",
            "search": ["/", "ctrl+f"],
            "sort": "o, shift+o",
            "copy": "ctrl+nope",
            "zoom": "hyperx+z",
            "view": 3,
        }
    )
    assert keymap.keys == {"help": "f1", "search": "slash,ctrl+f", "sort": "o,shift+o"}
    assert keymap.problems == [
        "copy = 'ctrl+nope': nope is not a key",
        "zoom = 'hyperx+z': hyperx is not a modifier",
        "view: give a key or a list of keys",
    ]
    assert keymap.unknown(["help", "search"]) == ["sort"]
    assert [key_problem(key) for key in ("question_mark", "?", "+", "ctrl+pageup")] == [None] * 4
    assert Keymap.read("f1").problems == ["app.keys must be a table of binding id = keys"]


async def test_rebound_keys_work_and_show_in_footer_help_and_palette(
    sample_db: Path, isolated_config: Path
) -> None:
    isolated_config.mkdir(parents=True, exist_ok=True)
    (isolated_config / "config.toml").write_text(
        '[app.keys]\nhelp = "f1"\nsort = ["o"]\nnope = "x"\nreload = "ctrl+nope"\n'
        'new_session = "ctrl+n"\n',
        encoding="utf-8",
    )
    app = make_app(sample_db)
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await settle(pilot)
        # One line says what was left out; the app runs with the rest.
        told = notices(app)
        assert "nope: no such binding" in told and "reload = 'ctrl+nope'" in told
        assert "^n New" in " ".join(screen_text(app).split())  # the footer's first key
        await pilot.press("question_mark")  # no longer the help key
        await settle(pilot)
        assert not isinstance(app.screen, HelpScreen)
        await pilot.press("f1")
        await settle(pilot)
        assert isinstance(app.screen, HelpScreen)
        rows = [str(label.render()) for label in app.screen.query(Label)]
        assert rows[rows.index("These keys") - 1] == "f1"
        assert rows[rows.index("Sort by recent activity, creation or size") - 1] == "o"
        await pilot.press("escape")
        assert await palette_shows(pilot, "help", "Every key binding · key f1")
        await pilot.press("escape")
        assert await palette_shows(pilot, "new sess", "id, user, metadata · key ctrl+n")
        await pilot.press("enter")
        await settle(pilot)
        assert isinstance(app.screen, NewSessionScreen)
        await pilot.press("escape")
        sort = app.sessions.sort_index
        await pilot.press("o")
        assert app.sessions.sort_index == sort + 1


async def test_keys_typed_after_q_open_no_dialog_while_the_app_closes(app: ZeptuiApp) -> None:
    """`q` then a dialog's key before the app has closed (typed fast, or pasted): the
    dialog would mount into a closing app and end it with a traceback."""
    async with app.run_test() as pilot:
        await settle(pilot)
        for key in ("q", "n", "a", "e", "d", "S", "U", "i", "x", "question_mark"):
            app.post_message(events.Key(key, None))
        await pilot.pause(0.3)
    assert app.return_code == 0
