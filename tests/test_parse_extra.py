"""The four extra public disclosures (../shared/corpus-extra, other layouts): identity, counts of
tables and facts, and exact facts with their provenance, including a 元-unit table, a 决算 预算数/
决算数 pair, rows continued after a page break and cells left unaligned rather than guessed."""
from __future__ import annotations

import pytest

from assistant.parsing.document import parse_file

from .conftest import SHARED

EXTRA = SHARED / "corpus-extra"
pytestmark = pytest.mark.skipif(not EXTRA.exists(), reason="../shared/corpus-extra is not beside this checkout")


def doc(name: str):
    return parse_file(next(EXTRA.glob(name + "*.txt")))


@pytest.fixture(scope="module")
def d02():
    return doc("02_")


@pytest.fixture(scope="module")
def d03():
    return doc("03_")


@pytest.mark.parametrize("prefix, department, year, kind, tables, facts, unaligned", [
    ("02_", "上海市普陀区人民政府石泉路街道办事处（本级）", 2026, "单位预算", 8, 707, 111),
    ("03_", "上海市普陀区生态环境局", 2025, "部门决算", 7, 890, 0),
    ("05_", "平潭综合实验区经济发展局", 2018, "部门预算", 0, 68, 0),
    ("06_", "平潭综合实验区市场监督管理局", 2016, "部门决算", 0, 122, 0),
])
def test_identity_and_counts(prefix, department, year, kind, tables, facts, unaligned):
    p = doc(prefix)
    d = p.document
    assert (d.department, d.year, d.kind) == (department, year, kind)
    assert (len(p.tables), len(p.facts), len(p.unaligned)) == (tables, facts, unaligned)
    assert p.warnings == ([] if tables else ["未识别到表格：已按叙述文本入库"])


def test_yuan_table_with_glued_codes(d02):
    rows = [f for f in d02.facts if f.code == "30211"]
    assert [(f.table_title, f.label, f.col_path, f.value_text, f.unit, f.line, f.page) for f in rows] == [
        ("2026年预算单位一般公共预算基本支出部门预算经济分类预算表", "差旅费", ("合计",), "50,000", "元", 555, 32),
        ("2026年预算单位一般公共预算基本支出部门预算经济分类预算表", "差旅费", ("公用经费",), "50,000", "元", 555, 32)]
    (glued,) = [f for f in d02.facts if f.code == "2010506" and f.table_title.endswith("支出预算总表")
                and f.col_path == ("合计",)]
    assert (glued.label, glued.value_text, glued.line) == ("统计管理", "1,200", 306)


def test_row_after_a_page_break_with_repeated_header(d02):
    rows = [f for f in d02.facts if f.code == "2210201" and "一般公共预算支出功能分类" in f.table_title]
    assert [(f.col_path, f.value_text, f.line, f.page) for f in rows] == [
        (("合计",), "1,934,200", 495, 28), (("基本支出",), "1,934,200", 495, 28)]


def test_column_settled_by_classification_arithmetic(d02):
    """2080705 公益性岗位补贴 prints 合计 and one more amount; its parent 20807 and grand-parent 208
    rows' 基本支出/项目支出 sums settle that the second amount is 项目支出."""
    rows = [f for f in d02.facts if f.code == "2080705" and f.table_title.endswith("支出预算总表")]
    assert [(f.col_path, f.value_text) for f in rows] == [(("合计",), "1,990,000"), (("项目支出",), "1,990,000")]


def test_ambiguous_cells_are_reported_not_stored(d02):
    title, first = d02.unaligned[0]
    assert (title, first.line, first.cell, first.label) == (
        "2026年预算单位财务收支预算总表", 195, "3,353,072", "一、一般公共服务支出")
    stored = {(f.line, f.value_text) for f in d02.facts if f.source == "table" and f.table_title == title}
    assert (195, "3,353,072") not in stored


def test_two_halves_of_an_economic_table_with_wrapped_names(d03):
    """03's 基本支出决算表 prints 301xx and 302xx items side by side; a long name wraps above and
    below its row ("机关事业单位基本 / 301 08 229.67 302 07 邮电费 3.48 / 养老保险缴费")."""
    rows = [(f.code, f.label, f.col_path, f.value_text) for f in d03.facts if f.line == 335]
    assert rows == [("30108", "机关事业单位基本养老保险缴费", ("决算数",), "229.67"), ("30207", "邮电费", ("决算数",), "3.48")]


def test_final_accounts_budget_and_final_pair(d03):
    pair = [(f.label, f.value_text, f.line, f.page) for f in d03.facts
            if f.source == "narrative" and f.label.startswith("三公经费财政拨款支出") and f.role == "amount"]
    assert pair == [("三公经费财政拨款支出年初预算", "21.00", 571, 26), ("三公经费财政拨款支出决算", "16.95", 571, 26)]
    (rate,) = [f for f in d03.facts if f.role == "rate" and f.label.startswith("三公经费")]
    assert (rate.value_text, rate.label) == ("80.71%", "三公经费财政拨款完成预算比例")
    totals = [(f.label, f.col_path, f.value_text) for f in d03.facts if f.table_title == "收入支出决算总表"
              and f.label in ("本年收入合计", "本年支出合计")]
    assert totals == [("本年收入合计", ("收入", "决算数"), "4,733.14"), ("本年支出合计", ("支出", "决算数"), "4,733.14")]


def test_web_page_split_into_numbered_sections():
    """06 is a whole web page on one line: its numbered parts become sections, figures keep them."""
    p = doc("06_")
    (cars,) = [f for f in p.facts if f.label == "共有车辆"]
    assert (cars.value, cars.unit, cars.line) == (16.0, "辆", 2)
    assert cars.section_path == ("十、政府采购支出、国有资产占用情况说明（一）政府采购支出情况", "（二）国有资产占用情况")
    sangong = [f for f in p.facts if f.label == "三公经费公共财政拨款支出"]
    assert [(f.value_text, f.section_path) for f in sangong][0] == ("66.81", ("七、“三公”经费公共财政拨款支出决算情况",))


def test_positional_columns_named_from_a_table_stating_the_same_figures(d03):
    """03's 支出决算表 header wraps its names over several lines; its first three columns agree value
    for value with 一般公共预算财政拨款支出决算表's 合计/基本支出/项目支出 and take those names; the
    others stay positional (第4列…) because nothing settles them."""
    paths = {f.col_index: f.col_path for f in d03.facts if f.table_title == "支出决算表"}
    assert [paths[i] for i in sorted(paths)] == [("合计",), ("基本支出",), ("项目支出",), ("第4列",), ("第5列",), ("第6列",)]
    income = {f.col_path for f in d03.facts if f.table_title == "收入决算表"}
    assert ("合计",) not in income  # two of its columns match 合计 equally: neither is named


def test_narrative_labels_drop_the_departments_short_forms():
    from assistant.parsing.narrative import extract_figures

    dept = "平潭综合实验区经济发展局"
    figs = extract_figures("2018年区经济发展局政府采购预算总额256.1万元，其中：政府购买服务项目采购预算额180万元。"
                           "我局机关运行经费支出255.3万元。", dept, 2018)
    assert [(f.label, f.value, f.whole) for f in figs] == [
        ("政府采购预算总额", 256.1, ""), ("政府购买服务项目采购预算额", 180.0, "政府采购预算总额"),
        ("机关运行经费支出", 255.3, "")]
    linked = extract_figures("截止2018年经济发展局本级及所属的预算单位共有车辆2辆。2018年经济发展局共设置绩效目标6个，"
                             "涉及财政拨款资金835.2万元。", dept, 2018)
    assert [(f.label, f.value, f.unit) for f in linked] == [
        ("共有车辆", 2.0, "辆"), ("共设置绩效目标", 6.0, "个"), ("绩效目标涉及财政拨款资金", 835.2, "万元")]
