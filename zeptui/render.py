"""Human-readable output for the CLI, with Rich.

Message content, roles, ids and metadata are data: they are only ever put into
`rich.text.Text` objects (never parsed as markup), after `sanitize` has replaced
ANSI escapes and other control characters with visible escapes such as `\\x1b`.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from zeptui.text import plural, title_or_id
from zeptui.text import sanitize as sanitize  # the app imports it from here

if TYPE_CHECKING:
    from storage.models import (
        Memory,
        Message,
        MessageListResponse,
        SearchResult,
        Session,
        SessionPage,
        StoreStats,
        SummaryInfo,
        User,
    )
    from zeptui.importers import FileReport
    from zeptui.services.imports import ImportRun

_WHITESPACE = re.compile(r"\s+")
_WORD = re.compile(r"\w+")

ROLE_STYLES = {
    "user": "bold cyan",
    "assistant": "bold green",
    "system": "bold magenta",
    "tool": "bold yellow",
    "function": "bold yellow",
}


def session_label(session: Session) -> str:
    """What to call a session on screen: its `title` metadata (set by the ChatGPT,
    Claude and ShareGPT importers) when it has one, else its id."""
    return title_or_id(session.session_id, (session.metadata or {}).get("title"))


def data(value: object, style: str = "") -> Text:
    """Untrusted text as a literal, sanitized Rich `Text` (no markup, no emoji codes)."""
    return Text(sanitize("" if value is None else str(value)), style=style)


def metadata_text(metadata: dict[str, Any] | None) -> Text:
    """Metadata as compact JSON text, or empty."""
    if not metadata:
        return Text("")
    return data(json.dumps(metadata, ensure_ascii=False, default=str), "dim")


UNWRAPPED_WIDTH = 100_000
"""The console width when output goes to a pipe or file: lines are never wrapped there
(ids stay whole), unless $COLUMNS asks for a width."""


def make_console(*, stderr: bool = False) -> Console:
    """A console that never interprets markup, emoji codes or highlights in strings.

    On a terminal it wraps to the terminal's width; into a pipe or file it does not wrap.
    """
    stream = sys.stderr if stderr else sys.stdout
    width = None
    if not stream.isatty() and not os.environ.get("COLUMNS", "").strip():
        width = UNWRAPPED_WIDTH
    return Console(stderr=stderr, markup=False, emoji=False, highlight=False, width=width)


def when(value: datetime | None, *, seconds: bool = False) -> str:
    """A timestamp in UTC, e.g. `2024-05-01 12:00 UTC`."""
    if value is None:
        return ""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    pattern = "%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M"
    return value.astimezone(UTC).strftime(pattern) + " UTC"


# --- sessions and users -------------------------------------------------------------


TITLES_MIN_WIDTH = 110
"""Terminal width from which the session list has room for a Title column."""


def sessions_table(page: SessionPage, width: int = 80) -> Table:
    """The session list: id, user, messages, tokens, last activity; on a terminal
    `width` of at least TITLES_MIN_WIDTH, also the title of sessions that have one."""
    titled = width >= TITLES_MIN_WIDTH and any(
        session_label(info.session) != info.session.session_id for info in page.sessions
    )
    # Ids are what commands take: with titles shown, keep them (to a uuid's length) whole.
    longest = max((len(info.session.session_id) for info in page.sessions), default=0)
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column(
        "Session", overflow="fold", ratio=3, min_width=min(longest, 36) if titled else None
    )
    if titled:
        table.add_column("Title", overflow="ellipsis", no_wrap=True, ratio=2, max_width=36)
    table.add_column("User", overflow="fold", ratio=2)
    table.add_column("Messages", justify="right", no_wrap=True)
    table.add_column("Tokens", justify="right", no_wrap=True)
    table.add_column("Last activity", no_wrap=True)
    for info in page.sessions:
        session = info.session
        label = session_label(session)
        title = [data(label if label != session.session_id else "")] if titled else []
        table.add_row(
            data(session.session_id),
            *title,
            data(session.user_id or "", "dim" if not session.user_id else ""),
            Text(f"{info.message_count:,}"),
            Text(f"{info.total_tokens:,}"),
            Text(when(info.last_activity)),
        )
    return table


def print_page_footer(
    console: Console, noun: str, first: int, shown: int, total: int, next_command: str | None
) -> None:
    """Under a page of a list: which items it holds, and the command for the next page.
    An empty page says whether the list is empty or the page is past its end."""
    if not shown:
        if total:
            ending = f"there {'is' if total == 1 else 'are'} {plural(total, noun)}"
            console.print(Text(f"No {noun}s on this page: {ending}."))
        else:
            console.print(Text(f"No {noun}s."))
        return
    footer = f"{noun.capitalize()}s {first:,}–{first + shown - 1:,} of {total:,}."
    if next_command is not None:
        footer += " Next page: "
    line = Text(footer, style="dim")
    if next_command is not None:
        line.append_text(data(next_command, "dim"))
    console.print(line, soft_wrap=True)


def print_sessions(
    console: Console, page: SessionPage, first: int, next_command: str | None
) -> None:
    """A page of sessions (`first` is the number of its first one) with a footer saying
    where it sits and how to get the next."""
    if page.sessions:
        console.print(sessions_table(page, console.width))
    print_page_footer(console, "session", first, len(page.sessions), page.total_count, next_command)


def print_session_list(console: Console, sessions: Sequence[Session]) -> None:
    """Plain sessions (no aggregates), e.g. a user's sessions."""
    if not sessions:
        console.print(Text("No sessions."))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("Session", overflow="fold")
    table.add_column("Created", no_wrap=True)
    table.add_column("Metadata", overflow="fold")
    for session in sessions:
        table.add_row(
            data(session.session_id),
            Text(when(session.created_at)),
            metadata_text(session.metadata),
        )
    console.print(table)


def print_users(
    console: Console, users: Sequence[User], first: int, total: int, next_command: str | None
) -> None:
    """A page of users, with a footer as `print_sessions`."""
    if users:
        console.print(users_table(users))
    print_page_footer(console, "user", first, len(users), total, next_command)


def users_table(users: Sequence[User]) -> Table:
    """A table of users."""
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("User", overflow="fold")
    table.add_column("Name", overflow="fold")
    table.add_column("Email", overflow="fold")
    table.add_column("Created", no_wrap=True)
    for user in users:
        name = " ".join(part for part in (user.first_name, user.last_name) if part)
        table.add_row(
            data(user.user_id), data(name), data(user.email or ""), Text(when(user.created_at))
        )
    return table


def print_user(console: Console, user: User) -> None:
    """One user's fields."""
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    rows: list[tuple[str, Text]] = [
        ("User", data(user.user_id)),
        ("First name", data(user.first_name or "")),
        ("Last name", data(user.last_name or "")),
        ("Email", data(user.email or "")),
        ("Created", Text(when(user.created_at, seconds=True))),
        ("Updated", Text(when(user.updated_at, seconds=True))),
        ("Metadata", metadata_text(user.metadata)),
        ("UUID", data(user.uuid, "dim")),
    ]
    for label, value in rows:
        table.add_row(Text(label), value)
    console.print(table)


# --- messages, memory, summaries ----------------------------------------------------


def message_header(message: Message, number: int | None = None) -> Text:
    """`#3  2024-05-01 12:00:00 UTC  Jane (user)  12 tokens`, role and name as data."""
    role_type = message.role_type.value if message.role_type else None
    style = ROLE_STYLES.get(role_type or "", "bold")
    header = Text()
    if number is not None:
        header.append(f"#{number}  ", style="dim")
    if message.created_at is not None:
        header.append(when(message.created_at, seconds=True) + "  ", style="dim")
    header.append_text(data(message.role or role_type or "(no role)", style))
    if message.role and role_type and message.role != role_type:
        header.append(f" ({role_type})", style="dim")
    elif not role_type:
        header.append(" (no role type)", style="dim")
    header.append(f"  {plural(message.token_count, 'token')}", style="dim")
    return header


def print_message(console: Console, message: Message, number: int | None = None) -> None:
    """A message: its header line, its content verbatim, then its metadata."""
    console.print(message_header(message, number), soft_wrap=True)
    console.print(data(message.content), soft_wrap=True)
    if message.metadata:
        line = Text("metadata: ", style="dim")
        line.append_text(metadata_text(message.metadata))
        console.print(line, soft_wrap=True)
    console.print()


def print_memory(
    console: Console, session_id: str, memory: Memory, memory_type: str, lastn: int | None
) -> None:
    """The memory a client receives: summary (if any), then the messages."""
    title = Text("Session ", style="bold")
    title.append_text(data(session_id, "bold"))
    detail = f"  {memory_type} memory"
    if lastn is not None:
        detail += f", last {lastn}"
    detail += f": {plural(len(memory.messages), 'message')}"
    detail += ", a summary" if memory.summary else ""
    detail += f", {plural(memory.total_tokens, 'token')} in total"
    title.append(detail, style="dim")
    console.print(title, soft_wrap=True)
    console.print()
    if memory.summary is not None:
        header = Text("Summary", style="bold yellow")
        header.append(
            f"  {when(memory.summary.created_at, seconds=True)}"
            f"  {plural(memory.summary.token_count, 'token')}",
            style="dim",
        )
        console.print(header, soft_wrap=True)
        console.print(data(memory.summary.content), soft_wrap=True)
        console.print()
    if memory.facts:
        console.print(Text("Facts", style="bold"))
        for fact in memory.facts:
            console.print(Text("- ").append_text(data(fact)), soft_wrap=True)
        console.print()
    for message in memory.messages:
        print_message(console, message)
    if not memory.messages and memory.summary is None:
        console.print(Text("No messages."))


def print_message_page(
    console: Console, response: MessageListResponse, first: int, next_command: str | None
) -> None:
    """One page of a session's full history, numbered from the start of the session."""
    for number, message in enumerate(response.messages, start=first):
        print_message(console, message, number)
    shown, total = len(response.messages), response.total_count
    print_page_footer(console, "message", first, shown, total, next_command)


def print_summaries(console: Console, summaries: Sequence[SummaryInfo], window: int) -> None:
    """Summaries just made, or a note that none was due."""
    if not summaries:
        console.print(
            Text(f"No summary was due: fewer than {window} messages follow the latest summary.")
        )
        return
    for info in summaries:
        header = Text("Summary", style="bold yellow")
        header.append(
            f"  covers {plural(info.message_count, 'message')}"
            f", {plural(info.summary.token_count, 'token')}",
            style="dim",
        )
        console.print(header)
        console.print(data(info.summary.content), soft_wrap=True)
        console.print()


# --- search --------------------------------------------------------------------------


def snippet(content: str, query: str, width: int = 120) -> Text:
    """One line of `content` around the first query term, with the terms in bold."""
    flat = _WHITESPACE.sub(" ", sanitize(content)).strip()
    terms = {word.lower() for word in _WORD.findall(query)}
    lowered = flat.lower()
    positions = [lowered.find(term) for term in terms if term and term in lowered]
    start = 0
    if positions and len(flat) > width:
        start = max(0, min(positions) - width // 3)
        space = flat.find(" ", start, min(positions))
        if start and space != -1:
            start = space + 1  # begin on a word boundary
    end = min(len(flat), start + width)
    text = Text(("…" if start else "") + flat[start:end] + ("…" if end < len(flat) else ""))
    for term in terms:
        text.highlight_regex(re.compile(re.escape(term), re.IGNORECASE), "bold")
    return text


def print_search(console: Console, results: Sequence[SearchResult], query: str) -> None:
    """Ranked results: score, session, role and a snippet."""
    if not results:
        console.print(Text("No matches."))
        return
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("Score", justify="right", no_wrap=True)
    # No max width: ids stay whole wherever the terminal has room (always in a pipe).
    table.add_column("Session", overflow="fold")
    table.add_column("Role", overflow="fold", max_width=20)
    table.add_column("Snippet", overflow="fold", ratio=1)
    for result in results:
        if result.message is not None:
            message = result.message
            role_type = message.role_type.value if message.role_type else ""
            role = data(message.role or role_type, ROLE_STYLES.get(role_type, ""))
            body = message.content
        elif result.summary is not None:
            role = Text("summary", style="bold yellow")
            body = result.summary.content
        else:
            continue
        table.add_row(
            Text(f"{result.score:.3f}"), data(result.session_id or ""), role, snippet(body, query)
        )
    console.print(table)


# --- import and stats ----------------------------------------------------------------


def report_line(report: FileReport) -> Text:
    """`file (zep): 1 session created, 0 updated; 7 messages added, 0 already present`."""
    result = report.result
    line = data(report.path, "bold")
    line.append(f" ({report.format}): ")
    line.append(
        f"{plural(result.sessions_created, 'session')} created, "
        f"{result.sessions_updated:,} updated; "
        f"{plural(result.messages_added, 'message')} added, "
        f"{result.messages_skipped:,} already present"
    )
    if result.messages_restored:
        line.append(f", {result.messages_restored:,} restored")
    if result.users_created:
        line.append(f"; {plural(result.users_created, 'user')} created")
    return line


PROBLEMS_SHOWN = 10
"""Skipped records and warnings listed per file; `--json` lists more."""


def print_import_run(console: Console, run: ImportRun) -> None:
    """Per file: what was imported (or ignored), the records skipped, the warnings;
    then totals when there are several files, and a dry run says so."""
    for entry in run.entries:
        report = entry.report
        if entry.note is not None:
            line = data(entry.name, "dim")
            line.append(f": ignored ({entry.note})", style="dim")
            console.print(line, soft_wrap=True)
        if report is None:
            continue
        console.print(report_line(report), soft_wrap=True)
        _print_problems(console, "skipped", report.skipped, report.skipped_count)
        _print_problems(console, "warning", report.warnings, report.warning_count)
    reports = run.reports
    if len(reports) > 1:
        totals = run.totals()
        console.print(
            Text(
                f"Total: {plural(len(reports), 'file')}; "
                f"{plural(totals.sessions_created, 'session')} created, "
                f"{totals.sessions_updated:,} updated; "
                f"{plural(totals.messages_added, 'message')} added, "
                f"{totals.messages_skipped:,} already present"
                + (f", {totals.messages_restored:,} restored" if totals.messages_restored else ""),
                style="bold",
            )
        )
    if run.options.dry_run:
        console.print(Text("Dry run: nothing was written.", style="yellow"))


def _print_problems(console: Console, label: str, lines: Sequence[str], count: int) -> None:
    for line in lines[:PROBLEMS_SHOWN]:
        text = Text(f"  {label}: ", style="yellow")
        text.append_text(data(line))
        console.print(text, soft_wrap=True)
    if count > PROBLEMS_SHOWN:
        console.print(Text(f"  ... and {count - PROBLEMS_SHOWN:,} more ({label})", style="yellow"))


def print_stats(console: Console, stats: StoreStats, location: str, size: int | None) -> None:
    """Counts of live users, sessions, messages and summaries."""
    table = Table(box=None, pad_edge=False, show_header=False)
    table.add_column(style="bold", no_wrap=True)
    table.add_column(overflow="fold")
    table.add_row(Text("Database"), data(location))
    if size is not None:
        table.add_row(Text("File size"), Text(_human_size(size)))
    table.add_row(Text("Users"), Text(f"{stats.users:,}"))
    table.add_row(Text("Sessions"), Text(f"{stats.sessions:,}"))
    table.add_row(Text("Messages"), Text(f"{stats.messages:,}"))
    table.add_row(Text("Summaries"), Text(f"{stats.summaries:,}"))
    console.print(table)


def _human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:,.0f} {unit}" if unit == "B" else f"{value:,.1f} {unit}"
        value /= 1024
    return f"{value:,.1f} GiB"  # pragma: no cover
