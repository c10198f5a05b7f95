"""Broken and hostile documents at the parser, in-process: damaged copies of a real PDF, font garbage,
the limits (pages, characters, streams, time, memory), duplicates by content, conversation bounds."""
from __future__ import annotations

from pathlib import Path

import pytest

from assistant.errors import DuplicateDocumentError, IngestError, QuestionError
from assistant.parsing.document import parse_file
from assistant.parsing.limits import IngestLimits, check_pdf, decompressed_stream_bytes
from assistant.parsing.reader import SourceText
from assistant.parsing.textlayer import (clean_line, format_pages, pages_without_text, settle_identity,
                                         settle_text_layer)
from assistant.parsing.worker import ParseWorker

from .conftest import SEED, SHARED
from .hostile_files import MB, damaged_variants, dense_text_pdf, stream_bomb_pdf

SHARED_PDF = SHARED / "corpus-pdf" / "putuo_gov_office_unit_2025_budget.pdf"
needs_shared_pdf = pytest.mark.skipif(not SHARED_PDF.exists(), reason="../shared/corpus-pdf is not beside the repo")


def _texts(parsed) -> list[str]:
    d = parsed.document
    return ([d.title, d.department] + [p.text for p in parsed.passages] + [f.label for f in parsed.facts]
            + [t.title for t in parsed.tables])


# ------------------------------------------------------------------ damaged copies of a real PDF
@needs_shared_pdf
def test_damaged_copies_are_refused_or_read_without_garbage(tmp_path):
    outcomes = {}
    for name, data in damaged_variants(SHARED_PDF):
        path = tmp_path / f"{name}.pdf"
        path.write_bytes(data)
        try:
            parsed = parse_file(path)
        except IngestError as exc:
            outcomes[name] = "refused"
            assert str(exc).endswith(f"{name}.pdf") or f"{name}.pdf" in str(exc)
            continue
        outcomes[name] = "read"
        texts = _texts(parsed)
        assert not [t for t in texts if "(cid:" in t], name
        assert parsed.document.title == "上海市普陀区2025年区级单位预算", name
        assert parsed.facts, name
    assert len(outcomes) == 30
    assert all(outcomes[f"truncated-{k}"] == "refused" for k in range(10))


# ------------------------------------------------------------------ font garbage
@pytest.fixture(scope="module")
def seed_pdf(tmp_path_factory):
    from .pdfgen import txt_file_to_pdf

    return txt_file_to_pdf(SEED, tmp_path_factory.mktemp("seed-pdf") / "seed.pdf")


def test_a_text_layer_of_font_garbage_is_refused_with_its_pages(seed_pdf, tmp_path):
    garbage = tmp_path / "garbage.pdf"  # the fonts lose their Unicode maps: pdfminer reads (cid:N)
    garbage.write_bytes(seed_pdf.read_bytes().replace(b"/ToUnicode", b"/XoUnicode"))
    with pytest.raises(IngestError) as err:
        parse_file(garbage)
    assert str(err.value) == ("PDF 中没有可识别的文字（第 1–10 页：文字层是乱码或为空，可能是扫描件或字体缺少编码）："
                              "garbage.pdf")


def test_one_font_without_its_map_leaves_no_cid_in_what_is_read(seed_pdf, tmp_path):
    raw = seed_pdf.read_bytes()
    at = raw.index(b"/ToUnicode", raw.index(b"/ToUnicode") + 1)  # the second font only
    partial = tmp_path / "partial.pdf"
    partial.write_bytes(raw[:at] + b"/XoUnicode" + raw[at + len(b"/ToUnicode"):])
    try:
        parsed = parse_file(partial)
    except IngestError:
        return  # refused is as good as read without garbage
    assert not [t for t in _texts(parsed) if "(cid:" in t]


def _source(lines: list[str], pages: list[int] | None) -> SourceText:
    return SourceText(Path("/x/doc.pdf"), lines, pages, "pdf", b"")


def test_garbled_pages_are_dropped_and_noted_and_stray_glyphs_marked():
    src = _source(["2024年部门预算", "项目(cid:3)支出\t1(cid:5)3.50", "",
                   "(cid:12)(cid:6)(cid:7)(cid:8)h(cid:9)", "(cid:10)(cid:11)", "",
                   "", "",
                   "12.00\t13.00", ""],
                  [1, 1, 1, 2, 2, 2, 3, 3, 4, 4])
    assert pages_without_text(src) == [2, 3, 4]  # the OCR hook: garbled, empty, no Chinese
    out = settle_text_layer(src)
    assert out.lines == ["2024年部门预算", "项目□支出\t□□□□□□", "", "", "", "", "", "", "12.00\t13.00", ""]
    assert out.notes == ("第 2 页的文字层是乱码（字体缺少编码），未入库",)
    assert clean_line("合计(cid:3)") == "合计□" and clean_line("无") == "无"
    assert format_pages([1, 2, 3, 7, 9, 10]) == "第 1–3、7、9–10 页"


def test_text_without_usable_text_is_refused():
    with pytest.raises(IngestError, match=r"^文件的文字无法识别（乱码或没有中文）：doc.pdf$"):
        settle_text_layer(_source(["(cid:1)(cid:2)", "abc"], None))
    with pytest.raises(IngestError, match=r"^PDF 中没有可识别的文字（第 1–2 页"):
        settle_text_layer(_source(["(cid:1)(cid:2)", "", "(cid:3)", ""], [1, 1, 2, 2]))


def test_a_document_whose_identity_cannot_be_read_is_listed_by_its_file_name():
    from assistant.model import Document
    from assistant.parsing.document import ParsedDocument

    doc = Document(doc_id="d", title="□□h□ 2024", path="/u/预算-2024.pdf", department="□□局", year=2024,
                   kind="预算", sha256="0" * 64)
    parsed = settle_identity(ParsedDocument(doc))
    assert (parsed.document.title, parsed.document.department) == ("预算-2024", "")
    assert parsed.warnings == ["无法读取文件的标题、部门名称（文字层乱码或为空），已按文件名列出"]
    fine = ParsedDocument(Document(doc_id="e", title="2024年某局部门预算", path="/u/e.pdf", department="某局",
                                   year=2024, kind="预算", sha256="1" * 64))
    assert settle_identity(fine).warnings == []


# ------------------------------------------------------------------ limits
def test_stream_bomb_is_counted_without_inflating_it_whole(tmp_path):
    bomb = stream_bomb_pdf(tmp_path / "bomb.pdf", 64 * MB)
    assert bomb.stat().st_size < 100_000
    assert decompressed_stream_bytes(bomb.read_bytes(), 1 << 40) == 64 * MB
    counted = decompressed_stream_bytes(bomb.read_bytes(), 8 * MB)
    assert 8 * MB < counted <= 9 * MB  # stopped just past the limit
    with pytest.raises(IngestError) as err:
        check_pdf(bomb.read_bytes(), "bomb.pdf", IngestLimits(max_stream_bytes=8 * MB))
    assert str(err.value) == "PDF 内容解压后过大：bomb.pdf（超过 8 MB 的上限），文件可能已损坏或是恶意构造的，未入库。"


@pytest.fixture(scope="module")
def dense(tmp_path_factory):
    return dense_text_pdf(tmp_path_factory.mktemp("dense") / "dense.pdf", 30)  # 30 × 64 × 52 characters


def test_pages_and_characters_are_limited(dense):
    with pytest.raises(IngestError) as err:
        check_pdf(dense.read_bytes(), "dense.pdf", IngestLimits(max_pages=20))
    assert str(err.value) == "PDF 页数过多：dense.pdf（30 页，上限 20 页）。请拆分文件后再入库。"
    with pytest.raises(IngestError) as err:
        parse_file(dense, limits=IngestLimits(max_text_chars=50_000))
    assert str(err.value) == ("文件文字过多：dense.pdf（超过 50000 个字符的上限）。"
                              "预算公开文件通常远小于此，请检查文件是否正确。")
    long_text = SEED.read_text(encoding="utf-8")
    with pytest.raises(IngestError, match=r"^文件文字过多：000_2134ace919fae625.txt（超过 1000 个字符的上限）"):
        parse_file(SEED, limits=IngestLimits(max_text_chars=1000))
    assert len(long_text) > 1000


def test_the_worker_stops_a_parse_over_its_time_and_starts_afresh(dense):
    with ParseWorker(IngestLimits(parse_seconds=0.5)) as worker:
        with pytest.raises(IngestError) as err:
            worker.parse(dense, "dense")
        assert str(err.value) == "读取文件超时：dense.pdf（超过 0.5 秒的上限），未入库。请检查文件是否过大或已损坏。"
        worker.limits = IngestLimits()
        parsed = worker.parse(SEED, "seed")  # a new child after the one stopped
    assert (len(parsed.tables), len(parsed.passages)) == (11, 49)


def test_the_worker_refuses_a_document_over_its_memory(dense):
    with ParseWorker(IngestLimits(memory_bytes=200 * MB, max_text_chars=10 ** 7)) as worker:
        with pytest.raises(IngestError) as err:
            worker.parse(dense, "dense")
    # a MemoryError the child catches, or (rarely) one it cannot recover from and dies of
    assert str(err.value) in ("读取文件所需内存超过上限：dense.pdf（200 MB），未入库。请检查文件是否过大或已损坏。",
                              "无法读取文件（解析进程意外退出：文件可能已损坏，或所需内存超过上限）：dense.pdf")


# ------------------------------------------------------------------ the same bytes under two names
def test_the_same_bytes_under_two_names_are_one_document(tmp_path, data_dir):
    from assistant.config import Settings
    from assistant.engine import Assistant
    from assistant.ingest import ingest

    s = Settings.from_env().with_(index_dir=tmp_path / "idx", data_dir=tmp_path / "data")
    for name in ("a.txt", "b.txt"):
        (tmp_path / name).write_bytes(SEED.read_bytes())
    report = ingest([tmp_path / "a.txt", tmp_path / "b.txt"], s)
    assert [d.doc_id for d in report.documents] == ["a"]
    assert [d.message() for d in report.duplicates] == [
        "b.txt 与已入库的文件“a.txt”（a）内容相同，未重复入库"]
    (tmp_path / "c.txt").write_bytes(SEED.read_bytes())
    report = ingest([tmp_path / "c.txt"], s)  # against the index: nothing published
    assert report.documents == [] and [d.doc_id for d in report.duplicates] == ["a"]
    a = Assistant.open(s, build_if_missing=False)
    assert [d.doc_id for d in a.documents()] == ["a"]
    with pytest.raises(DuplicateDocumentError) as err:
        a.add_document("copy.txt", SEED.read_bytes())
    assert str(err.value) == ("copy.txt 与已入库的文件“2023年度中共济源产城融合示范区工作委员会办公室部门预算说明”"
                              "（a）内容相同，未重复入库")
    assert [d.doc_id for d in a.documents()] == ["a"]


# ------------------------------------------------------------------ conversations
def test_conversation_contexts_are_bounded_in_count_and_memory():
    from assistant.conversations import ConversationContexts

    c = ConversationContexts(max_count=3, max_bytes=1 << 30)
    for i in range(5):
        c.get(f"c{i}")["subject"] = f"s{i}"
        c.measure(f"c{i}")
    assert len(c) == 3 and "c0" not in c and "c4" in c
    c.get("c2")  # used again: c3 is now the least recently used
    c.get("c5")
    assert "c3" not in c and "c2" in c
    small = ConversationContexts(max_count=1000, max_bytes=50_000)
    for i in range(100):
        small.get(f"k{i}")["set"] = ("项目", ["一项支出"] * 20)  # about 2 KB each (estimated)
        small.measure(f"k{i}")
    assert small.total_bytes <= 50_000 and 10 < len(small) < 100 and "k99" in small


def test_an_overlong_or_control_character_conversation_id_is_refused(seed_assistant):
    with pytest.raises(QuestionError) as err:
        seed_assistant.ask("项目支出占比多少", conversation="x" * 129)
    assert str(err.value) == "会话 ID 过长（129 个字符，上限 128）：请使用较短的 ID，例如 UUID。"
    with pytest.raises(QuestionError, match="^会话 ID 不能含控制字符"):
        seed_assistant.ask("项目支出占比多少", conversation="a\nb")
    assert "9.39%" in seed_assistant.ask("项目支出占比多少", conversation="x" * 128).answer
