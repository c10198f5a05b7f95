"""Test helper: render a disclosure .txt (the corpus layout) into a PDF with real table structure.

No real published PDF is in the corpus yet, so the PDF tests run on PDFs generated here from the
corpus text. The rendering follows what published 部门预算 PDFs look like:

* narrative lines become CJK-wrapped paragraphs (long lines wrap over several PDF text lines);
* every block of tab-separated lines (blank lines inside a block are skipped) becomes one reportlab
  ``Table`` drawn with a full GRID, one cell per tab-separated cell; empty cells are kept, and rows
  with fewer cells are padded on the right so that the grid is rectangular;
* the title line and the 部门名称/单位 meta lines before a table stay ordinary text lines, as do the
  notes after it;
* long tables are split over pages by reportlab, with the header rows repeated on each page
  (``repeatRows``), and every page has a centred page number in its footer.

The page is A3 landscape so that the 14-column 绩效目标表 fits with a small font; only long text
cells wrap. Requires reportlab (test extra) and the WenQuanYi Micro Hei font (fonts-wqy-microhei).
"""
from __future__ import annotations

import re
from pathlib import Path
from xml.sax.saxutils import escape

FONT_PATH = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")
FONT_NAME = "WQYMicroHei"

_AMOUNT = re.compile(r"^-?\d{1,3}(?:,\d{3})*\.\d+$|^-?\d+\.\d+$")
_MAX_REPEAT_ROWS = 3


def _register_font() -> None:
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.ttfonts import TTFont

    if FONT_NAME not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(TTFont(FONT_NAME, str(FONT_PATH), subfontIndex=0))


def split_blocks(text: str) -> list[tuple[str, object]]:
    """("text", line) for every non-blank narrative line and ("table", rows) for every run of
    tab-separated lines (blank lines between tab lines do not end the run)."""
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    blocks: list[tuple[str, object]] = []
    i, n = 0, len(lines)
    while i < n:
        line = lines[i]
        if "\t" in line:
            rows: list[list[str]] = []
            while i < n and ("\t" in lines[i] or not lines[i].strip()):
                if "\t" in lines[i]:
                    rows.append(lines[i].split("\t"))
                else:
                    nxt = next((x for x in lines[i + 1:] if x.strip()), "")
                    if "\t" not in nxt:  # blank lines not followed by a tab line end the table
                        break
                i += 1
            blocks.append(("table", rows))
            continue
        if line.strip():
            blocks.append(("text", line))
        i += 1
    return blocks


def _header_rows(rows: list[list[str]]) -> int:
    """Rows before the first row holding an amount: the header repeated on continuation pages."""
    for k, row in enumerate(rows):
        if any(_AMOUNT.match(c.strip()) for c in row):
            return min(k, _MAX_REPEAT_ROWS)
    return 0


def _column_widths(rows: list[list[str]], width: int, avail: float, font_size: float,
                   pad: float) -> list[float]:
    """Natural width of each column (its widest cell on one line); if the table is too wide, the
    widest columns are capped (their long cells wrap) so that the table fits ``avail``."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    natural = [2 * pad + 4.0] * width
    for row in rows:
        for c, cell in enumerate(row):
            w = stringWidth(cell.strip(), FONT_NAME, font_size) + 2 * pad + 2
            natural[c] = max(natural[c], w)
    if sum(natural) <= avail:
        return natural
    lo, hi = 0.0, max(natural)
    for _ in range(40):  # largest cap t with sum(min(w, t)) <= avail
        mid = (lo + hi) / 2
        if sum(min(w, mid) for w in natural) <= avail:
            lo = mid
        else:
            hi = mid
    return [min(w, lo) for w in natural]


def text_to_pdf(text: str, out: Path, *, font_size: float = 7.0, title: str = "",
                pagesize: tuple[float, float] | None = None, user_password: str | None = None) -> Path:
    """Render disclosure text (see module docstring) into ``out``; returns ``out``.

    ``pagesize`` defaults to A3 landscape; smaller pages make more table cells wrap.
    ``user_password`` encrypts the PDF (standard security handler): it cannot be opened without it."""
    from reportlab.lib import colors
    from reportlab.lib.pagesizes import A3, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

    _register_font()
    out = Path(out)
    pagesize = pagesize or landscape(A3)
    margin = 36.0
    doc = SimpleDocTemplate(str(out), pagesize=pagesize, leftMargin=margin, rightMargin=margin,
                            topMargin=margin, bottomMargin=margin, title=title or out.stem,
                            author="budget-qa tests", encrypt=user_password)
    body = ParagraphStyle("body", fontName=FONT_NAME, fontSize=10, leading=14, wordWrap="CJK",
                          spaceAfter=5)
    cell_style = ParagraphStyle("cell", fontName=FONT_NAME, fontSize=font_size,
                                leading=font_size * 1.3, wordWrap="CJK")
    pad = 2.5
    avail = pagesize[0] - 2 * margin
    story = []
    for kind, content in split_blocks(text):
        if kind == "text":
            story.append(Paragraph(escape(str(content)), body))
            continue
        rows = [list(r) for r in content]  # type: ignore[union-attr]
        width = max(len(r) for r in rows)
        rows = [r + [""] * (width - len(r)) for r in rows]
        widths = _column_widths(rows, width, avail, font_size, pad)
        data = [[Paragraph(escape(c.strip()), cell_style) if c.strip() else "" for c in r] for r in rows]
        table = Table(data, colWidths=widths, repeatRows=_header_rows(rows), hAlign="LEFT")
        table.setStyle(TableStyle([
            ("GRID", (0, 0), (-1, -1), 0.5, colors.black),
            ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
            ("LEFTPADDING", (0, 0), (-1, -1), pad),
            ("RIGHTPADDING", (0, 0), (-1, -1), pad),
            ("TOPPADDING", (0, 0), (-1, -1), 1.5),
            ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
        ]))
        story.extend([Spacer(1, 3), table, Spacer(1, 8)])

    def footer(canvas, doc_):
        canvas.saveState()
        canvas.setFont(FONT_NAME, 9)
        canvas.drawCentredString(pagesize[0] / 2, margin / 2, f"- {doc_.page} -")
        canvas.restoreState()

    doc.build(story, onFirstPage=footer, onLaterPages=footer)
    return out


def txt_file_to_pdf(src: Path, out: Path, **kw) -> Path:
    """Render a UTF-8 disclosure .txt file into a PDF (see :func:`text_to_pdf`)."""
    return text_to_pdf(Path(src).read_text(encoding="utf-8"), out, **kw)
