"""The inspector: every field of the selected session and message, metadata as a tree.

All values are data: they are shown as literal `rich.text.Text` after
`render.sanitize`, never as markup.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.widgets import Static

from zeptui.app.items import is_summary
from zeptui.app.widgets.json_tree import JsonTree, literal
from zeptui.render import ROLE_STYLES, when

if TYPE_CHECKING:
    from storage.models import Message, SessionInfo, SummaryInfo

SESSION_EMPTY = "Select a session"
MESSAGE_EMPTY = "Select a message with j/k"

Row = tuple[str, Text]


def _value(value: object, style: str = "") -> Text:
    """A field value as literal, single-line text."""
    return Text(literal("" if value is None else str(value)), style=style)


def _time(value: datetime | None) -> Text:
    return Text(when(value, seconds=True)) if value is not None else Text("—", style="dim")


def _count(value: int) -> Text:
    return Text(f"{value:,}")


def _fields(rows: Sequence[Row]) -> Text:
    """Aligned `label  value` lines."""
    width = max(len(label) for label, _ in rows) + 2
    text = Text()
    for index, (label, value) in enumerate(rows):
        if index:
            text.append("\n")
        text.append(label.ljust(width), style="dim")
        text.append_text(value)
    return text


def session_rows(info: SessionInfo) -> list[Row]:
    """The fields the inspector shows for a session (metadata aside)."""
    session = info.session
    rows: list[Row] = [
        ("uuid", _value(session.uuid)),
        ("session id", _value(session.session_id, "bold")),
        ("user", _value(session.user_id) if session.user_id else Text("none", style="dim")),
        ("created", _time(session.created_at)),
        ("updated", _time(session.updated_at)),
    ]
    if session.ended_at is not None:
        rows.append(("ended", _time(session.ended_at)))
    if session.deleted_at is not None:
        rows.append(("deleted", _time(session.deleted_at)))
    rows += [
        ("messages", _count(info.message_count)),
        ("total tokens", _count(info.total_tokens)),
        ("last activity", _time(info.last_activity)),
    ]
    if not session.metadata:
        rows.append(("metadata", Text("none", style="dim")))
    return rows


def message_rows(message: Message) -> list[Row]:
    """The fields the inspector shows for a message (metadata aside)."""
    role_type = message.role_type.value if message.role_type is not None else "norole"
    style = ROLE_STYLES.get(role_type, "bold")
    rows: list[Row] = [
        ("uuid", _value(message.uuid)),
        ("role", _value(message.role, style) if message.role else Text("none", style="dim")),
        ("role type", Text(role_type, style=style if message.role_type else "dim")),
        ("created", _time(message.created_at)),
        ("tokens", _count(message.token_count)),
    ]
    if not message.metadata:
        rows.append(("metadata", Text("none", style="dim")))
    return rows


def summary_rows(info: SummaryInfo) -> list[Row]:
    """The fields the inspector shows for a summary (metadata aside)."""
    summary = info.summary
    noun = "message" if info.message_count == 1 else "messages"
    rows: list[Row] = [
        ("kind", Text("summary", style="bold")),
        ("uuid", _value(summary.uuid)),
        ("created", _time(summary.created_at)),
        ("tokens", _count(summary.token_count)),
        ("covers", Text(f"{info.message_count:,} {noun}")),
        (
            "from",
            _value(info.first_message_uuid)
            if info.first_message_uuid
            else Text("unknown", style="dim"),
        ),
        ("to", _value(summary.recent_message_uuid)),
    ]
    if not summary.metadata:
        rows.append(("metadata", Text("none", style="dim")))
    return rows


class Inspector(VerticalScroll):
    """Two sections, "Session" and "Message", with every field and the metadata trees.

    The pane scrolls with the keys; `enter` moves into a metadata tree (to fold and
    unfold it) and `esc` comes back.
    """

    ALLOW_MAXIMIZE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "enter",
            "explore",
            "Metadata",
            tooltip="Into a metadata tree (to fold it)",
            id="explore_metadata",
        ),
        Binding("j", "scroll_down", "Scroll down", show=False, id="inspector_down"),
        Binding("k", "scroll_up", "Scroll up", show=False, id="inspector_up"),
    ]

    DEFAULT_CSS: ClassVar[str] = """
    Inspector {
        padding: 0 1;
        & > .inspector-title {
            text-style: bold;
            color: $accent;
            border-bottom: solid $primary;
            margin-top: 1;
        }
        & > .inspector-title.-first {
            margin-top: 0;
        }
        & > .inspector-fields.-empty {
            color: $text-muted;
            text-style: italic;
        }
        & > JsonTree {
            margin-top: 1;
            background: $surface;
        }
    }
    """

    def __init__(
        self,
        *,
        name: str | None = None,
        id: str | None = None,  # noqa: A002 - Textual's parameter name
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self._session: SessionInfo | None = None
        self._item: Message | SummaryInfo | None = None
        self._ready = False

    @property
    def session_info(self) -> SessionInfo | None:
        """The session shown, if any."""
        return self._session

    @property
    def item(self) -> Message | SummaryInfo | None:
        """The message or summary shown, if any."""
        return self._item

    def compose(self) -> ComposeResult:
        yield Static("Session", classes="inspector-title -first", markup=False)
        yield Static(id="session-fields", classes="inspector-fields", markup=False)
        yield JsonTree(id="session-metadata")
        yield Static("Message", classes="inspector-title", markup=False)
        yield Static(id="message-fields", classes="inspector-fields", markup=False)
        yield JsonTree(id="message-metadata")

    def on_mount(self) -> None:
        self._ready = True
        self._update_session()
        self._update_message()

    def show_session(self, info: SessionInfo | None) -> None:
        """Show `info`'s fields, or the empty state for None."""
        self._session = info
        self._update_session()

    def show_message(self, item: Message | SummaryInfo | None) -> None:
        """Show a message's or a summary's fields, or the empty state for None."""
        self._item = item
        self._update_message()

    def _update_session(self) -> None:
        if not self._ready:
            return
        info = self._session
        if info is None:
            self._set_section("session", None, None, SESSION_EMPTY)
        else:
            self._set_section("session", session_rows(info), info.session.metadata, "")

    def _update_message(self) -> None:
        if not self._ready:
            return
        item = self._item
        if item is None:
            self._set_section("message", None, None, MESSAGE_EMPTY)
        elif is_summary(item):
            self._set_section("message", summary_rows(item), item.summary.metadata, "")
        else:
            self._set_section("message", message_rows(item), item.metadata, "")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """`enter` needs a metadata tree to go to."""
        if action == "explore":
            return any(tree.display for tree in self.query(JsonTree))
        return True

    def action_explore(self) -> None:
        """Focus the first metadata tree shown (the message's, else the session's)."""
        for tree_id in ("#message-metadata", "#session-metadata"):
            tree = self.query_one(tree_id, JsonTree)
            if tree.display:
                tree.focus()
                return

    def _set_section(
        self, section: str, rows: list[Row] | None, metadata: object, empty: str
    ) -> None:
        fields = self.query_one(f"#{section}-fields", Static)
        tree = self.query_one(f"#{section}-metadata", JsonTree)
        fields.set_class(rows is None, "-empty")
        fields.update(Text(empty) if rows is None else _fields(rows))
        if metadata:
            tree.show(metadata, "metadata")
            tree.display = True
        else:
            tree.display = False
        self.refresh_bindings()
