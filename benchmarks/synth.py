"""Synthetic disclosures in the seed's layout for scale benchmarks.

Each document is the seed with another department name and year, and every amount multiplied by an
integer factor, so that every total still equals the sum of its parts exactly (two-decimal amounts
times an integer stay exact) and every stated share is unchanged. Counts (辆, 个, 套) are kept.
"""
from __future__ import annotations

import re
from pathlib import Path

SEED_DEPT = "中共济源产城融合示范区工作委员会办公室"
_AMOUNT = re.compile(r"(?<![\d.])(\d{1,3}(?:,\d{3})+\.\d{2}|\d+\.\d{2})(?![\d%])")
_PLACES = ["东城", "西城", "南湖", "北山", "江岸", "河口", "青山", "白沙", "金水", "石门"]
_DEPTS = ["财政局", "教育局", "民政局", "交通运输局", "卫生健康委员会", "生态环境局", "文化和旅游局", "统计局",
          "司法局", "审计局"]


def department(i: int) -> str:
    """A distinct department name for document i (10 places × 10 departments × serial)."""
    return f"{_PLACES[i % 10]}区{_DEPTS[(i // 10) % 10]}第{i // 100 + 1}分局"


def _scale(text: str, factor: int) -> str:
    def repl(m: re.Match) -> str:
        raw = m.group(1)
        value = round(float(raw.replace(",", "")) * factor, 2)
        return f"{value:,.2f}" if "," in raw else f"{value:.2f}"

    # percentages ("9.39%") are left as they are: the amounts scale together
    return _AMOUNT.sub(repl, text)


def generate(seed: Path, out_dir: Path, n: int) -> list[Path]:
    """Write n synthetic disclosures into out_dir; returns their paths."""
    text = Path(seed).read_text(encoding="utf-8")
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n):
        year = 2015 + i % 10
        doc = _scale(text, 1 + i % 5).replace(SEED_DEPT, department(i))
        doc = re.sub(r"2023(\s*)年", lambda m: f"{year}{m.group(1)}年", doc)
        doc = re.sub(r"2022(\s*)年", lambda m: f"{year - 1}{m.group(1)}年", doc)
        p = out_dir / f"synth_{i:04d}.txt"
        p.write_text(doc, encoding="utf-8")
        paths.append(p)
    return paths
