"""The rules every import path applies to what it reads, each written once, in Python
and in SQL generated from the same constants.

The readers in `zeptui.importers` apply them in Python; the DuckDB store's fast path
for Zep JSONL (`storage/duckdb/zep_jsonl.py`) applies them in one SQL query.
`tests/test_import_rules.py` checks that each rule's Python and SQL agree, and
`tests/test_zep_bulk.py` that both paths store the same thing.

- **Zep's role conventions** (`zep_role`): v2 gives `role_type` (the enum) and
  `role` (the speaker's name); v3 gives `role` as the enum and `name`, which becomes
  the role; v0.x gives a free-form `role` (`human` is a user, `ai` an assistant, a
  role-type value is itself, anything else has no role type).
- **The uuid of a message imported without one** (`import_uuid`): uuid5 of the
  message's identifying parts, so importing a file twice adds nothing.
- **Go's zero time** (`0001-01-01...`) means unset (`is_zero_time`).
- **Times are never invented** (`TimeFill`): a message without a time takes the
  nearest earlier time of its session (else the import's time, as Zep's add does).
- **Long sessions go to the store in parts** of `PART_MESSAGES`.
"""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime

from storage.ids import uuid5_sql
from storage.models import RoleType

ZEP_IMPORT_NAMESPACE = uuid.UUID("3b5c7c4e-5f0e-4a8e-9d63-2f1e8c0b6a71")
"""The uuid5 namespace for messages imported without a uuid (both paths use it)."""

PART_MESSAGES = 5_000
"""The importers hand a session with more messages to the store in parts of this many,
so memory holds one part however long the session; a session's `created_at`, when
the file does not give it, is the earliest time in its first part, in both paths."""

ROLE_TYPES: tuple[str, ...] = tuple(role_type.value for role_type in RoleType)
"""Zep's role types, in its order."""
ROLE_TYPES_SQL = "[" + ", ".join(f"'{value}'" for value in ROLE_TYPES) + "]"
"""ROLE_TYPES as a DuckDB list literal."""

V0_ROLES: dict[str, RoleType] = {"human": RoleType.user, "ai": RoleType.assistant}
"""Free-form v0.x roles (compared in lower case) that name a role type."""

ZERO_TIME_PREFIX = "0001-01-01"
"""Go's zero time, which Zep writes for an unset time."""

_SEPARATOR = "\x1f"
"""Between the parts of an import uuid's name (U+001F, in no ordinary text)."""


# --- roles ------------------------------------------------------------------------------


def zep_role(role: str, role_type: str | None, name: str | None) -> tuple[str, RoleType | None]:
    """The (role, role type) a Zep message is stored with.

    `role` is the message's role ("" if absent); `role_type` is None (or "": absent)
    or one of ROLE_TYPES (the reader rejects any other); `name` is None if absent.
    """
    if role_type:  # v2: role_type is the enum, role the speaker's name
        return role, RoleType(role_type)
    if name is not None and role in ROLE_TYPES:  # v3: role + name
        return name, RoleType(role)
    if role in ROLE_TYPES:
        return role, RoleType(role)
    return role, V0_ROLES.get(role.lower())  # v0.x / LangChain: free-form role


def zep_role_type_sql(role: str, role_type: str) -> str:
    """`zep_role(...)[1]` in SQL: `role` is VARCHAR ('' if absent), `role_type` NULL if
    absent or empty; NULL for no role type."""
    v0 = " ".join(
        f"WHEN lower({role}) = '{free}' THEN '{kind.value}'" for free, kind in V0_ROLES.items()
    )
    return (
        f"CASE WHEN {role_type} IS NOT NULL THEN {role_type} "
        f"WHEN list_contains({ROLE_TYPES_SQL}, {role}) THEN {role} {v0} END"
    )


def zep_role_sql(role: str, role_type: str, name: str, has_name: str) -> str:
    """`zep_role(...)[0]` in SQL: as `zep_role_type_sql`, with `name` ('' if absent) and
    `has_name` (whether the record has a non-null name)."""
    return (
        f"CASE WHEN {role_type} IS NULL AND {has_name} "
        f"AND list_contains({ROLE_TYPES_SQL}, {role}) THEN {name} ELSE {role} END"
    )


# --- uuids ------------------------------------------------------------------------------


def import_uuid(*parts: str) -> str:
    """The uuid an importer gives a message that has none: uuid5 of `parts` joined by
    U+001F, in ZEP_IMPORT_NAMESPACE (`import_uuid_sql` computes the same). Text with a
    lone surrogate, which the models then refuse, is hashed without raising."""
    name = _SEPARATOR.join(parts).encode("utf-8", "surrogatepass")
    digest = hashlib.sha1(ZEP_IMPORT_NAMESPACE.bytes + name, usedforsecurity=False).digest()
    return str(uuid.UUID(bytes=digest[:16], version=5))


def import_uuid_sql(*parts: str) -> str:
    """`import_uuid` in SQL, of VARCHAR expressions."""
    joined = f" || chr({ord(_SEPARATOR)}) || ".join(f"({part})" for part in parts)
    return uuid5_sql(ZEP_IMPORT_NAMESPACE, joined)


def zep_message_uuid(
    session_id: str, index: int, role_type: RoleType | None, role: str, content: str
) -> str:
    """The uuid of a Zep message without one: from its session, its 0-based place in
    the session in the file, and its stored role type, role and content."""
    kind = role_type.value if role_type else ""
    return import_uuid(session_id, str(index), kind, role, content)


def zep_message_uuid_sql(
    session_id: str, index: str, role_type: str, role: str, content: str
) -> str:
    """`zep_message_uuid` in SQL (`role_type` NULL for none, `index` an integer)."""
    return import_uuid_sql(
        session_id,
        f"({index})::VARCHAR",
        f"coalesce({role_type}, '')",
        role,
        f"coalesce({content}, '')",
    )


# --- times ------------------------------------------------------------------------------


def is_zero_time(text: str) -> bool:
    """Whether a time as written is Go's zero time (unset)."""
    return text.startswith(ZERO_TIME_PREFIX)


def zero_time_sql(text: str) -> str:
    """`is_zero_time` in SQL, of a VARCHAR expression."""
    return f"starts_with({text}, '{ZERO_TIME_PREFIX}')"


class TimeFill:
    """The times of one session's messages in file order, with those missing filled:
    a message without a time takes the nearest earlier one (`start`, the session's
    own, before the first); None while there is none."""

    def __init__(self, start: datetime | None = None) -> None:
        self.last = start

    def __call__(self, created_at: datetime | None) -> datetime | None:
        """The time to store for a message read with `created_at`."""
        if created_at is None:
            return self.last
        self.last = created_at
        return created_at


def time_fill_sql(created_at: str, session: str, order: str) -> str:
    """`TimeFill` in SQL: `created_at`, else the nearest earlier one of rows with the
    same `session` in `order` (a window expression)."""
    return (
        f"coalesce({created_at}, last_value({created_at} IGNORE NULLS) OVER ("
        f"PARTITION BY {session} ORDER BY {order} "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW))"
    )
