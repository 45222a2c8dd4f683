"""The app's side of its forms: `n` new session, `a` append, `e` edit metadata.

Opens each form with what it needs, and shows what was written: the new session
selected in the list, an appended message at once in the transcript (from the
write's reply, before the lease ends), then the list's counts, the header's and
any summary the append made due (the reads after a write wait for its lease, which
makes the summaries before it ends). The forms for a new session and for metadata
write themselves, so a refusal is shown in the form; the composer hands its draft
to the app, which writes it as the app's own work (the form is gone by then).
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING

from zeptui.app.items import is_summary
from zeptui.app.requests import AppendMessage, MessagesAppended

if TYPE_CHECKING:
    from zeptui.app.app import ZeptuiApp
    from zeptui.app.data import Failed
    from zeptui.app.form_requests import MetadataTarget
    from zeptui.app.screens.composer import Draft
    from zeptui.app.screens.metadata_editor import MetadataSaved


class FormFlows:
    """Opens the forms and shows their results in `app`."""

    def __init__(self, app: ZeptuiApp) -> None:
        self.app = app
        self.speakers: dict[str, tuple[str, str]] = {}
        """Role and role type last sent per session (while the app runs)."""
        self.unsent: dict[str, Draft] = {}
        """A draft the store refused, per session: the next `a` starts from it."""

    # --- n ---------------------------------------------------------------------------

    def new_session(self) -> None:
        from zeptui.app.screens.new_session import NewSessionScreen

        self.app.push_screen(NewSessionScreen(self.app.data), self._created)

    def _created(self, session_id: str | None) -> None:
        if session_id is None:
            return
        self.app.notify(f"Created session {session_id}.", title="New session", markup=False)
        self._show_written(session_id)

    def _show_written(self, session_id: str) -> None:
        """Read the list (cursor on `session_id`) and the header counts again."""
        self.app.sessions.reload(select=session_id)

    # --- a ---------------------------------------------------------------------------

    def append(self) -> None:
        from zeptui.app.screens.composer import ComposerScreen

        info = self.app.transcript.info
        if info is None:
            self.app.notify("Select a session first: a message is appended to it.")
            return
        session_id = info.session.session_id
        composer = ComposerScreen(
            self.app.data,
            session_id,
            info.message_count,
            speaker=self.speakers.get(session_id),
            draft=self.unsent.pop(session_id, None),
        )
        self.app.push_screen(composer, partial(self._send, session_id))

    def _send(self, session_id: str, draft: Draft | None) -> None:
        if draft is None:
            return
        self.speakers[session_id] = (draft.role, draft.role_type)
        request = AppendMessage(
            session_id,
            draft.content,
            role=draft.role,
            role_type=draft.role_type,
            metadata=tuple((draft.metadata or {}).items()),
        )
        self.app.data.write(self.app, request)

    def appended(self, event: MessagesAppended) -> None:
        """The message as stored (uuid, time, tokens): shown at once."""
        session_id = event.request.session_id
        transcript = self.app.transcript
        if transcript.info is not None and transcript.info.session.session_id == session_id:
            transcript.show_appended(event.messages)
        for message in event.messages:
            self.app.notify(
                f"{message.uuid} · {message.token_count:,} tokens",
                title="Appended",
                markup=False,
            )
        self._show_written(session_id)

    def append_failed(self, event: Failed) -> None:
        request = event.request
        assert isinstance(request, AppendMessage)
        from zeptui.app.screens.composer import Draft

        metadata = dict(request.metadata) or None
        self.unsent[request.session_id] = Draft(
            request.role, request.role_type or "user", request.content, metadata
        )
        self.app.notify(
            f"Not appended: {event.text} (a press on a reopens the draft)",
            severity="error",
            markup=False,
        )

    # --- e ---------------------------------------------------------------------------

    def edit_metadata(self) -> None:
        from zeptui.app.form_requests import MetadataTarget
        from zeptui.app.screens.metadata_editor import MetadataEditorScreen
        from zeptui.app.widgets.message_block import item_uuid

        app = self.app
        info = app.transcript.info
        if info is None:
            app.notify("Select a session first.")
            return
        session = info.session
        targets = [MetadataTarget("session", session.session_id)]
        item = app.transcript.selected_item
        if item is not None and not is_summary(item):
            message = MetadataTarget("message", session.session_id, item_uuid(item))
            # The focus decides which comes first: the transcript's selected message.
            at = 0 if app.focused is app.transcript else 1
            targets.insert(at, message)
        if session.user_id:
            targets.append(MetadataTarget("user", session.session_id, user_id=session.user_id))
        app.push_screen(MetadataEditorScreen(app.data, targets), self._metadata_saved)

    def _metadata_saved(self, saved: MetadataSaved | None) -> None:
        if saved is None:
            return
        target: MetadataTarget = saved.target
        self.app.notify(f"Saved the metadata of {target.label}.", markup=False)
        session_id = target.session_id or ""
        if target.owner == "message" and target.message_uuid is not None:
            # The message's page is read again, with the message selected.
            self.app.open_session(session_id, target.message_uuid)
        else:
            self._show_written(session_id)
