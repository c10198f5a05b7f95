"""``budget-qa check``: consistency findings on real disclosures (the seed and ../shared/corpus-extra),
on copies of the seed with one printed figure changed (each rule's mechanism), and on small documents
written under tmp_path (a clean one, and 元 tables against 万元 sentences); the CLI's output and exit
codes."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from assistant.check import KINDS, Finding, check_document
from assistant.parsing.document import parse_file

from .conftest import PROJECT_ROOT, SEED, SHARED

EXTRA = SHARED / "corpus-extra"
DOC02 = EXTRA / "02_shanghai_putuo_shiquanlu_street_2026_unit_budget.txt"
DOC03 = EXTRA / "03_shanghai_putuo_ecology_env_bureau_2025_final_accounts.txt"
DOC05 = EXTRA / "05_fujian_pingtan_economic_dev_bureau_2018_budget.txt"
DOC06 = EXTRA / "06_fujian_pingtan_market_supervision_2016_final_accounts.txt"
NEEDS_EXTRA = pytest.mark.skipif(not EXTRA.exists(), reason="../shared/corpus-extra is not beside this checkout")
SEED_TITLE = "2023年度中共济源产城融合示范区工作委员会办公室部门预算说明"
SEED_ID = "000_2134ace919fae625"
SEED_ABSENT = ["部门收入预算表", "支出经济分类汇总表"]


def check(path: Path) -> list[Finding]:
    return check_document(parse_file(path))


def of_kind(findings: list[Finding], kind: str) -> list[Finding]:
    return [f for f in findings if f.kind == kind]


def found(findings: list[Finding]) -> list[tuple[str, str]]:
    """(kind, message) of every finding except the seed's absent tables."""
    return [(f.kind, f.message) for f in findings if f.kind != "missing_table"]


def seed_with(tmp_path: Path, *changes: tuple[int, str, str]) -> Path:
    """A copy of the seed with ``old`` replaced by ``new`` (once) on the given 1-based lines."""
    lines = SEED.read_text(encoding="utf-8").split("\n")
    for line, old, new in changes:
        assert old in lines[line - 1], (line, lines[line - 1])
        lines[line - 1] = lines[line - 1].replace(old, new, 1)
    path = tmp_path / "seed_changed.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


# --------------------------------------------------------------------------- a clean document

_ROWS = [  # (类, 款, 项, name, 合计, 基本支出小计, 人员经费, 公用经费, 项目支出), in 万元
    ("", "", "", "合计", "300.00", "200.00", "150.00", "50.00", "100.00"),
    ("201", "", "", "一般公共服务支出", "260.00", "160.00", "120.00", "40.00", "100.00"),
    ("201", "03", "", "政府办公厅（室）及相关机构事务", "260.00", "160.00", "120.00", "40.00", "100.00"),
    ("201", "03", "01", "行政运行", "160.00", "160.00", "120.00", "40.00", ""),
    ("201", "03", "02", "一般行政管理事务", "100.00", "", "", "", "100.00"),
    ("221", "", "", "住房保障支出", "40.00", "40.00", "30.00", "10.00", ""),
    ("221", "02", "", "住房改革支出", "40.00", "40.00", "30.00", "10.00", ""),
    ("221", "02", "01", "住房公积金", "40.00", "40.00", "30.00", "10.00", ""),
]
_SENTENCE = ("示例单位 2024 年支出合计 300.00 万元，其中：基本支出 200.00 万元，占 66.67%；"
             "项目支出 100.00 万元，占 33.33%。")


def write_disclosure(path: Path, sentence: str = _SENTENCE, unit: str = "万元",
                     rows: list[tuple[str, ...]] = _ROWS) -> Path:
    """A small disclosure: title, contents listing one table, a narrative sentence with shares, and
    that table (tab-separated, 类/款/项 codes, 基本支出 > 小计/人员经费/公用经费, 项目支出)."""
    def cell(text: str) -> str:  # 元 tables print whole numbers with thousands separators
        return f"{round(float(text) * 10000):,}" if unit == "元" and text else text

    table = ["科目编码\t\t\t科目名称\t合计\t基本支出\t\t\t项目支出", "类\t款\t项\t\t\t小计\t人员经费\t公用经费\t"]
    table += ["\t".join(list(r[:4]) + [cell(x) for x in r[4:]]) for r in rows]
    lines = ["", "2024年度示例单位部门预算说明", "", "目 录", "",
             "第一部分 示例单位 2024 年度部门预算情况说明", "", "第二部分 预算表格", "",
             "- 一、部门支出预算表", "",
             "第一部分 示例单位 2024 年度部门预算情况说明", "", "一、支出预算总体情况说明", "",
             sentence, "", "第二部分 预算表格", "",
             "2024 年部门支出预算表", "", "部门名称：示例单位", "", f"单位：{unit}", "",
             *table, ""]
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def test_clean_document_has_no_findings(tmp_path):
    parsed = parse_file(write_disclosure(tmp_path / "clean.txt"))
    # the document is read as intended, so that “no findings” means the checks ran and passed
    assert parsed.document.listed_tables == ("部门支出预算表",)
    assert [t.title for t in parsed.tables] == ["2024 年部门支出预算表"]
    assert any(f.role == "share" for f in parsed.facts)
    assert check_document(parsed) == []


def test_classification_levels_add_up(tmp_path):
    rows = list(_ROWS)
    rows[2] = rows[2][:4] + ("261.00",) + rows[2][5:]  # 20103 合计 one more than its 项 and its 类
    got = found(check(write_disclosure(tmp_path / "d.txt", rows=rows)))
    assert got == [
        ("total_mismatch", "2024 年部门支出预算表：201 一般公共服务支出「合计」为 260.00 万元，"
                           "下级科目（20103）之和为 261.00 万元，相差 1.00 万元"),
        ("total_mismatch", "2024 年部门支出预算表：20103 政府办公厅（室）及相关机构事务「合计」为 261.00 万元，"
                           "下级科目（2010301、2010302）之和为 260.00 万元，相差 1.00 万元"),
        ("total_mismatch", "2024 年部门支出预算表：20103 政府办公厅（室）及相关机构事务「合计」为 261.00 万元，"
                           "「基本支出」、「项目支出」之和为 260.00 万元，相差 1.00 万元"),
    ]


def test_what_was_not_read_cleanly_is_not_reported(tmp_path):
    # a row whose code and name were lost: the classification levels around it are not checked
    rows = list(_ROWS)
    rows[2] = ("", "", "", "") + rows[2][4:]
    assert check(write_disclosure(tmp_path / "a.txt", rows=rows)) == []
    # a whole number among two-decimal amounts (a code or a shifted cell read as an amount)
    rows = list(_ROWS)
    rows[3] = rows[3][:6] + ("121",) + rows[3][7:]
    assert check(write_disclosure(tmp_path / "b.txt", rows=rows)) == []


def test_yuan_table_against_wanyuan_sentence(tmp_path):
    # 1,000,000 元 = 100.00 万元: compared at the coarser unit's precision (0.005 万元)
    assert check(write_disclosure(tmp_path / "a.txt", unit="元")) == []
    off = _SENTENCE.replace("项目支出 100.00 万元", "项目支出 100.01 万元")
    got = check(write_disclosure(tmp_path / "b.txt", sentence=off, unit="元"))
    assert found(got) == [("table_narrative_mismatch",
                           "项目支出：说明文字为 100.01 万元，2024 年部门支出预算表（合计行「项目支出」）为 "
                           "1,000,000 元，相差 0.01 万元")]
    assert got[0].citations[1] == ("2024 年部门支出预算表 · 合计 · 项目支出", 28, None)


# --------------------------------------------------------------------------- the seed


def test_seed_reports_exactly_the_absent_listed_tables():
    parsed = parse_file(SEED)
    findings = check_document(parsed)
    assert [f.kind for f in findings] == ["missing_table"] * len(SEED_ABSENT)
    assert [f.message for f in findings] == [f"目录列出的“{t}”在文件中未找到" for t in SEED_ABSENT]
    assert [f.citations for f in findings] == [[("目录 · 部门收入预算表", 19, None)],
                                               [("目录 · 支出经济分类汇总表", 24, None)]]
    # every other listed table was parsed under its title
    assert set(parsed.document.listed_tables) - set(SEED_ABSENT) and len(parsed.document.listed_tables) == 13


def test_total_row_and_total_column_mechanism(tmp_path):
    # 部门支出预算表, 行政运行: 合计 991.80 → 991.90 (its parts and the other table keep 991.80)
    findings = check(seed_with(tmp_path, (234, "991.80", "991.90")))
    assert found(findings) == [
        ("total_mismatch", "2023 年部门支出预算表：合计行为 1,990.50 万元，各科目（2013101…2210201，共 7 项）"
                           "之和为 1,990.60 万元，相差 0.10 万元"),
        ("total_mismatch", "2023 年部门支出预算表：001 中共济源产城融合示范区工作委员会办公室「合计」为 1,990.50 万元，"
                           "各科目（2013101…2210201，共 7 项）之和为 1,990.60 万元，相差 0.10 万元"),
        ("total_mismatch", "2023 年部门支出预算表：2013101 行政运行「合计」为 991.90 万元，"
                           "「基本支出」、「项目支出」之和为 991.80 万元，相差 0.10 万元"),
        ("cross_table_mismatch", "2013101 行政运行：2023 年部门支出预算表为 991.90 万元，"
                                 "2023 年一般公共预算支出预算表为 991.80 万元，相差 0.10 万元"),
    ]
    cross = of_kind(findings, "cross_table_mismatch")[0]
    assert cross.citations == [("2023 年部门支出预算表 · 2013101 行政运行 · 合计", 234, None),
                               ("2023 年一般公共预算支出预算表 · 2013101 行政运行 · 合计", 306, None)]


def test_group_subtotal_mechanism(tmp_path):
    # 工资福利支出 841.80 → 842.80: 基本支出 > 小计 no longer adds up, nor does the column's 合计
    got = found(check(seed_with(tmp_path, (234, "841.80", "842.80"))))
    assert ("total_mismatch", "2023 年部门支出预算表：2013101 行政运行「基本支出 > 小计」为 991.80 万元，"
                              "「人员经费」、「公用经费」之和为 992.80 万元，相差 1.00 万元") in got
    assert ("total_mismatch", "2023 年部门支出预算表：合计行「基本支出 > 人员经费 > 工资福利支出」为 1,534.70 万元，"
                              "各科目（2013101、2013150、2080505、2210201）之和为 1,535.70 万元，相差 1.00 万元") in got
    assert ("cross_table_mismatch", "2013101 行政运行「工资福利支出」：2023 年部门支出预算表为 842.80 万元，"
                                    "2023 年一般公共预算支出预算表为 841.80 万元，相差 1.00 万元") in got


def test_economic_class_vs_its_items_mechanism(tmp_path):
    # 一般公共预算基本支出表: 30101 基本工资 290.80 → 290.90 in both columns; 301 stays 1,534.70
    got = found(check(seed_with(tmp_path, (326, "290.80\t290.80", "290.90\t290.90"))))
    assert [k for k, _ in got] == ["total_mismatch", "total_mismatch"]
    assert got[0][1] == ("一般公共预算基本支出表：301 工资福利支出「本年一般公共预算基本支出 > 合计」为 1,534.70 万元，"
                         "下级科目（30101…30113，共 8 项）之和为 1,534.80 万元，相差 0.10 万元")


def test_table_vs_narrative_mechanism(tmp_path):
    # the sentence says 项目支出 187.10 (tables: 187.00); its share 9.39% is still within 0.01 points
    findings = check(seed_with(tmp_path, (95, "项目支出 187.00 万元", "项目支出 187.10 万元")))
    assert found(findings) == [
        ("table_narrative_mismatch", "项目支出：说明文字为 187.10 万元，2023 年部门支出预算表（合计行「项目支出」）为 "
                                     "187.00 万元，相差 0.10 万元"),
        ("table_narrative_mismatch", "项目支出：说明文字为 187.10 万元，2023 年一般公共预算支出预算表（合计行「项目支出」）为 "
                                     "187.00 万元，相差 0.10 万元"),
    ]
    section = "第二部分 中共济源产城融合示范区工作委员会办公室 2023 年度部门预算情况说明 > 三、支出预算总体情况说明"
    assert findings[0].citations == [(f"{section} · 项目支出", 95, None),
                                     ("2023 年部门支出预算表 · 合计 · 项目支出 > 小计", 232, None)]


def test_stated_share_mechanism(tmp_path):
    got = found(check(seed_with(tmp_path, (95, "占 90.61%", "占 90.71%"))))
    assert got == [("share_mismatch", "基本支出占支出合计的比重：文中为 90.71%，按 1803.50 万元 ÷ 1990.50 万元 计算应为 90.61%")]


def test_stated_rate_of_change_mechanism(tmp_path):
    got = found(check(seed_with(tmp_path, (133, "下降 1.82%", "下降 1.92%"))))
    assert got == [("share_mismatch", "机关运行经费支出预算的增减幅度：文中为下降 1.92%，按 2.80 万元 ÷ 153.90 万元"
                                      "（151.10 万元 + 2.80 万元） 计算应为下降 1.82%")]


# --------------------------------------------------------------------------- other real documents


@NEEDS_EXTRA
def test_real_total_not_the_sum_of_its_columns_03():
    # 一般公共预算财政拨款支出决算表: 合计 4,733.14 = 基本支出 3,365.38 + 项目支出 1,367.75 = 4,733.13
    msgs = [f.message for f in of_kind(check(DOC03), "total_mismatch")]
    assert ("一般公共预算财政拨款支出决算表：合计行为 4,733.14 万元，「基本支出」、「项目支出」之和为 4,733.13 万元，"
            "相差 0.01 万元") in msgs
    # 支出决算表: 项目支出 合计 1,367.76 over 类 rows adding up to 1,367.75
    assert any(m.startswith("支出决算表：合计行") and "1,367.76 万元" in m and "1,367.75 万元" in m for m in msgs), msgs


@NEEDS_EXTRA
def test_real_detail_sum_under_stated_total_03():
    # 一般公共预算财政拨款基本支出决算表: 310 资本性支出 14.44, its items add up to 14.43
    msgs = [f.message for f in of_kind(check(DOC03), "total_mismatch")]
    assert any("310 资本性支出" in m and "14.44 万元" in m and "14.43 万元" in m for m in msgs), msgs


@NEEDS_EXTRA
def test_real_item_differs_between_two_tables_03():
    # 项目支出: 1,367.76 in 支出决算表, 1,367.75 in 一般公共预算财政拨款支出决算表
    msgs = [f.message for f in of_kind(check(DOC03), "cross_table_mismatch")]
    assert any("项目支出" in m and "1,367.76 万元" in m and "1,367.75 万元" in m for m in msgs), msgs


@NEEDS_EXTRA
def test_real_table_differs_from_narrative_03():
    findings = of_kind(check(DOC03), "table_narrative_mismatch")
    assert ("项目支出：说明文字为 1367.76 万元，一般公共预算财政拨款支出决算表（合计行「项目支出」）为 1,367.75 万元，"
            "相差 0.01 万元") in [f.message for f in findings]


@NEEDS_EXTRA
def test_real_stated_rate_does_not_match_its_amounts_02():
    # 执行数 124.27 万元 → 预算安排 130.95 万元 is +5.38%, the sentence says 增加 5.40%
    findings = of_kind(check(DOC02), "share_mismatch")
    assert [f.message for f in findings] == [
        "社会保障和就业支出（类）-其他社会保障和就业支出（款）-其他社会保障和就业支出（项）预算安排的增减幅度：文中为增长 5.40%，按 (130.95 万元 − 124.27 万元) ÷ 124.27 万元 计算应为增长 5.38%"]
    assert all(c[2] == 9 for c in findings[0].citations)  # page of the sentence


@NEEDS_EXTRA
def test_real_stated_rate_does_not_match_its_amounts_06():
    # 7.54 万元, 减少 1.41 万元: 1.41 ÷ 8.95 = 15.75% → 15.8%, the sentence says 下降 15.7%
    msgs = [f.message for f in of_kind(check(DOC06), "share_mismatch")]
    assert any("文中为下降 15.7%" in m and "计算应为下降 15.8%" in m for m in msgs), msgs


@NEEDS_EXTRA
def test_real_listed_tables_absent_and_present():
    # 06 names its tables but they were .xls attachments: absent from the text
    assert [f.message for f in of_kind(check(DOC06), "missing_table")] == ["目录列出的“收支决算总表”在文件中未找到"]
    # 02 and 03 print every listed table (two of 03's and one of 02's without figures: “本表无数据”),
    # and 02's contents entry “单位预算表” names the whole set of tables
    assert of_kind(check(DOC02), "missing_table") == []
    assert of_kind(check(DOC03), "missing_table") == []


@NEEDS_EXTRA
def test_real_document_without_inconsistencies_05():
    assert check(DOC05) == []


@NEEDS_EXTRA
def test_finding_contract():
    for path in (SEED, DOC02, DOC03, DOC05, DOC06):
        for f in check(path):
            assert f.kind in KINDS
            assert f.message and "\n" not in f.message
            assert 1 <= len(f.citations) <= 2
            # comparisons cite both sides; a missing part or a wording fault has one place
            assert len(f.citations) == (2 if f.category in ("arithmetic", "table_narrative") else 1)
            for locator, line, page in f.citations:
                assert locator and isinstance(line, int) and (page is None or isinstance(page, int))


# --------------------------------------------------------------------------- CLI

CLI = [sys.executable, "-m", "assistant.cli", "check"]


def run_check(*paths: Path) -> subprocess.CompletedProcess:
    return subprocess.run(CLI + [str(p) for p in paths], capture_output=True, text=True, cwd=PROJECT_ROOT,
                          env=dict(os.environ), timeout=300)


def test_cli_findings_exit_1():
    r = run_check(SEED)
    assert r.returncode == 1, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == f"== {SEED_TITLE} ({SEED_ID})"
    assert lines[1] == "[missing_table] 目录列出的“部门收入预算表”在文件中未找到 | 出处：目录 · 部门收入预算表 第19行"
    assert len(lines) == 3


def test_cli_clean_exit_0_and_folders(tmp_path):
    folder = tmp_path / "docs"
    folder.mkdir()
    write_disclosure(folder / "clean.txt")
    r = run_check(folder)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["== 2024年度示例单位部门预算说明 (clean)"]
    changed = seed_with(folder, (95, "占 90.61%", "占 90.71%"))
    r = run_check(folder)
    assert r.returncode == 1, r.stderr
    out = r.stdout.splitlines()
    assert out[0] == "== 2024年度示例单位部门预算说明 (clean)"
    assert out[1] == f"== {SEED_TITLE} ({changed.stem})"
    section = "第二部分 中共济源产城融合示范区工作委员会办公室 2023 年度部门预算情况说明 > 三、支出预算总体情况说明"
    assert out[2] == ("[share_mismatch] 基本支出占支出合计的比重：文中为 90.71%，按 1803.50 万元 ÷ 1990.50 万元 "
                      f"计算应为 90.61% | 出处：{section} · 基本支出 第95行 ↔ {section} · 支出合计 第95行")
    assert [l.split("]")[0] for l in out[3:]] == ["[missing_table"] * 2


def test_cli_errors_exit_2(tmp_path):
    r = run_check(tmp_path / "nope.txt")
    assert r.returncode == 2
    assert r.stderr.startswith("错误：") and r.stdout == ""
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    clean = write_disclosure(tmp_path / "clean.txt")
    r = run_check(empty, clean)  # the readable document is still reported
    assert r.returncode == 2
    assert "错误：" in r.stderr and "empty.txt" in r.stderr
    assert r.stdout.splitlines() == ["== 2024年度示例单位部门预算说明 (clean)"]
