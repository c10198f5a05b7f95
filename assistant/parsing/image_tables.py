"""Text lines and tables of an image (a scanned page, a table published as a picture) from OCR boxes.

Output is the same layout the PDF reader makes from a text layer, so the table parser
(:mod:`.tables`) takes it unchanged: :class:`Block` s of kind "text" (one line) or "table" (rows of
cell texts; a merged cell's text at its top-left position, "" elsewhere), in image pixels.

How a table is rebuilt:

1. ruling lines: dark runs longer than :data:`LINE_MIN_FRACTION` of the image side (morphological
   opening), horizontal and vertical; a group of crossing lines with at least three of each (two rows,
   two columns) is a table — a frame around a page or a paragraph is not;
2. the grid: rows between the horizontal lines, columns between the vertical ones; two neighbouring
   grid cells form one merged cell where the line between them is missing;
3. the OCR boxes are placed in the cell holding their centre; a box that ends within a character of
   its cell's border is read again on a crop reaching the border, ruling lines erased (a character
   touching a ruling line, "一、" at a cell's left border, is otherwise lost by the detector), and a
   cell with ink but no box is read on its own (a lone "0" pressed against a line);
4. a table without vertical lines, or text outside any ruled table, is laid out by position: boxes on
   one baseline form a line; lines whose pieces stand in columns (two or more pieces with a figure)
   become table rows, their columns the gaps shared by all rows.

Cell texts are cleaned of what OCR adds to printed figures: spaces inside numbers ("189, 767, 551"),
full-width separators between digits ("1，234．50").
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from .ocr import OcrBox, OcrEngine

log = logging.getLogger(__name__)

#: a ruling line is a dark run at least this share of the image width (height, for vertical lines)
LINE_MIN_FRACTION = 1 / 40
#: grey level below which a pixel is ink
INK_LEVEL = 160
#: share of a grid border that must be drawn for two grid cells to be separate cells
BORDER_DRAWN = 0.6


@dataclass
class Block:
    """One text line or one table found in an image; coordinates in pixels of that image.

    ``size`` is the typical text height (pixels); ``score`` the lowest OCR confidence of its text.
    """

    kind: str  # "text" | "table"
    x0: float
    y0: float
    x1: float
    y1: float
    text: str = ""
    rows: list[list[str]] = field(default_factory=list)
    size: float = 0.0
    score: float = 1.0


@dataclass
class _Grid:
    x0: int
    y0: int
    x1: int
    y1: int
    xs: list[int]  # column borders
    ys: list[int]  # row borders
    anchor: dict[tuple[int, int], tuple[int, int]] = field(default_factory=dict)  # cell → its merged cell
    extent: dict[tuple[int, int], tuple[int, int, int, int]] = field(default_factory=dict)  # anchor → r0,c0,r1,c1


# ------------------------------------------------------------------ helpers


def to_gray(image):
    """uint8 grey array of a numpy image (grey, BGR or BGRA) or a PIL image."""
    import numpy as np

    if not isinstance(image, np.ndarray):
        image = np.asarray(image.convert("L"))
    if image.ndim == 3:
        import cv2

        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    return np.ascontiguousarray(image.astype(np.uint8))


_NUM_SPACES = re.compile(r"(?<=\d)\s*([,，.．])\s*(?=\d)")
_THOUSANDS_DOTS = re.compile(r"^-?\d{1,3}(?:\.\d{3}){2,}$")


def clean_text(text: str) -> str:
    """OCR text as printed: no spaces inside numbers, ASCII separators between digits, "189.767.551"
    (dots as thousands separators) → "189,767,551", CJK-adjacent spaces removed, outer spaces trimmed."""
    t = (text or "").strip()
    t = _NUM_SPACES.sub(lambda m: {"，": ",", "．": "."}.get(m.group(1), m.group(1)), t)
    if re.fullmatch(r"[-\d,.Oo]+", t) and re.search(r"\d|^[Oo]$", t):
        t = t.replace("O", "0").replace("o", "0")  # a figure cell: the letter O is the digit 0
    if _THOUSANDS_DOTS.match(t):
        t = t.replace(".", ",")
    t = re.sub(r"(?<=[\u4e00-\u9fff（）()“”、：:])\s+|\s+(?=[\u4e00-\u9fff（）()“”])", "", t)
    return t


def _line_masks(ink):
    """(horizontal, vertical) masks of ruling lines in a boolean ink image."""
    import cv2
    import numpy as np

    h, w = ink.shape
    u8 = ink.astype(np.uint8)
    hk = cv2.getStructuringElement(cv2.MORPH_RECT, (max(int(w * LINE_MIN_FRACTION), 20), 1))
    vk = cv2.getStructuringElement(cv2.MORPH_RECT, (1, max(int(h * LINE_MIN_FRACTION), 20)))
    return cv2.morphologyEx(u8, cv2.MORPH_OPEN, hk) > 0, cv2.morphologyEx(u8, cv2.MORPH_OPEN, vk) > 0


def _positions(mask, axis: int, lo: int, hi: int, min_len: int) -> list[int]:
    """Centres of line runs: rows (axis=0) or columns (axis=1) of ``mask`` with at least ``min_len``
    line pixels, neighbouring ones merged."""
    import numpy as np

    counts = mask.sum(axis=1 - axis)
    idx = [i for i in np.nonzero(counts >= min_len)[0] if lo <= i <= hi]
    out: list[list[int]] = []
    for i in idx:
        if out and i - out[-1][-1] <= 3:
            out[-1].append(int(i))
        else:
            out.append([int(i)])
    return [int(round(sum(g) / len(g))) for g in out]


def _grids(hmask, vmask) -> list[_Grid]:
    """Ruled tables: connected groups of lines with at least three horizontal and three vertical lines."""
    import cv2
    import numpy as np

    both = (hmask | vmask).astype(np.uint8)
    both = cv2.dilate(both, np.ones((5, 5), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(both, connectivity=8)
    grids = []
    for k in range(1, n):
        x, y, w, h, _area = stats[k]
        if w < 40 or h < 20:
            continue
        hm = hmask[y:y + h, x:x + w]
        vm = vmask[y:y + h, x:x + w]
        ys = [y + p for p in _positions(hm, 0, 0, h, max(int(w * 0.05), 15))]
        xs = [x + p for p in _positions(vm, 1, 0, w, max(int(h * 0.05), 15))]
        if len(ys) < 3 or len(xs) < 3:
            continue  # a frame around a page or a paragraph, not a table of rows and columns
        g = _Grid(int(x), int(y), int(x + w), int(y + h), xs, ys)
        _merge_cells(g, hmask, vmask)
        grids.append(g)
    return grids


def _drawn(mask, fixed: int, lo: int, hi: int, vertical: bool) -> float:
    """Share of the border segment (x=fixed, y in lo..hi if vertical; else y=fixed) that is drawn."""
    if hi <= lo:
        return 0.0
    if vertical:
        seg = mask[lo:hi, max(fixed - 3, 0):fixed + 4].any(axis=1)
    else:
        seg = mask[max(fixed - 3, 0):fixed + 4, lo:hi].any(axis=0)
    return float(seg.mean()) if seg.size else 0.0


def _merge_cells(g: _Grid, hmask, vmask) -> None:
    """Fill ``g.anchor`` / ``g.extent``: grid cells joined where the border between them is not drawn."""
    nr, nc = len(g.ys) - 1, len(g.xs) - 1
    parent = {(r, c): (r, c) for r in range(nr) for c in range(nc)}

    def find(a):
        while parent[a] != a:
            parent[a] = parent[parent[a]]
            a = parent[a]
        return a

    def union(a, b):
        ra, rb = find(a), find(b)
        if ra != rb:
            parent[max(ra, rb)] = min(ra, rb)

    for r in range(nr):
        y0, y1 = g.ys[r], g.ys[r + 1]
        pad = max((y1 - y0) // 6, 1)
        for c in range(nc - 1):
            if _drawn(vmask, g.xs[c + 1], y0 + pad, y1 - pad, vertical=True) < BORDER_DRAWN:
                union((r, c), (r, c + 1))
    for c in range(nc):
        x0, x1 = g.xs[c], g.xs[c + 1]
        pad = max((x1 - x0) // 6, 1)
        for r in range(nr - 1):
            if _drawn(hmask, g.ys[r + 1], x0 + pad, x1 - pad, vertical=False) < BORDER_DRAWN:
                union((r, c), (r + 1, c))
    ext: dict[tuple[int, int], list[int]] = {}
    for cell in parent:
        a = find(cell)
        g.anchor[cell] = a
        e = ext.setdefault(a, [cell[0], cell[1], cell[0], cell[1]])
        e[0], e[1] = min(e[0], cell[0]), min(e[1], cell[1])
        e[2], e[3] = max(e[2], cell[0]), max(e[3], cell[1])
    g.extent = {a: (e[0], e[1], e[2], e[3]) for a, e in ext.items()}


def _cell_of(g: _Grid, x: float, y: float) -> tuple[int, int] | None:
    r = next((i for i in range(len(g.ys) - 1) if g.ys[i] <= y < g.ys[i + 1]), None)
    c = next((i for i in range(len(g.xs) - 1) if g.xs[i] <= x < g.xs[i + 1]), None)
    return None if r is None or c is None else g.anchor[(r, c)]


def _lines(boxes: list[OcrBox]) -> list[list[OcrBox]]:
    """Boxes grouped into lines (vertical overlap of at least half the smaller box), top to bottom,
    each line left to right."""
    out: list[list[OcrBox]] = []
    for b in sorted(boxes, key=lambda b: (b.cy, b.x0)):
        for line in out:
            top = min(x.y0 for x in line)
            bottom = max(x.y1 for x in line)
            overlap = min(bottom, b.y1) - max(top, b.y0)
            if overlap >= 0.5 * min(b.height, bottom - top):
                line.append(b)
                break
        else:
            out.append([b])
    for line in out:
        line.sort(key=lambda b: b.x0)
    out.sort(key=lambda line: min(b.y0 for b in line))
    return out


def _join(line: list[OcrBox]) -> str:
    """Texts of one line: a space where the gap is wider than a character, else nothing."""
    parts: list[str] = []
    prev = None
    for b in line:
        t = clean_text(b.text)
        if prev is not None and b.x0 - prev.x1 > 0.8 * max(b.height, prev.height):
            parts.append(" ")
        parts.append(t)
        prev = b
    return "".join(parts)


# ------------------------------------------------------------------ reading


def read_image(image, engine: OcrEngine) -> list[Block]:
    """Text lines and tables of ``image`` (numpy grey/BGR array or PIL image), top to bottom.

    Raises whatever the engine raises (e.g. IngestError when the OCR package is missing).
    """
    import numpy as np

    gray = to_gray(image)
    ink = gray < INK_LEVEL
    hmask, vmask = _line_masks(ink)
    grids = _grids(hmask, vmask)
    boxes = [b for b in engine.boxes(gray) if b.text.strip()]
    erased = gray.copy()
    import cv2

    erased[cv2.dilate((hmask | vmask).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0] = 255
    blocks: list[Block] = []
    free: list[OcrBox] = []
    in_grid: list[list[OcrBox]] = [[] for _ in grids]
    for b in boxes:
        k = next((i for i, g in enumerate(grids) if g.x0 <= b.cx <= g.x1 and g.y0 <= b.cy <= g.y1), None)
        if k is None:
            free.append(b)
        else:
            in_grid[k].append(b)
    for g, gb in zip(grids, in_grid):
        rows, score, size = _grid_rows(g, gb, erased, engine)
        outside = [b for b in gb if _cell_of(g, b.cx, b.cy) is None]
        free.extend(outside)
        if any(any(c for c in r) for r in rows):
            blocks.append(Block("table", g.x0, g.y0, g.x1, g.y1, rows=rows, size=size, score=score))
    blocks.extend(_free_blocks(free))
    blocks.sort(key=lambda b: (round(b.y0), b.x0))
    return blocks


def _grid_rows(g: _Grid, boxes: list[OcrBox], erased, engine: OcrEngine) -> tuple[list[list[str]], float, float]:
    """Rows of cell texts of one ruled table, the lowest confidence and the median text height."""
    nr, nc = len(g.ys) - 1, len(g.xs) - 1
    by_cell: dict[tuple[int, int], list[OcrBox]] = {}
    for b in boxes:
        a = _cell_of(g, b.cx, b.cy)
        if a is not None:
            by_cell.setdefault(a, []).append(b)
    texts: dict[tuple[int, int], str] = {}
    scores: list[float] = []
    heights = sorted(b.height for b in boxes) or [0.0]
    for a, (r0, c0, r1, c1) in g.extent.items():
        x0, x1 = g.xs[c0] + 1, g.xs[c1 + 1] - 1
        y0, y1 = g.ys[r0] + 1, g.ys[r1 + 1] - 1
        if x1 - x0 < 4 or y1 - y0 < 4:
            continue
        cell_boxes = by_cell.get(a, [])
        if not cell_boxes:
            cell_boxes = _read_missed(erased[y0:y1, x0:x1], x0, y0, heights[len(heights) // 2], engine)
        lines = [[_at_border(b, x0, x1, y0, y1, erased, engine) for b in line] for line in _lines(cell_boxes)]
        if lines:
            texts[a] = "".join(_join(line) for line in lines)
            scores.extend(b.score for line in lines for b in line)
    rows = []
    for r in range(nr):
        row = []
        for c in range(nc):
            row.append(texts.get((r, c), "") if g.anchor[(r, c)] == (r, c) else "")
        rows.append(row)
    rows = [r for r in rows if any(r)] or rows
    return rows, (min(scores) if scores else 1.0), heights[len(heights) // 2]


def _read_missed(interior, x0: int, y0: int, line_height: float, engine: OcrEngine) -> list[OcrBox]:
    """Text in a cell where the page's detection found none (a lone "0" pressed against a ruling
    line): the ink of the cell, if any, read as one line when it is one line high, else detected."""
    import numpy as np

    ys, xs = np.nonzero(interior < INK_LEVEL)
    if len(ys) < 15:
        return []
    iy0, iy1, ix0, ix1 = int(ys.min()), int(ys.max()) + 1, int(xs.min()), int(xs.max()) + 1
    if line_height and iy1 - iy0 <= 1.5 * line_height:
        [(text, score)] = engine.read_lines([_pad(interior[iy0:iy1, ix0:ix1])])
        return [OcrBox(text, score, x0 + ix0, y0 + iy0, x0 + ix1, y0 + iy1)] if text.strip() else []
    off_x, off_y = x0 - _PAD, y0 - _PAD  # crop coordinates → image coordinates
    return [OcrBox(b.text, b.score, b.x0 + off_x, b.y0 + off_y, b.x1 + off_x, b.y1 + off_y)
            for b in engine.boxes(_pad(interior)) if b.text.strip()]


def _at_border(b: OcrBox, x0: int, x1: int, y0: int, y1: int, erased, engine: OcrEngine) -> OcrBox:
    """A box that ends within a character of its cell's left or right border is read again on a crop
    reaching the border, ruling lines erased: the detector drops a character touching a line ("一、…"
    read as "、…"). The new reading is kept only when it is sure and adds at most two characters
    to the old one at that side."""
    h = b.height
    near_left, near_right = b.x0 - x0 < 1.5 * h, x1 - b.x1 < 1.0 * h
    if not (near_left or near_right):
        return b
    cx0 = x0 if near_left else int(b.x0)
    cx1 = x1 if near_right else int(b.x1)
    cy0, cy1 = max(int(b.y0) - 2, y0), min(int(b.y1) + 2, y1)
    if cx1 - cx0 < 4 or cy1 - cy0 < 4:
        return b
    [(text, score)] = engine.read_lines([_pad(erased[cy0:cy1, cx0:cx1])])
    old, new = clean_text(b.text).replace(" ", ""), clean_text(text).replace(" ", "")
    if new == old or score < 0.9 or not new or old not in new or len(new) - len(old) > 2:
        return b
    extra = new[:new.index(old)] + new[new.index(old) + len(old):]
    if (extra and not near_left and new.index(old) > 0) or (not near_right and not new.startswith(extra) and extra):
        return b
    return OcrBox(text, score, cx0, b.y0, cx1, b.y1)


_PAD = 8


def _pad(crop, pad: int = _PAD):
    """A crop with a white margin (the recogniser reads characters at the very edge badly)."""
    import numpy as np

    return np.pad(crop, pad, mode="constant", constant_values=255)


def _free_blocks(boxes: list[OcrBox]) -> list[Block]:
    """Lines of boxes outside ruled tables; runs of lines whose pieces stand in columns and hold
    figures become tables (columns by position), together with the header lines just above them
    (lines of two or more pieces without figures)."""
    blocks: list[Block] = []
    run: list[list[OcrBox]] = []
    header: list[list[OcrBox]] = []  # candidate header lines, not yet emitted

    def flush_header():
        blocks.extend(_text_block(line) for line in header)
        header.clear()

    def flush_run():
        if len(run) >= 2:
            blocks.append(_positional_table(header + run))
            header.clear()
        else:
            flush_header()
            blocks.extend(_text_block(line) for line in run)
        run.clear()

    for line in _lines(boxes):
        pieces = _pieces(line)
        figures = sum(1 for p in pieces if re.fullmatch(r"-?[\d,，.．\s]+%?", _join(p)))
        if len(pieces) >= 2 and figures >= 1:
            run.append(line)
            continue
        flush_run()
        if len(pieces) >= 2:
            header.append(line)
            if len(header) > 3:  # at most three header lines: the oldest is text
                blocks.append(_text_block(header.pop(0)))
            continue
        flush_header()
        blocks.append(_text_block(line))
    flush_run()
    flush_header()
    return blocks


def _pieces(line: list[OcrBox]) -> list[list[OcrBox]]:
    """A line cut where the gap between boxes is wider than two characters."""
    out: list[list[OcrBox]] = []
    for b in line:
        if out and b.x0 - out[-1][-1].x1 <= 2 * max(b.height, out[-1][-1].height):
            out[-1].append(b)
        else:
            out.append([b])
    return out


def _text_block(line: list[OcrBox]) -> Block:
    hs = sorted(b.height for b in line)
    return Block("text", min(b.x0 for b in line), min(b.y0 for b in line), max(b.x1 for b in line),
                 max(b.y1 for b in line), text=_join(line), size=hs[len(hs) // 2],
                 score=min(b.score for b in line))


def _positional_table(lines: list[list[OcrBox]]) -> Block:
    """Rows of a table without vertical rules: column borders are the x gaps no piece of any row covers."""
    spans = sorted((min(b.x0 for b in p), max(b.x1 for b in p)) for line in lines for p in _pieces(line))
    cols: list[list[float]] = []
    for x0, x1 in spans:
        if cols and x0 <= cols[-1][1]:
            cols[-1][1] = max(cols[-1][1], x1)
        else:
            cols.append([x0, x1])
    rows = []
    for line in lines:
        row = [""] * len(cols)
        for p in _pieces(line):
            cx = (min(b.x0 for b in p) + max(b.x1 for b in p)) / 2
            k = next((i for i, c in enumerate(cols) if c[0] <= cx <= c[1]), 0)
            row[k] = (row[k] + _join(p)) if row[k] else _join(p)
        rows.append(row)
    all_boxes = [b for line in lines for b in line]
    hs = sorted(b.height for b in all_boxes)
    return Block("table", min(b.x0 for b in all_boxes), min(b.y0 for b in all_boxes),
                 max(b.x1 for b in all_boxes), max(b.y1 for b in all_boxes), rows=rows,
                 size=hs[len(hs) // 2], score=min(b.score for b in all_boxes))
