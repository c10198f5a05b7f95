"""Parsing in a child process: a hostile or broken document costs the child, never the server.

:class:`ParseWorker` starts ``python -m assistant.parsing.worker`` once per ingest and sends it one
document at a time (pickled over a pipe, :mod:`multiprocessing.connection`). The child limits its own
address space (``RLIMIT_AS`` = :attr:`IngestLimits.memory_bytes`) and parses with
:func:`~assistant.parsing.document.parse_file` (which checks pages, characters and streams); the
parent waits at most :attr:`IngestLimits.parse_seconds` for each answer and kills the child when it
is late, so the wall time per document is bounded too. The memory of the parse is returned to the
system when the child exits, and parsing never holds the GIL or a lock of the server: questions keep
being answered meanwhile.

Every failure is an :class:`~assistant.errors.IngestError` with a Chinese message naming the file.
"""
from __future__ import annotations

import logging
import os
import pickle
import subprocess
import sys
from pathlib import Path

from ..errors import IngestError
from .limits import IngestLimits, memory_message, time_message

log = logging.getLogger(__name__)

_PROJECT_ROOT = Path(__file__).resolve().parent.parent.parent


#: memory the child sets aside at start and frees when it runs out, to send its answer
_RESERVE_BYTES = 16 * 1024 * 1024


def crash_message(name: str) -> str:
    return f"无法读取文件（解析进程意外退出：文件可能已损坏，或所需内存超过上限）：{name}"


class ParseWorker:
    """A child process that parses documents under ``limits`` (see module docstring).

    Use as a context manager, or call :meth:`close`. :meth:`parse` returns a
    :class:`~assistant.parsing.document.ParsedDocument` or raises IngestError; after a timeout or a
    crash the next :meth:`parse` starts a new child.
    """

    def __init__(self, limits: IngestLimits | None = None):
        self.limits = limits or IngestLimits()
        self._proc: subprocess.Popen | None = None
        self._send = None
        self._recv = None

    def __enter__(self) -> "ParseWorker":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _start(self) -> None:
        from multiprocessing.connection import Connection

        to_child_r, to_child_w = os.pipe()
        from_child_r, from_child_w = os.pipe()
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(_PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "assistant.parsing.worker", str(to_child_r), str(from_child_w),
                 str(self.limits.memory_bytes)],
                pass_fds=(to_child_r, from_child_w), env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL, cwd=str(_PROJECT_ROOT))
        finally:
            os.close(to_child_r)
            os.close(from_child_w)
        self._send = Connection(to_child_w, readable=False)
        self._recv = Connection(from_child_r, writable=False)

    def parse(self, path: Path, doc_id: str, progress=None):
        """Parse ``path`` as ``doc_id`` in the child. ``progress(str)`` gets the child's progress
        lines (one per page read by OCR); each of them gives the child another
        ``limits.parse_seconds`` (the limit is on time without progress). Raises IngestError (the
        child's message, or a time, memory or crash message naming the file)."""
        path = Path(path)
        if self._proc is None or self._proc.poll() is not None:
            self._stop()
            self._start()
        try:
            self._send.send((str(path), doc_id, self.limits))
        except (BrokenPipeError, EOFError, OSError):
            pass  # the child is gone: recv below reports it
        while True:
            try:
                ready = self._recv.poll(self.limits.parse_seconds)
            except (BrokenPipeError, EOFError, OSError):
                ready = True  # the child is gone: recv below reports it
            if not ready:
                log.warning("parsing %s took over %.0f s: stopped", path.name, self.limits.parse_seconds)
                self._stop()
                raise IngestError(time_message(path.name, self.limits.parse_seconds))
            try:
                kind, value = self._recv.recv()
            except (EOFError, OSError, pickle.UnpicklingError):
                self._stop()
                log.warning("the parse worker ended while reading %s", path.name)
                raise IngestError(crash_message(path.name)) from None
            if kind != "progress":
                break
            if progress is not None:
                progress(value)
        if kind == "ok":
            return value
        if kind == "memory":
            self._stop()  # its heap may be fragmented near the limit: start afresh
            raise IngestError(memory_message(path.name, self.limits.memory_bytes))
        raise IngestError(value)

    def _stop(self) -> None:
        for conn in (self._send, self._recv):
            if conn is not None:
                try:
                    conn.close()
                except OSError:
                    pass
        self._send = self._recv = None
        if self._proc is not None:
            if self._proc.poll() is None:
                self._proc.kill()
            self._proc.wait(timeout=30)
        self._proc = None

    def close(self) -> None:
        """End the child: it exits when its input closes (killed if it has not after 10 s)."""
        if self._send is not None:
            try:
                self._send.close()
            except OSError:
                pass
            self._send = None
        if self._proc is not None:
            try:
                self._proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass
        self._stop()


def _serve(read_fd: int, write_fd: int, memory_bytes: int) -> None:
    """The child: parse each request, answer ("ok", ParsedDocument) or (kind, message). After running
    out of memory it answers ("memory", "") and exits (its heap is spent; the parent starts another)."""
    import gc
    import resource
    from multiprocessing.connection import Connection

    from .document import parse_file
    from .ocr import reporting_to

    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger("pdfminer").setLevel(logging.ERROR)
    try:
        resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
    except (ValueError, OSError) as exc:  # a lower hard limit is already set: keep it
        log.warning("could not limit the parse worker's memory: %s", exc)
    memory_reply = pickle.dumps(("memory", ""))
    reserve = bytearray(_RESERVE_BYTES)  # given back on MemoryError, so that the answer can be sent
    inbox = Connection(read_fd, writable=False)
    outbox = Connection(write_fd, readable=False)
    while True:
        try:
            path, doc_id, limits = inbox.recv()
        except EOFError:
            return
        reply = None
        try:
            with reporting_to(lambda message: outbox.send(("progress", message))):
                reply = ("ok", parse_file(Path(path), doc_id, limits))
        except MemoryError:
            pass
        except IngestError as exc:  # the reader reports a MemoryError inside pdfminer as a damaged file
            if not isinstance(exc.__cause__, MemoryError):
                reply = ("error", str(exc))
        except Exception as exc:  # the parser failed on this file: it is unreadable, not a server fault
            log.warning("parsing %s failed: %s: %s", Path(path).name, type(exc).__name__, exc)
            reply = ("error", crash_message(Path(path).name))
        if reply is None:
            del reserve
            reply = None
            gc.collect()
            outbox.send_bytes(memory_reply)
            return
        try:
            outbox.send(reply)
        except MemoryError:
            del reserve
            reply = None
            gc.collect()
            outbox.send_bytes(memory_reply)
            return


if __name__ == "__main__":
    _serve(int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
