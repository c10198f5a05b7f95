"""The shared real PDFs (../shared/corpus-pdf), each parsed once per test session (parsing is the
slow part; several test modules read the same documents)."""
from __future__ import annotations

from functools import lru_cache

from assistant.parsing.document import doc_id_for, parse_source
from assistant.parsing.reader import read_source

from .conftest import SHARED

PDF_DIR = SHARED / "corpus-pdf"


@lru_cache(maxsize=None)
def parsed_pdf(stem: str):
    """(SourceText, ParsedDocument) of ``../shared/corpus-pdf/<stem>.pdf``."""
    src = read_source(PDF_DIR / f"{stem}.pdf")
    return src, parse_source(src, doc_id_for(src.path))
