"""HTTP API served next to the chat page (same FastAPI app, see :func:`assistant.web.ui.launch`).

Routes (the router returned by :func:`build_api`):

- ``POST /api/ask`` with a JSON body ``{"question": str, "conversation": str | null,
  "scope": [doc_id, …] | null}`` answers one turn. The reply (200) is exactly the object that
  ``budget-qa ask --json`` prints for the same question: ``Answer.to_dict()``, or, for a question
  the assistant rejects (empty, too long: :class:`~assistant.errors.BudgetQAError`), the same
  object shape with the message as ``answer`` and kind ``not_found``. A body that is not a JSON
  object with a string ``question``, or whose ``conversation`` id is over
  ``BUDGET_QA_MAX_CONVERSATION_CHARS`` characters, gets 422 with a Chinese ``detail``; a body over
  :data:`MAX_BODY_BYTES` gets 413 before it is read whole; a ``scope`` naming an unknown document gets
  400 with a Chinese ``detail`` listing the loaded ids.
- ``GET /api/documents`` lists the loaded documents:
  ``[{"doc_id", "title", "department", "year", "kind"}, …]``.

Calls into the assistant are serialised with one lock (``Assistant.ask`` must not run twice at
once on the same conversation); the module-level :data:`ASK_LOCK` is used unless another is
passed in.
"""
from __future__ import annotations

import hmac
import json
import logging
import threading
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from starlette.concurrency import run_in_threadpool

from assistant.conversations import conversation_id_problem
from assistant.errors import BudgetQAError

logger = logging.getLogger(__name__)

#: serialises ``Assistant.ask`` calls made through the API (shared by every router built here
#: unless :func:`build_api` is given another lock)
ASK_LOCK = threading.Lock()

#: largest request body accepted by ``POST /api/ask`` (questions are limited far below this)
MAX_BODY_BYTES = 1_000_000

MSG_BAD_JSON = "请求体不是有效的 JSON"
MSG_BODY_SHAPE = ('请求体应为 JSON 对象：{"question": "问题", "conversation": "会话 ID（可选）", '
                  '"scope": ["文档 ID", …]（可选）}')
MSG_BODY_TOO_LARGE = f"请求体过大（上限 {MAX_BODY_BYTES} 字节），未读取。"
MSG_BAD_LENGTH = "请求头 Content-Length 不是数字"
MSG_UNKNOWN_SCOPE = "scope 中有未载入的文档 ID：{unknown}。可用的文档 ID：{valid}"
MSG_TOKEN = "需要访问令牌：请在请求头中提供 Authorization: Bearer <令牌>（服务器设置了 BUDGET_QA_TOKEN）"
MSG_INTERNAL_ERROR = "处理这个问题时出现了内部错误，请换个说法再试，或稍后重试。"

_FIELD_TYPES = {
    "question": "字符串",
    "conversation": "字符串或 null",
    "scope": "文档 ID 的列表或 null",
}


class AskRequest(BaseModel):
    """Body of ``POST /api/ask``. Unknown fields are ignored; a numeric conversation id is
    accepted as its decimal string (as the CLI's batch mode does)."""

    model_config = ConfigDict(extra="ignore")

    question: str
    conversation: str | None = None
    scope: list[str] | None = None

    @field_validator("conversation", mode="before")
    @classmethod
    def _conversation_as_text(cls, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


class DocumentInfo(BaseModel):
    """One entry of ``GET /api/documents``."""

    doc_id: str
    title: str
    department: str
    year: int | None
    kind: str


def error_object(question: str, message: str) -> dict[str, Any]:
    """The answer object for a rejected question: identical to what ``budget-qa ask --json``
    prints for it (see :func:`assistant.cli.ask`)."""
    return {"question": question, "answer": message, "kind": "not_found", "facts": [], "citations": [],
            "formula": "", "chart": None, "parts": []}


def _validation_message(err: ValidationError) -> str:
    """One Chinese sentence per problem in the body, then the expected shape."""
    problems = []
    for e in err.errors():
        loc = e.get("loc") or ()
        field = str(loc[0]) if loc else ""
        if not field:
            problems.append("请求体不是 JSON 对象")
        elif e.get("type") == "missing":
            problems.append(f"缺少字段 {field}")
        else:
            problems.append(f"字段 {field} 应为{_FIELD_TYPES.get(field, '正确的类型')}")
    problems = list(dict.fromkeys(problems))
    return "；".join(problems) + "。" + MSG_BODY_SHAPE


async def read_body(request: Request, limit: int = MAX_BODY_BYTES) -> bytes:
    """The request body, refused (HTTPException 413, :data:`MSG_BODY_TOO_LARGE`) before it is read
    whole when it is over ``limit`` bytes: at once when ``Content-Length`` says so, else as soon as
    the streamed chunks pass the limit (a chunked body, or one longer than its header claims)."""
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            too_big = int(declared) > limit
        except ValueError:
            raise HTTPException(status_code=400, detail=MSG_BAD_LENGTH) from None
        if too_big:
            raise HTTPException(status_code=413, detail=MSG_BODY_TOO_LARGE)
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise HTTPException(status_code=413, detail=MSG_BODY_TOO_LARGE)
        chunks.append(chunk)
    return b"".join(chunks)


def parse_ask_body(body: bytes, max_conversation_chars: int | None = None) -> AskRequest:
    """Validate a raw ``POST /api/ask`` body; raises HTTPException (413 over :data:`MAX_BODY_BYTES`,
    422 for a body of another shape or a conversation id over ``max_conversation_chars``) with a
    Chinese detail."""
    if len(body) > MAX_BODY_BYTES:
        raise HTTPException(status_code=413, detail=MSG_BODY_TOO_LARGE)
    req = _validate(body)
    if req.conversation is not None and max_conversation_chars is not None:
        problem = conversation_id_problem(req.conversation, max_conversation_chars)
        if problem:
            raise HTTPException(status_code=422, detail=problem)
    return req


def _validate(body: bytes) -> AskRequest:
    try:
        data = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise HTTPException(status_code=422, detail=f"{MSG_BAD_JSON}（{exc}）。{MSG_BODY_SHAPE}") from None
    try:
        return AskRequest.model_validate(data)
    except ValidationError as exc:
        raise HTTPException(status_code=422, detail=_validation_message(exc)) from None


def build_api(assistant: Any, lock: Any = None) -> APIRouter:
    """The API routes over ``assistant`` (an opened :class:`assistant.engine.Assistant`).

    ``lock`` (a context manager, default :data:`ASK_LOCK`) is held around every ``ask``.
    Include the router in a FastAPI app *before* mounting Gradio at "/".
    """
    ask_lock = lock if lock is not None else ASK_LOCK
    settings = getattr(assistant, "settings", None)
    token = getattr(settings, "access_token", "")
    max_conversation_chars = getattr(settings, "max_conversation_chars", None)

    def require_token(request: Request) -> None:
        """With BUDGET_QA_TOKEN set, every API call must carry it (``Authorization: Bearer …`` or
        ``X-Budget-QA-Token``)."""
        if not token:
            return
        given = request.headers.get("x-budget-qa-token") or ""
        auth = request.headers.get("authorization") or ""
        if auth.lower().startswith("bearer "):
            given = given or auth[7:].strip()
        if not hmac.compare_digest(given.encode(), token.encode()):
            raise HTTPException(status_code=401, detail=MSG_TOKEN)

    router = APIRouter(prefix="/api", tags=["budget-qa"], dependencies=[Depends(require_token)])

    def documents() -> list[dict[str, Any]]:
        return [{"doc_id": d.doc_id, "title": d.title, "department": d.department, "year": d.year,
                 "kind": d.kind} for d in assistant.documents()]

    def answer(req: AskRequest) -> dict[str, Any]:
        if req.scope is not None:
            valid = [d.doc_id for d in assistant.documents()]
            unknown = [s for s in dict.fromkeys(req.scope) if s not in valid]
            if unknown:
                raise HTTPException(status_code=400, detail=MSG_UNKNOWN_SCOPE.format(
                    unknown="、".join(unknown), valid="、".join(valid) or "（无）"))
        try:
            with ask_lock:
                result = assistant.ask(req.question, conversation=req.conversation, scope=req.scope)
            return result.to_dict()
        except BudgetQAError as exc:  # QuestionError etc.: str(exc) is the message for the user
            logger.info("question rejected: %s", exc)
            return error_object(req.question, str(exc))
        except Exception:
            logger.exception("assistant failed on an API question")
            raise HTTPException(status_code=500, detail=MSG_INTERNAL_ERROR) from None

    @router.get("/documents", response_model=list[DocumentInfo], summary="已载入的文档")
    def get_documents() -> list[dict[str, Any]]:
        return documents()

    router.add_api_route("/documents/", get_documents, methods=["GET"], include_in_schema=False)

    @router.post(
        "/ask",
        summary="提问（返回与 budget-qa ask --json 相同的 JSON）",
        openapi_extra={"requestBody": {"required": True, "content": {
            "application/json": {"schema": AskRequest.model_json_schema()}}}},
    )
    async def post_ask(request: Request) -> dict[str, Any]:
        # the body is validated here (not by FastAPI) so that a bad body gets a Chinese detail; it is
        # refused unread when it is over the cap
        req = parse_ask_body(await read_body(request), max_conversation_chars)
        return await run_in_threadpool(answer, req)

    router.add_api_route("/ask/", post_ask, methods=["POST"], include_in_schema=False)
    return router
