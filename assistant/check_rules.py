"""Inspector's rules beyond table arithmetic (used by :func:`assistant.check.check_document`).

Each rule is general (phrases and titles come from the reviewed data file
``assistant/data/audit.json``, never from one document) and yields :class:`~assistant.check.Finding`
objects:

- ``item_amount_conflict`` (table_narrative): a numbered item of the 预算编制说明 gives a
  classification item one amount at its head ("…购房补贴（03项）207万元") and another as the year's
  budget later in the same paragraph ("2026年预算安排170.03万元"); the table row of the same item is
  quoted when the tables state it.
- ``classification_name_mismatch`` (table_narrative): a 功能分类 code written in the text
  ("医疗卫生与计划生育支出（210类）") under another name than the tables print for that code.
- ``empty_table_note_contradiction`` (table_narrative): a table whose note says it is empty
  ("故本表为空表") but which prints non-zero figures.
- ``empty_table_unexplained`` (missing): a table without any non-zero figure whose emptiness neither
  its note nor the text explains ("无政府性基金预算财政拨款…").
- ``required_table_missing`` (missing): one of the nine tables of the standard 预算/决算 set absent
  from a document that follows that set.
- ``incomplete_sentence`` (missing): a sentence cut off after a word that needs its complement
  ("主要原因是。").
- ``template_leftover`` (wording): template text left in ("增加（减少）", "XXX", "待填写").
- ``wrong_scope_word`` (wording): "部门预算" written in a 单位预算 (or 部门决算 in a 单位决算).
- ``same_year_comparison`` (wording): a budget of year Y compared "比Y年…" with its own year.
- ``doubled_punctuation`` (wording): two sentence marks in a row ("，，", "。。", "，。").
- ``table_year_mismatch`` (wording): a table title naming another year than the document's.
- ``balance_mismatch`` (arithmetic): 收入总计 ≠ 支出总计 in one 收支总表; and (as ``total_mismatch``)
  总计 ≠ 本年收入/支出合计 + the 结转/结余 rows printed between them.
"""
from __future__ import annotations

import json
import logging
import re
from decimal import Decimal, InvalidOperation
from functools import lru_cache
from importlib import resources

from .model import Fact, Passage
from .parsing.document import ParsedDocument
from .parsing.text import norm_label, squeeze

log = logging.getLogger(__name__)

_NUM = r"\d{1,3}(?:,\d{3})+(?:\.\d+)?|\d+(?:\.\d+)?"
_UNIT_FACTOR = {"元": Decimal(1), "万元": Decimal(10000), "亿元": Decimal(100000000)}
_QUOTES = re.compile(r"[“”\"'‘’「」『』]")


@lru_cache(maxsize=1)
def rules_data() -> dict:
    """The reviewed phrases and titles of ``assistant/data/audit.json``."""
    return json.loads(resources.files("assistant.data").joinpath("audit.json").read_text("utf-8"))


def _finding(kind: str, message: str, citations):
    from .check import Finding

    return Finding(kind, message, list(citations))


def _cite_passage(p: Passage, what: str = "") -> tuple[str, int, int | None]:
    loc = " > ".join(p.section_path) or "说明"
    return (f"{loc} · {what}" if what else loc, p.line, p.page)


def _cite_fact(f: Fact) -> tuple[str, int, int | None]:
    return (f.locator, f.line, f.page)


def _snippet(text: str, start: int, end: int, width: int = 18) -> str:
    return text[max(0, start - width):min(len(text), end + width)]


def _narrative(parsed: ParsedDocument) -> list[Passage]:
    return [p for p in parsed.passages if p.kind in ("narrative", "note")]


def _is_unit_document(parsed: ParsedDocument) -> bool:
    """A 单位预算/单位决算 (a 预算单位's own disclosure), told by its title or its tables' titles."""
    doc = parsed.document
    if re.search(r"单位(?:预算|决算)", doc.title):
        return True
    titles = [t.title for t in parsed.tables]
    return bool(titles) and sum("预算单位" in t or "单位“三公”" in t for t in titles) * 2 > len(titles)


def _dec(text: str) -> Decimal | None:
    try:
        return Decimal(text.replace(",", ""))
    except InvalidOperation:
        return None


# ---------------------------------------------------------------- numbered items of the 说明

_ITEM_HEAD = re.compile(
    r"^\s*\d{1,3}\s*[、.．]\s*[“\"]?(?P<name>[^，。；：]{2,90}?[（(]\s*\d{0,3}\s*项\s*[)）])[”\"]?\s*(?:为|安排)?\s*"
    r"(?P<amt>" + _NUM + r")\s*(?P<unit>亿元|万元|元)")
_LEVEL = re.compile(r"([^（()）“”\"]+?)[（(]\s*(\d{0,3})\s*([类款项])\s*[)）]")


def _item_code(name: str) -> tuple[str, list[str]]:
    """(code, names) of "公共安全支出（204类）司法（06款）行政运行（01项）" → ("2040601", [...]);
    code "" when the levels carry no digits."""
    levels = _LEVEL.findall(name)
    names = [squeeze(n).strip("、，， ") for n, _, _ in levels]
    digits = [d for _, d, _ in levels]
    code = "".join(digits) if digits and all(digits) else ""
    return code, names


def _table_main_values(parsed: ParsedDocument, code: str, name: str) -> list[Fact]:
    """The 合计 cells of the 功能分类 row ``code`` (or, without a code, the row named ``name``)."""
    out = []
    for f in parsed.facts:
        if f.source != "table" or f.role != "amount" or f.value is None or f.unit not in _UNIT_FACTOR:
            continue
        if not f.col_path or f.col_path[-1] not in ("合计",):
            continue
        if code and f.code == code or (not code and name and f.label == norm_label(name)
                                        and f.code_kind == "functional" and len(f.code) == 7):
            out.append(f)
    return out


def _item_amount_conflicts(parsed: ParsedDocument) -> list:
    doc = parsed.document
    if doc.basis != "预算" or not doc.year:
        return []
    arranged = re.compile(rf"{doc.year}\s*年度?\s*预算安排(?:为)?\s*(?P<amt>{_NUM})\s*(?P<unit>亿元|万元|元)")
    out = []
    for p in _narrative(parsed):
        m = _ITEM_HEAD.match(p.text)
        if not m:
            continue
        later = [x for x in arranged.finditer(p.text) if x.start() > m.end()]
        if len(later) != 1:
            continue
        a, b = later[0], m
        va, vb = _dec(a.group("amt")), _dec(b.group("amt"))
        if va is None or vb is None:
            continue
        if va * _UNIT_FACTOR[a.group("unit")] == vb * _UNIT_FACTOR[b.group("unit")]:
            continue
        code, names = _item_code(m.group("name"))
        item = names[-1] if names else squeeze(m.group("name"))
        msg = (f"{item}：同一段先写 {b.group('amt')} {b.group('unit')}，后写“{doc.year}年预算安排 "
               f"{a.group('amt')} {a.group('unit')}”，前后不一致")
        cites = [_cite_passage(p, item)]
        rows = sorted(_table_main_values(parsed, code, item),
                      key=lambda f: ("功能分类" not in f.table_title, "支出" not in f.table_title, f.line))
        if rows:
            vals = {f.value_text for f in rows}
            f = rows[0]
            msg += f"；{f.table_title}中该行合计为 {f.value_text} {f.unit}"
            if len(vals) > 1:
                msg += "（各表不一）"
            cites.append(_cite_fact(f))
        else:
            cites.append(_cite_passage(p, f"{doc.year}年预算安排"))
        out.append(_finding("item_amount_conflict", msg, cites))
    return out


def _classification_names(parsed: ParsedDocument) -> list:
    """Names written with a 功能分类 code in the text against the name the tables give that code."""
    names_by_code: dict[str, set[str]] = {}
    first: dict[str, Fact] = {}
    for f in parsed.facts:
        if f.source == "table" and f.code_kind == "functional" and f.code and f.label:
            names_by_code.setdefault(f.code, set()).add(f.label)
            first.setdefault(f.code, f)
    out, seen = [], set()
    for p in _narrative(parsed):
        for chain in re.finditer(r"(?:[^（()）“”\"，。；、\s\d]+?[（(]\s*\d{2,3}\s*[类款项]\s*[)）]){1,3}", p.text):
            levels = _LEVEL.findall(chain.group(0))
            code = ""
            for name, digits, level in levels:
                if (level == "类") != (code == ""):
                    break  # a chain must start at 类 and go down
                code += digits
                name = norm_label(re.sub(r"^\d{1,3}\s*[、.．]", "", name))
                known = names_by_code.get(code)
                if not known or (code, name) in seen:
                    continue
                if any(name in k or k in name for k in known):
                    continue  # the same name, shortened ("一般公共服务" for 一般公共服务支出)
                seen.add((code, name))
                table_name = sorted(known)[0]
                msg = (f"功能分类 {code}：说明写作“{name}”，{first[code].table_title}写作“{table_name}”，"
                       f"名称不一致")
                out.append(_finding("classification_name_mismatch", msg,
                                    [_cite_passage(p, f"{name}（{code}）"), _cite_fact(first[code])]))
    return out


# ---------------------------------------------------------------- tables: empty, required, years

def _nonzero_figures(parsed: ParsedDocument, table_id: str) -> list[Fact]:
    return [f for f in parsed.facts if f.table_id == table_id and f.source == "table" and f.role == "amount"
            and f.value]


def _empty_tables(parsed: ParsedDocument) -> list:
    data = rules_data()
    notes = data["empty_table_notes"]
    figures = {t.table_id: _nonzero_figures(parsed, t.table_id) for t in parsed.tables}
    if not any(figures.values()):
        return []  # a blank form (a template): nothing was filled in, nothing to compare
    text = "".join(p.text for p in _narrative(parsed) if p.kind == "narrative")
    out = []
    for t in parsed.tables:
        note = t.note or ""
        says_empty = any(n in note for n in notes)
        if figures[t.table_id]:
            if says_empty:
                f = figures[t.table_id][0]
                msg = (f"{t.title}：表注称“{note.strip()}”，但表中列有数字（如 {f.locator.split(' · ')[-1]} "
                       f"{f.value_text} {f.unit}）")
                out.append(_finding("empty_table_note_contradiction", msg,
                                    [(f"{t.title} · 注", t.line, t.page), _cite_fact(f)]))
            continue
        if says_empty:
            continue
        topics = [k for k in data["empty_table_topics"] if k in _QUOTES.sub("", t.title)]
        explained = any(re.search(rf"无[^，。；]{{0,12}}{re.escape(k)}", _QUOTES.sub("", text)) for k in topics)
        if explained:
            continue
        msg = f"{t.title}：表中没有数字，表注和说明都未说明为空表的原因"
        out.append(_finding("empty_table_unexplained", msg, [(t.title, t.line, t.page)]))
    return out


def _norm_title(title: str, department: str) -> str:
    t = _QUOTES.sub("", squeeze(title))
    t = re.sub(r"\s+", "", t).replace("(", "（").replace(")", "）")
    t = re.sub(r"[（(]续[)）]$", "", t)
    t = re.sub(r"^(?:附[表件][:：]?)?(?:\d+(?:-\d+)?|[一二三四五六七八九十]+)[、.．]", "", t)
    t = re.sub(r"^\d{2,4}年度?", "", t)
    if department and t.startswith(department):
        t = t[len(department):]
    for prefix in rules_data()["title_prefixes"]:
        if t.startswith(prefix):
            t = t[len(prefix):]
            break
    return t


def _required_tables(parsed: ParsedDocument) -> list:
    data = rules_data()
    doc = parsed.document
    required = data["required_tables"].get(doc.basis, [])
    dept = re.sub(r"\s+", "", doc.department or "")
    present = {_norm_title(t.title, dept) for t in parsed.tables}
    found = [aliases for aliases in required if any(a in present for a in aliases)]
    if len(found) < data["required_min_found"]:
        return []
    out = []
    lines = None
    for aliases in required:
        if aliases in found:
            continue
        if lines is None:
            from .check import _source_lines

            lines = [_norm_title(l, dept) for l in _source_lines(doc.path)[0] if 0 < len(l.strip()) <= 60]
        printed = sum(1 for l in lines if any(l == a or l.endswith(a) and len(l) - len(a) <= 4 for a in aliases))
        has_contents = any(re.fullmatch(r"目录", l) for l in lines)
        if printed >= (2 if has_contents else 1):
            log.debug("%s: printed (title line found) but not read as a table", aliases[0])
            continue
        msg = f"{doc.basis}公开应有的“{aliases[0]}”在文件中未找到（已有 {len(found)} 张标准表）"
        out.append(_finding("required_table_missing", msg, [(f"{doc.title} · 表格", 1, None)]))
    return out


def _table_years(parsed: ParsedDocument) -> list:
    doc = parsed.document
    if not doc.year:
        return []
    out = []
    for t in parsed.tables:
        m = re.match(r"^\s*(20\d{2})\s*年", t.title)
        if m and int(m.group(1)) != doc.year:
            msg = f"表题“{t.title}”的年度为 {m.group(1)} 年，文件是 {doc.year} 年{doc.basis}"
            out.append(_finding("table_year_mismatch", msg, [(t.title, t.line, t.page),
                                                              (doc.title, 1, None)]))
    return out


def _balance(parsed: ParsedDocument) -> list:
    """收入总计 = 支出总计 in each table stating both (the first, main column of each side)."""
    out = []
    for t in parsed.tables:
        fs = [f for f in parsed.facts if f.table_id == t.table_id and f.role == "amount" and f.value is not None]
        inc = sorted((f for f in fs if f.label == "收入总计"), key=lambda f: f.col_index)
        exp = sorted((f for f in fs if f.label == "支出总计"), key=lambda f: f.col_index)
        if not inc or not exp:
            continue
        a, b = inc[0], exp[0]
        va, vb = _dec(a.value_text), _dec(b.value_text)
        if va is None or vb is None or a.unit != b.unit or va == vb:
            continue
        msg = f"{t.title}：收入总计 {a.value_text} {a.unit}，支出总计 {b.value_text} {b.unit}，收支不平衡"
        out.append(_finding("balance_mismatch", msg, [_cite_fact(a), _cite_fact(b)]))
    return out + _grand_totals(parsed)


def _grand_totals(parsed: ParsedDocument) -> list:
    """收支总表, each side: 总计 = 本年收入合计 (本年支出合计) + the rows printed between it and 总计
    (使用非财政拨款结余, 年初结转和结余 / 结余分配, 年末结转和结余), column by column; an empty cell is 0."""
    out = []
    by_col: dict[tuple[str, int], list[Fact]] = {}
    for f in parsed.facts:
        if f.source == "table" and f.role == "amount" and f.value is not None and f.unit in _UNIT_FACTOR:
            by_col.setdefault((f.table_id, f.col_index), []).append(f)
    for (table_id, _), facts in by_col.items():
        facts.sort(key=lambda f: f.row_index)
        grand = [f for f in facts if f.label == "总计"]
        year = [f for f in facts if re.fullmatch(r"本年(?:收入|支出)合计", f.label)]
        if len(grand) != 1 or len(year) != 1 or year[0].row_index >= grand[0].row_index:
            continue
        g, y = grand[0], year[0]
        parts = [f for f in facts if y.row_index < f.row_index < g.row_index]
        values = [_dec(f.value_text) for f in [g, y] + parts]
        if any(v is None for v in values):
            continue
        places = max(len(f.value_text.partition(".")[2]) for f in [g, y] + parts)
        total = sum(values[1:], Decimal(0))
        if abs(values[0] - total) <= Decimal(5).scaleb(-(places + 1)):
            continue
        names = "、".join([y.label] + [f.label for f in parts])
        msg = (f"{g.table_title}：总计 {g.value_text} {g.unit}，{names}{'之和' if parts else ''}为 {total} {g.unit}，"
               f"不相等")
        out.append(_finding("total_mismatch", msg, [_cite_fact(g), _cite_fact(y)]))
    return out


# ---------------------------------------------------------------- wording

def _wording(parsed: ParsedDocument) -> list:
    data = rules_data()
    doc = parsed.document
    out = []
    incomplete = re.compile("(?:" + "|".join(re.escape(w) for w in data["incomplete_before_end"]) + r")\s*[。；;]")
    alternatives = re.compile("|".join(re.escape(w) for w in data["template_alternatives"]))
    placeholder = re.compile(r"(?<![A-Za-z])(?:[XＸ]{2,}|×{2,})(?![A-Za-z])|"
                             + "|".join(re.escape(w) for w in data["placeholders"]) + r"|。{3,}")
    marks = "，。；：、！？"
    doubled = re.compile("|".join(f"(?<!{m}){m}{m}(?!{m})" for m in marks) + r"|[，；：、][。]|[。][，；、]")
    unit_doc = _is_unit_document(parsed)
    wrong_scope = re.compile("(" + "|".join(re.escape(w) for w in data["unit_scope_wrong_words"]) + ")")
    scope_terms = data["unit_scope_terms"]
    same_year = (re.compile(rf"(?:比|较)\s*{doc.year}\s*年|与\s*{doc.year}\s*年[^，。；]{{0,12}}(?:相比|持平)")
                 if doc.basis == "预算" and doc.year else None)
    for p in _narrative(parsed):
        text = p.text
        for m in incomplete.finditer(text):
            out.append(_finding("incomplete_sentence", f"句子不完整：“{_snippet(text, m.start(), m.end())}”",
                                [_cite_passage(p)]))
        # template text: one finding per paragraph and sort, naming how often it occurs
        for what, rx in (("模板选项未删改", alternatives), ("模板占位内容未填写", placeholder)):
            hits = list(rx.finditer(text))
            if hits:
                m = hits[0]
                more = f"（本段共 {len(hits)} 处）" if len(hits) > 1 else ""
                out.append(_finding("template_leftover", f"{what}：“{_snippet(text, m.start(), m.end())}”{more}",
                                    [_cite_passage(p)]))
        for m in doubled.finditer(text):
            out.append(_finding("doubled_punctuation", f"标点重复：“{_snippet(text, m.start(), m.end(), 12)}”",
                                [_cite_passage(p)]))
        if unit_doc:
            for m in wrong_scope.finditer(text):
                if any(text.startswith(term, m.start()) for term in scope_terms):
                    continue
                right = m.group(1).replace("部门", "单位")
                out.append(_finding("wrong_scope_word",
                                    f"单位{doc.basis}中写作“{m.group(1)}”（应为“{right}”）："
                                    f"“{_snippet(text, m.start(), m.end())}”", [_cite_passage(p)]))
        if same_year is not None:
            for m in same_year.finditer(text):
                out.append(_finding("same_year_comparison",
                                    f"{doc.year}年预算与本年度自身比较（应与上年比较）：“{_snippet(text, m.start(), m.end())}”",
                                    [_cite_passage(p)]))
    return out


def inspector_findings(parsed: ParsedDocument) -> list:
    """All findings of this module for one parsed document (order: as the rules are listed above)."""
    out = []
    for rule in (_item_amount_conflicts, _classification_names, _empty_tables, _required_tables,
                 _table_years, _balance, _wording):
        try:
            out.extend(rule(parsed))
        except Exception:  # a rule failing on an odd layout must not hide the others
            log.exception("rule %s failed on %s", rule.__name__, parsed.document.doc_id)
    return out
