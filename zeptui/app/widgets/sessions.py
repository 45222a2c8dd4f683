"""The sessions pane: a filtered, sorted, paged list of sessions from the store."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Static

from zeptui.app.data import DataLayer, Failed, FirstPageRead, LockRetry
from zeptui.app.first_page import PAGE_SIZE, FirstPage, SessionRow
from zeptui.app.requests import SessionsLoaded, SessionsRequest
from zeptui.render import sanitize
from zeptui.services.filters import FilterError, SessionFilter, parse_session_filter
from zeptui.text import plural

if TYPE_CHECKING:
    from storage.models import SessionInfo

SORTS: tuple[tuple[str, str, bool], ...] = (
    ("recent", "activity", True),
    ("created", "created", True),
    ("size", "message_count", True),
)
"""(label, SessionOrder value, descending) for each sort the pane cycles through."""


@dataclass(frozen=True)
class Column:
    """A column of the session list: key, heading, width in cells, alignment."""

    key: str
    heading: str
    width: int
    justify: str = "left"


CELL_PADDING = 1
"""The DataTable's padding on each side of a cell."""
SCROLLBAR_WIDTH = 2
SESSION_MIN_WIDTH = 18
USER_MAX_WIDTH = 24


def plan_columns(width: int, rows: Sequence[SessionRow]) -> tuple[Column, ...]:
    """The columns that fit in `width` cells: the session's title or id always (up to
    half the width, or all of it if shorter), then as room allows (first come
    first) messages, last activity, user and tokens, each as wide as its widest
    value; the title takes the rest, so it grows with the pane.
    """
    messages = max([len("Msgs"), *(len(f"{row.messages:,}") for row in rows)])
    tokens = max([len("Tokens"), *(len(f"{row.tokens:,}") for row in rows)])
    users = [len(row.user) for row in rows if row.user]
    optional = [
        Column("messages", "Msgs", messages, "right"),
        Column("active", "Active", len("2024-05-01")),
        Column("tokens", "Tokens", tokens, "right"),
    ]
    if users:  # no column of blanks
        user = min(USER_MAX_WIDTH, max(len("User"), *users))
        optional.insert(2, Column("user", "User", user))
    longest = max((len(row.label) for row in rows), default=0)
    half = max(SESSION_MIN_WIDTH, (width - SCROLLBAR_WIDTH) // 2 - 2 * CELL_PADDING)
    label_min = min(longest, half) if longest else SESSION_MIN_WIDTH
    room = width - SCROLLBAR_WIDTH - label_min - 2 * CELL_PADDING
    chosen: list[Column] = []
    for column in optional:
        needed = column.width + 2 * CELL_PADDING
        if needed <= room:  # a column that does not fit leaves room for a narrower one
            chosen.append(column)
            room -= needed
    label = Column("session", "Session", label_min + max(0, room))
    order = ("session", "user", "messages", "tokens", "active")
    return tuple(sorted([label, *chosen], key=lambda column: order.index(column.key)))


DELETED_MARK = "deleted "
"""Before the title of a deleted session (the list shows them after `D`)."""


def _cell(row: SessionRow, key: str, deleted: bool = False) -> Text:
    """One cell, literal (the row's text went through `sanitize`); a deleted
    session's cells are dimmed (its title is marked: `SessionTable.show`)."""
    cell = _plain_cell(row, key)
    if deleted:
        cell.stylize("dim")
    return cell


def _plain_cell(row: SessionRow, key: str) -> Text:
    if key == "session":
        return Text(row.label, no_wrap=True, overflow="ellipsis")
    if key == "user":
        return Text(row.user, no_wrap=True, overflow="ellipsis")
    if key == "messages":
        return Text(f"{row.messages:,}", justify="right")
    if key == "tokens":
        return Text(f"{row.tokens:,}", justify="right")
    return Text(row.active, style="dim")


class SessionTable(DataTable[Text]):
    """The sessions as rows; the columns follow the table's width."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "select_cursor",
            "Open",
            tooltip="Read the session (to its transcript)",
            id="open_session",
        ),
        Binding("j,down", "cursor_down", "Next session", show=False, id="session_down"),
        Binding("k,up", "cursor_up", "Previous session", show=False, id="session_up"),
        Binding("pagedown", "page_down", "Page down", show=False, id="session_page_down"),
        Binding("pageup", "page_up", "Page up", show=False, id="session_page_up"),
        Binding("home", "scroll_top", "First session", show=False, id="session_first"),
        Binding(
            "end",
            "scroll_bottom",
            "Last session listed (more load as you go)",
            show=False,
            id="session_last",
        ),
    ]

    DEFAULT_CSS = """
    SessionTable { height: 1fr; scrollbar-gutter: stable; }
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(cursor_type="row", zebra_stripes=True, **kwargs)
        self.rows_shown: list[SessionRow] = []
        self.deleted = False
        """The rows are deleted sessions (dimmed and marked)."""
        self._plan: tuple[Column, ...] = ()

    @property
    def current_id(self) -> str | None:
        """The id of the session under the cursor."""
        if 0 <= self.cursor_row < len(self.rows_shown):
            return self.rows_shown[self.cursor_row].session_id
        return None

    def show(self, rows: Sequence[SessionRow], cursor: int = 0, *, deleted: bool = False) -> None:
        """Show `rows` (of deleted sessions, `deleted`) in place of what is shown, the
        cursor on row `cursor`."""
        self.deleted = deleted
        self.rows_shown = self._marked(rows)
        self._build(cursor)

    def extend(self, rows: Sequence[SessionRow]) -> None:
        """Append a page of rows."""
        rows = self._marked(rows)
        self.rows_shown.extend(rows)
        if plan_columns(self.size.width, self.rows_shown) != self._plan:
            self._build(self.cursor_row)
            return
        for row in rows:
            self._add_row(row)

    def _marked(self, rows: Sequence[SessionRow]) -> list[SessionRow]:
        """The rows, their titles marked when they are deleted sessions (the columns
        are planned with the mark, so it takes no room from the title)."""
        if not self.deleted:
            return list(rows)
        return [replace(row, label=DELETED_MARK + row.label) for row in rows]

    def on_resize(self, event: events.Resize) -> None:
        if plan_columns(event.size.width, self.rows_shown) != self._plan:
            self._build(self.cursor_row)

    def _build(self, cursor: int) -> None:
        self._plan = plan_columns(self.size.width, self.rows_shown)
        self.clear(columns=True)
        for column in self._plan:
            heading = Text(column.heading, justify=column.justify)  # type: ignore[arg-type]
            self.add_column(heading, key=column.key, width=column.width)
        for row in self.rows_shown:
            self._add_row(row)
        if self.rows_shown:
            self.move_cursor(row=min(cursor, len(self.rows_shown) - 1), animate=False)

    def _add_row(self, row: SessionRow) -> None:
        self.add_row(*(_cell(row, column.key, self.deleted) for column in self._plan))


FILTER_HELP = (
    "Filter: words match the title, id or user; user:NAME, key=value "
    "(dotted keys reach nested metadata), >2024-05-01, <2024-06-01"
)


class FilterInput(Input):
    """The filter box; `esc` (or `enter`) goes back to the list, keeping the filter."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "leave", "Back to the list", id="filter_leave"),
    ]

    class Left(Message):
        """The user left the filter box."""

    def action_leave(self) -> None:
        self.post_message(self.Left())


class SessionsPane(Vertical):
    """Every session with its user, message count, tokens and last activity."""

    ALLOW_MAXIMIZE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f", "focus_filter", "Filter", tooltip=FILTER_HELP, id="filter"),
        Binding(
            "s",
            "cycle_sort",
            "Sort",
            tooltip="Sort by recent activity, creation or size",
            id="sort",
        ),
    ]

    DEFAULT_CSS = """
    SessionsPane #session-filter {
        height: 1;
        border: none;
        padding: 0 1;
        background: $surface;
        &:focus { background: $boost; }
    }
    SessionsPane #sessions-status { height: auto; max-height: 8; color: $text-muted; padding: 0 1; }
    """

    sort_index: reactive[int] = reactive(0, init=False)

    class Selected(Message):
        """The highlighted session changed."""

        def __init__(self, info: SessionInfo) -> None:
            super().__init__()
            self.info = info

    class Opened(Message):
        """Enter on a session: the user wants to read it."""

    class Missing(Message):
        """The session to select after a reload is not in the listing (filtered out)."""

        def __init__(self, session_id: str) -> None:
            super().__init__()
            self.session_id = session_id

    class Loaded(Message):
        """The first page of a new listing arrived (the app updates its header counts)."""

        def __init__(self, total: int) -> None:
            super().__init__()
            self.total = total

    def __init__(self, data: DataLayer, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.data = data
        self.total = 0
        self.next_cursor: int | None = None
        self._filter = SessionFilter()
        self._filter_error: str | None = None
        """Why the filter box's text is not a filter (the list keeps the last one)."""
        self._loading_more = False
        self._generation = 0
        self._highlighted: str | None = None
        self._select_after: str | None = None
        self._lock_retry = LockRetry(self)
        self._sessions: list[SessionInfo] = []
        self._answered = False
        self.show_deleted = False
        """The list shows the deleted sessions (`D`), which can be restored."""

    def compose(self) -> ComposeResult:
        yield FilterInput(
            placeholder="f: filter  words  user:NAME  key=value  >2024-05-01",
            id="session-filter",
        )
        yield SessionTable(id="session-table")
        yield Static("", id="sessions-status")

    def on_mount(self) -> None:
        self._update_title()
        # The first page from before the store answers (kept from the last start, or
        # read ahead from the file) is on the first frame if it is there already;
        # the store's answer replaces it.
        early = self.data.first_page(self)
        if early is not None:
            self._show_early(early)
        # Load after the first paint: the store's imports and the file's opening
        # then never delay the first screen.
        self.call_after_refresh(self.reload)

    @on(FirstPageRead)
    def _first_page_read(self, event: FirstPageRead) -> None:
        self._show_early(event.page)

    def _show_early(self, page: FirstPage) -> None:
        if self._answered or self.sort_index or self.is_filtered or self.show_deleted:
            return  # the store was quicker, or the user asked for another listing
        self.table.show(page.rows)
        self.total = page.total
        self._update_status()

    @property
    def table(self) -> SessionTable:
        return self.query_one(SessionTable)

    @property
    def sessions(self) -> list[SessionInfo]:
        """The sessions the store listed so far (pages load as the cursor nears the end)."""
        return self._sessions

    # --- loading -------------------------------------------------------------------

    def _request(self, cursor: int, reset: bool, keep: bool = False) -> SessionsRequest:
        """The request for the page at `cursor` of the current sort and filter."""
        _, order, descending = SORTS[self.sort_index]
        return SessionsRequest(
            limit=PAGE_SIZE,
            cursor=cursor,
            order_by=order,
            descending=descending,
            user_id=self._filter.user_id,
            metadata=self._filter.metadata,
            created_after=self._filter.created_after,
            created_before=self._filter.created_before,
            text=self._filter.text,
            keep=keep,
            deleted=self.show_deleted,
            reset=reset,
            generation=self._generation,
        )

    def reload(self, select: str | None = None) -> None:
        """Fetch the first page again (after a sort or filter change, or on request);
        the session under the cursor stays under it if it is still listed, or the
        cursor goes to session `select` (one just written)."""
        self._select_after = select or self._select_after
        self._generation += 1
        self._lock_retry.cancel()
        # The first page of the unfiltered list, most recent first, is what a start shows.
        keep = self.sort_index == 0 and not self.is_filtered and not self.show_deleted
        self.data.read(self, self._request(0, reset=True, keep=keep))

    @on(Failed)
    def _failed(self, event: Failed) -> None:
        request = event.request
        if not isinstance(request, SessionsRequest) or request.generation != self._generation:
            return
        if event.not_found:  # no database file yet: the empty state
            self._show_page([], (), 0, None, reset=True)
            return
        self._loading_more = False
        text = sanitize(event.text)
        if not self._lock_retry.attempts:  # once per round of retries
            title = "Not offered by this store" if event.unsupported else "Cannot read the store"
            self.notify(text, title=title, severity="error", markup=False)
        if event.locked:  # another process holds the file: try again by itself
            text = self._lock_retry.schedule(self.reload) + "\n" + text
        self.query_one("#sessions-status", Static).update(Text(text, style="red"))

    @on(SessionsLoaded)
    def _loaded(self, event: SessionsLoaded) -> None:
        request = event.request
        if request.generation != self._generation:
            return  # a newer query replaced this one
        page = event.page
        self._show_page(
            page.sessions, event.rows, page.total_count, page.next_cursor, reset=request.reset
        )

    def _show_page(
        self,
        sessions: list[SessionInfo],
        rows: Sequence[SessionRow],
        total: int,
        next_cursor: int | None,
        *,
        reset: bool,
    ) -> None:
        self._answered = True
        if self._lock_retry.succeeded():
            self.notify("The database is free again: sessions loaded.", markup=False)
        table = self.table
        self.total = total
        self.next_cursor = next_cursor
        self._loading_more = False
        if not reset:
            self._sessions.extend(sessions)
            table.extend(rows)
            self._update_status()
            return
        # The cursor stays on its session: the one announced, or the row under it
        # (the user may have moved over the rows shown before the store answered).
        wanted, self._select_after = self._select_after, None
        current = wanted or self._highlighted or table.current_id
        ids = [row.session_id for row in rows]
        if wanted is not None and wanted not in ids:
            self.post_message(self.Missing(wanted))
        cursor = ids.index(current) if current in ids else 0
        self._highlighted = None  # announce the row under the cursor, with its new counts
        self._sessions = list(sessions)
        table.show(rows, cursor, deleted=self.show_deleted)
        self._update_status()
        self.post_message(self.Loaded(self.total))
        if rows:
            # Let the list paint before the session's transcript starts loading.
            self.call_after_refresh(self._highlight, cursor)

    def _update_status(self) -> None:
        shown = len(self.table.rows_shown)
        more = "+" if self.next_cursor is not None else ""
        what = "deleted session" if self.show_deleted else "session"
        listed = f"{shown:,}{more} of {plural(self.total, what)}"
        text = listed if self.total else f"No {what}s"
        if self._filter_error:
            text = self._filter_error
        self.query_one("#sessions-status", Static).update(text)

    @property
    def session_filter(self) -> SessionFilter:
        """The filter the list shows (the last valid one typed)."""
        return self._filter

    @property
    def is_filtered(self) -> bool:
        """Whether the filter box narrows the list."""
        return any(
            (
                self._filter.text,
                self._filter.user_id,
                self._filter.metadata,
                self._filter.created_after,
                self._filter.created_before,
            )
        )

    def _update_title(self) -> None:
        deleted = "deleted · " if self.show_deleted else ""
        self.border_title = f"Sessions · {deleted}{SORTS[self.sort_index][0]}"

    def set_filter(self, text: str) -> None:
        """Filter the list by `text` (in the filter language), back on the list."""
        self.query_one(FilterInput).value = text
        self.table.focus()

    def toggle_deleted(self) -> None:
        """List the deleted sessions instead of the live ones, or back."""
        self.show_deleted = not self.show_deleted
        self._update_title()
        self.reload()

    # --- events --------------------------------------------------------------------

    def _highlight(self, index: int) -> None:
        """Announce the session at `index` unless it is the one announced last."""
        if not 0 <= index < len(self.sessions):
            return
        info = self.sessions[index]
        if info.session.session_id != self._highlighted:
            self._highlighted = info.session.session_id
            self.post_message(self.Selected(info))

    @on(DataTable.RowHighlighted, "#session-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        index = event.cursor_row
        self._highlight(index)
        near_end = index >= len(self.sessions) - 20
        if near_end and self.next_cursor is not None and not self._loading_more:
            self._loading_more = True
            self.data.read(self, self._request(self.next_cursor, reset=False))

    @on(DataTable.RowSelected, "#session-table")
    def _row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self._highlight(event.cursor_row)
        self.post_message(self.Opened())

    @on(Input.Changed, "#session-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        try:
            session_filter = parse_session_filter(event.value)
        except FilterError as error:  # e.g. half typed: the list stays as it is
            self._filter_error = str(error)
            self._update_status()
            return
        self._filter, self._filter_error = session_filter, None
        self.reload()

    @on(Input.Submitted, "#session-filter")
    @on(FilterInput.Left)
    def _filter_left(self) -> None:
        self.table.focus()

    def watch_sort_index(self) -> None:
        self._update_title()
        self.reload()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """In the filter box letters are typed, so the pane's keys are off (and hidden)."""
        if action in ("cycle_sort", "focus_filter"):
            return not self.query_one(FilterInput).has_focus
        return True

    def action_cycle_sort(self) -> None:
        """Sort by recent activity, creation time or size."""
        self.sort_index = (self.sort_index + 1) % len(SORTS)

    def action_focus_filter(self) -> None:
        self.query_one(FilterInput).focus()

    def select_session_id(self, session_id: str) -> bool:
        """Move the cursor to a loaded session; False if it is not on a loaded page.
        Before the store's first answer, the cursor goes to it as that lands (True):
        the first page must not replace it with its first row (`Missing` if it is not
        on it)."""
        if not self._answered:
            self._select_after = session_id
            return True
        for index, info in enumerate(self.sessions):
            if info.session.session_id == session_id:
                self.table.move_cursor(row=index)
                return True
        return False
