"""Documents uploaded by staff: checked, kept with a sanitised name in ``data/uploads`` (outside the
rebuildable index, so a re-index keeps them), then ingested. A rejected file changes nothing."""
from __future__ import annotations

import hashlib
import logging
import re
import shutil
import tempfile
from pathlib import Path

from .config import Settings
from .errors import IngestError
from .parsing.document import parse_file
from .parsing.reader import SUPPORTED_SUFFIXES

log = logging.getLogger(__name__)

#: Largest upload accepted (bytes).
UPLOAD_MAX_BYTES = 20 * 1024 * 1024


def uploads_dir(settings: Settings) -> Path:
    """Where uploaded documents are kept (``data/uploads``)."""
    return Path(settings.data_dir) / "uploads"


def sanitize_filename(name: str) -> str:
    """A safe file name: the last path component only (``../../etc/passwd`` → ``passwd``), characters
    outside letters, digits, CJK, ``.``, ``-`` and ``_`` replaced by ``_``, no leading dot, at most 100
    characters. Raises IngestError when nothing usable remains."""
    base = re.split(r"[\\\\/]", name or "")[-1]
    base = re.sub(r"[^\w\u4e00-\u9fff.\-]", "_", base).lstrip(".")
    base = base[-100:]
    if not base or base in (".", ".."):
        raise IngestError("文件名无效，请重命名后再上传")
    return base


def store_upload(settings: Settings, name: str, data: bytes) -> Path:
    """Check an uploaded file (type, size, readable text or PDF) and keep it under ``data/uploads``.

    Returns the stored path. Raises IngestError (in Chinese, naming the fault) and stores nothing when
    the file is of another type, empty, over :data:`UPLOAD_MAX_BYTES`, binary, or unreadable.
    """
    safe = sanitize_filename(name)
    suffix = Path(safe).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(f"不支持的文件类型 {suffix or '(无扩展名)'}：{safe}（支持 .txt、.pdf、.png、.jpg、.gif）")
    if not data:
        raise IngestError(f"文件为空：{safe}")
    if len(data) > UPLOAD_MAX_BYTES:
        raise IngestError(f"文件过大：{safe}（{len(data) // (1024 * 1024)} MB，上限 {UPLOAD_MAX_BYTES // (1024 * 1024)} MB）")
    folder = uploads_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder) as tmp:
        probe = Path(tmp) / safe
        probe.write_bytes(data)
        parse_file(probe)  # raises IngestError for unreadable content
        target = folder / safe
        if target.exists() and hashlib.sha256(target.read_bytes()).digest() != hashlib.sha256(data).digest():
            stem, n = target.stem, 2
            while (folder / f"{stem}-{n}{suffix}").exists():
                n += 1
            target = folder / f"{stem}-{n}{suffix}"
        shutil.move(str(probe), target)
    log.info("stored upload %s (%d bytes)", target.name, len(data))
    return target
