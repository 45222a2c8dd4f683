"""Search as the API's search request describes it, on the store's own ranking.

Scores are the store's ranking squashed to 0..1 (`score / (score + 1)`: the order is
kept, and `min_score` means the same whatever the query).
"""

from __future__ import annotations

from storage.models import Memory, MemoryType, SearchQuery, SearchResult
from storage.paging import check_range
from storage.store import MemoryStore
from zeptui.server.errors import ApiError
from zeptui.server.wire import MemoryResponse, SearchBody

DEFAULT_LIMIT = 10
"""Results when the request gives no `limit` (Zep's default)."""
MAX_RESULTS = 1000
SCOPES = ("messages", "summary")
TYPES = ("similarity", "mmr")


def normalised(score: float) -> float:
    """A ranking score (0 and up) as 0..1, order kept."""
    return max(score, 0.0) / (max(score, 0.0) + 1.0)


def _choice(name: str, value: str | None, choices: tuple[str, ...]) -> str:
    if value is None or value == "":
        return choices[0]
    if value not in choices:
        raise ApiError(400, f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


class SearchService:
    """Search requests and the summaries `summary_retriever` memory adds."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def search_session(
        self, session_id: str, request: SearchBody, limit: int | None
    ) -> list[dict[str, object]]:
        """Results for one session's search request, best first, as result fields
        (`score`, and `dist` with the same value, for either API's result shape)."""
        check_range("limit", limit, 0, MAX_RESULTS)
        scope = _choice("search_scope", request.search_scope, SCOPES)
        _choice("search_type", request.search_type, TYPES)
        if scope != "messages":
            raise ApiError(400, "search_scope summary is not served yet")
        if request.metadata:
            raise ApiError(400, "metadata filters are not served yet")
        text = (request.text or "").strip()
        if not text:
            raise ApiError(400, "text: give the words to search for")
        query = SearchQuery(text=text, limit=limit or DEFAULT_LIMIT, session_id=session_id)
        found = [self._fields(result) for result in self.store.search(query)]
        minimum = request.min_score or 0.0
        return [fields for fields in found if float(str(fields["score"])) >= minimum]

    @staticmethod
    def _fields(result: SearchResult) -> dict[str, object]:
        score = normalised(result.score)
        return {"message": result.message, "summary": result.summary, "score": score, "dist": score}

    def with_relevant_summaries(
        self, session_id: str, memory: Memory, kind: MemoryType
    ) -> Memory | MemoryResponse:
        """`memory` as served (`relevant_summaries` are not served yet)."""
        return memory
