"""Token counting on forked processes (storage/processes.py): the same counts as one
thread, a failure or a cancel stops every child, Ctrl-C is the parent's to handle,
and a big Zep JSONL import counted that way stores what one thread stores."""

from __future__ import annotations

import gc
import json
import multiprocessing
import os
import signal
from collections.abc import Iterator
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from storage import processes
from storage.duckdb import DuckDBStore
from storage.errors import StoreError
from storage.tokens import count_tokens_batch
from tests.examples import examples
from tests.test_zep_bulk import snapshot

TEXTS = [
    "",
    "user: hello",
    "assistant: <|endoftext|> is ordinary text here",
    "Jane: naïve café — 東京 🌊🌊 ümlaut\r\n\ttabs",
    "x" * 5_000,
    "bot: " + "word " * 300,
    " ",
    "\n\n",
]


def test_a_child_counts_the_texts_it_makes() -> None:
    """Texts given as a function are made in the child, which counts what it gives."""
    texts = ["user: hello there", "assistant: général Kenobi 🚀", ""]
    with processes.ForkedCount() as counting:
        counting.count(lambda: texts[:2])
        counting.count(lambda: texts[2:])
        assert counting.result() == count_tokens_batch(texts, 1)


def forked_counts(texts: list[str], children: int) -> list[int]:
    """The counts of `texts` split into `children` shares, each counted by a child."""
    size = max(1, -(-len(texts) // children))
    with processes.ForkedCount() as counting:
        for start in range(0, len(texts), size):
            counting.count(texts[start : start + size])
        return counting.result()


@pytest.mark.parametrize("children", [1, 2, 3, 5])
def test_children_count_as_one_thread_does(children: int) -> None:
    texts = TEXTS * 7
    assert forked_counts(texts, children) == count_tokens_batch(texts, 1)
    assert forked_counts(texts[:1], children) == count_tokens_batch(texts[:1])
    assert forked_counts([], children) == []
    assert not multiprocessing.active_children()


@settings(max_examples=examples(10), deadline=None)
@given(st.lists(st.sampled_from(TEXTS), max_size=30), st.integers(1, 4))
def test_counts_come_back_in_the_order_of_the_shares(texts: list[str], children: int) -> None:
    assert forked_counts(texts, children) == count_tokens_batch(texts, 1)


def test_a_child_that_fails_says_why_in_one_line(capfd: pytest.CaptureFixture[str]) -> None:
    texts: list[object] = ["fine"] * 10 + [b"not text"] + ["fine"] * 10
    with pytest.raises(StoreError, match=r"^token counting failed: TypeError") as failed:
        forked_counts(texts, 2)  # type: ignore[arg-type]
    assert "\n" not in str(failed.value)
    assert "Traceback" not in capfd.readouterr().err
    assert not multiprocessing.active_children()


class Cancelled(Exception):
    pass


def test_a_cancel_stops_the_children_at_once() -> None:
    """The cancel comes while the children count (texts that take them seconds)."""
    texts = ["word " * 2_000] * 4_000
    checks: list[int] = []

    def check() -> None:
        checks.append(len(multiprocessing.active_children()))
        raise Cancelled

    with pytest.raises(Cancelled), processes.ForkedCount() as counting:
        counting.count(texts[:2_000])
        counting.count(texts[2_000:])
        counting.result(check)
    assert checks == [2]  # both were counting when it came
    assert not multiprocessing.active_children()


def test_ctrl_c_is_the_parents_to_handle(capfd: pytest.CaptureFixture[str]) -> None:
    """A terminal's Ctrl-C reaches every process of its group: the children ignore it
    (no traceback of theirs), and the parent's KeyboardInterrupt stops them."""
    texts = ["word " * 2_000] * 4_000
    sent: list[int] = []

    def check() -> None:
        if not sent:
            for child in multiprocessing.active_children():
                os.kill(child.pid or 0, signal.SIGINT)
                sent.append(child.pid or 0)
            return
        assert len(multiprocessing.active_children()) == 2  # still counting
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt), processes.ForkedCount() as counting:
        counting.count(texts[:2_000])
        counting.count(texts[2_000:])
        counting.result(check)
    assert len(sent) == 2
    assert not multiprocessing.active_children()
    assert "Traceback" not in capfd.readouterr().err


def zep_lines(path: Path, sessions: int, per_session: int) -> Path:
    words = ["tent", "river", "kayak", "map", "ferry", "lantern", "café", "東京", "🌊"]
    with path.open("w", encoding="utf-8") as out:
        for number in range(sessions):
            for index in range(per_session):
                record = {
                    "session_id": f"z-{number}",
                    "role": ["Jane", "Guide"][index % 2],
                    "role_type": ["user", "assistant"][index % 2],
                    "content": " ".join(
                        words[(number * 7 + index + k) % len(words)] for k in range(index % 23)
                    ),
                }
                out.write(json.dumps(record, ensure_ascii=False) + "\n")
    return path


def test_a_big_import_counted_by_children_stores_what_one_thread_stores(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = zep_lines(tmp_path / "big.jsonl", 40, 30)

    def imported(name: str) -> object:
        with DuckDBStore(tmp_path / name, summarizer=None) as store:
            store.import_zep_jsonl(path, "big")
            return snapshot(store)

    counted: list[int] = []
    one_thread = imported("thread.duckdb")
    monkeypatch.setattr(processes, "FORKED_COUNT_TEXTS", 100)
    monkeypatch.setattr(processes, "_cores_and_load", lambda: (3, 0.5))
    count = processes.ForkedCount.count

    def spy(self: processes.ForkedCount, texts: Any, then: Any = None) -> None:
        # The texts are made in the child (the next share is read meanwhile).
        assert callable(texts)
        counted.append(len(texts()))
        count(self, texts, then)

    monkeypatch.setattr(processes.ForkedCount, "count", spy)
    assert imported("forked.duckdb") == one_thread
    assert counted == [400, 400, 400]  # a child per spare core, forked as its share is read
    assert not multiprocessing.active_children()


def test_a_busy_machine_counts_on_one_thread(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(processes, "_cores_and_load", lambda: (2, 3.5))
    assert processes.spare_cores() == 0
    monkeypatch.setattr(processes, "_cores_and_load", lambda: (1, 0.0))
    assert processes.spare_cores() == 0
    monkeypatch.setattr(processes, "_cores_and_load", lambda: (2, 1.5))
    assert processes.spare_cores() == 2


def test_children_are_forked_with_the_heap_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """A counting child's garbage collections leave the inherited objects alone (and
    the parent's go on as before)."""
    frozen: list[int] = []
    start = multiprocessing.process.BaseProcess.start

    def spy(process: multiprocessing.process.BaseProcess) -> None:
        frozen.append(gc.get_freeze_count())
        start(process)

    monkeypatch.setattr(multiprocessing.process.BaseProcess, "start", spy)
    assert forked_counts(TEXTS, 2) == count_tokens_batch(TEXTS)
    assert len(frozen) == 2 and all(frozen)
    assert gc.get_freeze_count() == 0


def _totals(share: list[str], counts: list[int]) -> Iterator[tuple[int, int]]:
    """Each text's length and count, a piece at a time."""
    yield from zip(map(len, share), counts, strict=True)


def _fails_after_one(counts: list[int]) -> Iterator[object]:
    yield ("first", len(counts))
    raise ValueError("no more")


def _exits(counts: list[int]) -> Iterator[object]:
    os._exit(3)
    yield  # a generator, as `then` is


def test_children_go_on_from_their_counts_and_send_what_they_make() -> None:
    """`then` runs in each child after its counts are sent; `stream` gives each piece
    it made as it comes, in the order made, or last a line saying why it stopped."""
    shares = [TEXTS[:3], TEXTS[3:], ["plain"]]
    with processes.ForkedCount() as forked:
        forked.count(shares[0], partial(_totals, shares[0]))
        forked.count(shares[1], _fails_after_one)
        forked.count(shares[2], partial(_totals, shares[2]))
        counts = forked.result()
        streams = [list(forked.stream(share)) for share in (2, 0, 1)]  # any order
        assert forked.shares == 3
    assert counts == count_tokens_batch([*TEXTS, "plain"], 1)
    first = count_tokens_batch(TEXTS[:3], 1)
    assert streams == [
        [(5, count_tokens_batch(["plain"])[0])],
        list(zip(map(len, TEXTS[:3]), first, strict=True)),
        [("first", len(TEXTS) - 3), "ValueError: no more"],
    ]
    assert not multiprocessing.active_children()


def test_children_never_wait_to_send_what_they_make() -> None:
    """Pieces far bigger than a pipe holds, and more of them than are read: the
    children send everything while this process reads nothing, and end."""
    with processes.ForkedCount() as forked:
        for _ in range(2):
            forked.count(["a"], _big_pieces)
        forked.result()
        children = [child for child, _ in forked._children]
        for child in children:
            child.join(timeout=30)
        assert [child.exitcode for child in children] == [0, 0]
        assert [len(list(forked.stream(share))) for share in range(2)] == [8, 8]


def _big_pieces(counts: list[int]) -> Iterator[bytes]:
    for number in range(8):
        yield bytes([number]) * 1_000_000


def test_a_child_that_stops_before_its_outcome_is_said_so() -> None:
    with processes.ForkedCount() as forked:
        forked.count(["a"], _exits)
        forked.result()
        assert list(forked.stream(0)) == ["stopped (exit code 3)"]


def test_a_child_that_stops_before_its_counts_is_said_so_in_one_line() -> None:
    stopped = r"^token counting stopped \(exit code -9\)$"
    with pytest.raises(StoreError, match=stopped), processes.ForkedCount() as forked:
        forked.count(["word " * 2_000] * 4_000)
        os.kill(forked._children[0][0].pid or 0, signal.SIGKILL)
        forked.result()
    assert not multiprocessing.active_children()
