"""Optional fluent answers from a chat model, with every figure guarded (issue 9).

Nothing here runs unless a chat model is configured. Then :meth:`Assistant.ask_fluent` first answers
deterministically (:meth:`Assistant.ask`), gives the model the question, that answer's facts and the
quotes of its citations (numbered ``[n]`` as in the answer), and accepts the model's wording only if
:func:`guard` finds no violation. Otherwise — and on a timeout or an endpoint error — the deterministic
answer is returned with a visible note ("已使用确定性回答：…"), and the reason is logged.

| variable | meaning | default |
|---|---|---|
| BUDGET_QA_LLM_PROVIDER | ``openai`` (any OpenAI-compatible server) or ``ollama`` | unset: no model |
| BUDGET_QA_LLM_MODEL | model name as the server knows it | unset: no model |
| BUDGET_QA_LLM_BASE_URL | e.g. ``http://127.0.0.1:8000/v1`` or ``http://127.0.0.1:11434`` | the provider's default |
| BUDGET_QA_LLM_API_KEY | API key (OpenAI-compatible servers) | ``not-needed`` |
| BUDGET_QA_LLM_TIMEOUT | seconds for the whole reply | 20 |
| BUDGET_QA_LLM_MAX_TOKENS | longest reply asked for, in tokens | 2048 |

The guard (:func:`extract_figures`, :func:`guard`):

- a *figure* is an Arabic or Chinese numeral attached to an amount unit (元/万元/亿元, also 万/亿 alone),
  to % (百分之…) or 个百分点, or to a measure word (个/辆/人/项/套/…); a bare number printed with
  decimals or thousands separators ("1990.50") is a figure too. Years (2023年, 二〇二三年),
  classification and project codes (30211), ordinals (第二), heading numerals (一、 （二） 1.), dates
  and citation markers ([1]) are not. A lone 一 before a measure word (一项/一个) is read as an
  article, not a count. An approximation (1900余万元, 二十多人) never equals a provided figure.
- amounts are compared in 元 (1990.50 万元 = 19905000 元 ≠ 1990.50 元), percentages and counts with
  their unit; the value must be equal, not rounded.
- allowed figures: the answer's facts, the figures of its deterministic text and formula, and the
  figures in the quotes of its citations (a table row's bare cells in that table's unit).
- violations: a figure not allowed; another bare integer (a code, a count without measure word) that
  the material given to the model does not print; a fact's figure missing from the reply (dropped);
  a sentence with a figure but no citation marker (unless the deterministic answer states its figures
  without one too: formulas, conversions); a marker ``[n]`` beyond the answer's citations; an empty
  reply. Besides the guard, a reply cut at the token limit or one that repeats the prompt is not used.
"""
from __future__ import annotations

import logging
import os
import queue
import re
import threading
import time
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any, Iterator

from .model import Answer

log = logging.getLogger(__name__)

ENV = "BUDGET_QA_LLM_"
PROVIDERS = ("openai", "ollama")
DEFAULT_TIMEOUT = 20.0
FALLBACK_PREFIX = "已使用确定性回答："
#: kinds whose deterministic text is kept as it is (nothing for a model to phrase)
_SKIP_KINDS = ("not_found", "out_of_scope")
#: longest reply asked for by default (room for a reasoning block; a cut reply fails the guard)
MAX_TOKENS = 2048
#: longest quote given to the model (the guard still reads the whole quote)
MAX_QUOTE_CHARS = 1200


# ---------------------------------------------------------------------------------------- settings
@dataclass(frozen=True)
class LLMSettings:
    """The chat-model setting; :attr:`configured` is False unless provider and model are set."""

    provider: str = ""
    model: str = ""
    base_url: str = ""
    api_key: str = ""
    timeout: float = DEFAULT_TIMEOUT
    max_tokens: int = MAX_TOKENS

    @classmethod
    def from_env(cls) -> "LLMSettings":
        """Read ``BUDGET_QA_LLM_*`` now. Raises ValueError for an unknown provider or a bad timeout."""
        provider = os.environ.get(ENV + "PROVIDER", "").strip().lower()
        if provider and provider not in PROVIDERS:
            raise ValueError(f"BUDGET_QA_LLM_PROVIDER 只能是 {' 或 '.join(PROVIDERS)}，而不是“{provider}”")
        raw_timeout = os.environ.get(ENV + "TIMEOUT", "").strip()
        try:
            timeout = float(raw_timeout) if raw_timeout else DEFAULT_TIMEOUT
        except ValueError:
            raise ValueError(f"BUDGET_QA_LLM_TIMEOUT 应为秒数，而不是“{raw_timeout}”") from None
        if timeout <= 0:
            raise ValueError("BUDGET_QA_LLM_TIMEOUT 应大于 0")
        raw_max = os.environ.get(ENV + "MAX_TOKENS", "").strip()
        if raw_max and not (raw_max.isdigit() and int(raw_max) > 0):
            raise ValueError(f"BUDGET_QA_LLM_MAX_TOKENS 应为正整数，而不是“{raw_max}”")
        return cls(provider=provider, model=os.environ.get(ENV + "MODEL", "").strip(),
                   base_url=os.environ.get(ENV + "BASE_URL", "").strip(),
                   api_key=os.environ.get(ENV + "API_KEY", "").strip(), timeout=timeout,
                   max_tokens=int(raw_max) if raw_max else MAX_TOKENS)

    @property
    def configured(self) -> bool:
        return bool(self.provider and self.model)


def check_settings() -> LLMSettings:
    """The ``BUDGET_QA_LLM_*`` setting, checked when a server starts (not at its first question).

    Raises ConfigError for an unknown provider, a bad timeout or token limit, or a provider without
    a model (and the reverse): a half-set model setting must not be silently ignored.
    """
    from .errors import ConfigError

    try:
        s = LLMSettings.from_env()
    except ValueError as e:
        raise ConfigError(str(e)) from None
    if s.provider and not s.model:
        raise ConfigError(f"设置了 BUDGET_QA_LLM_PROVIDER={s.provider}，但没有设置 BUDGET_QA_LLM_MODEL（模型名）")
    if s.model and not s.provider:
        raise ConfigError(f"设置了 BUDGET_QA_LLM_MODEL={s.model}，但没有设置 BUDGET_QA_LLM_PROVIDER（openai 或 ollama）")
    return s


def make_chat_model(settings: LLMSettings | None = None, *, provider: str | None = None,
                    model: str | None = None, base_url: str | None = None, api_key: str | None = None,
                    timeout: float | None = None, max_tokens: int | None = None):
    """A LangChain chat model for the setting (keywords override it); None when none is configured.

    ``openai`` → ``langchain_openai.ChatOpenAI`` (any OpenAI-compatible server), ``ollama`` →
    ``langchain_ollama.ChatOllama``. Both are imported only here (``pip install 'budget-qa[llm]'``).
    Temperature 0, no retries: a failure falls back to the deterministic answer at once.
    """
    s = settings or LLMSettings.from_env()
    s = replace(s, **{k: v for k, v in dict(provider=provider, model=model, base_url=base_url, api_key=api_key,
                                            timeout=timeout, max_tokens=max_tokens).items() if v is not None})
    if not s.configured:
        return None
    if s.provider == "openai":
        try:
            from langchain_openai import ChatOpenAI
        except ImportError as e:  # pragma: no cover - depends on the install
            raise RuntimeError("需要安装 langchain-openai：pip install 'budget-qa[llm]'") from e
        kwargs: dict[str, Any] = dict(model=s.model, api_key=s.api_key or "not-needed", timeout=s.timeout,
                                      max_retries=0, temperature=0)
        if s.base_url:
            # OpenAI-compatible servers (llama.cpp, vLLM, hosted Qwen/DeepSeek APIs) read "max_tokens";
            # LangChain would send OpenAI's newer "max_completion_tokens", which some of them ignore
            kwargs["base_url"] = s.base_url
            kwargs["extra_body"] = {"max_tokens": s.max_tokens}
        else:
            kwargs["max_tokens"] = s.max_tokens
        return ChatOpenAI(**kwargs)
    if s.provider == "ollama":
        try:
            from langchain_ollama import ChatOllama
        except ImportError as e:  # pragma: no cover - depends on the install
            raise RuntimeError("需要安装 langchain-ollama：pip install 'budget-qa[llm]'") from e
        kwargs = dict(model=s.model, temperature=0, num_predict=s.max_tokens, client_kwargs={"timeout": s.timeout})
        if s.base_url:
            kwargs["base_url"] = s.base_url
        return ChatOllama(**kwargs)
    raise ValueError(f"未知的语言模型提供方：{s.provider}")


# ---------------------------------------------------------------------------------------- messages
SYSTEM_PROMPT = (
    "你是政府预算公开文件问答助手。请只依据下面给出的“事实”和“引文”用简洁的中文回答问题，不要使用其他知识。\n"
    "规则：\n"
    "1. 每个金额、百分比和数量都必须与事实或引文中的数字完全一致：数值和单位都不能改，不要换算单位，不要四舍五入，"
    "不要自己计算新的数字，也不要遗漏事实中的数字。\n"
    "2. 含数字的每一句话都要在句末用方括号标注来源编号，例如 [1]；只能使用下面给出的编号。\n"
    "3. 资料中没有的内容就不要回答；拿不准时，照抄“已核对的回答”。\n"
    "4. 只输出回答本身。"
)


def _fact_lines(answer: Answer) -> list[str]:
    """One line per fact: label, value, unit and the numbers of the citations with its locator."""
    lines = []
    for f in answer.facts:
        nums = [i for i, c in enumerate(answer.citations, start=1)
                if c.locator == f.source and (not f.doc_id or c.doc_id == f.doc_id)]
        value = f.value if f.value.endswith(f.unit) else f"{f.value} {f.unit}".strip()
        where = "".join(f"[{n}]" for n in nums) if nums else ("（计算得出）" if f.source == "计算" else "")
        line = f"- {f.label}：{value} {where}".rstrip()
        if line not in lines:
            lines.append(line)
    return lines


def _quote_for_model(c, unit: str) -> str:
    quote = c.quote if len(c.quote) <= MAX_QUOTE_CHARS else c.quote[:MAX_QUOTE_CHARS] + "……"
    head = f"{c.doc_title} · {c.locator}"
    if c.kind == "table":
        return f"{head}（表格行{'，单位：' + unit if unit else ''}）：{quote}"
    return f"{head}：{quote}"


def build_messages(question: str, answer: Answer, table_units: dict[str, str] | None = None) -> list:
    """The chat messages: system rules, then the question, the checked deterministic answer, the facts
    with their citation numbers and the numbered quotes of the answer's citations."""
    from langchain_core.messages import HumanMessage, SystemMessage

    parts = [f"问题：{question}", "", f"已核对的回答：{answer.answer}"]
    if answer.formula:
        parts.append(f"计算公式：{answer.formula}")
    facts = _fact_lines(answer)
    if facts:
        parts += ["", "事实："] + facts
    if answer.citations:
        parts += ["", "引文："]
        for i, c in enumerate(answer.citations, start=1):
            parts.append(f"[{i}] " + _quote_for_model(c, _table_unit(c, answer, table_units)))
    parts += ["", "请用自然流畅的中文回答上面的问题，并按规则标注来源编号。"]
    return [SystemMessage(content=SYSTEM_PROMPT), HumanMessage(content="\n".join(parts))]


# ---------------------------------------------------------------------------------------- figures
@dataclass(frozen=True)
class Figure:
    """A figure found in text: ``value`` in its own unit as printed (万 multipliers applied to counts),
    ``unit`` ("元", "万元", "亿元", "%", "百分点", a measure word, or "" for a bare decimal), ``text``
    the matched text."""

    value: Decimal | None
    unit: str
    text: str

    @property
    def key(self) -> tuple[str, Decimal | None]:
        """Comparison key: amounts in 元, others in their unit; bare figures by their printed value."""
        if self.value is None:
            return (self.unit, None)
        if self.unit in _AMOUNT_SCALE:
            return ("元", self.value * _AMOUNT_SCALE[self.unit])
        return (self.unit, self.value)


#: Decimal equality and hashing are numeric (Decimal("1990.50") == Decimal("1990.5")), so keys compare values
_AMOUNT_SCALE = {"元": Decimal(1), "千元": Decimal(1000), "万元": Decimal(10000), "亿元": Decimal(100000000)}
_MULT = {"万": Decimal(10000), "亿": Decimal(100000000), "千": Decimal(1000)}
COUNT_WORDS = ("人次", "个月", "个", "辆", "套", "台", "人", "名", "位", "件", "项", "种", "份", "批", "场", "天", "次",
               "期", "家", "户", "所", "座", "册", "篇", "条", "处", "间", "栋", "小时", "平方米", "公里")
_CN_DIGITS = "零〇一二两三四五六七八九"
_CN_NUM = f"[{_CN_DIGITS}十百千万亿点]*[{_CN_DIGITS}十百千][{_CN_DIGITS}十百千万亿点]*"
_AR_NUM = r"\d{1,3}(?:,\d{3})+(?![\d,])(?:\.\d+)?|\d+(?:\.\d+)?"
_COUNT_RE = "|".join(sorted(COUNT_WORDS, key=len, reverse=True))
_UNIT_RE = (rf"(?:(?P<approx>[多余])\s*)?(?:[（(]\s*)?(?P<mult>[万亿千](?!元))?\s*(?P<unit>亿元|万元|千元|元|%|个百分点|百分点|{_COUNT_RE})|(?P<bare_mult>[万亿])")
_FIGURE = re.compile(
    rf"百分之\s*(?P<pct>{_AR_NUM}|{_CN_NUM})"
    rf"|(?:(?P<num>{_AR_NUM})|(?P<cn>{_CN_NUM}))\s*(?:{_UNIT_RE})?"
)
_MARKER = re.compile(r"[\[［【]\s*(\d+(?:\s*[,，、\-–~]\s*\d+)*)\s*[\]］】]")
#: not figures: years, ordinals, heading numerals, dates
_NOT_FIGURES = [
    re.compile(r"(?:1[89]|20)\d{2}\s*(?:年度?|—|-|–|~|至)"),  # 2023年 / 2023 年度 / 2022-2023
    re.compile(rf"[{_CN_DIGITS}]{{4}}\s*年"),  # 二〇二三年
    re.compile(rf"第\s*(?:\d+|[{_CN_DIGITS}十百千]+)"),  # 第二部分 / 第3项
    re.compile(rf"(?:^|(?<=[\n。；;：:]))\s*(?:[{_CN_DIGITS}十]+|\d+)\s*[、.．](?!\d)", re.M),  # 一、 1.
    re.compile(rf"[（(]\s*(?:[{_CN_DIGITS}十]+|\d{{1,2}})\s*[）)]"),  # （二） (3)
    re.compile(r"\d{1,2}\s*月(?:\s*\d{1,2}\s*日)?"),  # 12月31日
]
_FULLWIDTH = str.maketrans("０１２３４５６７８９．％", "0123456789.%")  # not "，": Chinese punctuation
#: markdown emphasis and short HTML tags, removed so that "**1990.50** 元" keeps its unit
_MARKUP = re.compile(r"[*_`]+|</?[a-zA-Z][^<>]{0,20}>")


def _dec(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


def _cn_value(text: str) -> Decimal | None:
    """A Chinese numeral's value (二十七 → 27, 一千九百九十点五万 → 19905000, 二〇二三 → 2023)."""
    import cn2an

    mult = Decimal(1)
    body = text
    for _ in range(2):
        try:
            return _dec(str(cn2an.cn2an(body, "smart"))) * mult
        except Exception:  # cn2an raises ValueError and others for text it does not read
            if body and body[-1] in _MULT and len(body) > 1:
                mult *= _MULT[body[-1]]
                body = body[:-1]
                continue
            return None
    return None


def _mask(text: str, spans: list[tuple[int, int]]) -> str:
    chars = list(text)
    for a, b in spans:
        for i in range(a, b):
            chars[i] = " " if chars[i] != "\n" else "\n"
    return "".join(chars)


def _prepare(text: str) -> str:
    """Full-width digits made ASCII; markers, years, ordinals, headings and dates blanked (same length)."""
    text = _MARKUP.sub("", (text or "").translate(_FULLWIDTH))
    spans = [m.span() for m in _MARKER.finditer(text)]
    for rx in _NOT_FIGURES:
        spans += [m.span() for m in rx.finditer(text)]
    return _mask(text, spans)


def extract_figures(text: str, bare_unit: str = "") -> list[Figure]:
    """Amounts, percentages and counts in ``text`` (see the module doc for what is and is not a figure).

    ``bare_unit`` gives bare numbers a unit (table cells printed without one): then bare integers
    count too, except code-like ones (five or more digits, or a leading 0).
    """
    return _scan(text, bare_unit)[0]


def loose_integers(text: str) -> list[str]:
    """Arabic integers in ``text`` that are no figure (no unit), and no year, ordinal, heading numeral,
    date or marker either: codes such as 30211, and counts written without a measure word."""
    return _scan(text)[1]


def _scan(text: str, bare_unit: str = "") -> tuple[list[Figure], list[str]]:
    out: list[Figure] = []
    loose: list[str] = []
    prepared = _prepare(text)
    for m in _FIGURE.finditer(prepared):
        raw = m.group(0).strip()
        if m.group("pct") is not None:
            p = m.group("pct")
            value = _dec(p) if re.fullmatch(_AR_NUM, p) else _cn_value(p)
            out.append(Figure(value, "%", raw))
            continue
        unit = m.group("unit") or ""
        mult_char = m.group("mult") or m.group("bare_mult") or ""
        if m.group("num") is not None:
            num = m.group("num")
            value = _dec(num)
            if not unit and not mult_char:
                if bare_unit:
                    if "." not in num and "," not in num and (len(num) >= 5 or (num.startswith("0") and len(num) > 1)):
                        continue  # a code, not an amount
                    out.append(Figure(value, bare_unit, raw))
                elif "." in num or "," in num:
                    out.append(Figure(value, "", raw))
                else:
                    loose.append(num)
                continue  # bare integers: codes, ordinals, counts without a measure word
        else:
            cn = m.group("cn")
            start = m.start("cn")
            if cn == "一" and unit in COUNT_WORDS and not mult_char:
                continue  # 一项 / 一个: an article, not a count
            if start > 0 and prepared[start - 1] in "第每":
                continue
            if not unit and not mult_char:
                if cn[-1] not in "万亿":
                    continue  # a Chinese numeral without a unit (三公, 十分) is no figure
                unit = "元"  # 三亿 / 二十七万: an amount
            value = _cn_value(cn)
        if value is not None and mult_char:
            value = value * _MULT[mult_char]
        if m.group("approx"):
            value = None  # 1900余万元 / 二十多人: an approximation never equals a provided figure
        if unit == "个百分点":
            unit = "百分点"
        if not unit:
            unit = "元"  # 1990.5万 / 三亿: an amount in 元 once the multiplier is applied
        out.append(Figure(value, unit, raw))
    return out, loose


def citation_markers(text: str) -> list[int]:
    """Citation numbers in text: [1] [1][2] [1, 3] [2-4] and full-width forms."""
    nums: list[int] = []
    for m in _MARKER.finditer((text or "").translate(_FULLWIDTH)):
        body = m.group(1)
        for part in re.split(r"\s*[,，、]\s*", body):
            if re.search(r"[\-–~]", part):
                a, b = (int(x) for x in re.split(r"\s*[\-–~]\s*", part)[:2])
                nums.extend(range(a, b + 1) if 0 <= b - a <= 50 else [a, b])
            else:
                nums.append(int(part))
    return nums


def _table_unit(c, answer: Answer, table_units: dict[str, str] | None) -> str:
    """The unit of a table citation's bare cells: the column header's (项目金额（万元）), the table's,
    or that of the answer's facts with the same locator; "" when unknown."""
    if c.kind != "table":
        return ""
    m = re.search(r"[（(](亿元|万元|元)[）)]", c.locator)
    if m:
        return m.group(1)
    if table_units and table_units.get(c.table_id) in _AMOUNT_SCALE:
        return table_units[c.table_id]
    for f in answer.facts:
        if f.source == c.locator and f.unit in _AMOUNT_SCALE:
            return f.unit
    title = c.locator.split(" · ")[0]  # facts of the same table (their locators start with its title)
    units = {f.unit for f in answer.facts if f.source.split(" · ")[0] == title and f.doc_id in ("", c.doc_id)}
    if len(units) == 1 and next(iter(units)) in _AMOUNT_SCALE:
        return units.pop()
    return ""


def _fact_figures(answer: Answer) -> list[Figure]:
    figs = []
    for f in answer.facts:
        text = f.value if not f.unit or f.value.endswith(f.unit) else f"{f.value}{f.unit}"
        found = extract_figures(text) or extract_figures(f.value, bare_unit=f.unit or "")
        figs.extend(found[:1])
    return figs


def allowed_figures(answer: Answer, table_units: dict[str, str] | None = None) -> list[Figure]:
    """Every figure a reply may state: facts, the deterministic text and formula, the cited quotes."""
    figs = list(_fact_figures(answer))
    for p in [answer] + list(answer.parts):
        figs += extract_figures(p.answer) + extract_figures(p.formula)
    for c in answer.citations:
        unit = _table_unit(c, answer, table_units)
        if c.kind == "table":
            for cell in c.quote.split("|"):
                figs += extract_figures(cell, bare_unit=unit)
        else:
            figs += extract_figures(c.quote)
    return figs


def _sentences(text: str) -> list[str]:
    """Sentences, each with the citation markers that follow its end punctuation ("…万元。[1]")."""
    rx = re.compile(r"[^。！？!?；;\n]+(?:[。！？!?；;\n]+(?:\s*[\[［【][\d,，、\s\-–~]+[\]］】])*)?")
    return [s for s in rx.findall(text) if s.strip()]


def guard(reply: str, answer: Answer, table_units: dict[str, str] | None = None) -> list[str]:
    """Violations of the figure and citation rules in a model's reply (empty list: accepted)."""
    reply = (reply or "").strip()
    if not reply:
        return ["语言模型没有给出回答"]
    violations: list[str] = []
    allowed = allowed_figures(answer, table_units)
    keys = {f.key for f in allowed if f.unit and f.value is not None}
    printed = {f.value for f in allowed if f.value is not None}
    found = extract_figures(reply)
    for f in found:
        ok = f.value is not None and ((f.key in keys) if f.unit else (f.value in printed))
        if not ok:
            violations.append(f"数字不在所给事实或引文中：{f.text}")
    reply_keys = {f.key for f in found}
    reply_bare = {f.value for f in found if not f.unit}
    missed: set = set()
    for f in _fact_figures(answer):
        if f.value is not None and f.key not in reply_keys and f.value not in reply_bare and f.key not in missed:
            missed.add(f.key)  # one figure printed "1,990.50" in a table and "1990.50" in a sentence is one
            v = f"遗漏了事实中的数字：{f.text}"
            if v not in violations:
                violations.append(v)
    n = len(answer.citations)
    for k in citation_markers(reply):
        if not 1 <= k <= n:
            have = "没有可引用的来源" if not n else ("只有 [1]" if n == 1 else f"只有 [1]–[{n}]")
            v = f"引用了未提供的来源：[{k}]（{have}）"
            if v not in violations:
                violations.append(v)
    material = _material_numbers(answer)
    for num in loose_integers(reply):
        if not re.fullmatch(r"(?:19|20)\d{2}", num) and Decimal(num) not in material:
            v = f"数字不在所给材料中：{num}"
            if v not in violations:
                violations.append(v)
    violations += [v for v in _meaning_violations(reply, answer) if v not in violations]
    # a sentence with a figure carries a marker, unless it only repeats figures that the deterministic
    # answer itself states without one (a formula, a unit conversion, a quoted reason)
    unmarked = _unmarked_figures(answer)
    for s in _sentences(reply):
        figs = extract_figures(s)
        if figs and not citation_markers(s) and not all(_figure_in(f, unmarked) for f in figs):
            violations.append(f"含数字的句子没有标注来源：{s.strip()[:40]}")
    return violations


def _material_texts(answer: Answer) -> list[str]:
    """What the model was given: question, deterministic text and formulas, facts, citations."""
    texts = [answer.question]
    for p in [answer] + list(answer.parts):
        texts += [p.answer, p.formula]
    texts += [f"{f.value} {f.source}" for f in answer.facts]
    texts += [f"{c.doc_title} {c.locator} {c.quote}" for c in answer.citations]
    return [t for t in texts if t]


#: "比2022年" / "与 2022 年相比" / "较上年": the year a figure is compared with
_COMPARED_YEAR = re.compile(r"(?:比|较|与|同|相比于|对比)\s*((?:19|20)\d{2})\s*年")
_UP_WORDS, _DOWN_WORDS = ("增加", "增长", "上升", "提高", "多"), ("减少", "下降", "降低", "少", "下调")
#: a change stated with its direction: "减少 2.80 万元", "下降1.82%"
_DIRECTED = re.compile(r"(增加|增长|上升|提高|减少|下降|降低|下调)\s*了?\s*(" + _AR_NUM + r")")


def _directions(texts: list[str]) -> dict[Decimal, set[int]]:
    """{value: {+1/-1}} for every number stated after a direction word (增加/减少…) in ``texts``."""
    out: dict[Decimal, set[int]] = {}
    for t in texts:
        for m in _DIRECTED.finditer(t.translate(_FULLWIDTH)):
            d = _dec(m.group(2))
            if d is not None:
                out.setdefault(d, set()).add(1 if m.group(1) in _UP_WORDS else -1)
    return out


def _meaning_violations(reply: str, answer: Answer) -> list[str]:
    """A reply whose figures are right but whose meaning is not: a comparison with a year the
    material never compares with ("比2023年" for "比2022年"), or a change in the opposite
    direction (增加 for 减少). Years are not figures, but the year compared with is part of one."""
    texts = _material_texts(answer)
    flat = re.sub(r"\s+", "", " ".join(texts))
    out = []
    for m in _COMPARED_YEAR.finditer(reply.translate(_FULLWIDTH)):
        year = m.group(1)
        if not re.search(r"(?:比|较|与|同|相比于|对比)" + year + "年", flat):
            out.append(f"比较的年份不在所给材料中：{m.group(0)}")
    given = _directions(texts)
    for value, dirs in _directions([reply]).items():
        if value in given and not (dirs & given[value]):
            out.append(f"增减方向与来源相反：{value}")
    return out


def _material_numbers(answer: Answer) -> set[Decimal]:
    """Every Arabic number printed in what the model was given (question, answer, facts, quotes)."""
    texts = _material_texts(answer)
    out: set[Decimal] = set()
    for t in texts:
        for m in re.finditer(_AR_NUM, (t or "").translate(_FULLWIDTH)):
            d = _dec(m.group(0))
            if d is not None:
                out.add(d)
    return out


def _unmarked_figures(answer: Answer) -> tuple[set, set]:
    """(keys, printed values) of the figures in sentences of the deterministic text without a marker."""
    keys, printed = set(), set()
    for p in [answer] + list(answer.parts):
        for s in _sentences(p.answer) + _sentences(p.formula):
            if not citation_markers(s):
                for f in extract_figures(s):
                    if f.value is not None:
                        printed.add(f.value)
                        if f.unit:
                            keys.add(f.key)
    return keys, printed


def _figure_in(f: Figure, sets: tuple[set, set]) -> bool:
    keys, printed = sets
    return f.value is not None and ((f.key in keys) if f.unit else (f.value in printed))


# ---------------------------------------------------------------------------------------- phrasing
def _text_of(message) -> str:
    text = getattr(message, "text", None)
    if isinstance(text, str):  # langchain-core 1.x: a property (a str that is also callable)
        return str(text)
    if callable(text):  # older langchain-core: a method
        return str(text())
    content = getattr(message, "content", "")
    if isinstance(content, str):
        return content
    return "".join(b.get("text", "") if isinstance(b, dict) else str(b) for b in content)


def _clean(reply: str) -> str:
    """The reply without a reasoning block (<think>…</think>) and surrounding space."""
    return re.sub(r"<think>.*?(?:</think>|$)", "", reply or "", flags=re.S).strip()


def _model_name(model) -> str:
    return str(getattr(model, "model_name", None) or getattr(model, "model", None) or type(model).__name__)


def _fallback(answer: Answer, reason: str, model, question: str) -> tuple[Answer, str]:
    log.warning("language model %s not used for %r: %s", _model_name(model), question[:80], reason)
    return answer, FALLBACK_PREFIX + reason


def _run_in_thread(target, *args) -> queue.Queue:
    """Run ``target(put, *args)`` in a daemon thread (a hung model must not keep the process alive)."""
    q: queue.Queue = queue.Queue()

    def run():
        try:
            target(q.put, *args)
            q.put(("done", None))
        except BaseException as e:  # noqa: BLE001 - reported to the caller, which falls back
            q.put(("error", e))

    threading.Thread(target=run, name="budget-qa-llm", daemon=True).start()
    return q


def _timeout_of(timeout: float | None) -> float:
    if timeout is not None:
        return float(timeout)
    try:
        return LLMSettings.from_env().timeout
    except ValueError:
        return DEFAULT_TIMEOUT


def _finish_reason(message) -> str:
    """Why the model stopped ("stop", "length", …) as the provider reports it; "" if it does not."""
    meta = getattr(message, "response_metadata", None) or {}
    return str(meta.get("finish_reason") or meta.get("done_reason") or "")


#: headings of the prompt (build_messages): a reply that repeats them is an echo, not an answer
_PROMPT_ECHO = ("已核对的回答：", "事实：", "引文：", "请用自然流畅的中文回答")


def _accept(question: str, answer: Answer, reply: str, model, table_units, finish: str = "") -> tuple[Answer, str]:
    reply = _clean(reply)
    if finish == "length":
        return _fallback(answer, "语言模型的回答不完整（达到长度上限）", model, question)
    if any(h in reply for h in _PROMPT_ECHO):
        return _fallback(answer, "语言模型复述了提示内容，没有作答", model, question)
    violations = guard(reply, answer, table_units)
    if violations:
        return _fallback(answer, "语言模型的回答未通过数字核对（" + "；".join(violations) + "）", model, question)
    log.info("language model %s reply accepted (%d chars)", _model_name(model), len(reply))
    return replace(answer, answer=reply), ""


def _error_reason(e: BaseException) -> str:
    name = type(e).__name__
    if "timeout" in name.lower():
        return f"语言模型超时（{name}）"
    return f"语言模型服务出错（{name}: {str(e)[:120]}）"


def _usable(answer: Answer) -> bool:
    return answer.kind not in _SKIP_KINDS and bool(answer.citations)


def phrase(question: str, answer: Answer, model, timeout: float | None = None,
           table_units: dict[str, str] | None = None) -> tuple[Answer, str]:
    """Let ``model`` phrase ``answer``: (the answer with the model's text, "") when the guard accepts
    the reply, else (the deterministic ``answer``, "已使用确定性回答：<reason>"). ``timeout`` (seconds,
    default BUDGET_QA_LLM_TIMEOUT) bounds the whole call. Answers without citations and not_found /
    out_of_scope answers are returned unchanged with no note."""
    if model is None or not _usable(answer):
        return answer, ""
    limit = _timeout_of(timeout)
    messages = build_messages(question, answer, table_units)
    def produce(put, m):
        message = model.invoke(m)
        put(("reply", (_text_of(message), _finish_reason(message))))

    q = _run_in_thread(produce, messages)
    deadline = time.monotonic() + limit
    reply, finish = "", ""
    while True:
        try:
            kind, value = q.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            return _fallback(answer, f"语言模型超时（{limit:g} 秒）", model, question)
        if kind == "reply":
            reply, finish = value
        elif kind == "error":
            return _fallback(answer, _error_reason(value), model, question)
        else:
            break
    return _accept(question, answer, reply or "", model, table_units, finish)


def phrase_stream(question: str, answer: Answer, model, timeout: float | None = None,
                  table_units: dict[str, str] | None = None) -> Iterator[str | tuple[Answer, str]]:
    """Like :func:`phrase`, streaming: yields the reply's text chunks (a draft, not yet checked) and
    finally one ``(answer, note)`` tuple — the guard runs on the complete reply before it is accepted.
    With nothing to phrase it yields only the final tuple."""
    if model is None or not _usable(answer):
        yield answer, ""
        return
    limit = _timeout_of(timeout)
    messages = build_messages(question, answer, table_units)

    stop = threading.Event()

    def produce(put, m):
        stream = model.stream(m)
        for chunk in stream:
            if stop.is_set():  # the caller gave up (timeout): close the stream, so the server stops
                getattr(stream, "close", lambda: None)()  # generating for nobody
                return
            text = _text_of(chunk)
            if text:
                put(("chunk", text))
            if _finish_reason(chunk):
                put(("finish", _finish_reason(chunk)))

    q = _run_in_thread(produce, messages)
    deadline = time.monotonic() + limit
    pieces: list[str] = []
    finish = ""
    while True:
        try:
            kind, value = q.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            stop.set()
            yield _fallback(answer, f"语言模型超时（{limit:g} 秒）", model, question)
            return
        if kind == "chunk":
            pieces.append(value)
            yield value
        elif kind == "finish":
            finish = value
        elif kind == "error":
            yield _fallback(answer, _error_reason(value), model, question)
            return
        else:
            break
    yield _accept(question, answer, "".join(pieces), model, table_units, finish)


# ---------------------------------------------------------------------------------------- engine glue
_MODEL_LOCK = threading.Lock()


def chat_model_for(assistant):
    """The assistant's chat model from ``BUDGET_QA_LLM_*``, made once and kept on the assistant; None
    when none is configured or when the setting cannot be used (logged once)."""
    with _MODEL_LOCK:
        if not hasattr(assistant, "_chat_model"):
            try:
                settings = LLMSettings.from_env()
                assistant._chat_model = make_chat_model(settings) if settings.configured else None
                if assistant._chat_model is not None:
                    log.info("chat model: %s %s at %s", settings.provider, settings.model,
                             settings.base_url or "(default URL)")
            except Exception:  # a bad setting must not break the deterministic answers
                log.exception("chat model setting unusable; answering deterministically")
                assistant._chat_model = None
        return assistant._chat_model


def table_units_of(assistant, answer: Answer) -> dict[str, str]:
    """{table_id: unit} of the tables of the documents the answer cites."""
    docs = sorted({c.doc_id for c in answer.citations if c.kind == "table"})
    return {t.table_id: t.unit for t in assistant.store.tables(docs)} if docs else {}


def phrase_for(assistant, answer: Answer) -> tuple[Answer, str]:
    """:func:`phrase` with the assistant's configured chat model (unchanged answer when none)."""
    model = assistant.chat_model
    if model is None:
        return answer, ""
    return phrase(answer.question, answer, model, table_units=table_units_of(assistant, answer))


def phrase_stream_for(assistant, answer: Answer) -> Iterator[str | tuple[Answer, str]]:
    """:func:`phrase_stream` with the assistant's configured chat model."""
    model = assistant.chat_model
    if model is None:
        return iter([(answer, "")])
    return phrase_stream(answer.question, answer, model, table_units=table_units_of(assistant, answer))
