"""Whether figures read by OCR may be given as exact: the document's own arithmetic decides.

An OCR misreading (a 3 read as 8, a lost digit) changes a figure without any sign in the text, so a
figure read from an image is trusted only as far as the document lets us check it. The checks are
those of ``budget-qa check`` (:mod:`assistant.check`), applied to a document with OCR'd pages:

- ``total_mismatch`` inside a table on an OCR'd page (a total that is not the sum of its parts):
  which cell was misread cannot be told, so every OCR'd figure of that table gets ``exact=False``;
- ``cross_table_mismatch`` / ``table_narrative_mismatch`` with one side on an OCR'd page: that
  OCR'd figure gets ``exact=False`` (the other side, if read from a text layer, stays as it is).

Each such page is reported in the document's warnings with its page number and the finding, so the
ingest output names it. Figures whose table holds no total to check stay ``exact=True`` but keep
``ocr=True`` (their citation says "图像识别").
"""
from __future__ import annotations

import logging
from dataclasses import replace

from .check import check_document
from .model import Fact
from .parsing.document import ParsedDocument

log = logging.getLogger(__name__)


def check_ocr_figures(parsed: ParsedDocument) -> list[str]:
    """Mark OCR'd figures that fail the document's arithmetic as not exact (in place) and add one
    warning per such page. Returns the places whose OCR cannot be trusted, in finding order:
    "第3页" for a PDF page or image file page, "第120行处的图片" for a figure in a web page's picture."""
    ocr_facts = [f for f in parsed.facts if f.ocr]
    if not ocr_facts:
        return []
    by_cite: dict[tuple[int, int | None], list[Fact]] = {}
    for f in ocr_facts:
        by_cite.setdefault((f.line, f.page), []).append(f)
    untrusted_tables: set[str] = set()
    untrusted_facts: set[str] = set()
    page_reasons: dict[str, list[str]] = {}
    for finding in check_document(parsed):
        if finding.kind not in ("total_mismatch", "cross_table_mismatch", "table_narrative_mismatch"):
            continue
        for locator, line, page in finding.citations:
            hits = [f for f in by_cite.get((line, page), []) if locator.startswith(f.locator)]
            if not hits:
                continue
            if finding.kind == "total_mismatch":
                untrusted_tables.update(f.table_id for f in hits if f.table_id)
            untrusted_facts.update(f.fact_id for f in hits)
            # a web page's picture has no page: it is named by the source line of the figure
            where = f"第{page}页" if page else f"第{min(f.line for f in hits)}行处的图片"
            reasons = page_reasons.setdefault(where, [])
            if finding.message not in reasons:
                reasons.append(finding.message)
    if not page_reasons:
        return []
    parsed.facts = [replace(f, exact=False) if f.ocr and (f.fact_id in untrusted_facts
                                                          or f.table_id in untrusted_tables) else f
                    for f in parsed.facts]
    for where, reasons in page_reasons.items():
        msg = f"{where}（图像识别）的数字未通过核对，不作为精确数字回答：" + "；".join(reasons)
        parsed.warnings.append(msg)
        log.warning("%s: %s", parsed.document.doc_id, msg)
    return list(page_reasons)
