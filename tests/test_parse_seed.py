"""The seed disclosure parsed into tables, facts and passages: counts and exact provenance."""
from __future__ import annotations

import pytest

from assistant.parsing.document import parse_file

from .conftest import SEED, SEED_ID


@pytest.fixture(scope="module")
def parsed():
    return parse_file(SEED)


def find(parsed, **kw):
    out = [f for f in parsed.facts if all(getattr(f, k) == v for k, v in kw.items())]
    return out


def test_identity(parsed):
    d = parsed.document
    assert (d.doc_id, d.department, d.year, d.kind) == (SEED_ID, "中共济源产城融合示范区工作委员会办公室", 2023, "部门预算")
    assert d.listed_tables[:3] == ("部门收支预算表", "部门收入预算表", "部门支出预算表")
    assert len(d.listed_tables) == 13


def test_tables_and_counts(parsed):
    titles = [t.title for t in parsed.tables]
    assert titles == [
        "2023 年部门收支预算表", "2023 年部门支出预算表", "2023 年财政拨款收支总体情况表",
        "2023 年一般公共预算支出预算表", "一般公共预算基本支出表", "2023 年一般公共预算“三公”经费预算表",
        "2023 年政府性基金预算支出预算表", "2023 年国有资本经营预算支出预算表", "项目支出预算表",
        "部门(单位)整体绩效目标表", "2023 年度部门预算项目绩效目标表"]
    assert len(parsed.facts) == 362  # 304 table cells + 58 narrative figures (5 of them 持平 = zero change)
    assert sum(f.source == "table" for f in parsed.facts) == 304
    assert sum(f.role == "indicator" for f in parsed.facts) == 75
    assert len([p for p in parsed.passages if p.kind == "glossary"]) == 8


def test_side_by_side_income_expenditure(parsed):
    (f,) = find(parsed, table_title="2023 年部门收支预算表", label="社会保障和就业")
    assert (f.value_text, f.unit, f.col_path, f.line) == ("242.60", "万元", ("支出", "金额"), 196)
    (g,) = find(parsed, table_title="2023 年部门收支预算表", label="收入总计")
    assert g.col_path == ("收入", "金额") and g.is_total_row


def test_multilevel_header_paths(parsed):
    total = find(parsed, table_title="2023 年部门支出预算表", label="合计")
    assert [(f.col_path, f.value_text) for f in total] == [
        (("合计",), "1,990.50"), (("基本支出", "小计"), "1,803.50"),
        (("基本支出", "人员经费", "工资福利支出"), "1,534.70"),
        (("基本支出", "人员经费", "对个人和家庭的补助"), "92.60"), (("基本支出", "公用经费"), "176.20"),
        (("项目支出", "小计"), "187.00"), (("项目支出", "其他运转类"), "187.00")]


def test_functional_code_rows(parsed):
    rows = find(parsed, table_title="2023 年部门支出预算表", code="2013150")
    assert [(f.label, f.code_kind, f.col_path[-1], f.value_text) for f in rows] == [
        ("事业运行", "functional", "合计", "445.70"), ("事业运行", "functional", "小计", "445.70"),
        ("事业运行", "functional", "工资福利支出", "420.60"), ("事业运行", "functional", "公用经费", "25.10")]


def test_economic_item_over_two_rows_and_page_break(parsed):
    rows = find(parsed, code="30211", col_path=("本年一般公共预算基本支出", "合计"))
    assert [(f.value_text, f.line, f.row_path) for f in rows] == [
        ("14.00", 345, ("政府预算支出经济分类 50201 办公经费",)),
        ("5.00", 355, ("政府预算支出经济分类 50502 商品和服务支出",))]
    assert {f.table_title for f in rows} == {"一般公共预算基本支出表"}


def test_sangong_table_columns(parsed):
    facts = find(parsed, table_title="2023 年一般公共预算“三公”经费预算表")
    assert [(f.col_path, f.value_text) for f in facts] == [
        (("三公经费合计",), "25.50"), (("公务用车购置及运行费", "小计"), "22.00"),
        (("公务用车购置及运行费", "公务用车运行费"), "22.00"), (("公务接待费",), "3.50")]


def test_empty_tables_keep_their_note(parsed):
    t = [t for t in parsed.tables if t.title == "2023 年政府性基金预算支出预算表"][0]
    assert t.note == "说明：我部门 2023 年无政府性基金预算支出，故此表无数据。"
    assert not [f for f in parsed.facts if f.table_id == t.table_id]


def test_project_rows_and_indicators(parsed):
    (p,) = find(parsed, table_title="项目支出预算表", label="刊物印刷费", col_path=("合计",))
    assert (p.value_text, p.row_path, p.line, p.is_total_row) == ("45.00", ("其他运转类",), 427, False)
    (ind,) = find(parsed, role="indicator", label="会议人数")
    assert (ind.value_text, ind.value, ind.unit, ind.row_path) == ("≥30人", 30.0, "人", ("春节团拜会经费", "产出指标"))
    (wrapped,) = find(parsed, role="indicator", label="人均补助标准")  # cell wrapped over a page break
    assert wrapped.value_text == "140 元/人/天"
    (whole,) = find(parsed, role="indicator", label="预算执行率")
    assert whole.value_text == "≥90%" and whole.table_title == "部门(单位)整体绩效目标表"


def test_narrative_figures(parsed):
    share = find(parsed, source="narrative", label="项目支出", role="share")
    assert [(f.value_text, f.line, f.whole) for f in share] == [("9.39%", 95, "支出合计"), ("9.39%", 103, "一般公共预算支出年初预算")]
    (cars,) = find(parsed, source="narrative", label="共有车辆")
    assert (cars.value, cars.unit, cars.section_path[-1]) == (27.0, "辆", "（四）国有资产占用情况。")
    (chg,) = find(parsed, source="narrative", label="机关运行经费支出预算", role="change")
    assert (chg.value, chg.value_text, chg.base_year) == (-2.8, "2.80", 2022)


def test_glossary_entries(parsed):
    g = {p.term: p for p in parsed.passages if p.kind == "glossary"}
    assert list(g)[:3] == ["财政拨款收入", "事业收入", "其他收入"]
    assert g["三公经费"].section_path == ("第三部分 名词解释",)
    assert g["三公经费"].text.endswith("公务接待费反映单位按规定开支的各类公务接待（含外宾接待）支出。")


def test_every_amount_cell_is_exactly_one_fact(parsed):
    """Each non-empty numeric cell of every table (tab-separated lines) becomes exactly one fact."""
    import re

    cells = set()
    for i, line in enumerate(SEED.read_text(encoding="utf-8").split("\n"), start=1):
        if "\t" in line:
            for j, x in enumerate(line.split("\t")):
                if re.fullmatch(r"-?[\d,]+\.\d+", x.strip()):
                    cells.add((i, j))
    facts = [(f.line, f.col_index) for f in parsed.facts if f.source == "table" and f.role == "amount"]
    assert len(facts) == len(set(facts)) == 229
    assert set(facts) == cells
