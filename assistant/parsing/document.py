"""Parse one disclosure into a :class:`ParsedDocument`: identity, passages, tables and facts.

Layout handled here: text extracted from a PDF (tab-separated table rows, `=== 第N页 ===` page marks
optional), narrative with numbered headings (第一部分 / 一、/ （一）/ 1.), a 名词解释 glossary, a
contents list (目录) naming the tables, and tables introduced by a title line ending in 表.
"""
from __future__ import annotations

import hashlib
import logging
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..budget.identity import is_body_name, read_identity
from ..errors import IngestError
from ..model import Document, Fact, Passage, Table
from .narrative import FIGURE_RE, extract_figures
from .limits import IngestLimits
from .reader import SourceText, read_source
from .textlayer import settle_identity
from .spaced import SpacedRow, SpacedTable, is_data_line, split_segments, table_facts
from .tables import RawRow, RawTable, parse_table
from .text import CN_NUM, ORD_L1, ORD_L2, ORD_L3, PART_RE, norm_label, squeeze, strip_ordinal

log = logging.getLogger(__name__)

_PAGE_MARK = re.compile(r"^\s*=+\s*第\s*(\d+)\s*页\s*=+\s*$")
_TITLE_RE = re.compile(r"表(?:[（(]续[)）])?$")
_UNIT_LINE = re.compile(r"^\s*(?:金额)?单位\s*[:：]\s*(万元|元|亿元)\s*$")
_DEPT_LINE = re.compile(r"^\s*(?:部门|单位|预算单位|编制单位|编制部门)(?:名称)?\s*[:：]\s*(?!(?:万元|元|亿元)\s*$)(.+?)\s*$")
_NOTE_LINE = re.compile(r"^\s*(?:注|说明|备注)\s*[:：]")
_UNIT_ANY = re.compile(r"(?:金额)?单位\s*[:：]\s*(万元|元|亿元)")
#: a table's meta line naming both its issuer and its unit: "编制部门：X 单位：元", "编制单位：X 单位:万元"
_META_LINE = re.compile(r"^\s*(?:编制部门|编制单位|预算单位|部门名称|单位名称|部门|单位)\s*[:：]\s*(.+?)\s+"
                        r"(?:金额)?单位\s*[:：]\s*(万元|元|亿元)\s*$")
_YEAR_ONLY = re.compile(r"^\s*[（(]\s*\d{4}\s*年度?\s*[)）]\s*$")
_TERMINAL = "。！？；：!?;:"
_HEADING_WORDS = r"(?:说明|情况|概况|职能|职责|解释|设置|构成|简介)"
_PAGE_NUMBER = re.compile(r"^\s*(?:-\s*)?\d{1,3}(?:\s*-)?\s*$")
#: where a page flattened onto one line starts a numbered part: "。二、" "： （一）" "1." …
_WEB_BREAK = re.compile(rf"(?<=[。：:；;！？\s])\s*(?=(?:[{CN_NUM}]{{1,3}}、|[（(][{CN_NUM}]{{1,3}}[)）]|\d{{1,2}}[.．、](?!\d)))")
_DOC_TITLE = re.compile(r"(20\d{2}\s*年度?[^\s，。：:]{2,40}?(?:部门|单位)?(?:预算|决算)(?:公开)?(?:说明|情况说明)?)")


@dataclass
class ParsedDocument:
    """Everything ingest stores for one file, plus parse statistics."""

    document: Document
    passages: list[Passage] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: (table title, spaced.Unaligned) for cells whose column could not be determined
    unaligned: list = field(default_factory=list)


def doc_id_for(path: Path) -> str:
    """Stable id from the file name: stem, lowercase, non-word characters replaced by "-"."""
    stem = re.sub(r"[^\w\u4e00-\u9fff]+", "-", Path(path).stem).strip("-").lower()
    return stem or "doc"


def parse_file(path: Path, doc_id: str | None = None, limits: IngestLimits | None = None) -> ParsedDocument:
    """Read and parse a disclosure file (.txt, .pdf or an image). Raises IngestError for unreadable
    files and files over ``limits`` (see :mod:`.limits`). Figures of pages read by OCR are checked
    against their tables' arithmetic (:func:`assistant.ocr_trust.check_ocr_figures`); a title or
    department that cannot be read is never listed (:func:`.textlayer.settle_identity`)."""
    src = read_source(Path(path), limits)
    parsed = parse_source(src, doc_id or doc_id_for(path))
    if src.ocr_lines:
        from ..ocr_trust import check_ocr_figures  # the consistency checks build on this module

        check_ocr_figures(parsed)
    return settle_identity(parsed)


def _heading(line: str) -> tuple[int, str] | None:
    """(level, text) if the line is a section heading, else None.

    Levels: 0 第X部分, 1 一、, 2 （一）, 3 1. A heading is short and has no sentence punctuation
    inside; numbered lines that carry sentences are list items, not headings.
    """
    t = line.strip()
    if not t or "\t" in line:
        return None
    if PART_RE.match(t):
        return 0, t
    numbered = ORD_L1.match(t) or ORD_L2.match(t) or ORD_L3.match(t)
    if (not numbered and len(t) <= 30 and re.search(_HEADING_WORDS + "$", t)
            and not re.search(r"[，,；;：:。\d]", re.sub(r"^20\d{2}\s*年度?", "", t)) and not _TITLE_RE.search(t)):
        return 0, t  # an unnumbered section title (名词解释, 其他相关情况说明, …机构设置)
    body = t.rstrip("。")
    for lvl, pat in ((2, ORD_L2), (1, ORD_L1), (3, ORD_L3)):
        m = pat.match(body)
        if m:
            rest = body[m.end():]
            if t.endswith("。") and len(rest) > 12 and not re.search(_HEADING_WORDS + "$", rest):
                return None
            figures = [m for m in FIGURE_RE.finditer(rest) if m.group("unit") != "年"]
            if rest and len(rest) <= 28 and not re.search(r"[，,；;：:。]", rest) and not figures:
                return lvl, t
            return None
    return None


def parse_source(src: SourceText, doc_id: str) -> ParsedDocument:
    """Parse text lines (see module docstring). Never raises for odd layouts: unknown parts become
    narrative passages and a warning is recorded when no table is recognised."""
    lines = list(src.lines)
    pages = list(src.pages) if src.pages else None
    # page marks (=== 第N页 ===) give page numbers and are not text
    cur_page = None
    page_of: list[int | None] = []
    for i, l in enumerate(lines):
        m = _PAGE_MARK.match(l)
        if m:
            cur_page = int(m.group(1))
            lines[i] = ""
        page_of.append(pages[i] if pages else cur_page)

    lines, page_of, line_no = _split_flattened(lines, page_of)
    flattened = [sum(1 for x in line_no if x == ln) > 1 for ln in line_no]
    title = _detect_title(lines, src.path.stem)
    year_m = re.search(r"(20\d{2})\s*年", title) or re.search(r"(20\d{2})\s*年", "\n".join(lines[:80]))
    year = int(year_m.group(1)) if year_m else None
    head = "\n".join(lines[:30])
    kind = "决算" if "决算" in title or ("决算" in head and "预算" not in title) else "预算"

    # ---- pass 1: cut table blocks ----
    n = len(lines)
    is_table_line = [False] * n
    raw_tables: list[RawTable] = []
    i = 0
    while i < n:
        t = lines[i].strip()
        if t and "\t" not in lines[i] and _TITLE_RE.search(t) and len(t) <= 50 and not t.startswith("-"):
            # look ahead: meta lines then a tab line
            j = i + 1
            unit = dept = ""
            meta_ok = True
            while j < n and j <= i + 8:
                s = lines[j].strip()
                if not s:
                    j += 1
                    continue
                if "\t" in lines[j]:
                    break
                mu = _UNIT_LINE.match(s)
                md = _DEPT_LINE.match(s)
                mm = _META_LINE.match(s)
                if mu:
                    unit = mu.group(1)
                elif mm:
                    dept, unit = squeeze(mm.group(1)), mm.group(2)
                elif md:
                    dept = squeeze(md.group(1))
                    unit_in_line = _UNIT_ANY.search(s)  # "编制部门：X 单位：元"
                    if unit_in_line:
                        unit = unit_in_line.group(1)
                elif _YEAR_ONLY.match(s):
                    pass
                else:
                    meta_ok = False
                    break
                j += 1
            if meta_ok and j < n and "\t" in lines[j]:
                rt = RawTable(title=squeeze(t), line=line_no[i], unit=unit, department=dept, page=page_of[i])
                for k in range(i, j):
                    is_table_line[k] = True
                k = j
                grid_of = src.table_rows or {}
                first_grid = grid_of.get(line_no[j] - 1)
                if first_grid is not None and first_grid[0].has_merged_header():
                    rt.col_paths = first_grid[0].col_paths()
                while k < n and ("\t" in lines[k] or not lines[k].strip()):
                    if "\t" in lines[k]:
                        g = grid_of.get(line_no[k] - 1)
                        if g is not None and first_grid is not None and g[0] is not first_grid[0] \
                                and not g[0].same_columns(first_grid[0]):
                            break  # another ruled table without a title of its own
                        rt.rows.append(RawRow(line_no[k], lines[k].split("\t"), page_of[k]))
                    is_table_line[k] = True
                    k += 1
                # trailing blank lines belong to narrative again
                while k - 1 > j and not lines[k - 1].strip():
                    is_table_line[k - 1] = False
                    k -= 1
                # a note right after the table
                m2 = k
                while m2 < n and not lines[m2].strip():
                    m2 += 1
                if m2 < n and _NOTE_LINE.match(lines[m2]):
                    rt.note = lines[m2].strip()
                    rt.note_line, rt.note_page = line_no[m2], page_of[m2]
                    is_table_line[m2] = True
                    k = m2 + 1
                _append_table(raw_tables, rt)
                i = k
                continue
        i += 1

    spaced_tables = _cut_spaced_tables(lines, page_of, line_no, is_table_line)
    ident = read_identity(lines, [t.department for t in raw_tables] + [t.department for t in spaced_tables
                                                                      if getattr(t, "department", "")], title)
    fallback = _detect_department(title, raw_tables, lines)
    department = ident.department or (fallback if is_body_name(fallback) else "")
    if department and is_body_name(fallback) and len(fallback) > len(department) and fallback.endswith(department):
        department = fallback  # 经济发展局 in the title, 平潭综合实验区经济发展局 in the text
    if ident.year:
        year = ident.year
    kind = ident.kind if ident.basis else kind
    listed = _listed_tables(lines, is_table_line)
    sha = hashlib.sha256(src.raw).hexdigest()
    document = Document(doc_id=doc_id, title=title, path=str(src.path), department=department,
                        year=year, kind=kind, sha256=sha, listed_tables=tuple(listed))
    parsed = ParsedDocument(document, warnings=list(src.notes))

    # ---- pass 2: narrative paragraphs with section paths ----
    path: list[tuple[int, str]] = []
    para: list[str] = []
    para_idx = 0
    pending_part = False
    in_contents = False

    named_item = ""  # the item a figure-less line named, for the next paragraph's figures

    def flush():
        nonlocal para, named_item
        if para:
            text = "".join(para).strip()
            if text:
                named_item = _add_paragraph(parsed, text, [p for _, p in path], line_no[para_idx], page_of[para_idx],
                                            para_idx, in_glossary=any("名词解释" in p for _, p in path),
                                            item=named_item)
            para = []

    for i in range(n):
        if is_table_line[i]:
            flush()
            continue
        raw_line = lines[i]
        t = squeeze(raw_line) if raw_line.strip() else ""
        if not t or _PAGE_NUMBER.match(t):
            continue
        if re.fullmatch(r"目\s*录", raw_line.strip()):
            flush()
            in_contents = True
            continue
        h = _heading(raw_line)
        if in_contents:
            # the contents list ends where a part heading repeats after it, at the first sentence
            # (long or ending in 。), or at an unnumbered section title (contents items are numbered)
            numbered = bool(re.match(r"^\s*(?:[-•]|第\s*[" + CN_NUM + r"]+\s*部分|[" + CN_NUM + r"]+\s*[、.．]|"
                                     r"[（(][" + CN_NUM + r"]+[)）]|\d{1,2}\s*[、.．])", raw_line))
            ends = ((h and h[0] == 0 and PART_RE.match(t) and _seen_part_twice(lines, i))
                    or len(t) > 60 or t.endswith("。") or (h and not numbered))
            if not ends:
                continue
            in_contents = False
        if h and pending_part and h[0] == 0 and not PART_RE.match(t) and len(t) <= 40:
            h = None  # "第一部分" on its own line: this unnumbered line is its title
        if h:
            flush()
            lvl, text = h
            if lvl == 0:
                path = [(0, text)]
                part = PART_RE.match(text)
                pending_part = bool(part) and not part.group(2).strip()
            else:
                path = [p for p in path if p[0] < lvl] + [(lvl, text)]
                pending_part = False
            continue
        if pending_part and len(t) <= 40 and not re.search(r"[，。；]", t):
            # "第二部分" on its own line: the next short line(s) are its title
            lvl0 = path[0][1] if path else ""
            path = [(0, (lvl0 + " " + t).strip())]
            if re.search(r"20\d{2}|说明|概况|解释|表$", t):
                pending_part = False
            continue
        pending_part = False
        if flattened[i] and not para:
            # a web page's numbered part carries its title and body on one piece: "七、“三公”经费…情况2016年…"
            for lvl, pat in ((2, ORD_L2), (1, ORD_L1)):
                if pat.match(t):
                    head = re.split(r"\d|[，。：:；]", t[pat.match(t).end():])[0][:30]
                    if head:
                        path = [p for p in path if p[0] < lvl] + [(lvl, t[:pat.match(t).end()] + head)]
                    break
        if not para:
            para_idx = i
        para.append(t)
        if t[-1] in _TERMINAL:
            flush()
    flush()

    # ---- tables → facts ----
    for ti, rt in enumerate(raw_tables, start=1):
        pt = parse_table(rt)
        table_id = f"{doc_id}:t{ti}"
        parsed.tables.append(Table(table_id=table_id, doc_id=doc_id, title=rt.title, unit=rt.unit,
                                   line=rt.line, columns=tuple(pt.columns), note=rt.note,
                                   page=rt.page, n_rows=pt.n_rows, row_labels=tuple(pt.row_labels)))
        if rt.note:
            parsed.passages.append(Passage(f"{table_id}:note", doc_id, "note", (rt.title,), rt.note,
                                           rt.note_line or rt.line, page=rt.note_page or rt.page))
        for k, cf in enumerate(pt.facts):
            parsed.facts.append(Fact(
                fact_id=f"{table_id}:r{cf.row_index}:c{cf.col_index}:{k}", doc_id=doc_id,
                source="table", label=cf.label, value=cf.value, value_text=cf.value_text,
                unit=cf.unit, line=cf.line, quote=cf.quote, role=cf.role, table_id=table_id,
                table_title=rt.title, row_path=cf.row_path, code=cf.code, code_kind=cf.code_kind,
                col_path=cf.col_path, is_total_row=cf.is_total_row, row_index=cf.row_index,
                col_index=cf.col_index, page=cf.page))
    for k, st in enumerate(spaced_tables, start=len(raw_tables) + 1):
        facts, unaligned, columns = table_facts(st, department)
        table_id = f"{doc_id}:t{k}"
        labels = tuple(dict.fromkeys(norm_label(strip_ordinal(seg.label)) for r in st.rows for seg in r.segments
                                     if seg.label))
        parsed.tables.append(Table(table_id=table_id, doc_id=doc_id, title=st.title, unit=st.unit, line=st.line,
                                   columns=tuple(columns), note=st.note, page=st.page, n_rows=len(st.rows),
                                   row_labels=labels))
        if st.note:
            parsed.passages.append(Passage(f"{table_id}:note", doc_id, "note", (st.title,), st.note,
                                           st.rows[-1].line if st.rows else st.line, page=st.page))
        for j, cf in enumerate(facts):
            parsed.facts.append(Fact(
                fact_id=f"{table_id}:r{cf.row_index}:c{cf.col_index}:{j}", doc_id=doc_id, source="table",
                label=cf.label, value=cf.value, value_text=cf.value_text, unit=cf.unit, line=cf.line,
                quote=cf.quote, role=cf.role, table_id=table_id, table_title=st.title, row_path=cf.row_path,
                code=cf.code, code_kind=cf.code_kind, col_path=cf.col_path, is_total_row=cf.is_total_row,
                row_index=cf.row_index, col_index=cf.col_index, page=cf.page))
        parsed.unaligned.extend((st.title, u) for u in unaligned)
    if spaced_tables:
        parsed.facts = name_positional_columns(parsed.facts)
    if src.ocr_lines:
        from dataclasses import replace

        parsed.facts = [replace(f, ocr=True) if f.line in src.ocr_lines else f for f in parsed.facts]
    if not raw_tables and not spaced_tables:
        if not parsed.facts:
            # neither a table nor an amount in the text: not a budget disclosure (a stray note, a
            # wrong file); indexing it would only add noise to every answer
            raise IngestError(f"文件中没有识别到预算数据（没有表格，也没有金额）：{Path(parsed.document.path).name}"
                              f"（需要部门预算、决算公开文件）")
        parsed.warnings.append("未识别到表格：已按叙述文本入库")
    return parsed


def name_positional_columns(facts: list[Fact]) -> list[Fact]:
    """Name a table's positional columns (第N列, kept when its header could not be read) from another
    table of the same document that states the same figures: a column takes the other table's column
    name when, over at least five shared rows (same code or label), at least 90% of the values are equal
    and no other column of that table agrees as well. Otherwise the column stays positional."""
    from collections import defaultdict

    def key(f: Fact) -> str:
        return f.code or norm_label(f.label)

    cols: dict[tuple[str, int], dict[str, str]] = defaultdict(dict)
    paths: dict[tuple[str, int], tuple[str, ...]] = {}
    for f in facts:
        if f.source == "table" and f.role == "amount" and key(f):
            cols[(f.table_id, f.col_index)][key(f)] = f.value_text.replace(",", "")
            paths[(f.table_id, f.col_index)] = f.col_path
    positional = [c for c, p in paths.items() if p and re.fullmatch(r"第\d+列", p[-1])]
    rename: dict[tuple[str, int], tuple[str, ...]] = {}
    for c in positional:
        scores = []
        for other, p in paths.items():
            if other[0] == c[0] or not p or re.fullmatch(r"第\d+列", p[-1]):
                continue
            shared = [k for k in cols[c] if k in cols[other] and (float(cols[c][k]) or float(cols[other][k]))]
            if len(shared) >= 5:
                agree = sum(cols[c][k] == cols[other][k] for k in shared)
                scores.append((agree / len(shared), len(shared), p[-1:]))
        scores.sort(reverse=True)
        if scores and scores[0][0] >= 0.9 and (len(scores) == 1 or scores[1][0] < scores[0][0] - 0.1
                                              or scores[1][2] == scores[0][2]):
            rename[c] = paths[c][:-1] + scores[0][2]
    # a name given to two columns of one table is not trusted
    taken: dict[tuple[str, tuple[str, ...]], int] = defaultdict(int)
    for c, p in rename.items():
        taken[(c[0], p)] += 1
    rename = {c: p for c, p in rename.items() if taken[(c[0], p)] == 1}
    if not rename:
        return facts
    from dataclasses import replace

    return [replace(f, col_path=rename[(f.table_id, f.col_index)]) if (f.table_id, f.col_index) in rename else f
            for f in facts]


def _cut_spaced_tables(lines: list[str], page_of: list[int | None], line_no: list[int],
                       is_table_line: list[bool]) -> list[SpacedTable]:
    """Find space-separated tables (see :mod:`.spaced`) among lines not already in a tab table;
    marks their lines in ``is_table_line``."""
    n = len(lines)
    out: list[SpacedTable] = []

    def title_like(i: int) -> bool:
        t = squeeze(lines[i]).strip()
        return bool(t) and "\t" not in lines[i] and bool(_TITLE_RE.search(t)) and len(t) <= 50 and not t.startswith("-")

    def next_nonblank(i: int) -> int:
        j = i + 1
        while j < n and not lines[j].strip():
            j += 1
        return j

    i = 0
    while i < n:
        if is_table_line[i] or not title_like(i):
            i += 1
            continue
        j = next_nonblank(i)
        if j < n and title_like(j):
            i = j
            continue
        # meta lines, header lines, then the first data row within a few lines
        unit, header, k = "", [], j
        while k < n and k <= i + 14 and not (is_data_line(lines[k]) and not _UNIT_ANY.search(lines[k])):
            s = lines[k].strip()
            if s and (s.endswith("。") or len(s) > 80 or title_like(k)):
                break
            mu = _UNIT_ANY.search(s)
            if mu:
                unit = mu.group(1)
            elif s and not _PAGE_MARK.match(lines[k]) and not _DEPT_LINE.match(s):
                header.append(squeeze(s) if not re.search(r"\s", s) else s)
            k += 1
        if k >= n or k > i + 14 or not is_data_line(lines[k]):
            i += 1
            continue
        st = SpacedTable(title=squeeze(lines[i]), line=line_no[i], unit=unit or "元", page=page_of[i], header=header)
        for x in range(i, k):
            is_table_line[x] = True
        header_set = {re.sub(r"\s+", "", h) for h in header}
        fragments_before: list[str] = []
        while k < n:
            raw = lines[k]
            s = raw.strip()
            if not s or _PAGE_MARK.match(raw) or _PAGE_NUMBER.match(s):
                is_table_line[k] = True
                k += 1
                continue
            if _NOTE_LINE.match(s):
                st.note = s
                is_table_line[k] = True
                k += 1
                break
            if re.sub(r"\s+", "", s) in header_set or _UNIT_ANY.fullmatch(s):
                is_table_line[k] = True  # header repeated on a new page
                k += 1
                continue
            if is_data_line(s) or re.fullmatch(r"(?:类\s*款\s*项\s*)?(?:合计|总计)", s):
                segs = split_segments(s)
                row = SpacedRow(line_no[k], page_of[k], segs, s)
                _attach_fragments(st.rows[-1] if st.rows else None, row, fragments_before)
                fragments_before = []
                st.rows.append(row)
                is_table_line[k] = True
                k += 1
                continue
            if title_like(k) or s.endswith("。") or len(s) > 40 or _heading(raw):
                break
            fragments_before.append(s)  # a wrapped label piece
            is_table_line[k] = True
            k += 1
        out.append(st)
        i = k
    return out


def _attach_fragments(prev, row, fragments: list[str]) -> None:
    """Wrapped label pieces: a row whose coded segments lack labels takes the piece lines around it
    when their count matches; otherwise the label stays empty (the code still identifies the row)."""
    if not fragments:
        return
    bare = [s for s in row.segments if s.code and not s.label]
    toks = [t for f in fragments for t in f.split()]
    if bare and len(toks) == len(bare):
        for seg, t in zip(bare, toks):
            seg.label = t
            seg.wrapped = True  # the rest of this name may follow below the row
    elif prev is not None:
        # the lower half of a name wrapped around its row ("机关事业单位基本 / 301 08 … / 养老保险缴费")
        open_segs = [s for s in prev.segments if getattr(s, "wrapped", False)]
        if len(toks) == len(open_segs):
            for seg, t in zip(open_segs, toks):
                seg.label += t
                seg.wrapped = False


def _seen_part_twice(lines: list[str], i: int) -> bool:
    """True if the part heading at line i already appeared earlier (the contents listed it)."""
    t = squeeze(lines[i])
    head = PART_RE.match(t)
    if not head:
        return False
    key = "第" + head.group(1) + "部分"
    return any(squeeze(l).startswith(key) for l in lines[:i])


def _append_table(tables: list[RawTable], rt: RawTable) -> None:
    """Merge a table continued on the next page (same title): drop its repeated header lines."""
    if tables and _same_title(tables[-1].title, rt.title):
        prev = tables[-1]
        prev_header = [[squeeze(c) for c in r.cells] for r in prev.rows[:6]]
        body = [r for r in rt.rows if [squeeze(c) for c in r.cells] not in prev_header
                or not _header_like(r.cells)]
        prev.rows.extend(body)
        return
    tables.append(rt)


def _header_like(cells: list[str]) -> bool:
    from .numbers import parse_amount
    return not any(parse_amount(c.strip()) is not None for c in cells if c.strip())


def _same_title(a: str, b: str) -> bool:
    strip = lambda s: re.sub(r"^\s*20\d{2}\s*年度?\s*|[（(]续[)）]$", "", s)
    return strip(a) == strip(b)


def _detect_department(title: str, tables: list[RawTable], lines: list[str]) -> str:
    """Issuing department or unit, in order of reliability: the 部门名称/编制单位 of the tables, a
    "预算单位：X" line near the top, the title without year and kind (a short form such as 经济发展局
    is widened to the fullest name in the text that ends with it, e.g. 平潭综合实验区经济发展局)."""
    names = [t.department for t in tables if t.department]
    if names:
        return max(set(names), key=names.count)
    for l in lines[:60]:
        m = _DEPT_LINE.match(l.strip())
        if m and len(m.group(1)) <= 40 and not _UNIT_LINE.match(l.strip()):  # "单位：万元" names no unit
            return squeeze(re.split(r"\s{2,}|单位[:：]", m.group(1))[0])
    t = re.sub(r"20\d{2}\s*年度?", "", title)
    t = re.sub(r"(部门|单位)?(预算|决算)(公开)?(说明|情况说明)?.*$", "", t)
    t = t.strip(" 　：:") or title
    if len(t) >= 2 and not re.search(r"(区|市|省|县|州|盟|旗)", t):
        text = "\n".join(lines)
        longer = re.findall(r"[\u4e00-\u9fff]{0,12}" + re.escape(t), text)
        longer = [x for x in longer if re.search(r"(区|市|省|县|州|盟|旗)", x[: len(x) - len(t)] or "")]
        if longer:
            return max(longer, key=len)
    return t


def _listed_tables(lines: list[str], is_table_line: list[bool]) -> list[str]:
    """Table titles the contents (目录) lists: list lines ending with 表 that are not table titles."""
    out = []
    for i, l in enumerate(lines[:200]):
        if is_table_line[i]:
            continue
        t = squeeze(l).lstrip("-• ").strip()
        if _TITLE_RE.search(t) and len(t) <= 50 and (re.match(r"^\s*(?:[" + CN_NUM + r"]+|\d{1,2})\s*[、.．]", t)
                                                      or l.strip().startswith("-")):
            name = re.sub(r"^\s*(?:[" + CN_NUM + r"]+|\d+)\s*[、.．]\s*", "", t)
            name = re.sub(r"^\s*20\d{2}\s*年度?", "", name).strip()
            if name and name not in out:
                out.append(name)
    return out


def _add_paragraph(parsed: ParsedDocument, text: str, section: list[str], line: int,
                   page: int | None, index: int, in_glossary: bool, item: str = "") -> str:
    """Add a paragraph (a passage, and its figures as facts). ``item`` is what a figure-less line
    before it named; returns the item this paragraph names for the next one ("" if none)."""
    doc = parsed.document
    pid = f"{doc.doc_id}:p{index + 1}"
    m = re.match(r"^\s*(?:[" + CN_NUM + r"]+\s*[、.．]|[（(][" + CN_NUM + r"]+[)）])?\s*([^：:，。]{1,30})[：:]\s*(?:是指|指|是)",
                 text)
    if in_glossary and m:
        term = norm_label(m.group(1))
        parsed.passages.append(Passage(pid, doc.doc_id, "glossary", tuple(section), text, line,
                                       term=term, page=page))
        return item  # a glossary entry passes the item on unchanged
    parsed.passages.append(Passage(pid, doc.doc_id, "narrative", tuple(section), text, line, page=page))
    figures = extract_figures(text, doc.department, doc.year, item)
    for k, fig in enumerate(figures):
        if not fig.label:
            continue
        parsed.facts.append(Fact(
            fact_id=f"{pid}:f{k}", doc_id=doc.doc_id, source="narrative", label=fig.label,
            value=fig.value, value_text=fig.value_text, unit=fig.unit, line=line, quote=fig.sentence,
            role=fig.role, section_path=tuple(section), whole=fig.whole, base_year=fig.base_year,
            page=page))
    # a line naming a classification item and no figure ("1、一般公共服务支出（类）…行政运行（项）。")
    # gives its item to the figures of the next paragraph
    named = re.sub(r"^\s*\d{1,2}\s*[、.．]\s*|[。：:]\s*$", "", text)
    return norm_label(named) if not figures and len(named) <= 60 and re.search(r"（项）|（款）|（类）", named) else ""


def _split_flattened(lines: list[str], page_of: list[int | None]) -> tuple[list[str], list[int | None], list[int]]:
    """A web page flattened onto one line is cut where its numbered parts start (一、 （一） 1.).

    Returns the new lines, their pages and, for each, the 1-based source line it came from.
    """
    out, pages, nums = [], [], []
    for i, l in enumerate(lines):
        if len(l) > 400 and "\t" not in l:
            pieces = [x.strip() for x in _WEB_BREAK.split(l) if x.strip()]
            # the breadcrumb head of a web page ("当前位置：首页 › …"), title and date stay one piece
        else:
            pieces = [l]
        for x in pieces:
            out.append(x)
            pages.append(page_of[i])
            nums.append(i + 1)
    return out, pages, nums


def _detect_title(lines: list[str], fallback: str) -> str:
    """The disclosure's title: "2018年度经济发展局部门预算说明" inside a web page's first line, or the
    first non-empty line (joined with the next short line when that one carries the year or kind)."""
    first = [squeeze(l) for l in lines[:12] if l.strip() and not _PAGE_MARK.match(l)]
    if not first:
        return fallback
    if len(first[0]) > 60:
        m = _DOC_TITLE.search(first[0])
        return squeeze(m.group(1)) if m else first[0][:60]
    title = first[0]
    if len(first) > 1 and not re.search(r"20\d{2}", title) and len(first[1]) <= 30 and re.search(
            r"20\d{2}.*(预算|决算)", first[1]):
        title = f"{title} {first[1]}"
    elif len(first) > 1 and not re.search(r"预算|决算", title) and len(first[1]) <= 30 and re.match(
            r"^[^，。；：]*(?:预算|决算)", first[1]):
        title = f"{title}{first[1]}"  # a cover title set on two lines: "…社会工作部 2024 年度" / "部门决算"
    return title