"""The HTTP API (``/api/ask``, ``/api/documents``) on the real server started by ``app.py``: same
JSON as ``budget-qa ask --json`` on the same index, follow-ups, and the error statuses."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid

import httpx
import pytest

from .conftest import PROJECT_ROOT, SEED, SEED_ID, SHARED
from .test_web import _free_port, _stop_server, _wait_http

SERVER_START_TIMEOUT = 120.0  # the index of the seed is built on first start (~10 s)
CHECK_ANSWERS = SHARED / "eval" / "check_answers.py"


@pytest.fixture(scope="module")
def api_server(tmp_path_factory):
    """``app.py`` in a subprocess over a corpus holding only the seed; yields (base url, index, env)."""
    tmp = tmp_path_factory.mktemp("api-server")
    corpus = tmp / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    index = tmp / "index"
    port = _free_port()
    env = dict(os.environ)
    env.update({
        "BUDGET_QA_DATA": str(tmp / "data"),
        "BUDGET_QA_CORPUS": str(corpus),
        "GRADIO_TEMP_DIR": str(tmp / "gradio-tmp"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
    })
    env.pop("BUDGET_QA_INDEX", None)
    log = tmp / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "app.py"), "--port", str(port), "--index", str(index)],
            cwd=str(PROJECT_ROOT), env=env, stdout=out, stderr=subprocess.STDOUT,
        )
    try:
        base = f"http://127.0.0.1:{port}"
        _wait_http(base + "/api/documents", SERVER_START_TIMEOUT, proc, log)
        yield base, index, env
    finally:
        _stop_server(proc)


@pytest.fixture(scope="module")
def client(api_server):
    base, _, _ = api_server
    with httpx.Client(base_url=base, timeout=60.0) as c:
        yield c


def _cli_answers(lines: list[str], index, env) -> list[dict]:
    """``budget-qa ask --json --index INDEX`` on ``lines`` (one input per line)."""
    r = subprocess.run([sys.executable, "-m", "assistant.cli", "ask", "--json", "--index", str(index)],
                       input="\n".join(lines) + "\n", capture_output=True, text=True, cwd=PROJECT_ROOT,
                       env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    out = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(out) == len(lines)
    return out


def _body(line: str, conv_prefix: str) -> dict:
    """The /api/ask body for one CLI input line (plain question or {"conversation", "question"})."""
    if line.strip().startswith("{"):
        obj = json.loads(line)
        conv = obj.get("conversation")
        # a fresh id on the (long-lived) server; the answer objects carry no conversation id
        return {"question": obj.get("question", ""),
                "conversation": None if conv is None else f"{conv_prefix}{conv}"}
    return {"question": line}


def test_documents_lists_the_seed(client):
    r = client.get("/api/documents")
    assert r.status_code == 200
    docs = r.json()
    assert [d["doc_id"] for d in docs] == [SEED_ID]
    assert set(docs[0]) == {"doc_id", "title", "department", "year", "kind"}
    assert docs[0]["year"] == 2023 and docs[0]["kind"] == "部门预算"
    assert docs[0]["department"] == "中共济源产城融合示范区工作委员会办公室"


def test_page_is_served_on_the_same_server(client):
    r = client.get("/")
    assert r.status_code == 200 and "<html" in r.text.lower()
    schema = client.get("/api/openapi.json").json()
    assert {"/api/ask", "/api/documents"} <= set(schema["paths"])


@pytest.mark.skipif(not CHECK_ANSWERS.exists(), reason="../shared/eval is not beside the repo")
def test_ask_matches_cli_json(api_server, client):
    _, index, env = api_server
    lines = []
    for gold in ("seed_gold.jsonl", "conversation_gold.jsonl"):
        r = subprocess.run([sys.executable, str(CHECK_ANSWERS), "questions", str(SHARED / "eval" / gold)],
                           capture_output=True, text=True, check=True, timeout=60)
        lines += r.stdout.splitlines()
    lines += ["", "今天天气怎么样", "问" * 2001]  # rejected and out-of-scope questions too
    assert len(lines) >= 40
    expected = _cli_answers(lines, index, env)
    prefix = uuid.uuid4().hex + "-"
    for line, want in zip(lines, expected):
        r = client.post("/api/ask", json=_body(line, prefix))
        assert r.status_code == 200, (line, r.text)
        assert r.json() == want, line


def test_follow_up_in_one_conversation(client):
    conv = uuid.uuid4().hex
    first = client.post("/api/ask", json={"question": "人员经费是多少？", "conversation": conv}).json()
    assert first["kind"] != "not_found" and first["citations"]
    second = client.post("/api/ask", json={"question": "那公用经费呢？", "conversation": conv}).json()
    assert "176.20" in second["answer"] and second["citations"]
    assert any(f["value"] == "176.20" for f in second["facts"])


def test_empty_question_gets_the_error_object(client):
    r = client.post("/api/ask", json={"question": "   "})
    assert r.status_code == 200
    body = r.json()
    assert "问题为空" in body["answer"]
    assert body == {"question": "   ", "answer": body["answer"], "kind": "not_found", "facts": [],
                    "citations": [], "formula": "", "chart": None, "parts": []}


def test_scope(client):
    whole = client.post("/api/ask", json={"question": "项目支出占比多少"}).json()
    scoped = client.post("/api/ask", json={"question": "项目支出占比多少", "scope": [SEED_ID]}).json()
    assert scoped == whole and "9.39%" in scoped["answer"]
    none = client.post("/api/ask", json={"question": "项目支出占比多少", "scope": []}).json()
    assert none["kind"] == "not_found" and not none["citations"]

    r = client.post("/api/ask", json={"question": "项目支出占比多少", "scope": [SEED_ID, "no-such-doc"]})
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert "no-such-doc" in detail and SEED_ID in detail and "文档" in detail


@pytest.mark.parametrize("content", [
    b"{not json",                                  # malformed JSON
    b"{}",                                         # question missing
    b'{"conversation": "c"}',
    b'{"question": null}',
    b'{"question": ["a"]}',
    b'{"question": "a", "scope": "000"}',
    b'["question"]',                               # not an object
    b"",
])
def test_bad_body_is_422_with_chinese_detail(client, content):
    r = client.post("/api/ask", content=content, headers={"Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert isinstance(detail, str) and "请求体应为 JSON 对象" in detail
