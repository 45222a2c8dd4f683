"""Maximal marginal relevance: re-rank search candidates for relevance and diversity.

Zep re-ranks the best `max(2 * limit, 10)` candidates of a search with MMR. zeptui has
no embeddings: a candidate's relevance is its BM25 score relative to the best
candidate's (0..1), and two candidates are as similar as the cosine of their term
frequency vectors (the index's terms of their text). Each step picks the candidate with
the highest `lambda * relevance - (1 - lambda) * (similarity to the most similar one
already picked)`; ties go to the better-ranked candidate.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

DEFAULT_LAMBDA = 0.5
"""Zep's default `mmr_lambda`."""


def candidates(limit: int) -> int:
    """How many candidates Zep re-ranks for `limit` results."""
    return max(2 * limit, 10)


def cosine(left: Counter[str], right: Counter[str]) -> float:
    """The cosine of two term-frequency vectors (0 when either is empty)."""
    if len(left) > len(right):
        left, right = right, left
    dot = sum(count * right[term] for term, count in left.items() if term in right)
    if not dot:
        return 0.0
    norms = math.sqrt(sum(c * c for c in left.values()) * sum(c * c for c in right.values()))
    return dot / norms


def rerank(
    scores: Sequence[float], terms: Sequence[Counter[str]], mmr_lambda: float, limit: int
) -> list[int]:
    """Positions of the candidates in MMR order, at most `limit` of them. `scores` are
    the candidates' relevance scores (any positive scale), best first; `terms` their
    term frequencies."""
    best = max(scores, default=0.0)
    relevance = [score / best if best > 0 else 0.0 for score in scores]
    closest = [0.0] * len(scores)  # similarity to the most similar picked candidate
    left = list(range(len(scores)))
    picked: list[int] = []
    while left and len(picked) < limit:
        choice = max(
            left,
            key=lambda i: (mmr_lambda * relevance[i] - (1 - mmr_lambda) * closest[i], -i),
        )
        picked.append(choice)
        left.remove(choice)
        for i in left:
            closest[i] = max(closest[i], cosine(terms[i], terms[choice]))
    return picked
