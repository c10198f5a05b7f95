"""Tables of tab-separated PDF text: header tree, column roles, rows → facts.

A disclosure table arrives as a title line, meta lines (部门名称 / 单位：万元), header lines and data
rows whose cells are separated by tabs; merged header cells lose their span, and a row wrapped at a
page break arrives as a fragment row. The rules here follow the layout of the standard 部门预算公开
tables (财政部 部门预算公开参考样表): code columns (科目编码 类/款/项, 经济分类 科目编码, 单位代码,
项目编码), name columns, then amount columns under a header tree; indicator tables (绩效目标表) pair a
三级指标 column with a 指标值 column.

Header spans are rebuilt as follows (see :func:`build_column_paths`):
1. a label spans rightwards over empty cells, up to the next label of its line, within its parent;
2. a "小计" below a group starts that group (PDF text often shifts a group label by one column);
3. labels that land on a code/name column where they cannot belong ("orphans") fill, in order, the
   open child slots of multi-column groups of the line above.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field

from .numbers import parse_amount, parse_value_text
from .text import is_total_label, norm_label, squeeze, strip_ordinal

log = logging.getLogger(__name__)

_CODE_HEADER = re.compile(r"编码|代码|编号|^类$|^款$|^项$")
_INDICATOR_NAME = re.compile(r"指标$|指标名称$")
_INDICATOR_VALUE = re.compile(r"^指标值$|^目标值$")


@dataclass
class RawRow:
    line: int
    cells: list[str]
    page: int | None = None


@dataclass
class RawTable:
    """A table block cut from the text: title, unit, all tab lines (header and body) and its note."""

    title: str
    line: int
    unit: str = ""
    department: str = ""
    rows: list[RawRow] = field(default_factory=list)
    note: str = ""
    page: int | None = None
    note_line: int = 0
    note_page: int | None = None
    #: column index → header path read from a ruled PDF table's merged header cells (None: rebuild
    #: the spans from the text layout, see :func:`build_column_paths`)
    col_paths: dict[int, tuple[str, ...]] | None = None


@dataclass
class CellFact:
    """A parsed cell before it becomes a :class:`~assistant.model.Fact` (document fields added later)."""

    label: str
    value: float | None
    value_text: str
    unit: str
    line: int
    quote: str
    row_path: tuple[str, ...]
    code: str
    code_kind: str
    col_path: tuple[str, ...]
    is_total_row: bool
    row_index: int
    col_index: int
    role: str = "amount"
    page: int | None = None


@dataclass
class ParsedTable:
    raw: RawTable
    columns: list[tuple[str, ...]]
    facts: list[CellFact]
    n_rows: int
    row_labels: list[str] = field(default_factory=list)


def _is_data_row(cells: list[str]) -> bool:
    """A row with an amount (decimal or thousands-separated), or a lone 合计 row of an empty table."""
    filled = [c.strip() for c in cells if c.strip()]
    if any(parse_amount(c) is not None and ("." in c or "," in c) for c in filled):
        return True
    return len(filled) == 1 and norm_label(filled[0]) in ("合计", "总计")


def _is_header_row(cells: list[str]) -> bool:
    labels = {squeeze(c) for c in cells if c.strip()}
    return any(_INDICATOR_NAME.search(x) for x in labels) and any(_INDICATOR_VALUE.search(x) for x in labels)


def parse_table(raw: RawTable) -> ParsedTable:
    """Turn a raw table into facts; splits at inner header rows (整体绩效目标表 has a form part
    followed by an indicator grid with its own header)."""
    rows = [RawRow(r.line, [c for c in r.cells], r.page) for r in raw.rows]
    # split into segments: each starts with header rows, then data rows
    segments: list[tuple[list[RawRow], list[RawRow]]] = []
    i = 0
    n = len(rows)
    # leading rows before the first data row are the header, unless the table is a form
    # (label/value rows with no header), recognised by a data row with a numeric cell in col ≤ 3
    header: list[RawRow] = []
    form_rows: list[RawRow] = []
    first_ind = next((k for k, r in enumerate(rows) if _is_header_row(r.cells)), None)
    if first_ind and any(_is_data_row(r.cells) for r in rows[:first_ind]):
        # rows before an inner indicator header form a label/value form (整体绩效目标表)
        form_rows, i = rows[:first_ind], first_ind
    else:
        while i < n and not _is_data_row(rows[i].cells):
            header.append(rows[i])
            i += 1
    body: list[RawRow] = []
    while i < n:
        r = rows[i]
        if _is_header_row(r.cells):
            if header or body:
                segments.append((header, body))
            header, body = [r], []
            i += 1
            # multi-line indicator headers
            while i < n and not _is_data_row(rows[i].cells) and not any(
                    parse_value_text(c.strip()) for c in rows[i].cells if c.strip()) and _all_short(rows[i]):
                header.append(rows[i])
                i += 1
            continue
        body.append(r)
        i += 1
    if header or body:
        segments.append((header, body))

    facts: list[CellFact] = []
    columns: list[tuple[str, ...]] = []
    n_rows = 0
    if form_rows:
        facts.extend(_form_facts(raw, form_rows))
        n_rows += len(form_rows)
    geometric = raw.col_paths if raw.col_paths and not form_rows and len(segments) == 1 else None
    for header, body in segments:
        cols, fs = _grid_facts(raw, header, body, geometric)
        columns.extend(c for c in cols if c not in columns)
        facts.extend(fs)
        n_rows += len(body)
    labels = []
    for r in raw.rows:
        for c in r.cells:
            c = c.strip()
            if c and parse_amount(c) is None and not re.fullmatch(r"[\d\s]+", c) and len(c) <= 30:
                n = norm_label(c)
                if n and n not in labels:
                    labels.append(n)
    return ParsedTable(raw, columns, facts, n_rows, labels)


def _all_short(row: RawRow) -> bool:
    return all(len(c.strip()) <= 12 for c in row.cells)


def _pad(rows: list[list[str]], width: int) -> list[list[str]]:
    return [r + [""] * (width - len(r)) for r in rows]


def build_column_paths(header: list[list[str]], width: int, leaf_cols: set[int]) -> dict[int, tuple[str, ...]]:
    """Column header path for each column index (multi-level headers joined top-down).

    ``header``: header lines as cell lists; ``leaf_cols``: columns holding values (orphan labels can
    only land on those). Returns {col: ("基本支出", "人员经费", "工资福利支出"), …}.
    """
    lines = _pad([[squeeze(c) for c in h] for h in header], width)
    spans: list[list[tuple[int, int, str]]] = []  # per level: (start, end, label)
    parent_of = lambda lvl, c: next(((s, e, l) for s, e, l in spans[lvl - 1] if s <= c <= e), None) if lvl else None
    for lvl, cells in enumerate(lines):
        labels = [(c, t) for c, t in enumerate(cells) if t]
        # rule 2: a 小计 in the next line marks where its group really starts
        starts: dict[int, int] = {}
        if lvl + 1 < len(lines):
            for q, t in enumerate(lines[lvl + 1]):
                if t == "小计":
                    owner = [c for c, _ in labels if c <= q]
                    if owner:
                        starts.setdefault(owner[-1], q)
        fixed = sorted(((starts.get(c, c), t) for c, t in labels), key=lambda x: x[0])
        level_spans: list[tuple[int, int, str]] = []
        for k, (c, t) in enumerate(fixed):
            end = (fixed[k + 1][0] - 1) if k + 1 < len(fixed) else width - 1
            par = parent_of(lvl, c)
            if par is not None:
                end = min(end, par[1])
            level_spans.append((c, max(c, end), t))
        spans.append(level_spans)
    # rule 3: orphans — labels on non-leaf columns below a line that already named that column
    for lvl in range(1, len(lines)):
        orphans = [(s, e, l) for s, e, l in spans[lvl]
                   if s not in leaf_cols and any(lines[up][s] for up in range(lvl))
                   and not _CODE_HEADER.search(l)]
        if not orphans:
            continue
        open_slots = []
        for ps, pe, pl in spans[lvl - 1]:
            if pe > ps and all(c in leaf_cols for c in range(ps, pe + 1)):
                if not any(ps <= s <= pe for s, _, _ in spans[lvl]):
                    open_slots.extend(range(ps, pe + 1))
        if len(open_slots) != len(orphans):
            continue
        kept = [sp for sp in spans[lvl] if sp not in orphans]
        kept.extend((c, c, l) for c, (_, _, l) in zip(open_slots, orphans))
        spans[lvl] = sorted(kept)
    paths: dict[int, tuple[str, ...]] = {}
    for c in range(width):
        path = []
        for level_spans in spans:
            for s, e, l in level_spans:
                if s <= c <= e and (not path or path[-1] != l):
                    path.append(l)
        paths[c] = tuple(path)
    return paths


def _grid_facts(raw: RawTable, header: list[RawRow], body: list[RawRow],
                geometric: dict[int, tuple[str, ...]] | None = None) -> tuple[list[tuple[str, ...]], list[CellFact]]:
    """Facts of one header+body segment. ``geometric``: column paths read from a ruled table (used
    instead of rebuilding spans from the text layout)."""
    width = max([len(r.cells) for r in header + body] or [0])
    if geometric:
        width = max(width, max(geometric) + 1)
    if width == 0:
        return [], []
    hcells = [r.cells for r in header]
    body = _merge_wrapped(body, hcells, width)
    bcells = _pad([r.cells for r in body], width)
    # column roles
    first_paths = ({c: geometric.get(c, ()) for c in range(width)} if geometric
                   else build_column_paths(hcells, width, set()))
    code_cols, text_cols, value_cols = set(), set(), set()
    for c in range(width):
        path = first_paths.get(c, ())
        vals = [row[c].strip() for row in bcells if row[c].strip()]
        numeric = [v for v in vals if parse_amount(v) is not None]
        head = path[-1] if path else ""
        if any(_CODE_HEADER.search(p) for p in path) and not any(
                "." in v or "," in v for v in numeric):
            code_cols.add(c)
        elif _INDICATOR_VALUE.search(head):
            value_cols.add(c)
        elif vals and len(numeric) < len(vals) / 2:
            text_cols.add(c)
        elif not vals and (_INDICATOR_NAME.search(head) or re.search(r"名称|项目$|^项 ?目$", head)):
            text_cols.add(c)
        else:
            value_cols.add(c)
    paths = first_paths if geometric else build_column_paths(hcells, width, value_cols)
    columns = [paths[c] for c in sorted(value_cols)]
    records = _records(width, text_cols, code_cols, value_cols)
    top = {c: (paths[c][0] if paths[c] else "") for c in range(width)}
    kind_hint = " ".join([raw.title] + [" ".join(p) for p in paths.values()])

    facts: list[CellFact] = []
    carry: dict[int, str] = {}
    for ri, row in enumerate(bcells):
        line = body[ri].line
        page = body[ri].page
        quote = ""  # built below, once grouping text has been carried down
        # carry down grouping text (一级/二级指标, project name) when a row leaves it empty
        row_has_code = any(row[c].strip() for c in code_cols)
        # a total row (人员经费合计 under the last 303xx row) takes no code from the row above
        row_is_total = any(is_total_label(row[t]) for t in text_cols if row[t].strip())
        for c in sorted(text_cols | code_cols):
            if row_is_total and c in code_cols:
                continue
            if row[c].strip():
                carry[c] = row[c].strip()
            elif not row_has_code and c in carry and (c in code_cols or _first_text(text_cols) == c
                                                       or _is_group_col(c, text_cols, paths)):
                row[c] = carry[c]
        quote = _row_quote(row, paths, records, code_cols, value_cols, raw.unit) or _row_quote_plain(row)
        for c in sorted(value_cols):
            cell = row[c].strip()
            if not cell:
                continue
            path = paths[c]
            head = path[-1] if path else ""
            if _INDICATOR_VALUE.search(head):
                name_col = max((t for t in text_cols if t < c), default=None)
                name = row[name_col].strip() if name_col is not None else ""
                if not name:
                    continue
                vt = parse_value_text(cell)
                context = [row[t].strip() for t in sorted(text_cols | code_cols)
                           if t < c and t != name_col and row[t].strip()
                           and not _INDICATOR_NAME.search(paths[t][-1] if paths[t] else "")
                           and (t not in code_cols)]
                cat = path[-2] if len(path) >= 2 else ""
                facts.append(CellFact(
                    label=norm_label(name), value=vt.value if vt else None, value_text=cell,
                    unit=vt.unit if vt else "", line=line, quote=quote,
                    row_path=tuple(context[:2] + ([cat] if cat else [])), code="", code_kind="",
                    col_path=path, is_total_row=False, row_index=ri, col_index=c, role="indicator",
                    page=page))
                continue
            value = parse_amount(cell)
            if value is None:
                continue
            group_text = [t for t in sorted(text_cols) if t < c and top.get(t) == top.get(c) and top.get(c)]
            label_cols = group_text or records.get(c) or [t for t in sorted(text_cols) if t < c]
            label_col = next((t for t in label_cols if row[t].strip()), None)
            label = row[label_col].strip() if label_col is not None else ""
            qualifiers = []
            for t in label_cols:
                if t != label_col and row[t].strip():
                    q = row[t].strip()
                    qcode = _code_left_of(t, code_cols, row)
                    qhead = paths[t][0] if paths[t] else ""
                    qualifiers.append(" ".join(x for x in (qhead if qcode else "", qcode, q) if x))
            code = _code_left_of(label_col, code_cols, row) if label_col is not None else ""
            if not label and not code:
                label = ""  # a table with one unlabeled data row (“三公”经费预算表): columns name it
            code_kind = _code_kind(code, paths, label_col, code_cols, kind_hint)
            total = (not label) or is_total_label(label) or bool(
                raw.department and norm_label(label) == norm_label(raw.department))
            unit = _unit_from_path(path) or raw.unit
            facts.append(CellFact(
                label=norm_label(label) if label else "", value=value, value_text=cell, unit=unit,
                line=line, quote=quote, row_path=tuple(qualifiers), code=code, code_kind=code_kind,
                col_path=tuple(norm_label(p) for p in path), is_total_row=bool(total), row_index=ri,
                col_index=c, page=page))
    return columns, facts


def _records(width: int, text_cols: set[int], code_cols: set[int], value_cols: set[int]) -> dict[int, list[int]]:
    """For each value column, the name columns of its record. A record is a run of code/name columns
    followed by value columns; a name column after a value column starts the next record, so that
    column groups printed side by side (人员经费 | 公用经费 of a 基本支出决算表, 收入 | 支出 of a 收支总表)
    are read as separate lists."""
    out: dict[int, list[int]] = {}
    names: list[int] = []
    after_value = False
    for c in range(width):
        if c in text_cols or c in code_cols:
            if after_value:
                names, after_value = [], False
            if c in text_cols:
                names.append(c)
        elif c in value_cols:
            after_value = True
            out[c] = list(names)
    return out


def _leaf(path: tuple[str, ...]) -> str:
    """The column name shown in a quote: the leaf header ("预算数" under a group: "基本支出 预算数")."""
    if not path:
        return ""
    leaf = squeeze(path[-1])
    if leaf in ("预算数", "决算数", "金额", "小计", "执行数") and len(path) >= 2:
        return f"{squeeze(path[-2])}{leaf}" if leaf == "小计" else f"{squeeze(path[-2])} {leaf}"
    return leaf


def _row_quote(cells: list[str], paths: dict[int, tuple[str, ...]], records: dict[int, list[int]],
               code_cols: set[int], value_cols: set[int], unit: str) -> str:
    """A data row as a reader would say it: "201 03 02 一般行政管理事务：合计 46,140,000.00 元（4,614.00
    万元），基本支出 …"; side-by-side records are joined with "；". Amounts are shown by
    :func:`~assistant.answering.compute.display_amount` in the column's unit. "" when the row has
    no amount."""
    from ..answering.compute import display_amount

    groups: dict[tuple[int, ...], list[int]] = {}
    for c in sorted(value_cols):
        if c < len(cells) and cells[c].strip() and parse_amount(cells[c].strip()) is not None:
            groups.setdefault(tuple(records.get(c, [])), []).append(c)
    parts = []
    for names, cols in groups.items():
        label = ""
        if names:
            first = min(names)
            codes = [cells[k].strip() for k in sorted(code_cols) if k < first and cells[k].strip()
                     and not any(v < first and v > k for v in value_cols)]
            label = " ".join(codes + [cells[k].strip() for k in names if cells[k].strip()])
        figures = []
        for c in cols:
            col_unit = _unit_from_path(paths.get(c, ())) or unit
            name = _leaf(paths.get(c, ()))
            shown = display_amount(cells[c].strip(), col_unit)
            figures.append(f"{name} {shown}".strip())
        parts.append((f"{label}：" if label else "") + "，".join(figures))
    return "；".join(parts)


def _row_quote_plain(cells: list[str]) -> str:
    """The row as text: cells joined by " | ", an empty cell between filled ones shown as "—" so the
    reader can tell the columns apart."""
    filled = [i for i, c in enumerate(cells) if c.strip()]
    if not filled:
        return ""
    return " | ".join(cells[i].strip() or "—" for i in range(filled[0], filled[-1] + 1))


def _first_text(text_cols: set[int]) -> int | None:
    return min(text_cols) if text_cols else None


def _is_group_col(c: int, text_cols: set[int], paths) -> bool:
    head = paths[c][-1] if paths.get(c) else ""
    return bool(re.search(r"一级|二级", head))


def _code_left_of(col: int | None, code_cols: set[int], row: list[str]) -> str:
    """Concatenate the contiguous code cells immediately left of a name column (类+款+项 → 2013101)."""
    if col is None:
        return ""
    parts = []
    c = col - 1
    while c >= 0 and c in code_cols:
        parts.append(row[c].strip())
        c -= 1
    parts.reverse()
    # 款/项 are two digits; a cell printed "2" for "02" (some tables drop the zero) is padded
    parts = [p if k == 0 or not p.isdigit() or len(p) != 1 else p.zfill(2) for k, p in enumerate(parts)]
    code = "".join(p for p in parts if p)
    # a unit code column (单位代码) standing alone between 类款项 and the name
    if not code and col - 1 in code_cols:
        code = row[col - 1].strip()
    return code


def _code_kind(code: str, paths, label_col, code_cols, hint: str) -> str:
    if not code:
        return ""
    heads = " ".join(" ".join(paths[c]) for c in code_cols if label_col is not None and c < label_col)
    if "单位代码" in heads and len(code) <= 3 or re.search(r"单位.{0,2}代码", heads) and not re.search(r"类|科目", heads):
        return "unit" if not re.search("项目", heads) else "project"
    if "经济分类" in hint and re.fullmatch(r"3\d{2}(\d{2})?", code):
        return "economic"
    if re.fullmatch(r"2\d{2}(\d{2}(\d{2})?)?", code):
        return "functional"
    if re.fullmatch(r"[35]\d{2}(\d{2})?", code):
        return "economic"
    if "项目" in heads or len(code) > 7:
        return "project"
    return "unit"


def _unit_from_path(path: tuple[str, ...]) -> str:
    for p in path:
        m = re.search(r"[（(](万元|元|亿元)[)）]", p)
        if m:
            return m.group(1)
    return ""


def _merge_wrapped(body: list[RawRow], hcells: list[list[str]], width: int) -> list[RawRow]:
    """Merge fragment rows (a cell wrapped across a page break) into the row above.

    A fragment row has no code, no amount, and an incomplete indicator pair (a name without a value,
    or a value that is not a value, e.g. "/人/天") or a lone name fragment.
    """
    if not hcells:
        return body
    flat = [squeeze(c) for h in hcells for c in h]
    has_pairs = any(_INDICATOR_VALUE.search(x) for x in flat if x)
    if not has_pairs:
        return body
    leaf = _pad([[squeeze(c) for c in hcells[-1]]], width)[0]
    value_pos = [c for c, t in enumerate(leaf) if _INDICATOR_VALUE.search(t)]
    out: list[RawRow] = []
    for r in body:
        cells = r.cells + [""] * (width - len(r.cells))
        has_amount = any(parse_amount(x.strip()) is not None and "." in x for x in cells)
        has_code = bool(cells[0].strip()) and cells[0].strip().isdigit()
        incomplete = False
        for v in value_pos:
            name, val = cells[v - 1].strip(), cells[v].strip()
            if (name and not val) or (val and not name) or (val and parse_value_text(val) is None
                                                            and val.startswith("/")):
                incomplete = True
        if out and not has_amount and not has_code and incomplete:
            prev = out[-1]
            pc = prev.cells + [""] * (width - len(prev.cells))
            merged = [(a.strip() + b.strip()) if b.strip() else a for a, b in zip(pc, cells)]
            out[-1] = RawRow(prev.line, merged, prev.page)
            continue
        out.append(RawRow(r.line, cells, r.page))
    return out


def _form_facts(raw: RawTable, rows: list[RawRow]) -> list[CellFact]:
    """Label/value rows of a form table (整体绩效目标表 预算情况): label = nearest text to the left."""
    facts: list[CellFact] = []
    group = ""
    for ri, r in enumerate(rows):
        cells = [c.strip() for c in r.cells]
        if cells and cells[0]:
            group = cells[0]
        quote = " | ".join(c for c in cells if c)
        for c, cell in enumerate(cells):
            value = parse_amount(cell)
            if value is None or not ("." in cell or "," in cell):
                continue
            label = next((cells[k] for k in range(c - 1, -1, -1) if cells[k] and parse_amount(cells[k]) is None), "")
            path = []
            m = re.match(r"^\s*\d+\s*[、.．]\s*([^：:]+)[：:]\s*(.*)$", label)
            if m:
                path.append(m.group(1))
                label = m.group(2)
            unit = _unit_from_path((label,)) or raw.unit or "万元"
            label = re.sub(r"[（(](万元|元|亿元)[)）]", "", label)
            facts.append(CellFact(
                label=norm_label(strip_ordinal(label)), value=value, value_text=cell, unit=unit,
                line=r.line, quote=quote, row_path=tuple(x for x in [group] + path if x), code="",
                code_kind="", col_path=(), is_total_row=False, row_index=ri, col_index=c, page=r.page))
    return facts
