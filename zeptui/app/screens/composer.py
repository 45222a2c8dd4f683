"""`a`: the composer, which appends a message to the open session.

The cursor starts in the content field. Role (the speaker's name) and role type
come prefilled: what was used last in this session while the app runs, else the
session's last user message, else its user's first name (or id) as a `user`,
else `user` as a `user`.
`ctrl+o` shows the content as Markdown (the way the transcript renders it) and
back; `ctrl+s` sends: the form dismisses with a `Draft`, which the app appends
under the write lease (and shows at once).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Input, Select, Static, TextArea

from zeptui.app.data import Failed
from zeptui.app.form_requests import ComposerDefaults, ComposerDefaultsLoaded
from zeptui.app.screens.form import (
    FormScreen,
    field_label,
    limit_problem,
    metadata_and_status,
    problem_line,
)
from zeptui.app.widgets.json_editor import JsonEditor, dump_json_object
from zeptui.app.widgets.message_block import literal_markdown
from zeptui.render import sanitize

if TYPE_CHECKING:
    from zeptui.app.data import DataLayer

ROLE_TYPES = ("user", "assistant", "system", "function", "tool", "norole")


@dataclass(frozen=True)
class Draft:
    """A message to append, as the composer collected it."""

    role: str
    role_type: str
    content: str
    metadata: dict[str, Any] | None = None


def content_problem(content: str) -> str | None:
    """What the store would refuse in a message's content (or an empty one)."""
    if not content.strip():
        return "type the message (it cannot be empty)"
    return limit_problem(content, "content", "content")


class ComposerScreen(FormScreen[Draft | None]):
    """Write one message; dismisses with the `Draft` (None: cancelled)."""

    AUTO_FOCUS = "#content"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "ctrl+o",
            "toggle_preview",
            "Preview",
            tooltip="Append: the content as Markdown, and back",
            id="preview",
            priority=True,
        ),
    ]

    def __init__(
        self,
        data: DataLayer,
        session_id: str,
        message_count: int,
        speaker: tuple[str, str] | None = None,
        draft: Draft | None = None,
    ) -> None:
        super().__init__()
        self._draft = draft
        self._data = data
        self._session_id = session_id
        self._message_count = message_count
        self._speaker = speaker

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-dialog") as dialog:
            dialog.border_title = Text(f"Append to {sanitize(self._session_id)}")
            dialog.border_subtitle = "ctrl+s sends · ctrl+o preview · esc cancels"
            with Horizontal(classes="form-row"):
                with Vertical(classes="form-column"):
                    yield field_label("Role (speaker)", for_id="role")
                    yield Input(id="role", compact=True, placeholder="a name, e.g. Ana")
                with Vertical(classes="form-column"):
                    yield field_label("Role type", for_id="role-type")
                    yield Select(
                        [(Text(name), name) for name in ROLE_TYPES],
                        value="user",
                        allow_blank=False,
                        id="role-type",
                        compact=True,
                    )
            yield problem_line("role")
            yield field_label("Content", for_id="content")
            area = TextArea(id="content", soft_wrap=True, tab_behavior="focus")
            area.cursor_blink = False
            yield area
            with VerticalScroll(id="preview"):
                yield Static(id="preview-body")
            yield problem_line("content")
            yield from metadata_and_status("Metadata (JSON object, optional)")
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        draft = self._draft
        if draft is not None:  # the store refused it: as it was, to fix
            self.query_one("#content", TextArea).load_text(draft.content)
            self.query_one(JsonEditor).text = dump_json_object(draft.metadata)
            self._speaker = (draft.role, draft.role_type)
        if self._speaker is not None:
            self._prefill(*self._speaker)
        else:
            self._data.read(self, ComposerDefaults(self._session_id, self._message_count))

    def _prefill(self, role: str, role_type: str) -> None:
        role_input = self.query_one("#role", Input)
        if not role_input.value:  # never over what was typed meanwhile
            role_input.value = role
        if role_type in ROLE_TYPES:
            self.query_one("#role-type", Select).value = role_type

    @on(ComposerDefaultsLoaded)
    def _defaults_loaded(self, event: ComposerDefaultsLoaded) -> None:
        self._prefill(event.role, event.role_type)

    @on(Failed)
    def _failed(self, event: Failed) -> None:
        self.show_status(f"Could not read who spoke last: {event.text}", error=True)

    def action_toggle_preview(self) -> None:
        """The content as Markdown (as the transcript shows it), or the editor again."""
        preview = self.query_one("#preview")
        area = self.query_one("#content", TextArea)
        shown = not preview.has_class("-shown")
        if shown:
            self.query_one("#preview-body", Static).update(literal_markdown(area.text))
        preview.set_class(shown, "-shown")
        area.display = not shown
        if not shown:
            area.focus()

    def action_save(self) -> None:
        """Check the fields, then hand the message to the app."""
        role = self.query_one("#role", Input).value.strip()
        role_type = self.query_one("#role-type", Select).value
        content = self.query_one("#content", TextArea).text
        editor = self.query_one(JsonEditor)
        problems = [
            self.show_problem("role", limit_problem(role, "role", "name") if role else None),
            self.show_problem("content", content_problem(content)),
            not editor.check.ok,
        ]
        if any(problems):
            self.show_status("Fix what is marked, then ctrl+s.", error=True)
            return
        assert isinstance(role_type, str)
        self.dismiss(Draft(role, role_type, content, editor.value))
