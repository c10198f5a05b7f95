"""Tests of the web chat page: Markdown rendering, event handlers, and the page in a real browser.

Browser tests (``-m browser``) need Chromium at /usr/bin/chromium
(``apt-get install -y chromium fonts-wqy-microhei``). Everything is written under pytest's tmp dirs.
"""
from __future__ import annotations

import contextlib
import html
import os
import re
import shutil
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
    answer_plain_text,
    chart_table,
    document_label,
    escape_markdown,
    render_answer_markdown,
    render_passage_evidence,
    render_table_evidence,
    source_label,
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


#: a hostile table and section, as ``table_view`` / ``passage_view`` would return them
XSS_TABLE = {
    "table_id": "t-x", "doc_id": "jy-office-2023", "title": '表<img src=x onerror="window.__xss = 4">',
    "unit": "万元", "line": 10, "page": 3, "columns": ["合计", "<script>window.__xss = 5</script>"],
    "column_index": [1, 2],
    "rows": [{"line": 11, "label": "合计", "code": "", "cells": {1: "3.00", 2: "3.00"}},
             {"line": 12, "label": "<b>项目</b>", "code": "201",
              "cells": {1: "1.00", 2: '<img src=x onerror="window.__xss = 6">'}}],
    "note": '注<svg onload="window.__xss = 7"></svg>',
}
XSS_SECTION = {
    "doc_id": "jy-office-2023", "section": "第一部分 > <u>说明</u>", "line": 7,
    "paragraphs": [{"line": 5, "text": "前文<iframe src=javascript:window.__xss=8>"},
                   {"line": 7, "text": "前半句。" + XSS_QUOTE + "后半句。"}],
}


class FakeAssistant:
    """Same methods as ``assistant.engine.Assistant``; records every ``ask`` call.

    "证据" is answered with a table and a passage citation whose sources (``table_view``,
    ``passage_view``) are hostile HTML, a formula and a chart; ``add_document`` rejects data
    starting with a NUL byte like the engine rejects binary files.
    """

    def __init__(self, docs=DOCS, data_dir=None):
        from types import SimpleNamespace

        self.docs = list(docs)
        self.calls: list[tuple[str, str | None, list[str] | None]] = []
        self.settings = SimpleNamespace(data_dir=Path(data_dir)) if data_dir else None
        self._feedback = None
        self.uploads: list[tuple[str, bytes]] = []

    @property
    def feedback(self):
        from assistant.feedback import FeedbackStore

        if self._feedback is None:
            self._feedback = FeedbackStore(self.settings.data_dir / "app.sqlite")
        return self._feedback

    def table_view(self, table_id):
        return XSS_TABLE if table_id == "t-x" else None

    def passage_view(self, doc_id, line, quote=""):
        return XSS_SECTION if line == 7 else None

    def add_document(self, name, data, progress=None, switch_lock=None):
        from assistant.errors import IngestError
        from assistant.ingest import DocumentSummary

        if progress:
            progress(f"[1/1] 解析 {name}")
        if data.startswith(b"\0"):
            raise IngestError(f"文件不是文本（含二进制内容）：{name}")
        self.uploads.append((name, data))
        doc = Document(doc_id="new-doc", title="新<b>文件</b>", path=name, department="新局", year=2018,
                       kind="预算", sha256="3" * 64)
        self.docs.append(doc)
        return DocumentSummary("new-doc", doc.title, 0, 5, 7, warnings=["未识别到表格：已按叙述文本入库"])

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
        if question == "证据":
            part = AnswerPart(
                question=question, answer="合计 3.00 万元。", kind="computed", formula="1.00 + 2.00 = 3.00",
                citations=[Citation("jy-office-2023", "文件", '表<img src=x onerror="window.__xss = 9"> · 项目',
                                    "201 | 项目 | 1.00", line=12, table_id="t-x", column=2),
                           Citation("jy-office-2023", "文件", "第一部分 > 说明", XSS_QUOTE, line=7,
                                    kind="passage")],
                chart={"title": "<b>构成</b>", "unit": "万元", "items": [["甲<i>", 1.0], ["乙", 2.0]]})
            return Answer.combine(question, [part])
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
    """The bubble: the answer, then one compact line per source (the evidence selector's label);
    several documents: each line names its document. The quotes are not repeated."""
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
        "\\[1\\] 2023年度某办公室部门预算说明 · 三、支出预算（第 95 行）\n"
        "\\[2\\] 某局决算 · 部门支出预算表 · 项目支出（第 12 行 / 第 3 页）"
    )


def test_render_answer_formula_line():
    """One document: named once in the heading."""
    answer = Answer(
        question="项目支出占比多少", answer="约 9.39%", kind="computed",
        formula="187.00 ÷ 1990.50 × 100% = 9.39%",
        citations=[Citation("d1", "预算说明", "", "支出合计 1990.50 万元", line=95),
                   Citation("d1", "预算说明", "支出预算表 · 项目支出 · 合计", "项目支出\t187.00", line=12,
                            kind="table")],
    )
    assert render_answer_markdown(answer) == (
        "约 9\\.39%\n"
        "\n"
        "计算：187\\.00 ÷ 1990\\.50 × 100% \\= 9\\.39%\n"
        "\n"
        "**来源**（预算说明）\n"
        "\\[1\\] 预算说明（第 95 行）\n"
        "\\[2\\] 支出预算表 · 项目支出 · 合计（第 12 行）"
    )


def test_render_answer_without_citations_is_just_text():
    answer = Answer(question="今天天气", answer="这个问题不在预算公开文件范围内。", kind="out_of_scope")
    assert render_answer_markdown(answer) == "这个问题不在预算公开文件范围内。"


def test_render_escapes_html_in_quote_title_and_answer():
    answer = Answer(
        question="q", answer="<b>x</b> & y", kind="passage",
        citations=[Citation("d1", "<i>t</i>", "a > <u>b</u>", XSS_QUOTE, line=1)],
    )
    md = render_answer_markdown(answer)
    assert "<" not in md and "xss" not in md  # the quote is not in the bubble at all
    assert md == (
        "&lt;b&gt;x&lt;/b&gt; &amp; y\n"
        "\n"
        "**来源**（&lt;i&gt;t&lt;/i&gt;）\n"
        "\\[1\\] a &gt; &lt;u&gt;b&lt;/u&gt;（第 1 行）"
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


def test_long_question_is_echoed_shortened_with_its_length():
    h = ChatHandlers(FakeAssistant())
    question = "三公经费" + "字" * 4996
    box, history, pending = h.submit(question, [])
    assert pending == question  # the assistant gets the whole question
    assert history == [{"role": "user", "content": "三公经费" + "字" * 196 + "…（共 5,000 字）"}]


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

    history, conv, turns = h.reply(pending, history, None, [d.doc_id for d in DOCS])
    assert conv and fake.calls[-1] == ("项目支出占比多少", conv, None)  # all chosen -> scope None
    assert "9\\.39%" in history[-1]["content"] and "**来源**" in history[-1]["content"]
    assert turns["current"] == 1 and turns["by_index"][1]["question"] == "项目支出占比多少"
    assert h.current_answer(turns).kind == "ratio"

    history, conv2, turns = h.reply("再问", history, conv, ["jy-office-2022f"], turns)
    assert conv2 == conv and fake.calls[-1] == ("再问", conv, ["jy-office-2022f"])
    assert turns["current"] == 2 and sorted(turns["by_index"]) == [1, 2]

    n_calls = len(fake.calls)
    history, _, turns = h.reply("再问", history, conv, [], turns)
    assert len(fake.calls) == n_calls  # nothing chosen: the assistant is not asked
    assert history[-1] == {"role": "assistant", "content": escape_markdown(MSG_NO_SCOPE)}
    assert turns["current"] is None and h.current_answer(turns) is None  # not an answer

    chat, new_conv, box, pending = h.clear()
    assert chat == [] and box == "" and pending == "" and new_conv and new_conv != conv


def test_a_document_added_elsewhere_is_in_an_open_pages_scope():
    """A page opened before another page or worker added a document offers the old list; with all
    of it chosen the question goes to every document (scope None), the new one included; with a
    choice made on that page it stays that choice."""
    fake = FakeAssistant()
    h = ChatHandlers(fake)
    offered = [d.doc_id for d in DOCS[:-1]]  # the page was opened before the last document came
    h.reply("项目支出占比多少", [], "c1", list(offered), None, offered)
    assert fake.calls[-1] == ("项目支出占比多少", "c1", None)
    everything = [d.doc_id for d in DOCS]  # a page that offered both, one chosen
    h.reply("项目支出占比多少", [], "c1", everything[1:], None, everything)
    assert fake.calls[-1] == ("项目支出占比多少", "c1", everything[1:])


def test_handlers_errors_become_plain_messages():
    h = ChatHandlers(FakeAssistant())
    _, history, pending = h.submit("   ", [])
    assert history == []  # no empty user bubble
    history, _, turns = h.reply(pending, history, "c1", None)
    assert history[-1]["content"] == "问题为空，请输入要查询的内容。"
    assert turns["current"] is None and not turns["by_index"]

    history, _, _ = h.reply("boom", [], "c1", None)
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
# Evidence panel, sources, chart, feedback, upload (no Gradio server)
# ---------------------------------------------------------------------------------------------

def _table_cite(line=12, column=2):
    return Citation("d1", "文件", "表 · 项目", "201 | 项目 | 1.00", line=line, table_id="t-x", column=column)


def test_table_evidence_marks_cited_row_and_cell_and_escapes():
    page = render_table_evidence(XSS_TABLE, _table_cite())
    assert '<tr class="bqa-cited-row" data-line="12">' in page
    assert ('<td class="bqa-num bqa-cited-cell"><mark>&lt;img src=x onerror=&quot;window.__xss = 6&quot;&gt;'
            '</mark></td>') in page
    assert page.count("<mark>") == 1 and page.count("bqa-cited-row") == 1
    assert "表&lt;img src=x onerror=&quot;window.__xss = 4&quot;&gt;" in page  # the title, as text
    assert "单位：万元 · 第 3 页 · 表头在第 10 行 · 引用第 12 行" in page
    # a row of a table continued on the next page: the panel names the row's page
    cite = _table_cite()
    cite.page = 4
    assert "单位：万元 · 第 4 页 · 表头在第 3 页第 10 行 · 引用第 12 行" in render_table_evidence(XSS_TABLE, cite)
    assert "&lt;script&gt;" in page and "&lt;b&gt;项目&lt;/b&gt;" in page and "&lt;svg" in page
    for tag in ("<img", "<script", "<svg", "<b>", "<iframe"):
        assert tag not in page


def test_table_evidence_groups_shared_header_and_folds_long_tables():
    rows = [{"line": 100 + i, "label": f"项{i}", "code": "", "cells": {4: f"{i}.00", 5: "1.00"}} for i in range(60)]
    view = {"title": "一般公共预算基本支出表", "unit": "万元", "line": 99, "page": None,
            "columns": ["基本支出 > 人员经费", "基本支出 > 公用经费"], "column_index": [4, 5], "rows": rows}
    page = render_table_evidence(view, _table_cite(line=140, column=4))
    assert '<th colspan="2">基本支出</th>' in page and "<th>人员经费</th><th>公用经费</th>" in page
    assert '<td class="bqa-num bqa-cited-cell"><mark>40.00</mark></td>' in page
    shown = {int(x) for x in re.findall(r'data-line="(\d+)"', page)}
    assert shown == {100} | set(range(134, 147))  # the first row and six rows around the cited one
    assert page.count("……") == 2
    # a citation without a column marks the row only; an unknown line shows the quote instead
    assert "<mark>" not in render_table_evidence(view, _table_cite(line=140, column=None))
    lost = render_table_evidence(view, _table_cite(line=7))
    assert "未能在表中定位第 7 行" in lost and "<mark>201 | 项目 | 1.00</mark>" in lost


def test_passage_evidence_marks_quote_in_its_section():
    cite = Citation("d1", "文件", "第一部分 > 说明", XSS_QUOTE, line=7, kind="passage")
    page = render_passage_evidence(XSS_SECTION, cite)
    assert f"前半句。<mark>{html.escape(XSS_QUOTE)}</mark>后半句。" in page
    assert "第一部分 &gt; &lt;u&gt;说明&lt;/u&gt;" in page and "前文&lt;iframe" in page
    for tag in ("<img", "<script", "<u>", "<iframe"):
        assert tag not in page
    # whitespace in the quote or the source does not matter
    view = {"section": "七、名词解释", "paragraphs": [{"line": 1, "text": "甲。"},
                                                 {"line": 3, "text": "“三公”经费：是指 因公出国（境）费\n和公务接待费。"}]}
    cite = Citation("d1", "文件", "七、名词解释", "“三公”经费：是指因公出国（境）费和公务接待费。", line=3, kind="passage")
    assert "<mark>“三公”经费：是指 因公出国（境）费\n和公务接待费。</mark>" in render_passage_evidence(view, cite)
    # a quote not in the returned section (one-line web pages) is shown alone
    cite = Citation("d1", "文件", "九、其他 > （一）机关运行经费", "经费支出255.3万元", line=3, kind="passage")
    alone = render_passage_evidence(view, cite)
    assert "<mark>经费支出255.3万元</mark>" in alone and "甲。" not in alone and "（一）机关运行经费" in alone


def test_source_labels_plain_text_and_chart_data():
    h = ChatHandlers(FakeAssistant())
    _, _, turns = h.reply("证据", [], "c", None)
    answer = h.current_answer(turns)
    assert h.source_choices(answer) == [
        ('[1] 表<img src=x onerror="window.__xss = 9"> · 项目（第 12 行）', "1"),
        ("[2] 说明（第 7 行）", "2"),
    ]
    two_docs = Citation("d2", "某局决算", "收支表 · 合计", "", line=3)
    assert source_label(3, two_docs, with_document=True) == "[3] 某局决算 · 收支表 · 合计（第 3 行）"
    assert chart_table(answer.chart) == (["甲<i>", "乙"], [1.0, 2.0])
    assert chart_table({"title": "t", "unit": "万元", "items": [["a", 1], ["a", "2.5"], ["b", None]]}) == (
        ["a", "a（2）"], [1.0, 2.5])
    assert chart_table(None) is None and chart_table({"items": []}) is None


def test_evidence_html_for_current_answer():
    h = ChatHandlers(FakeAssistant())
    _, _, turns = h.reply("证据", [], "c", None)
    table = h.evidence_html(turns, "1")
    assert table.startswith('<div class="bqa-ev bqa-ev-formula">计算：1.00 + 2.00 = 3.00</div>')
    assert "bqa-cited-cell" in table
    passage = h.evidence_html(turns, "2")
    assert f"<mark>{html.escape(XSS_QUOTE)}</mark>" in passage
    assert "bqa-ev-empty" in h.evidence_html(turns, "3") and "bqa-ev-empty" in h.evidence_html(turns, None)
    assert "bqa-ev-empty" in h.evidence_html(None, "1")


def test_answer_plain_text_has_no_markdown_escapes():
    answer = Answer(question="q", answer="项目支出 187.00 万元，占 9.39%。", kind="ratio",
                    formula="187.00 ÷ 1990.50 × 100% = 9.39%",
                    citations=[Citation("d1", "预算说明", "三、支出 > (一)", "支出合计\t1990.50  万元", line=95)])
    assert answer_plain_text(answer) == (
        "项目支出 187.00 万元，占 9.39%。\n"
        "计算：187.00 ÷ 1990.50 × 100% = 9.39%\n"
        "来源：\n"
        "[1] 预算说明 · 三、支出 > (一)（第 95 行）\n"
        "    支出合计 1990.50 万元")


def test_like_stores_feedback_for_the_rated_answer(tmp_path):
    fake = FakeAssistant(data_dir=tmp_path)
    h = ChatHandlers(fake)
    _, history, pending = h.submit("项目支出占比多少", [])
    history, conv, turns = h.reply(pending, history, None, None)
    _, history, pending = h.submit("再问", history)
    history, conv, turns = h.reply("", history, conv, [], turns)  # a prompt, not an answer

    assert h.like(turns, conv, 1, True).startswith("已记录评价：有用")
    assert h.like(turns, conv, [1, 0], False).startswith("已记录评价：没有帮助")
    assert h.like(turns, conv, 3, True) == "这条消息不是问题的回答，无法评价。"
    assert h.like(turns, conv, 1, "").startswith("已取消")
    rows = fake.feedback.rows()
    assert [(r["question"], r["rating"], r["conversation"], r["kind"]) for r in rows] == [
        ("项目支出占比多少", 1, conv, "ratio"), ("项目支出占比多少", -1, conv, "ratio")]
    assert "187.00" in rows[0]["answer"] and "三、部门支出预算情况说明" in rows[0]["citations"]

    path, notice = h.export_feedback()
    assert notice == "已导出 2 条反馈，点击下方文件下载。"
    assert Path(path).is_relative_to(tmp_path / "exports")
    text = Path(path).read_text(encoding="utf-8-sig")
    assert text.splitlines()[0].startswith("id,created,conversation,question") and "项目支出占比多少" in text


def test_upload_reports_summary_or_error(tmp_path):
    fake = FakeAssistant()
    h = ChatHandlers(fake, upload_folder=tmp_path)
    steps = []
    assert h.upload(None) == (False, escape_markdown("请先选择要上传的文件（.txt 或 .pdf）。"), None)
    sent = tmp_path / "c0ffee" / "README.md"
    sent.parent.mkdir()
    shutil.copy(PROJECT_ROOT / "README.md", sent)
    ok, notice, doc_id = h.upload(str(sent), progress=steps.append)
    assert ok and doc_id == "new-doc" and steps == ["[1/1] 解析 README.md"]
    assert fake.uploads == [("README.md", (PROJECT_ROOT / "README.md").read_bytes())]
    assert not sent.exists()  # the upload's temporary copy is removed once read
    assert notice == ("已入库：新&lt;b&gt;文件&lt;/b&gt;（0 张表，5 个数字，7 个段落）\n\n"
                      "注意：未识别到表格：已按叙述文本入库")
    assert ("新局 · 2018年 · 预算", "new-doc") in h.scope_choices()  # the selector sees the new document
    assert h.resolve_scope([d.doc_id for d in DOCS]) == [d.doc_id for d in DOCS]  # not chosen yet


def test_upload_note_lists_unaligned_cells_and_sum_faults_on_request(tmp_path):
    from assistant.ingest import DocumentSummary

    class WithCells(FakeAssistant):
        def add_document(self, name, data, progress=None, switch_lock=None):
            return DocumentSummary("d", "某局预算", 2, 10, 3, unaligned=1,
                                   unaligned_cells=["收入预算总表 · 行政运行 · 第12行：1,200.00（可能的列：事业收入/其他收入）"],
                                   arithmetic=["支出预算总表：201 合计 3.00 万元 ≠ <各项> 2.00 万元"])

    upload = tmp_path / "README.md"  # as Gradio stores an upload: inside the upload folder
    upload.write_bytes((PROJECT_ROOT / "README.md").read_bytes())
    ok, notice, _ = ChatHandlers(WithCells(), upload_folder=tmp_path).upload(str(upload))
    assert ok
    assert notice.split("\n\n")[1:] == [
        "注意：1 个表格数字无法确定所在列，未入库。\n<details><summary>查看这些单元格</summary><ul>"
        "<li>收入预算总表 · 行政运行 · 第12行：1,200.00（可能的列：事业收入/其他收入）</li></ul></details>",
        "注意：1 处表内加总不符（文件本身的数字）。\n<details><summary>查看明细</summary><ul>"
        "<li>支出预算总表：201 合计 3.00 万元 ≠ &lt;各项&gt; 2.00 万元</li></ul></details>"]


def test_upload_rejected_file_shows_engine_message(tmp_path):
    binary = tmp_path / "x.txt"
    binary.write_bytes(b"\0\1\2binary")
    h = ChatHandlers(FakeAssistant(), upload_folder=tmp_path)
    assert h.upload(str(binary)) == (False, "未入库：文件不是文本（含二进制内容）：x\\.txt", None)
    assert [c for _, c in h.scope_choices()] == [d.doc_id for d in DOCS]


@pytest.mark.parametrize("given", ["outside", "dotdot", "symlink", "folder", "missing"])
def test_upload_accepts_only_files_in_the_upload_folder(tmp_path, given):
    """A path naming any other server file (directly, through "..", or a symbolic link) is refused
    unread, and the assistant is never asked to ingest."""
    folder = tmp_path / "gradio"
    folder.mkdir()
    secret = tmp_path / "secret.txt"
    secret.write_text("2023年收入总计 1990.50 万元。", encoding="utf-8")
    (folder / "link.txt").symlink_to(secret)
    path = {"outside": secret, "dotdot": folder / ".." / "secret.txt", "symlink": folder / "link.txt",
            "folder": folder, "missing": folder / "gone.txt"}[given]
    fake = FakeAssistant()
    ok, notice, doc_id = ChatHandlers(fake, upload_folder=folder).upload(str(path))
    assert (ok, doc_id, fake.uploads) == (False, None, [])
    assert notice == escape_markdown("未入库：只接受通过本页面上传的文件（文件不在上传目录中，或已处理过）。请重新选择文件。")
    assert secret.exists()


def test_upload_while_the_database_is_down_says_so(tmp_path):
    import psycopg

    from assistant.config import Settings

    class DatabaseDown(FakeAssistant):
        def __init__(self):
            super().__init__()
            self.settings = Settings(database_url="postgresql://budgetqa:secret@127.0.0.1:5432/budgetqa")

        def add_document(self, name, data, progress=None, switch_lock=None):
            raise psycopg.OperationalError("connection failed: Connection refused")

    doc = tmp_path / "d.txt"
    doc.write_text("2023年收入总计 1990.50 万元。", encoding="utf-8")
    ok, notice, doc_id = ChatHandlers(DatabaseDown(), upload_folder=tmp_path).upload(str(doc))
    assert (ok, doc_id) == (False, None)
    assert notice == escape_markdown(
        "未入库，索引未改变：无法使用数据库 postgresql://budgetqa:***@127.0.0.1:5432/budgetqa："
        "connection failed: Connection refused。请检查 BUDGET_QA_DATABASE_URL，以及 PostgreSQL 是否在运行。")


# ---------------------------------------------------------------------------------------------
# Browser tests
# ---------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _stop_server(proc: subprocess.Popen) -> None:
    """Terminate a server started by a test (kill it if it does not stop within 20 s)."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


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
        expect(reply).to_contain_text("<b>粗体</b>")
        expect(reply).to_contain_text("来源（文件 <i>标题</i>）")
        expect(reply).not_to_contain_text("window.__xss")  # the quote is in the evidence panel only
        page.locator("#bqa-sources").get_by_role("radio").first.check()
        expect(page.locator("#bqa-evidence mark")).to_have_text(XSS_QUOTE)
        assert page.evaluate("window.__xss") is None
        assert reply.locator("img, script, b, i, blockquote").count() == 0
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


@pytest.mark.browser
def test_evidence_panel_and_chart_show_hostile_sources_as_text(browser, fake_page_server, tmp_path):
    from playwright.sync_api import expect

    url, fake = fake_page_server
    ctx = browser.new_context()
    dialogs = []
    try:
        page = ctx.new_page()
        page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
        page.goto(url, wait_until="load")
        _ask(page, "证据", 0)
        sources = page.locator("#bqa-sources")
        expect(sources.get_by_role("radio")).to_have_count(2)
        expect(sources).to_contain_text('[1] 表<img src=x onerror="window.__xss = 9"> · 项目（第 12 行）')
        expect(page.locator("#bqa-chart")).to_be_visible()

        panel = page.locator("#bqa-evidence")
        sources.get_by_role("radio").nth(0).check()
        expect(panel.locator("td.bqa-cited-cell mark")).to_have_text('<img src=x onerror="window.__xss = 6">')
        expect(panel).to_contain_text('表<img src=x onerror="window.__xss = 4">')
        expect(panel).to_contain_text("计算：1.00 + 2.00 = 3.00")
        expect(panel.locator("tr.bqa-cited-row")).to_contain_text("<b>项目</b>")
        page.screenshot(path=str(tmp_path / "fake-evidence-table.png"), full_page=True)

        sources.get_by_role("radio").nth(1).check()
        expect(panel.locator("mark")).to_have_text(XSS_QUOTE)
        expect(panel).to_contain_text("第一部分 > <u>说明</u>")
        page.screenshot(path=str(tmp_path / "fake-evidence-passage.png"), full_page=True)

        for where in (panel, sources, page.locator("#bqa-chart")):
            assert where.locator("img, script, svg[onload], iframe, b, u, i").count() == 0
        assert page.evaluate("window.__xss") is None and dialogs == []

        # clearing the conversation hides the selector and the chart
        page.get_by_role("button", name="清空对话").click()
        expect(sources).to_be_hidden()
        expect(page.locator("#bqa-chart")).to_be_hidden()
        expect(panel).to_contain_text("提问后，这里显示回答所引用的原表或原文段落。")
    finally:
        ctx.close()


@pytest.mark.browser
def test_copy_answer_copies_plain_text(browser, fake_page_server):
    from playwright.sync_api import expect

    url, _ = fake_page_server
    ctx = browser.new_context(permissions=["clipboard-read", "clipboard-write"])
    try:
        page = ctx.new_page()
        page.goto(url, wait_until="load")
        page.get_by_role("button", name="复制回答").click()
        expect(page.locator("#bqa-notice")).to_contain_text("还没有可复制的回答。")
        _ask(page, "项目支出占比多少", 0)
        page.get_by_role("button", name="复制回答").click()
        expect(page.locator("#bqa-notice")).to_contain_text("已复制最近一条回答")
        copied = page.evaluate("navigator.clipboard.readText()")
        assert copied.startswith("项目支出 187.00 万元，占支出合计的 9.39%。"), copied
        assert "来源：\n[1] 2023年度中共济源产城融合示范区工作委员会办公室部门预算说明 · 第二部分 > " in copied
        assert "\\" not in copied and "&gt;" not in copied
    finally:
        ctx.close()


@contextlib.contextmanager
def app_server(tmp: Path, extra_env: dict | None = None):
    """``app.py`` in a subprocess over the project's corpus, with a fresh index (``tmp/index``) and
    application data (``tmp/data``: uploads, feedback) under ``tmp``; yields (url, log path)."""
    port = _free_port()
    env = dict(os.environ)
    env.update({
        "BUDGET_QA_DATA": str(tmp / "data"),
        "BUDGET_QA_CORPUS": str(PROJECT_ROOT / "corpus"),
        "GRADIO_TEMP_DIR": str(tmp / "gradio-tmp"),
        "GRADIO_ANALYTICS_ENABLED": "False",
        "PYTHONUNBUFFERED": "1",
        **(extra_env or {}),
    })
    log = tmp / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(PROJECT_ROOT / "app.py"), "--port", str(port),
             "--index", str(tmp / "index")],
            cwd=str(PROJECT_ROOT), env=env, stdout=out, stderr=subprocess.STDOUT,
        )

    def stop():
        _stop_server(proc)

    try:
        url = f"http://127.0.0.1:{port}/"
        _wait_http(url, SERVER_START_TIMEOUT, proc, log)
        yield url, log
    finally:
        stop()


@pytest.fixture(scope="module")
def real_server(tmp_path_factory):
    """The real app (see :func:`app_server`) for this module's tests."""
    with app_server(tmp_path_factory.mktemp("web-real")) as served:
        yield served


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
        expect(reply).to_contain_text("来源（2023年度中共济源产城融合示范区工作委员会办公室部门预算说明）")
        text = reply.inner_text()
        assert any(name in text for name in ("支出预算", "项目支出")), text
        assert reply.locator("blockquote").count() == 0, "the quotes are in the evidence panel"
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


@pytest.mark.browser
def test_real_page_upload_with_the_access_token(browser, tmp_path_factory):
    """With BUDGET_QA_TOKEN set, the page uploads once the token is typed (kept in a cookie for
    Gradio's upload route, checked again by the upload handler); the document becomes selectable."""
    from playwright.sync_api import expect

    extra = PROJECT_ROOT.parent / "shared" / "corpus-extra" / "05_fujian_pingtan_economic_dev_bureau_2018_budget.txt"
    if not extra.exists():
        pytest.skip("../shared/corpus-extra is not beside the repo")
    tmp = tmp_path_factory.mktemp("web-token")
    with app_server(tmp, {"BUDGET_QA_TOKEN": "s3cret"}) as (url, log):
        ctx = browser.new_context()
        try:
            page = ctx.new_page()
            page.goto(url, wait_until="load")
            page.get_by_text("上传文件与导出反馈").click()
            page.locator("#bqa-upload-token input").fill("s3cret")
            page.locator("#bqa-upload-file input[type=file]").set_input_files(str(extra))
            expect(page.locator("#bqa-upload-file")).to_contain_text(extra.name, timeout=30_000)
            page.get_by_role("button", name="上传并入库").click()
            expect(page.locator("#bqa-upload-status")).to_contain_text("已入库：", timeout=ANSWER_TIMEOUT_MS)
            expect(page.locator("#bqa-scope")).to_contain_text("2018年", timeout=30_000)
        finally:
            ctx.close()
    assert not list((tmp / "gradio-tmp").rglob(extra.name))  # the upload's temporary copy is gone


def test_upload_requires_the_access_token_when_one_is_set(tmp_path):
    """With BUDGET_QA_TOKEN configured, a page upload without the right token is refused and the
    assistant is never asked to ingest."""
    from types import SimpleNamespace

    fake = FakeAssistant()
    fake.settings = SimpleNamespace(access_token="s3cret")
    calls = []
    fake.add_document = lambda name, data, progress=None, switch_lock=None: calls.append(name)
    doc = tmp_path / "doc.txt"
    doc.write_text("x", encoding="utf-8")
    h = ChatHandlers(fake, upload_folder=tmp_path)
    ok, notice, doc_id = h.upload(str(doc), token="wrong")
    assert (ok, doc_id, calls) == (False, None, [])
    assert notice == escape_markdown("未入库：需要访问令牌（服务器设置了 BUDGET_QA_TOKEN），请填写正确的令牌后再上传。")
    assert doc.exists()  # refused before it was read: still there to upload with the token


def test_audit_view_lists_findings_and_shows_their_evidence():
    """The page's audit view: `check` findings of a loaded document and, for one, its cited cell."""
    from assistant.parsing.document import parse_file
    from assistant.web.audit import AuditView

    pdf = PROJECT_ROOT.parent / "shared" / "corpus-pdf" / "putuo_justice_bureau_unit_2026_budget.pdf"
    if not pdf.is_file():
        pytest.skip("../shared/corpus-pdf not present")
    parsed = parse_file(pdf)

    class Loaded(FakeAssistant):
        def documents(self):
            return [parsed.document]

        def table_view(self, table_id):
            facts = [f for f in parsed.facts if f.table_id == table_id]
            table = next(t for t in parsed.tables if t.table_id == table_id)
            rows = {}
            for f in facts:
                rows.setdefault(f.row_index, {"line": f.line, "label": f.label, "code": f.code, "cells": {}})
                rows[f.row_index]["cells"][f.col_index] = f.value_text
            cols = sorted({f.col_index for f in facts})
            return {"table_id": table_id, "doc_id": table.doc_id, "title": table.title, "unit": table.unit,
                    "line": table.line, "page": table.page, "columns": [str(c) for c in cols], "column_index": cols,
                    "rows": [rows[k] for k in sorted(rows)], "note": ""}

    view = AuditView(Loaded())
    summary, choices = view.run(parsed.document.doc_id)
    assert "共 15 条（数字加总 8 条、表文不一致 3 条、内容缺失 1 条、文字表述 3 条）" in summary
    assert len(choices) == 15 and choices[1][0].startswith("2. [数字加总] 2026年预算单位支出预算总表：2040601 行政运行")
    page = view.evidence(parsed.document.doc_id, "1")
    assert page.startswith('<div class="bqa-ev bqa-ev-formula">2026年预算单位支出预算总表：2040601 行政运行')
    # the 合计 cell of the 行政运行 row is highlighted in the rebuilt table
    assert "<mark>14,348,853.34</mark>" in page and page.count("bqa-cited-row") == 2
    assert view.evidence(parsed.document.doc_id, "99").startswith('<div class="bqa-ev bqa-ev-note">选择一个')
    assert view.run("unknown")[1] == []


@pytest.mark.browser
def test_audit_view_on_the_page(browser, fake_page_server):
    """文件审核: a document loaded after the page opened is offered, its findings listed, and a chosen
    finding's evidence shown."""
    from playwright.sync_api import expect

    from assistant.parsing.document import parse_file

    pdf = PROJECT_ROOT.parent / "shared" / "corpus-pdf" / "putuo_justice_bureau_unit_2026_budget.pdf"
    if not pdf.is_file():
        pytest.skip("../shared/corpus-pdf not present")
    url, fake = fake_page_server
    doc = parse_file(pdf).document
    ctx = browser.new_context()
    fake.docs.append(doc)
    try:
        page = ctx.new_page()
        page.goto(url, wait_until="load")
        page.get_by_text("文件审核").click()
        page.locator("#bqa-audit-doc input").click()
        page.get_by_role("option", name=document_label(doc)).click()
        page.get_by_role("button", name="审核", exact=True).click()
        summary = page.locator("#bqa-audit-summary")
        expect(summary).to_contain_text("共 15 条（数字加总 8 条、表文不一致 3 条、内容缺失 1 条、文字表述 3 条）",
                                        timeout=ANSWER_TIMEOUT_MS)
        expect(summary).to_contain_text("主要原因是。")
        page.locator("#bqa-audit-findings label").filter(has_text="13. [文字表述]").click()
        expect(page.locator("#bqa-audit-evidence")).to_contain_text("模板选项未删改")
        expect(page.locator("#bqa-audit-evidence")).to_contain_text("财政拨款收入支出增加（减少）的主要原因是业务量增加")
    finally:
        fake.docs.remove(doc)
        ctx.close()


def test_feedback_and_export_require_the_access_token_when_one_is_set(tmp_path):
    from types import SimpleNamespace

    fake = FakeAssistant(data_dir=tmp_path)
    fake.settings = SimpleNamespace(access_token="s3cret", data_dir=tmp_path)
    h = ChatHandlers(fake)
    history, conv, turns = h.reply("项目支出占比多少", [], None, None)
    assert h.like(turns, conv, 0, True) == ("未记录评价：需要访问令牌（服务器设置了 BUDGET_QA_TOKEN），"
                                            "请在“访问令牌”中填写后再评价。")
    assert h.like(turns, conv, 0, True, token="wrong").startswith("未记录评价：需要访问令牌")
    assert h.export_feedback(token="") == (None, "未导出：需要访问令牌（服务器设置了 BUDGET_QA_TOKEN），"
                                                 "请在“访问令牌”中填写后再导出。")
    assert fake.feedback.rows() == []
    assert h.like(turns, conv, 0, True, token="s3cret").startswith("已记录评价：有用")
    path, notice = h.export_feedback(token="s3cret")
    assert notice == "已导出 1 条反馈，点击下方文件下载。" and Path(path).is_file()
