"""Reading one metric of the budget model from many documents with one fact-store query.

A ranking or total over every loaded document ("哪个部门的三公经费最多", "各部门…排名") must not build
each document's answerer: :func:`read_metric` asks the fact store only for the facts the metric
can be read from (cells of the tables of its kinds, total rows where its locator reads a total, and
narrative figures whose label names it) and resolves each document from those
(:func:`assistant.budget.metrics.resolve`), so the cost grows with the metric's facts, not with
the documents' size.
"""
from __future__ import annotations

from ..model import Document, Fact, Table
from .metrics import Metric, Resolution, resolve
from .templates import measure_asked, model_data, norm


def metric_query(metric: Metric) -> tuple[list[tuple[str, bool, str]], list[str]]:
    """(table-title word, total-rows-only flag, column word or "") per locator, and narrative label
    words, that select every fact ``metric`` can be read from (a superset: :func:`resolve` decides)."""
    rules = {r["id"]: r for r in model_data()["table_kinds"]}
    tables: list[tuple[str, bool, str]] = []
    for loc in metric.where:
        totals = loc.get("row") == "total"
        column = next((w for w in loc.get("col_has", ()) if w not in ("合计", "收入", "支出")), "")
        for kind in loc.get("tables", ()):
            rule = rules[kind]
            for word in (rule.get("all") or [])[:1] or rule.get("any", []):
                if (word, totals, column) not in tables:
                    tables.append((word, totals, column))
    names = {norm(n) for n in metric.names if len(norm(n)) >= 2}
    labels = sorted(n for n in names if not any(m != n and m in n for m in names))  # 三公 covers 三公经费
    return tables, labels


def read_metric(store, metric: Metric, docs: list[Document], question: str = "") -> dict[str, tuple[Resolution, list[Fact]]]:
    """doc_id → (resolution of ``metric`` at the measure ``question`` asks for, the facts read) for
    every document of ``docs``, from one fact-store query."""
    ids = [d.doc_id for d in docs]
    words, labels = metric_query(metric)
    facts = store.metric_facts(ids, words, labels) if ids else []
    by_doc: dict[str, list[Fact]] = {}
    for f in facts:
        by_doc.setdefault(f.doc_id, []).append(f)
    out = {}
    for d in docs:
        mine = [f for f in by_doc.get(d.doc_id, []) if f.exact]
        # the tables the cells belong to (an empty table has no cell: it means no figure here either)
        tables = {f.table_id: Table(f.table_id, f.doc_id, f.table_title, f.unit, f.line or 0, n_rows=1)
                  for f in mine if f.source == "table"}
        res = resolve(metric, measure_asked(question, d.basis), d.basis, list(tables.values()), mine,
                      (f"{d.year}年",) if d.year else ())
        out[d.doc_id] = (res, mine)
    return out
