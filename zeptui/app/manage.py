"""The app's keys that change what is stored: delete (and undo), the deleted sessions
(and restoring one), summarise now, and the users view.

`ManagingApp` is mixed into `ZeptuiApp`: its bindings (each with an id named like its
action, so the config file can rebind it) join the app's, its replies come to the
app. Every write runs through `DataLayer.write` on a worker; failures are
notifications that say what went wrong, in the store's own words.
"""

from __future__ import annotations

from functools import partial
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import App
from textual.binding import Binding, BindingType

from zeptui.app.data import Failed
from zeptui.app.items import is_summary
from zeptui.app.manage_requests import (
    Changed,
    ChangeRequest,
    DeletePlanned,
    DeletePlanRequest,
    Kind,
    Offers,
    OffersRequest,
    Summarized,
    SummarizeRequest,
    Target,
)
from zeptui.app.widgets.sessions import SessionsPane
from zeptui.render import sanitize, session_label, when
from zeptui.services.filters import SessionFilter, format_session_filter
from zeptui.text import plural

if TYPE_CHECKING:
    from storage.models import SessionInfo
    from zeptui.app.data import DataLayer
    from zeptui.app.screens.summarize import SummarizeScreen
    from zeptui.app.settings import Settings
    from zeptui.app.widgets.transcript import TranscriptPane

NEEDS = {
    "undo": "restoring",
    "toggle_deleted": "restoring",
    "restore_session": "restoring",
    "summarize": "summarizing",
    "users": "user_pages",
    "import": "bulk_import",
}
"""The capability each action needs of the store (hidden, and off, without it)."""

ON_LIVE_SESSIONS = frozenset({"delete", "summarize", "append", "edit_metadata"})
"""Actions on the open session: off in the deleted sessions (where none is open)."""

DELETED_HELP = "List the deleted sessions instead (D again: the live ones)"

PaletteCommand = tuple[str, str, object, str | None]
"""(name, help, callback, binding id) of a command palette entry."""


class ManagingApp(App[None]):
    """Delete and undo, deleted sessions and restore, summarise, users."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "d",
            "delete",
            "Delete",
            id="delete",
            tooltip="Delete the selected message, the session or its user (asks first)",
        ),
        Binding(
            "ctrl+z",
            "undo",
            "Undo",
            id="undo",
            tooltip="Undo the last delete (while the app is open)",
        ),
        # One key, two bindings: the footer names the list `D` switches to.
        Binding(
            "D",
            "toggle_deleted(True)",
            "Deleted",
            id="toggle_deleted",
            tooltip=DELETED_HELP,
        ),
        Binding("D", "toggle_deleted(False)", "Live", id="toggle_deleted", tooltip=DELETED_HELP),
        Binding(
            "R",
            "restore_session",
            "Restore",
            id="restore_session",
            tooltip="Restore the deleted session under the cursor, as it was",
        ),
        Binding(
            "S",
            "summarize",
            "Summarise",
            id="summarize",
            tooltip="Summarise the session now, or again from scratch",
        ),
        Binding(
            "U",
            "users",
            "Users",
            id="users",
            tooltip="Users and their session counts; enter lists a user's sessions",
        ),
    ]

    MANAGE_TYPED_ACTIONS = frozenset(
        {"delete", "toggle_deleted", "restore_session", "summarize", "users"}
    )
    """Actions whose keys type into the filter box: off while it has focus."""

    data: DataLayer
    sessions: SessionsPane
    transcript: TranscriptPane
    settings: Settings

    def __init__(self) -> None:
        super().__init__()
        self.undo_stack: list[Target] = []
        """What ctrl+z restores, the last delete last."""
        self._summarizing: SummarizeScreen | None = None
        self.offers: frozenset[str] | None = None
        """The capabilities the store offers for these actions (None: not asked yet)."""
        self._offers_asked = False

    def check_manage_action(self, action: str, parameters: tuple[object, ...] = ()) -> bool:
        """Whether one of these actions is on now (on the main screen)."""
        if not self.is_offered(action):
            return False
        deleted = self.sessions.show_deleted
        if action == "toggle_deleted" and parameters:
            return parameters != (deleted,)  # the binding that switches to the other list
        if action == "restore_session":
            return deleted and bool(self.sessions.sessions)
        if action in ON_LIVE_SESSIONS:
            return not deleted
        return True

    def manage_commands(self) -> list[PaletteCommand]:
        """These actions in the command palette."""
        deleted = self.sessions.show_deleted
        commands: list[PaletteCommand] = [
            ("Undo the last delete", "Restore what the last delete took", self.action_undo, "undo"),
            (
                "Show the live sessions" if deleted else "Show the deleted sessions",
                "They can be restored with their messages and summaries",
                self.action_toggle_deleted,
                "toggle_deleted",
            ),
            ("Users", "Users and their session counts", self.action_users, "users"),
        ]
        if deleted:
            commands.append(
                (
                    "Restore the deleted session",
                    "As it was, under the cursor",
                    self.action_restore_session,
                    "restore_session",
                )
            )
        else:
            commands += [
                (
                    "Delete…",
                    "The selected message, the session or its user",
                    self.action_delete,
                    "delete",
                ),
                (
                    "Summarise now",
                    "The messages beyond the window",
                    partial(self.action_summarize, again=False),
                    "summarize",
                ),
                (
                    "Summarise again from scratch",
                    "From the first message; the summaries are replaced",
                    partial(self.action_summarize, again=True),
                    "summarize",
                ),
            ]
        return [command for command in commands if self.is_offered(command[3])]

    def is_offered(self, action: str | None) -> bool:
        """Whether the store offers what `action` needs (True until it is known)."""
        need = NEEDS.get(action or "")
        return self.offers is None or need is None or need in self.offers

    @on(SessionsPane.Loaded)
    def _ask_offers(self) -> None:
        self.refresh_bindings()  # R is on only with a deleted session listed
        # Once, after the first page (never before it): which flows the store serves.
        if self.offers is None and not self._offers_asked:
            self._offers_asked = True
            self.data.read(self, OffersRequest())

    @on(Offers)
    def _offers_known(self, event: Offers) -> None:
        self.offers = event.names
        self.refresh_bindings()

    def _notify_error(self, text: str, title: str) -> None:
        self.notify(sanitize(text), title=title, severity="error", markup=False)

    # --- delete and undo -------------------------------------------------------------

    def action_delete(self) -> None:
        """Ask what to delete: the selected message, the session or its user."""
        info = self.transcript.info
        if info is None:
            self.notify("Select a session in the list first.", severity="warning", markup=False)
            return
        item = self.transcript.selected_item
        message_uuid = item.uuid if item is not None and not is_summary(item) else None
        session = info.session
        self.data.read(self, DeletePlanRequest(session.session_id, message_uuid, session.user_id))

    @on(DeletePlanned)
    def _delete_planned(self, event: DeletePlanned) -> None:
        from zeptui.app.screens.delete import DeleteScreen  # on first use

        focused = self.focused
        in_transcript = focused is not None and (
            focused is self.transcript or self.transcript in focused.ancestors
        )
        # From the transcript the selected message is offered first; else the session.
        kinds = [choice.target.kind for choice in event.choices]
        chosen = kinds.index(
            Kind.message if in_transcript and Kind.message in kinds else Kind.session
        )
        screen = DeleteScreen(event.choices, chosen, event.undoable, event.note)
        self.push_screen(screen, partial(self._delete_confirmed, undoable=event.undoable))

    def _delete_confirmed(self, target: Target | None, *, undoable: bool) -> None:
        if target is not None:
            self.data.write(self, ChangeRequest(target, undoable=undoable))

    def action_undo(self) -> None:
        """Restore what the last delete took."""
        if not self.undo_stack:
            self.notify("Nothing to undo.", markup=False)
            return
        self.data.write(self, ChangeRequest(self.undo_stack.pop(), restore=True, undo=True))

    @on(Changed)
    def _changed(self, event: Changed) -> None:
        request = event.request
        target = request.target
        if request.restore:
            self.notify(f"Restored {target.name}.", title="Restored", markup=False)
            if target.kind is Kind.session and not self.sessions.show_deleted:
                # The session restored comes back selected, as it was before the delete.
                self.sessions.reload(select=target.session_id)
                return
        else:
            text = f"Deleted {target.name}."
            if request.undoable:
                self.undo_stack.append(target)
                text += " ctrl+z undoes it."
            self.notify(text, title="Deleted", markup=False)
        self.sessions.reload()

    # --- deleted sessions ------------------------------------------------------------

    def action_toggle_deleted(self, deleted: bool | None = None) -> None:
        """The deleted sessions in the list instead of the live ones, or back (`deleted`:
        which to list; None: the other one)."""
        if deleted is not None and deleted == self.sessions.show_deleted:
            return
        self.sessions.toggle_deleted()
        self.refresh_bindings()

    def show_deleted_session(self, info: SessionInfo) -> bool:
        """A deleted session is described, not read (its messages are deleted); False
        for a live one."""
        session = info.session
        if session.deleted_at is None:
            return False
        self.transcript.info = None
        self.transcript.show_empty(
            f"Deleted session {sanitize(session_label(session))}, "
            f"deleted {when(session.deleted_at)}.\n\n"
            f"R restores it with its {plural(info.message_count, 'message')} and summaries "
            "as they were; D shows the live sessions again."
        )
        return True

    def action_restore_session(self) -> None:
        """Restore the deleted session under the cursor."""
        row = self.sessions.table.cursor_row
        if not (self.sessions.show_deleted and 0 <= row < len(self.sessions.sessions)):
            self.notify("No deleted session is selected.", severity="warning", markup=False)
            return
        session = self.sessions.sessions[row].session
        name = f"session {sanitize(session_label(session))}"
        target = Target(Kind.session, name, session.session_id)
        self.data.write(self, ChangeRequest(target, restore=True))

    # --- summaries -------------------------------------------------------------------

    def action_summarize(self, again: bool | None = None) -> None:
        """Summarise the session: a dialog names the summarizer and shows progress."""
        from zeptui.app.screens.summarize import SummarizeScreen  # on first use

        info = self.transcript.info
        if info is None:
            self.notify("Select a session in the list first.", severity="warning", markup=False)
            return
        session_id = info.session.session_id
        screen = SummarizeScreen(
            sanitize(session_label(info.session)),
            self.settings.summarizer,
            self.settings.message_window,
            partial(self._summarize, session_id),
            again=again,
        )
        self._summarizing = screen
        self.push_screen(screen)

    def _summarize(self, session_id: str, again: bool) -> None:
        self.data.write(self, SummarizeRequest(session_id, again))

    @on(Summarized)
    def _summarized(self, event: Summarized) -> None:
        made = len(event.made)
        if made:
            text = f"Made {plural(made, 'summary', 'summaries')} with {self.settings.summarizer}."
        else:
            text = (
                f"No summary was due: fewer than {event.window} messages beyond the last summary."
            )
        self.notify(text, title="Summarised", markup=False)
        self._summary_done(text)
        info = self.transcript.info
        if info is not None and info.session.session_id == event.request.session_id:
            self.transcript.show_session(info)  # its summaries read again, without `r`

    def _summary_done(self, text: str, *, error: bool = False) -> None:
        screen, self._summarizing = self._summarizing, None
        if screen is not None and screen.is_attached:
            screen.done(text, error=error)

    # --- users -----------------------------------------------------------------------

    def action_users(self) -> None:
        """Users with their session counts; picking one filters the session list."""
        from zeptui.app.screens.users import UsersScreen  # on first use

        self.push_screen(UsersScreen(self.data), self._user_picked)

    def _user_picked(self, user_id: str | None) -> None:
        if user_id is None:
            return
        if self.sessions.show_deleted:
            self.action_toggle_deleted()
        self.sessions.set_filter(format_session_filter(SessionFilter(user_id=user_id)))

    # --- failures --------------------------------------------------------------------

    @on(Failed)
    def _manage_failed(self, event: Failed) -> None:
        request = event.request
        if isinstance(request, DeletePlanRequest):
            self._notify_error(event.text, "Cannot delete")
        elif isinstance(request, ChangeRequest):
            done = "restored" if request.restore else "deleted"
            self._notify_error(event.text, f"{request.target.name} was not {done}")
            if request.undo:  # ctrl+z may try it again (say, once the file is free)
                self.undo_stack.append(request.target)
        elif isinstance(request, SummarizeRequest):
            self._notify_error(event.text, "No summary was made")
            self._summary_done(sanitize(event.text), error=True)
