"""Exporters: write sessions from a MemoryStore as Zep JSON/JSONL, Markdown or OpenAI JSONL.

Every writer takes the sessions to export (an iterable, consumed lazily) and a text
stream, and pages through each session's messages `PAGE_SIZE` at a time, so a huge
session is never held in memory whole.

`zep-dump` is zep-json inside `{"users": [...], "sessions": [...]}`, with the users'
names, emails and metadata: a full export carries every user, those without
sessions too, a narrowed one the users its sessions belong to. The Zep formats are
the ones `zeptui import` reads, and they round-trip exactly: export, import into an
empty store, export again gives identical bytes. They leave out `token_count` and
`updated_at` (derived by the store) and the summaries (made again by the store).
One limit: a message stored with no role_type whose `role` is a role-type name (or
`human`/`ai`) comes back with that role type, as the importer reads such messages
as Zep v3/v0.x ones.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator
from typing import IO, Any

from storage.models import (
    Message,
    RoleType,
    Session,
    Summary,
    SummaryInfo,
    User,
    format_timestamp,
)
from storage.store import MemoryStore

__all__ = [
    "EXPORTERS",
    "FORMATS",
    "PAGE_SIZE",
    "every_user",
    "export_sessions",
    "iter_messages",
    "write_markdown",
    "write_openai_jsonl",
    "write_zep_dump",
    "write_zep_json",
    "write_zep_jsonl",
    "zep_message",
    "zep_session_fields",
]

PAGE_SIZE = 500
"""Messages read from the store per `list_messages` call."""

Writer = Callable[[MemoryStore, Iterable[Session], IO[str]], None]


def iter_messages(store: MemoryStore, session_id: str) -> Iterator[Message]:
    """The session's full history, oldest first, read a page at a time."""
    page = 1
    while True:
        listing = store.list_messages(session_id, limit=PAGE_SIZE, cursor=page)
        yield from listing.messages
        if len(listing.messages) < PAGE_SIZE:
            return
        page += 1


def _timestamp(value: Any) -> str | None:
    return None if value is None else format_timestamp(value)


def zep_message(message: Message) -> dict[str, Any]:
    """A message as Zep v2 JSON, without the store's derived fields."""
    return {
        "uuid": message.uuid,
        "created_at": _timestamp(message.created_at),
        "role": message.role,
        "role_type": message.role_type.value if message.role_type else None,
        "content": message.content,
        "metadata": message.metadata,
    }


def zep_session_fields(session: Session) -> dict[str, Any]:
    """A session's importable fields, in the order the export writes them."""
    return {
        "session_id": session.session_id,
        "user_id": session.user_id,
        "metadata": session.metadata,
        "created_at": _timestamp(session.created_at),
    }


def _dumps(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _indented(text: str, spaces: int) -> str:
    pad = " " * spaces
    return "\n".join(pad + line for line in text.split("\n"))


# --- Zep JSON and JSONL --------------------------------------------------------------


def write_zep_json(store: MemoryStore, sessions: Iterable[Session], out: IO[str]) -> None:
    """A JSON list of session objects with their messages (`zeptui import` reads it).

    The bytes equal `json.dumps(sessions, ensure_ascii=False, indent=2)` plus a
    newline, but messages are written as they are read.
    """
    _write_session_list(store, sessions, out, depth=0)
    out.write("\n")


def write_zep_dump(
    store: MemoryStore,
    sessions: Iterable[Session],
    out: IO[str],
    users: Iterable[User] | None = None,
) -> None:
    """`{"users": [...], "sessions": [...]}`: zep-json plus users (names, emails,
    metadata), which `zeptui import` restores. `users` are the users to write: every
    user of the store for a full backup (`every_user`), even those without sessions;
    None for the users the sessions name. The bytes equal
    `json.dumps(document, ensure_ascii=False, indent=2)` plus a newline.

    Users come first so that an import knows them before the first session."""
    if users is None:
        sessions = list(sessions)
        users = _users_named(store, sessions)
    out.write('{\n  "users": ')
    records = [
        {
            "user_id": user.user_id,
            "email": user.email,
            "first_name": user.first_name,
            "last_name": user.last_name,
            "metadata": user.metadata,
        }
        for user in users
    ]
    out.write(_indented(_dumps(records, indent=2), 2).lstrip(" "))
    out.write(',\n  "sessions": ')
    _write_session_list(store, sessions, out, depth=2)
    out.write("\n}\n")


def every_user(store: MemoryStore) -> Iterator[User]:
    """Every user of the store, in its order, read a page at a time."""
    cursor = 0
    while True:
        page = store.list_users(limit=PAGE_SIZE, cursor=cursor)
        yield from page
        if len(page) < PAGE_SIZE:
            return
        cursor += len(page)


def _users_named(store: MemoryStore, sessions: Iterable[Session]) -> list[User]:
    """The users `sessions` belong to, in order of first mention."""
    from storage.errors import NotFoundError

    users: list[User] = []
    for user_id in dict.fromkeys(s.user_id for s in sessions if s.user_id):
        try:
            users.append(store.get_user(user_id))
        except NotFoundError:  # a session may name a user that was deleted
            continue
    return users


def _write_session_list(
    store: MemoryStore, sessions: Iterable[Session], out: IO[str], depth: int
) -> None:
    """Sessions with their messages as an indented JSON list, `depth` spaces in (the
    list's own first line is not padded)."""
    pad = " " * depth
    first_session = True
    out.write("[")
    for session in sessions:
        out.write("\n" if first_session else ",\n")
        first_session = False
        head = _dumps(zep_session_fields(session), indent=2)
        out.write(_indented(head[: -len("\n}")], depth + 2))  # the object, still open
        out.write(f',\n{pad}    "messages": [')
        first_message = True
        for message in iter_messages(store, session.session_id):
            out.write("\n" if first_message else ",\n")
            first_message = False
            out.write(_indented(_dumps(zep_message(message), indent=2), depth + 6))
        out.write("]" if first_message else f"\n{pad}    ]")
        out.write(f"\n{pad}  }}")
    out.write("]" if first_session else f"\n{pad}]")


def write_zep_jsonl(store: MemoryStore, sessions: Iterable[Session], out: IO[str]) -> None:
    """One Zep message per line, with `session_id` and `user_id` added.

    Session metadata and created_at cannot ride on message lines, so they are not
    exported (use zep-json for them), and a session without messages writes no line.
    """
    for session in sessions:
        for message in iter_messages(store, session.session_id):
            record = {"session_id": session.session_id, "user_id": session.user_id}
            record.update(zep_message(message))
            out.write(_dumps(record))
            out.write("\n")


# --- Markdown --------------------------------------------------------------------------

_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>#|~])")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")


def _inline(text: str) -> str:
    """One line of plain text, Markdown punctuation escaped."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def _code_span(text: str) -> str:
    """One line of text as a Markdown code span, whatever backticks it holds."""
    text = " ".join(text.split())
    ticks = "`" * (max((len(run) for run in re.findall(r"`+", text)), default=0) + 1)
    pad = " " if text.startswith("`") or text.endswith("`") else ""
    return f"{ticks}{pad}{text}{pad}{ticks}"


def _readable_time(value: Any) -> str:
    if value is None:
        return "unknown time"
    return format_timestamp(value)[:19].replace("T", " ") + " UTC"


def _closed_fences(text: str) -> str:
    """`text` verbatim, plus a closing fence if it leaves a code fence open,
    so one message cannot swallow the rest of the transcript."""
    open_fence: str | None = None
    for line in text.split("\n"):
        match = _FENCE.match(line)
        if match is None:
            continue
        fence = match.group(1)
        if open_fence is None:
            open_fence = fence
        elif (
            fence[0] == open_fence[0]
            and len(fence) >= len(open_fence)
            and not line.strip().strip(fence[0])
        ):
            open_fence = None
    return text if open_fence is None else f"{text}\n{open_fence}"


def _markdown_summary(summary: Summary, covered: int) -> str:
    label = f"> **Summary** of {covered} messages · {_readable_time(summary.created_at)}"
    body = _closed_fences(summary.content.strip())
    lines = [f"> {line}" if line else ">" for line in body.split("\n")]
    return "\n".join([label, ">", *lines]) + "\n\n"


def write_markdown(store: MemoryStore, sessions: Iterable[Session], out: IO[str]) -> None:
    """A readable transcript per session: a heading with the session's id, user,
    creation time and metadata, then each message as `**role** (role_type) · time`
    and its content (verbatim, with any code fence it leaves open closed). Each
    summary follows, as a blockquote, the newest message it covers."""
    first = True
    for session in sessions:
        if not first:
            out.write("---\n\n")
        first = False
        out.write(f"# Session {_inline(session.session_id)}\n\n")
        out.write(f"- User: {_inline(session.user_id) if session.user_id else '(none)'}\n")
        out.write(f"- Created: {_readable_time(session.created_at)}\n")
        if session.metadata:
            out.write(f"- Metadata: {_code_span(_dumps(session.metadata))}\n")
        out.write("\n")
        summaries: dict[str, list[SummaryInfo]] = {}
        for info in store.list_summaries(session.session_id):
            summaries.setdefault(info.summary.recent_message_uuid, []).append(info)
        for message in iter_messages(store, session.session_id):
            role = _inline(message.role) or "(no name)"
            role_type = message.role_type.value if message.role_type else "no role type"
            out.write(f"**{role}** ({role_type}) · {_readable_time(message.created_at)}\n\n")
            content = _closed_fences(message.content.strip("\n"))
            if content.strip():
                out.write(f"{content}\n\n")
            for info in summaries.pop(message.uuid or "", []):
                out.write(_markdown_summary(info.summary, info.message_count))
        for left in summaries.values():  # the covered message was deleted
            for info in left:
                out.write(_markdown_summary(info.summary, info.message_count))


# --- OpenAI JSONL --------------------------------------------------------------------

_OPENAI_ROLES = {
    RoleType.user: "user",
    RoleType.assistant: "assistant",
    RoleType.system: "system",
    RoleType.tool: "tool",
    RoleType.function: "tool",
}
_NAME_INVALID = re.compile(r"[^A-Za-z0-9_-]+")


def _openai_message(message: Message) -> dict[str, Any]:
    role = _OPENAI_ROLES.get(message.role_type, "user") if message.role_type else "user"
    record: dict[str, Any] = {"role": role, "content": message.content}
    name = _NAME_INVALID.sub("_", message.role.strip())[:64]
    if name.strip("_") and name.lower() != role:
        record["name"] = name
    tool_call_id = (message.metadata or {}).get("tool_call_id")
    if role == "tool" and isinstance(tool_call_id, str):
        record["tool_call_id"] = tool_call_id
    return record


def write_openai_jsonl(store: MemoryStore, sessions: Iterable[Session], out: IO[str]) -> None:
    """One line per session, `{"messages": [{"role", "content", "name"?}, ...]}`, for
    fine-tuning tools.

    Role types map to OpenAI roles: user, assistant, system and tool as they are;
    function becomes tool (OpenAI's current name for it); norole and no role type
    become user, the human side of a chat, keeping the speaker in `name`. `name` is
    the speaker (Zep's `role`) when it differs from the role, reduced to OpenAI's
    allowed characters (`[A-Za-z0-9_-]`, at most 64). A tool message whose metadata
    has a string `tool_call_id` carries it. Sessions without messages write no line.
    """
    for session in sessions:
        started = False
        for message in iter_messages(store, session.session_id):
            out.write(", " if started else '{"messages": [')
            started = True
            out.write(_dumps(_openai_message(message)))
        if started:
            out.write("]}\n")


EXPORTERS: dict[str, Writer] = {
    "zep-json": write_zep_json,
    "zep-dump": write_zep_dump,
    "zep-jsonl": write_zep_jsonl,
    "markdown": write_markdown,
    "openai-jsonl": write_openai_jsonl,
}
FORMATS = tuple(EXPORTERS)


def export_sessions(
    store: MemoryStore,
    sessions: Iterable[Session],
    out: IO[str],
    format_name: str,
    users: Iterable[User] | None = None,
) -> None:
    """Write `sessions` to `out` in `format_name` (one of FORMATS). `users` are the
    users a zep-dump carries (see `write_zep_dump`); other formats have none."""
    try:
        writer = EXPORTERS[format_name]
    except KeyError:
        raise ValueError(
            f"unknown export format {format_name!r} (expected one of {', '.join(FORMATS)})"
        ) from None
    if writer is write_zep_dump:
        write_zep_dump(store, sessions, out, users)
    else:
        writer(store, sessions, out)
