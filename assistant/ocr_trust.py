"""Whether figures read by OCR may be given as exact: the document's own arithmetic decides.

An OCR misreading (a 3 read as 8, a lost digit) changes a figure without any sign in the text, so a
figure read from an image is trusted only as far as the document lets us check it. The checks are
those of ``budget-qa check`` (:mod:`assistant.check`), applied to a document with OCR'd pages:

- ``total_mismatch`` inside a table on an OCR'd page (a total that is not the sum of its parts):
  which cell was misread cannot be told, so every OCR'd figure of that table gets ``exact=False``;
- ``cross_table_mismatch`` / ``table_narrative_mismatch`` with one side on an OCR'd page: that
  OCR'd figure gets ``exact=False`` (the other side, if read from a text layer, stays as it is).

Each such page is reported in the document's warnings with its page number and the finding, so the
ingest output names it.

Which OCR'd figures the arithmetic confirms (``ocr_checked``) is found by asking the same checks:
each figure of an OCR'd table is changed by one unit in its last printed digit, on a copy of its table
alone; when that makes a total disagree, a sum covers the figure, and as the table adds up as read,
the figure is confirmed. Figures no total covers (a table without totals, a cell the checks skip)
stay ``exact=True, ocr_checked=False``: read without contradiction, but unconfirmed. At most
:data:`MAX_COVERAGE_CHECKS` figures per document are tried (the rest stay unconfirmed).
"""
from __future__ import annotations

import logging
from dataclasses import replace
from decimal import Decimal, InvalidOperation

from .check import check_document
from .model import Fact
from .parsing.document import ParsedDocument
from .parsing.numbers import decimals_of

log = logging.getLogger(__name__)

#: most figures per document whose coverage by a total is tried (each try checks one table copy)
MAX_COVERAGE_CHECKS = 5000


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
    _mark_checked(parsed, untrusted_tables | {f.table_id for f in ocr_facts if f.fact_id in untrusted_facts})
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


def _bumped(text: str) -> str | None:
    """The printed figure plus one unit of its last digit, printed alike ("1,234.50" → "1,234.51")."""
    places = decimals_of(text)
    try:
        value = Decimal(text.replace(",", "")) + Decimal(1).scaleb(-places)
    except InvalidOperation:
        return None
    out = f"{value:,.{places}f}" if "," in text else f"{value:.{places}f}"
    return out


def _mark_checked(parsed: ParsedDocument, skip_tables: set[str]) -> None:
    """Set ``ocr_checked`` on OCR'd table figures that a total of their (consistent) table covers."""
    by_table: dict[str, list[Fact]] = {}
    for f in parsed.facts:
        if f.source == "table" and f.table_id:
            by_table.setdefault(f.table_id, []).append(f)
    tables = {t.table_id: t for t in parsed.tables}
    checked: set[str] = set()
    budget = MAX_COVERAGE_CHECKS
    for table_id, facts in by_table.items():
        if table_id in skip_tables or table_id not in tables or not any(f.ocr for f in facts):
            continue
        mini = ParsedDocument(parsed.document, [], [tables[table_id]], facts)
        base = {(x.kind, x.message) for x in check_document(mini)}
        if any(kind == "total_mismatch" for kind, _ in base):
            continue  # the table does not add up as read: nothing in it is confirmed
        for i, f in enumerate(facts):
            if not f.ocr or f.role != "amount" or f.value is None or budget <= 0:
                continue
            text = _bumped(f.value_text.strip())
            if text is None:
                continue
            budget -= 1
            changed = facts[:i] + [replace(f, value_text=text, value=float(text.replace(",", "")))] + facts[i + 1:]
            found = check_document(ParsedDocument(parsed.document, [], [tables[table_id]], changed))
            if any(x.kind == "total_mismatch" and (x.kind, x.message) not in base for x in found):
                checked.add(f.fact_id)
    if checked:
        parsed.facts = [replace(f, ocr_checked=True) if f.fact_id in checked else f for f in parsed.facts]
