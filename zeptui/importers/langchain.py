"""LangChain message dumps (`messages_to_dict` and `dumpd`) as an input format.

A message is `message_to_dict` output, `{"type": "human", "data": {"content": ...}}`,
or a `dumpd` constructor, `{"lc": 1, "type": "constructor", "id": [..., "HumanMessage"],
"kwargs": {...}}` (type from `kwargs.type`, else the class name). Accepted files:

- a JSON list of messages: one session (`FileChatMessageHistory`), id = the file base;
  a bad message is rejected on its own, the rest of the session is kept;
- a JSON list of such lists: one session each, id `<stem>:<index>`;
- a single message object: a one-message session, id = the file base;
- JSONL with one message per line (a Redis/Postgres history dump): all lines form one
  session, id = the file base; a line holding a list of messages is a session of its
  own, id `<stem>:<line>`.

A `{"messages": [...]}` wrapper is Zep's or OpenAI's, not LangChain's. Types map per the
reference (`human`→user, `ai`→assistant, `system`, `tool`, `function`, the
`*MessageChunk` classes like their base, `chat` by `data.role`, `remove` skipped,
unknown→norole); `role` is `data.name`, else the chat role, else the type. Content
blocks are flattened (text joined, images/audio/files as placeholders such as
`[image]`, thinking and tool-use blocks dropped), tool calls are rendered as compact
JSON. Empty messages are skipped; uuids are deterministic; the format has no times:
the store gives messages the time of the import, as Zep does on add.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from storage.import_rules import import_uuid
from storage.models import Message, RoleType, SessionImport
from zeptui.importers import ImportFileError, ReadContext, register
from zeptui.importers._content import flatten_parts, tool_calls_json
from zeptui.importers._jsonfile import (
    Items,
    convert_each,
    has_key,
    json_text,
    optional_str,
    records,
    stem,
    streamed_session,
    type_name,
)
from zeptui.importers._jsonstream import (
    Where,
    fail,
    is_list,
    whole,
)
from zeptui.importers._sessions import SessionParts

__all__ = ["BASE_TYPES", "ROLE_TYPES", "LangChainImporter"]

SOURCE = "langchain"

_CLASSES = {
    "HumanMessage": "human",
    "AIMessage": "ai",
    "SystemMessage": "system",
    "ToolMessage": "tool",
    "FunctionMessage": "function",
    "ChatMessage": "chat",
}

BASE_TYPES: dict[str, str] = {
    **{kind: kind for kind in (*_CLASSES.values(), "remove")},
    **_CLASSES,
    **{f"{name}Chunk": kind for name, kind in _CLASSES.items()},
    "RemoveMessage": "remove",
}
"""LangChain message type or class name → base type (`human`, `ai`, ..., `remove`)."""

ROLE_TYPES: dict[str, RoleType] = {
    "human": RoleType.user,
    "ai": RoleType.assistant,
    "system": RoleType.system,
    "tool": RoleType.tool,
    "function": RoleType.function,
}
"""Base type → role type (`chat` goes by its `role`; anything else is norole)."""

_ROLE_TYPE_VALUES = {role_type.value for role_type in RoleType}
_DROPPED_BLOCKS = {
    "thinking",
    "redacted_thinking",
    "reasoning",
    "tool_use",  # the call is in `tool_calls`, rendered below
    "tool_call",
    "tool_call_chunk",
}

_FOREIGN_KEYS = rb"messages|sessions|session_id|role_type|conversations|mapping|chat_messages"
_DICT_TYPE = re.compile(
    rb'"type"\s*:\s*"(?:human|ai|system|chat|function|tool|remove'
    rb'|(?:Human|AI|System|Tool|Function|Chat)MessageChunk)"'
)
_DATA_OBJECT = re.compile(rb'"data"\s*:\s*\{')
_MSG_KEYS = {"lc", "type", "data"}
_LC_ONE = re.compile(rb'"lc"\s*:\s*1(?![\d.])')
_LC_MESSAGE_ID = re.compile(rb'"id"\s*:\s*\[[^\]]*"(?:messages|\w*Message(?:Chunk)?)"')


def _looks_like_message(value: Any) -> bool:
    return isinstance(value, dict) and "messages" not in value and bool(value.keys() & _MSG_KEYS)


def _one_session(first: Any) -> bool:
    """A top-level list of messages (not of lists) is one session."""
    return not is_list(first)


class _Reader:
    """One pass over one file."""

    def __init__(self, path: Path, context: ReadContext | None) -> None:
        self.path = path
        self.context = context or ReadContext()
        self.stem = stem(path, self.context)
        self.lines: SessionParts | None = None  # JSONL: the session message lines form
        self.line_count = 0

    def read(self) -> Iterator[SessionImport]:
        items = records(self.path, self.context, one_session=_one_session)
        yield from convert_each(self.path, self.context, items, self._record)
        if self.lines is not None:
            yield from self.lines.end()

    def _record(
        self, record: Any, where: Where, default_id: str
    ) -> SessionImport | Iterator[SessionImport] | None:
        if isinstance(record, Items):
            return self._whole_session(record)
        if isinstance(record, list):  # an item of a list of lists, or a JSONL line
            return self._list_session(record, where, default_id)
        if where.record is None and where.line is not None:  # a JSONL message line
            # joins the file's one session
            return self._add_line(record, where)
        if _looks_like_message(record):  # a file of one message
            return self._whole_session(Items(iter([(where, record)])))
        if isinstance(record, dict) and "messages" in record:
            raise self._wrapper(where)
        raise fail(self.path, where, f"expected a list of messages, got {type_name(record)}")

    def _new_session(self, session_id: str) -> SessionImport:
        return SessionImport(session_id=session_id, metadata={"source": SOURCE})

    def _whole_session(self, items: Items) -> Iterator[SessionImport]:
        """The file's one session, read as it goes and handed on in parts; a bad
        message is rejected on its own."""
        return streamed_session(
            self.path,
            self.context,
            self._new_session(self.stem),
            items,
            lambda item, where, index: self._message(item, where, self.stem, index),
        )

    def _list_session(self, items: list[Any], where: Where, session_id: str) -> SessionImport:
        """A session that is one record: a bad message rejects the whole record."""
        session = self._new_session(session_id)
        for index, item in enumerate(items):
            message = self._message(item, where.child(f"[{index}]"), session_id, index)
            if message is not None:
                session.messages.append(message)
        return session

    def _add_line(self, record: Any, where: Where) -> SessionImport | None:
        """A message line into the file's one session: a full part to hand on, if any."""
        if self.lines is None:
            self.lines = SessionParts(self._new_session(self.stem))
        index = self.line_count
        self.line_count += 1  # a rejected line still holds its place
        message = self._message(record, where, self.stem, index)
        return None if message is None else self.lines.add(message)

    def _wrapper(self, where: Where) -> ImportFileError:
        return fail(
            self.path,
            where,
            'a {"messages": [...]} wrapper is not a LangChain message dump '
            "(try --format zep or --format openai)",
        )

    # --- one message ------------------------------------------------------------------

    def _unwrap(self, item: Any, where: Where) -> tuple[str, dict[str, Any], Where]:
        """(type, fields, fields' location) of a `message_to_dict` or `dumpd` message."""
        if not isinstance(item, dict):
            raise fail(self.path, where, f"expected a message object, got {type_name(item)}")
        if "lc" in item:
            return self._constructor(item, where)
        if "messages" in item and "type" not in item:
            raise self._wrapper(where)
        kind = optional_str(self.path, item, "type", where)
        if not kind:
            raise fail(self.path, where, "message has no type")
        data = item.get("data")
        if not isinstance(data, dict):
            got = "none" if "data" not in item else type_name(data)
            raise fail(self.path, where, f"data must be an object, got {got}")
        return kind, data, where.child(".data")

    def _constructor(self, item: dict[str, Any], where: Where) -> tuple[str, dict[str, Any], Where]:
        """A `dumpd` message: `{"lc": 1, "type": "constructor", "id": [...], "kwargs": {...}}`."""
        if item.get("type") != "constructor":
            got = json.dumps(item.get("type"), ensure_ascii=False)
            raise fail(self.path, where, f"expected an lc constructor, got type {got}")
        ident = item.get("id")
        if not (isinstance(ident, list) and ident and all(isinstance(p, str) for p in ident)):
            raise fail(self.path, where, "lc id must be a list of names")
        if "messages" not in ident and not ident[-1].endswith(("Message", "MessageChunk")):
            raise fail(self.path, where, f"not a LangChain message: {'.'.join(ident)}")
        kwargs = item.get("kwargs")
        if not isinstance(kwargs, dict):
            got = "none" if "kwargs" not in item else type_name(kwargs)
            raise fail(self.path, where, f"kwargs must be an object, got {got}")
        at = where.child(".kwargs")
        return optional_str(self.path, kwargs, "type", at) or ident[-1], kwargs, at

    def _message(self, item: Any, where: Where, session_id: str, index: int) -> Message | None:
        kind, data, at = self._unwrap(whole(item), where)
        base = BASE_TYPES.get(kind) or BASE_TYPES.get(kind.lower())
        if base == "remove":
            self.context.warn(fail(self.path, where, "remove message skipped"))
            return None
        name = optional_str(self.path, data, "name", at)
        if base == "chat":
            chat_role = optional_str(self.path, data, "role", at)
            if not chat_role:
                raise fail(self.path, at, "chat message has no role")
            lowered = chat_role.lower()
            role_type = RoleType(lowered) if lowered in _ROLE_TYPE_VALUES else RoleType.norole
            role = name or chat_role
        else:
            role_type = ROLE_TYPES.get(base or "", RoleType.norole)
            role = name or base or kind
        if "content" not in data:
            raise fail(self.path, at, "message has no content")
        parts = [self._content(data["content"], at.child(".content"))]
        calls = self._tool_calls(data, at)
        if calls:
            parts.append(f"tool_calls: {calls}")
        content = "\n".join(part for part in parts if part.strip())
        if not content.strip():
            self.context.warn(fail(self.path, where, "empty message skipped"))
            return None
        if base is None:
            self.context.warn(
                fail(self.path, where, f"unknown message type {kind!r} imported as norole")
            )
        metadata: dict[str, Any] = {"source": SOURCE}
        source_id = optional_str(self.path, data, "id", at)
        if source_id:
            metadata["source_message_id"] = source_id
        if calls:
            metadata["tool_call"] = True
        tool_call_id = optional_str(self.path, data, "tool_call_id", at)
        if tool_call_id:
            metadata["tool_call_id"] = tool_call_id
        status = optional_str(self.path, data, "status", at)
        if status and status != "success":
            metadata["status"] = status
        return Message(
            uuid=import_uuid(SOURCE, session_id, str(index), kind, role, content),
            role=role,
            role_type=role_type,
            content=content,
            metadata=metadata,
        )

    def _content(self, content: Any, where: Where) -> str:
        return flatten_parts(self.path, content, where, dropped=_DROPPED_BLOCKS)

    def _tool_calls(self, data: dict[str, Any], where: Where) -> str:
        """`tool_calls` ({name, args, id}), else OpenAI-shaped `additional_kwargs.tool_calls`
        or `function_call` (older records), as compact JSON; "" if there are none."""
        raw, at = data.get("tool_calls"), where.child(".tool_calls")
        extra = data.get("additional_kwargs")
        if not raw and isinstance(extra, dict):
            if extra.get("tool_calls"):
                raw, at = extra["tool_calls"], where.child(".additional_kwargs.tool_calls")
            elif isinstance(extra.get("function_call"), dict):
                raw = [{"type": "function", "function": extra["function_call"]}]
                at = where.child(".additional_kwargs.function_call")
        return tool_calls_json(self.path, raw, at)


class LangChainImporter:
    """LangChain `messages_to_dict` lists and `dumpd` messages: JSON or JSONL."""

    name = "langchain"
    description = "LangChain message dumps (messages_to_dict lists, dumpd, JSONL histories)"
    priority = 15

    def detect(self, path: Path, head: bytes) -> bool:
        """`{"type", "data": {"content"}}` or `{"lc": 1, "id": [...messages...], "kwargs"}`
        near the start, and none of the other formats' wrapper keys."""
        text = json_text(head)
        if text is None or has_key(text, _FOREIGN_KEYS):
            return False
        if _LC_ONE.search(text) and has_key(text, rb"kwargs") and _LC_MESSAGE_ID.search(text):
            return True
        return (
            _DATA_OBJECT.search(text) is not None
            and _DICT_TYPE.search(text) is not None
            and has_key(text, rb"content")
        )

    def read(self, path: Path, context: ReadContext | None = None) -> Iterator[SessionImport]:
        """The file's sessions (JSONL is streamed; a one-session JSONL is yielded last)."""
        return _Reader(path, context).read()


register(LangChainImporter())
