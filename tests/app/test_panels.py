"""The inspector, the JSON tree, the search screen and the help screen, driven by Pilot.

Each piece is mounted in a small host app defined here. Search runs against a real
DuckDB file built in tmp_path.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.pilot import Pilot
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input, Label, OptionList, Static
from textual.widgets.tree import TreeNode

from storage.duckdb import DuckDBStore
from storage.models import Message, RoleType, Session, SessionInfo, Summary, SummaryInfo
from tests.app.conftest import wait_for_workers
from tests.holders import held_database
from zeptui.app.data import DataLayer
from zeptui.app.keys import readable_key
from zeptui.app.leases import StoreLeases
from zeptui.app.screens.help import HelpScreen, bindings_help
from zeptui.app.screens.search import SearchHit, SearchScreen
from zeptui.app.widgets.inspector import Inspector
from zeptui.app.widgets.json_tree import MAX_CHILDREN, JsonTree

SIZE = (120, 40)
WHEN = datetime(2024, 5, 16, 21, 58, 2, tzinfo=UTC)
HOSTILE = {
    "[bold]": "\x1b[31mred\x00",
    "\x1b[31mkey": "[link=https://example.com]x[/link]",
    "nested": {"list": [1, 2.5, None, True], "deeper": {"leaf": "x"}},
}


# --- helpers ------------------------------------------------------------------------------


def text_of(widget: Static | Label) -> str:
    """The plain text a Static shows."""
    content = widget.content
    if isinstance(content, Text):
        return content.plain
    return str(content)


def labels(node: TreeNode[object]) -> Iterator[str]:
    """Plain labels of `node` and everything below it (built so far)."""
    yield str(node.label)
    for child in node.children:
        yield from labels(child)


def focused(pilot: Pilot[Any]) -> Widget | None:
    """The focused widget (a call, so checks after key presses are not narrowed away)."""
    return pilot.app.focused


def screen_text(app: App[Any]) -> str:
    """The text on the terminal, from a screenshot (spaces normalised)."""
    svg = app.export_screenshot()
    return html.unescape("\n".join(re.findall(r">([^<]*)</text>", svg))).replace("\xa0", " ")


async def settle(pilot: Pilot[Any]) -> None:
    """Let workers finish and their messages be handled (bounded)."""
    for _ in range(3):
        await wait_for_workers(pilot.app)
        await pilot.pause()


class ScreenHost(App[None]):
    """Pushes one screen on mount and records what it is dismissed with."""

    def __init__(self, make_screen: Callable[[], Screen[Any]]) -> None:
        super().__init__()
        self._make_screen = make_screen
        self.dismissed: list[object] = []

    def on_mount(self) -> None:
        self.push_screen(self._make_screen(), callback=self.dismissed.append)


# --- inspector ----------------------------------------------------------------------------


class InspectorApp(App[None]):
    def compose(self) -> ComposeResult:
        yield Inspector()


def session_info() -> SessionInfo:
    session = Session(
        uuid="0b3f-session-uuid",
        id=1,
        created_at=WHEN,
        updated_at=WHEN,
        session_id="[bold]s1",
        user_id="[red]alice",
        metadata=HOSTILE,
    )
    return SessionInfo(session=session, message_count=3, total_tokens=4242, last_activity=WHEN)


async def test_inspector_shows_a_session_and_a_message_literally() -> None:
    async with InspectorApp().run_test(size=SIZE) as pilot:
        inspector = pilot.app.query_one(Inspector)
        session_fields = inspector.query_one("#session-fields", Static)
        message_fields = inspector.query_one("#message-fields", Static)
        assert text_of(session_fields) == "Select a session"
        assert text_of(message_fields) == "Select a message with j/k"
        assert not inspector.query_one("#session-metadata", JsonTree).display

        inspector.show_session(session_info())
        inspector.show_message(
            Message(
                uuid="m-1",
                created_at=WHEN,
                role="[red]Jane",
                role_type=RoleType.user,
                content="hello",
                token_count=5,
                metadata=HOSTILE,
            )
        )
        await pilot.pause()

        shown = text_of(session_fields)
        for expected in ("0b3f-session-uuid", "[bold]s1", "[red]alice", "4,242"):
            assert expected in shown
        assert "last activity  2024-05-16 21:58:02 UTC" in shown
        message = text_of(message_fields)
        for expected in ("m-1", "[red]Jane", "user", "2024-05-16 21:58:02 UTC", "tokens"):
            assert expected in message

        for tree_id in ("#session-metadata", "#message-metadata"):
            tree = inspector.query_one(tree_id, JsonTree)
            assert tree.display
            shown_labels = list(labels(tree.root))
            assert '[bold]: "\\u001b[31mred\\u0000"' in shown_labels
            assert '\\x1b[31mkey: "[link=https://example.com]x[/link]"' in shown_labels
            assert "list [4 items]" in shown_labels
            assert not any("\x1b" in label or "\x00" in label for label in shown_labels)

        # What reaches the terminal: the brackets are text, not styles.
        screenshot = screen_text(pilot.app)
        assert "[bold]s1" in screenshot
        assert "[red]Jane" in screenshot


async def test_inspector_shows_a_summary_and_a_message_without_role_type() -> None:
    async with InspectorApp().run_test(size=SIZE) as pilot:
        inspector = pilot.app.query_one(Inspector)
        fields = inspector.query_one("#message-fields", Static)
        summary = Summary(
            uuid="sum-1",
            created_at=WHEN,
            content="They talked about tea.",
            token_count=17,
            recent_message_uuid="m-12",
            metadata={"summarizer": "extractive"},
        )
        inspector.show_message(
            SummaryInfo(summary=summary, first_message_uuid="m-1", message_count=12)
        )
        await pilot.pause()
        shown = text_of(fields)
        for expected in ("summary", "sum-1", "17", "12 messages", "m-1", "m-12"):
            assert expected in shown
        tree = inspector.query_one("#message-metadata", JsonTree)
        assert 'summarizer: "extractive"' in list(labels(tree.root))

        inspector.show_message(Message(uuid="m-2", content="x", role="bot"))
        await pilot.pause()
        assert "role type  norole" in text_of(fields)
        assert not tree.display

        inspector.show_session(None)
        inspector.show_message(None)
        await pilot.pause()
        assert text_of(inspector.query_one("#session-fields", Static)) == "Select a session"
        assert text_of(fields) == "Select a message with j/k"


# --- JSON tree ----------------------------------------------------------------------------


class TreeApp(App[None]):
    def compose(self) -> ComposeResult:
        yield JsonTree()


async def test_json_tree_caps_children_and_builds_deep_levels_on_expand() -> None:
    async with TreeApp().run_test(size=SIZE) as pilot:
        tree = pilot.app.query_one(JsonTree)
        tree.show({"big": list(range(500)), "a": {"b": {"c": {"d": 1}}}}, "metadata")
        await pilot.pause()

        root = tree.root
        assert str(root.label) == "metadata {2 keys}"
        assert root.is_expanded
        big, a = root.children
        assert big.is_expanded, "two levels are expanded"
        assert len(big.children) == MAX_CHILDREN + 1
        assert str(big.children[0].label) == "0: 0"
        assert str(big.children[-1].label) == "… 300 more"

        b = a.children[0]
        assert a.is_expanded and not b.is_expanded
        assert b.allow_expand and not b.children, "deeper levels wait for an expand"
        b.expand()
        await pilot.pause()
        assert [str(child.label) for child in b.children] == ["c {1 key}"]

        tree.show("[b]plain", "value")
        await pilot.pause()
        assert str(tree.root.label) == 'value: "[b]plain"'
        assert not tree.root.children


# --- search -------------------------------------------------------------------------------


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "memory.duckdb"
    with DuckDBStore(path, summarizer=None) as store:
        store.add_memory(
            "alpha",
            [
                Message(role="Jane", role_type=RoleType.user, content="Is the kettle on?"),
                Message(role_type=RoleType.assistant, content="The kettle is boiling [bold]now"),
                Message(role_type=RoleType.user, content="Tea time soon"),
            ],
        )
        store.add_memory(
            "beta",
            [
                Message(role_type=RoleType.user, content="Kettle descaling tips, please"),
                Message(content="Unrelated chatter"),
            ],
        )
    return path


@pytest.fixture
def leases(db: Path) -> Iterator[StoreLeases]:
    leases = StoreLeases.for_file(db, idle=None)
    try:
        yield leases
    finally:
        leases.close()


def search_host(leases: StoreLeases, session: str | None, query: str = "") -> ScreenHost:
    return ScreenHost(lambda: SearchScreen(DataLayer(leases), session, query))


def prompts(pilot: Pilot[Any]) -> list[str]:
    options = pilot.app.screen.query_one("#search-results", OptionList).options
    return [option.prompt.plain for option in options if isinstance(option.prompt, Text)]


def status(pilot: Pilot[Any]) -> str:
    return text_of(pilot.app.screen.query_one("#search-status", Static))


async def test_search_finds_messages_across_sessions_and_returns_the_pick(
    leases: StoreLeases,
) -> None:
    host = search_host(leases, None)
    async with host.run_test(size=SIZE) as pilot:
        screen = pilot.app.screen
        assert isinstance(screen, SearchScreen)
        assert isinstance(focused(pilot), Input)
        assert "All sessions" in text_of(screen.query_one("#search-scope", Static))

        await pilot.press(*"kettle")
        await pilot.pause(0.3)  # the debounce runs the search without Enter
        await settle(pilot)
        assert status(pilot) == "3 results"
        shown = prompts(pilot)
        assert len(shown) == 3
        assert {hit.session_id for hit in screen.hits} == {"alpha", "beta"}
        assert any("alpha" in line and "Jane" in line for line in shown)
        assert any("The kettle is boiling [bold]now" in line for line in shown)

        await pilot.press("enter")  # results are current: Enter moves into them
        assert isinstance(focused(pilot), OptionList)
        await pilot.press("up")  # above the first result: back to the query
        assert isinstance(focused(pilot), Input)
        await pilot.press("down")
        assert isinstance(focused(pilot), OptionList)
        await pilot.press("down", "enter")
        await settle(pilot)
        assert host.dismissed == [screen.hits[1]]
        assert isinstance(host.dismissed[0], SearchHit)


async def test_search_scope_toggles_to_the_current_session(leases: StoreLeases) -> None:
    host = search_host(leases, "alpha", "kettle")
    async with host.run_test(size=SIZE) as pilot:
        await settle(pilot)
        screen = pilot.app.screen
        assert isinstance(screen, SearchScreen)
        assert len(screen.hits) == 3

        await pilot.press("ctrl+t")
        await settle(pilot)
        assert "Session alpha" in text_of(screen.query_one("#search-scope", Static))
        assert screen.scope_session_id == "alpha"
        assert {hit.session_id for hit in screen.hits} == {"alpha"}
        assert status(pilot) == "2 results"

        await pilot.press("down")  # from the input into the results
        assert isinstance(focused(pilot), OptionList)
        await pilot.press("enter")
        await settle(pilot)
        hit = host.dismissed[0]
        assert isinstance(hit, SearchHit)
        expected = leases.read(lambda store: store.list_messages("alpha").messages)
        assert hit.session_id == "alpha"
        assert hit.message_uuid in {message.uuid for message in expected[:2]}


async def test_search_without_matches_and_blank_query_and_escape(leases: StoreLeases) -> None:
    host = search_host(leases, None)
    async with host.run_test(size=SIZE) as pilot:
        screen = pilot.app.screen
        await pilot.press(*"[quux]zebra", "enter")
        await settle(pilot)
        assert status(pilot) == 'No results for "[quux]zebra"'
        assert prompts(pilot) == []

        await pilot.press("ctrl+t")  # no current session: nothing to toggle
        assert "All sessions" in text_of(screen.query_one("#search-scope", Static))

        screen.query_one(Input).value = "tea"
        await pilot.press("enter")
        await settle(pilot)
        assert status(pilot) == "1 result"
        screen.query_one(Input).value = ""
        await pilot.pause()
        assert prompts(pilot) == []
        assert status(pilot).startswith("Type to search")

        await pilot.press("escape")
        await pilot.pause()
        assert host.dismissed == [None]


async def test_search_on_a_held_database_shows_the_holder(db: Path) -> None:
    leases = StoreLeases.for_file(db, idle=None)
    with held_database(db) as holder:
        host = search_host(leases, None, "kettle")
        async with host.run_test(size=SIZE) as pilot:
            await settle(pilot)
            line = status(pilot)
            assert line.startswith("Search failed: ")
            assert f"in use by process {holder.pid}" in line
            assert pilot.app.screen.query_one("#search-status").has_class("-error")
            assert prompts(pilot) == []
            await pilot.press("escape")
            await pilot.pause()
            assert host.dismissed == [None]
    leases.close()


async def test_an_unexpected_search_error_is_shown_not_raised() -> None:
    def broken() -> DuckDBStore:
        raise RuntimeError("disk [bold]on fire")

    leases = StoreLeases(broken, "broken")
    host = search_host(leases, None, "kettle")
    async with host.run_test(size=SIZE) as pilot:
        await settle(pilot)
        assert status(pilot) == "Search failed: RuntimeError: disk [bold]on fire"
        assert pilot.app.screen.is_active, "the screen stays up"


# --- help ---------------------------------------------------------------------------------

BINDINGS: list[Binding | tuple[str, str, str]] = [
    Binding("question_mark", "help", "Show keys"),
    ("slash", "search", "Search messages"),
    Binding("ctrl+t", "scope", "Toggle scope"),
    Binding("j,down", "next", "Next message", show=False),
    Binding("k", "previous", "Previous message", show=False),
    Binding("up", "previous", "Previous message", show=False),
    Binding("f1", "help", "Help", key_display="F1"),
    Binding("x", "secret", ""),
]


def test_bindings_help_reads_keys_and_skips_undescribed_bindings() -> None:
    assert readable_key("escape") == "esc"
    assert readable_key("ctrl+question_mark") == "ctrl+?"
    sections = bindings_help([("App", BINDINGS), ("Empty", [Binding("z", "zz", "")])])
    assert sections == [
        (
            "App",
            [
                ("?", "Show keys"),
                ("/", "Search messages"),
                ("ctrl+t", "Toggle scope"),
                ("j, down", "Next message"),
                ("k, up", "Previous message"),
                ("F1", "Help"),
            ],
        )
    ]


@pytest.mark.parametrize("key", ["escape", "q", "question_mark"])
async def test_help_screen_lists_bindings_and_closes(key: str) -> None:
    sections = [*bindings_help([("App", BINDINGS)]), ("Data", [("[b]", "literal [i]keys[/i]")])]
    host = ScreenHost(lambda: HelpScreen(sections))
    async with host.run_test(size=SIZE) as pilot:
        screen = pilot.app.screen
        assert isinstance(screen, HelpScreen)
        headings = [text_of(widget) for widget in screen.query(".help-heading").results(Static)]
        assert headings == ["App", "Data"]
        keys = [text_of(label) for label in screen.query(".help-keys").results(Label)]
        descriptions = [
            text_of(label) for label in screen.query(".help-description").results(Label)
        ]
        assert keys == ["?", "/", "ctrl+t", "j, down", "k, up", "F1", "[b]"]
        assert descriptions[-1] == "literal [i]keys[/i]"
        assert "literal [i]keys[/i]" in screen_text(pilot.app)

        await pilot.press(key)
        await pilot.pause()
        assert host.dismissed == [None]
        assert not isinstance(pilot.app.screen, HelpScreen)
