"""Whether extracted text is text: pages whose text layer is font garbage count as pages without text.

A PDF whose fonts carry no Unicode mapping extracts as ``(cid:12)(cid:6)…`` (pdfminer's notation for a
glyph it cannot name), and a damaged file can map glyphs to nothing readable. Such a page is treated
like a scanned one: it has no usable text. :func:`pages_without_text` is the hook for OCR (issue 18):
it lists the pages (1-based) that need it; :func:`settle_text_layer` applies the rules to a
:class:`~assistant.parsing.reader.SourceText`:

- no page with usable text → IngestError naming the pages;
- lines of garbled pages (without usable text, with ``(cid:N)`` tokens) are blanked, and the pages
  are noted in ``SourceText.notes``; empty pages stay as they are;
- a stray ``(cid:N)`` left on a readable page becomes "□", and a number touching one becomes "□"
  throughout (so "1(cid:5)3.5" can never be read as 3.5).

A page has usable text when, once ``(cid:N)`` tokens are removed, it holds CJK characters and the
tokens are not the majority of its characters. Disclosures are Chinese: a page without a single
Chinese character is not read as one.
"""
from __future__ import annotations

import re
from dataclasses import replace

from ..errors import IngestError

CID_TOKEN = re.compile(r"\(cid:\d+\)")
UNKNOWN_GLYPH = "□"
_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
#: a number run touching an unknown glyph: the whole run is unreadable
_NUMBER_WITH_UNKNOWN = re.compile(r"[\d.,，．%]*□[\d.,，．%□]*")


def is_usable_text(text: str) -> bool:
    """True if ``text`` (one page, or a whole document without pages) is readable Chinese text:
    CJK characters present and ``(cid:N)`` tokens not the majority of its characters."""
    tokens = len(CID_TOKEN.findall(text))
    rest = CID_TOKEN.sub("", text)
    readable = sum(1 for ch in rest if not ch.isspace())
    return bool(_CJK.search(rest)) and tokens <= readable


def page_texts(lines: list[str], pages: list[int]) -> dict[int, str]:
    """The text of each page (1-based page number → its lines joined)."""
    out: dict[int, list[str]] = {}
    for line, page in zip(lines, pages):
        out.setdefault(page, []).append(line)
    return {p: "\n".join(ls) for p, ls in sorted(out.items())}


def pages_without_text(src) -> list[int]:
    """Pages of ``src`` (a SourceText read from a PDF) without usable text: empty (scanned) or font
    garbage. [] for a text file. This is where OCR plugs in: these are the pages to recognise."""
    if not src.pages:
        return []
    return [p for p, text in page_texts(src.lines, src.pages).items() if not is_usable_text(text)]


def clean_line(line: str) -> str:
    """A line of a readable page with its stray ``(cid:N)`` tokens as "□" (numbers touching one
    become "□" as a whole)."""
    if "(cid:" not in line:
        return line
    line = CID_TOKEN.sub(UNKNOWN_GLYPH, line)
    return _NUMBER_WITH_UNKNOWN.sub(lambda m: UNKNOWN_GLYPH * len(m.group(0)), line)


def format_pages(pages: list[int]) -> str:
    """Page numbers as ranges: [1, 2, 3, 7] → "第 1–3、7 页"."""
    spans: list[list[int]] = []
    for p in sorted(pages):
        if spans and p == spans[-1][1] + 1:
            spans[-1][1] = p
        else:
            spans.append([p, p])
    return "第 " + "、".join(f"{a}–{b}" if b > a else f"{a}" for a, b in spans) + " 页"


def settle_text_layer(src):
    """``src`` with the rules above applied (a new SourceText; the same object when nothing changes).

    Raises IngestError when no page (or, for a text file, nothing) has usable text.
    """
    name = src.path.name
    if not src.pages:
        if not is_usable_text("\n".join(src.lines)):
            raise IngestError(f"文件的文字无法识别（乱码或没有中文）：{name}")
        if not any("(cid:" in line for line in src.lines):
            return src
        return replace(src, lines=[clean_line(line) for line in src.lines])
    bad = pages_without_text(src)
    total = len(set(src.pages))
    if len(bad) >= total:
        raise IngestError(f"PDF 中没有可识别的文字（{format_pages(bad)}：文字层是乱码或为空，可能是扫描件或字体缺少编码）："
                          f"{name}")
    if not bad and not any("(cid:" in line for line in src.lines):
        return src
    texts = page_texts(src.lines, src.pages)
    # pages without text keep what they have (nothing, or figures without labels); garbled ones go
    garbled = [p for p in bad if CID_TOKEN.search(texts[p])]
    dropped = set(garbled)
    lines = ["" if page in dropped else clean_line(line) for line, page in zip(src.lines, src.pages)]
    notes = list(getattr(src, "notes", ()) or ())
    if garbled:
        notes.append(f"{format_pages(garbled)}的文字层是乱码（字体缺少编码），未入库")
    return replace(src, lines=lines, notes=tuple(notes))


def is_readable_name(text: str) -> bool:
    """True if a title or department name can be shown: Chinese characters, no unknown glyph."""
    return bool(text) and UNKNOWN_GLYPH not in text and "(cid:" not in text and bool(_CJK.search(text))


def settle_identity(parsed):
    """A parsed document whose title or department cannot be read (garbage, no Chinese) is never
    listed under it: the title becomes the file name, the department "" (the document is then found
    by its file name and year), with a warning. Returns ``parsed`` (changed in place)."""
    doc = parsed.document
    title_ok = is_readable_name(doc.title)
    dept_ok = not doc.department or is_readable_name(doc.department)
    if title_ok and dept_ok:
        return parsed
    from pathlib import Path

    parsed.document = replace(doc, title=doc.title if title_ok else Path(doc.path).stem,
                              department=doc.department if dept_ok else "")
    unread = "、".join(w for w, ok in (("标题", title_ok), ("部门名称", dept_ok)) if not ok)
    parsed.warnings.append(f"无法读取文件的{unread}（文字层乱码或为空），已按文件名列出")
    return parsed
