"""The users of a sync, by the rules sessions follow (docs/sync.md, `plan_user`).

Both stores' users are read whole (deleted ones too where the store tells them) and
compared with the record of the last sync. A user the target lacks is created before
the sessions' messages are written (a session's user must exist), fields and metadata
changed on the source are set then too, and a user deleted on the source is deleted on
the target after the sessions, if nothing of it is left to keep there.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable
from datetime import datetime

from storage.capabilities import BulkImport, offered
from storage.errors import ConflictError
from storage.models import CreateUserRequest, UpdateUserRequest, User
from storage.store import MemoryStore
from zeptui.services.sync_inventory import read_users
from zeptui.services.sync_report import SyncConflict, SyncReport
from zeptui.services.sync_rules import (
    Direction,
    Plan,
    UserPlan,
    agreed_user,
    plan_user,
    user_record,
)
from zeptui.services.sync_state import SyncState


class UserSync:
    """The users' part of one sync of `source` into `target`."""

    def __init__(
        self,
        source: MemoryStore,
        target: MemoryStore,
        state: SyncState,
        report: SyncReport,
        *,
        direction: Direction,
    ) -> None:
        self.source, self.target, self.state, self.report = source, target, state, report
        self.direction = direction
        self.plans: list[UserPlan] = []

    def plan(
        self,
        sessions: list[Plan],
        *,
        narrowed: bool,
        user_id: str | None = None,
        since: datetime | None = None,
    ) -> None:
        """Plan every user (or, in a narrowed sync, those the sessions name, `user_id`,
        and those changed `since`); hold back sessions of users kept deleted."""
        theirs = {user.user_id: user for user in read_users(self.source)}
        ours = {user.user_id: user for user in read_users(self.target)}
        if narrowed:
            named = {user_id} | {
                item.session.user_id
                for plan in sessions
                for item in (plan.source, plan.target)
                if item is not None
            }
            named |= {name for name, user in theirs.items() if since and _changed(user, since)}
            wanted = [name for name in [*theirs, *ours] if name in named]
        else:
            wanted = [*theirs, *self.state.synced_users]
        for name in dict.fromkeys(wanted):
            base = self.state.synced_users.get(name)
            if base is not None and self.direction == "pull":
                base = (base[1], base[0])  # (source's, target's)
            self.plans.append(plan_user(name, theirs.get(name), ours.get(name), base))
        deleting = {plan.session_id for plan in sessions if plan.delete_session}
        for plan in self.plans:
            if plan.delete:
                self._keep_if_in_use(plan, deleting)
            self.report.conflicts.extend(
                SyncConflict(user_id=plan.user_id, rule=rule, detail=detail)
                for rule, detail in plan.conflicts
            )
        self._hold_back(sessions)

    def count(self) -> None:
        """A dry run's counts: what `before_sessions` and `after_sessions` would do."""
        for plan in self.plans:
            self.report.users_created += plan.create
            self.report.users_updated += bool(plan.fields or plan.metadata_update)
            self.report.users_deleted += plan.delete

    def before_sessions(self) -> None:
        """Users created and updated (a session's user must exist), and recorded."""
        created = [plan for plan in self.plans if plan.create]
        self._create([plan.source for plan in created if plan.source is not None])
        for plan in self.plans:
            if plan.source is None or plan.delete:
                continue
            target = plan.target
            if plan.fields or plan.metadata_update:
                request = UpdateUserRequest(**plan.fields, metadata=plan.metadata_update or None)
                target = self.target.update_user(plan.user_id, request)
                self.report.users_updated += 1
            if plan.in_sync:
                self._remember(plan, plan.source, target or plan.source)
        self.state.commit()

    def after_sessions(self) -> None:
        """Users deleted on the source deleted here; the record follows."""
        for plan in self.plans:
            if plan.delete:
                self.target.delete_user(plan.user_id)
                self.report.users_deleted += 1
                self.state.forget_user(plan.user_id)
            elif plan.forget:
                self.state.forget_user(plan.user_id)
        self.state.commit()

    def _create(self, users: Iterable[User]) -> None:
        requests = [
            CreateUserRequest.model_validate(user.model_dump(exclude_none=True)) for user in users
        ]
        if not requests:
            return
        bulk = offered(self.target, BulkImport)
        if bulk is not None:
            self.report.users_created += bulk.import_sessions([], requests).users_created
            return
        for request in requests:
            with contextlib.suppress(ConflictError):  # made by an earlier, interrupted try
                self.target.add_user(request)
                self.report.users_created += 1

    def _keep_if_in_use(self, plan: UserPlan, deleting: set[str]) -> None:
        """A user deleted on the source stays while the target keeps sessions of it."""
        kept = [
            session.session_id
            for session in self.target.get_user_sessions(plan.user_id)
            if session.session_id not in deleting
        ]
        if kept:
            plan.delete = False
            shown = ", ".join(kept[:3]) + (", ..." if len(kept) > 3 else "")
            plan.conflicts.append(
                (
                    "changed_on_target",
                    f"user deleted on the source, with {len(kept)} session(s) kept on "
                    f"the target ({shown}): kept",
                )
            )

    def _hold_back(self, sessions: list[Plan]) -> None:
        """A session of a user kept deleted on the target is not created there."""
        kept_deleted = {plan.user_id for plan in self.plans if plan.kept_deleted}
        for plan in sessions:
            if plan.create and plan.user_id in kept_deleted:
                plan.create = plan.in_sync = False
                plan.copy, plan.summaries = [], []
                plan.conflicts.append(
                    ("deleted_on_target", f"its user {plan.user_id} is deleted on the target")
                )

    def _remember(self, plan: UserPlan, source: User, target: User) -> None:
        records = (user_record(source), agreed_user(plan, source, target))
        local, remote = records if self.direction == "push" else records[::-1]
        self.state.remember_user(plan.user_id, local, remote)


def _changed(user: User, since: datetime) -> bool:
    return any(time is not None and time >= since for time in (user.updated_at, user.deleted_at))
