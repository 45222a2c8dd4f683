"""`e`: edit the metadata of the session, the selected message, or the session's user.

Which one follows the focus: the selected message when the transcript has the
focus, else the session; the form's first field switches to any of the three.
The editor starts on the stored metadata (without `system`) and shows, as it is
typed, the result of Zep's deep merge into what is stored: nested objects merge key
by key, other values replace, and nothing is removed (a key left out stays; `null`
clears a value). The reserved `system` key is shown and protected: it is not
editable here. `ctrl+s` saves under the write lease, in a worker; the form closes
when the store has the new metadata, or says why not.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import Footer, Select, Static

from storage.metadata import SYSTEM_KEY, merge_metadata, without_system
from zeptui.app.data import Failed
from zeptui.app.form_requests import (
    MetadataLoaded,
    MetadataTarget,
    StoredMetadata,
    UpdateMetadata,
)
from zeptui.app.screens.form import FormScreen, field_label, metadata_and_status
from zeptui.app.widgets.json_editor import JsonEditor, dump_json_object
from zeptui.render import sanitize

if TYPE_CHECKING:
    from zeptui.app.data import DataLayer

SYSTEM_NOTE = (
    "Saving merges into what is stored: objects key by key, other values replace, "
    "a key left out stays (null clears it). system is Zep's: shown, not editable."
)


@dataclass(frozen=True)
class MetadataSaved:
    """What the editor saved: whose metadata, and the metadata stored now."""

    target: MetadataTarget
    metadata: dict[str, Any] | None


def shown_json(value: object) -> Text:
    """JSON as the form shows it: indented, literal, control characters escaped."""
    return Text(sanitize(json.dumps(value, indent=2, ensure_ascii=False)))


class MetadataEditorScreen(FormScreen[MetadataSaved | None]):
    """Edit one target's metadata (switchable among `targets`)."""

    AUTO_FOCUS = "JsonEditor TextArea"

    def __init__(self, data: DataLayer, targets: list[MetadataTarget]) -> None:
        super().__init__()
        self._data = data
        self._targets = targets
        self._target = targets[0]
        self._stored: dict[str, Any] | None = None
        self._loaded = False

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-dialog") as dialog:
            dialog.border_title = "Edit metadata"
            dialog.border_subtitle = "ctrl+s saves · esc cancels"
            yield field_label("Metadata of", for_id="target")
            yield Select(
                [
                    (Text(sanitize(target.label)), index)
                    for index, target in enumerate(self._targets)
                ],
                value=0,
                allow_blank=False,
                id="target",
                compact=True,
            )
            yield Static(Text(SYSTEM_NOTE), classes="form-note")
            yield Static("", id="system", classes="form-note")
            yield from metadata_and_status("Metadata (JSON object)")
            yield field_label("After saving", for_id="merged")
            yield Static("", id="merged")
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        self._load()

    def _load(self) -> None:
        self._loaded = False
        self.show_status("Reading the stored metadata…")
        self._data.read(self, StoredMetadata(self._target))

    @on(Select.Changed, "#target")
    def _target_changed(self, event: Select.Changed) -> None:
        if isinstance(event.value, int) and self._targets[event.value] != self._target:
            self._target = self._targets[event.value]
            self._load()

    @on(MetadataLoaded)
    def _loaded_or_saved(self, event: MetadataLoaded) -> None:
        if isinstance(event.request, UpdateMetadata):
            self.dismiss(MetadataSaved(event.request.target, event.metadata))
            return
        if not isinstance(event.request, StoredMetadata) or event.request.target != self._target:
            return  # switched to another target since
        self._stored = event.metadata
        self._loaded = True
        system = (event.metadata or {}).get(SYSTEM_KEY)
        system_line = self.query_one("#system", Static)
        system_line.display = system is not None
        if system is not None:
            system_line.update(Text("system (protected): ") + shown_json(system))
        editor = self.query_one(JsonEditor)
        editor.text = dump_json_object(without_system(event.metadata))
        self.show_status("")
        self._update_merged(editor)

    @on(JsonEditor.Changed)
    def _edited(self, event: JsonEditor.Changed) -> None:
        self._update_merged(event.editor)

    def _update_merged(self, editor: JsonEditor) -> None:
        merged = self.query_one("#merged", Static)
        if not editor.check.ok:
            merged.update(Text("(the metadata above is not valid JSON yet)"))
            self.show_problem("metadata", None)
            return
        update = editor.value or {}
        self.show_problem(
            "metadata",
            f"remove the {SYSTEM_KEY} key: it is reserved, not editable here"
            if SYSTEM_KEY in update
            else None,
        )
        merged.update(shown_json(merge_metadata(self._stored, without_system(update)) or {}))

    def action_save(self) -> None:
        """Save the merge (refused while the JSON is not valid or names `system`)."""
        if self.saving or not self._loaded:
            return
        editor = self.query_one(JsonEditor)
        update = editor.value or {}
        if not editor.check.ok or SYSTEM_KEY in update:
            self.show_status("Fix what is marked, then ctrl+s.", error=True)
            return
        self.saving = True
        self.show_status("Saving…")
        self._data.write(self, UpdateMetadata(self._target, update))

    @on(Failed)
    def _failed(self, event: Failed) -> None:
        if isinstance(event.request, UpdateMetadata):
            self.saving = False
            self.show_status(f"Not saved: {event.text}", error=True)
        elif isinstance(event.request, StoredMetadata) and event.request.target == self._target:
            self.show_status(f"Cannot read the stored metadata: {event.text}", error=True)
