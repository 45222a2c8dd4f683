"""The app's forms (`n` new session, `a` append, `e` edit metadata), driven by Pilot at
80x24 against real DuckDB files, then checked in the store itself."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from textual.widgets import Input, Select, Static, TextArea

from storage.duckdb import DuckDBStore
from storage.models import CreateUserRequest, Message, RoleType, SessionImport
from tests.app.conftest import (
    FIXED_NOW,
    build_store,
    make_app,
    notices,
    quiet,
    screen_text,
    session_ids,
)
from tests.cli_helpers import run_script, script_env
from zeptui.app.app import ZeptuiApp
from zeptui.app.items import is_summary
from zeptui.app.screens.composer import ComposerScreen
from zeptui.app.screens.metadata_editor import MetadataEditorScreen
from zeptui.app.screens.new_session import NEW_USER, NewSessionScreen
from zeptui.app.widgets.json_editor import JsonEditor
from zeptui.app.widgets.sessions import FilterInput
from zeptui.config import sample_files


def forms_store(tmp_path: Path) -> Path:
    """Two small sessions: `s1` (user `u1`, whose metadata has Zep's `system` key; its
    last message is Priya's, a user) and `s2`, without a user."""
    path = tmp_path / "forms.duckdb"
    start = datetime(2024, 5, 1, tzinfo=UTC)
    with DuckDBStore(path, clock=lambda: FIXED_NOW) as store:
        store.add_user(
            CreateUserRequest(
                user_id="u1", first_name="Ana", metadata={"system": {"intent": "x"}, "plan": "free"}
            )
        )
        store.import_sessions(
            [
                SessionImport(
                    session_id="s2",
                    created_at=start,
                    messages=[Message(role="Bo", content="older", created_at=start)],
                ),
                SessionImport(
                    session_id="s1",
                    user_id="u1",
                    metadata={"topic": {"a": 1}},
                    created_at=start,
                    messages=[
                        Message(
                            role="Nova",
                            role_type=RoleType.assistant,
                            content="hello",
                            created_at=start + timedelta(days=1),
                        ),
                        Message(
                            role="Priya",
                            role_type=RoleType.user,
                            content="hi",
                            metadata={"k": 0},
                            created_at=start + timedelta(days=2),
                        ),
                    ],
                ),
            ]
        )
    return path


def problem(app: ZeptuiApp, field: str) -> str:
    line = app.screen.query_one(f"#{field}-problem", Static)
    return str(line.render()) if line.display else ""


def status(app: ZeptuiApp) -> str:
    return str(app.screen.query_one("#form-status", Static).render())


async def open_form(pilot: object, key: str) -> None:
    await pilot.press(key)  # type: ignore[attr-defined]
    await quiet(pilot)  # type: ignore[arg-type]


# --- n -------------------------------------------------------------------------------------


async def test_n_creates_a_session_with_a_new_user_and_metadata(tmp_path: Path) -> None:
    db = forms_store(tmp_path)
    app = make_app(db)
    async with app.run_test(notifications=True) as pilot:
        await quiet(pilot)
        await pilot.press("f", "n", "a", "e")  # letters in the filter box are typed
        assert (
            app.sessions.query_one(FilterInput).value == "nae" and app.screen is app.screen_stack[0]
        )
        app.sessions.query_one(FilterInput).value = ""
        await pilot.press("escape")
        await open_form(pilot, "n")
        assert isinstance(app.screen, NewSessionScreen)
        field = app.screen.query_one("#session-id", Input)
        proposed = field.value
        assert app.focused is field and field.selected_text == proposed != ""
        await pilot.press("f")  # typing replaces the proposed id
        assert field.value == "f"
        field.value = "fresh [b]one"
        app.screen.query_one("#user", Select).value = NEW_USER
        await quiet(pilot)
        assert app.focused is app.screen.query_one("#user-id", Input)
        assert problem(app, "user-id") == ""  # no complaint before an id is typed
        for name, value in (("user-id", "ana"), ("email", "ana@x.org"), ("first-name", "Ana")):
            app.screen.query_one(f"#{name}", Input).value = value
        app.screen.query_one(JsonEditor).text = '{"topic": {"a": 1}, "tags": ["x"]}'
        await pilot.press("ctrl+s")
        await quiet(pilot)
        assert not isinstance(app.screen, NewSessionScreen)
        assert app.transcript.info is not None
        assert app.transcript.info.session.session_id == "fresh [b]one"  # selected and open
        assert "Created session fresh [b]one." in notices(app)
        assert "3 sessions" in app.sub_title and session_ids(app)[0] == "fresh [b]one"
    with DuckDBStore(db, read_only=True) as store:
        session = store.get_session("fresh [b]one")
        assert session.user_id == "ana"
        assert session.metadata == {"topic": {"a": 1}, "tags": ["x"]}
        user = store.get_user("ana")
        assert (user.email, user.first_name, user.last_name) == ("ana@x.org", "Ana", None)


async def test_taken_ids_are_refused_in_the_form_and_a_listed_user_is_picked(
    tmp_path: Path,
) -> None:
    db = forms_store(tmp_path)
    with DuckDBStore(db) as store:  # a deleted session keeps its id
        store.add_memory("gone", [Message(role="a", content="x")])
        store.delete_session("gone")
    app = make_app(db)
    async with app.run_test() as pilot:
        await quiet(pilot)
        await open_form(pilot, "n")
        app.screen.query_one("#session-id", Input).value = "s1"
        await quiet(pilot)
        assert "a session with id 's1' exists" in problem(app, "session-id")
        await pilot.press("ctrl+s")
        await quiet(pilot)
        assert isinstance(app.screen, NewSessionScreen)
        assert "Fix what is marked" in status(app)
        # Only the store knows a deleted session's id: refused on save, in the form.
        app.screen.query_one("#session-id", Input).value = "gone"
        app.screen.query_one(JsonEditor).text = "[1]"
        await quiet(pilot)
        assert problem(app, "session-id") == ""
        await pilot.press("ctrl+s")
        await quiet(pilot)
        assert "Fix what is marked" in status(app)  # the metadata is not an object
        app.screen.query_one(JsonEditor).text = ""
        await pilot.press("ctrl+s")
        await quiet(pilot)
        assert isinstance(app.screen, NewSessionScreen)
        assert "session already exists with session_id: gone" in problem(app, "session-id")
        # A new user's id that is taken is refused too; a listed user is picked.
        users = app.screen.query_one("#user", Select)
        users.value = NEW_USER
        app.screen.query_one("#user-id", Input).value = "u1"
        await quiet(pilot)
        assert "user 'u1' exists: pick it in the list above" in problem(app, "user-id")
        app.screen.query_one("#session-id", Input).value = "picked"
        users.value = "u1"
        app.screen.query_one(".form-dialog").focus()  # where no text is typed
        await quiet(pilot)
        await pilot.press("slash", "q")  # the app's keys are off in a form
        assert isinstance(app.screen, NewSessionScreen) and app.is_running
        await pilot.press("ctrl+s")
        await quiet(pilot)
        assert not isinstance(app.screen, NewSessionScreen)
    with DuckDBStore(db, read_only=True) as store:
        assert {s.session_id for s in store.list_sessions()} == {"s1", "s2", "picked"}
        assert store.get_session("picked").user_id == "u1"
        assert [user.user_id for user in store.list_users()] == ["u1"]


# --- a -------------------------------------------------------------------------------------


async def test_a_appends_a_message_shown_at_once_with_its_counts(tmp_path: Path) -> None:
    db = forms_store(tmp_path)
    app = make_app(db)
    async with app.run_test(notifications=True) as pilot:
        await quiet(pilot)
        assert app.transcript.info is not None
        session_id = app.transcript.info.session.session_id
        before = app.transcript.info.message_count
        await open_form(pilot, "a")
        assert isinstance(app.screen, ComposerScreen)
        assert app.focused is app.screen.query_one("#content", TextArea)
        role = app.screen.query_one("#role", Input)
        assert role.value == "Priya"  # the session's last user message
        role.value = "Ana [b]"
        app.screen.query_one("#role-type", Select).value = "assistant"
        await pilot.press(*"Hello")
        app.screen.query_one("#content", TextArea).insert(" **there** [red]x[/]")
        await pilot.press("ctrl+o")  # the Markdown preview
        assert app.screen.query_one("#preview").has_class("-shown")
        await pilot.press("ctrl+o")
        app.screen.query_one(JsonEditor).text = '{"channel": {"name": "tui"}}'
        await pilot.press("ctrl+s")
        await quiet(pilot)
        assert not isinstance(app.screen, ComposerScreen)
        last = app.transcript.selected_item
        assert last is not None and not is_summary(last)
        assert last.content == "Hello **there** [red]x[/]" and last.role == "Ana [b]"
        assert f"{last.uuid} · {last.token_count:,} tokens" in notices(app)
        assert app.transcript.info.message_count == before + 1
        assert "4 messages" in app.sub_title
        app.clear_notifications()
        await pilot.pause()
        assert "Ana [b]  assistant" in screen_text(app)  # literal, not markup
        await open_form(pilot, "a")  # the speaker is remembered for the session
        assert app.screen.query_one("#role", Input).value == "Ana [b]"
        assert app.screen.query_one("#role-type", Select).value == "assistant"
        await pilot.press("ctrl+s")
        await quiet(pilot)
        assert "type the message" in problem(app, "content")
        await pilot.press("escape")
    with DuckDBStore(db, read_only=True) as store:
        stored = store.list_messages(session_id, limit=100).messages[-1]
        assert (stored.role, stored.role_type) == ("Ana [b]", RoleType.assistant)
        assert stored.uuid == last.uuid and stored.token_count == last.token_count > 0
        assert stored.metadata == {"channel": {"name": "tui"}}


async def test_a_without_a_user_or_a_named_user_message_prefills_user(tmp_path: Path) -> None:
    """`s2` has no user and no user message: the composer offers `user` as a `user`
    (never an empty role, which the transcript shows as "(no role)")."""
    app = make_app(forms_store(tmp_path))
    async with app.run_test() as pilot:
        await quiet(pilot)
        app.open_session("s2")
        await quiet(pilot)
        await open_form(pilot, "a")
        assert isinstance(app.screen, ComposerScreen)
        assert app.screen.query_one("#role", Input).value == "user"
        assert app.screen.query_one("#role-type", Select).value == "user"


async def test_a_summary_an_append_makes_due_appears_and_the_cli_can_import(
    tmp_path: Path, isolated_config: Path
) -> None:
    isolated_config.mkdir(parents=True, exist_ok=True)
    (isolated_config / "config.toml").write_text("[memory]\nmessage_window = 2\n")
    one = SessionImport(
        session_id="short",
        messages=[Message(role="Ana", role_type=RoleType.user, content="The first message.")],
    )
    db = build_store(tmp_path / "short.duckdb", sessions=[one], samples=())
    app = make_app(db)
    async with app.run_test() as pilot:
        await quiet(pilot)
        await open_form(pilot, "a")
        await pilot.press(*"A second message")
        await pilot.press("ctrl+s")
        for _ in range(20):  # the summary is made as the write's lease ends (bounded)
            await quiet(pilot)
            if any(is_summary(block.item) for block in app.transcript.blocks):
                break
        assert any(is_summary(block.item) for block in app.transcript.blocks)
        # `zeptui import` in another process, while the app is open and has just written.
        sample = next(path for path in sample_files() if path.name == "octavia-butler.json")
        env = script_env(tmp_path, ZEPTUI_DB=str(db))
        result = await asyncio.to_thread(run_script, ["import", sample], env)
        assert result.returncode == 0, result.stderr
        await pilot.press("r")
        await quiet(pilot)
        assert "octavia-butler" in session_ids(app)
    with DuckDBStore(db, read_only=True) as store:
        assert len(store.list_summaries("short")) == 1


# --- e -------------------------------------------------------------------------------------


async def test_e_merges_metadata_and_protects_system(tmp_path: Path) -> None:
    db = forms_store(tmp_path)
    app = make_app(db)
    async with app.run_test() as pilot:
        await quiet(pilot)
        await pilot.press("tab")  # the transcript, its last message selected
        await open_form(pilot, "e")
        assert isinstance(app.screen, MetadataEditorScreen)
        editor = app.screen.query_one(JsonEditor)
        assert app.screen.query_one("#target", Select).value == 0  # the message: focus
        assert editor.value == {"k": 0}
        editor.text = '{"k": 1, "new": null}'
        await quiet(pilot)
        await pilot.press("ctrl+s")
        await quiet(pilot)
        assert not isinstance(app.screen, MetadataEditorScreen)
        await pilot.press("shift+tab")  # the session list: the session comes first
        await open_form(pilot, "e")
        assert app.screen.query_one("#target", Select).value == 0
        assert app.screen.query_one(JsonEditor).value == {"topic": {"a": 1}}
        app.screen.query_one("#target", Select).value = 2  # its user
        await quiet(pilot)
        editor = app.screen.query_one(JsonEditor)
        assert editor.value == {"plan": "free"}  # system is not in the editor
        assert '"intent": "x"' in str(app.screen.query_one("#system", Static).render())
        editor.text = '{"system": {"intent": "y"}}'
        await quiet(pilot)
        assert "remove the system key" in problem(app, "metadata")
        await pilot.press("ctrl+s")
        await quiet(pilot)
        assert isinstance(app.screen, MetadataEditorScreen)
        editor.text = '{"plan": {"seats": 3}}'
        await quiet(pilot)
        merged = str(app.screen.query_one("#merged", Static).render())
        assert '"seats": 3' in merged and '"intent": "x"' in merged
        await pilot.press("ctrl+s")
        await quiet(pilot)
        assert not isinstance(app.screen, MetadataEditorScreen)
    with DuckDBStore(db, read_only=True) as store:
        assert store.get_user("u1").metadata == {"system": {"intent": "x"}, "plan": {"seats": 3}}
        message = store.list_messages("s1").messages[-1]
        assert message.metadata == {"k": 1, "new": None}
        assert store.get_session("s1").metadata == {"topic": {"a": 1}}
