"""SQLite fact store: documents, tables, facts and passages of one index generation.

All SQL is parameterised. Lists (row/column/section paths) are stored as JSON arrays.
"""
from __future__ import annotations

import json
from functools import lru_cache
import sqlite3
from pathlib import Path
from typing import Iterable, Protocol

from ..model import Document, Fact, Passage, Table

SCHEMA = """
CREATE TABLE IF NOT EXISTS documents (
  doc_id TEXT PRIMARY KEY, title TEXT, path TEXT, department TEXT, year INTEGER, kind TEXT,
  sha256 TEXT, listed_tables TEXT);
CREATE TABLE IF NOT EXISTS tables (
  table_id TEXT PRIMARY KEY, doc_id TEXT, title TEXT, unit TEXT, line INTEGER, page INTEGER,
  columns TEXT, note TEXT, n_rows INTEGER, row_labels TEXT);
CREATE TABLE IF NOT EXISTS facts (
  fact_id TEXT PRIMARY KEY, doc_id TEXT, source TEXT, label TEXT, value REAL, value_text TEXT,
  unit TEXT, line INTEGER, page INTEGER, quote TEXT, role TEXT, table_id TEXT, table_title TEXT,
  row_path TEXT, code TEXT, code_kind TEXT, col_path TEXT, section_path TEXT, is_total_row INTEGER,
  row_index INTEGER, col_index INTEGER, base_year INTEGER, whole TEXT, ocr INTEGER DEFAULT 0,
  exact INTEGER DEFAULT 1, ocr_checked INTEGER DEFAULT 0);
CREATE TABLE IF NOT EXISTS passages (
  passage_id TEXT PRIMARY KEY, doc_id TEXT, kind TEXT, section_path TEXT, text TEXT, line INTEGER,
  term TEXT, page INTEGER);
CREATE INDEX IF NOT EXISTS facts_doc ON facts(doc_id);
CREATE INDEX IF NOT EXISTS facts_label ON facts(label);
CREATE INDEX IF NOT EXISTS facts_code ON facts(code);
CREATE INDEX IF NOT EXISTS passages_doc ON passages(doc_id);
CREATE INDEX IF NOT EXISTS tables_doc ON tables(doc_id);
"""


class FactStore(Protocol):
    """A fact store of one index generation: SQLite here, PostgreSQL in :mod:`.postgres` (chosen by
    :func:`assistant.store.backends.open_fact_store`). Rows come back ordered by document, line
    (missing first) and then insertion order, identically on every engine."""

    def documents(self) -> list[Document]: ...
    def facts(self, doc_ids: Iterable[str] | None = None) -> list[Fact]: ...
    def passages(self, doc_ids: Iterable[str] | None = None, kind: str | None = None) -> list[Passage]: ...
    def tables(self, doc_ids: Iterable[str] | None = None) -> list[Table]: ...
    def metric_facts(self, doc_ids: Iterable[str], tables: list[tuple[str, bool, str]], labels: list[str]) -> list[Fact]: ...
    def table(self, table_id: str) -> Table | None: ...
    def replace_document(self, document: Document, tables: list[Table], facts: list[Fact],
                         passages: list[Passage]) -> None: ...
    def delete_document(self, doc_id: str) -> None: ...
    def counts(self) -> dict[str, int]: ...
    def close(self) -> None: ...


class SQLiteFactStore:
    """Fact store in one SQLite file. ``path`` is created with its schema on first open."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), check_same_thread=False)
        self._conn.executescript(SCHEMA)
        _add_missing_columns(self._conn)

    def close(self) -> None:
        self._conn.close()

    # ---- writing ----
    def replace_document(self, document: Document, tables: list[Table], facts: list[Fact],
                         passages: list[Passage]) -> None:
        """Delete everything of ``document.doc_id`` and insert the new content, in one transaction."""
        c = self._conn
        with c:
            self._delete(document.doc_id)
            c.execute("INSERT INTO documents VALUES (?,?,?,?,?,?,?,?)", (
                document.doc_id, document.title, document.path, document.department, document.year,
                document.kind, document.sha256, json.dumps(list(document.listed_tables), ensure_ascii=False)))
            c.executemany("INSERT INTO tables VALUES (?,?,?,?,?,?,?,?,?,?)", [
                (t.table_id, t.doc_id, t.title, t.unit, t.line, t.page,
                 json.dumps([list(x) for x in t.columns], ensure_ascii=False), t.note, t.n_rows,
                 _j(t.row_labels)) for t in tables])
            c.executemany(f"INSERT INTO facts ({','.join(FACT_COLS)}) VALUES ({','.join('?' * len(FACT_COLS))})", [
                (f.fact_id, f.doc_id, f.source, f.label, f.value, f.value_text, f.unit, f.line, f.page,
                 f.quote, f.role, f.table_id, f.table_title, _j(f.row_path), f.code, f.code_kind,
                 _j(f.col_path), _j(f.section_path), int(f.is_total_row), f.row_index, f.col_index,
                 f.base_year, f.whole, int(f.ocr), int(f.exact), int(f.ocr_checked)) for f in facts])
            c.executemany("INSERT INTO passages VALUES (?,?,?,?,?,?,?,?)", [
                (p.passage_id, p.doc_id, p.kind, _j(p.section_path), p.text, p.line, p.term, p.page)
                for p in passages])

    def delete_document(self, doc_id: str) -> None:
        with self._conn:
            self._delete(doc_id)

    def _delete(self, doc_id: str) -> None:
        for table in ("documents", "tables", "facts", "passages"):
            self._conn.execute(f"DELETE FROM {table} WHERE doc_id = ?", (doc_id,))

    # ---- reading ----
    def documents(self) -> list[Document]:
        rows = self._conn.execute(
            "SELECT doc_id, title, path, department, year, kind, sha256, listed_tables FROM documents "
            "ORDER BY doc_id").fetchall()
        return [Document(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tuple(json.loads(r[7] or "[]")))
                for r in rows]

    def facts(self, doc_ids: Iterable[str] | None = None) -> list[Fact]:
        sql = f"SELECT {','.join(FACT_COLS)} FROM facts"
        args: list = []
        if doc_ids is not None:
            ids = list(doc_ids)
            sql += f" WHERE doc_id IN ({','.join('?' * len(ids))})"
            args = ids
        sql += " ORDER BY doc_id, line, col_index, fact_id, rowid"
        return [_fact(r) for r in self._conn.execute(sql, args)]

    def passages(self, doc_ids: Iterable[str] | None = None, kind: str | None = None) -> list[Passage]:
        sql = "SELECT passage_id, doc_id, kind, section_path, text, line, term, page FROM passages WHERE 1=1"
        args: list = []
        if doc_ids is not None:
            ids = list(doc_ids)
            sql += f" AND doc_id IN ({','.join('?' * len(ids))})"
            args.extend(ids)
        if kind:
            sql += " AND kind = ?"
            args.append(kind)
        sql += " ORDER BY doc_id, line, rowid"
        return [Passage(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5], r[6] or "", r[7])
                for r in self._conn.execute(sql, args)]

    def metric_facts(self, doc_ids: Iterable[str], tables: list[tuple[str, bool, str]], labels: list[str]) -> list[Fact]:
        """The facts of ``doc_ids`` a metric can be read from, in one query: cells of tables whose
        title contains one of ``tables``' words (only total rows where the flag says so, only columns
        whose path contains its column word when one is given) and narrative figures whose label
        contains one of ``labels``. See :mod:`assistant.budget.query`."""
        ids = list(doc_ids)
        where, args = metric_conditions(tables, labels, "?")
        if not ids or not where:
            return []
        sql = (f"SELECT {','.join(FACT_COLS)} FROM facts WHERE doc_id IN ({','.join('?' * len(ids))}) AND ("
               + where + ") ORDER BY doc_id, line, col_index, fact_id, rowid")
        return [_fact(r) for r in self._conn.execute(sql, ids + args)]

    def tables(self, doc_ids: Iterable[str] | None = None) -> list[Table]:
        sql = f"SELECT {_TABLE_COLS} FROM tables"
        args: list = []
        if doc_ids is not None:
            ids = list(doc_ids)
            sql += f" WHERE doc_id IN ({','.join('?' * len(ids))})"
            args = ids
        return [_table(r) for r in self._conn.execute(sql + " ORDER BY doc_id, line, rowid", args)]

    def table(self, table_id: str) -> Table | None:
        """One table by its id (None if there is none)."""
        r = self._conn.execute(f"SELECT {_TABLE_COLS} FROM tables WHERE table_id = ?", (table_id,)).fetchone()
        return _table(r) if r else None

    def counts(self) -> dict[str, int]:
        """Row counts per table (documents, tables, facts, passages)."""
        return {t: self._conn.execute(f"SELECT COUNT(*) FROM {t}").fetchone()[0]
                for t in ("documents", "tables", "facts", "passages")}


def metric_conditions(tables: list[tuple[str, bool, str]], labels: list[str], placeholder: str) -> tuple[str, list]:
    """The WHERE condition (and its arguments) of :meth:`FactStore.metric_facts`, for a SQL engine
    whose parameter placeholder is ``placeholder`` ("?" for SQLite, "%s" for PostgreSQL)."""
    conds, args = [], []
    for word, totals, column in tables:
        conds.append(f"(source = 'table' AND table_title LIKE {placeholder}" + (" AND is_total_row = 1" if totals else "")
                     + (f" AND col_path LIKE {placeholder})" if column else ")"))
        args.extend([f"%{word}%"] + ([f"%{column}%"] if column else []))
    for word in labels:
        conds.append(f"(source = 'narrative' AND label LIKE {placeholder})")
        args.append(f"%{word}%")
    return " OR ".join(conds), args


@lru_cache(maxsize=65536)
def _path(text: str | None) -> tuple[str, ...]:
    """A stored JSON path as a tuple (the same header and section paths recur in every document)."""
    return tuple(json.loads(text or "[]"))


def _fact(r) -> Fact:
    """A Fact from a row of FACT_COLS."""
    return Fact(
        fact_id=r[0], doc_id=r[1], source=r[2], label=r[3], value=r[4], value_text=r[5],
        unit=r[6], line=r[7], page=r[8], quote=r[9], role=r[10], table_id=r[11],
        table_title=r[12], row_path=_path(r[13]), code=r[14], code_kind=r[15],
        col_path=_path(r[16]), section_path=_path(r[17]),
        is_total_row=bool(r[18]), row_index=r[19], col_index=r[20], base_year=r[21], whole=r[22],
        ocr=bool(r[23]), exact=bool(r[24]), ocr_checked=bool(r[25]))


#: facts columns in the order written and read (``ocr``, ``exact``, ``ocr_checked``: index version 8)
FACT_COLS = ("fact_id", "doc_id", "source", "label", "value", "value_text", "unit", "line", "page", "quote",
             "role", "table_id", "table_title", "row_path", "code", "code_kind", "col_path", "section_path",
             "is_total_row", "row_index", "col_index", "base_year", "whole", "ocr", "exact", "ocr_checked")
#: columns added after the first schema: (table, column, SQL type with default)
_ADDED_COLUMNS = (("facts", "ocr", "INTEGER DEFAULT 0"), ("facts", "exact", "INTEGER DEFAULT 1"),
                  ("facts", "ocr_checked", "INTEGER DEFAULT 0"))


def _add_missing_columns(conn: sqlite3.Connection) -> None:
    """Bring a fact store written by an older version up to the current columns (a generation is
    copied before an ingest adds documents to it)."""
    for table, column, decl in _ADDED_COLUMNS:
        have = {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
        if column not in have:
            with conn:
                conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


_TABLE_COLS = "table_id, doc_id, title, unit, line, columns, note, page, n_rows, row_labels"


def _table(r) -> Table:
    return Table(r[0], r[1], r[2], r[3], r[4], tuple(tuple(c) for c in json.loads(r[5])), r[6], r[7], r[8],
                 tuple(json.loads(r[9] or "[]")))


def _j(xs) -> str:
    return json.dumps(list(xs), ensure_ascii=False)
