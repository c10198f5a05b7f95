"""Nothing lost: a killed ingest, concurrent ingests, bad documents and bad questions leave the
index answering exactly as before (real files, real processes)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import PROJECT_ROOT, SEED
from .procs import kill_ingest_while_embedding
from .test_cli import run

SANGONG = "三公经费预算是多少？"


@pytest.fixture()
def index(tmp_path, data_dir):
    idx = tmp_path / "idx"
    r = run(["ingest", str(SEED), "--index", str(idx)])
    assert r.returncode == 0, r.stderr
    return idx


def answer(idx: Path) -> str:
    return run(["ask", SANGONG, "--json", "--index", str(idx)]).stdout


def current(idx: Path) -> str:
    return (idx / "CURRENT").read_text()


def test_sigkill_mid_ingest_leaves_the_previous_index(index, tmp_path):
    before, gen = answer(index), current(index)
    kill_ingest_while_embedding(tmp_path, dict(os.environ), ["--index", str(index)], wait_seconds=120)
    assert current(index) == gen
    assert answer(index) == before
    # the next ingest cleans the half-written generation and publishes normally
    r = run(["ingest", str(SEED), "--index", str(index)])
    assert r.returncode == 0
    # the half-written generation is gone; the one replaced is kept until the next publish
    assert {p.name for p in index.glob("gen-*")} == {current(index), gen}


def test_second_ingest_waits_then_fails_clearly(index, tmp_path):
    from filelock import FileLock

    with FileLock(str(index / ".ingest.lock")):
        r = subprocess.run([sys.executable, "-m", "assistant.cli", "ingest", str(SEED), "--index", str(index)],
                           cwd=PROJECT_ROOT, capture_output=True, text=True,
                           env={**os.environ, "BUDGET_QA_INGEST_WAIT": "1"})
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == "错误：另一个入库任务正在进行（已等待 1 秒），请稍后再试"


@pytest.mark.parametrize("name, content, message", [
    ("empty.txt", b"", "错误：文件为空：empty.txt"),
    ("binary.txt", bytes(range(256)) * 40, "错误：文件不是文本（含二进制内容）：binary.txt"),
    ("latin.txt", "Caf\xe9 na\xefve r\xe9sum\xe9 ".encode("latin-1") * 50 + b"\xff\xfe\xfd",
     "错误：无法识别文件编码（既不是 UTF-8 也不是 GBK/GB18030）：latin.txt"),
    ("broken.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog", "错误：无法读取 PDF（文件损坏或已加密）：broken.pdf"),
    ("notes.docx", b"PK\x03\x04", "错误：不支持的文件类型 .docx：notes.docx（支持 .txt、.pdf、.png、.jpg、.gif）"),
])
def test_bad_documents_change_nothing(index, tmp_path, name, content, message):
    before, gen = answer(index), current(index)
    bad = tmp_path / name
    bad.write_bytes(content)
    r = run(["ingest", str(bad), "--index", str(index)])
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == message
    assert current(index) == gen and answer(index) == before


def test_oversized_file_is_refused_by_the_cap_without_reading_it(index, tmp_path):
    from assistant.parsing.reader import MAX_FILE_BYTES

    big = tmp_path / "big.txt"
    with open(big, "wb") as fh:  # sparse: 50 MB on disk costs nothing
        fh.truncate(50 * 1024 * 1024)
    r = run(["ingest", str(big), "--index", str(index)])
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == f"错误：文件过大：big.txt（50 MB，上限 {MAX_FILE_BYTES // 2**20} MB）"


def test_document_without_tables_is_narrative_with_a_warning(index, tmp_path):
    doc = tmp_path / "notice.txt"
    doc.write_text("2024年度某某局部门预算说明\n一、收入支出预算总体情况\n某某局2024年收入总计120.00万元，支出总计120.00万元。\n",
                   encoding="utf-8")
    r = run(["ingest", str(doc), "--index", str(index)])
    assert r.returncode == 0
    assert "notice: 0 张表, 2 个数字, 1 个段落  警告：未识别到表格：已按叙述文本入库" in r.stdout


def test_same_file_name_in_two_folders(index, tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        # other bytes than the seed's (a copy of a loaded document is not ingested again)
        (tmp_path / folder / "budget.txt").write_text(SEED.read_text(encoding="utf-8") + f"\n（{folder}）\n",
                                                      encoding="utf-8")
    r = run(["ingest", str(tmp_path / "a"), str(tmp_path / "b"), "--index", str(index)])
    assert r.returncode == 0
    ids = sorted(l.split(":")[0] for l in r.stdout.splitlines() if "张表" in l)
    assert ids == ["a-budget", "b-budget"]


@pytest.mark.parametrize("question, expect", [
    ("", "问题为空"), ("   \t ", "问题为空"), ("三" * 10000, "问题过长（10000 字）"),
    ("'; DROP TABLE facts; --", "这个问题与已载入的预算公开文件无关"),
    ("<img src=x onerror=alert(1)>三公经费", "三公经费预算 25.50 万元"),
    ("三公经费💰是多少😀", "三公经费预算 25.50 万元"),
    ("三公经费 (sangong jingfei) 是多少？", "三公经费预算 25.50 万元"),
])
def test_bad_questions_are_answered_or_refused_cleanly(seed_assistant, question, expect):
    from assistant.errors import QuestionError

    try:
        text = seed_assistant.ask(question).answer
    except QuestionError as exc:
        text = str(exc)
    assert expect in text
    assert seed_assistant.store.counts() == {"documents": 1, "tables": 11, "facts": 362, "passages": 49}


def test_logs_never_contain_documents(tmp_path, data_dir, caplog):
    """Ingest and answer with every logger at DEBUG: no record carries a paragraph of the document."""
    import logging

    from assistant.config import Settings
    from assistant.engine import Assistant
    from assistant.ingest import ingest
    from assistant.parsing.document import parse_file

    caplog.set_level(logging.DEBUG)
    s = Settings.from_env().with_(index_dir=tmp_path / "idx", data_dir=data_dir)
    ingest([SEED], s)
    a = Assistant.open(s, build_if_missing=False)
    for q in ("什么是三公经费", "机关运行经费为什么下降", "项目支出占比多少"):
        a.ask(q)
    paragraphs = [p.text for p in parse_file(SEED).passages if len(p.text) >= 40]
    messages = [r.getMessage() for r in caplog.records]
    assert messages
    assert not [m for m in messages if any(p[:40] in m for p in paragraphs)]
    assert max(len(m) for m in messages) < 400


def test_changed_document_replaces_its_facts_completely(tmp_path, data_dir):
    from assistant.config import Settings
    from assistant.engine import Assistant
    from assistant.ingest import ingest

    folder = tmp_path / "docs"
    folder.mkdir()
    doc = folder / SEED.name
    doc.write_text(SEED.read_text(encoding="utf-8"), encoding="utf-8")
    s = Settings.from_env().with_(index_dir=tmp_path / "idx", data_dir=data_dir)
    ingest([doc], s)
    # the same file, changed: the 三公 sentence now states another figure
    doc.write_text(SEED.read_text(encoding="utf-8").replace("“三公”经费预算为 25.50 万元", "“三公”经费预算为 26.50 万元"),
                   encoding="utf-8")
    ingest([doc], s)
    a = Assistant.open(s, build_if_missing=False)
    # the sentence now disagrees with the 三公 table (25.50): both are stated, each with its citation
    assert a.ask(SANGONG).answer == ("三公经费 25.50 万元[1]（注意：说明文字为 26.50 万元[2]，与表中数字不一致，"
                                     "请以核实后的数字为准）。")
    facts = a.store.facts()
    assert not [f for f in facts if f.label == "三公经费预算" and f.value_text == "25.50"]
    assert a.store.counts() == {"documents": 1, "tables": 11, "facts": 362, "passages": 49}


def _free_loopback_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unusable_server_settings_give_one_clear_line(index, tmp_path):
    """A database URL that is not PostgreSQL, a PostgreSQL or Chroma server that is not there: exit
    code 2 and one message naming the setting (password redacted), no traceback; the index stays."""
    before = answer(index)
    port = _free_loopback_port()  # nothing listens there
    r = run(["ask", SANGONG, "--index", str(index)], env={"BUDGET_QA_DATABASE_URL": "mysql://u:secret@db/x"})
    assert (r.returncode, r.stderr.strip()) == (2, "错误：BUDGET_QA_DATABASE_URL 应以 postgresql:// 开头（例如 postgresql://"
                                                  "用户:密码@127.0.0.1:5432/budgetqa），而不是“mysql://u:***@db/x”")
    r = run(["ask", SANGONG], env={"BUDGET_QA_DATABASE_URL": f"postgresql://u:secret@127.0.0.1:{port}/x"})
    last = r.stderr.strip().splitlines()[-1]
    assert r.returncode == 2 and "Traceback" not in r.stderr and "secret" not in r.stderr
    assert last.startswith(f"错误：无法使用数据库 postgresql://u:***@127.0.0.1:{port}/x：") and "Connection refused" in last
    r = run(["ingest", str(SEED), "--index", str(tmp_path / "other")],
            env={"BUDGET_QA_CHROMA_URL": f"http://127.0.0.1:{port}"})
    assert r.returncode == 2 and "Traceback" not in r.stderr
    assert r.stderr.strip().splitlines()[-1].startswith(f"错误：无法连接 Chroma 服务器 http://127.0.0.1:{port}：")
    assert answer(index) == before


@pytest.mark.parametrize("env, message", [
    ({"BUDGET_QA_LLM_PROVIDER": "foo", "BUDGET_QA_LLM_MODEL": "m"}, "错误：BUDGET_QA_LLM_PROVIDER 只能是 openai 或 ollama，而不是“foo”"),
    ({"BUDGET_QA_LLM_PROVIDER": "openai", "BUDGET_QA_LLM_MODEL": "m", "BUDGET_QA_LLM_TIMEOUT": "abc"},
     "错误：BUDGET_QA_LLM_TIMEOUT 应为秒数，而不是“abc”"),
    ({"BUDGET_QA_LLM_PROVIDER": "openai", "BUDGET_QA_LLM_TIMEOUT": "0"}, "错误：BUDGET_QA_LLM_TIMEOUT 应大于 0"),
    ({"BUDGET_QA_LLM_PROVIDER": "openai"}, "错误：设置了 BUDGET_QA_LLM_PROVIDER=openai，但没有设置 BUDGET_QA_LLM_MODEL（模型名）"),
])
def test_a_bad_model_setting_stops_the_server_start(index, env, message):
    """The chat server refuses to start on an unusable BUDGET_QA_LLM_* (instead of ignoring it until
    the first question)."""
    r = subprocess.run([sys.executable, str(PROJECT_ROOT / "app.py"), "--port", str(_free_loopback_port()),
                        "--index", str(index)], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120,
                       env={**os.environ, **env})
    assert (r.returncode, r.stderr.strip().splitlines()[-1]) == (2, message)


def test_a_text_without_budget_data_is_refused(index, tmp_path):
    note = tmp_path / "note.txt"
    note.write_text("hello world\n会议纪要：下周一开会。\n", encoding="utf-8")
    before = answer(index)
    r = run(["ingest", str(note), "--index", str(index)])
    assert (r.returncode, r.stderr.strip().splitlines()[-1]) == (
        2, "错误：文件中没有识别到预算数据（没有表格，也没有金额）：note.txt（需要部门预算、决算公开文件）")
    assert answer(index) == before
