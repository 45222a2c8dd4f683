"""One message or summary in the transcript: a header line and the content, shown
literally, or as Markdown that never hides part of it."""

from __future__ import annotations

import json
import re
from functools import cache
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widgets import Static

from zeptui.app.items import Item, is_summary
from zeptui.render import sanitize

if TYPE_CHECKING:
    from markdown_it import MarkdownIt

MAX_SHOWN_CHARACTERS = 20_000
"""Longer content is cut in the transcript (the inspector and copy get all of it)."""


def item_uuid(item: Item) -> str:
    return (item.summary.uuid if is_summary(item) else item.uuid) or ""


def item_json(item: Item) -> str:
    """The item exactly as Zep serves it."""
    model = item.summary if is_summary(item) else item
    return json.dumps(model.model_dump(mode="json"), ensure_ascii=False, indent=2)


def item_content(item: Item) -> str:
    return item.summary.content if is_summary(item) else item.content


_MARKDOWN_HINTS = re.compile(r"[*_`#<>|\[\]~]|^\s*(?:[-+]|\d+[.)])\s", re.MULTILINE)


def looks_like_markdown(text: str) -> bool:
    """Whether Markdown would render `text` differently from plain text.

    Plain text skips the Markdown parser, which is the slow part of mounting a
    page of messages.
    """
    return _MARKDOWN_HINTS.search(text) is not None


def hard_breaks(markdown: str) -> str:
    """Keep chat line breaks in Markdown: each line outside code fences ends in a
    hard break, as chat apps show them."""
    lines = markdown.split("\n")
    fenced = False
    for index, line in enumerate(lines[:-1]):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
        elif not fenced and line.strip():
            lines[index] = line + "  "
    return "\n".join(lines)


@cache
def _markdown_parser() -> MarkdownIt:
    from markdown_it import MarkdownIt

    # Rich's own parser reads raw HTML as HTML and then drops it; here it stays
    # text. Link reference definitions ("[1]: https://...") stay text too.
    options: Any = {"html": False}
    parser = MarkdownIt("commonmark", options).enable("strikethrough").enable("table")
    return parser.disable("reference")


def literal_markdown(text: str) -> RenderableType:
    """`text` rendered as Markdown without losing any of it: raw HTML is shown as
    typed, and links show their address."""
    from rich.markdown import Markdown  # imported on first use: it is slow to load

    markdown = Markdown("", hyperlinks=False)
    markdown.markup = text
    markdown.parsed = _markdown_parser().parse(text)
    return markdown


def _when(item: Item) -> str:
    created = item.summary.created_at if is_summary(item) else item.created_at
    return created.strftime("%Y-%m-%d %H:%M:%S") if created else ""


class MessageBlock(Static):
    """One message or summary: a header line and the content."""

    def __init__(self, item: Item, *, markdown: bool, page: int | None = None) -> None:
        self.item = item
        self.page = page
        self.markdown = markdown
        classes = "summary" if is_summary(item) else "message"
        if not is_summary(item):
            classes += f" -{item.role_type.value if item.role_type else 'norole'}"
        super().__init__(self._renderable(), classes=classes, markup=False)

    def _header(self) -> Text:
        item = self.item
        header = Text()
        if is_summary(item):
            header.append("summary", style="bold")
            if item.message_count:
                header.append(f"  covers {item.message_count} messages", style="dim")
            tokens = item.summary.token_count
        else:
            role_type = item.role_type.value if item.role_type else "norole"
            header.append(sanitize(item.role or "(no role)"), style="bold")
            if item.role != role_type:  # a speaker named after its type says it once
                header.append(f"  {role_type}", style="italic")
            tokens = item.token_count
            if item.metadata:
                header.append("  ✱ metadata", style="dim")
        header.append(f"  {_when(item)}  {tokens:,} tokens", style="dim")
        return header

    def _renderable(self) -> RenderableType:
        content = sanitize(item_content(self.item))
        note = None
        if len(content) > MAX_SHOWN_CHARACTERS:
            note = Text(
                f"… {len(content) - MAX_SHOWN_CHARACTERS:,} more characters "
                "(the inspector and y/c copy have all of it)",
                style="dim italic",
            )
            content = content[:MAX_SHOWN_CHARACTERS]
        # Summaries are lines of "role: sentence": always shown as written.
        as_markdown = self.markdown and not is_summary(self.item)
        body: RenderableType = Text(content)
        if as_markdown and looks_like_markdown(content):
            body = literal_markdown(hard_breaks(content))
        parts: list[RenderableType] = [self._header(), body]
        if note is not None:
            parts.append(note)
        return Group(*parts)

    def set_markdown(self, markdown: bool) -> None:
        if markdown != self.markdown:
            self.markdown = markdown
            self.update(self._renderable())
