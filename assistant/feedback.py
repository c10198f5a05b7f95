"""Feedback on answers (thumbs up/down) in the application database ``data/app.sqlite`` (or in
PostgreSQL when ``BUDGET_QA_DATABASE_URL`` is set, see :func:`open_feedback`), outside the rebuildable
index: re-ingesting never loses it. Help-desk staff export it as CSV."""
from __future__ import annotations

import csv
import json
import sqlite3
import threading
import time
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS feedback (
  id INTEGER PRIMARY KEY AUTOINCREMENT, created TEXT, conversation TEXT, question TEXT, answer TEXT,
  kind TEXT, rating INTEGER, comment TEXT, citations TEXT);
"""


class FeedbackStore:
    """Append-only feedback table. ``rating`` is +1 (useful) or −1 (not useful)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        with self._connect() as c:
            c.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(str(self.path), timeout=10)

    def add(self, question: str, answer: dict, rating: int, comment: str = "", conversation: str | None = None) -> int:
        """Store one judgement of an answer (the ``ask --json`` object). Raises ValueError for a
        rating other than +1/−1. Returns the new row id."""
        if rating not in (1, -1):
            raise ValueError("rating must be 1 or -1")
        with self._lock, self._connect() as c:
            cur = c.execute(
                "INSERT INTO feedback (created, conversation, question, answer, kind, rating, comment, citations) "
                "VALUES (?,?,?,?,?,?,?,?)",
                (time.strftime("%Y-%m-%d %H:%M:%S"), conversation or "", question, answer.get("answer", ""),
                 answer.get("kind", ""), rating, comment,
                 json.dumps(answer.get("citations", []), ensure_ascii=False)))
            return int(cur.lastrowid)

    def rows(self) -> list[dict]:
        """All feedback, oldest first."""
        with self._connect() as c:
            c.row_factory = sqlite3.Row
            return [dict(r) for r in c.execute("SELECT * FROM feedback ORDER BY id")]

    def export_csv(self, out: Path) -> int:
        """Write all feedback to a UTF-8 (with BOM, for spreadsheet programs) CSV file; returns rows."""
        return write_csv(self.rows(), out)


def write_csv(rows: list[dict], out: Path) -> int:
    """Feedback rows as a UTF-8 (with BOM) CSV file; returns the number of rows."""
    cols = ["id", "created", "conversation", "question", "answer", "kind", "rating", "comment", "citations"]
    with open(out, "w", encoding="utf-8-sig", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=cols)
        w.writeheader()
        for r in rows:
            w.writerow({k: r[k] for k in cols})
    return len(rows)


def open_feedback(settings):
    """The feedback store of a deployment: PostgreSQL (shared by every worker) when
    ``BUDGET_QA_DATABASE_URL`` is set, else ``data/app.sqlite``."""
    if settings.database_url:
        from .store.postgres import PostgresFeedbackStore

        return PostgresFeedbackStore(settings.database_url)
    return FeedbackStore(Path(settings.data_dir) / "app.sqlite")
