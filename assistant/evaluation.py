"""Evaluation on gold files (the format of ``../shared/eval/*.jsonl``) for budget-qa and for a plain
LangChain RAG baseline over the same documents.

Gold case: ``{"id", "q" | "turns", "kind", "numbers"?, "forbid_numbers"?, "text_all"?, "text_any"?,
"pairs"?, "lead"?, "cite"?}``. The grading rules follow the shared checker (check_answers.py):
figures are matched by value (thousands separators ignored, ±0.0051), percentages only as
percentages, small counts and zeros only with a unit word after them, a maximum only when the
expected item is named before its rivals, and a figure answer needs citations.

The baseline is what "just use LangChain + Chroma" gives: RecursiveCharacterTextSplitter chunks of
the raw text, the same embedder, Chroma similarity search top-k, no tables, no rules. It is scored on
whether its top-1 / top-3 chunks contain each expected figure or text; a computed figure absent from
every chunk is a miss, as it would be for its users.
"""
from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

NUM = re.compile(r"(?<![\d.])(\d[\d,]*(?:\.\d+)?)\s*(%|％)?")
UNIT_AFTER = re.compile(r"\s*(万元|亿元|元|个|辆|套|台|人|名|件|项|种|份|批|场|天|次|期|%|％)")
MARKERS = re.compile(r"\[\^?\d+\]|【\d+】|\(\d+\)|（\d+）|[①-⑳]")
NOT_FOUND = re.compile(r"未找到|没有找到|找不到|不包含|未包含|无相关|未提供|没有提供|未公开|为空|无数据|未列|未编列|"
                       r"未安排|没有安排|没有.{0,12}(数据|信息|记录)|无法回答|not found", re.I)


def load_gold(path: Path) -> list[dict]:
    """Cases of a gold file; raises ValueError naming the line for malformed JSON."""
    cases = []
    for i, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            try:
                cases.append(json.loads(line))
            except json.JSONDecodeError as exc:
                raise ValueError(f"{path} 第 {i} 行不是 JSON：{exc.msg}") from exc
    return cases


def numbers(text: str) -> list[tuple[float, bool, bool]]:
    """(value, is_percent, has_unit) for every number in a text (citation markers removed)."""
    text = MARKERS.sub(" ", text or "")
    out = []
    for m in NUM.finditer(text):
        try:
            v = float(m.group(1).replace(",", ""))
        except ValueError:
            continue
        out.append((v, bool(m.group(2)), bool(m.group(2)) or bool(UNIT_AFTER.match(text, m.end(1)))))
    return out


def has_number(found, want) -> bool:
    """Whether an expected figure ("187.00", "9.39%", or a list of alternatives) is among ``found``."""
    if isinstance(want, list):
        return any(has_number(found, w) for w in want)
    pct = want.endswith("%")
    v = float(want.rstrip("%").replace(",", ""))
    needs_unit = v == 0 or (v < 1000 and "." not in want and not pct)
    return any(abs(x - v) < 0.0051 and (is_pct or not pct) and (has_unit or not needs_unit)
               for x, is_pct, has_unit in found)


def grade(case: dict, out: dict) -> list[str]:
    """Reasons a budget-qa answer fails a case (empty list = passed)."""
    why: list[str] = []
    ans = out.get("answer") or ""
    kind = out.get("kind") or ""
    cites = json.dumps(out.get("citations") or [], ensure_ascii=False)
    found = numbers(ans)
    k = case.get("kind", "figure")
    if k == "not_found":
        if kind != "not_found" and not NOT_FOUND.search(ans):
            why.append(f"expected not_found, got kind={kind!r}")
        why += [f"gave figure {n} from another scope" for n in case.get("forbid_numbers", []) if has_number(found, n)]
        return why
    if k == "figure_or_not_found" and (kind == "not_found" or NOT_FOUND.search(ans)):
        return why
    why += [f"missing figure {n}" for n in case.get("numbers", []) if not has_number(found, n)]
    why += [f"echoed forbidden figure {n}" for n in case.get("forbid_numbers", []) if has_number(found, n)]
    why += [f"missing text {t!r}" for t in case.get("text_all", []) if t not in ans]
    if case.get("text_any") and not any(t in ans for t in case["text_any"]):
        why.append(f"missing any of {case['text_any']}")
    lead = case.get("lead")
    if lead:
        pos = {n: ans.find(n) for n in [lead["expect"], *lead["rivals"]] if n in ans}
        if lead["expect"] not in pos or min(pos, key=pos.get) != lead["expect"]:
            why.append(f"{lead['expect']!r} is not the first item named")
    for name, want in case.get("pairs", []):
        text = MARKERS.sub(" ", ans)
        if not any(has_number(numbers(text[m.end():m.end() + 40]), want) for m in re.finditer(re.escape(name), text)):
            why.append(f"{want} not stated with {name!r}")
    if case.get("cite") and case["cite"] not in cites:
        why.append(f"no citation mentioning {case['cite']!r}")
    if k in ("figure", "ratio", "computed") and not out.get("citations"):
        why.append("figure without citations")
    return why


def grade_passages(case: dict, texts: list[str]) -> bool:
    """Baseline scoring: do these retrieved chunks contain every expected figure (by value) or, for
    definition/passage cases, the expected text? not_found cases pass when no forbidden figure shows."""
    joined = "\n".join(texts)
    plain = re.sub(r"(?<=\d),(?=\d{3})", "", joined)
    values = {round(float(x), 4) for x in re.findall(r"\d+(?:\.\d+)?", plain)}
    k = case.get("kind", "figure")

    def present(want) -> bool:
        if isinstance(want, list):
            return any(present(w) for w in want)
        return round(float(want.rstrip("%").replace(",", "")), 4) in values

    if k == "not_found":
        return not any(present(n) for n in case.get("forbid_numbers", []))
    ok = all(present(n) for n in case.get("numbers", []))
    ok = ok and all(t in joined for t in case.get("text_all", []))
    if case.get("text_any"):
        ok = ok and any(t in joined for t in case["text_any"])
    return ok


@dataclass
class CaseResult:
    """One graded case. ``outcome`` is three-way as the shared grader (grade3.py) counts it:
    "right", "abstained" (not_found / out_of_scope, or no figure given) or "wrong" (a figure that is
    not the one asked) — the outcome users of an exact-figures product cannot tolerate."""

    case_id: str
    kind: str
    question: str
    passed: bool
    reasons: list[str] = field(default_factory=list)
    answer: str = ""
    seconds: float = 0.0
    outcome: str = "right"


def outcome(passed: bool, out: dict) -> str:
    """right / abstained / wrong of one answer (see :class:`CaseResult`)."""
    if passed:
        return "right"
    figures = [n for n in numbers(out.get("answer") or "") if n[2]]
    if out.get("kind") in ("not_found", "out_of_scope") or not figures:
        return "abstained"
    return "wrong"


def three_way(results: list[CaseResult]) -> str:
    """"N right, N abstained, N wrong of N (wrong P%)" as grade3.py prints it."""
    n = len(results)
    r, a, w = (sum(x.outcome == o for x in results) for o in ("right", "abstained", "wrong"))
    return f"{r} right, {a} abstained, {w} wrong of {n} (wrong {100 * w / max(n, 1):.0f}%)"


def run_assistant(assistant, cases: list[dict]) -> list[CaseResult]:
    """Ask every case (multi-turn cases in their own conversation; graded on the last turn)."""
    results = []
    for case in cases:
        turns = case.get("turns") or [case["q"]]
        conv = f"eval-{case['id']}" if case.get("turns") else None
        t0 = time.perf_counter()
        out = {}
        for t in turns:
            try:
                out = assistant.ask(t, conversation=conv).to_dict()
            except Exception as exc:  # a crash is a failure of that case, not of the run
                out = {"answer": f"{type(exc).__name__}: {exc}", "kind": "error"}
        why = grade(case, out)
        results.append(CaseResult(case["id"], case.get("kind", "figure"), " / ".join(turns), not why, why,
                                  out.get("answer", ""), time.perf_counter() - t0, outcome(not why, out)))
    return results


class LangChainBaseline:
    """Plain RAG: RecursiveCharacterTextSplitter (500/50) over each document's raw text, embedded
    with the same embedder into an in-memory Chroma collection; similarity search top-k."""

    def __init__(self, paths: list[Path], embedder, chunk_size: int = 500, chunk_overlap: int = 50):
        import chromadb
        from chromadb.config import Settings as ChromaSettings
        from langchain_chroma import Chroma
        from langchain_text_splitters import RecursiveCharacterTextSplitter

        from .embedding import LangChainEmbeddings
        from .parsing.reader import read_source

        splitter = RecursiveCharacterTextSplitter(chunk_size=chunk_size, chunk_overlap=chunk_overlap)
        texts, metas = [], []
        for p in paths:
            src = read_source(p)
            for chunk in splitter.split_text("\n".join(src.lines)):
                texts.append(chunk)
                metas.append({"source": Path(p).name})
        client = chromadb.EphemeralClient(settings=ChromaSettings(anonymized_telemetry=False))
        self.store = Chroma(client=client, collection_name=f"baseline{id(self)}",
                            embedding_function=LangChainEmbeddings(embedder))
        self.store.add_texts(texts, metadatas=metas)
        self.n_chunks = len(texts)

    def search(self, question: str, k: int = 3) -> list[str]:
        return [d.page_content for d in self.store.similarity_search(question, k=k)]


def run_baseline(baseline: LangChainBaseline, cases: list[dict]) -> list[dict]:
    """Per case: whether top-1 and top-3 chunks contain the expected evidence, and the latency."""
    rows = []
    for case in cases:
        q = (case.get("turns") or [case["q"]])[-1] if not case.get("turns") else " ".join(case["turns"])
        t0 = time.perf_counter()
        top = baseline.search(q, k=3)
        dt = time.perf_counter() - t0
        rows.append({"id": case["id"], "kind": case.get("kind", "figure"), "top1": grade_passages(case, top[:1]),
                     "top3": grade_passages(case, top), "seconds": dt})
    return rows


KIND_GROUPS = ("figure", "ratio", "computed", "list", "definition", "passage")


def kind_group(case_kind: str) -> str:
    """The report row of a case kind (figure_or_not_found counts with not_found)."""
    return "not_found" if case_kind in ("not_found", "figure_or_not_found") else case_kind


def summary_table(ours: list[CaseResult], base: list[dict] | None = None) -> str:
    """A Markdown table: per kind, budget-qa accuracy and the baseline's top-1/top-3 hit rates."""
    kinds = [k for k in KIND_GROUPS + ("not_found",) if any(kind_group(r.kind) == k for r in ours)]
    head = "| kind | cases | budget-qa | baseline top-1 | baseline top-3 |\n|---|---|---|---|---|"
    lines = [head]
    for k in kinds + ["all"]:
        rs = [r for r in ours if k == "all" or kind_group(r.kind) == k]
        bs = [b for b in (base or []) if k == "all" or kind_group(b["kind"]) == k]
        b1 = f"{sum(b['top1'] for b in bs)}/{len(bs)}" if bs else "—"
        b3 = f"{sum(b['top3'] for b in bs)}/{len(bs)}" if bs else "—"
        lines.append(f"| {k} | {len(rs)} | {sum(r.passed for r in rs)}/{len(rs)} | {b1} | {b3} |")
    return "\n".join(lines)
