"""Reading figures as printed in disclosures: "1,990.50", "≥95%", "≥430 件", "140 元/人/天".

Amounts keep their printed precision: :func:`decimals_of` tells how many decimals the source used,
so derived figures can be rounded "as the source" (two decimals for 万元 tables).
"""
from __future__ import annotations

import re
from dataclasses import dataclass

#: Units a figure may carry, longest first so that 万元 wins over 元.
AMOUNT_UNITS = ("亿元", "万元", "元")
COUNT_UNITS = ("个", "辆", "套", "台", "人次", "人", "名", "件", "项", "种", "份", "批", "场", "天", "次",
               "期", "家", "户", "所", "座", "册", "篇", "条", "处", "年", "小时", "平方米", "公里")
UNIT_RE = "|".join(re.escape(u) for u in sorted(AMOUNT_UNITS + COUNT_UNITS + ("%", "％"), key=len,
                                                  reverse=True))

NUMBER_RE = re.compile(r"-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?")
_PURE_NUMBER = re.compile(r"^\s*(-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?)\s*$")
_VALUE_WITH_UNIT = re.compile(
    r"^\s*(?P<cmp>[≥≤><＞＜=]|不低于|不高于|不少于|不超过|大于|小于|达到)?\s*"
    r"(?P<num>-?\d{1,3}(?:,\d{3})+(?:\.\d+)?|-?\d+(?:\.\d+)?)\s*(?P<unit>" + UNIT_RE + r")?(?P<rest>.*)$"
)


def parse_amount(text: str) -> float | None:
    """The number of a cell holding only a number ("1,990.50" → 1990.5); None otherwise."""
    m = _PURE_NUMBER.match(text or "")
    if not m:
        return None
    return float(m.group(1).replace(",", ""))


def decimals_of(text: str) -> int:
    """Decimals printed in a figure ("187.00" → 2, "27" → 0)."""
    m = NUMBER_RE.search(text or "")
    if not m or "." not in m.group(0):
        return 0
    return len(m.group(0).split(".")[1])


@dataclass(frozen=True)
class ValueText:
    """A cell like "≥430 件": comparator "≥", value 430.0, unit "件", rest "" (text after the unit)."""

    comparator: str
    value: float
    unit: str
    rest: str


def parse_value_text(text: str) -> ValueText | None:
    """Parse an indicator value (绩效指标值) such as "≥95%", "5 人", "≤0.5 元", "1场"; None if none."""
    m = _VALUE_WITH_UNIT.match(text or "")
    if not m:
        return None
    unit = (m.group("unit") or "").replace("％", "%")
    return ValueText(m.group("cmp") or "", float(m.group("num").replace(",", "")), unit,
                     m.group("rest").strip())


def format_amount(value: float, decimals: int = 2) -> str:
    """Format with thousands separators off and fixed decimals, as disclosures print totals in text."""
    return f"{value:.{decimals}f}"
