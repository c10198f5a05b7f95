"""The Ministry of Finance's disclosure templates: which kind a table is, which measure a column holds.

Knowledge is data (``assistant/data/budget_model.json``): the nine tables of a 部门/单位预算
(财务收支预算总表 … “三公”经费和机关运行经费预算表) and of a 部门/单位决算 (收入支出决算总表 …
财政拨款“三公”经费支出决算表; 财政部 部门决算模板), in their title variants; the measures
(预算数, 决算数, 年初预算, 全年预算, 上年预算, 上年执行数) by the words of column headers and of questions.
"""
from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources

_NOISE = re.compile(r"[“”\"'‘’「」『』\s（）()]|^\d+[.．、]|(?:19|20)\d{2}\s*年度?")


@lru_cache(maxsize=1)
def model_data() -> dict:
    """The reviewed template model (``assistant/data/budget_model.json``)."""
    return json.loads(resources.files("assistant.data").joinpath("budget_model.json").read_text(encoding="utf-8"))


def norm(text: str) -> str:
    """A title or header without quotes, brackets, spaces, list numbers and years (for matching)."""
    return _NOISE.sub("", text or "")


@lru_cache(maxsize=4096)
def table_kind(title: str) -> str:
    """The template kind of a table from its title ("" if none): ``summary`` (财务收支预算总表,
    收入支出决算总表), ``revenue``, ``expenditure``, ``appropriation_summary``, ``gpb_expenditure``,
    ``gov_fund``, ``soe_capital``, ``basic_economic``, ``three_public``, ``procurement``,
    ``performance``, ``project_expenditure``. Rules are tried in the data file's order."""
    t = norm(title)
    for rule in model_data()["table_kinds"]:
        if all(w in t for w in rule.get("all", ())) and (not rule.get("any") or any(w in t for w in rule["any"])) \
                and not any(w in t for w in rule.get("none", ())):
            return rule["id"]
    return ""


@lru_cache(maxsize=16384)
def column_measure(col_path: tuple[str, ...]) -> str:
    """The measure a column's header names (预算数, 决算数, 年初预算, 全年预算, 上年预算, 上年执行数),
    or "" when the header names none (the table's own measure then applies)."""
    for seg in reversed(col_path):
        s = norm(seg)
        for measure, words in model_data()["measures"]["column_words"]:
            if any(s.endswith(w) or s == w for w in words):
                return measure
    return ""


def measure_asked(question: str, basis: str) -> str:
    """The measure a question asks for, given the document's basis ("预算"/"决算").

    Explicit words win (年初预算, 全年预算, 上年执行数, 决算数 …); otherwise a 预算 document's 预算数,
    a 决算 document's 决算数. In a 决算 document, "预算" alone asks for the budget figure the table
    prints (预算数, else 全年预算, else 年初预算: see :func:`measure_matches`)."""
    q = norm(question)
    for measure, words in model_data()["measures"]["question_words"]:
        if any(w in q for w in words):
            if measure == "决算数" and basis == "预算" and not re.search(r"决算", q):
                return "预算数"  # 实际/花了 of a budget document: its only figure is the budget
            return measure
    return "决算数" if basis == "决算" else "预算数"


def measure_matches(asked: str, column: str, basis: str) -> int:
    """How well a column's measure answers the asked one: 0 = not at all, higher = better.

    A column naming no measure holds the document's own (预算数 in a 预算, 决算数 in a 决算)."""
    col = column or ("决算数" if basis == "决算" else "预算数")
    if col == asked:
        return 3
    if asked == "预算数" and basis == "决算" and col in model_data()["measures"]["budget_like"]:
        return 2 if col == "全年预算" else 1
    return 0
