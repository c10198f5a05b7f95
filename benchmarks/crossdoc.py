"""Rankings and totals over many documents (issue "Questions across documents"), on a SQLite fact store
of N synthetic documents.

The seed disclosure is parsed once; each synthetic document is a copy of its facts, tables and
passages with another department (benchmarks/synth.py names), year (2015–2024) and every amount
times an integer factor, written with the real store (``SQLiteFactStore.replace_document``). The
measured path is the product's: :func:`assistant.answering.crossdoc.plan` and ``answer`` over a
:class:`assistant.catalog.Catalog` of the store — one fact-store query for the metric's facts (cells of
its template tables and sentences naming it: :mod:`assistant.budget.query`), never an answerer per
document.

    python benchmarks/crossdoc.py --docs 1000 --repeat 20

Prints, per question, the first ask (the metric's facts read from the store: one query) and p50/p95
of the same question asked again (the generation's metric readings are kept in its catalog), in
milliseconds, and the store's size.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))

from synth import SEED_DEPT, department  # noqa: E402

QUESTIONS = [
    "2020年各部门三公经费排名",          # one year: N/10 documents
    "哪个部门的三公经费最多",            # every document
    "各部门基本支出排名",                # every document, a total row of the 支出预算表
    "2021年哪个部门的机关运行经费最少",
    "所有部门的三公经费合计",           # every document, the list and its sum
]


def build(store_path: Path, n: int) -> None:
    from assistant.parsing.document import parse_file
    from assistant.store.facts import SQLiteFactStore

    seed = parse_file(ROOT / "corpus" / "000_2134ace919fae625.txt")
    store = SQLiteFactStore(store_path)
    for i in range(n):
        doc_id, factor, year, name = f"synth_{i:04d}", 1 + i % 5, 2015 + i % 10, department(i)
        d = replace(seed.document, doc_id=doc_id, department=name, year=year,
                    title=seed.document.title.replace(SEED_DEPT, name).replace("2023", str(year)))

        def scaled(f):
            if f.role != "amount" or f.value is None or f.unit not in ("万元", "元"):
                return replace(f, doc_id=doc_id, fact_id=f.fact_id.replace(seed.document.doc_id, doc_id),
                               table_id=f.table_id.replace(seed.document.doc_id, doc_id))
            v = round(f.value * factor, 2)
            return replace(f, doc_id=doc_id, fact_id=f.fact_id.replace(seed.document.doc_id, doc_id),
                           table_id=f.table_id.replace(seed.document.doc_id, doc_id), value=v, value_text=f"{v:.2f}")

        tables = [replace(t, doc_id=doc_id, table_id=t.table_id.replace(seed.document.doc_id, doc_id)) for t in seed.tables]
        passages = [replace(p, doc_id=doc_id, passage_id=p.passage_id.replace(seed.document.doc_id, doc_id))
                    for p in seed.passages]
        store.replace_document(d, tables, [scaled(f) for f in seed.facts], passages)
    store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=20)
    args = ap.parse_args()

    from assistant.answering import crossdoc
    from assistant.answering.answerer import TurnCitations
    from assistant.catalog import Catalog
    from assistant.store.facts import SQLiteFactStore
    from assistant.understanding.lexicon import load_lexicon

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "facts.sqlite"
        t0 = time.perf_counter()
        build(path, args.docs)
        print(f"built {args.docs} documents in {time.perf_counter() - t0:.1f} s; store {path.stat().st_size / 2**20:.0f} MB")
        store = SQLiteFactStore(path)
        catalog = Catalog(store, load_lexicon())
        docs = catalog.docs
        catalog.name_index(docs)  # built once per generation, as the server does
        print("| question | documents ranked | first ask ms | again p50 ms | again p95 ms |\n|---|---|---|---|---|")
        for q in QUESTIONS:
            times, ranked = [], 0
            for _ in range(args.repeat + 1):
                t = time.perf_counter()
                plan = crossdoc.plan(q, docs, catalog.name_index(docs))
                part = crossdoc.answer(plan, q, catalog, TurnCitations())
                times.append((time.perf_counter() - t) * 1000)
                ranked = part.answer.count("\n")
            first, again = times[0], sorted(times[1:])
            p95 = again[min(len(again) - 1, int(round(0.95 * (len(again) - 1))))]
            print(f"| {q} | {ranked} | {first:.0f} | {statistics.median(again):.0f} | {p95:.0f} |")


if __name__ == "__main__":
    main()
