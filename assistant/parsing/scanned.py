"""Where a PDF shows text only as pictures (scanned pages, tables pasted as images), and image files
(.png/.jpg/.gif) as documents: render, OCR (:mod:`.ocr`) and rebuild lines and tables
(:mod:`.image_tables`).

A PDF page region is read by OCR when an embedded image covers at least :data:`MIN_IMAGE_SHARE` of
the page and the text layer has few characters over it (fewer than :data:`MAX_CHARS_OVER_IMAGE`, or
fewer than one per :data:`POINTS_PER_CHAR` square points: a caption); a scan with an OCR text layer of
its own is read from that layer. The page is rendered with pypdfium2 at
``BUDGET_QA_OCR_DPI`` (default 200: the smallest resolution at which every digit of our test tables
read correctly, see README) and the image's region cropped; blocks come back in PDF points.
"""
from __future__ import annotations

import hashlib
import io
import logging
import re
import threading
import time
from collections import OrderedDict
from dataclasses import replace
from pathlib import Path

from ..errors import IngestError
from .image_tables import Block, read_image
from .ocr import get_engine, report
from .reader import IMAGE_SUFFIXES, SourceText, _Item, _pdf_lines

log = logging.getLogger(__name__)

#: an image covering at least this share of the page may hold text to OCR
MIN_IMAGE_SHARE = 0.05
#: an image with text-layer characters over it is already searchable when there are at least this
#: many of them and at least one per POINTS_PER_CHAR square points (a scan's own OCR layer); fewer are
#: a caption or a page number printed over the picture
MAX_CHARS_OVER_IMAGE = 10
POINTS_PER_CHAR = 5000
#: resolution assumed for an image file that states none (dots per inch)
DEFAULT_IMAGE_DPI = 150


def ocr_dpi() -> int:
    """Rendering resolution for OCR (``BUDGET_QA_OCR_DPI``, 100–600)."""
    from ..config import Settings

    return Settings.from_env().ocr_dpi


def image_regions(page) -> list[tuple[float, float, float, float]]:
    """(x0, top, x1, bottom) in PDF points of the regions of a pdfplumber page to read by OCR:
    large embedded images without a text layer over them, overlapping ones merged."""
    area = float(page.width) * float(page.height)
    regions: list[list[float]] = []
    for im in page.images:
        x0, top, x1, bottom = (max(float(im["x0"]), 0.0), max(float(im["top"]), 0.0),
                               min(float(im["x1"]), float(page.width)), min(float(im["bottom"]), float(page.height)))
        if x1 <= x0 or bottom <= top or (x1 - x0) * (bottom - top) < MIN_IMAGE_SHARE * area:
            continue
        over = sum(1 for c in page.chars if c.get("text", "").strip()
                   and x0 <= (c["x0"] + c["x1"]) / 2 <= x1 and top <= (c["top"] + c["bottom"]) / 2 <= bottom)
        if over >= max(MAX_CHARS_OVER_IMAGE, (x1 - x0) * (bottom - top) / POINTS_PER_CHAR):
            continue
        regions.append([x0, top, x1, bottom])
    merged: list[list[float]] = []
    for r in sorted(regions, key=lambda r: (r[1], r[0])):
        for m in merged:
            if r[0] <= m[2] and m[0] <= r[2] and r[1] <= m[3] and m[1] <= r[3]:
                m[:] = [min(m[0], r[0]), min(m[1], r[1]), max(m[2], r[2]), max(m[3], r[3])]
                break
        else:
            merged.append(r)
    return [tuple(m) for m in merged]


def without_text_layer(blocks: list[Block], chars: list[dict]) -> list[Block]:
    """OCR'd text lines that the text layer does not already hold (a caption printed over a picture
    is read from the text layer only); tables are kept."""
    def covered(b: Block) -> bool:
        return any(c.get("text", "").strip() and b.x0 <= (c["x0"] + c["x1"]) / 2 <= b.x1
                   and b.y0 <= (c["top"] + c["bottom"]) / 2 <= b.y1 for c in chars)

    return [b for b in blocks if b.kind == "table" or not covered(b)]


#: OCR results kept per process, by image content (an upload is checked, then ingested: read once)
_CACHE_SIZE = 256
_cache: "OrderedDict[bytes, list[Block]]" = OrderedDict()
_cache_lock = threading.Lock()


def _read_cached(gray, engine) -> list[Block]:
    """:func:`.image_tables.read_image`, remembered for the same pixels and engine."""
    import numpy as np

    gray = np.ascontiguousarray(gray)
    key = hashlib.sha256(f"{engine.name}:{gray.shape}:".encode() + gray.tobytes()).digest()
    with _cache_lock:
        if key in _cache:
            _cache.move_to_end(key)
            return list(_cache[key])
    blocks = read_image(gray, engine)
    with _cache_lock:
        _cache[key] = list(blocks)
        while len(_cache) > _CACHE_SIZE:
            _cache.popitem(last=False)
    return blocks


def ocr_pdf_regions(raw: bytes, page_index: int, regions, dpi: int | None = None) -> list[Block]:
    """Blocks (coordinates in PDF points, top-down) read by OCR from ``regions`` of one page of the
    PDF ``raw`` (0-based ``page_index``). Raises IngestError when the page cannot be rendered."""
    import pypdfium2 as pdfium

    dpi = dpi or ocr_dpi()
    scale = dpi / 72.0
    try:
        doc = pdfium.PdfDocument(raw)
        try:
            image = doc[page_index].render(scale=scale, grayscale=True).to_numpy()
        finally:
            doc.close()
    except Exception as exc:  # pdfium raises PdfiumError and others for broken pages
        raise IngestError(f"无法渲染第{page_index + 1}页以进行图像识别：{exc}") from exc
    if image.ndim == 3:
        image = image[:, :, 0]
    engine = get_engine()
    out: list[Block] = []
    for x0, top, x1, bottom in regions:
        px0, py0 = int(x0 * scale), int(top * scale)
        crop = image[py0:int(bottom * scale) + 1, px0:int(x1 * scale) + 1]
        for b in _read_cached(crop, engine):
            out.append(replace(b, x0=(b.x0 + px0) / scale, y0=(b.y0 + py0) / scale, x1=(b.x1 + px0) / scale,
                               y1=(b.y1 + py0) / scale, size=b.size / scale))
    return out


def read_image_pages(raw: bytes, name: str) -> list[tuple[list[Block], float, float]]:
    """An image file (PNG, JPEG, the first frame of a GIF) read by OCR, as a list of pages (one):
    (blocks in points, page width, page height), points from the file's stated resolution or
    :data:`DEFAULT_IMAGE_DPI`. Raises IngestError for a file that is not a readable image."""
    import numpy as np
    from PIL import Image, UnidentifiedImageError

    try:
        im = Image.open(io.BytesIO(raw))
        im.load()
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        raise IngestError(f"无法读取图片（文件损坏或格式不支持）：{name}") from exc
    dpi = im.info.get("dpi", (DEFAULT_IMAGE_DPI,))[0] or DEFAULT_IMAGE_DPI
    scale = float(dpi) / 72.0 if float(dpi) >= 50 else DEFAULT_IMAGE_DPI / 72.0
    frames = [im.convert("L")]  # an animated GIF's later frames are not pages
    engine = get_engine()
    pages = []
    for k, frame in enumerate(frames, start=1):
        t0 = time.monotonic()
        gray = np.asarray(frame)
        if gray.shape[0] < 8 or gray.shape[1] < 8:
            continue
        blocks = [replace(b, x0=b.x0 / scale, y0=b.y0 / scale, x1=b.x1 / scale, y1=b.y1 / scale,
                          size=b.size / scale) for b in _read_cached(gray, engine)]
        report(f"图像识别 {name} 第{k}/{len(frames)}页：{len(blocks)} 行/表，{time.monotonic() - t0:.1f} 秒")
        pages.append((blocks, gray.shape[1] / scale, gray.shape[0] / scale))
    return pages


# ------------------------------------------------------------------ reader items and sources


def ocr_page_items(page, raw: bytes, n_pages: int) -> list[_Item]:
    """Reader items read by OCR from a pdfplumber page's images that have no text layer ([] when there
    are none); reports the page's progress (:func:`.ocr.report`)."""
    regions = image_regions(page)
    if not regions:
        return []
    t0 = time.monotonic()
    blocks = without_text_layer(ocr_pdf_regions(raw, page.page_number - 1, regions), page.chars)
    report(f"图像识别 第{page.page_number}/{n_pages}页：{len(blocks)} 行/表，{time.monotonic() - t0:.1f} 秒")
    return block_items(blocks, page.page_number, float(page.width))


def block_items(blocks, pno: int, page_width: float) -> list[_Item]:
    """Reader items of OCR blocks (:class:`.image_tables.Block`, in points). Text lines of one page
    share the body text size (OCR box heights vary by glyph), so wrapped lines can be joined."""
    if not blocks:
        return []
    left = min(b.x0 for b in blocks)
    sizes = sorted(b.size for b in blocks if b.kind == "text") or [0.0]
    body = sizes[len(sizes) // 2]
    items = []
    for b in blocks:
        size = body if b.size <= 1.25 * body else b.size
        first_w = (b.x1 - b.x0) / max(len(b.text.replace(" ", "")), 1)
        items.append(_Item(b.kind, b.y0, b.y1, b.x0, b.x1, pno, page_width, left, text=b.text,
                           size=size, first_w=first_w, rows=b.rows))
    return items


def read_image_source(path: Path, raw: bytes) -> SourceText:
    """An image file read by OCR: one page per frame, lines as for a PDF page."""
    page_items = [block_items(blocks, k, width) for k, (blocks, width, _h) in
                  enumerate(read_image_pages(raw, path.name), start=1)]
    if not any(page_items):
        raise IngestError(f"图片中没有识别到文字：{path.name}")
    lines, pages, table_rows = _pdf_lines(page_items)
    return SourceText(path, lines, pages, "image", raw, table_rows, frozenset(range(1, len(lines) + 1)))


def companion_images(path: Path) -> list[Path]:
    """Pictures that belong to a web page saved as text ``X.txt`` (tables published as images): the
    files of ``X_files/`` or ``X.files/`` (a browser's "save complete page" folder) and ``X_1.png``,
    ``X-2.gif`` … beside it; in natural order (2 before 10)."""
    path = Path(path)
    found: list[Path] = []
    for folder in (path.with_name(path.stem + "_files"), path.with_name(path.stem + ".files")):
        if folder.is_dir():
            found += [f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES]
    pattern = re.compile(re.escape(path.stem) + r"[_-]\d+$")
    found += [f for f in path.parent.iterdir()
              if f.is_file() and f.suffix.lower() in IMAGE_SUFFIXES and pattern.fullmatch(f.stem)]
    natural = lambda f: [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", str(f))]
    return sorted(set(found), key=natural)


def with_images(src: SourceText, images: list[Path]) -> SourceText:
    """A web page's text followed by the lines read by OCR from its pictures (one blank line before
    each picture). Raises IngestError for a picture that is not a readable image."""
    lines = list(src.lines)
    ocr: set[int] = set()
    for image in images:
        pages = read_image_pages(image.read_bytes(), image.name)
        page_items = [block_items(blocks, k, width) for k, (blocks, width, _h) in enumerate(pages, start=1)]
        if not any(page_items):
            continue
        new, _, _ = _pdf_lines(page_items)
        lines.append("")
        start = len(lines)
        lines.extend(new)
        ocr.update(range(start + 1, len(lines) + 1))
    pages = None if src.pages is None else list(src.pages) + [None] * (len(lines) - len(src.lines))
    return SourceText(src.path, lines, pages, src.encoding, src.raw, src.table_rows, frozenset(ocr))
