"""Answering one intent from one document's facts and passages, with citations and formulas.

Matching is by common substrings between the question and each fact's names (row label, column
header, narrative subject), weighted by how much of the name the question covers; generic words
(支出, 经费, 预算 …) count little. Table cells whose row the question does not name count only on
total rows (合计/单位行), and cells off the table's main column only when the question names the
column. Figures are never generated: every number printed comes from a fact or from arithmetic on
facts, with its formula.
"""
from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Protocol

from ..budget.identity import aliases
from ..budget.metrics import Resolution, count_statements, find_metric, resolve
from ..budget.metrics import catalog as metric_catalog
from ..budget.templates import column_measure, measure_asked, measure_matches, norm, table_kind
from ..model import AnswerPart, Citation, Document, Fact, FactRef, Passage, Table
from ..understanding.intent import Intent
from ..understanding.lexicon import Lexicon
from . import compute
from .matching import GENERIC, Item, _forms, _match_form, name_score, name_score_rest, overlap, strip_filler

_MAIN_LEAVES = {"合计", "金额", "资金总额", "小计"}


class Retriever(Protocol):
    """Hybrid passage search (see :mod:`.retrieve`): ``search(query, k, doc_ids, kinds)``."""

    def search(self, query: str, k: int = 5, doc_ids=None, kinds=None) -> list: ...

log = logging.getLogger(__name__)

@dataclass
class TurnCitations:
    """Citations of a whole turn, numbered once; parts refer to the same numbers."""

    items: list[Citation] = field(default_factory=list)
    _numbers: dict[tuple, int] = field(default_factory=dict, repr=False)

    def add(self, c: Citation) -> int:
        key = (c.doc_id, c.line, c.locator)
        if key not in self._numbers:
            self.items.append(c)
            self._numbers[key] = len(self.items)
        return self._numbers[key]


#: words asking for money (资金, 金额, 经费, 多少钱, 元): a count never answers them
_AMOUNT_ASKED = re.compile(r"资金|金额|经费|钱|[万亿]?元")

_RETRIEVAL_FAILURES: set[str] = set()

#: score of a figure the budget model resolved (above any similarity score)
MODEL_SCORE = 100.0

#: the reason a sentence gives for a change ("主要原因是…", "主要是…")
_REASON = re.compile(r"主要(?:原因)?(?:是|为|：|:)+\s*([^。]+)")

#: words asking for a completion rate ("预算完成率", "执行了百分之几", "完成全年预算的比例")
_COMPLETION_WORDS = re.compile(r"(?:预算)?(?:完成|执行)(?:率|比例|进度)|(?:完成|执行)(?:了)?(?:年初|全年)?预算(?:的|数的)?"
                               r"(?:比例|百分之几|百分比|多少)?|预算(?:完成|执行)(?:率|比例)?|(?:完成|执行)?了?百分之几?")

#: a word naming a measure (预算数, 决算, 年初预算 …) in the item text itself
_MEASURE_WORD = re.compile(r"预算|决算|执行数|实际")


def _log_retrieval_failure(exc: Exception) -> None:
    """Log a failed vector/BM25 search: with its traceback the first time a kind of failure occurs
    in this process, then one line (an unreachable Chroma server fails every passage question)."""
    kind = f"{type(exc).__name__}: {str(exc)[:200]}"
    if kind in _RETRIEVAL_FAILURES:
        log.warning("retrieval failed again (%s); using lexical fallback", kind)
        return
    _RETRIEVAL_FAILURES.add(kind)
    log.error("retrieval failed; using lexical fallback", exc_info=exc)

class DocumentAnswerer:
    """Answers intents against one document. ``facts``/``passages``/``tables`` are that document's;
    ``retriever`` (optional) is the hybrid passage search used for definitions and explanations."""

    def __init__(self, doc: Document, facts: list[Fact], passages: list[Passage], tables: list[Table],
                 lexicon: Lexicon, retriever: Retriever | None = None):
        self.doc = doc
        # a figure read by OCR that its table's arithmetic (or the same figure elsewhere) contradicts is
        # never stated as exact: it is left out of answering (the ingest report names its page)
        self.unverified = [f for f in facts if not getattr(f, "exact", True)]
        self.facts = [f for f in facts if getattr(f, "exact", True)] if self.unverified else facts
        self.passages = passages
        self.tables = {t.table_id: t for t in tables}
        self.lex = lexicon
        self.retriever = retriever
        self._resolved: dict[tuple[str, str], Resolution] = {}
        self.main_col: dict[str, int] = {}
        paths: dict[str, set[tuple[str, ...]]] = {}
        for f in facts:
            if f.source == "table" and f.role == "amount":
                self.main_col[f.table_id] = min(self.main_col.get(f.table_id, 10 ** 6), f.col_index)
                paths.setdefault(f.table_id, set()).add(f.col_path)
        # a header over every column of a table (本年一般公共预算基本支出) names the table, not a column
        self.shared_head: dict[str, int] = {}
        for tid, ps in paths.items():
            n = 0
            ps = [p for p in ps if p]
            while ps and len(ps) > 1 and all(len(p) > n + 1 and p[n] == ps[0][n] for p in ps):
                n += 1
            self.shared_head[tid] = n

    # ------------------------------------------------------------------ vocabulary
    def labels(self) -> list[str]:
        """Names present in this document (row labels, column leaves, narrative subjects, terms)."""
        out = {f.label for f in self.facts if f.label}
        out |= {c for f in self.facts for c in f.col_path}
        out |= {p.term for p in self.passages if p.term}
        return sorted(x for x in out if len(x) >= 2)

    # ------------------------------------------------------------------ scoring
    def _col_name(self, f: Fact) -> str:
        path = [p for p in f.col_path[self.shared_head.get(f.table_id, 0):] if p]
        while path and (path[-1] in _MAIN_LEAVES or path[-1].startswith("其中")):
            if path[-1].startswith("其中") and len(path[-1]) > 3:
                path[-1] = path[-1][3:]
                break
            path = path[:-1]
        name = path[-1] if path else ""
        return "" if name in GENERIC or name.endswith("指标值") else name

    def _is_main(self, f: Fact) -> bool:
        leaf = f.col_path[-1] if f.col_path else ""
        return f.col_index == self.main_col.get(f.table_id) or leaf in ("合计", "金额", "资金总额") or (
            len(f.col_path) == 1 and leaf.endswith("合计"))

    def score(self, q: str, f: Fact, codes: list[str]) -> float:
        s = self._score(q, f, codes)
        if s:
            # a question about 决算 (final accounts) must not be answered by a 预算 figure, nor vice versa
            text = f.label + " ".join(f.col_path)
            if _qualifier_conflict(q, text):
                return 0.0
        return s

    def _score(self, q: str, f: Fact, codes: list[str]) -> float:
        if f.source == "narrative":
            s = name_score(q, f.label)
            return s * 1.02 if s else 0.0
        if f.role == "indicator":
            s = name_score(q, f.label)
            if s and f.row_path:
                s += 0.3 * name_score(q, f.row_path[0])
            return s
        # the row and the column must match different parts of the question
        row = "" if (f.is_total_row or not f.label) else f.label
        col = self._col_name(f)
        sr, rest = name_score_rest(q, row) if row else (0.0, q)
        sc = name_score(rest, col) if col else 0.0
        if col:
            sc2, rest2 = name_score_rest(q, col)
            sr2 = name_score(rest2, row) if row else 0.0
            if sc2 + sr2 > sr + sc:
                sr, sc = sr2, sc2
        code_hit = bool(f.code and f.code in codes)
        base = sr + sc + (10.0 if code_hit else 0.0)
        if base <= 0:
            return 0.0
        if sr == 0 and not code_hit and not f.is_total_row:
            base *= 0.3
        if sc == 0 and not self._is_main(f):
            base *= 0.5
        return base

    def items(self, q: str, intent: Intent, roles=("amount", "count", "indicator"),
              facts: list[Fact] | None = None) -> list[Item]:
        """Candidate figures for the item named in ``q``, best first (empty if nothing matches).

        An item that is a metric of the budget model (收入总计, 基本支出, 三公经费 …; see
        :mod:`assistant.budget.metrics`) is read from its template cell and the sentences stating
        it, never by similarity; any other item is matched by name against every fact."""
        if facts is None and "amount" in roles and not intent.codes:
            if intent.measure and "count" in roles:
                counted = count_statements(intent.measure, intent.text, self.facts)
                if counted is not None:  # 车辆有几辆 / 还打算买几辆: the stated total of that count
                    return [self._item(counted[0], MODEL_SCORE)] if counted else []
            modelled = self._metric_items(q, intent)
            if modelled is not None:
                return modelled
        pool = facts if facts is not None else self.facts
        asked = self._explicit_measure(q)
        scored = []
        for f in pool:
            if f.role not in roles or f.value is None and f.role != "indicator":
                continue
            if asked and f.role == "amount" and not measure_matches(
                    asked, column_measure(f.col_path if f.source == "table" else (f.label,)), self.doc.basis):
                continue  # 全年预算 asked, a 决算数 cell found: never the other measure
            if intent.measure and f.unit != intent.measure and not (f.role == "indicator" and intent.measure in f.value_text):
                continue
            s = self.score(q, f, intent.codes)
            if not s and intent.measure and f.unit == intent.measure and f.role == "count":
                # "车辆有几辆": the measure word already chose the kind; two shared characters suffice
                s = 0.5 * max((overlap(q, x) for x in _forms(f.label)), default=0)
                s = s if s >= 1.0 else 0.0
            if s > 0:
                scored.append((s, f))
        if not scored:
            return []
        best = max(s for s, _ in scored)
        keep = [(s, f) for s, f in scored if s >= best * 0.85]
        items: list[Item] = []
        groups: dict[tuple, list[tuple[float, Fact]]] = {}
        for s, f in keep:
            if f.source == "table" and f.role == "amount" and not f.is_total_row:
                key = (f.table_id, f.col_index, f.code or f.label)
                groups.setdefault(key, []).append((s, f))
            else:
                items.append(self._item(f, s))
        for key, members in groups.items():
            rows = {f.row_index for _, f in members}
            if len(rows) >= 2 and all(f.code == members[0][1].code and f.label == members[0][1].label for _, f in members):
                items.append(self._sum_item([f for _, f in members], max(s for s, _ in members)))
            else:
                items.extend(self._item(f, s) for s, f in members)
        # merge equal values (corroboration)
        merged: dict[tuple, Item] = {}
        for it in items:
            k = (it.value, it.unit)
            if k in merged:
                m = merged[k]
                if m.computed and not it.computed:  # a direct statement leads, the sum corroborates
                    it.facts.extend(x for x in m.facts if x not in it.facts)
                    it.corroboration = m.formula
                    it.score = max(it.score, m.score) + 0.05
                    merged[k] = it
                    continue
                m.facts.extend(x for x in it.facts if x not in m.facts)
                if it.computed and not m.corroboration and it.formula:
                    m.corroboration = it.formula
                if it.score > m.score:
                    m.score = it.score
                    if not m.computed:
                        m.label = it.label
                m.score += 0.05
            else:
                merged[k] = it
        return sorted(merged.values(), key=lambda i: (-i.score, i.computed, i.facts[0].source != "narrative",
                                                      i.facts[0].line))

    def _explicit_measure(self, q: str) -> str:
        """The measure ``q`` names explicitly (全年预算, 年初预算, 决算数, 上年执行数 …; "预算" in a 决算
        document), or "" when it names none beyond the document's own."""
        if re.search(r"全年预算|年初预算|调整预算|决算|执行数|上年预算", q) or (self.doc.basis == "决算" and "预算" in q):
            return measure_asked(q, self.doc.basis)
        return ""

    # ------------------------------------------------------------------ budget model
    def metric_resolution(self, q: str, intent: Intent, measure: str = "") -> Resolution | None:
        """The budget model's reading of the item ``q`` names (at ``measure``, default: the one the
        question asks for), or None when ``q`` names no metric or a classification code."""
        metric = None if intent.codes else find_metric(q)
        if metric is None:
            return None
        measure = measure or measure_asked(q if _MEASURE_WORD.search(q) else intent.text, self.doc.basis)
        return self._resolve(metric, measure)

    def _resolve(self, metric, measure: str) -> Resolution:
        """``metric`` read from this document at ``measure`` (remembered per answerer)."""
        key = (metric.id, measure)
        if key not in self._resolved:
            drop = tuple(aliases(self.doc.department)) + ((f"{self.doc.year}年",) if self.doc.year else ())
            self._resolved[key] = resolve(metric, measure, self.doc.basis, list(self.tables.values()),
                                          self.facts, drop)
        return self._resolved[key]

    def _metric_items(self, q: str, intent: Intent) -> list[Item] | None:
        res = self.metric_resolution(q, intent)
        if res is None:
            return None
        if res.cell is not None:
            cell = res.cell
            value = compute.dec(cell.value)
            agree = [f for f in sorted(res.statements, key=lambda x: x.line)
                     if f.unit in compute.UNIT_FACTORS and cell.unit in compute.UNIT_FACTORS
                     and compute.convert(compute.dec(f.value), f.unit, cell.unit) == value]
            same_unit = [f for f in agree if f.unit == cell.unit]
            if same_unit:  # the sentence states the cell's figure as printed: it leads, the cell corroborates
                item = self._item(same_unit[0], MODEL_SCORE)
                item.facts.append(cell)
                item.facts.extend(f for f in agree if f is not same_unit[0])
                return [item]
            item = self._item(cell, MODEL_SCORE)
            if item.label in ("", cell.table_title) or item.label in GENERIC or cell.is_total_row:
                item.label = res.metric.name
            item.facts.extend(agree)  # the narrative's statement (in 万元) of the same figure
            if not agree:  # the sentence states another figure: both are shown, with both citations
                item.disagreeing = [f for f in res.statements if f.unit in compute.UNIT_FACTORS][:1]
            return [item]
        return [self._item(res.fact, MODEL_SCORE)] if res.fact is not None else []

    def _stated_changes(self, statement: Fact) -> list[Fact]:
        """The changes a sentence states right after ``statement`` ("收入预算9,101.68万元，其中：财政拨款
        收入9,101.68万元，比2024年预算减少2,389.52万元"): change facts that follow it in the same
        sentence before any amount of another value."""
        def order(f: Fact) -> int:
            m = re.search(r":f(\d+)$", f.fact_id)
            return int(m.group(1)) if m else 0
        siblings = sorted((f for f in self.facts if f.source == "narrative" and f.line == statement.line
                           and f.quote == statement.quote), key=order)
        out, started = [], False
        for f in siblings:
            if f is statement or f.fact_id == statement.fact_id:
                started = True
                continue
            if not started:
                continue
            if f.role in ("change", "change_pct"):
                out.append(f)
            elif f.role == "amount" and f.value != statement.value:
                break
            elif out:
                break
        return out

    def _metric_change(self, intent: Intent, q: str, reg: TurnCitations, context: dict) -> AnswerPart | None:
        """A metric's change on an earlier year as the document states it, with the figure itself."""
        res = self.metric_resolution(q, intent)
        if res is None:
            return None
        base_years = [y for y in intent.years if self.doc.year and y < self.doc.year]
        for st in sorted(res.statements, key=lambda f: f.line):
            changes = [c for c in self._stated_changes(st) if not base_years or c.base_year in base_years]
            if not changes:
                continue
            cites, refs, bits = [], [], []
            if res.cell is not None:
                n = reg.add(self.citation(res.cell))
                cites.append(self.citation(res.cell))
                refs.append(FactRef(res.metric.name, res.cell.value_text, res.cell.unit, res.cell.locator, res.cell.doc_id))
                bits.append(f"{res.metric.name} {res.cell.value_text} {res.cell.unit}[{n}]".replace("  ", " "))
            n = reg.add(self.citation(st))
            cites.append(self.citation(st))
            refs.append(FactRef(res.metric.name, st.value_text, st.unit, st.locator, st.doc_id))
            bits.append(f"{'即' if bits else res.metric.name + ' '}{st.value_text} {st.unit}[{n}]")
            for c in changes:
                bits.append(f"{_change_phrase(c)}[{n}]")
                refs.append(FactRef(f"{res.metric.name}（变化）", c.value_text, c.unit, c.locator, c.doc_id))
            reason = _REASON.search(st.quote[st.quote.find(changes[-1].value_text):] if changes[-1].value_text in st.quote
                                    else st.quote)
            context["subject"] = q
            text = "，".join(bits) + "。" + (f"主要原因：{reason.group(1)}。" if reason else "")
            if any(c.value for c in changes):
                text += self._changed_parts(res.metric, base_years, reg, cites)
            return AnswerPart(intent.text, text, "figure", refs, cites)
        return None

    def _changed_parts(self, metric, base_years: list[int], reg: TurnCitations, cites: list[Citation]) -> str:
        """Where a metric's change lies: its parts (two levels) whose stated change is not zero, each
        with its sentence ("其中公务用车购置费15万元，比2024年预算减少10万元，主要原因是…")."""
        lines, todo = [], list(metric.parts)
        while todo:
            part = metric_catalog()[todo.pop(0)]
            todo.extend(part.parts)
            res = self._resolve(part, measure_asked("", self.doc.basis))
            for st in sorted(res.statements, key=lambda f: f.line):
                changes = [c for c in self._stated_changes(st) if c.value and (not base_years or c.base_year in base_years)]
                if not changes:
                    continue
                c = changes[0]
                n = reg.add(self.citation(st))
                if self.citation(st) not in cites:
                    cites.append(self.citation(st))
                printed = c.value_text.lstrip("-+")
                tail = st.quote[st.quote.find(printed):] if printed in st.quote else ""
                reason = _REASON.search(tail.split("；")[0])
                lines.append(f"{part.name} {st.value_text} {st.unit}，比{c.base_year or '上'}年{'增加' if c.value > 0 else '减少'}"
                             f" {printed} {c.unit}[{n}]" + (f"（{reason.group(1)}）" if reason else ""))
                break
        return ("其中变化的部分：" + "；".join(lines) + "。") if lines else ""

    def _metric_completion(self, intent: Intent, q: str, reg: TurnCitations, context: dict) -> AnswerPart | None:
        """决算数 ÷ 全年预算 (else 年初预算) of a metric, checked against the stated completion rate."""
        if self.doc.basis != "决算":
            return None
        final = self.metric_resolution(q, intent, "决算数")
        if final is None:
            return None
        budget = None
        for measure in ("全年预算", "年初预算", "预算数"):
            r = self.metric_resolution(q, intent, measure)
            its = self._metric_items_of(r) if r is not None else []
            if its and its[0].value != 0:  # a unit founded during the year has 年初预算 0
                budget = r
                break
        f_it = self._metric_items_of(final)
        b_it = self._metric_items_of(budget) if budget is not None else []
        if not f_it or not b_it or b_it[0].value == 0 or f_it[0].unit != b_it[0].unit:
            return None
        f, b = f_it[0], b_it[0]
        pct = compute.fmt(compute.share(f.value, b.value), 2)
        fm, fc, fr = self._refs(f, reg, 2)
        bm, bc, br = self._refs(b, reg, 2)
        formula = f"{f.value_text} ÷ {b.value_text} × 100% = {pct}%"
        stated = [x for x in self.facts if x.role == "rate" and x.value is not None and abs(x.value - float(pct)) < 0.006]
        extra = ""
        cites = fc + [c for c in bc if c not in fc]
        if stated:
            n = reg.add(self.citation(stated[0]))
            extra = f"，与文件所述一致[{n}]"
            cites.append(self.citation(stated[0]))
        context["subject"] = q
        name = final.metric.name
        return AnswerPart(intent.text, f"{name}{final.measure} {f.value_text} {f.unit}{fm}，{budget.measure} {b.value_text} "
                          f"{b.unit}{bm}，完成{budget.measure}的 {pct}%（{formula}{extra}）。", "computed",
                          fr + br + [FactRef(f"{name}完成{budget.measure}比例", pct + "%", "%", "计算", self.doc.doc_id)],
                          cites, formula)

    def _metric_items_of(self, res: Resolution) -> list[Item]:
        if res.fact is None:
            return []
        it = self._item(res.fact, MODEL_SCORE)
        it.label = res.metric.name
        return [it]

    def _empty_metric_table(self, intent: Intent, q: str, reg: TurnCitations) -> AnswerPart | None:
        """A metric whose template table the document prints without any figure (a 三公 table with
        only its header): by the template this means none was spent or budgeted; the table and its
        note are cited."""
        res = self.metric_resolution(q, intent)
        if res is None or res.empty_table is None or res.cell is not None or res.statements:
            return None
        t = res.empty_table
        quote = t.note or t.title
        c = Citation(self.doc.doc_id, self.doc.title, t.title, quote, t.line, t.page, "table", t.table_id)
        n = reg.add(c)
        note = f"表注：{t.note}" if t.note else "按公开模板，空表表示没有该项数据"
        return AnswerPart(intent.text, f"《{t.title}》是空表，没有列出任何数字[{n}]，即没有{res.metric.name}"
                          f"{'支出' if self.doc.basis == '决算' else '预算'}（{note}）。", "figure",
                          [FactRef(res.metric.name, "0", "", t.title, self.doc.doc_id)], [c])

    def _display_label(self, f: Fact) -> str:
        if f.source == "narrative" or f.role == "indicator":
            return f.label
        col = self._col_name(f)
        if f.is_total_row or not f.label:
            return col or f.table_title
        return f.label

    def _item(self, f: Fact, s: float) -> Item:
        value = compute.dec(f.value) if f.value is not None else Decimal(0)
        return Item(self._display_label(f), value, f.value_text, f.unit, [f], s)

    def _sum_item(self, facts: list[Fact], s: float) -> Item:
        total = sum((compute.dec(f.value) for f in facts), Decimal(0))
        d = compute.decimals_for([f.value_text for f in facts])
        text = compute.fmt(total, d)
        label = facts[0].label
        formula = f"{label} = " + " + ".join(f.value_text for f in facts) + f" = {text} {facts[0].unit}"
        return Item(label, total, text, facts[0].unit, list(facts), s, formula=formula, computed=True)

    # ------------------------------------------------------------------ citations
    def citation(self, f: Fact) -> Citation:
        return citation_of(self.doc, f)

    def passage_citation(self, p: Passage, quote: str | None = None) -> Citation:
        loc = " > ".join(p.section_path) or self.doc.title
        return Citation(self.doc.doc_id, self.doc.title, loc, quote or p.text, p.line, p.page, "passage")

    def _refs(self, item: Item, reg: TurnCitations, limit: int = 3) -> tuple[str, list[Citation], list[FactRef]]:
        facts = sorted(item.facts, key=lambda f: (f.source != "narrative", f.line))
        if item.corroboration:
            limit = len(facts)  # every row of the corroborating sum is cited
        if item.computed:
            facts = [f for f in item.facts if f.source == "table"] + [f for f in item.facts if f.source != "table"]
            limit = max(limit, len([f for f in item.facts if f.source == "table"]))
        cites, refs, marks = [], [], []
        for f in facts[:limit]:
            c = self.citation(f)
            n = reg.add(c)
            if c not in cites:
                cites.append(c)
                marks.append(f"[{n}]")
            refs.append(FactRef(self._display_label(f), f.value_text, f.unit, f.locator, f.doc_id))
        return "".join(dict.fromkeys(marks)), cites, refs

    # ------------------------------------------------------------------ operations
    def answer(self, intent: Intent, subject: str, reg: TurnCitations, context: dict) -> AnswerPart | None:
        """Answer one intent; ``subject`` is the item text (inherited for follow-ups).
        Returns None when this document has nothing to say (the caller decides not_found)."""
        op = intent.op
        q = strip_filler(subject) or subject
        if intent.table_named:
            named = self._named_table(intent.table_named)
            if named is None and self._listed(intent.table_named):
                return AnswerPart(intent.text, f"文档目录列出了《{intent.table_named}》，但文档中没有包含这张表，"
                                  f"因此未找到其中的数据。", "not_found")
        year_part = self._year_check(intent, q, reg)
        if year_part is not None:
            return year_part
        handler = getattr(self, f"_op_{op}", None) or self._op_figure
        part = handler(intent, q, reg, context)
        if part is None and op in ("completion", "share", "change", "sum", "code", "diff"):
            if op == "share" and "占" in intent.text:  # no share: the part's own figure, not the whole's
                q = strip_filler(intent.text.split("占")[0]) or q
            part = self._op_figure(intent, q, reg, context)  # e.g. 预算执行率 as an indicator value
            if part is not None and op == "change" and part.kind != "not_found":
                part.answer = f"文件没有给出该项与上年相比的变化数；本年数：{part.answer}"
        return part

    def has_table(self, name: str) -> bool:
        """True if this document contains or lists (目录) a table of that name."""
        return self._named_table(name) is not None or self._listed(name)

    def _named_table(self, name: str) -> Table | None:
        key = _table_key(name)
        for t in self.tables.values():
            tk = _table_key(t.title)
            if key and (key == tk or key in tk or tk in key) and len(key) >= 4:
                return t
        return None

    def _listed(self, name: str) -> bool:
        key = _table_key(name)
        return any(key == _table_key(x) for x in self.doc.listed_tables)

    def _year_check(self, intent: Intent, q: str, reg: TurnCitations) -> AnswerPart | None:
        if not self.doc.year:
            return None
        target = None
        if intent.op == "change":
            later = [y for y in intent.years if y > self.doc.year]
            target = later[0] if later else None
        elif intent.asked_years:
            target = intent.asked_years[0] if self.doc.year not in intent.asked_years else None
        elif intent.year_offset is not None:
            target = self.doc.year + intent.year_offset
            if target == self.doc.year:
                target = None
        if target is None:
            return None
        if target < self.doc.year and intent.op in ("figure", "sum"):
            part = self._previous_year(intent, q, target, reg)
            if part is not None:
                return part
            dated = [f for f in self.facts if f.base_year == target and f.role in ("amount", "count")]
            if dated:  # "2022 年期末…共有车辆 27 辆" in a 2023 document
                items = self.items(q, intent, facts=dated)
                if items and self._confident(q, items[0], intent):
                    text, cites, refs = self._figure_text(items[0], intent, reg)
                    return AnswerPart(intent.text, f"{text}（{target}年数）。", "figure", refs, cites)
        return AnswerPart(intent.text, f"未找到{target}年的数据：已载入的《{self.doc.title}》是{self.doc.year}年"
                          f"{self.doc.kind}，文档中没有{target}年的对应数字。", "not_found")

    def _previous_year(self, intent: Intent, q: str, year: int, reg: TurnCitations) -> AnswerPart | None:
        modelled = self._previous_year_of_metric(intent, q, year)
        if modelled is not None:
            cur, cf = modelled
            return self._previous_year_part(intent, year, cur, cf, reg)
        changes = [i for i in self.items(q, intent, roles=("change",)) if any(
            f.base_year == year for f in i.facts)]
        if not changes:
            return None
        ch = changes[0]
        cf = ch.facts[0]
        if _qualifier_conflict(q, cf.label):
            return None
        # the current figure the change refers to: same sentence and same item (never a near miss)
        key = re.sub(r"数$", "", cf.label)
        current = [f for f in self.facts if f.role == "amount" and f.unit == cf.unit and (
            re.sub(r"数$", "", f.label) == key) and (f.quote == cf.quote or f.line == cf.line)]
        if not current:
            current = [f for f in self.facts if f.role == "amount" and f.unit == cf.unit
                       and re.sub(r"数$", "", f.label) == key]
        if not current:
            # the amount stated in the same paragraph for the same item (三公经费预算 / 三公经费支出预算数)
            near = [(overlap(_match_form(key), _match_form(f.label)), f) for f in self.facts
                    if f.role == "amount" and f.unit == cf.unit and f.line == cf.line]
            near = [x for x in near if x[0] >= 4]
            current = [max(near, key=lambda x: x[0])[1]] if near else []
        if not current:
            return None
        return self._previous_year_part(intent, year, current[0], cf, reg)

    def _previous_year_of_metric(self, intent: Intent, q: str, year: int) -> tuple[Fact, Fact] | None:
        """(statement, stated change on ``year``) of the metric ``q`` names: "收入总计 1990.50 万元，
        支出总计 1990.50 万元，与 2022 年相比，收、支总计各减少 424.25 万元" for 2022年收入总计."""
        res = self.metric_resolution(q, intent)
        if res is None:
            return None
        for st in res.statements:
            for c in self._stated_changes(st):
                if c.role == "change" and c.base_year == year and c.unit == st.unit:
                    return st, c
        return None

    def _previous_year_part(self, intent: Intent, year: int, cur: Fact, cf: Fact, reg: TurnCitations) -> AnswerPart:
        """The previous year's figure from the current one and the stated change, with its formula."""
        prev = compute.dec(cur.value) - compute.dec(cf.value)
        d = compute.decimals_for([cur.value_text, cf.value_text])
        text = compute.fmt(prev, d)
        verb = "减少" if cf.value < 0 else ("持平" if cf.value == 0 else "增加")
        sign = "+" if cf.value < 0 else "−"
        printed = cf.value_text.lstrip("-+")
        formula = f"{year}年{cur.label} = {cur.value_text} {sign} {printed} = {text} {cur.unit}"
        m1 = reg.add(self.citation(cur))
        m2 = reg.add(self.citation(cf))
        change = f"与{year}年持平[{m2}]" if cf.value == 0 else f"比{year}年{verb} {printed} {cf.unit}[{m2}]"
        ans = (f"{year}年{cur.label}为 {text} {cur.unit}（推算：{self.doc.year}年为 {cur.value_text} {cur.unit}[{m1}]，"
               f"{change}；{formula}）。")
        return AnswerPart(intent.text, ans, "computed",
                          [FactRef(cur.label, cur.value_text, cur.unit, cur.locator, cur.doc_id),
                           FactRef(cf.label + "（变化）", cf.value_text, cf.unit, cf.locator, cf.doc_id),
                           FactRef(f"{year}年{cur.label}", text, cur.unit, "计算", self.doc.doc_id)],
                          [self.citation(cur), self.citation(cf)], formula)

    def _op_sum(self, intent, q, reg, context):
        """"A和B合计/一共多少": each named item found on its own and added; else the figure asked."""
        if re.search(r"[和与及、加]|以及", q):
            both = self._sum_of_named_items(intent, re.sub(r"合计|总计|共计|一共|总共|加起来|之和|总和", "", q), reg, context)
            if both is not None:
                return both
        return self._op_figure(intent, q, reg, context)

    def _op_code(self, intent, q, reg, context):
        return self._op_figure(intent, q, reg, context)

    def _op_figure(self, intent: Intent, q: str, reg: TurnCitations, context: dict) -> AnswerPart | None:
        items = self.items(q, intent)
        if not items or not self._confident(q, items[0], intent):
            return (self._empty_metric_table(intent, q, reg) or self._sum_of_parts(intent, q, reg, context) or self._sum_of_named_items(intent, q, reg, context)
                    or (self._count_items(intent, q, reg, context) if intent.measure == "个" else None))
        best = items[0]
        if best.facts[0].role == "count" and not intent.measure and _AMOUNT_ASKED.search(q) \
                and not _AMOUNT_ASKED.search(best.label):
            # money asked (…涉及资金), a count found (绩效目标 6 个): only an amount answers it
            amounts = [i for i in self.items(q, intent, roles=("amount",)) if self._confident(q, i, intent)]
            if not amounts:
                return AnswerPart(intent.text, f"未找到：文件中没有与“{q}”对应的金额。", "not_found")
            items, best = amounts, amounts[0]
        # a part the budget model read as such (三公经费里的公务接待费) is what was asked, not the whole
        whole = "" if best.score >= MODEL_SCORE else self._whole_asked_part_found(q, best)
        if whole:
            summed = self._sum_of_parts(intent, q, reg, context)
            if summed is not None:
                return summed
            return AnswerPart(intent.text, f"未找到：文件未给出{whole}的合计，只列出了其中一部分"
                              f"（如“{best.label}”），无法确定{whole}总额。", "not_found")
        missing = self._unaddressed_terms(q, best)
        if missing:
            several = self._sum_of_named_items(intent, q, reg, context)
            if several is not None:
                return several
            return AnswerPart(intent.text, f"未找到：文件中“{missing[0]}”没有对应的数字（该项在表中为空或未列示）。",
                              "not_found")
        if best.unit and best.unit not in compute.UNIT_FACTORS and best.unit != "%":
            self._corroborate_count(best)
        context["subject"] = q
        parts_text, cites, refs, formula = [], [], [], ""
        namesakes = self._namesakes(best, items)
        shown = [best] + (namesakes or self._other_classification(best, items))
        kind = "figure"
        for it in shown:
            text, c, r = self._figure_text(it, intent, reg)
            parts_text.append(text)
            cites.extend(x for x in c if x not in cites)
            refs.extend(r)
            if it.computed:
                formula = formula or it.formula
                kind = "computed"
        if intent.unit_wanted and best.unit in compute.UNIT_FACTORS and intent.unit_wanted != best.unit:
            conv = compute.convert(best.value, best.unit, intent.unit_wanted)
            ctext = compute.exact(conv, compute.decimals_for([best.value_text]) + compute.shift(best.unit, intent.unit_wanted),
                                  0 if intent.unit_wanted == "元" else 2)
            formula = f"{best.value_text} {best.unit} = {ctext} {intent.unit_wanted}"
            parts_text.append(f"换算：{formula}")
            refs.append(FactRef(best.label, ctext, intent.unit_wanted, "计算", self.doc.doc_id))
            kind = "computed"
        lead = (f"文件中有 {len(shown)} 个科目名为“{best.label}”，分列如下：" if namesakes else "")
        return AnswerPart(intent.text, lead + "；".join(parts_text) + "。", kind, refs, cites, formula)

    def _namesakes(self, best: Item, items: list[Item]) -> list[Item]:
        """Other rows of the same name under other classification codes, as well matched as ``best``
        (一般行政管理事务 under 201 01, 201 29 and 212 01): each is listed with its code, never one
        picked for the others."""
        codes = {f.code for f in best.facts}
        if best.computed or not all(f.source == "table" and f.code for f in best.facts):
            return []
        out, seen = [], set(codes)
        for it in items[1:]:
            c = {f.code for f in it.facts}
            if it.label == best.label and it.score >= best.score - 1e-9 and all(x for x in c) and not c & seen \
                    and {f.table_id for f in it.facts} == {f.table_id for f in best.facts}:
                out.append(it)
                seen |= c
        return out[:12]

    def text(self) -> str:
        """All narrative text and labels of the document (for recognising names it mentions)."""
        if not hasattr(self, "_text"):
            self._text = "\n".join([self.doc.title, self.doc.department] + [p.text for p in self.passages]
                                   + [f.label for f in self.facts])
        return self._text

    def vocabulary(self) -> set[str]:
        """Specific names of this document: row labels, column headers (also of empty columns)."""
        if not hasattr(self, "_vocab"):
            names = {f.label for f in self.facts if f.source == "table"}
            names |= {c for f in self.facts for c in f.col_path}
            names |= {c for t in self.tables.values() for path in t.columns for c in path}
            names |= {x for t in self.tables.values() for x in t.row_labels}
            self._vocab = {_match_form(n) for n in names if len(_match_form(n)) >= 3
                           and _match_form(n) not in GENERIC
                           and not re.search(r"合计|小计|总计|第\d+列|^(?:年初|调整)?(?:预算|决算)数$|金额|指标值", n)}
        return self._vocab

    def _unaddressed_terms(self, q: str, it: Item) -> list[str]:
        """Names of this document that the question contains but the chosen figure does not cover
        (e.g. the empty column 特定目标类 when the figure found is the 项目支出 total)."""
        form = _match_form(q)
        found = [v for v in self.vocabulary() if v in form]
        found = [v for v in found if not any(v != w and v in w for w in found)]
        covered = " ".join(_match_form(x) for f in it.facts for x in (f.label, f.table_title, *f.col_path, *f.row_path))
        return [v for v in found if v not in covered and not any(
            _match_form(f.label) and _match_form(f.label) in v for f in it.facts)]

    def _corroborate_count(self, best: Item) -> None:
        """Cite the other sentences stating the same count of the same kind of thing (9 辆 …)."""
        stop = set("的有共其他中和及与等在为是")
        chars = {c for f in best.facts for c in f.label} - stop
        for f in self.facts:
            if f in best.facts or f.unit != best.unit or f.value is None or compute.dec(f.value) != best.value:
                continue
            if f.role in ("amount", "count") and chars & (set(f.label) - stop):
                best.facts.append(f)

    def _sum_of_named_items(self, intent: Intent, q: str, reg: TurnCitations, context: dict) -> AnswerPart | None:
        """"A和B合计多少": each named item found on its own, then added (same unit), with the formula."""
        pieces = [p for p in re.split(r"[和与及、加]|以及", q) if len(p) >= 2]
        if len(pieces) < 2:
            return None
        found = []
        for p in pieces:
            its = self.items(p, intent, roles=("amount",))
            if not its or not self._confident(p, its[0], intent) or self._unaddressed_terms(p, its[0]):
                return None
            found.append(its[0])
        if len({i.unit for i in found}) != 1 or len({i.label for i in found}) != len(found):
            return None
        total = sum((i.value for i in found), compute.dec(0))
        text = compute.fmt_like(total, compute.decimals_for([i.value_text for i in found]), [i.value_text for i in found])
        unit = found[0].unit
        formula = " + ".join(i.value_text for i in found) + f" = {text} {unit}"
        bits, cites, refs = [], [], []
        for i in found:
            marks, c, r = self._refs(i, reg, 2)
            bits.append(f"{i.label} {i.value_text} {i.unit}{marks}")
            cites.extend(x for x in c if x not in cites)
            refs.extend(r)
        names = "、".join(i.label for i in found)
        refs.append(FactRef(f"{names}合计", text, unit, "计算", self.doc.doc_id))
        context["subject"] = q
        return AnswerPart(intent.text, f"{names}合计 {text} {unit}（{'；'.join(bits)}；{formula}）。", "computed",
                          refs, cites, formula)

    def _count_items(self, intent: Intent, q: str, reg: TurnCitations, context: dict) -> AnswerPart | None:
        """"项目支出一共有几个项目": the number of rows the table lists, with the list."""
        name, items = self.item_set(q, intent)
        if not items or name in self.lex.children:
            return None
        part = self._op_list(intent, q, reg, {**context, "set": None})
        if part is None:
            return None
        part.answer = f"{_strip_year(name)}共列 {len(items)} 个：" + part.answer.split("：", 1)[1]
        part.kind = "computed"
        part.formula = f"计数 = {len(items)}"
        return part

    def _whole_asked_part_found(self, q: str, best: Item) -> str:
        """The whole (lexicon ``children``, e.g. 三公经费) the question asks for when the best match is
        only one of its parts (因公出国（境）经费 10 万元 for 三公经费), else "". A part must never be
        given as the whole."""
        form = _match_form(q)
        names = [best.label] + [f.label for f in best.facts]
        label_forms = {x for n in names if n for x in _forms(n)}
        for whole, kids in self.lex.children.items():
            if whole not in form or any(whole in x for x in label_forms):
                continue
            for kid in kids:
                kid_forms = _forms(kid)
                if any(overlap(k, x) >= 0.75 * len(k) for k in kid_forms for x in label_forms):
                    return whole
        return ""

    def _sum_of_parts(self, intent: Intent, q: str, reg: TurnCitations, context: dict) -> AnswerPart | None:
        """A whole the document does not state, as the sum of its parts (lexicon ``children``),
        e.g. 三公经费 = 因公出国（境）费 + 公务用车购置及运行费 + 公务接待费. All parts must be found."""
        form = _match_form(q)
        for whole, kids in self.lex.children.items():
            if whole not in form:
                continue
            parts = []
            modelled = find_metric(whole)
            if modelled is not None and modelled.parts:
                # the budget model's parts, each read from its own cell or sentence
                kids = tuple(metric_catalog()[pid].name for pid in modelled.parts)
                for k in kids:
                    its = self._metric_items(k, intent) or []
                    if not its:
                        break
                    parts.append((k, its[0]))
            else:
                for k in kids:
                    its = self.items(k + form.replace(whole, ""), intent, roles=("amount",))
                    its = [i for i in its if self._confident(k, i, intent)]
                    if not its:
                        break
                    parts.append((k, its[0]))
            if len(parts) != len(kids) or len({p.unit for _, p in parts}) != 1:
                continue
            total = sum((p.value for _, p in parts), compute.dec(0))
            d = compute.decimals_for([p.value_text for _, p in parts])
            text = compute.fmt(total, d)
            unit = parts[0][1].unit
            formula = f"{whole} = " + " + ".join(p.value_text for _, p in parts) + f" = {text} {unit}"
            bits, cites, refs = [], [], []
            for k, p in parts:
                marks, c, r = self._refs(p, reg, 1)
                bits.append(f"{p.label} {p.value_text} {p.unit}{marks}")
                cites.extend(x for x in c if x not in cites)
                refs.extend(r)
            refs.append(FactRef(whole, text, unit, "计算", self.doc.doc_id))
            context["subject"] = q
            return AnswerPart(intent.text, f"文件未直接给出{whole}合计，按其组成部分相加：{whole} {text} {unit}"
                              f"（{'；'.join(bits)}；{formula}）。", "computed", refs, cites, formula,
                              chart=_chart(whole, [p for _, p in parts]))
        return None

    def _figure_text(self, it: Item, intent: Intent, reg: TurnCitations):
        marks, cites, refs = self._refs(it, reg)
        label = it.label
        f0 = it.facts[0]
        if f0.role == "indicator":
            proj = f0.row_path[0] if f0.row_path else ""
            where = f"（{proj}）" if proj else ""
            text = f"{label}{where}的指标值为 {it.value_text}{marks}"
        elif it.computed:
            code = f"{f0.code} " if f0.code else ""
            text = (f"{code}{label} {it.value_text} {it.unit}{marks}（{it.formula}：{f0.table_title}中"
                    f"同一科目分列 {len(it.facts)} 行，合计得出）")
        else:
            qual = ""
            if f0.source == "table" and f0.code and f0.code_kind in ("functional", "economic"):
                qual = f"（{'功能分类' if f0.code_kind == 'functional' else '经济分类'} {f0.code}）"
            text = f"{label} {it.value_text} {it.unit}{marks}{qual}".replace("  ", " ")
            if it.corroboration:
                text += f"（另据经济分类明细：{it.corroboration}，一致）"
            for other in it.disagreeing:
                c = self.citation(other)
                cites.append(c)
                text += (f"（注意：说明文字为 {other.value_text} {other.unit}[{reg.add(c)}]，与表中数字不一致，"
                         f"请以核实后的数字为准）")
        return text, cites, refs

    def _other_classification(self, best: Item, items: list[Item]) -> list[Item]:
        """A second figure when the term matches rows of both 功能分类 and 经济分类 with different
        amounts (each is labelled with its classification)."""
        kinds = {f.code_kind for f in best.facts}
        out = []
        for it in items[1:]:
            if it.value == best.value or it.score < best.score * 0.9:
                continue
            k = {f.code_kind for f in it.facts}
            if k & {"functional", "economic"} and not (k & kinds):
                out.append(it)
                break
        return out

    def _confident(self, q: str, it: Item, intent: Intent) -> bool:
        if it.score >= MODEL_SCORE:  # read by the budget model from the metric's own cell or sentence
            return True
        if any(f.code and f.code in intent.codes for f in it.facts):
            return True
        if intent.measure and it.unit == intent.measure and len(q) >= 2 and overlap(q, _match_form(it.label)) >= 2:
            return True  # "车辆有几辆": the measure word already narrowed the figures to this kind
        forms = [x for n in [it.label] + [f.label for f in it.facts] if n for x in _forms(n)]
        best_cov = max((overlap(q, x) / max(1, len(x)) for x in forms), default=0)
        best_len = max((overlap(q, x) for x in forms), default=0)
        return best_len >= 4 or (best_len >= 2 and best_cov >= 0.5)

    # shares ----------------------------------------------------------------
    def _op_share(self, intent: Intent, q: str, reg: TurnCitations, context: dict) -> AnswerPart | None:
        part_q = strip_filler(intent.text.split("占")[0]) if "占" in intent.text else q
        prev = context.get("subject") or ""
        found = self.items(part_q, intent, roles=("amount",)) if part_q else []
        if not found or not self._confident(part_q, found[0], intent):
            # a follow-up naming only a kind of the previous item ("政府采购预算多少？工程类占多少？")
            within = f"{prev}{part_q}" if prev and part_q else ""
            its = self.items(within, intent, roles=("amount",)) if within else []
            part_q = within if its and self._confident(within, its[0], intent) and its[0].value != (
                found[0].value if found else None) else (part_q if found else (prev or q))
        parts = self.items(part_q, intent, roles=("amount",))
        if not parts or not self._confident(part_q, parts[0], intent):
            return None
        part = parts[0]
        whole_q = strip_filler(intent.whole_text) if intent.whole_text else ""
        whole_q = self.lex.canonical(whole_q) if whole_q else ""
        # the whole: the one named, else the item's parent (lexicon), else the total its sentence
        # lists it under (其中), else the 合计 column of its table row
        candidates = [whole_q] if whole_q else [self.lex.parent(part.label)] + [f.whole for f in part.facts]
        wholes: list[Item] = []
        for cand in [c for c in candidates if c]:
            wholes = [w for w in self.items(cand, intent, roles=("amount",))
                      if w.value != 0 and w.unit == part.unit and w.value >= part.value
                      and self._confident(cand, w, intent)]
            if wholes:
                break
        if not wholes and (not intent.whole_text or whole_q == self.lex.parent(part.label)):
            # the whole named is the part's own parent (项目支出 of 总支出): its table row's 合计 is it
            wholes = self._row_total(part)
        context["subject"] = part_q
        if not wholes:
            stated = [f for f in self.facts if f.role == "share" and f.label == part.facts[0].label]
            if stated:
                f = stated[0]
                n = reg.add(self.citation(f))
                return AnswerPart(intent.text, f"{part.label}占比 {f.value_text}[{n}]。", "ratio",
                                  [FactRef(f.label, f.value_text, "%", f.locator, f.doc_id)], [self.citation(f)])
            return None
        whole = wholes[0]
        pct = compute.share(part.value, whole.value)
        pct_text = compute.fmt(pct, 2)
        pm, pc, pr = self._refs(part, reg, 2)
        wm, wc, wr = self._refs(whole, reg, 2)
        formula = f"{part.value_text} ÷ {whole.value_text} × 100% = {pct_text}%"
        stated = [f for f in self.facts if f.role == "share" and _same(f.label, part.label)
                  and abs(f.value - float(pct_text)) < 0.006]
        kind = "ratio" if stated else "computed"
        extra, cites = "", pc + [c for c in wc if c not in pc]
        if stated:
            n = reg.add(self.citation(stated[0]))
            extra = f"，与文件所述占比一致[{n}]"
            if self.citation(stated[0]) not in cites:
                cites.append(self.citation(stated[0]))
        ans = (f"{part.label} {part.value_text} {part.unit}{pm}，占{whole.label} {whole.value_text} {whole.unit}{wm}"
               f"的 {pct_text}%（{formula}{extra}）。")
        refs = pr + wr + [FactRef(f"{part.label}占{whole.label}比例", pct_text + "%", "%", "计算", self.doc.doc_id)]
        return AnswerPart(intent.text, ans, kind, refs, cites, formula)

    def _row_total(self, part: Item) -> list[Item]:
        """The whole of a table cell when the lexicon's whole is not in the document: the same row's
        main (合计) column, e.g. 项目支出 of the 合计 row → 合计 of that row."""
        for f in part.facts:
            if f.source != "table" or self._is_main(f):
                continue
            main = self.main_col.get(f.table_id)
            row = [g for g in self.facts if g.table_id == f.table_id and g.row_index == f.row_index
                   and g.col_index == main and g.value]
            if row:
                it = self._item(row[0], part.score)
                it.label = f"{self._display_label(f)}所在行的{row[0].col_path[-1] if row[0].col_path else '合计'}"
                if f.is_total_row:
                    it.label = f"{f.table_title}合计"
                return [it]
        return []

    # completion of the budget (决算 ÷ 预算) ----------------------------------
    def _op_completion(self, intent: Intent, q: str, reg: TurnCitations, context: dict) -> AnswerPart | None:
        """决算数 ÷ 全年预算 of a metric of the budget model, checked against the stated rate; else
        the stated 完成预算 percentage, else 决算数 ÷ 预算数 computed from the item's two figures."""
        subject = _COMPLETION_WORDS.sub("", q) or q
        modelled = self._metric_completion(intent, subject, reg, context)
        if modelled is not None:
            return modelled
        rates = self.items(subject + "完成预算比例", intent, roles=("rate",))
        if rates and self._confident(subject, rates[0], intent):
            it = rates[0]
            marks, cites, refs = self._refs(it, reg)
            context["subject"] = subject
            return AnswerPart(intent.text, f"{it.label} {it.value_text}{marks}。", "ratio", refs, cites)
        core = re.sub(r"(?:的)?(?:全年|年初|调整)?预算(?:数)?|决算(?:数)?|[了的]", "", subject) or subject
        pair = None
        for narrow in (intent, replace(intent, codes=[])):  # a code finds the row; its budget may be in a sentence
            final = self.items(core + "支出决算", narrow, roles=("amount",)) or self.items(core + "决算", narrow, roles=("amount",))
            for word in ("全年预算", "年初预算", "预算数"):
                budget = self.items(core + word, narrow, roles=("amount",))
                if final and budget and budget[0].value != 0 and budget[0].facts != final[0].facts \
                        and final[0].unit == budget[0].unit and self._confident(core, budget[0], narrow):
                    pair = (final[0], budget[0])
                    break
            if pair:
                break
        if pair is None:
            return None
        f, b = pair
        pct = compute.fmt(compute.share(f.value, b.value), 2)
        fm, fc, fr = self._refs(f, reg, 2)
        bm, bc, br = self._refs(b, reg, 2)
        formula = f"{f.value_text} ÷ {b.value_text} × 100% = {pct}%"
        context["subject"] = subject
        return AnswerPart(intent.text, f"{f.label} {f.value_text} {f.unit}{fm}，{b.label} {b.value_text} {b.unit}{bm}，"
                          f"完成预算的 {pct}%（{formula}）。", "computed",
                          fr + br + [FactRef(f"{subject}完成预算比例", pct + "%", "%", "计算", self.doc.doc_id)],
                          fc + [c for c in bc if c not in fc], formula)

    # changes ---------------------------------------------------------------
    def _op_change(self, intent: Intent, q: str, reg: TurnCitations, context: dict) -> AnswerPart | None:
        modelled = self._metric_change(intent, q, reg, context)
        if modelled is not None:
            return modelled
        metric = self.metric_resolution(q, intent)
        base_years = [y for y in intent.years if not self.doc.year or y < self.doc.year]
        pool = self.facts
        if base_years:
            pool = [f for f in self.facts if f.role not in ("change", "change_pct") or f.base_year in base_years]
        def of_item(found: list[Item]) -> list[Item]:
            if metric is None:
                return found
            # a modelled item: only a change stated of that item, never another item's
            names = [norm(n) for n in metric.metric.names]
            return [it for it in found if any(n in norm(it.label) for n in names)]

        items = of_item(self.items(q, intent, roles=("change", "change_pct"), facts=pool))
        if not items or not self._confident(q, items[0], intent):
            if context.get("subject") and intent.follow_up:
                items = of_item(self.items(context["subject"], intent, roles=("change", "change_pct")))
            if not items:
                return None
        top = items[0].facts[0]
        line_facts = [f for f in self.facts if f.line == top.line and f.source == "narrative" and (
            f.label == top.label or f.role in ("change", "change_pct") and f.label == top.label)]
        amount = [f for f in self.facts if f.line == top.line and f.role == "amount" and f.unit == top.unit and (
            f.label == top.label or overlap(_match_form(top.label), _match_form(f.label)) >= 3)]
        amount.sort(key=lambda f: f.label != top.label)
        changes = [f for f in line_facts if f.role in ("change", "change_pct")]
        context["subject"] = q
        bits, cites, refs = [], [], []
        if amount:
            a = amount[0]
            n = reg.add(self.citation(a))
            bits.append(f"{a.label} {a.value_text} {a.unit}[{n}]")
            refs.append(FactRef(a.label, a.value_text, a.unit, a.locator, a.doc_id))
        for f in changes:
            n = reg.add(self.citation(f))
            bits.append(f"{_change_phrase(f, '' if amount else top.label)}[{n}]")
            refs.append(FactRef(f.label, f.value_text, f.unit, f.locator, f.doc_id))
        cite = self.citation(top)
        cites.append(cite)
        reason = re.search(r"主要原因[是：:]*\s*([^。]+)", top.quote)
        check = self._stated_rate_check(top, changes, reg, refs)
        lead = "文件所述：" if "不符" in check else ""  # a stated rate its own figures contradict is only quoted
        text = lead + "，".join(bits) + "。" + check + (f"主要原因：{reason.group(1)}。" if reason else "")
        return AnswerPart(intent.text, text, "figure", refs, cites)

    def _stated_rate_check(self, top: Fact, changes: list[Fact], reg: TurnCitations, refs: list[FactRef]) -> str:
        """A stated change rate checked against the two amounts its sentence gives ("2025年当年预算执行数
        为1690.69万元，2026年预算安排1434.89万元，比2025年预算执行数减少1.10%"): both amounts, the change
        computed with its formula, and whether the stated rate agrees (a wrong rate is never repeated
        as if it were right)."""
        rates = [c for c in changes if c.role == "change_pct" and c.value is not None]
        amounts = [f for f in self.facts if f.quote == top.quote and f.line == top.line and f.role == "amount"
                   and f.unit in compute.UNIT_FACTORS and f.value is not None]
        if not rates or len(amounts) != 2 or amounts[0].unit != amounts[1].unit:
            return ""
        base_words = re.compile(r"执行|上年|去年" + (f"|{rates[0].base_year}" if rates[0].base_year else ""))
        base = [f for f in amounts if base_words.search(f.label)]
        if len(base) != 1:
            return ""
        base = base[0]
        cur = amounts[0] if amounts[1] is base else amounts[1]
        if not base.value:
            return ""
        b, c = compute.dec(base.value), compute.dec(cur.value)
        pct = compute.share(c - b, b)
        pct_text = compute.fmt(abs(pct), 2)
        mark = reg.add(self.citation(cur))
        formula = f"({cur.value_text} − {base.value_text}) ÷ {base.value_text} × 100% = {compute.fmt(pct, 2)}%"
        text = (f"按文件的两个数字（{cur.label} {cur.value_text} {cur.unit}，{base.label} {base.value_text} {base.unit}[{mark}]）"
                f"计算，{'增长' if pct > 0 else '下降'} {pct_text}%（{formula}）")
        refs.append(FactRef("按两数计算的变化率", compute.fmt(pct, 2) + "%", "%", "计算", self.doc.doc_id))
        stated = compute.dec(rates[0].value)
        if abs(stated - pct) > compute.dec("0.01"):
            return text + f"，与文件所述的 {rates[0].value_text.lstrip('+-')} 不符，请以核实后的数字为准。"
        return text + "，与文件所述一致。"

    # differences -----------------------------------------------------------
    def _op_diff(self, intent: Intent, q: str, reg: TurnCitations, context: dict) -> AnswerPart | None:
        if not intent.diff_pair:
            return self._op_figure(intent, q, reg, context)
        a_q, b_q = (strip_filler(x) for x in intent.diff_pair)
        # "X决算比全年预算少多少": the second names only a measure, of the same item
        item = re.sub(r"(?:全年|年初|调整后?的?)?(?:预算|决算|执行)数?$", "", a_q)
        if re.fullmatch(r"(?:全年|年初|调整后?的?)?(?:预算|决算|执行)数?", b_q) and item:
            b_q = item + b_q
        a_items = self.items(a_q, intent, roles=("amount",))
        b_items = self.items(b_q, intent, roles=("amount",))
        if not a_items or not b_items:
            return None
        a, b = a_items[0], b_items[0]
        if a.unit != b.unit:
            return None
        diff = a.value - b.value
        d = compute.decimals_for([a.value_text, b.value_text])
        text = compute.fmt(diff, d)
        am, ac, ar = self._refs(a, reg, 2)
        bm, bc, br = self._refs(b, reg, 2)
        formula = f"{a.value_text} − {b.value_text} = {text} {a.unit}"
        ans = f"{a.label} {a.value_text} {a.unit}{am}，{b.label} {b.value_text} {b.unit}{bm}，相差 {text} {a.unit}（{formula}）。"
        return AnswerPart(intent.text, ans, "computed",
                          ar + br + [FactRef(f"{a.label}−{b.label}", text, a.unit, "计算", self.doc.doc_id)],
                          ac + [c for c in bc if c not in ac], formula)

    # sets: max / min / rank / list ------------------------------------------
    def item_set(self, q: str, intent: Intent) -> tuple[str, list[Item]]:
        """The set a ranking or list question is about: the lexicon's parts of a named whole, the
        rows of the table a word names (项目 → 项目支出 table), or the best-matching table's rows."""
        canon = q
        inside = self._metric_rows(q, intent)
        if inside is not None:
            return inside
        core = re.sub(r"结构|构成|组成|分布|情况|的", "", _match_form(canon))
        for whole, kids in self.lex.children.items():
            if whole in _match_form(canon) or (core and re.sub(r"合计$|总计$", "", whole) == core):
                out = []
                for k in kids:
                    its = self.items(k, intent, roles=("amount",))
                    if its and self._confident(k, its[0], intent):
                        it = its[0]
                        it.label = k
                        out.append(it)
                if len(out) >= 2:
                    return whole, out
        table = None
        for word, key in self.lex.item_tables.items():
            if word in q:
                cands = [t for t in self.tables.values() if key in t.title and t.table_id in self.main_col]
                if cands:
                    table = cands[0]
                    break
        if table is None:
            scored = [(overlap(_match_form(q), _match_form(t.title)), t) for t in self.tables.values()
                      if t.table_id in self.main_col]
            scored = [x for x in scored if x[0] >= 2]
            if scored:
                table = max(scored, key=lambda x: x[0])[1]
        if table is None:
            return "", []
        main = self.main_col[table.table_id]
        rows = [f for f in self.facts if f.table_id == table.table_id and f.col_index == main
                and f.role == "amount" and not f.is_total_row and f.label]
        return table.title, [self._item(f, 1.0) for f in rows]

    def _metric_rows(self, q: str, intent: Intent) -> tuple[str, list[Item]] | None:
        """The items *within* a metric that a table lists by classification code: "公用经费里哪一项
        最多" → the 经济分类 rows of the 公用经费 column (leaf codes only, so a 类 total never wins)."""
        metric = find_metric(re.sub(r"里|中|内|之中|当中|哪一?项|哪个|最多|最少|最高|最低|排名|第.{1,2}(?:大|多|少)", "", q))
        if metric is None or intent.codes:
            return None
        res = self.metric_resolution(metric.name, intent)
        if res is None or res.cell is None or table_kind(res.cell.table_title) != "basic_economic":
            return None  # 项目支出中哪个最多 asks for a project (lexicon item_tables), not a 功能分类 row
        col, table = res.cell.col_path, res.cell.table_id
        rows = [f for f in self.facts if f.table_id == table and f.col_path == col and f.role == "amount"
                and not f.is_total_row and f.code and f.value is not None]
        codes = {f.code for f in rows}
        leaves = [f for f in rows if not any(c != f.code and c.startswith(f.code) for c in codes)]
        if len(leaves) < 2:
            return None
        return metric.name, [self._item(f, 1.0) for f in leaves]

    def _ranked(self, intent, q, context):
        name, items = self.item_set(q, intent) if q else ("", [])
        if not items and context.get("set"):
            name, items = context["set"]
        if not items:
            return "", []
        context["set"] = (name, items)
        return name, items

    def _op_max(self, intent, q, reg, context):
        return self._rank(intent, q, reg, context, 1, ascending=False)

    def _op_min(self, intent, q, reg, context):
        return self._rank(intent, q, reg, context, 1, ascending=True)

    def _op_rank(self, intent, q, reg, context):
        return self._rank(intent, q, reg, context, intent.rank, ascending=intent.ascending)

    def _rank(self, intent, q, reg, context, n: int, ascending: bool) -> AnswerPart | None:
        name, items = self._ranked(intent, q, context)
        if not items:
            return None
        order = sorted(items, key=lambda i: (i.value, i.facts[0].line) if ascending else (-i.value, i.facts[0].line))
        if n > len(order):
            return AnswerPart(intent.text, f"{_strip_year(name)}只有 {len(order)} 项，没有第{n}项。", "not_found")
        it = order[n - 1]
        marks, cites, refs = self._refs(it, reg, 2)
        word = {(1, False): "最多", (1, True): "最少"}.get((n, ascending), f"第{n}{'小' if ascending else '大'}")
        ranking = "、".join(f"{x.label} {x.value_text}" for x in order)
        ans = (f"{it.label} {it.value_text} {it.unit}{marks}，是{_strip_year(name)}中{word}的一项"
               f"（共 {len(order)} 项，按金额排序：{ranking}，单位{it.unit}）。")
        for x in order:
            if x is not it:
                for f in x.facts[:1]:
                    c = self.citation(f)
                    reg.add(c)
                    cites.append(c)
        return AnswerPart(intent.text, ans, "computed", refs, cites, f"按金额{'升序' if ascending else '降序'}排序",
                          chart=_chart(_strip_year(name), order))

    def _op_list(self, intent, q, reg, context) -> AnswerPart | None:
        name, items = self._ranked(intent, q, context)
        if not items:
            return self._op_passage(intent, q, reg, context, kinds=("narrative",))
        cites, refs, bits = [], [], []
        for x in items:
            f = x.facts[0]
            c = self.citation(f)
            n = reg.add(c)
            cites.append(c)
            bits.append(f"{x.label} {x.value_text} {x.unit}[{n}]")
            refs.append(FactRef(x.label, x.value_text, x.unit, f.locator, f.doc_id))
        head = f"{name}由 {len(items)} 项组成：" if name in self.lex.children else f"{_strip_year(name)}共列 {len(items)} 项："
        ans = head + "；".join(bits) + "。"
        return AnswerPart(intent.text, ans, "list", refs, cites, chart=_chart(_strip_year(name), items))

    # passages --------------------------------------------------------------
    def _candidates(self, query: str, kinds: tuple[str, ...], k: int = 6) -> list[Passage]:
        pool = [p for p in self.passages if p.kind in kinds]
        out: list[Passage] = []
        if self.retriever is not None:
            try:
                for sp in self.retriever.search(query, k=k, doc_ids=[self.doc.doc_id], kinds=list(kinds)):
                    p = getattr(sp, "passage", sp)
                    if isinstance(p, tuple):
                        p = p[0]
                    out.append(p)
            except Exception as exc:  # retrieval is an aid; the lexical fallback below still answers
                _log_retrieval_failure(exc)
        for p in pool:
            if p not in out:
                out.append(p)
        return out

    def _op_definition(self, intent, q, reg, context) -> AnswerPart | None:
        term = _match_form(self.lex.canonical(q))
        cands = self._candidates(intent.text, ("glossary",))
        scored = [(name_score(term, _match_form(p.term)) + 0.2 * name_score(term, p.text[:40]), p) for p in cands]
        scored = [x for x in scored if x[0] > 0]
        if not scored:
            cands = self._candidates(intent.text, ("note", "narrative"))
            scored = [(overlap(term, _match_form(p.text)) / 2, p) for p in cands if "是指" in p.text or "指" in p.text]
            scored = [x for x in scored if x[0] >= 2]
            if not scored:
                return None
        p = max(scored, key=lambda x: x[0])[1]
        context["subject"] = p.term or q
        c = self.passage_citation(p)
        n = reg.add(c)
        text = re.sub(r"^\s*(?:[一二三四五六七八九十]+\s*[、.．]|[（(][一二三四五六七八九十]+[)）])\s*", "", p.text)
        return AnswerPart(intent.text, f"{text}[{n}]", "definition", [], [c])

    def _op_date(self, intent, q, reg, context) -> AnswerPart | None:
        """The date the document states (its 落款, or a dated sentence), quoted with its source."""
        date = re.compile(r"(20\d{2})\s*年\s*(\d{1,2})\s*月\s*(\d{1,2})\s*日")
        dated = [(p, m) for p in self.passages for m in [date.search(p.text)] if m]
        if not dated:
            return None
        p, m = dated[-1]  # the signature date closes the document's text
        c = self.passage_citation(p, m.group(0))
        n = reg.add(c)
        return AnswerPart(intent.text, f"文件所署日期为 {m.group(1)}年{int(m.group(2))}月{int(m.group(3))}日[{n}]。",
                          "passage", [], [c])

    def _op_duties(self, intent, q, reg, context) -> AnswerPart | None:
        """What the body does: the passages of its 主要职能/主要职责 section (template part 一)."""
        paras = [p for p in self.passages if p.kind == "narrative"
                 and any(re.search(r"职能|职责", h) for h in p.section_path)]
        if not paras:
            return None
        quote = "".join(p.text for p in paras[:3])
        if len(quote) > 600:
            quote = quote[:600] + "…"
        c = self.passage_citation(paras[0], quote)
        n = reg.add(c)
        return AnswerPart(intent.text, f"{quote}[{n}]", "passage", [], [c])

    def _op_explain(self, intent, q, reg, context):
        return self._op_passage(intent, q, reg, context, kinds=("narrative",), cue=r"原因|由于|因为|主要是")

    def _op_usage(self, intent, q, reg, context):
        return self._op_passage(intent, q, reg, context, kinds=("narrative",), cue=r"用于|主要用于|用途")

    def _op_passage(self, intent, q, reg, context, kinds=("narrative",), cue: str = "") -> AnswerPart | None:
        subject = q if q and strip_filler(q) else context.get("subject", "")
        term = _match_form(self.lex.canonical(strip_filler(subject) or subject))
        cands = self._candidates(intent.text + " " + term, kinds)
        best, best_s = None, 0.0
        for p in cands:
            s = overlap(term, _match_form(p.text)) if term else 0.0
            if cue and re.search(cue, p.text):
                s += 3
            if s > best_s:
                best, best_s = p, s
        if best is None or best_s < 3:
            return None
        sents = [x for x in re.split(r"(?<=[。；])", best.text) if x.strip()]
        chosen = [x for x in sents if (term and overlap(term, _match_form(x)) >= min(4, len(term))) or (cue and re.search(cue, x))]
        if cue:
            with_cue = [x for x in chosen if re.search(cue, x)]
            if with_cue:
                chosen = [x for x in chosen if x in with_cue or (term and term in _match_form(x))]
        quote = "".join(chosen) if chosen else best.text
        c = self.passage_citation(best, quote)
        n = reg.add(c)
        context["subject"] = subject
        return AnswerPart(intent.text, f"{quote.strip()}[{n}]", "passage", [], [c])


def _change_phrase(c: Fact, subject: str = "") -> str:
    """A stated change as a phrase: "比2024年减少 2,389.52 万元", "与2024年持平（变化 0）", "下降 1.82%"."""
    printed = c.value_text.lstrip("-+")
    if c.role == "change" and c.value == 0:
        return f"{subject}与{c.base_year or '上'}年持平（变化 0）"
    if c.role == "change":
        base = f"比{c.base_year}年" if c.base_year else "比上年"
        return f"{subject}{base}{'增加' if c.value > 0 else '减少'} {printed} {c.unit}"
    return f"{'增长' if c.value > 0 else '下降'} {printed}"


def citation_of(doc: Document, f: Fact) -> Citation:
    """The citation of a fact of ``doc``: its sentence (passage) or its table cell."""
    if f.source == "narrative":
        return Citation(doc.doc_id, doc.title, f.locator, f.quote, f.line, f.page, "passage")
    return Citation(doc.doc_id, doc.title, f.locator, f.quote, f.line, f.page, "table", f.table_id, f.col_index)


def _chart(title: str, items: list[Item]) -> dict | None:
    """Breakdown data drawn from the same facts as the answer (one unit), for a bar/pie chart."""
    units = {i.unit for i in items}
    if len(items) < 2 or len(units) != 1:
        return None
    return {"title": title, "unit": units.pop(), "items": [[i.label, float(i.value)] for i in items]}


def _qualifier_conflict(q: str, label: str) -> bool:
    """True when the question asks for a 决算 (final) figure and the label is a 预算 (budget) one,
    or the reverse."""
    asked = "决算" if "决算" in q else ("预算" if re.search(r"预算(?!执行)", q) else "")
    if asked == "决算":
        return "预算" in label and "决算" not in label
    if asked == "预算":
        return "决算" in label and "预算" not in label
    return False


def _same(a: str, b: str) -> bool:
    a, b = _match_form(a), _match_form(b)
    return a == b or a.startswith(b) or b.startswith(a)


def _table_key(name: str) -> str:
    t = re.sub(r"^\s*\d{4}\s*年度?", "", name)
    t = re.sub(r"[“”\"\s（）()]", "", t)
    return t


def _strip_year(name: str) -> str:
    return re.sub(r"^\s*\d{4}\s*年度?\s*", "", name)
