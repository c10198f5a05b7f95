"""The figures people ask most, resolved from the template cells that hold them.

A :class:`Metric` (收入总计, 基本支出, 三公经费 and its parts, 机关运行经费, 政府采购 …; data in
``assistant/data/budget_model.json``) is recognised in a question only when the question's item is
that metric and nothing else (:func:`find_metric`): "事业收入" is not 收入总计, "基本支出里的公务接待费"
is not 基本支出. It is then read from its preferred template cell (:func:`resolve`: table kind, row,
column, measure) and cross-checked with the sentences of the narrative that state it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

from ..model import Fact, Table
from .templates import column_measure, measure_matches, model_data, norm, table_kind

_PUNCT = re.compile(r"[的了和与及、，,。？?！!：:；;\s]")
_TOTAL_LABEL = re.compile(r"^(?:合计|总计|本年(?:收入|支出)?合计|收入总计|支出总计|)$")


@dataclass(frozen=True)
class Metric:
    """One metric of the catalog: ``names`` (official first), ``where`` (cell locators in order of
    preference), ``narrative`` (a sentence may state it), ``parts`` (ids of its components)."""

    id: str
    names: tuple[str, ...]
    where: tuple[dict, ...]
    narrative: bool = True
    parts: tuple[str, ...] = ()
    qualifiers: tuple[str, ...] = ()

    @property
    def name(self) -> str:
        return self.names[0]


@dataclass
class Resolution:
    """What a document holds for a metric and measure: ``cell`` (the preferred table fact or None),
    ``statements`` (narrative facts stating the same metric and measure), ``empty_table`` (a table of
    the metric's kind that prints no figure at all, e.g. a 三公 table with only its header)."""

    metric: Metric
    measure: str
    cell: Fact | None = None
    statements: list[Fact] = field(default_factory=list)
    empty_table: Table | None = None

    @property
    def fact(self) -> Fact | None:
        """The figure that answers: the cell, else the first statement, else None."""
        return self.cell if self.cell is not None else (self.statements[0] if self.statements else None)


@lru_cache(maxsize=1)
def catalog() -> dict[str, Metric]:
    """The metric catalog by id."""
    out = {}
    for m in model_data()["metrics"]:
        out[m["id"]] = Metric(m["id"], tuple(m["names"]), tuple(m.get("where", ())), m.get("narrative", True),
                              tuple(m.get("parts", ())), tuple(m.get("qualifiers", ())))
    return out


@lru_cache(maxsize=1)
def _parents() -> dict[str, set[str]]:
    """Metric id → ids of the metrics it is (transitively) a part of."""
    direct: dict[str, set[str]] = {}
    for m in catalog().values():
        for p in m.parts:
            direct.setdefault(p, set()).add(m.id)
    out: dict[str, set[str]] = {}
    for mid in catalog():
        seen, todo = set(), list(direct.get(mid, ()))
        while todo:
            x = todo.pop()
            if x not in seen:
                seen.add(x)
                todo.extend(direct.get(x, ()))
        out[mid] = seen
    return out


def _strip_words(text: str, words) -> str:
    for w in _longest_first(tuple(words)):
        text = text.replace(w, "")
    return _PUNCT.sub("", text)


@lru_cache(maxsize=1024)
def _longest_first(words: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(sorted({norm(x) for x in words if x}, key=len, reverse=True))


@lru_cache(maxsize=4096)
def _statement_cores(metric_id: str, quals: tuple[str, ...]) -> frozenset[str]:
    """The metric's names without qualifiers, as a narrative label is compared with them."""
    return frozenset(_strip_words(norm(n), quals) for n in catalog()[metric_id].names)


def find_metric(item: str) -> Metric | None:
    """The metric ``item`` (a question's item text) names and nothing else, or None.

    The longest metric name in the text is taken; what remains must be only qualifiers (预算数,
    决算, 部门, 安排 …; ``qualifiers`` in the data file) or the names of metrics it is part of
    (三公经费里的因公出国（境）费 → 因公出国（境）费)."""
    t = norm(item)
    found: dict[str, str] = {}
    for m in catalog().values():
        for n in m.names:
            nn = norm(n)
            if nn and nn in t and len(nn) > len(found.get(m.id, "")):
                found[m.id] = nn
    # a name inside a longer one found (公务用车购置 in 公务用车购置及运行费) is not a mention of its own
    found = {k: v for k, v in found.items() if not any(v != w and v in w for w in found.values())}
    # a part named with its whole (基本支出里的人员经费) is the part
    found = {k: v for k, v in found.items() if not any(k in _parents()[o] for o in found if o != k)}
    if not found:
        return None
    mid, name = max(found.items(), key=lambda kv: len(kv[1]))
    metric = catalog()[mid]
    rest = t.replace(name, "", 1)
    ancestors = [n for pid in _parents()[metric.id] for n in catalog()[pid].names]
    rest = _strip_words(rest, ancestors)
    rest = _strip_words(rest, list(model_data()["qualifiers"]) + list(metric.qualifiers) + ["财政拨款"] * bool(
        metric.id in _three_public_family()))
    return metric if not rest else None


@lru_cache(maxsize=1)
def _three_public_family() -> frozenset[str]:
    fam = {"three_public"}
    for mid, parents in _parents().items():
        if "three_public" in parents:
            fam.add(mid)
    return frozenset(fam | {"operating"})


@lru_cache(maxsize=16384)
def _leaf(col_path: tuple[str, ...]) -> str:
    """The column's own header: the last segment that is not a measure word."""
    for seg in reversed(col_path):
        if not column_measure((seg,)) or norm(seg) not in _measure_words():
            return norm(seg)
    return ""


@lru_cache(maxsize=1)
def _measure_words() -> frozenset[str]:
    return frozenset(w for _, ws in model_data()["measures"]["column_words"] for w in ws)


def _column_ok(loc: dict, col_path: tuple[str, ...]) -> bool:
    joined = _joined(col_path)
    leaf = _leaf(col_path)
    if not all(norm(w) in joined for w in loc.get("col_has", ())):
        return False
    if any(norm(w) in joined for w in loc.get("col_not", ())):
        return False
    if loc.get("leaf_any") and not any(norm(w) in leaf for w in loc["leaf_any"]):
        return False
    return not any(norm(w) in leaf for w in loc.get("leaf_not", ()))


@lru_cache(maxsize=16384)
def _joined(col_path: tuple[str, ...]) -> str:
    return norm("".join(col_path))


@lru_cache(maxsize=4096)
def _column_identity(kind: str, col_path: tuple[str, ...]) -> frozenset[str]:
    """The metrics whose column-only locators (row "first") on tables of ``kind`` accept this column.
    A header that several unrelated metrics accept (a merged header
    read as one string: "三公经费…因公出国(境)费公务接待费…") identifies none of them reliably."""
    fits = frozenset(m.id for m in catalog().values() for loc in m.where
                     if kind in loc.get("tables", ()) and loc.get("row") == "first" and _column_ok(loc, col_path))
    return fits


def _row_rank(loc: dict, f: Fact, first_row: int) -> int | None:
    """Preference of a row for a locator (lower is better), None if it does not fit."""
    row = loc.get("row", "total")
    if row == "total":
        return 0 if f.is_total_row and _TOTAL_LABEL.match(norm(f.label)) else None
    if row == "first":
        return 0 if f.row_index == first_row else None
    label = norm(f.label)
    names = [norm(x) for x in row]
    return names.index(label) if label in names else None


def resolve(metric: Metric, measure: str, basis: str, tables: list[Table], facts: list[Fact],
            drop_words: tuple[str, ...] = ()) -> Resolution:
    """Read ``metric`` at ``measure`` from one document's ``tables`` and ``facts``.

    ``basis`` is the document's "预算"/"决算"; ``drop_words`` are words narrative labels may carry
    besides the metric's name (the department's names, its year). Table cells are tried in the
    order of the metric's locators; statements are narrative amounts whose label, without
    qualifiers, is one of the metric's names and whose measure is the one asked."""
    res = Resolution(metric, measure)
    by_table: dict[str, list[Fact]] = {}
    for f in facts:
        if f.source == "table" and f.role == "amount" and f.value is not None:
            by_table.setdefault(f.table_id, []).append(f)
    for loc in metric.where:
        for kind in loc.get("tables", ()):
            for t in tables:
                if table_kind(t.title) != kind:
                    continue
                cells = by_table.get(t.table_id, [])
                if not cells:
                    if res.empty_table is None and not t.n_rows:
                        res.empty_table = t
                    continue
                fits = [f for f in cells if _column_ok(loc, f.col_path) and (
                    loc.get("row") != "first" or _column_identity(kind, f.col_path) <= {metric.id} | _parents()[metric.id])]
                if not fits:
                    continue
                first_row = min(f.row_index for f in fits)
                ranked = []
                for f in fits:
                    r = _row_rank(loc, f, first_row)
                    m = measure_matches(measure, column_measure(f.col_path), basis)
                    if r is not None and m:
                        ranked.append((r, -m, f.row_index, f.col_index, f))
                if ranked:
                    res.cell = min(ranked, key=lambda x: x[:4])[4]
                    res.empty_table = None
                    break
            if res.cell is not None:
                break
        if res.cell is not None:
            break
    if metric.narrative:
        quals = tuple(model_data()["qualifiers"]) + metric.qualifiers + tuple(drop_words)
        if metric.id in _three_public_family():
            quals += ("财政拨款",)
        cores = _statement_cores(metric.id, quals)
        for f in facts:
            if f.source != "narrative" or f.role != "amount" or f.value is None:
                continue
            if _strip_words(norm(f.label), quals) not in cores:
                continue
            fit = measure_matches(measure, column_measure((f.label,)), basis)
            if fit:
                res.statements.append((-fit, f.line, f))
        # the statement naming the asked measure itself first (预算数 before 年初预算), then in order
        res.statements = [f for *_, f in sorted(res.statements, key=lambda x: x[:2])]
    return res


def count_statements(unit: str, question: str, facts: list[Fact]) -> list[Fact] | None:
    """Narrative counts of the counted thing a question asks about (data ``counts``: 车辆 owned or to
    be bought), totals only, those sharing most characters with the question first, then in
    document order; None when no count of ``unit`` is modelled."""
    specs = [c for c in model_data().get("counts", ()) if c["unit"] == unit]
    if not specs:
        return None
    spec = next((c for c in specs if c["question_any"] and any(w in question for w in c["question_any"])),
                next((c for c in specs if not c["question_any"]), None))
    if spec is None:
        return None
    asked = {ch for ch in question if "\u4e00" <= ch <= "\u9fff"} - set("年几多少是的有没")
    return sorted((f for f in facts if f.source == "narrative" and f.role == "count" and f.unit == unit
                   and not f.whole and any(w in f.label for w in spec["label_any"])
                   and not any(w in f.label for w in spec["label_not"])),
                  key=lambda f: (-len(asked & set(f.label)), f.line))  # 共有多少辆车 → the 共有车辆 sentence


def count_units() -> frozenset[str]:
    """Units of the modelled counts (辆)."""
    return frozenset(c["unit"] for c in model_data().get("counts", ()))


def colloquial_metric(question: str) -> Metric | None:
    """The total a question asks for in everyday words and nothing else ("一共花了多少钱" → 支出总计,
    "收到多少钱" → 收入总计; data ``colloquial``), or None."""
    for rule in model_data().get("colloquial", ()):
        if any(w in question for w in rule["words"]):
            return catalog()[rule["metric"]]
    return None
