"""ChatGPT data exports (Settings → Data controls → Export) as an input format.

A file is `conversations.json` (a JSON array of conversations), one shard of a newer
sharded export (`conversations-NNN.json`, the same array shape), a
`{"conversations": [...]}` wrapper, or one conversation object (browser exporters, the
`backend-api` endpoint). Zips and directories are unpacked by the caller.

A conversation is `{id | conversation_id, title, create_time, update_time,
current_node, mapping: {node_id: {id, parent, children, message | null}}, ...}`: a
tree, since editing a prompt or regenerating an answer adds a sibling. Only the active
branch is imported: from `current_node` up through `parent` to the root, reversed (a
missing or dangling `current_node` falls back to the newest leaf; a parent cycle
stops the walk). Nodes with `message: null` are skipped.

Only what the ChatGPT UI shows is kept: messages flagged
`is_visually_hidden_from_conversation` (custom instructions are), system messages,
internal tool traffic (assistant calls to a tool, code input,
`bio`/`web.run`/`web.search` results, browser output other than quotes, DALL·E
status text), thoughts, reasoning recaps, browsing displays, scraped pages and system
errors are left out. Custom instructions not flagged hidden (`is_user_system_message`,
`user_editable_context`) are kept as system messages; `execution_output`,
`tether_quote` and images are kept.

Roles: `user` → user (`"user"`), `assistant` → assistant (`"ChatGPT"`), `tool` → tool
(the tool's `author.name`), `system` → system (`"system"`), anything else → norole.
Content is flattened to text: string parts are joined, dict parts give their `text`
(voice transcriptions), images become `[image: <asset pointer>]` and other parts
`[<content_type>]`; code and execution output give their `text`, quotes their title,
URL and text, custom instructions their profile and instructions. Messages empty after
flattening are skipped with a warning. `create_time` (epoch seconds) becomes a UTC
`created_at`; a message without one takes the nearest earlier time of its
conversation, else the conversation's `create_time` (never the time of the import).
The session id is the conversation's id (else
`<file base>:<index>`); message uuids are uuid5s of the session and source message
ids, so importing a file twice adds nothing. Source order is kept.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.import_rules import import_uuid
from storage.models import Message, RoleType, SessionImport
from zeptui.importers import ReadContext, register
from zeptui.importers._jsonfile import (
    convert_each,
    has_key,
    iso_time,
    json_text,
    optional_str,
    record_id,
    records,
    stem,
    type_name,
)
from zeptui.importers._jsonstream import (
    Where,
    fail,
)
from zeptui.importers._sessions import fill_times

__all__ = ["ROLE_TYPES", "ChatGPTImporter"]

SOURCE = "chatgpt"
ASSISTANT_NAME = "ChatGPT"

ROLE_TYPES: dict[str, RoleType] = {
    "user": RoleType.user,
    "assistant": RoleType.assistant,
    "tool": RoleType.tool,
    "system": RoleType.system,
}
"""ChatGPT `author.role` → role type; anything else is norole."""

_HIDDEN_CONTENT_TYPES = frozenset(
    {"thoughts", "reasoning_recap", "tether_browsing_display", "sonic_webpage", "system_error"}
)
_HIDDEN_TOOLS = frozenset({"bio", "web.run", "web.search"})
_USER_RECIPIENTS = frozenset({"all"})
_MAPPING_OBJECT = re.compile(rb'"mapping"\s*:\s*\{')
_CONVERSATION_KEYS = rb"current_node|create_time|conversation_id"


def _epoch(value: Any) -> float:
    """A node's sort key for the newest-leaf fallback: its message's create_time or 0."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return 0.0
    return float(value)


class _Reader:
    """One pass over one file."""

    def __init__(self, path: Path, context: ReadContext | None) -> None:
        self.path = path
        self.context = context or ReadContext()
        self.stem = stem(path, self.context)

    def read(self) -> Iterator[SessionImport]:
        return convert_each(self.path, self.context, self._conversations(), self._session)

    def _conversations(self) -> Iterator[tuple[Where, Any, str]]:
        """Each conversation record, looking inside `{"conversations": [...]}` wrappers."""
        for where, record, default_id in records(self.path, self.context, wrapper="conversations"):
            items = None
            if isinstance(record, dict) and "mapping" not in record:
                items = record.get("conversations")
            if not isinstance(items, list):
                yield where, record, default_id
                continue
            for index, item in enumerate(items):
                yield where.child(f".conversations[{index}]"), item, f"{default_id}:{index}"

    # --- conversations ----------------------------------------------------------------

    def _session(self, record: Any, where: Where, default_id: str) -> SessionImport:
        if not isinstance(record, dict):
            raise fail(self.path, where, f"expected a conversation object, got {type_name(record)}")
        mapping = record.get("mapping")
        if not isinstance(mapping, dict):
            got = "no mapping" if mapping is None else f"mapping is {type_name(mapping)}"
            raise fail(self.path, where, f"expected a conversation with a mapping, got {got}")
        session_id = record_id(self.path, record, ("conversation_id", "id"), where, default_id)
        created = self._time(record.get("create_time"), where, "create_time")
        updated = self._time(record.get("update_time"), where, "update_time")
        metadata: dict[str, Any] = {"source": SOURCE}
        title = optional_str(self.path, record, "title", where)
        if title:
            metadata["title"] = title
        if created is not None:
            metadata["create_time"] = created.isoformat()
        if updated is not None:
            metadata["update_time"] = updated.isoformat()
        model = record.get("default_model_slug")
        if isinstance(model, str) and model:
            metadata["model"] = model
        session = SessionImport(session_id=session_id, created_at=created, metadata=metadata)
        used: set[str] = set()
        for node_id, node, message in self._active_branch(mapping, record, where):
            child = where.child(f".mapping.{node_id}.message")
            imported = self._message(session_id, node_id, node, message, child, used)
            if imported is not None:
                session.messages.append(imported)
        fill_times(session.messages, created)
        return session

    def _active_branch(
        self, mapping: dict[str, Any], record: dict[str, Any], where: Where
    ) -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
        """(node id, node, message) from the root to the active leaf, skipping null messages."""
        current = record.get("current_node")
        node_id = current if isinstance(current, str) else None
        if node_id not in mapping:
            if current is not None:
                reason = f"current_node {current!r} is not in mapping; imported the newest branch"
                self.context.warn(fail(self.path, where, reason))
            node_id = self._newest_leaf(mapping)
        path: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
        seen: set[str] = set()
        while node_id is not None and node_id in mapping:
            if node_id in seen:
                reason = f"parent cycle at node {node_id!r}; the branch stops there"
                self.context.warn(fail(self.path, where.child(".mapping"), reason))
                break
            seen.add(node_id)
            node = mapping[node_id]
            node_where = where.child(f".mapping.{node_id}")
            if not isinstance(node, dict):
                raise fail(self.path, node_where, f"expected a node object, got {type_name(node)}")
            message = node.get("message")
            if message is not None:
                if not isinstance(message, dict):
                    raise fail(
                        self.path,
                        node_where.child(".message"),
                        f"expected a message object or null, got {type_name(message)}",
                    )
                path.append((node_id, node, message))
            parent = node.get("parent")
            node_id = parent if isinstance(parent, str) else None
        path.reverse()
        return path

    @staticmethod
    def _newest_leaf(mapping: dict[str, Any]) -> str | None:
        """The id of the childless node whose message is newest (the first on ties)."""
        newest: str | None = None
        newest_time = 0.0
        for node_id, node in mapping.items():
            if not isinstance(node, dict) or node.get("children"):
                continue
            message = node.get("message")
            time = _epoch(message.get("create_time")) if isinstance(message, dict) else 0.0
            if newest is None or time > newest_time:
                newest, newest_time = node_id, time
        return newest

    # --- messages ---------------------------------------------------------------------

    def _message(
        self,
        session_id: str,
        node_id: str,
        node: dict[str, Any],
        message: dict[str, Any],
        where: Where,
        used: set[str],
    ) -> Message | None:
        author = message.get("author")
        if author is not None and not isinstance(author, dict):
            raise fail(self.path, where, f"author must be an object, got {type_name(author)}")
        author = author or {}
        source_role = optional_str(self.path, author, "role", where.child(".author"))
        if not source_role:
            raise fail(self.path, where, "message has no author.role")
        author_name = optional_str(self.path, author, "name", where.child(".author"))
        metadata = message.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}  # often absent since 2026
        recipient = optional_str(self.path, message, "recipient", where)
        content = message.get("content")
        content_type = "text"
        if isinstance(content, dict):
            kind = optional_str(self.path, content, "content_type", where.child(".content"))
            content_type = kind or "text"
        if metadata.get("is_visually_hidden_from_conversation"):
            return None  # custom instructions too: hidden in the conversation
        user_system = (
            metadata.get("is_user_system_message") is True
            or content_type == "user_editable_context"
        )
        if not user_system and not _visible(
            source_role, author_name, content_type, recipient, metadata
        ):
            return None
        created_at = self._time(message.get("create_time"), where, "create_time")
        text = self._content(content, content_type, where.child(".content"))
        if not text.strip():
            self.context.warn(fail(self.path, where, "empty message skipped"))
            return None

        if user_system:
            role, role_type = "system", RoleType.system
        elif source_role == "assistant":
            role, role_type = ASSISTANT_NAME, RoleType.assistant
        elif source_role == "tool":
            role, role_type = author_name or "tool", RoleType.tool
        else:
            role, role_type = source_role, ROLE_TYPES.get(source_role, RoleType.norole)

        message_id = message.get("id")
        source_id = message_id if isinstance(message_id, str) and message_id else node_id
        parent = node.get("parent")
        details: dict[str, Any] = {"source": SOURCE, "source_message_id": source_id}
        if isinstance(parent, str) and parent:
            details["source_parent_id"] = parent
        model = metadata.get("model_slug")
        if isinstance(model, str) and model:
            details["model"] = model
        details["content_type"] = content_type
        if recipient and recipient not in _USER_RECIPIENTS:
            details["recipient"] = recipient
        details["branch"] = "active"

        key_parts = [SOURCE, session_id, source_id]
        if source_id in used:  # a repeated message id: keep both, told apart by node
            key_parts.append(node_id)
        used.add(source_id)
        return Message(
            uuid=import_uuid(*key_parts),
            created_at=created_at,
            role=role,
            role_type=role_type,
            content=text,
            metadata=details,
        )

    def _content(self, content: Any, content_type: str, where: Where) -> str:
        """The message's text; never `str()` of a dict."""
        if content is None:
            return ""
        if isinstance(content, str):
            return content
        if not isinstance(content, dict):
            raise fail(self.path, where, f"content must be an object, got {type_name(content)}")
        if content_type == "tether_quote":
            return self._quote(content, where)
        if content_type == "user_editable_context":
            return self._custom_instructions(content, where)
        parts = content.get("parts")
        if parts is not None:
            return self._parts(parts, where.child(".parts"))
        for key in ("text", "result"):
            value = optional_str(self.path, content, key, where)
            if value is not None:
                return value
        return ""

    def _parts(self, parts: Any, where: Where) -> str:
        """String parts joined as they are; each dict part on a line of its own."""
        if not isinstance(parts, list):
            raise fail(self.path, where, f"parts must be a list, got {type_name(parts)}")
        pieces: list[str] = []
        run = ""
        for index, part in enumerate(parts):
            if part is None:
                continue
            if isinstance(part, str):
                run += part
                continue
            if not isinstance(part, dict):
                raise fail(
                    self.path, where.child(f"[{index}]"), f"expected a part, got {type_name(part)}"
                )
            pieces.append(run)
            run = ""
            pieces.append(self._part(part, where.child(f"[{index}]")))
        pieces.append(run)
        return "\n".join(piece for piece in pieces if piece.strip())

    def _part(self, part: dict[str, Any], where: Where) -> str:
        kind = optional_str(self.path, part, "content_type", where)
        if kind == "image_asset_pointer":
            pointer = optional_str(self.path, part, "asset_pointer", where)
            return f"[image: {pointer}]" if pointer else "[image]"
        text = part.get("text")
        if isinstance(text, str):
            return text
        return f"[{kind or 'attachment'}]"

    def _quote(self, content: dict[str, Any], where: Where) -> str:
        text = optional_str(self.path, content, "text", where) or ""
        if not text.strip():
            return ""
        title = optional_str(self.path, content, "title", where)
        title = title or optional_str(self.path, content, "domain", where)
        url = optional_str(self.path, content, "url", where)
        source = " — ".join(value for value in (title, url) if value)
        quote = "\n".join(f"> {line}" if line else ">" for line in text.strip().splitlines())
        return f"{source}\n{quote}" if source else quote

    def _custom_instructions(self, content: dict[str, Any], where: Where) -> str:
        sections = []
        for key, label in (("user_profile", "User profile"), ("user_instructions", "Instructions")):
            value = optional_str(self.path, content, key, where)
            if value and value.strip():
                sections.append(f"{label}:\n{value.strip()}")
        return "\n\n".join(sections)

    def _time(self, value: Any, where: Where, key: str) -> datetime | None:
        """Epoch seconds (or an ISO 8601 string) as an aware UTC datetime; None stays None."""
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise fail(self.path, where, f"{key} must be a number, got {type_name(value)}")
        if isinstance(value, str):
            return iso_time(self.path, value, key, where)
        try:
            return datetime.fromtimestamp(value, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise fail(self.path, where, f"{key} is not a valid time: {value!r}") from None


def _visible(
    role: str,
    author_name: str | None,
    content_type: str,
    recipient: str | None,
    metadata: dict[str, Any],
) -> bool:
    """Whether the ChatGPT UI shows a message not flagged hidden (custom instructions
    are handled apart)."""
    if role == "system":
        return False
    if content_type in _HIDDEN_CONTENT_TYPES:
        return False
    if role == "assistant":
        return content_type != "code" and (recipient is None or recipient in _USER_RECIPIENTS)
    if role == "tool":
        if author_name in _HIDDEN_TOOLS:
            return False
        if author_name == "browser":
            return content_type == "tether_quote"
        if author_name == "dalle.text2im" and content_type == "text":
            return False  # "DALL·E displayed 1 images..." status text
    return True


class ChatGPTImporter:
    """ChatGPT data-export conversations: array, shard, wrapper object or one conversation."""

    name = "chatgpt"
    description = "ChatGPT data export (conversations.json, conversations-NNN.json)"
    priority = 20

    def detect(self, path: Path, head: bytes) -> bool:
        """JSON with a `mapping` object and a conversation key, and no Claude keys."""
        text = json_text(head)
        if text is None or _MAPPING_OBJECT.search(text) is None:
            return False
        return has_key(text, _CONVERSATION_KEYS) and not has_key(text, rb"chat_messages")

    def read(self, path: Path, context: ReadContext | None = None) -> Iterator[SessionImport]:
        """The file's conversations, one session each, active branch only."""
        return _Reader(path, context).read()


register(ChatGPTImporter())
