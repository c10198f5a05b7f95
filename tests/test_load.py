"""The running server under load and when exposed (loopback only): 20 concurrent clients × 10
questions through the HTTP API get exactly the single-client answers, with their conversations kept
apart; with BUDGET_QA_TOKEN set the API refuses calls without the token."""
from __future__ import annotations

import concurrent.futures as cf
import os
import shutil
import subprocess
import sys
import time

import httpx

from .conftest import PROJECT_ROOT, SEED
from .test_web import _free_port, _stop_server, _wait_http

QUESTIONS = ["项目支出占比多少", "三公经费预算是多少？", "什么是三公经费？", "差旅费预算一共多少", "哪个项目的预算最多？",
             "人员经费是多少？", "机关运行经费比2022年减少了多少？", "2024年的三公经费预算是多少？", "三公经费构成", "公务接待费多少"]


def start_server(tmp, extra_env=None):
    corpus = tmp / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    port = _free_port()
    env = {**os.environ, "BUDGET_QA_DATA": str(tmp / "data"), "BUDGET_QA_CORPUS": str(corpus),
           "GRADIO_TEMP_DIR": str(tmp / "gradio-tmp"), **(extra_env or {})}
    log = tmp / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py"), "--port", str(port), "--index",
                                 str(tmp / "index")], cwd=str(PROJECT_ROOT), env=env, stdout=out, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    _wait_http(base + "/", 120.0, proc, log)
    return proc, base


stop = _stop_server


def test_twenty_clients_get_the_single_client_answers(tmp_path):
    proc, base = start_server(tmp_path)
    try:
        with httpx.Client(base_url=base, timeout=60) as c:
            single = [c.post("/api/ask", json={"question": q}).json() for q in QUESTIONS]

        def client(n: int):
            times, answers = [], []
            with httpx.Client(base_url=base, timeout=60) as c:
                for q in QUESTIONS:
                    t = time.perf_counter()
                    r = c.post("/api/ask", json={"question": q, "conversation": f"load-{n}"})
                    times.append(time.perf_counter() - t)
                    assert r.status_code == 200
                    answers.append(r.json())
                # a follow-up only makes sense within this client's own conversation
                r = c.post("/api/ask", json={"question": "那公用经费呢？", "conversation": f"load-{n}"})
                answers.append(r.json())
            return times, answers

        with cf.ThreadPoolExecutor(max_workers=20) as pool:
            results = list(pool.map(client, range(20)))
        for times, answers in results:
            assert [a["answer"] for a in answers[:-1]] == [a["answer"] for a in single]
            assert answers[-1]["answer"].startswith("公用经费支出 176.20 万元")
        latencies = sorted(t for times, _ in results for t in times)
        p95 = latencies[int(0.95 * (len(latencies) - 1))]
        print(f"\nload: {len(latencies)} requests from 20 clients, p95 {p95 * 1000:.0f} ms")
        assert len(latencies) == 200
    finally:
        stop(proc)


def test_token_protects_the_api(tmp_path):
    proc, base = start_server(tmp_path, {"BUDGET_QA_TOKEN": "s3cret"})
    try:
        with httpx.Client(base_url=base, timeout=60) as c:
            r = c.post("/api/ask", json={"question": "三公经费是多少"})
            assert r.status_code == 401
            assert r.json()["detail"].startswith("需要访问令牌")
            assert c.get("/api/documents").status_code == 401
            ok = c.post("/api/ask", json={"question": "三公经费是多少"}, headers={"Authorization": "Bearer s3cret"})
            assert ok.status_code == 200 and ok.json()["answer"].startswith("三公经费预算 25.50 万元")
    finally:
        stop(proc)


def test_server_binds_loopback_only(tmp_path):
    proc, base = start_server(tmp_path)
    try:
        port = int(base.rsplit(":", 1)[1])
        listening = []  # (address, port) of LISTEN sockets, from the kernel's table
        for table in ("/proc/net/tcp", "/proc/net/tcp6"):
            for line in open(table).read().splitlines()[1:]:
                local, state = line.split()[1], line.split()[3]
                addr, p = local.split(":")
                if state == "0A" and int(p, 16) == port:
                    listening.append(addr)
        assert listening == ["0100007F"]  # 127.0.0.1 only, no 0.0.0.0 nor IPv6
    finally:
        stop(proc)
