"""Dense passage retrieval: passages embedded by an :class:`~assistant.embedding.Embedder` in Chroma.

Chroma never embeds anything itself here (its default embedding function would download a model):
vectors are always computed by our embedder and passed explicitly (``embeddings=`` on upsert,
``query_embeddings=`` on query), and the collection is created/opened with
``embedding_function=None`` in cosine space. The collection metadata records the embedder name, so
an index built with one model is never queried with another.
"""
from __future__ import annotations

import json
import logging
import threading
from collections import OrderedDict
from pathlib import Path
from typing import Any

from assistant.embedding import Embedder
from assistant.errors import BudgetQAError
from assistant.model import Passage

log = logging.getLogger(__name__)

__all__ = ["ChromaPassageStore", "VectorStoreError", "SECTION_SEP"]

#: Separator of the ``section_path`` metadata string.
SECTION_SEP = " > "
#: Passages embedded and upserted per Chroma call.
UPSERT_BATCH = 256


class VectorStoreError(BudgetQAError):
    """The vector index cannot be used as configured (e.g. it was built with another embedder)."""


def passage_metadata(p: Passage) -> dict[str, Any]:
    """Chroma metadata of a passage; ``None`` values are omitted (Chroma rejects them)."""
    meta: dict[str, Any] = {
        "doc_id": p.doc_id,
        "kind": p.kind,
        "section_path": SECTION_SEP.join(p.section_path),
        "section_json": json.dumps(list(p.section_path), ensure_ascii=False),
        "line": int(p.line),
        "term": p.term,
        "page": p.page,
    }
    return {k: v for k, v in meta.items() if v is not None}


def passage_from_metadata(passage_id: str, text: str, meta: dict[str, Any]) -> Passage:
    """Rebuild a :class:`Passage` from its Chroma id, document text and metadata."""
    if "section_json" in meta:
        section = tuple(json.loads(meta["section_json"]))
    else:
        joined = meta.get("section_path", "")
        section = tuple(joined.split(SECTION_SEP)) if joined else ()
    page = meta.get("page")
    return Passage(
        passage_id=passage_id,
        doc_id=str(meta.get("doc_id", "")),
        kind=str(meta.get("kind", "")),
        section_path=section,
        text=text or "",
        line=int(meta.get("line", 0)),
        term=str(meta.get("term", "")),
        page=int(page) if page is not None else None,
    )


def where_clause(doc_ids: list[str] | None, kinds: list[str] | None) -> dict[str, Any] | None:
    """Chroma ``where`` filter restricting to ``doc_ids`` and/or ``kinds`` (None = no filter)."""
    conds: list[dict[str, Any]] = []
    if doc_ids is not None:
        conds.append({"doc_id": {"$in": list(doc_ids)}})
    if kinds is not None:
        conds.append({"kind": {"$in": list(kinds)}})
    if not conds:
        return None
    return conds[0] if len(conds) == 1 else {"$and": conds}


class ChromaPassageStore:
    """Passages in a persistent Chroma collection, searched by cosine similarity.

    ``path`` is the Chroma directory, ``embedder`` computes all vectors, ``collection`` names the
    collection (3-512 chars of ``[a-zA-Z0-9._-]``). With ``url`` (``http://host:port``) the
    collection lives on a Chroma server (``chroma run``) instead and ``path`` is unused. The client is
    opened on first use; read operations (:meth:`count`, :meth:`search`) on a directory or collection
    that does not exist create nothing and behave as an empty store. Raises :class:`VectorStoreError`
    when the collection was built with a different embedder than ``embedder.name``.
    """

    def __init__(self, path: Path | None, embedder: Embedder, collection: str = "passages", url: str = "") -> None:
        self.url = url
        self.path = Path(path) if path is not None else Path(".")
        self.embedder = embedder
        self.collection_name = collection
        self._client: Any = None
        self._collection: Any = None
        self._lock = threading.RLock()
        self._queries: OrderedDict[str, list[float]] = OrderedDict()

    # ----------------------------------------------------------------------------- plumbing

    def _get_client(self) -> Any:
        with self._lock:
            if self._client is None:
                import chromadb
                from chromadb.config import Settings

                if self.url:
                    host, port, ssl = parse_chroma_url(self.url)
                    self._client = chromadb.HttpClient(host=host, port=port, ssl=ssl,
                                                       settings=Settings(anonymized_telemetry=False))
                    log.debug("connected to the Chroma server at %s", self.url)
                    return self._client
                self.path.mkdir(parents=True, exist_ok=True)
                self._client = chromadb.PersistentClient(
                    path=str(self.path), settings=Settings(anonymized_telemetry=False),
                )
                log.debug("opened Chroma at %s", self.path)
            return self._client

    @property
    def _absent(self) -> bool:
        """True when a local store's directory does not exist (nothing to read or delete)."""
        return not self.url and not self.path.exists()

    def _get_collection(self, create: bool) -> Any:
        """The collection, or None if it does not exist and ``create`` is False."""
        with self._lock:
            if self._collection is not None:
                return self._collection
            if not create and self._absent:
                return None
            from chromadb.errors import NotFoundError

            client = self._get_client()
            try:
                coll = client.get_collection(self.collection_name, embedding_function=None)
            except (NotFoundError, ValueError):
                if not create:
                    return None
                coll = client.create_collection(
                    self.collection_name,
                    embedding_function=None,
                    configuration={"hnsw": {"space": "cosine"}},
                    metadata={"embedder": self.embedder.name},
                )
                log.info("created Chroma collection %s (embedder %s)",
                         self.collection_name, self.embedder.name)
            built_with = (coll.metadata or {}).get("embedder")
            if built_with is not None and built_with != self.embedder.name:
                raise VectorStoreError(
                    f"The vector index at {self.url or self.path} ({self.collection_name}) was built with embedder '{built_with}', "
                    f"but '{self.embedder.name}' is configured. Set BUDGET_QA_EMBEDDER="
                    f"{built_with} or rebuild the index with 'budget-qa ingest'."
                )
            self._collection = coll
            return coll

    # ------------------------------------------------------------------------------ writing

    def add(self, passages: list[Passage]) -> int:
        """Embed and upsert passages by ``passage_id``; returns the number of distinct ids written.

        A passage id given twice keeps its last version. Raises :class:`VectorStoreError` if the
        collection belongs to another embedder, :class:`~assistant.embedding.EmbedderError` if the
        model cannot be loaded.
        """
        unique = list({p.passage_id: p for p in passages}.values())
        if not unique:
            return 0
        coll = self._get_collection(create=True)
        for start in range(0, len(unique), UPSERT_BATCH):
            batch = unique[start:start + UPSERT_BATCH]
            vectors = self.embedder.embed_passages([p.text for p in batch])
            coll.upsert(
                ids=[p.passage_id for p in batch],
                embeddings=vectors,
                documents=[p.text for p in batch],
                metadatas=[passage_metadata(p) for p in batch],
            )
        log.info("upserted %d passages into %s", len(unique), self.collection_name)
        return len(unique)

    def delete_doc(self, doc_id: str) -> None:
        """Remove every passage of ``doc_id`` (no error if there are none)."""
        coll = self._get_collection(create=False)
        if coll is not None:
            coll.delete(where={"doc_id": doc_id})

    def delete_ids(self, passage_ids: list[str]) -> None:
        """Remove the passages with these ids (unknown ids are ignored). Cheaper than
        :meth:`delete_doc` on a large collection: no metadata scan."""
        if not passage_ids:
            return
        coll = self._get_collection(create=False)
        if coll is not None:
            coll.delete(ids=list(passage_ids))

    def close(self) -> None:
        """Release the client: a local store's Chroma system (its SQLite connection and loaded
        indexes, kept per directory by chromadb until closed) is stopped. The store opens it again
        on next use."""
        with self._lock:
            client, self._client, self._collection = self._client, None, None
        if client is not None and hasattr(client, "close"):
            try:
                client.close()
            except Exception as exc:  # closing is best effort: the process keeps serving
                log.debug("closing the Chroma client of %s failed: %s", self.path, exc)

    def reset(self) -> None:
        """Drop the whole collection (e.g. before re-indexing with another embedder)."""
        with self._lock:
            if self._collection is None and self._absent:
                return
            client = self._get_client()
            try:
                client.delete_collection(self.collection_name)
            except Exception:  # chromadb raises NotFoundError/ValueError if absent
                log.debug("collection %s absent; nothing to reset", self.collection_name)
            self._collection = None

    def copy_from(self, other: "ChromaPassageStore", batch: int = 1000) -> int:
        """Copy every record of ``other`` (ids, vectors, texts, metadata) into this store without
        embedding anything again; returns the number copied. Used to start a new index generation on
        a Chroma server from the current one."""
        src = other._get_collection(create=False)
        if src is None:
            return 0
        dst = self._get_collection(create=True)
        done = 0
        while True:
            got = src.get(include=["embeddings", "documents", "metadatas"], limit=batch, offset=done)
            ids = got.get("ids") or []
            if not ids:
                break
            dst.upsert(ids=ids, embeddings=got["embeddings"], documents=got["documents"],
                       metadatas=got["metadatas"])
            done += len(ids)
            if len(ids) < batch:
                break
        log.info("copied %d passages from %s to %s", done, other.collection_name, self.collection_name)
        return done

    # ------------------------------------------------------------------------------ reading

    def count(self) -> int:
        """Number of stored passages (0 if the store does not exist yet)."""
        coll = self._get_collection(create=False)
        return 0 if coll is None else int(coll.count())

    def search(
        self,
        query: str,
        k: int = 5,
        doc_ids: list[str] | None = None,
        kinds: list[str] | None = None,
    ) -> list[tuple[Passage, float]]:
        """The ``k`` passages most similar to ``query``, best first, as (passage, cosine similarity).

        Similarity is ``1 - cosine distance`` (higher is better, at most 1). ``doc_ids``/``kinds``
        restrict the candidates (``None`` = no restriction, an empty list matches nothing).
        Returns ``[]`` for an empty store, blank query or ``k <= 0``.
        """
        if k <= 0 or not query.strip():
            return []
        if (doc_ids is not None and not doc_ids) or (kinds is not None and not kinds):
            return []
        coll = self._get_collection(create=False)
        if coll is None:
            return []
        # no count() first: it scans a large collection, and Chroma returns what there is
        res = coll.query(
            query_embeddings=[self._query_vector(query)],
            n_results=k,
            where=where_clause(doc_ids, kinds),
            include=["documents", "metadatas", "distances"],
        )
        ids = (res.get("ids") or [[]])[0]
        docs = (res.get("documents") or [[]])[0]
        metas = (res.get("metadatas") or [[]])[0]
        dists = (res.get("distances") or [[]])[0]
        out = [
            (passage_from_metadata(pid, doc, dict(meta or {})), 1.0 - float(dist))
            for pid, doc, meta, dist in zip(ids, docs, metas, dists)
        ]
        out.sort(key=lambda item: -item[1])
        return out

    #: query vectors kept (a question answered per document searches each with the same query)
    QUERY_CACHE = 256

    def _query_vector(self, query: str) -> list[float]:
        with self._lock:
            vec = self._queries.get(query)
            if vec is not None:
                self._queries.move_to_end(query)
                return vec
        vec = self.embedder.embed_query(query)
        with self._lock:
            self._queries[query] = vec
            while len(self._queries) > self.QUERY_CACHE:
                self._queries.popitem(last=False)
        return vec

    def __repr__(self) -> str:
        where = self.url or str(self.path)
        return f"ChromaPassageStore({where!r}, {self.embedder!r}, {self.collection_name!r})"


def parse_chroma_url(url: str) -> tuple[str, int, bool]:
    """(host, port, ssl) of a Chroma server URL such as ``http://127.0.0.1:8000``."""
    from urllib.parse import urlparse

    u = urlparse(url if "://" in url else "http://" + url)
    if u.scheme not in ("http", "https") or not u.hostname:
        raise VectorStoreError(f"BUDGET_QA_CHROMA_URL must look like http://127.0.0.1:8000, not {url!r}")
    return u.hostname, u.port or (443 if u.scheme == "https" else 8000), u.scheme == "https"
