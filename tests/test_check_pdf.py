"""`check` on the real shared PDFs: every finding it reports, with why each is true (precision), and
each program-findable item of the inspector's checklist of the 司法局 unit budget
(putuo_justice_bureau_unit_2026_budget_inspection.xlsx) found (recall). Rules not triggered by these
documents are tested on small texts at the end."""
from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter

import pytest

from assistant.check import CATEGORIES, KINDS, check_document
from assistant.parsing.document import parse_file

from .conftest import PROJECT_ROOT
from .pdfcorpus import PDF_DIR, parsed_pdf

pytestmark = pytest.mark.skipif(not PDF_DIR.is_dir(), reason="../shared/corpus-pdf not present")


def findings(stem):
    return [(f.kind, f.message) for f in check_document(parsed_pdf(stem)[1])]


# Every finding on every shared PDF, and why it is true.
EXPECTED = {
    # clean documents: every total adds up, text and tables agree
    "putuo_commerce_commission_2025_budget": [],
    "putuo_commerce_commission_unit_2025_budget": [],
    "putuo_gov_office_2025_budget": [],
    "putuo_gov_office_unit_2025_budget": [],
    "putuo_justice_bureau_unit_2026_budget": [
        # the 行政运行 row prints 项目支出 64,840,547.00 (the whole 司法 项目支出): its parent 20406's
        # 项目支出 is then less than its children's (inspector: 合计与分项之和不相等, both tables)
        ("total_mismatch", "2026年预算单位支出预算总表：20406 司法「支出预算 > 项目支出」为 64,840,547.00 元，下级科目（2040601、2040604、2040605、2040607、2040613、2040699）之和为 129,681,094.00 元，相差 64,840,547.00 元"),
        # inspector: 行政运行 合计 14,348,853.34 = 基本支出 14,348,853.34, yet 项目支出 64,840,547.00
        ("total_mismatch", "2026年预算单位支出预算总表：2040601 行政运行「支出预算 > 合计」为 14,348,853.34 元，「基本支出」、「项目支出」之和为 79,189,400.34 元，相差 64,840,547.00 元"),
        ("total_mismatch", "2026年预算单位一般公共预算支出功能分类预算表：20406 司法「一般公共预算支出 > 项目支出」为 64,840,547.00 元，下级科目（2040601、2040604、2040605、2040607、2040613、2040699）之和为 129,681,094.00 元，相差 64,840,547.00 元"),
        ("total_mismatch", "2026年预算单位一般公共预算支出功能分类预算表：2040601 行政运行「一般公共预算支出 > 合计」为 14,348,853.34 元，「基本支出」、「项目支出」之和为 79,189,400.34 元，相差 64,840,547.00 元"),
        # inspector item 2: 1434.89 vs 1690.69 is −15.13 %, not −1.10 %
        ("share_mismatch", "公共安全支出（204类）司法（06款）行政运行（01项）预算安排的增减幅度：文中为下降 1.10%，按 (1434.89 万元 − 1690.69 万元) ÷ 1690.69 万元 计算应为下降 15.13%"),
        # item 7: 57.8 is more than 57.43, the text says 减少 2.27 % (it was computed from 56.12)
        ("share_mismatch", "社会保障和就业支出（208类）行政事业单位养老支出（05款）行政单位离退休（01项）预算安排的增减幅度：文中为下降 2.27%，按 (57.8 万元 − 57.43 万元) ÷ 57.43 万元 计算应为增长 0.64%"),
        # item 10: 0.62 over 0.50 is +24.00 % as printed, the text says +22.22 %
        ("share_mismatch", "社会保障和就业支出（208类）行政事业单位养老支出（05款）其他行政事业单位养老支出（99项）预算安排的增减幅度：文中为增长 22.22%，按 (0.62 万元 − 0.50 万元) ÷ 0.50 万元 计算应为增长 24.00%"),
        # inspector item 4: 170.03 against 241.76 is a decrease, the text says 增加 21.74 %
        ("share_mismatch", "住房保障支出（221类）住房改革支出（02款）购房补贴（03项）预算安排的增减幅度：文中为增长 21.74%，按 (170.03 万元 − 241.76 万元) ÷ 241.76 万元 计算应为下降 29.67%"),
        # inspector item 3: 56.12 then 57.8 in one item (the table has 561,240.00 元 = 56.12 万元)
        ("item_amount_conflict", "行政单位离退休：同一段先写 56.12 万元，后写“2026年预算安排 57.8 万元”，前后不一致；2026年预算单位一般公共预算支出功能分类预算表中该行合计为 561,240.00 元"),
        # inspector item 4: 207 then 170.03 (the table has 2,070,000.00 元 = 207 万元)
        ("item_amount_conflict", "购房补贴：同一段先写 207 万元，后写“2026年预算安排 170.03 万元”，前后不一致；2026年预算单位一般公共预算支出功能分类预算表中该行合计为 2,070,000.00 元"),
        # inspector item 5: 210类 is 卫生健康支出 in the tables
        ("classification_name_mismatch", "功能分类 210：说明写作“医疗卫生与计划生育支出”，2026年预算单位收入预算总表写作“卫生健康支出”，名称不一致"),
        # inspector 其他相关说明 1: "主要原因是。" has no reason
        ("incomplete_sentence", "句子不完整：“8万元，与2025年预算数持平，主要原因是。其中：公务用车购置费0万元，与202”"),
        # inspector item 1: the template's "增加（减少）" left unchosen
        ("template_leftover", "模板选项未删改：“财政拨款收入支出增加（减少）的主要原因是业务量增加。”"),
        # inspector 其他相关说明 2: 部门预算 written twice in a 单位预算
        ("wrong_scope_word", "单位预算中写作“部门预算”（应为“单位预算”）：“2026年部门预算安排购置车辆0辆，其中：部级领导干部”"),
        ("wrong_scope_word", "单位预算中写作“部门预算”（应为“单位预算”）：“、离退休干部用车0辆、其他用车0辆；部门预算安排购置单价100万元（含）以上设备”"),
    ],
    "putuo_social_work_dept_2024_final_accounts": [
        # 302's 27 items print 3.78+1.15+0.02+0.68+0.48+1.48+2.43+0.20 = 10.22, the row prints 10.23
        ("total_mismatch", "一般公共预算财政拨款基本支出决算表：302 商品和服务支出为 10.23 万元，下级科目（30201…30299，共 27 项）之和为 10.22 万元，相差 0.01 万元"),
    ],
    "putuo_wanli_street_2024_budget": [
        # item 31: 352.67 over 348.52 is +1.19 % (the +0.53 % follows from the head amount 350.35)
        ("share_mismatch", "住房保障支出（类）住房改革支出（款）住房公积金（项）预算安排的增减幅度：文中为增长 0.53%，按 (352.67 万元 − 348.52 万元) ÷ 348.52 万元 计算应为增长 1.19%"),
        # the same item is 350.35 at its head and 352.67 as the year's budget; the table has 3,503,499 元
        ("item_amount_conflict", "住房公积金：同一段先写 350.35 万元，后写“2024年预算安排 352.67 万元”，前后不一致；2024年部门一般公共预算支出功能分类预算表中该行合计为 3,503,499 元"),
        # the 三公 table prints 47.91 / 443.18 万元 under a note saying it is empty
        ("empty_table_note_contradiction", "部门“三公”经费和机关运行经费预算表：表注称“注:本部门2024年无“三公”经费和机关运行经费预算，故本表为空表。”，但表中列有数字（如 2024年三公经费预算数 > 合计 47.91 万元）"),
    ],
    "putuo_wanli_street_2025_budget": [
        # 212 01 prints 94,995,790 with 基本 77,381,546 + 项目 17,614,243 = 94,995,789 and items
        # 17,887,739 + 17,464,243 + 6,522,681 + 53,121,126 = 94,995,789: the row is 1 元 over, and so
        # is 212 over its 款 (in every table printing the row)
        ("total_mismatch", "2025年部门收入预算总表：212 城乡社区支出「收入预算 > 合计」为 154,369,326 元，下级科目（21201、21203、21205、21299）之和为 154,369,327 元，相差 1 元"),
        ("total_mismatch", "2025年部门收入预算总表：212 城乡社区支出「收入预算 > 财政拨款收入」为 154,369,326 元，下级科目（21201、21203、21205、21299）之和为 154,369,327 元，相差 1 元"),
        ("total_mismatch", "2025年部门收入预算总表：21201 城乡社区管理事务「收入预算 > 合计」为 94,995,790 元，下级科目（2120101、2120102、2120104、2120199）之和为 94,995,789 元，相差 1 元"),
        ("total_mismatch", "2025年部门收入预算总表：21201 城乡社区管理事务「收入预算 > 财政拨款收入」为 94,995,790 元，下级科目（2120101、2120102、2120104、2120199）之和为 94,995,789 元，相差 1 元"),
        ("total_mismatch", "2025年部门支出预算总表：212 城乡社区支出「支出预算 > 合计」为 154,369,326 元，下级科目（21201、21203、21205、21299）之和为 154,369,327 元，相差 1 元"),
        ("total_mismatch", "2025年部门支出预算总表：21201 城乡社区管理事务「支出预算 > 合计」为 94,995,790 元，下级科目（2120101、2120102、2120104、2120199）之和为 94,995,789 元，相差 1 元"),
        ("total_mismatch", "2025年部门支出预算总表：21201 城乡社区管理事务「支出预算 > 合计」为 94,995,790 元，「基本支出」、「项目支出」之和为 94,995,789 元，相差 1 元"),
        ("total_mismatch", "2025年部门一般公共预算支出功能分类预算表：212 城乡社区支出「一般公共预算支出 > 合计」为 154,369,326 元，下级科目（21201、21203、21205、21299）之和为 154,369,327 元，相差 1 元"),
        ("total_mismatch", "2025年部门一般公共预算支出功能分类预算表：21201 城乡社区管理事务「一般公共预算支出 > 合计」为 94,995,790 元，下级科目（2120101、2120102、2120104、2120199）之和为 94,995,789 元，相差 1 元"),
        ("total_mismatch", "2025年部门一般公共预算支出功能分类预算表：21201 城乡社区管理事务「一般公共预算支出 > 合计」为 94,995,790 元，「基本支出」、「项目支出」之和为 94,995,789 元，相差 1 元"),
    ],
}


@pytest.mark.parametrize("stem", sorted(EXPECTED))
def test_every_finding_on_the_shared_pdfs_is_real(stem):
    assert findings(stem) == EXPECTED[stem]


def test_template_only_reports_its_unfilled_text():
    """The national 决算 template is a blank form: its XX placeholders and 增加（减少） options are all it
    has to report (one finding per paragraph), and its empty tables are not findings."""
    found = findings("final_accounts_template")
    assert Counter(k for k, _ in found) == {"template_leftover": 54}


def test_inspectors_checklist_items_are_found():
    """Each program-findable item of the inspector's list for the 司法局 unit budget."""
    found = check_document(parsed_pdf("putuo_justice_bureau_unit_2026_budget")[1])
    text = [f.message for f in found]
    assert any("下降 1.10%" in m and "15.13%" in m for m in text)                   # wrong change rate
    rows = [f for f in found if f.kind == "total_mismatch" and "2040601 行政运行" in f.message]
    assert len({f.message.split("：")[0] for f in rows}) == 2                     # 合计 ≠ 基本 + 项目, 2 tables
    assert any("56.12" in m and "57.8" in m for m in text)                        # two amounts, one item
    assert any("207" in m and "170.03" in m for m in text)
    assert any(f.kind == "incomplete_sentence" and "主要原因是。" in f.message for f in found)
    assert sum(f.kind == "wrong_scope_word" for f in found) == 2                  # 部门预算 in a 单位预算
    # every finding has a category and cites both sides of a comparison
    for f in found:
        assert f.category == CATEGORIES[f.kind]
        assert len(f.citations) == (2 if f.category in ("arithmetic", "table_narrative") else 1)
        for locator, line, page in f.citations:
            assert locator and line and page


def test_check_json():
    path = PDF_DIR / "putuo_social_work_dept_2024_final_accounts.pdf"
    r = subprocess.run([sys.executable, "-m", "assistant.cli", "check", "--json", str(path)],
                       capture_output=True, text=True, cwd=PROJECT_ROOT, timeout=300)
    assert r.returncode == 1, r.stderr
    (line,) = r.stdout.splitlines()
    doc = json.loads(line)
    assert (doc["doc_id"], doc["title"]) == ("putuo_social_work_dept_2024_final_accounts",
                                             "中共上海市普陀区委社会工作部 2024 年度部门决算")
    assert doc["findings"] == [{
        "kind": "total_mismatch", "category": "arithmetic",
        "message": "一般公共预算财政拨款基本支出决算表：302 商品和服务支出为 10.23 万元，下级科目（30201…30299，共 27 项）之和为 10.22 万元，相差 0.01 万元",
        "citations": [{"locator": "一般公共预算财政拨款基本支出决算表 · 302 商品和服务支出 · 决算数", "line": 197, "page": 13},
                      {"locator": "一般公共预算财政拨款基本支出决算表 · 30201 办公费 · 决算数", "line": 198, "page": 13}]}]


# ---------------------------------------------------------------- rules on small texts

BUDGET_TEXT = """上海市普陀区某某局2026年单位预算
一、2026年单位预算编制说明
2026年，某某局收入预算100.00万元，比2026年预算增加10.00万元，，主要原因是业务量增加。
2026年部门预算安排购置车辆0辆。
二、其他相关情况说明
机关运行经费预算5.00万元，与2025年预算持平，主要用于。
"""


def test_wording_rules_on_a_small_text(tmp_path):
    p = tmp_path / "unit_budget.txt"
    p.write_text(BUDGET_TEXT, encoding="utf-8")
    found = [(f.kind, f.category, f.message) for f in check_document(parse_file(p))]
    assert found == [
        ("incomplete_sentence", "missing", "句子不完整：“5.00万元，与2025年预算持平，主要用于。”"),
        ("wrong_scope_word", "wording", "单位预算中写作“部门预算”（应为“单位预算”）：“2026年部门预算安排购置车辆0辆。”"),
        ("same_year_comparison", "wording", "2026年预算与本年度自身比较（应与上年比较）：“年，某某局收入预算100.00万元，比2026年预算增加10.00万元，，主要原因是”"),
        ("doubled_punctuation", "wording", "标点重复：“年预算增加10.00万元，，主要原因是业务量增加。”"),
    ]


def test_kinds_all_have_a_category():
    assert set(KINDS) == set(CATEGORIES)
    assert set(CATEGORIES.values()) == {"arithmetic", "table_narrative", "missing", "wording"}


def _copy_of(stem):
    from copy import copy

    pd = copy(parsed_pdf(stem)[1])
    pd.facts, pd.tables = list(pd.facts), list(pd.tables)
    return pd


def test_three_public_formula_and_its_subtotal():
    """三公 合计 = 出国 + 接待 + 公车小计 and 小计 = 购置费 + 运行费, on the three-level header (a cell changed)."""
    from dataclasses import replace

    pd = _copy_of("putuo_wanli_street_2024_budget")
    pd.facts = [replace(f, value_text="26.00", value=26.0) if f.col_path[-1:] == ("购置费",) and "三公" in f.table_title
                else f for f in pd.facts]
    msgs = [f.message for f in check_document(pd) if f.kind == "total_mismatch"]
    assert msgs == ["部门“三公”经费和机关运行经费预算表：合计行「2024年三公经费预算数 > 公务用车购置及运行费 > 小计」为 46.56 万元，"
                    "「购置费」、「运行费」之和为 47.56 万元，相差 1.00 万元"]


def test_empty_table_without_explanation_and_required_table():
    from dataclasses import replace

    pd = _copy_of("putuo_gov_office_2025_budget")
    pd.tables = [replace(t, note="") if "政府性基金" in t.title else t for t in pd.tables]
    pd.tables = [t for t in pd.tables if "三公" not in t.title]
    pd.document = replace(pd.document, path=str(PDF_DIR / "absent.pdf"))  # no source to find the title in
    found = {(f.kind, f.category, f.message) for f in check_document(pd)}
    assert ("empty_table_unexplained", "missing",
            "2025年部门政府性基金预算支出功能分类预算表：表中没有数字，表注和说明都未说明为空表的原因") in found
    assert ("required_table_missing", "missing",
            "预算公开应有的“三公经费和机关运行经费预算表”在文件中未找到（已有 8 张标准表）") in found


def test_grand_total_is_the_year_total_plus_carry_overs():
    """收入支出决算总表: 总计 = 本年收入合计 + 使用非财政拨款结余 + 年初结转和结余 (a cell changed)."""
    from dataclasses import replace

    pd = _copy_of("putuo_social_work_dept_2024_final_accounts")
    pd.facts = [replace(f, value_text="308.82", value=308.82)
                if f.label == "总计" and f.table_title == "收入支出决算总表" and f.col_path == ("收入", "决算数") else f
                for f in pd.facts]
    found = [(f.kind, f.message) for f in check_document(pd) if "收入支出决算总表" in f.message]
    assert found == [("total_mismatch", "收入支出决算总表：总计 308.82 万元，本年收入合计为 307.82 万元，不相等")]
