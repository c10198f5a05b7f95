"""Benchmarks of budget-qa, measured in one run on this machine (one command):

    .venv/bin/python benchmarks/run.py [--scale 10,100] [--out benchmarks/RESULTS.md]

Measures: warm per-question latency p50/p95 by kind (in-process), budget-qa vs the plain LangChain
baseline on the same questions; cold start of ``ask`` for one question; chat server until it serves
and its peak RSS; ingest time per document and embedding throughput vs the embedder alone; index size;
and, with synthetic disclosures in the seed's layout, how ingest, lookup and retrieval latency, index
size and memory grow with the number of documents (cold and warm embedding cache).
Everything is written under a temporary folder; nothing touches the project's index/ or data/.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import socket
import statistics
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


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_ready(index: Path, data: Path) -> tuple[float, int]:
    """Seconds until the chat page serves (existing index) and the server's peak RSS (KB) after
    answering a few questions."""
    port = free_port()
    env = {**os.environ, "BUDGET_QA_DATA": str(data), "GRADIO_TEMP_DIR": str(data / "gradio-tmp")}
    t0 = time.perf_counter()
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--index", str(index)],
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    ready = float("nan")
    try:
        while time.perf_counter() - t0 < 120:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2)
                ready = time.perf_counter() - t0
                break
            except OSError:
                time.sleep(0.1)
        for q in ("项目支出占比多少", "什么是三公经费", "哪个项目的预算最多"):
            try:
                req = urllib.request.Request(f"http://127.0.0.1:{port}/api/ask", data=json.dumps({"question": q}).encode(),
                                             headers={"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=30).read()
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


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scale", default="10,100", help="numbers of synthetic documents, comma-separated")
    ap.add_argument("--out", default=str(ROOT / "benchmarks" / "RESULTS.md"))
    args = ap.parse_args()
    from assistant.config import Settings
    from assistant.embedding import E5SmallEmbedder
    from assistant.engine import Assistant
    from assistant.evaluation import LangChainBaseline
    from assistant.index import current_generation
    from assistant.ingest import ingest
    from assistant.parsing.document import parse_file

    tmp = Path(tempfile.mkdtemp(prefix="bqa-bench-"))
    data = tmp / "data"
    out: list[str] = []
    say = lambda s="": (print(s, flush=True), out.append(s))  # noqa: E731
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    say(f"Machine: {os.cpu_count()} cores ({cpu}), {round(os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30)} GiB, "
        f"Python {platform.python_version()}, {time.strftime('%Y-%m-%d')}")
    say()

    # ---- ingest of the seed: parse+store vs the embedder alone ----
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

    # ---- warm latency, ours vs the baseline ----
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

    # ---- cold start and the server ----
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

    # ---- scale ----
    say("Scale with synthetic disclosures (seed layout, amounts × k, one department each):")
    say()
    say("| documents | ingest cold cache | ingest warm cache | passages/s (cold) | lookup p50/p95 ms | retrieval p50/p95 ms | index size | peak RSS |")
    say("|---|---|---|---|---|---|---|---|")
    for n in [int(x) for x in args.scale.split(",") if x]:
        docs = generate(SEED, tmp / f"synth-{n}", n)
        s = Settings().with_(index_dir=tmp / f"index-{n}", data_dir=tmp / f"data-{n}")
        t = time.perf_counter()
        ingest(docs, s)
        cold = time.perf_counter() - t
        t = time.perf_counter()
        ingest(docs, s)
        warm = time.perf_counter() - t
        a = Assistant.open(s, build_if_missing=False)
        look, retr = [], []
        for i in range(min(n, 40)):
            q1 = f"{department(i)}项目支出是多少"
            q2 = f"{department(i)}什么是三公经费"
            a.ask(q1)
            t = time.perf_counter()
            a.ask(q1)
            look.append((time.perf_counter() - t) * 1000)
            a.ask(q2)
            t = time.perf_counter()
            a.ask(q2)
            retr.append((time.perf_counter() - t) * 1000)
        size = du(current_generation(s.index_dir))
        maxrss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        say(f"| {n} | {cold:.1f} s | {warm:.1f} s | {n * len(texts) / cold:.0f} | {pct(look, 50):.0f} / {pct(look, 95):.0f} | "
            f"{pct(retr, 50):.0f} / {pct(retr, 95):.0f} | {size / 2**20:.1f} MB | {maxrss / 1024:.0f} MB |")
    Path(args.out).write_text("\n".join(out) + "\n", encoding="utf-8")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
