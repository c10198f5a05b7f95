"""Tests of the web chat page: Markdown rendering, event handlers, and the page in a real browser.

Browser tests (``-m browser``) need Chromium at /usr/bin/chromium
(``apt-get install -y chromium fonts-wqy-microhei``). Everything is written under pytest's tmp dirs.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from assistant.errors import QuestionError
from assistant.model import Answer, AnswerPart, Citation, Document, FactRef
from assistant.web.ui import (
    ChatHandlers,
    MSG_INTERNAL_ERROR,
    MSG_NO_SCOPE,
    document_label,
    escape_markdown,
    render_answer_markdown,
)

PROJECT_ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking"]
SERVER_START_TIMEOUT = 180.0  # the index is built on first start
ANSWER_TIMEOUT_MS = 90_000

XSS_QUOTE = '<script>window.__xss = 1</script><img src=x onerror="window.__xss = 2">'


# ---------------------------------------------------------------------------------------------
# A stand-in with the engine's interface (assistant.engine.Assistant)
# ---------------------------------------------------------------------------------------------

DOCS = [
    Document(doc_id="jy-office-2023", title="2023年度中共济源产城融合示范区工作委员会办公室部门预算说明",
             path="corpus/a.txt", department="中共济源产城融合示范区工作委员会办公室", year=2023,
             kind="预算", sha256="0" * 64),
    Document(doc_id="jy-office-2022f", title="2022年度某局部门决算", path="corpus/b.txt",
             department="某局", year=2022, kind="决算", sha256="1" * 64),
]


class FakeAssistant:
    """Same methods as ``assistant.engine.Assistant``; records every ``ask`` call."""

    def __init__(self, docs=DOCS):
        self.docs = list(docs)
        self.calls: list[tuple[str, str | None, list[str] | None]] = []

    def documents(self) -> list[Document]:
        return list(self.docs)

    def example_questions(self) -> list[str]:
        return ["项目支出占比多少", "三公经费预算是多少"]

    def ask(self, question, conversation=None, scope=None) -> Answer:
        self.calls.append((question, conversation, scope))
        if not question.strip():
            raise QuestionError("问题为空，请输入要查询的内容。")
        if question == "boom":
            raise RuntimeError("internal detail that must not reach the page")
        if question == "xss":
            part = AnswerPart(question=question, answer="见下方引文 <b>粗体</b>", kind="passage",
                              citations=[Citation("jy-office-2023", "文件 <i>标题</i>", "第一部分",
                                                  XSS_QUOTE, line=7)])
            return Answer.combine(question, [part])
        part = AnswerPart(
            question=question,
            answer=f"项目支出 187.00 万元，占支出合计的 9.39%。（会话 {conversation}）",
            kind="ratio",
            facts=[FactRef("项目支出", "187.00", "万元", "支出预算")],
            citations=[Citation("jy-office-2023", DOCS[0].title,
                                "第二部分 > 三、部门支出预算情况说明",
                                "项目支出 187.00 万元，占 9.39%。", line=95)],
        )
        return Answer.combine(question, [part])


# ---------------------------------------------------------------------------------------------
# render_answer_markdown / escape_markdown
# ---------------------------------------------------------------------------------------------

def test_render_answer_with_citations_numbered():
    answer = Answer(
        question="项目支出占比多少",
        answer="项目支出 187.00 万元，占 9.39%。",
        kind="ratio",
        citations=[
            Citation("d1", "2023年度某办公室部门预算说明", "第二部分 > 三、支出预算",
                     "项目支出 187.00 万元，占 9.39%。", line=95, kind="passage"),
            Citation("d2", "某局决算", "部门支出预算表 · 项目支出", "项目支出\t187.00", line=12, page=3),
        ],
    )
    assert render_answer_markdown(answer) == (
        "项目支出 187\\.00 万元，占 9\\.39%。\n"
        "\n"
        "**来源**\n"
        "\n"
        "\\[1\\] 2023年度某办公室部门预算说明 · 第二部分 &gt; 三、支出预算（第 95 行）\n"
        "\n"
        "> 项目支出 187\\.00 万元，占 9\\.39%。\n"
        "\n"
        "\\[2\\] 某局决算 · 部门支出预算表 · 项目支出（第 12 行 / 第 3 页）\n"
        "\n"
        "> 项目支出 │ 187\\.00"
    )


def test_render_answer_formula_line():
    answer = Answer(
        question="项目支出占比多少", answer="约 9.39%", kind="computed",
        formula="187.00 ÷ 1990.50 × 100% = 9.39%",
        citations=[Citation("d1", "预算说明", "", "支出合计 1990.50 万元", line=95)],
    )
    assert render_answer_markdown(answer) == (
        "约 9\\.39%\n"
        "\n"
        "计算：187\\.00 ÷ 1990\\.50 × 100% \\= 9\\.39%\n"
        "\n"
        "**来源**\n"
        "\n"
        "\\[1\\] 预算说明（第 95 行）\n"
        "\n"
        "> 支出合计 1990\\.50 万元"
    )


def test_render_answer_without_citations_is_just_text():
    answer = Answer(question="今天天气", answer="这个问题不在预算公开文件范围内。", kind="out_of_scope")
    assert render_answer_markdown(answer) == "这个问题不在预算公开文件范围内。"


def test_render_escapes_html_in_quote_title_and_answer():
    answer = Answer(
        question="q", answer="<b>x</b> & y", kind="passage",
        citations=[Citation("d1", "<i>t</i>", "a > b", XSS_QUOTE, line=1)],
    )
    md = render_answer_markdown(answer)
    assert "<script>" not in md
    assert "<" not in md
    assert all(line.startswith("> ") or ">" not in line for line in md.splitlines())
    assert md == (
        "&lt;b&gt;x&lt;/b&gt; &amp; y\n"
        "\n"
        "**来源**\n"
        "\n"
        "\\[1\\] &lt;i&gt;t&lt;/i&gt; · a &gt; b（第 1 行）\n"
        "\n"
        "> &lt;script&gt;window\\.\\_\\_xss \\= 1&lt;/script&gt;"
        "&lt;img src\\=x onerror\\=\"window\\.\\_\\_xss \\= 2\"&gt;"
    )


def test_escape_markdown_neutralises_markdown_syntax():
    assert escape_markdown("[点我](javascript:alert(1))") == "\\[点我\\]\\(javascript\\:alert\\(1\\)\\)"
    assert escape_markdown("![x](http://e.com/x.png)") == "\\!\\[x\\]\\(http\\://e\\.com/x\\.png\\)"
    assert escape_markdown("**粗** _斜_ `code` ~~删~~") == "\\*\\*粗\\*\\* \\_斜\\_ \\`code\\` \\~\\~删\\~\\~"
    assert escape_markdown("# 标题\n- 项\n1. 项\n    缩进\n> 引用") == (
        "\\# 标题\n\\- 项\n1\\. 项\n缩进\n&gt; 引用")
    assert escape_markdown("a | b\n---") == "a \\| b\n\\-\\-\\-"
    assert escape_markdown("C:\\path &lt;") == "C\\:\\\\path &amp;lt;"
    assert escape_markdown("") == "" and escape_markdown(None) == ""


def test_multiline_quote_stays_one_blockquote():
    answer = Answer(question="q", answer="a", kind="passage",
                    citations=[Citation("d", "T", "L", "第一行\n\n\t第二行\t100.00  ", line=3)])
    assert render_answer_markdown(answer).endswith("> 第一行\n>\n> 第二行 │ 100\\.00")


def test_document_label():
    assert document_label(DOCS[0]) == "中共济源产城融合示范区工作委员会办公室 · 2023年 · 预算"
    assert document_label(DOCS[1]) == "某局 · 2022年 · 决算"
    no_year = Document("x", "某文件", "p", "", None, "决算", "2" * 64)
    assert document_label(no_year) == "某文件 · 年份不详 · 决算"


# ---------------------------------------------------------------------------------------------
# Event handlers (no Gradio server)
# ---------------------------------------------------------------------------------------------

def test_handlers_scope_and_conversation():
    fake = FakeAssistant()
    h = ChatHandlers(fake)
    assert h.scope_choices() == [(document_label(d), d.doc_id) for d in DOCS]

    box, history, pending = h.submit("项目支出占比多少", [])
    assert box == "" and pending == "项目支出占比多少"
    assert history == [{"role": "user", "content": "项目支出占比多少"}]

    history, conv = h.reply(pending, history, None, [d.doc_id for d in DOCS])
    assert conv and fake.calls[-1] == ("项目支出占比多少", conv, None)  # all chosen -> scope None
    assert "9\\.39%" in history[-1]["content"] and "**来源**" in history[-1]["content"]

    history, conv2 = h.reply("再问", history, conv, ["jy-office-2022f"])
    assert conv2 == conv and fake.calls[-1] == ("再问", conv, ["jy-office-2022f"])

    n_calls = len(fake.calls)
    history, _ = h.reply("再问", history, conv, [])
    assert len(fake.calls) == n_calls  # nothing chosen: the assistant is not asked
    assert history[-1] == {"role": "assistant", "content": escape_markdown(MSG_NO_SCOPE)}

    chat, new_conv, box, pending = h.clear()
    assert chat == [] and box == "" and pending == "" and new_conv and new_conv != conv


def test_handlers_errors_become_plain_messages():
    h = ChatHandlers(FakeAssistant())
    _, history, pending = h.submit("   ", [])
    assert history == []  # no empty user bubble
    history, _ = h.reply(pending, history, "c1", None)
    assert history[-1]["content"] == "问题为空，请输入要查询的内容。"

    history, _ = h.reply("boom", [], "c1", None)
    assert history[-1]["content"] == escape_markdown(MSG_INTERNAL_ERROR)
    assert "internal detail" not in history[-1]["content"]


def test_user_question_is_escaped():
    h = ChatHandlers(FakeAssistant())
    _, history, pending = h.submit("<img src=x onerror=alert(1)>", None)
    assert pending == "<img src=x onerror=alert(1)>"  # the assistant gets the raw question
    assert history[0]["content"] == "&lt;img src\\=x onerror\\=alert\\(1\\)&gt;"


def test_build_ui_is_a_blocks_without_analytics():
    import gradio as gr

    from assistant.web.ui import build_ui

    demo = build_ui(FakeAssistant())
    assert isinstance(demo, gr.Blocks)
    assert demo.analytics_enabled is False
    assert demo.title == "预算公开问答"
    assert os.environ.get("GRADIO_ANALYTICS_ENABLED") == "False"


# ---------------------------------------------------------------------------------------------
# Browser tests
# ---------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_http(url: str, timeout: float, proc: subprocess.Popen | None = None, log: Path | None = None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            tail = log.read_text(errors="replace")[-4000:] if log else ""
            pytest.fail(f"server exited with code {proc.returncode} before serving:\n{tail}")
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError, OSError):
            pass
        time.sleep(1.0)
    tail = log.read_text(errors="replace")[-4000:] if log else ""
    pytest.fail(f"{url} did not answer within {timeout:.0f} s:\n{tail}")


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: apt-get install -y chromium fonts-wqy-microhei")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


def _ask(page, question: str, n_replies_before: int):
    """Type a question, press Enter and wait until a new bot message has appeared."""
    from playwright.sync_api import expect

    box = page.locator('textarea[data-testid="textbox"]').first
    box.fill(question)
    box.press("Enter")
    bots = page.locator('[data-testid="bot"]')
    expect(bots).to_have_count(n_replies_before + 1, timeout=ANSWER_TIMEOUT_MS)
    return bots.last


@pytest.fixture(scope="module")
def fake_page_server(tmp_path_factory):
    """The page over a FakeAssistant, served in-process."""
    from assistant.web.ui import build_ui

    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("GRADIO_TEMP_DIR", str(tmp_path_factory.mktemp("gradio-tmp")))
        fake = FakeAssistant()
        demo = build_ui(fake)
        port = _free_port()
        demo.launch(server_name="127.0.0.1", server_port=port, share=False,
                    prevent_thread_lock=True, quiet=True, ssr_mode=False)
        try:
            url = f"http://127.0.0.1:{port}/"
            _wait_http(url, 30)
            yield url, fake
        finally:
            demo.close()


@pytest.mark.browser
def test_page_renders_hostile_text_as_text(browser, fake_page_server):
    from playwright.sync_api import expect

    url, fake = fake_page_server
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(url, wait_until="load")
        reply = _ask(page, "xss", 0)
        expect(reply).to_contain_text("<script>window.__xss = 1</script>")
        expect(reply).to_contain_text("<b>粗体</b>")
        expect(reply).to_contain_text("来源")
        assert page.evaluate("window.__xss") is None
        assert reply.locator("img, script, b, i").count() == 0
        assert reply.locator("blockquote").count() == 1
        # the user's own hostile question is shown as text too
        _ask(page, "<img src=x onerror=\"window.__xss = 3\">", 1)
        expect(page.locator('[data-testid="user"]').last).to_contain_text("<img src=x")
        assert page.evaluate("window.__xss") is None
    finally:
        ctx.close()


@pytest.mark.browser
def test_sessions_have_separate_conversations(browser, fake_page_server):
    from playwright.sync_api import expect

    url, fake = fake_page_server
    ctx_a, ctx_b = browser.new_context(), browser.new_context()
    try:
        page_a, page_b = ctx_a.new_page(), ctx_b.new_page()
        page_a.goto(url, wait_until="load")
        page_b.goto(url, wait_until="load")
        start = len(fake.calls)
        expect(_ask(page_a, "项目支出占比多少", 0)).to_contain_text("9.39%")
        _ask(page_a, "基本支出呢", 1)
        _ask(page_b, "基本支出呢", 0)
        (qa1, conv_a1, _), (qa2, conv_a2, _), (qb, conv_b, _) = fake.calls[start:start + 3]
        assert conv_a1 == conv_a2, "one session keeps its conversation"
        assert conv_b and conv_b != conv_a1, "two sessions never share a conversation"
        expect(page_b.locator('[data-testid="user"]')).to_have_count(1)  # B does not see A's turns

        # an example button asks directly; the scope selector restricts the documents
        page_b.get_by_role("checkbox", name=document_label(DOCS[0])).uncheck()
        page_b.get_by_role("button", name="三公经费预算是多少").click()
        expect(page_b.locator('[data-testid="bot"]')).to_have_count(2, timeout=ANSWER_TIMEOUT_MS)
        assert fake.calls[-1] == ("三公经费预算是多少", conv_b, ["jy-office-2022f"])

        # clearing starts a new conversation
        page_b.get_by_role("button", name="清空对话").click()
        expect(page_b.locator('[data-testid="bot"]')).to_have_count(0)
        _ask(page_b, "项目支出占比多少", 0)
        conv_b2 = fake.calls[-1][1]
        assert conv_b2 not in (conv_b, conv_a1)

        # so does the chat's own trash icon
        page_b.locator('button[aria-label="Clear"]').click()
        expect(page_b.locator('[data-testid="bot"]')).to_have_count(0)
        _ask(page_b, "项目支出占比多少", 0)
        assert fake.calls[-1][1] not in (conv_b2, conv_b, conv_a1)
    finally:
        ctx_a.close()
        ctx_b.close()


@pytest.fixture(scope="module")
def real_server(tmp_path_factory):
    """``app.py`` in a subprocess over the project's corpus, with a fresh index under tmp."""
    tmp = tmp_path_factory.mktemp("web-real")
    port = _free_port()
    env = dict(os.environ)
    env.update({
        "BUDGET_QA_DATA": str(tmp / "data"),
        "BUDGET_QA_CORPUS": str(PROJECT_ROOT / "corpus"),
        "GRADIO_TEMP_DIR": str(tmp / "gradio-tmp"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
    })
    log = tmp / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "app.py"), "--port", str(port),
             "--index", str(tmp / "index")],
            cwd=str(PROJECT_ROOT), env=env, stdout=out, stderr=subprocess.STDOUT,
        )

    def stop():
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)

    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_http(url, SERVER_START_TIMEOUT, proc, log)
        yield url, log
    finally:
        stop()


@pytest.mark.browser
def test_real_page_answers_with_citation(browser, real_server):
    from playwright.sync_api import expect

    url, log = real_server
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        page.goto(url, wait_until="load")
        expect(page.locator('textarea[data-testid="textbox"]').first).to_be_visible(timeout=30_000)
        reply = _ask(page, "项目支出占比多少", 0)
        expect(reply).to_contain_text("9.39%", timeout=ANSWER_TIMEOUT_MS)
        expect(reply).to_contain_text("来源")
        text = reply.inner_text()
        assert any(name in text for name in ("支出预算", "项目支出")), text
        assert reply.locator("blockquote").count() >= 1, "the quoted source text is shown"
    finally:
        ctx.close()


@pytest.mark.browser
def test_real_page_sessions_are_independent(browser, real_server):
    from playwright.sync_api import expect

    url, _ = real_server
    ctx_a, ctx_b = browser.new_context(), browser.new_context()
    try:
        page_a, page_b = ctx_a.new_page(), ctx_b.new_page()
        page_a.goto(url, wait_until="load")
        page_b.goto(url, wait_until="load")
        expect(_ask(page_a, "项目支出占比多少", 0)).to_contain_text("9.39%")
        expect(_ask(page_b, "项目支出占比多少", 0)).to_contain_text("9.39%")
        expect(page_a.locator('[data-testid="user"]')).to_have_count(1)
        expect(page_b.locator('[data-testid="user"]')).to_have_count(1)
    finally:
        ctx_a.close()
        ctx_b.close()
