"""Servers on loopback for the tests: PostgreSQL and Chroma (server backends), a scripted chat model.

By default the test session starts its own: a throw-away PostgreSQL cluster (Debian's binaries under
``/usr/lib/postgresql/<version>/bin``, ``initdb`` into a temporary folder, run as the ``postgres``
user when the tests run as root, since ``initdb`` refuses root) and ``chroma run`` from the venv,
each on a free port of 127.0.0.1, stopped and deleted at the end of the session. Servers that are
already running can be used instead by setting ``BUDGET_QA_TEST_DATABASE_URL`` (a database in which
the tests may ``CREATE DATABASE``) and ``BUDGET_QA_TEST_CHROMA_URL``.

Without the PostgreSQL binaries the tests needing it are skipped (``apt-get install postgresql``),
except under CI (``CI`` set), where ``.ci/run`` → ``run.sh test`` installs them: there a missing
server is an error, so a broken install step cannot pass as skipped tests.
"""
from __future__ import annotations

import asyncio
import glob
import json
import os
import pwd
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import deque
from pathlib import Path

import pytest
from fastapi import Request


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _unavailable(reason: str):
    if os.environ.get("CI"):
        pytest.fail(f"{reason} (CI must run the server-backend tests)", pytrace=False)
    pytest.skip(reason)


def postgres_bin() -> Path | None:
    """The newest Debian PostgreSQL bin folder with initdb, or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parent.parent.name)
                   if Path(p).parent.parent.name.isdigit() else 0)
    return Path(found[-1]).parent if found else None


class PostgresServer:
    """A private PostgreSQL cluster on 127.0.0.1:port (trust authentication, user ``postgres``).

    By default in a temporary folder, deleted by :meth:`stop`, with durability off (fast tests).
    ``root`` keeps it in that folder (kept after stop); ``durable=True`` keeps PostgreSQL's default
    fsync settings (the benchmarks time realistic writes).
    """

    def __init__(self, bindir: Path, root: Path | None = None, durable: bool = False):
        self.bindir = bindir
        self.keep = root is not None
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="budget-qa-pg-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.durable = durable
        self.port = free_port()
        self.as_user: list[str] = []
        if os.geteuid() == 0:
            try:
                pw = pwd.getpwnam("postgres")
            except KeyError as exc:
                raise RuntimeError("running as root and there is no 'postgres' user to run initdb") from exc
            os.chown(self.root, pw.pw_uid, pw.pw_gid)
            self.as_user = ["runuser", "-u", "postgres", "--"]

    def _run(self, *args: str, timeout: float = 120) -> None:
        r = subprocess.run(self.as_user + [str(self.bindir / args[0]), *args[1:]], capture_output=True, text=True,
                           timeout=timeout, cwd=self.root)
        if r.returncode != 0:
            raise RuntimeError(f"{args[0]} failed ({r.returncode}): {r.stderr[-2000:]}")

    def start(self) -> "PostgresServer":
        data = self.root / "data"
        self._run("initdb", "-D", str(data), "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
        opts = f"-h 127.0.0.1 -p {self.port} -k {self.root} -c max_connections=200"
        if not self.durable:
            opts += " -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
        self._run("pg_ctl", "-D", str(data), "-l", str(self.root / "server.log"), "-o", opts, "-w", "-t", "60", "start")
        return self

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def stop(self) -> None:
        try:
            self._run("pg_ctl", "-D", str(self.root / "data"), "-m", "immediate", "-w", "stop", timeout=60)
        finally:
            if not self.keep:
                shutil.rmtree(self.root, ignore_errors=True)


class ChromaServer:
    """``chroma run`` on 127.0.0.1:port with its data in ``root/data`` (a temporary folder by default)."""

    def __init__(self, root: Path | None = None):
        self.root = Path(root) if root is not None else Path(tempfile.mkdtemp(prefix="budget-qa-chroma-"))
        self.root.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, timeout: float = 60) -> "ChromaServer":
        exe = Path(sys.executable).parent / "chroma"
        if not exe.exists():
            raise RuntimeError(f"{exe} not found (the chromadb package provides it)")
        self.log = open(self.root / "server.log", "wb")
        self.proc = subprocess.Popen([str(exe), "run", "--host", "127.0.0.1", "--port", str(self.port),
                                      "--path", str(self.root / "data")], stdout=self.log, stderr=subprocess.STDOUT,
                                     env={**os.environ, "ANONYMIZED_TELEMETRY": "False"})
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"chroma run exited: {(self.root / 'server.log').read_text()[-2000:]}")
            try:
                urllib.request.urlopen(self.url + "/api/v2/heartbeat", timeout=2).read()
                return self
            except OSError:
                time.sleep(0.3)
        self.stop()
        raise RuntimeError(f"chroma run did not answer within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=20)
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_admin_url():
    """URL of a PostgreSQL database where the tests may create databases (a server started for the
    session unless BUDGET_QA_TEST_DATABASE_URL names one)."""
    given = os.environ.get("BUDGET_QA_TEST_DATABASE_URL")
    if given:
        yield given
        return
    try:
        import psycopg  # noqa: F401
    except ImportError:
        _unavailable("psycopg is not installed (pip install -e '.[server]')")
    bindir = postgres_bin()
    if bindir is None:
        _unavailable("PostgreSQL is not installed (/usr/lib/postgresql/*/bin/initdb; apt-get install postgresql)")
    server = PostgresServer(bindir)
    try:
        server.start()
    except Exception as exc:
        server.stop()
        _unavailable(f"could not start PostgreSQL: {exc}")
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def chroma_url():
    """URL of a Chroma server (``chroma run`` started for the session unless BUDGET_QA_TEST_CHROMA_URL)."""
    given = os.environ.get("BUDGET_QA_TEST_CHROMA_URL")
    if given:
        yield given
        return
    server = ChromaServer()
    try:
        server.start()
    except Exception as exc:
        server.stop()
        _unavailable(f"could not start a Chroma server: {exc}")
    yield server.url
    server.stop()


def create_database(admin_url: str) -> str:
    """A new empty database on the server of ``admin_url``; returns its URL."""
    import psycopg
    from psycopg import sql

    name = f"bqa_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    base, _, _ = admin_url.rpartition("/")
    return f"{base}/{name}"


def drop_database(admin_url: str, url: str) -> None:
    import psycopg
    from psycopg import sql

    from assistant.store import postgres

    postgres._migrated.discard(url)
    name = url.rpartition("/")[2]
    with psycopg.connect(admin_url, autocommit=True) as c:
        c.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture()
def pg_url(postgres_admin_url):
    """A fresh database for one test, dropped afterwards."""
    url = create_database(postgres_admin_url)
    yield url
    drop_database(postgres_admin_url, url)


# ------------------------------------------------------------------ a scripted chat-model server
class ScriptedServer:
    """An OpenAI-compatible (/v1/chat/completions, streaming too) and Ollama-compatible (/api/chat)
    server on a free loopback port; each request takes the next scripted item: a reply text,
    {"content": text, "delay": seconds, "finish_reason": "length"} or {"status": code}."""

    def __init__(self):
        import uvicorn
        from fastapi import FastAPI
        from fastapi.responses import JSONResponse, StreamingResponse

        self.script: deque = deque()
        self.requests: list[dict] = []
        app = FastAPI()

        async def next_item(body):
            self.requests.append(body)
            item = self.script.popleft() if self.script else "（没有脚本）"
            if isinstance(item, str):
                item = {"content": item}
            if item.get("delay"):
                await asyncio.sleep(item["delay"])
            return item

        @app.post("/v1/chat/completions")
        async def completions(request: Request):
            body = await request.json()
            item = await next_item(body)
            if item.get("status"):
                return JSONResponse({"error": {"message": "scripted failure", "type": "server_error"}},
                                    status_code=item["status"])
            content, created, finish = item["content"], int(time.time()), item.get("finish_reason", "stop")
            base = {"id": "chatcmpl-1", "created": created, "model": body.get("model", "scripted")}
            if body.get("stream"):
                def events():
                    for i in range(0, len(content), 4):
                        chunk = dict(base, object="chat.completion.chunk", choices=[
                            {"index": 0, "delta": {"role": "assistant", "content": content[i:i + 4]},
                             "finish_reason": None}])
                        yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
                    end = dict(base, object="chat.completion.chunk",
                               choices=[{"index": 0, "delta": {}, "finish_reason": finish}])
                    yield f"data: {json.dumps(end)}\n\ndata: [DONE]\n\n"

                return StreamingResponse(events(), media_type="text/event-stream")
            return dict(base, object="chat.completion", choices=[
                {"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": finish}],
                usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2})

        @app.post("/api/chat")
        async def ollama_chat(request: Request):
            body = await request.json()
            item = await next_item(body)
            if item.get("status"):
                return JSONResponse({"error": "scripted failure"}, status_code=item["status"])
            stamp = "2025-01-01T00:00:00Z"
            lines = [{"model": body.get("model"), "created_at": stamp,
                      "message": {"role": "assistant", "content": item["content"]}, "done": False},
                     {"model": body.get("model"), "created_at": stamp, "message": {"role": "assistant", "content": ""},
                      "done": True, "done_reason": "stop"}]
            if body.get("stream", True):
                return StreamingResponse((json.dumps(x, ensure_ascii=False) + "\n" for x in lines),
                                         media_type="application/x-ndjson")
            return dict(lines[-1], message=lines[0]["message"])

        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=1))
        self.thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True)

    def __enter__(self):
        self.thread.start()
        deadline = time.monotonic() + 20
        while not self.server.started:
            assert time.monotonic() < deadline, "scripted server did not start"
            time.sleep(0.05)
        return self

    def __exit__(self, *exc):
        self.server.should_exit = True
        self.thread.join(10)
        self.sock.close()
