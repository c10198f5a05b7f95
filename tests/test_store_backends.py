"""One suite per store protocol, run against every backend: the fact store and the index generations
on SQLite and on PostgreSQL, the passage vectors on a local Chroma and on a Chroma server; then the
whole assistant on the server backends: the shared gold sets give the same answers as on the embedded
backends, a killed ingest leaves the previous generation answering, and two app workers on the same
PostgreSQL + Chroma server answer identically and see each other's uploads and feedback.

The servers are started on loopback for the session (see :mod:`tests.servers`); without PostgreSQL's
binaries the server parametrisations are skipped with the reason (under CI they fail instead).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import pytest

from assistant.config import Settings
from assistant.errors import IngestError
from assistant.index import INDEX_VERSION, Generations
from assistant.parsing.document import parse_file
from assistant.store.backends import open_fact_store, open_vector_store

from .conftest import PROJECT_ROOT, SEED, SEED_ID, SHARED
from .servers import chroma_url, pg_url, postgres_admin_url  # noqa: F401  (fixtures)

from .procs import generate, kill_ingest_while_embedding


@pytest.fixture(scope="module")
def docs(tmp_path_factory):
    """The seed and one synthetic disclosure (another department), parsed."""
    other = generate(SEED, tmp_path_factory.mktemp("synth"), 1)[0]
    return parse_file(SEED, SEED_ID), parse_file(other, "synth_0000")


def write(store, *parsed) -> None:
    for pd in parsed:
        store.replace_document(pd.document, pd.tables, pd.facts, pd.passages)


# ------------------------------------------------------------------------------ fact store


@pytest.fixture(params=["sqlite", "postgres"])
def fact_settings(request, tmp_path) -> Settings:
    db = request.getfixturevalue("pg_url") if request.param == "postgres" else ""
    return Settings(index_dir=tmp_path / "idx", data_dir=tmp_path / "data", database_url=db)


def published(s: Settings, *parsed) -> str:
    """A published generation holding ``parsed``; returns its id."""
    gens = Generations(s)
    with gens.lock():
        gen = gens.new()
        store = open_fact_store(s, gen)
        write(store, *parsed)
        store.close()
        gens.stamp(gen)
        gens.publish(gen)
    return gen


def test_fact_store_writes_and_reads_back(fact_settings, docs):
    seed, other = docs
    gens = Generations(fact_settings)
    gen = gens.new()
    store = open_fact_store(fact_settings, gen)
    write(store, seed, seed, other)  # replacing a document never duplicates it
    assert store.counts() == {"documents": 2, "tables": len(seed.tables) + len(other.tables),
                              "facts": len(seed.facts) + len(other.facts),
                              "passages": len(seed.passages) + len(other.passages)}
    assert store.documents() == sorted([seed.document, other.document], key=lambda d: d.doc_id)
    assert sorted(store.facts([SEED_ID]), key=lambda f: f.fact_id) == sorted(seed.facts, key=lambda f: f.fact_id)
    assert sorted(store.passages([SEED_ID]), key=lambda p: p.passage_id) == sorted(seed.passages,
                                                                                   key=lambda p: p.passage_id)
    assert sorted(store.tables([SEED_ID]), key=lambda t: t.table_id) == sorted(seed.tables, key=lambda t: t.table_id)
    # filters
    assert store.facts(["no-such-doc"]) == [] and store.facts([]) == []
    glossary = store.passages(kind="glossary")
    assert glossary and {p.kind for p in glossary} == {"glossary"}
    assert {p.doc_id for p in store.passages([other.document.doc_id])} == {other.document.doc_id}
    assert len(store.facts()) == len(seed.facts) + len(other.facts)
    # delete
    store.delete_document(other.document.doc_id)
    assert [d.doc_id for d in store.documents()] == [SEED_ID]
    assert store.counts()["facts"] == len(seed.facts)
    store.delete_document(SEED_ID)
    assert store.counts() == {"documents": 0, "tables": 0, "facts": 0, "passages": 0}
    store.close()


def test_fact_store_keeps_ocr_flags(fact_settings, docs):
    """Fact.ocr / Fact.exact (figures read by OCR, and whether they may be given as exact) survive
    the store; facts of the text layer read back with the defaults."""
    from dataclasses import replace

    seed, _ = docs
    marked = [replace(f, ocr=True, exact=(k % 2 == 0), ocr_checked=(k == 0)) for k, f in enumerate(seed.facts[:4])] \
        + seed.facts[4:]
    gens = Generations(fact_settings)
    store = open_fact_store(fact_settings, gens.new())
    store.replace_document(seed.document, seed.tables, marked, seed.passages)
    back = {f.fact_id: f for f in store.facts([SEED_ID])}
    assert [back[f.fact_id] for f in marked] == marked
    assert [(back[f.fact_id].ocr, back[f.fact_id].exact, back[f.fact_id].ocr_checked) for f in marked[:5]] == [
        (True, True, True), (True, False, False), (True, True, False), (True, False, False), (False, True, False)]
    store.close()


def test_metric_facts_select_what_a_metric_is_read_from(fact_settings, docs):
    """One query for a metric over documents (rankings): the cells of the tables of its kinds (total
    rows and the metric's column where the locator says so) and the sentences naming it."""
    from assistant.budget.metrics import catalog
    from assistant.budget.query import metric_query, read_metric

    seed, other = docs
    store = open_fact_store(fact_settings, published(fact_settings, seed, other))
    tables, labels = metric_query(catalog()["three_public"])
    got = store.metric_facts([SEED_ID, other.document.doc_id], tables, labels)
    expected = [f for f in seed.facts + other.facts
                if (f.source == "table" and "三公" in f.table_title) or (f.source == "narrative" and "三公" in f.label)]
    assert sorted(f.fact_id for f in got) == sorted(f.fact_id for f in expected) and expected
    read = read_metric(store, catalog()["three_public"], [seed.document, other.document])
    res, _ = read[SEED_ID]
    assert (res.cell.value_text, res.cell.unit, res.cell.table_title) == ("25.50", "万元", "2023 年一般公共预算“三公”经费预算表")
    assert store.metric_facts([], tables, labels) == []
    store.close()


def test_sqlite_and_postgres_return_identical_rows(tmp_path, pg_url, docs):
    """Same rows in the same order from both engines (answers depend on the order)."""
    results = []
    for db in ("", pg_url):
        s = Settings(index_dir=tmp_path / f"idx{bool(db)}", data_dir=tmp_path / "data", database_url=db)
        store = open_fact_store(s, published(s, *docs))
        results.append((store.documents(), store.facts(), store.passages(), store.tables(),
                        store.passages(kind="glossary"), store.facts([docs[1].document.doc_id])))
        store.close()
    assert results[0] == results[1]


def test_generations_publish_switches_readers_in_one_step(fact_settings, docs):
    seed, other = docs
    gens = Generations(fact_settings)
    gen1 = published(fact_settings, seed)
    reader = open_fact_store(fact_settings, gens.current())
    assert gens.current() == gen1 and gens.version(gen1) == INDEX_VERSION
    with gens.lock():
        gen2 = gens.new()  # a copy of gen1, written aside
        writer = open_fact_store(fact_settings, gen2)
        assert [d.doc_id for d in writer.documents()] == [SEED_ID]
        write(writer, other)
        # not published yet: the pointer and every reader still see gen1 only
        assert gens.current() == gen1
        assert [d.doc_id for d in open_fact_store(fact_settings, gens.current()).documents()] == [SEED_ID]
        assert gens.version(gen2) == ""
        gens.stamp(gen2)
        gens.publish(gen2)
    assert gens.current() == gen2
    after = open_fact_store(fact_settings, gens.current())
    assert [d.doc_id for d in after.documents()] == sorted([SEED_ID, other.document.doc_id])
    # a reader opened before the publish keeps its generation
    assert [d.doc_id for d in reader.documents()] == [SEED_ID]
    assert reader.counts()["facts"] == len(seed.facts)


def test_killed_writer_leaves_the_previous_generation(fact_settings, docs):
    seed, other = docs
    gens = Generations(fact_settings)
    gen1 = published(fact_settings, seed)
    with gens.lock():
        gen2 = gens.new()
        write(open_fact_store(fact_settings, gen2), other)
        gens.save_blob(gen2, "bm25.json", b"half")
        # the writer dies here: no publish, no discard
    fresh = Generations(fact_settings)  # another process
    assert fresh.current() == gen1
    assert [d.doc_id for d in open_fact_store(fact_settings, fresh.current()).documents()] == [SEED_ID]
    # the next ingest removes the abandoned generation before writing its own
    with fresh.lock():
        gen3 = fresh.new()
        assert gen3 not in (gen1, gen2)
        fresh.discard(gen3)
    assert fresh.load_blob(gen2, "bm25.json") is None
    assert open_fact_store(fact_settings, gen2).counts() == {"documents": 0, "tables": 0, "facts": 0, "passages": 0}
    assert fresh.current() == gen1


def test_generation_blobs_versions_and_fresh(fact_settings, docs):
    seed, _ = docs
    gens = Generations(fact_settings)
    gen1 = published(fact_settings, seed)
    gens.save_blob(gen1, "bm25.json", "{\"x\": \"三公\"}".encode())
    assert gens.load_blob(gen1, "bm25.json").decode() == "{\"x\": \"三公\"}"
    assert gens.load_blob(gen1, "absent") is None
    with gens.lock():
        gen2 = gens.new(fresh=True)  # fresh: nothing copied
        assert open_fact_store(fact_settings, gen2).counts()["documents"] == 0
        assert gens.load_blob(gen2, "bm25.json") is None
        gens.discard(gen2)
    assert gens.current() == gen1


def test_second_ingest_lock_waits_then_fails(fact_settings, monkeypatch):
    monkeypatch.setenv("BUDGET_QA_INGEST_WAIT", "1")
    errors = []

    def second():
        try:
            with Generations(fact_settings).lock():
                pass
        except IngestError as exc:
            errors.append(str(exc))

    with Generations(fact_settings).lock():
        t = threading.Thread(target=second)
        t.start()
        t.join(30)
    assert errors == ["另一个入库任务正在进行（已等待 1 秒），请稍后再试"]
    with Generations(fact_settings).lock():  # released: the next one gets it at once
        pass


def test_build_if_missing_builds_once(fact_settings, data_dir):
    """Workers starting together on an empty index: the first builds it, the others find it built."""
    from assistant.ingest import ingest

    s = fact_settings.with_(data_dir=data_dir)
    first = ingest([SEED], s, if_missing=True)
    second = ingest([SEED], s, if_missing=True)
    assert [d.doc_id for d in first.documents] == [SEED_ID]
    assert second.documents == [] and second.generation == first.generation == Generations(s).current()


# ------------------------------------------------------------------------------ vector store


class HashEmbedder:
    """Deterministic bag-of-bigrams vectors (the protocol suite tests storage, not the model)."""

    name = "test-hash-64"
    dim = 64

    def _vec(self, text: str) -> list[float]:
        v = [0.0] * self.dim
        for i in range(len(text) - 1):
            v[hashlib.md5(text[i:i + 2].encode()).digest()[0] % self.dim] += 1.0
        n = math.sqrt(sum(x * x for x in v)) or 1.0
        return [x / n for x in v]

    def embed_passages(self, texts):
        return [self._vec(t) for t in texts]

    def embed_query(self, text):
        return self._vec(text)


@pytest.fixture(params=["local", "server"])
def vector_settings(request, tmp_path) -> Settings:
    url = request.getfixturevalue("chroma_url") if request.param == "server" else ""
    return Settings(index_dir=tmp_path / "idx", data_dir=tmp_path / "data", chroma_url=url)


def test_vector_store_add_search_filter_delete_persist(vector_settings, docs):
    seed, other = docs
    gen = f"gen-test-{os.getpid()}-{time.monotonic_ns()}"
    store = open_vector_store(vector_settings, gen, HashEmbedder())
    assert store.count() == 0 and store.search("三公经费", k=3) == []  # absent: empty, nothing created
    assert store.add(seed.passages + other.passages + seed.passages[:3]) == len(seed.passages) + len(other.passages)
    assert store.count() == len(seed.passages) + len(other.passages)
    target = next(p for p in seed.passages if p.kind == "glossary")
    hits = store.search(target.text, k=5)
    assert hits[0][0].passage_id == target.passage_id and hits[0][1] == pytest.approx(1.0, abs=1e-4)
    assert [h[1] for h in hits] == sorted((h[1] for h in hits), reverse=True)
    assert hits[0][0] == target  # metadata round trip: section path, line, term, page
    only_other = store.search(target.text, k=5, doc_ids=[other.document.doc_id])
    assert only_other and {p.doc_id for p, _ in only_other} == {other.document.doc_id}
    assert {p.kind for p, _ in store.search(target.text, k=10, kinds=["glossary"])} == {"glossary"}
    assert store.search(target.text, k=5, doc_ids=[]) == []
    store.delete_doc(other.document.doc_id)
    assert store.count() == len(seed.passages)
    assert store.search(target.text, k=5, doc_ids=[other.document.doc_id]) == []
    # persisted: a new client (another process would do the same) sees it
    again = open_vector_store(vector_settings, gen, HashEmbedder())
    assert again.count() == len(seed.passages)
    assert again.search(target.text, k=1)[0][0].passage_id == target.passage_id
    # copied into another generation without embedding again
    copy = open_vector_store(vector_settings, gen + "-copy", _NoEmbedding())
    assert copy.copy_from(again) == len(seed.passages)
    assert open_vector_store(vector_settings, gen + "-copy", HashEmbedder()).search(target.text, k=1)[0][0] == target
    for s in (again, copy):
        s.reset()
    assert open_vector_store(vector_settings, gen, HashEmbedder()).count() == 0


class _NoEmbedding(HashEmbedder):
    def embed_passages(self, texts):
        raise AssertionError("copy_from must not embed")


def test_vector_store_refuses_another_embedder(vector_settings, docs):
    from assistant.store.vectors import VectorStoreError

    gen = f"gen-test-{os.getpid()}-{time.monotonic_ns()}"
    open_vector_store(vector_settings, gen, HashEmbedder()).add(docs[0].passages[:5])

    class Other(HashEmbedder):
        name = "another-model"

    with pytest.raises(VectorStoreError, match="another-model"):
        open_vector_store(vector_settings, gen, Other()).search("三公经费", k=1)
    open_vector_store(vector_settings, gen, HashEmbedder()).reset()


def test_local_and_server_chroma_rank_identically(tmp_path, chroma_url, docs):
    passages = docs[0].passages + docs[1].passages
    rankings = []
    for url in ("", chroma_url):
        s = Settings(index_dir=tmp_path / "idx", data_dir=tmp_path / "data", chroma_url=url)
        store = open_vector_store(s, f"gen-rank-{os.getpid()}-{time.monotonic_ns()}", HashEmbedder())
        store.add(passages)
        rankings.append([[(p.passage_id, round(score, 4)) for p, score in store.search(q, k=8)]
                         for q in ("什么是三公经费", "机关运行经费为什么下降", "政府采购", "项目支出")])
        store.reset()
    assert rankings[0] == rankings[1]


# ------------------------------------------------------------------------------ whole assistant


def server_settings(tmp_path, db_url: str, chroma: str, data_dir: Path) -> Settings:
    return Settings(index_dir=tmp_path / "unused-index", data_dir=data_dir, corpus_dir=SEED.parent,
                    database_url=db_url, chroma_url=chroma)


GOLD_FILES = ["seed_gold", "phrasing_gold", "conversation_gold", "extra_gold"]


@pytest.mark.skipif(not (SHARED / "eval").is_dir(), reason="../shared (gold sets, extra corpus) is absent")
def test_gold_sets_answer_identically_on_embedded_and_server_backends(tmp_path, pg_url, chroma_url, data_dir):
    """Seed, then the extra disclosures as a second (incremental) ingest, on both backends; every
    gold question of every shared gold set gets the same JSON answer from both."""
    from assistant.engine import Assistant
    from assistant.evaluation import load_gold, run_assistant
    from assistant.ingest import ingest

    backends = {"embedded": Settings(index_dir=tmp_path / "idx", data_dir=data_dir, corpus_dir=SEED.parent),
                "server": server_settings(tmp_path, pg_url, chroma_url, data_dir)}
    outputs, graded = {}, {}
    for name, s in backends.items():
        ingest([SEED], s)
        ingest([SHARED / "corpus-extra"], s)
        a = Assistant.open(s, build_if_missing=False)
        assert len(a.documents()) == 5
        outputs[name], graded[name] = [], {}
        for gold in GOLD_FILES:
            cases = load_gold(SHARED / "eval" / f"{gold}.jsonl")
            results = run_assistant(a, cases)
            graded[name][gold] = [(r.case_id, r.passed, r.answer) for r in results]
            for case in cases:  # the full JSON of single questions (citations, facts, parts)
                if not case.get("turns"):
                    outputs[name].append(a.ask(case["q"]).to_dict())
        a.store.close()
    assert graded["server"] == graded["embedded"]
    assert outputs["server"] == outputs["embedded"]
    # on the index with every document, the seed and extra gold sets all pass (README, Results)
    for gold in ("seed_gold", "extra_gold"):
        failed = [g for g in graded["server"][gold] if not g[1]]
        assert not failed, failed


MIXED_QUESTIONS = ["三公经费预算是多少？", "什么是三公经费？", "机关运行经费为什么下降", "哪个项目的预算最多？",
                   "项目支出占比多少"]


@pytest.mark.parametrize("facts, vectors", [("sqlite", "server"), ("postgres", "local")])
def test_mixed_backends_answer_like_embedded(tmp_path, request, data_dir, docs, facts, vectors):
    """Each URL setting works on its own: facts and vectors on different kinds of engine, with an
    incremental second ingest (the generation copy), answer exactly as the embedded pair."""
    from assistant.engine import Assistant
    from assistant.ingest import ingest

    other = Path(docs[1].document.path)
    answers = []
    for name, s in (("embedded", Settings(index_dir=tmp_path / "emb", data_dir=data_dir)),
                    ("mixed", Settings(index_dir=tmp_path / "mixed", data_dir=data_dir,
                                       database_url=request.getfixturevalue("pg_url") if facts == "postgres" else "",
                                       chroma_url=request.getfixturevalue("chroma_url") if vectors == "server" else ""))):
        ingest([SEED], s)
        ingest([other], s)
        a = Assistant.open(s, build_if_missing=False)
        assert len(a.documents()) == 2
        answers.append([a.ask(q).to_dict() for q in MIXED_QUESTIONS])
        a.store.close()
    assert answers[0] == answers[1]


def cli(args, env, **kw):
    return subprocess.run([sys.executable, "-m", "assistant.cli", *args], cwd=PROJECT_ROOT, env=env,
                          capture_output=True, text=True, timeout=600, **kw)


def test_killed_ingest_on_server_backends_leaves_the_previous_generation(tmp_path, pg_url, chroma_url, data_dir):
    env = {**os.environ, "BUDGET_QA_DATABASE_URL": pg_url, "BUDGET_QA_CHROMA_URL": chroma_url,
           "BUDGET_QA_DATA": str(data_dir)}
    r = cli(["ingest", str(SEED)], env)
    assert r.returncode == 0, r.stderr
    ask = ["ask", "三公经费预算是多少？", "--json"]
    before = cli(ask, env).stdout
    assert "25.50" in before
    gens = Generations(server_settings(tmp_path, pg_url, chroma_url, data_dir))
    gen = gens.current()
    kill_ingest_while_embedding(tmp_path, env)
    # the half-written generation exists but is not served
    abandoned = [g for g in gens._db.unpublished()]
    assert len(abandoned) == 1 and gens.current() == gen
    assert cli(ask, env).stdout == before
    # the next ingest takes the lock at once (it died with the process), removes the abandoned
    # generation (rows and Chroma collection) and publishes normally
    r = cli(["ingest", str(SEED)], {**env, "BUDGET_QA_INGEST_WAIT": "5"})
    assert r.returncode == 0, r.stderr
    assert gens._db.unpublished() == [] and gens.current() not in (gen, abandoned[0])
    import chromadb

    from assistant.store.backends import vector_collection
    from assistant.store.vectors import parse_chroma_url

    host, port, _ = parse_chroma_url(chroma_url)
    names = {c.name if hasattr(c, "name") else c for c in chromadb.HttpClient(host=host, port=port).list_collections()}
    assert vector_collection(abandoned[0]) not in names
    assert vector_collection(gens.current()) in names
    assert cli(ask, env).stdout == before


QUESTIONS = ["项目支出占比多少", "三公经费预算是多少？", "什么是三公经费？", "哪个项目的预算最多？", "机关运行经费比2022年减少了多少？"]


def test_two_workers_answer_identically_and_share_uploads_and_feedback(tmp_path, pg_url, chroma_url, data_dir):
    from assistant.engine import Assistant
    from assistant.feedback import open_feedback
    from assistant.ingest import ingest

    from .test_load import stop
    from .test_web import _free_port, _wait_http

    shared_data = tmp_path / "shared-data"  # uploads: the workers share the data folder
    (shared_data / "cache").mkdir(parents=True)
    for sub in ("embeddings.sqlite", "jieba"):  # warm caches, copied
        src = data_dir / "cache" / sub
        if src.is_dir():
            import shutil

            shutil.copytree(src, shared_data / "cache" / sub)
        elif src.is_file():
            (shared_data / "cache" / sub).write_bytes(src.read_bytes())
    s = server_settings(tmp_path, pg_url, chroma_url, shared_data)
    ingest([SEED], s)
    env = {**os.environ, "BUDGET_QA_DATABASE_URL": pg_url, "BUDGET_QA_CHROMA_URL": chroma_url,
           "BUDGET_QA_DATA": str(shared_data), "GRADIO_TEMP_DIR": str(tmp_path / "gradio")}
    workers = []
    try:
        for n in range(2):
            port = _free_port()
            log = tmp_path / f"worker{n}.log"
            with open(log, "wb") as out:
                proc = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py"), "--port", str(port),
                                         "--index", str(tmp_path / f"local-index-{n}")], cwd=str(PROJECT_ROOT),
                                        env=env, stdout=out, stderr=subprocess.STDOUT)
            workers.append((proc, f"http://127.0.0.1:{port}", log))
        for proc, base, log in workers:
            _wait_http(base + "/", 180.0, proc, log)
        clients = [httpx.Client(base_url=base, timeout=60) for _, base, _ in workers]

        def ask_all(questions):
            return [[c.post("/api/ask", json={"question": q}).json() for q in questions] for c in clients]

        first, second = ask_all(QUESTIONS)
        assert first == second
        assert first[1]["answer"].startswith("三公经费预算 25.50 万元")
        # a third process (as the upload handler of any worker does) adds a document
        uploaded = generate(SEED, tmp_path / "upload", 1)[0]
        uploader = Assistant.open(s, build_if_missing=False)
        summary = uploader.add_document(uploaded.name, uploaded.read_bytes())
        assert (shared_data / "uploads" / uploaded.name).is_file()
        deadline = time.time() + 30
        while time.time() < deadline:
            ids = [{d["doc_id"] for d in c.get("/api/documents").json()} for c in clients]
            if all(summary.doc_id in i for i in ids):
                break
            time.sleep(0.5)
        assert all(i == {SEED_ID, summary.doc_id} for i in ids), ids
        dept = next(d.department for d in uploader.documents() if d.doc_id == summary.doc_id)
        question = [f"{dept}三公经费是多少？", "三公经费是多少？"]
        first, second = ask_all(question)
        assert first == second and first[0]["kind"] != "not_found"
        # feedback given on one worker is seen by the others (one PostgreSQL table)
        code = ("import json,sys; from assistant.config import Settings; from assistant.feedback import open_feedback; "
                "st = open_feedback(Settings.from_env()); st.add(sys.argv[1], {'answer': 'x', 'kind': 'figure'}, 1); "
                "print(json.dumps([r['question'] for r in st.rows()]))")
        seen = [subprocess.run([sys.executable, "-c", code, f"q{n}"], cwd=PROJECT_ROOT, env=env, capture_output=True,
                               text=True, timeout=120) for n in range(2)]
        assert [json.loads(r.stdout) for r in seen] == [["q0"], ["q0", "q1"]], [r.stderr for r in seen]
        assert [r["question"] for r in open_feedback(s).rows()] == ["q0", "q1"]
        for c in clients:
            c.close()
    finally:
        for proc, _, _ in workers:
            stop(proc)


def test_feedback_survives_a_lost_database_connection(pg_url):
    """After the server dropped the connection (a PostgreSQL restart), the next rating is stored,
    not lost on the stale connection."""
    import psycopg

    from assistant.store.postgres import PostgresFeedbackStore

    fb = PostgresFeedbackStore(pg_url)
    answer = {"answer": "项目支出 187.00 万元[1]。", "kind": "figure", "citations": []}
    first = fb.add("项目支出是多少", answer, 1)
    with psycopg.connect(pg_url, autocommit=True) as admin:
        admin.execute("SELECT pg_terminate_backend(%s)", (fb.conn().info.backend_pid,))
    with pytest.raises(psycopg.OperationalError):  # what the rating met before it reconnected
        fb._add("被丢弃", answer, 1, "", None)
    admin_kill = psycopg.connect(pg_url, autocommit=True)
    admin_kill.execute("SELECT pg_terminate_backend(%s)", (fb.conn().info.backend_pid,))
    admin_kill.close()
    second = fb.add("项目支出是多少？", answer, -1)
    assert second > first
    assert [(r["question"], r["rating"]) for r in fb.rows()] == [("项目支出是多少", 1), ("项目支出是多少？", -1)]
    fb.close()
