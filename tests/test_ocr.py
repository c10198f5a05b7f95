"""Pages without a text layer, read by OCR (RapidOCR): a real published PDF's pages rendered to images.

Pages 1 (cover), 9 (2025年部门财务收支预算总表) and 29 (“三公”经费和机关运行经费预算表) of
putuo_wanli_street_2025_budget.pdf — tables whose text layer parses cleanly — are copied twice: as
a text PDF (the pages themselves) and as an image-only PDF (each page rendered at 150 dpi with
pypdfium2 and placed as a picture with reportlab, as a scanner would). Both are parsed and ingested;
the image PDF must give the same table facts, value for value, and the same answers.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tests.conftest import SHARED

SOURCE = SHARED / "corpus-pdf" / "putuo_wanli_street_2025_budget.pdf"
PAGES = (1, 9, 29)  # of SOURCE; pages 1, 2, 3 of the copies
FONT = Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc")

pytestmark = pytest.mark.skipif(not SOURCE.is_file(), reason=f"{SOURCE} not available")


def _render(page, dpi: int):
    return page.render(scale=dpi / 72).to_pil()


def _image_pdf(images_and_sizes, out: Path) -> Path:
    """A PDF whose pages are only pictures (no text layer)."""
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    c = canvas.Canvas(str(out))
    for img, (w, h) in images_and_sizes:
        c.setPageSize((w, h))
        c.drawImage(ImageReader(img), 0, 0, w, h)
        c.showPage()
    c.save()
    return out


@pytest.fixture(scope="module")
def copies(tmp_path_factory) -> tuple[Path, Path]:
    """(text PDF, image-only PDF) of PAGES."""
    import pypdfium2 as pdfium

    d = tmp_path_factory.mktemp("ocr")
    src = pdfium.PdfDocument(str(SOURCE))
    text = pdfium.PdfDocument.new()
    text.import_pages(src, [p - 1 for p in PAGES])
    text_pdf = d / "wanli_text.pdf"
    text.save(str(text_pdf))
    image_pdf = _image_pdf([(_render(src[p - 1], 150), src[p - 1].get_size()) for p in PAGES], d / "wanli_scan.pdf")
    return text_pdf, image_pdf


@pytest.fixture(scope="module")
def parsed(copies):
    from assistant.parsing.document import parse_file

    text_pdf, image_pdf = copies
    return parse_file(text_pdf, "wanli"), parse_file(image_pdf, "wanli")


def _key(f):
    return (f.table_title, f.label, f.code, f.row_path, f.col_path, f.value_text, f.unit, f.page, f.is_total_row)


def test_image_pdf_has_no_text_layer(copies):
    import pdfplumber

    with pdfplumber.open(copies[1]) as pdf:
        assert [len(p.chars) for p in pdf.pages] == [0, 0, 0]
        assert all(len(p.images) == 1 for p in pdf.pages)


SANGONG_COLUMNS = [
    ("三公经费预算数", "合计"), ("三公经费预算数", "因公出国（境）费"), ("三公经费预算数", "公务接待费"),
    ("三公经费预算数", "公务用车购置及运行费", "小计"), ("三公经费预算数", "公务用车购置及运行费", "购置费"),
    ("三公经费预算数", "公务用车购置及运行费", "运行费"), ("机关运行经费预算数",)]
SANGONG_VALUES = ["37.91", "0", "1.35", "36.56", "15", "21.56", "464.64"]


def test_ocr_table_facts_equal_text_layer(parsed):
    text, scan = parsed
    assert [t.title for t in scan.tables] == [t.title for t in text.tables] == [
        "2025年部门财务收支预算总表", "2025年部门“三公”经费和机关运行经费预算表"]
    # 收支总表: every fact, value for value, with its row and column path
    szb = "2025年部门财务收支预算总表"
    want = sorted(_key(f) for f in text.facts if f.table_title == szb)
    got = sorted(_key(f) for f in scan.facts if f.table_title == szb)
    assert got == want and len(got) == 13
    assert ("收入总计", ("本年收入", "预算数"), "189,767,551") in [(f.label, f.col_path, f.value_text) for f in scan.facts]
    # 三公 table: the same figures in the same cells; the OCR grid reads its three header rows, which the
    # text layer's table finder merges into one header cell (a reader limitation, not an OCR one)
    sg_text = [f for f in text.facts if "三公" in f.table_title]
    sg_scan = [f for f in scan.facts if "三公" in f.table_title]
    assert [(f.value_text, f.unit, f.page, f.row_index, f.col_index) for f in sg_scan] == [
        (f.value_text, f.unit, f.page, f.row_index, f.col_index) for f in sg_text]
    assert [f.value_text for f in sg_scan] == SANGONG_VALUES
    assert [f.col_path for f in sg_scan] == SANGONG_COLUMNS
    assert scan.warnings == [] and scan.unaligned == []


def test_ocr_facts_marked_and_cited(parsed):
    from assistant.model import Citation

    text, scan = parsed
    assert all(f.ocr and f.exact for f in scan.facts if f.page in (2, 3))
    assert not any(f.ocr or f.ocr_checked for f in text.facts)
    # confirmed by the table's arithmetic: 合计 = 因公出国 + 公务接待 + 公务用车小计 (37.91 = 0 + 1.35 + 36.56);
    # the 0 and the 15 are whole numbers in a table of decimals, which the checks leave out, so neither
    # they nor the 小计 = 购置费 + 运行费 sum count; 机关运行经费 has no total
    assert [f.ocr_checked for f in scan.facts if "三公" in f.table_title] == [True, False, True, True, False, False,
                                                                              False]
    total = next(f for f in scan.facts if f.label == "收入总计")
    assert total.locator == "2025年部门财务收支预算总表 · 收入总计 · 本年收入 > 预算数（第2页，图像识别）"
    c = Citation("wanli", "t", total.locator, total.quote, total.line, total.page)
    assert c.ocr is True and c.to_dict()["ocr"] is True
    plain = next(f for f in text.facts if f.label == "收入总计")
    assert Citation("wanli", "t", plain.locator, plain.quote, plain.line, plain.page).ocr is False


def _figures(text: str) -> list[str]:
    return sorted(set(re.findall(r"\d[\d,]*(?:\.\d+)?%?", text)))


def test_ingest_scan_reports_pages_and_answers_like_text(copies, tmp_path, data_dir):
    from assistant.config import Settings
    from assistant.engine import Assistant
    from assistant.ingest import ingest

    gold = {d["id"]: d for d in map(json.loads, (SHARED / "eval" / "pdf_gold.jsonl").read_text().splitlines())}
    questions = [gold["p57"]["q"], gold["p60"]["q"]]  # 收支总表 收入总计; 三公 table
    answers = {}
    messages: list[str] = []
    for name, pdf in zip(("text", "scan"), copies):
        settings = Settings().with_(index_dir=tmp_path / name, data_dir=data_dir)
        ingest([pdf], settings, progress=messages.append if name == "scan" else None)
        a = Assistant.open(settings, build_if_missing=False)
        answers[name] = [a.ask(q) for q in questions]
    # progress: one line per OCR'd page
    assert [m.split("：")[0] for m in messages if m.startswith("图像识别")] == [
        "图像识别 第1/3页", "图像识别 第2/3页", "图像识别 第3/3页"]
    for t, s in zip(answers["text"], answers["scan"]):
        assert _figures(s.answer) == _figures(t.answer)
        assert [f.value for f in s.facts] == [f.value for f in t.facts]
    # p57 is "not found" from these three pages with or without a text layer (the answer in the
    # full document comes from the narrative); p60's 三公 total comes from the table
    assert "37.91" in answers["scan"][1].answer and "37.91" in answers["text"][1].answer
    assert any("图像识别" in c.locator for c in answers["scan"][1].citations)


def test_untrusted_ocr_page_reported(tmp_path):
    """A figure that does not add up (公务接待费 printed as 1.85: 0 + 1.85 + 36.56 ≠ 合计 37.91) marks the
    table's OCR'd figures as not exact and is reported with its page number."""
    import pdfplumber
    import pypdfium2 as pdfium
    from PIL import ImageDraw, ImageFont

    from assistant.parsing.document import parse_file

    src = pdfium.PdfDocument(str(SOURCE))
    page = src[PAGES[2] - 1]
    dpi = 150
    img = _render(page, dpi)
    with pdfplumber.open(SOURCE) as pdf:
        words = pdf.pages[PAGES[2] - 1].extract_words()
    w = next(x for x in words if x["text"] == "1.35")
    s = dpi / 72
    draw = ImageDraw.Draw(img)
    draw.rectangle([w["x0"] * s - 2, w["top"] * s - 2, w["x1"] * s + 2, w["bottom"] * s + 2], fill="white")
    font = ImageFont.truetype(str(FONT), int((w["bottom"] - w["top"]) * s))
    draw.text((w["x0"] * s, w["top"] * s), "1.85", fill="black", font=font)
    pdf_path = _image_pdf([(img, page.get_size())], tmp_path / "sangong_scan.pdf")

    doc = parse_file(pdf_path, "sg")
    values = [f.value_text for f in doc.facts if "三公" in f.table_title]
    assert values == ["37.91", "0", "1.85", "36.56", "15", "21.56", "464.64"]
    assert all(f.ocr and not f.exact and not f.ocr_checked for f in doc.facts if "三公" in f.table_title)
    assert len(doc.warnings) == 1
    assert doc.warnings[0].startswith("第1页（图像识别）的数字未通过核对，不作为精确数字回答：")
    assert "37.91" in doc.warnings[0] and "38.41" in doc.warnings[0]


def test_image_file_as_document(tmp_path):
    """A table published as a picture (.png) is a document of its own: the 三公 table, page 1."""
    import pypdfium2 as pdfium

    from assistant.parsing.document import parse_file
    from assistant.parsing.reader import SUPPORTED_SUFFIXES

    assert {".png", ".jpg", ".jpeg", ".gif"} <= set(SUPPORTED_SUFFIXES)
    img = _render(pdfium.PdfDocument(str(SOURCE))[PAGES[2] - 1], 150)
    png = tmp_path / "wanli_sangong_2025.png"
    img.save(png, dpi=(150, 150))
    doc = parse_file(png, "png")
    facts = [f for f in doc.facts if f.source == "table"]
    assert [f.col_path for f in facts] == SANGONG_COLUMNS
    assert [f.value_text for f in facts] == SANGONG_VALUES
    assert all(f.ocr and f.exact and f.page == 1 for f in facts)
    assert facts[0].locator.endswith("（第1页，图像识别）")


def test_broken_image_file(tmp_path):
    from assistant.errors import IngestError
    from assistant.parsing.reader import read_source

    bad = tmp_path / "table.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n not really")
    with pytest.raises(IngestError, match="^无法读取图片（文件损坏或格式不支持）：table.png$"):
        read_source(bad)


@pytest.mark.parametrize("raw,clean", [
    ("189, 767, 551", "189,767,551"), ("2,878, 025", "2,878,025"), ("1，234．50", "1,234.50"),
    ("189.767.551", "189,767,551"), ("O", "0"), ("1. 35", "1.35"), ("因公出国 (境)费", "因公出国(境)费"),
    ("1.35", "1.35"), ("一、财政拨款收入", "一、财政拨款收入"),
])
def test_clean_text(raw, clean):
    from assistant.parsing.image_tables import clean_text

    assert clean_text(raw) == clean


def test_fact_store_keeps_ocr_flags_and_upgrades_old_files(tmp_path):
    import sqlite3

    from assistant.model import Document, Fact
    from assistant.store.facts import SQLiteFactStore

    old = tmp_path / "old.sqlite"
    conn = sqlite3.connect(old)  # the facts table as index version 7 wrote it
    conn.executescript("""CREATE TABLE facts (
      fact_id TEXT PRIMARY KEY, doc_id TEXT, source TEXT, label TEXT, value REAL, value_text TEXT,
      unit TEXT, line INTEGER, page INTEGER, quote TEXT, role TEXT, table_id TEXT, table_title TEXT,
      row_path TEXT, code TEXT, code_kind TEXT, col_path TEXT, section_path TEXT, is_total_row INTEGER,
      row_index INTEGER, col_index INTEGER, base_year INTEGER, whole TEXT);
      INSERT INTO facts VALUES ('a:1','a','table','合计',1.0,'1.00','万元',3,1,'q','amount','a:t1','表',
      '[]','','','[]','[]',1,0,0,NULL,'');""")
    conn.commit()
    conn.close()
    store = SQLiteFactStore(old)
    assert [(f.fact_id, f.ocr, f.exact, f.ocr_checked) for f in store.facts()] == [("a:1", False, True, False)]
    doc = Document("b", "t", "p", "d", 2025, "预算", "0")
    store.replace_document(doc, [], [
        Fact("b:1", "b", "table", "合计", 2.0, "2.00", "万元", 4, "q", page=2, ocr=True, exact=False),
        Fact("b:2", "b", "table", "小计", 1.0, "1.00", "万元", 5, "q", page=2, ocr=True, ocr_checked=True)], [])
    assert [(f.fact_id, f.ocr, f.exact, f.ocr_checked) for f in store.facts(["b"])] == [
        ("b:1", True, False, False), ("b:2", True, True, True)]
    store.close()


def test_web_page_pictures_read_with_the_page(tmp_path):
    """A web page saved as text whose tables were pictures (X.txt + X_files/…): the pictures' tables
    become facts of the page's document, marked as OCR'd; the pictures are not documents of their own."""
    import pypdfium2 as pdfium

    from assistant.ingest import collect_files
    from assistant.parsing.document import parse_file

    page = tmp_path / "wanli_2025.txt"
    page.write_text("上海市普陀区人民政府万里街道办事处2025年部门预算\n"
                    "一、“三公”经费预算情况说明\n2025年“三公”经费预算为37.91万元，比2024年预算减少10万元。\n",
                    encoding="utf-8")
    (tmp_path / "wanli_2025_files").mkdir()
    img = _render(pdfium.PdfDocument(str(SOURCE))[PAGES[2] - 1], 150)
    img.save(tmp_path / "wanli_2025_files" / "sangong.gif")
    (tmp_path / "notes.txt").write_text("无关文件\n", encoding="utf-8")

    assert collect_files([tmp_path]) == [tmp_path / "notes.txt", page]
    doc = parse_file(page, "wanli")
    table = [f for f in doc.facts if f.source == "table"]
    assert [f.value_text for f in table] == SANGONG_VALUES
    assert [f.col_path for f in table] == SANGONG_COLUMNS
    assert all(f.ocr and f.exact and f.page is None for f in table)
    assert table[0].locator == "2025年部门“三公”经费和机关运行经费预算表 · 三公经费预算数 > 合计（图像识别）"
    sentence = [f for f in doc.facts if f.source == "narrative"]
    assert sentence and not any(f.ocr for f in sentence)


def test_table_without_ruling_lines(tmp_path):
    """A table printed without lines (columns by position): header line above, figures right-aligned."""
    from PIL import Image, ImageDraw, ImageFont

    from assistant.parsing.document import parse_file

    font = ImageFont.truetype(str(FONT), 30)
    img = Image.new("L", (1600, 560), 255)
    d = ImageDraw.Draw(img)
    d.text((450, 40), "2024年一般公共预算支出功能分类表", font=font, fill=0)
    d.text((1350, 110), "单位：万元", font=font, fill=0)
    rows = [("科目名称", "合计", "基本支出", "项目支出"), ("一般公共服务支出", "1,234.50", "1,000.00", "234.50"),
            ("教育支出", "500.00", "", "500.00"), ("合计", "1,734.50", "1,000.00", "734.50")]
    for i, row in enumerate(rows):
        for x, text in zip((80, 800, 1050, 1300), row):
            if text:  # names left-aligned, the rest right-aligned in a 200 px column
                d.text((x if x == 80 else x + 200 - d.textlength(text, font=font), 180 + i * 70), text, font=font, fill=0)
    png = tmp_path / "functional.png"
    img.save(png)
    doc = parse_file(png, "f")
    assert [(f.label, f.col_path, f.value_text) for f in doc.facts] == [
        ("一般公共服务支出", ("合计",), "1,234.50"), ("一般公共服务支出", ("基本支出",), "1,000.00"),
        ("一般公共服务支出", ("项目支出",), "234.50"), ("教育支出", ("合计",), "500.00"),
        ("教育支出", ("项目支出",), "500.00"), ("合计", ("合计",), "1,734.50"),
        ("合计", ("基本支出",), "1,000.00"), ("合计", ("项目支出",), "734.50")]
    assert all(f.ocr and f.exact and f.unit == "万元" for f in doc.facts)
    # every figure is part of a checked sum (rows add up to 合计, columns to the 合计 column)
    assert all(f.ocr_checked for f in doc.facts)
    assert doc.warnings == [] and doc.unaligned == []


def test_table_pasted_as_picture_into_a_text_page(tmp_path):
    """Title and meta lines in the text layer, the table itself a picture with a caption printed over
    it: the picture's table is read by OCR, the caption once (from the text layer)."""
    import pdfplumber
    import pypdfium2 as pdfium
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    from assistant.parsing.document import parse_file
    from assistant.parsing.reader import read_source
    from tests.pdfgen import FONT_NAME, _register_font

    _register_font()
    page = pdfium.PdfDocument(str(SOURCE))[PAGES[2] - 1]
    w, h = page.get_size()
    with pdfplumber.open(SOURCE) as pdf:
        top = next(x for x in pdf.pages[PAGES[2] - 1].extract_words() if "编制部门" in x["text"])["bottom"] + 4
    img = _render(page, 150)
    s = 150 / 72
    table = img.crop((0, int(top * s), img.width, img.height))
    out = tmp_path / "pasted.pdf"
    c = canvas.Canvas(str(out), pagesize=(w, h))
    c.setFont(FONT_NAME, 16)
    c.drawString(180, h - 90, "2025年部门“三公”经费和机关运行经费预算表")
    c.setFont(FONT_NAME, 10)
    c.drawString(60, h - 110, "编制部门：上海市普陀区人民政府万里街道办事处")
    c.drawString(w - 110, h - 110, "单位：万元")
    c.drawImage(ImageReader(table), 0, 0, w, h - top)
    c.drawString(60, 40, "说明：本页表格为图片。")
    c.showPage()
    c.save()

    assert read_source(out).lines == [
        "2025年部门“三公”经费和机关运行经费预算表", "编制部门：上海市普陀区人民政府万里街道办事处 单位：万元",
        "“三公”经费预算数\t\t\t\t\t\t机关运行经费预算数", "合计\t因公出国(境)费\t公务接待费\t公务用车购置及运行费\t\t\t",
        "\t\t\t小计\t购置费\t运行费\t", "37.91\t0\t1.35\t36.56\t15\t21.56\t464.64", "说明：本页表格为图片。", ""]
    doc = parse_file(out, "pasted")
    assert [f.value_text for f in doc.facts] == SANGONG_VALUES
    assert [f.col_path for f in doc.facts] == SANGONG_COLUMNS
    assert all(f.ocr and f.exact for f in doc.facts)


def test_framed_paragraph_is_text_not_a_table(tmp_path):
    """A frame drawn around a page's text is no table: its lines stay text lines."""
    from PIL import Image, ImageDraw, ImageFont

    from assistant.parsing.image_tables import read_image
    from assistant.parsing.ocr import get_engine

    font = ImageFont.truetype(str(FONT), 30)
    img = Image.new("L", (1400, 400), 255)
    d = ImageDraw.Draw(img)
    d.rectangle([40, 40, 1360, 360], outline=0, width=3)
    d.text((100, 100), "一、收入预算总体情况", font=font, fill=0)
    d.text((100, 180), "2025年收入预算18,976.76万元。", font=font, fill=0)
    blocks = read_image(img, get_engine())
    assert [b.kind for b in blocks] == ["text", "text"]
    assert blocks[0].text == "一、收入预算总体情况" and blocks[1].text.startswith("2025年收入预算18,976.76万元")
