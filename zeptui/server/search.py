"""Search as the API's search request describes it, on the store's own ranking.

The request becomes a `SearchQuery` (storage.models): `text` (empty: metadata only,
newest first), `metadata` (Zep's `where` filter and `start_date`/`end_date`, read by
storage.metadata_filter), `search_scope`, `search_type` with `mmr_lambda`, `min_score`
and `limit`. Scores come from the store, already 0..1.
"""

from __future__ import annotations

from storage.metadata_filter import parse_metadata_filter
from storage.mmr import DEFAULT_LAMBDA
from storage.models import (
    Memory,
    MemoryType,
    SearchQuery,
    SearchResult,
    SearchScope,
    Summary,
)
from storage.paging import check_range
from storage.store import MemoryStore
from zeptui.server.errors import ApiError
from zeptui.server.wire import MemoryResponse, SearchBody

DEFAULT_LIMIT = 10
"""Results when the request gives no `limit` (Zep's default)."""
MAX_RESULTS = 1000
TYPES = ("similarity", "mmr")
RELEVANT_SUMMARIES = 3
"""Summaries `summary_retriever` memory adds, at most."""
RECENT_TEXT_CHARACTERS = 2_000
"""The recent messages' text that finds relevant summaries (the newest part of it)."""


def _choice(name: str, value: str | None, choices: tuple[str, ...]) -> str:
    if value is None or value == "":
        return choices[0]
    if value not in choices:
        raise ApiError(400, f"{name} must be one of {', '.join(choices)}, not {value!r}")
    return value


def _fraction(name: str, value: float | None) -> None:
    if value is not None and not 0.0 <= value <= 1.0:
        raise ApiError(400, f"{name} must be between 0 and 1, not {value}")


def search_query(session_id: str, request: SearchBody, limit: int | None) -> SearchQuery:
    """The store's query for one session's search request; ApiError (400) for what
    the request gets wrong, naming it."""
    check_range("limit", limit, 0, MAX_RESULTS)
    scope = _choice("search_scope", request.search_scope, tuple(SearchScope))
    kind = _choice("search_type", request.search_type, TYPES)
    _fraction("mmr_lambda", request.mmr_lambda)
    _fraction("min_score", request.min_score)
    found = parse_metadata_filter(request.metadata)  # FilterError: 400
    lambda_ = request.mmr_lambda if request.mmr_lambda is not None else DEFAULT_LAMBDA
    return SearchQuery(
        text=(request.text or "").strip(),  # empty: metadata only (else a 400 from the store)
        scope=SearchScope(scope),
        limit=limit or DEFAULT_LIMIT,
        session_id=session_id,
        where=found.where,
        created_after=found.created_after,
        created_before=found.created_before,
        min_score=request.min_score or 0.0,
        mmr_lambda=lambda_ if kind == "mmr" else None,
    )


class SearchService:
    """Search requests and the summaries `summary_retriever` memory adds."""

    def __init__(self, store: MemoryStore) -> None:
        self.store = store

    def search_session(
        self, session_id: str, request: SearchBody, limit: int | None
    ) -> list[dict[str, object]]:
        """Results for one session's search request, best first, as result fields
        (`score`, and `dist` with the same value, for either API's result shape)."""
        query = search_query(session_id, request, limit)
        return [self._fields(result) for result in self.store.search(query)]

    @staticmethod
    def _fields(result: SearchResult) -> dict[str, object]:
        return {
            "message": result.message,
            "summary": result.summary,
            "score": result.score,
            "dist": result.score,
        }

    def with_relevant_summaries(
        self, session_id: str, memory: Memory, kind: MemoryType
    ) -> Memory | MemoryResponse:
        """`memory` as served: `summary_retriever` adds `relevant_summaries`, the
        session's summaries most relevant to its recent messages (searched with their
        text, re-ranked by MMR as Zep did), best first; other types are unchanged."""
        if kind is not MemoryType.summary_retriever:
            return memory
        served = MemoryResponse(**dict(memory), relevant_summaries=[])
        text = " ".join(message.content[-RECENT_TEXT_CHARACTERS:] for message in memory.messages)
        text = text[-RECENT_TEXT_CHARACTERS:].strip()
        if text:
            query = SearchQuery(
                text=text,
                scope=SearchScope.summary,
                session_id=session_id,
                limit=RELEVANT_SUMMARIES,
                mmr_lambda=DEFAULT_LAMBDA,
            )
            found = self.store.search(query)
            served.relevant_summaries = [
                result.summary for result in found if isinstance(result.summary, Summary)
            ]
        return served
