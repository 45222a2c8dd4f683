"""Commands on a session's messages: add, show, messages, search, summarize."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from storage.paging import MAX_LIMIT
from zeptui.cli.args import (
    limit_option,
    next_page_command,
    page_offset,
    page_option,
    parse_filters,
    parse_json_object,
    parse_role_type,
    parse_where_options,
)
from zeptui.cli.core import State, command, pass_state, require_user, summarizing
from zeptui.cli.output import json_option, respond

if TYPE_CHECKING:
    from rich.console import Console

MEMORY_TYPES = ("perpetual", "message_window", "summary_retriever")


@command()
@click.argument("session_id")
@click.option("--role", default="", help="The speaker's name, e.g. Jane (Zep's `role`).")
@click.option(
    "--role-type",
    required=True,
    metavar="TYPE",
    help="user, assistant, system, function, tool or norole.",
)
@click.option("--content", required=True, help="The message text.")
@click.option("--metadata", metavar="JSON", help="Message metadata, a JSON object.")
@json_option("Print the stored Message as JSON.")
@pass_state
def add(
    state: State,
    session_id: str,
    role: str,
    role_type: str,
    content: str,
    metadata: str | None,
    as_json: bool,
) -> None:
    """Add a message to a session (created if missing)."""
    from storage.models import Message

    message = Message(
        role=role,
        role_type=parse_role_type(role_type),
        content=content,
        metadata=parse_json_object(metadata, "--metadata"),
    )
    with state.write(create=True, summaries=True) as store:
        stored = store.add_memory(session_id, [message])

        def human(console: Console) -> None:
            from rich.text import Text

            from zeptui import render

            line = Text("Added message ")
            if stored:
                line.append_text(render.data(stored[0].uuid))
                line.append(f" ({stored[0].token_count} tokens)")
            line.append(" to session ")
            line.append_text(render.data(session_id))
            console.print(line, soft_wrap=True)

        # Said before the store closes: a summary falling due is made then, and with an
        # LLM that can take until its deadline.
        respond(as_json, stored[0] if stored else None, human)


@command()
@click.argument("session_id")
@click.option(
    "--memory-type", type=click.Choice(MEMORY_TYPES), default="perpetual", show_default=True
)
@click.option("--lastn", type=click.IntRange(1, MAX_LIMIT), help="Only the last N messages.")
@json_option("Print the Zep Memory object.")
@pass_state
def show(state: State, session_id: str, memory_type: str, lastn: int | None, as_json: bool) -> None:
    """Show a session's memory as a client receives it, with its token total."""
    from storage.models import MemoryType

    with state.read() as store:
        memory = store.get_memory(session_id, MemoryType(memory_type), lastn)

    def human(console: Console) -> None:
        from zeptui import render

        render.print_memory(console, session_id, memory, memory_type, lastn)

    respond(as_json, memory, human)


@command()
@click.argument("session_id")
@limit_option(100, "messages")
@page_option
@json_option("Print Zep's MessageListResponse.")
@pass_state
@click.pass_context
def messages(
    ctx: click.Context, state: State, session_id: str, limit: int, page: int, as_json: bool
) -> None:
    """List a session's full history, oldest first, a page at a time."""
    offset = page_offset(limit, page)
    with state.read() as store:
        response = store.list_messages(session_id, limit=limit, cursor=page)

    def human(console: Console) -> None:
        from zeptui import render

        shown = offset + len(response.messages)
        more = next_page_command(ctx, page + 1) if 0 < shown < response.total_count else None
        render.print_message_page(console, response, offset + 1, more)

    respond(as_json, response, human)


@command()
@click.argument("text", required=False, default="")
@click.option("--session", "session_id", help="Only this session.")
@click.option("--user", "user_id", help="Only this user's sessions.")
@click.option(
    "--role-type", "role_types", multiple=True, metavar="TYPE", help="Only these. Repeatable."
)
@click.option("--metadata", "filters", multiple=True, metavar="KEY=VALUE", help="Metadata filter.")
@click.option(
    "--where",
    "wheres",
    multiple=True,
    metavar="FILTER",
    help="Zep's metadata filter: a jsonpath such as '$.tags[*] ? (@ == \"x\")', or a JSON "
    'where object ({"and": [...]}). Repeatable (all must hold).',
)
@click.option(
    "--scope",
    type=click.Choice(["messages", "summary"]),
    default="messages",
    show_default=True,
    help="Search messages or summaries.",
)
@click.option(
    "--mmr",
    "mmr_lambda",
    type=click.FloatRange(0, 1),
    metavar="LAMBDA",
    help="Re-rank by maximal marginal relevance: 1 relevance only, 0 diversity only.",
)
@click.option(
    "--min-score",
    type=click.FloatRange(0, 1),
    default=0.0,
    metavar="SCORE",
    help="Leave out lower scores (0..1).",
)
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
@json_option("Print a JSON array of SearchResults.")
@pass_state
def search(
    state: State,
    text: str,
    session_id: str | None,
    user_id: str | None,
    role_types: tuple[str, ...],
    filters: tuple[str, ...],
    wheres: tuple[str, ...],
    scope: str,
    mmr_lambda: float | None,
    min_score: float,
    limit: int,
    as_json: bool,
) -> None:
    """Ranked full-text search over messages (or summaries), best first; without TEXT,
    the newest that match the filters."""
    from storage.models import SearchQuery, SearchScope

    query = SearchQuery(
        text=text,
        scope=SearchScope(scope),
        limit=limit,
        session_id=session_id,
        user_id=user_id,
        role_types=[parse_role_type(value) for value in role_types],
        metadata=parse_filters(filters, "--metadata"),
        where=parse_where_options(wheres),
        min_score=min_score,
        mmr_lambda=mmr_lambda,
    )
    with state.read() as store:
        require_user(store, user_id)
        results = store.search(query)

    def human(console: Console) -> None:
        from zeptui import render

        render.print_search(console, results, text)

    respond(as_json, results, human)


@command()
@click.argument("session_id")
@click.option(
    "--summarizer",
    "summarizer_name",
    type=click.Choice(["extractive", "llm"]),
    help="Default: from the configuration.",
)
@click.option(
    "--again",
    is_flag=True,
    help="Summarise the whole session anew (e.g. with an LLM after an extractive import); "
    "its earlier summaries are soft-deleted when the new ones are stored.",
)
@json_option("Print the summaries made as JSON.")
@pass_state
def summarize(
    state: State, session_id: str, summarizer_name: str | None, again: bool, as_json: bool
) -> None:
    """Summarise a session now (messages beyond the window), and wait for it."""
    settings = state.settings(**{"summarizer.kind": summarizer_name})
    with state.write(summaries=True, settings=settings) as store:
        made = summarizing(store).summarize(session_id, again=again)
        window = store.message_window

    def human(console: Console) -> None:
        from zeptui import render

        if again and not made:
            console.print(f"No summary is due: the session has fewer than {window} messages.")
            return
        render.print_summaries(console, made, window)

    respond(as_json, made, human)
