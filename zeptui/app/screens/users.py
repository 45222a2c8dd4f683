"""The users view: users with their session counts, paged from the store; `enter`
filters the session list by the user under the cursor, `esc` goes back."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import zip_longest
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Footer, Input, Static

from zeptui.app.data import DataLayer, Failed
from zeptui.app.manage_requests import UsersLoaded, UsersRequest
from zeptui.render import sanitize

if TYPE_CHECKING:
    from storage.models import UserInfo

PAGE_SIZE = 100
MORE_BEFORE_END = 20
"""The next page is asked for when the cursor comes this close to the last user listed."""
COLUMNS = (("user", "User"), ("sessions", "Sessions"), ("name", "Name"), ("email", "Email"))
WIDEST_COLUMN = 40
"""A column grows with the longest value listed up to this; longer ones end in `…`."""


def _name(info: UserInfo) -> str:
    user = info.user
    return " ".join(part for part in (user.first_name, user.last_name) if part)


def _cells(info: UserInfo) -> tuple[Text, ...]:
    """A user's row: id, session count, name and email, shown literally."""
    return (
        Text(sanitize(info.user.user_id), no_wrap=True, overflow="ellipsis"),
        Text(f"{info.session_count:,}", justify="right"),
        Text(sanitize(_name(info)), no_wrap=True, overflow="ellipsis"),
        Text(sanitize(info.user.email or ""), no_wrap=True, overflow="ellipsis"),
    )


def column_widths(
    rows: Iterable[tuple[Text, ...]], at_least: Sequence[int] = ()
) -> tuple[int, ...]:
    """Each column as wide as its heading, its widest value and `at_least` (widths
    already set), up to `WIDEST_COLUMN`."""
    widths = [len(heading) for _, heading in COLUMNS]
    widths = [max(pair) for pair in zip_longest(widths, at_least, fillvalue=0)]
    for row in rows:
        widths = [max(width, cell.cell_len) for width, cell in zip(widths, row, strict=True)]
    return tuple(min(width, WIDEST_COLUMN) for width in widths)


class UsersTable(DataTable[Text]):
    """The users as rows; `home` and `end` go to the first and last user listed;
    a letter typed here goes to the filter box."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("home", "scroll_top", "First user", show=False, id="user_first"),
        Binding(
            "end",
            "scroll_bottom",
            "Last user listed (more load as you go)",
            show=False,
            id="user_last",
        ),
    ]

    def on_key(self, event: events.Key) -> None:
        if event.is_printable and event.character and not event.character.isspace():
            event.stop()
            event.prevent_default()
            box = self.screen.query_one("#users-filter", Input)
            box.focus()
            box.insert_text_at_cursor(event.character)


class UsersScreen(ModalScreen[str | None]):
    """Users and their session counts; dismisses with the user picked, or None."""

    DEFAULT_CSS: ClassVar[str] = """
    UsersScreen {
        align: center middle;
        & > Vertical {
            width: 120;
            max-width: 100%;  /* at 80 columns every column fits, the email too */
            height: 85%;
            border: thick $primary;
            border-title-color: $accent;
            background: $surface;
            padding: 0 1;
        }
        & Input, & Input:focus { height: 1; border: none; padding: 0 1; background: $boost; }
        & DataTable { height: 1fr; }
        & #users-status { color: $text-muted; height: auto; }
        & #users-status.-error { color: $error; }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Back", id="close"),
        Binding("enter", "pick", "Their sessions", priority=True, id="user_sessions"),
        Binding("down", "focus_table", "To the list", show=False, id="users_list"),
    ]

    def __init__(self, data: DataLayer) -> None:
        super().__init__()
        self._data = data
        self._users: list[UserInfo] = []
        self._generation = 0
        self._next: int | None = None
        self._total = 0
        self._loading = False
        self._widths: tuple[int, ...] = ()

    def compose(self) -> ComposeResult:
        with Vertical() as dialog:
            dialog.border_title = "Users"
            yield Input(
                placeholder="A part of the id, email or name",
                id="users-filter",
                select_on_focus=False,  # a letter typed in the list lands here first
            )
            yield UsersTable(cursor_type="row", zebra_stripes=True)
            yield Static("Loading users…", id="users-status", markup=False)
        yield Footer()

    def on_mount(self) -> None:
        self._show(())
        self.query_one(DataTable).focus()
        self._load(0)

    @property
    def users(self) -> list[UserInfo]:
        """The users listed so far."""
        return list(self._users)

    def _load(self, cursor: int) -> None:
        text = self.query_one(Input).value.strip() or None
        self._loading = True
        request = UsersRequest(PAGE_SIZE, cursor, text, self._generation)
        self._data.read(self, request)

    @on(Input.Changed)
    def _filter_changed(self) -> None:
        self._generation += 1
        self._load(0)

    @on(UsersLoaded)
    def _loaded(self, event: UsersLoaded) -> None:
        if event.request.generation != self._generation:
            return
        self._loading = False
        page = event.page
        if event.request.cursor == 0:
            self._users = []
            self._widths = ()
        self._users += page.users
        self._next, self._total = page.next_cursor, page.total_count
        self._show(page.users)
        more = "+" if self._next is not None else ""
        self._status(
            f"{len(self._users):,}{more} of {self._total:,} users; enter lists a user's sessions"
            if self._total
            else "No users match."
            if event.request.text
            else "No users yet (zeptui users add ID)."
        )

    def _show(self, users: Sequence[UserInfo]) -> None:
        """Show `users`, the last of `self._users`. Widths are set here, not measured by
        the table when it next idles: a DataTable keeps cells painted before that at
        their old widths (Textual issue 3533), so a busy machine showed "pri…" for
        good. When a row needs a wider column, the table is built again with every
        user."""
        table = self.query_one(UsersTable)
        rows = [_cells(info) for info in users]
        widths = column_widths(rows, self._widths)
        if widths == self._widths:
            for row in rows:
                table.add_row(*row)
            return
        self._widths = widths
        cursor = table.cursor_row
        table.clear(columns=True)
        for (key, heading), width in zip(COLUMNS, widths, strict=True):
            table.add_column(heading, key=key, width=width)
        for info in self._users:
            table.add_row(*_cells(info))
        if 0 < cursor < len(self._users):
            table.move_cursor(row=cursor, animate=False)

    @on(Failed)
    def _failed(self, event: Failed) -> None:
        self._loading = False
        self._status(sanitize(event.text), error=True)

    def _status(self, text: str, *, error: bool = False) -> None:
        status = self.query_one("#users-status", Static)
        status.set_class(error, "-error")
        status.update(text)

    @on(DataTable.RowHighlighted)
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        near_end = event.cursor_row >= len(self._users) - MORE_BEFORE_END
        if near_end and self._next is not None and not self._loading:
            self._load(self._next)

    def action_pick(self) -> None:
        """The sessions of the user under the cursor (from the filter box: the first)."""
        row = self.query_one(DataTable).cursor_row
        if 0 <= row < len(self._users):
            self.dismiss(self._users[row].user.user_id)

    def action_focus_table(self) -> None:
        self.query_one(DataTable).focus()

    def action_close(self) -> None:
        self.dismiss(None)
