"""What a store holds, as sync compares it: its `SyncInventory` a page at a time, or,
from a store without one (a plain Zep server), built from Zep's core API: its users, its
sessions (listed, a user's, or named) and each one's history and summaries. Zep lists no
deleted user, session or message, so there a deletion is known only from the record of
the last sync.
"""

from __future__ import annotations

from datetime import datetime

from storage.capabilities import SyncInventory, offered
from storage.errors import NotFoundError
from storage.metadata import metadata_stamp
from storage.models import InventoryQuery, Message, Session, SessionInventory, User
from storage.store import MemoryStore
from zeptui.exporters import every_user

IDS_PER_QUERY = 1_000
"""Session ids named in one inventory request."""
MESSAGES_PER_PAGE = 10_000


def read_inventory(
    store: MemoryStore, query: InventoryQuery, renamed: dict[str, str] | None = None
) -> list[SessionInventory]:
    """Every session `query` selects, deleted ones too where the store tells them;
    message uuids found in `renamed` (the remote's own -> the local one) are replaced."""
    if query.session_ids is not None and len(query.session_ids) > IDS_PER_QUERY:
        ids = query.session_ids
        return [
            item
            for start in range(0, len(ids), IDS_PER_QUERY)
            for item in read_inventory(
                store,
                query.model_copy(update={"session_ids": ids[start : start + IDS_PER_QUERY]}),
                renamed,
            )
        ]
    if query.session_ids == []:
        return []
    inventory = offered(store, SyncInventory)
    found = _paged(inventory, query) if inventory is not None else _from_core(store, query)
    if renamed:
        for item in found:
            item.messages = [renamed.get(uuid, uuid) for uuid in item.messages]
    return found


def read_users(store: MemoryStore) -> list[User]:
    """Every user of the store, deleted ones too where the store tells them."""
    inventory = offered(store, SyncInventory)
    if inventory is not None:
        try:
            return inventory.user_inventory()
        except NotFoundError:  # a zeptui server from before it listed its users
            pass
    return list(every_user(store))


def read_messages(store: MemoryStore, session_id: str) -> list[Message]:
    """The session's whole history, oldest first."""
    messages: list[Message] = []
    page = 1
    while True:
        listing = store.list_messages(session_id, limit=MESSAGES_PER_PAGE, cursor=page)
        messages += listing.messages
        if len(listing.messages) < MESSAGES_PER_PAGE:
            return messages
        page += 1


def _paged(inventory: SyncInventory, query: InventoryQuery) -> list[SessionInventory]:
    found: list[SessionInventory] = []
    after = 0
    while True:
        page = inventory.inventory(query.model_copy(update={"after": after}))
        found += page.sessions
        if page.next_after is None:
            return found
        after = page.next_after


def _from_core(store: MemoryStore, query: InventoryQuery) -> list[SessionInventory]:
    sessions: list[Session]
    if query.session_ids is not None:
        sessions = []
        for session_id in query.session_ids:
            try:
                sessions.append(store.get_session(session_id))
            except NotFoundError:
                continue
    elif query.user_id is not None:
        sessions = store.get_user_sessions(query.user_id)
    else:
        sessions = store.list_sessions()
    found = []
    for session in sessions:
        if query.user_id is not None and session.user_id != query.user_id:
            continue
        messages = read_messages(store, session.session_id)
        since = query.changed_since
        if since is not None and not _changed_since(session, messages, since):
            continue
        held = [message for message in messages if message.uuid]
        found.append(
            SessionInventory(
                session=session,
                messages=[message.uuid for message in held if message.uuid],
                metadata_stamps=[metadata_stamp(message.metadata) for message in held],
                summaries=[info.summary.uuid for info in store.list_summaries(session.session_id)],
            )
        )
    return found


def _changed_since(session: Session, messages: list[Message], since: datetime) -> bool:
    times = [session.created_at, session.updated_at]
    times += [
        time
        for message in messages
        for time in (message.created_at, message.updated_at)
        if time is not None
    ]
    return any(time >= since for time in times)
