"""Intent parsing: what a budget question asks for, by rules over the normalised text.

Operations (``Intent.op``): figure, share, change, diff, sum, max, min, rank, list, definition,
explain, usage, code, date, completion, duties (what the body does). Year words: 今年/本年 → offset 0, 去年/上年 → offset −1 relative to the year
of the document in scope; explicit years are kept as numbers.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

_RANK_CN = {"一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_MEASURES = ("辆", "个", "件", "人次", "人", "名", "套", "台", "项", "种", "份", "批", "场", "天", "次", "期", "家")
_QUESTION_MARK = re.compile(r"多少|几|哪|什么|是否|吗|呢|占比|比例|比重|如何|怎么|为什么|为何|原因|用于|用途|是指|含义")
_FOLLOW_UP = re.compile(r"^(那么?|那|其中|还有|另外|以及|and|then)\s*|呢[？?]?$")


@dataclass
class Intent:
    """One (sub-)question.

    ``text``: normalised text; ``op``: operation (module docstring); ``rank``: n for 第n大;
    ``ascending``: ranks from the smallest; ``years``: explicit years; ``year_offset``: 0/-1 for
    今年/去年 or None; ``unit_wanted``: 元/万元/亿元 asked for; ``measure``: a count word such as 辆;
    ``codes``: classification codes; ``table_named``: a table title the question names;
    ``whole_text``: the text after 占 for shares; ``follow_up``: the turn leans on the previous one.
    """

    text: str
    op: str = "figure"
    rank: int = 1
    ascending: bool = False
    years: list[int] = field(default_factory=list)
    year_offset: int | None = None
    unit_wanted: str = ""
    measure: str = ""
    codes: list[str] = field(default_factory=list)
    table_named: str = ""
    whole_text: str = ""
    diff_pair: tuple[str, str] | None = None
    follow_up: bool = False
    explicit_op: bool = False
    #: years named as the base of a comparison ("比2023年"), not as the year asked about
    compared_years: list[int] = field(default_factory=list)

    @property
    def asked_years(self) -> list[int]:
        """The years asked about: explicit years that are not only a comparison's base."""
        return [y for y in self.years if y not in self.compared_years] or (
            [] if self.op in ("change", "explain") else list(self.years))

    def with_op(self, op: str) -> "Intent":
        return replace(self, op=op)


def split_questions(text: str) -> list[str]:
    """Split a turn into its questions: at ？/?/；, at ，/, when both sides ask something, and
    "A和B分别是多少" into one question per item (B borrows A's subject when it only says 预算/决算).

    "基本支出是多少，占总支出的比例是多少？" → ["基本支出是多少", "占总支出的比例是多少"];
    "三公经费年初预算和决算分别是多少" → ["三公经费年初预算是多少", "三公经费决算是多少"].
    """
    parts = [p.strip() for p in re.split(r"[？?；;！!。]+", text) if p.strip()]
    out: list[str] = []
    for p in parts:
        pieces = [x.strip() for x in re.split(r"[，,]", p) if x.strip()]
        buf = ""
        for x in pieces:
            if buf and _QUESTION_MARK.search(buf) and _QUESTION_MARK.search(x):
                out.append(buf)
                buf = x
            else:
                buf = (buf + "，" + x) if buf else x
        if buf:
            out.append(buf)
    result: list[str] = []
    items: list[str] = []
    for part in out or [text.strip()]:
        m = re.match(r"^(?:那么?|而)?(?:分别|各自|各)(.+)$", part)
        if m and len(items) >= 2:  # "A和B各多少，各占多少": the second question is about A and B too
            result.extend(x + m.group(1) for x in items)
            continue
        pieces = _split_respectively(part)
        items = [_ITEM_OF.sub("", p) for p in pieces] if len(pieces) >= 2 else []
        result.extend(pieces)
    return result


#: the question words after an item ("基本支出多少" → "基本支出")
_ITEM_OF = re.compile(r"(?:是|为|有|安排了?|花了?)?(?:多少钱?|几)(?:万元|元)?$")


_GENERIC_TAIL = re.compile(r"(?:支出|收入)?(?:年初)?(?:预算数?|决算数?|执行数)$")


def _split_respectively(q: str) -> list[str]:
    m = re.match(r"^(.+?)(?:分别|各自|各)(是|为|有|占|安排|花|多少|几|了)(.*)$", q)
    if m:  # "A和B各多少" is "A和B分别多少"
        q = f"{m.group(1)}分别{m.group(2)}{m.group(3)}"
    m = re.match(r"^(.+?)分别(.*)$", q)
    if not m:
        return [q]
    items = [x for x in re.split(r"[和与及、]", m.group(1)) if x]
    if len(items) < 2:
        return [q]
    stem = _GENERIC_TAIL.sub("", items[0])
    out = []
    for i, x in enumerate(items):
        if i and _GENERIC_TAIL.fullmatch(x) and stem:
            x = stem + x
        out.append(x + m.group(2))
    return out


def parse_intent(text: str) -> Intent:
    """Rules for the operation, years, units, codes and named table of one question."""
    t = text
    it = Intent(text=t)
    it.years = [int(y) for y in re.findall(r"(20\d{2}|19\d{2})\s*年", t)]
    it.compared_years = [int(y) for y in re.findall(r"(?:比|较|与|和|同|相比)\s*(20\d{2}|19\d{2})\s*年", t)]
    if re.search(r"今年|本年|当年|本年度", t):
        it.year_offset = 0
    if re.search(r"去年|上年(?!结转|结余|度结转)|上一年|前一年", t) and not re.search(r"比上年|较上年|与上年|同上年|和上年", t):
        it.year_offset = -1
    m = re.search(r"多少\s*(亿元|万元|元)|(?:换算|折合|合|是|为)(?:多少)?\s*(亿元|万元|元)|以\s*(亿元|万元|元)", t)
    if m:
        it.unit_wanted = next(g for g in m.groups() if g)
    m = re.search(r"(?:多少|几)\s*(" + "|".join(_MEASURES) + ")", t) or re.search(
        r"是多少\s*(" + "|".join(_MEASURES) + ")", t)
    if m:
        it.measure = m.group(1)
    it.codes = re.findall(r"(?<!\d)(2\d{6}|2\d{4}|3\d{4}|3\d{2}|5\d{4}|5\d{2})(?!\d|\s*年)", t)
    m = re.search(r"([\u4e00-\u9fff“”（）()]{2,30}?表)", t)
    if m and not re.search(r"表示|表明|代表", m.group(1)):
        it.table_named = re.sub(r"^(?:在|从|按|根据)", "", m.group(1))
    it.follow_up = bool(_FOLLOW_UP.search(t))

    op = "figure"
    rank = re.search(r"第\s*([一二两三四五六七八九十]|\d+)\s*(大|多|高|少|小|低)", t)
    if rank:
        n = rank.group(1)
        it.rank = int(n) if n.isdigit() else _RANK_CN[n]
        it.ascending = rank.group(2) in "少小低"
        op = "rank"
    elif re.search(r"最(多|大|高)|哪.{0,6}(多|大|高)(?!少)|排名第一|排第一", t) and not re.search(r"多少", t.replace("最多", "")):
        op = "max"
    elif re.search(r"最(少|小|低)", t):
        op = "min"
    elif it.codes and re.search(r"是什么|是啥|什么科目|哪个科目|指什么|是哪", t):
        op = "code"
    elif re.search(r"哪天|哪一天|什么时候|何时|日期|几月几[日号]|发布时间|公布时间|落款", t):
        op = "date"
    elif re.search(r"职责|职能|是干什么的|干什么的|做什么的|负责什么|主要工作是", t) and not re.search(r"多少|几", t):
        op = "duties"
    elif re.search(r"为什么|为何|原因|怎么会|为啥", t):
        op = "explain"
    elif re.search(r"用于|用途|用在|用来|干什么|做什么|花在", t) and not re.search(r"多少", t):
        op = "usage"
    elif re.search(r"什么是|是什么意思|什么意思|是指什么|指什么|的含义|含义|什么叫|定义|解释一下|是指|指的是|是啥", t) and not re.search(r"多少", t):
        op = "definition"
    elif re.search(r"哪些|包括什么|包含什么|有什么|明细|清单|列出|结构|构成|组成|分布", t):
        op = "list"
    elif re.search(r"(下降|增长|减少|增加|上升|降低)了?(百分之几|多少%|几%|百分之多少|多少个百分点)", t):
        op = "change"
    elif re.search(r"完成率|执行率|完成(?:了)?(?:年初|全年)?预算|预算完成|执行(?:了)?(?:年初|全年)?预算|预算执行|"
                   r"(?:完成|执行)了?(?:百分之几|多少%|几成)", t):
        op = "completion"
    elif re.search(r"占比|比例|比重|百分比|百分之|占.{0,20}(多少|几)|占.{0,12}%|share|percent", t):
        op = "share"
        wm = re.search(r"占(?!比)\s*(.+?)(?:的)?(?:比例|比重|百分比|多少|几|%|$)", t)
        if wm:
            it.whole_text = re.sub(r"^(?:了|到)?(?:多大|多少|多高|几成|多)?(?:的)?$", "", wm.group(1).strip())
    elif re.search(r"(比|较|与|和|同)\s*(\d{4}\s*年|上年|去年|上一年)", t) or re.search(
            r"变化|变动|增减|增长了?多少|减少了?多少|增加了?多少|下降了?多少|上升了?多少", t):
        op = "change"
    elif re.search(r"比.+?(多|少)\s*(多少|几)|相差|差额|差多少|差距", t):
        op = "diff"
        dm = re.search(r"(.+?)比(.+?)(多|少)\s*(多少|几)", t)
        if dm:
            it.diff_pair = (dm.group(1), dm.group(2))
    elif re.search(r"一共|总共|合计|共计|加起来|总和|总额", t):
        op = "sum"
    it.op = op
    it.explicit_op = op != "figure"
    return it
