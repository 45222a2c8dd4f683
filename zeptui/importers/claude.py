"""The Claude.ai data export (Settings → Privacy → Export data) as an input format.

A file is the export's `conversations.json` (a JSON array of conversations), a single
conversation object (an API-style dump) or JSONL with one conversation per line. A
conversation is `{"uuid", "name", "summary"?, "model"?, "created_at", "updated_at",
"current_leaf_message_uuid"?, "chat_messages": [...]}`; a message is `{"uuid",
"sender", "text", "content"?: [blocks], "created_at", "parent_message_uuid"?,
"attachments": [...], "files": [...], "stop_reason"?, "truncated"?}`.

Mapping:

- One session per conversation, id = the conversation's `uuid`, else `<file base>:<index>`
  (`<file base>` for a single object). Session metadata: `source`, `title` (the name),
  `summary` (when non-empty), the source's `created_at`/`updated_at` strings, `model`.
- Newer exports are trees (edits and regenerations). Only the active branch is read:
  from `current_leaf_message_uuid` when it names a message, else from the newest leaf
  by `created_at` (a later array position breaks ties), following
  `parent_message_uuid` up to the root sentinel or an unknown id (a cycle is cut and
  reported as a warning). Without any parent pointer the array order is kept.
- `human` → role "human", role type user; `assistant` → role "Claude", role type
  assistant; any other sender → norole with the sender as role.
- Content: the `content` blocks, each rendered to text and joined with a blank line.
  Adjacent `text` blocks are concatenated as they are (Claude splits one answer into
  several text blocks where citations attach); `thinking`, `redacted_thinking` and
  `token_budget` blocks are dropped (and split text runs like any other block);
  `tool_use` becomes `[tool use: NAME {compact JSON input}]`, `tool_result`
  `[tool result: TEXT]` (`[tool result (error): ...]` when `is_error`); any other block
  `[TYPE]`. Without usable blocks (none, or only dropped ones) the flat `text` is used.
  Each attachment follows as `[attachment: NAME]` plus its `extracted_content`, then
  one `[file: NAME]` line per file. Every part is trimmed; a message left empty is
  skipped with a warning.
- `created_at` is parsed (ISO 8601, normalised to UTC); a message without one takes
  the nearest earlier time of its conversation, else the conversation's `created_at`.
- Message metadata: `source`, `source_message_id`, `source_parent_id` (not the root
  sentinel), `stop_reason`, `truncated` (when true), `attachments` / `files` (counts,
  when non-zero), `branch: "active"` (when the conversation has parent pointers).
- Message uuids are uuid5s of the conversation and message uuid (or the message's
  array index when it has none), so importing a file twice adds nothing. A later
  message repeating a uuid is skipped with a warning.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from storage.import_rules import import_uuid
from storage.models import Message, RoleType, SessionImport
from zeptui.importers import ReadContext, register
from zeptui.importers._jsonfile import (
    convert_each,
    iso_time,
    json_text,
    optional_str,
    records,
    required_list,
    type_name,
)
from zeptui.importers._jsonstream import (
    Where,
    fail,
)
from zeptui.importers._sessions import fill_times

__all__ = ["ROLES", "ROOT_PARENT", "ClaudeImporter"]

SOURCE = "claude"

ROOT_PARENT = "00000000-0000-4000-8000-000000000000"
"""The `parent_message_uuid` of a conversation's first message."""

ROLES: dict[str, tuple[str, RoleType]] = {
    "human": ("human", RoleType.user),
    "assistant": ("Claude", RoleType.assistant),
}
"""Sender → (role, role type); any other sender is norole with the sender as role."""

_DROPPED_BLOCKS = {"thinking", "redacted_thinking", "token_budget"}
_TOOL_USE_BLOCKS = {"tool_use", "server_tool_use", "mcp_tool_use"}
_TOOL_RESULT_BLOCKS = {"tool_result", "mcp_tool_result"}
_CHAT_MESSAGES_KEY = re.compile(rb'"chat_messages"\s*:')
_MAPPING_KEY = re.compile(rb'"mapping"\s*:')
_OLDEST = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class _Node:
    """One source message, as much as linearizing needs."""

    index: int
    item: dict[str, Any]
    where: Where
    uuid: str | None
    parent: str | None
    """`parent_message_uuid`, None when absent or the root sentinel."""
    created_at: datetime | None


class _Reader:
    """One pass over one file."""

    def __init__(self, path: Path, context: ReadContext | None) -> None:
        self.path = path
        self.context = context or ReadContext()

    def read(self) -> Iterator[SessionImport]:
        items = records(self.path, self.context)
        return convert_each(self.path, self.context, items, self._session)

    # --- conversations --------------------------------------------------------------

    def _session(self, record: Any, where: Where, default_id: str) -> SessionImport:
        if not isinstance(record, dict):
            raise fail(self.path, where, f"expected a conversation object, got {type_name(record)}")
        items = required_list(self.path, record, "chat_messages", where)
        session_id = optional_str(self.path, record, "uuid", where) or default_id
        metadata: dict[str, Any] = {"source": SOURCE}
        for key, target in (
            ("name", "title"),
            ("summary", "summary"),
            ("created_at", "created_at"),
            ("updated_at", "updated_at"),
            ("model", "model"),
        ):
            value = optional_str(self.path, record, key, where)
            if value and value.strip():
                metadata[target] = value
        session = SessionImport(
            session_id=session_id,
            created_at=self._timestamp(record, where),
            metadata=metadata,
        )
        nodes = self._nodes(items, where)
        tree = any(node.item.get("parent_message_uuid") for node in nodes)
        path = self._active_branch(record, nodes, where) if tree else nodes
        for node in path:
            message = self._message(node, session_id, tree=tree)
            if message is not None:
                session.messages.append(message)
        fill_times(session.messages, session.created_at)
        return session

    def _nodes(self, items: list[Any], where: Where) -> list[_Node]:
        """The conversation's messages in array order, later duplicates of a uuid left out."""
        nodes: list[_Node] = []
        seen: set[str] = set()
        for index, item in enumerate(items):
            child = where.child(f".chat_messages[{index}]")
            if not isinstance(item, dict):
                raise fail(self.path, child, f"expected a message object, got {type_name(item)}")
            message_id = optional_str(self.path, item, "uuid", child) or None
            if message_id is not None:
                if message_id in seen:
                    self.context.warn(
                        fail(self.path, child, f"duplicate message uuid {message_id!r} skipped")
                    )
                    continue
                seen.add(message_id)
            parent = optional_str(self.path, item, "parent_message_uuid", child) or None
            if parent == ROOT_PARENT:
                parent = None
            created_at = self._timestamp(item, child)
            nodes.append(_Node(index, item, child, message_id, parent, created_at))
        return nodes

    def _active_branch(
        self, record: dict[str, Any], nodes: list[_Node], where: Where
    ) -> list[_Node]:
        """Root-to-leaf path ending at the current (or newest) leaf."""
        if not nodes:
            return []
        by_uuid = {node.uuid: node for node in nodes if node.uuid is not None}
        start: _Node | None = None
        current = optional_str(self.path, record, "current_leaf_message_uuid", where)
        if current:
            start = by_uuid.get(current)
            if start is None:
                self.context.warn(
                    fail(
                        self.path,
                        where,
                        f"current_leaf_message_uuid {current!r} names no message; "
                        "using the newest leaf",
                    )
                )
        if start is None:
            named = {node.parent for node in nodes}
            leaves = [node for node in nodes if node.uuid is None or node.uuid not in named]
            start = max(leaves or nodes, key=lambda node: (node.created_at or _OLDEST, node.index))
        branch = [start]
        visited = {start.index}
        node = start
        while node.parent is not None and node.parent in by_uuid:
            parent = by_uuid[node.parent]
            if parent.index in visited:
                self.context.warn(
                    fail(
                        self.path,
                        node.where,
                        f"parent_message_uuid {node.parent!r} closes a cycle; branch cut here",
                    )
                )
                break
            visited.add(parent.index)
            branch.append(parent)
            node = parent
        branch.reverse()
        return branch

    # --- messages -------------------------------------------------------------------

    def _message(self, node: _Node, session_id: str, *, tree: bool) -> Message | None:
        item, where = node.item, node.where
        sender = optional_str(self.path, item, "sender", where)
        if not sender:
            raise fail(self.path, where, "message has no sender")
        role, role_type = ROLES.get(sender, (sender, RoleType.norole))
        parts = self._blocks(item.get("content"), where.child(".content"))
        if not parts:
            text = optional_str(self.path, item, "text", where)
            if text and text.strip():
                parts = [text.strip()]
        attachments = self._list(item, "attachments", where)
        for index, attachment in enumerate(attachments):
            child = where.child(f".attachments[{index}]")
            name = optional_str(self.path, attachment, "file_name", child) or "attachment"
            extracted = optional_str(self.path, attachment, "extracted_content", child)
            section = f"[attachment: {name}]"
            if extracted and extracted.strip():
                section = f"{section}\n{extracted.strip()}"
            parts.append(section)
        files = self._list(item, "files", where)
        lines = []
        for index, file in enumerate(files):
            child = where.child(f".files[{index}]")
            name = optional_str(self.path, file, "file_name", child) or "file"
            lines.append(f"[file: {name}]")
        if lines:
            parts.append("\n".join(lines))
        content = "\n\n".join(parts)
        if not content.strip():
            self.context.warn(fail(self.path, where, "empty message skipped"))
            return None
        metadata: dict[str, Any] = {"source": SOURCE}
        if node.uuid is not None:
            metadata["source_message_id"] = node.uuid
        if node.parent is not None:
            metadata["source_parent_id"] = node.parent
        stop_reason = optional_str(self.path, item, "stop_reason", where)
        if stop_reason:
            metadata["stop_reason"] = stop_reason
        if item.get("truncated") is True:
            metadata["truncated"] = True
        if attachments:
            metadata["attachments"] = len(attachments)
        if files:
            metadata["files"] = len(files)
        if tree:
            metadata["branch"] = "active"
        source_id = node.uuid if node.uuid is not None else str(node.index)
        return Message(
            uuid=import_uuid(SOURCE, session_id, source_id),
            created_at=node.created_at,
            role=role,
            role_type=role_type,
            content=content,
            metadata=metadata,
        )

    def _blocks(self, content: Any, where: Where) -> list[str]:
        """The content blocks as trimmed, non-empty text parts (adjacent text blocks as one)."""
        if content is None:
            return []
        if isinstance(content, str):
            return [content.strip()] if content.strip() else []
        if not isinstance(content, list):
            raise fail(self.path, where, f"content must be a list, got {type_name(content)}")
        parts: list[str] = []
        run: list[str] = []  # adjacent text blocks

        def end_run() -> None:
            text = "".join(run).strip()
            if text:
                parts.append(text)
            run.clear()

        for index, block in enumerate(content):
            child = where.child(f"[{index}]")
            if not isinstance(block, dict):
                raise fail(self.path, child, f"expected a content block, got {type_name(block)}")
            kind = optional_str(self.path, block, "type", child)
            if not kind:
                raise fail(self.path, child, "content block has no type")
            if kind == "text":
                run.append(optional_str(self.path, block, "text", child) or "")
                continue
            end_run()
            if kind in _DROPPED_BLOCKS:
                continue
            if kind in _TOOL_USE_BLOCKS:
                parts.append(self._tool_use(block, child))
            elif kind in _TOOL_RESULT_BLOCKS:
                parts.append(self._tool_result(block, child))
            else:
                parts.append(f"[{kind}]")
        end_run()
        return parts

    def _tool_use(self, block: dict[str, Any], where: Where) -> str:
        name = optional_str(self.path, block, "name", where) or "tool"
        arguments = block.get("input")
        if arguments is None:
            return f"[tool use: {name}]"
        rendered = json.dumps(arguments, ensure_ascii=False, separators=(",", ":"))
        return f"[tool use: {name} {rendered}]"

    def _tool_result(self, block: dict[str, Any], where: Where) -> str:
        label = "tool result (error)" if block.get("is_error") is True else "tool result"
        content = block.get("content")
        texts: list[str] = []
        if isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for index, part in enumerate(content):
                child = where.child(f".content[{index}]")
                if isinstance(part, str):
                    texts.append(part)
                elif isinstance(part, dict):
                    kind = optional_str(self.path, part, "type", child) or "text"
                    if kind == "text":
                        texts.append(optional_str(self.path, part, "text", child) or "")
                    else:
                        texts.append(f"[{kind}]")
                else:
                    raise fail(self.path, child, f"expected a content part, got {type_name(part)}")
        elif content is not None:
            raise fail(
                self.path,
                where.child(".content"),
                f"tool result content must be a string or list, got {type_name(content)}",
            )
        text = "\n".join(text.strip() for text in texts if text.strip())
        return f"[{label}: {text}]" if text else f"[{label}]"

    # --- fields ---------------------------------------------------------------------

    def _list(self, item: dict[str, Any], key: str, where: Where) -> list[dict[str, Any]]:
        """`item[key]` as a list of objects ([] when absent or null)."""
        value = item.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise fail(self.path, where, f"{key} must be a list, got {type_name(value)}")
        for index, entry in enumerate(value):
            if not isinstance(entry, dict):
                raise fail(
                    self.path,
                    where.child(f".{key}[{index}]"),
                    f"expected an object, got {type_name(entry)}",
                )
        return value

    def _timestamp(self, record: dict[str, Any], where: Where) -> datetime | None:
        """`created_at` as an aware UTC datetime; None when missing (never invented)."""
        value = optional_str(self.path, record, "created_at", where)
        return iso_time(self.path, value, "created_at", where) if value else None


class ClaudeImporter:
    """Claude.ai export conversations: `conversations.json`, one conversation, or JSONL."""

    name = "claude"
    description = "Claude.ai export JSON (conversations with chat_messages)"
    priority = 20

    def detect(self, path: Path, head: bytes) -> bool:
        """JSON with a `chat_messages` key near the start and no earlier ChatGPT `mapping`."""
        text = json_text(head)
        if text is None:
            return False
        found = _CHAT_MESSAGES_KEY.search(text)
        if found is None:
            return False
        mapping = _MAPPING_KEY.search(text, 0, found.start())
        return mapping is None

    def read(self, path: Path, context: ReadContext | None = None) -> Iterator[SessionImport]:
        """The file's conversations, one session each (active branch only)."""
        return _Reader(path, context).read()


register(ClaudeImporter())
