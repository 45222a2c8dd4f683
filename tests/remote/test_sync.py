"""`zeptui sync pull|push` between a real DuckDB file and a real `zeptui serve` app on
another DuckDB file: complete copies, idempotent runs, a failing network, a sync killed
half-way and resumed, the rules for deletions and conflicts, a plain Zep server that
chooses its own uuids, and the API key kept out of every output."""

from __future__ import annotations

import json
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from storage.duckdb import DuckDBStore
from storage.errors import NotFoundError
from storage.models import (
    CreateSessionRequest,
    CreateUserRequest,
    Message,
    RoleType,
    SessionImport,
)
from storage.store import MemoryStore
from tests.cli_helpers import (
    Terminal,
    console_script,
    fail,
    one_error_line,
    run,
    script_env,
)
from tests.remote.conftest import Sleeps
from tests.remote.proxy import Fault, proxying
from tests.server.conftest import API_KEY, Served, ServeFactory
from tests.server.harness import serving
from zeptui.remote import RemoteStore, open_remote
from zeptui.server import ServerOptions, create_app
from zeptui.services.sync import Sync, SyncReport, SyncScope
from zeptui.services.sync_state import SyncState, state_path

WHEN = datetime(2024, 5, 1, 12, tzinfo=UTC)
WRONG_KEY = "z_wrong-sync-key-77aa"
POLLS = 400
"""Bounded waits: this many polls of POLL seconds."""
POLL = 0.05


def conversation(session_id: str, count: int, start: int = 0) -> list[Message]:
    return [
        Message(
            uuid=str(uuid.uuid4()),
            created_at=WHEN + timedelta(minutes=n),
            role="Jane" if n % 2 == 0 else "Bot",
            role_type=RoleType.user if n % 2 == 0 else RoleType.assistant,
            content=f"{session_id}: message {n} about the weather in Lisbon. It rains.",
            metadata={"n": n},
        )
        for n in range(start, start + count)
    ]


def fill(store: MemoryStore, sessions: int = 3, messages: int = 30) -> None:
    store.add_user(
        CreateUserRequest(user_id="jane", email="jane@example.com", metadata={"tier": "gold"})
    )
    for number in range(sessions):
        session_id = f"s{number}"
        store.add_session(
            CreateSessionRequest(
                session_id=session_id, user_id="jane", metadata={"topic": f"t{number}"}
            )
        )
        store.add_memory(session_id, conversation(session_id, messages))


def snapshot(store: MemoryStore, *, summaries: bool = True) -> dict[str, Any]:
    """What a sync must carry, through the store interface alone (a store that makes
    summaries itself is compared without them)."""
    users = [(u.user_id, u.email, u.first_name, u.metadata) for u in store.list_users()]
    sessions = {}
    for session in store.list_sessions():
        name = session.session_id
        messages = store.list_messages(name, limit=10_000).messages
        made = store.list_summaries(name) if summaries else []
        sessions[name] = (
            session.user_id,
            session.metadata,
            session.created_at,
            [
                (m.uuid, m.created_at, m.role, m.role_type, m.content, m.metadata, m.token_count)
                for m in messages
            ],
            [
                (
                    x.summary.uuid,
                    x.summary.content,
                    x.summary.recent_message_uuid,
                    x.first_message_uuid,
                    x.message_count,
                )
                for x in made
            ],
        )
    return {"users": users, "sessions": sessions}


def sync_json(*args: str | Path, code: int = 0) -> dict[str, Any]:
    return dict(json.loads(run("sync", *args, "--json", code=code).stdout))


def test_pull_copies_everything_once_and_a_dry_run_writes_nothing(served: Served, db: Path) -> None:
    fill(served.store)
    assert any(served.store.list_summaries(f"s{n}") for n in range(3))
    planned = sync_json("pull", "--remote", served.url, "--dry-run")
    counts = [planned[key] for key in ("messages_copied", "sessions_created", "users_created")]
    assert counts == [90, 3, 1]
    assert not db.exists() and not state_path(db).exists()

    first = sync_json("pull", "--remote", served.url)
    assert (first["messages_copied"], first["sessions_created"], first["users_created"]) == (
        90,
        3,
        1,
    )
    assert first["summaries_copied"] > 0 and first["conflicts"] == []
    with DuckDBStore(db, read_only=True) as local:
        assert snapshot(local) == snapshot(served.store)
        summaries = local.list_summaries("s0")
        served_summaries = served.store.list_summaries("s0")
        assert [x.summary.created_at for x in summaries] == [
            x.summary.created_at for x in served_summaries
        ]

    second = sync_json("pull", "--remote", served.url)
    moved = [second[key] for key in ("messages_copied", "summaries_copied", "users_created")]
    assert moved == [0, 0, 0] and second["sessions_unchanged"] == 3
    human = run("sync", "pull", "--remote", served.url).stdout
    assert "copied: 0 messages" in human and "3 unchanged" in human


def test_push_through_a_network_failing_a_fifth_of_requests_ends_complete(
    served: Served, db: Path
) -> None:
    with DuckDBStore(db, background_summaries=False) as local:
        fill(local, sessions=4, messages=25)
        local.add_session(CreateSessionRequest(session_id="empty", metadata={"k": 1}))
    with proxying(served.url, failure_rate=0.2) as proxy:
        report = sync_json("push", "--remote", proxy.url)
        assert report["messages_copied"] == 100 and report["sessions_created"] == 5
        assert sync_json("push", "--remote", proxy.url)["messages_copied"] == 0
        assert proxy.count("POST", "/zeptui/import") >= 2
    with DuckDBStore(db, read_only=True) as local:
        assert snapshot(served.store) == snapshot(local)


def _two_batches(path: Path) -> None:
    """3 sessions of 1,700 messages: two batches of a push (BATCH_MESSAGES)."""
    with DuckDBStore(path, summarizer=None) as store:
        store.import_sessions(
            SessionImport(session_id=f"big{n}", messages=conversation(f"big{n}", 1_700))
            for n in range(3)
        )


@pytest.fixture
def quiet(tmp_path: Path) -> Iterator[Served]:
    """A server whose store makes no summaries (a push of thousands stays quick)."""
    with (
        DuckDBStore(tmp_path / "quiet.duckdb", summarizer=None) as store,
        serving(create_app(store, ServerOptions())) as url,
    ):
        yield Served(url, store)


def test_a_push_killed_half_way_is_finished_by_the_next(
    quiet: Served, tmp_path: Path, terminal: list[Terminal]
) -> None:
    served = quiet
    env = script_env(tmp_path)
    local = Path(env["ZEPTUI_DB"])
    _two_batches(local)
    with proxying(served.url) as proxy:
        # One batch goes through; the other (both are sent at once) is told to come
        # back in a minute, and the process is killed while it waits.
        proxy.inject(
            Fault("delay", path="/zeptui/import", delay=0.0),
            Fault("status", path="/zeptui/import", status=503, retry_after="60"),
        )
        command = [console_script(), "sync", "push", "--remote", proxy.url, "--json"]
        process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            for _ in range(POLLS):
                if proxy.count("POST", "/zeptui/import") >= 2 or process.poll() is not None:
                    break
                time.sleep(POLL)
            process.send_signal(signal.SIGKILL)
        finally:
            process.wait(timeout=20)
            process.stdout.close()  # type: ignore[union-attr]
            process.stderr.close()  # type: ignore[union-attr]
        assert process.returncode == -signal.SIGKILL
        for _ in range(POLLS):  # the batch that went through may still be stored
            if served.store.stats().messages:
                break
            time.sleep(POLL)
        held = served.store.stats().messages
        assert held in (1_700, 3_400)  # half-way: a whole batch
        # Resumed at a terminal: the progress line, then the report.
        resumed = Terminal(["sync", "push", "--remote", proxy.url], env)
        terminal.append(resumed)
        resumed.read_until(b"done in")
        assert resumed.wait() == 0
        assert "messages · ".encode() in resumed.output  # the progress line
        assert f"copied: {5_100 - held:,} messages".encode() in resumed.output
    with DuckDBStore(local, read_only=True) as store:
        assert snapshot(store) == snapshot(served.store)


@pytest.fixture
def remote(served: Served, sleeps: Sleeps) -> Iterator[RemoteStore]:
    with open_remote(served.url, sleep=sleeps) as store:
        yield store


def pull(remote: MemoryStore, local: MemoryStore, state: Path) -> SyncReport:
    record = SyncState(state, "remote")
    try:
        return Sync(remote, local, record, direction="pull").run()
    finally:
        record.close()


def test_deletions_and_conflicts_follow_the_written_rules(
    served: Served, remote: RemoteStore, tmp_path: Path
) -> None:
    theirs = served.store
    for name in "abcde":
        theirs.add_session(CreateSessionRequest(session_id=name, metadata={"topic": name}))
        theirs.add_memory(name, conversation(name, 3))
    state = tmp_path / "local.duckdb.sync"
    with DuckDBStore(tmp_path / "local.duckdb", summarizer=None) as ours:
        assert pull(remote, ours, state).sessions_created == 5
        ours.delete_session("a")  # deleted here...
        theirs.add_memory("a", conversation("a", 1, start=3))  # ...changed there
        theirs.delete_session("b")  # deleted there, unchanged here
        theirs.delete_session("c")  # deleted there...
        ours.add_memory("c", conversation("c", 1, start=3))  # ...changed here
        theirs.update_session("d", {"topic": "theirs", "color": "red"})
        ours.update_session("d", {"topic": "ours"})
        taken = conversation("f", 1)
        ours.add_memory("f", taken)  # a uuid this store holds in session f...
        theirs.add_memory("e", taken)  # ...arrives in session e
        gone = theirs.list_messages("e").messages[0].uuid
        theirs.delete_message("e", gone)

        report = pull(remote, ours, state)
        rules = sorted((c.session_id, c.rule) for c in report.conflicts)
        assert rules == [
            ("a", "deleted_on_target"),
            ("c", "changed_on_target"),
            ("d", "metadata"),
            ("e", "message_elsewhere"),
        ]
        assert "1 message(s) on the source not copied" in report.conflicts[0].detail
        assert (report.sessions_deleted, report.messages_deleted) == (1, 1)
        for name in ("a", "b"):
            with pytest.raises(NotFoundError):
                ours.get_session(name)
        assert len(ours.list_messages("c").messages) == 4
        assert ours.get_session("d").metadata == {"topic": "ours", "color": "red"}
        kept = [m.uuid for m in ours.list_messages("e").messages]
        assert gone not in kept and taken[0].uuid not in kept and len(kept) == 2

        again = pull(remote, ours, state)
        assert again.messages_copied == 0 and again.sessions_deleted == 0
        assert "d" not in {c.session_id for c in again.conflicts}  # said once


def test_a_zep_server_choosing_its_own_uuids_is_pushed_once_through_the_map(
    served: Served, sleeps: Sleeps, tmp_path: Path
) -> None:
    path = tmp_path / "local.duckdb"
    with DuckDBStore(path, summarizer=None) as ours:
        fill(ours, sessions=2, messages=5)
        mine = snapshot(ours)
        with (
            proxying(served.url, hide_zeptui=True, zep_ids=True) as proxy,
            open_remote(proxy.url, sleep=sleeps) as zep,
        ):
            record = SyncState(state_path(path), proxy.url)
            first = Sync(ours, zep, record, direction="push").run()
            assert first.messages_copied == 10 and first.sessions_created == 2
            assert any("uuids" in note for note in first.not_carried)
            served_uuids = {m.uuid for m in served.store.list_messages("s0").messages}
            assert served_uuids.isdisjoint(m[0] for m in mine["sessions"]["s0"][3])
            assert Sync(ours, zep, record, direction="push").run().messages_copied == 0
            # Metadata edited here after the copy reaches the message under Zep's uuid.
            edited = mine["sessions"]["s0"][3][1][0]
            ours.update_message_metadata("s0", edited, {"tag": "edited"})
            again = Sync(ours, zep, record, direction="push").run()
            assert (again.messages_copied, again.messages_updated) == (0, 1)
            theirs = [m.metadata for m in served.store.list_messages("s0").messages]
            assert theirs[1] == {"n": 1, "tag": "edited"}
            back = Sync(zep, ours, record, direction="pull").run()
            assert (back.messages_copied, back.messages_updated, back.conflicts) == (0, 0, [])
            record.close()
        now = snapshot(ours)["sessions"]["s0"][3][1]
        assert now[:2] == mine["sessions"]["s0"][3][1][:2]  # its own uuid and time
        mine["sessions"]["s0"][3][1] = now  # with the tag
        assert snapshot(ours) == mine  # the local copy keeps its own uuids and times


def test_the_api_key_is_checked_and_never_shown(
    serve: ServeFactory, db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyed = serve(api_key=API_KEY)
    fill(keyed.store, sessions=1, messages=3)
    missing = fail("sync", "pull", "--remote", keyed.url)
    monkeypatch.setenv("ZEPTUI_API_KEY", WRONG_KEY)
    wrong = run("sync", "pull", "--remote", keyed.url, code=1)
    assert WRONG_KEY not in wrong.stdout + wrong.stderr
    for line in (missing, one_error_line(wrong.stderr)):
        assert "key" in line.lower()
    monkeypatch.setenv("ZEPTUI_API_KEY", API_KEY)
    outputs = [
        run("sync", direction, "--remote", keyed.url, *extra)
        for direction in ("pull", "push")
        for extra in ((), ("--json",))
    ]
    for result in outputs:
        assert API_KEY not in result.stdout + result.stderr
    assert API_KEY.encode() not in state_path(db).read_bytes()
    assert API_KEY.encode() not in db.read_bytes()
    # A named remote (zeptui remote add) with its key in a variable of its own.
    monkeypatch.delenv("ZEPTUI_API_KEY")
    monkeypatch.setenv("TEAM_KEY", API_KEY)
    run("remote", "add", "team", keyed.url, "--api-key-env", "TEAM_KEY")
    named = run("sync", "pull", "--remote", "team", "--json")
    assert json.loads(named.stdout)["sessions_unchanged"] == 1
    assert API_KEY not in named.stdout + named.stderr


def test_a_sync_narrowed_to_sessions_a_user_or_recent_changes(
    served: Served, remote: RemoteStore, tmp_path: Path
) -> None:
    for user in ("ana", "bo"):
        served.store.add_user(CreateUserRequest(user_id=user, first_name=user.title()))
    for name, user in (("a", "ana"), ("b", "bo"), ("c", "ana")):
        served.store.add_session(CreateSessionRequest(session_id=name, user_id=user))
        served.store.add_memory(name, conversation(name, 2))
    path = tmp_path / "local.duckdb"
    with DuckDBStore(path, summarizer=None) as ours:
        record = SyncState(state_path(path), "remote")

        def pull_only(scope: SyncScope) -> SyncReport:
            return Sync(remote, ours, record, direction="pull", scope=scope).run()

        tomorrow = datetime.now(UTC) + timedelta(days=1)
        assert pull_only(SyncScope(since=tomorrow)).sessions_created == 0
        named = pull_only(SyncScope(session_ids=("b",)))
        assert (named.sessions_created, named.users_created) == (1, 1)
        by_user = pull_only(SyncScope(user_id="ana"))
        assert (by_user.sessions_created, by_user.messages_copied) == (2, 4)
        assert [s.session_id for s in ours.list_sessions()] == ["b", "a", "c"]
        assert [(u.user_id, u.first_name) for u in ours.list_users()] == [
            ("bo", "Bo"),
            ("ana", "Ana"),
        ]
        record.close()


def test_a_push_leaves_out_a_message_the_server_holds_in_another_session(
    served: Served, remote: RemoteStore, tmp_path: Path
) -> None:
    taken = conversation("x", 1)
    served.store.add_memory("theirs", taken)
    with DuckDBStore(tmp_path / "local.duckdb", summarizer=None) as ours:
        ours.add_memory("mine", [*taken, *conversation("mine", 2, start=1)])
        report = Sync(ours, remote, SyncState(None, "remote"), direction="push").run()
    assert [(c.session_id, c.rule) for c in report.conflicts] == [("mine", "message_elsewhere")]
    assert report.messages_copied == 2
    assert [m.metadata for m in served.store.list_messages("mine").messages] == [
        {"n": 1},
        {"n": 2},
    ]


def test_a_damaged_sync_record_is_one_line_and_nothing_is_copied(served: Served, db: Path) -> None:
    with DuckDBStore(db, summarizer=None) as local:
        fill(local, sessions=1, messages=2)
    state_path(db).write_bytes(b"not a database, whatever it was")
    line = fail("sync", "push", "--remote", served.url)
    assert "sync record" in line and str(state_path(db)) in line
    assert served.store.stats().messages == 0
