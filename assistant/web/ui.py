"""The Chinese chat page ("预算公开问答"): a thin Gradio front end over :class:`Assistant`.

The page only calls the assistant and formats what it returns; it holds no budget logic.

Safety: everything that comes from documents or users (answer text, quotes, titles, locators,
questions, error messages) is passed through :func:`escape_markdown` before it is put into the
chat's Markdown, so it always renders as literal text, never as HTML, links, images or scripts.
The evidence panel (a ``gr.HTML``, which Gradio inserts as live HTML) is built only from
:func:`html.escape`-d text and fixed markup; the source selector and the chart show plain text.

Each browser session gets its own conversation id (a uuid kept in ``gr.State``), so follow-up
context is never shared between sessions; "清空对话" starts a new id. The session's answers are
kept in ``gr.State`` too (keyed by their position in the chat), so that 👍/👎 on a message stores
that message's :class:`Answer` and the evidence selector lists the last answer's citations.

Gradio is imported lazily (inside :func:`build_ui` and :func:`launch`) so that the environment
(``GRADIO_ANALYTICS_ENABLED``, ``GRADIO_TEMP_DIR``) is set before Gradio is first imported.
"""
from __future__ import annotations

import html
import logging
import os
import re
import shutil
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from assistant.config import Settings
from assistant.errors import BudgetQAError
from assistant.model import Answer, AnswerPart, Citation, Document
from assistant.web.guard import TOKEN_COOKIE, token_matches, uploaded_file

if TYPE_CHECKING:  # pragma: no cover - typing only
    import gradio

logger = logging.getLogger(__name__)

PAGE_TITLE = "预算公开问答"
SOURCES_HEADING = "来源"
FORMULA_PREFIX = "计算："
MSG_NO_SCOPE = "请至少选择一份文件后再提问。"
MAX_EXAMPLES = 6
DRAFT_LABEL = "语言模型草稿（核对数字中…）"
MSG_INTERNAL_ERROR = "抱歉，处理这个问题时出现了内部错误，请换个说法再试，或稍后重试。"

# ASCII characters with a Markdown meaning (CommonMark/GFM: emphasis, code, links, images,
# headings, lists, tables, strikethrough, setext underlines, autolinks, math). Each is
# backslash-escaped; "<", ">" and "&" are written as HTML entities instead.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~=:$@^])")
_HTML_ENTITIES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
_TAB_SEPARATOR = " │ "


def escape_markdown(text: str | None) -> str:
    """Return ``text`` as Markdown that displays exactly as plain text.

    Markdown punctuation is backslash-escaped, ``&``/``<``/``>`` become HTML entities (so no tag,
    script or entity in the source can become live), tabs (table cell separators in quotes) are
    shown as " │ ", and leading/trailing blanks of each line are dropped (leading blanks would
    otherwise start a code block). Line breaks are kept.
    """
    if not text:
        return ""
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    for line in lines:
        line = line.strip(" \t").replace("\t", _TAB_SEPARATOR)
        line = _MD_SPECIAL.sub(r"\\\1", line)
        for raw, entity in _HTML_ENTITIES:
            line = line.replace(raw, entity)
        out.append(line)
    return "\n".join(out)


def citation_position(citation: Citation) -> str:
    """Where in the document a citation points: "（第 95 行）", "（第 12 行 / 第 3 页）" or ""."""
    bits = []
    if citation.line:
        bits.append(f"第 {citation.line} 行")
    if citation.page:
        bits.append(f"第 {citation.page} 页")
    return "（" + " / ".join(bits) + "）" if bits else ""


def render_answer_markdown(answer: Answer | AnswerPart) -> str:
    """Format an answer for the chat bubble: text, optional "计算：" line, then compact "来源" lines.

    The sources are numbered titles only, one per line, the same labels as the evidence selector
    (:func:`source_label`: "[1] 表名 · 行 · 列（第 345 行）"): the quoted source text is shown in the
    evidence panel beside the chat, not repeated here. The document is named once in the heading
    ("来源（文件名）") when every citation is from one document, else in each line. All
    document-derived text is escaped (see :func:`escape_markdown`); the only Markdown produced
    here is the structure itself.
    """
    blocks: list[str] = []
    text = escape_markdown(answer.answer)
    if text:
        blocks.append(text)
    if answer.formula:
        blocks.append(FORMULA_PREFIX + escape_markdown(answer.formula))
    if answer.citations:
        titles = list(dict.fromkeys(c.doc_title for c in answer.citations))
        several = len({c.doc_id for c in answer.citations}) > 1
        heading = f"**{SOURCES_HEADING}**"
        if not several and titles[0]:
            heading += "（" + escape_markdown(titles[0]) + "）"
        lines = [escape_markdown(source_label(n, cite, with_document=several))
                 for n, cite in enumerate(answer.citations, start=1)]
        blocks.append(heading + "\n" + "\n".join(lines))
    return "\n\n".join(blocks)


#: a question longer than this is echoed in the chat shortened to its start and its length
ECHO_MAX_CHARS = 200


def question_echo(question: str) -> str:
    """The user's question as shown in the chat (plain text, escape it for Markdown): whole up to
    :data:`ECHO_MAX_CHARS` characters, else its first :data:`ECHO_MAX_CHARS` characters and
    "…（共 5,000 字）" (its length in characters). The assistant still gets the whole question."""
    if len(question) <= ECHO_MAX_CHARS:
        return question
    return f"{question[:ECHO_MAX_CHARS].rstrip()}…（共 {len(question):,} 字）"


def document_label(doc: Document) -> str:
    """Label of a document in the scope selector: "部门 · 年份 · 预算/决算"."""
    department = doc.department or doc.title or doc.doc_id
    year = f"{doc.year}年" if doc.year else "年份不详"
    return " · ".join(p for p in (department, year, doc.kind) if p)


def source_label(n: int, citation: Citation, with_document: bool = False) -> str:
    """Label of a source in the evidence selector: "[1] 表名 · 行 · 列（第 345 行）".

    Table citations show their locator ("表名 · 行 · 列"); passages the innermost heading of their
    section path. ``with_document`` prefixes the document title (answers citing several documents).
    Plain text: the selector shows it as text, never as HTML.
    """
    where = citation.locator or ""
    if citation.kind != "table" and " > " in where:
        where = where.rsplit(" > ", 1)[-1]
    where = where.strip() or citation.doc_title or citation.doc_id
    if with_document and citation.doc_title:
        where = f"{citation.doc_title} · {where}"
    return f"[{n}] {where}{citation_position(citation)}"


def answer_plain_text(answer: Answer | AnswerPart) -> str:
    """An answer as plain text for the clipboard: text, "计算：" line and the numbered sources."""
    lines = [answer.answer.strip()]
    if answer.formula:
        lines.append(FORMULA_PREFIX + answer.formula)
    if answer.citations:
        lines.append(SOURCES_HEADING + "：")
        for n, cite in enumerate(answer.citations, start=1):
            where = " · ".join(p for p in (cite.doc_title, cite.locator) if p)
            lines.append(f"[{n}] {where}{citation_position(cite)}")
            if cite.quote and cite.quote.strip():
                lines.append("    " + " ".join(cite.quote.split()))
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------
# Evidence panel (HTML built from escaped text only)
# ---------------------------------------------------------------------------------------------

EVIDENCE_PLACEHOLDER = "选择一个来源，在这里查看原表（引用的行和数字高亮）或原文段落（引用的句子高亮）。"
#: rows of a long table shown around each cited row (the rest is folded into "……" rows)
TABLE_CONTEXT_ROWS = 6
#: a table with at most this many rows is shown whole
TABLE_MAX_ROWS = 20
#: paragraphs of a long section shown before and after the cited one
PASSAGE_CONTEXT = 3

EVIDENCE_CSS = """
.bqa-ev { font-size: 14px; line-height: 1.6; }
.bqa-ev-title { font-weight: 600; font-size: 15px; margin-bottom: 2px; }
.bqa-ev-meta { color: var(--body-text-color-subdued); font-size: 13px; margin-bottom: 8px; }
.bqa-ev-formula { margin: 0 0 8px 0; padding: 4px 8px; border-left: 3px solid var(--color-accent); }
.bqa-ev-empty { color: var(--body-text-color-subdued); padding: 8px 0; }
.bqa-table-wrap { overflow-x: auto; max-width: 100%; }
.bqa-table { border-collapse: collapse; width: 100%; font-size: 13px; }
.bqa-table th, .bqa-table td { border: 1px solid var(--border-color-primary); padding: 3px 6px; vertical-align: top; }
.bqa-table th { background: var(--background-fill-secondary); font-weight: 600; text-align: center; }
.bqa-table td.bqa-label { min-width: 6em; }
.bqa-table td.bqa-num { text-align: right; white-space: nowrap; font-variant-numeric: tabular-nums; }
.bqa-table tr.bqa-cited-row td { background: rgba(255, 214, 0, 0.18); }
.bqa-table td.bqa-cited-cell { outline: 2px solid #d48806; outline-offset: -2px; font-weight: 700; }
.bqa-table tr.bqa-gap td { text-align: center; color: var(--body-text-color-subdued); }
.bqa-ev mark { background: #ffe58f; color: #000; padding: 0 1px; }
.bqa-para { margin: 0 0 6px 0; }
.bqa-para.bqa-cited-para { border-left: 3px solid #d48806; padding-left: 6px; }
.bqa-ev-note { margin-top: 8px; font-size: 13px; }
"""


def _esc(text: Any) -> str:
    """HTML-escape any value (quotes too), so document text can only ever be text."""
    return html.escape("" if text is None else str(text), quote=True)


def _cell(cells: dict, col: int) -> str:
    """A cell of a ``table_view`` row; keys are ints (engine) or strings (JSON)."""
    value = cells.get(col, cells.get(str(col)))
    return "" if value is None else str(value)


def _folded_rows(n_rows: int, cited: list[int]) -> list[int | None]:
    """Row indexes to show (None marks a fold): all of a short table, else the first row (often
    合计) and :data:`TABLE_CONTEXT_ROWS` rows around each cited row."""
    if n_rows <= TABLE_MAX_ROWS:
        return list(range(n_rows))
    if not cited:
        return [*range(TABLE_MAX_ROWS), None]
    keep = {0}
    for i in cited:
        keep.update(range(max(0, i - TABLE_CONTEXT_ROWS), min(n_rows, i + TABLE_CONTEXT_ROWS + 1)))
    out: list[int | None] = []
    prev = -1
    for i in sorted(keep):
        if i != prev + 1:
            out.append(None)
        out.append(i)
        prev = i
    if prev != n_rows - 1:
        out.append(None)
    return out


def render_table_evidence(view: dict, citation: Citation) -> str:
    """The cited table as an HTML table: title, unit, page/line, the cited row (matched by its
    source ``line``) and cited cell (matched by ``citation.column`` in ``column_index``) highlighted.

    ``view`` is :meth:`Assistant.table_view`. Every text is escaped; long tables are folded around
    the cited row.
    """
    rows = list(view.get("rows") or [])
    col_ids = list(view.get("column_index") or [])
    headers = list(view.get("columns") or [])
    has_code = any(r.get("code") for r in rows)
    cited_rows = [i for i, r in enumerate(rows) if r.get("line") == citation.line]
    meta = []
    if view.get("unit"):
        meta.append(f"单位：{view['unit']}")
    # the cited row's page (a table continued over pages starts on an earlier one)
    page = citation.page or view.get("page")
    if page:
        meta.append(f"第 {page} 页")
    head_page = view["page"] if view.get("page") and citation.page and view["page"] != citation.page else None
    if view.get("line") or head_page:
        meta.append("表头在" + (f"第 {head_page} 页" if head_page else "")
                    + (f"第 {view['line']} 行" if view.get("line") else ""))
    if citation.line:
        meta.append(f"引用第 {citation.line} 行")
    out = ['<div class="bqa-ev bqa-ev-table">',
           f'<div class="bqa-ev-title">{_esc(view.get("title") or citation.locator)}</div>',
           f'<div class="bqa-ev-meta">{_esc(" · ".join(meta))}</div>']
    if citation.doc_title:
        out.append(f'<div class="bqa-ev-meta">{_esc(citation.doc_title)}</div>')
    names = [h or f"第 {c + 1} 列" for h, c in zip(headers, col_ids)]
    group = _common_header(names)
    if group:  # "基本支出 > 人员经费", "基本支出 > 公用经费": one spanning cell "基本支出" above
        names = [h[len(group) + len(HEADER_SEP):] for h in names]
    head = (["编码"] if has_code else []) + ["项目"]
    out.append('<div class="bqa-table-wrap"><table class="bqa-table"><thead>')
    if group:
        out.append("<tr>" + "".join(f'<th rowspan="2">{_esc(h)}</th>' for h in head)
                   + f'<th colspan="{len(names)}">{_esc(group)}</th></tr><tr>')
        out.extend(f"<th>{_esc(h)}</th>" for h in names)
    else:
        out.append("<tr>")
        out.extend(f"<th>{_esc(h)}</th>" for h in head + names)
    out.append("</tr></thead><tbody>")
    width = len(head) + len(names)
    for i in _folded_rows(len(rows), cited_rows):
        if i is None:
            out.append(f'<tr class="bqa-gap"><td colspan="{width}">……</td></tr>')
            continue
        row = rows[i]
        is_cited = i in cited_rows
        out.append(f'<tr class="bqa-cited-row" data-line="{_esc(row.get("line"))}">' if is_cited
                   else f'<tr data-line="{_esc(row.get("line"))}">')
        if has_code:
            out.append(f"<td>{_esc(row.get('code') or '')}</td>")
        out.append(f'<td class="bqa-label">{_esc(row.get("label") or "")}</td>')
        cells = row.get("cells") or {}
        for col in col_ids:
            value = _cell(cells, col)
            if is_cited and citation.column is not None and col == citation.column:
                out.append(f'<td class="bqa-num bqa-cited-cell"><mark>{_esc(value)}</mark></td>')
            else:
                out.append(f'<td class="bqa-num">{_esc(value)}</td>')
        out.append("</tr>")
    out.append("</tbody></table></div>")
    if not cited_rows:
        out.append(f'<div class="bqa-ev-note">未能在表中定位第 {_esc(citation.line)} 行；引用的原文：'
                   f"<mark>{_esc(citation.quote)}</mark></div>")
    elif citation.quote:
        out.append(f'<div class="bqa-ev-note">原文第 {_esc(citation.line)} 行：{_esc(citation.quote)}</div>')
    if view.get("note"):
        out.append(f'<details class="bqa-ev-note"><summary>表注</summary>{_esc(view["note"])}</details>')
    out.append("</div>")
    return "".join(out)


HEADER_SEP = " > "


def _common_header(headers: list[str]) -> str:
    """The leading header path shared by every column (when there are several), else ""."""
    if len(headers) < 2:
        return ""
    parts = [h.split(HEADER_SEP) for h in headers]
    common: list[str] = []
    for level in zip(*parts):
        if len(set(level)) != 1:
            break
        common.append(level[0])
    # keep at least one level of each column's own path
    common = common[:min(len(p) for p in parts) - 1]
    return HEADER_SEP.join(common)


def _find_span(text: str, quote: str) -> tuple[int, int] | None:
    """Where ``quote`` occurs in ``text`` (exactly, else ignoring whitespace): (start, end) or None."""
    quote = (quote or "").strip()
    if not quote or not text:
        return None
    at = text.find(quote)
    if at >= 0:
        return at, at + len(quote)
    # compare without whitespace, mapping positions back to the original text
    kept = [(i, ch) for i, ch in enumerate(text) if not ch.isspace()]
    squeezed = "".join(ch for _, ch in kept)
    needle = "".join(quote.split())
    at = squeezed.find(needle) if needle else -1
    if at < 0:
        return None
    return kept[at][0], kept[at + len(needle) - 1][0] + 1


def render_passage_evidence(view: dict | None, citation: Citation) -> str:
    """The section around a cited passage with the cited sentence (``citation.quote``) marked.

    ``view`` is :meth:`Assistant.passage_view` (or None). The quote is looked up in the section's
    paragraphs; when it is not found there (e.g. a one-line web page where many passages share a
    line), the quote alone is shown, marked. Every text is escaped.
    """
    paragraphs = list((view or {}).get("paragraphs") or [])
    hits = [(k, span) for k, p in enumerate(paragraphs) if (span := _find_span(p.get("text", ""), citation.quote))]
    section = (view or {}).get("section") if hits else ""
    title = section or citation.locator or citation.doc_title
    meta = [citation.doc_title] if citation.doc_title else []
    pos = citation_position(citation).strip("（）")
    if pos:
        meta.append(pos)
    out = ['<div class="bqa-ev bqa-ev-passage">',
           f'<div class="bqa-ev-title">{_esc(title)}</div>',
           f'<div class="bqa-ev-meta">{_esc(" · ".join(meta))}</div>']
    if not hits:
        out.append(f'<p class="bqa-para bqa-cited-para"><mark>{_esc(citation.quote)}</mark></p></div>')
        return "".join(out)
    # prefer the hit on the cited line when the quote occurs in several paragraphs
    k, span = next(((k, s) for k, s in hits if paragraphs[k].get("line") == citation.line), hits[0])
    lo, hi = max(0, k - PASSAGE_CONTEXT), min(len(paragraphs), k + PASSAGE_CONTEXT + 1)
    if lo > 0:
        out.append('<p class="bqa-para bqa-gap">……</p>')
    for j in range(lo, hi):
        text = str(paragraphs[j].get("text", ""))
        line = _esc(paragraphs[j].get("line"))
        if j == k:
            a, b = span
            out.append(f'<p class="bqa-para bqa-cited-para" data-line="{line}">{_esc(text[:a])}'
                       f"<mark>{_esc(text[a:b])}</mark>{_esc(text[b:])}</p>")
        else:
            out.append(f'<p class="bqa-para" data-line="{line}">{_esc(text)}</p>')
    if hi < len(paragraphs):
        out.append('<p class="bqa-para bqa-gap">……</p>')
    out.append("</div>")
    return "".join(out)


def evidence_placeholder(text: str = EVIDENCE_PLACEHOLDER) -> str:
    return f'<div class="bqa-ev bqa-ev-empty">{_esc(text)}</div>'


def chart_table(chart: dict | None) -> tuple[list[str], list[float]] | None:
    """Labels and values of an answer's chart ({"title", "unit", "items": [[label, value], …]}),
    labels made unique (a repeated label gets "（2）"); None when there is nothing to draw."""
    if not chart or not chart.get("items"):
        return None
    labels: list[str] = []
    values: list[float] = []
    for item in chart["items"]:
        try:
            label, value = str(item[0]), float(item[1])
        except (TypeError, ValueError, IndexError):
            continue
        base, n = label, 2
        while label in labels:
            label, n = f"{base}（{n}）", n + 1
        labels.append(label)
        values.append(value)
    return (labels, values) if labels else None


def page_note(note: str) -> str:
    """The fallback note as shown on the page: its reason without the details in brackets, which may
    quote the model's rejected figures ("已使用确定性回答：语言模型的回答未通过数字核对"); the full
    note is logged by :mod:`assistant.llm`."""
    return re.split(r"[（(]", note, maxsplit=1)[0].strip()


def new_conversation_id() -> str:
    """A fresh, unguessable conversation id for one browser session."""
    return uuid.uuid4().hex


def _empty_turns() -> dict:
    """Per-session answers: {"by_index": {history index: {"question", "answer"}}, "current": index}."""
    return {"by_index": {}, "current": None}


MSG_NO_FILE = "请先选择要上传的文件（.txt 或 .pdf）。"
MSG_UPLOAD_TOKEN = "未入库：需要访问令牌（服务器设置了 BUDGET_QA_TOKEN），请填写正确的令牌后再上传。"
MSG_UPLOAD_FAILED = "入库失败：处理文件时出现内部错误，索引未改变。请查看服务器日志。"
MSG_NOT_UPLOADED = "未入库：只接受通过本页面上传的文件（文件不在上传目录中，或已处理过）。请重新选择文件。"
MSG_FEEDBACK_TOKEN = "未记录评价：需要访问令牌（服务器设置了 BUDGET_QA_TOKEN），请在“访问令牌”中填写后再评价。"
MSG_EXPORT_TOKEN = "未导出：需要访问令牌（服务器设置了 BUDGET_QA_TOKEN），请在“访问令牌”中填写后再导出。"
UPLOAD_HINT = "选择一个预算或决算公开文件（.txt 或 .pdf），点击“上传并入库”；入库通常需要几秒到一分钟，完成后即可提问。"
MSG_NO_EVIDENCE = "这条回答没有可查看的来源。"
EVIDENCE_START = "提问后，这里显示回答所引用的原表或原文段落。"
#: answers kept per session for feedback and evidence (older ones can no longer be rated)
MAX_TURNS_KEPT = 50


class ChatHandlers:
    """The page's event handlers, independent of Gradio widgets (so they can be unit-tested).

    Calls into the assistant are serialized with a lock (the question events also share one
    concurrency group), so the assistant need not be re-entrant; they do run on Gradio's worker
    threads, not on the thread that opened the assistant. Pass ``lock`` to share it with other
    callers of the same assistant (the HTTP API). An upload holds the lock only to switch to the new
    index generation, never while the document is read or written (uploads have their own
    concurrency group), so questions are answered meanwhile.

    Each session keeps its answers in a ``turns`` dict (see :func:`_empty_turns`), so a rated
    message maps to its :class:`Answer` and the evidence selector to the last answer's citations.
    """

    def __init__(self, assistant: Any, lock: Any = None, upload_folder: str | Path | None = None) -> None:
        self.assistant = assistant
        self._lock = lock or threading.Lock()
        self._examples: list[str] | None = None
        #: only files inside this folder are accepted by :meth:`upload` (default: Gradio's upload folder)
        self.upload_folder = Path(upload_folder) if upload_folder is not None else None

    @property
    def _token(self) -> str:
        """The access token the server requires (BUDGET_QA_TOKEN), "" if none."""
        return getattr(getattr(self.assistant, "settings", None), "access_token", "") or ""

    # ------------------------------------------------------------------ documents and examples
    @property
    def documents(self) -> list[Document]:
        """The documents loaded now (uploads add to them)."""
        return list(self.assistant.documents())

    @property
    def doc_ids(self) -> list[str]:
        return [d.doc_id for d in self.documents]

    def scope_choices(self) -> list[tuple[str, str]]:
        """(label, doc_id) pairs for the scope selector; duplicate labels get the title added."""
        documents = self.documents
        labels = [document_label(d) for d in documents]
        choices = []
        for doc, label in zip(documents, labels):
            if labels.count(label) > 1:
                label = f"{label}（{doc.title or doc.doc_id}）"
            choices.append((label, doc.doc_id))
        return choices

    def example_questions(self, refresh: bool = False) -> list[str]:
        """Up to :data:`MAX_EXAMPLES` of the assistant's example questions ([] if it has none).

        Computed once (the assistant tries each candidate) and again after an upload (``refresh``).
        """
        if self._examples is not None and not refresh:
            return list(self._examples)
        try:
            with self._lock:
                questions = [q for q in self.assistant.example_questions() if q and q.strip()]
            self._examples = list(dict.fromkeys(questions))[:MAX_EXAMPLES]
        except Exception:  # examples are a convenience; never break the page for them
            logger.exception("could not get example questions")
            self._examples = self._examples or []
        return list(self._examples)

    def resolve_scope(self, selected: Sequence[str] | None,
                      offered: Sequence[str] | None = None) -> list[str] | None:
        """Map the selector value to the ``scope`` argument: None when every document is chosen.

        ``selected=None`` (no selector value at all) also means every document; an empty list
        means none, which :meth:`reply` answers with a prompt to choose some. ``offered`` are the
        documents the page listed when it was opened (or after its last upload): choosing all of
        them means every document, including ones added since by another page or worker.
        """
        if selected is None:
            return None
        wanted = set(selected)
        if offered and wanted >= set(offered):
            return None
        doc_ids = self.doc_ids
        chosen = [d for d in doc_ids if d in wanted]
        if len(chosen) == len(doc_ids):
            return None
        return chosen

    # ------------------------------------------------------------------ asking
    def submit(self, message: str | None, history: list | None) -> tuple[str, list, str]:
        """Show the user's question right away; returns (cleared textbox, history, pending question)."""
        question = message or ""
        history = list(history or [])
        if question.strip():
            history.append({"role": "user", "content": escape_markdown(question_echo(question))})
        return "", history, question

    def reply(
        self,
        question: str | None,
        history: list | None,
        conversation: str | None,
        selected: Sequence[str] | None,
        turns: dict | None = None,
        offered: Sequence[str] | None = None,
    ) -> tuple[list, str, dict]:
        """Ask the assistant and append its formatted reply (the last state of :meth:`reply_stream`).

        Returns (history, conversation id, turns): ``turns["current"]`` is the history index of
        this reply when it is an answer (its :class:`Answer` is in ``turns["by_index"]``), else None.
        """
        state = None
        for state in self.reply_stream(question, history, conversation, selected, turns, offered):
            pass
        return state

    def reply_stream(
        self,
        question: str | None,
        history: list | None,
        conversation: str | None,
        selected: Sequence[str] | None,
        turns: dict | None = None,
        offered: Sequence[str] | None = None,
    ) -> Iterator[tuple[list, str, dict]]:
        """Like :meth:`reply`, yielding (history, conversation id, turns) as the reply grows.

        Without a chat model (``assistant.chat_model`` is None, the default) it yields once, the
        deterministic answer. With one (``BUDGET_QA_LLM_*``, see :mod:`assistant.llm`) it yields the
        model's draft as it streams, shown under :data:`DRAFT_LABEL` and not yet checked, then the
        final reply: the model's text when the figure guard accepts it, else the deterministic answer
        with the visible note "已使用确定性回答：<reason>". Sources and evidence are always the
        deterministic answer's.
        """
        history = list(history or [])
        conversation = conversation or new_conversation_id()
        turns = dict(turns or _empty_turns())
        scope = self.resolve_scope(selected, offered)
        answer = None
        if scope is not None and not scope:
            text = escape_markdown(MSG_NO_SCOPE)
        else:
            text, answer = self._answer(question or "", conversation, scope)
        index = len(history)
        history.append({"role": "assistant", "content": text})
        model = getattr(self.assistant, "chat_model", None) if answer is not None else None
        if model is not None:
            answer, note = yield from self._phrase(answer, history, conversation, turns)
            history[index] = {"role": "assistant", "content": render_answer_markdown(answer) + (
                "\n\n" + f"*{escape_markdown(page_note(note))}*" if note else "")}
        yield history, conversation, self._record(turns, index, question, answer)

    def _phrase(self, answer: Answer, history: list, conversation: str, turns: dict):
        """Stream the chat model's phrasing of ``answer`` into ``history[-1]`` (yielding states);
        returns (answer, note) from :func:`assistant.llm.phrase_stream_for`."""
        from assistant.llm import FALLBACK_PREFIX, phrase_stream_for

        waiting = self._record(turns, None, "", None)
        draft = ""
        final = (answer, "")
        try:
            for item in phrase_stream_for(self.assistant, answer):
                if isinstance(item, tuple):
                    final = item
                    break
                draft += item
                history[-1] = {"role": "assistant", "content": f"*{DRAFT_LABEL}*\n\n" + escape_markdown(draft)}
                yield list(history), conversation, waiting
        except Exception:  # the deterministic answer is already there; never lose it for the model
            logger.exception("chat model phrasing failed")
            final = (answer, FALLBACK_PREFIX + "语言模型出错")
        return final

    @staticmethod
    def _record(turns: dict, index: int | None, question: str | None, answer: Answer | None) -> dict:
        """``turns`` with ``answer`` recorded at history ``index`` (and made current), a copy."""
        turns = dict(turns)
        by_index = dict(turns.get("by_index") or {})
        if answer is not None and index is not None:
            by_index[index] = {"question": question or "", "answer": answer}
            for old in sorted(by_index)[:-MAX_TURNS_KEPT]:
                del by_index[old]
        turns["by_index"] = by_index
        turns["current"] = index if answer is not None else None
        return turns

    def _answer(self, question: str, conversation: str, scope: list[str] | None) -> tuple[str, Answer | None]:
        try:
            with self._lock:
                answer = self.assistant.ask(question, conversation=conversation, scope=scope)
        except BudgetQAError as err:  # QuestionError etc.: str(err) is a message for the user
            logger.info("question rejected: %s", err)
            return escape_markdown(str(err)), None
        except Exception:
            logger.exception("assistant failed on a question")
            return escape_markdown(MSG_INTERNAL_ERROR), None
        return render_answer_markdown(answer), answer

    def clear(self) -> tuple[list, str, str, str]:
        """Empty the chat and start a new conversation: (history, conversation id, textbox, pending)."""
        return [], new_conversation_id(), "", ""

    # ------------------------------------------------------------------ the current answer
    @staticmethod
    def current_answer(turns: dict | None) -> Answer | None:
        """The answer the evidence selector is about (the last reply, if it was an answer)."""
        if not turns or turns.get("current") is None:
            return None
        record = (turns.get("by_index") or {}).get(turns["current"])
        return record["answer"] if record else None

    def source_choices(self, answer: Answer | None) -> list[tuple[str, str]]:
        """(label, value) pairs of the answer's citations for the evidence selector."""
        if answer is None:
            return []
        several = len({c.doc_id for c in answer.citations}) > 1
        return [(source_label(n, c, several), str(n)) for n, c in enumerate(answer.citations, start=1)]

    def evidence_html(self, turns: dict | None, choice: str | None) -> str:
        """The evidence panel for source number ``choice`` ("1", "2", …) of the current answer."""
        answer = self.current_answer(turns)
        try:
            n = int(choice or 0)
        except ValueError:
            n = 0
        if answer is None or not 1 <= n <= len(answer.citations):
            return evidence_placeholder()
        cite = answer.citations[n - 1]
        formula = (f'<div class="bqa-ev bqa-ev-formula">{_esc(FORMULA_PREFIX + answer.formula)}</div>'
                   if answer.formula else "")
        try:
            with self._lock:
                if cite.kind == "table" and cite.table_id:
                    view = self.assistant.table_view(cite.table_id)
                    if view is not None:
                        return formula + render_table_evidence(view, cite)
                    return formula + render_passage_evidence(None, cite)
                view = self.assistant.passage_view(cite.doc_id, cite.line, cite.quote) if cite.line else None
            return formula + render_passage_evidence(view, cite)
        except Exception:
            logger.exception("could not show the source %s of %r", n, answer.question)
            return formula + render_passage_evidence(None, cite)

    # ------------------------------------------------------------------ feedback
    def like(self, turns: dict | None, conversation: str | None, index: Any, liked: Any, token: str = "") -> str:
        """Store a thumbs up (``liked`` True) or down (False) for the answer at history ``index``;
        returns a notice for the page. Anything else (a cleared rating "") stores nothing. When the
        server has an access token (BUDGET_QA_TOKEN), ``token`` must equal it."""
        if not token_matches(token, self._token):
            return MSG_FEEDBACK_TOKEN
        if isinstance(index, (list, tuple)):
            index = index[0] if index else None
        record = ((turns or {}).get("by_index") or {}).get(index)
        if record is None:
            return "这条消息不是问题的回答，无法评价。"
        if liked is not True and liked is not False:
            return "已取消标记（已记录的评价仍保留）。"
        rating = 1 if liked else -1
        try:
            self.assistant.feedback.add(record["question"], record["answer"].to_dict(), rating,
                                        conversation=conversation)
        except Exception:
            logger.exception("could not store feedback")
            return "抱歉，评价没有保存成功，请稍后再试。"
        return "已记录评价：有用 👍，谢谢！" if rating > 0 else "已记录评价：没有帮助 👎，谢谢，我们会改进。"

    def export_feedback(self, token: str = "") -> tuple[str | None, str]:
        """Write all feedback to a new CSV file under ``data/exports``; returns (path, notice). When
        the server has an access token (BUDGET_QA_TOKEN), ``token`` must equal it (the export holds
        every user's questions and conversation ids)."""
        if not token_matches(token, self._token):
            return None, MSG_EXPORT_TOKEN
        try:
            folder = self._export_dir()
            name = f"feedback-{time.strftime('%Y%m%d-%H%M%S')}.csv"
            path = Path(tempfile.mkdtemp(prefix="feedback-", dir=folder)) / name
            n = self.assistant.feedback.export_csv(path)
        except Exception:
            logger.exception("could not export feedback")
            return None, "抱歉，导出失败，请查看服务器日志。"
        return str(path), f"已导出 {n} 条反馈，点击下方文件下载。"

    def _export_dir(self) -> Path:
        """``data/exports`` (exports older than a day are removed); Gradio's temporary folder if
        the data folder is somewhere Gradio may not serve files from."""
        settings = getattr(self.assistant, "settings", None)
        data_dir = Path(settings.data_dir) if settings is not None else Path(tempfile.gettempdir()) / "budget-qa"
        folder = data_dir / "exports"
        servable = [Path.cwd(), Path(tempfile.gettempdir())]
        if os.environ.get("GRADIO_TEMP_DIR"):
            servable.append(Path(os.environ["GRADIO_TEMP_DIR"]))
        if not any(folder.resolve().is_relative_to(p.resolve()) for p in servable):
            folder = servable[-1] / "budget-qa-exports"
        folder.mkdir(parents=True, exist_ok=True)
        for old in folder.glob("feedback-*"):
            try:
                if time.time() - old.stat().st_mtime > 86400:
                    shutil.rmtree(old, ignore_errors=True)
            except OSError:
                pass
        return folder

    # ------------------------------------------------------------------ uploads
    def upload(self, path: str | None, progress: Any = None, token: str = "") -> tuple[bool, str, str | None]:
        """Ingest an uploaded file; returns (ok, notice in Markdown, new doc_id or None).

        ``path`` must name a file inside the upload folder (where Gradio stores what the browser sent:
        see :func:`assistant.web.guard.uploaded_file`); any other server path is refused unread. The
        file is removed from there once read. ``progress(str)`` receives the ingest steps.
        IngestError messages are shown as they are; other failures as a generic message (details in
        the log). A failure changes nothing. When the server has an access token (BUDGET_QA_TOKEN),
        ``token`` must equal it. Parsing holds no lock (questions are answered meanwhile); only the
        switch to the new index generation holds the handlers' lock.
        """
        if not token_matches(token, self._token):
            return False, escape_markdown(MSG_UPLOAD_TOKEN), None
        if not path:
            return False, escape_markdown(MSG_NO_FILE), None
        name = Path(path).name
        real = uploaded_file(path, self.upload_folder)
        if real is None:
            logger.warning("upload refused: %s is not a file in the upload folder", path)
            return False, escape_markdown(MSG_NOT_UPLOADED), None
        try:
            try:
                data = real.read_bytes()
            finally:
                real.unlink(missing_ok=True)  # Gradio's copy is not needed any more
            summary = self.assistant.add_document(name, data, progress=progress, switch_lock=self._lock)
        except BudgetQAError as err:
            logger.info("upload %s rejected: %s", name, err)
            return False, escape_markdown(f"未入库：{err}"), None
        except Exception as exc:
            logger.exception("upload %s failed", name)
            settings = getattr(self.assistant, "settings", None)
            if settings is not None:
                from assistant.store.backends import backend_error

                err = backend_error(exc, settings)  # the database or Chroma server is unreachable
                if err is not None:
                    return False, escape_markdown(f"未入库，索引未改变：{err}"), None
            return False, escape_markdown(MSG_UPLOAD_FAILED), None
        lines = [escape_markdown(f"已入库：{summary.title}（{summary.tables} 张表，{summary.facts} 个数字，"
                                 f"{summary.passages} 个段落）")]
        lines += [escape_markdown(f"注意：{w}") for w in (summary.warnings or [])]
        if getattr(summary, "unaligned", 0):
            lines.append(escape_markdown(f"注意：{summary.unaligned} 个表格数字无法确定所在列，未入库。")
                         + _details("查看这些单元格", getattr(summary, "unaligned_cells", [])))
        sums = getattr(summary, "arithmetic", [])
        if sums:
            lines.append(escape_markdown(f"注意：{len(sums)} 处表内加总不符（文件本身的数字）。")
                         + _details("查看明细", sums))
        self.example_questions(refresh=True)
        return True, "\n\n".join(lines), summary.doc_id


def _details(summary: str, items: list[str]) -> str:
    """A collapsed HTML list (shown on request) of ``items``; "" when there are none."""
    if not items:
        return ""
    from html import escape

    body = "".join(f"<li>{escape(x)}</li>" for x in items)
    return f"\n<details><summary>{escape(summary)}</summary><ul>{body}</ul></details>"


def build_ui(assistant: Any, lock: Any = None) -> "gradio.Blocks":
    """Build the chat page for ``assistant`` (an opened :class:`assistant.engine.Assistant`).

    Widgets: the chat (gr.Chatbot, 👍/👎 on each answer), a question box with send and clear
    buttons, "复制回答", clickable example questions and a document scope selector; beside the chat
    a bar chart for breakdown answers and the evidence of the last answer (a selector of its
    sources and a panel showing the cited table or passage, highlighted); below, upload of a new
    disclosure and the feedback CSV export. Columns stack on a narrow (phone) screen.
    ``lock`` serialises calls into the assistant (share it with the HTTP API).
    """
    import gradio as gr
    import pandas as pd

    handlers = ChatHandlers(assistant, lock=lock)
    from .audit import AUDIT_HINT, AuditView

    auditor = AuditView(assistant, lock=handlers._lock)
    initial_choices = handlers.scope_choices()
    initial_examples = handlers.example_questions()

    def example_updates(questions: list[str]) -> list:
        heading = gr.update(visible=bool(questions))
        buttons = [gr.update(value=q, visible=True) for q in questions[:MAX_EXAMPLES]]
        buttons += [gr.update(visible=False)] * (MAX_EXAMPLES - len(buttons))
        return [heading, *buttons]

    def answer_extras(turns: dict | None) -> list:
        """Evidence selector, panel, chart and copy text for the current answer."""
        answer = handlers.current_answer(turns)
        choices = handlers.source_choices(answer)
        sources_update = gr.update(choices=choices, value=None, visible=bool(choices))
        panel = evidence_placeholder(
            EVIDENCE_PLACEHOLDER if choices else MSG_NO_EVIDENCE if answer is not None else EVIDENCE_START)
        drawn = chart_table(answer.chart if answer is not None else None)
        if drawn is None:
            chart_update = gr.update(visible=False, value=None)
        else:
            labels, values = drawn
            unit = (answer.chart.get("unit") or "").strip()
            title = (answer.chart.get("title") or "").strip()
            chart_update = gr.update(
                value=pd.DataFrame({"项目": labels, "金额": values}), x="项目", y="金额",
                title=f"{title}（单位：{unit}）" if unit else title,
                y_title=f"金额（{unit}）" if unit else "金额", x_title="项目", sort=labels,
                y_lim=[min(0.0, *values), None], visible=True)  # bars start at zero
        copy_text = answer_plain_text(answer) if answer is not None else ""
        return [sources_update, panel, chart_update, copy_text]

    def on_reply(question, history, conversation, selected, turns, offered):
        for history, conversation, turns in handlers.reply_stream(question, history, conversation, selected, turns,
                                                                  offered):
            yield [history, conversation, turns, *answer_extras(turns)]

    def on_clear():
        history, conversation, box, pending = handlers.clear()
        turns = _empty_turns()
        return [history, conversation, box, pending, turns, *answer_extras(turns), ""]

    def on_like(turns, conversation, token, evt):
        return handlers.like(turns, conversation, evt.index, evt.liked, token=token)

    on_like.__annotations__ = {"evt": gr.LikeData}  # so that Gradio passes the event data

    def on_upload(path, selected, token, progress=gr.Progress()):
        progress(0.05, desc="检查文件…")

        def say(message: str) -> None:
            step = 0.3 if "解析" in message else 0.6 if "向量化" in message else 0.5
            progress(step, desc=message)

        ok, notice, doc_id = handlers.upload(path, progress=say, token=token)
        if not ok:  # a file refused before it was read (no token) stays selected
            kept = gr.skip() if path and Path(path).exists() else None
            return [notice, kept, gr.skip(), gr.skip(), *([gr.skip()] * (MAX_EXAMPLES + 1))]
        progress(0.95, desc="更新示例问题…")
        choices = handlers.scope_choices()
        keep = set(selected or []) | {doc_id}
        value = [d for _, d in choices if d in keep]
        return [notice, None, gr.update(choices=choices, value=value), [d for _, d in choices],
                *example_updates(handlers.example_questions())]

    def on_load():
        """A page opened after an upload shows the documents and examples of now."""
        choices = handlers.scope_choices()
        scope_update = (gr.skip() if choices == initial_choices
                        else gr.update(choices=choices, value=[d for _, d in choices]))
        examples = handlers.example_questions()
        extra = ([gr.skip()] * (MAX_EXAMPLES + 1) if examples == initial_examples
                 else example_updates(examples))
        return [scope_update, [d for _, d in choices], *extra]

    def on_export(token):
        path, notice = handlers.export_feedback(token=token)
        return gr.update(value=path, visible=path is not None), notice

    # Gradio's temporary files (uploads, exports) older than an hour are removed every 10 minutes,
    # and all of them when the server stops
    with gr.Blocks(title=PAGE_TITLE, analytics_enabled=False, delete_cache=(600, 3600)) as demo:
        conversation = gr.State(None)
        pending = gr.State("")
        turns = gr.State(_empty_turns())
        offered = gr.State([doc_id for _, doc_id in initial_choices])  # see ChatHandlers.resolve_scope

        gr.Markdown(f"# {PAGE_TITLE}\n根据已载入的部门预算、决算公开文件回答问题，每个数字都注明出处。")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=340):
                chatbot = gr.Chatbot(
                    label="对话",
                    height=520,
                    render_markdown=True,
                    sanitize_html=True,
                    allow_tags=False,
                    latex_delimiters=[],
                    line_breaks=True,
                    # the chat's own copy buttons would copy the escaped Markdown ("187\.00");
                    # "复制回答" below copies the plain text
                    buttons=[],
                    feedback_options=("Like", "Dislike"),
                    placeholder="请在下方输入问题，例如某项支出的金额、占比或同比变化。",
                    autoscroll=False,  # SCROLL_JS shows a new answer from its first line
                    elem_id="bqa-chat",
                )
                with gr.Row(equal_height=False):
                    textbox = gr.Textbox(
                        show_label=False,
                        placeholder="输入问题，按回车发送",
                        lines=1,
                        max_lines=6,
                        scale=8,
                        min_width=200,
                        autofocus=True,
                    )
                    send = gr.Button("发送", variant="primary", scale=1, min_width=70)
                    clear = gr.Button("清空对话", variant="secondary", scale=1, min_width=110)
                with gr.Row(equal_height=False):
                    copy = gr.Button("复制回答", size="sm", variant="secondary", scale=0, min_width=90)
                    notice = gr.Markdown("", elem_id="bqa-notice")
                copy_text = gr.Textbox(visible=False)

                examples_heading = gr.Markdown("**示例问题**（点击即可提问）", visible=bool(initial_examples))
                with gr.Row():
                    example_buttons = [
                        gr.Button(initial_examples[i] if i < len(initial_examples) else "", size="sm",
                                  variant="secondary", visible=i < len(initial_examples), min_width=120)
                        for i in range(MAX_EXAMPLES)
                    ]

            with gr.Column(scale=2, min_width=300):
                chart = gr.BarPlot(
                    visible=False, x="项目", y="金额", label="构成图", show_label=False, height=300,
                    x_label_angle=-30, tooltip="all", elem_id="bqa-chart",
                )
                sources = gr.Radio(
                    choices=[], label="本条回答的来源", info="选择一个来源，查看原表或原文。",
                    visible=False, elem_id="bqa-sources",
                )
                evidence = gr.HTML(
                    evidence_placeholder(EVIDENCE_START), label="来源原文", css_template=EVIDENCE_CSS, js_on_load=None,
                    max_height=640, elem_id="bqa-evidence",
                )

        # below both columns: on a phone the evidence comes right after the chat
        scope = gr.CheckboxGroup(
            choices=initial_choices,
            value=[doc_id for _, doc_id in initial_choices],
            label="文件范围",
            info="只在选中的文件中查找答案（默认全部）。",
            show_select_all=True,
            elem_id="bqa-scope",
        )
        with gr.Accordion("上传文件与导出反馈", open=False, elem_id="bqa-admin"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=300):
                    upload_file = gr.File(label="预算公开文件（.txt、.pdf 或表格图片 .png/.jpg/.gif）",
                                          file_types=[".txt", ".pdf", ".png", ".jpg", ".jpeg", ".gif"],
                                          type="filepath", elem_id="bqa-upload-file")
                    upload_token = gr.Textbox(label="访问令牌（服务器设置了令牌时，上传、评价和导出反馈都需要；"
                                                    "请先填写，再选择文件）", type="password",
                                              visible=bool(handlers._token), elem_id="bqa-upload-token")
                    upload = gr.Button("上传并入库", variant="primary")
                    upload_status = gr.Markdown(escape_markdown(UPLOAD_HINT), elem_id="bqa-upload-status",
                                                min_height=60)
                with gr.Column(scale=2, min_width=300):
                    export = gr.Button("导出反馈 CSV")
                    export_file = gr.File(label="反馈 CSV", visible=False, interactive=False,
                                          elem_id="bqa-export-file")

        with gr.Accordion("文件审核", open=False, elem_id="bqa-audit"):
            with gr.Row(equal_height=False):
                with gr.Column(scale=3, min_width=300):
                    with gr.Row(equal_height=False):
                        audit_doc = gr.Dropdown(choices=initial_choices, label="文件", scale=4,
                                                elem_id="bqa-audit-doc")
                        audit_run = gr.Button("审核", variant="primary", scale=1, min_width=80)
                    audit_summary = gr.HTML(f'<div class="bqa-ev-note">{_esc(AUDIT_HINT)}</div>',
                                            css_template=EVIDENCE_CSS, max_height=520, elem_id="bqa-audit-summary")
                with gr.Column(scale=2, min_width=300):
                    audit_pick = gr.Radio(choices=[], label="问题", info="选择一条，查看它引用的表格或原文。",
                                          elem_id="bqa-audit-findings")
                    audit_evidence = gr.HTML("", css_template=EVIDENCE_CSS, max_height=640,
                                             elem_id="bqa-audit-evidence")

        def on_audit(doc_id):
            summary, choices = auditor.run(doc_id)
            return summary, gr.update(choices=choices, value=None), ""

        audit_run.click(on_audit, inputs=[audit_doc], outputs=[audit_summary, audit_pick, audit_evidence],
                        concurrency_id="ask", concurrency_limit=1, api_visibility="private")
        audit_pick.input(auditor.evidence, inputs=[audit_doc, audit_pick], outputs=[audit_evidence],
                         api_visibility="private")
        audit_doc.focus(lambda: gr.update(choices=handlers.scope_choices()), inputs=None, outputs=[audit_doc],
                        queue=False, api_visibility="private")  # documents uploaded since the page opened

        extras = [sources, evidence, chart, copy_text]
        ask_events = []
        triggers = [(textbox.submit, textbox), (send.click, textbox)]
        triggers += [(b.click, b) for b in example_buttons]
        for trigger, source in triggers:
            event = trigger(
                handlers.submit,
                inputs=[source, chatbot],
                outputs=[textbox, chatbot, pending],
                queue=False,
                api_visibility="private",
            ).then(
                on_reply,
                inputs=[pending, chatbot, conversation, scope, turns, offered],
                outputs=[chatbot, conversation, turns, *extras],
                concurrency_id="ask",
                concurrency_limit=1,
                api_visibility="private",
            )
            ask_events.append(event)

        # both the button and the chat's own trash icon start a new conversation
        for trigger in (clear.click, chatbot.clear):
            trigger(
                on_clear,
                inputs=None,
                outputs=[chatbot, conversation, textbox, pending, turns, *extras, notice],
                queue=False,
                cancels=ask_events,
                api_visibility="private",
            )

        sources.input(handlers.evidence_html, inputs=[turns, sources], outputs=[evidence],
                      api_visibility="private")
        chatbot.like(on_like, inputs=[turns, conversation, upload_token], outputs=[notice], api_visibility="private")
        copy.click(
            lambda text: "已复制最近一条回答（纯文本）。" if text else "还没有可复制的回答。",
            inputs=[copy_text], outputs=[notice], api_visibility="private",
            js=COPY_JS,
        )
        # the token typed is kept in a cookie, which Gradio's upload request carries (see guard.py)
        for trigger in (upload_token.input, upload_token.change, upload_token.blur):
            trigger(None, inputs=[upload_token], outputs=None, js=TOKEN_COOKIE_JS, queue=False,
                    api_visibility="private")
        # uploads have their own concurrency group: parsing never waits for questions, nor they for it
        upload.click(
            on_upload,
            inputs=[upload_file, scope, upload_token],
            outputs=[upload_status, upload_file, scope, offered, examples_heading, *example_buttons],
            concurrency_id="upload",
            concurrency_limit=UPLOAD_CONCURRENCY,
            show_progress="full",
            show_progress_on=[upload_status],
            api_visibility="private",
        )
        export.click(on_export, inputs=[upload_token], outputs=[export_file, notice], api_visibility="private")
        demo.load(on_load, inputs=None, outputs=[scope, offered, examples_heading, *example_buttons],
                  api_visibility="private")
        demo.load(None, inputs=None, outputs=None, js=SCROLL_JS, api_visibility="private")
    return demo


#: Keeps the chat scrolled for reading (Gradio's own autoscroll is off): a new answer is placed with
#: its first line at the top of the chat's visible area, below the chat's floating label (a short
#: answer simply ends at the bottom), so a long answer is read from its start; a new question is
#: scrolled into view at the bottom. Runs once per page (a MutationObserver on the chat); it acts
#: only when the last message is new or its text changed (a streamed draft), never on the reader's
#: own scrolling.
SCROLL_JS = """
() => {
  const start = (tries) => {
    const chat = document.getElementById("bqa-chat");
    if (!chat) { if (tries > 0) setTimeout(() => start(tries - 1), 200); return; }
    if (chat.dataset.bqaScroll) return;
    chat.dataset.bqaScroll = "on";
    let placed = "";
    const place = () => {
      const log = chat.querySelector('[role="log"]');
      const rows = log ? log.querySelectorAll(".message-row") : [];
      const last = rows[rows.length - 1];
      if (!last) { placed = ""; return; }
      const bot = last.querySelector('[data-testid="bot"]');
      const key = rows.length + (bot ? ":bot:" + bot.textContent.length : ":user:" + log.scrollHeight);
      if (key === placed) return;
      placed = key;
      if (bot) {
        const view = log.getBoundingClientRect().top;
        // the chat's label and its clear button float over the top of the scrolled area
        const covered = [...chat.querySelectorAll('[data-testid="block-label"], .top-panel')]
          .reduce((m, e) => Math.max(m, e.getBoundingClientRect().bottom - view), 0);
        const top = last.getBoundingClientRect().top - view + log.scrollTop;
        log.scrollTop = Math.max(0, top - covered - 8);
      } else {
        log.scrollTop = log.scrollHeight;
      }
    };
    new MutationObserver(place).observe(chat, {childList: true, subtree: true, characterData: true});
    place();
  };
  start(50);
}
"""


#: uploads processed at once (each parses in its own child process; the index writes take turns)
UPLOAD_CONCURRENCY = 2

#: keeps the token typed on the page in a cookie for Gradio's upload route (same site, this path only)
TOKEN_COOKIE_JS = f"""
(token) => {{
  document.cookie = "{TOKEN_COOKIE}=" + encodeURIComponent(token || "") + "; path=/; SameSite=Strict";
  return token;
}}
"""

#: copies the plain text of the last answer (navigator.clipboard needs a secure context such as
#: localhost; elsewhere a hidden textarea and execCommand are used)
COPY_JS = """
async (text) => {
  if (text) {
    try {
      await navigator.clipboard.writeText(text);
    } catch (e) {
      const area = document.createElement("textarea");
      area.value = text;
      area.style.position = "fixed";
      area.style.left = "-9999px";
      document.body.appendChild(area);
      area.select();
      try { document.execCommand("copy"); } finally { area.remove(); }
    }
  }
  return text;
}
"""


def _prepare_environment(settings: Settings) -> None:
    """Analytics off; Gradio's temporary files under ``settings.data_dir`` unless set already."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    if not os.environ.get("GRADIO_TEMP_DIR"):
        tmp = settings.data_dir / "gradio-tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        os.environ["GRADIO_TEMP_DIR"] = str(tmp)


#: the last line before serving: printed once the server listens (see :func:`launch`)
READY_MESSAGE = "budget-qa: 聊天页面已就绪：{url}（按 Ctrl-C 停止）"


def page_url(host: str, port: int) -> str:
    """The address to open in a browser for a server on ``host``:``port`` (a server on every
    interface, 0.0.0.0 or ::, is opened on this machine as 127.0.0.1)."""
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    elif ":" in host:  # an IPv6 address
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _say_ready(url: str) -> None:
    print(READY_MESSAGE.format(url=url), file=sys.stderr, flush=True)


def _announce_index_build(say, corpus_dir: Path):
    """``say`` with a heading before the first message of an index build: :meth:`Assistant.open`
    reports only when it builds (first start, or an index made by an older version)."""
    started = False

    def report(message: str) -> None:
        nonlocal started
        if not started:
            started = True
            say(f"正在从 {corpus_dir} 建立索引（只在首次运行或索引需要重建时进行）")
        say(message)

    return report


def launch(settings: Settings, host: str = "127.0.0.1", port: int = 7860, progress=None, ready=None) -> None:
    """Open the assistant (building the index if missing, reporting to ``progress(str)``), build the
    page and serve it (blocks) with uvicorn: one FastAPI app holding the HTTP API
    (:mod:`assistant.web.api`, under ``/api/``) and the chat page mounted at "/". Never creates a
    public share link; telemetry is off.

    ``progress(str)`` gets one line per start-up stage (opening the index, each document of an
    index build, the example questions); ``ready(url)`` is called once the server listens (by
    default it prints :data:`READY_MESSAGE` to stderr), so the address is the last line before
    serving.
    """
    from assistant.llm import check_settings

    check_settings()  # a half-set or invalid BUDGET_QA_LLM_* stops the start with a clear message
    _prepare_environment(settings)
    say = progress or logger.info
    say("正在加载程序库…")
    import fastapi
    import gradio as gr
    import uvicorn

    from assistant.engine import Assistant  # imported here: heavy, and only needed to serve
    from assistant.web.api import ASK_LOCK, MAX_BODY_BYTES, build_api
    from assistant.web.guard import RequestGuard

    say("正在打开索引…")
    logger.info("opening index at %s (building it from %s if missing)",
                settings.index_dir, settings.corpus_dir)
    assistant = Assistant.open(settings, build_if_missing=True,
                               progress=_announce_index_build(say, settings.corpus_dir))
    say(f"已载入 {len(assistant.documents())} 份文件；正在准备页面和示例问题…")
    demo = build_ui(assistant, lock=ASK_LOCK)  # the page and the API share one lock
    # no Swagger page (it would load its scripts from a CDN); the schema is at /api/openapi.json
    app = fastapi.FastAPI(title=PAGE_TITLE, docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.include_router(build_api(assistant, lock=ASK_LOCK))  # before the mount: "/" takes the rest
    max_upload = settings.max_upload_mb * 1024 * 1024
    app = gr.mount_gradio_app(app, demo, path="/", server_name=host, server_port=port, ssr_mode=False,
                              show_error=False, max_file_size=max_upload)
    # mounted Blocks never "launch", and Gradio skips its check that a file given to an event came
    # through the upload (it would copy any server path into its cache and hand it on): switch it on
    demo.has_launched = True
    app.add_middleware(RequestGuard, token=settings.access_token, max_upload_bytes=max_upload,
                       route_limits={"/api/ask": MAX_BODY_BYTES})
    on_ready = ready or _say_ready

    class Server(uvicorn.Server):
        async def startup(self, sockets=None) -> None:
            await super().startup(sockets=sockets)
            if self.started:  # listening now (a port in use exits inside startup instead)
                bound = self.servers[0].sockets[0].getsockname()[1] if self.servers else port
                url = page_url(host, bound)
                logger.info("serving %s on %s (HTTP API under /api/)", PAGE_TITLE, url)
                on_ready(url)

    Server(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)).run()
