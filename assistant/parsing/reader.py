"""Reading source files into text lines: encoding detection for .txt, pdfplumber for .pdf.

Errors are :class:`~assistant.errors.IngestError` with a message naming the file and the fault.
"""
from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import IngestError
from .limits import IngestLimits, check_pdf, check_text
from .textlayer import settle_text_layer

log = logging.getLogger(__name__)

#: Largest source file accepted (bytes). Disclosures are well under 5 MB of text.
MAX_FILE_BYTES = 20 * 1024 * 1024
SUPPORTED_SUFFIXES = (".txt", ".pdf")


@dataclass(frozen=True)
class SourceText:
    """Text of a source file: ``lines`` (no trailing newlines) and, for PDFs, the page of each line."""

    path: Path
    lines: list[str]
    pages: list[int] | None
    encoding: str
    raw: bytes
    #: remarks for the ingest summary (e.g. pages dropped as font garbage, see textlayer)
    notes: tuple[str, ...] = ()


def read_source(path: Path, limits: IngestLimits | None = None) -> SourceText:
    """Read a .txt (UTF-8, GBK/GB18030 detected) or .pdf file.

    Raises IngestError: missing, unsupported type, empty, too large, binary or undecodable text, over
    a limit of ``limits`` (pages, characters, decompressed streams: see :mod:`.limits`), or without
    usable text (font garbage: see :mod:`.textlayer`).
    """
    src = _read_source(Path(path), limits or IngestLimits())
    check_text(src.lines, src.path.name, limits or IngestLimits())
    return settle_text_layer(src)


def _read_source(path: Path, limits: IngestLimits) -> SourceText:
    path = Path(path)
    if not path.is_file():
        raise IngestError(f"找不到文件：{path}")
    suffix = path.suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(f"不支持的文件类型 {suffix or '(无扩展名)'}：{path.name}（支持 .txt、.pdf）")
    size = path.stat().st_size
    if size == 0:
        raise IngestError(f"文件为空：{path.name}")
    if size > MAX_FILE_BYTES:
        raise IngestError(f"文件过大：{path.name}（{size // (1024 * 1024)} MB，上限 {MAX_FILE_BYTES // (1024 * 1024)} MB）")
    raw = path.read_bytes()
    if suffix == ".pdf":
        check_pdf(raw, path.name, limits)  # pages, characters, decompressed streams: before pdfplumber
        return _read_pdf(path, raw)
    text, encoding = decode_text(raw, path.name)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not any(line.strip() for line in lines):
        raise IngestError(f"文件没有文字内容：{path.name}")
    return SourceText(path, lines, None, encoding, raw)


def decode_text(raw: bytes, name: str = "") -> tuple[str, str]:
    """Decode bytes as UTF-8 (with or without BOM), else GB18030 (a superset of GBK/GB2312), else
    the encoding charset-normalizer detects if the result is Chinese text.

    Raises IngestError for binary content (NUL bytes) or bytes no Chinese encoding decodes.
    """
    if b"\x00" in raw[:4096]:
        raise IngestError(f"文件不是文本（含二进制内容）：{name}")
    for enc in ("utf-8-sig", "gb18030"):
        try:
            text = raw.decode(enc)
        except UnicodeDecodeError:
            continue
        if _looks_like_text(text):
            return text, enc
    # last resort: a detector, but only for Chinese text (e.g. Big5); Latin-1/cp1252 guesses for
    # bytes that are neither UTF-8 nor GB18030 are not disclosures and would ingest as mojibake
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is not None and _looks_like_text(str(best)) and _mostly_chinese(str(best)):
        return str(best), best.encoding
    raise IngestError(f"无法识别文件编码（既不是 UTF-8 也不是 GBK/GB18030）：{name}")


def _mostly_chinese(text: str) -> bool:
    """At least a fifth of the non-space characters are CJK ideographs or full-width punctuation."""
    chars = [ch for ch in text[:20000] if not ch.isspace()]
    cjk = sum(1 for ch in chars if "\u4e00" <= ch <= "\u9fff" or "\u3000" <= ch <= "\u303f"
              or "\uff00" <= ch <= "\uffef")
    return bool(chars) and cjk * 5 >= len(chars)


def _looks_like_text(text: str) -> bool:
    if not text.strip():
        return False
    bad = sum(1 for ch in text[:20000] if (ord(ch) < 32 and ch not in "\t\n\r\f") or ch == "\ufffd")
    return bad <= max(2, len(text[:20000]) // 1000)


_PAGE_NUMBER = re.compile(r"^\s*(?:[-—–－]\s*\d{1,4}\s*[-—–－]|\d{1,4}|第\s*\d{1,4}\s*页(?:\s*[,，/]?\s*共\s*\d{1,4}\s*页)?"
                          r"|\d{1,4}\s*/\s*\d{1,4})\s*$")
#: share of the page height at the top and bottom where a lone page number is a header/footer
_MARGIN_BAND = 0.08


def _read_pdf(path: Path, raw: bytes) -> SourceText:
    """Text of every page in reading order, tables as tab-separated rows, page number per line.

    Table rows keep empty cells (column positions as in the .txt layout); text lines wrapped by the
    PDF layout are joined back into one line; lone page numbers in the header/footer band are
    dropped; a table continued on the next page loses its repeated header rows.
    """
    try:
        import pdfplumber
    except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
        raise IngestError("读取 PDF 需要 pdfplumber") from exc
    broken = f"无法读取 PDF（文件损坏或已加密）：{path.name}"
    # a complete PDF starts with %PDF- and ends with %%EOF; pdfminer would otherwise silently
    # recover whatever pages a truncated file still holds
    if b"%PDF-" not in raw[:1024] or b"%%EOF" not in raw[-2048:]:
        log.info("PDF %s: header or %%%%EOF marker missing (truncated?)", path.name)
        raise IngestError(broken)
    page_items: list[list[_Item]] = []
    try:
        with pdfplumber.open(io.BytesIO(raw)) as pdf:
            for page in pdf.pages:
                page_items.append(_pdf_page_items(page))
    except IngestError:
        raise
    except Exception as exc:  # pdfminer raises many types for broken/encrypted files
        log.info("PDF %s unreadable: %s: %s", path.name, type(exc).__name__, exc)
        raise IngestError(broken) from exc
    if not any(it.text.strip() or any(any(c.strip() for c in r) for r in it.rows)
               for items in page_items for it in items):
        raise IngestError(f"PDF 中没有可提取的文字（可能是扫描件）：{path.name}")
    lines, pages = _pdf_lines(page_items)
    return SourceText(path, lines, pages, "pdf", raw)


@dataclass
class _Item:
    """One text line or one table of a page, with its position (PDF points, top-down)."""

    kind: str  # "text" | "table"
    top: float
    bottom: float
    x0: float
    x1: float
    page: int
    page_width: float
    left: float  # left edge of the page's content (smallest x0)
    text: str = ""
    size: float = 0.0
    first_w: float = 0.0  # width of the line's first unbreakable piece (a number, a word, a 字 + 。)
    rows: list[list[str]] = field(default_factory=list)


_WORD_CHAR = re.compile(r"[A-Za-z0-9.,%‰\-+/]")
_NO_LINE_START = set("，。、；：？！）》」』”’·…%,.;:?!)]")


def _first_word_width(chars: list[dict]) -> float:
    """Width of what a layout engine could not have split at the start of a line: a Latin word or
    number, else one character, plus the punctuation that may not begin a line."""
    cs = [c for c in chars if c.get("text", "").strip()]
    if not cs:
        return 0.0
    i = 1
    if _WORD_CHAR.match(cs[0]["text"]):
        while i < len(cs) and _WORD_CHAR.match(cs[i]["text"]) and cs[i]["x0"] - cs[i - 1]["x1"] < 1.0:
            i += 1
    while i < len(cs) and cs[i]["text"] in _NO_LINE_START:
        i += 1
    return float(cs[i - 1]["x1"] - cs[0]["x0"])


def _pdf_page_items(page) -> list[_Item]:
    """Text lines outside tables and tables (rows of cell texts) of one page, in reading order."""
    pno = page.page_number
    tables = page.find_tables()
    used: set[int] = set()
    table_rows = []
    for t in tables:
        rows, ids = _table_rows(t, page.chars)
        used |= ids
        table_rows.append((t, rows))
    free = page.filter(lambda obj: obj.get("object_type") != "char" or id(obj) not in used) if used else page
    raw_lines = [tl for tl in free.extract_text_lines() if tl["text"].strip()]
    bboxes = [t.bbox for t in tables]
    xs = [tl["x0"] for tl in raw_lines] + [b[0] for b in bboxes]
    left = min(xs) if xs else 0.0
    items: list[_Item] = []
    height = float(page.height)
    for tl in raw_lines:
        text = tl["text"]
        in_band = tl["bottom"] <= height * _MARGIN_BAND or tl["top"] >= height * (1 - _MARGIN_BAND)
        if in_band and _PAGE_NUMBER.match(text):
            continue
        sizes = [c.get("size", 0.0) for c in tl.get("chars", []) if c.get("text", "").strip()]
        size = max(set(sizes), key=sizes.count) if sizes else tl["bottom"] - tl["top"]
        items.append(_Item("text", tl["top"], tl["bottom"], tl["x0"], tl["x1"], pno, float(page.width),
                           left, text=text, size=float(size),
                           first_w=_first_word_width(tl.get("chars", []))))
    for t, rows in table_rows:
        rows = [r for r in rows if any(c for c in r)] or rows
        x0, top, x1, bottom = t.bbox
        items.append(_Item("table", top, bottom, x0, x1, pno, float(page.width), left, rows=rows))
    items.sort(key=lambda it: (round(it.top, 1), it.x0))
    return items


def _table_rows(table, chars: list[dict]) -> tuple[list[list[str]], set[int]]:
    """Cell texts of a pdfplumber table, row by row (merged cells: text at the first position, ""
    elsewhere), and the ids of the characters used.

    Like ``Table.extract`` a character belongs to the cell that holds its centre, but a character
    just outside every cell of its row (punctuation hanging over a cell border, text overflowing a
    narrow cell) goes to the nearest cell instead of ending up as a stray text line.
    """
    from pdfplumber.utils import extract_text

    x0, top, x1, bottom = table.bbox
    near = [c for c in chars if c["x1"] > x0 - c.get("size", 10) and c["x0"] < x1 + c.get("size", 10)
            and top <= (c["top"] + c["bottom"]) / 2 <= bottom]
    used: set[int] = set()
    out: list[list[str]] = []
    for row in table.rows:
        rtop, rbottom = row.bbox[1], row.bbox[3]
        cells = list(row.cells)
        buckets: list[list[dict]] = [[] for _ in cells]
        for ch in near:
            vm = (ch["top"] + ch["bottom"]) / 2
            if not rtop <= vm < rbottom or id(ch) in used:
                continue
            hm = (ch["x0"] + ch["x1"]) / 2
            best, dist = None, 0.0
            for k, cb in enumerate(cells):
                if cb is None:
                    continue
                d = 0.0 if cb[0] <= hm < cb[2] else min(abs(hm - cb[0]), abs(hm - cb[2]))
                if best is None or d < dist:
                    best, dist = k, d
            if best is not None and dist <= max(ch.get("size", 0.0), 1.0):
                buckets[best].append(ch)
                used.add(id(ch))
        out.append(["" if cb is None or not b else _cell_text(extract_text(b)) for cb, b in zip(cells, buckets)])
    return out, used


def _cell_text(cell: str | None) -> str:
    """A cell's text on one line: lines wrapped inside the cell are joined, tabs become spaces."""
    if not cell:
        return ""
    parts = [p.strip() for p in cell.replace("\t", " ").split("\n")]
    return "".join(p for p in parts if p)


def _continues(a: _Item, b: _Item) -> bool:
    """True if text line ``b`` continues line ``a`` wrapped by the layout: the first word of ``b``
    would not have fitted at the end of ``a`` (right margin taken as equal to the left one), ``b``
    starts at the left margin without indent, in the same font size, and (on the same page)
    directly below ``a``."""
    if a.kind != "text" or b.kind != "text" or not a.size or abs(a.size - b.size) > 0.6:
        return False
    right = a.page_width - a.left
    if a.x1 + b.first_w < right - 0.3 * a.size:
        return False
    if b.x0 > b.left + 0.5 * b.size:
        return False
    if a.page == b.page and not (0 <= b.top - a.bottom <= 0.8 * a.size):
        return False
    return True


def _join_text(a: str, b: str) -> str:
    """Join a wrapped line: directly (Chinese text, numbers), with a space between Latin words."""
    a, b = a.rstrip(), b.lstrip()
    if a and b and _LATIN.match(a[-1]) and _LATIN.match(b[0]):
        return a + " " + b
    return a + b


_LATIN = re.compile(r"[A-Za-z]")


def _pdf_lines(page_items: list[list[_Item]]) -> tuple[list[str], list[int]]:
    """Lines and page numbers: text lines (wrapped lines joined), table rows as tab-joined cells,
    one blank line at the end of each page."""
    lines: list[str] = []
    pages: list[int] = []
    prev: _Item | None = None  # last item emitted (across pages)
    head: list[list[str]] = []  # first rows of the table being continued
    open_text: _Item | None = None  # last text line, still open for a wrapped continuation
    open_idx = -1  # its index in lines (a page-end blank line may follow it)
    for pno, items in enumerate(page_items, start=1):
        for k, it in enumerate(items):
            if it.kind == "text":
                if open_text is not None and prev is open_text and _continues(open_text, it):
                    lines[open_idx] = _join_text(lines[open_idx], it.text)
                    # the joined line keeps the page it starts on; later joins test the new line
                    open_text = _Item("text", it.top, it.bottom, it.x0, it.x1, it.page, it.page_width,
                                      it.left, text=lines[open_idx], size=it.size)
                    prev = open_text
                    continue
                lines.append(it.text)
                pages.append(it.page)
                open_text = prev = it
                open_idx = len(lines) - 1
                continue
            rows = it.rows
            if k == 0 and prev is not None and prev.kind == "table" and prev.page == it.page - 1 and head:
                # a table continued from the previous page: drop its repeated header rows
                n = 0
                while n < min(len(head), len(rows) - 1) and rows[n] == head[n]:
                    n += 1
                rows = rows[n:]
            else:
                head = [list(r) for r in it.rows[:6]]
            for r in rows:
                lines.append("\t".join(r))
                pages.append(it.page)
            prev = it
            open_text = None
        lines.append("")
        pages.append(pno)
    return lines, pages
