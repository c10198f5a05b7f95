"""Questions across documents: one body over years, 预算 against 决算, departments side by side.

Each figure is read from its own document by that document's answerer (the budget model first,
see :mod:`assistant.budget.metrics`), then combined with its formula and both citations:

- **years**: "万里街道2025年政府采购预算比2024年多了多少", "…2024年和2025年…分别是多少", "两年相比" —
  the same body's documents of those years; a change the later document states is given too and
  checked against the computed one.
- **预算 vs 决算** of the same body and year: the execution rate 决算 ÷ 预算.
- **departments**: "区政府办公室和万里街道的机关运行经费哪个多？多多少？" — one document per body
  (a 部门 document before a 单位 one of the same body), the same year; a 部门 figure compared with a
  单位 figure says so next to the numbers.
- **rankings**: "哪个部门的三公经费最多", "各部门…排名" over every loaded document of a year and kind.

:func:`plan` decides whether a question is one of these (:class:`CrossQuery`) and :func:`answer`
answers it; None from :func:`plan` means the question is answered document by document as before.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal

from ..budget.metrics import find_metric
from ..budget.query import read_metric
from ..budget.templates import measure_asked
from ..model import AnswerPart, Document, FactRef
from ..understanding.intent import parse_intent, split_questions
from . import compute
from .answerer import citation_of
from .matching import Item, strip_filler

_CHANGE = re.compile(r"多了?多少|少了?多少|增加了?多少|减少了?多少|增长了?多少|下降了?多少|变化了?多少|变动|增减|相差|差多少|差额|多多少|少多少")
_TWO_YEARS = re.compile(r"两年|两个年度|历年|各年|逐年|这几年|近几年")
_TOTAL = re.compile(r"合计|加起来|一共|总共|总和|共计|之和")
_RANK = re.compile(r"哪个部门|哪个单位|哪家|各部门|各单位|所有部门|全部部门|部门排名|排名|排序|排个序|最多的部门|最少的部门")
_WHICH_MORE = re.compile(r"哪个(?:多|高|大)|谁(?:多|高|大)|哪个更(?:多|高|大)")
_WHICH_LESS = re.compile(r"哪个(?:少|低|小)|谁(?:少|低|小)|哪个更(?:少|低|小)")
_OP_WORDS = re.compile(
    r"(?:比|较|与|和|同|跟)?\s*(?:19|20)\d{2}\s*年度?(?:相比)?|(?:预算|决算)(?:里|中|内)|两年相比|两个年度|两年|历年|各年|相比|"
    r"哪个部门|哪个单位|哪家|各部门|各单位|所有部门|部门|单位|排名|排序|排个序|最多|最少|最高|最低|"
    r"哪个(?:更)?(?:多|少|高|低|大|小)|谁(?:多|少)|分别是|分别|各是|各|合计|加起来|一共|总共|总和|共计|之和|"
    r"(?:比|较|与|和|同)\s*(?:去年|上年|上一年)|" + _CHANGE.pattern + r"|[和与及、，,？?。]")


@dataclass
class CrossQuery:
    """A question over several documents: ``mode`` "years" | "departments" | "rank" | "execution";
    ``item`` the item text asked; ``groups`` the documents compared, in order (one per year or
    body); ``change`` the question asks for a difference; ``descending`` for rankings."""

    mode: str
    item: str
    groups: list[Document]
    change: bool = False
    descending: bool = True
    notes: list[str] = field(default_factory=list)
    #: the question asks for the sum of the figures ("…和…的政府采购预算合计")
    total: bool = False


def _item_text(text: str, names: list[str]) -> str:
    t = text
    for n in sorted(names, key=len, reverse=True):
        t = t.replace(n, "")
    t = _OP_WORDS.sub("", t)
    return strip_filler(t)


def _basis_asked(text: str) -> str:
    has_b, has_f = "预算" in text, "决算" in text
    return "决算" if has_f and not has_b else ("预算" if has_b and not has_f else "")


def _prefer_department(docs: list[Document]) -> Document:
    """One document of a body: its 部门 document before its 单位 one, the latest year first."""
    return sorted(docs, key=lambda d: (d.scope != "部门", -(d.year or 0), d.doc_id))[0]


def follow_up(text: str, previous: str, item: str) -> str:
    """A follow-up turn of a cross-document question as a question of its own: "那2024年呢？" → the
    previous question in 2024; "按部门排个序" → the previous item ranked over departments. A turn
    naming an item of its own is returned unchanged."""
    years = re.findall(r"((?:19|20)\d{2})\s*年", text)
    rest = strip_filler(re.sub(r"^(?:那么?|那|再|按|请)|呢|[？?。]|(?:19|20)\d{2}\s*年度?", "", text))
    rest = _RANK.sub("", rest).replace("部门", "").replace("个", "")
    if rest:
        return text
    if _RANK.search(text) or re.search(r"排", text):
        years = years or re.findall(r"((?:19|20)\d{2})\s*年", previous)[:1]  # the year asked before
        basis = _basis_asked(previous)  # and the kind
        return f"{years[0] + '年' if years else ''}各部门{item}{basis}排名"
    if years and re.search(r"(?:19|20)\d{2}\s*年", previous) and len(set(re.findall(r"(\d{4})\s*年", previous))) == 1:
        return re.sub(r"(?:19|20)\d{2}\s*年", f"{years[0]}年", previous)
    return text


def plan(text: str, docs: list[Document], names) -> CrossQuery | None:
    """The cross-document reading of ``text`` over ``docs`` (all documents in scope), or None.

    ``names`` is the :class:`~assistant.catalog.NameIndex` of ``docs``. Never reads facts."""
    if len(docs) < 2:
        return None
    bodies = names.bodies_named(text)
    years = [int(y) for y in re.findall(r"((?:19|20)\d{2})\s*年", text)]
    basis = _basis_asked(text)
    change = bool(_CHANGE.search(text))
    alias_words = [a for group in bodies for a in group[1]]
    # the item of the first question ("三公经费预算多少？比2024年少了多少，主要少在哪？" → 三公经费预算)
    item = _item_text(split_questions(text)[0], alias_words) or _item_text(text, alias_words)
    if not item:
        return None
    if len(bodies) >= 2:
        year = years[0] if years else None
        groups = []
        for dept_docs, words in bodies:
            cand = [d for d in dept_docs if (year is None or d.year == year) and (not basis or d.basis == basis)]
            m = re.search("(?:" + "|".join(map(re.escape, words)) + r")(?:的|\d{4}年)?(部门|单位)(?:预算|决算)", text)
            if m and any(d.scope == m.group(1) for d in cand):  # "商务委员会单位预算": that body's 单位 document
                cand = [d for d in cand if d.scope == m.group(1)]
            if not cand:
                return CrossQuery("departments", item, [], change, notes=[
                    f"已载入的文件中没有{dept_docs[0].department}{year or ''}{'年' if year else ''}的{basis or ''}文件"])
            if year is None:  # the latest year the body has
                latest = max(d.year or 0 for d in cand)
                cand = [d for d in cand if (d.year or 0) == latest]
            groups.append(_prefer_department(cand))
        query = CrossQuery("departments", item, groups, change or bool(_WHICH_MORE.search(text) or _WHICH_LESS.search(text)),
                           descending=not _WHICH_LESS.search(text))
        query.total = bool(_TOTAL.search(text)) and not query.change
        return query
    if _RANK.search(text) and not bodies:
        year = years[0] if years else None
        cand = [d for d in docs if (year is None or d.year == year) and (not basis or d.basis == basis)]
        by_body: dict[str, list[Document]] = {}
        for d in cand:
            by_body.setdefault(d.department or d.doc_id, []).append(d)
        groups = [_prefer_department(v) for v in by_body.values()]
        if len(groups) < 2:
            return None
        query = CrossQuery("rank", item, groups, descending=not re.search(r"最少|最低|最小|从少到多|升序", text))
        query.total = bool(_TOTAL.search(text))  # "2025年各部门三公经费合计": the list and its sum
        return query
    body_docs = bodies[0][0] if bodies else None
    if body_docs is None:
        if len({d.department for d in docs}) != 1:
            return None
        body_docs = docs
    last_year = re.search(r"(?:比|较|与|和|同)\s*(?:去年|上年|上一年)", text)
    if last_year and len(set(years)) == 1 and any(d.year == years[0] - 1 for d in body_docs):
        years = [years[0] - 1, years[0]]  # "2025年…比去年增加多少" with the 2024 document loaded
    if len(set(years)) >= 2 or (_TWO_YEARS.search(text) and len({d.year for d in body_docs}) >= 2):
        wanted = sorted(set(years)) if len(set(years)) >= 2 else sorted({d.year for d in body_docs if d.year})[-2:]
        groups = []
        for y in wanted:
            cand = [d for d in body_docs if d.year == y and (not basis or d.basis == basis)]
            if not cand:
                if re.search(rf"比\s*{y}\s*年", text):
                    return None  # only the later year is loaded: its own statement of the change answers
                return CrossQuery("years", item, [], change, notes=[
                    f"已载入的文件中没有{body_docs[0].department}{y}年的{basis or ''}文件"])
            same_scope = [d for d in cand if any(g.scope == d.scope for g in groups)] or cand
            groups.append(_prefer_department(same_scope))
        return CrossQuery("years", item, groups, change)
    if basis == "" and "预算" in text and "决算" in text:
        by_year: dict[int | None, list[Document]] = {}
        for d in body_docs:
            by_year.setdefault(d.year, []).append(d)
        for y, ds in sorted(by_year.items(), key=lambda kv: -(kv[0] or 0)):
            if years and y not in years:
                continue
            b = [d for d in ds if d.basis == "预算"]
            f = [d for d in ds if d.basis == "决算"]
            if b and f:
                return CrossQuery("execution", re.sub(r"预算|决算|执行率|完成率|执行|完成", "", item) or item,
                                  [_prefer_department(b), _prefer_department(f)])
    return None


def _read_cached(catalog, metric, docs: list[Document], question: str) -> dict:
    """:func:`assistant.budget.query.read_metric`, remembered per metric and measure in the catalog of
    the generation served (its facts never change), so that rankings asked again cost no query."""
    cache = catalog.__dict__.setdefault("metric_cache", {})
    key = (metric.id, measure_asked(question, "预算"), measure_asked(question, "决算"))
    known = cache.setdefault(key, {})
    todo = [d for d in docs if d.doc_id not in known]
    if todo:
        known.update(read_metric(catalog.store, metric, todo, question))
    return known


def _figure(answerer, item: str) -> Item | None:
    """The one figure a document's answerer gives for ``item`` (None unless it is sure)."""
    intent = parse_intent(item)
    intent.op = "figure"
    items = answerer.items(item, intent, roles=("amount",))
    if not items or not answerer._confident(item, items[0], intent):
        return None
    return items[0]


def _in_unit(it: Item, unit: str) -> Decimal:
    return compute.convert(it.value, it.unit, unit) if it.unit != unit else it.value


def answer(q: CrossQuery, question: str, catalog, reg) -> AnswerPart:
    """Answer a :class:`CrossQuery`: each figure from its own document, then the combination with
    its formula. A document that does not state the item makes the whole answer not_found (with
    what was found), never a partial comparison."""
    if not q.groups:
        return AnswerPart(question, "未找到：" + "；".join(q.notes) + "。", "not_found")
    found: list[tuple[Document, Item, object]] = []
    missing: list[Document] = []
    metric = find_metric(q.item) if q.mode == "rank" else None
    if metric is not None:  # one query over the fact store for every document, no answerer built
        read = _read_cached(catalog, metric, q.groups, question)
        for d in q.groups:
            res, _ = read[d.doc_id]
            fact = res.fact
            if fact is None:
                missing.append(d)
                continue
            label = res.metric.name
            found.append((d, Item(label, compute.dec(fact.value), fact.value_text, fact.unit, [fact], 1.0), None))
        return _ranking(q, question, found, missing, reg)
    for d in q.groups:
        a = catalog.answerer(d.doc_id)
        it = _figure(a, q.item)
        if it is None:
            missing.append(d)
        else:
            found.append((d, it, a))
    if q.mode == "rank":
        return _ranking(q, question, found, missing, reg)
    if missing:
        got = "；".join(f"{d.label}：{it.label} {it.value_text} {it.unit}" for d, it, _ in found)
        return AnswerPart(question, f"未找到：{'、'.join(d.label for d in missing)}中没有“{q.item}”的数字"
                          + (f"（已找到：{got}）" if got else "") + "，无法比较。", "not_found")
    unit = found[0][1].unit
    if any(it.unit not in compute.UNIT_FACTORS and it.unit != unit for _, it, _ in found):
        return AnswerPart(question, f"未找到：“{q.item}”在各文件中的单位不同，无法比较。", "not_found")
    bits, cites, refs = [], [], []
    for d, it, a in found:
        marks, c, r = a._refs(it, reg, 2)
        bits.append(f"{d.label}：{it.label} {it.value_text} {it.unit}{marks}")
        cites.extend(x for x in c if x not in cites)
        refs.extend(r)
    text = "；".join(bits) + "。"
    formula = ""
    scopes = {d.scope for d, _, _ in found}
    if len(scopes) > 1:
        text += "注意：口径不同——部门预算/决算含下属单位，单位预算/决算只含本单位，两数不完全可比。"
    if q.mode == "execution":
        (bd, b, _), (fd, f, _) = found
        if b.value:
            pct = compute.fmt(compute.share(_in_unit(f, b.unit), b.value), 2)
            formula = f"{f.value_text} ÷ {b.value_text} × 100% = {pct}%"
            text += f"决算为预算的 {pct}%（{formula}）。"
            refs.append(FactRef(f"{q.item}执行率", pct + "%", "%", "计算", ""))
        return AnswerPart(question, text, "computed" if formula else "figure", refs, cites, formula)
    if q.total and len(found) >= 2:
        total = sum((_in_unit(it, unit) for _, it, _ in found), Decimal(0))
        like = [it.value_text for _, it, _ in found]
        digits = compute.decimals_for(like)
        formula = " + ".join(it.value_text for _, it, _ in found) + f" = {compute.fmt_like(total, digits, like)} {unit}"
        text += f"合计 {compute.fmt_like(total, digits, like)} {unit}（{formula}）。"
        refs.append(FactRef(f"{q.item}（合计）", compute.fmt_like(total, digits, like), unit, "计算", ""))
        return AnswerPart(question, text, "computed", refs, cites, formula, chart=_chart_of(q, found))
    if len(found) == 2 and (q.change or q.mode == "departments"):
        (d1, a1, _), (d2, a2, _) = found
        v1, v2 = a1.value, _in_unit(a2, a1.unit)
        unit = a1.unit
        digits = compute.decimals_for([a1.value_text, a2.value_text])
        if q.mode == "years":
            diff = v1 - v2 if (d1.year or 0) > (d2.year or 0) else v2 - v1
            later, earlier = (d1, d2) if (d1.year or 0) > (d2.year or 0) else (d2, d1)
            lv, ev = (a1, a2) if later is d1 else (a2, a1)
            like = [a1.value_text, a2.value_text]
            diff_text = compute.fmt_like(abs(diff), digits, like)
            formula = f"{lv.value_text} − {ev.value_text} = {compute.fmt_like(diff, digits, like)} {unit}"
            verb = "增加" if diff > 0 else ("减少" if diff < 0 else "持平")
            text += (f"{later.year}年比{earlier.year}年{verb}" + (f" {diff_text} {unit}" if diff else "")
                     + f"（{formula}）。")
            text += _stated_check(catalog.answerer(later.doc_id), q.item, earlier.year, diff, unit, reg, cites, refs)
        else:
            big, small = ((d1, a1), (d2, a2)) if v1 >= v2 else ((d2, a2), (d1, a1))
            if not q.descending:
                big, small = small, big
            diff = abs(v1 - v2)
            formula = f"{big[1].value_text} − {small[1].value_text} = {compute.fmt(diff, digits)} {unit}" if q.descending \
                else f"{small[1].value_text} − {big[1].value_text} = {compute.fmt(diff, digits)} {unit}"
            word = "多" if q.descending else "少"
            text += (f"{big[0].department}{word}，{word} {compute.fmt(diff, digits)} {unit}（{formula}）。" if diff
                     else "两者相同。")
        refs.append(FactRef(f"{q.item}（差额）", compute.fmt(abs(v1 - v2), digits), unit, "计算", ""))
        return AnswerPart(question, text, "computed", refs, cites, formula,
                          chart=_chart_of(q, found))
    return AnswerPart(question, text, "figure", refs, cites, chart=_chart_of(q, found))


def _stated_check(later_answerer, item: str, year: int | None, diff: Decimal, unit: str, reg, cites, refs) -> str:
    """The change the later document itself states against ``year``, compared with the computed one."""
    intent = parse_intent(f"{item}比{year}年")
    intent.op = "change"
    res = later_answerer.metric_resolution(item, intent)
    if res is None:
        return ""
    for st in res.statements:
        for c in later_answerer._stated_changes(st):
            if c.role != "change" or (c.base_year and c.base_year != year) or c.unit not in compute.UNIT_FACTORS:
                continue
            stated = compute.convert(compute.dec(c.value), c.unit, unit)
            n = reg.add(later_answerer.citation(c))
            if later_answerer.citation(c) not in cites:
                cites.append(later_answerer.citation(c))
            refs.append(FactRef(f"{item}（文件所述变化）", c.value_text, c.unit, c.locator, c.doc_id))
            tol = compute.convert(Decimal("0.01"), c.unit, unit)
            same = abs(stated - diff) <= tol
            verdict = "一致" if stated == diff else ("一致（差额为四舍五入所致）" if same else "不一致，请核对")
            text = (f"文件本身所述：比{year}年{'增加' if c.value > 0 else '减少'} {c.value_text.lstrip('+-')} {c.unit}[{n}]，"
                    f"与两份文件相减的结果{verdict}。")
            if c.value:  # where the change lies, as the later document explains it
                text += later_answerer._changed_parts(res.metric, [year] if year else [], reg, cites)
            return text
    return ""


def _ranking(q: CrossQuery, question: str, found, missing, reg) -> AnswerPart:
    if not found:
        return AnswerPart(question, f"未找到：已载入的文件中没有“{q.item}”的数字。", "not_found")
    units = {it.unit for _, it, _ in found}
    unit = "万元" if units <= set(compute.UNIT_FACTORS) else found[0][1].unit
    if len(units) > 1 and not units <= set(compute.UNIT_FACTORS):
        return AnswerPart(question, f"未找到：“{q.item}”在各文件中的单位不同，无法排名。", "not_found")
    rows = sorted(found, key=lambda x: _in_unit(x[1], unit), reverse=q.descending)
    bits, cites, refs = [], [], []
    for i, (d, it, _) in enumerate(rows, start=1):
        c = citation_of(d, it.facts[0])
        n = reg.add(c)
        shown = f"{it.value_text} {it.unit}" + (f"（{compute.fmt(_in_unit(it, unit), 2)} {unit}）" if it.unit != unit else "")
        bits.append(f"{i}. {d.label}：{shown}[{n}]")
        if n > len(cites):  # a citation not listed yet
            cites.append(c)
        refs.append(FactRef(it.label, it.value_text, it.unit, it.facts[0].locator, d.doc_id))
    head = f"按“{q.item}”{'从多到少' if q.descending else '从少到多'}排列（{len(rows)} 份文件）："
    if len({d.basis for d, _, _ in rows}) > 1:
        head += "注意：其中既有预算也有决算，口径不同，可加上“预算”或“决算”再问。"
    if len({d.year for d, _, _ in rows}) > 1:
        head += "注意：各文件年份不同，可加上年份再问。"
    tail = f"\n另有 {len(missing)} 份文件没有该项数字：{'、'.join(d.label for d in missing)}。" if missing else ""
    formula = ""
    if q.total:
        total = sum((_in_unit(it, unit) for _, it, _ in rows), Decimal(0))
        formula = " + ".join(compute.fmt(_in_unit(it, unit), 2) for _, it, _ in rows[:20]) + (
            " + …" if len(rows) > 20 else "") + f" = {compute.fmt(total, 2)} {unit}"
        head = f"“{q.item}”合计 {compute.fmt(total, 2)} {unit}（{len(rows)} 份文件之和）。" + head
        refs.append(FactRef(f"{q.item}合计", compute.fmt(total, 2), unit, "计算", ""))
    return AnswerPart(question, head + "\n" + "\n".join(bits) + tail, "computed" if q.total else "list", refs, cites,
                      formula,
                      chart={"title": q.item, "unit": unit,
                             "items": [[d.department or d.title, float(_in_unit(it, unit))] for d, it, _ in rows]})


def _chart_of(q: CrossQuery, found) -> dict | None:
    units = {it.unit for _, it, _ in found}
    if len(found) < 2:
        return None
    unit = found[0][1].unit
    if len(units) > 1 and not units <= set(compute.UNIT_FACTORS):
        return None
    label = (lambda d: f"{d.year}年") if q.mode == "years" else (lambda d: d.department)
    return {"title": q.item, "unit": unit, "items": [[label(d), float(_in_unit(it, unit))] for d, it, _ in found]}
