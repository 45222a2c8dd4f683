"""Rows between DuckDB and the models: values as stored (naive UTC times, JSON text),
the column lists the reads select, and reads that no stored value can crash.

Input is checked at the door (storage/limits.py), but a file written by an older
zeptui or another tool may hold values no reader can take: a TIMESTAMP Python cannot
represent, metadata nested past every JSON encoder, an unknown role type. Reads turn
such a value into a safe one and log a warning naming the row, so one bad row never
fails a whole listing.
"""

from __future__ import annotations

import json
import logging
import re
import uuid as uuid_lib
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from storage import limits
from storage.errors import InvalidInputError
from storage.models import Message, RoleType, Session, SessionInfo, Summary, SummaryInfo, User

read_log = logging.getLogger("storage.reads")
"""Where reads report rows they could not show as stored (the CLI prints these)."""

# --- values as stored -----------------------------------------------------------------


def to_db_time(value: datetime) -> datetime:
    """`value` as stored: naive UTC."""
    if value.tzinfo is None:
        return value
    return value.astimezone(UTC).replace(tzinfo=None)


def utc(value: datetime) -> datetime:
    """A stored (naive UTC) time as an aware datetime."""
    return value.replace(tzinfo=UTC)


def from_db_time(value: datetime | None) -> datetime | None:
    """A stored time (or None) as an aware datetime."""
    return None if value is None else utc(value)


def dump_json(value: Any) -> str | None:
    """A value as stored in a JSON column."""
    return None if value is None else _ENCODE(value)


_ENCODE = json.JSONEncoder(ensure_ascii=False).encode
"""`json.dumps(value, ensure_ascii=False)`, without making an encoder per call (a big
summary run dumps tens of thousands of metadata objects)."""


def load_json(value: str | None) -> Any:
    """A JSON column's value."""
    return None if value is None else json.loads(value)


_CANONICAL_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
"""A uuid as `str(uuid.UUID(...))` writes it."""


def parse_uuid(value: str, what: str = "message uuid") -> str:
    """`value` as a canonical uuid string, or InvalidInputError."""
    if isinstance(value, str) and _CANONICAL_UUID.fullmatch(value):
        return value  # (most are: a sync sends the uuids a store gave)
    try:
        return str(uuid_lib.UUID(str(value)))
    except ValueError:
        raise InvalidInputError(f"{what} {value!r} is not a UUID") from None


def within_limits(check: Callable[[Any, str], Any], value: Any, what: str) -> Any:
    """`check(value, what)` with a broken limit as InvalidInputError (a one-line user error)."""
    try:
        return check(value, what)
    except limits.LimitError as error:
        raise InvalidInputError(str(error)) from None


# --- the columns the reads select -------------------------------------------------------

EARLIEST_SQL = "TIMESTAMP '0001-01-01 00:00:00'"
LATEST_SQL = "TIMESTAMP '9999-12-31 23:59:59.999999'"


def _time_sql(column: str) -> str:
    """`column`, or NULL where Python could not represent it."""
    return f"CASE WHEN {column} BETWEEN {EARLIEST_SQL} AND {LATEST_SQL} THEN {column} END"


SESSION_COLUMNS = (
    "s.id, s.uuid, s.session_id, s.user_id, s.metadata, s.facts, "
    f"{_time_sql('s.created_at')}, {_time_sql('s.updated_at')}, {_time_sql('s.deleted_at')}, "
    f"{_time_sql('s.ended_at')}, s.message_count, s.total_tokens, {_time_sql('s.last_activity')}"
)
"""A session (`s`) with its aggregates: for `session_from_row` and `session_info_from_row`."""


# Uuids are read as text: Python's UUID objects cost more to make than the row's reading.
def message_columns(time_function: str = "") -> str:
    """MESSAGE_COLUMNS, with the SQL function `time_function` (if any) applied to the
    times."""

    def time(column: str) -> str:
        return f"{time_function}({_time_sql(column)})" if time_function else _time_sql(column)

    return (
        f"m.uuid::VARCHAR, {time('m.created_at')}, {time('m.updated_at')}, m.role, "
        "m.role_type, m.content, m.token_count, m.metadata"
    )


MESSAGE_COLUMNS = message_columns()
"""A message (`m`): for `message_from_row`."""
SUMMARY_COLUMNS = (
    f"x.uuid, {_time_sql('x.created_at')}, x.content, x.token_count, x.recent_message_uuid, "
    "x.metadata, x.first_message_uuid, x.message_count, x.recent_message_id"
)
"""A summary (`x`): for `summary_info_from_row`."""
USER_COLUMNS = (
    "id, uuid, user_id, email, first_name, last_name, metadata, "
    f"{_time_sql('created_at')}, {_time_sql('updated_at')}"
)
"""A user (from `users`, unqualified): for `user_from_row`."""

# --- safe reads ---------------------------------------------------------------------


def _bad_row(row_name: str, problem: str) -> None:
    read_log.warning("%s: %s", row_name, problem)


def _read_time(value: datetime | None, row_name: str, field: str) -> datetime:
    """A NOT NULL time column; NULL here means it was out of range."""
    if value is None:
        _bad_row(row_name, f"{field} is out of range; shown as 0001-01-01")
        return limits.EARLIEST
    return utc(value)


def _read_json(value: str | None, row_name: str, field: str) -> Any:
    if value is None:
        return None
    try:
        loaded = json.loads(value)
        # Deep nesting is what breaks encoders later: only text with many brackets can be.
        if value.count("{") + value.count("[") > limits.MAX_METADATA_DEPTH and isinstance(
            loaded, dict
        ):
            limits.check_metadata(loaded, field)
        return loaded
    except (ValueError, RecursionError) as error:
        reason = "nested too deep" if isinstance(error, RecursionError) else str(error)
        _bad_row(row_name, f"{field} cannot be read ({reason}); shown as null")
        return None


def read_role_type(value: str | None, row_name: str) -> RoleType:
    """A stored role type; an unknown one (or NULL, schema 1) is shown as norole."""
    if value is None:
        return RoleType.norole
    try:
        return RoleType(value)
    except ValueError:
        _bad_row(row_name, f"unknown role_type {value!r}; shown as norole")
        return RoleType.norole


def session_from_row(row: Sequence[Any]) -> Session:
    """A session from SESSION_COLUMNS."""
    name = f"session {row[2]!r}"
    return Session.model_construct(
        id=row[0],
        uuid=str(row[1]),
        session_id=row[2],
        user_id=row[3],
        metadata=_read_json(row[4], name, "metadata"),
        facts=_read_json(row[5], name, "facts"),
        created_at=_read_time(row[6], name, "created_at"),
        updated_at=_read_time(row[7], name, "updated_at"),
        deleted_at=from_db_time(row[8]),
        ended_at=from_db_time(row[9]),
    )


def session_info_from_row(row: Sequence[Any]) -> SessionInfo:
    """A session with its aggregates from SESSION_COLUMNS."""
    return SessionInfo.model_construct(
        session=session_from_row(row),
        message_count=row[10],
        total_tokens=row[11],
        last_activity=_read_time(row[12], f"session {row[2]!r}", "last_activity"),
    )


def message_from_row(row: Sequence[Any]) -> Message:
    """A message from MESSAGE_COLUMNS."""
    name = f"message {row[0]}"
    return Message.model_construct(
        uuid=str(row[0]),
        created_at=_read_time(row[1], name, "created_at"),
        updated_at=from_db_time(row[2]),
        role=row[3],
        role_type=read_role_type(row[4], name),
        content=row[5],
        token_count=row[6],
        metadata=_read_json(row[7], name, "metadata"),
    )


def summary_info_from_row(row: Sequence[Any]) -> SummaryInfo:
    """A summary with its span from SUMMARY_COLUMNS."""
    name = f"summary {row[0]}"
    summary = Summary.model_construct(
        uuid=str(row[0]),
        created_at=_read_time(row[1], name, "created_at"),
        content=row[2],
        token_count=row[3],
        recent_message_uuid=str(row[4]),
        metadata=_read_json(row[5], name, "metadata"),
    )
    first = None if row[6] is None else str(row[6])
    return SummaryInfo.model_construct(
        summary=summary, first_message_uuid=first, message_count=row[7]
    )


def user_from_row(row: Sequence[Any]) -> User:
    """A user from USER_COLUMNS."""
    name = f"user {row[2]!r}"
    return User.model_construct(
        id=row[0],
        uuid=str(row[1]),
        user_id=row[2],
        email=row[3],
        first_name=row[4],
        last_name=row[5],
        metadata=_read_json(row[6], name, "metadata"),
        created_at=_read_time(row[7], name, "created_at"),
        updated_at=_read_time(row[8], name, "updated_at"),
    )
