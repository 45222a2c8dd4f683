"""The app's request to sync its database with a server (zeptui/services/sync.py),
run by the data layer on a worker under a lease; the sync dialog
(zeptui/app/screens/sync.py) asks for it and shows its progress."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from zeptui.app.data import Failed, Reply, Request

if TYPE_CHECKING:
    from storage.store import MemoryStore
    from zeptui.services.sync import SyncCounts, SyncReport
    from zeptui.services.sync_rules import Direction


class SyncDone(Reply):
    def __init__(self, request: Request, report: SyncReport) -> None:
        super().__init__(request)
        self.report = report


class SyncRequest(Request):
    """One sync of the app's database with the server at `remote`."""

    group = "sync"
    exclusive = False

    def __init__(
        self, direction: Direction, remote: str, progress: Callable[[SyncCounts], None]
    ) -> None:
        self.direction = direction
        self.remote = remote
        self.progress = progress

    def run(self, store: MemoryStore, database: Path | None) -> Reply:
        from zeptui.compose import StoreTarget, open_store
        from zeptui.services import ServiceError
        from zeptui.services.sync import sync_stores
        from zeptui.settings import load

        if database is None:
            failed = Failed(self, RuntimeError())
            failed.text = "pull and push work on a database file; this app is on a server"
            return failed
        settings = load({"database.path": database})
        try:
            with open_store(StoreTarget.remote(self.remote), settings) as remote:
                report = sync_stores(
                    self.direction, store, database, remote, progress=self.progress
                )
        except ServiceError as error:
            failed = Failed(self, error)
            failed.text = str(error)
            return failed
        return SyncDone(self, report)
