"""Test helper: hostile and broken documents, made deterministically.

* :func:`stream_bomb_pdf`: a valid one-page PDF whose content stream is ``inflated`` bytes of blanks
  deflated (deflate compresses about 1000:1, so 1.5 GB become a 1.5 MB file);
* :func:`dense_text_pdf`: pages full of Chinese text (reportlab, the built-in STSong-Light CID font,
  not embedded, so the file stays small while every page holds thousands of characters);
* :func:`damaged_variants`: copies of a real PDF truncated, with bytes overwritten, with a block
  zeroed (positions from a seeded random generator).
"""
from __future__ import annotations

import random
import zlib
from pathlib import Path

MB = 1024 * 1024


def stream_bomb_pdf(out: Path, inflated: int) -> Path:
    """Write a PDF whose single page's content stream inflates to ``inflated`` bytes (blanks, which
    are valid content-stream whitespace). Returns ``out``."""
    deflater = zlib.compressobj(9)
    block = b" " * MB
    parts = []
    left = inflated
    while left > 0:
        parts.append(deflater.compress(block[:min(left, MB)]))
        left -= MB
    parts.append(deflater.flush())
    data = b"".join(parts)
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R /Resources << >> >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(data) + data + b"\nendstream",
    ]
    body = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, obj in enumerate(objects, start=1):
        offsets.append(len(body))
        body += b"%d 0 obj\n" % n + obj + b"\nendobj\n"
    xref = len(body)
    body += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    body += b"".join(b"%010d 00000 n \n" % o for o in offsets)
    body += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    out.write_bytes(bytes(body))
    return out


def dense_text_pdf(out: Path, pages: int, lines_per_page: int = 64, chars_per_line: int = 52) -> Path:
    """Write ``pages`` A4 pages, each ``lines_per_page`` lines of ``chars_per_line`` Chinese characters
    (a budget-like sentence repeated). Returns ``out``."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont
    from reportlab.pdfgen import canvas

    if "STSong-Light" not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont("STSong-Light"))
    sentence = "本部门二〇二四年一般公共预算财政拨款支出预算主要用于保障机构正常运转和完成日常工作任务。"
    text = (sentence * (chars_per_line // len(sentence) + 2))
    c = canvas.Canvas(str(out), pagesize=A4)
    width, height = A4
    for p in range(pages):
        c.setFont("STSong-Light", 10)
        for i in range(lines_per_page):
            start = (p * 7 + i) % len(sentence)
            c.drawString(30, height - 30 - i * 12.4, text[start:start + chars_per_line])
        c.showPage()
    c.save()
    return out


def damaged_variants(src: Path, seed: int = 13) -> list[tuple[str, bytes]]:
    """30 damaged copies of ``src``'s bytes: 10 truncated (10%…91% of the file), 10 with 64 bytes
    overwritten by random bytes, 10 with a 4 KB block zeroed; positions from ``random.Random(seed)``."""
    data = src.read_bytes()
    rng = random.Random(seed)
    out: list[tuple[str, bytes]] = []
    for k in range(10):
        out.append((f"truncated-{k}", data[:int(len(data) * (0.1 + 0.09 * k))]))
    for k in range(10):
        b = bytearray(data)
        pos = rng.randrange(1024, len(data) - 2048)
        b[pos:pos + 64] = bytes(rng.randrange(256) for _ in range(64))
        out.append((f"overwritten-{k}", bytes(b)))
    for k in range(10):
        b = bytearray(data)
        pos = rng.randrange(1024, len(data) - 8192)
        b[pos:pos + 4096] = bytes(4096)
        out.append((f"zeroed-{k}", bytes(b)))
    return out
