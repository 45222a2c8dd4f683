"""Zep's summary policy as pure functions: which messages are due, and how long
a summary may be.

zep-semantics.md §3: when at least `window` non-empty messages follow a session's
summary point, the oldest `window - window // 2` of them are summarised (with the
previous summary as context) and the point moves to the newest of them. Zep does
this once per trigger, which leaves the gaps of its PR #238 when a batch is
larger than the window or the summarizer lags; zeptui repeats it while the
condition holds (docs/zep-compatibility.md), so every message before the newest
`window / 2` or so ends up in exactly one summary.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "MAX_SUMMARY_BYTES",
    "MAX_SUMMARY_TOKENS",
    "due_spans",
    "span_length",
    "summary_budget",
]

MAX_SUMMARY_TOKENS = 1024
"""No summary is longer than this (Zep caps its LLM's summary output at 1024 tokens)."""
MAX_SUMMARY_BYTES = 16 * 1024
"""... nor larger than this in UTF-8 (1024 tokens of any script fit)."""


def span_length(window: int) -> int:
    """Messages one summary covers: `window - window // 2`."""
    if window < 2:
        raise ValueError(f"the message window must be at least 2, not {window}")
    return window - window // 2


def due_spans(contents: Sequence[str], window: int) -> list[list[int]]:
    """The summaries due for the messages after a session's summary point.

    `contents` are those messages' texts, oldest first. Returns, oldest first, the
    positions in `contents` of the messages each due summary covers. Empty
    (whitespace-only) messages are neither counted nor covered, as in Zep.
    """
    step = span_length(window)
    said = [n for n, content in enumerate(contents) if content and not content.isspace()]
    return [said[start : start + step] for start in range(0, len(said) - window + 1, step)]


def summary_budget(covered_tokens: int, cap: int) -> int:
    """Tokens a summary of `covered_tokens` may have: a third of them, at most `cap`."""
    return max(0, min(cap, covered_tokens // 3))
