"""Matching a question's item against fact names: common substrings weighted by how much of the
name they cover; generic budget words (支出, 经费, 预算 …) count little; digits match only as codes.

Used by :mod:`.answerer` to rank facts. Pure functions; no I/O.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from decimal import Decimal
from difflib import SequenceMatcher

from ..model import Fact  # noqa: F401  (Item.facts holds Fact objects)
from ..parsing.text import norm_label

GENERIC = {"支出", "经费", "预算", "项目", "费用", "收入", "合计", "总计", "小计", "金额", "资金", "情况",
           "单位", "部门", "本年", "年度", "财政", "拨款", "其他", "安排", "支出预算", "预算支出",
           "指标", "数量", "工作", "管理"}
_FILLER = re.compile(
    r"请问|是多少钱|是多少|多少钱|(?:多少|几)(?:个|辆|件|人次|人|名|套|台|项|种|份|批|场|天|次|期|家)|多少|是什么|几|"
    r"一共|总共|共计|加起来|花了|交了|用了|安排了|"
    r"了|吗|呢|[？?，,。！!]|那么|^那|^其中|今年|本年|去年|上年|\d{4}\s*年度?|年度|的|为|"
    r"(?:和|与|比|较|同)\s*(?:\d{4}\s*年|上年|去年)(?:相比)?|相比|变化|增减|减少|增加|下降|增长|"
    r"占比|比例|比重|百分比|是否|是")
def overlap(q: str, name: str) -> float:
    """Weighted length of the common substrings (≥ 2 chars) of question and name; generic words
    count 0.3 per character."""
    return overlap_rest(q, name)[0]


def overlap_rest(q: str, name: str) -> tuple[float, str]:
    """:func:`overlap`, and the question with the matched characters masked out (so a second name
    can only match what the first did not)."""
    if not q or not name:
        return 0.0, q
    a, b = list(q), list(name)
    total = 0.0
    while True:
        m = SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
        if m.size < 2:
            break
        block = "".join(b[m.b:m.b + m.size])
        if not block.isdigit():  # digits match only as classification codes, never as words
            total += m.size * (0.3 if block in GENERIC else 1.0)
        a[m.a:m.a + m.size] = ["\x00"] * m.size
        b[m.b:m.b + m.size] = ["\x01"] * m.size
    return total, "".join(a)


def name_score_rest(q: str, name: str) -> tuple[float, str]:
    """:func:`name_score` and the question left for another name (matched characters masked)."""
    score = name_score(q, name)
    if not score:
        return 0.0, q
    rest = q
    for form in _forms(name):
        s, r = overlap_rest(q, form)
        if s:
            rest = r if r.count("\x00") > rest.count("\x00") else rest
    return score, rest


def name_score(q: str, name: str) -> float:
    """Overlap weighted by the share of the name covered (0 when nothing specific matches).

    A parenthesised part of a name is optional (维修（护）费 matches 维修费). A two-character
    overlap counts only when it is most of the question's item (事业收入 ≠ 事业运行).
    """
    best = 0.0
    for form in _forms(name):
        L = overlap(q, form)
        cov = min(1.0, L / max(1, len(form)))
        if L < 1.5 or (L < 4 and cov < 0.5) or (L < 3 and L / max(1, len(q)) < 0.75):
            continue
        best = max(best, L * (0.5 + 0.5 * cov))
    return best


def _forms(name: str) -> set[str]:
    """The name as matched, and without its parenthesised parts (维修（护）费 → 维修费)."""
    full = _match_form(name)
    return {full, re.sub(r"（[^）]*）", "", full)} - {""}


def _match_form(s: str) -> str:
    return norm_label(s).replace("、", "").replace("“", "").replace("”", "")


def strip_filler(q: str) -> str:
    """The question without question words, years and operation words (the item being asked)."""
    return _FILLER.sub("", q).strip()


@dataclass
class Item:
    """A candidate answer figure: one value supported by facts, or a sum of rows (``formula``)."""

    label: str
    value: Decimal
    value_text: str
    unit: str
    facts: list[Fact]
    score: float
    formula: str = ""
    computed: bool = False

    corroboration: str = ""
    #: statements of the same item and measure that give another figure (table vs narrative)
    disagreeing: list = field(default_factory=list)

    @property
    def has_statement(self) -> bool:
        """True when a single fact states the value (a sentence or one table cell)."""
        return not self.computed
