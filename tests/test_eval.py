"""``budget-qa eval``: per-kind accuracy, failures with expected vs given figures, exit codes, and the
plain LangChain baseline scored side by side (real embedder, real Chroma)."""
from __future__ import annotations

import json

import pytest

from assistant.evaluation import grade, grade_passages, has_number, numbers

from .conftest import SHARED
from .test_cli import cli_index, run  # noqa: F401  (module fixture reused)


def test_grading_rules():
    assert has_number(numbers("项目支出 187.00 万元，占 9.39%"), "9.39%")
    assert not has_number(numbers("共 27"), "27")            # a small count needs its unit
    assert has_number(numbers("共有车辆 27 辆[1]"), "27")
    case = {"id": "x", "q": "?", "kind": "figure", "numbers": ["3.50"], "cite": "公务接待"}
    out = {"answer": "公务接待费 3.50 万元[1]。", "kind": "figure", "citations": [{"locator": "（二）公务接待费"}]}
    assert grade(case, out) == []
    assert grade(case, {**out, "answer": "3.05 万元"}) == ["missing figure 3.50"]
    assert grade_passages({"kind": "figure", "numbers": ["1990.50"]}, ["收入总计 1,990.50 万元"])


def test_eval_command_on_the_seed_gold(cli_index, tmp_path):  # noqa: F811
    gold = SHARED / "eval" / "seed_gold.jsonl"
    if not gold.exists():
        pytest.skip("../shared/eval is not beside this checkout")
    r = run(["eval", str(gold), "--index", str(cli_index), "--no-baseline"])
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[:2] == ["## seed_gold.jsonl: 40 passed, 0 failed",
                                         "three-way: 40 right, 0 abstained, 0 wrong of 40 (wrong 0%)"]
    assert "| all | 40 | 40/40 | — | — |" in r.stdout


def test_eval_reports_failures_and_the_baseline(cli_index, tmp_path):  # noqa: F811
    gold = tmp_path / "mini.jsonl"
    cases = [{"id": "m1", "q": "三公经费预算是多少？", "kind": "figure", "numbers": ["25.50"], "cite": "三公"},
             {"id": "m2", "q": "什么是三公经费？", "kind": "definition", "text_all": ["公务接待"]},
             {"id": "m3", "q": "项目支出是多少", "kind": "figure", "numbers": ["188.00"]}]
    gold.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in cases), encoding="utf-8")
    r = run(["eval", str(gold), "--index", str(cli_index)])
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[0] == "## mini.jsonl: 2 passed, 1 failed"
    # 187.00 given where 188.00 was expected: a wrong figure, not an abstention
    assert lines[1] == "three-way: 2 right, 0 abstained, 1 wrong of 3 (wrong 33%)"
    assert lines[2] == "| kind | cases | budget-qa | baseline top-1 | baseline top-3 |"
    assert any(l.startswith("| definition | 1 | 1/1 |") for l in lines)
    assert any(l.startswith("WRONG m3 项目支出是多少 -> missing figure 188.00 | got: '项目支出 187.00 万元") for l in lines)
