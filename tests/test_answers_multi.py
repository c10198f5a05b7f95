"""Several disclosures in one index (the seed + ../shared/corpus-extra): questions are scoped by the
department or year they name, answered per document otherwise, and graded by the shared gold sets."""
from __future__ import annotations

import subprocess
import sys

import pytest

from .conftest import SEED, SHARED
from .test_cli import run

EXTRA = SHARED / "corpus-extra"
pytestmark = pytest.mark.skipif(not EXTRA.exists(), reason="../shared/corpus-extra is not beside this checkout")


@pytest.fixture(scope="module")
def multi(tmp_path_factory, data_dir):
    from assistant.config import Settings
    from assistant.engine import Assistant
    from assistant.ingest import ingest

    s = Settings.from_env().with_(index_dir=tmp_path_factory.mktemp("multi-index"), data_dir=data_dir)
    ingest([SEED, EXTRA], s)
    return s, Assistant.open(s, build_if_missing=False)


def test_question_naming_a_department_by_short_form(multi):
    _, a = multi
    ans = a.ask("普陀区生态环境局2025年三公经费决算数是多少")
    assert len(ans.parts) == 1
    assert ans.answer.startswith("三公经费财政拨款支出决算 16.95 万元")
    assert {c.doc_id for c in ans.citations} == {"03_shanghai_putuo_ecology_env_bureau_2025_final_accounts"}


def test_unscoped_question_answers_per_document(multi):
    _, a = multi
    ans = a.ask("项目支出是多少")
    lines = ans.answer.splitlines()
    assert len(lines) == 5
    assert lines[0].startswith("【中共济源产城融合示范区工作委员会办公室 2023年部门预算】项目支出 187.00 万元")
    assert lines[1].startswith("【上海市普陀区人民政府石泉路街道办事处（本级） 2026年单位预算】项目支出 49,388,144 元")
    assert len({c.doc_id for c in ans.citations}) == 5


def test_unit_conversion_shows_formula(multi):
    _, a = multi
    ans = a.ask("石泉路街道差旅费是多少万元")
    assert ans.kind == "computed"
    assert ans.formula == "50,000 元 = 5.00 万元"
    assert ans.citations[0].locator.startswith("2026年预算单位一般公共预算基本支出部门预算经济分类预算表 · 30211 差旅费")


def test_completion_rate_stated_and_computed(multi):
    _, a = multi
    stated = a.ask("普陀区生态环境局三公经费完成预算的比例")
    # 决算数 ÷ 年初预算 of the budget model's 三公经费, checked against the rate the sentence states
    assert stated.answer == ("三公经费决算数 16.95 万元[1]，年初预算 21.00 万元[1]，完成年初预算的 80.71%"
                             "（16.95 ÷ 21.00 × 100% = 80.71%，与文件所述一致[1]）。")
    parts = a.ask("普陀区生态环境局2025年三公经费年初预算和决算分别是多少")
    assert [p.answer.split("[")[0] for p in parts.parts] == ["三公经费财政拨款支出年初预算 21.00 万元",
                                                             "三公经费财政拨款支出决算 16.95 万元"]


def test_sum_of_parts_when_the_whole_is_not_stated(multi):
    _, a = multi
    ans = a.ask("平潭经济发展局2018年三公经费一共多少")
    assert ans.kind == "computed"
    assert ans.formula == "三公经费 = 10 + 7.6 + 10 = 27.6 万元"


def test_budget_question_is_not_answered_from_final_accounts(multi):
    _, a = multi
    ans = a.ask("2024年的三公经费预算是多少？")
    assert ans.kind == "not_found"


@pytest.mark.parametrize("gold, expected", [("extra_gold", "19 passed, 0 failed"),
                                            ("seed_gold", "40 passed, 0 failed")])
def test_gold_sets_on_the_multi_document_index(multi, tmp_path, gold, expected):
    settings, _ = multi
    checker = SHARED / "eval" / "check_answers.py"
    gold_path = SHARED / "eval" / f"{gold}.jsonl"
    q = subprocess.run([sys.executable, str(checker), "questions", str(gold_path)], capture_output=True,
                       text=True, check=True).stdout
    r = run(["ask", "--json", "--index", str(settings.index_dir)], stdin=q)
    ans = tmp_path / "a.jsonl"
    ans.write_text(r.stdout, encoding="utf-8")
    g = subprocess.run([sys.executable, str(checker), str(gold_path), str(ans)], capture_output=True, text=True)
    assert g.stdout.strip().splitlines()[-1] == expected, g.stdout


def test_a_part_is_never_given_as_the_whole(multi):
    """05 states 因公出国（境）经费, 公务接待费 and 公务用车购置及运行费 but no 三公经费 total: the answer
    is their sum with its formula and three citations, not the first part's 10 万元."""
    _, a = multi
    ans = a.ask("平潭经济发展局2018年三公经费预算是多少？")
    assert ans.kind == "computed"
    assert ans.formula == "三公经费 = 10 + 7.6 + 10 = 27.6 万元"
    assert ans.answer.startswith("文件未直接给出三公经费合计，按其组成部分相加：三公经费 27.6 万元（因公出国（境）经费预算安排 10 万元[1]；")
    assert [c.locator.split(" > ")[-1].strip() for c in ans.citations] == [
        "（一）因公出国（境）经费", "（三）公务用车购置及运行费", "（二）公务接待费"]
    part = a.ask("平潭经济发展局2018年因公出国（境）经费预算是多少？")  # the part itself is still answered
    assert part.kind == "figure" and part.answer.startswith("因公出国（境）经费预算安排 10 万元[1]")


def test_narrative_label_without_the_departments_short_name(multi):
    """05 says “2018年区经济发展局政府采购预算总额256.1万元，其中：政府购买服务项目采购预算额180万元”:
    the total is found by its own name (the short form of the department is not part of the label)."""
    _, a = multi
    ans = a.ask("平潭经济发展局2018年政府采购预算总额是多少？")
    assert ans.answer == "政府采购预算总额 256.1 万元[1]。"
    assert ans.citations[0].locator.strip().endswith("九、其他重要事项说明 > （二）政府采购情况")


def test_share_of_the_named_parent_uses_the_row_total(multi):
    """02 has no 支出合计 row label: 项目支出 占 总支出 is the 支出总计 of the budget model (the 合计 row of
    the 支出预算总表, the same figure as the row's own 合计 column)."""
    _, a = multi
    ans = a.ask("石泉路街道项目支出占总支出的比例")
    assert ans.answer == ("项目支出 49,388,144 元[1]，占支出总计 76,306,134 元[2]的 64.72%"
                          "（49,388,144 ÷ 76,306,134 × 100% = 64.72%）。")


@pytest.mark.parametrize("question, answer", [
    ("平潭经济发展局2018年车辆有几辆", "共有车辆 2 辆[1]。"),
    ("平潭市场监督管理局2016年有几辆车", "共有车辆 16 辆[1]。"),
    # money asked, the sentence's count (共设置绩效目标 6 个) must not answer it
    ("平潭经济发展局2018年绩效目标涉及资金", "绩效目标涉及财政拨款资金 835.2 万元[1]。"),
    ("平潭经济发展局2018年设置了几个绩效目标", "共设置绩效目标 6 个[1]。"),
])
def test_counts_and_amounts_of_web_page_sentences(multi, question, answer):
    _, a = multi
    assert a.ask(question).answer == answer


@pytest.mark.parametrize("question, org", [
    ("上海市普陀区教育局2025年三公经费是多少？", "上海市普陀区教育局"),  # a sibling of 上海市普陀区生态环境局
    ("上海市普陀区民政局2025年一般公共预算财政拨款支出是多少？", "上海市普陀区民政局"),
])
def test_an_organisation_not_loaded_gets_no_figure(multi, question, org):
    _, a = multi
    ans = a.ask(question)
    assert (ans.kind, ans.answer) == ("not_found", f"未找到：已载入的文件中没有“{org}”的预算公开文件，无法回答它的数字。")
    assert ans.citations == []


@pytest.mark.parametrize("question, answer", [
    ("上海市普陀区生态环境局2025年三公经费是多少？", "三公经费财政拨款支出决算 16.95 万元[1]。"),
    ("福建省平潭综合实验区市场监督管理局2016年三公经费", "三公经费公共财政拨款支出 66.81 万元[1]。"),
    ("上海市普陀区石泉路街道办事处2026年三公经费", "三公经费预算数 8.53 万元[1]。"),
])
def test_a_loaded_department_named_in_full_or_with_its_province(multi, question, answer):
    _, a = multi
    assert a.ask(question).answer == answer


def test_too_many_documents_for_one_answer_asks_to_narrow(multi, monkeypatch):
    """Over MAX_DOCUMENTS_PER_ANSWER documents in scope, a question naming none of them gets a request
    to name a department or year (not hundreds of parts); naming one still answers it."""
    _, a = multi
    monkeypatch.setattr(a, "MAX_DOCUMENTS_PER_ANSWER", 3)
    ans = a.ask("项目支出是多少")
    assert ans.kind == "not_found" and ans.citations == [] and ans.facts == []
    assert ans.answer.startswith("未找到：这个问题没有指明部门或年份，而范围内有 5 份文件（一次最多分别回答 3 份）。"
                                 "请加上部门名称或年份再问，例如“")
    assert a.ask("石泉路街道项目支出是多少").answer.startswith("项目支出 49,388,144 元[1]")
    assert a.ask("你好").kind == "out_of_scope"
