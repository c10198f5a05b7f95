"""Hostile and broken input against the real server on loopback (``app.py`` with an access token):
server paths given as uploads, missing tokens, oversized bodies and uploads, overlong conversation
ids, a stream bomb and a dense-text PDF (refused while questions keep being answered), two uploads at
once, the same file under two names; then, in-process, damaged copies of a real PDF, the parse
worker's time and memory limits and the bounds on conversation contexts."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import threading
import time

import httpx
import pytest

from assistant.parsing.limits import IngestLimits, stream_message, text_message

from .conftest import PROJECT_ROOT, SEED, SHARED
from .gradio_page import PageClient, file_data
from .hostile_files import damaged_variants, dense_text_pdf, stream_bomb_pdf
from .test_web import _free_port, _stop_server, _wait_http

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SERVER_START_TIMEOUT = 120.0
EXTRA = SHARED / "corpus-extra"
PDFS = SHARED / "corpus-pdf"
SEED_QUESTION = "项目支出占比多少"


def seed_answered(answer: str) -> bool:
    """The seed's answer to SEED_QUESTION: 项目支出 187.00 万元, 9.39% of the total."""
    return answer.startswith("项目支出 187.00 万元") and "9.39%" in answer
MSG_UPLOAD_TOKEN = "需要访问令牌：请先在页面的“访问令牌”中填写令牌（服务器设置了 BUDGET_QA_TOKEN），再选择文件。"


def start_server(tmp, extra_env: dict | None = None):
    """``app.py`` over a corpus holding only the seed, with BUDGET_QA_TOKEN set; returns (proc, base url)."""
    corpus = tmp / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus / SEED.name)
    port = _free_port()
    env = dict(os.environ)
    env.update({"BUDGET_QA_DATA": str(tmp / "data"), "BUDGET_QA_CORPUS": str(corpus),
                "GRADIO_TEMP_DIR": str(tmp / "gradio-tmp"), "GRADIO_ANALYTICS_ENABLED": "False",
                "PYTHONUNBUFFERED": "1", "BUDGET_QA_TOKEN": TOKEN, "BUDGET_QA_MAX_UPLOAD_MB": "3",
                **(extra_env or {})})
    env.pop("BUDGET_QA_INDEX", None)
    log = tmp / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py"), "--port", str(port),
                                 "--index", str(tmp / "index")], cwd=str(PROJECT_ROOT), env=env, stdout=out,
                                stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(base + "/", SERVER_START_TIMEOUT, proc, log)
    except BaseException:
        _stop_server(proc)
        raise
    return proc, base


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("hostile")
    proc, base = start_server(tmp)
    try:
        yield base, tmp
    finally:
        _stop_server(proc)


@pytest.fixture(scope="module")
def api(server):
    with httpx.Client(base_url=server[0], timeout=120.0, headers=AUTH) as c:
        yield c


@pytest.fixture()
def page(server):
    """A page session that has typed the token (the page keeps it in a cookie for uploads)."""
    client = PageClient(server[0], cookies={"budget_qa_token": TOKEN})
    yield client
    client.close()


def doc_ids(api) -> list[str]:
    return sorted(d["doc_id"] for d in api.get("/api/documents").json())


def upload_via_page(page: PageClient, name: str, data: bytes, token: str = TOKEN, on_message=None) -> str:
    """Upload a file as the page does (upload route, then the 上传并入库 event); the status notice."""
    r = page.upload(name, data)
    assert r.status_code == 200, r.text
    done = page.run(page.fn_index("click", inputs="bqa-upload-file"),
                    [file_data(r.json()[0], name), [], token], on_message=on_message)
    assert done["success"], done
    return done["output"]["data"][0]


# ------------------------------------------------------------------ uploads come only from the upload
def test_a_server_path_given_as_upload_is_refused_and_nothing_is_ingested(server, api, page, tmp_path):
    base, tmp = server
    secret = tmp_path / "secret-budget.txt"  # a readable disclosure anywhere on the server
    shutil.copy(EXTRA / "05_fujian_pingtan_economic_dev_bureau_2018_budget.txt", secret)
    before = doc_ids(api)
    inside_then_out = str(tmp / "gradio-tmp") + "/" + os.path.relpath(secret, tmp / "gradio-tmp")  # …/gradio-tmp/../..
    for path in (str(secret), inside_then_out):
        done = page.run(page.fn_index("click", inputs="bqa-upload-file"), [file_data(path), [], TOKEN])
        assert done["success"] is False  # refused before the handler runs
    assert doc_ids(api) == before
    assert not (tmp / "data" / "uploads").exists() or not any((tmp / "data" / "uploads").iterdir())
    answer = api.post("/api/ask", json={"question": "平潭经济发展局2018年机关运行经费"}).json()["answer"]
    assert "255.3" not in answer


# ------------------------------------------------------------------ the token guards upload, export, feedback
def test_upload_export_and_feedback_without_the_token_are_refused(server, api):
    base, tmp = server
    anonymous = PageClient(base)
    try:
        r = anonymous.upload("a.txt", b"2023")
        assert (r.status_code, r.json()["detail"]) == (401, MSG_UPLOAD_TOKEN)
        before = doc_ids(api)
        # a file that did arrive (another user's upload), handed to the event without the token
        holder = PageClient(base, cookies={"budget_qa_token": TOKEN})
        stored = holder.upload("extra.txt", (EXTRA / "02_shanghai_putuo_shiquanlu_street_2026_unit_budget.txt")
                               .read_bytes()).json()[0]
        holder.close()
        done = anonymous.run(anonymous.fn_index("click", inputs="bqa-upload-file"), [file_data(stored), [], ""])
        assert done["output"]["data"][0] == ("未入库：需要访问令牌（服务器设置了 BUDGET\\_QA\\_TOKEN），"
                                             "请填写正确的令牌后再上传。")
        assert doc_ids(api) == before
        done = anonymous.run(anonymous.fn_index("click", outputs="bqa-export-file"), ["wrong"])
        assert done["output"]["data"] == [{"visible": False, "value": None, "__type__": "update"},
                                          "未导出：需要访问令牌（服务器设置了 BUDGET_QA_TOKEN），请在“访问令牌”中填写后再导出。"]
        done = anonymous.run(anonymous.fn_index("like"), [None, None, ""],
                             event_data={"index": 1, "value": "x", "liked": True})
        assert done["output"]["data"] == ["未记录评价：需要访问令牌（服务器设置了 BUDGET_QA_TOKEN），请在“访问令牌”中填写后再评价。"]
    finally:
        anonymous.close()
    assert not (tmp / "data" / "exports").exists() or not any((tmp / "data" / "exports").rglob("*.csv"))
    assert httpx.get(base + "/api/documents").status_code == 401


def test_gradio_upload_route_is_capped(server):
    r = httpx.post(server[0] + "/gradio_api/upload", files={"files": ("big.txt", b"0" * (4 * 1024 * 1024))},
                   cookies={"budget_qa_token": TOKEN}, timeout=60)
    assert (r.status_code, r.json()["detail"]) == (413, "文件过大（上限 3 MB），未上传。")


# ------------------------------------------------------------------ request bodies and conversation ids
def _raw_post(base: str, head: str, body_chunks=()) -> tuple[int, str]:
    """Send a request by hand (headers, then any body chunks) and read the status and body."""
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as s:
        s.sendall(head.encode())
        try:
            for chunk in body_chunks:
                s.sendall(chunk)
        except OSError:  # the server closed the connection after answering
            pass
        data = b""
        while True:
            try:
                part = s.recv(65536)
            except OSError:
                break
            if not part:
                break
            data += part
            if b"\r\n\r\n" in data and data.split(b"\r\n\r\n", 1)[1].rstrip().endswith(b"}"):
                break
    status = int(data.split(b" ", 2)[1])
    return status, data.split(b"\r\n\r\n", 1)[1].decode("utf-8", "replace")


def test_an_oversized_body_is_refused_before_it_is_read(server):
    base, _ = server
    head = (f"POST /api/ask HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\nContent-Length: 300000000\r\n\r\n")
    status, body = _raw_post(base, head)  # not a byte of the 300 MB is sent
    assert status == 413 and "请求体过大（上限 1000000 字节），未读取。" in body
    # without a length: the streamed body is cut off at the cap
    head = (f"POST /api/ask HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
            "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = b"%x\r\n%s\r\n" % (256 * 1024, b" " * (256 * 1024))
    status, body = _raw_post(base, head, [chunk] * 8)
    assert status == 413 and "请求体过大" in body
    # the page's routes are capped as well
    head = ("POST /gradio_api/queue/join HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 300000000\r\n\r\n")
    assert _raw_post(base, head)[0] == 413


def test_an_overlong_conversation_id_is_refused(api):
    r = api.post("/api/ask", json={"question": SEED_QUESTION, "conversation": "c" * 5000})
    assert r.status_code == 422
    assert r.json()["detail"] == "会话 ID 过长（5000 个字符，上限 128）：请使用较短的 ID，例如 UUID。"
    r = api.post("/api/ask", json={"question": SEED_QUESTION, "conversation": "c" * 128})
    assert r.status_code == 200 and seed_answered(r.json()["answer"])


# ------------------------------------------------------------------ hostile documents, questions meanwhile
@pytest.fixture(scope="module")
def hostile_pdfs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile-pdfs")
    return {"bomb": stream_bomb_pdf(folder / "bomb.pdf", 1536 * 1024 * 1024),  # 1.5 MB → 1.5 GB
            "dense": dense_text_pdf(folder / "dense.pdf", 200)}  # 200 pages, 665,600 characters


@pytest.mark.parametrize("kind, message", [
    ("bomb", stream_message("bomb.pdf", IngestLimits().max_stream_bytes)),
    ("dense", text_message("dense.pdf", IngestLimits().max_text_chars)),
])
def test_hostile_pdf_is_refused_while_questions_are_answered(server, api, page, hostile_pdfs, kind, message):
    """The upload is refused by its limit; questions asked while it is being parsed are answered
    before it ends (parsing holds no lock: before, every question waited for the ingest)."""
    before = doc_ids(api)
    parsing = threading.Event()
    order: list[str] = []
    result: dict = {}

    def on_message(msg):
        descs = [p.get("desc") or "" for p in msg.get("progress_data") or []]
        if msg.get("msg") == "progress" and any("解析" in d for d in descs):
            parsing.set()

    def run_upload():
        try:
            result["notice"] = upload_via_page(page, f"{kind}.pdf", hostile_pdfs[kind].read_bytes(),
                                               on_message=on_message)
        finally:
            order.append("upload done")
            parsing.set()

    uploader = threading.Thread(target=run_upload)
    uploader.start()
    assert parsing.wait(300)
    answers = []
    while "upload done" not in order:
        r = api.post("/api/ask", json={"question": SEED_QUESTION})
        answers.append(r.json()["answer"])
        order.append("answer")
    uploader.join(300)
    print(f"{kind}: {order.count('answer')} answers while the upload was parsed")
    assert order.index("answer") < order.index("upload done"), order
    assert all(seed_answered(a) for a in answers), answers
    plain = result["notice"].replace("\\", "")  # the notice is Markdown with escapes
    assert plain == "未入库：" + message
    assert doc_ids(api) == before


# ------------------------------------------------------------------ many staff at once, duplicates
def test_two_uploads_at_the_same_moment_both_land(server, api):
    base, tmp = server
    names = ["02_shanghai_putuo_shiquanlu_street_2026_unit_budget.txt",
             "03_shanghai_putuo_ecology_env_bureau_2025_final_accounts.txt"]
    before = doc_ids(api)
    pages = [PageClient(base, cookies={"budget_qa_token": TOKEN}) for _ in names]
    stored = [p.upload(n, (EXTRA / n).read_bytes()).json()[0] for p, n in zip(pages, names)]
    start = threading.Barrier(len(names))
    notices: dict[str, str] = {}

    def run(p, path, name):
        start.wait()
        done = p.run(p.fn_index("click", inputs="bqa-upload-file"), [file_data(path, name), [], TOKEN])
        notices[name] = done["output"]["data"][0]

    threads = [threading.Thread(target=run, args=(p, s, n)) for p, s, n in zip(pages, stored, names)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(600)
    for p in pages:
        p.close()
    assert all(n.startswith("已入库：") for n in notices.values()), notices
    assert doc_ids(api) == sorted(before + [n.removesuffix(".txt") for n in names])
    # the uploads' temporary copies are removed once read
    assert not [f for f in (tmp / "gradio-tmp").rglob("*.txt") if f.name in names]


def test_the_same_file_under_another_name_is_one_document(server, api, page):
    data = (PDFS / "putuo_gov_office_unit_2025_budget.pdf").read_bytes()
    first = upload_via_page(page, "office.pdf", data)
    assert first.startswith("已入库：")
    again = upload_via_page(page, "office-copy.pdf", data).replace("\\", "")
    assert again == "未入库：office-copy.pdf 与已入库的文件“上海市普陀区2025年区级单位预算”（office）内容相同，未重复入库"
    ids = doc_ids(api)
    assert "office" in ids and "office-copy" not in ids


# ------------------------------------------------------------------ temporary files at shutdown
def test_uploaded_temporary_files_are_removed_at_shutdown(tmp_path):
    proc, base = start_server(tmp_path)
    try:
        stored = PageClient(base, cookies={"budget_qa_token": TOKEN}).upload("left.txt", b"never ingested").json()[0]
        assert os.path.isfile(stored)
    finally:
        _stop_server(proc)
    assert not os.path.exists(stored)
