"""OCR benchmark: pages per second and accuracy on rendered pages of a published PDF.

    PYTHONPATH=. .venv/bin/python benchmarks/ocr.py [--pdf PATH] [--pages 9,29,6] [--dpi 150,200]

For each page and resolution the page is rendered with pypdfium2 (as an image-only PDF would be),
then read by

* ``rapidocr``: the engine the product uses, through :func:`assistant.parsing.image_tables.read_image`
  (detection + recognition + table rebuild + re-reading at cell borders);
* ``tesseract``: Debian's tesseract-ocr with chi_sim (``--psm 6`` and ``--psm 11``), when the
  ``tesseract`` binary is installed (it is not a project dependency; install it to compare).

Accuracy is recall against the page's text layer: the share of its figures ("189,767,551", "37.91")
and of its Chinese words (runs of 2+ CJK characters, e.g. "一般公共服务支出") found verbatim in the OCR
text (spaces removed). Seconds are wall time on this machine; pages/s = pages / total seconds.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_PDF = ROOT.parent / "shared" / "corpus-pdf" / "putuo_wanli_street_2025_budget.pdf"
NUM = re.compile(r"\d[\d,]*(?:\.\d+)?")
CJK = re.compile(r"[\u4e00-\u9fff]{2,}")


def truth(pdf_path: Path, page_no: int) -> tuple[list[str], list[str]]:
    import pdfplumber

    with pdfplumber.open(pdf_path) as pdf:
        text = pdf.pages[page_no - 1].extract_text() or ""
    return NUM.findall(text), CJK.findall(text)


def recall(found: str, items: list[str]) -> float:
    flat = re.sub(r"\s+", "", found)
    return sum(1 for x in items if x in flat) / len(items) if items else 1.0


def run_rapidocr(gray) -> str:
    from assistant.parsing.image_tables import read_image
    from assistant.parsing.ocr import get_engine

    blocks = read_image(gray, get_engine())
    return "\n".join(b.text if b.kind == "text" else "\n".join("\t".join(r) for r in b.rows) for b in blocks)


def run_tesseract(image, psm: int) -> str:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "page.png"
        image.save(p)
        out = subprocess.run(["tesseract", str(p), "-", "-l", "chi_sim", "--psm", str(psm)],
                             capture_output=True, text=True, check=False)
    return out.stdout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pdf", type=Path, default=DEFAULT_PDF)
    ap.add_argument("--pages", default="9,29,6", help="1-based page numbers (tables 9, 29; narrative 6)")
    ap.add_argument("--dpi", default="150,200")
    args = ap.parse_args()
    import numpy as np
    import pypdfium2 as pdfium

    from assistant.parsing.ocr import get_engine

    get_engine()  # load once, outside the timings
    pages = [int(p) for p in args.pages.split(",")]
    engines = ["rapidocr"] + (["tesseract psm6", "tesseract psm11"] if shutil.which("tesseract") else [])
    doc = pdfium.PdfDocument(str(args.pdf))
    print(f"{args.pdf.name}, pages {pages}")
    print("| engine | dpi | page | seconds | figures found | Chinese words found |")
    print("|---|---|---|---|---|---|")
    totals: dict[tuple[str, int], list[float]] = {}
    for dpi in (int(d) for d in args.dpi.split(",")):
        for p in pages:
            nums, words = truth(args.pdf, p)
            image = doc[p - 1].render(scale=dpi / 72, grayscale=True).to_pil().convert("L")
            gray = np.asarray(image)
            for eng in engines:
                t0 = time.perf_counter()
                text = run_rapidocr(gray) if eng == "rapidocr" else run_tesseract(image, int(eng.split("psm")[1]))
                dt = time.perf_counter() - t0
                rn, rw = recall(text, nums), recall(text, words)
                totals.setdefault((eng, dpi), []).append(dt)
                print(f"| {eng} | {dpi} | {p} | {dt:.1f} | {rn:.0%} of {len(nums)} | {rw:.0%} of {len(words)} |")
    print()
    print("| engine | dpi | pages/s |")
    print("|---|---|---|")
    for (eng, dpi), ts in totals.items():
        print(f"| {eng} | {dpi} | {len(ts) / sum(ts):.2f} |")


if __name__ == "__main__":
    main()
