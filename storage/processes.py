"""Work forked onto the machine's other cores: the rule for when, and token counting.

tiktoken holds the GIL for most of the time it spends on a short text, so threads
count no faster than one thread; processes forked from this one (they start in
milliseconds, with the texts and the tokenizer already in memory) count on every
core. Children only compute and send their result back: they never touch the
store's file, ignore Ctrl-C (this process handles it and stops them), and report a
failure as a message, never as a traceback on the terminal.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
import signal
import threading
from array import array
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection, wait
from typing import cast

from storage.errors import StoreError
from storage.tokens import encoding

__all__ = [
    "FORKED_COUNT_TEXTS",
    "ForkedCount",
    "frozen_heap",
    "leave_ctrl_c_to_the_parent",
    "spare_cores",
]

FORKED_COUNT_TEXTS = 16_384
"""Fewer texts are counted in this process (forking costs more than it saves)."""
WAIT_SECONDS = 0.05
"""How often a wait for children looks at the caller's cancel check."""


def spare_cores() -> int:
    """Processes to fork for a big computation: one per core, or 0 to keep it in this
    process (one core, a machine busy with other work, or no `fork`).

    Forked work costs CPU time of its own (copied pages, results sent back): it pays
    only on cores that would otherwise wait. So a machine whose load average reaches
    its cores plus one (this process's own work counts about one) keeps it here.
    """
    if "fork" not in multiprocessing.get_all_start_methods():
        return 0
    cores, load = _cores_and_load()
    return cores if cores > 1 and load < cores + 1 else 0


@contextmanager
def frozen_heap() -> Iterator[None]:
    """A block that forks: the objects this process holds are left out of the garbage
    collector's passes meanwhile (`gc.freeze`), and in the children for good. A
    child's collections would otherwise walk every inherited object (CPU for nothing:
    the child frees none of them) and write to their pages, which copies them."""
    gc.freeze()
    try:
        yield
    finally:
        gc.unfreeze()


def leave_ctrl_c_to_the_parent() -> None:
    """In a forked child: ignore Ctrl-C, which a terminal sends to every process of its
    group (the child would print a traceback of its own); the parent handles it and
    stops its children."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _cores_and_load() -> tuple[int, float]:
    """The cores this process may run on, and the machine's load average (1 minute)."""
    if hasattr(os, "sched_getaffinity"):
        cores = len(os.sched_getaffinity(0))
    else:
        cores = os.cpu_count() or 1
    return cores, os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0


class ForkedCount:
    """Token counts (as `storage.tokens.count_tokens_batch` gives them) of texts handed
    over a share at a time (`count`), each counted by a child forked for it while this
    process goes on; a child may then go on to compute more from its share and its
    counts, sent back piece by piece (`then`, `stream`). Leaving the `with` block (or
    `stop`) stops the children still at work."""

    def __init__(self) -> None:
        encoding()  # loaded once, before any fork
        self._context = multiprocessing.get_context("fork")
        self._children: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []
        self._inbox: _Inbox | None = None

    def count(
        self,
        texts: Sequence[str] | Callable[[], Sequence[str]],
        then: Callable[[list[int]], Iterable[object]] | None = None,
    ) -> None:
        """Fork a child to count `texts` (or what `texts()` gives, called in the child:
        the work of making them is the child's), the next share; once it has sent the counts,
        the child goes through `then(counts)` (if given: what it inherited is there)
        and sends each piece it gives as it comes, for `stream` (neither None nor a
        string: those end a stream)."""
        reader, writer = self._context.Pipe(duplex=False)
        child = self._context.Process(
            target=_count_share,
            args=(texts, writer, then),
            name="zeptui-count",
            daemon=True,
        )
        try:
            with frozen_heap():
                child.start()
        except BaseException:
            reader.close()
            raise
        finally:
            writer.close()
        self._children.append((child, reader))

    def __enter__(self) -> ForkedCount:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def result(self, check: Callable[[], None] = lambda: None) -> list[int]:
        """Wait for the counts of every share, in order; `check` is called meanwhile:
        what it raises (a cancel) is raised here (leaving the block then stops the
        children at once). From then on, what the children send is received on a
        thread as it comes (a child never waits for this process to read it)."""
        counts = array("i")
        for child, reader in self._children:
            try:
                found = _receive(child, reader, check)
            except _Stopped as stopped:
                raise StoreError(f"token counting {stopped}") from None
            if isinstance(found, str):
                raise StoreError(f"token counting failed: {found}")
            counts.frombytes(found)  # type: ignore[arg-type]  # the counts, as bytes
        self._inbox = _Inbox(self._children)
        return counts.tolist()

    @property
    def shares(self) -> int:
        """How many children were forked (one per share)."""
        return len(self._children)

    def stream(self, share: int, check: Callable[[], None] = lambda: None) -> Iterator[object]:
        """The pieces the child of share number `share` (from 0) sends after its counts
        (`result` first), as each is there; a string saying what went wrong, last, for
        a child whose `then` failed or that stopped. `check` is called while waiting:
        what it raises (a cancel) is raised here."""
        assert self._inbox is not None, "result() first"
        return self._inbox.stream(share, check)

    def stop(self) -> None:
        """Stop the children still at work, and let go of them."""
        children, self._children = self._children, []
        for child, _ in children:
            if child.is_alive():
                child.kill()
        for child, _ in children:
            child.join()
        if self._inbox is not None:  # the children are gone: it has read their ends
            self._inbox.close()
            self._inbox = None
        for _, reader in children:
            reader.close()


class _Inbox:
    """What children send after their counts, received on a thread as it comes, a
    queue for each child."""

    def __init__(
        self, children: Sequence[tuple[multiprocessing.process.BaseProcess, Connection]]
    ) -> None:
        self._children = list(children)
        self._pieces: list[deque[object]] = [deque() for _ in children]
        self._ended = [False] * len(children)
        self._arrived = threading.Condition()
        self._thread = threading.Thread(target=self._receive, name="zeptui-inbox", daemon=True)
        self._thread.start()

    def _receive(self) -> None:
        waiting = {reader: number for number, (_, reader) in enumerate(self._children)}
        while waiting:
            for ready in wait(list(waiting)):
                reader = cast(Connection, ready)
                number = waiting[reader]
                child = self._children[number][0]
                try:
                    piece = reader.recv()
                except (EOFError, OSError):
                    piece = _stopped(child)
                ended = piece is None or isinstance(piece, str)
                with self._arrived:
                    if piece is not None:
                        self._pieces[number].append(piece)
                    self._ended[number] = ended
                    self._arrived.notify_all()
                if ended:
                    del waiting[reader]

    def stream(self, number: int, check: Callable[[], None]) -> Iterator[object]:
        pieces = self._pieces[number]
        while True:
            with self._arrived:
                if not pieces and not self._ended[number]:
                    self._arrived.wait(WAIT_SECONDS)
                piece = pieces.popleft() if pieces else None
                ended = self._ended[number] and not pieces
            if piece is not None:
                yield piece
            elif ended:
                return
            else:
                check()

    def close(self) -> None:
        """Once the children have ended: the thread is done with their pipes."""
        self._thread.join()


class _Stopped(Exception):
    """A child ended without sending what was waited for."""


def _receive(
    child: multiprocessing.process.BaseProcess, reader: Connection, check: Callable[[], None]
) -> object:
    """The child's next message; `check` is called while waiting. Raises `_Stopped`
    (saying its exit code) if it ended first: its pipe is then at its end."""
    while not reader.poll(WAIT_SECONDS):
        check()
    try:
        return reader.recv()
    except EOFError:
        raise _Stopped(_stopped(child)) from None


def _stopped(child: multiprocessing.process.BaseProcess) -> str:
    """What to say of a child whose pipe ended before what was waited for."""
    child.join()
    return f"stopped (exit code {child.exitcode})"


def _count_share(
    texts: Sequence[str] | Callable[[], Sequence[str]],
    writer: Connection,
    then: Callable[[list[int]], Iterable[object]] | None,
) -> None:
    """In a child: send the token counts of `texts` (as bytes), then each piece
    `then(counts)` gives and None, if asked; or what went wrong (a string)."""
    leave_ctrl_c_to_the_parent()
    try:
        encode = encoding().encode_ordinary
        if callable(texts):
            texts = texts()
        counts = array("i", [len(encode(text)) for text in texts])
        writer.send(counts.tobytes())
        if then is not None:
            for piece in then(counts.tolist()):
                writer.send(piece)
            writer.send(None)  # the end
    except Exception as error:
        writer.send(f"{type(error).__name__}: {error}")
    finally:
        writer.close()
