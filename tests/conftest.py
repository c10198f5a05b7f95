"""Shared fixtures: one real index of the seed disclosure per session (real parser, SQLite fact
store, Chroma with the bundled e5-small embedder, BM25), written under pytest's temp folders."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SEED = PROJECT_ROOT / "corpus" / "000_2134ace919fae625.txt"
SHARED = PROJECT_ROOT.parent / "shared"
SEED_ID = "000_2134ace919fae625"


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """Application data (embedding cache, jieba cache) for the session; also exported so that
    subprocesses (CLI, server) never write outside pytest's folders."""
    d = tmp_path_factory.mktemp("data")
    os.environ["BUDGET_QA_DATA"] = str(d)
    return d


@pytest.fixture(scope="session")
def seed_settings(tmp_path_factory, data_dir):
    from assistant.config import Settings

    return Settings.from_env().with_(index_dir=tmp_path_factory.mktemp("index"), data_dir=data_dir,
                                     corpus_dir=SEED.parent)


@pytest.fixture(scope="session")
def seed_assistant(seed_settings):
    from assistant.engine import Assistant
    from assistant.ingest import ingest

    ingest([SEED], seed_settings)
    return Assistant.open(seed_settings, build_if_missing=False)
