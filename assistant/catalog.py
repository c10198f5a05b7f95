"""The documents of one index generation as the assistant answers from them.

- :class:`NameIndex` finds the documents a question names by department, from an index built once
  (full names, and character bigrams weighted by how many names share them), so scoping a
  question costs the same with 10 or 10,000 documents.
- :class:`Catalog` holds the document list and builds each document's
  :class:`~assistant.answering.answerer.DocumentAnswerer` on first use, from that document's rows
  in the fact store (indexed by ``doc_id``). The answerers of the documents used last are kept
  (:attr:`Catalog.capacity`); the others are dropped and rebuilt when needed again, so memory does
  not grow with the number of documents in the index.
"""
from __future__ import annotations

import logging
import re
import sys
import threading
from collections import OrderedDict
from typing import Iterable, Iterator

from .answering.answerer import DocumentAnswerer
from .budget.identity import aliases as _aliases
from .model import Document, Passage

log = logging.getLogger(__name__)

#: full department names shorter than this are matched by their bigrams only
MIN_FULL_NAME = 4


def bigrams(text: str) -> set[str]:
    """The character bigrams of the CJK characters of ``text`` (other characters are dropped)."""
    t = re.sub(r"[^\u4e00-\u9fff]", "", text)
    return {t[i:i + 2] for i in range(len(t) - 1)}


def distinctive_bigrams(names: list[str]) -> dict[str, float]:
    """Weight of each bigram of the department names: 1 if only one document's name has it, 0.2 if
    several share it (a district or city name)."""
    count: dict[str, int] = {}
    for n in names:
        for g in bigrams(n):
            count[g] = count.get(g, 0) + 1
    return {g: (1.0 if c == 1 else 0.2) for g, c in count.items()}


class NameIndex:
    """The department names of a list of documents, indexed for :meth:`named`."""

    def __init__(self, docs: list[Document]):
        self.docs = list(docs)
        names = [d.department or "" for d in self.docs]
        self.weights = distinctive_bigrams(names)
        self.postings: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            for g in bigrams(name):
                self.postings.setdefault(g, []).append(i)
        # names people use (区府办, 商务委, 万里街道), derived by rule from each full name
        self.aliases: dict[str, list[int]] = {}
        for i, name in enumerate(names):
            for a in _aliases(name):
                self.aliases.setdefault(a, []).append(i)
        self.longest_alias = max((len(a) for a in self.aliases), default=0)

    def alias_in(self, text: str) -> str:
        """The longest name or alias of a document in scope that ``text`` contains ("" if none)."""
        for n in range(min(self.longest_alias, len(text)), 2, -1):
            for i in range(len(text) - n + 1):
                if text[i:i + n] in self.aliases:
                    return text[i:i + n]
        return ""

    def bodies_named(self, text: str) -> list[tuple[list[Document], list[str]]]:
        """Every body ``text`` names by a name or alias, in order of mention: (its documents, the
        words that named it). Matches do not overlap; at each place the longest name wins."""
        out: dict[str, tuple[list[Document], list[str]]] = {}
        i = 0
        while i < len(text):
            for n in range(min(self.longest_alias, len(text) - i), 2, -1):
                word = text[i:i + n]
                if word in self.aliases:
                    docs = [self.docs[k] for k in sorted(set(self.aliases[word]))]
                    key = docs[0].department
                    if all(d.department == key for d in docs):
                        entry = out.setdefault(key, ([d for d in self.docs if d.department == key], []))
                        entry[1].append(word)
                    i += n - 1
                    break
            i += 1
        return list(out.values())

    def named(self, text: str) -> list[Document]:
        """The documents ``text`` names, in list order ([] if it names none).

        A question containing a document's full department name (4+ characters) names the
        documents with the longest such name; else one containing a name people use for it
        (:func:`assistant.budget.identity.aliases`: 区府办, 商务委, 万里街道) names the documents of
        the longest such alias. Otherwise the character bigrams of the names count:
        1 for a bigram only one document's name has, 0.2 for a shared one (a district common to
        several); the best-scoring documents (within 90% of the best) are named if the best score
        is at least 2, so 石泉路街道 or 生态环境局 pick one document while a district name does not.
        """
        grams = bigrams(text)
        candidates = sorted({i for g in grams for i in self.postings.get(g, ())})
        full = [i for i in candidates if len(self.docs[i].department) >= MIN_FULL_NAME
                and self.docs[i].department in text]
        if full:
            longest = max(len(self.docs[i].department) for i in full)
            return [self.docs[i] for i in full if len(self.docs[i].department) == longest]
        alias = self.alias_in(text)
        if alias:
            return [self.docs[i] for i in sorted(set(self.aliases[alias]))]
        scores: dict[int, float] = {}
        for g in grams:  # per document, the same additions in the same order as a plain sum
            w = self.weights.get(g)
            for i in self.postings.get(g, ()):
                scores[i] = scores.get(i, 0) + w
        best = max(scores.values(), default=0)
        if best < 2:
            return []
        return [self.docs[i] for i in sorted(scores) if scores[i] >= best * 0.9]


class Catalog:
    """The documents of one fact store, their name index and their answerers, built lazily.

    ``retriever`` is handed to every answerer (passage search for definitions and explanations).
    Thread-safe: answerers are built under a lock, one store query per kind of row for a batch
    of documents.
    """

    #: answerers kept in memory (least recently used beyond this are dropped and rebuilt on demand)
    capacity = 1000
    #: documents loaded per store query when many are needed at once
    batch = 100

    def __init__(self, store, lexicon, retriever=None, capacity: int | None = None):
        self.store = store
        self.lexicon = lexicon
        self.retriever = retriever
        if capacity is not None:
            self.capacity = capacity
        self.docs: list[Document] = store.documents()
        self.by_id: dict[str, Document] = {d.doc_id: d for d in self.docs}
        self._names: NameIndex | None = None
        self._answerers: OrderedDict[str, DocumentAnswerer] = OrderedDict()
        self._labels: dict[str, tuple[str, ...]] = {}
        self._vocab: tuple[tuple[str, ...], list[str]] | None = None
        self._lock = threading.RLock()

    def __len__(self) -> int:
        return len(self.docs)

    @property
    def names(self) -> NameIndex:
        """The name index of every document (built on first use)."""
        with self._lock:
            if self._names is None:
                self._names = NameIndex(self.docs)
            return self._names

    def name_index(self, docs: list[Document]) -> NameIndex:
        """The name index of ``docs``: the prebuilt one for every document, else built for them
        (bigram weights depend on which documents are in scope)."""
        if len(docs) == len(self.docs):
            return self.names
        return NameIndex(docs)

    # ---------------------------------------------------------------- answerers
    def answerer(self, doc_id: str) -> DocumentAnswerer:
        """The answerer of one document (built from the store on first use). KeyError if unknown."""
        return next(self.answerers([doc_id]))

    def answerers(self, doc_ids: Iterable[str]) -> Iterator[DocumentAnswerer]:
        """The answerers of ``doc_ids`` in that order, building missing ones :attr:`batch` at a time."""
        ids = list(doc_ids)
        for start in range(0, len(ids), self.batch):
            chunk = ids[start:start + self.batch]
            got = self._get(chunk)
            for d in chunk:
                yield got[d]

    def _get(self, doc_ids: list[str]) -> dict[str, DocumentAnswerer]:
        with self._lock:
            out: dict[str, DocumentAnswerer] = {}
            for d in doc_ids:
                a = self._answerers.get(d)
                if a is not None:
                    self._answerers.move_to_end(d)
                    out[d] = a
            missing = [d for d in dict.fromkeys(doc_ids) if d not in out]
            if missing:
                for d in missing:
                    if d not in self.by_id:
                        raise KeyError(d)
                out.update(self._build(missing))
                self._answerers.update((d, out[d]) for d in missing)
                while len(self._answerers) > max(self.capacity, 1):
                    self._answerers.popitem(last=False)
            return out

    def _build(self, doc_ids: list[str]) -> dict[str, DocumentAnswerer]:
        facts: dict[str, list] = {d: [] for d in doc_ids}
        passages: dict[str, list] = {d: [] for d in doc_ids}
        tables: dict[str, list] = {d: [] for d in doc_ids}
        for f in self.store.facts(doc_ids):
            facts[f.doc_id].append(f)
        for p in self.store.passages(doc_ids):
            passages[p.doc_id].append(p)
        for t in self.store.tables(doc_ids):
            tables[t.doc_id].append(t)
        out = {d: DocumentAnswerer(self.by_id[d], facts[d], passages[d], tables[d], self.lexicon,
                                   retriever=self.retriever) for d in doc_ids}
        for d, a in out.items():
            if d not in self._labels:
                self._labels[d] = tuple(sys.intern(x) for x in a.labels())
        log.debug("built answerers of %d documents", len(doc_ids))
        return out

    def loaded(self) -> int:
        """How many answerers are in memory."""
        return len(self._answerers)

    # ---------------------------------------------------------------- per-document data
    def labels(self, doc_id: str) -> tuple[str, ...]:
        """The names in one document (:meth:`DocumentAnswerer.labels`), kept after the answerer
        itself is dropped."""
        got = self._labels.get(doc_id)
        if got is None:
            self.answerer(doc_id)
            got = self._labels[doc_id]
        return got

    def vocabulary(self, doc_ids: list[str]) -> list[str]:
        """The sorted union of the labels of ``doc_ids`` (the last result is kept)."""
        key = tuple(doc_ids)
        with self._lock:
            if self._vocab is not None and self._vocab[0] == key:
                return self._vocab[1]
        missing = [d for d in doc_ids if d not in self._labels]
        for _ in self.answerers(missing):
            pass
        vocab = sorted({x for d in doc_ids for x in self.labels(d)})
        with self._lock:
            self._vocab = (key, vocab)
        return vocab

    def passages(self, doc_ids: list[str] | None) -> list[Passage]:
        """The passages of ``doc_ids`` in store order (every document's for None)."""
        if doc_ids is None:
            return self.store.passages()
        return [p for a in self.answerers(doc_ids) for p in a.passages]
