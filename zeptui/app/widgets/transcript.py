"""The transcript pane: a session as a chat, in three views.

- all messages: the full history, paged; the newest page first, older pages load
  as you scroll up (and newer ones as you scroll down after a jump);
- message window: exactly `get_memory(memory_type="message_window", lastn=N)`;
- perpetual: exactly `get_memory(memory_type="perpetual")`.

Summaries appear right after the message they end on (`recent_message_uuid`).
Only a few pages of message widgets exist at a time.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import events, on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.message import Message as TextualMessage
from textual.reactive import reactive
from textual.widgets import Static

from zeptui.app.data import DataLayer, Failed, LockRetry
from zeptui.app.items import Item
from zeptui.app.requests import MemoryLoaded, MemoryRequest, MessagesLoaded, MessagesRequest
from zeptui.app.widgets.message_block import MessageBlock, item_content, item_json, item_uuid
from zeptui.app.widgets.transcript_bars import BUDGETS, VIEW_HELP, View, pane_title, token_bar
from zeptui.render import sanitize, session_label

if TYPE_CHECKING:
    from storage.models import Memory, Message, SessionInfo, SummaryInfo

PAGE_SIZE = 25
"""Messages per page in the all-messages view (a screenful or two)."""
MAX_PAGES = 5
"""Pages kept mounted; the farthest page is dropped when a new one loads."""
PREFETCH_BLOCKS = 10
"""The next page loads when the selection comes this close to an edge."""


MARKDOWN_HELP = "Markdown or raw text (the pane's title says which)"


class TranscriptPane(Vertical, can_focus=True):
    """The selected session's transcript."""

    ALLOW_MAXIMIZE = True

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("v", "cycle_view", "View", tooltip=VIEW_HELP, id="view"),
        # One key, two bindings: the footer names what `m` switches to.
        Binding("m", "markdown(False)", "Raw", tooltip=MARKDOWN_HELP, id="markdown"),
        Binding("m", "markdown(True)", "Markdown", tooltip=MARKDOWN_HELP, id="markdown"),
        Binding(
            "b", "cycle_budget", "Budget", tooltip="Context budget of the token bar", id="budget"
        ),
        Binding(
            "c",
            "copy('content')",
            "Copy",
            tooltip="Copy the selected message's text",
            id="copy",
        ),
        Binding(
            "plus,equals_sign",
            "more",
            "Window N+1",
            key_display="+",
            show=False,
            id="window_more",
        ),
        Binding("minus", "fewer", "Window N-1", key_display="-", show=False, id="window_fewer"),
        Binding("u", "copy('uuid')", "Copy uuid", show=False, id="copy_uuid"),
        Binding("y", "copy('json')", "Copy JSON", show=False, id="copy_json"),
        Binding("j,down", "select(1)", "Next message", show=False, id="message_down"),
        Binding("k,up", "select(-1)", "Previous message", show=False, id="message_up"),
        Binding("pagedown", "select(10)", "Down 10", show=False, id="message_page_down"),
        Binding("pageup", "select(-10)", "Up 10", show=False, id="message_page_up"),
        Binding(
            "home",
            "select_edge(0)",
            "First message of the session",
            show=False,
            id="message_first",
        ),
        Binding(
            "end",
            "select_edge(-1)",
            "Last message of the session",
            show=False,
            id="message_last",
        ),
    ]

    DEFAULT_CSS = """
    TranscriptPane #transcript-scroll { height: 1fr; scrollbar-gutter: stable; }
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

    def __init__(self, data: DataLayer, **kwargs: object) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.data = data
        self.info: SessionInfo | None = None
        self.memory: Memory | None = None
        self.selected = -1
        self.pages: list[int] = []
        self.last_page = 0
        self._summaries: dict[str, SummaryInfo] | None = None
        self._blocks: list[MessageBlock] = []
        self._loading = False
        self._generation = 0
        self._lock_retry = LockRetry(self)

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

    def on_resize(self) -> None:
        self._update_title()
        self._update_budget()
        # A new width wraps the messages anew: keep the selected one in view.
        if 0 <= self.selected < len(self.blocks):
            self.call_after_refresh(self._bring_into_view, self.blocks[self.selected])

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
    def fetching(self) -> bool:
        """Whether a neighbouring page is being fetched."""
        return self._loading

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
        """Load what the current view shows of the current session again."""
        self._generation += 1
        self._lock_retry.cancel()
        self.pages = []
        self.memory = None
        self.selected = -1
        self._update_title()
        if self.info is None:
            self.show_empty("Select a session on the left.")
            return
        session_id = self.info.session.session_id
        if self.view is View.all:
            count = self.info.message_count
            self.last_page = max(1, math.ceil(count / PAGE_SIZE))
            self._fetch_page(session_id, None, reset=True, jump=jump_to)
        else:
            memory_type = "message_window" if self.view is View.window else "perpetual"
            lastn = self.lastn if self.view is View.window else None
            request = MemoryRequest(session_id, memory_type, lastn, self._generation)
            self.data.read(self, request)

    def show_appended(self, messages: list[Message]) -> None:
        """Messages just appended to this session, at once: at the end of the
        all-messages view when its last page is shown (else the view is read again)."""
        if self.view is not View.all or not self.blocks or self.pages[-1:] != [self.last_page]:
            self.reload()
            return
        blocks = [MessageBlock(m, markdown=self.markdown, page=self.last_page) for m in messages]
        self._blocks = self._blocks + blocks
        self.scroll.mount_all(blocks)
        self._select(len(self._blocks) - 1)

    def show_empty(self, text: str) -> None:
        """Show `text` instead of a transcript (nothing selected, errors, empty stores)."""
        self._blocks = []
        self.scroll.remove_children()
        self.scroll.mount(Static(Text(text), classes="transcript-empty"))  # never markup
        self._update_title()  # no session open any more: the title says so
        self._update_budget()
        self.post_message(self.Selected(None))

    def _update_title(self) -> None:
        label = Text("Transcript")
        if self.info is not None:
            label = Text(sanitize(session_label(self.info.session)))
        self.border_title = pane_title(label, self.view, self.lastn, self.markdown, self.size.width)

    def _update_budget(self) -> None:
        bar = self.query_one("#transcript-budget", Static)
        budget = BUDGETS[self.budget_index]
        bar.update(token_bar(self.info, self.memory, budget, bar.content_size.width))

    # --- loading -------------------------------------------------------------------

    @on(Failed)
    def _failed(self, event: Failed) -> None:
        request = event.request
        if not isinstance(request, MemoryRequest | MessagesRequest):
            return
        if request.generation != self._generation:
            return
        self._loading = False
        text = f"Cannot read this session: {sanitize(event.text)}"
        if event.locked:  # another process holds the file
            text = self._lock_retry.schedule(self.reload) + "\n" + text
        self.show_empty(text)

    @on(MemoryLoaded)
    def _memory_loaded(self, event: MemoryLoaded) -> None:
        if event.request.generation == self._generation:
            self._show_memory(event.memory, event.summary)

    def _show_memory(self, memory: Memory, summary: SummaryInfo | None) -> None:
        self._lock_retry.succeeded()
        self.memory = memory
        scroll = self.scroll
        scroll.remove_children()
        blocks: list[Static] = []
        if summary is not None:
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

    def _fetch_page(
        self,
        session_id: str,
        page: int | None,
        *,
        reset: bool,
        jump: str | None = None,
        first: bool = False,
    ) -> None:
        """Ask for a page of messages (None: the page with `jump`, else the last)."""
        request = MessagesRequest(
            session_id,
            page,
            page_size=PAGE_SIZE,
            last_page=self.last_page,
            reset=reset,
            generation=self._generation,
            jump=jump,
            first=first,
            with_summaries=self._summaries is None,
            # A short last page: the page before it too, so the screen opens full
            # and no older page lands above it at once.
            short_page=PREFETCH_BLOCKS,
        )
        self.data.read(self, request)

    @on(MessagesLoaded)
    async def _messages_loaded(self, loaded: MessagesLoaded) -> None:
        request = loaded.request
        generation = request.generation
        if generation != self._generation:
            return
        self._lock_retry.succeeded()
        self._loading = False
        if self._summaries is None:
            self._summaries = loaded.summaries
        summaries = self._summaries
        blocks: list[MessageBlock] = []
        for index, message in enumerate(loaded.messages):
            page = loaded.page + index // PAGE_SIZE
            blocks.append(MessageBlock(message, markdown=self.markdown, page=page))
            summary = summaries.get(message.uuid or "")
            if summary is not None:
                blocks.append(MessageBlock(summary, markdown=self.markdown, page=page))
        scroll = self.scroll
        if request.reset:
            await scroll.remove_children()
            self.pages = sorted({block.page for block in blocks if block.page}) or [loaded.page]
            self._blocks = blocks
            if not blocks:
                await scroll.mount(Static("No messages.", classes="transcript-empty"))
                self._update_budget()
                self.post_message(self.Selected(None))
                return
            # Mounted before selecting: the scroll to the selection then sees the
            # final layout (a long message laid out late pushed the newest one off).
            await scroll.mount_all(blocks)
            if generation != self._generation:
                return
            self._update_budget()
            target = 0 if request.first else len(blocks) - 1
            if request.jump is not None:
                target = next(
                    (i for i, b in enumerate(blocks) if item_uuid(b.item) == request.jump),
                    target,
                )
            self._select(target, top=request.jump is None)
            return
        if loaded.page < self.pages[0]:
            await self._prepend(blocks, loaded.page)
        else:
            await self._append(blocks, loaded.page)

    async def _prepend(self, blocks: list[MessageBlock], page: int) -> None:
        scroll = self.scroll
        selected = self.selected_item
        # What is on screen stays put: the first block so far keeps its distance
        # from the top of the view once the older page is laid out above it.
        anchor = self._blocks[0] if self._blocks else None
        offset = anchor.virtual_region.y - scroll.scroll_y if anchor is not None else 0
        self._blocks = blocks + self._blocks
        self.pages.insert(0, page)
        if len(self.pages) > MAX_PAGES:
            self._drop_page(self.pages.pop())
        self._reselect(selected)
        await scroll.mount_all(blocks, before=anchor)

        def keep_place() -> None:
            if anchor is not None and anchor.is_attached:
                scroll.scroll_to(y=anchor.virtual_region.y - offset, animate=False)

        self.call_after_refresh(keep_place)

    async def _append(self, blocks: list[MessageBlock], page: int) -> None:
        selected = self.selected_item
        self._blocks = self._blocks + blocks
        self.pages.append(page)
        if len(self.pages) > MAX_PAGES:
            self._drop_page(self.pages.pop(0))
        self._reselect(selected)
        await self.scroll.mount_all(blocks)

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
        self._fetch_page(self.info.session.session_id, page, reset=False)

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self.scroll.scroll_y <= self.scroll.size.height:  # within a screen of the top
            self._load_more(older=True)

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        if self.scroll.scroll_y >= self.scroll.max_scroll_y - self.scroll.size.height:
            self._load_more(older=False)

    # --- selection -----------------------------------------------------------------

    def _select(self, index: int, *, top: bool = False) -> None:
        """Select the block at `index` and scroll it into view (`top`: its first line
        at the top of the view, when it is taller than the view)."""
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
        self.call_after_refresh(self._bring_into_view, block, top)
        self.post_message(self.Selected(block.item))
        # Fetch the neighbouring page before the selection gets there.
        if index < PREFETCH_BLOCKS:
            self._load_more(older=True)
        elif index >= len(blocks) - PREFETCH_BLOCKS:
            self._load_more(older=False)

    def _bring_into_view(self, block: MessageBlock, top: bool = False, tries: int = 20) -> None:
        """Scroll `block` into view once it is laid out (on a busy machine a refresh
        can come before the layout that sizes newly mounted blocks)."""
        if not block.is_attached or self.selected_item is not block.item:
            return  # replaced, or the selection moved on
        if not block.virtual_region.size and tries:
            self.call_after_refresh(self._bring_into_view, block, top, tries - 1)
            return
        self.scroll.scroll_to_widget(block, animate=False, top=top)

    def action_select(self, step: int) -> None:
        self._select(self.selected + step)

    def action_select_edge(self, edge: int) -> None:
        """The first or last message of the session (in the all-messages view the
        page with it is loaded first when it is not on screen)."""
        first = edge == 0
        if self.view is View.all and self.info is not None and self.pages:
            page = 1 if first else self.last_page
            if page not in self.pages:
                self._generation += 1
                self._loading = True
                session_id = self.info.session.session_id
                self._fetch_page(session_id, page, reset=True, first=first)
                return
        self._select(0 if first else len(self.blocks) - 1, top=not first)

    # --- view switches -------------------------------------------------------------

    def action_cycle_view(self) -> None:
        """All messages → message window → perpetual."""
        views = list(View)
        self.view = views[(views.index(self.view) + 1) % len(views)]

    def watch_view(self) -> None:
        self.reload()

    def action_more(self) -> None:
        """One more message in the message window."""
        self._change_lastn(+1)

    def action_fewer(self) -> None:
        """One message fewer in the message window."""
        self._change_lastn(-1)

    def _change_lastn(self, step: int) -> None:
        if self.view is not View.window:
            self.notify("+ and - size the message window view (v switches to it).")
        elif self.lastn + step < 1:
            self.notify("The message window holds at least one message.")
        else:
            self.lastn += step

    def watch_lastn(self) -> None:
        if self.view is View.window:
            self.reload()

    def action_toggle_markdown(self) -> None:
        """Message content as Markdown or as raw text (the title says which)."""
        self.markdown = not self.markdown

    def action_markdown(self, markdown: bool) -> None:
        self.markdown = markdown

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """Of `m`'s two bindings, the one that changes something is on."""
        if action == "markdown":
            return parameters != (self.markdown,)
        return True

    def watch_markdown(self, markdown: bool) -> None:
        for block in self.blocks:
            block.set_markdown(markdown)
        self._update_title()
        self.refresh_bindings()

    def action_cycle_budget(self) -> None:
        """The context budget the token bar measures against."""
        self.budget_index = (self.budget_index + 1) % len(BUDGETS)
        if self.memory is None:  # the all-messages view has no bar: say what changed
            budget = BUDGETS[self.budget_index] // 1000
            self.notify(
                f"Token budget {budget}k: the bar of the message window and perpetual views."
            )

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
