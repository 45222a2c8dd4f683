"""The app's data layer: leases on a real DuckDB file, and requests answered by message."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from textual import on
from textual.app import App, ComposeResult
from textual.widgets import Static

from storage.duckdb import DuckDBStore
from storage.errors import StoreLockedError
from storage.models import Message, RoleType
from storage.store import MemoryStore
from tests.app.conftest import build_store, wait_for_workers
from tests.holders import held_database
from zeptui.app.data import DataLayer, Failed, Reply, Settled
from zeptui.app.leases import StoreLeases
from zeptui.app.requests import AppendMessage, MessagesAppended, SessionsLoaded, SessionsRequest


def contents(store: MemoryStore, session_id: str) -> list[str]:
    return [message.content for message in store.list_messages(session_id).messages]


# --- leases ------------------------------------------------------------------------------


def test_a_write_closes_the_read_handle_and_lets_go_of_the_file(sample_db: Path) -> None:
    """DuckDB refuses a read-write handle beside a read-only one in one process: the
    write lease closes the reader first, and holds the file for the write alone."""
    leases = StoreLeases.for_file(sample_db, idle=None)  # the read handle stays open
    try:
        before = leases.read(lambda store: contents(store, "octavia-butler"))
        assert leases.is_open
        stored = leases.write(
            lambda store: store.add_memory(
                "octavia-butler", [Message(role="Jane", role_type=RoleType.user, content="new")]
            )
        )
        assert stored[0].uuid and stored[0].token_count > 0
        assert not leases.is_open
        with held_database(sample_db):  # another process gets the file at once
            pass
        after = leases.read(lambda store: contents(store, "octavia-butler"))
        assert after == [*before, "new"]
    finally:
        leases.close()
    with DuckDBStore(sample_db, read_only=True) as store:
        assert contents(store, "octavia-butler")[-1] == "new"


def memory_limit(store: MemoryStore) -> str:
    assert isinstance(store, DuckDBStore)
    row = store._db.cursor().execute("SELECT current_setting('memory_limit')").fetchone()
    assert row is not None
    return str(row[0])


def test_a_write_memory_limit_ends_with_the_write(sample_db: Path) -> None:
    """An import's memory limit holds for its write; the reads after it have DuckDB's
    default again (the write's handle is its own)."""
    leases = StoreLeases.for_file(sample_db, idle=None)
    try:
        default = leases.read(memory_limit)
        assert leases.write(memory_limit, memory_limit="256MB") == "244.1 MiB" != default
        assert leases.write(memory_limit) == leases.read(memory_limit) == default
    finally:
        leases.close()


def test_a_write_fails_naming_the_process_that_holds_the_file(sample_db: Path) -> None:
    leases = StoreLeases.for_file(sample_db)
    try:
        with held_database(sample_db) as holder, pytest.raises(StoreLockedError) as failure:
            leases.write(lambda store: store.add_memory("x", [Message(content="lost")]))
        assert f"in use by process {holder.pid}" in str(failure.value)
        # The file is free again: the write goes through, nothing of the failed one.
        leases.write(lambda store: store.add_memory("x", [Message(content="kept")]))
        assert leases.read(lambda store: contents(store, "x")) == ["kept"]
    finally:
        leases.close()


def test_reads_asked_for_during_a_write_wait_for_it(sample_db: Path) -> None:
    leases = StoreLeases.for_file(sample_db, idle=None)
    writing, release = threading.Event(), threading.Event()

    def slow_write(store: MemoryStore) -> None:
        store.add_memory("during", [Message(content="written first")])
        writing.set()
        assert release.wait(10)

    writer = threading.Thread(target=leases.write, args=(slow_write,))
    writer.start()
    try:
        assert writing.wait(10)
        seen: list[list[str]] = []
        reader = threading.Thread(
            target=lambda: seen.append(leases.read(lambda store: contents(store, "during")))
        )
        reader.start()
        reader.join(0.2)
        assert reader.is_alive() and not seen  # waiting for the write
        release.set()
        reader.join(10)
        assert seen == [["written first"]]
    finally:
        release.set()
        writer.join(10)
        leases.close()


# --- requests and replies -----------------------------------------------------------------


@dataclass(frozen=True)
class GatedAppend(AppendMessage):
    """An append that waits for the test to let it write (to show the screen is live)."""

    gate: threading.Event = field(default_factory=threading.Event)

    def run(self, store: MemoryStore, database: Path | None) -> MessagesAppended:
        assert self.gate.wait(10)
        return super().run(store, database)


class Asker(Static):
    """Records the replies it gets."""

    def __init__(self) -> None:
        super().__init__("asker")
        self.replies: list[Reply] = []

    @on(Failed)
    @on(Settled)
    @on(MessagesAppended)
    @on(SessionsLoaded)
    def _reply(self, reply: Reply) -> None:
        self.replies.append(reply)


class AskerHost(App[None]):
    """An app with one widget that asks the data layer."""

    def __init__(self, data: DataLayer) -> None:
        super().__init__()
        self.data = data
        self.asker = Asker()
        self.keys: list[str] = []

    def compose(self) -> ComposeResult:
        yield self.asker

    def on_key(self, event: object) -> None:
        self.keys.append(getattr(event, "key", ""))


async def test_a_write_runs_off_the_screen_and_answers_the_widget_that_asked(
    sample_db: Path,
) -> None:
    data = DataLayer(StoreLeases.for_file(sample_db))
    host = AskerHost(data)
    gate = threading.Event()
    async with host.run_test() as pilot:
        request = GatedAppend(
            "octavia-butler",
            "appended from the app",
            role="Jane",
            role_type="user",
            metadata=(("mood", "curious"),),
            gate=gate,
        )
        worker = data.write(host.asker, request)
        await pilot.press("x")  # the screen answers while the write waits
        assert host.keys == ["x"] and worker.is_running
        gate.set()
        await wait_for_workers(host)
        await pilot.pause()
        # The reply as soon as the write is done, then word that its lease has ended.
        reply, settled = host.asker.replies
        assert isinstance(reply, MessagesAppended) and reply.request is request
        assert isinstance(settled, Settled) and settled.request is request
        [stored] = reply.messages
        assert stored.uuid and stored.created_at and stored.token_count > 0
        data.read(host.asker, SessionsRequest(text="octavia"))
        await wait_for_workers(host)
        await pilot.pause()
        listed = host.asker.replies[-1]
        assert isinstance(listed, SessionsLoaded)
        assert listed.sessions[0].message_count == 13
    data.close()
    with DuckDBStore(sample_db, read_only=True) as store:
        last = store.list_messages("octavia-butler").messages[-1]
    assert (last.uuid, last.content, last.role, last.metadata) == (
        stored.uuid,
        "appended from the app",
        "Jane",
        {"mood": "curious"},
    )
    assert last.role_type is RoleType.user and last.token_count == stored.token_count


async def test_a_failed_request_is_a_message_that_says_why(tmp_path: Path) -> None:
    db = build_store(tmp_path / "held.duckdb", samples=())
    data = DataLayer(StoreLeases.for_file(db))
    host = AskerHost(data)
    async with host.run_test() as pilot:
        with held_database(db) as holder:
            data.read(host.asker, SessionsRequest())
            data.write(host.asker, AppendMessage("s", "never written"))
            await wait_for_workers(host)
            await pilot.pause()
        failures = host.asker.replies
        assert [type(reply.request) for reply in failures] == [SessionsRequest, AppendMessage]
        for failure in failures:
            assert isinstance(failure, Failed) and failure.locked
            assert f"in use by process {holder.pid}" in failure.text
    data.close()
