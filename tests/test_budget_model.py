"""The budget model (assistant/budget): identity and aliases by rule, template table kinds, measures
and the metric catalog — on the shared documents' real titles and names."""
from __future__ import annotations

from pathlib import Path

import pytest

from assistant.budget.identity import aliases, is_body_name, read_identity, split_places
from assistant.budget.metrics import catalog, find_metric
from assistant.budget.templates import column_measure, measure_asked, measure_matches, table_kind
from assistant.parsing.document import parse_file

from .conftest import SEED, SHARED

PDF = SHARED / "corpus-pdf"
EXTRA = SHARED / "corpus-extra"

# department, year and kind of every shared document, as /api/documents returns them (Document)
IDENTITIES = [
    (SEED, "中共济源产城融合示范区工作委员会办公室", 2023, "部门预算"),
    (EXTRA / "02_shanghai_putuo_shiquanlu_street_2026_unit_budget.txt", "上海市普陀区人民政府石泉路街道办事处（本级）", 2026, "单位预算"),
    (EXTRA / "03_shanghai_putuo_ecology_env_bureau_2025_final_accounts.txt", "上海市普陀区生态环境局", 2025, "部门决算"),
    (EXTRA / "05_fujian_pingtan_economic_dev_bureau_2018_budget.txt", "平潭综合实验区经济发展局", 2018, "部门预算"),
    (EXTRA / "06_fujian_pingtan_market_supervision_2016_final_accounts.txt", "平潭综合实验区市场监督管理局", 2016, "部门决算"),
    (PDF / "putuo_gov_office_2025_budget.pdf", "上海市普陀区人民政府办公室", 2025, "部门预算"),
    (PDF / "putuo_gov_office_unit_2025_budget.pdf", "上海市普陀区人民政府办公室", 2025, "单位预算"),
    (PDF / "putuo_commerce_commission_2025_budget.pdf", "上海市普陀区商务委员会", 2025, "部门预算"),
    (PDF / "putuo_commerce_commission_unit_2025_budget.pdf", "上海市普陀区商务委员会", 2025, "单位预算"),
    (PDF / "putuo_justice_bureau_unit_2026_budget.pdf", "上海市普陀区司法局", 2026, "单位预算"),
    (PDF / "putuo_social_work_dept_2024_final_accounts.pdf", "中共上海市普陀区委社会工作部", 2024, "部门决算"),
    (PDF / "putuo_wanli_street_2024_budget.pdf", "上海市普陀区人民政府万里街道办事处", 2024, "部门预算"),
    (PDF / "putuo_wanli_street_2025_budget.pdf", "上海市普陀区人民政府万里街道办事处", 2025, "部门预算"),
    # the national template names no body ("上海市 XX 局"): no department rather than a wrong one
    (PDF / "final_accounts_template.pdf", "", 2024, "部门决算"),
]


@pytest.mark.skipif(not PDF.exists() or not EXTRA.exists(), reason="../shared is not beside this checkout")
@pytest.mark.parametrize("path, department, year, kind", IDENTITIES, ids=[p.stem for p, *_ in IDENTITIES])
def test_identity_of_every_shared_document(path: Path, department, year, kind):
    d = parse_file(path).document
    assert (d.department, d.year, d.kind) == (department, year, kind)
    assert d.basis == kind[-2:] and d.scope == kind[:2]


def test_identity_from_cover_title_and_table_headers():
    # 预算主管部门 on the cover → a 部门 document; the title names only the level (区级)
    cover = ["上海市普陀区2025年区级部门预算", "预算主管部门：上海市普陀区商务委员会", "", "目 录", "一、部门主要职能"]
    assert read_identity(cover, [], cover[0]) == read_identity(cover, ["元"], cover[0])
    i = read_identity(cover, [], cover[0])
    assert (i.department, i.year, i.kind) == ("上海市普陀区商务委员会", 2025, "部门预算")
    # a title wrapped over two lines, no cover line; table headers print "编制部门：X 单位：万元"
    wrapped = ["中共上海市普陀区委社会工作部 2024 年度", "部门决算", "目 录"]
    i = read_identity(wrapped, ["万元", "中共上海市普陀区委社会工作部"], wrapped[0])
    assert (i.department, i.year, i.kind) == ("中共上海市普陀区委社会工作部", 2024, "部门决算")
    # 预算单位 → a 单位 document
    unit = ["上海市普陀区2026年区级单位预算", "预算单位：上海市普陀区司法局"]
    assert read_identity(unit, [], unit[0]).kind == "单位预算"


@pytest.mark.parametrize("name", ["元", "万元", "上海市普陀区区级", "上海市普陀区", "区级", "上海市 XX 局", "单位：元"])
def test_words_that_are_no_body(name):
    assert not is_body_name(name)


@pytest.mark.parametrize("full, short", [
    ("上海市普陀区人民政府办公室", ["区府办", "区政府办公室", "普陀区政府办公室", "政府办公室"]),
    ("上海市普陀区商务委员会", ["商务委", "区商务委", "普陀区商务委", "商务委员会"]),
    ("中共上海市普陀区委社会工作部", ["区委社会工作部", "普陀区委社会工作部", "社会工作部"]),
    ("上海市普陀区人民政府万里街道办事处", ["万里街道", "普陀区万里街道", "万里街道办事处"]),
    ("上海市普陀区人民政府石泉路街道办事处（本级）", ["石泉路街道"]),
    ("上海市普陀区司法局", ["区司法局", "司法局", "普陀区司法局"]),
])
def test_aliases_are_derived_by_rule(full, short):
    got = aliases(full)
    assert set(short) <= set(got)
    # never a bare organ word, and never shorter than three characters
    assert not {"办公室", "委员会", "局", "街道", "办事处", "政府"} & set(got)
    assert all(len(a) >= 3 for a in got)


def test_places_split_before_the_organ():
    assert split_places("上海市普陀区人民政府办公室") == (["上海市", "普陀区"], "人民政府办公室")
    assert split_places("中共上海市普陀区委社会工作部") == (["上海市", "普陀区"], "委社会工作部")
    assert split_places("平潭综合实验区经济发展局") == (["平潭综合实验区"], "经济发展局")


@pytest.mark.parametrize("title, kind", [
    ("2025年部门财务收支预算总表", "summary"), ("收入支出决算总表", "summary"), ("2023 年部门收支预算表", "summary"),
    ("2025年部门收入预算总表", "revenue"), ("收入决算表", "revenue"),
    ("2025年部门支出预算总表", "expenditure"), ("支出决算表", "expenditure"),
    ("2025年部门财政拨款收支预算总表", "appropriation_summary"), ("财政拨款收入支出决算总表", "appropriation_summary"),
    ("2025年部门一般公共预算支出功能分类预算表", "gpb_expenditure"), ("一般公共预算财政拨款支出决算表", "gpb_expenditure"),
    ("2025年部门一般公共预算基本支出部门预算经济分类预算表", "basic_economic"),
    ("一般公共预算财政拨款基本支出决算表", "basic_economic"),
    ("2025年部门“三公”经费和机关运行经费预算表", "three_public"), ("财政拨款“三公”经费支出决算表", "three_public"),
    ("2025年部门政府性基金预算支出功能分类预算表", "gov_fund"), ("政府性基金预算财政拨款收入支出决算表", "gov_fund"),
    ("国有资本经营预算财政拨款收入支出决算表", "soe_capital"),
    ("2023 年度部门预算项目绩效目标表", "performance"), ("项目支出预算表", "project_expenditure"),
])
def test_table_kinds_of_both_templates(title, kind):
    assert table_kind(title) == kind


def test_measures_of_columns_and_questions():
    assert column_measure(("财政拨款“三公”经费", "合计", "决算数")) == "决算数"
    assert column_measure(("本年收入", "预算数")) == "预算数"
    assert column_measure(("合计",)) == ""
    assert column_measure(("一般公共预算财政拨款支出年初预算",)) == "年初预算"
    assert measure_asked("三公经费实际花了多少", "决算") == "决算数"
    assert measure_asked("三公经费花了多少", "预算") == "预算数"  # a budget's only figure is its budget
    assert measure_asked("全年预算是多少", "决算") == "全年预算"
    assert measure_asked("三公经费是多少", "决算") == "决算数"
    assert measure_matches("预算数", "全年预算", "决算") > measure_matches("预算数", "年初预算", "决算") > 0
    assert measure_matches("决算数", "年初预算", "决算") == 0


@pytest.mark.parametrize("item, metric", [
    ("收入总计", "revenue_total"), ("决算收支总计", "grand_total"), ("三公经费决算数", "three_public"),
    ("三公经费里因公出国（境）费", "overseas"), ("基本支出里人员经费", "personnel"),
    ("公务用车购置及运行费", "vehicle"), ("买车", "vehicle_purchase"), ("用车", "vehicle_operation"),
    ("财政拨款支出预算", "appropriation_expenditure"), ("一般公共预算支出预算", "gpb_expenditure"),
    ("政府采购预算", "procurement"), ("机关运行经费预算", "operating"),
    # not metrics: another item that contains a metric's word, or a part of another whole
    ("事业收入", None), ("行政运行", None), ("基本支出里的公务接待费", None), ("工程类", None),
    ("一般行政管理事务", None),
])
def test_a_metric_is_recognised_only_as_the_whole_item(item, metric):
    found = find_metric(item)
    assert (found.id if found else None) == metric


def test_catalog_parts_name_existing_metrics():
    ids = set(catalog())
    assert all(set(m.parts) <= ids for m in catalog().values())
    assert catalog()["three_public"].parts == ("overseas", "vehicle", "reception")
