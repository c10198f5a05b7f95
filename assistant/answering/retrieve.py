"""Hybrid passage retrieval: dense (Chroma) and lexical (BM25) rankings fused by reciprocal rank.

RRF score of a passage = sum over the rankings it appears in of ``1 / (RRF_K + rank)`` with 1-based
ranks and ``RRF_K = 60``; each side is asked for ``max(CANDIDATE_FACTOR * k, MIN_CANDIDATES)``
candidates (so that even for ``k = 1`` a passage ranked well by both sides is seen by both). Exact ties
(frequent with two rankings: ranks (1, 2) and (2, 1) score the same) are broken by the scores
relative to each side's best (see :func:`rrf_fuse`).
"""
from __future__ import annotations

import logging
from dataclasses import dataclass

from assistant.model import Passage
from assistant.store.lexical import BM25Index
from assistant.store.vectors import ChromaPassageStore

log = logging.getLogger(__name__)

__all__ = [
    "CANDIDATE_FACTOR", "HybridRetriever", "MIN_CANDIDATES", "RRF_K", "ScoredPassage", "rrf_fuse",
]

RRF_K = 60
CANDIDATE_FACTOR = 4
MIN_CANDIDATES = 20


@dataclass(frozen=True)
class ScoredPassage:
    """A retrieved passage with its fused score and its 1-based rank on each side (None = absent)."""

    passage: Passage
    score: float
    dense_rank: int | None
    lexical_rank: int | None


def rrf_fuse(
    dense: list[tuple[Passage, float]],
    lexical: list[tuple[Passage, float]],
    k: int,
    rrf_k: int = RRF_K,
) -> list[ScoredPassage]:
    """Fuse two best-first ``(passage, score)`` rankings by reciprocal rank fusion; top ``k``.

    Passages are identified by ``passage_id``; the score of each side only serves to break exact
    RRF ties (with two rankings, items at ranks (1, 2) and (2, 1) always tie): the passage whose
    scores are closer to each side's best score wins, i.e. the side with the more decisive
    preference decides. Remaining ties go to the better dense rank.
    """
    by_id: dict[str, Passage] = {}
    ranks: dict[str, dict[str, int]] = {"dense": {}, "lexical": {}}
    rel: dict[str, float] = {}
    for side, ranking in (("dense", dense), ("lexical", lexical)):
        top = ranking[0][1] if ranking else 0.0
        for rank, (p, score) in enumerate(ranking, start=1):
            if p.passage_id in ranks[side]:
                continue
            by_id.setdefault(p.passage_id, p)
            ranks[side][p.passage_id] = rank
            rel[p.passage_id] = rel.get(p.passage_id, 0.0) + (score / top if top > 0 else 0.0)

    fused: list[ScoredPassage] = []
    for pid, passage in by_id.items():
        d, lx = ranks["dense"].get(pid), ranks["lexical"].get(pid)
        score = (1.0 / (rrf_k + d) if d else 0.0) + (1.0 / (rrf_k + lx) if lx else 0.0)
        fused.append(ScoredPassage(passage, score, d, lx))
    big = len(by_id) + 1
    fused.sort(key=lambda s: (-round(s.score, 12), -rel[s.passage.passage_id], s.dense_rank or big))
    return fused[:max(k, 0)]


class HybridRetriever:
    """Passage search combining a :class:`ChromaPassageStore` and a :class:`BM25Index` by RRF."""

    def __init__(self, vectors: ChromaPassageStore, lexical: BM25Index) -> None:
        self.vectors = vectors
        self.lexical = lexical

    def search(
        self,
        query: str,
        k: int = 5,
        doc_ids: list[str] | None = None,
        kinds: list[str] | None = None,
    ) -> list[ScoredPassage]:
        """The ``k`` best passages for ``query``, best first (at most ``k``; ``[]`` if none match).

        ``doc_ids``/``kinds`` filter both sides (``None`` = no restriction). Errors of the stores
        propagate (e.g. :class:`~assistant.store.vectors.VectorStoreError`).
        """
        if k <= 0 or not query.strip():
            return []
        n = max(CANDIDATE_FACTOR * k, MIN_CANDIDATES)
        dense = self.vectors.search(query, n, doc_ids=doc_ids, kinds=kinds)
        lexical = self.lexical.search(query, n, doc_ids=doc_ids, kinds=kinds)
        log.debug("hybrid search %r: %d dense, %d lexical candidates", query, len(dense), len(lexical))
        return rrf_fuse(dense, lexical, k)
