"""Soak: the chat server under steady mixed load for a long time, on loopback (one command):

    .venv/bin/python benchmarks/soak.py [--minutes 10] [--clients 20] [--warmup 2] [--upload-every 60]
        [--work DIR] [--out benchmarks/SOAK.md]

Starts ``app.py`` over the seed (plus ``../shared/corpus-extra`` when it is there), then for
``--minutes``: ``--clients`` API clients ask without pause through ``POST /api/ask``, each in its own
conversation, a mix of figure, breakdown and definition questions, follow-ups (那公用经费呢？ …) and
questions naming the departments uploaded so far; every ``--upload-every`` seconds one more synthetic
disclosure (``synth.py``, a new department each time) is uploaded through the page, as the browser does
(Gradio's upload route, then the page's 上传并入库 event). Every 5 s the server's resident memory (RSS)
is sampled.

Reports: requests, errors (any status but 200, any failed request, any upload not ingested), latency
p50/p95 overall and per minute, uploads and their durations, RSS over time, and the RSS growth after
the warm-up (the last sample against the first sample after ``--warmup`` minutes). Nothing touches the
project's index/ or data/.
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
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from synth import department, generate  # noqa: E402

from tests.gradio_page import PageClient, file_data  # noqa: E402
from tests.servers import free_port  # noqa: E402

SEED = ROOT / "corpus" / "000_2134ace919fae625.txt"
EXTRA = ROOT.parent / "shared" / "corpus-extra"

#: one conversation's turns, repeated by each client (follow-ups rely on the turn before)
SCRIPT = ["项目支出占比多少", "人员经费是多少？", "那公用经费呢？", "三公经费构成", "什么是三公经费？",
          "哪个项目的预算最多？", "第二大的是哪个？", "机关运行经费比2022年减少了多少？", "差旅费预算一共多少",
          "中共济源产城融合示范区工作委员会办公室2023年政府采购预算是多少？"]


def rss_mb(pid: int) -> float:
    """Resident memory (VmRSS) of a process in MB (nan once it has ended)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100 * (len(s) - 1))))]


def start_server(work: Path) -> tuple[subprocess.Popen, str]:
    corpus = work / "corpus"
    corpus.mkdir(parents=True)
    shutil.copy(SEED, corpus / SEED.name)
    if EXTRA.is_dir():
        for f in sorted(EXTRA.glob("*.txt")):
            shutil.copy(f, corpus / f.name)
    port = free_port()
    env = {**os.environ, "BUDGET_QA_DATA": str(work / "data"), "BUDGET_QA_CORPUS": str(corpus),
           "GRADIO_TEMP_DIR": str(work / "gradio-tmp"), "GRADIO_ANALYTICS_ENABLED": "False",
           "PYTHONUNBUFFERED": "1"}
    env.pop("BUDGET_QA_INDEX", None)
    env.pop("BUDGET_QA_TOKEN", None)
    log = open(work / "server.log", "wb")
    proc = subprocess.Popen([sys.executable, str(ROOT / "app.py"), "--port", str(port), "--index", str(work / "index")],
                            cwd=str(ROOT), env=env, stdout=log, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 600
    while time.time() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited: {(work / 'server.log').read_text()[-2000:]}")
        try:
            if httpx.get(base + "/api/documents", timeout=5).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            pass
        time.sleep(1)
    proc.kill()
    raise SystemExit("server did not start within 600 s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--minutes", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--warmup", type=float, default=2.0, help="minutes before the RSS baseline")
    ap.add_argument("--upload-every", type=float, default=60.0, help="seconds between uploads")
    ap.add_argument("--work", type=Path, default=None)
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "SOAK.md")
    args = ap.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="budget-qa-soak-"))
    work.mkdir(parents=True, exist_ok=True)
    uploads = generate(SEED, work / "uploads-src", int(args.minutes * 60 / args.upload_every) + 2)

    t_boot = time.time()
    proc, base = start_server(work)
    boot = time.time() - t_boot
    print(f"server up after {boot:.1f} s at {base}; work folder {work}", flush=True)
    start = time.time()
    end = start + args.minutes * 60
    requests: list[tuple[float, float, int]] = []  # (time since start, latency s, status; 0 = failed)
    errors: list[str] = []
    upload_log: list[tuple[float, float, str]] = []
    uploaded: list[str] = []
    samples: list[tuple[float, float]] = []
    lock = threading.Lock()

    def client(n: int) -> None:
        with httpx.Client(base_url=base, timeout=120) as c:
            turn = 0
            while time.time() < end:
                q = SCRIPT[turn % len(SCRIPT)]
                with lock:
                    if uploaded and turn % 4 == 3:
                        q = f"{uploaded[(n + turn) % len(uploaded)]}项目支出是多少？"
                conv = f"soak-{n}-{turn // len(SCRIPT)}"
                t0 = time.perf_counter()
                try:
                    r = c.post("/api/ask", json={"question": q, "conversation": conv})
                    status = r.status_code
                    if status != 200 or not r.json().get("answer"):
                        raise RuntimeError(f"{status} {r.text[:200]}")
                except Exception as exc:  # any failure counts as an error
                    status = 0
                    with lock:
                        errors.append(f"client {n}: {q}: {exc}")
                with lock:
                    requests.append((time.time() - start, time.perf_counter() - t0, status))
                turn += 1

    def uploader() -> None:
        i = 0
        page = PageClient(base)
        fn = page.fn_index("click", inputs="bqa-upload-file")
        try:
            while time.time() + args.upload_every < end + 1:
                time.sleep(max(0.0, start + (i + 1) * args.upload_every - time.time()))
                path = uploads[i]
                t0 = time.perf_counter()
                try:
                    stored = page.upload(path.name, path.read_bytes())
                    stored.raise_for_status()
                    done = page.run(fn, [file_data(stored.json()[0], path.name), [], ""])
                    notice = str(done.get("output", {}).get("data", [""])[0])
                    if not notice.startswith("已入库"):
                        raise RuntimeError(notice[:200])
                    with lock:
                        uploaded.append(department(i))
                except Exception as exc:
                    notice = f"failed: {exc}"
                    with lock:
                        errors.append(f"upload {path.name}: {exc}")
                upload_log.append((time.time() - start, time.perf_counter() - t0, notice[:60]))
                print(f"  upload {i + 1}: {upload_log[-1][1]:.1f} s {notice[:40]}", flush=True)
                i += 1
        finally:
            page.close()

    def sampler() -> None:
        while time.time() < end + 1:
            samples.append((time.time() - start, rss_mb(proc.pid)))
            time.sleep(5)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(args.clients)]
    threads += [threading.Thread(target=uploader), threading.Thread(target=sampler)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()

    lat = [l for _, l, s in requests if s == 200]
    minutes = int(args.minutes + 0.999)
    per_minute = []
    for m in range(minutes):
        sel = [l for t, l, s in requests if m * 60 <= t < (m + 1) * 60 and s == 200]
        rss = [r for t, r in samples if m * 60 <= t < (m + 1) * 60]
        per_minute.append((m + 1, len(sel), pct(sel, 50), pct(sel, 95), max(rss) if rss else float("nan")))
    after = [(t, r) for t, r in samples if t >= args.warmup * 60]
    base_rss = after[0][1] if after else float("nan")
    last_rss = after[-1][1] if after else float("nan")
    peak_rss = max((r for _, r in after), default=float("nan"))
    growth = (last_rss - base_rss) / base_rss * 100 if after else float("nan")
    lines = [
        "# Soak results",
        "",
        f"`benchmarks/soak.py --minutes {args.minutes:g} --clients {args.clients} --warmup {args.warmup:g} "
        f"--upload-every {args.upload_every:g}`, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(start))}, "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, load average at the end "
        f"{'/'.join(f'{x:.2f}' for x in os.getloadavg())}. Server start (index build of "
        f"{len(list((work / 'corpus').glob('*.txt')))} documents): {boot:.1f} s.",
        "",
        "| measure | result |",
        "|---|---|",
        f"| requests answered | {len(lat)} of {len(requests)} ({len(requests) / (args.minutes * 60):.1f}/s) |",
        f"| errors | {len(errors)} |",
        f"| latency p50 / p95 / max | {pct(lat, 50) * 1000:.0f} / {pct(lat, 95) * 1000:.0f} / "
        f"{max(lat, default=float('nan')) * 1000:.0f} ms |",
        f"| uploads ingested | {len(uploaded)} of {len(upload_log)}, "
        f"{pct([d for _, d, _ in upload_log], 50):.1f} s median, {max((d for _, d, _ in upload_log), default=0):.1f} s max |",
        f"| server RSS after warm-up ({args.warmup:g} min) / peak / at the end | {base_rss:.0f} / {peak_rss:.0f} / "
        f"{last_rss:.0f} MB |",
        f"| RSS growth after warm-up (end vs first sample after warm-up) | {growth:+.1f}% |",
        "",
        "| minute | answers | p50 ms | p95 ms | peak RSS MB |",
        "|---|---|---|---|---|",
        *[f"| {m} | {n} | {p50 * 1000:.0f} | {p95 * 1000:.0f} | {r:.0f} |" for m, n, p50, p95, r in per_minute],
        "",
    ]
    if errors:
        lines += ["Errors (first 20):", "", *[f"- {e}" for e in errors[:20]], ""]
    text = "\n".join(lines)
    args.out.write_text(text, encoding="utf-8")
    (work / "soak.json").write_text(json.dumps({"requests": requests, "errors": errors, "uploads": upload_log,
                                                "rss": samples}, ensure_ascii=False), encoding="utf-8")
    print(text)


if __name__ == "__main__":
    main()
