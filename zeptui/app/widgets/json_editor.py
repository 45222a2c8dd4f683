"""A multi-line JSON object editor that checks what is typed as it is typed.

Used wherever the app edits metadata (new session, a message's metadata, the
metadata editor): a `TextArea` over one line that says what is wrong and where
(`line 3:14: Expecting ',' delimiter`) or that the text is a valid object. Only a
JSON object is accepted (Zep's metadata is one); an empty editor is no metadata.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import Static, TextArea


@dataclass(frozen=True)
class JsonCheck:
    """What a text holds as metadata: `value` (None when empty), or `error`."""

    value: dict[str, Any] | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


def _kind(value: object) -> str:
    if isinstance(value, list):
        return "a list"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "true or false"
    if value is None:
        return "null"
    return "a number"


PLAIN_ERRORS = {
    "Extra data": "more text after the object's closing }",
    "Expecting property name enclosed in double quotes": (
        "a key in double quotes is expected here (no comma before })"
    ),
    "Expecting value": "a value is expected here",
}
"""Python's terser JSON messages, said plainly (the others are clear as they are)."""


def check_json_object(text: str) -> JsonCheck:
    """`text` as a JSON object; blank text is no metadata. Errors name the line and
    column (1-based) of the problem."""
    if not text.strip():
        return JsonCheck()
    try:
        value = json.loads(text)
    except json.JSONDecodeError as error:
        said = PLAIN_ERRORS.get(error.msg, error.msg)
        return JsonCheck(error=f"line {error.lineno}:{error.colno}: {said}")
    except RecursionError:
        return JsonCheck(error="nested too deeply")
    if not isinstance(value, dict):
        start = len(text) - len(text.lstrip())
        line = text.count("\n", 0, start) + 1
        column = start - (text.rfind("\n", 0, start) + 1) + 1
        return JsonCheck(
            error=f"line {line}:{column}: metadata is a JSON object {{...}}, not {_kind(value)}"
        )
    return JsonCheck(value=value)


def dump_json_object(value: dict[str, Any] | None) -> str:
    """`value` as the editor shows it (indented; empty for no metadata)."""
    if not value:
        return ""
    return json.dumps(value, indent=2, ensure_ascii=False)


class JsonEditor(Vertical):
    """A JSON object editor with a status line; `check` says what it holds now."""

    DEFAULT_CSS: ClassVar[str] = """
    JsonEditor {
        height: auto;
        & > TextArea { height: 6; min-height: 3; }
        & > .json-status { height: 1; color: $text-muted; padding: 0 1; }
        & > .json-status.-error { color: $error; }
    }
    """

    class Changed(Message):
        """The text changed: `check` is what it holds now."""

        def __init__(self, editor: JsonEditor, check: JsonCheck) -> None:
            super().__init__()
            self.editor = editor
            self.check = check

        @property
        def control(self) -> JsonEditor:
            return self.editor

    def __init__(
        self,
        value: dict[str, Any] | None = None,
        *,
        placeholder: str = '{"key": "value"}',
        id: str | None = None,  # noqa: A002 - Textual's name
        classes: str | None = None,
    ) -> None:
        super().__init__(id=id, classes=classes)
        self._initial = dump_json_object(value)
        self._placeholder = placeholder
        self.check = check_json_object(self._initial)

    def compose(self) -> ComposeResult:
        area = TextArea(
            self._initial,
            soft_wrap=True,
            tab_behavior="focus",  # tab leaves the editor, as in the rest of a form
            show_line_numbers=True,
            placeholder=self._placeholder,
        )
        area.cursor_blink = False
        yield area
        yield Static(classes="json-status")

    def on_mount(self) -> None:
        self._show(self.check)

    @property
    def text_area(self) -> TextArea:
        return self.query_one(TextArea)

    @property
    def text(self) -> str:
        return self.text_area.text

    @text.setter
    def text(self, text: str) -> None:
        self.text_area.load_text(text)

    @property
    def value(self) -> dict[str, Any] | None:
        """The object typed (None: empty, or not valid JSON; see `check`)."""
        return self.check.value

    @on(TextArea.Changed)
    def _changed(self, event: TextArea.Changed) -> None:
        event.stop()
        self.check = check_json_object(event.text_area.text)
        self._show(self.check)
        self.post_message(self.Changed(self, self.check))

    def _show(self, check: JsonCheck) -> None:
        status = self.query_one(".json-status", Static)
        status.set_class(not check.ok, "-error")
        if check.error is not None:
            status.update(Text(f"✗ {check.error}"))  # literal: never markup
        elif check.value is None:
            status.update(Text("No metadata (a JSON object, or leave it empty)"))
        else:
            count = len(check.value)
            status.update(Text(f"✓ a JSON object with {count} key{'' if count == 1 else 's'}"))

    def focus(self, scroll_visible: bool = True) -> JsonEditor:
        self.text_area.focus(scroll_visible)
        return self
