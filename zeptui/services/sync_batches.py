"""How sync cuts its copying up: the plans into batches (one read of the source, one
commit of the record), and each batch's messages into transactions on the target, of
at most BATCH_MESSAGES messages or BATCH_BYTES of text, each session's summaries
travelling with its last part.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from storage.models import Message, SessionContents, SessionImport, SummaryInfo
from zeptui.services.sync_rules import Plan

BATCH_MESSAGES = 5_000
"""Messages written to the target per transaction (and recorded per commit)..."""
BATCH_BYTES = 4_000_000
"""...or fewer, when their text comes to this (a remote store sends a batch over its
server's body limit in several requests: zeptui/remote/bodies.py)."""


@dataclass
class Transaction:
    """Session parts on their way to the target in one transaction."""

    parts: list[SessionImport] = field(default_factory=list)
    messages: int = 0
    size: int = 0


@dataclass
class BatchWrites:
    """What a batch sends: its transactions, and the summaries of the sessions that
    send no messages (or of every session, to a target without bulk import)."""

    transactions: list[Transaction]
    summaries: dict[str, list[SummaryInfo]]


def cut_batches(plans: list[Plan]) -> list[list[Plan]]:
    """The plans (those with work) in batches of about BATCH_MESSAGES messages to copy;
    a plan with more is a batch of its own."""
    batches: list[list[Plan]] = []
    planned = 0
    for plan in plans:
        if not batches or planned + len(plan.copy) > BATCH_MESSAGES:
            batches.append([])
            planned = 0
        batches[-1].append(plan)
        planned += len(plan.copy)
    return batches


def batch_writes(
    plans: list[Plan],
    contents: dict[str, SessionContents],
    renamed: dict[str, str],
    *,
    bulk: bool,
) -> BatchWrites:
    """The batch's writes, from the source's `contents` of its sessions (`renamed`:
    the source's own message uuids -> the local ones); with `bulk` (the target imports
    sessions whole) the summaries go with the messages."""
    transactions = [Transaction()]
    alone: dict[str, list[SummaryInfo]] = {}
    for plan in plans:
        read = contents.get(plan.session_id)
        summaries = _wanted_summaries(plan, read)
        sends = bool(plan.copy or plan.create)
        if summaries and not (bulk and sends):
            alone[plan.session_id] = summaries
            summaries = []
        if not sends:
            continue
        history = read.messages if read else []
        for part, size in session_parts(plan, history, summaries, renamed):
            pending = transactions[-1]
            full = (
                pending.messages + len(part.messages) > BATCH_MESSAGES
                or pending.size + size > BATCH_BYTES
            )
            if full and pending.parts:
                pending = Transaction()
                transactions.append(pending)
            pending.parts.append(part)
            pending.messages += len(part.messages)
            pending.size += size
    return BatchWrites([t for t in transactions if t.parts], alone)


def session_parts(
    plan: Plan, history: list[Message], summaries: list[SummaryInfo], renamed: dict[str, str]
) -> Iterator[tuple[SessionImport, int]]:
    """The plan's messages from the source's `history`, as session parts of at most
    BATCH_MESSAGES messages (a part of a created session carries its fields, the
    last part the session's `summaries`), each with its size (`message_size`)."""
    wanted = set(plan.copy)
    # Sent as read: the target keeps the uuid, time and checked token count and sets
    # its own update time.
    messages = [
        message for message in history if renamed.get(message.uuid or "", message.uuid) in wanted
    ]
    session = plan.source.session if plan.source is not None else None
    fields: dict[str, Any] = {}
    if plan.create and session is not None:
        fields = {
            "user_id": session.user_id,
            "metadata": session.metadata,
            "created_at": session.created_at,
        }
    chunks: list[list[Message]] = [[]]  # a session without messages is created too
    sizes = [0]
    for message in messages:
        if len(chunks[-1]) >= BATCH_MESSAGES or sizes[-1] >= BATCH_BYTES:
            chunks.append([])
            sizes.append(0)
        chunks[-1].append(message)
        sizes[-1] += message_size(message)
    sizes[-1] += sum(len(info.summary.content) for info in summaries)
    for number, (chunk, size) in enumerate(zip(chunks, sizes, strict=True), start=1):
        last = number == len(chunks)
        part = SessionImport(
            session_id=plan.session_id,
            messages=chunk,
            summaries=summaries if last else [],
            **fields,
        )
        yield part, size


def message_size(message: Message) -> int:
    """About the bytes a message takes in a request."""
    return 200 + len(message.content) + (len(str(message.metadata)) if message.metadata else 0)


def _wanted_summaries(plan: Plan, read: SessionContents | None) -> list[SummaryInfo]:
    """The source's summaries of the session that the plan copies."""
    if not plan.summaries or read is None:
        return []
    wanted = set(plan.summaries)
    return [info for info in read.summaries if info.summary.uuid in wanted]
