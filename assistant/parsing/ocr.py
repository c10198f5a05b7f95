"""Offline OCR behind a small protocol: text boxes of an image, and the text of one line crop.

The engine is RapidOCR (PyPI ``rapidocr-onnxruntime``: PaddleOCR PP-OCRv4 detection and recognition
models run by onnxruntime; the models are inside the wheel, so nothing is downloaded at run time). It
is loaded on first use, once per process; a missing package gives an :class:`~assistant.errors.IngestError`
naming it. Why RapidOCR and not Tesseract: README, "Pages without text (OCR)".

Images are numpy arrays, ``H×W`` grey (uint8) or ``H×W×3`` BGR; box coordinates are pixels of that
image (x to the right, y down).

Progress: OCR is slow on two cores (about a page per few seconds), so callers that want a message per
page set one with :func:`reporting_to`; :func:`report` sends to it (and to the log).
"""
from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from dataclasses import dataclass
from typing import Callable, Iterator, Protocol

from ..errors import IngestError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class OcrBox:
    """One text line found in an image: its text, recognition confidence (0–1) and pixel box."""

    text: str
    score: float
    x0: float
    y0: float
    x1: float
    y1: float

    @property
    def cx(self) -> float:
        return (self.x0 + self.x1) / 2

    @property
    def cy(self) -> float:
        return (self.y0 + self.y1) / 2

    @property
    def height(self) -> float:
        return self.y1 - self.y0


class OcrEngine(Protocol):
    """What the table rebuilder needs from an OCR engine."""

    name: str

    def boxes(self, image) -> list[OcrBox]:
        """Every text line of ``image`` (detection + recognition), in no particular order."""
        ...

    def read_lines(self, images: list) -> list[tuple[str, float]]:
        """Text and confidence of each image holding one line of text (recognition only)."""
        ...


class RapidOcrEngine:
    """RapidOCR (onnxruntime). Angle classification is off: published pages are upright."""

    name = "rapidocr-onnxruntime"

    def __init__(self):
        try:
            from rapidocr_onnxruntime import RapidOCR
        except ImportError as exc:  # pragma: no cover - dependency declared in pyproject
            # OpenCV's wheel needs the system's libGL/GLib (run.sh installs them on Debian)
            hint = ("apt-get install libgl1 libglib2.0-0" if "lib" in str(exc) and ".so" in str(exc)
                    else "pip install rapidocr-onnxruntime")
            raise IngestError(f"图像识别（OCR）无法加载：{exc}（{hint}）") from exc
        # max_side_len: the default (2000 px) would shrink a page rendered at 200 dpi before detection
        self._ocr = RapidOCR(max_side_len=4000, use_cls=False)
        self._lock = threading.Lock()  # one onnxruntime session per model, shared by threads

    @staticmethod
    def _bgr(image):
        import numpy as np

        if image.ndim == 2:
            return np.stack([image] * 3, axis=-1)
        return image

    def boxes(self, image) -> list[OcrBox]:
        with self._lock:
            result, _ = self._ocr(self._bgr(image), use_cls=False)
        out = []
        for quad, text, score in result or []:
            xs = [p[0] for p in quad]
            ys = [p[1] for p in quad]
            out.append(OcrBox(str(text), float(score), float(min(xs)), float(min(ys)), float(max(xs)),
                              float(max(ys))))
        return out

    def read_lines(self, images: list) -> list[tuple[str, float]]:
        if not images:
            return []
        with self._lock:
            # the recogniser batches crops of similar width (its own ``text_rec`` call)
            result, _ = self._ocr.text_rec([self._bgr(i) for i in images])
        return [(str(t), float(s)) for t, s in result]


_engine: OcrEngine | None = None
_engine_lock = threading.Lock()


def get_engine() -> OcrEngine:
    """The process-wide OCR engine, loaded on first use (about 0.3 s)."""
    global _engine
    with _engine_lock:
        if _engine is None:
            _engine = RapidOcrEngine()
            log.info("OCR engine %s loaded", _engine.name)
        return _engine


def set_engine(engine: OcrEngine | None) -> None:
    """Use another engine (tests, benchmarks); None loads the default again on next use."""
    global _engine
    with _engine_lock:
        _engine = engine


_progress: contextvars.ContextVar[Callable[[str], None] | None] = contextvars.ContextVar("ocr_progress",
                                                                                         default=None)


@contextlib.contextmanager
def reporting_to(callback: Callable[[str], None] | None) -> Iterator[None]:
    """Within the block, :func:`report` messages go to ``callback`` (e.g. the ingest progress)."""
    token = _progress.set(callback)
    try:
        yield
    finally:
        _progress.reset(token)


def report(message: str) -> None:
    """A progress message (one per OCR'd page): to the callback of :func:`reporting_to` and the log."""
    log.info(message)
    cb = _progress.get()
    if cb is not None:
        cb(message)
