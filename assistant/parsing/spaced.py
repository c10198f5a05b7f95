"""Tables of PDF text where a row is one line and cells are separated by runs of spaces, empty
cells dropped (layout of many 上海/地方 disclosures): "2010506统计管理 1,200 1,200".

A row is read as segments — [code] [label] [amounts] — so side-by-side tables (收入 | 支出, the two
halves of an 经济分类 table) become one segment per side. Columns come from the header words
(split by a vocabulary of standard column names, data file ``assistant/data/columns.json``).

Alignment of a row's amounts to columns (empty cells were dropped, so positions are lost):
1. a row with as many amounts as its side has columns is aligned by position;
2. otherwise the first amount goes to the first column when that column is a total (合计/总计),
   and the rest are aligned by the arithmetic of the classification tree: for every column, the
   children of a 功能分类 row add up to it (类 = Σ款, 款 = Σ项); the unique assignment of the
   siblings' remaining amounts that satisfies this is taken;
3. a cell still ambiguous is reported as unaligned (with its line) and not stored as a fact.
"""
from __future__ import annotations

import itertools
import json
import logging
import re
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from importlib import resources

from .tables import CellFact
from .text import norm_label, squeeze, strip_ordinal

log = logging.getLogger(__name__)

AMOUNT = re.compile(r"^-?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?$")
_CODE_GLUED = re.compile(r"^(\d{3}(?:\d{2}){0,2})([^\d,.].*)$")
_CODE = re.compile(r"^\d{2,7}$")
_LABEL_WORDS = re.compile(r"^(?:项目|项\s*目|科目名称|功能分类科目名称|部门经济分类科目名称|经济分类科目名称|功能分类科目编码|"
                          r"经济分类科目编码|科目编码|功能分类|经济分类|编码|类款项|类|款|项|类科目|功能分|经济分|类科目编码|"
                          r"单位名称|支出|收入|科目)$")


@lru_cache(maxsize=1)
def column_vocabulary() -> tuple[str, ...]:
    """Standard column names of disclosure tables, longest first (for splitting glued headers)."""
    data = json.loads(resources.files("assistant.data").joinpath("columns.json").read_text("utf-8"))
    return tuple(sorted({norm_label(x) for x in data["columns"]}, key=len, reverse=True))


@dataclass
class Segment:
    code: str
    label: str
    amounts: list[str]
    wrapped: bool = False


@dataclass
class SpacedRow:
    line: int
    page: int | None
    segments: list[Segment]
    text: str


@dataclass
class Unaligned:
    """A cell whose column could not be determined: its line, text and the candidate columns."""

    line: int
    cell: str
    label: str
    candidates: tuple[str, ...]


@dataclass
class SpacedTable:
    title: str
    line: int
    unit: str
    page: int | None
    header: list[str] = field(default_factory=list)
    rows: list[SpacedRow] = field(default_factory=list)
    note: str = ""


def is_amount(tok: str) -> bool:
    return bool(AMOUNT.match(tok))


def is_data_line(text: str) -> bool:
    """A table row: has an amount with a thousands separator or decimals, or starts with a code."""
    toks = text.split()
    return any(is_amount(t) and ("," in t or "." in t) for t in toks) or bool(
        toks and (_CODE_GLUED.match(toks[0]) or re.fullmatch(r"\d{3}(\d{2}){0,2}", toks[0]) and len(toks) > 1
                  and not is_amount(toks[1])))


def split_segments(text: str) -> list[Segment]:
    """Cut a row into [code] [label] [amounts] segments."""
    toks = text.split()
    segs: list[Segment] = []
    cur: Segment | None = None
    for i, t in enumerate(toks):
        glued = _CODE_GLUED.match(t)
        amount = is_amount(t)
        nxt = toks[i + 1] if i + 1 < len(toks) else ""
        if amount and cur is not None and cur.amounts and re.fullmatch(r"\d{3}(?:\d{2}){0,2}", t) and nxt and (
                not is_amount(nxt) or re.fullmatch(r"\d{2}", nxt)):
            amount = False  # "… 405.36 302 01 办公费 92.11": a code starting the right half
        if amount and cur is not None and (cur.label or cur.amounts or not _CODE.match(t) or "," in t or "." in t):
            cur.amounts.append(t)
            continue
        if amount and cur is None and ("," in t or "." in t):
            cur = Segment("", "", [t])
            segs.append(cur)
            continue
        # a code or a label starts a new segment after amounts
        if cur is None or cur.amounts:
            cur = Segment("", "", [])
            segs.append(cur)
        kuan = re.match(r"^(\d{2})([^\d,.].*)$", t) if cur.code and not cur.label else None
        if kuan:  # "301 01基本工资": the 款 digits glued to the name
            cur.code += kuan.group(1)
            cur.label += kuan.group(2)
        elif glued and not cur.label:
            cur.code += glued.group(1)
            cur.label += glued.group(2)
        elif _CODE.match(t) and not cur.label:
            cur.code += t
        else:
            cur.label += t
    for s in segs:
        s.label = re.sub(r"^(?:类\s*款\s*项|类款项|类款|类)(?=合计|$)", "", s.label)
    return segs


def _merge_wrapped_lines(header: list[str]) -> list[str]:
    """Column names wrapped onto a later header line ("一般公共预算财" … "政拨款") are joined back
    when every pairwise join is a known column name."""
    vocab = set(column_vocabulary())
    lines = [h.split() for h in header]
    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            a, b = lines[i], lines[j]
            if len(a) >= 2 and len(a) == len(b) and all(norm_label(x + y) in vocab for x, y in zip(a, b)):
                lines[i] = [x + y for x, y in zip(a, b)]
                lines[j] = []
    return [" ".join(l) for l in lines if l]


def header_columns(header: list[str]) -> list[list[str]]:
    """Value column names per side from the header lines (side = a 项目 … block)."""
    words: list[str] = []
    vocab = set(column_vocabulary())
    for line in _merge_wrapped_lines(header):
        for tok in line.split():
            for w in _split_glued(squeeze(tok)):
                # "事业单位" + "经营收入" split over two lines → 事业单位经营收入
                if words and norm_label(words[-1] + w) in vocab and norm_label(words[-1]) not in vocab:
                    words[-1] = words[-1] + w
                else:
                    words.append(w)
    sides: list[list[str]] = [[]]
    seen_label = False
    for w in words:
        n = norm_label(w)
        if n in ("项目", "项目名称"):
            if seen_label and sides[-1]:
                sides.append([])
            seen_label = True
            continue
        if _LABEL_WORDS.match(n) or not n:
            continue
        sides[-1].append(n)
    return [s for s in sides if s]


def _split_glued(tok: str) -> list[str]:
    """"财政拨款收入事业收入事业单位" → known column names, longest first; unknown text kept."""
    vocab = column_vocabulary()
    out: list[str] = []
    rest = tok
    while rest:
        for v in vocab:
            if rest.startswith(v):
                out.append(v)
                rest = rest[len(v):]
                break
        else:
            # no known name starts here: take up to the next known name
            nxt = min((rest.find(v) for v in vocab if rest.find(v) > 0), default=-1)
            if nxt > 0:
                out.append(rest[:nxt])
                rest = rest[nxt:]
            else:
                out.append(rest)
                rest = ""
    return out


def _is_total(name: str) -> bool:
    return bool(re.search(r"合计|总计|^小计$", name))


def table_facts(table: SpacedTable, department: str = "") -> tuple[list[CellFact], list[Unaligned], list[tuple[str, ...]]]:
    """Facts of a spaced table, the cells left unaligned, and the column paths."""
    cols = header_columns(table.header)
    facts: list[CellFact] = []
    unaligned: list[Unaligned] = []
    n_sides = max((len(r.segments) for r in table.rows), default=1)
    side_cols = _side_columns(cols, n_sides, table.rows)
    # a side whose fullest rows do not have one amount per named column has an unreliable header:
    # its full rows are kept by position (第k列), nothing is inferred for the others
    widest: dict[int, int] = {}
    for row in table.rows:
        for si, seg in enumerate(row.segments):
            side = _side_of(seg, si, len(row.segments), n_sides)
            widest[side] = max(widest.get(side, 0), len(seg.amounts))
    for side, w in widest.items():
        if side < len(side_cols) and side_cols[side] and w != len(side_cols[side]) and not (
                w < len(side_cols[side]) and _is_total(side_cols[side][0])):
            side_cols[side] = [f"第{k + 1}列" for k in range(w)]
    # first pass: per row and segment, what is known
    pending: list[tuple[int, int, SpacedRow, Segment, list[str]]] = []
    resolved: dict[tuple[int, int], dict[str, str]] = {}
    for ri, row in enumerate(table.rows):
        for si, seg in enumerate(row.segments):
            side = _side_of(seg, si, len(row.segments), n_sides)
            names = side_cols[side] if side < len(side_cols) else []
            if not seg.amounts:
                continue
            if not names:
                names = [f"第{k + 1}列" for k in range(len(seg.amounts))]
            if len(seg.amounts) == len(names):
                resolved[(ri, si)] = dict(zip(names, seg.amounts))
            elif len(seg.amounts) > len(names):
                resolved[(ri, si)] = dict(zip(names + [f"第{k + 1}列" for k in range(len(names), len(seg.amounts))], seg.amounts))
            else:
                known = {}
                rest = list(seg.amounts)
                if _is_total(names[0]) or len(names) > 1 and names[0] in ("预算数", "决算数"):
                    known[names[0]] = rest.pop(0)
                resolved[(ri, si)] = known
                if rest:
                    pending.append((ri, si, row, seg, rest))
    # second pass: classification-tree arithmetic for the pending cells
    _solve_by_tree(table, side_cols, resolved, pending, n_sides)
    for ri, si, row, seg, rest in pending:
        got = resolved[(ri, si)]
        if len([a for a in seg.amounts]) != len(got):
            side = _side_of(seg, si, len(row.segments), n_sides)
            names = side_cols[side] if side < len(side_cols) else []
            free = tuple(n for n in names if n not in got)
            for a in rest:
                unaligned.append(Unaligned(row.line, a, seg.label or seg.code, free))
    for (ri, si), cells in resolved.items():
        row = table.rows[ri]
        seg = row.segments[si]
        side = _side_of(seg, si, len(row.segments), n_sides)
        names = side_cols[side] if side < len(side_cols) else []
        group = _side_group(table.header, side, n_sides)
        label = norm_label(strip_ordinal(seg.label)) if seg.label else ""
        code_kind = _code_kind(seg.code, table.title)
        for name, cell in cells.items():
            value = float(cell.replace(",", ""))
            col_index = names.index(name) if name in names else 0
            facts.append(CellFact(
                label=label, value=value, value_text=cell, unit=table.unit, line=row.line, quote=row.text,
                row_path=(), code=seg.code, code_kind=code_kind,
                col_path=tuple(x for x in (group, name) if x), is_total_row=((not label and not seg.code) or _is_total(label)
                                                                            or (department and label == norm_label(department))),
                row_index=ri, col_index=side * 100 + col_index, page=row.page))
    paths = [tuple(x for x in (_side_group(table.header, k, n_sides), n) if x) for k, names in enumerate(side_cols) for n in names]
    return facts, unaligned, paths


def _side_columns(cols: list[list[str]], n_sides: int, rows: list[SpacedRow]) -> list[list[str]]:
    """Columns of each side. A lone header block for two sides is split by the widest row."""
    measures = [n for n in (cols[0] if cols else []) if n in ("预算数", "决算数", "金额")]
    if len(cols) == 1 and n_sides > 1 and len(measures) == n_sides and len(set(measures)) == 1:
        out = [[measures[0]] for _ in range(n_sides)]  # "科目名称 决算数 科目名称 决算数": one measure per half
    elif len(cols) >= n_sides:
        out = cols[:n_sides]
    elif cols:
        out = cols + [cols[-1]] * (n_sides - len(cols))
    else:
        out = [[] for _ in range(n_sides)]
    # drop group titles: a side keeps the names from its first total column on, if any
    trimmed = []
    for names in out:
        starts = [i for i, n in enumerate(names) if _is_total(n) or n in ("预算数", "决算数")]
        if starts and starts[0] > 0:
            names = names[starts[0]:]
        trimmed.append(_dedupe_measures(names))
    return trimmed


def _dedupe_measures(names: list[str]) -> list[str]:
    """"合计 基本支出 项目支出 … 决算数 决算数 决算数" → the repeated measure row labels the columns
    above it; keep the named columns."""
    measures = [n for n in names if n in ("决算数", "预算数")]
    others = [n for n in names if n not in ("决算数", "预算数")]
    if len(measures) >= 2 and others and len(measures) >= len(others):
        return others
    return names


def _side_of(seg: Segment, si: int, n_segs: int, n_sides: int) -> int:
    if n_sides <= 1 or n_segs >= n_sides:
        return si
    # one segment in a two-sided table: expenditure labels (…支出) sit on the right
    if re.search(r"支出$|支出合计$|支出总计$|结余$|结余分配$", norm_label(seg.label)) or seg.code:
        return n_sides - 1
    return 0


def _side_group(header: list[str], side: int, n_sides: int) -> str:
    if n_sides < 2 or not header:
        return ""
    first = [norm_label(t) for t in header[0].split()]
    first = [t for t in first if t in ("收入", "支出") or not _LABEL_WORDS.match(t)]
    return first[side] if side < len(first) and len(first) == n_sides else ""


def _code_kind(code: str, title: str) -> str:
    if not code:
        return ""
    if "经济分类" in title or re.fullmatch(r"3\d{2}(\d{2})?", code):
        return "economic"
    if re.fullmatch(r"2\d{2}(\d{2}(\d{2})?)?", code):
        return "functional"
    return ""


def _solve_by_tree(table: SpacedTable, side_cols, resolved, pending, n_sides) -> None:
    """Assign pending amounts so that, per column, children rows add up to their parent row
    (功能分类 类 → 款 → 项). Only a unique consistent assignment is taken."""
    by_code: dict[str, tuple[int, int]] = {}
    for ri, row in enumerate(table.rows):
        for si, seg in enumerate(row.segments):
            if seg.code:
                by_code.setdefault(seg.code, (ri, si))
    children: dict[str, list[str]] = {}
    for code in by_code:
        for plen in (3, 5):
            if len(code) == plen + 2 and code[:plen] in by_code:
                children.setdefault(code[:plen], []).append(code)
    # the 合计 row is the parent of the 类 (3-digit) rows
    total = next(((ri, si) for ri, row in enumerate(table.rows) for si, seg in enumerate(row.segments)
                  if not seg.code and _is_total(norm_label(seg.label or "合计")) and seg.amounts), None)
    if total is not None:
        by_code["__total__"] = total
        children["__total__"] = [c for c in by_code if len(c) == 3 and c.isdigit()]
    pend = {(ri, si): (seg, rest) for ri, si, _, seg, rest in pending}
    for _ in range(3):  # parents resolved in one round help their own parents in the next
        for parent, kids in children.items():
            pkey = by_code[parent]
            if pkey in pend:
                continue
            seg0 = table.rows[pkey[0]].segments[pkey[1]]
            names = side_cols[_side_of(seg0, pkey[1], len(table.rows[pkey[0]].segments), n_sides)]
            pvals = resolved.get(pkey, {})  # a parent with nothing pending: its missing columns are empty (0)
            kid_keys = [by_code[k] for k in kids]
            open_kids = [k for k in kid_keys if k in pend]
            if not open_kids:
                continue
            choices = []
            for k in open_kids:
                seg, rest = pend[k]
                free = [n for n in names if n not in resolved.get(k, {})]
                # a non-zero amount cannot sit in a column that is empty (0) on the parent row
                opts = [dict(zip(c, rest)) for c in itertools.permutations(free, len(rest))
                        if all(_dec(a) == 0 or _dec(pvals.get(n, "0")) != 0 for n, a in zip(c, rest))]
                choices.append(opts if len(rest) <= len(free) else [])
            if any(not c for c in choices) or _product_size(choices) > 4096:
                continue
            solutions = []
            for combo in itertools.product(*choices):
                ok = True
                for n in names:
                    if _is_total(n):
                        continue
                    total = Decimal(0)
                    for k in kid_keys:
                        cells = dict(resolved.get(k, {}))
                        if k in open_kids:
                            cells.update(combo[open_kids.index(k)])
                        total += Decimal(cells.get(n, "0").replace(",", ""))
                    if total != Decimal(pvals.get(n, "0").replace(",", "")):
                        ok = False
                        break
                if ok:
                    solutions.append(combo)
                    if len(solutions) > 1:
                        break
            if len(solutions) == 1:
                for k, cells in zip(open_kids, solutions[0]):
                    resolved[k].update(cells)
                    del pend[k]
    pending[:] = [p for p in pending if (p[0], p[1]) in pend]


def _dec(text: str) -> Decimal:
    return Decimal(text.replace(",", ""))


def _product_size(choices) -> int:
    n = 1
    for c in choices:
        n *= max(1, len(c))
    return n
