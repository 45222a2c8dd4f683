"""zeptui's terminal app: sessions, transcript and inspector side by side."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import events, on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.containers import Grid
from textual.content import Content
from textual.fuzzy import Matcher
from textual.lazy import Lazy
from textual.widget import Widget
from textual.widgets import Footer, Header, Input

from zeptui.app.data import DataLayer, Failed
from zeptui.app.items import SearchHit
from zeptui.app.leases import StoreLeases
from zeptui.app.requests import SessionsLoaded, SessionsRequest, StatsLoaded, StatsRequest
from zeptui.app.settings import Settings
from zeptui.app.widgets.inspector import Inspector
from zeptui.app.widgets.sessions import FilterInput, SessionsPane, SessionTable
from zeptui.app.widgets.transcript import TranscriptPane, View
from zeptui.render import sanitize, session_label

if TYPE_CHECKING:
    from zeptui.settings import Settings as StoreSettings

WIDE = 120
"""From this terminal width the inspector is a third column; on narrower terminals
it is hidden, and `I` shows it under the transcript."""

LAYOUTS = ("-columns", "-stacked", "-two")


class Panes(Grid):
    """Sessions, transcript and inspector, sharing the width by proportion."""

    DEFAULT_CSS = """
    Panes.-columns { grid-size: 3 1; grid-columns: 3fr 5fr 3fr; }
    Panes.-two { grid-size: 2 1; grid-columns: 2fr 3fr; }
    Panes.-stacked { grid-size: 2 2; grid-columns: 2fr 3fr; grid-rows: 3fr 2fr; }
    Panes.-stacked > #sessions { row-span: 2; }
    Panes.-two > #inspector { display: none; }
    """

    inspector_choice: bool | None = None
    """The user's `I` (None: shown on wide terminals only)."""

    @property
    def inspector_shown(self) -> bool:
        if self.inspector_choice is not None:
            return self.inspector_choice
        return self.app.size.width >= WIDE

    def arrange_panes(self) -> None:
        """Pick the layout for the terminal's width and the user's choice."""
        if not self.inspector_shown:
            layout = "-two"
        else:
            layout = "-columns" if self.app.size.width >= WIDE else "-stacked"
        for name in LAYOUTS:
            self.set_class(name == layout, name)

    def on_resize(self, event: events.Resize) -> None:
        self.arrange_panes()


EMPTY_HELP = (
    "No sessions yet in {location}.\n\n"
    "Import chat histories:   zeptui import PATH...\n"
    "Try the sample data:     zeptui demo\n"
    "Add a message:           zeptui add SESSION --role NAME --role-type user --content TEXT"
)


def markup_literal(text: str) -> str:
    """`text` as Textual markup that shows exactly `text` (the palette's help lines
    are markup; a session id such as `[$accent]x` must not style them)."""
    return text.replace("[", "\\[")


def literal_highlight(matcher: Matcher, text: str) -> Content:
    """`matcher.highlight` for data: the matched letters are highlighted, and the
    text is never read as markup (Textual's own highlight parses it)."""
    content = Content(text)
    _, offsets = matcher.fuzzy_search.match(matcher.query, text)
    for offset in offsets:
        if not text[offset].isspace():
            content = content.stylize(matcher.match_style, offset, offset + 1)
    return content


class ZeptuiCommands(Provider):
    """Command palette: the app's commands, and jump to a session by title, id or user."""

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
            ("Import", "Files, directories or .zip exports", app.action_import),
            ("Export", "This session, the filtered sessions or everything", app.action_export),
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
        if not query.strip():
            return
        reply = await app.data.ask(SessionsRequest(text=query.strip(), limit=20))
        if not isinstance(reply, SessionsLoaded):
            return  # the store cannot answer now: no session hits
        matcher = self.matcher(query)
        for info in reply.sessions:
            session = info.session
            # The list shows the title, so that is what the hit shows and matches;
            # the id matches too.
            label = sanitize(session_label(session))
            shown = f"Session {label}"
            score = max(matcher.match(shown), matcher.match(session.session_id), 0.5)
            details = [f"user {session.user_id or '-'}", f"{info.message_count:,} messages"]
            if label != session.session_id:
                details.insert(0, session.session_id)
            yield Hit(
                score,
                literal_highlight(matcher, shown),
                partial(app.open_session, session.session_id),
                help=markup_literal(sanitize(" · ".join(details))),
            )


class ZeptuiApp(App[None]):
    """Browse sessions and read memory as a client sees it."""

    TITLE = "zeptui"
    CSS_PATH = Path(__file__).with_name("app.tcss")
    COMMANDS = App.COMMANDS | {ZeptuiCommands}
    # `esc` first leaves the filter box or a metadata tree; the binding below then
    # restores a zoomed pane.
    ESCAPE_TO_MINIMIZE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash",
            "search",
            "Search",
            key_display="/",
            tooltip="Ranked search over every message; enter jumps to it",
        ),
        # The session list shows `f` in the footer; here it works from any pane.
        Binding("f", "filter", "Filter", show=False, tooltip="Filter the sessions"),
        Binding("z", "zoom", "Zoom", tooltip="Maximise the focused pane"),
        Binding("z", "restore", "Restore", tooltip="Back to all panes"),
        Binding("escape", "restore", "Restore", show=False, tooltip="Back to all panes"),
        Binding(
            "I",
            "toggle_inspector",
            "Inspector",
            key_display="I",
            tooltip="Show or hide the inspector (under the transcript when narrow)",
        ),
        Binding(
            "i",
            "import",
            "Import",
            id="import",
            tooltip="Import files, directories or .zip exports (as zeptui import)",
        ),
        Binding(
            "x",
            "export",
            "Export",
            id="export",
            tooltip="Export this session, the filtered sessions or everything",
        ),
        Binding("r", "reload", "Reload", tooltip="Read the database again"),
        Binding("ctrl+r", "reload", "Reload", show=False, tooltip="Read the database again"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="These keys"),
        Binding("q", "quit", "Quit"),
    ]

    TYPED_ACTIONS = frozenset(
        {"search", "filter", "zoom", "toggle_inspector", "import", "export", "reload", "help"}
        | {"quit"}
    )
    """Actions whose keys type into the filter box: off (and not shown) while it has focus."""

    def __init__(self, leases: StoreLeases, *, location: str | None = None) -> None:
        super().__init__()
        self.data = DataLayer(leases)
        # Started before Textual's own start-up work: the first page of sessions is
        # read from the file meanwhile.
        self.data.read_ahead()
        self.location = location or leases.location
        self.settings = Settings.load()
        self.panes = Panes(id="panes")
        self.sessions = SessionsPane(self.data, id="sessions")
        self.transcript = TranscriptPane(self.data, id="transcript")
        # The message window view starts at the store's window (what get_memory without
        # lastn returns), set quietly: nothing is shown yet.
        self.transcript.set_reactive(TranscriptPane.lastn, self.settings.message_window)
        self.inspector = Inspector(id="inspector")
        self._pending_jump: SearchHit | None = None
        self._reloading = False
        self._reload_transcript = False

    @classmethod
    def for_database(
        cls, path: Path, settings: Callable[[], StoreSettings] | None = None
    ) -> ZeptuiApp:
        """The app on the database at `path`, opened with `settings` (by default,
        zeptui's settings as the config file and environment say)."""
        return cls(StoreLeases.for_file(path, settings=settings), location=str(path))

    def compose(self) -> ComposeResult:
        yield Header()
        self.panes.arrange_panes()  # before the first layout, so nothing is styled twice
        with self.panes:
            yield self.sessions
            yield self.transcript
            # After the first frame: the inspector waits for a selection anyway.
            yield Lazy(self.inspector)
        # The palette's key is in the help: at 80 columns the footer needs the room.
        yield Footer(show_command_palette=False, compact=True)

    def on_mount(self) -> None:
        self._read_warnings = _ReadWarnings(self)
        logging.getLogger("storage.reads").addHandler(self._read_warnings)
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        self.sub_title = sanitize(self.location)
        self.inspector.border_title = "Inspector"
        self.sessions.table.focus()

    def watch_theme(self, theme: str) -> None:
        if theme != self.settings.theme:
            self.settings.theme = theme
            self.settings.save()

    # --- keys, focus and layout ----------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Which app keys are on (and shown in the footer) right now."""
        if self.screen is not self.screen_stack[0]:
            return True  # a dialog: its own keys
        if isinstance(self.focused, Input) and action in self.TYPED_ACTIONS:
            return False
        zoomed = self.screen.maximized is not None
        if action == "zoom":
            return not zoomed
        if action == "restore":
            return zoomed
        return True

    def _visible_panes(self) -> list[Widget]:
        panes: list[Widget] = [self.sessions, self.transcript]
        if self.panes.inspector_shown:
            panes.append(self.inspector)
        return panes

    def _pane_with_focus(self) -> Widget | None:
        focused = self.focused
        for pane in (self.sessions, self.transcript, self.inspector):
            if focused is not None and (focused is pane or pane in focused.ancestors):
                return pane
        return None

    def focus_pane(self, pane: Widget) -> None:
        """Focus a pane (the session list for the sessions pane); a zoomed view
        zooms onto it."""
        (self.sessions.table if pane is self.sessions else pane).focus()
        if self.screen.maximized is not None:
            self.screen.maximize(pane, container=False)

    def action_focus_next(self) -> None:
        """`tab`: the next pane (in a dialog, the next widget)."""
        self._cycle_panes(+1)

    def action_focus_previous(self) -> None:
        """`shift+tab`: the previous pane."""
        self._cycle_panes(-1)

    def _cycle_panes(self, step: int) -> None:
        if self.screen is not self.screen_stack[0]:
            (self.screen.focus_next if step > 0 else self.screen.focus_previous)()
            return
        panes = self._visible_panes()
        current = self._pane_with_focus()
        index = panes.index(current) if current in panes else -1
        self.focus_pane(panes[(index + step) % len(panes)])

    def action_filter(self) -> None:
        """Into the filter box, from anywhere."""
        if self.screen.maximized not in (None, self.sessions):
            self.screen.maximize(self.sessions, container=False)
        self.sessions.action_focus_filter()

    def action_zoom(self) -> None:
        """The focused pane fills the screen."""
        pane = self._pane_with_focus()
        if pane is not None:
            self.screen.maximize(pane, container=False)
            self.refresh_bindings()

    def action_restore(self) -> None:
        """Back to all panes."""
        self.screen.minimize()
        self.refresh_bindings()

    def action_toggle_inspector(self) -> None:
        """Show or hide the inspector (beside the transcript, or under it when narrow)."""
        if self.screen.maximized is not None:  # back to all panes, to show the change
            self.action_restore()
        shown = not self.panes.inspector_shown
        self.panes.inspector_choice = shown
        self.panes.arrange_panes()
        if not shown and self._pane_with_focus() is self.inspector:
            self.transcript.focus()

    # --- header counts ---------------------------------------------------------------

    def _load_stats(self) -> None:
        self.data.read(self, StatsRequest())

    @on(StatsLoaded)
    def _show_stats(self, event: StatsLoaded) -> None:
        stats = event.stats
        if stats is None:
            return
        self.sub_title = (
            f"{sanitize(self.location)} · {stats.sessions:,} sessions · {stats.messages:,} messages"
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
        self.inspector.show_session(event.info)
        # The same session with the same counts (the list was filtered or sorted)
        # keeps its transcript where it is; `r` reads it again.
        if jump is not None or self._reload_transcript or event.info != self.transcript.info:
            self._reload_transcript = False
            self.transcript.show_session(event.info, jump_to=jump)

    @on(SessionsPane.Opened)
    def _session_opened(self) -> None:
        self.focus_pane(self.transcript)

    @on(SessionsPane.Loaded)
    def _sessions_loaded(self, event: SessionsPane.Loaded) -> None:
        # The header counts load after the first page, so they never delay it.
        self.call_after_refresh(self._load_stats)
        if self._reloading:  # `r`: say what was read, and read the open session too
            self._reloading = False
            self._reload_transcript = True
            self._announce_reload(event.total)
        if event.total == 0:
            self.transcript.info = None
            if self.sessions.is_filtered:
                self.transcript.show_empty("No sessions match the filter.")
            else:
                self.transcript.show_empty(EMPTY_HELP.format(location=self.location))
            self.inspector.show_session(None)

    def _announce_reload(self, total: int) -> None:
        what = f"{total:,} session{'' if total == 1 else 's'}"
        if self.sessions.is_filtered:
            what += " match the filter"
        elif total:
            what += " and the open session"
        self.notify(f"Read {self.location} again: {what}.", title="Reloaded", markup=False)

    @on(TranscriptPane.Selected)
    def _message_selected(self, event: TranscriptPane.Selected) -> None:
        self.inspector.show_message(event.item)

    # --- actions ---------------------------------------------------------------------

    def set_view(self, view: View) -> None:
        self.transcript.view = view

    def action_reload(self) -> None:
        """Read the store again: the session list, the open session, the counts."""
        self._reloading = True
        self.sessions.reload()

    def action_search(self) -> None:
        """Search message content across all sessions, or the current one."""
        current = self.transcript.info.session.session_id if self.transcript.info else None
        from zeptui.app.screens.search import SearchScreen  # on first use: not at start-up

        self.push_screen(SearchScreen(self.data, current), self._search_done)

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

    def _open_unlisted(self, session_id: str) -> None:
        self.data.read(self, SessionsRequest(text=session_id, limit=50))

    @on(SessionsLoaded)
    def _unlisted_found(self, event: SessionsLoaded) -> None:
        session_id = event.request.text
        for info in event.sessions:
            if info.session.session_id == session_id:
                self.post_message(SessionsPane.Selected(info))
                return

    @on(Failed)
    def _failed(self, event: Failed) -> None:
        # A session to open could not be read (the header counts just stay as they were).
        if isinstance(event.request, SessionsRequest):
            self.notify(event.text, severity="error", markup=False)

    def action_import(self) -> None:
        """The import dialog; the list is read again after an import."""
        from zeptui.app.screens.import_screen import ImportScreen  # on first use

        self.push_screen(ImportScreen(self.data), self._imported)

    def _imported(self, imported: bool | None) -> None:
        if imported:
            self.sessions.reload()

    def action_export(self) -> None:
        """The export dialog: the open session, the filtered sessions or everything."""
        from zeptui.app.screens.export_screen import ExportScreen  # on first use

        info = self.transcript.info
        filtered = self.sessions.is_filtered
        self.push_screen(
            ExportScreen(
                self.data,
                session_id=info.session.session_id if info else None,
                session_filter=self.sessions.session_filter if filtered else None,
                filtered=self.sessions.total if filtered else None,
                total=None if filtered else self.sessions.total,
            )
        )

    def action_help(self) -> None:
        """Every key binding, by where it applies."""
        from zeptui.app.screens.help import HelpScreen, bindings_help  # on first use

        sections = bindings_help(
            [
                (
                    "Everywhere",
                    [
                        ("tab", "", "Next pane"),
                        ("shift+tab", "", "Previous pane"),
                        *self.BINDINGS,
                        ("ctrl+p", "", "Commands: jump to a session, views, theme"),
                    ],
                ),
                ("Session list", [*SessionsPane.BINDINGS, *SessionTable.BINDINGS]),
                ("Filter box", [*FilterInput.BINDINGS, ("enter", "", "Back to the list")]),
                (
                    "Transcript",
                    [
                        ("m", "", "Markdown or raw text (the pane's title says which)"),
                        *(b for b in TranscriptPane.BINDINGS if "markdown(" not in str(b)),
                    ],
                ),
                ("Inspector", [*Inspector.BINDINGS, ("escape", "", "Out of a metadata tree")]),
            ]
        )
        self.push_screen(HelpScreen(sections))

    def on_unmount(self) -> None:
        logging.getLogger("storage.reads").removeHandler(self._read_warnings)
        self.data.close()


class _ReadWarnings(logging.Handler):
    """Rows the store could not show as stored, as notifications (once each).

    They come from worker threads; anything written to stderr would tear the screen."""

    def __init__(self, app: App[None]) -> None:
        super().__init__(logging.WARNING)
        self.app = app
        self.seen: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        if text in self.seen:
            return
        self.seen.add(text)
        notify = partial(
            self.app.notify,
            text,
            title="A stored value could not be shown",
            severity="warning",
            markup=False,
        )
        try:
            self.app.call_from_thread(notify)  # from a worker thread, as reads are
        except RuntimeError:  # on the app's own thread
            notify()


def run(path: Path, settings: Callable[[], StoreSettings] | None = None) -> None:
    """Open the app on the database at `path` (missing: the empty state); `settings`
    is asked for once the file is first opened (it costs nothing before the first frame)."""
    ZeptuiApp.for_database(path, settings).run()
