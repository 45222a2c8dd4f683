"""ShareGPT conversations (FastChat, LLaMA-Factory, axolotl) as an input format.

A record is `{"id"?, "conversations": [{"from", "value"}, ...], "system"?, "tools"?}`;
a file holds a JSON array of records, one record, or JSONL (one record per line).
The session id is the record's `id`, else `<file base>:<line>` (JSONL) or
`<file base>:<index>` (array). Roles map per the reference table (`human`→user,
`gpt`→assistant, `function_call`→assistant with `tool_call`, `observation`→tool,
unknown→norole); `role` keeps the source label. Empty turns are skipped, message
uuids are deterministic uuid5s; the format has no times: the store gives messages the
time of the import, as Zep does on add.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from storage.import_rules import import_uuid
from storage.models import Message, RoleType, SessionImport
from zeptui.importers import ReadContext, register
from zeptui.importers._jsonfile import (
    convert_each,
    has_key,
    json_text,
    optional_str,
    record_id,
    records,
    required_list,
    stem,
    type_name,
)
from zeptui.importers._jsonstream import (
    Where,
    fail,
)

__all__ = ["ROLE_TYPES", "ShareGPTImporter"]

SOURCE = "sharegpt"
_EMPTY_CONVERSATIONS = re.compile(rb'"conversations"\s*:\s*\[\s*\]')

ROLE_TYPES: dict[str, RoleType] = {
    "human": RoleType.user,
    "user": RoleType.user,
    "gpt": RoleType.assistant,
    "assistant": RoleType.assistant,
    "chatgpt": RoleType.assistant,
    "bing": RoleType.assistant,
    "bard": RoleType.assistant,
    "model": RoleType.assistant,
    "system": RoleType.system,
    "function_call": RoleType.assistant,
    "observation": RoleType.tool,
    "tool": RoleType.tool,
    "function": RoleType.tool,
}
"""Source `from` label (lower-cased) → role type; anything else is norole."""


class _Reader:
    """One pass over one file; numbers messages per session so duplicate ids stay distinct."""

    def __init__(self, path: Path, context: ReadContext | None) -> None:
        self.path = path
        self.context = context or ReadContext()
        self.stem = stem(path, self.context)
        self.counters: dict[str, int] = {}

    def read(self) -> Iterator[SessionImport]:
        items = records(self.path, self.context)
        return convert_each(self.path, self.context, items, self._session)

    def _session(self, record: Any, where: Where, default_id: str) -> SessionImport:
        if not isinstance(record, dict):
            raise fail(self.path, where, f"expected a conversation object, got {type_name(record)}")
        turns = required_list(self.path, record, "conversations", where)
        session_id = record_id(self.path, record, ("id",), where, default_id)
        metadata: dict[str, Any] = {"source": SOURCE}
        for key in ("title", "tools"):
            value = optional_str(self.path, record, key, where)
            if value:
                metadata[key] = value
        session = SessionImport(session_id=session_id, metadata=metadata)
        system = optional_str(self.path, record, "system", where)
        if system and system.strip():
            session.messages.append(self._message(session_id, "system", system, tool_call=False))
        for index, turn in enumerate(turns):
            child = where.child(f".conversations[{index}]")
            if not isinstance(turn, dict):
                raise fail(self.path, child, f"expected a turn object, got {type_name(turn)}")
            label = optional_str(self.path, turn, "from", child)
            if not label:
                raise fail(self.path, child, "turn has no from")
            value = optional_str(self.path, turn, "value", child)
            if not value or not value.strip():
                self.context.warn(fail(self.path, child, "empty turn skipped"))
                continue
            tool_call = label.lower() == "function_call"
            session.messages.append(self._message(session_id, label, value, tool_call=tool_call))
        return session

    def _message(self, session_id: str, label: str, content: str, *, tool_call: bool) -> Message:
        index = self.counters.get(session_id, 0)
        self.counters[session_id] = index + 1
        metadata: dict[str, Any] = {"source": SOURCE}
        if tool_call:
            metadata["tool_call"] = True
        return Message(
            uuid=import_uuid(SOURCE, session_id, str(index), label, content),
            role=label,
            role_type=ROLE_TYPES.get(label.lower(), RoleType.norole),
            content=content,
            metadata=metadata,
        )


class ShareGPTImporter:
    """ShareGPT `conversations` records: JSON array, single object, or JSONL."""

    name = "sharegpt"
    description = "ShareGPT JSON/JSONL (conversations of from/value turns)"
    priority = 10

    def detect(self, path: Path, head: bytes) -> bool:
        """JSON with a `conversations` key and `from`/`value` turn keys near the start."""
        text = json_text(head)
        if text is None:
            return False
        if not has_key(text, rb"conversations"):
            return False
        return has_key(text, rb"from|value") or _EMPTY_CONVERSATIONS.search(text) is not None

    def read(self, path: Path, context: ReadContext | None = None) -> Iterator[SessionImport]:
        """The file's conversations, one session each (JSONL is streamed line by line)."""
        return _Reader(path, context).read()


register(ShareGPTImporter())
