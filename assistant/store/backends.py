"""Which engine holds what, chosen by the settings; the rest of the code only sees the store protocols.

| store | default (embedded) | server |
|---|---|---|
| facts (:class:`~assistant.store.facts.FactStore`) | SQLite ``index/<gen>/facts.sqlite`` | PostgreSQL (``BUDGET_QA_DATABASE_URL``), rows tagged with the generation |
| vectors (:class:`~assistant.store.vectors.ChromaPassageStore`) | local Chroma ``index/<gen>/chroma`` | Chroma server (``BUDGET_QA_CHROMA_URL``), collection ``passages_<gen>`` |
| generations, BM25, version | files in ``index/`` | PostgreSQL when it holds the facts |
| feedback | ``data/app.sqlite`` | PostgreSQL |

Generations themselves (new / publish / discard) are :class:`assistant.index.Generations`.
"""
from __future__ import annotations

from ..config import Settings
from .facts import FactStore


def open_fact_store(settings: Settings, generation: str) -> FactStore:
    """The fact store of ``generation`` (created empty if it has no rows yet)."""
    if settings.database_url:
        from .postgres import PostgresFactStore

        return PostgresFactStore(settings.database_url, generation)
    from .facts import SQLiteFactStore

    return SQLiteFactStore(settings.index_dir / generation / "facts.sqlite")


def vector_collection(generation: str) -> str:
    """The Chroma-server collection holding the vectors of ``generation``."""
    return f"passages_{generation}"


def open_vector_store(settings: Settings, generation: str, embedder):
    """The passage vector store of ``generation`` (``embedder`` computes every vector)."""
    from .vectors import ChromaPassageStore

    if settings.chroma_url:
        return ChromaPassageStore(None, embedder, collection=vector_collection(generation), url=settings.chroma_url)
    return ChromaPassageStore(settings.index_dir / generation / "chroma", embedder)


def describe(settings: Settings) -> str:
    """One line naming the backends in use (no credentials)."""
    facts = "PostgreSQL" if settings.database_url else f"SQLite in {settings.index_dir}"
    vectors = f"Chroma server {settings.chroma_url}" if settings.chroma_url else "local Chroma"
    return f"facts: {facts}; vectors: {vectors}"
