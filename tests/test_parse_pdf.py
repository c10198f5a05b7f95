"""Real published PDFs (../shared/corpus-pdf) read cell by cell from their ruled tables.

Pinned per PDF: number of tables and facts, no unaligned cell, and every numeric cell of a ruled
table's body stored as exactly one fact; then exact cells of the hard layouts: a header merged over
three levels (三公 table), column groups printed side by side (基本支出决算表: 人员经费 | 公用经费), a
table continued on the next page with and without its header repeated (and a lone 合计 row whose
merged label cell hides column borders), a title and meta line enclosed in the ruling, narrative
lines set with wide spacing kept in their sentence, and readable row quotes.

Documents are parsed directly (no index): the module fixture parses each PDF once.
"""
from __future__ import annotations

from collections import Counter

import pytest

from assistant.parsing.numbers import parse_amount

from .pdfcorpus import PDF_DIR, parsed_pdf

pytestmark = pytest.mark.skipif(not PDF_DIR.is_dir(), reason="../shared/corpus-pdf not present")

#: file stem → (tables, facts) as parsed
EXPECTED = {
    "final_accounts_template": (9, 1),
    "putuo_commerce_commission_2025_budget": (9, 364),
    "putuo_commerce_commission_unit_2025_budget": (9, 373),
    "putuo_gov_office_2025_budget": (9, 296),
    "putuo_gov_office_unit_2025_budget": (9, 304),
    "putuo_justice_bureau_unit_2026_budget": (9, 500),
    "putuo_social_work_dept_2024_final_accounts": (9, 294),
    "putuo_wanli_street_2024_budget": (9, 1081),
    "putuo_wanli_street_2025_budget": (9, 983),
}
#: file stem → numeric body cells of its ruled tables (codes excluded)
NUMERIC_CELLS = {
    "final_accounts_template": 0,
    "putuo_commerce_commission_2025_budget": 287,
    "putuo_commerce_commission_unit_2025_budget": 300,
    "putuo_gov_office_2025_budget": 221,
    "putuo_gov_office_unit_2025_budget": 231,
    "putuo_justice_bureau_unit_2026_budget": 391,
    "putuo_social_work_dept_2024_final_accounts": 205,
    "putuo_wanli_street_2024_budget": 875,
    "putuo_wanli_street_2025_budget": 875,
}


@pytest.fixture(scope="module")
def parsed():
    """stem → (SourceText, ParsedDocument) for every shared PDF."""
    return {stem: parsed_pdf(stem) for stem in EXPECTED}


def facts_of(pd, value_text, table_word="", label=None):
    return [f for f in pd.facts if f.value_text == value_text and table_word in f.table_title
            and (label is None or f.label == label)]


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_tables_facts_and_no_unaligned_cell(parsed, stem):
    src, pd = parsed[stem]
    assert (len(pd.tables), len(pd.facts)) == EXPECTED[stem]
    assert pd.unaligned == []


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_every_numeric_cell_is_exactly_one_fact(parsed, stem):
    """Each non-empty numeric body cell of a ruled table (classification codes aside) is one table
    fact at its line and column."""
    src, pd = parsed[stem]
    have = Counter((f.line, f.col_index) for f in pd.facts if f.source == "table")
    cells = []
    for idx, (grid, row) in (src.table_rows or {}).items():
        if row < grid.header_rows():
            continue
        cols = src.lines[idx].split("\t")
        for c, text in enumerate(cols):
            t = text.strip()
            if not t or parse_amount(t) is None:
                continue
            if t.isdigit() and any(x.strip() and parse_amount(x.strip()) is None for x in cols[c + 1:]):
                continue  # a classification code (类/款/项) left of the row's name
            cells.append((idx + 1, c))
    assert len(cells) == NUMERIC_CELLS[stem]
    assert [k for k in cells if have[k] != 1] == []


def test_titles_and_units_as_printed(parsed):
    src, pd = parsed["putuo_gov_office_2025_budget"]
    assert [(t.title, t.unit, t.page) for t in pd.tables][:2] == [
        ("2025年部门财务收支预算总表", "元", 8), ("2025年部门收入预算总表", "元", 9)]
    assert (pd.tables[-1].title, pd.tables[-1].unit) == ("2025年部门“三公”经费和机关运行经费预算表", "万元")
    # title and "编制单位：… 单位：元" printed inside the ruling of the table
    src, pd = parsed["putuo_justice_bureau_unit_2026_budget"]
    t = next(t for t in pd.tables if "财政拨款收支" in t.title)
    assert (t.title, t.unit, t.page) == ("2026年预算单位财政拨款收支预算总表", "元", 13)
    assert t.columns == (("财政拨款收入", "预算数"), ("财政拨款支出", "合计"), ("财政拨款支出", "一般公共预算"),
                         ("财政拨款支出", "政府性基金预算"), ("财政拨款支出", "国有资本经营预算"))


def test_three_level_header_cell(parsed):
    """三公 table: 2024年“三公”经费预算数 › 公务用车购置及运行费 › 购置费 / 运行费."""
    src, pd = parsed["putuo_wanli_street_2024_budget"]
    t = next(t for t in pd.tables if "三公" in t.title)
    (buy,) = [f for f in pd.facts if f.table_id == t.table_id and f.col_path[-1] == "购置费"]
    assert (buy.value_text, buy.unit, buy.page) == ("25", "万元", 31)
    assert buy.col_path == ("2024年三公经费预算数", "公务用车购置及运行费", "购置费")
    (run,) = [f for f in pd.facts if f.table_id == t.table_id and f.col_path[-1] == "运行费"]
    assert run.value_text == "21.56"
    (sub,) = [f for f in pd.facts if f.table_id == t.table_id and f.col_path[-1] == "小计"]
    assert (sub.col_path, sub.value_text) == (("2024年三公经费预算数", "公务用车购置及运行费", "小计"), "46.56")


def test_side_by_side_groups_are_two_lists(parsed):
    """一般公共预算财政拨款基本支出决算表: 人员经费 (30x) and 公用经费 (302/310) side by side."""
    src, pd = parsed["putuo_social_work_dept_2024_final_accounts"]
    t = next(t for t in pd.tables if t.title == "一般公共预算财政拨款基本支出决算表")
    row = sorted((f.code, f.label, f.value_text) for f in pd.facts if f.table_id == t.table_id and f.line ==
                 next(f.line for f in pd.facts if f.table_id == t.table_id and f.code == "301"))
    assert row == [("301", "工资福利支出", "95.36"), ("302", "商品和服务支出", "10.23")]
    office = next(f for f in pd.facts if f.table_id == t.table_id and f.code == "30201")
    assert (office.label, office.value_text, office.unit) == ("办公费", "3.78", "万元")
    totals = {f.label: f.value_text for f in pd.facts if f.table_id == t.table_id and f.label.endswith("合计")}
    assert totals == {"人员经费合计": "95.36", "公用经费合计": "10.23"}
    # the totals row takes no code from the row above it
    assert {f.code for f in pd.facts if f.table_id == t.table_id and f.label.endswith("合计")} == {""}


def test_table_continued_on_next_page(parsed):
    # without a repeated header: 收入预算总表 pages 9-10
    src, pd = parsed["putuo_gov_office_2025_budget"]
    f = facts_of(pd, "1,097,073.43", "收入预算总表", "卫生健康支出")
    assert [(x.code, x.col_path, x.page, x.table_id) for x in f] == [
        ("210", ("收入预算", "合计"), 10, "putuo_gov_office_2025_budget:t2"),
        ("210", ("收入预算", "财政拨款收入"), 10, "putuo_gov_office_2025_budget:t2")]
    # a lone 合计 row on the next page whose label cell spans the code and name columns
    src, pd = parsed["putuo_wanli_street_2025_budget"]
    t = next(t for t in pd.tables if t.title == "2025年部门支出预算总表")
    total = [(f.label, f.col_path, f.value_text, f.page) for f in pd.facts
             if f.table_id == t.table_id and f.label == "合计"]
    assert total == [("合计", ("支出预算", "合计"), "189,767,551", 18),
                     ("合计", ("支出预算", "基本支出"), "101,341,746", 18),
                     ("合计", ("支出预算", "项目支出"), "88,425,805", 18)]


def test_two_digit_codes_printed_without_zero(parsed):
    """A 款 printed "2" for "02" (万里 2024 经济分类 table) still gives code 30102."""
    src, pd = parsed["putuo_wanli_street_2024_budget"]
    f = [x for x in pd.facts if x.label == "津贴补贴" and "经济分类" in x.table_title]
    assert {x.code for x in f} == {"30102"}


def test_wide_spaced_narrative_kept_in_its_sentence(parsed):
    """Lines of a paragraph set with double spacing (figures at the start of the next line) are
    joined: "…增长" + "100.00%。" is one sentence."""
    src, pd = parsed["putuo_social_work_dept_2024_final_accounts"]
    f = [x for x in pd.facts if x.source == "narrative" and x.label == "收入支出总计" and x.role == "change_pct"]
    assert [(x.value_text, x.page, x.quote) for x in f] == [
        ("100.00%", 17, "与 2023 年度相比，收入支出总计增加 307.82 万元，增长100.00%。")]
    share = [x for x in pd.facts if x.source == "narrative" and x.label == "基本支出" and x.role == "share"]
    assert [(x.value_text, x.quote) for x in share] == [
        ("34.30%", "本年支出合计 307.82 万元，其中：基本支出 105.58 万元，占34.30%；项目支出 202.24 万元，占 65.70%。")]


def test_row_quotes_are_readable(parsed):
    src, pd = parsed["putuo_gov_office_2025_budget"]
    (f,) = [x for x in pd.facts if x.label == "一般行政管理事务" and x.table_title == "2025年部门支出预算总表"
            and x.col_path == ("支出预算", "合计")]
    assert f.quote == ("201 03 02 一般行政管理事务：合计 46,140,000.00 元（4,614.00 万元），"
                       "项目支出 46,140,000.00 元（4,614.00 万元）")
    src, pd = parsed["putuo_social_work_dept_2024_final_accounts"]
    f = next(x for x in pd.facts if x.code == "301" and x.table_title == "一般公共预算财政拨款基本支出决算表")
    assert f.quote == "301 工资福利支出：决算数 95.36 万元；302 商品和服务支出：决算数 10.23 万元"


def test_display_amount():
    from assistant.answering.compute import display_amount, group_thousands

    assert display_amount("66410000.00", "元") == "66,410,000.00 元（6,641.00 万元）"
    assert display_amount("66,410,000.00", "元") == "66,410,000.00 元（6,641.00 万元）"
    assert display_amount("12,029,501.84", "元") == "12,029,501.84 元（1,202.95 万元）"
    assert display_amount("189,767,551", "元") == "189,767,551 元（18,976.76 万元）"
    assert display_amount("9101.68", "万元") == "9,101.68 万元"
    assert display_amount("95%", "%") == "95%"
    assert display_amount("12", "个") == "12 个"
    assert display_amount("—", "元") == "— 元"
    assert group_thousands("-1234567.5") == "-1,234,567.5"


def test_lower_baseline_figures_stay_in_their_sentence(parsed):
    """The 决算 template prints some figures 2 points below their sentence's baseline ("2024" after
    "。", "2024 … 12 … 31" in a date): they stay in place in the sentence."""
    src, pd = parsed["final_accounts_template"]
    texts = [p.text for p in pd.passages]
    assert "公务用车运行维护支出 XX 万元。主要用于 XXXXXXXX。2024年，上海市 XX 局所属各预算单位开支财政拨款的公务用车保有量为 XXX 辆。" in texts
    assert any(t.startswith("截至 2024 年 12 月 31 日，XX 部门（单位）共有车辆 XX 辆，其中：") for t in texts)


def test_classification_code_in_text_is_not_a_count(parsed):
    """"行政单位离退休（01项）56.12万元": the 01 names the 项, the amount keeps the item as its label."""
    src, pd = parsed["putuo_justice_bureau_unit_2026_budget"]
    para = [(f.label, f.value_text, f.role) for f in pd.facts if f.source == "narrative" and f.line == 57]
    assert para[0] == ("社会保障和就业支出（208类）行政事业单位养老支出（05款）行政单位离退休（01项）", "56.12", "amount")
    assert not [f for f in pd.facts if f.source == "narrative" and f.unit == "项" and f.value_text in ("01", "07")]
