"""What sync carries beyond new messages, between a real DuckDB file and a real `zeptui
serve` on another: message metadata edited after a copy (the newer change wins) and
users (created, updated, deleted by the rules of sessions), both ways, each store
checked directly. One server serves the module; each test keeps to its own user."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from storage.duckdb import DuckDBStore
from storage.errors import NotFoundError
from storage.models import CreateSessionRequest, CreateUserRequest, UpdateUserRequest
from storage.store import MemoryStore
from tests.remote.proxy import Fault, proxying
from tests.remote.test_sync import conversation
from tests.server.conftest import Served
from tests.server.harness import serving
from zeptui.remote import RemoteStore, open_remote
from zeptui.server import ServerOptions, create_app
from zeptui.services.sync import Sync, SyncReport, SyncScope
from zeptui.services.sync_rules import Direction
from zeptui.services.sync_state import SyncState, state_path


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Served, RemoteStore]]:
    """A server without summaries, and a remote store on it, for the whole module."""
    path = tmp_path_factory.mktemp("served") / "served.duckdb"
    with (
        DuckDBStore(path, summarizer=None) as store,
        serving(create_app(store, ServerOptions())) as url,
        open_remote(url, sleep=lambda seconds: None) as remote,
    ):
        yield Served(url, store), remote


class Pair:
    """A local file and a server, synced one way or the other (narrowed to `user`)."""

    def __init__(
        self, theirs: DuckDBStore, remote: RemoteStore, local: DuckDBStore, path: Path
    ) -> None:
        self.theirs, self.remote, self.local, self.path = theirs, remote, local, path
        self.user: str | None = None

    def sync(
        self, direction: Direction, *, dry_run: bool = False, since: datetime | None = None
    ) -> SyncReport:
        record = SyncState(state_path(self.path), "remote", keep=not dry_run)
        source, target = (
            (self.remote, self.local) if direction == "pull" else (self.local, self.remote)
        )
        try:
            return Sync(
                source,
                target,
                record,
                direction=direction,
                scope=SyncScope(user_id=self.user, since=since),
                dry_run=dry_run,
            ).run()
        finally:
            record.close()


@pytest.fixture
def pair(shared: tuple[Served, RemoteStore], tmp_path: Path) -> Iterator[Pair]:
    """A fresh local file and the module's server."""
    served, remote = shared
    path = tmp_path / "local.duckdb"
    with DuckDBStore(path, summarizer=None) as local:
        yield Pair(served.store, remote, local, path)


def user_session(store: MemoryStore, user_id: str, metadata: dict[str, Any] | None = None) -> str:
    """A user of its own with a session `<user>-s`, whose id is returned."""
    store.add_user(CreateUserRequest(user_id=user_id, first_name=user_id.title()))
    session_id = f"{user_id}-s"
    store.add_session(
        CreateSessionRequest(session_id=session_id, user_id=user_id, metadata=metadata)
    )
    return session_id


def metadata_of(store: MemoryStore, session_id: str) -> list[Any]:
    return [message.metadata for message in store.list_messages(session_id).messages]


def test_message_metadata_edited_after_a_copy_follows_the_newer_change(pair: Pair) -> None:
    theirs, ours = pair.theirs, pair.local
    user_session(theirs, "meta")
    theirs.add_memory("meta-s", conversation("meta-s", 16))
    uuids = [message.uuid or "" for message in theirs.list_messages("meta-s").messages]
    pair.user = "meta"
    assert pair.sync("pull").messages_copied == 16
    theirs.update_message_metadata("meta-s", uuids[0], {"tag": "theirs"})
    ours.update_message_metadata("meta-s", uuids[1], {"tag": "ours"})
    theirs.update_message_metadata("meta-s", uuids[2], {"tag": "theirs, older"})
    ours.update_message_metadata("meta-s", uuids[2], {"tag": "ours, newer"})
    ours.update_message_metadata("meta-s", uuids[3], {"tag": "ours, older"})
    theirs.update_message_metadata("meta-s", uuids[3], {"tag": "theirs, newer"})

    planned = pair.sync("pull", dry_run=True)
    assert (planned.messages_updated, planned.sessions_updated) == (2, 1)
    assert metadata_of(ours, "meta-s")[0] == {"n": 0}  # a dry run writes nothing
    pulled = pair.sync("pull")
    assert (pulled.messages_updated, pulled.messages_copied, pulled.conflicts) == (2, 0, [])
    assert metadata_of(ours, "meta-s")[:4] == [
        {"n": 0, "tag": "theirs"},
        {"n": 1, "tag": "ours"},
        {"n": 2, "tag": "ours, newer"},
        {"n": 3, "tag": "theirs, newer"},
    ]
    assert pair.sync("pull").messages_updated == 0  # a second run changes nothing
    since = datetime.now(UTC)
    theirs.update_message_metadata("meta-s", uuids[0], {"tag": "theirs, again"})
    assert pair.sync("pull", since=since).messages_updated == 1  # a recent change

    for message_uuid in uuids[4:]:  # many in one session: both histories read whole
        ours.update_message_metadata("meta-s", message_uuid, {"many": True})
    assert pair.sync("push").messages_updated == 2 + 12
    assert metadata_of(theirs, "meta-s") == metadata_of(ours, "meta-s")
    assert [pair.sync(way).messages_updated for way in ("push", "pull")] == [0, 0]


def _user(store: MemoryStore, user_id: str) -> tuple[Any, ...] | None:
    try:
        user = store.get_user(user_id)
    except NotFoundError:
        return None
    return (user.email, user.first_name, user.last_name, user.metadata)


def test_a_user_deleted_on_the_target_stays_deleted_with_its_new_sessions(pair: Pair) -> None:
    theirs, ours = pair.theirs, pair.local
    user_session(theirs, "gone")
    pair.user = "gone"
    assert pair.sync("pull").users_created == 1
    ours.delete_user("gone")
    theirs.add_session(CreateSessionRequest(session_id="gone-2", user_id="gone"))
    theirs.add_memory("gone-2", conversation("gone-2", 2))
    for _ in range(2):  # said at every run while it lasts
        report = pair.sync("pull")
        copied = (report.users_created, report.sessions_created, report.messages_copied)
        assert copied == (0, 0, 0)
        assert sorted((c.subject, c.rule) for c in report.conflicts) == [
            ("gone-2", "deleted_on_target"),
            ("gone-s", "deleted_on_target"),
            ("user gone", "deleted_on_target"),
        ]
    assert _user(ours, "gone") is None
    with pytest.raises(NotFoundError):
        ours.get_session("gone-2")


def test_users_are_created_updated_and_deleted_both_ways(served: Served, tmp_path: Path) -> None:
    theirs = served.store
    theirs.add_user(
        CreateUserRequest(user_id="ana", email="ana@old.example", metadata={"tier": "gold"})
    )
    theirs.add_user(CreateUserRequest(user_id="bo", first_name="Bo"))
    theirs.add_session(CreateSessionRequest(session_id="bo-1", user_id="bo"))
    theirs.add_memory("bo-1", conversation("bo-1", 2))
    theirs.add_user(CreateUserRequest(user_id="cy", last_name="Cy"))
    path = tmp_path / "local.duckdb"
    with (
        DuckDBStore(path, summarizer=None) as ours,
        open_remote(served.url, sleep=lambda seconds: None) as remote,
    ):
        pair = Pair(theirs, remote, ours, path)
        assert pair.sync("pull").users_created == 3
        # Changed on one side, the other, or both (the target keeps its own).
        theirs.update_user("ana", UpdateUserRequest(email="ana@new.example"))
        theirs.update_user("ana", UpdateUserRequest(metadata={"tier": "platinum", "since": 2020}))
        ours.update_user("ana", UpdateUserRequest(first_name="Ana", metadata={"tier": "silver"}))
        ours.delete_user("bo")  # deleted here, unchanged there
        theirs.delete_user("cy")  # deleted there...
        ours.update_user("cy", UpdateUserRequest(first_name="Cyril"))  # ...changed here

        pulled = pair.sync("pull")
        assert (pulled.users_created, pulled.users_updated, pulled.users_deleted) == (0, 1, 0)
        assert sorted((c.subject, c.rule) for c in pulled.conflicts) == [
            ("bo-1", "deleted_on_target"),
            ("user ana", "metadata"),
            ("user bo", "deleted_on_target"),
            ("user cy", "changed_on_target"),
        ]
        assert _user(ours, "ana") == (
            "ana@new.example",
            "Ana",
            None,
            {"tier": "silver", "since": 2020},
        )
        assert _user(ours, "bo") is None and _user(ours, "cy") == (None, "Cyril", "Cy", None)

        pushed = pair.sync("push")
        assert (pushed.users_created, pushed.users_updated, pushed.users_deleted) == (0, 1, 1)
        assert [(c.subject, c.rule) for c in pushed.conflicts] == [("user cy", "deleted_on_target")]
        # The name changed here alone goes; the tier changed on both stays as each has it.
        assert _user(theirs, "ana") == (
            "ana@new.example",
            "Ana",
            None,
            {"tier": "platinum", "since": 2020},
        )
        assert _user(theirs, "bo") is None and _user(theirs, "cy") is None
        with pytest.raises(NotFoundError):
            theirs.get_session("bo-1")  # its session went with it (unchanged there)

        for direction in ("pull", "push"):
            again = pair.sync(direction)
            assert (again.users_created, again.users_updated, again.users_deleted) == (0, 0, 0)
            assert "user ana" not in {c.subject for c in again.conflicts}  # said once


def test_a_metadata_key_changed_here_alone_goes_with_a_push_after_a_pull(pair: Pair) -> None:
    theirs, ours = pair.theirs, pair.local
    user_session(theirs, "keys", {"a": 1, "b": 1})
    pair.user = "keys"
    pair.sync("pull")
    ours.update_session("keys-s", {"a": "ours"})
    theirs.update_session("keys-s", {"b": "theirs"})
    assert pair.sync("pull").conflicts == []
    assert ours.get_session("keys-s").metadata == {"a": "ours", "b": "theirs"}
    assert pair.sync("push").sessions_updated == 1
    assert theirs.get_session("keys-s").metadata == {"a": "ours", "b": "theirs"}
    for direction in ("pull", "push"):
        assert pair.sync(direction).sessions_unchanged == 1


def test_a_server_that_lists_no_deleted_users_is_synced_by_its_live_ones(pair: Pair) -> None:
    theirs, ours = pair.theirs, pair.local
    user_session(theirs, "older")
    with (
        proxying(pair.remote.location) as proxy,
        open_remote(proxy.url, sleep=lambda seconds: None) as remote,
    ):
        proxy.inject(Fault("status", path="/zeptui/user-inventory", status=404, times=2))
        pair.remote, pair.user = remote, "older"
        assert pair.sync("pull").users_created == 1
        theirs.update_user("older", UpdateUserRequest(email="older@example.com"))
        assert pair.sync("pull").users_updated == 1
    assert _user(ours, "older") == ("older@example.com", "Older", None, None)
