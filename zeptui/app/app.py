"""zeptui's terminal app: sessions, transcript and inspector side by side."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.lazy import Lazy
from textual.widget import Widget
from textual.widgets import Header, Input

from zeptui.app.commands import ZeptuiCommands
from zeptui.app.data import DataLayer, Failed
from zeptui.app.form_flows import FormFlows
from zeptui.app.items import SearchHit
from zeptui.app.leases import SharedStore, StoreAccess, StoreLeases, store_access
from zeptui.app.manage import ManagingApp
from zeptui.app.read_warnings import ReadWarnings
from zeptui.app.requests import (
    AppendMessage,
    MessagesAppended,
    SessionsLoaded,
    SessionsRequest,
    StatsLoaded,
    StatsRequest,
)
from zeptui.app.screens.sync import SyncCommands
from zeptui.app.settings import Settings
from zeptui.app.widgets.footer import FittingFooter
from zeptui.app.widgets.inspector import Inspector
from zeptui.app.widgets.panes import Panes
from zeptui.app.widgets.sessions import SessionsPane
from zeptui.app.widgets.transcript import TranscriptPane
from zeptui.app.widgets.transcript_bars import View
from zeptui.render import sanitize
from zeptui.text import plural

if TYPE_CHECKING:
    from textual.dom import DOMNode

    from zeptui.compose import StoreTarget
    from zeptui.settings import Settings as StoreSettings

FORM_ACTIONS = frozenset({"new_session", "append", "edit_metadata"})
"""Actions that open a form (letters: off while the filter box has focus)."""


EMPTY_HELP = (
    "No sessions yet in {location}.\n\n"
    "Import chat histories:   zeptui import PATH...\n"
    "Try the sample data:     zeptui demo\n"
    "Add a message:           zeptui add SESSION --role NAME --role-type user --content TEXT"
)
EMPTY_SERVER_HELP = (
    "No sessions yet on {location}.\n\n"
    "Import chat histories:   zeptui import PATH... --remote SERVER\n"
    "Add a message:           zeptui add SESSION --role-type user --content TEXT --remote SERVER"
)


class ZeptuiApp(ManagingApp):
    """Browse sessions and read memory as a client sees it."""

    TITLE = "zeptui"
    CSS_PATH = Path(__file__).with_name("app.tcss")
    COMMANDS = App.COMMANDS | {ZeptuiCommands, SyncCommands}
    # `esc` first leaves the filter box or a metadata tree; the binding below then
    # restores a zoomed pane.
    ESCAPE_TO_MINIMIZE = False
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "slash",
            "search",
            "Search",
            key_display="/",
            id="search",
            tooltip="Ranked search over every message; enter jumps to it",
        ),
        # The session list shows `f` in the footer; here it works from any pane.
        Binding("f", "filter", "Filter", show=False, tooltip="Filter the sessions", id="filter"),
        Binding("z", "zoom", "Zoom", tooltip="Maximise the focused pane", id="zoom"),
        Binding("z", "restore", "Restore", tooltip="Back to all panes", id="zoom"),
        Binding(
            "escape", "restore", "Restore", show=False, tooltip="Back to all panes", id="restore"
        ),
        Binding(
            "I",
            "toggle_inspector",
            "Inspector",
            key_display="I",
            tooltip="Show or hide the inspector (under the transcript when narrow)",
            id="inspector",
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
        Binding("r", "reload", "Reload", tooltip="Read the database again", id="reload"),
        Binding(
            "ctrl+r", "reload", "Reload", show=False, tooltip="Read the database again", id="reload"
        ),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="These keys", id="help"),
        Binding("q", "quit", "Quit", id="quit"),
        # The palette's key as the app's own binding (posting's way): the footer shows
        # it with the other keys it always keeps, and `[app.keys]` can rebind it.
        Binding(
            "ctrl+p",
            "command_palette",
            "Palette",
            tooltip="Commands: jump to a session, views, theme",
            id="command_palette",
            priority=True,
        ),
        Binding(
            "n", "new_session", "New", tooltip="New session (id, user, metadata)", id="new_session"
        ),
        Binding("a", "append", "Append", tooltip="Append a message to the session", id="append"),
        Binding(
            "e",
            "edit_metadata",
            "Edit",
            tooltip="Edit metadata: the selected message's, the session's or its user's",
            id="edit_metadata",
        ),
    ]

    TYPED_ACTIONS = frozenset(
        {"search", "filter", "zoom", "toggle_inspector", "reload", "help", "quit", *FORM_ACTIONS}
        | {"import", "export"}
    )
    """Actions whose keys type into the filter box: off (and not shown) while it has focus."""

    def __init__(self, leases: StoreAccess, *, location: str | None = None) -> None:
        super().__init__()
        self.data = DataLayer(leases)
        # Started before Textual's own start-up work: the first page of sessions is
        # read from the file meanwhile.
        self.data.read_ahead()
        self.location = location or leases.location
        self.on_server = isinstance(leases, SharedStore)
        """The store is a server's (`--remote`): the header says so."""
        self._server_kind: str | None = None
        self.settings = Settings.load()
        self.keymap = self.settings.keymap
        self.set_keymap(self.keymap.keys)
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
        self._clashes_told: set[str] = set()
        self.quitting = False
        """`q` was pressed: the app is closing."""
        self.forms = FormFlows(self)

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
        yield FittingFooter()

    def on_mount(self) -> None:
        self._read_warnings = ReadWarnings(self)
        logging.getLogger("storage.reads").addHandler(self._read_warnings)
        if self.settings.theme in self.available_themes:
            self.theme = self.settings.theme
        self._show_header()
        self.inspector.border_title = "Inspector"
        self.sessions.table.focus()
        if self.keymap.keys or self.keymap.problems:
            self.call_after_refresh(self._report_keymap)

    def _report_keymap(self) -> None:
        """One line on what `[app.keys]` asked that cannot be done (after the first
        frame: it reads every binding of the app)."""
        from zeptui.app.keys import app_bindings

        problems = [*self.keymap.problems]
        problems += [f"{name}: no such binding" for name in self.keymap.unknown(app_bindings())]
        if problems:
            self.notify(
                f"[app.keys] left out: {'; '.join(problems)}. The README lists the binding ids.",
                title="Keys",
                severity="warning",
                markup=False,
            )

    def handle_bindings_clash(self, clashed_bindings: set[Binding], node: DOMNode) -> None:
        """A key `[app.keys]` gave to two bindings: said once (the rebound one wins)."""
        names = sorted(binding.id or binding.action for binding in clashed_bindings)
        lost = "their keys" if len(names) > 1 else "its key"
        text = f"[app.keys]: {', '.join(names)} lost {lost} to a rebound binding."
        if text not in self._clashes_told:
            self._clashes_told.add(text)
            self.notify(text, title="Keys", severity="warning", markup=False)

    def watch_theme(self, theme: str) -> None:
        if theme != self.settings.theme:
            self.settings.theme = theme
            self.settings.save()

    # --- keys, focus and layout ----------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Which app keys are on (and shown in the footer) right now."""
        if self.quitting:
            return False
        # Judged on the main screen even under a dialog: its footer shows through a
        # dialog without one (the palette) and must stay as it was.
        main = self.screen_stack[0]
        typed = self.TYPED_ACTIONS | self.MANAGE_TYPED_ACTIONS
        if isinstance(main.focused, Input) and action in typed:
            return False
        zoomed = main.maximized is not None
        if action == "zoom":
            return not zoomed
        if action == "restore":
            return zoomed
        return self.check_manage_action(action, parameters)

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
    def _show_header(self, event: StatsLoaded | None = None) -> None:
        """The sub-title: where the store is (a file's path, or a server: its URL or
        name, what it is and its API once it answered), and the counts if known."""
        self._server_kind = (event and event.server) or self._server_kind
        parts = [sanitize(self.location)]
        if self.on_server:
            parts.append(sanitize(self._server_kind or "server"))
        if event is not None and event.stats is not None:
            stats = event.stats
            counts = plural(stats.sessions, "session"), plural(stats.messages, "message")
            parts.append(" · ".join(counts))
        self.sub_title = " · ".join(parts)

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
        if self.show_deleted_session(event.info):
            return
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
            if self.sessions.show_deleted:
                self.transcript.show_empty("No deleted sessions here (D shows the live ones).")
            elif self.sessions.is_filtered:
                self.transcript.show_empty("No sessions match the filter.")
            else:
                empty = EMPTY_SERVER_HELP if self.on_server else EMPTY_HELP
                self.transcript.show_empty(empty.format(location=self.location))
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
        elif isinstance(event.request, AppendMessage):
            self.forms.append_failed(event)

    @on(SessionsPane.Missing)
    def _written_not_listed(self, event: SessionsPane.Missing) -> None:
        self._open_unlisted(event.session_id)

    # --- the forms (zeptui/app/form_flows.py) ------------------------------------------

    def action_new_session(self) -> None:
        """A new session: id, user, metadata."""
        self.forms.new_session()

    def action_append(self) -> None:
        """Append a message to the open session."""
        self.forms.append()

    def action_edit_metadata(self) -> None:
        """Edit the metadata of the selected message, the session or its user."""
        self.forms.edit_metadata()

    @on(MessagesAppended)
    def _appended(self, event: MessagesAppended) -> None:
        self.forms.appended(event)

    def action_import(self) -> None:
        """The import dialog (the list is read again after an import)."""
        from zeptui.app.screens.import_screen import ImportScreen  # on first use

        self.push_screen(ImportScreen(self.data), self._imported)

    def _imported(self, imported: bool | None) -> None:
        if imported:
            self.sessions.reload()

    def action_export(self) -> None:
        """The export dialog: the open session, the filtered sessions or everything."""
        from zeptui.app.screens.export_screen import ExportScreen  # on first use

        self.push_screen(ExportScreen.of(self.data, self.transcript.info, self.sessions))

    async def action_quit(self) -> None:
        """Quit. Keys typed after `q` do nothing: a dialog they opened would mount
        into the closing app and end it with a traceback."""
        self.quitting = True
        await super().action_quit()

    def action_help(self) -> None:
        """Every key binding, by where it applies."""
        from zeptui.app.help_sections import app_help_sections  # on first use
        from zeptui.app.screens.help import HelpScreen

        self.push_screen(HelpScreen(app_help_sections(self.BINDINGS, self.keymap)))

    def on_unmount(self) -> None:
        logging.getLogger("storage.reads").removeHandler(self._read_warnings)
        self.data.close()


def run(target: StoreTarget, settings: Callable[[], StoreSettings] | None = None) -> None:
    """Open the app on the store `target` names (`leases.store_access`); `settings` is
    asked for once the store is first opened (it costs nothing before the first frame)."""
    ZeptuiApp(store_access(target, settings=settings)).run()
