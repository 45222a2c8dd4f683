"""Deterministic uuids for the rows the store creates.

Sessions, users and summaries get name-based (version 5) uuids: a session's
uuid follows from its `session_id`, a user's from its `user_id`, a summary's
from the last message it covers (and how many summaries ended there before).
So the same history imported into two stores gets the same uuids, and tests and
snapshots are repeatable. Messages keep the uuid their client or importer gave
them, or get a random one.
"""

from __future__ import annotations

import uuid

STORE_NAMESPACE = uuid.UUID("9a3f6c1e-2d4b-5e8f-a1c7-5b0d3e9f7a24")


def session_uuid(session_id: str) -> str:
    return str(uuid.uuid5(STORE_NAMESPACE, f"session\x1f{session_id}"))


def session_uuid_sql(session_id: str) -> str:
    """`session_uuid` in SQL, of a VARCHAR expression."""
    return uuid5_sql(STORE_NAMESPACE, f"'session' || chr(31) || {session_id}")


def user_uuid(user_id: str) -> str:
    return str(uuid.uuid5(STORE_NAMESPACE, f"user\x1f{user_id}"))


def summary_uuid(recent_message_uuid: str, revision: int = 0) -> str:
    """The uuid of a summary ending at that message; `revision` counts the summaries
    that ended there before (soft-deleted ones, when a session is summarised again)."""
    name = f"summary\x1f{recent_message_uuid}"
    return str(uuid.uuid5(STORE_NAMESPACE, f"{name}\x1f{revision}" if revision else name))


def summary_uuid_sql(recent_message_uuid: str, revision: str) -> str:
    """`summary_uuid` in SQL, of a UUID expression and an integer one."""
    name = (
        f"'summary' || chr(31) || {recent_message_uuid}::VARCHAR || "
        f"CASE WHEN {revision} > 0 THEN chr(31) || {revision}::VARCHAR ELSE '' END"
    )
    return uuid5_sql(STORE_NAMESPACE, name)


def uuid5_sql(namespace: uuid.UUID, name_sql: str) -> str:
    """A DuckDB expression equal to `uuid.uuid5(namespace, <name_sql>)`.

    SHA-1 of the namespace bytes and the UTF-8 name, then the version (5) and
    variant (RFC 4122) bits, as Python's `uuid.uuid5` does.
    """
    namespace_blob = "".join(f"\\x{byte:02x}" for byte in namespace.bytes)
    digest = f"sha1('{namespace_blob}'::BLOB || encode({name_sql}))"
    # The digest written out at each use, not as a scalar subquery: DuckDB computes
    # a repeated expression once (common subexpressions), whereas it turns the
    # subquery into a grouping and a join (most of reading a file's rows).
    return (
        f"(substr({digest}, 1, 12) || '5' || substr({digest}, 14, 3) "
        f"|| substr('89ab', (('0x' || substr({digest}, 17, 1))::INTEGER & 3) + 1, 1) "
        f"|| substr({digest}, 18, 15))::UUID"
    )
