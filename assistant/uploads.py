"""Documents uploaded by staff: checked, kept with a sanitised name in ``data/uploads`` (outside the
rebuildable index, so a re-index keeps them), then ingested. A rejected file changes nothing."""
from __future__ import annotations

import hashlib
import logging
import os
import re
import tempfile
from pathlib import Path

from .config import Settings
from .errors import IngestError
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


def max_upload_bytes(settings: Settings) -> int:
    """Largest upload accepted: ``BUDGET_QA_MAX_UPLOAD_MB`` (default :data:`UPLOAD_MAX_BYTES`)."""
    return int(getattr(settings, "max_upload_mb", UPLOAD_MAX_BYTES // (1024 * 1024))) * 1024 * 1024


def check_upload(settings: Settings, name: str, size: int) -> str:
    """The sanitised name of an acceptable upload; IngestError (in Chinese, naming the fault) for a
    file of another type, an empty one or one over :func:`max_upload_bytes`."""
    safe = sanitize_filename(name)
    suffix = Path(safe).suffix.lower()
    if suffix not in SUPPORTED_SUFFIXES:
        raise IngestError(f"不支持的文件类型 {suffix or '(无扩展名)'}：{safe}（支持 .txt、.pdf、.png、.jpg、.gif）")
    if not size:
        raise IngestError(f"文件为空：{safe}")
    cap = max_upload_bytes(settings)
    if size > cap:
        raise IngestError(f"文件过大：{safe}（{size // (1024 * 1024)} MB，上限 {cap // (1024 * 1024)} MB）")
    return safe


def store_upload(settings: Settings, name: str, data: bytes) -> Path:
    """Check an uploaded file (type, size: :func:`check_upload`) and keep it under ``data/uploads``.

    Returns the stored path: the sanitised name, or ``name-2.ext``, ``name-3.ext`` … when a file of
    other content has that name (chosen atomically, so two uploads at once never share a file).
    Raises IngestError and stores nothing for a rejected file. Whether the content is a readable
    disclosure is decided by the ingest that follows (which removes the file when it is not).
    """
    safe = check_upload(settings, name, len(data))
    folder = uploads_dir(settings)
    folder.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256(data).digest()
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        stem, suffix = Path(safe).stem, Path(safe).suffix
        n = 1
        while True:
            target = folder / (safe if n == 1 else f"{stem}-{n}{suffix}")
            try:
                os.link(tmp, target)  # fails if the name is taken: no two uploads share a file
                break
            except FileExistsError:
                if hashlib.sha256(target.read_bytes()).digest() == digest:
                    break  # the same file again
                n += 1
    finally:
        os.unlink(tmp)
    log.info("stored upload %s (%d bytes)", target.name, len(data))
    return target
