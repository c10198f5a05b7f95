"""Index generations: each ingest writes a complete new generation folder under the index directory
and publishes it by atomically replacing the ``CURRENT`` pointer file (``os.replace``). Readers open
whatever ``CURRENT`` names, so a failed or killed ingest leaves the previous generation serving.

Layout: ``index/CURRENT`` (text: generation folder name), ``index/gen-<time>-<pid>/`` holding
``facts.sqlite``, ``chroma/`` and ``bm25.json``.
"""
from __future__ import annotations

import logging
import os
import shutil
import time
from pathlib import Path

log = logging.getLogger(__name__)

POINTER = "CURRENT"
#: Bump when parsing or the stored layout changes: older generations are rebuilt on open.
INDEX_VERSION = "4"
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
    """An unpublished generation folder: a copy of the current one if it exists (unless ``fresh``)."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    # generations left by an ingest that was killed before publishing are garbage (the caller holds
    # the ingest lock, so no other ingest is writing one now)
    current = current_generation(index_dir)
    for stale in index_dir.glob("gen-*"):
        if stale.is_dir() and stale != current:
            shutil.rmtree(stale, ignore_errors=True)
    gen = index_dir / f"gen-{time.strftime('%Y%m%d%H%M%S')}-{os.getpid()}-{time.monotonic_ns() % 10**6}"
    cur = None if fresh else current_generation(index_dir)
    if cur is not None:
        shutil.copytree(cur, gen)
    else:
        gen.mkdir()
    return gen


def publish(index_dir: Path, gen: Path) -> None:
    """Switch readers to ``gen`` atomically, then remove unpublished or older generations."""
    index_dir = Path(index_dir)
    tmp = index_dir / (POINTER + ".tmp")
    tmp.write_text(gen.name, encoding="utf-8")
    os.replace(tmp, index_dir / POINTER)
    for p in index_dir.glob("gen-*"):
        if p.is_dir() and p.name != gen.name:
            shutil.rmtree(p, ignore_errors=True)


def discard(gen: Path) -> None:
    """Remove an unpublished generation (after a failed ingest)."""
    shutil.rmtree(gen, ignore_errors=True)
