"""Small text helpers shared by the parsers: label cleaning and heading numbering patterns."""
from __future__ import annotations

import re

CN_NUM = "一二三四五六七八九十百零〇"
#: "一、", "十一、" (level 1 headings and list items)
ORD_L1 = re.compile(rf"^\s*([{CN_NUM}]+)\s*[、.．]\s*")
#: "（一）", "(十九)" (level 2)
ORD_L2 = re.compile(rf"^\s*[（(]\s*([{CN_NUM}]+)\s*[)）]\s*")
#: "1.", "1、", "（1）", "(1)" (level 3)
ORD_L3 = re.compile(r"^\s*(?:(\d{1,2})\s*[、.．](?!\d)|[（(]\s*(\d{1,2})\s*[)）])\s*")
PART_RE = re.compile(rf"^\s*第\s*([{CN_NUM}]+)\s*部分\s*(.*)$")

_SPACE_IN_CJK = re.compile(r"(?<=[\u4e00-\u9fff（）()“”])\s+(?=[\u4e00-\u9fff（）()“”])")
_QUOTES = re.compile(r"[“”\"'‘’「」『』]")


def squeeze(text: str) -> str:
    """Remove spaces PDF extraction puts inside Chinese words ("金 额" → "金额"), trim the rest."""
    return _SPACE_IN_CJK.sub("", (text or "").strip())


def strip_ordinal(text: str) -> str:
    """Drop a leading list number: "八、社会保障和就业" → "社会保障和就业", "(十九) 援助…" → "援助…"."""
    t = (text or "").strip()
    for pat in (ORD_L2, ORD_L1, ORD_L3):
        m = pat.match(t)
        if m and m.end() < len(t):
            return t[m.end():].strip()
    return t


def norm_label(text: str) -> str:
    """Canonical form for matching labels: no quotes, spaces, ordinals, "其中：" or trailing colon."""
    t = strip_ordinal(squeeze(text))
    t = _QUOTES.sub("", t)
    t = re.sub(r"^其中[：:，,]?", "", t)
    t = re.sub(r"\s+", "", t)
    t = t.rstrip("：:")
    t = t.replace("(", "（").replace(")", "）")
    return t


def is_total_label(label: str) -> bool:
    """合计/总计/小计 rows and columns (and "收入合计：" variants)."""
    t = norm_label(label)
    return t in ("合计", "总计", "小计", "共计") or t.endswith(("合计", "总计")) and len(t) <= 8
