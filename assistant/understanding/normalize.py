"""Normalising questions before matching: traditional → simplified (opencc), full-width → half-width,
Chinese numerals in years and amounts → Arabic (cn2an), classification codes in any spacing.
"""
from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

_CN_DIGIT = "〇零一二三四五六七八九"
_YEAR_CN = re.compile(r"([〇零一二三四五六七八九]{4})\s*年")
# a Chinese numeral with a magnitude or decimal point (一千九百九十点五, 二十五点五); single
# characters are left alone so words such as 三公 or 一般 stay intact
_NUM_CN = re.compile(r"[零一二两三四五六七八九十百千万亿]*[十百千万亿点][零一二两三四五六七八九十百千万亿点]*")
# codes written with spaces or dashes: 201 31 01, 201-31-01
_SPACED_CODE = re.compile(r"(?<!\d)(\d{3})[\s\-－_]+(\d{2})(?:[\s\-－_]+(\d{2}))?(?!\d)")


@lru_cache(maxsize=1)
def _t2s():
    import opencc

    return opencc.OpenCC("t2s")


def to_simplified(text: str) -> str:
    """Traditional → simplified Chinese (opencc ``t2s``)."""
    return _t2s().convert(text)


def to_halfwidth(text: str) -> str:
    """Full-width digits, letters and ASCII punctuation → half-width; Chinese parentheses,
    colons and quotes are kept as printed in disclosures."""
    out = []
    for ch in text:
        if ch in "（）：，。；？！“”、":
            out.append(ch)
            continue
        n = unicodedata.normalize("NFKC", ch)
        out.append(n if len(n) == 1 else ch)
    return "".join(out)


_DIGIT_VALUE = {"〇": 0, "零": 0, "一": 1, "二": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9}


def _cn_year(m: re.Match) -> str:
    return "".join(str(_DIGIT_VALUE[c]) for c in m.group(1)) + "年"


def _cn_number(m: re.Match) -> str:
    import warnings

    import cn2an

    warnings.filterwarnings("ignore", module="cn2an")
    s = m.group(0)
    tail = ""
    # a trailing 万/亿 is often the unit (一千九百九十点五万元): convert the rest, keep the unit
    while s and len(s) >= 2:
        try:
            v = cn2an.cn2an(s, "smart")
        except (ValueError, KeyError):
            if s[-1] in "万亿":
                tail = s[-1] + tail
                s = s[:-1]
                continue
            return m.group(0)
        return (f"{v:g}" if isinstance(v, float) else str(v)) + tail
    return m.group(0)


def normalize_question(text: str) -> str:
    """The question in canonical form for matching (see module docstring). Pure; no I/O."""
    t = re.sub(r"\x1b\[[0-9;?]*[ -/]*[@-~]", "", text or "")  # terminal escape sequences
    t = to_simplified(t)
    t = to_halfwidth(t)
    t = "".join(ch for ch in t if ch == "\n" or unicodedata.category(ch)[0] != "C")
    t = _YEAR_CN.sub(_cn_year, t)
    t = _NUM_CN.sub(_cn_number, t)
    t = _SPACED_CODE.sub(lambda m: "".join(g for g in m.groups() if g), t)
    t = t.replace("(", "（").replace(")", "）")
    t = re.sub(r"[\"'‘’“”「」『』]", "", t)
    t = re.sub(r"\s+", " ", t).strip()
    return t
