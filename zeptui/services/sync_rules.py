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
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal

from storage.metadata import SYSTEM_KEY
from storage.models import SessionInventory

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
    plan = Plan(session_id, source, target)
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
    update, conflicts = merge_metadata_3way(source.session.metadata, target.session.metadata, base)
    plan.metadata_update = update
    plan.conflicts.extend(
        ("metadata", f"{key}: the source has {_shown(theirs)}, the target keeps {_shown(ours)}")
        for key, theirs, ours in conflicts
    )
    plan.in_sync = True


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


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= 60 else text[:57] + "..."
