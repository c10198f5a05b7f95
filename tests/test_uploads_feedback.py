"""Uploads and feedback at the core: sanitised names that cannot leave the upload folder, caps, a
rejected file stores nothing and leaves the index as it was; feedback survives re-ingesting and
exports as CSV."""
from __future__ import annotations

import csv

import pytest

from assistant.errors import IngestError
from assistant.uploads import UPLOAD_MAX_BYTES, sanitize_filename, store_upload, uploads_dir

from .conftest import SEED


@pytest.mark.parametrize("name, safe", [
    ("../../etc/passwd", "passwd"),
    ("..\\..\\windows\\x.txt", "x.txt"),
    ("预算 说明(2023).txt", "预算_说明_2023_.txt"),
    (".hidden.txt", "hidden.txt"),
])
def test_sanitize_filename(name, safe):
    assert sanitize_filename(name) == safe


def test_upload_checks_and_keeps_nothing_on_error(seed_settings, tmp_path):
    s = seed_settings.with_(data_dir=tmp_path / "data")
    with pytest.raises(IngestError, match="^不支持的文件类型 .exe：x.exe（支持 .txt、.pdf、.png、.jpg、.gif）$"):
        store_upload(s, "x.exe", b"MZ")
    with pytest.raises(IngestError, match="^文件为空：x.txt$"):
        store_upload(s, "x.txt", b"")
    with pytest.raises(IngestError, match="^文件过大"):
        store_upload(s, "big.txt", b"a" * (UPLOAD_MAX_BYTES + 1))
    assert not list(uploads_dir(s).glob("*"))
    kept = store_upload(s, "../../seed.txt", SEED.read_bytes())
    assert kept == uploads_dir(s) / "seed.txt" and kept.read_bytes() == SEED.read_bytes()
    # the same bytes again keep the file; other bytes under the name get the next free name
    assert store_upload(s, "seed.txt", SEED.read_bytes()) == kept
    assert store_upload(s, "seed.txt", b"other") == uploads_dir(s) / "seed-2.txt"
    assert sorted(p.name for p in uploads_dir(s).iterdir()) == ["seed-2.txt", "seed.txt"]


def test_add_document_then_a_bad_one(tmp_path, data_dir):
    from assistant.config import Settings
    from assistant.engine import Assistant
    from assistant.ingest import ingest

    s = Settings.from_env().with_(index_dir=tmp_path / "idx", data_dir=tmp_path / "data")
    ingest([SEED], s)
    a = Assistant.open(s, build_if_missing=False)
    extra = SEED.parent.parent.parent / "shared" / "corpus-extra" / "05_fujian_pingtan_economic_dev_bureau_2018_budget.txt"
    if extra.exists():
        summary = a.add_document(extra.name, extra.read_bytes())
        assert (summary.tables, summary.warnings) == (0, ["未识别到表格：已按叙述文本入库"])
        assert "255.3" in a.ask("平潭经济发展局2018年机关运行经费").answer
    before = a.ask("三公经费预算是多少？").answer
    with pytest.raises(IngestError, match="文件不是文本"):
        a.add_document("bad.txt", bytes(range(256)) * 4)
    assert a.ask("三公经费预算是多少？").answer == before


def test_feedback_survives_reingest_and_exports_csv(tmp_path, data_dir):
    from assistant.config import Settings
    from assistant.engine import Assistant
    from assistant.ingest import ingest

    s = Settings.from_env().with_(index_dir=tmp_path / "idx", data_dir=tmp_path / "data")
    ingest([SEED], s)
    a = Assistant.open(s, build_if_missing=False)
    ans = a.ask("三公经费预算是多少？")
    a.feedback.add("三公经费预算是多少？", ans.to_dict(), 1, conversation="c1")
    a.feedback.add("三公经费预算是多少？", ans.to_dict(), -1, comment="想看明细")
    ingest([SEED], s)  # a re-index keeps the application database
    out = tmp_path / "feedback.csv"
    assert Assistant.open(s, build_if_missing=False).feedback.export_csv(out) == 2
    rows = list(csv.DictReader(open(out, encoding="utf-8-sig")))
    assert [(r["rating"], r["comment"], r["answer"]) for r in rows] == [
        ("1", "", "三公经费预算 25.50 万元[1][2]。"), ("-1", "想看明细", "三公经费预算 25.50 万元[1][2]。")]
    assert "七、“三公”经费支出预算情况说明" in rows[0]["citations"]
