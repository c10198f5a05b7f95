"""Passage stores: a Chroma vector store (:mod:`.vectors`) and a BM25 lexical index (:mod:`.lexical`)."""
