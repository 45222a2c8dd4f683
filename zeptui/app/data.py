"""The app's data layer: the one place that calls the store.

Widgets never touch the store. A widget hands a request (`zeptui/app/requests.py`)
to the `DataLayer`, which runs it in a thread worker of that widget (one exclusive
group per kind of request, so a newer request replaces a stale one of its kind and
the worker goes when the widget goes), under a read or a write lease
(`zeptui/app/leases.py`), and posts the answer back to the widget as a message: the
request's reply, or `Failed`. Replies carry their request, so a widget recognises
an answer to a question it no longer asks.

The data layer also hands out the first page of the session list before the store
can answer (`zeptui/app/first_page.py`): the page kept from the last start when
the file is unchanged, else the page read ahead from the file while the app starts.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any, ClassVar, Unpack

from textual.message import Message

from storage.errors import NotFoundError, StoreError, StoreLockedError
from zeptui.app import first_page
from zeptui.app.first_page import FirstPage
from zeptui.config import SettingsError

if TYPE_CHECKING:
    from pathlib import Path

    from textual.dom import DOMNode
    from textual.message_pump import MessagePump
    from textual.timer import Timer
    from textual.widget import Widget
    from textual.worker import Worker

    from storage.store import MemoryStore
    from zeptui.app.leases import StoreAccess, WriteOptions


class Request:
    """Something the app asks of the store; `run` is called on a worker thread."""

    group: ClassVar[str]
    """The worker group (one per kind of request)."""
    exclusive: ClassVar[bool] = True
    """A newer request of the same group from the same widget replaces this one
    (reads; a write is never replaced)."""

    def run(self, store: MemoryStore, database: Path | None) -> Reply:
        """Ask `store` (a file at `database`, when it is one) and build the reply,
        with everything the widget needs made off the UI thread."""
        raise NotImplementedError


class WriteRequest(Request):
    """A change to the store: in the one `write` group, and never replaced by a newer
    one (each write the user asked for is made)."""

    group = "write"
    exclusive = False


class Reply(Message, bubble=False):
    """The answer to `request`, posted to the widget that asked (and to it alone:
    replies do not bubble to its parents)."""

    def __init_subclass__(cls, **options: Any) -> None:
        options.setdefault("bubble", False)  # Textual's default for a subclass is True
        super().__init_subclass__(**options)

    def __init__(self, request: Request) -> None:
        super().__init__()
        self.request = request


class Failed(Reply):
    """The store could not answer: `text` says why, in one line for the user."""

    def __init__(self, request: Request, error: Exception) -> None:
        super().__init__(request)
        self.locked = isinstance(error, StoreLockedError)
        """Another process holds the file: trying again later may work."""
        self.not_found = isinstance(error, NotFoundError)
        """What was asked for does not exist (no database file yet, a deleted session)."""
        from storage.capabilities import Unsupported  # loaded with the store already

        self.unsupported = isinstance(error, Unsupported)
        """The store cannot do this at all (a plain Zep server filtering sessions)."""
        if isinstance(error, StoreError | SettingsError):
            self.text = str(error)
        else:  # an unexpected failure is shown too, never raised in the app
            self.text = f"{type(error).__name__}: {error}"


class Settled(Reply):
    """A write's lease has ended (its reply came before): the summaries it made due
    are in the store now, or failed."""


class FirstPageRead(Message, bubble=False):
    """The first page of the session list, read ahead while the app started."""

    def __init__(self, page: FirstPage) -> None:
        super().__init__()
        self.page = page


class DataLayer:
    """Runs the app's requests against the store under leases (or on a server's
    store, `SharedStore`); answers by message."""

    def __init__(self, leases: StoreAccess) -> None:
        self.leases = leases
        self._kept: FirstPage | None = None
        self._ahead: concurrent.futures.Future[FirstPage | None] | None = None

    @property
    def location(self) -> str:
        """The database as the user named it."""
        return self.leases.location

    def read_ahead(self) -> None:
        """Get the first page of the session list before the store is loaded: the
        page kept from the last start if the file is unchanged, else read from the
        file on a thread of its own, started now (call it as early as possible)."""
        path = self.leases.path
        if path is not None:
            early = first_page.take(path)
            self._kept, self._ahead = early.kept, early.ahead

    def first_page(self, requester: MessagePump) -> FirstPage | None:
        """The first page, if it is there already; else, while it is being read
        ahead, `requester` gets it as `FirstPageRead` when it is there."""
        if self._kept is not None or self._ahead is None:
            return self._kept
        if self._ahead.done():
            return self._ahead.result()

        def read(future: concurrent.futures.Future[FirstPage | None]) -> None:
            page = future.result()
            if page is not None:
                requester.post_message(FirstPageRead(page))

        self._ahead.add_done_callback(read)
        return None

    def read(self, requester: DOMNode, request: Request) -> Worker[None]:
        """Run `request` under the read lease; the reply goes to `requester`."""
        return self._start(requester, request, self.leases.read)

    def write(
        self, requester: DOMNode, request: Request, **options: Unpack[WriteOptions]
    ) -> Worker[None]:
        """Run `request` under the write lease (the file read-write for its length
        only, waiting a bounded time for another process), held as `options` say
        (`leases.WriteOptions`). `requester` gets the reply as soon as the write is
        done, then `Settled` once the lease has ended: the summaries the write made
        due are made by then. Never blocks the screen: it runs in a worker
        like a read."""
        lease = partial(self.leases.write, **options)
        return self._start(requester, request, lease, early=True)

    async def ask(self, request: Request) -> Reply:
        """The reply to a read, awaited (for callers that are coroutines, such as
        the command palette's providers)."""
        return await asyncio.to_thread(self._answer, request, self.leases.read)

    def _start(
        self,
        requester: DOMNode,
        request: Request,
        lease: Callable[[Callable[[MemoryStore], Reply]], Reply],
        *,
        early: bool = False,
    ) -> Worker[None]:
        def serve() -> None:
            requester.post_message(self._answer(request, lease, requester if early else None))

        return requester.run_worker(
            serve,
            group=request.group,
            description=type(request).__name__,
            exclusive=request.exclusive,
            exit_on_error=False,
            thread=True,
        )

    def _answer(
        self,
        request: Request,
        lease: Callable[[Callable[[MemoryStore], Reply]], Reply],
        early_to: MessagePump | None = None,
    ) -> Reply:
        """The reply to `request` under `lease`; with `early_to`, the reply goes there
        before the lease ends, and the answer is `Settled`."""
        if self._ahead is not None:
            # The read-ahead's own handle on the file must be gone before a lease
            # opens it (DuckDB refuses two handles with different configurations).
            concurrent.futures.wait([self._ahead])

        def call(store: MemoryStore) -> Reply:
            reply = request.run(store, self.leases.path)
            if early_to is None:
                return reply
            early_to.post_message(reply)  # before the summaries due are made
            return Settled(request)

        try:
            return lease(call)
        except Exception as error:  # shown by the widget that asked, never raised
            return Failed(request, error)

    def close(self) -> None:
        """Let go of the store for good (the app is quitting)."""
        self.leases.close()


class LockRetry:
    """Retrying while another process holds the database file: after growing
    delays, a bounded number of times (never a busy loop)."""

    DELAYS: ClassVar[tuple[float, ...]] = (0.5, 1, 2, 4, 8, 15, 30, 30, 30)
    """Seconds before each retry: about two minutes in all, then the user presses r."""

    def __init__(self, owner: Widget) -> None:
        self._owner = owner
        self._timer: Timer | None = None
        self.attempts = 0

    def schedule(self, retry: Callable[[], object]) -> str:
        """Run `retry` after the next delay; returns the line that tells the user."""
        self.cancel()
        if self.attempts >= len(self.DELAYS):
            self.attempts = 0  # the user's next `r` starts a new round
            return "Press r to try again."
        delay = self.DELAYS[self.attempts]
        self.attempts += 1
        self._timer = self._owner.set_timer(delay, retry)
        return f"Trying again in {delay:g} s."

    def cancel(self) -> None:
        """Drop a pending retry (a newer request replaces it)."""
        if self._timer is not None:
            self._timer.stop()
            self._timer = None

    def succeeded(self) -> bool:
        """The store answered; True if that ended a round of retries."""
        retried, self.attempts = self.attempts > 0, 0
        return retried
