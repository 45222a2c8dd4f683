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
from array import array
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from multiprocessing.connection import Connection

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
    counts (`then`, `outcomes`). Leaving the `with` block (or `stop`) stops the
    children still at work."""

    def __init__(self) -> None:
        encoding()  # loaded once, before any fork
        self._context = multiprocessing.get_context("fork")
        self._children: list[tuple[multiprocessing.process.BaseProcess, Connection]] = []

    def count(
        self, texts: Sequence[str], then: Callable[[list[int]], object] | None = None
    ) -> None:
        """Fork a child to count `texts`, the next share; once it has sent the counts,
        the child calls `then(counts)` (if given: what it inherited is there) and sends
        what it returns, for `outcomes`."""
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
        children at once)."""
        counts = array("i")
        for child, reader in self._children:
            try:
                found = _receive(child, reader, check)
            except _Stopped as stopped:
                raise StoreError(f"token counting {stopped}") from None
            if isinstance(found, str):
                raise StoreError(f"token counting failed: {found}")
            counts.frombytes(found)  # type: ignore[arg-type]  # the counts, as bytes
        return counts.tolist()

    def outcomes(self, check: Callable[[], None] = lambda: None) -> Iterator[object]:
        """What each child's `then` returned, in the order of the shares (after
        `result`), as each is there; a string saying what went wrong instead, for a
        child whose `then` failed or that stopped. `check` is called while waiting:
        what it raises (a cancel) is raised here."""
        for child, reader in self._children:
            try:
                yield _receive(child, reader, check)
            except _Stopped as stopped:
                yield str(stopped)

    def stop(self) -> None:
        """Stop the children still at work, and let go of them."""
        children, self._children = self._children, []
        for child, reader in children:
            if child.is_alive():
                child.kill()
            child.join()
            reader.close()


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
        child.join()
        raise _Stopped(f"stopped (exit code {child.exitcode})") from None


def _count_share(
    texts: Sequence[str], writer: Connection, then: Callable[[list[int]], object] | None
) -> None:
    """In a child: send the token counts of `texts` (as bytes), then what `then(counts)`
    returns, if asked; or what went wrong (a string)."""
    leave_ctrl_c_to_the_parent()
    try:
        encode = encoding().encode_ordinary
        counts = array("i", [len(encode(text)) for text in texts])
        writer.send(counts.tobytes())
        if then is not None:
            writer.send(then(counts.tolist()))
    except Exception as error:
        writer.send(f"{type(error).__name__}: {error}")
    finally:
        writer.close()
