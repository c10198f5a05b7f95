"""Benchmarks of budget-qa, measured in one run on this machine (one command):

    .venv/bin/python benchmarks/run.py [--scale 10,100,1000] [--server-scale 1000,10000]
        [--sections basics,embedded,server] [--questions 40] [--database-url URL] [--chroma-url URL]
        [--work DIR] [--out benchmarks/RESULTS.md]

Measures: warm per-question latency p50/p95 by kind (in-process), budget-qa vs the plain LangChain
baseline on the same questions; cold start of ``ask`` for one question; chat server until it serves
and its peak RSS; ingest time per document and embedding throughput vs the embedder alone; index size.
Then, with synthetic disclosures in the seed's layout (``synth.py``), how ingest (cold and warm
embedding cache), lookup and retrieval latency for questions naming a department, a question naming
none, index size and memory grow with the number of documents: on the embedded backends (SQLite +
local Chroma) and on the server backends (PostgreSQL + ``chroma run``, started by the benchmark unless
URLs are given). Beyond 1,000 documents the server runs fill the embedding cache first (real vectors
where the 1,000-document run computed them, hash-seeded pseudo-vectors otherwise; see ``pseudo.py``):
they time the stores, not retrieval quality.

Ingests and question timings run in fresh processes, so each peak RSS is that process's own.
``RESULTS.md`` is rewritten after every row. Everything is written under a temporary folder (or
``--work``); nothing touches the project's index/ or data/.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth import department, generate  # noqa: E402

from tests.servers import ChromaServer, PostgresServer, free_port, postgres_bin  # noqa: E402  (one server launcher)

SEED = ROOT / "corpus" / "000_2134ace919fae625.txt"
GOLD = ROOT.parent / "shared" / "eval"


def pct(values: list[float], p: float) -> float:
    v = sorted(values)
    if not v:
        return float("nan")
    k = max(0, min(len(v) - 1, int(round(p / 100 * (len(v) - 1)))))
    return v[k]


def du(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())


def questions() -> list[dict]:
    from assistant.evaluation import load_gold

    cases = []
    for name in ("seed_gold", "phrasing_gold"):
        f = GOLD / f"{name}.jsonl"
        if f.exists():
            cases += [c for c in load_gold(f) if "q" in c]
    return cases


def kind_of(case: dict) -> str:
    k = case.get("kind", "figure")
    return {"figure_or_not_found": "not_found"}.get(k, k)


def warm_latency(assistant, baseline, cases, reps: int = 5) -> dict:
    for c in cases:
        assistant.ask(c["q"])
        baseline.search(c["q"])
    ours: dict[str, list[float]] = {}
    base: dict[str, list[float]] = {}
    for _ in range(reps):
        for c in cases:
            k = "passage" if kind_of(c) in ("definition", "passage") else ("not_found" if kind_of(c) == "not_found" else "numeric")
            t = time.perf_counter()
            assistant.ask(c["q"])
            ours.setdefault(k, []).append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            baseline.search(c["q"], k=3)
            base.setdefault(k, []).append((time.perf_counter() - t) * 1000)
    return {"ours": ours, "baseline": base}


def server_ready(index: Path, data: Path, asked: list[str] | None = None, env: dict | None = None) -> tuple[float, int]:
    """Seconds until the chat page serves (existing index) and the server's peak RSS (KB) after
    answering a few questions (``asked``, default three about the seed)."""
    port = free_port()
    env = {**os.environ, **(env or {}), "BUDGET_QA_DATA": str(data), "GRADIO_TEMP_DIR": str(data / "gradio-tmp")}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--index", str(index)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ready = float("nan")
    try:
        while time.perf_counter() - t0 < 600:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                ready = time.perf_counter() - t0
                break
            except OSError:
                time.sleep(0.1)
        for q in asked or ("项目支出占比多少", "什么是三公经费", "哪个项目的预算最多"):
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/api/ask", data=json.dumps({"question": q}).encode(),
                                             headers={"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=300).read()
            except OSError:
                pass
        rss = 0
        for line in Path(f"/proc/{proc.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                rss = int(line.split()[1])
        return ready, rss
    finally:
        os.killpg(proc.pid, 15)
        proc.wait(timeout=30)


def loadavg() -> str:
    """The 1/5/15-minute load averages, as `uptime` prints them."""
    return "/".join(f"{x:.2f}" for x in os.getloadavg())


def vm_hwm_mb(pid: int | str = "self") -> float:
    """Peak resident set size (VmHWM) of a process in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def sample(n: int, count: int) -> list[int]:
    """``count`` document numbers spread evenly over 0..n-1 (all of them if n <= count)."""
    if n <= count:
        return list(range(n))
    return sorted({round(k * (n - 1) / (count - 1)) for k in range(count)})


def doc_id(i: int) -> str:
    """doc_id of synthetic document i (its file stem)."""
    return f"synth_{i:04d}"


def synthetic_texts(docs: list[Path]) -> list[str]:
    """Passage texts of the synthetic documents, derived from the first ten (document i is document
    i % 10 with another department name) and checked against a parse of a few; every document is
    parsed when the check fails."""
    from assistant.parsing.document import parse_file

    n = len(docs)
    tmpl = {j: parse_file(docs[j]).passages for j in range(min(n, 10))}

    def derived(i: int) -> list[str]:
        return [p.text.replace(department(i % 10), department(i)) for p in tmpl[i % 10]]

    if all([p.text for p in parse_file(docs[i]).passages] == derived(i) for i in sample(n, 5)):
        return [t for i in range(n) for t in derived(i)]
    return [p.text for d in docs for p in parse_file(d).passages]


# ---------------------------------------------------------------------------------- subprocesses
def run_worker(spec: dict, timeout: float = 6 * 3600) -> dict:
    """Run ``spec`` in a fresh Python process (so its time and peak memory are its own)."""
    r = subprocess.run([sys.executable, __file__, "--worker", json.dumps(spec)], capture_output=True, text=True,
                       timeout=timeout, env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
    if r.returncode != 0:
        raise RuntimeError(f"worker {spec.get('task')} failed: {r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def worker(spec: dict) -> dict:
    """One measurement in this process: ``ingest`` (timed, peak RSS) or ``query`` (latencies)."""
    from assistant.config import Settings

    s = Settings().with_(index_dir=spec["index"], data_dir=spec["data"], database_url=spec.get("database_url", ""),
                         chroma_url=spec.get("chroma_url", ""))
    if spec["task"] == "ingest":
        from assistant.ingest import ingest

        embedder, pseudo = None, None
        if spec.get("pseudo"):
            from pseudo import PseudoEmbedder

            from assistant.embedding import CachedEmbedder

            pseudo = PseudoEmbedder("e5-small", 384)
            embedder = CachedEmbedder(pseudo, s.data_dir / "cache" / "embeddings.sqlite")
        t = time.perf_counter()
        report = ingest([Path(spec["docs"])], s, embedder=embedder)
        return {"seconds": time.perf_counter() - t, "rss_mb": vm_hwm_mb(),
                "passages": sum(d.passages for d in report.documents), "documents": len(report.documents),
                "pseudo_computed": pseudo.computed if pseudo is not None else None}
    from assistant.engine import Assistant

    t = time.perf_counter()
    a = Assistant.open(s, build_if_missing=False)
    out: dict = {"open_s": time.perf_counter() - t, "rss_open_mb": vm_hwm_mb()}
    idx = sample(spec["n"], spec["questions"])
    spare = next((i for i in range(spec["n"]) if i not in idx), idx[0])
    a.ask(f"{department(spare)}什么是三公经费")  # loads the embedder, Chroma and jieba once
    vectors = a.retriever.vectors
    for kind, template in (("lookup", "{}项目支出是多少"), ("retrieval", "{}什么是三公经费")):
        first, warm, wrong = [], [], 0
        for i in idx:
            q = template.format(department(i))
            for times in (first, warm):
                # every retrieval question embeds its query: the cache of query vectors is emptied
                vectors._queries.clear()
                t = time.perf_counter()
                ans = a.ask(q)
                times.append((time.perf_counter() - t) * 1000)
            if len(ans.parts) != 1 or {c.doc_id for c in ans.citations} != {doc_id(i)}:
                wrong += 1
        out[kind] = {"first": first, "warm": warm, "wrong": wrong, "questions": len(idx)}
    out["rss_dept_mb"] = vm_hwm_mb()
    if spec.get("no_dept"):
        times = []
        for _ in range(2):
            t = time.perf_counter()
            ans = a.ask("项目支出是多少")
            times.append(time.perf_counter() - t)
        out["no_dept"] = {"first_s": times[0], "warm_s": times[1], "parts": len(ans.parts)}
    out["rss_mb"] = vm_hwm_mb()
    out["loaded_documents"] = a.catalog.loaded()
    return out


# ---------------------------------------------------------------------------------- servers
def create_database(admin_url: str, name: str) -> str:
    """A new empty database ``name`` on the server of ``admin_url`` (dropped first if it exists); its URL."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {}").format(sql.Identifier(name)))
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return admin_url.rpartition("/")[0] + "/" + name


def database_size(url: str) -> int:
    """pg_database_size of the database at ``url``, in bytes."""
    import psycopg

    with psycopg.connect(url) as c:
        return int(c.execute("SELECT pg_database_size(current_database())").fetchone()[0])


# ---------------------------------------------------------------------------------- report
class Report:
    """RESULTS.md, rewritten after every measurement so a long run leaves partial results."""

    def __init__(self, path: Path):
        self.path = path
        self.sections: dict[str, list[str]] = {}
        self.done = False

    def add(self, section: str, line: str = "") -> None:
        print(line, flush=True)
        self.sections.setdefault(section, []).append(line)
        self.write()

    def write(self) -> None:
        text = "\n".join(l for lines in self.sections.values() for l in lines + [""])
        if not self.done:
            text += "\n_(partial: the run is still going or stopped early)_\n"
        self.path.write_text(text, encoding="utf-8")


def ms(values: list[float]) -> str:
    """The p50 / p95 of millisecond timings."""
    return f"{pct(values, 50):.0f} / {pct(values, 95):.0f}"


def scope_note(q: dict) -> str:
    """A note when some questions were not scoped to the document they named."""
    return "" if not q["wrong"] else f" ({q['wrong']}/{q['questions']} not scoped to the named document)"


def size_mb(nbytes: int) -> str:
    """A size in MB for the tables."""
    return f"{nbytes / 2**20:,.0f} MB" if nbytes >= 10 * 2**20 else f"{nbytes / 2**20:.1f} MB"


# ---------------------------------------------------------------------------------- sections
def basics(rep: Report, tmp: Path) -> None:
    """The seed: ingest vs the embedder, warm latency on the gold questions, cold start, chat server."""
    from assistant.config import Settings
    from assistant.embedding import E5SmallEmbedder
    from assistant.engine import Assistant
    from assistant.evaluation import LangChainBaseline
    from assistant.index import current_generation
    from assistant.ingest import ingest
    from assistant.parsing.document import parse_file

    data = tmp / "data"
    say = lambda s="": rep.add("basics", s)  # noqa: E731
    settings = Settings().with_(index_dir=tmp / "seed-index", data_dir=data)
    parsed = parse_file(SEED)
    texts = [p.text for p in parsed.passages]
    emb = E5SmallEmbedder()
    emb.embed_passages(["预热"])
    t = time.perf_counter()
    emb.embed_passages(texts)
    embed_alone = time.perf_counter() - t
    t = time.perf_counter()
    ingest([SEED], settings)
    ingest_cold = time.perf_counter() - t
    t = time.perf_counter()
    ingest([SEED], settings)
    ingest_warm = time.perf_counter() - t
    gen = current_generation(settings.index_dir)
    say("| ingest of the seed | value |\n|---|---|")
    say(f"| passages | {len(texts)} |")
    say(f"| embedder alone | {embed_alone:.2f} s ({len(texts) / embed_alone:.0f} passages/s) |")
    say(f"| ingest, cold embedding cache | {ingest_cold:.2f} s (overhead ×{ingest_cold / embed_alone:.2f} of the embedder) |")
    say(f"| ingest, warm cache (re-ingest) | {ingest_warm:.2f} s |")
    say(f"| index size on disk | {du(gen) / 1024:.0f} KB |")
    say()

    cases = questions()
    assistant = Assistant.open(settings, build_if_missing=False)
    baseline = LangChainBaseline([SEED], emb)
    lat = warm_latency(assistant, baseline, cases)
    say(f"Warm latency per question, in-process, {len(cases)} gold questions × 5 (ms):")
    say()
    say("| kind | budget-qa p50 | budget-qa p95 | baseline p50 | baseline p95 |\n|---|---|---|---|---|")
    for k in ("numeric", "passage", "not_found"):
        o, b = lat["ours"].get(k, []), lat["baseline"].get(k, [])
        if o:
            say(f"| {k} | {pct(o, 50):.1f} | {pct(o, 95):.1f} | {pct(b, 50):.1f} | {pct(b, 95):.1f} |")
    say()

    env = {**os.environ, "BUDGET_QA_DATA": str(data)}
    t = time.perf_counter()
    subprocess.run([str(ROOT / ".venv" / "bin" / "budget-qa"), "ask", "项目支出占比多少", "--index", str(settings.index_dir)],
                   env=env, capture_output=True, check=True)
    cold_ask = time.perf_counter() - t
    ready, rss = server_ready(settings.index_dir, data)
    say("| start-up | value |\n|---|---|")
    say(f"| `ask` cold, one question | {cold_ask:.2f} s |")
    say(f"| chat server until it serves (existing index) | {ready:.2f} s |")
    say(f"| chat server peak RSS after 3 questions | {rss / 1024:.0f} MB |")
    say()


EMBEDDED_HEAD = ("| documents | passages | ingest cold cache (distinct texts embedded) | re-ingest, warm cache | "
                 "lookup p50 / p95 ms | retrieval p50 / p95 ms | first question on a document, lookup / retrieval p95 ms | "
                 "question naming no department | index size | peak RSS | load before → after |\n"
                 "|---|---|---|---|---|---|---|---|---|---|---|")


def embedded(rep: Report, tmp: Path, n: int, nq: int) -> None:
    """One row of the embedded-backend scale table (SQLite + local Chroma)."""
    from assistant.index import current_generation

    before = loadavg()
    docs_dir = tmp / f"synth-{n}"
    generate(SEED, docs_dir, n)
    spec = {"index": str(tmp / f"index-{n}"), "data": str(tmp / f"data-{n}"), "docs": str(docs_dir)}
    cold = run_worker({**spec, "task": "ingest"})
    texts = _cache_rows(tmp / f"data-{n}")
    warm = run_worker({**spec, "task": "ingest"})
    q = run_worker({**spec, "task": "query", "n": n, "questions": nq, "no_dept": True})
    size = du(current_generation(Path(spec["index"])))
    ready, rss = server_ready(Path(spec["index"]), Path(spec["data"]),
                              [f"{department(i)}项目支出是多少" for i in sample(n, 3)])
    p = cold["passages"]
    nd = q["no_dept"]
    rep.add("embedded", f"| {n:,} | {p:,} | {cold['seconds']:.0f} s, {p / cold['seconds']:.0f} passages/s ({texts:,}) | "
            f"{warm['seconds']:.0f} s, {p / warm['seconds']:.0f} passages/s | {ms(q['lookup']['warm'])}{scope_note(q['lookup'])} | "
            f"{ms(q['retrieval']['warm'])}{scope_note(q['retrieval'])} | "
            f"{pct(q['lookup']['first'], 95):.0f} / {pct(q['retrieval']['first'], 95):.0f} | "
            f"{nd['first_s']:.1f} s first, {nd['warm_s']:.1f} s again ({nd['parts']} parts) | {size_mb(size)} | "
            f"{q['rss_dept_mb']:.0f} MB ({q['rss_mb']:.0f} MB after the no-department question) | {before} → {loadavg()} |")
    rep.add("embedded-server", f"| {n:,} | {ready:.1f} s | {rss / 1024:.0f} MB | {cold['rss_mb']:.0f} MB |")


def _cache_rows(data: Path) -> int:
    """Rows (distinct texts) in the embedding cache under ``data``."""
    import sqlite3

    f = data / "cache" / "embeddings.sqlite"
    if not f.exists():
        return 0
    with sqlite3.connect(f) as c:
        return int(c.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0])


SERVER_HEAD = ("| documents | passages | embedding cache | ingest | re-ingest, warm cache | lookup p50 / p95 ms | "
               "retrieval p50 / p95 ms | first question on a document, lookup / retrieval p95 ms | "
               "PostgreSQL database | Chroma server data | peak RSS (query process / ingest) | load before → after |\n"
               "|---|---|---|---|---|---|---|---|---|---|---|---|")


def server(rep: Report, tmp: Path, n: int, nq: int, admin_url: str, chroma_url: str | None, source_cache: Path | None,
           prefill_above: int = 1000) -> None:
    """One row of the server-backend table (PostgreSQL + Chroma server). Up to ``prefill_above``
    documents the embedding cache is the embedded run's (warm; cold if there was none); beyond, it is
    filled first (see :mod:`pseudo`)."""
    from pseudo import prefill

    before = loadavg()
    chroma = None
    if not chroma_url:
        chroma = ChromaServer(tmp / f"chroma-server-{n}").start()
    url = create_database(admin_url, f"bqa_bench_{n}")
    try:
        docs_dir = tmp / f"synth-{n}"
        docs = generate(SEED, docs_dir, n)
        data = tmp / f"server-data-{n}"
        spec = {"index": str(tmp / f"server-index-{n}"), "data": str(data), "docs": str(docs_dir),
                "database_url": url, "chroma_url": chroma_url or chroma.url}
        prefilled = n > prefill_above
        embedded_cache = tmp / f"data-{n}" / "cache" / "embeddings.sqlite"
        if prefilled:
            real, fake = prefill(data / "cache" / "embeddings.sqlite", synthetic_texts(docs), "e5-small", 384, source_cache)
            cache = f"filled first: {real:,} real vectors, {fake:,} pseudo-vectors"
        elif embedded_cache.exists():  # the embedding is the same as on the embedded backends: not repeated
            (data / "cache").mkdir(parents=True, exist_ok=True)
            shutil.copy(embedded_cache, data / "cache" / "embeddings.sqlite")
            cache = "warm (from the embedded run of the same documents)"
        else:
            cache = "cold"
        ing = run_worker({**spec, "task": "ingest", "pseudo": prefilled})
        if ing.get("pseudo_computed"):
            cache += f" ({ing['pseudo_computed']:,} texts missing from it got pseudo-vectors)"
        warm = None if prefilled else run_worker({**spec, "task": "ingest"})
        q = run_worker({**spec, "task": "query", "n": n, "questions": nq, "no_dept": False})
        db = database_size(url)
        vec = du(chroma.root / "data") if chroma is not None else None
        p = ing["passages"]
        rewarm = "not run (it would take as long as the ingest)" if warm is None else \
            f"{warm['seconds']:.0f} s, {p / warm['seconds']:.0f} passages/s"
        rep.add("server", f"| {n:,} | {p:,} | {cache} | {ing['seconds']:.0f} s, {p / ing['seconds']:.0f} passages/s | "
                f"{rewarm} | "
                f"{ms(q['lookup']['warm'])}{scope_note(q['lookup'])} | {ms(q['retrieval']['warm'])}{scope_note(q['retrieval'])} | "
                f"{pct(q['lookup']['first'], 95):.0f} / {pct(q['retrieval']['first'], 95):.0f} | {size_mb(db)} | "
                f"{'n/a (given server)' if vec is None else size_mb(vec)} | {q['rss_mb']:.0f} MB / {ing['rss_mb']:.0f} MB | "
                f"{before} → {loadavg()} |")
    finally:
        if chroma is not None:
            chroma.stop()


def main() -> None:
    """Run the selected sections and write the report."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scale", default="10,100,1000", help="embedded backends: numbers of synthetic documents")
    ap.add_argument("--server-scale", default="1000,10000", help="server backends: numbers of synthetic documents")
    ap.add_argument("--sections", default="basics,embedded,server", help="which parts to run")
    ap.add_argument("--questions", type=int, default=40, help="timed questions per kind and size")
    ap.add_argument("--database-url", default="", help="PostgreSQL where the benchmark may create databases "
                                                       "(default: start a throw-away cluster)")
    ap.add_argument("--chroma-url", default="", help="a Chroma server (default: start `chroma run` per size)")
    ap.add_argument("--prefill-above", type=int, default=1000,
                    help="server runs larger than this fill the embedding cache first instead of embedding")
    ap.add_argument("--work", default="", help="working folder (default: a new temporary one)")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    ap.add_argument("--worker", default="", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.worker:
        print(json.dumps(worker(json.loads(args.worker))))
        return
    tmp = Path(args.work) if args.work else Path(tempfile.mkdtemp(prefix="bqa-bench-"))
    tmp.mkdir(parents=True, exist_ok=True)
    sections = set(args.sections.split(","))
    rep = Report(Path(args.out))
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    head = lambda s="": rep.add("head", s)  # noqa: E731
    head(f"Machine: {os.cpu_count()} cores ({cpu}), {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB, "
         f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d %H:%M')}; working folder {tmp}")
    head(f"Load average (1/5/15 min) at the start: {loadavg()} (the machine is shared; other jobs may run)")
    head()
    if "basics" in sections:
        basics(rep, tmp)
    if "embedded" in sections:
        rep.add("embedded", "Embedded backends (SQLite + local Chroma), synthetic disclosures in the seed's layout "
                            f"(`benchmarks/synth.py`); {args.questions} timed questions per kind naming a department "
                            "(`<department>项目支出是多少`, `<department>什么是三公经费`), each asked once (first) and "
                            "again (warm, the p50/p95); the question naming no department is `项目支出是多少`:")
        rep.add("embedded")
        rep.add("embedded", EMBEDDED_HEAD)
        rep.sections.setdefault("embedded-server", ["", "Chat server (`app.py`) on the same indexes: until it serves, its "
                                                    "peak RSS after 3 questions naming a department, and the ingest process's peak RSS:",
                                                    "", "| documents | until it serves | chat server peak RSS | ingest peak RSS |",
                                                    "|---|---|---|---|"])
        for n in [int(x) for x in args.scale.split(",") if x]:
            embedded(rep, tmp, n, args.questions)
    if "server" in sections:
        pg = None
        admin = args.database_url
        if not admin:
            if postgres_bin() is None:
                raise RuntimeError("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb)")
            pg = PostgresServer(postgres_bin(), tmp / "postgres", durable=True).start()
            admin = pg.url
        try:
            rep.add("server", "Server backends (PostgreSQL + `chroma run`, both on this machine), same documents and "
                              "questions (questions naming no department were not timed here). After a re-ingest the "
                              "database and the Chroma data hold two generations: the current one and the one it "
                              "replaced, kept until the next publish for workers that have not switched yet:")
            rep.add("server")
            rep.add("server", SERVER_HEAD)
            for n in [int(x) for x in args.server_scale.split(",") if x]:
                source = tmp / f"data-{args.prefill_above}" / "cache" / "embeddings.sqlite"
                if not source.exists():
                    source = tmp / f"server-data-{args.prefill_above}" / "cache" / "embeddings.sqlite"
                server(rep, tmp, n, args.questions, admin, args.chroma_url or None, source if source.exists() else None,
                       args.prefill_above)
        finally:
            if pg is not None:
                pg.stop()
    rep.add("tail", f"Load average at the end: {loadavg()}")
    rep.done = True
    rep.write()
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
