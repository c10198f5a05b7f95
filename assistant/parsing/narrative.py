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
from dataclasses import dataclass

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


def extract_figures(paragraph: str, department: str = "", doc_year: int | None = None) -> list[NarrativeFigure]:
    """Every figure with a unit in a paragraph, with its label and role (see module docstring)."""
    out: list[NarrativeFigure] = []
    prev_amount = ""
    for sent in split_sentences(paragraph):
        # "…为 1990.50 万元。其中：基本支出…" — the list refers to the previous sentence's amount
        lead = prev_amount if re.match(r"^\s*其中", sent) else ""
        figs = _sentence_figures(sent, department, doc_year, lead)
        out.extend(figs)
        amounts = [f.label for f in figs if f.role == "amount"]
        prev_amount = amounts[-1] if amounts else ""
    return out


def _clean_label(raw: str, department: str) -> str:
    t = raw
    if department:
        t = t.replace(department, "")
    t = re.sub(r"\d{4}\s*年(?:度)?(?:期末|年末|年初)?", "", t)
    t = re.sub(r"^(?:[其另]中|包括|我(?:单位|部门)|本(?:单位|部门)|全年|共计|合计)", "", t.strip())
    t = strip_ordinal(t)
    t = re.sub(r"(?:为|是|达到?|约)\s*$", "", t.strip())
    t = re.sub(r"^[、，,：:\s]+|[、，,：:\s]+$", "", t)
    return t.strip()


def _sentence_figures(sent: str, department: str, doc_year: int | None,
                      lead: str = "") -> list[NarrativeFigure]:
    figs: list[NarrativeFigure] = []
    by = _BASE_YEAR.search(sent)
    base_year = None
    if by:
        if by.group(1):
            base_year = int(by.group(1))
        elif doc_year:
            base_year = doc_year - 1
    lead_total = lead  # the label of the amount a "其中" list refers to
    last_amount_label = ""
    last_change_label = ""
    prev_end = 0
    for m in FIGURE_RE.finditer(sent):
        num, unit = m.group("num"), m.group("unit").replace("％", "%")
        # text between the previous figure (or clause start) and this number
        before = sent[prev_end:m.start()]
        cut = max(before.rfind(ch) for ch in _CLAUSE_SPLIT)
        clause = before[cut + 1:] if cut >= 0 else before
        # "、" separates list items only right after a previous figure
        if prev_end and clause.startswith("、"):
            clause = clause[1:]
        prev_end = m.end()
        if unit == "年":
            continue
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
        role = "amount" if unit in AMOUNT_UNITS else "count"
        figs.append(NarrativeFigure(norm_label(label), value, num, unit, role, sent))
        last_amount_label = label
        if not lead_total and re.search(r"其中", sent[m.end():m.end() + 6]):
            lead_total = label
    return figs
