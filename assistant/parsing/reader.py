"""Reading source files into text lines: encoding detection for .txt, pdfplumber for .pdf.

Errors are :class:`~assistant.errors.IngestError` with a message naming the file and the fault.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

from ..errors import IngestError

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


def read_source(path: Path) -> SourceText:
    """Read a .txt (UTF-8, GBK/GB18030 detected) or .pdf file.

    Raises IngestError: missing, unsupported type, empty, too large, binary or undecodable text.
    """
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
        return _read_pdf(path, raw)
    text, encoding = decode_text(raw, path.name)
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    if not any(line.strip() for line in lines):
        raise IngestError(f"文件没有文字内容：{path.name}")
    return SourceText(path, lines, None, encoding, raw)


def decode_text(raw: bytes, name: str = "") -> tuple[str, str]:
    """Decode bytes as UTF-8 (with or without BOM), else GB18030 (a superset of GBK/GB2312).

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
    from charset_normalizer import from_bytes

    best = from_bytes(raw).best()
    if best is not None and _looks_like_text(str(best)):
        return str(best), best.encoding
    raise IngestError(f"无法识别文件编码（既不是 UTF-8 也不是 GBK/GB18030）：{name}")


def _looks_like_text(text: str) -> bool:
    if not text.strip():
        return False
    bad = sum(1 for ch in text[:20000] if (ord(ch) < 32 and ch not in "\t\n\r\f") or ch == "\ufffd")
    return bad <= max(2, len(text[:20000]) // 1000)


def _read_pdf(path: Path, raw: bytes) -> SourceText:
    """Text of every page, tables as tab-separated rows (pdfplumber), page number per line."""
    try:
        import pdfplumber
    except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
        raise IngestError("读取 PDF 需要 pdfplumber") from exc
    lines: list[str] = []
    pages: list[int] = []
    try:
        with pdfplumber.open(path) as pdf:
            for pno, page in enumerate(pdf.pages, start=1):
                for line in _pdf_page_lines(page):
                    lines.append(line)
                    pages.append(pno)
                lines.append("")
                pages.append(pno)
    except IngestError:
        raise
    except Exception as exc:  # pdfminer raises many types for broken/encrypted files
        raise IngestError(f"无法读取 PDF（文件损坏或已加密）：{path.name}（{type(exc).__name__}）") from exc
    if not any(line.strip() for line in lines):
        raise IngestError(f"PDF 中没有可提取的文字（可能是扫描件）：{path.name}")
    return SourceText(path, lines, pages, "pdf", raw)


def _pdf_page_lines(page) -> list[str]:
    """Lines of one PDF page: text outside tables as is, each table row as tab-joined cells."""
    tables = page.find_tables()
    if not tables:
        return (page.extract_text() or "").split("\n")
    out: list[str] = []
    bboxes = [t.bbox for t in tables]

    def outside(obj) -> bool:
        x0, top, x1, bottom = obj["x0"], obj["top"], obj["x1"], obj["bottom"]
        return not any(b[0] - 1 <= x0 and x1 <= b[2] + 1 and b[1] - 1 <= top and bottom <= b[3] + 1
                       for b in bboxes)

    # text above, between and below tables, in reading order by vertical position
    chunks: list[tuple[float, list[str]]] = []
    free = page.filter(outside)
    text_lines = free.extract_text_lines() if hasattr(free, "extract_text_lines") else []
    for tl in text_lines:
        chunks.append((tl["top"], [tl["text"]]))
    for t in tables:
        rows = []
        for row in t.extract():
            rows.append("\t".join((c or "").replace("\n", "") for c in row))
        chunks.append((t.bbox[1], rows))
    chunks.sort(key=lambda c: c[0])
    for _, ls in chunks:
        out.extend(ls)
    return out
