"""Ruled tables of a PDF page read from the page's own structure (pdfplumber's table finder with the
"lines" strategy, and character positions).

A table becomes a :class:`Grid`: its column and row boundaries are the distinct left and top edges
of its ruled cells, and every cell knows the grid rows and columns it covers, so that a header cell
merged over two or three levels (三公 tables: 公务用车购置及运行费 › 购置费 / 运行费) or over several
columns (本年支出 › 预算数 › 基本支出 › 人员经费) names exactly the columns below it. Characters are
assigned to the cell that holds their centre; a character just outside every cell of its row
(punctuation hanging over a border, text overflowing a narrow cell) goes to the nearest cell.

The grid is handed on as text rows (one tab-separated line per grid row, as the .txt layout has
them) plus, per column, the header path read from the merged header cells (:attr:`Grid.col_paths`),
which :mod:`.tables` uses instead of guessing spans from empty cells.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from .numbers import parse_amount
from .text import squeeze

#: two ruled edges closer than this (PDF points) are the same grid line
_SNAP = 1.5


@dataclass
class GridCell:
    """One ruled cell: top-left grid position, spans (rows, columns) and its text on one line."""

    row: int
    col: int
    row_span: int
    col_span: int
    text: str


@dataclass
class Grid:
    """A ruled table of one page: ``cells`` (anchors only), ``bbox`` (x0, top, x1, bottom, PDF points),
    ``n_rows`` × ``n_cols`` grid positions, ``col_x`` the left edge of every column."""

    page: int
    bbox: tuple[float, float, float, float]
    n_rows: int
    n_cols: int
    col_x: list[float]
    cells: list[GridCell] = field(default_factory=list)
    #: the table's title and meta lines when the ruling encloses them ("2026年…预算总表",
    #: "编制单位：X 单位：元"): text, not cells
    captions: list[str] = field(default_factory=list)
    right: float = 0.0

    def text_rows(self) -> list[list[str]]:
        """Cell texts row by row, one entry per grid column.

        A cell merged over several columns puts its text in its *last* column when it is a row label
        of a data row (“人员经费合计” over 科目编码 and 科目名称 is a name, not a code) and in its first
        column otherwise (header cells keep the .txt convention: a label at the start of its span).
        Positions covered by a merged cell are "".
        """
        rows = [[""] * self.n_cols for _ in range(self.n_rows)]
        data = self.data_rows()
        for cell in self.cells:
            if not cell.text:
                continue
            c = cell.col
            if cell.col_span > 1 and cell.row in data and parse_amount(cell.text) is None:
                c = cell.col + cell.col_span - 1
            rows[cell.row][c] = cell.text
        return rows

    def data_rows(self) -> set[int]:
        """Grid rows at or after the first row holding an amount (the header is above it)."""
        first = self.header_rows()
        return set(range(first, self.n_rows))

    def header_rows(self) -> int:
        """Number of leading rows before the first row with an amount (decimal or thousands-separated)
        or a lone 合计/总计 label."""
        by_row: dict[int, list[str]] = {}
        for cell in self.cells:
            if cell.text:
                by_row.setdefault(cell.row, []).append(cell.text)
        for r in range(self.n_rows):
            texts = by_row.get(r, [])
            if any(parse_amount(t) is not None and ("." in t or "," in t) for t in texts):
                return r
            if len(texts) == 1 and re.sub(r"\s+", "", texts[0]) in ("合计", "总计"):
                return r
        return self.n_rows

    def has_merged_header(self) -> bool:
        """True when a header cell spans several columns or rows (the ruling states the spans)."""
        n = self.header_rows()
        return any(c.row < n and (c.col_span > 1 or c.row_span > 1) for c in self.cells)

    def col_paths(self) -> dict[int, tuple[str, ...]]:
        """Header path of every column, top-down, from the header cells covering it ("" skipped,
        a label repeated by a vertical merge kept once)."""
        n = self.header_rows()
        paths: dict[int, tuple[str, ...]] = {}
        header = sorted((c for c in self.cells if c.row < n and c.text), key=lambda c: (c.row, c.col))
        for col in range(self.n_cols):
            path: list[str] = []
            for cell in header:
                if cell.col <= col < cell.col + cell.col_span:
                    t = squeeze(cell.text)
                    if t and (not path or path[-1] != t):
                        path.append(t)
            paths[col] = tuple(path)
        return paths

    def remapped(self, other: "Grid") -> "Grid | None":
        """This grid in the columns of ``other`` (a table continued on the next page whose merged
        cells hide some column borders, e.g. a lone 合计 row spanning the code and name columns),
        or None when a column edge of this grid is not one of ``other``'s."""
        edges = list(other.col_x) + [other.right]
        def idx(x: float) -> int | None:
            k = min(range(len(edges)), key=lambda i: abs(edges[i] - x))
            return k if abs(edges[k] - x) <= 3.0 else None
        mine = list(self.col_x) + [self.right]
        pos = [idx(x) for x in mine]
        if any(p is None for p in pos) or pos != sorted(pos):
            return None
        out = Grid(self.page, self.bbox, self.n_rows, other.n_cols, list(other.col_x), right=other.right)
        for cell in self.cells:
            c0, c1 = pos[cell.col], pos[cell.col + cell.col_span]
            out.cells.append(GridCell(cell.row, c0, cell.row_span, max(1, c1 - c0), cell.text))
        return out

    def same_columns(self, other: "Grid") -> bool:
        """True when ``other`` has the same columns (count and left edges within a few points): a
        table continued on the next page."""
        if self.n_cols != other.n_cols:
            return False
        return all(abs(a - b) <= 3.0 for a, b in zip(self.col_x, other.col_x))


def _edges(values: list[float]) -> list[float]:
    """Distinct coordinates, values closer than :data:`_SNAP` merged (first kept)."""
    out: list[float] = []
    for v in sorted(values):
        if not out or v - out[-1] > _SNAP:
            out.append(v)
    return out


def _index(edges: list[float], v: float) -> int:
    """Index of the grid line nearest to ``v``."""
    return min(range(len(edges)), key=lambda i: abs(edges[i] - v))


def _cell_text(text: str | None) -> str:
    """A cell's text on one line: lines wrapped inside the cell are joined, tabs become spaces."""
    if not text:
        return ""
    parts = [p.strip() for p in text.replace("\t", " ").split("\n")]
    return "".join(p for p in parts if p)


def grid_from_table(table, chars: list[dict], page_number: int) -> tuple[Grid, set[int]]:
    """Build a :class:`Grid` from a pdfplumber ``Table`` and the page's characters; returns the
    grid and the ids of the characters used (so they are not read again as text lines)."""
    from pdfplumber.utils import extract_text

    boxes = [tuple(map(float, b)) for b in table.cells]
    x0, top, x1, bottom = map(float, table.bbox)
    xs = _edges([b[0] for b in boxes] + [x1])
    ys = _edges([b[1] for b in boxes] + [bottom])
    placed: list[tuple[tuple[float, float, float, float], int, int, int, int]] = []
    for b in boxes:
        c0, c1 = _index(xs, b[0]), _index(xs, b[2])
        r0, r1 = _index(ys, b[1]), _index(ys, b[3])
        placed.append((b, r0, c0, max(1, r1 - r0), max(1, c1 - c0)))
    near = [c for c in chars if c["x1"] > x0 - c.get("size", 10) and c["x0"] < x1 + c.get("size", 10)
            and top - 1 <= (c["top"] + c["bottom"]) / 2 <= bottom + 1]
    buckets: list[list[dict]] = [[] for _ in placed]
    used: set[int] = set()
    for ch in near:
        vm = (ch["top"] + ch["bottom"]) / 2
        hm = (ch["x0"] + ch["x1"]) / 2
        best, dist = None, 0.0
        for k, (b, *_rest) in enumerate(placed):
            if not b[1] <= vm < b[3]:
                continue
            d = 0.0 if b[0] <= hm < b[2] else min(abs(hm - b[0]), abs(hm - b[2]))
            if best is None or d < dist:
                best, dist = k, d
        if best is not None and dist <= max(ch.get("size", 0.0), 1.0):
            buckets[best].append(ch)
            used.add(id(ch))
    grid = Grid(page=page_number, bbox=(x0, top, x1, bottom), n_rows=max(1, len(ys) - 1),
                n_cols=max(1, len(xs) - 1), col_x=xs[:-1], right=xs[-1])
    for (b, r, c, rs, cs), bucket in zip(placed, buckets):
        text = _cell_text(extract_text(bucket)) if bucket else ""
        grid.cells.append(GridCell(r, c, rs, cs, text))
    grid.cells.sort(key=lambda g: (g.row, g.col))
    _peel_captions(grid)
    return grid, used


_CAPTION = re.compile(r"(?:表(?:[（(]续[)）])?$)|(?:单位\s*[:：]\s*(?:万元|元|亿元)\s*$)")


def _peel_captions(grid: Grid) -> None:
    """Move leading rows that hold only a table title or its meta line (编制单位…单位：元) out of the
    cells into :attr:`Grid.captions`."""
    for r in range(grid.n_rows):
        row = [c for c in grid.cells if c.row == r and c.text]
        if not row:
            continue
        text = " ".join(c.text for c in row)
        if len(row) > 3 or len(text) > 80 or not _CAPTION.search(text) or any(
                parse_amount(c.text) is not None for c in row):
            return
        grid.captions.append(text)
        grid.cells = [c for c in grid.cells if not (c.row == r and c.text)]


def page_grids(page) -> tuple[list[Grid], set[int]]:
    """Every ruled table of a pdfplumber page as a :class:`Grid`, and the ids of their characters."""
    grids: list[Grid] = []
    used: set[int] = set()
    for t in page.find_tables():
        g, ids = grid_from_table(t, page.chars, page.page_number)
        grids.append(g)
        used |= ids
    return grids, used
