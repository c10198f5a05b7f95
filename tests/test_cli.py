"""The CLI as other tools use it: ingest twice (no duplicates), ask --json batch contract, the
shared gold sets graded by ../shared/eval/check_answers.py."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .conftest import PROJECT_ROOT, SEED, SHARED

CLI = [sys.executable, "-m", "assistant.cli"]


def run(args, stdin=None, env=None):
    return subprocess.run(CLI + args, input=stdin, capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env={**os.environ, **(env or {})}, timeout=300)


@pytest.fixture(scope="module")
def cli_index(tmp_path_factory, data_dir):
    idx = tmp_path_factory.mktemp("cli-index")
    r = run(["ingest", str(SEED), "--index", str(idx)])
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[0] == "000_2134ace919fae625: 11 张表, 362 个数字, 49 个段落"
    return idx


def test_reingest_does_not_duplicate(cli_index):
    from assistant.index import current_generation
    from assistant.store.facts import SQLiteFactStore

    r = run(["ingest", str(SEED), "--index", str(cli_index)])
    assert r.returncode == 0, r.stderr
    gen = current_generation(cli_index)
    counts = SQLiteFactStore(gen / "facts.sqlite").counts()
    assert counts == {"documents": 1, "tables": 11, "facts": 362, "passages": 49}
    # the generation replaced is kept until the next publish (questions still running on it finish)
    previous = (cli_index / "PREVIOUS").read_text()
    assert {p.name for p in cli_index.glob("gen-*")} == {gen.name, previous} and previous != gen.name


def test_ask_json_batch_contract(cli_index):
    lines = ["项目支出占比多少", "", '{"conversation": "a", "question": "人员经费是多少？"}',
             '{"conversation": "a", "question": "那公用经费呢？"}', "今天天气怎么样"]
    r = run(["ask", "--json", "--index", str(cli_index)], stdin="\n".join(lines) + "\n")
    assert r.returncode == 0, r.stderr
    out = [json.loads(l) for l in r.stdout.splitlines()]
    assert len(out) == len(lines)
    assert set(out[0]) == {"question", "answer", "kind", "facts", "citations", "parts", "formula", "chart"}
    assert out[0]["kind"] == "ratio" and "9.39%" in out[0]["answer"]
    assert set(out[0]["citations"][0]) == {"doc_id", "doc_title", "locator", "quote", "line", "page", "kind",
                                           "table_id", "column", "ocr"}
    assert out[0]["citations"][0]["ocr"] is False
    assert out[0]["facts"][0] == {"label": "项目支出", "value": "187.00", "unit": "万元",
                                  "source": "第二部分 中共济源产城融合示范区工作委员会办公室 2023 年度部门预算情况说明 > 三、支出预算总体情况说明",
                                  "doc_id": "000_2134ace919fae625"}
    assert out[1]["answer"] == "问题为空，请输入要查询的内容，例如“项目支出占比多少？”"
    assert out[3]["answer"].startswith("公用经费支出 176.20 万元")
    assert out[4]["kind"] == "out_of_scope"


def test_ask_plain_text_shows_sources(cli_index):
    r = run(["ask", "差旅费预算一共多少", "--index", str(cli_index)])
    assert r.returncode == 0
    assert r.stdout.splitlines()[0].startswith("30211 差旅费 19.00 万元[1][2]")
    assert "  [1] 2023年度中共济源产城融合示范区工作委员会办公室部门预算说明 · 一般公共预算基本支出表" in r.stdout


def test_ingest_error_is_clear_and_changes_nothing(cli_index, tmp_path):
    bad = tmp_path / "empty.txt"
    bad.write_text("")
    r = run(["ingest", str(bad), "--index", str(cli_index)])
    assert r.returncode == 2
    assert r.stderr.strip().splitlines()[-1] == "错误：文件为空：empty.txt"
    again = run(["ask", "三公经费是多少", "--index", str(cli_index)])
    assert again.stdout.startswith("三公经费预算 25.50 万元")


@pytest.mark.parametrize("gold, expected", [("seed_gold", "40 passed, 0 failed"),
                                            ("phrasing_gold", "18 passed, 0 failed"),
                                            ("conversation_gold", "3 passed, 0 failed")])
def test_shared_gold_sets(cli_index, tmp_path, gold, expected):
    checker = SHARED / "eval" / "check_answers.py"
    if not checker.exists():
        pytest.skip("../shared/eval is not beside this checkout")
    gold_path = SHARED / "eval" / f"{gold}.jsonl"
    q = subprocess.run([sys.executable, str(checker), "questions", str(gold_path)], capture_output=True,
                       text=True, check=True).stdout
    r = run(["ask", "--json", "--index", str(cli_index)], stdin=q)
    ans = tmp_path / "a.jsonl"
    ans.write_text(r.stdout, encoding="utf-8")
    g = subprocess.run([sys.executable, str(checker), str(gold_path), str(ans)], capture_output=True, text=True)
    assert g.stdout.strip().splitlines()[-1] == expected, g.stdout


def test_index_of_an_older_version_is_rebuilt(tmp_path, data_dir):
    from assistant.config import Settings
    from assistant.engine import Assistant
    from assistant.index import INDEX_VERSION, current_generation, generation_version
    from assistant.ingest import ingest

    s = Settings.from_env().with_(index_dir=tmp_path / "idx", data_dir=data_dir)
    ingest([SEED], s)
    old = current_generation(s.index_dir)
    (old / "VERSION").write_text("0")
    a = Assistant.open(s, build_if_missing=False)
    assert a.ask("三公经费预算是多少？").answer == "三公经费预算 25.50 万元[1][2]。"
    new = current_generation(s.index_dir)
    assert new != old and not old.exists() and generation_version(new) == INDEX_VERSION


def test_serve_prints_its_stages_then_the_url_once_listening(tmp_path, data_dir):
    """`budget-qa serve` prints one line per start-up stage with the seconds elapsed, says it
    builds the index only when it does (first start), and its last line is the URL, printed when the
    server already answers there."""
    import re
    import shutil
    import socket
    import threading
    import urllib.request

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, "BUDGET_QA_CORPUS": str(corpus), "GRADIO_TEMP_DIR": str(tmp_path / "gradio"),
           "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"}
    url = f"http://127.0.0.1:{port}"
    for first_start in (True, False):
        proc = subprocess.Popen(CLI + ["serve", "--port", str(port), "--index", str(tmp_path / "idx")],
                                cwd=PROJECT_ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True)
        watchdog = threading.Timer(240, proc.kill)
        watchdog.start()
        lines = []
        try:
            for line in proc.stderr:
                lines.append(line.rstrip("\n"))
                if "聊天页面已就绪" in line:
                    with urllib.request.urlopen(url + "/", timeout=30) as resp:
                        assert resp.status == 200  # already listening when the line is printed
                    break
        finally:
            watchdog.cancel()
            proc.terminate()
            proc.wait(timeout=30)
        assert lines and lines[-1] == f"budget-qa: 聊天页面已就绪：{url}（按 Ctrl-C 停止）", lines
        # (a library's warning may come in between; the stages are the "budget-qa: [  N s]" lines)
        stages = [re.sub(r"^budget-qa: \[ *\d+ s\] ", "", line) for line in lines[:-1]
                  if line.startswith("budget-qa: [")]
        build = [f"正在从 {corpus} 建立索引（只在首次运行或索引需要重建时进行）",
                 "[1/1] 解析 000_2134ace919fae625.txt",
                 "[1/1] 向量化 49 个段落：2023年度中共济源产城融合示范区工作委员会办公室部门预算说明"]
        assert stages == ["正在加载程序库…", "正在打开索引…", *(build if first_start else []),
                          "已载入 1 份文件；正在准备页面和示例问题…"], stages
