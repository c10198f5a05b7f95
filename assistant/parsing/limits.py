"""Limits on what reading one document may cost, checked before the expensive work starts.

A disclosure is tens of pages and well under a million characters; a hostile or broken file can
claim thousands of pages, streams that decompress to gigabytes (a "zip bomb" inside a 1.5 MB PDF),
or hundreds of dense pages that take minutes and gigabytes to lay out. Each limit is a setting
(``BUDGET_QA_MAX_PAGES``, ``…_MAX_TEXT_CHARS``, ``…_MAX_STREAM_MB``, ``…_PARSE_SECONDS``,
``…_PARSE_MEMORY_MB``; see :class:`assistant.config.Settings`) and each refusal is an
:class:`~assistant.errors.IngestError` whose message names the file, the limit and its value.

The PDF checks here run before pdfplumber sees the file and use bounded memory:
:func:`decompressed_stream_bytes` inflates every Flate stream of the raw file in chunks, counting and
discarding the output, and stops at the limit; :func:`check_pdf` counts pages and characters with
pdfium (C, one page at a time). Time and memory are enforced by the process that parses
(:mod:`assistant.parsing.worker`).
"""
from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from ..errors import IngestError

MB = 1024 * 1024


@dataclass(frozen=True)
class IngestLimits:
    """What reading one document may take. Defaults equal those of :class:`assistant.config.Settings`."""

    max_pages: int = 300
    max_text_chars: int = 500_000
    #: total bytes the PDF's Flate streams may decompress to
    max_stream_bytes: int = 256 * MB
    #: wall time for reading and parsing one document (seconds)
    parse_seconds: float = 120.0
    #: address space of the parsing process (bytes)
    memory_bytes: int = 4096 * MB

    @classmethod
    def from_settings(cls, settings) -> "IngestLimits":
        """The limits set by ``settings`` (:class:`assistant.config.Settings`)."""
        return cls(max_pages=settings.max_pages, max_text_chars=settings.max_text_chars,
                   max_stream_bytes=settings.max_stream_mb * MB, parse_seconds=float(settings.parse_seconds),
                   memory_bytes=settings.parse_memory_mb * MB)


# ---------------------------------------------------------------- refusal messages (one per limit)
def pages_message(name: str, pages: int, limit: int) -> str:
    return f"PDF 页数过多：{name}（{pages} 页，上限 {limit} 页）。请拆分文件后再入库。"


def text_message(name: str, limit: int) -> str:
    return f"文件文字过多：{name}（超过 {limit} 个字符的上限）。预算公开文件通常远小于此，请检查文件是否正确。"


def stream_message(name: str, limit_bytes: int) -> str:
    return (f"PDF 内容解压后过大：{name}（超过 {limit_bytes // MB} MB 的上限），"
            f"文件可能已损坏或是恶意构造的，未入库。")


def time_message(name: str, seconds: float) -> str:
    return f"读取文件超时：{name}（超过 {seconds:g} 秒的上限），未入库。请检查文件是否过大或已损坏。"


def memory_message(name: str, limit_bytes: int) -> str:
    return f"读取文件所需内存超过上限：{name}（{limit_bytes // MB} MB），未入库。请检查文件是否过大或已损坏。"


# ---------------------------------------------------------------- checks
_STREAM = re.compile(rb"stream\r?\n")
#: input fed to the inflater per step, and the most output it may produce per step
_CHUNK_IN, _CHUNK_OUT = 64 * 1024, 1024 * 1024


def decompressed_stream_bytes(raw: bytes, limit: int) -> int:
    """Total size the zlib (FlateDecode) streams of a PDF's bytes inflate to, counting up to just
    over ``limit`` (the count stops there, so a bomb costs at most ``limit`` bytes of inflating and
    one chunk of memory). Streams in other encodings (JPEG, JBIG2, …) do not inflate and count 0.

    Works on the raw bytes, so object streams, cross-reference streams and streams of a damaged
    file are counted as well, whatever the object structure claims.
    """
    total = 0
    for m in _STREAM.finditer(raw):
        start = m.end()
        if raw[start:start + 1] not in (b"\x78", b"\x08", b"\x18", b"\x28", b"\x38", b"\x48", b"\x58", b"\x68"):
            continue  # not a zlib header (CMF byte with the deflate method)
        inflater = zlib.decompressobj()
        pos = start
        try:
            while not inflater.eof and pos < len(raw):
                out = inflater.decompress(raw[pos:pos + _CHUNK_IN], _CHUNK_OUT)
                pos += _CHUNK_IN
                total += len(out)
                while inflater.unconsumed_tail and not inflater.eof and total <= limit:
                    out = inflater.decompress(inflater.unconsumed_tail, _CHUNK_OUT)
                    total += len(out)
                if total > limit:
                    return total
        except zlib.error:
            continue  # damaged or not zlib after all: what inflated so far is counted
    return total


def check_pdf(raw: bytes, name: str, limits: IngestLimits) -> None:
    """Refuse (IngestError) a PDF over a limit before its text is read: streams that inflate past
    ``max_stream_bytes``, more than ``max_pages`` pages, or more than ``max_text_chars`` characters
    on its pages (counted by pdfium page by page). A file pdfium cannot open is left to the reader,
    which reports it as damaged."""
    if decompressed_stream_bytes(raw, limits.max_stream_bytes) > limits.max_stream_bytes:
        raise IngestError(stream_message(name, limits.max_stream_bytes))
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(raw)
    except Exception:  # pdfium.PdfiumError and friends: damaged or encrypted
        return
    try:
        pages = len(pdf)
        if pages > limits.max_pages:
            raise IngestError(pages_message(name, pages, limits.max_pages))
        chars = 0
        for i in range(pages):
            try:
                page = pdf[i]
            except Exception:  # a page pdfium cannot load: the reader decides
                continue
            try:
                text = page.get_textpage()
                chars += text.count_chars()
                text.close()
            except Exception:  # a page pdfium cannot read: the reader decides
                pass
            finally:
                page.close()
            if chars > limits.max_text_chars:
                raise IngestError(text_message(name, limits.max_text_chars))
    finally:
        pdf.close()


def check_text(lines: list[str], name: str, limits: IngestLimits) -> None:
    """Refuse (IngestError) text of more than ``max_text_chars`` characters."""
    if sum(len(line) for line in lines) > limits.max_text_chars:
        raise IngestError(text_message(name, limits.max_text_chars))
