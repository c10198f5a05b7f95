"""Typed objects shared by every stage: documents, passages, tables, facts, citations, answers.

All amounts are kept exactly as the source states them: ``value`` is the parsed number (float, used
for arithmetic and comparison), ``value_text`` the cell or phrase as printed ("1,990.50", "≥95%"),
and ``unit`` the source unit ("万元", "元", "%", "辆", "个", …). Nothing here converts units.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

#: marks a figure read by OCR in its citation ("第3页，图像识别"); see Fact.ocr
OCR_MARK = "图像识别"

#: Answer kinds of the JSON contract (README, "ask --json").
ANSWER_KINDS = (
    "figure", "ratio", "computed", "list", "definition", "passage", "not_found", "out_of_scope",
)


@dataclass(frozen=True)
class Document:
    """One ingested disclosure.

    ``doc_id`` is stable for a file's content location (derived from its file name); ``department``
    is the issuing department/unit as detected from the text, ``year`` the budget year (int or None),
    ``kind`` the kind of disclosure: 部门预算, 单位预算, 部门决算, 单位决算, or just 预算/决算 when the
    document does not say whether it covers a department (with its units) or one unit (see
    :mod:`assistant.budget.identity`); ``listed_tables`` are the table titles the contents (目录) lists.
    """

    doc_id: str
    title: str
    path: str
    department: str
    year: int | None
    kind: str
    sha256: str
    listed_tables: tuple[str, ...] = ()

    @property
    def basis(self) -> str:
        """"预算" (budget) or "决算" (final accounts)."""
        return "决算" if self.kind.endswith("决算") else "预算"

    @property
    def scope(self) -> str:
        """"部门" (a department with its units), "单位" (one unit) or "" when not stated."""
        return self.kind[:2] if self.kind[:2] in ("部门", "单位") else ""

    @property
    def label(self) -> str:
        """How answers name the document: 上海市普陀区商务委员会 2025年单位预算."""
        year = f"{self.year}年" if self.year else ""
        return f"{self.department} {year}{self.kind}".strip()


@dataclass(frozen=True)
class Passage:
    """A narrative paragraph, glossary (名词解释) entry or table note, with its section path.

    ``kind`` is "narrative", "glossary" or "note"; ``term`` is the defined term for glossary entries
    (quotes removed, e.g. 三公经费); ``line`` is the 1-based first source line; ``page`` is set for PDF.
    """

    passage_id: str
    doc_id: str
    kind: str
    section_path: tuple[str, ...]
    text: str
    line: int
    term: str = ""
    page: int | None = None


@dataclass(frozen=True)
class Table:
    """A table as parsed: title, unit, leaf column paths and its note (说明/注) if any."""

    table_id: str
    doc_id: str
    title: str
    unit: str
    line: int
    columns: tuple[tuple[str, ...], ...] = ()
    note: str = ""
    page: int | None = None
    n_rows: int = 0
    #: every row label, also of rows whose cells are all empty (so "该项为空" can be said)
    row_labels: tuple[str, ...] = ()


@dataclass(frozen=True)
class Fact:
    """One figure: a table cell or a figure stated in a narrative sentence.

    - table facts: ``label`` is the row label (ordinal prefixes such as "八、" removed), ``row_path``
      the row's qualifiers (e.g. the 政府预算经济分类 paired with a 部门预算经济分类 row), ``code``
      the classification code (功能分类 "2013101", 经济分类 "30211", project/unit codes) and
      ``code_kind`` one of "functional", "economic", "project", "unit", ""; ``col_path`` the header
      path ("基本支出", "人员经费", "工资福利支出"); ``is_total_row`` marks 合计/总计 and unit rows.
    - narrative facts: ``label`` is the subject of the figure ("项目支出"), ``section_path`` the
      heading path, ``role`` "amount", "share" (``value`` in % of ``whole``), "change" (signed
      difference against ``base_year``), "change_pct" or "count"; ``quote`` is the sentence.
    - indicator facts (绩效目标表): ``role`` "indicator", ``value_text`` like "≥95%".
    - ``ocr``: the figure was read by OCR from an image (a scanned page, a table published as a
      picture); its locator ends with "（第N页，图像识别）".
    - ``exact``: False when the figure must not be given as an exact figure: it was read by OCR and
      its table's arithmetic (a total against its parts), or the same figure elsewhere in the
      document, disagrees with it. Every figure of the text layer is exact.
    - ``ocr_checked``: for an OCR'd figure, True when its table's arithmetic covers it (a total that
      adds up with it: changing it by one unit in its last digit would break a sum). An OCR'd figure
      that is exact but not checked was read without contradiction and without confirmation.
    """

    fact_id: str
    doc_id: str
    source: str  # "table" | "narrative"
    label: str
    value: float | None
    value_text: str
    unit: str
    line: int
    quote: str
    role: str = "amount"
    table_id: str = ""
    table_title: str = ""
    row_path: tuple[str, ...] = ()
    code: str = ""
    code_kind: str = ""
    col_path: tuple[str, ...] = ()
    section_path: tuple[str, ...] = ()
    is_total_row: bool = False
    row_index: int = 0
    col_index: int = 0
    base_year: int | None = None
    whole: str = ""
    page: int | None = None
    ocr: bool = False
    exact: bool = True
    ocr_checked: bool = False

    @property
    def locator(self) -> str:
        """Human-readable position: "表名 · 行 · 列" for tables, the section path for sentences;
        figures read by OCR end with "（第N页，图像识别）"."""
        if self.source == "table":
            row = self.label if not self.code else f"{self.code} {self.label}"
            if self.row_path:
                row = row + "（" + " / ".join(self.row_path) + "）"
            col = " > ".join(self.col_path)
            loc = " · ".join(p for p in (self.table_title, row, col) if p)
        else:
            loc = " > ".join(self.section_path)
        if self.ocr:
            loc += f"（第{self.page}页，{OCR_MARK}）" if self.page else f"（{OCR_MARK}）"
        return loc


@dataclass
class Citation:
    """Where a figure or sentence comes from, as shown to the user and in the JSON contract."""

    doc_id: str
    doc_title: str
    locator: str
    quote: str
    line: int
    page: int | None = None
    kind: str = "table"  # "table" | "passage"
    #: for table citations: the table and the column index of the cited cell (for highlighting)
    table_id: str = ""
    column: int | None = None
    #: the cited figure was read by OCR (set by the caller, or found in the locator's OCR mark)
    ocr: bool = False

    def __post_init__(self) -> None:
        if not self.ocr and self.locator.endswith(f"{OCR_MARK}）"):
            self.ocr = True

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class FactRef:
    """A figure used by an answer: label, value as printed, unit and its citation locator."""

    label: str
    value: str
    unit: str
    source: str
    doc_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class AnswerPart:
    """The answer to one (sub-)question. ``formula`` is set for derived figures."""

    question: str
    answer: str
    kind: str
    facts: list[FactRef] = field(default_factory=list)
    citations: list[Citation] = field(default_factory=list)
    formula: str = ""
    #: breakdown data for a chart: {"title", "unit", "items": [[label, value], …]} or None
    chart: dict | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question,
            "answer": self.answer,
            "kind": self.kind,
            "facts": [f.to_dict() for f in self.facts],
            "citations": [c.to_dict() for c in self.citations],
            "formula": self.formula,
            "chart": self.chart,
        }


@dataclass
class Answer(AnswerPart):
    """A whole turn: the union of its parts (JSON contract of ``ask --json``)."""

    parts: list[AnswerPart] = field(default_factory=list)

    @classmethod
    def combine(cls, question: str, parts: list[AnswerPart]) -> "Answer":
        """Join sub-answers: text joined by newlines, kind of the first part, facts/citations unioned."""
        if not parts:
            raise ValueError("an answer needs at least one part")
        facts: list[FactRef] = []
        cites: list[Citation] = []
        for p in parts:
            for f in p.facts:
                if f not in facts:
                    facts.append(f)
            for c in p.citations:
                if c not in cites:
                    cites.append(c)
        text = parts[0].answer if len(parts) == 1 else "\n".join(p.answer for p in parts)
        formula = "；".join(p.formula for p in parts if p.formula)
        chart = next((p.chart for p in parts if p.chart), None)
        return cls(question=question, answer=text, kind=parts[0].kind, facts=facts,
                   citations=cites, formula=formula, chart=chart, parts=list(parts))

    def to_dict(self) -> dict[str, Any]:
        d = super().to_dict()
        d["parts"] = [p.to_dict() for p in self.parts]
        return d
