"""The chat page's audit view: a loaded document's ``check`` findings and, for a chosen finding, the
cited table rows or passages shown with the evidence panel's rendering.

Independent of Gradio widgets (unit-tested with a fake assistant); ``ui.build_ui`` wires it to a
document selector, a button, the findings list and an evidence box.
"""
from __future__ import annotations

import html
import logging
import threading
from pathlib import Path
from typing import Any

from ..model import Citation

log = logging.getLogger(__name__)

#: how the page names the finding categories of :data:`assistant.check.CATEGORIES`
CATEGORY_NAMES = {"arithmetic": "数字加总", "table_narrative": "表文不一致", "missing": "内容缺失",
                  "wording": "文字表述"}
AUDIT_HINT = "选择一个已载入的文件，点击“审核”，列出检查发现的问题；选中一条问题可查看它引用的表格或原文。"


class AuditView:
    """Runs ``check`` on a loaded document (its source file, re-parsed; results kept per document and
    file hash) and renders findings and their evidence."""

    def __init__(self, assistant: Any, lock: Any = None) -> None:
        self.assistant = assistant
        self._lock = lock or threading.Lock()
        self._results: dict[str, tuple[str, Any, list]] = {}  # doc_id → (sha256, parsed, findings)

    def _document(self, doc_id: str | None):
        return next((d for d in self.assistant.documents() if d.doc_id == doc_id), None)

    def run(self, doc_id: str | None) -> tuple[str, list[tuple[str, str]]]:
        """(HTML summary, findings selector choices [(label, "index")]) for ``doc_id``."""
        from ..check import check_document
        from ..errors import BudgetQAError
        from ..parsing.document import parse_file

        doc = self._document(doc_id)
        if doc is None:
            return _note("请先选择一个文件。"), []
        cached = self._results.get(doc.doc_id)
        if cached is None or cached[0] != doc.sha256:
            try:
                parsed = parse_file(Path(doc.path), doc.doc_id)
                found = check_document(parsed)
            except BudgetQAError as err:
                return _note(f"无法审核：{err}"), []
            except Exception:
                log.exception("audit of %s failed", doc.doc_id)
                return _note("审核时出错，请查看服务器日志。"), []
            self._results[doc.doc_id] = cached = (doc.sha256, parsed, found)
        _, parsed, found = cached
        if not found:
            return _note(f"《{doc.title}》：未发现问题。"), []
        counts: dict[str, int] = {}
        for f in found:
            counts[f.category] = counts.get(f.category, 0) + 1
        head = "、".join(f"{CATEGORY_NAMES.get(c, c)} {n} 条" for c, n in counts.items())
        items = "".join(f"<li><b>[{html.escape(CATEGORY_NAMES.get(f.category, f.category))}]</b> "
                        f"{html.escape(f.message)}<br><small>{html.escape(_where(f.citations))}</small></li>"
                        for f in found)
        summary = (f'<div class="bqa-ev"><div class="bqa-ev-title">{html.escape(doc.title)}：共 {len(found)} 条'
                   f"（{html.escape(head)}）</div><ol>{items}</ol></div>")
        choices = [(f"{i + 1}. [{CATEGORY_NAMES.get(f.category, f.category)}] {f.message[:60]}", str(i))
                   for i, f in enumerate(found)]
        return summary, choices

    def evidence(self, doc_id: str | None, choice: str | None) -> str:
        """The cited table rows (cell highlighted) or passages of finding ``choice`` of ``doc_id``."""
        from .ui import render_passage_evidence, render_table_evidence

        cached = self._results.get(doc_id or "")
        try:
            index = int(choice or -1)
        except ValueError:
            index = -1
        if cached is None or not 0 <= index < len(cached[2]):
            return _note(AUDIT_HINT)
        _, parsed, found = cached
        finding = found[index]
        doc = parsed.document
        out = [f'<div class="bqa-ev bqa-ev-formula">{html.escape(finding.message)}</div>']
        for locator, line, page in finding.citations:
            cite = self._citation(parsed, locator, line, page)
            try:
                with self._lock:
                    if cite.kind == "table" and cite.table_id:
                        view = self.assistant.table_view(cite.table_id)
                        out.append(render_table_evidence(view, cite) if view is not None
                                   else render_passage_evidence(None, cite))
                    else:
                        view = self.assistant.passage_view(doc.doc_id, cite.line, cite.quote) if cite.line else None
                        out.append(render_passage_evidence(view, cite))
            except Exception:
                log.exception("could not show the evidence of %s", locator)
                out.append(render_passage_evidence(None, cite))
        return "".join(out)

    @staticmethod
    def _citation(parsed, locator: str, line: int, page: int | None) -> Citation:
        """A finding's (locator, line, page) as a page citation: the table cell it names (table id
        and column, for highlighting), else the passage at that line."""
        doc = parsed.document
        for f in parsed.facts:
            if f.source == "table" and f.line == line and f.locator == locator:
                return Citation(doc.doc_id, doc.title, locator, f.quote, line, f.page, "table",
                                table_id=f.table_id, column=f.col_index)
        passage = next((p for p in parsed.passages if p.line == line), None)
        quote = passage.text if passage is not None else ""
        return Citation(doc.doc_id, doc.title, locator, quote, line, page, "passage")


def _where(citations) -> str:
    return " ↔ ".join(f"{loc}（{'第%d页' % page if page else '第%d行' % line}）" for loc, line, page in citations)


def _note(text: str) -> str:
    return f'<div class="bqa-ev bqa-ev-note">{html.escape(text)}</div>'
