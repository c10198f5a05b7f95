"""Checks at the edge of the server: the access token, request body sizes, uploaded file paths.

:class:`RequestGuard` is ASGI middleware in front of the whole app (API and page). Every request body
is capped, checked against ``Content-Length`` before any of it is read and counted while it streams
(a chunked body, or one longer than its header claims, is cut off with 413). Gradio's upload route
gets the upload cap (``BUDGET_QA_MAX_UPLOAD_MB``) and, when ``BUDGET_QA_TOKEN`` is set, requires the
token (header, or the cookie the page sets from its token field), so nobody without it can fill the
server's disk.

:func:`uploaded_file` accepts a path only if it lies inside Gradio's upload folder (where files sent
through the upload itself land), never an arbitrary server path.
"""
from __future__ import annotations

import hmac
import json
import logging
import os
import tempfile
from http.cookies import SimpleCookie
from pathlib import Path

log = logging.getLogger(__name__)

#: cookie in which the page keeps the token typed into its token field (sent with Gradio's uploads)
TOKEN_COOKIE = "budget_qa_token"
#: body cap for every route but the upload (the page's event payloads carry the chat history)
MAX_REQUEST_BYTES = 8 * 1024 * 1024
#: multipart framing allowed on top of the file itself
UPLOAD_OVERHEAD_BYTES = 64 * 1024

MSG_TOO_LARGE = "请求体过大（上限 {limit} 字节），未读取。"
MSG_UPLOAD_TOO_LARGE = "文件过大（上限 {mb} MB），未上传。"
MSG_UPLOAD_TOKEN = "需要访问令牌：请先在页面的“访问令牌”中填写令牌（服务器设置了 BUDGET_QA_TOKEN），再选择文件。"


def token_matches(given: str | None, required: str) -> bool:
    """True when no token is required, or ``given`` equals it (constant-time comparison)."""
    if not required:
        return True
    return hmac.compare_digest((given or "").encode(), required.encode())


def upload_folder() -> Path:
    """Gradio's upload folder (``GRADIO_TEMP_DIR``, else ``<tmp>/gradio``), resolved; the same rule
    as ``gradio.utils.get_upload_folder``."""
    return Path(os.environ.get("GRADIO_TEMP_DIR") or Path(tempfile.gettempdir()) / "gradio").resolve()


def uploaded_file(path: str | os.PathLike | None, folder: Path | None = None) -> Path | None:
    """``path`` resolved (symbolic links and ``..`` followed) when it is a regular file inside
    ``folder`` (default :func:`upload_folder`), else None: a path naming any other server file is
    never accepted as an upload."""
    if not path:
        return None
    root = Path(folder).resolve() if folder is not None else upload_folder()
    try:
        real = Path(path).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    if not real.is_relative_to(root) or real == root or not real.is_file():
        return None
    return real


class _TooLarge(Exception):
    pass


class RequestGuard:
    """ASGI middleware: body caps for every HTTP request, the token for Gradio's upload route.

    ``upload_path`` is the path of Gradio's upload route (``/gradio_api/upload`` when the page is
    mounted at "/"); ``max_upload_bytes`` its cap (the file; multipart framing is allowed on top),
    ``max_body_bytes`` the cap of every other route, ``route_limits`` lower caps of some routes by path
    (``{"/api/ask": 1_000_000}``; the route itself enforces its cap on the streamed body too).
    """

    def __init__(self, app, *, token: str = "", max_upload_bytes: int, max_body_bytes: int = MAX_REQUEST_BYTES,
                 route_limits: dict[str, int] | None = None, upload_path: str = "/gradio_api/upload"):
        self.app = app
        self.token = token
        self.max_upload_bytes = max_upload_bytes
        self.max_body_bytes = max_body_bytes
        self.route_limits = {k.rstrip("/"): v for k, v in (route_limits or {}).items()}
        self.upload_path = upload_path.rstrip("/")

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        is_upload = scope["path"].rstrip("/") == self.upload_path
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        if is_upload and self.token and not token_matches(self._given_token(headers), self.token):
            await _reply(send, 401, MSG_UPLOAD_TOKEN)
            return
        limit = (self.max_upload_bytes + UPLOAD_OVERHEAD_BYTES if is_upload
                 else self.route_limits.get(scope["path"].rstrip("/"), self.max_body_bytes))
        message = (MSG_UPLOAD_TOO_LARGE.format(mb=self.max_upload_bytes // (1024 * 1024)) if is_upload
                   else MSG_TOO_LARGE.format(limit=limit))
        declared = headers.get("content-length")
        if declared is not None and declared.strip().isdigit() and int(declared) > limit:
            await _reply(send, 413, message)
            return
        seen = 0
        started = False

        async def counted_receive():
            nonlocal seen
            event = await receive()
            if event["type"] == "http.request":
                seen += len(event.get("body", b""))
                if seen > limit:
                    raise _TooLarge()
            return event

        async def tracked_send(event):
            nonlocal started
            if event["type"] == "http.response.start":
                started = True
            await send(event)

        try:
            await self.app(scope, counted_receive, tracked_send)
        except _TooLarge:
            log.info("request body over %d bytes on %s refused", limit, scope["path"])
            if not started:
                await _reply(send, 413, message)

    def _given_token(self, headers: dict[str, str]) -> str:
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            return auth[7:].strip()
        if headers.get("x-budget-qa-token"):
            return headers["x-budget-qa-token"]
        cookie = SimpleCookie()
        try:
            cookie.load(headers.get("cookie", ""))
        except Exception:  # a malformed cookie header: no token
            return ""
        morsel = cookie.get(TOKEN_COOKIE)
        if morsel is None:
            return ""
        from urllib.parse import unquote

        return unquote(morsel.value)


async def _reply(send, status: int, detail: str) -> None:
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode("utf-8")
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json; charset=utf-8"),
                            (b"content-length", str(len(body)).encode()), (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})
