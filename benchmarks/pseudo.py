"""Pre-filled embedding caches for store-timing benchmarks (not for retrieval quality).

Embedding 10,000 synthetic disclosures with the bundled e5-small takes hours on 2 cores, so the
10,000-document runs time the stores with the embedding cache filled beforehand: a text whose real
vector is in a source cache (e.g. from the 1,000-document run) gets that vector; any other text gets
a deterministic pseudo-vector (a unit vector seeded by the text's SHA-256, same dimension). Vectors
of such an index are fine for timing Chroma and PostgreSQL, meaningless for ranking quality.
"""
from __future__ import annotations

import hashlib
import sqlite3
from contextlib import closing
from pathlib import Path

import numpy as np

from assistant.embedding import _SCHEMA, _text_key  # the cache's own layout


def pseudo_vector(text: str, dim: int) -> list[float]:
    """A unit vector of ``dim`` floats determined by ``text`` (hash-seeded normal, normalised)."""
    seed = int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dim)
    return (v / np.linalg.norm(v)).astype(np.float32).tolist()


class PseudoEmbedder:
    """Stands in for the configured embedder (same ``name`` and ``dim``, so collections and caches
    stay compatible) and returns :func:`pseudo_vector` for every passage. Counts its calls."""

    def __init__(self, name: str, dim: int):
        self.name, self.dim = name, dim
        self.computed = 0

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        """One pseudo-vector per text."""
        self.computed += len(texts)
        return [pseudo_vector(t, self.dim) for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """The pseudo-vector of the query text."""
        return pseudo_vector(text, self.dim)


def prefill(cache: Path, texts, name: str, dim: int, source: Path | None = None) -> tuple[int, int]:
    """Write a vector for every distinct text into the embedding cache ``cache``: the real one from
    the ``source`` cache when it has the text, else a pseudo-vector. Returns (real, pseudo) counts."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    real = pseudo = 0
    with closing(sqlite3.connect(cache)) as out:
        out.execute(_SCHEMA)
        src = sqlite3.connect(source) if source is not None and Path(source).exists() else None
        try:
            rows = []
            for text in dict.fromkeys(texts):
                key = _text_key(text)
                got = src.execute("SELECT dim, vector FROM embeddings WHERE embedder = ? AND text_sha256 = ?",
                                  (name, key)).fetchone() if src is not None else None
                if got is not None:
                    rows.append((name, key, got[0], got[1]))
                    real += 1
                else:
                    rows.append((name, key, dim, np.asarray(pseudo_vector(text, dim), dtype=np.float32).tobytes()))
                    pseudo += 1
                if len(rows) >= 5000:
                    out.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)
                    rows = []
            out.executemany("INSERT OR REPLACE INTO embeddings VALUES (?, ?, ?, ?)", rows)
            out.commit()
        finally:
            if src is not None:
                src.close()
    return real, pseudo
