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

import re

from ..config import Settings
from ..errors import ConfigError
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


def redact(url: str) -> str:
    """``url`` without its password (postgresql://user:secret@host → postgresql://user:***@host)."""
    return re.sub(r"(//[^/:@]*:)[^@/]*@", r"\1***@", url or "")


def check_database_url(url: str) -> None:
    """Raise ConfigError unless ``url`` is a PostgreSQL URL (the only server fact store)."""
    if url and not re.match(r"postgres(?:ql)?://", url):
        raise ConfigError(f"BUDGET_QA_DATABASE_URL 应以 postgresql:// 开头（例如 postgresql://用户:密码@127.0.0.1:5432/budgetqa），"
                          f"而不是“{redact(url)[:60]}”")


def backend_error(exc: BaseException, settings: Settings) -> ConfigError | None:
    """The clear error for a failure of a server backend (PostgreSQL or the Chroma server) that
    ``exc`` reports, or None when ``exc`` is not one. Used at the edges (CLI, app.py) so that an
    unreachable or misconfigured server gives one line, never a traceback; passwords are redacted."""
    name = type(exc).__module__.split(".")[0]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    if name == "psycopg" and settings.database_url:
        return ConfigError(f"无法使用数据库 {redact(settings.database_url)}：{redact(text)[:200]}。"
                           f"请检查 BUDGET_QA_DATABASE_URL，以及 PostgreSQL 是否在运行。")
    if settings.chroma_url and ("Chroma" in text or name in ("httpx", "httpcore", "chromadb")):
        return ConfigError(f"无法连接 Chroma 服务器 {settings.chroma_url}：{text[:200]}。"
                           f"请检查 BUDGET_QA_CHROMA_URL，以及 chroma run 是否在运行。")
    return None
