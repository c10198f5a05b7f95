"""Scaling: answerers built lazily per document answer exactly like eagerly built ones, a question
naming a department is scoped through the name index (also among names sharing every bigram), the
per-document BM25 search scores exactly like the whole-corpus index, and ingest keeps the BM25
statistics right incrementally. Real parser, SQLite, Chroma with e5-small, BM25."""
from __future__ import annotations

import json
import sys

import pytest

from .conftest import PROJECT_ROOT, SEED, SEED_ID

sys.path.insert(0, str(PROJECT_ROOT / "benchmarks"))
from synth import department, generate  # noqa: E402

N = 6  # 东城区财政局第1分局 … 河口区财政局第1分局: every bigram of each name is shared by another


@pytest.fixture(scope="module")
def scaled(tmp_path_factory, data_dir):
    from assistant.config import Settings
    from assistant.ingest import ingest

    docs = generate(SEED, tmp_path_factory.mktemp("synth"), N)
    s = Settings.from_env().with_(index_dir=tmp_path_factory.mktemp("scale-index"), data_dir=data_dir)
    ingest([SEED, *docs], s)
    return s


def _eager(settings):
    """An assistant whose answerers are all built up front from whole-store reads (the way they
    were built before answerers became lazy)."""
    from assistant.answering.answerer import DocumentAnswerer
    from assistant.engine import Assistant

    a = Assistant.open(settings, build_if_missing=False)
    store, cat = a.store, a.catalog
    facts, passages, tables = store.facts(), store.passages(), store.tables()
    cat.capacity = 10 ** 6
    for d in cat.docs:
        cat._answerers[d.doc_id] = DocumentAnswerer(
            d, [f for f in facts if f.doc_id == d.doc_id], [p for p in passages if p.doc_id == d.doc_id],
            [t for t in tables if t.doc_id == d.doc_id], a.lexicon, retriever=cat.retriever)
        cat._labels[d.doc_id] = tuple(cat._answerers[d.doc_id].labels())
    return a


QUESTIONS = [
    (None, "项目支出是多少"), (None, "三公经费是多少"), (None, "什么是机关运行经费"), (None, "哪个项目的预算最多"),
    (None, f"{department(1)}项目支出是多少"), (None, f"{department(4)}三公经费构成"),
    (None, f"{department(2)}什么是三公经费"), (None, "济源产城融合示范区工作委员会办公室2023年收入总计是多少？"),
    (None, "2017年项目支出占比多少"), (None, "北京市财政局三公经费是多少"),
    ("c1", f"{department(3)}人员经费是多少？"), ("c1", "那公用经费呢？"), ("c1", "其中公务接待费呢"),
]


def test_lazy_answerers_give_the_answers_of_eager_ones(scaled):
    from assistant.engine import Assistant

    eager = _eager(scaled)
    lazy = Assistant.open(scaled, build_if_missing=False)
    lazy.catalog.capacity = 2  # answerers are dropped and rebuilt between questions
    assert lazy.catalog.loaded() == 0  # nothing is read at startup but the document list
    for conv, q in QUESTIONS:
        want = json.dumps(eager.ask(q, conv).to_dict(), ensure_ascii=False)
        got = json.dumps(lazy.ask(q, conv).to_dict(), ensure_ascii=False)
        assert got == want, q
    assert lazy.catalog.loaded() <= 2
    # the unscoped question is answered per document, with each document's own figure
    lines = lazy.ask("项目支出是多少").answer.splitlines()
    assert len(lines) == N + 1
    assert lines[0] == "【中共济源产城融合示范区工作委员会办公室 2023年部门预算】项目支出 187.00 万元[1][2][3]。"
    assert lines[1] == "【东城区财政局第1分局 2015年部门预算】项目支出 187.00 万元[4][5][6]。"
    assert lines[2] == "【西城区财政局第1分局 2016年部门预算】项目支出 374.00 万元[7][8][9]。"


def test_full_department_name_scopes_among_names_sharing_every_bigram(scaled):
    from assistant.engine import Assistant

    a = Assistant.open(scaled, build_if_missing=False)
    for i, amount in ((0, "187.00"), (1, "374.00"), (4, "935.00"), (5, "187.00")):
        ans = a.ask(f"{department(i)}项目支出是多少")
        assert ans.answer == f"项目支出 {amount} 万元[1][2][3]。", department(i)
        assert {c.doc_id for c in ans.citations} == {f"synth_{i:04d}"}
    assert a.catalog.loaded() == 4  # only the documents asked about were read
    # a year the named document does not cover is not answered from another document
    ans = a.ask(f"{department(2)}2014年三公经费")
    assert ans.kind == "not_found" and ans.answer.startswith("未找到2014年的数据：已载入的《2017年度南湖区财政局第1分局")


def test_table_view_of_a_lazily_loaded_document(scaled):
    from assistant.engine import Assistant

    a = Assistant.open(scaled, build_if_missing=False)
    ans = a.ask(f"{department(1)}项目支出是多少")
    table_id = next(c.table_id for c in ans.citations if c.kind == "table")
    view = a.table_view(table_id)
    assert view["doc_id"] == "synth_0001" and view["table_id"] == table_id
    assert a.table_view("no-such-table") is None
    seed = a.table_view(f"{SEED_ID}:t1")
    assert seed["doc_id"] == SEED_ID and seed["rows"]


def test_scoped_bm25_scores_exactly_like_the_whole_index(scaled, data_dir):
    from assistant.index import Generations
    from assistant.store.backends import open_fact_store
    from assistant.store.lexical import STATS_BLOB, BM25Index, BM25Stats, ScopedBM25Index

    gens = Generations(scaled)
    gen = gens.current()
    store = open_fact_store(scaled, gen)
    jieba = data_dir / "cache" / "jieba"
    whole = BM25Index(jieba_dir=jieba).build(store.passages())
    stats = BM25Stats.loads(gens.load_blob(gen, STATS_BLOB).decode("utf-8"))
    scoped = ScopedBM25Index(stats, store.passages, jieba_dir=jieba, cache_documents=2)
    ids = [d.doc_id for d in store.documents()]
    for q in ("什么是三公经费", "机关运行经费 主要用于", "项目支出 减少 原因", "2016年 收入总计 374.00"):
        for doc_ids in ([ids[0]], [ids[3], ids[1]], ids[2:], None):
            for kinds in (None, ["glossary"], ["narrative", "note"]):
                want = whole.search(q, 20, doc_ids=doc_ids, kinds=kinds)
                got = scoped.search(q, 20, doc_ids=doc_ids, kinds=kinds)
                assert [(p, s) for p, s in got] == [(p, s) for p, s in want], (q, doc_ids, kinds)
    assert whole.search("什么是三公经费", 3, doc_ids=[SEED_ID], kinds=["glossary"])[0][0].term == "三公经费"
    store.close()


def test_ingest_keeps_bm25_statistics_like_a_full_count(tmp_path, data_dir):
    from assistant.config import Settings
    from assistant.index import Generations
    from assistant.ingest import ingest
    from assistant.store.backends import open_fact_store
    from assistant.store.lexical import STATS_BLOB, BM25Stats, passage_tokens

    docs = generate(SEED, tmp_path / "synth", 3)
    s = Settings.from_env().with_(index_dir=tmp_path / "idx", data_dir=data_dir)
    ingest(docs[:2], s)
    # replace document 1 by another text, add document 2
    docs[1].write_text(docs[1].read_text(encoding="utf-8").replace("三公", "三项"), encoding="utf-8")
    ingest(docs[1:], s)
    gens = Generations(s)
    gen = gens.current()
    kept = BM25Stats.loads(gens.load_blob(gen, STATS_BLOB).decode("utf-8"))
    store = open_fact_store(s, gen)
    full = BM25Stats()
    full.add([passage_tokens(p) for p in store.passages()])
    assert (kept.passages, kept.tokens, kept.df) == (full.passages, full.tokens, full.df)
    assert kept.passages == store.counts()["passages"] == 3 * 49
    assert gens.load_blob(gen, "bm25.json") is None
    store.close()
