"""The transcript pane: a session as a chat, in three views.

- all messages: the full history, paged; the newest page first, older pages load
  as you scroll up (and newer ones as you scroll down after a jump);
- message window: exactly `get_memory(memory_type="message_window", lastn=N)`;
- perpetual: exactly `get_memory(memory_type="perpetual")`.

Summaries appear right after the message they end on (`recent_message_uuid`).
Only a few pages of message widgets exist at a time.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from rich.console import Group, RenderableType
from rich.text import Text
from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message as TextualMessage
from textual.reactive import reactive
from textual.widgets import Static

from storage.errors import StoreError

if TYPE_CHECKING:
    from storage.models import Memory, Message, SessionInfo, SummaryInfo
    from storage.store import MemoryStore
from zeptui.app.access import StoreAccess
from zeptui.app.items import Item, is_summary
from zeptui.render import sanitize, session_label

PAGE_SIZE = 25
"""Messages per page in the all-messages view (a screenful or two)."""
MAX_PAGES = 5
"""Pages kept mounted; the farthest page is dropped when a new one loads."""
PREFETCH_BLOCKS = 10
"""The next page loads when the selection comes this close to an edge."""
MAX_SHOWN_CHARACTERS = 20_000
"""Longer content is cut in the transcript (the inspector and copy get all of it)."""
BUDGETS = (8_000, 32_000, 128_000)

ROLE_TYPE_CLASSES = ("user", "assistant", "system", "function", "tool", "norole")


class View(StrEnum):
    """The transcript's views, in the order the view key cycles through them."""

    all = "all messages"
    window = "message window"
    perpetual = "perpetual"


def item_uuid(item: Item) -> str:
    return (item.summary.uuid if is_summary(item) else item.uuid) or ""


def item_json(item: Item) -> str:
    """The item exactly as Zep serves it."""
    model = item.summary if is_summary(item) else item
    return json.dumps(model.model_dump(mode="json"), ensure_ascii=False, indent=2)


def item_content(item: Item) -> str:
    return item.summary.content if is_summary(item) else item.content


_MARKDOWN_HINTS = re.compile(r"[*_`#>|\[\]~]|^\s*(?:[-+]|\d+[.)])\s", re.MULTILINE)


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
            from rich.markdown import Markdown  # imported on first use: it is slow to load

            body = Markdown(hard_breaks(content))
        parts: list[RenderableType] = [self._header(), body]
        if note is not None:
            parts.append(note)
        return Group(*parts)

    def set_markdown(self, markdown: bool) -> None:
        if markdown != self.markdown:
            self.markdown = markdown
            self.update(self._renderable())


@dataclass
class _Loaded:
    """What a fetch brought back for the all-messages view."""

    page: int
    messages: list[Message]
    summaries: dict[str, SummaryInfo] = field(default_factory=dict)


class TranscriptPane(Vertical, can_focus=True):
    """The selected session's transcript."""

    BINDINGS = [
        Binding("v", "cycle_view", "View"),
        Binding("m", "toggle_markdown", "Raw/Markdown"),
        Binding("plus,equals_sign", "more", "N+", key_display="+"),
        Binding("minus", "fewer", "N-", key_display="-"),
        Binding("b", "cycle_budget", "Budget"),
        Binding("j,down", "select(1)", "Next", show=False),
        Binding("k,up", "select(-1)", "Previous", show=False),
        Binding("pagedown", "select(10)", "Down 10", show=False),
        Binding("pageup", "select(-10)", "Up 10", show=False),
        Binding("home", "select_edge(0)", "First", show=False),
        Binding("end", "select_edge(-1)", "Last", show=False),
        Binding("c", "copy('content')", "Copy text"),
        Binding("u", "copy('uuid')", "Copy uuid"),
        Binding("y", "copy('json')", "Copy JSON"),
    ]

    DEFAULT_CSS = """
    TranscriptPane #transcript-scroll { height: 1fr; }
    TranscriptPane #transcript-budget { height: 1; padding: 0 1; }
    TranscriptPane .transcript-empty { padding: 2 4; color: $text-muted; }
    """

    view: reactive[View] = reactive(View.all, init=False)
    lastn: reactive[int] = reactive(12, init=False)
    markdown: reactive[bool] = reactive(True, init=False)
    budget_index: reactive[int] = reactive(0, init=False)

    class Selected(TextualMessage):
        """The selected message or summary changed (None: nothing selected)."""

        def __init__(self, item: Item | None) -> None:
            super().__init__()
            self.item = item

    def __init__(self, access: StoreAccess | None, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.access = access
        self.info: SessionInfo | None = None
        self.memory: Memory | None = None
        self.selected = -1
        self.pages: list[int] = []
        self.last_page = 0
        self._summaries: dict[str, SummaryInfo] | None = None
        self._blocks: list[MessageBlock] = []
        self._loading = False
        self._generation = 0

    def compose(self) -> ComposeResult:
        yield Static("", id="transcript-budget")
        # The pane takes the focus (so its keys select messages); the scroll area
        # scrolls with the selection and the mouse wheel.
        scroll = VerticalScroll(id="transcript-scroll")
        scroll.can_focus = False
        yield scroll

    def on_mount(self) -> None:
        self.show_empty("Select a session on the left.")
        self._update_title()

    # --- what is shown -------------------------------------------------------------

    @property
    def scroll(self) -> VerticalScroll:
        return self.query_one("#transcript-scroll", VerticalScroll)

    @property
    def blocks(self) -> list[MessageBlock]:
        """The mounted message and summary blocks, top to bottom.

        Kept in step with every mount and removal (a DOM query right after a mount
        would still see the old children).
        """
        return self._blocks

    @property
    def selected_item(self) -> Item | None:
        blocks = self.blocks
        return blocks[self.selected].item if 0 <= self.selected < len(blocks) else None

    def show_session(self, info: SessionInfo | None, jump_to: str | None = None) -> None:
        """Show a session (None clears the pane).

        `jump_to` switches to the all-messages view and selects that message.
        """
        self.info = info
        self._summaries = None
        if jump_to is not None:
            self.set_reactive(TranscriptPane.view, View.all)
        self.reload(jump_to)

    def reload(self, jump_to: str | None = None) -> None:
        self._generation += 1
        self.pages = []
        self.memory = None
        self.selected = -1
        self._update_title()
        if self.info is None or self.access is None:
            self.show_empty("Select a session on the left.")
            return
        if self.view is View.all:
            count = self.info.message_count
            self.last_page = max(1, math.ceil(count / PAGE_SIZE))
            self._fetch_page(self.info.session.session_id, None, True, self._generation, jump_to)
        else:
            memory_type = "message_window" if self.view is View.window else "perpetual"
            lastn = self.lastn if self.view is View.window else None
            self._fetch_memory(self.info.session.session_id, memory_type, lastn, self._generation)

    def show_empty(self, text: str) -> None:
        """Show `text` instead of a transcript (nothing selected, errors, empty stores)."""
        self._blocks = []
        self.scroll.remove_children()
        self.scroll.mount(Static(Text(text), classes="transcript-empty"))  # never markup
        self._update_budget()
        self.post_message(self.Selected(None))

    def _update_title(self) -> None:
        view = self.view.value
        if self.view is View.window:
            view += f" · last {self.lastn}"
        if self.info is not None:
            # Text, not str: a str border title is parsed as markup.
            self.border_title = Text(f"{sanitize(session_label(self.info.session))} · {view}")
        else:
            self.border_title = Text(f"Transcript · {view}")

    def _update_budget(self) -> None:
        bar = self.query_one("#transcript-budget", Static)
        budget = BUDGETS[self.budget_index]
        if self.info is None:
            bar.update("")
            return
        if self.memory is None:
            count = self.info.message_count
            text = Text(
                f"{count:,} message{'' if count == 1 else 's'} · "
                f"{self.info.total_tokens:,} tokens in the whole history",
                style="dim",
            )
            bar.update(text)
            return
        tokens = self.memory.total_tokens
        width = 12
        filled = min(width, round(width * tokens / budget))
        style = "red" if tokens > budget else "green"
        text = Text()
        text.append(f"{tokens:,} tokens to the client ", style="bold")
        text.append("█" * filled, style=style)
        text.append("░" * (width - filled), style="dim")
        text.append(f" {100 * tokens / budget:.0f}% of {budget // 1000}k", style="dim")
        bar.update(text)

    # --- loading -------------------------------------------------------------------

    @work(thread=True, exclusive=True, group="transcript", exit_on_error=False)
    def _fetch_memory(
        self, session_id: str, memory_type: str, lastn: int | None, generation: int
    ) -> None:
        from storage.models import MemoryType

        assert self.access is not None
        kind = MemoryType(memory_type)

        def call(store: MemoryStore) -> tuple[Memory, SummaryInfo | None]:
            memory = store.get_memory(session_id, kind, lastn)
            if memory.summary is None:
                return memory, None
            # get_memory's summary does not say which messages it covers; the
            # session's summary list does.
            uuid = memory.summary.uuid
            spans = (info for info in store.list_summaries(session_id) if info.summary.uuid == uuid)
            return memory, next(spans, None)

        try:
            memory, summary = self.access.run(call)
        except StoreError as error:
            self.app.call_from_thread(self._show_error, str(error), generation)
            return
        self.app.call_from_thread(self._show_memory, memory, summary, generation)

    def _show_error(self, message: str, generation: int) -> None:
        if generation == self._generation:
            self._loading = False
            self.show_empty(f"Cannot read this session: {sanitize(message)}")

    def _show_memory(self, memory: Memory, summary: SummaryInfo | None, generation: int) -> None:
        if generation != self._generation:
            return
        self.memory = memory
        scroll = self.scroll
        scroll.remove_children()
        blocks: list[Static] = []
        if memory.summary is not None:
            if summary is None:  # not listed (deleted meanwhile): its span is unknown
                from storage.models import SummaryInfo

                summary = SummaryInfo(
                    summary=memory.summary, first_message_uuid=None, message_count=0
                )
            blocks.append(MessageBlock(summary, markdown=self.markdown))
        if memory.facts:
            facts = Text("facts\n", style="bold")
            for fact in memory.facts:
                facts.append(f"• {sanitize(fact)}\n")
            blocks.append(Static(facts, classes="facts"))
        blocks += [MessageBlock(m, markdown=self.markdown) for m in memory.messages]
        if not blocks:
            blocks.append(Static("No messages.", classes="transcript-empty"))
        self._blocks = [block for block in blocks if isinstance(block, MessageBlock)]
        scroll.mount_all(blocks)
        self._update_budget()
        self._select(len(self.blocks) - 1)  # scrolls it into view after the layout

    @work(thread=True, exclusive=True, group="transcript", exit_on_error=False)
    def _fetch_page(
        self,
        session_id: str,
        page: int | None,
        reset: bool,
        generation: int,
        jump: str | None = None,
    ) -> None:
        assert self.access is not None
        need_summaries = self._summaries is None
        last_page = self.last_page

        def call(store: MemoryStore) -> _Loaded:
            number = page
            if number is None:
                number = (
                    store.message_position(session_id, jump) // PAGE_SIZE + 1
                    if jump is not None
                    else last_page
                )
            listing = store.list_messages(session_id, limit=PAGE_SIZE, cursor=number)
            summaries: dict[str, SummaryInfo] = {}
            if need_summaries:
                summaries = {
                    info.summary.recent_message_uuid: info
                    for info in store.list_summaries(session_id)
                }
            return _Loaded(number, listing.messages, summaries)

        try:
            loaded = self.access.run(call)
        except StoreError as error:
            self.app.call_from_thread(self._show_error, str(error), generation)
            return
        self.app.call_from_thread(self._show_page, loaded, reset, generation, jump)

    def _show_page(self, loaded: _Loaded, reset: bool, generation: int, jump: str | None) -> None:
        if generation != self._generation:
            return
        self._loading = False
        if self._summaries is None:
            self._summaries = loaded.summaries
        summaries = self._summaries
        blocks: list[MessageBlock] = []
        for message in loaded.messages:
            blocks.append(MessageBlock(message, markdown=self.markdown, page=loaded.page))
            summary = summaries.get(message.uuid or "")
            if summary is not None:
                blocks.append(MessageBlock(summary, markdown=self.markdown, page=loaded.page))
        scroll = self.scroll
        if reset:
            scroll.remove_children()
            self.pages = [loaded.page]
            self._blocks = blocks
            if not blocks:
                scroll.mount(Static("No messages.", classes="transcript-empty"))
                self._update_budget()
                self.post_message(self.Selected(None))
                return
            scroll.mount_all(blocks)
            self._update_budget()
            target = len(blocks) - 1
            if jump is not None:
                target = next(
                    (i for i, b in enumerate(blocks) if item_uuid(b.item) == jump), target
                )
            self._select(target)  # scrolls it into view after the layout
            return
        if loaded.page < self.pages[0]:
            self._prepend(blocks, loaded.page)
        else:
            self._append(blocks, loaded.page)

    def _prepend(self, blocks: list[MessageBlock], page: int) -> None:
        scroll = self.scroll
        selected = self.selected_item
        before = scroll.virtual_size.height
        first = self._blocks[0] if self._blocks else None
        self._blocks = blocks + self._blocks
        scroll.mount_all(blocks, before=first)
        self.pages.insert(0, page)
        if len(self.pages) > MAX_PAGES:
            self._drop_page(self.pages.pop())
        self._reselect(selected)

        def keep_place() -> None:
            scroll.scroll_to(y=scroll.scroll_y + scroll.virtual_size.height - before, animate=False)

        self.call_after_refresh(keep_place)

    def _append(self, blocks: list[MessageBlock], page: int) -> None:
        selected = self.selected_item
        self._blocks = self._blocks + blocks
        self.scroll.mount_all(blocks)
        self.pages.append(page)
        if len(self.pages) > MAX_PAGES:
            self._drop_page(self.pages.pop(0))
        self._reselect(selected)

    def _drop_page(self, page: int) -> None:
        dropped = [block for block in self._blocks if block.page == page]
        self._blocks = [block for block in self._blocks if block.page != page]
        for block in dropped:
            block.remove()

    def _reselect(self, item: Item | None) -> None:
        if item is None:
            return
        uuid = item_uuid(item)
        for index, block in enumerate(self.blocks):
            if item_uuid(block.item) == uuid:
                self.selected = index
                return

    def _load_more(self, older: bool) -> None:
        if self.view is not View.all or self.info is None or self._loading or not self.pages:
            return
        page = self.pages[0] - 1 if older else self.pages[-1] + 1
        if page < 1 or page > self.last_page:
            return
        self._loading = True
        self._fetch_page(self.info.session.session_id, page, False, self._generation)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self.scroll.scroll_y <= self.scroll.size.height:  # within a screen of the top
            self._load_more(older=True)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        if self.scroll.scroll_y >= self.scroll.max_scroll_y - self.scroll.size.height:
            self._load_more(older=False)

    # --- selection -----------------------------------------------------------------

    def _select(self, index: int) -> None:
        blocks = self.blocks
        if not blocks:
            self.selected = -1
            self.post_message(self.Selected(None))
            return
        index = max(0, min(index, len(blocks) - 1))
        if 0 <= self.selected < len(blocks):
            blocks[self.selected].remove_class("-selected")
        self.selected = index
        block = blocks[index]
        block.add_class("-selected")
        self.call_after_refresh(self.scroll.scroll_to_widget, block, animate=False)
        self.post_message(self.Selected(block.item))
        # Fetch the neighbouring page before the selection gets there.
        if index < PREFETCH_BLOCKS:
            self._load_more(older=True)
        elif index >= len(blocks) - PREFETCH_BLOCKS:
            self._load_more(older=False)

    def action_select(self, step: int) -> None:
        self._select(self.selected + step)

    def action_select_edge(self, edge: int) -> None:
        self._select(0 if edge == 0 else len(self.blocks) - 1)

    # --- view switches -------------------------------------------------------------

    def action_cycle_view(self) -> None:
        """All messages → message window → perpetual."""
        views = list(View)
        self.view = views[(views.index(self.view) + 1) % len(views)]

    def watch_view(self) -> None:
        self.reload()

    def action_more(self) -> None:
        if self.view is View.window:
            self.lastn += 1

    def action_fewer(self) -> None:
        if self.view is View.window and self.lastn > 1:
            self.lastn -= 1

    def watch_lastn(self) -> None:
        if self.view is View.window:
            self.reload()

    def action_toggle_markdown(self) -> None:
        self.markdown = not self.markdown

    def watch_markdown(self, markdown: bool) -> None:
        for block in self.blocks:
            block.set_markdown(markdown)

    def action_cycle_budget(self) -> None:
        self.budget_index = (self.budget_index + 1) % len(BUDGETS)

    def watch_budget_index(self) -> None:
        self._update_budget()

    def action_copy(self, what: str) -> None:
        item = self.selected_item
        if item is None:
            self.notify("Select a message first (j/k).", severity="warning")
            return
        text = {"content": item_content, "uuid": item_uuid, "json": item_json}[what](item)
        self.app.copy_to_clipboard(text)
        self.notify(f"Copied the {'text' if what == 'content' else what}.", markup=False)
