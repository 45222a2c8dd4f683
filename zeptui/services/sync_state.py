"""What sync remembers of each remote, kept beside the local store: `<store>.sync`.

A small SQLite file (the standard library's; one transaction per committed batch, so a
killed sync leaves it as of its last batch) with three records per remote:

- the sessions present on both sides at the end of a sync, with the metadata each side
  had then (the base that tells a change on one side from a change on the other, and a
  session deleted since from one never copied; docs/sync.md);
- the users present on both sides, likewise with the fields and metadata each side had;
- for servers that assign their own message uuids (a plain Zep server), the remote uuid
  of each message pushed, so that a push or pull later matches it (the local copy keeps
  its own uuid).

Deleting the file is safe for a zeptui server (uuids match by themselves); it makes the
next sync a first one. Against a plain Zep server it loses the uuid map, and a push would
send again what Zep already holds under its own uuids.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from zeptui.services import ServiceError

SCHEMA = (
    "CREATE TABLE IF NOT EXISTS synced (remote TEXT NOT NULL, session_id TEXT NOT NULL, "
    "local_metadata TEXT, remote_metadata TEXT, PRIMARY KEY (remote, session_id))",
    "CREATE TABLE IF NOT EXISTS synced_users (remote TEXT NOT NULL, user_id TEXT NOT NULL, "
    "local_record TEXT NOT NULL, remote_record TEXT NOT NULL, PRIMARY KEY (remote, user_id))",
    "CREATE TABLE IF NOT EXISTS uuid_map (remote TEXT NOT NULL, local_uuid TEXT NOT NULL, "
    "remote_uuid TEXT NOT NULL, PRIMARY KEY (remote, local_uuid))",
)

Metadata = dict[str, Any] | None


def state_path(store_path: Path) -> Path:
    """Where sync keeps its record of remotes for the store at `store_path`."""
    return store_path.with_name(store_path.name + ".sync")


class SyncState:
    """The record of one remote (its URL without credentials) for one local store.

    Reads are loaded once; writes wait in the open transaction until `commit`. With
    `keep` False (a dry run) it is read, if it exists, and nothing is written."""

    def __init__(self, path: Path | None, remote: str, *, keep: bool = True) -> None:
        self.remote = remote
        self._db: sqlite3.Connection | None = None
        self.synced: dict[str, tuple[Metadata, Metadata]] = {}
        """Session id -> (local, remote) metadata at the end of the last sync."""
        self.synced_users: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {}
        """User id -> (local, remote) fields and metadata at the end of the last sync."""
        self.remote_uuids: dict[str, str] = {}
        """Local message uuid -> the remote's, where the remote chose its own."""
        self.path = path
        if path is None or not (keep or path.exists()):
            return
        with self._failing("read"):
            self._db = sqlite3.connect(path, isolation_level="DEFERRED")
            self._db.execute("PRAGMA synchronous = FULL")
            for statement in SCHEMA:
                self._db.execute(statement)
            self._db.commit()
            for session_id, local, remote_meta in self._db.execute(
                "SELECT session_id, local_metadata, remote_metadata FROM synced WHERE remote = ?",
                [remote],
            ):
                self.synced[session_id] = (_load(local), _load(remote_meta))
            for user_id, local, remote_record in self._db.execute(
                "SELECT user_id, local_record, remote_record FROM synced_users WHERE remote = ?",
                [remote],
            ):
                self.synced_users[user_id] = (json.loads(local), json.loads(remote_record))
            self.remote_uuids = dict(
                self._db.execute(
                    "SELECT local_uuid, remote_uuid FROM uuid_map WHERE remote = ?", [remote]
                ).fetchall()
            )
        if not keep:
            self.close()

    @contextmanager
    def _failing(self, what: str) -> Iterator[None]:
        """SQLite's failures (a read-only folder, a damaged file) as one line."""
        try:
            yield
        except (sqlite3.Error, ValueError) as error:
            raise ServiceError(f"{self.path}: cannot {what} the sync record ({error})") from None

    @property
    def local_uuids(self) -> dict[str, str]:
        """Remote message uuid -> the local one, where they differ."""
        return {remote: local for local, remote in self.remote_uuids.items()}

    def remember(self, session_id: str, local: Metadata, remote: Metadata) -> None:
        """The session is on both sides, with this metadata on each."""
        self.synced[session_id] = (local, remote)
        self._execute(
            "INSERT OR REPLACE INTO synced VALUES (?, ?, ?, ?)",
            [self.remote, session_id, _dump(local), _dump(remote)],
        )

    def forget(self, session_id: str) -> None:
        """The session is on neither side any more (or is no longer synced)."""
        self.synced.pop(session_id, None)
        self._execute(
            "DELETE FROM synced WHERE remote = ? AND session_id = ?", [self.remote, session_id]
        )

    def remember_user(self, user_id: str, local: dict[str, Any], remote: dict[str, Any]) -> None:
        """The user is on both sides, with these fields and metadata on each."""
        self.synced_users[user_id] = (local, remote)
        self._execute(
            "INSERT OR REPLACE INTO synced_users VALUES (?, ?, ?, ?)",
            [self.remote, user_id, _dump(local), _dump(remote)],
        )

    def forget_user(self, user_id: str) -> None:
        """The user is on neither side any more."""
        self.synced_users.pop(user_id, None)
        self._execute(
            "DELETE FROM synced_users WHERE remote = ? AND user_id = ?", [self.remote, user_id]
        )

    def map_uuids(self, pairs: dict[str, str]) -> None:
        """Local uuid -> the uuid the remote gave the same message."""
        self.remote_uuids.update(pairs)
        if self._db is not None and pairs:
            with self._failing("write"):
                self._db.executemany(
                    "INSERT OR REPLACE INTO uuid_map VALUES (?, ?, ?)",
                    [(self.remote, local, remote) for local, remote in pairs.items()],
                )

    def commit(self) -> None:
        """Keep what was recorded since the last commit."""
        if self._db is not None:
            with self._failing("write"):
                self._db.commit()

    def close(self) -> None:
        if self._db is not None:
            db, self._db = self._db, None
            with self._failing("write"):
                db.commit()
                db.close()

    def _execute(self, sql: str, params: list[Any]) -> None:
        if self._db is not None:
            with self._failing("write"):
                self._db.execute(sql, params)


def _dump(value: Metadata) -> str | None:
    return None if value is None else json.dumps(value, sort_keys=True)


def _load(value: str | None) -> Metadata:
    return None if value is None else dict(json.loads(value))
