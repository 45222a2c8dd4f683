"""What every reader does to the sessions it builds: hand long ones to the store in
parts, and give messages without a time the nearest earlier one."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from storage import import_rules
from storage.import_rules import TimeFill
from storage.models import Message, SessionImport

__all__ = ["SessionParts", "fill_times", "in_parts", "part_size"]


def part_size() -> int:
    """How many messages a part holds at most: `storage.import_rules.PART_MESSAGES`,
    which the fast path follows too."""
    return import_rules.PART_MESSAGES


class SessionParts:
    """A session built a message at a time, handed out in parts of at most
    `part_size()` messages: consecutive SessionImports of one session, which the store
    applies as one session (the first carries its fields, the others its id and user).
    Memory holds one part, however long the session."""

    def __init__(self, head: SessionImport) -> None:
        self.part = head
        self.first = True
        self.size = part_size()

    @property
    def session_id(self) -> str:
        return self.part.session_id

    def add(self, message: Message) -> SessionImport | None:
        """Add `message`; a full part to yield, if this one filled it."""
        self.part.messages.append(message)
        if len(self.part.messages) < self.size:
            return None
        return self._next()

    def _next(self) -> SessionImport:
        full = self.part
        self.part = SessionImport(session_id=full.session_id, user_id=full.user_id)
        self.first = False
        return full

    def end(self) -> Iterator[SessionImport]:
        """What is left to yield: the last part (the first always, even if empty: an
        empty session is still a session)."""
        if self.first or self.part.messages:
            yield self._next()


def in_parts(session: SessionImport) -> Iterator[SessionImport]:
    """A whole session as parts (see `SessionParts`)."""
    messages = session.messages
    if len(messages) <= part_size():
        yield session
        return
    session.messages = []
    parts = SessionParts(session)
    for message in messages:
        full = parts.add(message)
        if full is not None:
            yield full
    yield from parts.end()


def fill_times(messages: Iterable[Message], start: datetime | None) -> datetime | None:
    """Give each message without `created_at` the nearest earlier time in its
    conversation, else `start`, the conversation's own time (else it stays None: the
    store takes the import time, as Zep does on add). Returns the last time, to go on
    with in the next part of the conversation."""
    fill = TimeFill(start)
    for message in messages:
        message.created_at = fill(message.created_at)
    return fill.last
