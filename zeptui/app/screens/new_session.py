"""`n`: the new-session form.

The cursor starts in the session id field, on a fresh id (selected: typing replaces
it). Then the user (none, one of the store's users, or a new one with an email and
names) and the metadata (the JSON editor). Ids are checked with the store as they
are typed (a taken id is refused with the reason) and again on `ctrl+s`, which
creates the session under the write lease, in a worker, and dismisses with its id.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Footer, Input, Select

from zeptui.app.data import Failed
from zeptui.app.form_requests import (
    CreateSession,
    IdsCheck,
    IdsChecked,
    NewUser,
    SessionCreated,
    UserChoicesLoaded,
    UserChoicesRequest,
)
from zeptui.app.screens.form import (
    FormScreen,
    field_label,
    limit_problem,
    metadata_and_status,
    problem_line,
)
from zeptui.app.widgets.json_editor import JsonEditor
from zeptui.render import sanitize

if TYPE_CHECKING:
    from storage.models import User
    from zeptui.app.data import DataLayer

NO_USER = "\x00no-user"
NEW_USER = "\x00new-user"
"""Select values that no user id can be (ids have no control characters)."""


def fresh_session_id() -> str:
    """The id the form proposes: a new UUID, as Zep's clients make them."""
    return str(uuid.uuid4())


def user_choice(user: User) -> tuple[Text, str]:
    """A user as the list shows it: `id · First Last · email`, literal."""
    names = " ".join(part for part in (user.first_name, user.last_name) if part)
    shown = " · ".join(part for part in (user.user_id, names, user.email or "") if part)
    return Text(sanitize(shown)), user.user_id


class NewSessionScreen(FormScreen[str | None]):
    """Create a session; dismisses with its id (None: cancelled)."""

    AUTO_FOCUS = "#session-id"

    def __init__(self, data: DataLayer) -> None:
        super().__init__()
        self._data = data
        self._taken: IdsChecked | None = None

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="form-dialog") as dialog:
            dialog.border_title = "New session"
            dialog.border_subtitle = "ctrl+s creates · esc cancels"
            yield field_label("Session id", for_id="session-id")
            yield Input(fresh_session_id(), id="session-id", compact=True)
            yield problem_line("session-id")
            yield field_label("User", for_id="user")
            yield Select(
                [(Text("No user"), NO_USER), (Text("New user…"), NEW_USER)],
                value=NO_USER,
                allow_blank=False,
                id="user",
                compact=True,
            )
            with Vertical(id="new-user"):
                yield field_label("New user's id", for_id="user-id")
                yield Input(id="user-id", compact=True, placeholder="user id")
                yield problem_line("user-id")
                with Horizontal(classes="form-row"):
                    with Vertical(classes="form-column"):
                        yield field_label("Email", for_id="email")
                        yield Input(id="email", compact=True, placeholder="optional")
                    with Vertical(classes="form-column"):
                        yield field_label("First name", for_id="first-name")
                        yield Input(id="first-name", compact=True, placeholder="optional")
                    with Vertical(classes="form-column"):
                        yield field_label("Last name", for_id="last-name")
                        yield Input(id="last-name", compact=True, placeholder="optional")
                yield problem_line("names")
            yield problem_line("user")
            yield from metadata_and_status("Metadata (JSON object, optional)")
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        self._data.read(self, UserChoicesRequest())
        self._check_ids()

    # --- users ---------------------------------------------------------------------

    @on(UserChoicesLoaded)
    def _users_loaded(self, event: UserChoicesLoaded) -> None:
        select: Select[str] = self.query_one("#user", Select)
        chosen = select.value
        options = [(Text("No user"), NO_USER)]
        options += [user_choice(user) for user in event.users]
        options.append((Text("New user…"), NEW_USER))
        select.set_options(options)
        known = {value for _, value in options}
        select.value = chosen if chosen in known else NO_USER
        if event.more:
            self.show_problem("user", f"The list shows the first {len(event.users):,} users by id.")

    @on(Select.Changed, "#user")
    def _user_changed(self, event: Select.Changed) -> None:
        new = event.value == NEW_USER
        self.query_one("#new-user").set_class(new, "-shown")
        if new:
            self.query_one("#user-id", Input).focus()
        self._check_ids()

    # --- checks as typed -----------------------------------------------------------

    @on(Input.Changed, "#session-id, #user-id")
    def _ids_changed(self) -> None:
        self._check_ids()

    def _new_user_id(self) -> str | None:
        if self.query_one("#user", Select).value != NEW_USER:
            return None
        return self.query_one("#user-id", Input).value

    def _check_ids(self) -> None:
        """Check the ids here (the store's limits), then with the store (taken?)."""
        session_id = self.query_one("#session-id", Input).value
        user_id = self._new_user_id()
        self._taken = None
        local = self.show_problem("session-id", limit_problem(session_id, "session_id"))
        if user_id:
            self.show_problem("user-id", limit_problem(user_id, "user_id"))
        else:  # an empty id is refused on saving, not as soon as New user… is picked
            self.show_problem("user-id", None)
        self._data.read(
            self,
            IdsCheck("" if local else session_id, user_id if user_id else None),
        )

    @on(IdsChecked)
    def _ids_checked(self, event: IdsChecked) -> None:
        request = event.request
        if request.session_id != self.query_one("#session-id", Input).value:
            return  # typed on since
        self._taken = event
        if event.session_taken:
            self.show_problem("session-id", event.session_taken)
        if event.user_taken and request.user_id == self._new_user_id():
            self.show_problem("user-id", event.user_taken)

    # --- saving ----------------------------------------------------------------------

    def _new_user(self) -> tuple[NewUser | None, list[str]]:
        user_id = self._new_user_id()
        if user_id is None:
            return None, []
        values = {
            name: self.query_one(f"#{name.replace('_', '-')}", Input).value.strip()
            for name in ("email", "first_name", "last_name")
        }
        problems = [
            problem
            for name, value in values.items()
            if value and (problem := limit_problem(value, name, "name")) is not None
        ]
        return NewUser(user_id, **values), problems

    def action_save(self) -> None:
        """Check every field, then create the session (the store checks again)."""
        if self.saving:
            return
        session_id = self.query_one("#session-id", Input).value
        select: Select[str] = self.query_one("#user", Select)
        editor = self.query_one(JsonEditor)
        new_user, name_problems = self._new_user()
        problems = [
            self.show_problem("session-id", limit_problem(session_id, "session_id")),
            self.show_problem("names", "; ".join(name_problems) or None),
            not editor.check.ok,
        ]
        if new_user is not None:
            problems.append(
                self.show_problem("user-id", limit_problem(new_user.user_id, "user_id"))
            )
        taken = self._taken
        if taken is not None and taken.request.session_id == session_id:
            problems.append(self.show_problem("session-id", taken.session_taken))
            if new_user is not None and taken.request.user_id == new_user.user_id:
                problems.append(self.show_problem("user-id", taken.user_taken))
        if any(problems):
            self.show_status("Fix what is marked, then ctrl+s.", error=True)
            return
        user_value = select.value
        picked = (
            user_value
            if isinstance(user_value, str) and user_value not in (NO_USER, NEW_USER)
            else None
        )
        request = CreateSession(
            session_id=session_id,
            user_id=picked,
            new_user=new_user,
            metadata=editor.value,
        )
        self.saving = True
        self.show_status("Creating the session…")
        self._data.write(self, request)

    @on(SessionCreated)
    def _created(self, event: SessionCreated) -> None:
        self.dismiss(event.session_id)

    @on(Failed)
    def _failed(self, event: Failed) -> None:
        if isinstance(event.request, CreateSession):
            self.saving = False
            text = event.text
            if "session_id" in text:
                self.show_problem("session-id", text)
            elif "user_id" in text:
                self.show_problem("user-id" if self._new_user_id() else "user", text)
            self.show_status(f"Not created: {text}", error=True)
        elif isinstance(event.request, UserChoicesRequest):
            self.show_problem("user", f"Cannot list the users: {event.text}")
        # A failed id check leaves the check to the save (the store checks again).
