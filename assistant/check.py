"""Consistency report for one parsed disclosure (``budget-qa check``).

Kinds of internal inconsistency looked for, with general rules only (nothing here is keyed to a
document, table or figure):

- ``total_mismatch``: a total that is not the sum of its parts, inside one table —
  down the rows (a 合计 row against the top-level rows; a 功能分类/经济分类 parent row against its
  direct children: 类 = Σ款, 款 = Σ项) and across the columns (合计 = Σ top-level column groups,
  a group's 小计 = Σ its leaves; “其中” columns and rows are never added).
- ``cross_table_mismatch``: the same item (classification code, or a label that is unique in each
  table) in the same column meaning (the main/合计 column, or the same leaf header) with different
  values in two tables. Only tables of the same scope are compared: their grand totals must agree.
- ``table_narrative_mismatch``: a narrative amount whose label is exactly a table row label (main
  column) or a column header (grand-total row) and whose value differs. When the sentence lists the
  amount as part of a lead total (“…合计 X 万元，其中：…”), only tables whose grand total equals X are
  compared; otherwise a difference is reported only when no table agrees with the sentence.
- ``share_mismatch``: a stated percentage against the amounts it is computed from — a share
  (“占 90.61%”: part ÷ whole of the same sentence/paragraph) or a rate of change (“减少 2.80 万元，
  下降 1.82%”, or “执行数为 A 万元，预算安排 B 万元，比…执行数增加 x%”) — rounded to the printed
  decimals; reported when more than 0.01 percentage points apart.
- ``missing_table``: a table the contents (目录) list that the document does not contain (a table
  printed without figures, e.g. “本表无数据”, is present; a contents entry naming the whole set of
  tables, e.g. “单位预算表”, is not a table).

Amounts are compared as printed (exact decimals). Two figures differ when they are further apart than
half a unit of the last decimal printed by the coarser of the two (0.005 for two decimals); 元 and 万元
(and 亿元) are converted, other units are never compared with each other.

Being a report of disagreements between printed figures, the checks skip what was not read cleanly:
cells printed unlike the rest of their table (“01”, a whole number among decimals), columns whose
header could not be read (“第3列”), unlabeled rows inside a table, and classification rows that a
same-scope table has but this one lacks.
"""
from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from pathlib import Path
from typing import Optional

from .answering.compute import UNIT_FACTORS, fmt
from .model import Fact, Table
from .parsing.document import ParsedDocument
from .parsing.numbers import decimals_of
from .parsing.text import ORD_L1, ORD_L2, ORD_L3, is_total_label, norm_label, squeeze

log = logging.getLogger(__name__)

#: Finding kinds, in report order (the inspector's rules of :mod:`assistant.check_rules` follow the
#: arithmetic ones).
KINDS = ("total_mismatch", "balance_mismatch", "cross_table_mismatch", "share_mismatch",
         "table_narrative_mismatch", "item_amount_conflict", "classification_name_mismatch",
         "empty_table_note_contradiction", "missing_table", "required_table_missing",
         "empty_table_unexplained", "incomplete_sentence", "template_leftover", "wrong_scope_word",
         "same_year_comparison", "table_year_mismatch", "doubled_punctuation")

#: What kind of fault a finding is, as an inspector files it: figures that do not add up
#: ("arithmetic"), text and tables that disagree ("table_narrative"), a part that is absent
#: ("missing"), or the wording ("wording").
CATEGORIES = {
    "total_mismatch": "arithmetic", "balance_mismatch": "arithmetic", "cross_table_mismatch": "arithmetic",
    "share_mismatch": "arithmetic",
    "table_narrative_mismatch": "table_narrative", "item_amount_conflict": "table_narrative",
    "classification_name_mismatch": "table_narrative", "empty_table_note_contradiction": "table_narrative",
    "missing_table": "missing", "required_table_missing": "missing", "empty_table_unexplained": "missing",
    "incomplete_sentence": "missing",
    "template_leftover": "wording", "wrong_scope_word": "wording", "same_year_comparison": "wording",
    "table_year_mismatch": "wording", "doubled_punctuation": "wording",
}

#: (locator, line, page) of one side of a finding.
CitationRef = tuple[str, int, Optional[int]]

_GENERIC_TOTALS = {"", "合计", "总计", "共计"}
_TOTAL_WORDS = {"合计", "总计", "共计", "小计"}
_MAIN_LEAVES = {"合计", "总计", "金额", "共计"}
_MEASURES = {"预算数", "决算数", "执行数", "年初预算数", "调整预算数", "全年预算数"}
_SHARE_TOLERANCE = Decimal("0.01")
_QUOTES = re.compile(r"[“”\"'‘’「」『』]")
_PLACEHOLDER = re.compile(r"^第\d+列$")
_COLLECTION_TITLE = re.compile(r"^(?:本?(?:部门|单位))?(?:预算|决算)(?:公开)?表$")


@dataclass
class Finding:
    """One inconsistency: ``kind`` (see :data:`KINDS`), a one-line Chinese ``message`` naming the item,
    both figures and their units, and ``citations`` — (locator, line, page) for each side."""

    kind: str
    message: str
    citations: list[CitationRef] = field(default_factory=list)

    @property
    def category(self) -> str:
        """"arithmetic", "table_narrative", "missing" or "wording" (see :data:`CATEGORIES`)."""
        return CATEGORIES.get(self.kind, "arithmetic")

    def to_dict(self) -> dict:
        """JSON form: kind, category, message and citations as {locator, line, page}."""
        return {"kind": self.kind, "category": self.category, "message": self.message,
                "citations": [{"locator": c[0], "line": c[1], "page": c[2]} for c in self.citations]}


# ---------------------------------------------------------------- figures


@dataclass(frozen=True)
class _Fig:
    """A printed amount: exact value, decimals as printed, unit."""

    value: Decimal
    places: int
    unit: str
    text: str


def _fig(fact: Fact) -> _Fig | None:
    """The fact as an exact amount (元/万元/亿元 only), or None."""
    if fact.unit not in UNIT_FACTORS or fact.value is None:
        return None
    text = (fact.value_text or "").strip()
    try:
        value = Decimal(text.replace(",", "").replace("，", ""))
    except InvalidOperation:
        return None
    return _Fig(value, decimals_of(text), fact.unit, text)


def _tol(places: int) -> Decimal:
    """Half a unit of the last printed decimal."""
    return Decimal(5).scaleb(-(places + 1))


def _difference(a: _Fig, b: _Fig) -> tuple[Decimal, str, int] | None:
    """(a − b, unit, decimals) in the coarser unit when a and b differ beyond the tolerance of the
    coarser figure; None when they agree or cannot be compared."""
    if a.unit == b.unit:
        places = min(a.places, b.places)
        diff = a.value - b.value
        unit = a.unit
    elif a.unit in UNIT_FACTORS and b.unit in UNIT_FACTORS:
        coarse, fine = (a, b) if UNIT_FACTORS[a.unit] > UNIT_FACTORS[b.unit] else (b, a)
        converted = fine.value * UNIT_FACTORS[fine.unit] / UNIT_FACTORS[coarse.unit]
        places = coarse.places
        diff = (a.value - converted) if coarse is a else (converted - b.value)
        unit = coarse.unit
    else:
        return None
    if abs(diff) > _tol(places):
        return diff, unit, places
    return None


def _same(a: _Fig, b: _Fig) -> bool:
    return a.unit in UNIT_FACTORS and b.unit in UNIT_FACTORS and _difference(a, b) is None


def _show(f: _Fig) -> str:
    return f"{f.text} {f.unit}"


def _show_diff(diff: Decimal, unit: str, places: int) -> str:
    from .answering.compute import group_thousands

    return f"{group_thousands(fmt(abs(diff), places))} {unit}"


def _cite(fact: Fact, locator: str | None = None) -> CitationRef:
    """(locator, line, page) of a fact; a sentence's locator also names the figure's subject."""
    if locator is None:
        locator = fact.locator
        if fact.source == "narrative" and fact.label:
            locator = f"{locator} · {fact.label}" if locator else fact.label
    return (locator, fact.line, fact.page)


def _like(reference: str, value: Decimal, places: int) -> str:
    """Print ``value`` with ``places`` decimals, with thousands separators if ``reference`` has them."""
    text = fmt(value, places)
    if "," in reference:
        sign = "-" if text.startswith("-") else ""
        whole, _, frac = text.lstrip("-").partition(".")
        text = sign + f"{int(whole):,}" + (f".{frac}" if frac else "")
    return text


# ---------------------------------------------------------------- table model


@dataclass
class _Cell:
    fact: Fact
    fig: _Fig
    sem: tuple[str, ...]  # column path without the measure leaf
    measure: str  # "" or 预算数/决算数/… ("" also when it is the document's default measure)
    suspect: bool = False  # printed unlike the rest of its table: probably not read as an amount


@dataclass
class _TableView:
    table: Table
    cells: list[_Cell]
    paths: dict[str, set[tuple[str, ...]]]  # measure → all semantic column paths
    sub_cols: set[tuple[str, ...]]  # normalised column paths printed as “其中：…”
    first_row: int = 0
    last_row: int = 0
    grand_total: _Fig | None = None
    col_keys: dict[tuple[str, ...], str] = field(default_factory=dict)


def _split_measure(path: tuple[str, ...], default: str) -> tuple[tuple[str, ...], str]:
    if path and path[-1] in _MEASURES:
        m = path[-1]
        return path[:-1], ("" if m == default else m)
    return path, ""


def _is_placeholder(name: str) -> bool:
    """A header the parser could not read (“第3列”): it names no meaning."""
    return bool(_PLACEHOLDER.match(name))


def _is_main(sem: tuple[str, ...]) -> bool:
    """The table's main figure column: no header, or a 合计/金额-like leaf (never a group 小计)."""
    if not sem:
        return True
    leaf = sem[-1]
    if leaf == "小计":
        return False
    return leaf in _MAIN_LEAVES or is_total_label(leaf)


def _col_key(sem: tuple[str, ...]) -> str | None:
    """What a column means for comparisons: "<main>" or its leaf header (小计 → its group); None
    for unreadable headers."""
    if any(_is_placeholder(p) for p in sem):
        return None
    if _is_main(sem):
        return "<main>"
    parts = [p for p in sem if p not in ("小计", "金额")]
    return parts[-1] if parts else "<main>"


def _is_coded(fact: Fact) -> bool:
    """A 功能分类/经济分类 row (a 合计 row with a code carried down from the row above is not)."""
    return (fact.code_kind in ("functional", "economic") and fact.code.isdigit()
            and norm_label(fact.label) not in _TOTAL_WORDS)


def _is_anonymous(fact: Fact) -> bool:
    """A row with neither label nor code (a total row of a one-row table, or a row read badly)."""
    return not fact.label and not fact.code


def _is_total(v: _TableView, fact: Fact) -> bool:
    """A total row: flagged by the parser, not a classification row, and — when it has no label —
    the first or last row of its table (an unlabeled row in the middle was read badly)."""
    if norm_label(fact.label) in _TOTAL_WORDS:
        return True
    if not fact.is_total_row or _is_coded(fact):
        return False
    if _is_anonymous(fact):
        return fact.row_index in (v.first_row, v.last_row)
    return True


def _is_unclean(v: _TableView, fact: Fact) -> bool:
    return _is_anonymous(fact) and fact.row_index not in (v.first_row, v.last_row)


def _is_grand_total(v: _TableView, fact: Fact) -> bool:
    return _is_total(v, fact) and norm_label(fact.label) in _GENERIC_TOTALS


def _is_unit_row(v: _TableView, fact: Fact) -> bool:
    """A unit/department row (a total row named after the unit, not a 合计 label)."""
    return _is_total(v, fact) and not _is_grand_total(v, fact) and not is_total_label(fact.label)


def _raw_cell(fact: Fact) -> str:
    """The row's label cell as printed (ordinal and “其中” kept), found in the quoted row."""
    quote = fact.quote or ""
    for cell in quote.split(" | "):
        if fact.label and norm_label(cell) == fact.label:
            return squeeze(cell)
    # readable row quotes: "[codes] label：合计 … ；[codes] label：…"
    for part in quote.split("；"):
        for m in re.finditer("：", part):
            head = re.sub(r"^(?:\d+\s+)*", "", part[:m.start()]).strip()
            if fact.label and head and norm_label(head) == fact.label:
                return squeeze(head)
    return fact.label


def _is_sub_row(fact: Fact) -> bool:
    return _raw_cell(fact).startswith("其中")


def _ordinal_level(fact: Fact) -> int:
    raw = _raw_cell(fact)
    for level, pat in ((2, ORD_L2), (1, ORD_L1), (3, ORD_L3)):
        if pat.match(raw):
            return level
    return 0


def _default_measure(parsed: ParsedDocument) -> str:
    return "决算数" if parsed.document.basis == "决算" else "预算数"


def _mark_suspects(cells: list[_Cell]) -> None:
    """Flag cells that are probably not amounts: a leading zero (“01”), or a non-zero whole number in
    a table that prints its amounts with decimals (a code, a count or a shifted cell read as an
    amount). Sums and comparisons involving a suspect cell are skipped."""
    decimal_table = any(c.fig.places > 0 and c.fig.value != 0 for c in cells)
    for c in cells:
        digits = c.fig.text.lstrip("-")
        if re.match(r"^0\d", digits) or (decimal_table and c.fig.places == 0 and c.fig.value != 0):
            c.suspect = True


def _views(parsed: ParsedDocument) -> list[_TableView]:
    default = _default_measure(parsed)
    by_table: dict[str, list[Fact]] = defaultdict(list)
    for f in parsed.facts:
        if f.source == "table" and f.role == "amount" and f.table_id:
            by_table[f.table_id].append(f)
    views = []
    for t in parsed.tables:
        cells = []
        for f in by_table.get(t.table_id, []):
            fig = _fig(f)
            if fig is None:
                continue
            sem, measure = _split_measure(tuple(f.col_path), default)
            cells.append(_Cell(f, fig, sem, measure))
        _mark_suspects(cells)
        paths: dict[str, set[tuple[str, ...]]] = defaultdict(set)
        sub_cols = set()
        for raw in t.columns:
            normed = tuple(norm_label(p) for p in raw)
            sem, measure = _split_measure(normed, default)
            paths[measure].add(sem)
            if any(squeeze(p).startswith("其中") for p in raw):
                sub_cols.add(sem)
        for c in cells:
            paths[c.measure].add(c.sem)
        view = _TableView(t, cells, paths, sub_cols)
        if cells:
            view.first_row = min(c.fact.row_index for c in cells)
            view.last_row = max(c.fact.row_index for c in cells)
        totals = [c.fig for c in cells if _is_total(view, c.fact) and not c.suspect and not c.measure
                  and _col_key(c.sem) == "<main>"]
        if totals:
            view.grand_total = max(totals, key=lambda f: f.value * UNIT_FACTORS[f.unit])
        keys: dict[str, dict[str, set]] = defaultdict(lambda: defaultdict(set))
        for measure, ps in paths.items():
            for p in ps:
                key = _col_key(p)
                if key is not None:
                    keys[measure][key].add(p)
        for measure, by_key in keys.items():
            for key, ps in by_key.items():
                if len(ps) == 1:  # a leaf header used twice in one table is ambiguous
                    view.col_keys[(measure,) + next(iter(ps))] = key
        views.append(view)
    return views


def _same_scope(a: _TableView, b: _TableView) -> bool:
    """Two tables cover the same scope when their grand totals agree (e.g. 支出决算表 and
    一般公共预算财政拨款支出决算表 of a department funded only by 一般公共预算)."""
    return a.grand_total is not None and b.grand_total is not None and _same(a.grand_total, b.grand_total)


def _row_name(v: _TableView, fact: Fact) -> str:
    if _is_grand_total(v, fact):
        return "合计行"
    return f"{fact.code} {fact.label}".strip() if fact.code else fact.label


def _col_name(sem: tuple[str, ...], measure: str = "") -> str:
    name = " > ".join(sem) if sem else "金额"
    return f"{name}（{measure}）" if measure else name


# ---------------------------------------------------------------- totals


def _check_totals(views: list[_TableView]) -> list[Finding]:
    out: list[Finding] = []
    for v in views:
        peers = [o for o in views if o is not v and _same_scope(o, v)]
        out.extend(_row_totals(v, peers))
        out.extend(_column_totals(v))
    return out


def _sum_finding(v: _TableView, total: _Cell, parts: list[_Cell], what: str) -> Finding | None:
    """Compare a total cell with the sum of part cells (same unit; decimals: most printed)."""
    if not parts or total.suspect or any(p.suspect or p.fig.unit != total.fig.unit for p in parts):
        return None
    places = max([total.fig.places] + [p.fig.places for p in parts])
    s = sum((p.fig.value for p in parts), Decimal(0))
    diff = total.fig.value - s
    if abs(diff) <= _tol(places):
        return None
    unit = total.fig.unit
    where = _row_name(v, total.fact)
    if total.sem in ((), ("合计",)) and (where == "合计行" or not total.sem) and not total.measure:
        pass  # the table's only or main figure column needs no name
    else:
        where += f"「{_col_name(total.sem, total.measure)}」"
    msg = (f"{v.table.title}：{where}为 {_show(total.fig)}，{what}之和为 {_like(total.fig.text, s, places)} "
           f"{unit}，相差 {_show_diff(diff, unit, places)}")
    return Finding("total_mismatch", msg, [_cite(total.fact), _cite(parts[0].fact)])


def _codes_of(views: list[_TableView]) -> set[tuple[str, str]]:
    """(code kind, code) of the classification rows of some tables."""
    return {(c.fact.code_kind, c.fact.code) for o in views for c in o.cells if _is_coded(c.fact)}


def _row_totals(v: _TableView, peers: list[_TableView]) -> list[Finding]:
    """Down the rows, per physical column: a classification row against its direct children, a total
    row against the top-level rows (or, without codes, a single 合计 row against the plain rows)."""
    out = []
    by_col: dict[tuple, list[_Cell]] = defaultdict(list)
    for c in v.cells:
        by_col[(c.fact.col_index, c.sem, c.measure)].append(c)
    own = _codes_of([v])
    own_kinds = {k for k, _ in own}
    elsewhere = {(k, x) for k, x in _codes_of(peers) if k in own_kinds}
    # classification rows a same-scope table has and this one lacks entirely (no row of the code,
    # its ancestors or its descendants): this table was probably not read completely
    lacking = {(k, x) for k, x in elsewhere
               if not any(k == ok and (x.startswith(t) or t.startswith(x)) for ok, t in own)}
    unclean = sorted({c.fact.row_index for c in v.cells if _is_unclean(v, c.fact)})
    for col_cells in by_col.values():
        col_cells.sort(key=lambda c: c.fact.row_index)
        coded = [c for c in col_cells if _is_coded(c.fact)]
        totals = [c for c in col_cells if _is_total(v, c.fact)]
        if coded:
            out.extend(_code_tree(v, coded, unclean, elsewhere, own))
            if unclean or lacking:
                continue  # rows read badly or missing: the top level may be incomplete
            top = [c for c in coded
                   if not any(o.fact.code != c.fact.code and c.fact.code.startswith(o.fact.code) for o in coded)]
            if _repeated(top) and not any(_is_unit_row(v, c.fact) for c in v.cells):
                continue  # a top-level row twice with no unit rows between: a row read twice
            whole = [t for t in totals if norm_label(t.fact.label) != "小计"]  # a 小计 covers a section
            for t in _comparable_totals(v, whole):
                f = _sum_finding(v, t, top, f"各科目（{_codes(top)}）")
                if f:
                    out.append(f)
            continue
        if unclean:
            continue
        # no classification codes: only a single 合计 row over plain rows (no 本年合计/总计 mix)
        generic = [c for c in totals if norm_label(c.fact.label) == "合计"]
        others = [c for c in totals if c not in generic and not _is_unit_row(v, c.fact)]
        if len(generic) != 1 or others:
            continue
        plain = [c for c in col_cells if not c.fact.is_total_row and not _is_sub_row(c.fact)]
        levels = [_ordinal_level(c.fact) for c in plain]
        if any(levels):
            if not all(levels):
                continue  # numbered and unnumbered rows mixed: hierarchy unknown
            top_level = min(levels)
            plain = [c for c, lv in zip(plain, levels) if lv == top_level]
        if not plain:
            continue
        units = [c for c in totals if _is_unit_row(v, c.fact)]
        checked = generic + (units if len({u.fig.value for u in units}) <= 1 else [])
        for t in checked:
            f = _sum_finding(v, t, plain, f"各行（{plain[0].fact.label} 等 {len(plain)} 行）")
            if f:
                out.append(f)
    return out


def _code_tree(v: _TableView, coded: list[_Cell], unclean: list[int], elsewhere: set[tuple[str, str]],
               own: set[tuple[str, str]]) -> list[Finding]:
    """类 = Σ款, 款 = Σ项 (direct children only) in one column; an empty cell counts as zero."""
    out = []
    code_count = Counter(c.fact.code for c in coded)
    rows = sorted(coded, key=lambda c: c.fact.row_index)
    for i, parent in enumerate(rows):
        code, kind = parent.fact.code, parent.fact.code_kind
        own_codes = {x for k, x in own if k == kind}
        if code_count[code] > 1:
            continue  # the same code twice (split rows or several units): ambiguous parent
        desc_codes = [x for x in own_codes if x != code and x.startswith(code)]
        if not desc_codes:
            continue
        level = min(len(x) for x in desc_codes)
        children = [c for c in coded if len(c.fact.code) == level and c.fact.code.startswith(code)]
        if not children or _repeated(children):
            continue
        # the rows up to the next row outside this parent must all have been read cleanly
        end = next((c.fact.row_index for c in rows[i + 1:] if not c.fact.code.startswith(code)), v.last_row + 1)
        if any(parent.fact.row_index < r < end for r in unclean):
            continue
        missing = {x for k, x in elsewhere
                   if k == kind and len(x) == level and x.startswith(code) and x not in own_codes}
        if missing:
            log.debug("%s: %s skipped, %s only in other tables", v.table.title, code, sorted(missing))
            continue
        f = _sum_finding(v, parent, children, f"下级科目（{_codes(children)}）")
        if f:
            out.append(f)
    return out


def _repeated(cells: list[_Cell]) -> bool:
    """The same classification row twice, with the same name and qualifiers (a row split by a
    second classification, as 30101 under 50101 and 50501, differs in its qualifiers)."""
    keys = Counter((c.fact.code, c.fact.label, c.fact.row_path) for c in cells)
    return any(n > 1 for n in keys.values())


def _comparable_totals(v: _TableView, totals: list[_Cell]) -> list[_Cell]:
    """Total rows of one column that all stand for the whole column: all of them when they agree,
    else only the 合计/总计 rows when those agree, else none."""
    if len({t.fig.value for t in totals}) <= 1:
        return totals
    generic = [t for t in totals if _is_grand_total(v, t.fact)]
    if generic and len({t.fig.value for t in generic}) == 1:
        return generic
    return []


def _codes(cells: list[_Cell]) -> str:
    codes = sorted({c.fact.code for c in cells})
    return "、".join(codes) if len(codes) <= 6 else f"{codes[0]}…{codes[-1]}，共 {len(codes)} 项"


def _column_totals(v: _TableView) -> list[Finding]:
    """Across the columns of each row: a 合计 column = Σ sibling groups; a group's 小计 = Σ its parts."""
    out = []
    rows: dict[tuple[int, str], dict[tuple[str, ...], _Cell | None]] = defaultdict(dict)
    for c in v.cells:
        row = rows[(c.fact.row_index, c.measure)]
        # two physical columns with one header path (side-by-side halves): ambiguous
        row[c.sem] = None if c.sem in row else c
    for (row_index, measure), row in sorted(rows.items(), key=lambda kv: kv[0]):
        if any(c is None for c in row.values()):
            continue
        paths = v.paths.get(measure, set())
        for sem, total in row.items():
            if not sem or any(_is_placeholder(p) for p in sem):
                continue
            if sem[-1] == "小计" or (_is_main(sem) and sem[-1] != "金额"):
                group = sem[:-1]
            else:
                continue
            comp = _components(group, paths, row, v.sub_cols, exclude=sem)
            if comp is None:
                continue
            parts, names = comp
            if not parts or len(names) < 2:
                continue
            f = _sum_finding(v, total, parts, "、".join(f"「{n}」" for n in names))
            if f:
                out.append(f)
    return out


def _components(group: tuple[str, ...], paths: set[tuple[str, ...]], row: dict, sub_cols: set,
                exclude: tuple[str, ...]) -> tuple[list[_Cell], list[str]] | None:
    """Cells making up ``group`` in one row: each direct child column, a child group by its 小计 or
    (recursively) its own parts. “其中” columns and other total columns are left out. None when a
    child column has an unreadable header (its meaning is unknown)."""
    children: list[str] = []
    for p in sorted(paths):
        if len(p) > len(group) and p[:len(group)] == group and p != exclude:
            name = p[len(group)]
            if name not in children:
                children.append(name)
    cells: list[_Cell] = []
    names: list[str] = []
    for name in children:
        path = group + (name,)
        if _is_placeholder(name):
            return None
        if name == "小计" or path in sub_cols or (_is_main(path) and name != "金额"):
            continue
        names.append(name)
        if path in paths and not any(len(p) > len(path) and p[:len(path)] == path for p in paths):
            if row.get(path) is not None:
                cells.append(row[path])
            continue
        sub = path + ("小计",)
        if sub in paths:
            if row.get(sub) is not None:
                cells.append(row[sub])
            continue
        inner = _components(path, paths, row, sub_cols, exclude)
        if inner is None:
            return None
        cells.extend(inner[0])
    return cells, names


# ---------------------------------------------------------------- same item, two places


def _row_key(v: _TableView, fact: Fact) -> tuple[str, ...] | None:
    if _is_coded(fact):
        return ("code", fact.code)
    if _is_grand_total(v, fact):
        return ("total",)
    if not fact.label or _is_unclean(v, fact):
        return None
    if fact.code:
        return ("unit", fact.code, fact.label)
    return ("label", fact.label)


def _keyed_cells(v: _TableView) -> dict[tuple, _Cell]:
    """(row key, measure, column key) → cell, for keys that occur exactly once in the table."""
    seen: dict[tuple, list[_Cell]] = defaultdict(list)
    for c in v.cells:
        rk = _row_key(v, c.fact)
        ck = v.col_keys.get((c.measure,) + c.sem)
        if rk is None or ck is None:
            continue
        seen[(rk, c.measure, ck)].append(c)
    return {k: cs[0] for k, cs in seen.items() if len(cs) == 1 and not cs[0].suspect}


def _check_cross_tables(views: list[_TableView]) -> list[Finding]:
    out = []
    clusters: list[list[_TableView]] = []
    for v in views:
        if v.grand_total is None:
            continue
        for cl in clusters:
            if _same_scope(cl[0], v):
                cl.append(v)
                break
        else:
            clusters.append([v])
    for cl in clusters:
        if len(cl) < 2:
            continue
        items: dict[tuple, list[tuple[_TableView, _Cell]]] = defaultdict(list)
        for v in cl:
            for key, cell in _keyed_cells(v).items():
                if key[0] == ("total",) and key[2] == "<main>":
                    continue  # the grand totals themselves define the cluster
                items[key].append((v, cell))
        for key, entries in items.items():
            if len(entries) < 2:
                continue
            groups: list[list[tuple[_TableView, _Cell]]] = []
            for e in entries:
                for g in groups:
                    if _same(g[0][1].fig, e[1].fig):
                        g.append(e)
                        break
                else:
                    groups.append([e])
            if len(groups) < 2:
                continue
            ref = max(groups, key=len)  # majority; ties → first in document order
            rv, rc = ref[0]
            for g in groups:
                if g is ref:
                    continue
                for ov, oc in g:
                    d = _difference(oc.fig, rc.fig)
                    if d is None:
                        continue
                    item = _item_name(rv, rc.fact, key[2])
                    msg = (f"{item}：{rv.table.title}为 {_show(rc.fig)}，{ov.table.title}为 {_show(oc.fig)}，"
                           f"相差 {_show_diff(*d)}")
                    out.append(Finding("cross_table_mismatch", msg, [_cite(rc.fact), _cite(oc.fact)]))
    return out


def _item_name(v: _TableView, fact: Fact, col_key: str) -> str:
    row = _row_name(v, fact)
    if col_key == "<main>":
        return row
    return f"{row}「{col_key}」" if row != "合计行" else f"{col_key}（合计行）"


def _sentences(parsed: ParsedDocument) -> dict[str, list[Fact]]:
    """Narrative facts grouped by paragraph (in order)."""
    paras: dict[str, list[Fact]] = defaultdict(list)
    for f in parsed.facts:
        if f.source == "narrative":
            paras[f.fact_id.rsplit(":f", 1)[0]].append(f)
    return paras


def _positions(facts: list[Fact]) -> dict[str, int]:
    """Character position of each figure in its sentence (figures are in sentence order)."""
    pos: dict[str, int] = {}
    cursor: dict[str, int] = defaultdict(int)
    for f in facts:
        q = f.quote or ""
        i = q.find(f.value_text, cursor[q]) if f.value_text else -1
        if i < 0:
            i = cursor[q]
        pos[f.fact_id] = i
        cursor[q] = i + max(1, len(f.value_text or ""))
    return pos


def _lead_amount(fact: Fact, para: list[Fact], pos: dict[str, int]) -> Fact | None:
    """The total a “其中” list refers to: the amount before 其中 in the sentence, or the last amount of
    the previous sentence when the sentence starts with 其中."""
    q = fact.quote or ""
    amounts = [f for f in para if f.role == "amount" and _fig(f) is not None]
    k = q.find("其中")
    if k > 0 and pos[fact.fact_id] > k:
        before = [f for f in amounts if f.quote == q and pos[f.fact_id] < k]
        if before:
            return before[-1]
    if q.lstrip().startswith("其中"):
        idx = next((i for i, f in enumerate(para) if f.quote == q), None)
        prev = [f for f in amounts[:] if idx is not None and f in para[:idx] and f.quote != q]
        if prev:
            return prev[-1]
    return None


def _check_table_narrative(parsed: ParsedDocument, views: list[_TableView]) -> list[Finding]:
    out = []
    by_label_row: dict[str, list[tuple[_TableView, _Cell]]] = defaultdict(list)
    by_label_col: dict[str, list[tuple[_TableView, _Cell]]] = defaultdict(list)
    for v in views:
        label_rows = Counter(c.fact.label for c in v.cells
                             if v.col_keys.get((c.measure,) + c.sem) == "<main>" and not c.measure)
        for key, cell in _keyed_cells(v).items():
            rk, measure, ck = key
            if measure:
                continue
            if ck == "<main>" and rk[0] in ("label", "code") and label_rows[cell.fact.label] == 1:
                by_label_row[cell.fact.label].append((v, cell))
            elif rk == ("total",) and ck != "<main>":
                by_label_col[ck].append((v, cell))
    for para in _sentences(parsed).values():
        pos = _positions(para)
        for n in para:
            if n.role != "amount" or not n.label or norm_label(n.label) in _GENERIC_TOTALS:
                continue
            nf = _fig(n)
            if nf is None:
                continue
            cands = by_label_row.get(n.label, []) + by_label_col.get(n.label, [])
            if not cands:
                continue
            lead = _lead_amount(n, para, pos)
            lf = _fig(lead) if lead is not None else None
            if lf is not None:
                cands = [(v, c) for v, c in cands if v.grand_total is not None and _same(v.grand_total, lf)]
                differing = [(v, c) for v, c in cands if not _same(nf, c.fig)]
            else:
                differing = [(v, c) for v, c in cands if not _same(nf, c.fig)]
                if len(differing) < len(cands):
                    differing = []  # some table agrees with the sentence: scope unknown, no finding
            for v, c in differing:
                d = _difference(nf, c.fig)
                if d is None:
                    continue
                key = _col_key(c.sem)
                where = _row_name(v, c.fact) + ("" if key == "<main>" else f"「{key}」")
                msg = (f"{n.label}：说明文字为 {_show(nf)}，{v.table.title}（{where}）为 {_show(c.fig)}，"
                       f"相差 {_show_diff(*d)}")
                out.append(Finding("table_narrative_mismatch", msg, [_cite(n), _cite(c.fact)]))
    return out


# ---------------------------------------------------------------- shares and rates of change


def _percent(fact: Fact) -> tuple[Decimal, int] | None:
    """(signed value, printed decimals) of a percentage fact."""
    text = (fact.value_text or "").strip().rstrip("%％").replace(",", "")
    try:
        value = Decimal(text)
    except InvalidOperation:
        return None
    if fact.value is not None and fact.value < 0 and value > 0:
        value = -value
    return value, decimals_of(text)


def _round(value: Decimal, places: int) -> Decimal:
    q = Decimal(1).scaleb(-places) if places else Decimal(1)
    return value.quantize(q, rounding=ROUND_HALF_UP)


def _amounts(facts: list[Fact]) -> list[Fact]:
    return [f for f in facts if f.role == "amount" and f.unit in UNIT_FACTORS and _fig(f) is not None]


def _in(fig: _Fig, unit: str) -> Decimal:
    return fig.value * UNIT_FACTORS[fig.unit] / UNIT_FACTORS[unit]


def _check_shares(parsed: ParsedDocument) -> list[Finding]:
    """Stated shares (占 x%) against part ÷ whole, and stated rates of change (增长/下降 x%) against
    the amounts they are computed from, rounded to the decimals the percentage is printed with."""
    out = []
    paras = _sentences(parsed)
    all_amounts: dict[str, list[Fact]] = defaultdict(list)
    for para in paras.values():
        for f in _amounts(para):
            all_amounts[f.label].append(f)
    for para in paras.values():
        pos = _positions(para)
        for i, s in enumerate(para):
            if s.role == "share" and s.label:
                f = _share_finding(s, para, i, pos, all_amounts)
            elif s.role == "change_pct":
                f = _change_finding(s, para, i, pos)
            else:
                f = None
            if f:
                out.append(f)
    return out


def _share_finding(s: Fact, para: list[Fact], i: int, pos: dict[str, int],
                   all_amounts: dict[str, list[Fact]]) -> Finding | None:
    before = _amounts(para[:i])
    part = next((f for f in reversed(before) if f.quote == s.quote and f.label == s.label), None)
    stated = _percent(s)
    if part is None or stated is None:
        return None
    whole = _find_whole(s, part, before, all_amounts, para, pos)
    if whole is None:
        return None
    pf, wf = _fig(part), _fig(whole)
    whole_value = _in(wf, pf.unit)
    if whole_value <= 0:
        return None
    value, places = stated
    computed = _round(pf.value / whole_value * 100, places)
    if abs(value - computed) <= _SHARE_TOLERANCE:
        return None
    msg = (f"{s.label}占{whole.label}的比重：文中为 {s.value_text.strip()}，按 {_show(pf)} ÷ {_show(wf)} "
           f"计算应为 {computed}%")
    return Finding("share_mismatch", msg, [_cite(s), _cite(whole)])


def _find_whole(s: Fact, part: Fact, before: list[Fact], all_amounts: dict[str, list[Fact]],
                para: list[Fact], pos: dict[str, int]) -> Fact | None:
    """The whole of a share: its named whole in the same sentence, else the same paragraph, else a
    figure the whole document states with one value; without a name, the sentence's lead amount
    (the total a “其中” list refers to, or the sentence's first amount when it is not smaller)."""
    if s.whole:
        same = [f for f in before if f.label == s.whole and f is not part]
        in_sentence = [f for f in same if f.quote == s.quote]
        if in_sentence:
            return in_sentence[-1]
        if same:
            return same[-1]
        elsewhere = all_amounts.get(s.whole, [])
        figs = [_fig(f) for f in elsewhere]
        if elsewhere and all(_same(figs[0], x) for x in figs[1:]):
            return elsewhere[0]
        return None
    lead = _lead_amount(part, para, pos)
    if lead is None:
        first = next((f for f in before if f.quote == s.quote), None)
        # "A 264.87 万元，占 86.05%；B 10.82 万元，占 3.52%": A has its own share, it is B's sibling
        sibling = first is not None and any(
            x.role == "share" and x.quote == s.quote and pos[first.fact_id] < pos[x.fact_id] < pos[part.fact_id]
            for x in para)
        if first is not None and first is not part and first.label != part.label and not sibling:
            lf, pf = _fig(first), _fig(part)
            if _in(lf, pf.unit) >= pf.value:
                lead = first
    return lead if lead is not None and lead is not part else None


_VERB_AT_END = re.compile(r"(?:增加|减少|增长|下降|上升|降低|提高)了?$")
_BASE_WORDS = re.compile(r"^(?:同期|上年|去年|上一年|上年度)$")


def _change_finding(p: Fact, para: list[Fact], i: int, pos: dict[str, int]) -> Finding | None:
    """A rate of change against its amounts: the change amount stated just before it (base =
    current − change), or the current and base amounts of the sentence (“…执行数为 A 万元，预算安排
    B 万元，比…执行数增加 x%”)."""
    stated = _percent(p)
    if stated is None:
        return None
    value, places = stated
    same = [f for f in para[:i] if f.quote == p.quote]
    prev = same[-1] if same else None
    if prev is not None and prev.role == "change" and prev.unit in UNIT_FACTORS and _fig(prev) is not None:
        chg = prev
        # the figure that changed: named like the change, else the sentence's last amount before it
        current = next((f for f in reversed(_amounts(same)) if f.label == chg.label), None)
        if current is None:
            current = next((f for f in reversed(_amounts(para[:i])) if f.label == chg.label), None)
        if current is None:
            current = next(iter(reversed(_amounts(same))), None)
        if current is None:
            return None
        cf, gf = _fig(current), _fig(chg)
        signed = _in(gf, cf.unit) * (-1 if (chg.value or 0) < 0 else 1)
        base = cf.value - signed
        if base <= 0:
            return None
        computed = _round(signed / base * 100, places)
        unit = cf.unit
        formula = (f"{_like(gf.text, abs(signed), gf.places)} {unit} ÷ {_like(cf.text, base, cf.places)} {unit}"
                   f"（{_show(cf)} {'−' if signed >= 0 else '+'} {_show(gf)}）")
        other = current
    else:
        current = next((f for f in reversed(_amounts(same)) if f.label == p.label), None)
        if current is None:
            return None
        q = p.quote or ""
        k = max(q.rfind("比", 0, pos[p.fact_id]), q.rfind("较", 0, pos[p.fact_id]))
        if k < 0 or k < pos[current.fact_id]:
            return None
        phrase = re.sub(r"^\s*\d{4}\s*年度?", "", q[k + 1:pos[p.fact_id]]).strip()
        phrase = _VERB_AT_END.sub("", phrase).strip()
        if len(phrase) < 2 or _BASE_WORDS.match(phrase):
            return None
        bases = [f for f in _amounts(same) if f is not current and f.label.endswith(phrase)]
        if len(bases) != 1:
            return None
        base_fact = bases[0]
        cf, bf = _fig(current), _fig(base_fact)
        base = _in(bf, cf.unit)
        if base <= 0:
            return None
        computed = _round((cf.value - base) / base * 100, places)
        formula = f"({_show(cf)} − {_show(bf)}) ÷ {_show(bf)}"
        other = base_fact
    if abs(value - computed) <= _SHARE_TOLERANCE:
        return None
    word = lambda x: ("增长" if x >= 0 else "下降") + f" {abs(x)}%"
    msg = f"{current.label}的增减幅度：文中为{word(value)}，按 {formula} 计算应为{word(computed)}"
    return Finding("share_mismatch", msg, [_cite(p), _cite(other)])


# ---------------------------------------------------------------- listed but absent


def _norm_title(title: str, department: str = "") -> str:
    t = _QUOTES.sub("", squeeze(title))
    t = re.sub(r"\s+", "", t).replace("(", "（").replace(")", "）")
    t = re.sub(r"（续）$", "", t).lstrip("-•·")
    for _ in range(2):
        t = re.sub(r"^(?:附[表件][:：]?)?(?:\d+(?:-\d+)?|[一二三四五六七八九十]+)[、.．]", "", t)
        t = re.sub(r"^\d{2,4}年度?", "", t)
        if department and t.startswith(department):
            t = t[len(department):]
    return t


def _check_listed(parsed: ParsedDocument) -> list[Finding]:
    doc = parsed.document
    dept = _QUOTES.sub("", re.sub(r"\s+", "", doc.department or ""))
    present = {_norm_title(t.title, dept) for t in parsed.tables}
    lines: list[str] | None = None
    pages: list[int] | None = None
    out = []
    for title in doc.listed_tables:
        key = _norm_title(title, dept)
        if not key or key in present:
            continue
        if _COLLECTION_TITLE.match(key):
            log.debug("contents entry %s names the whole set of tables, not one table", title)
            continue
        if lines is None:
            lines, pages = _source_lines(doc.path)
        line, page = _find_line(key, lines, pages, dept)
        if line and any(_norm_title(l, dept) == key for l in lines[line:]):
            log.debug("%s: the table is printed (without figures the parser could read)", title)
            continue
        msg = f"目录列出的“{title}”在文件中未找到"
        out.append(Finding("missing_table", msg, [(f"目录 · {title}", line, page)]))
    return out


def _source_lines(path: str) -> tuple[list[str], list[int] | None]:
    from .errors import BudgetQAError
    from .parsing.reader import read_source

    try:
        src = read_source(Path(path))
    except (BudgetQAError, OSError) as exc:
        log.warning("cannot re-read %s to locate contents entries: %s", path, exc)
        return [], None
    return list(src.lines), (list(src.pages) if src.pages else None)


def _find_line(key: str, lines: list[str], pages: list[int] | None, dept: str) -> tuple[int, int | None]:
    """1-based line (and page) where the contents name ``key``; (0, None) if not found."""
    page_mark = re.compile(r"^\s*=+\s*第\s*(\d+)\s*页\s*=+\s*$")
    cur = None
    for i, l in enumerate(lines):
        m = page_mark.match(l)
        if m:
            cur = int(m.group(1))
            continue
        text = _QUOTES.sub("", re.sub(r"\s+", "", squeeze(l))).replace("(", "（").replace(")", "）")
        if key in text:
            return i + 1, (pages[i] if pages else cur)
    return 0, None


# ---------------------------------------------------------------- entry point


def arithmetic_findings(parsed: ParsedDocument) -> list[Finding]:
    """The table-arithmetic findings alone (totals against their parts inside each table), as ingest
    reports them."""
    return _check_totals(_views(parsed))


def check_document(parsed: ParsedDocument) -> list[Finding]:
    """All consistency findings for one parsed document, in :data:`KINDS` order, then source order.

    Never raises for odd layouts: parts of a table whose structure is ambiguous are skipped (logged
    at debug level), so that every finding is a real disagreement between printed figures.
    """
    from .check_rules import inspector_findings

    views = _views(parsed)
    findings = (_check_totals(views) + _check_cross_tables(views) + _check_table_narrative(parsed, views)
                + _check_shares(parsed) + _check_listed(parsed) + inspector_findings(parsed))
    unique: list[Finding] = []
    seen = set()
    for f in findings:
        key = (f.kind, f.message, tuple(f.citations))
        if key not in seen:
            seen.add(key)
            unique.append(f)
    order = {k: i for i, k in enumerate(KINDS)}
    unique.sort(key=lambda f: (order[f.kind], f.citations[0][1] if f.citations else 0))
    log.info("%s: %d findings", parsed.document.doc_id, len(unique))
    return unique
