"""What the transcript and inspector show: a message or a summary."""

from __future__ import annotations

from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from storage.models import Message, SummaryInfo


Item: TypeAlias = "Message | SummaryInfo"


def is_summary(item: Item) -> TypeIs[SummaryInfo]:
    """Summaries wrap a `summary`; messages do not (no model import needed here)."""
    return hasattr(item, "summary")
