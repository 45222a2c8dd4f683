"""OpenAI chat `{"messages": [...]}` records (fine-tuning / batch data) as an input format.

A file is JSONL (one record per line; Batch API lines `{"body": {"messages": ...}}` too),
a JSON array of records, one record, or a bare array of messages (one conversation).
The session id is `<file base>:<line>` (JSONL), `<file base>:<index>` (array) or the
file base (a bare array of messages, read as it goes and handed on in parts).
`system`/`developer` map to system, `user`, `assistant`, `tool` and
`function` to themselves, anything else to norole; `role` is the message's `name`,
else the source role. Content may be a string, a list of parts (text parts are joined;
images, audio and files become placeholders such as `[image]`) or null on tool-call
turns, whose `tool_calls` are rendered as compact JSON (with `tool_call=true` in the
metadata). Empty messages are skipped; uuids are deterministic; the format has no
times: the store gives messages the time of the import, as Zep does on add.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from storage.import_rules import import_uuid
from storage.models import Message, RoleType, SessionImport
from zeptui.importers import ReadContext, register
from zeptui.importers._content import flatten_parts, tool_calls_json
from zeptui.importers._jsonfile import (
    Items,
    convert_each,
    has_key,
    json_text,
    optional_str,
    records,
    required_list,
    streamed_session,
    type_name,
)
from zeptui.importers._jsonstream import (
    Where,
    fail,
    whole,
)

__all__ = ["ROLE_TYPES", "OpenAIChatImporter"]

SOURCE = "openai"

ROLE_TYPES: dict[str, RoleType] = {
    "system": RoleType.system,
    "developer": RoleType.system,
    "user": RoleType.user,
    "assistant": RoleType.assistant,
    "tool": RoleType.tool,
    "function": RoleType.function,
}
"""OpenAI role → role type; anything else is norole."""

_ZEP_MARKERS = rb"role_type|uuid|session_id|token_count|total_count|row_count"
_MESSAGES_LIST = re.compile(rb'"messages"\s*:\s*\[')
_OPENAI_ROLE = re.compile(rb'"role"\s*:\s*"(?:system|developer|user|assistant|tool|function)"')


def _is_message(value: Any) -> bool:
    return isinstance(value, dict) and "role" in value and "messages" not in value


class _Reader:
    """One pass over one file; numbers messages per session."""

    def __init__(self, path: Path, context: ReadContext | None) -> None:
        self.path = path
        self.context = context or ReadContext()
        self.counters: dict[str, int] = {}

    def read(self) -> Iterator[SessionImport]:
        # A top-level list of messages is one conversation, read as it goes.
        items = records(self.path, self.context, one_session=_is_message)
        return convert_each(self.path, self.context, items, self._session)

    def _session(
        self, record: Any, where: Where, session_id: str
    ) -> SessionImport | Iterator[SessionImport]:
        session = SessionImport(session_id=session_id, metadata={"source": SOURCE})
        if isinstance(record, Items):
            return self._streamed(session, record)
        if not isinstance(record, dict):
            raise fail(self.path, where, f"expected an object, got {type_name(record)}")
        if "messages" not in record and isinstance(record.get("body"), dict):
            record, where = record["body"], where.child(".body")  # a Batch API request line
        messages = required_list(self.path, record, "messages", where)
        for index, item in enumerate(messages):
            message = self._message(item, where.child(f".messages[{index}]"), session_id)
            if message is not None:
                session.messages.append(message)
        return session

    def _streamed(self, head: SessionImport, items: Items) -> Iterator[SessionImport]:
        """A file that is one conversation, in parts; a bad message is rejected alone."""
        return streamed_session(
            self.path,
            self.context,
            head,
            items,
            lambda item, where, _: self._message(item, where, head.session_id),
        )

    def _message(self, item: Any, where: Where, session_id: str) -> Message | None:
        item = whole(item)
        if not isinstance(item, dict):
            raise fail(self.path, where, f"expected a message object, got {type_name(item)}")
        source_role = optional_str(self.path, item, "role", where)
        if not source_role:
            raise fail(self.path, where, "message has no role")
        name = optional_str(self.path, item, "name", where)
        tool_call_id = optional_str(self.path, item, "tool_call_id", where)
        parts = [self._content(item.get("content"), where.child(".content"))]
        calls = self._tool_calls(item, where)
        if calls:
            parts.append(f"tool_calls: {calls}")
        content = "\n".join(part for part in parts if part.strip())
        if not content.strip():
            self.context.warn(fail(self.path, where, "empty message skipped"))
            return None
        metadata: dict[str, Any] = {"source": SOURCE}
        if tool_call_id:
            metadata["tool_call_id"] = tool_call_id
        if calls:
            metadata["tool_call"] = True
        role = name or source_role
        index = self.counters.get(session_id, 0)
        self.counters[session_id] = index + 1
        return Message(
            uuid=import_uuid(SOURCE, session_id, str(index), source_role, role, content),
            role=role,
            role_type=ROLE_TYPES.get(source_role.lower(), RoleType.norole),
            content=content,
            metadata=metadata,
        )

    def _content(self, content: Any, where: Where) -> str:
        return flatten_parts(self.path, content, where)

    def _tool_calls(self, item: dict[str, Any], where: Where) -> str:
        """`tool_calls` (or a legacy `function_call`) as compact JSON, or ""."""
        raw = item.get("tool_calls")
        if raw is None and isinstance(item.get("function_call"), dict):
            raw = [{"type": "function", "function": item["function_call"]}]
        return tool_calls_json(self.path, raw, where.child(".tool_calls"))


class OpenAIChatImporter:
    """OpenAI chat `{"messages": [...]}` records: JSONL or a JSON array."""

    name = "openai"
    description = 'OpenAI chat JSONL/JSON (fine-tuning/batch {"messages": [...]} records)'
    priority = 10

    def detect(self, path: Path, head: bytes) -> bool:
        """A `messages` list with OpenAI roles and none of Zep's keys near the start."""
        text = json_text(head)
        if text is None or has_key(text, _ZEP_MARKERS):
            return False
        return _MESSAGES_LIST.search(text) is not None and _OPENAI_ROLE.search(text) is not None

    def read(self, path: Path, context: ReadContext | None = None) -> Iterator[SessionImport]:
        """The file's conversations, one session each (JSONL is streamed line by line)."""
        return _Reader(path, context).read()


register(OpenAIChatImporter())
