"""Reading source files into text lines: encoding detection for .txt, pdfplumber for .pdf.

Errors are :class:`~assistant.errors.IngestError` with a message naming the file and the fault.
"""
from __future__ import annotations

import io
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import IngestError
from .limits import IngestLimits, check_pdf, check_text
from .textlayer import settle_text_layer

log = logging.getLogger(__name__)

#: Largest source file accepted (bytes). Disclosures are well under 5 MB of text.
MAX_FILE_BYTES = 20 * 1024 * 1024
#: image files are read by OCR (:mod:`.scanned`)
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".gif")
SUPPORTED_SUFFIXES = (".txt", ".pdf") + IMAGE_SUFFIXES


@dataclass(frozen=True)
class SourceText:
    """Text of a source file: ``lines`` (no trailing newlines) and, for PDFs, the page of each line."""

    path: Path
    lines: list[str]
    pages: list[int] | None
    encoding: str
    raw: bytes
    #: for PDFs: 0-based line index of each emitted table row → (its ruled grid, grid row)
    table_rows: dict[int, tuple[Any, int]] | None = None
    #: 1-based numbers of the lines read by OCR from images (every line of a PDF page that has an
    #: image read by OCR; the lines of a web page's pictures appended to its text)
    ocr_lines: frozenset[int] = frozenset()
    #: remarks for the ingest summary (e.g. pages dropped as font garbage, see textlayer)
    notes: tuple[str, ...] = ()


def read_source(path: Path, limits: IngestLimits | None = None) -> SourceText:
    """Read a .txt (UTF-8, GBK/GB18030 detected), .pdf or image (.png/.jpg/.jpeg/.gif, by OCR) file.

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
        raise IngestError(f"不支持的文件类型 {suffix or '(无扩展名)'}：{path.name}（支持 .txt、.pdf、.png、.jpg、.gif）")
    size = path.stat().st_size
    if size == 0:
        raise IngestError(f"文件为空：{path.name}")
    if size > MAX_FILE_BYTES:
        raise IngestError(f"文件过大：{path.name}（{size // (1024 * 1024)} MB，上限 {MAX_FILE_BYTES // (1024 * 1024)} MB）")
    raw = path.read_bytes()
    if suffix == ".pdf":
        check_pdf(raw, path.name, limits)  # pages, characters, decompressed streams: before pdfplumber
        return _read_pdf(path, raw)
    if suffix in IMAGE_SUFFIXES:
        from .scanned import read_image_source

        return read_image_source(path, raw)
    text, encoding = decode_text(raw, path.name)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not any(line.strip() for line in lines):
        raise IngestError(f"文件没有文字内容：{path.name}")
    src = SourceText(path, lines, None, encoding, raw)
    from .scanned import companion_images, with_images

    images = companion_images(path)  # a web page's tables published as pictures
    return with_images(src, images) if images else src


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
    from .scanned import ocr_page_items

    page_items: list[list[_Item]] = []
    ocr_pages: set[int] = set()
    try:
        with pdfplumber.open(io.BytesIO(raw)) as pdf:
            for page in pdf.pages:
                items = _pdf_page_items(page)
                ocr_items = ocr_page_items(page, raw, len(pdf.pages))  # text shown only as images
                if ocr_items:
                    ocr_pages.add(page.page_number)
                    items = sorted(items + ocr_items, key=lambda it: (round(it.top, 1), it.x0))
                page_items.append(items)
    except IngestError:
        raise
    except Exception as exc:  # pdfminer raises many types for broken/encrypted files
        log.info("PDF %s unreadable: %s: %s", path.name, type(exc).__name__, exc)
        raise IngestError(broken) from exc
    if not any(it.text.strip() or any(any(c.strip() for c in r) for r in it.rows)
               for items in page_items for it in items):
        raise IngestError(f"PDF 中没有可提取的文字（可能是扫描件）：{path.name}")
    lines, pages, table_rows = _pdf_lines(page_items)
    ocr_lines = frozenset(i for i, p in enumerate(pages, start=1) if p in ocr_pages)
    return SourceText(path, lines, pages, "pdf", raw, table_rows, ocr_lines)


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
    grid: Any = None  # pdf_tables.Grid of a table item
    line_gap: float = 0.0  # the page's usual gap between consecutive text lines (its line spacing)


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
    from .pdf_tables import page_grids

    pno = page.page_number
    grids, used = page_grids(page)
    free = page.filter(lambda obj: obj.get("object_type") != "char" or id(obj) not in used) if used else page
    raw_lines = [tl for tl in free.extract_text_lines() if tl["text"].strip()]
    bboxes = [g.bbox for g in grids]
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
    gaps = [round(b.top - a.bottom) for a, b in zip(items, items[1:]) if 0 <= b.top - a.bottom <= 2.0 * a.size]
    if gaps:
        usual = max(set(gaps), key=gaps.count)
        for it in items:
            it.line_gap = float(usual)
    for g in grids:
        x0, top, x1, bottom = g.bbox
        items.append(_Item("table", top, bottom, x0, x1, pno, float(page.width), left, rows=g.text_rows(), grid=g))
    items.sort(key=lambda it: (round(it.top, 1), it.x0))
    return items


def _continues(a: _Item, b: _Item) -> bool:
    """True if text line ``b`` continues line ``a`` wrapped by the layout: the first word of ``b``
    would not have fitted at the end of ``a`` (right margin taken as equal to the left one), ``b``
    starts at the left margin without indent, in the same font size, and (on the same page)
    directly below ``a`` (0.8 line heights apart, or the page's usual line spacing when the page is
    set with wide spacing and ``a`` does not end a sentence)."""
    if a.kind != "text" or b.kind != "text" or not a.size or abs(a.size - b.size) > 0.6:
        return False
    right = a.page_width - a.left
    if a.x1 + b.first_w < right - 0.3 * a.size:
        return False
    if b.x0 > b.left + 0.5 * b.size:
        return False
    if a.page == b.page and not (0 <= b.top - a.bottom <= 0.8 * a.size):
        # wide line spacing (the page's usual gap): the gap cannot tell a paragraph break, so a
        # sentence end or a numbered item still starts a new line
        wide = a.line_gap > 0.8 * a.size and 0 <= b.top - a.bottom <= min(a.line_gap + 1.0, 1.5 * a.size)
        if not wide or a.text.rstrip()[-1:] in "。！？；：" or _ITEM_START.match(b.text):
            return False
    return True


_ITEM_START = re.compile(r"^\s*(?:[（(]?[一二三四五六七八九十\d]{1,3}[)）、.．])(?!\d)")


def _join_text(a: str, b: str) -> str:
    """Join a wrapped line: directly (Chinese text, numbers), with a space between Latin words."""
    a, b = a.rstrip(), b.lstrip()
    if a and b and _LATIN.match(a[-1]) and _LATIN.match(b[0]):
        return a + " " + b
    return a + b


_LATIN = re.compile(r"[A-Za-z]")


def _pdf_lines(page_items: list[list[_Item]]) -> tuple[list[str], list[int], dict[int, tuple[Any, int]]]:
    """Lines, page numbers and the grid row of each table line: text lines (wrapped lines joined),
    table rows as tab-joined cells (empty rows dropped), one blank line at the end of each page.

    A table that opens a page with the same columns as the table that closed the previous page
    continues it: its rows repeating the first table's header are dropped."""
    lines: list[str] = []
    pages: list[int] = []
    table_rows: dict[int, tuple[Any, int]] = {}
    prev: _Item | None = None  # last item emitted (across pages)
    head: list[list[str]] = []  # header rows of the table being continued
    head_grid = None
    open_text: _Item | None = None  # last text line, still open for a wrapped continuation
    open_idx = -1  # its index in lines (a page-end blank line may follow it)
    for pno, items in enumerate(page_items, start=1):
        for k, it in enumerate(items):
            if it.kind == "text":
                if open_text is not None and prev is open_text and _continues(open_text, it):
                    lines[open_idx] = _join_text(lines[open_idx], it.text)
                    # the joined line keeps the page it starts on; later joins test the new line
                    open_text = _Item("text", it.top, it.bottom, it.x0, it.x1, it.page, it.page_width,
                                      it.left, text=lines[open_idx], size=it.size, line_gap=it.line_gap)
                    prev = open_text
                    continue
                lines.append(it.text)
                pages.append(it.page)
                open_text = prev = it
                open_idx = len(lines) - 1
                continue
            for caption in (it.grid.captions if it.grid is not None else []):
                lines.append(caption)
                pages.append(it.page)
            opens_page = k == 0 and prev is not None and prev.kind == "table" and prev.page == it.page - 1
            if opens_page and head_grid is not None and it.grid is not None and not it.grid.captions \
                    and not head_grid.same_columns(it.grid):
                wider = it.grid.remapped(head_grid)  # merged cells hide some column borders
                if wider is not None:
                    it = _Item("table", it.top, it.bottom, it.x0, it.x1, it.page, it.page_width, it.left,
                               rows=wider.text_rows(), grid=wider)
            rows = list(enumerate(it.rows))
            continued = (opens_page and head and not (it.grid is not None and it.grid.captions)
                         and (head_grid is None or it.grid is None or head_grid.same_columns(it.grid)))
            if continued:
                # a table continued from the previous page: drop its repeated header rows
                n = 0
                while n < min(len(head), len(rows) - 1) and rows[n][1] == head[n]:
                    n += 1
                rows = rows[n:]
            else:
                n_head = it.grid.header_rows() if it.grid is not None else 6
                head = [list(r) for r in it.rows[:max(1, min(n_head, 6))]]
                head_grid = it.grid
            blank_table = not any(c for cells in it.rows for c in cells)
            for r, cells in rows:
                if not blank_table and not any(c for c in cells):
                    continue
                if it.grid is not None:
                    table_rows[len(lines)] = (it.grid, r)
                lines.append("\t".join(cells))
                pages.append(it.page)
            prev = it
            open_text = None
        lines.append("")
        pages.append(pno)
    return lines, pages, table_rows
