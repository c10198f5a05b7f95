"""Lexical passage retrieval: BM25 (``rank_bm25.BM25Okapi``) over jieba tokens plus CJK bigrams.

Tokens of a text (see :func:`tokenize`): the text is NFKC-normalised (full-width digits/letters
become ASCII), lower-cased and stripped of quotation marks (“三公”经费 reads as 三公经费); jieba's
search-mode words are kept unless they are only punctuation or whitespace (numbers such as
``2023``, ``1990.50`` and ``17.57%`` are kept); every run of CJK characters also contributes its
character bigrams, so a short term such as 三公 or 公用 matches wherever it occurs, whatever
jieba's segmentation of the surrounding words. A glossary passage's ``term`` is indexed in
addition to its text (the defined term counts twice).

jieba is imported on first use; before that its dictionary cache directory (``jieba.dt.tmp_dir``)
is set to a directory given by the caller and its logging is lowered to WARNING, so it writes
nothing to /tmp and prints nothing.
"""
from __future__ import annotations

import functools
import json
import logging
import math
import os
import re
import tempfile
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import asdict
from pathlib import Path
from typing import Any

from assistant.errors import BudgetQAError, IndexMissingError
from assistant.model import Passage

log = logging.getLogger(__name__)

__all__ = ["BM25Index", "BM25Stats", "STATS_BLOB", "ScopedBM25Index", "passage_tokens", "tokenize", "configure_jieba"]

FORMAT = "budget-qa-bm25"
VERSION = 1

_CJK_RUN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]{2,}")
_QUOTES = re.compile(r"[\"'“”‘’「」『』]")
_JIEBA_LOCK = threading.Lock()
_JIEBA: Any = None


def configure_jieba(tmp_dir: Path) -> Any:
    """Import and initialise jieba once per process, caching its dictionary under ``tmp_dir``.

    Sets ``jieba.setLogLevel(logging.WARNING)`` and ``jieba.dt.tmp_dir`` before the first
    segmentation (``tmp_dir`` is created if needed). If jieba was already initialised elsewhere in
    the process, its existing state is kept. Returns the jieba module.
    """
    global _JIEBA
    with _JIEBA_LOCK:
        if _JIEBA is not None:
            return _JIEBA
        import jieba

        jieba.setLogLevel(logging.WARNING)
        if not jieba.dt.initialized:
            tmp = Path(tmp_dir)
            tmp.mkdir(parents=True, exist_ok=True)
            jieba.dt.tmp_dir = str(tmp)
            jieba.dt.initialize()
            log.debug("jieba initialised (cache in %s)", tmp)
        _JIEBA = jieba
        return jieba


def tokenize(text: str, jieba_dir: Path | None = None) -> list[str]:
    """BM25 tokens of ``text``: jieba search-mode words (no punctuation/whitespace) + CJK bigrams.

    ``jieba_dir`` is where jieba caches its dictionary if it is not initialised yet (default: the
    configured index directory).
    """
    jieba = _JIEBA or configure_jieba(jieba_dir if jieba_dir is not None else _default_jieba_dir())
    norm = _QUOTES.sub("", unicodedata.normalize("NFKC", text).lower())
    tokens = [t for t in (w.strip() for w in jieba.lcut_for_search(norm))
              if t and any(ch.isalnum() for ch in t)]
    for run in _CJK_RUN.findall(norm):
        tokens.extend(run[i:i + 2] for i in range(len(run) - 1))
    return tokens


def _default_jieba_dir() -> Path:
    from assistant.config import Settings

    return Settings.from_env().index_dir


@functools.cache
def _bm25_class() -> type:
    from rank_bm25 import BM25Okapi

    class _PositiveIdfBM25(BM25Okapi):
        """BM25Okapi with the always-positive idf ``log(1 + (N - n + .5) / (n + .5))``.

        The stock Okapi idf is negative for terms in more than half of the passages, which on the
        small per-document corpora used here can make every score negative.
        """

        def _calc_idf(self, nd: dict[str, int]) -> None:
            n_docs = self.corpus_size
            for word, freq in nd.items():
                self.idf[word] = math.log(1.0 + (n_docs - freq + 0.5) / (freq + 0.5))
            self.average_idf = sum(self.idf.values()) / len(self.idf) if self.idf else 0.0

    return _PositiveIdfBM25


class BM25Index:
    """A BM25 index over passages, saved as JSON of the passages (the model is rebuilt on load).

    ``jieba_dir`` is jieba's dictionary-cache directory (default: the directory of the file given
    to :meth:`load`/:meth:`save`, else the configured index directory). Use :meth:`build` or
    :meth:`load` before :meth:`search`; an unbuilt or empty index returns no results.
    """

    def __init__(self, jieba_dir: Path | None = None) -> None:
        self.jieba_dir = Path(jieba_dir) if jieba_dir is not None else None
        self._passages: list[Passage] = []
        self._bm25: Any = None

    @property
    def passages(self) -> list[Passage]:
        """The indexed passages, in index order (a copy)."""
        return list(self._passages)

    def __len__(self) -> int:
        return len(self._passages)

    def _tokens(self, text: str) -> list[str]:
        return tokenize(text, self.jieba_dir)

    def _doc_tokens(self, p: Passage) -> list[str]:
        # A glossary entry's defined term is indexed once more, so a question naming the term
        # ranks its definition above passages that merely mention the term.
        tokens = self._tokens(p.text)
        if p.term:
            tokens += self._tokens(p.term)
        return tokens

    def build(self, passages: list[Passage]) -> "BM25Index":
        """(Re)build the index from ``passages`` (a passage id given twice keeps its last version).

        Returns ``self``.
        """
        self._passages = list({p.passage_id: p for p in passages}.values())
        if self._passages:
            corpus = [self._doc_tokens(p) or ["\u0000"] for p in self._passages]
            self._bm25 = _bm25_class()(corpus)
        else:
            self._bm25 = None
        log.info("BM25 index built over %d passages", len(self._passages))
        return self

    def dumps(self) -> str:
        """The saved form: JSON of the passages (what :meth:`save` writes and :meth:`loads` reads)."""
        payload = {
            "format": FORMAT,
            "version": VERSION,
            "passages": [asdict(p) for p in self._passages],
        }
        return json.dumps(payload, ensure_ascii=False)

    def save(self, path: Path) -> None:
        """Write the passages as JSON to ``path`` atomically (parent directories are created)."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(self.dumps())
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    def load(self, path: Path) -> "BM25Index":
        """Read passages saved by :meth:`save` from ``path`` and rebuild the BM25 model.

        Returns ``self``. Raises :class:`~assistant.errors.IndexMissingError` if the file does not
        exist and :class:`~assistant.errors.BudgetQAError` if it is not a BM25 index file.
        """
        path = Path(path)
        if self.jieba_dir is None:
            self.jieba_dir = path.parent
        if not path.is_file():
            raise IndexMissingError(
                f"No lexical index at {path}. Build the index with 'budget-qa ingest'."
            )
        return self.loads(path.read_text(encoding="utf-8"), str(path))

    def loads(self, text: str, source: str = "bm25.json") -> "BM25Index":
        """Rebuild from the saved form (see :meth:`dumps`); ``source`` names it in error messages.

        Returns ``self``. Raises :class:`~assistant.errors.BudgetQAError` if it is not a BM25 index.
        """
        path = source
        try:
            payload = json.loads(text)
            if payload.get("format") != FORMAT:
                raise ValueError(f"format is {payload.get('format')!r}")
            passages = [
                Passage(**{**item, "section_path": tuple(item.get("section_path", ()))})
                for item in payload["passages"]
            ]
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BudgetQAError(
                f"The lexical index {path} is unreadable ({exc}). "
                "Rebuild the index with 'budget-qa ingest'."
            ) from exc
        return self.build(passages)

    def search(
        self,
        query: str,
        k: int = 5,
        doc_ids: list[str] | None = None,
        kinds: list[str] | None = None,
    ) -> list[tuple[Passage, float]]:
        """The ``k`` best-scoring passages for ``query``, best first, as (passage, BM25 score).

        Only passages sharing at least one token with the query are returned (score > 0); ties keep
        index order. ``doc_ids``/``kinds`` restrict the candidates (``None`` = no restriction, an
        empty list matches nothing).
        """
        if k <= 0 or self._bm25 is None or not query.strip():
            return []
        q_tokens = [t for t in self._tokens(query) if t in self._bm25.idf]
        if not q_tokens:
            return []
        scores = self._bm25.get_scores(q_tokens)
        allowed_docs = set(doc_ids) if doc_ids is not None else None
        allowed_kinds = set(kinds) if kinds is not None else None
        hits = [
            (i, float(s)) for i, s in enumerate(scores)
            if s > 0
            and (allowed_docs is None or self._passages[i].doc_id in allowed_docs)
            and (allowed_kinds is None or self._passages[i].kind in allowed_kinds)
        ]
        hits.sort(key=lambda item: (-item[1], item[0]))
        return [(self._passages[i], s) for i, s in hits[:k]]

    def __repr__(self) -> str:
        return f"BM25Index({len(self._passages)} passages)"


# ------------------------------------------------------------------------------------------
# Scaled form: corpus statistics only, passages scored per document on demand.

#: name of the statistics blob in an index generation (see :class:`BM25Stats`)
STATS_BLOB = "bm25-stats.json"
STATS_FORMAT = "budget-qa-bm25-stats"
STATS_VERSION = 1
#: BM25Okapi parameters (rank_bm25's defaults, as used by :class:`BM25Index`)
K1, B = 1.5, 0.75


def passage_tokens(p: Passage, jieba_dir: Path | None = None) -> list[str]:
    """The BM25 tokens of a passage as :class:`BM25Index` indexes them: its text, the glossary term
    once more, and the placeholder ``"\\u0000"`` for a passage without tokens."""
    tokens = tokenize(p.text, jieba_dir)
    if p.term:
        tokens += tokenize(p.term, jieba_dir)
    return tokens or ["\u0000"]


class BM25Stats:
    """The corpus statistics of BM25 over the passages of an index generation: the number of
    passages, their total token count and the number of passages containing each token.

    Kept up to date per document at ingest (:meth:`add` the new passages, :meth:`remove` the
    replaced ones), so an ingest tokenizes only the documents it changes. Saved as JSON
    (:meth:`dumps`/:meth:`loads`); its size grows with the vocabulary, not with the passages.
    """

    def __init__(self, passages: int = 0, tokens: int = 0, df: dict[str, int] | None = None) -> None:
        self.passages = passages
        self.tokens = tokens
        self.df: dict[str, int] = dict(df or {})

    def _apply(self, token_lists: list[list[str]], sign: int) -> None:
        for tokens in token_lists:
            self.passages += sign
            self.tokens += sign * len(tokens)
            for t in set(tokens):
                n = self.df.get(t, 0) + sign
                if n > 0:
                    self.df[t] = n
                else:
                    self.df.pop(t, None)

    def add(self, token_lists: list[list[str]]) -> None:
        """Count passages (their token lists, see :func:`passage_tokens`) into the statistics."""
        self._apply(token_lists, 1)

    def remove(self, token_lists: list[list[str]]) -> None:
        """Take passages counted by :meth:`add` out again (a replaced or deleted document)."""
        self._apply(token_lists, -1)

    def dumps(self) -> str:
        """The saved form (JSON)."""
        return json.dumps({"format": STATS_FORMAT, "version": STATS_VERSION, "passages": self.passages,
                           "tokens": self.tokens, "df": self.df}, ensure_ascii=False, sort_keys=True)

    @classmethod
    def loads(cls, text: str, source: str = "bm25-stats.json") -> "BM25Stats":
        """Read the saved form. Raises :class:`~assistant.errors.BudgetQAError` if it is not one."""
        try:
            payload = json.loads(text)
            if payload.get("format") != STATS_FORMAT:
                raise ValueError(f"format is {payload.get('format')!r}")
            return cls(int(payload["passages"]), int(payload["tokens"]),
                       {str(k): int(v) for k, v in payload["df"].items()})
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise BudgetQAError(f"The lexical statistics {source} are unreadable ({exc}). "
                                "Rebuild the index with 'budget-qa ingest'.") from exc

    def __repr__(self) -> str:
        return f"BM25Stats({self.passages} passages, {len(self.df)} tokens)"


class ScopedBM25Index:
    """BM25 search with the statistics of the whole corpus (:class:`BM25Stats`) that tokenizes and
    scores only the passages of the documents searched, on first use per document.

    Scores and order are exactly those of a :class:`BM25Index` built over the same passages (the
    same positive idf, average length and arithmetic, ties in index order: document id, then the
    document's passage order), but memory and time per search grow with the documents searched,
    not with the corpus. ``loader(doc_ids)`` returns the passages of those documents (every
    document's for ``None``) in store order. Token tables of the last ``cache_documents``
    documents searched are kept.
    """

    def __init__(self, stats: BM25Stats, loader, jieba_dir: Path | None = None, cache_documents: int = 256) -> None:
        self.stats = stats
        self.loader = loader
        self.jieba_dir = Path(jieba_dir) if jieba_dir is not None else None
        self.cache_documents = cache_documents
        self.avgdl = stats.tokens / stats.passages if stats.passages else 0.0
        self._idf: dict[str, float] = {}
        self._docs: "OrderedDict[str, list[tuple[Passage, dict[str, int], int]]]" = OrderedDict()
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return self.stats.passages

    def idf(self, token: str) -> float:
        """``log(1 + (N - n + .5) / (n + .5))`` of a token in the corpus (computed once)."""
        v = self._idf.get(token)
        if v is None:
            freq = self.stats.df[token]
            v = self._idf[token] = math.log(1.0 + (self.stats.passages - freq + 0.5) / (freq + 0.5))
        return v

    def _tables(self, doc_ids: list[str] | None) -> list[tuple[Passage, dict[str, int], int]]:
        """(passage, token counts, length) of the passages of ``doc_ids`` (all for None), in index order."""
        if doc_ids is None:
            return [self._table(p) for p in {p.passage_id: p for p in self.loader(None)}.values()]
        rows: dict[str, list] = {}
        with self._lock:
            for d in doc_ids:
                if d in self._docs:
                    self._docs.move_to_end(d)
                    rows[d] = self._docs[d]
        missing = [d for d in doc_ids if d not in rows]
        if missing:
            loaded: dict[str, list] = {d: [] for d in missing}
            for p in self.loader(missing):
                if p.doc_id in loaded:
                    loaded[p.doc_id].append(self._table(p))
            rows.update(loaded)
            with self._lock:
                self._docs.update(loaded)
                while len(self._docs) > self.cache_documents:
                    self._docs.popitem(last=False)
        return [row for d in doc_ids for row in rows[d]]

    def _table(self, p: Passage) -> tuple[Passage, dict[str, int], int]:
        tokens = passage_tokens(p, self.jieba_dir)
        tf: dict[str, int] = {}
        for t in tokens:
            tf[t] = tf.get(t, 0) + 1
        return p, tf, len(tokens)

    def search(
        self,
        query: str,
        k: int = 5,
        doc_ids: list[str] | None = None,
        kinds: list[str] | None = None,
    ) -> list[tuple[Passage, float]]:
        """The ``k`` best-scoring passages for ``query``, best first, as (passage, BM25 score); the
        same contract as :meth:`BM25Index.search`. ``doc_ids=None`` searches every document (and
        tokenizes the whole corpus: slow on a large index)."""
        if k <= 0 or not self.stats.passages or not query.strip():
            return []
        if doc_ids is not None and not doc_ids:
            return []
        q_tokens = [t for t in tokenize(query, self.jieba_dir) if t in self.stats.df]
        if not q_tokens:
            return []
        ids = sorted(set(doc_ids)) if doc_ids is not None else None
        allowed_kinds = set(kinds) if kinds is not None else None
        idf = [(t, self.idf(t)) for t in q_tokens]
        k1, b, avgdl = K1, B, self.avgdl
        hits = []
        for i, (p, tf, dl) in enumerate(self._tables(ids)):
            if allowed_kinds is not None and p.kind not in allowed_kinds:
                continue
            s = 0.0
            for t, w in idf:
                f = tf.get(t)
                if f:  # a token absent from the passage adds exactly 0.0 in BM25Index
                    s += w * (f * (k1 + 1) / (f + k1 * (1 - b + b * dl / avgdl)))
            if s > 0:
                hits.append((i, s, p))
        hits.sort(key=lambda item: (-item[1], item[0]))
        return [(p, s) for _, s, p in hits[:k]]

    def __repr__(self) -> str:
        return f"ScopedBM25Index({self.stats!r})"
