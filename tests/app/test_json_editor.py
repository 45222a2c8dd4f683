"""The JSON metadata editor widget."""

from __future__ import annotations

from textual.app import App, ComposeResult
from textual.widgets import Static

from zeptui.app.widgets.json_editor import JsonCheck, JsonEditor, check_json_object


def test_only_objects_are_metadata_and_errors_say_where() -> None:
    assert check_json_object("") == JsonCheck()
    assert check_json_object('  {"a": {"b": [1]}}') == JsonCheck(value={"a": {"b": [1]}})
    assert check_json_object('{\n  "a": 1\n  "b": 2\n}').error == (
        "line 3:3: Expecting ',' delimiter"
    )
    assert check_json_object("\n  [1, 2]").error == (
        "line 2:3: metadata is a JSON object {...}, not a list"
    )
    assert check_json_object('"text"').error == (
        "line 1:1: metadata is a JSON object {...}, not a string"
    )
    assert check_json_object("[" * 100_000).error is not None
    # Python's terse messages, in words a person typing metadata understands.
    assert check_json_object('{"a": 1} {"b": 2}').error == (
        "line 1:10: more text after the object's closing }"
    )
    assert check_json_object('{"a": 1,}').error == (
        "line 1:9: a key in double quotes is expected here (no comma before })"
    )
    assert check_json_object('{"a": }').error == "line 1:7: a value is expected here"


class EditorApp(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.changes: list[JsonCheck] = []

    def compose(self) -> ComposeResult:
        yield JsonEditor({"[b]k": "[/]"})

    def on_json_editor_changed(self, event: JsonEditor.Changed) -> None:
        self.changes.append(event.check)


async def test_the_editor_checks_as_typed_and_shows_text_literally() -> None:
    app = EditorApp()
    async with app.run_test(size=(60, 16)) as pilot:
        editor = app.query_one(JsonEditor)
        status = editor.query_one(".json-status", Static)
        assert editor.value == {"[b]k": "[/]"}
        assert '"[b]k": "[/]"' in editor.text_area.text
        editor.focus()
        editor.text = ""
        await pilot.press(*'{"a": 1,')
        await pilot.pause()
        assert editor.value is None and app.changes[-1].error is not None
        assert "line 1:9:" in str(status.render()) and status.has_class("-error")
        await pilot.press(*' "b": {}}')
        await pilot.pause()
        assert editor.value == {"a": 1, "b": {}} and not status.has_class("-error")
        assert "2 keys" in str(status.render())
