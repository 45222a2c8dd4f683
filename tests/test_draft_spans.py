"""draft_spans over a backlog held as columns (an import's): the same drafts as over
the list of messages, made one span at a time and not kept."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from storage.models import RoleType
from storage.summarizers import ExtractiveSummarizer
from storage.summary_scheduler import (
    Backlog,
    ColumnMessages,
    MessageColumns,
    StoredMessage,
    draft_spans,
)
from storage.tokens import count_message_tokens

TURNS = [
    "I want to plan a trip to Japan in April. Cherry blossoms in Kyoto are the goal!",
    "Kyoto in early April is ideal for cherry blossoms. Stay near Gion, by the temples.",
    "   ",
    "What about the budget? Around 3000 dollars for two weeks.",
    "A rail pass keeps the trip within budget. Book hotels soon: April is busy.",
]


def columns_of(count: int) -> MessageColumns:
    contents = [TURNS[n % len(TURNS)] + f" Turn {n}." * (n % 3) for n in range(count)]
    contents[7] = ""  # empty and whitespace-only messages are neither counted nor covered
    roles = ["Jane" if n % 2 == 0 else "assistant" for n in range(count)]
    return MessageColumns(
        ids=list(range(1, count + 1)),
        uuids=[f"u{n}" for n in range(count)],
        roles=roles,
        role_types=[RoleType.user if n % 2 == 0 else RoleType.assistant for n in range(count)],
        contents=contents,
        token_counts=[count_message_tokens(r, c) for r, c in zip(roles, contents, strict=True)],
    )


def test_columns_draft_as_the_list_they_stand_for_and_keep_no_message() -> None:
    columns = columns_of(40)
    messages = ColumnMessages(columns, 2, 38)
    listed = [StoredMessage(*row) for row in zip(*columns, strict=True)][2:38]
    summarizer = ExtractiveSummarizer()

    from_columns = list(draft_spans(summarizer, 12, Backlog(1, 0, None, messages)))
    from_list = list(draft_spans(summarizer, 12, Backlog(1, 0, None, listed)))

    assert len(from_columns) == 4
    assert from_columns == from_list
    # Drafting made only the messages it covered, and kept none: a big run's messages
    # would otherwise all live until its end.
    assert messages._made is None


@given(st.lists(st.integers(0, 35), max_size=20), st.booleans())
def test_picked_messages_are_those_at_the_positions(positions: list[int], made: bool) -> None:
    """`picked` (a span's messages, read column by column) is indexing one by one."""
    messages = ColumnMessages(columns_of(40), 2, 38)
    if made:
        messages.made()
    assert messages.picked(positions) == [messages[position] for position in positions]
    assert [messages.message_id(position) for position in positions] == [
        messages[position].id for position in positions
    ]
