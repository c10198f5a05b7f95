"""Figures stated in narrative sentences: "项目支出 187.00 万元，占 9.39%", "共有车辆 27 辆",
"比 2022 年减少 2.80 万元，下降 1.82%".

Each figure becomes a :class:`NarrativeFigure` with a role:
- "amount" (万元/元/亿元) or "count" (个/辆/套/人…): ``label`` is the noun phrase before the number;
- "share": a percentage after 占 — ``whole`` is the sentence's lead total when it says 其中;
- "change": a signed difference after 增加/减少/增长/下降 (+ for increases), ``base_year`` from
  "比 2022 年" / "与 2022 年相比" / "较上年" in the same sentence;
- "change_pct": a signed percentage after 增长/下降/增加/减少/上升.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, replace

from .numbers import AMOUNT_UNITS, COUNT_UNITS
from .text import norm_label, strip_ordinal

_UNITS = sorted(AMOUNT_UNITS + COUNT_UNITS + ("%", "％"), key=len, reverse=True)
FIGURE_RE = re.compile(
    r"(?<![\d.,])(?P<num>\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?)\s*(?P<unit>"
    + "|".join(re.escape(u) for u in _UNITS) + r")"
)
_UP = ("增加", "增长", "上升", "提高", "多")
_DOWN = ("减少", "下降", "降低", "减", "少")
_VERB_RE = re.compile(r"(增加|增长|上升|提高|减少|下降|降低)(?:了)?\s*$")
_BASE_YEAR = re.compile(r"(?:比|较|与|同)\s*(\d{4})\s*年(?:度)?|(?:比|较|与)\s*(上年|去年|上一年)")
_CLAUSE_SPLIT = "，,；;：:。！？!?"


@dataclass(frozen=True)
class NarrativeFigure:
    label: str
    value: float
    value_text: str
    unit: str
    role: str
    sentence: str
    whole: str = ""
    base_year: int | None = None


def split_sentences(text: str) -> list[str]:
    """Split a paragraph into sentences at 。！？ (a ；-separated list stays one sentence)."""
    parts = re.split(r"(?<=[。！？!?])", text)
    return [p.strip() for p in parts if p.strip()]


def extract_figures(paragraph: str, department: str = "", doc_year: int | None = None,
                    item: str = "") -> list[NarrativeFigure]:
    """Every figure with a unit in a paragraph, with its label and role (see module docstring).

    ``item`` is the item a preceding line named without a figure ("1、一般公共服务支出（类）…行政
    运行（项）。"): figures of this paragraph labelled only by a measure belong to it."""
    out: list[NarrativeFigure] = []
    prev_amount = ""
    for sent in split_sentences(paragraph):
        # "…为 1990.50 万元。其中：基本支出…" — the list refers to the previous sentence's amount
        lead = prev_amount if re.match(r"^\s*其中", sent) else ""
        figs = _sentence_figures(sent, department, doc_year, lead, prev_amount)
        # "“…行政运行（项）”1660.32万元。2023年当年预算执行数为1899.77万元，2024年预算安排1660.32万元，
        # 比2023年预算执行数减少12.60%": figures labelled only by a measure belong to the paragraph's item
        if item:
            stem = re.sub(r"(?:预算|决算)数?$", "", item)
            figs = [replace(f, label=stem + f.label) if f.label and _MEASURE_ONLY.match(f.label) else f for f in figs]
        item = item or next((f.label for f in figs if f.role == "amount" and not _MEASURE_ONLY.match(f.label)), "")
        if not figs and len(sent) <= 80 and re.search(r"（项）|（款）|（类）", sent):
            # "4、社会保障和就业支出（类）…缴费支出（项）。" names the item of the sentences that follow
            item = norm_label(re.sub(r"^\s*\d{1,2}\s*[、.．]\s*|[。：:]\s*$", "", sent))
        out.extend(figs)
        amounts = [f.label for f in figs if f.role == "amount"]
        prev_amount = amounts[-1] if amounts else ""
    return out


#: a label that names only a measure or a verb, no item (当年预算执行数, 预算安排, 执行数)
_MEASURE_ONLY = re.compile(r"^(?:当年|本年|全年|年初)?(?:支出|收入)?(?:预算|决算)?"
                           r"(?:执行数|安排|预算数?|决算数?|执行|完成预算比例)?$")

#: a clause that continues the previous item ("…6个，涉及资金…", "…，用于…")
_LINKED = re.compile(r"^(?:涉及|对应|所需|需要)")
_LEAD_VERB = re.compile(r"^(?:共|总共|合计)?(?:设置|设立|安排|开展|实施|有)")
_GENERIC_LABEL = re.compile(r"^(?:当年)?(?:支出|收入)?(?:年初|全年)?(?:预算数?|决算数?|执行数|调整预算数?)$")
_GENERIC_TAIL = re.compile(r"(?:支出|收入)?(?:年初)?(?:预算数?|决算数?|执行数|安排)$")


def _stem(label: str) -> str:
    """The item a label names without its trailing 预算/决算 words (三公经费财政拨款支出年初预算 →
    三公经费财政拨款)."""
    t = _GENERIC_TAIL.sub("", label)
    t = re.sub(r"^(?:全年|年初|当年|本年|调整)$", "", t)  # 全年预算 names a measure, not an item
    return t if len(t) >= 2 else ""


def _department_tail(t: str, department: str) -> str:
    """The longest tail (≥ 4 characters) of the department's name that occurs in ``t``: the short
    forms a disclosure calls itself by (平潭综合实验区经济发展局 → 区经济发展局, 经济发展局)."""
    for n in range(len(department) - 1, 3, -1):
        if department[-n:] in t:
            return department[-n:]
    return ""


def _clean_label(raw: str, department: str) -> str:
    t = raw
    if department:
        t = t.replace(department, "")
        tail = _department_tail(t, department)
        if tail:
            t = t.replace(tail, "", 1)
            t = re.sub(r"^\s*[（(][^）)]*[）)]", "", t)  # the department's own qualifier: （含…事业单位）
    t = re.sub(r"(?:比|较|与|同|和)\s*(?:\d{4}\s*年度?|上年度?|去年|上一年)(?:相比|同期)?", "", t)
    t = re.sub(r"\d{4}\s*年(?:度)?(?:期末|年末|年初)?", "", t)
    t = re.sub(r"^(?:[其另]中|包括|[我本该](?:单位|部门|局|委|办)|全年(?!预算)|共计|合计)", "", t.strip())
    t = strip_ordinal(t)
    # a heading glued before the sentence (web pages): "…支出决算情况三公经费…支出" → "三公经费…支出"
    parts = re.split(r"(?<=情况|说明|概况)(?=[^，。]{4,}$)", t)
    t = parts[-1]
    t = re.sub(r"(?:为|是|达到?|约)\s*$", "", t.strip())
    t = re.sub(r"^[、，,：:\s]+|[、，,：:\s]+$", "", t)
    return t.strip()


def _sentence_figures(sent: str, department: str, doc_year: int | None,
                      lead: str = "", prev_subject: str = "") -> list[NarrativeFigure]:
    figs: list[NarrativeFigure] = []
    by = _BASE_YEAR.search(sent)
    base_year = None
    if by:
        if by.group(1):
            base_year = int(by.group(1))
        elif doc_year:
            base_year = doc_year - 1
    lead_total = lead  # the label of the amount a "其中" list refers to
    subject = ""  # the item the sentence is about, for clauses that only say 决算/预算数
    amount_at: list[tuple[int, str]] = []  # (end position, label) of each amount, for 持平
    last_amount_label = ""
    last_change_label = ""
    prev_end = 0
    for m in FIGURE_RE.finditer(sent):
        num, unit = m.group("num"), m.group("unit").replace("％", "%")
        if unit == "年":
            continue  # a year or duration is part of the text, not a figure
        if unit == "项" and sent[max(0, m.start() - 1):m.start()] in ("（", "(") and sent[m.end():m.end() + 1] in ("）", ")"):
            continue  # a 功能分类 code "（01项）" names the item, it is not a count
        # text between the previous figure (or clause start) and this number
        before = sent[prev_end:m.start()]
        if "其中" in before and last_amount_label and not lead:
            lead_total = last_amount_label  # "…6330.81万元，比上年增加…，其中：…" lists parts of the last amount
        cut = max(before.rfind(ch) for ch in _CLAUSE_SPLIT)
        clause = before[cut + 1:] if cut >= 0 else before
        # "、" separates list items only right after a previous figure
        if prev_end and clause.startswith("、"):
            clause = clause[1:]
        prev_end = m.end()
        value = float(num.replace(",", ""))
        verb = _VERB_RE.search(clause)
        if unit == "%":
            if re.search(r"占\s*[^，,；;。]{0,20}$", clause):
                whole_m = re.search(r"占\s*(.*?)(?:的)?(?:比重|比例)?\s*$", clause)
                whole = _clean_label(whole_m.group(1), department) if whole_m and whole_m.group(1) else ""
                label = last_amount_label or _clean_label(clause.split("占")[0], department)
                figs.append(NarrativeFigure(norm_label(label), value, num + "%", "%", "share", sent,
                                            whole=norm_label(whole or lead_total)))
            elif verb:
                sign = 1 if verb.group(1) in _UP else -1
                label = last_change_label or last_amount_label or _clean_label(clause[:verb.start()], department)
                figs.append(NarrativeFigure(norm_label(label), sign * value, num + "%", "%", "change_pct",
                                            sent, base_year=base_year))
            elif re.search(r"完成(?:年初|全年)?预算(?:数)?的?\s*$|预算完成率\s*$|执行率\s*$", clause):
                figs.append(NarrativeFigure(norm_label((subject or last_amount_label) + "完成预算比例"), value,
                                            num + "%", "%", "rate", sent))
            else:
                label = _clean_label(clause, department) or last_amount_label
                figs.append(NarrativeFigure(norm_label(label), value, num + "%", "%", "amount", sent))
            continue
        if verb and unit in AMOUNT_UNITS + COUNT_UNITS:
            subject = _clean_label(re.sub(r"各$", "", clause[:verb.start()].strip()), department)
            label = subject or last_amount_label
            sign = 1 if verb.group(1) in _UP else -1
            figs.append(NarrativeFigure(norm_label(label), sign * value, num, unit, "change", sent,
                                        base_year=base_year))
            last_change_label = label
            continue
        label = _clean_label(clause, department)
        if not label:
            continue
        if subject and _GENERIC_LABEL.match(label):
            label = subject + label  # "年初预算为 21.00 万元，支出决算为 16.95 万元" → 支出决算 of the subject
        elif last_amount_label and _LINKED.match(label):
            # "共设置绩效目标6个，涉及财政拨款资金835.2万元": the amount belongs to the previous item
            label = _LEAD_VERB.sub("", last_amount_label) + label
        else:
            subject = _stem(label) or subject
        role = "amount" if unit in AMOUNT_UNITS else "count"
        if role == "count":
            # "截止2018年本级及所属的预算单位共有车辆2辆" → 共有车辆 (the scope before 共有 is context)
            label = re.sub(r"^.{2,30}?(?=共有|共计有)", "", label)
        part_of = lead_total if lead_total and lead_total != label else ""
        figs.append(NarrativeFigure(norm_label(label), value, num, unit, role, sent, whole=norm_label(part_of)))
        last_amount_label = label
        amount_at.append((m.end(), label))
        if not lead_total and re.search(r"其中", sent[m.end():m.end() + 6]):
            lead_total = label
    for m in re.finditer(r"(?:与|和|同|较|比)\s*(\d{4})\s*年度?(?:预算|决算|预算执行数)?(?:数)?\s*持平", sent):
        clause = sent[:m.start()]
        cut = max(clause.rfind(ch) for ch in "，,；;。")
        subject = _clean_label(clause[cut + 1:], department)
        before = [label for end, label in amount_at if end <= m.start()]
        if (not subject or _GENERIC_LABEL.match(subject)) and (before or lead or prev_subject):
            subject = before[-1] if before else (lead or prev_subject)
        unit = next((f.unit for f in reversed(figs) if f.role == "amount"), "万元")
        if subject:
            figs.append(NarrativeFigure(norm_label(subject), 0.0, "0", unit, "change", sent,
                                        base_year=int(m.group(1))))
    as_of = re.search(r"(?:截至|截止|到)?\s*(20\d{2})\s*年(?:\s*\d{1,2}\s*月\s*\d{1,2}\s*日|期末|年末|末|底)", sent)
    if as_of:
        # "2022 年期末…共有车辆 27 辆": the figures are dated to that year
        figs = [NarrativeFigure(f.label, f.value, f.value_text, f.unit, f.role, f.sentence, f.whole,
                                int(as_of.group(1))) if f.role in ("amount", "count") and f.base_year is None
                else f for f in figs]
    return figs
