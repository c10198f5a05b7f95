"""Index generations: each ingest writes a complete new generation folder under the index directory
and publishes it by atomically replacing the ``CURRENT`` pointer file (``os.replace``). Readers open
whatever ``CURRENT`` names, so a failed or killed ingest leaves the previous generation serving.

Layout: ``index/CURRENT`` (text: generation folder name), ``index/gen-<time>-<pid>/`` holding
``facts.sqlite``, ``chroma/`` and ``bm25-stats.json`` (the BM25 corpus statistics; generations written
by older versions hold the whole BM25 index ``bm25.json`` instead, still read).

:class:`Generations` is the same life cycle for every backend (see :mod:`assistant.store.backends`):
with ``BUDGET_QA_DATABASE_URL`` the pointer, the version and the BM25 blob live in PostgreSQL and the
facts carry a ``generation_id``; with ``BUDGET_QA_CHROMA_URL`` each generation's vectors are a
collection ``passages_<generation>`` on the Chroma server. Stores that stay local (SQLite, local
Chroma) live in the generation folder as above.
"""
from __future__ import annotations

import logging
import os
import secrets
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .config import Settings

log = logging.getLogger(__name__)

POINTER = "CURRENT"
#: names the generation published before the current one (kept for readers still on it)
PREVIOUS = "PREVIOUS"
#: Bump when parsing or the stored layout changes: older generations are rebuilt on open.
INDEX_VERSION = "8"
VERSION_FILE = "VERSION"


def generation_version(gen: Path) -> str:
    """The INDEX_VERSION a generation was built with ("" for generations older than versioning)."""
    f = Path(gen) / VERSION_FILE
    return f.read_text(encoding="utf-8").strip() if f.is_file() else ""


def stamp(gen: Path) -> None:
    """Record the current INDEX_VERSION in a generation."""
    (Path(gen) / VERSION_FILE).write_text(INDEX_VERSION, encoding="utf-8")


def current_generation(index_dir: Path) -> Path | None:
    """The published generation folder, or None if the index was never built."""
    ptr = Path(index_dir) / POINTER
    if not ptr.is_file():
        return None
    name = ptr.read_text(encoding="utf-8").strip()
    gen = Path(index_dir) / name
    return gen if name and gen.is_dir() else None


def new_generation(index_dir: Path, fresh: bool = False) -> Path:
    """An unpublished generation folder of an embedded index: a copy of the current one if it
    exists (unless ``fresh``). See :meth:`Generations.new`."""
    gens = _embedded(index_dir)
    return gens.folder(gens.new(fresh=fresh))


def publish(index_dir: Path, gen: Path) -> None:
    """Switch readers of an embedded index to ``gen`` atomically, then remove the other generations."""
    _embedded(index_dir).publish(Path(gen).name)


def discard(gen: Path) -> None:
    """Remove an unpublished generation folder (after a failed ingest)."""
    shutil.rmtree(gen, ignore_errors=True)


def _embedded(index_dir: Path) -> "Generations":
    from .config import Settings

    return Generations(Settings(index_dir=Path(index_dir)))


#: Seconds a second ingest waits for the first one (BUDGET_QA_INGEST_WAIT overrides).
INGEST_WAIT_SECONDS = 600


def _new_name() -> str:
    return f"gen-{time.strftime('%Y%m%d%H%M%S')}-{os.getpid()}-{secrets.token_hex(3)}"


class Generations:
    """The index generations of a deployment, named by id (``gen-…``), whatever the backends.

    ``new`` (a copy of the current generation, written aside) → write into it through the stores of
    :mod:`assistant.store.backends` → ``stamp`` → ``publish`` (one atomic switch: a file rename, or
    one SQL statement on PostgreSQL) or ``discard``. The caller of ``new``/``publish`` holds
    :meth:`lock`. On PostgreSQL the generation replaced by a publish is kept until the next one, so
    workers that have not switched yet keep reading it.
    """

    def __init__(self, settings: "Settings"):
        self.settings = settings
        self.index_dir = Path(settings.index_dir)
        self._db = None
        if settings.database_url:
            from .store.postgres import PgIndex

            self._db = PgIndex(settings.database_url)

    @property
    def local(self) -> bool:
        """True when some store (SQLite, BM25 file, local Chroma) lives in the generation folder."""
        return self._db is None or not self.settings.chroma_url

    def folder(self, gen: str) -> Path:
        """The local folder of a generation (facts.sqlite, chroma/, bm25-stats.json, VERSION as used)."""
        return self.index_dir / gen

    # ---- reading ----
    def current(self) -> str | None:
        """The published generation, or None if the index was never built."""
        if self._db is not None:
            return self._db.current()
        gen = current_generation(self.index_dir)
        return gen.name if gen is not None else None

    def version(self, gen: str) -> str:
        """The INDEX_VERSION ``gen`` was built with ("" if unknown)."""
        if self._db is not None:
            return self._db.version(gen)
        return generation_version(self.folder(gen))

    def load_blob(self, gen: str, name: str) -> bytes | None:
        """A file of the generation (``bm25-stats.json``), None if absent."""
        if self._db is not None:
            return self._db.get_blob(gen, name)
        f = self.folder(gen) / name
        return f.read_bytes() if f.is_file() else None

    # ---- writing (the caller holds the lock) ----
    def lock(self):
        """One ingest at a time per index: a second one waits, then fails with a clear message."""
        wait = float(os.environ.get("BUDGET_QA_INGEST_WAIT", INGEST_WAIT_SECONDS))
        if self._db is not None:
            return self._db.lock(wait)
        return _FileLockGuard(self.index_dir / ".ingest.lock", wait)

    def new(self, fresh: bool = False) -> str:
        """An unpublished generation: a copy of the current one if it exists (unless ``fresh``).
        Generations left by an ingest that was killed before publishing are removed first."""
        cur = self.current()
        for stale in self._abandoned(cur):
            self._drop(stale)
        gen = _new_name()
        if self._db is not None:
            self._db.create(gen)
        if self.local:
            self.index_dir.mkdir(parents=True, exist_ok=True)
            src = self.folder(cur) if cur is not None and not fresh else None
            if src is not None and src.is_dir():
                shutil.copytree(src, self.folder(gen))
                (self.folder(gen) / VERSION_FILE).unlink(missing_ok=True)  # stamped when complete
            else:
                self.folder(gen).mkdir()
        if cur is not None and not fresh:
            if self._db is not None:
                self._db.copy(cur, gen)
            if self.settings.chroma_url:
                from .store.backends import open_vector_store

                open_vector_store(self.settings, gen, _NoEmbedder(self.settings)).copy_from(
                    open_vector_store(self.settings, cur, _NoEmbedder(self.settings)))
        return gen

    def save_blob(self, gen: str, name: str, data: bytes) -> None:
        if self._db is not None:
            self._db.put_blob(gen, name, data)
            return
        f = self.folder(gen) / name
        tmp = f.with_name(f.name + ".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, f)

    def delete_blob(self, gen: str, name: str) -> None:
        """Remove a file of the generation (no error if it is absent)."""
        if self._db is not None:
            self._db.delete_blob(gen, name)
        else:
            (self.folder(gen) / name).unlink(missing_ok=True)

    def stamp(self, gen: str) -> None:
        """Record the current INDEX_VERSION in ``gen``."""
        if self._db is not None:
            self._db.stamp(gen, INDEX_VERSION)
        else:
            stamp(self.folder(gen))

    def publish(self, gen: str) -> None:
        """Switch readers to ``gen`` atomically, then remove the older generations."""
        if self._db is not None:
            previous = self._db.publish(gen)
            for old in self._db.all():
                if old not in (gen, previous):
                    self._drop(old)
            return
        previous = self.current()
        tmp = self.index_dir / (POINTER + ".tmp")
        tmp.write_text(gen, encoding="utf-8")
        os.replace(tmp, self.index_dir / POINTER)
        # the generation replaced is kept until the next publish: questions still running on it
        # (in this process or another) finish; the server closes it when it switches
        (self.index_dir / PREVIOUS).write_text(previous or "", encoding="utf-8")
        for p in self.index_dir.glob("gen-*"):
            if p.is_dir() and p.name not in (gen, previous):
                self._drop(p.name)

    def discard(self, gen: str) -> None:
        """Remove an unpublished generation (after a failed ingest)."""
        self._drop(gen)

    def _abandoned(self, cur: str | None) -> list[str]:
        if self._db is not None:
            return self._db.unpublished()
        if not self.index_dir.is_dir():
            return []
        prev = self.index_dir / PREVIOUS
        keep = {cur, prev.read_text(encoding="utf-8").strip() if prev.is_file() else None}
        return [p.name for p in self.index_dir.glob("gen-*") if p.is_dir() and p.name not in keep]

    def _drop(self, gen: str) -> None:
        if self.settings.chroma_url:
            from .store.backends import open_vector_store

            try:
                open_vector_store(self.settings, gen, _NoEmbedder(self.settings)).reset()
            except Exception as exc:  # the server may be down: the collection is only garbage then
                log.warning("could not drop the vectors of %s: %s", gen, exc)
        if self._db is not None:
            self._db.drop(gen)
        shutil.rmtree(self.folder(gen), ignore_errors=True)

    def __repr__(self) -> str:
        where = "postgresql" if self._db is not None else str(self.index_dir)
        return f"Generations({where}, chroma={self.settings.chroma_url or 'local'})"


class _NoEmbedder:
    """Stands in for the embedder where vectors are only copied or dropped, never computed: it
    carries the configured embedder's name (checked against the one a collection was built with)."""

    def __init__(self, settings: "Settings"):
        self.name = settings.embedder

    def embed_passages(self, texts):  # pragma: no cover - never called
        raise RuntimeError("no embedder here")

    embed_query = embed_passages


class _FileLockGuard:
    def __init__(self, path: Path, wait: float):
        from filelock import FileLock

        path.parent.mkdir(parents=True, exist_ok=True)
        self.lock, self.wait = FileLock(str(path)), wait

    def __enter__(self):
        from filelock import Timeout

        from .errors import IngestError

        try:
            self.lock.acquire(timeout=self.wait)
        except Timeout as exc:
            raise IngestError(f"另一个入库任务正在进行（已等待 {self.wait:.0f} 秒），请稍后再试") from exc
        return self

    def __exit__(self, *exc):
        self.lock.release()
        return False
