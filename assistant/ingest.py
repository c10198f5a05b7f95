"""Ingest: parse documents, write them into a new index generation, verify, publish.

Nothing is changed when any document fails to parse: documents are written into a new, unpublished
generation, and any failure (parsing or writing) discards it. Small ingests parse every file first;
large ones parse each document just before writing it, so memory stays flat.

Parsing runs in a child process under the ingest limits (:mod:`assistant.parsing.worker`,
:mod:`assistant.parsing.limits`) and before the ingest lock is taken, so neither a slow document nor
another ingest delays questions, which keep being answered from the published generation.

A file whose bytes are those of a document already in the index (or of an earlier file of the same
ingest) is not ingested again under its other name: the report lists it under ``duplicates`` with the
document it already is (content hash, SHA-256).
"""
from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

from .config import Settings
from .errors import DuplicateDocumentError, IngestError
from .index import Generations
from .parsing.document import ParsedDocument, doc_id_for
from .parsing.limits import IngestLimits
from .parsing.reader import SUPPORTED_SUFFIXES
from .parsing.scanned import companion_images
from .parsing.worker import ParseWorker

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
    #: the cells counted in ``unaligned``: "表名 · 行 · 第N行：数字（可能的列：…）"
    unaligned_cells: list[str] = field(default_factory=list)
    #: tables whose figures do not add up (children vs parent, 合计 vs 基本支出 + 项目支出), with cells
    arithmetic: list[str] = field(default_factory=list)


@dataclass
class Duplicate:
    """A file not ingested because its bytes are those of document ``doc_id`` (titled ``title``)."""

    path: str
    doc_id: str
    title: str

    def message(self) -> str:
        """"文件 X 与已入库的文件“T”（doc_id）内容相同，未重复入库"."""
        return str(DuplicateDocumentError(self.doc_id, self.title, Path(self.path).name))


@dataclass
class IngestReport:
    documents: list[DocumentSummary]
    #: id of the published generation (its folder name in the embedded layout)
    generation: str
    #: files skipped as copies of a document already in the index or earlier in this ingest
    duplicates: list[Duplicate] = field(default_factory=list)


def release_memory() -> None:
    """Give memory freed by an ingest back to the system: a full garbage collection, then glibc's
    ``malloc_trim`` (where glibc is the C library; elsewhere the collection alone)."""
    import ctypes
    import gc

    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except (OSError, AttributeError):
        pass


def file_sha256(path: Path) -> str:
    """SHA-256 of a file's bytes (as :attr:`Document.sha256` records it), read in 1 MB blocks."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1024 * 1024), b""):
            h.update(block)
    return h.hexdigest()


def unaligned_cells(pd: ParsedDocument) -> list[str]:
    """One line per cell whose column could not be determined (table, row, source line, candidates)."""
    return [f"{title} · {u.label or '（无行名）'} · 第{u.line}行：{u.cell}（可能的列：{'/'.join(u.candidates)}）"
            for title, u in pd.unaligned]


def table_arithmetic(pd: ParsedDocument) -> list[str]:
    """Ingest-time arithmetic check of every table (children add up to their parent by 功能分类/经济分类
    code, totals to their rows, 合计 = 基本支出 + 项目支出 and other column groups): one line per
    failure naming both cells; logged at info level. Never raises (a failing check is logged)."""
    from .check import arithmetic_findings

    try:
        found = arithmetic_findings(pd)
    except Exception:  # the check must never stop an ingest
        log.exception("table arithmetic check failed for %s", pd.document.doc_id)
        return []
    out = []
    for f in found:
        where = " ↔ ".join(f"{loc}（{'第%d页' % page if page else '第%d行' % line}）" for loc, line, page in f.citations)
        out.append(f"{f.message}｜{where}")
        log.info("table arithmetic %s: %s | %s", pd.document.doc_id, f.message, where)
    return out


def collect_files(paths: Iterable[Path]) -> list[Path]:
    """Expand folders to their .txt/.pdf/image files (sorted, recursively); the pictures of a web page
    saved as text (see :func:`~assistant.parsing.scanned.companion_images`) are left to that page.
    Raises IngestError if a path does not exist or nothing is found."""
    files: list[Path] = []
    for p in paths:
        p = Path(p)
        if p.is_dir():
            files.extend(sorted(x for x in p.rglob("*") if x.is_file() and x.suffix.lower() in SUPPORTED_SUFFIXES))
        elif p.is_file():
            files.append(p)
        else:
            raise IngestError(f"找不到路径：{p}")
    # a web page's pictures (X_files/…, X_1.png) are read with its text, not as documents of their own
    companions = {c.resolve() for f in files if f.suffix.lower() == ".txt" for c in companion_images(f)}
    files = [f for f in files if f.resolve() not in companions]
    if not files:
        raise IngestError("没有找到可入库的文档（.txt、.pdf 或图片）")
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


#: up to this many files are all parsed before anything is written (a bad file then fails fast);
#: larger ingests parse each document just before writing it, so memory does not grow with them
PARSE_AHEAD = 20


def ingest(paths: Iterable[Path], settings: Settings, progress: Progress | None = None,
           embedder=None, fresh: bool = False, if_missing: bool = False,
           limits: IngestLimits | None = None) -> IngestReport:
    """Parse ``paths`` and publish a new index generation containing them (plus what the current
    generation already holds, unless ``fresh``; a document with the same doc_id is replaced completely).
    With ``if_missing``, nothing is written when a generation was published meanwhile (several
    workers starting together on an empty database build the index once).

    Each file is parsed in a child process under ``limits`` (default: those of ``settings``). Files
    whose bytes equal a document already in the index under another doc_id, or an earlier file of
    this ingest, are skipped and listed in ``IngestReport.duplicates``; when nothing else is left,
    nothing is published.

    Raises IngestError (nothing changed) for unreadable documents and documents over a limit: the new
    generation is only published when every document was parsed and written.
    """
    say = progress or (lambda msg: log.info(msg))
    files = collect_files(paths)
    ids = unique_doc_ids(files)
    hashes = {f: file_sha256(f) for f in files}
    duplicates: list[Duplicate] = []
    first: dict[str, Path] = {}
    for f in files:
        if hashes[f] in first:
            dup = Duplicate(str(f), ids[first[hashes[f]]], first[hashes[f]].name)
            say(f"跳过 {f.name}：与 {first[hashes[f]].name} 内容相同")
            duplicates.append(dup)
        else:
            first[hashes[f]] = f
    files = [f for f in files if first[hashes[f]] is f]

    with ParseWorker(limits or IngestLimits.from_settings(settings)) as worker:
        def parse(i: int, f: Path) -> ParsedDocument:
            say(f"[{i}/{len(files)}] 解析 {f.name}")
            return worker.parse(f, ids[f], progress=say)  # one line per page read by OCR

        ahead = [parse(i, f) for i, f in enumerate(files, start=1)] if len(files) <= PARSE_AHEAD else None
        if ahead is not None:
            worker.close()  # everything is parsed: the child's memory goes back before the writing
        gens = Generations(settings)
        with gens.lock():
            if if_missing and gens.current() is not None:
                return IngestReport([], gens.current(), duplicates)
            gen = gens.new(fresh=fresh)
            try:
                documents = iter(ahead) if ahead is not None else (parse(i, f) for i, f in enumerate(files, start=1))
                report = _write(gens, gen, documents, len(files), settings, say, embedder)
                report.duplicates[:0] = duplicates
                if not report.documents and gens.current() is not None:
                    gens.discard(gen)  # every file was a copy: the published generation stays
                    report.generation = gens.current()
                    return report
                gens.stamp(gen)
                gens.publish(gen)
            except BaseException:
                gens.discard(gen)
                raise
    return report


def _write(gens: Generations, gen: str, documents: Iterator[ParsedDocument], total: int, settings: Settings,
           say: Progress, embedder) -> IngestReport:
    from .embedding import CachedEmbedder, make_embedder
    from .store.backends import open_fact_store, open_vector_store
    from .store.lexical import STATS_BLOB, BM25Stats, passage_tokens

    facts = open_fact_store(settings, gen)
    emb = embedder or CachedEmbedder(make_embedder(settings.embedder), settings.data_dir / "cache" / "embeddings.sqlite")
    vectors = open_vector_store(settings, gen, emb)
    jieba_dir = settings.data_dir / "cache" / "jieba"
    summaries = []
    duplicates: list[Duplicate] = []
    try:
        # documents already held, by content: a copy under another name is not a second document
        by_hash = {d.sha256: d for d in facts.documents() if d.sha256}
        blob = gens.load_blob(gen, STATS_BLOB)
        if blob is not None:
            stats = BM25Stats.loads(blob.decode("utf-8"), f"{gen}/{STATS_BLOB}")
        else:  # a new index starts empty; one written before the statistics existed is counted at the end
            stats = BM25Stats() if facts.counts()["documents"] == 0 else None
        for i, pd in enumerate(documents, start=1):
            d = pd.document
            same = by_hash.get(d.sha256)
            if same is not None and same.doc_id != d.doc_id:
                say(f"[{i}/{total}] 跳过 {Path(d.path).name}：与已入库的 {same.doc_id} 内容相同")
                duplicates.append(Duplicate(d.path, same.doc_id, same.title))
                continue
            by_hash[d.sha256] = d
            # the passages this document had in the generation (the vector store holds the same ids)
            old = facts.passages([d.doc_id])
            if stats is not None and sorted((p.text, p.term) for p in old) != sorted((p.text, p.term) for p in pd.passages):
                stats.remove([passage_tokens(p, jieba_dir) for p in old])
                stats.add([passage_tokens(p, jieba_dir) for p in pd.passages])
            facts.replace_document(d, pd.tables, pd.facts, pd.passages)
            vectors.delete_ids([p.passage_id for p in old])
            say(f"[{i}/{total}] 向量化 {len(pd.passages)} 个段落：{d.title}")
            vectors.add(pd.passages)
            summaries.append(DocumentSummary(d.doc_id, d.title, len(pd.tables), len(pd.facts),
                                             len(pd.passages), len(pd.unaligned), list(pd.warnings),
                                             unaligned_cells(pd), table_arithmetic(pd)))
            for title, u in pd.unaligned:
                log.info("unaligned cell %s line %d: %s %s (columns %s)", title, u.line, u.label, u.cell,
                         "/".join(u.candidates))
        if stats is None:
            stats = BM25Stats()
            for doc in facts.documents():
                stats.add([passage_tokens(p, jieba_dir) for p in facts.passages([doc.doc_id])])
        gens.save_blob(gen, STATS_BLOB, stats.dumps().encode("utf-8"))
        gens.delete_blob(gen, "bm25.json")  # the whole-corpus index of older versions, superseded
        counts = facts.counts()
        if counts["documents"] < len(summaries):
            raise IngestError("索引校验失败：文档数量不符")
    finally:
        facts.close()
        if hasattr(vectors, "close"):  # chromadb keeps a client per directory until it is closed
            vectors.close()
    return IngestReport(summaries, gen, duplicates)
