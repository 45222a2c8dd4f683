"""Full-text search over message content, in a modal: type, pick a hit, jump to it.

The store's ranked `search` is asked of the data layer (its worker group "search"
is exclusive) as the query changes (debounced) and on Enter. Results and errors
come back as messages; stale ones (an older query, a toggled scope) are dropped.
Everything taken from the store is data and is shown as literal `rich.text.Text`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.screen import ModalScreen
from textual.timer import Timer
from textual.widgets import Footer, Input, OptionList, Static
from textual.widgets.option_list import Option

from zeptui.app.data import DataLayer, Failed
from zeptui.app.items import SearchHit
from zeptui.app.requests import SearchLoaded, SearchRequest
from zeptui.app.widgets.json_tree import literal
from zeptui.render import ROLE_STYLES, snippet, when

if TYPE_CHECKING:
    from storage.models import SearchResult

RESULT_LIMIT = 50
"""Results asked of the store per search."""

DEBOUNCE_SECONDS = 0.15
"""Quiet time after typing before the search runs."""

SNIPPET_INDENT = 4
SESSION_ID_WIDTH = 28


def _cut(value: str, width: int) -> str:
    return value if len(value) <= width else value[: width - 1] + "…"


def result_prompt(result: SearchResult, session_id: str, query: str, width: int = 100) -> Text:
    """Two lines: score, session, role (styled by role type) and time; then the snippet.

    The snippet is cut to fit `width` cells after its indent, so it stays one line.
    """
    line = Text()
    line.append(f"{result.score:7.3f}  ", style="dim")
    line.append(literal(_cut(session_id, SESSION_ID_WIDTH)), style="bold")
    line.append("  ")
    if result.message is not None:
        message = result.message
        role_type = message.role_type.value if message.role_type is not None else "norole"
        line.append(
            literal(_cut(message.role or role_type, 24)), style=ROLE_STYLES.get(role_type, "")
        )
        if message.role and message.role != role_type:
            line.append(f" ({role_type})", style="dim")
        created, content = message.created_at, message.content
    else:
        assert result.summary is not None
        line.append("summary", style="bold yellow")
        created, content = result.summary.created_at, result.summary.content
    if created is not None:
        line.append(f"  {when(created, seconds=True)}", style="dim")
    line.append("\n" + " " * SNIPPET_INDENT)
    line.append_text(snippet(content, query, width=max(20, width - SNIPPET_INDENT - 2)))
    return line


class SearchResultList(OptionList):
    """The results; `j`/`k` move, and moving up from the first result returns to the input."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="result_down"),
        Binding("k", "cursor_up", "Up", show=False, id="result_up"),
    ]

    class LeftTop(Message):
        """The cursor tried to move above the first result."""

    def action_cursor_up(self) -> None:
        """Move up, or hand focus back to the search input from the top."""
        if self.highlighted is None or self.highlighted == 0:
            self.post_message(self.LeftTop())
        else:
            super().action_cursor_up()


class SearchScreen(ModalScreen[SearchHit | None]):
    """Search messages; dismisses with the picked `SearchHit`, or None on Escape."""

    DEFAULT_CSS: ClassVar[str] = """
    SearchScreen {
        align: center middle;
        & > #search-dialog {
            width: 90%;
            max-width: 150;
            height: 85%;
            border: thick $primary;
            border-title-color: $accent;
            background: $surface;
            padding: 0 1;
        }
        & #search-scope {
            color: $text-muted;
            padding: 0 1;
        }
        & #search-results {
            height: 1fr;
            border: none;
        }
        & #search-status {
            color: $text-muted;
            padding: 0 1;
        }
        & #search-status.-error {
            color: $error;
        }
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close", id="close"),
        Binding("ctrl+t", "toggle_scope", "All sessions / this session", id="search_scope"),
        Binding("down", "focus_results", "Go to results", show=False, id="search_results"),
        Binding("slash", "focus_input", "Edit the query", show=False, id="search_query"),
    ]

    def __init__(self, data: DataLayer, current_session_id: str | None, query: str = "") -> None:
        super().__init__()
        self._data = data
        self._current_session_id = current_session_id
        self._initial_query = query
        self._scoped = False
        self._generation = 0
        self._timer: Timer | None = None
        self._focus_when_done = False
        self._shown_query: str | None = None
        self._requested_query: str | None = None
        self._hits: list[SearchHit] = []

    # --- state the app or tests may read ------------------------------------------------

    @property
    def scope_session_id(self) -> str | None:
        """The session searched, or None for all sessions."""
        return self._current_session_id if self._scoped else None

    @property
    def hits(self) -> list[SearchHit]:
        """The hits listed, best first."""
        return list(self._hits)

    # --- composition ---------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with Vertical(id="search-dialog") as dialog:
            dialog.border_title = "Search messages"
            yield Input(
                self._initial_query,
                placeholder="Words to find in message content",
                id="search-input",
            )
            yield Static(id="search-scope", markup=False)
            yield SearchResultList(id="search-results")
            yield Static(id="search-status", markup=False)
        yield Footer()  # this dialog's keys, not those of the panes behind it

    def on_mount(self) -> None:
        self.query_one("#search-input", Input).focus()
        self._show_scope()
        if self._initial_query.strip():
            self._search_now()
        else:
            self._clear_results()

    def on_unmount(self) -> None:
        self._stop_timer()

    # --- actions -------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Scope toggling needs a current session."""
        if action == "toggle_scope":
            return self._current_session_id is not None
        return True

    def action_close(self) -> None:
        """Close without a pick."""
        self.dismiss(None)

    def action_toggle_scope(self) -> None:
        """Switch between all sessions and the current session, and search again."""
        if self._current_session_id is None:
            return
        self._scoped = not self._scoped
        self._show_scope()
        self._search_now()

    def action_focus_results(self) -> None:
        """Move into the results (from the input)."""
        results = self.query_one(SearchResultList)
        if results.option_count:
            results.focus()
            if results.highlighted is None:
                results.highlighted = 0

    def action_focus_input(self) -> None:
        """Back to the query."""
        self.query_one("#search-input", Input).focus()

    # --- input -----------------------------------------------------------------------------

    @on(Input.Changed, "#search-input")
    def _query_changed(self, event: Input.Changed) -> None:
        event.stop()
        self._stop_timer()
        query = event.value.strip()
        if not query:
            self._clear_results()
            return
        if query == self._requested_query:
            return  # e.g. a trailing space, or the initial value: nothing new to find
        self._timer = self.set_timer(DEBOUNCE_SECONDS, self._search_now)

    @on(Input.Submitted, "#search-input")
    def _query_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        query = event.value.strip()
        if not query:
            return
        if self._timer is None and query == self._shown_query:
            self.action_focus_results()
            return
        self._focus_when_done = True
        self._search_now()

    @on(SearchResultList.LeftTop)
    def _left_top(self) -> None:
        self.action_focus_input()

    @on(OptionList.OptionSelected, "#search-results")
    def _picked(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        if 0 <= event.option_index < len(self._hits):
            self.dismiss(self._hits[event.option_index])

    # --- searching -------------------------------------------------------------------------

    def _stop_timer(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def _search_now(self) -> None:
        self._stop_timer()
        query = self.query_one("#search-input", Input).value.strip()
        if not query:
            self._clear_results()
            return
        self._generation += 1
        self._requested_query = query
        self._set_status(Text("Searching…"))
        self._search(self._generation, query, self.scope_session_id)

    def _search(self, generation: int, query: str, session_id: str | None) -> None:
        self._data.read(self, SearchRequest(query, RESULT_LIMIT, session_id, generation))

    @on(SearchLoaded)
    def _results_ready(self, event: SearchLoaded) -> None:
        request = event.request
        if request.generation != self._generation:
            return
        scope = self.scope_session_id
        hits: list[SearchHit] = []
        shown: list[tuple[SearchResult, str]] = []
        for result in event.results:
            session_id = result.session_id or scope
            if result.message is not None and result.message.uuid:
                uuid = result.message.uuid
            elif result.summary is not None:
                uuid = result.summary.recent_message_uuid
            else:
                continue
            if session_id is None:
                continue
            hits.append(SearchHit(session_id, uuid))
            shown.append((result, session_id))
        self._hits = hits
        self._shown_query = request.text
        results = self.query_one(SearchResultList)
        width = results.scrollable_content_region.width - 2  # room for a scrollbar
        results.set_options(
            Option(result_prompt(result, session_id, request.text, width))
            for result, session_id in shown
        )
        if hits:
            results.highlighted = 0
            count = len(hits)
            status = f"{count:,} result{'' if count == 1 else 's'}"
            if len(event.results) >= RESULT_LIMIT:
                status += f" (the best {RESULT_LIMIT}; add words to narrow)"
            self._set_status(Text(status))
        else:
            line = Text("No results for ")
            line.append(f'"{literal(request.text)}"', style="bold")
            if scope is not None:
                line.append(" in this session (ctrl+t searches all sessions)")
            self._set_status(line)
        if self._focus_when_done:
            self._focus_when_done = False
            self.action_focus_results()

    @on(Failed)
    def _search_failed(self, event: Failed) -> None:
        request = event.request
        if not isinstance(request, SearchRequest) or request.generation != self._generation:
            return
        self._focus_when_done = False
        self._set_status(Text("Search failed: ").append(literal(event.text)), error=True)

    # --- display ---------------------------------------------------------------------------

    def _clear_results(self) -> None:
        self._stop_timer()
        self._generation += 1  # drops any search still running
        self.workers.cancel_group(self, SearchRequest.group)
        self._hits = []
        self._shown_query = None
        self._requested_query = None
        self._focus_when_done = False
        self.query_one(SearchResultList).clear_options()
        self._set_status(Text("Type to search message content; Enter or ↓ moves to the results"))

    def _show_scope(self) -> None:
        line = Text("Scope: ", style="dim")
        session_id = self.scope_session_id
        if session_id is None:
            line.append("All sessions", style="bold")
        else:
            line.append("Session ", style="bold")
            line.append(literal(session_id), style="bold")
        if self._current_session_id is not None:
            other = "all sessions" if self._scoped else "this session only"
            line.append(f"   ctrl+t: {other}", style="dim")
        self.query_one("#search-scope", Static).update(line)

    def _set_status(self, text: Text, *, error: bool = False) -> None:
        status = self.query_one("#search-status", Static)
        status.set_class(error, "-error")
        status.update(text)
