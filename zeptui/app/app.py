"""zeptui's terminal app: sessions, transcript and inspector side by side."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Horizontal
from textual.widgets import Footer, Header

from storage.errors import StoreError
from zeptui.app.access import StoreAccess
from zeptui.app.screens.help import HelpScreen, bindings_help
from zeptui.app.screens.search import SearchHit, SearchScreen
from zeptui.app.settings import Settings
from zeptui.app.widgets.inspector import Inspector
from zeptui.app.widgets.sessions import SessionsPane
from zeptui.app.widgets.transcript import TranscriptPane, View

if TYPE_CHECKING:
    from storage.models import StoreStats

EMPTY_HELP = (
    "No sessions yet in {location}.\n\n"
    "Import chat histories:   zeptui import PATH...\n"
    "Try the sample data:     zeptui demo\n"
    "Add a message:           zeptui add SESSION --role NAME --role-type user --content TEXT"
)


class ZeptuiCommands(Provider):
    """Command palette: the app's commands, and jump to a session by id or user."""

    def _commands(self) -> list[tuple[str, str, object]]:
        app = self.app
        assert isinstance(app, ZeptuiApp)
        return [
            ("Search messages", "Ranked full-text search over every message", app.action_search),
            ("Show all messages", "The full history, paged", partial(app.set_view, View.all)),
            (
                "Show message window",
                "What get_memory(message_window) returns",
                partial(app.set_view, View.window),
            ),
            (
                "Show perpetual memory",
                "What get_memory(perpetual) returns",
                partial(app.set_view, View.perpetual),
            ),
            (
                "Toggle Markdown / raw text",
                "How message content is rendered",
                app.transcript.action_toggle_markdown,
            ),
            ("Cycle session sort", "Recent, created or size", app.sessions.action_cycle_sort),
            ("Reload", "Read the store again", app.action_reload),
            ("Help", "Every key binding", app.action_help),
        ]

    async def discover(self) -> Hits:
        for name, help_text, callback in self._commands():
            yield DiscoveryHit(name, callback, help=help_text)  # type: ignore[arg-type]

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self._commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help_text)  # type: ignore[arg-type]
        async for hit in self._sessions(query):
            yield hit

    async def _sessions(self, query: str) -> AsyncIterator[Hit]:
        app = self.app
        assert isinstance(app, ZeptuiApp)
        if app.access is None or not query.strip():
            return
        from storage.models import SessionQuery

        try:
            page = await asyncio.to_thread(
                app.access.run,
                lambda store: store.list_sessions(SessionQuery(text=query.strip(), limit=20)),
            )
        except StoreError:
            return
        matcher = self.matcher(query)
        for info in page.sessions:
            session_id = info.session.session_id
            label = f"Session {session_id}"
            yield Hit(
                max(matcher.match(label), 0.5),
                matcher.highlight(label),
                partial(app.open_session, session_id),
                help=f"user {info.session.user_id or '-'} · {info.message_count} messages",
            )


class ZeptuiApp(App[None]):
    """Browse sessions and read memory as a client sees it."""

    TITLE = "zeptui"
    CSS_PATH = Path(__file__).with_name("app.tcss")
    COMMANDS = App.COMMANDS | {ZeptuiCommands}
    BINDINGS = [
        Binding("slash", "search", "Search", key_display="/"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("ctrl+r", "reload", "Reload", show=False),
        Binding("q", "quit", "Quit"),
    ]

    def __init__(self, access: StoreAccess | None, *, location: str | None = None) -> None:
        super().__init__()
        self.access = access
        self.location = location or (access.location if access else "")
        self.settings = Settings.load()
        self.sessions = SessionsPane(access, id="sessions")
        self.transcript = TranscriptPane(access, id="transcript")
        self.inspector = Inspector(id="inspector")
        self._pending_jump: SearchHit | None = None

    @classmethod
    def for_database(cls, path: Path) -> ZeptuiApp:
        return cls(StoreAccess.for_file(path), location=str(path))

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="panes"):
            yield self.sessions
            yield self.transcript
            yield self.inspector
        yield Footer()

    def on_mount(self) -> None:
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        self.sub_title = self.location
        self.inspector.border_title = "Inspector"
        self.sessions.query_one("#session-table").focus()

    def watch_theme(self, theme: str) -> None:
        if theme != self.settings.theme:
            self.settings.theme = theme
            self.settings.save()

    # --- header counts ---------------------------------------------------------------

    @work(thread=True, exclusive=True, group="stats", exit_on_error=False)
    def _load_stats(self) -> None:
        if self.access is None:
            return
        try:
            stats = self.access.run(lambda store: store.stats())
        except StoreError:
            return
        self.call_from_thread(self._show_stats, stats)

    def _show_stats(self, stats: StoreStats) -> None:
        self.sub_title = (
            f"{self.location} · {stats.sessions:,} sessions · {stats.messages:,} messages"
        )

    # --- panes talk through the app ----------------------------------------------------

    @on(SessionsPane.Selected)
    def _session_selected(self, event: SessionsPane.Selected) -> None:
        if not self.inspector.is_attached:  # a selection that arrives while quitting
            return
        jump = None
        if self._pending_jump and self._pending_jump.session_id == event.info.session.session_id:
            jump = self._pending_jump.message_uuid
            self._pending_jump = None
        self.transcript.show_session(event.info, jump_to=jump)
        self.inspector.show_session(event.info)

    @on(SessionsPane.Loaded)
    def _sessions_loaded(self, event: SessionsPane.Loaded) -> None:
        # The header counts load after the first page, so they never delay it.
        self.call_after_refresh(self._load_stats)
        if event.total == 0:
            self.transcript.info = None
            if self.sessions.is_filtered:
                self.transcript.show_empty("No sessions match the filter.")
            else:
                self.transcript.show_empty(EMPTY_HELP.format(location=self.location))
            self.inspector.show_session(None)

    @on(TranscriptPane.Selected)
    def _message_selected(self, event: TranscriptPane.Selected) -> None:
        self.inspector.show_message(event.item)

    # --- actions ---------------------------------------------------------------------

    def set_view(self, view: View) -> None:
        self.transcript.view = view

    def action_reload(self) -> None:
        self.sessions.reload()

    def action_search(self) -> None:
        """Search message content across all sessions, or the current one."""
        if self.access is None:
            return
        current = self.transcript.info.session.session_id if self.transcript.info else None
        self.push_screen(SearchScreen(self.access, current), self._search_done)

    def _search_done(self, hit: SearchHit | None) -> None:
        if hit is not None:
            self.open_session(hit.session_id, hit.message_uuid)

    def open_session(self, session_id: str, message_uuid: str | None = None) -> None:
        """Select a session (and a message in it), loading it if it is not listed."""
        if message_uuid is not None:
            self._pending_jump = SearchHit(session_id, message_uuid)
        if not self.sessions.select_session_id(session_id):
            self._open_unlisted(session_id)
        elif (
            message_uuid is not None
            and self.transcript.info is not None
            and (self.transcript.info.session.session_id == session_id)
        ):
            self._pending_jump = None
            self.transcript.show_session(self.transcript.info, jump_to=message_uuid)
        self.transcript.focus()

    @work(thread=True, exclusive=True, group="open", exit_on_error=False)
    def _open_unlisted(self, session_id: str) -> None:
        from storage.models import SessionQuery

        assert self.access is not None
        try:
            page = self.access.run(
                lambda store: store.list_sessions(SessionQuery(text=session_id, limit=50))
            )
        except StoreError as error:
            self.call_from_thread(self.notify, str(error), severity="error", markup=False)
            return
        for info in page.sessions:
            if info.session.session_id == session_id:
                self.call_from_thread(self.post_message, SessionsPane.Selected(info))
                return

    def action_help(self) -> None:
        """Every key binding, by where it applies."""
        sections = bindings_help(
            [
                ("Everywhere", [*self.BINDINGS, ("ctrl+p", "command_palette", "Commands")]),
                ("Sessions", SessionsPane.BINDINGS),
                ("Transcript", TranscriptPane.BINDINGS),
                (
                    "Moving around",
                    [
                        ("tab", "focus_next", "Next pane"),
                        ("shift+tab", "focus_previous", "Previous pane"),
                        ("j,down / k,up", "", "Next / previous row or message"),
                        ("enter", "", "Open / choose"),
                        ("escape", "", "Close a dialog"),
                    ],
                ),
            ]
        )
        self.push_screen(HelpScreen(sections))

    def on_unmount(self) -> None:
        if self.access is not None:
            self.access.close()


def run(path: Path) -> None:
    """Open the app on the database at `path` (missing: the empty state)."""
    ZeptuiApp.for_database(path).run()
