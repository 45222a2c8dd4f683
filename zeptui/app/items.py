"""What the transcript and inspector show (a message or a summary), and where a
search hit leads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeAlias

if TYPE_CHECKING:
    from typing_extensions import TypeIs

    from storage.models import Message, SummaryInfo


Item: TypeAlias = "Message | SummaryInfo"


def is_summary(item: Item) -> TypeIs[SummaryInfo]:
    """Summaries wrap a `summary`; messages do not (no model import needed here)."""
    return hasattr(item, "summary")


@dataclass(frozen=True)
class SearchHit:
    """The result the user picked: where to go."""

    session_id: str
    message_uuid: str
