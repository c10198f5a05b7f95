"""PostgreSQL backend (selected by ``BUDGET_QA_DATABASE_URL=postgresql://…``): the fact store, the
index generations (pointer, version, BM25 blob), the ingest lock and the feedback table.

Imported only when a database URL is configured, so the embedded default never imports psycopg.

Generations: every row of ``documents``, ``tables``, ``facts``, ``passages`` and ``blobs`` carries a
``generation_id``. An ingest writes a new generation aside (a copy of the current one, made with
``INSERT … SELECT``), and :meth:`PgIndex.publish` switches the one-row ``current_generation`` pointer
in one statement. A store opened on a generation reads only that generation's rows, so readers never
see a half-written document, and a killed ingest leaves the previous generation serving; its rows are
removed by the next ingest.

Schema: versioned SQL (:data:`MIGRATIONS`), applied in order by :func:`migrate` on first connect
(under an advisory lock, so workers starting together apply it once). Every query is parameterised;
SQL text is built only from the constant column lists below. Text keys use the ``"C"`` collation and
``ORDER BY`` ends on an insertion sequence, so rows come back in the same order as from SQLite
(byte order, ties in insertion order) and answers are identical on both engines.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Iterable

from ..errors import IngestError
from ..model import Document, Fact, Passage, Table
from .facts import _fact as _fact_row
from .facts import metric_conditions

log = logging.getLogger(__name__)

DOC_COLS = ("doc_id", "title", "path", "department", "year", "kind", "sha256", "listed_tables")
TABLE_COLS = ("table_id", "doc_id", "title", "unit", "line", "page", "columns", "note", "n_rows", "row_labels")
FACT_COLS = ("fact_id", "doc_id", "source", "label", "value", "value_text", "unit", "line", "page", "quote", "role",
             "table_id", "table_title", "row_path", "code", "code_kind", "col_path", "section_path", "is_total_row",
             "row_index", "col_index", "base_year", "whole", "ocr", "exact", "ocr_checked")
PASSAGE_COLS = ("passage_id", "doc_id", "kind", "section_path", "text", "line", "term", "page")
COLUMNS = {"documents": DOC_COLS, "tables": TABLE_COLS, "facts": FACT_COLS, "passages": PASSAGE_COLS}
#: tables whose rows belong to a generation (copied and dropped with it)
GENERATION_TABLES = ("documents", "tables", "facts", "passages", "blobs")
BLOB_COLS = ("name", "data")

_V1 = """
CREATE TABLE generations (
  id TEXT COLLATE "C" PRIMARY KEY, created TIMESTAMPTZ NOT NULL DEFAULT now(), published TIMESTAMPTZ,
  version TEXT NOT NULL DEFAULT '');
CREATE TABLE current_generation (
  singleton BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (singleton),
  generation_id TEXT COLLATE "C" NOT NULL REFERENCES generations(id));
CREATE TABLE documents (
  generation_id TEXT COLLATE "C" NOT NULL, doc_id TEXT COLLATE "C" NOT NULL, title TEXT, path TEXT,
  department TEXT, year INTEGER, kind TEXT, sha256 TEXT, listed_tables TEXT,
  seq BIGINT GENERATED ALWAYS AS IDENTITY, PRIMARY KEY (generation_id, doc_id));
CREATE TABLE tables (
  generation_id TEXT COLLATE "C" NOT NULL, table_id TEXT COLLATE "C" NOT NULL, doc_id TEXT COLLATE "C",
  title TEXT, unit TEXT, line INTEGER, page INTEGER, columns TEXT, note TEXT, n_rows INTEGER, row_labels TEXT,
  seq BIGINT GENERATED ALWAYS AS IDENTITY, PRIMARY KEY (generation_id, table_id));
CREATE TABLE facts (
  generation_id TEXT COLLATE "C" NOT NULL, fact_id TEXT COLLATE "C" NOT NULL, doc_id TEXT COLLATE "C",
  source TEXT, label TEXT COLLATE "C", value DOUBLE PRECISION, value_text TEXT, unit TEXT, line INTEGER,
  page INTEGER, quote TEXT, role TEXT, table_id TEXT COLLATE "C", table_title TEXT, row_path TEXT,
  code TEXT COLLATE "C", code_kind TEXT, col_path TEXT, section_path TEXT, is_total_row INTEGER,
  row_index INTEGER, col_index INTEGER, base_year INTEGER, whole TEXT,
  seq BIGINT GENERATED ALWAYS AS IDENTITY, PRIMARY KEY (generation_id, fact_id));
CREATE TABLE passages (
  generation_id TEXT COLLATE "C" NOT NULL, passage_id TEXT COLLATE "C" NOT NULL, doc_id TEXT COLLATE "C",
  kind TEXT COLLATE "C", section_path TEXT, text TEXT, line INTEGER, term TEXT, page INTEGER,
  seq BIGINT GENERATED ALWAYS AS IDENTITY, PRIMARY KEY (generation_id, passage_id));
CREATE TABLE blobs (
  generation_id TEXT COLLATE "C" NOT NULL, name TEXT COLLATE "C" NOT NULL, data BYTEA NOT NULL,
  PRIMARY KEY (generation_id, name));
CREATE INDEX documents_gen_doc ON documents (generation_id, doc_id);
CREATE INDEX tables_gen_doc ON tables (generation_id, doc_id);
CREATE INDEX facts_gen_doc ON facts (generation_id, doc_id);
CREATE INDEX facts_gen_label ON facts (generation_id, label);
CREATE INDEX facts_gen_code ON facts (generation_id, code);
CREATE INDEX passages_gen_doc ON passages (generation_id, doc_id);
CREATE TABLE feedback (
  id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY, created TEXT, conversation TEXT, question TEXT,
  answer TEXT, kind TEXT, rating INTEGER, comment TEXT, citations TEXT);
"""

#: figures read by OCR, whether they may be given as exact, whether a total confirms them
#: (Fact.ocr, Fact.exact, Fact.ocr_checked)
_V2 = """
ALTER TABLE facts ADD COLUMN ocr INTEGER NOT NULL DEFAULT 0;
ALTER TABLE facts ADD COLUMN exact INTEGER NOT NULL DEFAULT 1;
ALTER TABLE facts ADD COLUMN ocr_checked INTEGER NOT NULL DEFAULT 0;
"""

#: (version, SQL) applied in order; append new versions, never edit applied ones.
MIGRATIONS: list[tuple[int, str]] = [(1, _V1), (2, _V2)]

#: advisory-lock keys (arbitrary constants of this application)
MIGRATE_LOCK = 0x62756467_0001
INGEST_LOCK = 0x62756467_0002

_migrated: set[str] = set()
_migrate_lock = threading.Lock()


def connect(url: str):
    """A new autocommit connection with the schema migrated to the latest version."""
    import psycopg

    conn = psycopg.connect(url, autocommit=True)
    with _migrate_lock:
        if url not in _migrated:
            migrate(conn)
            _migrated.add(url)
    return conn


def migrate(conn) -> int:
    """Apply the missing :data:`MIGRATIONS` in one transaction; returns the schema version."""
    with conn.transaction():
        conn.execute("SELECT pg_advisory_xact_lock(%s)", (MIGRATE_LOCK,))
        conn.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY, "
                     "applied TIMESTAMPTZ NOT NULL DEFAULT now())")
        have = conn.execute("SELECT coalesce(max(version), 0) FROM schema_version").fetchone()[0]
        for version, sql in MIGRATIONS:
            if version > have:
                conn.execute(sql)
                conn.execute("INSERT INTO schema_version (version) VALUES (%s)", (version,))
                log.info("database schema migrated to version %d", version)
                have = version
    return have


class _Connected:
    """One shared autocommit connection (psycopg connections are thread-safe), reopened if broken."""

    def __init__(self, url: str):
        self.url = url
        self._c = None
        self._lock = threading.Lock()

    def conn(self):
        with self._lock:
            if self._c is None or self._c.closed or self._c.broken:
                self._c = connect(self.url)
            return self._c

    def close(self) -> None:
        with self._lock:
            if self._c is not None:
                self._c.close()
                self._c = None


class PostgresFactStore(_Connected):
    """The fact store of one generation in PostgreSQL (same interface as ``SQLiteFactStore``)."""

    def __init__(self, url: str, generation: str):
        super().__init__(url)
        self.generation = generation
        self.conn()  # fail early (and migrate) when the database is unreachable

    # ---- writing ----
    def replace_document(self, document: Document, tables: list[Table], facts: list[Fact],
                         passages: list[Passage]) -> None:
        """Delete everything of ``document.doc_id`` in this generation and insert the new content,
        in one transaction."""
        from .facts import _j

        g = self.generation
        c = self.conn()
        with c.transaction():
            self._delete(c, document.doc_id)
            self._copy_in(c, "documents", [(
                g, document.doc_id, document.title, document.path, document.department, document.year,
                document.kind, document.sha256, json.dumps(list(document.listed_tables), ensure_ascii=False))])
            self._copy_in(c, "tables", [(
                g, t.table_id, t.doc_id, t.title, t.unit, t.line, t.page,
                json.dumps([list(x) for x in t.columns], ensure_ascii=False), t.note, t.n_rows, _j(t.row_labels))
                for t in tables])
            self._copy_in(c, "facts", [(
                g, f.fact_id, f.doc_id, f.source, f.label, f.value, f.value_text, f.unit, f.line, f.page,
                f.quote, f.role, f.table_id, f.table_title, _j(f.row_path), f.code, f.code_kind,
                _j(f.col_path), _j(f.section_path), int(f.is_total_row), f.row_index, f.col_index,
                f.base_year, f.whole, int(f.ocr), int(f.exact), int(f.ocr_checked)) for f in facts])
            self._copy_in(c, "passages", [(
                g, p.passage_id, p.doc_id, p.kind, _j(p.section_path), p.text, p.line, p.term, p.page)
                for p in passages])

    @staticmethod
    def _copy_in(c, table: str, rows: list[tuple]) -> None:
        if not rows:
            return
        cols = ", ".join(("generation_id",) + COLUMNS[table])
        with c.cursor() as cur, cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)

    def delete_document(self, doc_id: str) -> None:
        c = self.conn()
        with c.transaction():
            self._delete(c, doc_id)

    def _delete(self, c, doc_id: str) -> None:
        for table in ("documents", "tables", "facts", "passages"):
            c.execute(f"DELETE FROM {table} WHERE generation_id = %s AND doc_id = %s", (self.generation, doc_id))

    # ---- reading ----
    def _select(self, table: str, doc_ids: Iterable[str] | None, extra: str = "", args: tuple = (),
                order: str = "doc_id, line NULLS FIRST") -> list[tuple]:
        sql = f"SELECT {', '.join(COLUMNS[table])} FROM {table} WHERE generation_id = %s"
        params: list = [self.generation]
        if doc_ids is not None:
            sql += " AND doc_id = ANY(%s)"
            params.append(list(doc_ids))
        sql += extra + f" ORDER BY {order}, seq"
        params.extend(args)
        return self.conn().execute(sql, params).fetchall()

    def documents(self) -> list[Document]:
        rows = self._select("documents", None, order="doc_id")
        return [Document(r[0], r[1], r[2], r[3], r[4], r[5], r[6], tuple(json.loads(r[7] or "[]"))) for r in rows]

    def facts(self, doc_ids: Iterable[str] | None = None) -> list[Fact]:
        rows = self._select("facts", doc_ids, order="doc_id, line NULLS FIRST, col_index NULLS FIRST, fact_id")
        return [_fact_row(r) for r in rows]

    def passages(self, doc_ids: Iterable[str] | None = None, kind: str | None = None) -> list[Passage]:
        extra, args = (" AND kind = %s", (kind,)) if kind else ("", ())
        rows = self._select("passages", doc_ids, extra, args)
        return [Passage(r[0], r[1], r[2], tuple(json.loads(r[3])), r[4], r[5], r[6] or "", r[7]) for r in rows]

    def metric_facts(self, doc_ids: Iterable[str], tables: list[tuple[str, bool, str]], labels: list[str]) -> list[Fact]:
        """As :meth:`assistant.store.facts.SQLiteFactStore.metric_facts`, in one query."""
        where, args = metric_conditions(tables, labels, "%s")
        ids = list(doc_ids)
        if not ids or not where:
            return []
        rows = self._select("facts", ids, " AND (" + where + ")", tuple(args),
                            order="doc_id, line NULLS FIRST, col_index NULLS FIRST, fact_id")
        return [_fact_row(r) for r in rows]

    def tables(self, doc_ids: Iterable[str] | None = None) -> list[Table]:
        return [_table(r) for r in self._select("tables", doc_ids)]

    def table(self, table_id: str) -> Table | None:
        """One table of this generation by its id (None if there is none)."""
        r = self.conn().execute(f"SELECT {', '.join(TABLE_COLS)} FROM tables WHERE generation_id = %s AND table_id = %s",
                                (self.generation, table_id)).fetchone()
        return _table(r) if r else None

    def counts(self) -> dict[str, int]:
        """Row counts per table (documents, tables, facts, passages) of this generation."""
        c = self.conn()
        return {t: c.execute(f"SELECT COUNT(*) FROM {t} WHERE generation_id = %s", (self.generation,)).fetchone()[0]
                for t in ("documents", "tables", "facts", "passages")}

    def __repr__(self) -> str:
        return f"PostgresFactStore(generation={self.generation!r})"


def _table(r) -> Table:
    # TABLE_COLS order: table_id, doc_id, title, unit, line, page, columns, note, n_rows, row_labels
    return Table(r[0], r[1], r[2], r[3], r[4], tuple(tuple(c) for c in json.loads(r[6])), r[7], r[5], r[8],
                 tuple(json.loads(r[9] or "[]")))


class PgIndex(_Connected):
    """Generation registry in PostgreSQL: the pointer, versions, blobs (BM25) and the ingest lock."""

    def current(self) -> str | None:
        row = self.conn().execute("SELECT generation_id FROM current_generation").fetchone()
        return row[0] if row else None

    def create(self, gen: str) -> None:
        self.conn().execute("INSERT INTO generations (id) VALUES (%s)", (gen,))

    def all(self) -> list[str]:
        return [r[0] for r in self.conn().execute("SELECT id FROM generations ORDER BY created, id")]

    def unpublished(self) -> list[str]:
        """Generations never published (left by an ingest that failed or was killed)."""
        return [r[0] for r in self.conn().execute(
            "SELECT id FROM generations WHERE published IS NULL AND id IS DISTINCT FROM "
            "(SELECT generation_id FROM current_generation) ORDER BY created, id")]

    def copy(self, src: str, dst: str) -> None:
        """Copy every row of generation ``src`` into ``dst`` (one transaction, insertion order kept)."""
        c = self.conn()
        with c.transaction():
            for table in GENERATION_TABLES:
                cols = ", ".join(COLUMNS.get(table, BLOB_COLS))
                order = " ORDER BY seq" if table in COLUMNS else ""
                c.execute(f"INSERT INTO {table} (generation_id, {cols}) SELECT %s, {cols} FROM {table} "
                          f"WHERE generation_id = %s{order}", (dst, src))

    def publish(self, gen: str) -> str | None:
        """Switch readers to ``gen`` (the pointer is changed by one statement); returns the previous one."""
        c = self.conn()
        with c.transaction():
            row = c.execute("SELECT generation_id FROM current_generation FOR UPDATE").fetchone()
            c.execute("UPDATE generations SET published = now() WHERE id = %s", (gen,))
            c.execute("INSERT INTO current_generation (singleton, generation_id) VALUES (TRUE, %s) "
                      "ON CONFLICT (singleton) DO UPDATE SET generation_id = EXCLUDED.generation_id", (gen,))
        return row[0] if row else None

    def drop(self, gen: str) -> None:
        """Delete every row of ``gen`` (never the current generation)."""
        c = self.conn()
        with c.transaction():
            if c.execute("SELECT 1 FROM current_generation WHERE generation_id = %s", (gen,)).fetchone():
                raise ValueError(f"generation {gen} is current")
            for table in GENERATION_TABLES:
                c.execute(f"DELETE FROM {table} WHERE generation_id = %s", (gen,))
            c.execute("DELETE FROM generations WHERE id = %s", (gen,))

    def version(self, gen: str) -> str:
        row = self.conn().execute("SELECT version FROM generations WHERE id = %s", (gen,)).fetchone()
        return row[0] if row else ""

    def stamp(self, gen: str, version: str) -> None:
        self.conn().execute("UPDATE generations SET version = %s WHERE id = %s", (version, gen))

    def put_blob(self, gen: str, name: str, data: bytes) -> None:
        self.conn().execute(
            "INSERT INTO blobs (generation_id, name, data) VALUES (%s, %s, %s) "
            "ON CONFLICT (generation_id, name) DO UPDATE SET data = EXCLUDED.data", (gen, name, data))

    def delete_blob(self, gen: str, name: str) -> None:
        """Remove a blob of ``gen`` (no error if it is absent)."""
        self.conn().execute("DELETE FROM blobs WHERE generation_id = %s AND name = %s", (gen, name))

    def get_blob(self, gen: str, name: str) -> bytes | None:
        row = self.conn().execute("SELECT data FROM blobs WHERE generation_id = %s AND name = %s",
                                  (gen, name)).fetchone()
        return bytes(row[0]) if row else None

    def lock(self, wait: float) -> "PgIngestLock":
        return PgIngestLock(self.url, wait)


class PgIngestLock:
    """One ingest at a time per database (a session advisory lock: released if the process dies)."""

    def __init__(self, url: str, wait: float):
        self.url, self.wait = url, wait
        self._c = None

    def __enter__(self):
        self._c = connect(self.url)
        deadline = time.monotonic() + self.wait
        while not self._c.execute("SELECT pg_try_advisory_lock(%s)", (INGEST_LOCK,)).fetchone()[0]:
            if time.monotonic() >= deadline:
                self._c.close()
                raise IngestError(f"另一个入库任务正在进行（已等待 {self.wait:.0f} 秒），请稍后再试")
            time.sleep(min(0.5, max(0.05, self.wait / 20)))
        return self

    def __exit__(self, *exc):
        try:
            self._c.execute("SELECT pg_advisory_unlock(%s)", (INGEST_LOCK,))
        finally:
            self._c.close()
        return False


class PostgresFeedbackStore(_Connected):
    """Feedback in PostgreSQL, shared by every worker (same interface as ``FeedbackStore``)."""

    def add(self, question: str, answer: dict, rating: int, comment: str = "", conversation: str | None = None) -> int:
        """Store one rating; returns its id. A connection broken since its last use (the server was
        restarted) is reopened and the insert tried once more, so that rating is not lost."""
        if rating not in (1, -1):
            raise ValueError("rating must be 1 or -1")
        import psycopg

        try:
            return self._add(question, answer, rating, comment, conversation)
        except psycopg.OperationalError:
            log.warning("feedback: database connection lost; reconnecting once")
            self.close()
            return self._add(question, answer, rating, comment, conversation)

    def _add(self, question: str, answer: dict, rating: int, comment: str, conversation: str | None) -> int:
        row = self.conn().execute(
            "INSERT INTO feedback (created, conversation, question, answer, kind, rating, comment, citations) "
            "VALUES (%s,%s,%s,%s,%s,%s,%s,%s) RETURNING id",
            (time.strftime("%Y-%m-%d %H:%M:%S"), conversation or "", question, answer.get("answer", ""),
             answer.get("kind", ""), rating, comment,
             json.dumps(answer.get("citations", []), ensure_ascii=False))).fetchone()
        return int(row[0])

    def rows(self) -> list[dict]:
        cols = ["id", "created", "conversation", "question", "answer", "kind", "rating", "comment", "citations"]
        return [dict(zip(cols, r)) for r in self.conn().execute(f"SELECT {', '.join(cols)} FROM feedback ORDER BY id")]

    def export_csv(self, out) -> int:
        from ..feedback import write_csv

        return write_csv(self.rows(), out)
