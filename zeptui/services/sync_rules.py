"""The rules of sync (docs/sync.md), as pure functions: what one session needs, given
what the source and the target hold and what both held at the last sync.

- A session only the source has (never synced) is created on the target, whole.
- A session on both: the source's messages the target lacks are copied (by uuid), and
  its summaries; the target's own messages stay.
- A session deleted on the target (or gone from it since the last sync) is not brought
  back: conflict `deleted_on_target`.
- A session deleted on the source is deleted on the target, unless the target changed
  it since (messages the source never had, or its metadata): then it stays, conflict
  `changed_on_target`. One gone from the source without a trace (purged, or deleted
  on a plain Zep server) stays on the target unless it holds no messages.
- Metadata, key by key against the last sync: a key changed on one side takes that
  side's value; changed on both to different values, the target keeps its own:
  conflict `metadata`.
- A message deleted on the source is deleted on the target; one deleted on the target
  stays deleted (counted in `messages_kept_deleted`).
- A message's metadata that differs on the two sides: the newer change wins (the
  side whose copy was updated last; `newer_metadata`).
- Users as sessions (`plan_user`): created where never synced, kept deleted where
  deleted on the target, deleted where deleted on the source and unchanged on the
  target, and their fields (email, names) and metadata merged key by key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from storage.metadata import SYSTEM_KEY, merge_metadata, without_system
from storage.models import Message, SessionInventory, User

Direction = Literal["pull", "push"]
"""A pull copies the remote into the local store, a push the local store into the remote."""
Metadata = dict[str, Any] | None
Base = tuple[Metadata, Metadata]
"""The (source's, target's) metadata at the end of the last sync."""
_MISSING: Any = object()


@dataclass
class Plan:
    """What sync does to one session on the target."""

    session_id: str
    source: SessionInventory | None
    target: SessionInventory | None
    create: bool = False
    copy: list[str] = field(default_factory=list)
    """Message uuids to copy, oldest first."""
    summaries: list[str] = field(default_factory=list)
    delete_messages: list[str] = field(default_factory=list)
    delete_session: bool = False
    metadata_update: dict[str, Any] = field(default_factory=dict)
    before: Metadata = None
    """The target's metadata at the last sync."""
    kept_keys: set[str] = field(default_factory=set)
    """Metadata keys changed on both sides: the target keeps its value (see `agreed`)."""
    metadata_differs: list[str] = field(default_factory=list)
    """Messages on both sides whose metadata stamps differ (to be read and compared)."""
    message_metadata: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Message uuid -> the source's newer metadata, to merge into the target's."""
    kept_deleted: int = 0
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    """(rule, detail) pairs for the report."""
    in_sync: bool = False
    """Both sides hold the session live once the plan is carried out."""
    forget: bool = False
    """Neither side holds it any more: the record of it goes."""

    @property
    def has_work(self) -> bool:
        return bool(
            self.create
            or self.copy
            or self.summaries
            or self.delete_messages
            or self.delete_session
            or self.metadata_update
            or self.message_metadata
        )

    @property
    def user_id(self) -> str | None:
        return self.source.session.user_id if self.source is not None else None


def _live(item: SessionInventory | None) -> bool:
    return item is not None and item.session.deleted_at is None


def plan_session(
    session_id: str,
    source: SessionInventory | None,
    target: SessionInventory | None,
    base: Base | None,
) -> Plan:
    """The plan for one session (`base` is None when it was never synced)."""
    plan = Plan(session_id, source, target, before=base[1] if base is not None else None)
    if _live(source) and source is not None:
        if target is None and base is None:
            plan.create, plan.in_sync = True, True
            plan.copy, plan.summaries = list(source.messages), list(source.summaries)
        elif not _live(target) or target is None:
            held = set(target.messages + target.deleted_messages) if target else set()
            new = sum(1 for message in source.messages if message not in held)
            since = f"; {new} message(s) on the source not copied" if new else ""
            plan.conflicts.append(
                ("deleted_on_target", f"deleted on the target: kept deleted{since}")
            )
        else:
            _plan_both(plan, source, target, base)
    elif _live(target) and target is not None:
        _plan_deleted_on_source(plan, source, target, base)
    else:
        plan.forget = True
    return plan


def _plan_both(
    plan: Plan, source: SessionInventory, target: SessionInventory, base: Base | None
) -> None:
    held = set(target.messages)
    deleted_there = set(target.deleted_messages)
    plan.copy = [m for m in source.messages if m not in held and m not in deleted_there]
    plan.kept_deleted = sum(1 for m in source.messages if m in deleted_there)
    deleted_here = set(source.deleted_messages)
    plan.delete_messages = [m for m in target.messages if m in deleted_here]
    have = set(target.summaries)
    plan.summaries = [s for s in source.summaries if s not in have]
    theirs, ours = _stamps(source), _stamps(target)
    if theirs is not None and ours is not None:
        plan.metadata_differs = [m for m, stamp in theirs.items() if m in ours and ours[m] != stamp]
    update, conflicts = merge_metadata_3way(source.session.metadata, target.session.metadata, base)
    plan.metadata_update = update
    plan.kept_keys = {key for key, _, _ in conflicts}
    plan.conflicts.extend(_metadata_conflicts(conflicts))
    plan.in_sync = True


def _stamps(item: SessionInventory) -> dict[str, str | None] | None:
    """Message uuid -> metadata stamp, or None from a store that tells no stamps."""
    if len(item.metadata_stamps) != len(item.messages):
        return None
    return dict(zip(item.messages, item.metadata_stamps, strict=True))


def newer_metadata(source: Message, target: Message) -> dict[str, Any] | None:
    """The source's metadata to merge into the target's copy of the same message, if
    the source's copy was updated last and the merge changes the target's (Zep's
    update deep-merges and drops `system`); None when the target's stays."""
    if source.updated_at is None or target.updated_at is None:
        return None
    wanted = without_system(source.metadata) or {}
    if source.updated_at <= target.updated_at or not wanted:
        return None
    return wanted if merge_metadata(target.metadata, wanted) != target.metadata else None


def _plan_deleted_on_source(
    plan: Plan, source: SessionInventory | None, target: SessionInventory, base: Base | None
) -> None:
    if source is None and base is None:
        return  # never synced and not on the source: the target's own
    known = set(source.messages + source.deleted_messages) if source is not None else None
    added = [m for m in target.messages if known is None or m not in known]
    expected = base[1] if base is not None else (source.session.metadata if source else None)
    changed = target.session.metadata != expected
    if added or changed:
        why = (
            f"{len(added)} message(s) the source never had"
            if added and known is not None
            else "gone from the source without a trace, so its changes cannot be told"
            if added
            else "its metadata"
        )
        plan.conflicts.append(
            ("changed_on_target", f"deleted on the source, changed on the target ({why}): kept")
        )
        return
    plan.delete_session = True


def merge_metadata_3way(
    source: Metadata, target: Metadata, base: Base | None
) -> tuple[dict[str, Any], list[tuple[str, Any, Any]]]:
    """The top-level keys to set on the target, and the (key, source's, target's)
    values changed on both sides since `base` (the target keeps its own)."""
    theirs, ours = source or {}, target or {}
    their_base = (base[0] or {}) if base is not None else None
    our_base = (base[1] or {}) if base is not None else None
    update: dict[str, Any] = {}
    conflicts: list[tuple[str, Any, Any]] = []
    for key, value in theirs.items():
        mine = ours.get(key, _MISSING)
        if key == SYSTEM_KEY or value == mine:
            continue
        source_changed = their_base is None or their_base.get(key, _MISSING) != value
        target_changed = mine is not _MISSING and (
            our_base is None or our_base.get(key, _MISSING) != mine
        )
        if not source_changed:
            continue
        if target_changed:
            conflicts.append((key, value, mine))
        else:
            update[key] = value
    return update, conflicts


def agreed(source: Metadata, target: Metadata, before: Metadata, kept: set[str]) -> Metadata:
    """The target's side of the record after a sync: its values where the source has
    the same or the key is `kept` (changed on both sides: said once); for a key it
    changed alone, its value `before` (the last record's), so that a sync the other way
    still sees the change and carries it."""
    if target is None:
        return None
    theirs, earlier = source or {}, before or {}
    record = {}
    for key, value in target.items():
        if key in kept or theirs.get(key, _MISSING) == value:
            record[key] = value
        elif key in earlier:
            record[key] = earlier[key]
    return record


def _metadata_conflicts(changed: list[tuple[str, Any, Any]]) -> list[tuple[str, str]]:
    """The report's lines for keys changed on both sides (the target keeps its own)."""
    return [
        ("metadata", f"{key}: the source has {_shown(theirs)}, the target keeps {_shown(ours)}")
        for key, theirs, ours in changed
    ]


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."


USER_FIELDS = ("email", "first_name", "last_name")
"""A user's fields that sync carries beside its metadata."""


def user_record(user: User) -> dict[str, Any]:
    """A user's fields and metadata as the record of the last sync keeps them."""
    return {**{name: getattr(user, name) for name in USER_FIELDS}, "metadata": user.metadata}


@dataclass
class UserPlan:
    """What sync does to one user on the target."""

    user_id: str
    source: User | None
    target: User | None
    create: bool = False
    fields: dict[str, Any] = field(default_factory=dict)
    """Fields (email, names) to set on the target."""
    metadata_update: dict[str, Any] = field(default_factory=dict)
    delete: bool = False
    kept_deleted: bool = False
    """Deleted on the target and live on the source: its sessions are not created."""
    before: dict[str, Any] | None = None
    """The target's `user_record` at the last sync."""
    kept_fields: set[str] = field(default_factory=set)
    kept_keys: set[str] = field(default_factory=set)
    """Fields and metadata keys changed on both sides (see `agreed`)."""
    conflicts: list[tuple[str, str]] = field(default_factory=list)
    in_sync: bool = False
    forget: bool = False

    @property
    def has_work(self) -> bool:
        return bool(self.create or self.fields or self.metadata_update or self.delete)


UserBase = tuple[dict[str, Any], dict[str, Any]]
"""The (source's, target's) `user_record` at the end of the last sync."""


def plan_user(
    user_id: str, source: User | None, target: User | None, base: UserBase | None
) -> UserPlan:
    """The plan for one user (`base` is None when it was never synced): the rules of
    sessions, its fields (email, names) merged as metadata keys are."""
    plan = UserPlan(user_id, source, target, before=base[1] if base is not None else None)
    if source is not None and source.deleted_at is None:
        if target is None and base is None:
            plan.create = plan.in_sync = True
        elif target is None or target.deleted_at is not None:
            plan.kept_deleted = True
            plan.conflicts.append(
                ("deleted_on_target", "user deleted on the target: kept deleted, with its sessions")
            )
        else:
            _plan_user_fields(plan, source, target, base)
    elif target is not None and target.deleted_at is None:
        if source is None and base is None:
            return plan  # never synced and not on the source: the target's own
        expected = base[1] if base is not None else user_record(source) if source else None
        if user_record(target) != expected:
            plan.conflicts.append(
                ("changed_on_target", "user deleted on the source, changed on the target: kept")
            )
        else:
            plan.delete = True
    else:
        plan.forget = True
    return plan


def _named(record: dict[str, Any]) -> dict[str, Any]:
    """A user record's fields that are set, as metadata keys."""
    return {name: record[name] for name in USER_FIELDS if record[name] is not None}


def _plan_user_fields(plan: UserPlan, source: User, target: User, base: UserBase | None) -> None:
    theirs, ours = user_record(source), user_record(target)
    field_base = (_named(base[0]), _named(base[1])) if base is not None else None
    plan.fields, field_conflicts = merge_metadata_3way(_named(theirs), _named(ours), field_base)
    metadata_base = (base[0]["metadata"], base[1]["metadata"]) if base is not None else None
    plan.metadata_update, conflicts = merge_metadata_3way(
        theirs["metadata"], ours["metadata"], metadata_base
    )
    plan.kept_fields = {name for name, _, _ in field_conflicts}
    plan.kept_keys = {key for key, _, _ in conflicts}
    plan.conflicts.extend(_metadata_conflicts([*field_conflicts, *conflicts]))
    plan.in_sync = True


def agreed_user(plan: UserPlan, source: User, target: User) -> dict[str, Any]:
    """The target's side of a user's record after a sync (`agreed`, fields as keys)."""
    theirs, ours = user_record(source), user_record(target)
    before = plan.before or {name: None for name in ("metadata", *USER_FIELDS)}
    fields = agreed(_named(theirs), _named(ours), _named(before), plan.kept_fields) or {}
    return {
        **{name: fields.get(name) for name in USER_FIELDS},
        "metadata": agreed(
            theirs["metadata"], ours["metadata"], before["metadata"], plan.kept_keys
        ),
    }
