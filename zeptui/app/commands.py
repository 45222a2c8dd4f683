"""The command palette's commands: the app's actions (with the keys in use), and a
jump to any session by its title, id or user (asked of the store as typed)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from functools import partial
from typing import TYPE_CHECKING, cast

from textual.command import DiscoveryHit, Hit, Hits, Provider
from textual.content import Content
from textual.fuzzy import Matcher

from zeptui.app.requests import SessionsLoaded, SessionsRequest
from zeptui.app.widgets.transcript_bars import View
from zeptui.render import sanitize, session_label

if TYPE_CHECKING:
    from zeptui.app.app import ZeptuiApp


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
        """(name, help with the keys in use, callback) of each command."""
        app = cast("ZeptuiApp", self.app)
        commands: list[tuple[str, str, object, str | None]] = [
            (
                "Search messages",
                "Ranked full-text search over every message",
                app.action_search,
                "search",
            ),
            (
                "Show all messages",
                "The full history, paged",
                partial(app.set_view, View.all),
                "view",
            ),
            (
                "Show message window",
                "What get_memory(message_window) returns",
                partial(app.set_view, View.window),
                "view",
            ),
            (
                "Show perpetual memory",
                "What get_memory(perpetual) returns",
                partial(app.set_view, View.perpetual),
                "view",
            ),
            (
                "Toggle Markdown / raw text",
                "How message content is rendered",
                app.transcript.action_toggle_markdown,
                "markdown",
            ),
            (
                "Cycle session sort",
                "Recent, created or size",
                app.sessions.action_cycle_sort,
                "sort",
            ),
            ("New session", "A form: id, user, metadata", app.action_new_session, "new_session"),
            (
                "Append a message",
                "To the selected session: role, role type, content, metadata",
                app.action_append,
                "append",
            ),
            (
                "Edit metadata",
                "Of the selected message, the session or its user (deep merge)",
                app.action_edit_metadata,
                "edit_metadata",
            ),
            ("Import", "Files, directories or .zip exports", app.action_import, "import"),
            ("Export", "Sessions to a file, in any format", app.action_export, "export"),
            ("Reload", "Read the store again", app.action_reload, "reload"),
            (
                "Filter the sessions",
                "Words, user:NAME, key=value, >date, <date",
                app.action_filter,
                "filter",
            ),
            ("Zoom", "The focused pane fills the screen (z or esc: back)", app.action_zoom, "zoom"),
            (
                "Show or hide the inspector",
                "The session's and message's fields, metadata as a tree",
                app.action_toggle_inspector,
                "inspector",
            ),
            (
                "Context budget",
                "The token bar's measure: 8k, 32k, 128k",
                app.transcript.action_cycle_budget,
                "budget",
            ),
            *(
                (f"Copy the message's {what}", "The selected message's", copy, binding_id)
                for what, copy, binding_id in (
                    ("text", partial(app.transcript.action_copy, "content"), "copy"),
                    ("uuid", partial(app.transcript.action_copy, "uuid"), "copy_uuid"),
                    ("JSON", partial(app.transcript.action_copy, "json"), "copy_json"),
                )
            ),
            *app.manage_commands(),
            ("Help", "Every key binding", app.action_help, "help"),
        ]
        shown = []
        for name, help_text, callback, binding_id in commands:
            if not app.is_offered(binding_id):
                continue  # the store cannot (the key is off too)
            keys = app.keymap.keys_for(binding_id) if binding_id else ""
            if keys:
                help_text += f" · key {markup_literal(keys)}"
            shown.append((name, help_text, callback))
        return shown

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
        app = cast("ZeptuiApp", self.app)
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
