"""Sync: one store's users, sessions, messages and summaries copied into another.

`pull` is the remote's store copied into the local one, `push` the local one into the
remote's: the same `Sync` from a source to a target. Both stores are compared by their
inventories (`SyncInventory`: every session, deleted ones too, with the uuids it holds;
built from Zep's core API for a plain Zep server), a plan is made for each session by
the rules of docs/sync.md (nothing deleted on one side comes back, nothing changed on
both sides is overwritten: each case is a conflict in the report), then carried out in
batches (zeptui/services/sync_batches.py): the source's sessions read in bulk where it
offers it, written with `BulkImport` (one transaction of messages and summaries at a
time) where the target offers it, else through Zep's add memory. The stores work side
by side: the next batch is read while one is written, and two batches may be on their
way to a bulk-importing target (it checks one while it stores the other).

Messages are matched by uuid, so a second run copies nothing and an interrupted one
(a lost network, a killed process) is finished by the next: each batch is committed on
the target before the record beside the local store (`SyncState`) notes it, and
batches are recorded in order.
"""

from __future__ import annotations

import contextlib
import time
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from storage.capabilities import (
    BulkImport,
    MessageDeletion,
    SummaryImport,
    SyncInventory,
    offered,
)
from storage.errors import ConflictError, MessageConflictError, NotFoundError
from storage.models import (
    CreateSessionRequest,
    ImportResult,
    InventoryQuery,
    Message,
    SessionContents,
    SessionImport,
    SummaryInfo,
)
from storage.store import MemoryStore
from zeptui.services import ServiceError
from zeptui.services.sync_batches import BATCH_MESSAGES, BatchWrites, batch_writes, cut_batches
from zeptui.services.sync_inventory import read_inventory, read_messages
from zeptui.services.sync_report import SyncConflict, SyncReport
from zeptui.services.sync_rules import Direction, Plan, agreed, newer_metadata, plan_session
from zeptui.services.sync_state import SyncState, state_path
from zeptui.services.sync_users import UserSync

if TYPE_CHECKING:
    from zeptui.compose import StoreTarget
    from zeptui.settings import Settings

__all__ = [
    "Direction",
    "Sync",
    "SyncConflict",
    "SyncCounts",
    "SyncReport",
    "SyncScope",
    "run_sync",
    "sync_stores",
]

ADD_MEMORY_CHUNK = 200
"""Messages per add memory call, on a target without bulk import."""
FEW_MESSAGES = 10
"""Messages with differing metadata in a session read one at a time; more, and both
sides' histories are read whole."""
WRITES_IN_FLIGHT = 2
"""Batches on their way to a target that imports sessions whole: it reads and checks
one while it stores the one before. Each is recorded once it and those before it
are stored."""


@dataclass(frozen=True)
class SyncScope:
    """Which sessions a sync looks at: named ones, a user's, or those changed since."""

    session_ids: tuple[str, ...] = ()
    user_id: str | None = None
    since: datetime | None = None


@dataclass
class SyncCounts:
    """How far a sync got: sessions with work and messages to copy, and those done."""

    sessions: int = 0
    messages: int = 0
    sessions_done: int = 0
    messages_done: int = 0
    started: float = field(default_factory=time.monotonic)

    def rate(self) -> float:
        """Messages copied per second since the sync started."""
        return self.messages_done / max(time.monotonic() - self.started, 1e-6)


SyncProgress = Callable[[SyncCounts], None]
"""Told the counts once planned and after each batch (read them, do not keep them)."""


@dataclass
class _Written:
    """What a batch's writes stored, told to the report when the batch is recorded."""

    messages: int = 0
    summaries: int = 0
    left_out: list[MessageConflictError] = field(default_factory=list)
    """Messages whose uuid another session holds on the target."""


class Sync:
    """A sync of `source` into `target` within `scope` (`direction` says which of them
    is the remote: the source for a pull, the target for a push)."""

    def __init__(
        self,
        source: MemoryStore,
        target: MemoryStore,
        state: SyncState,
        *,
        direction: Direction,
        scope: SyncScope = SyncScope(),
        dry_run: bool = False,
        progress: SyncProgress | None = None,
    ) -> None:
        self.source, self.target, self.state = source, target, state
        self.direction, self.scope, self.dry_run = direction, scope, dry_run
        self.progress = progress or (lambda counts: None)
        self.counts = SyncCounts()
        self.report = SyncReport(
            direction=direction, source=source.location, target=target.location, dry_run=dry_run
        )
        self.users = UserSync(source, target, state, self.report, direction=direction)
        # A plain Zep server's own uuids, as local ones (the remote side's inventory).
        self._source_names = state.local_uuids if direction == "pull" else {}
        self._target_names = state.local_uuids if direction == "push" else {}

    def run(self) -> SyncReport:
        """Plan every session and user in scope, then carry the plans out: users made
        first, sessions batch by batch, users deleted last."""
        started = time.monotonic()
        plans = self._plan()
        scope = self.scope
        narrowed = bool(scope.session_ids or scope.user_id or scope.since)
        self.users.plan(plans, narrowed=narrowed, user_id=scope.user_id, since=scope.since)
        for plan in plans:
            self._read_message_metadata(plan)
        self.counts.sessions = sum(1 for plan in plans if plan.has_work)
        self.counts.messages = sum(len(plan.copy) for plan in plans)
        self.progress(self.counts)
        self._tally(plans)
        if self.dry_run:
            self.users.count()
        else:
            self.users.before_sessions()
            self._apply(plans)
            self.users.after_sessions()
        self.report.seconds = round(time.monotonic() - started, 3)
        return self.report

    # --- planning ----------------------------------------------------------------

    def _plan(self) -> list[Plan]:
        scope = self.scope
        query = InventoryQuery(
            session_ids=list(scope.session_ids) or None,
            user_id=scope.user_id,
            changed_since=scope.since,
        )
        found = {
            item.session.session_id: item
            for item in read_inventory(self.source, query, self._source_names)
        }
        for session_id in scope.session_ids:
            if session_id not in found and session_id not in self.state.synced:
                raise ServiceError(f"session {session_id!r} is not on {self.source.location}")
        named = list(found)
        if scope.since is None:  # sessions synced before and gone from the source since
            named += [
                session_id
                for session_id in self.state.synced
                if session_id not in found
                and (not scope.session_ids or session_id in scope.session_ids)
            ]
        there = {
            item.session.session_id: item
            for item in read_inventory(
                self.target, InventoryQuery(session_ids=named), self._target_names
            )
        }
        plans = []
        for session_id in named:
            target = there.get(session_id)
            foreign = target is None or target.session.user_id != scope.user_id
            if session_id not in found and scope.user_id is not None and foreign:
                continue
            base = self.state.synced.get(session_id)
            if base is not None and self.direction == "pull":
                base = (base[1], base[0])  # (source's, target's)
            plans.append(plan_session(session_id, found.get(session_id), target, base))
        return plans

    def _tally(self, plans: list[Plan]) -> None:
        report = self.report
        for plan in plans:
            report.conflicts.extend(
                SyncConflict(session_id=plan.session_id, rule=rule, detail=detail)
                for rule, detail in plan.conflicts
            )
            report.messages_kept_deleted += plan.kept_deleted
            if not plan.has_work:
                report.sessions_unchanged += 1
            elif self.dry_run:
                self._count_done(plan)

    def _count_done(self, plan: Plan) -> None:
        report = self.report
        if plan.create:
            report.sessions_created += 1
        elif plan.delete_session:
            report.sessions_deleted += 1
        else:
            report.sessions_updated += 1
        if self.dry_run:
            report.messages_copied += len(plan.copy)
            report.messages_deleted += len(plan.delete_messages)
            report.messages_updated += len(plan.message_metadata)
            report.summaries_copied += len(plan.summaries)

    def _read_message_metadata(self, plan: Plan) -> None:
        """The messages whose metadata stamps differ, read on both sides (one at a time
        when few, else both histories whole): those whose source copy is newer and
        would change the target's are planned."""
        differs, session_id = plan.metadata_differs, plan.session_id
        if len(differs) > FEW_MESSAGES:
            theirs = _by_uuid(read_messages(self.source, session_id), self._source_names)
            ours = _by_uuid(read_messages(self.target, session_id), self._target_names)
            pairs = [(theirs.get(name), ours.get(name)) for name in differs]
        else:
            pairs = [
                (
                    _message(self.source, session_id, self._source_uuid(name)),
                    _message(self.target, session_id, self._target_uuid(name)),
                )
                for name in differs
            ]
        for name, (source, target) in zip(differs, pairs, strict=True):
            update = newer_metadata(source, target) if source and target else None
            if update is not None:  # (a message deleted meanwhile: the next sync sees it)
                plan.message_metadata[name] = update

    # --- carrying out ------------------------------------------------------------

    def _apply(self, plans: list[Plan]) -> None:
        """The plans in batches (`cut_batches`): each batch's contents are read from the
        source while the one before is written, and up to WRITES_IN_FLIGHT batches go
        to a target that imports sessions whole at once; each batch is recorded, in
        order, once written."""
        for plan in plans:
            if not plan.has_work:
                self._settle(plan)
        batches = cut_batches([plan for plan in plans if plan.has_work])
        if not batches:
            return
        bulk = offered(self.target, BulkImport) is not None
        sending: deque[tuple[list[Plan], BatchWrites, Future[_Written]]] = deque()
        with (
            ThreadPoolExecutor(1, thread_name_prefix="zeptui-sync-read") as reader,
            ThreadPoolExecutor(WRITES_IN_FLIGHT, thread_name_prefix="zeptui-sync-write") as writer,
        ):
            ahead = reader.submit(self._contents, batches[0])
            for number, batch in enumerate(batches, start=1):
                contents = ahead.result()
                if number < len(batches):
                    ahead = reader.submit(self._contents, batches[number])
                writes = batch_writes(batch, contents, self._source_names, bulk=bulk)
                if not bulk:  # Zep's add memory and the uuid map: here, one at a time
                    self._record(batch, writes, self._send(writes))
                    continue
                if len(sending) == WRITES_IN_FLIGHT:
                    self._record_sent(sending.popleft())
                sending.append((batch, writes, writer.submit(self._send, writes)))
            while sending:
                self._record_sent(sending.popleft())

    def _record_sent(self, sent: tuple[list[Plan], BatchWrites, Future[_Written]]) -> None:
        plans, writes, written = sent
        self._record(plans, writes, written.result())

    def _record(self, plans: list[Plan], writes: BatchWrites, written: _Written) -> None:
        """A batch written: the report told, the sessions finished and recorded."""
        self.counts.messages_done += written.messages
        self.report.messages_copied += written.messages - len(written.left_out)
        self.report.summaries_copied += written.summaries
        self.report.conflicts += [
            SyncConflict(
                session_id=conflict.session_id,
                rule="message_elsewhere",
                detail=f"message {conflict.message_uuid} is session "
                f"{conflict.holder_session_id!r}'s on the target: left out",
            )
            for conflict in written.left_out
        ]
        self._copy_summaries(writes.summaries)  # after the messages they end on
        for plan in plans:
            self._finish(plan)
        self.state.commit()
        self.progress(self.counts)

    def _contents(self, plans: list[Plan]) -> dict[str, SessionContents]:
        """The messages and summaries of the sessions the plans copy from, as the source
        holds them: in bulk where it offers it, a session with a long history (or from
        a plain Zep) alone."""
        bulk = offered(self.source, SyncInventory)
        found: dict[str, SessionContents] = {}
        names: list[str] = []
        for plan in plans:
            if not plan.copy and not plan.summaries:
                continue
            history = len(plan.source.messages) if plan.source is not None else 0
            if bulk is None or history > BATCH_MESSAGES:
                found[plan.session_id] = SessionContents(
                    session_id=plan.session_id,
                    messages=read_messages(self.source, plan.session_id) if plan.copy else [],
                    summaries=self.source.list_summaries(plan.session_id) if plan.summaries else [],
                )
            else:
                names.append(plan.session_id)
        if bulk is not None and names:
            found.update((item.session_id, item) for item in bulk.session_contents(names))
        return found

    def _send(self, writes: BatchWrites) -> _Written:
        """A batch's messages into the target (a transaction each with bulk import;
        this may run beside the main thread: it touches nothing but the target)."""
        written = _Written()
        bulk = offered(self.target, BulkImport)
        for transaction in writes.transactions:
            if bulk is not None:
                result = self._import(bulk, transaction.parts, written.left_out)
                written.summaries += result.summaries_imported
            else:
                for part in transaction.parts:
                    self._add_memory(part)
            written.messages += transaction.messages
        return written

    @staticmethod
    def _import(
        bulk: BulkImport, parts: list[SessionImport], left_out: list[MessageConflictError]
    ) -> ImportResult:
        """One transaction on the target; a message whose uuid another session holds
        there is left out and added to `left_out` (the parts are sent again without it)."""
        try:
            return bulk.import_sessions(parts, counted=True)
        except ConflictError:  # a MessageConflictError (a server's 409 says no more)
            return bulk.import_sessions(parts, on_conflict=left_out.append, counted=True)

    def _add_memory(self, part: SessionImport) -> None:
        """A part through Zep's core API: the session made first if new, then its
        messages; uuids the server replaced with its own are recorded."""
        if part.created_at is not None or part.metadata is not None or part.user_id:
            request = CreateSessionRequest(
                session_id=part.session_id, user_id=part.user_id, metadata=part.metadata
            )
            with contextlib.suppress(ConflictError):  # made by an interrupted run
                self.target.add_session(request)
        if not part.messages:
            return
        for start in range(0, len(part.messages), ADD_MEMORY_CHUNK):
            self.target.add_memory(part.session_id, part.messages[start : start + ADD_MEMORY_CHUNK])
        stored = read_messages(self.target, part.session_id)[-len(part.messages) :]
        pairs = {
            mine.uuid: theirs.uuid
            for mine, theirs in zip(part.messages, stored, strict=False)
            if mine.uuid and theirs.uuid and mine.uuid != theirs.uuid
        }
        if pairs and self.direction == "push":
            self.state.map_uuids(pairs)
            self._note("message uuids and times: the server gave its own (mapped locally)")

    def _finish(self, plan: Plan) -> None:
        """What follows a session's messages: deletions, metadata, the record."""
        target = self.target
        session_id = plan.session_id
        self.counts.sessions_done += 1
        if plan.delete_session:
            target.delete_session(session_id)
            self.report.sessions_deleted += 1
            self.state.forget(session_id)
            return
        if plan.delete_messages:
            deletion = offered(target, MessageDeletion)
            if deletion is None:
                self._note("message deletions: the server deletes whole sessions only")
            else:
                for message_uuid in plan.delete_messages:
                    deletion.delete_message(session_id, self._target_uuid(message_uuid))
                self.report.messages_deleted += len(plan.delete_messages)
        for message_uuid, metadata in plan.message_metadata.items():
            with contextlib.suppress(NotFoundError):  # deleted meanwhile
                target.update_message_metadata(
                    session_id, self._target_uuid(message_uuid), metadata
                )
                self.report.messages_updated += 1
        target_metadata = plan.target.session.metadata if plan.target is not None else None
        if plan.metadata_update:
            target_metadata = target.update_session(session_id, plan.metadata_update).metadata
        elif plan.create and plan.source is not None:
            target_metadata = plan.source.session.metadata
        self._count_done(plan)
        self._remember(plan, target_metadata)

    def _copy_summaries(self, by_session: dict[str, list[SummaryInfo]]) -> None:
        if not by_session:
            return
        importing = offered(self.target, SummaryImport)
        if importing is None:
            self._note("summaries: the server makes its own and takes none")
            return
        self.report.summaries_copied += importing.import_summaries(by_session)

    def _settle(self, plan: Plan) -> None:
        """A session with nothing to do: its record follows what both sides hold."""
        if plan.forget:
            self.state.forget(plan.session_id)
        elif plan.in_sync and plan.target is not None:
            self._remember(plan, plan.target.session.metadata)

    def _remember(self, plan: Plan, target_metadata: dict[str, Any] | None) -> None:
        source_metadata = plan.source.session.metadata if plan.source is not None else None
        target_metadata = agreed(source_metadata, target_metadata, plan.before, plan.kept_keys)
        local, remote = (
            (target_metadata, source_metadata)
            if self.direction == "pull"
            else (source_metadata, target_metadata)
        )
        self.state.remember(plan.session_id, local, remote)

    def _source_uuid(self, message_uuid: str) -> str:
        if self.direction == "pull":
            return self.state.remote_uuids.get(message_uuid, message_uuid)
        return message_uuid

    def _target_uuid(self, message_uuid: str) -> str:
        if self.direction == "push":
            return self.state.remote_uuids.get(message_uuid, message_uuid)
        return message_uuid

    def _note(self, what: str) -> None:
        if what not in self.report.not_carried:
            self.report.not_carried.append(what)


def _message(store: MemoryStore, session_id: str, message_uuid: str) -> Message | None:
    try:
        return store.get_message(session_id, message_uuid)
    except NotFoundError:
        return None


def _by_uuid(history: list[Message], renamed: dict[str, str]) -> dict[str, Message]:
    """A history by uuid, a plain Zep server's own uuids as the local ones."""
    return {renamed.get(m.uuid, m.uuid): m for m in history if m.uuid is not None}


def run_sync(
    direction: Direction,
    local: Path,
    remote: StoreTarget,
    settings: Settings,
    *,
    scope: SyncScope = SyncScope(),
    dry_run: bool = False,
    progress: SyncProgress | None = None,
) -> SyncReport:
    """Open the remote's store, then the local file (a pull creates it; a dry run into
    a missing one compares with an empty store; a push opens it read-only), and sync."""
    from zeptui.compose import StoreTarget, open_store

    if direction == "pull" and dry_run and not local.exists():
        local_target = StoreTarget.file(Path(":memory:"))
    else:
        local_target = StoreTarget.file(local)
    with (
        open_store(remote, settings) as remote_store,
        open_store(local_target, settings, read_only=direction == "push") as store,
    ):
        return sync_stores(
            direction, store, local, remote_store, scope=scope, dry_run=dry_run, progress=progress
        )


def sync_stores(
    direction: Direction,
    store: MemoryStore,
    local: Path,
    remote: MemoryStore,
    *,
    scope: SyncScope = SyncScope(),
    dry_run: bool = False,
    progress: SyncProgress | None = None,
) -> SyncReport:
    """Sync the local `store` (the file at `local`, whose `<local>.sync` records the
    remote) with the `remote` store, one into the other as `direction` says."""
    state = SyncState(state_path(local), remote.location.rstrip("/"), keep=not dry_run)
    source, target = (remote, store) if direction == "pull" else (store, remote)
    try:
        return Sync(
            source,
            target,
            state,
            direction=direction,
            scope=scope,
            dry_run=dry_run,
            progress=progress,
        ).run()
    finally:
        state.close()
