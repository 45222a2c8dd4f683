"""storage.summary_policy: Zep's summary policy as pure functions (zep-semantics.md §3)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from storage.summary_policy import due_spans, span_length, summary_budget


def test_zeps_worked_example_window_12() -> None:
    """§3.2: the first summary after message 12 covers 1-6, the next after 18 covers 7-12."""
    messages = [f"message {n}" for n in range(1, 13)]
    assert due_spans(messages[:11], 12) == []
    assert due_spans(messages, 12) == [[0, 1, 2, 3, 4, 5]]
    # After the first summary the policy sees messages 7.. only.
    after_a = [f"message {n}" for n in range(7, 19)]
    assert due_spans(after_a[:11], 12) == []
    assert due_spans(after_a, 12) == [[0, 1, 2, 3, 4, 5]]


def test_a_batch_larger_than_the_window_leaves_no_gaps() -> None:
    """zeptui repeats while `window` messages follow the point (no PR #238 gaps)."""
    spans = due_spans(["x"] * 30, 12)
    assert spans == [list(range(start, start + 6)) for start in (0, 6, 12, 18)]


def test_empty_messages_are_neither_counted_nor_covered() -> None:
    contents = ["one", "   ", "two", "", "three", "\n\t", "four"]
    assert due_spans(contents[:6], 4) == []
    assert due_spans(contents, 4) == [[0, 2]]


@pytest.mark.parametrize(("window", "step"), [(2, 1), (3, 2), (4, 2), (12, 6), (13, 7)])
def test_span_length(window: int, step: int) -> None:
    assert span_length(window) == step


def test_a_window_below_two_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        due_spans(["x"] * 5, 1)


@given(
    st.lists(st.sampled_from(["word", " ", "", "another"]), max_size=80),
    st.integers(min_value=2, max_value=20),
)
def test_spans_are_contiguous_oldest_first_and_leave_the_window(
    contents: list[str], window: int
) -> None:
    said = [i for i, content in enumerate(contents) if content.strip()]
    spans = due_spans(contents, window)
    covered = [i for span in spans for i in span]
    assert covered == said[: len(covered)]  # oldest first, each message once, no gaps
    assert all(len(span) == span_length(window) for span in spans)
    assert len(said) - len(covered) < window  # the rest is not due yet
    assert len(said) - len(covered) >= window // 2 or not spans


@pytest.mark.parametrize(
    ("covered", "cap", "budget"), [(0, 256, 0), (2, 256, 0), (226, 256, 75), (3000, 256, 256)]
)
def test_summary_budget_is_a_third_and_capped(covered: int, cap: int, budget: int) -> None:
    assert summary_budget(covered, cap) == budget
