"""The sessions pane: a filtered, sorted, paged list of sessions from the store."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.message import Message
from textual.reactive import reactive
from textual.widgets import DataTable, Input, Static

from storage.errors import NotFoundError, StoreError
from zeptui.app.access import StoreAccess
from zeptui.render import sanitize, session_label

if TYPE_CHECKING:
    from storage.models import SessionInfo, SessionPage

PAGE_SIZE = 100
"""Sessions fetched per page; the next page loads as the cursor nears the end."""

SORTS: tuple[tuple[str, str, bool], ...] = (
    ("recent", "activity", True),
    ("created", "created", True),
    ("size", "message_count", True),
)
"""(label, SessionOrder value, descending) for each sort the pane cycles through."""

_DATE = re.compile(r"^(?P<op>[<>])(?P<date>\d{4}-\d{2}-\d{2}(?:[T ][\d:.]+)?Z?)$")


@dataclass(frozen=True)
class SessionFilter:
    """What the filter box asked for."""

    text: str | None = None
    user_id: str | None = None
    metadata: tuple[tuple[str, str], ...] = ()
    created_after: datetime | None = None
    created_before: datetime | None = None
    error: str | None = None


def parse_filter(raw: str) -> SessionFilter:
    """Parse the filter box: `user:NAME`, `key=value`, `>2024-05-01`, `<2024-06-01`;
    any other word matches the session id or user id."""
    text: list[str] = []
    user_id: str | None = None
    metadata: list[tuple[str, str]] = []
    after: datetime | None = None
    before: datetime | None = None
    for word in raw.split():
        if word.startswith("user:") and len(word) > 5:
            user_id = word[5:]
        elif "=" in word and not word.startswith("="):
            key, value = word.split("=", 1)
            metadata.append((key, value))
        elif match := _DATE.match(word):
            try:
                when = datetime.fromisoformat(match["date"].replace("Z", "+00:00"))
            except ValueError:
                return SessionFilter(error=f"not a date: {match['date']}")
            when = when if when.tzinfo else when.replace(tzinfo=UTC)
            if match["op"] == ">":
                after = when
            else:
                before = when
        else:
            text.append(word)
    return SessionFilter(
        text=" ".join(text) or None,
        user_id=user_id,
        metadata=tuple(metadata),
        created_after=after,
        created_before=before,
    )


class SessionsPane(Vertical):
    """Every session with its user, message count, tokens and last activity."""

    BINDINGS = [
        Binding("s", "cycle_sort", "Sort"),
        Binding("f", "focus_filter", "Filter"),
        Binding("r", "reload", "Reload"),
    ]

    DEFAULT_CSS = """
    SessionsPane #session-table { height: 1fr; }
    SessionsPane #sessions-status { height: auto; max-height: 4; color: $text-muted; padding: 0 1; }
    """

    sort_index: reactive[int] = reactive(0, init=False)

    class Selected(Message):
        """The highlighted session changed."""

        def __init__(self, info: SessionInfo) -> None:
            super().__init__()
            self.info = info

    class Loaded(Message):
        """The first page of a new listing arrived (the app updates its header counts)."""

        def __init__(self, total: int) -> None:
            super().__init__()
            self.total = total

    def __init__(self, access: StoreAccess | None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.access = access
        self.sessions: list[SessionInfo] = []
        self.total = 0
        self.next_cursor: int | None = None
        self._filter = SessionFilter()
        self._loading_more = False
        self._generation = 0

    def compose(self) -> ComposeResult:
        yield Input(
            placeholder="filter: text  user:NAME  key=value  >2024-05-01  <2024-06-01",
            id="session-filter",
        )
        yield DataTable(id="session-table", cursor_type="row", zebra_stripes=True)
        yield Static("", id="sessions-status")

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("Session", key="session", width=15)
        table.add_column("User", key="user", width=9)
        table.add_column("Msgs", key="messages")
        table.add_column("Tokens", key="tokens")
        table.add_column("Active", key="active")
        self._update_title()
        # Load after the first paint: the store's imports and the file's opening
        # then never delay the first screen.
        self.call_after_refresh(self.reload)

    # --- loading -------------------------------------------------------------------

    def _query(self, cursor: int) -> dict[str, Any]:
        """The fields of the SessionQuery for a page (built in the worker thread)."""
        _, order, descending = SORTS[self.sort_index]
        return dict(
            limit=PAGE_SIZE,
            cursor=cursor,
            order_by=order,
            descending=descending,
            user_id=self._filter.user_id,
            metadata=dict(self._filter.metadata),
            created_after=self._filter.created_after,
            created_before=self._filter.created_before,
            text=self._filter.text,
        )

    def reload(self) -> None:
        """Fetch the first page again (after a sort or filter change, or on request)."""
        self._generation += 1
        if self.access is None:
            from storage.models import SessionPage

            self._show_page(SessionPage(sessions=[], total_count=0, next_cursor=None), True)
            return
        self._fetch(self._query(0), reset=True, generation=self._generation)

    @work(thread=True, exclusive=True, group="sessions", exit_on_error=False)
    def _fetch(self, fields: dict[str, Any], reset: bool, generation: int) -> None:
        from storage.models import SessionPage, SessionQuery

        assert self.access is not None
        query = SessionQuery(**fields)
        try:
            page = self.access.run(lambda store: store.list_sessions(query))
        except NotFoundError:  # no database file yet: the empty state
            page = SessionPage(sessions=[], total_count=0, next_cursor=None)
        except StoreError as error:
            self.app.call_from_thread(self._show_error, str(error))
            return
        self.app.call_from_thread(self._show_page, page, reset, generation)

    def _show_error(self, message: str) -> None:
        self._loading_more = False
        self.query_one("#sessions-status", Static).update(Text(sanitize(message), style="red"))
        self.notify(
            sanitize(message), title="Cannot read the store", severity="error", markup=False
        )

    def _show_page(self, page: SessionPage, reset: bool, generation: int | None = None) -> None:
        if generation is not None and generation != self._generation:
            return  # a newer query replaced this one
        table = self.query_one(DataTable)
        if reset:
            table.clear()
            self.sessions = []
        for info in page.sessions:
            session = info.session
            table.add_row(
                Text(sanitize(session_label(session))),
                Text(sanitize(session.user_id or ""), style="dim" if not session.user_id else ""),
                Text(f"{info.message_count:,}", justify="right"),
                Text(f"{info.total_tokens:,}", justify="right"),
                Text(info.last_activity.strftime("%Y-%m-%d"), style="dim"),
                key=f"{len(self.sessions)}",
            )
            self.sessions.append(info)
        self.total = page.total_count
        self.next_cursor = page.next_cursor
        self._loading_more = False
        self._update_status()
        if reset:  # later pages of the same listing change no counts
            self.post_message(self.Loaded(self.total))
        if reset and self.sessions:
            table.move_cursor(row=0)
            # Let the list paint before the first session's transcript starts loading.
            self.call_after_refresh(self.post_message, self.Selected(self.sessions[0]))

    def _update_status(self) -> None:
        shown = len(self.sessions)
        more = "+" if self.next_cursor is not None else ""
        text = f"{shown:,}{more} of {self.total:,} sessions" if self.total else "No sessions"
        if self._filter.error:
            text = self._filter.error
        self.query_one("#sessions-status", Static).update(text)

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
        self.border_title = f"Sessions · {SORTS[self.sort_index][0]}"

    # --- events --------------------------------------------------------------------

    @on(DataTable.RowHighlighted, "#session-table")
    def _row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        index = event.cursor_row
        if 0 <= index < len(self.sessions):
            self.post_message(self.Selected(self.sessions[index]))
        near_end = index >= len(self.sessions) - 20
        if near_end and self.next_cursor is not None and not self._loading_more:
            self._loading_more = True
            self._fetch(self._query(self.next_cursor), reset=False, generation=self._generation)

    @on(Input.Changed, "#session-filter")
    def _filter_changed(self, event: Input.Changed) -> None:
        self._filter = parse_filter(event.value)
        if self._filter.error:
            self._update_status()
            return
        self.reload()

    @on(Input.Submitted, "#session-filter")
    def _filter_submitted(self) -> None:
        self.query_one(DataTable).focus()

    def watch_sort_index(self) -> None:
        self._update_title()
        self.reload()

    def action_cycle_sort(self) -> None:
        """Sort by recent activity, creation time or size."""
        self.sort_index = (self.sort_index + 1) % len(SORTS)

    def action_focus_filter(self) -> None:
        self.query_one(Input).focus()

    def action_reload(self) -> None:
        self.reload()

    def select_session_id(self, session_id: str) -> bool:
        """Move the cursor to a loaded session; False if it is not on a loaded page."""
        for index, info in enumerate(self.sessions):
            if info.session.session_id == session_id:
                self.query_one(DataTable).move_cursor(row=index)
                return True
        return False
