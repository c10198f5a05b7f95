"""Ingest: parse documents, write them into a new index generation, verify, publish.

Nothing is changed when any document fails to parse: all files are parsed before the generation is
written, and a failure while writing discards the unpublished generation.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from .config import Settings
from .errors import IngestError
from .index import Generations
from .parsing.document import ParsedDocument, doc_id_for, parse_file
from .parsing.reader import SUPPORTED_SUFFIXES

log = logging.getLogger(__name__)

Progress = Callable[[str], None]


@dataclass
class DocumentSummary:
    """Per-document ingest counts."""

    doc_id: str
    title: str
    tables: int
    facts: int
    passages: int
    unaligned: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class IngestReport:
    documents: list[DocumentSummary]
    #: id of the published generation (its folder name in the embedded layout)
    generation: str


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders to their .txt/.pdf files (sorted, recursively). Raises IngestError if a path
    does not exist or nothing is found."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted(x for x in p.rglob("*") if x.is_file() and x.suffix.lower() in SUPPORTED_SUFFIXES))
        elif p.is_file():
            files.append(p)
        else:
            raise IngestError(f"找不到路径：{p}")
    if not files:
        raise IngestError("没有找到可入库的文档（.txt 或 .pdf）")
    return files


def unique_doc_ids(files: list[Path]) -> dict[Path, str]:
    """doc_id per file; files with the same name in different folders get a parent-folder prefix."""
    ids: dict[Path, str] = {}
    seen: dict[str, int] = {}
    for f in files:
        base = doc_id_for(f)
        seen[base] = seen.get(base, 0) + 1
    for f in files:
        base = doc_id_for(f)
        ids[f] = base if seen[base] == 1 else f"{doc_id_for(f.parent)}-{base}"
    return ids


def ingest(paths: Iterable[Path], settings: Settings, progress: Progress | None = None,
           embedder=None, fresh: bool = False, if_missing: bool = False) -> IngestReport:
    """Parse ``paths`` and publish a new index generation containing them (plus what the current
    generation already holds, unless ``fresh``; a document with the same doc_id is replaced completely).
    With ``if_missing``, nothing is written when a generation was published meanwhile (several
    workers starting together on an empty database build the index once).

    Raises IngestError (nothing changed) for unreadable documents.
    """
    say = progress or (lambda msg: log.info(msg))
    files = collect_files(paths)
    ids = unique_doc_ids(files)
    parsed: list[ParsedDocument] = []
    for i, f in enumerate(files, start=1):
        say(f"[{i}/{len(files)}] 解析 {f.name}")
        parsed.append(parse_file(f, ids[f]))
    gens = Generations(settings)
    with gens.lock():
        if if_missing and gens.current() is not None:
            return IngestReport([], gens.current())
        gen = gens.new(fresh=fresh)
        try:
            report = _write(gens, gen, parsed, settings, say, embedder)
            gens.stamp(gen)
            gens.publish(gen)
        except BaseException:
            gens.discard(gen)
            raise
    return report


def _write(gens: Generations, gen: str, parsed: list[ParsedDocument], settings: Settings, say: Progress,
           embedder) -> IngestReport:
    from .embedding import CachedEmbedder, make_embedder
    from .store.backends import open_fact_store, open_vector_store
    from .store.lexical import BM25Index

    facts = open_fact_store(settings, gen)
    emb = embedder or CachedEmbedder(make_embedder(settings.embedder), settings.data_dir / "cache" / "embeddings.sqlite")
    vectors = open_vector_store(settings, gen, emb)
    summaries = []
    try:
        for i, pd in enumerate(parsed, start=1):
            d = pd.document
            facts.replace_document(d, pd.tables, pd.facts, pd.passages)
            vectors.delete_doc(d.doc_id)
            say(f"[{i}/{len(parsed)}] 向量化 {len(pd.passages)} 个段落：{d.title}")
            vectors.add(pd.passages)
            summaries.append(DocumentSummary(d.doc_id, d.title, len(pd.tables), len(pd.facts),
                                             len(pd.passages), len(pd.unaligned), list(pd.warnings)))
            for title, u in pd.unaligned:
                log.info("unaligned cell %s line %d: %s %s (columns %s)", title, u.line, u.label, u.cell,
                         "/".join(u.candidates))
        bm25 = BM25Index(jieba_dir=settings.data_dir / "cache" / "jieba")
        bm25.build(facts.passages())
        gens.save_blob(gen, "bm25.json", bm25.dumps().encode("utf-8"))
        counts = facts.counts()
        if counts["documents"] < len(parsed):
            raise IngestError("索引校验失败：文档数量不符")
    finally:
        facts.close()
    return IngestReport(summaries, gen)
