"""The Chinese chat page ("预算公开问答"): a thin Gradio front end over :class:`Assistant`.

The page only calls the assistant and formats what it returns; it holds no budget logic.

Safety: everything that comes from documents or users (answer text, quotes, titles, locators,
questions, error messages) is passed through :func:`escape_markdown` before it is put into the
chat's Markdown, so it always renders as literal text, never as HTML, links, images or scripts.

Each browser session gets its own conversation id (a uuid kept in ``gr.State``), so follow-up
context is never shared between sessions; "清空对话" starts a new id.

Gradio is imported lazily (inside :func:`build_ui` and :func:`launch`) so that the environment
(``GRADIO_ANALYTICS_ENABLED``, ``GRADIO_TEMP_DIR``) is set before Gradio is first imported.
"""
from __future__ import annotations

import logging
import os
import re
import threading
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from assistant.config import Settings
from assistant.errors import BudgetQAError
from assistant.model import Answer, AnswerPart, Citation, Document

if TYPE_CHECKING:  # pragma: no cover - typing only
    import gradio

logger = logging.getLogger(__name__)

PAGE_TITLE = "预算公开问答"
SOURCES_HEADING = "来源"
FORMULA_PREFIX = "计算："
MSG_NO_SCOPE = "请至少选择一份文件后再提问。"
MAX_EXAMPLES = 6
MSG_INTERNAL_ERROR = "抱歉，处理这个问题时出现了内部错误，请换个说法再试，或稍后重试。"

# ASCII characters with a Markdown meaning (CommonMark/GFM: emphasis, code, links, images,
# headings, lists, tables, strikethrough, setext underlines, autolinks, math). Each is
# backslash-escaped; "<", ">" and "&" are written as HTML entities instead.
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|~=:$@^])")
_HTML_ENTITIES = (("&", "&amp;"), ("<", "&lt;"), (">", "&gt;"))
_TAB_SEPARATOR = " │ "


def escape_markdown(text: str | None) -> str:
    """Return ``text`` as Markdown that displays exactly as plain text.

    Markdown punctuation is backslash-escaped, ``&``/``<``/``>`` become HTML entities (so no tag,
    script or entity in the source can become live), tabs (table cell separators in quotes) are
    shown as " │ ", and leading/trailing blanks of each line are dropped (leading blanks would
    otherwise start a code block). Line breaks are kept.
    """
    if not text:
        return ""
    lines = str(text).replace("\r\n", "\n").replace("\r", "\n").split("\n")
    out: list[str] = []
    for line in lines:
        line = line.strip(" \t").replace("\t", _TAB_SEPARATOR)
        line = _MD_SPECIAL.sub(r"\\\1", line)
        for raw, entity in _HTML_ENTITIES:
            line = line.replace(raw, entity)
        out.append(line)
    return "\n".join(out)


def _blockquote(text: str) -> str:
    """Escape ``text`` and prefix every line with "> " (blank lines keep the quote open)."""
    lines = escape_markdown(text).split("\n")
    return "\n".join(("> " + line) if line else ">" for line in lines)


def citation_position(citation: Citation) -> str:
    """Where in the document a citation points: "（第 95 行）", "（第 12 行 / 第 3 页）" or ""."""
    bits = []
    if citation.line:
        bits.append(f"第 {citation.line} 行")
    if citation.page:
        bits.append(f"第 {citation.page} 页")
    return "（" + " / ".join(bits) + "）" if bits else ""


def render_answer_markdown(answer: Answer | AnswerPart) -> str:
    """Format an answer for the chat: text, optional "计算：" line, then a numbered "来源" list.

    Each citation is shown as ``[n] doc_title · locator（第 line 行 / 第 page 页）`` followed by its
    quoted source text in a blockquote. All document-derived text is escaped (see
    :func:`escape_markdown`); the only Markdown produced here is the structure itself.
    """
    blocks: list[str] = []
    text = escape_markdown(answer.answer)
    if text:
        blocks.append(text)
    if answer.formula:
        blocks.append(FORMULA_PREFIX + escape_markdown(answer.formula))
    if answer.citations:
        blocks.append(f"**{SOURCES_HEADING}**")
        for n, cite in enumerate(answer.citations, start=1):
            where = " · ".join(p for p in (cite.doc_title, cite.locator) if p)
            blocks.append(f"\\[{n}\\] " + escape_markdown(where) + citation_position(cite))
            if cite.quote and cite.quote.strip():
                blocks.append(_blockquote(cite.quote))
    return "\n\n".join(blocks)


def document_label(doc: Document) -> str:
    """Label of a document in the scope selector: "部门 · 年份 · 预算/决算"."""
    department = doc.department or doc.title or doc.doc_id
    year = f"{doc.year}年" if doc.year else "年份不详"
    return " · ".join(p for p in (department, year, doc.kind) if p)


def new_conversation_id() -> str:
    """A fresh, unguessable conversation id for one browser session."""
    return uuid.uuid4().hex


class ChatHandlers:
    """The page's event handlers, independent of Gradio widgets (so they can be unit-tested).

    Calls into the assistant are serialized with a lock (the Gradio events also share one
    concurrency group), so the assistant need not be re-entrant; they do run on Gradio's worker
    threads, not on the thread that opened the assistant.
    """

    def __init__(self, assistant: Any) -> None:
        self.assistant = assistant
        self.documents: list[Document] = list(assistant.documents())
        self.doc_ids: list[str] = [d.doc_id for d in self.documents]
        self._lock = threading.Lock()

    def scope_choices(self) -> list[tuple[str, str]]:
        """(label, doc_id) pairs for the scope selector; duplicate labels get the title added."""
        labels = [document_label(d) for d in self.documents]
        choices = []
        for doc, label in zip(self.documents, labels):
            if labels.count(label) > 1:
                label = f"{label}（{doc.title or doc.doc_id}）"
            choices.append((label, doc.doc_id))
        return choices

    def example_questions(self) -> list[str]:
        """Up to :data:`MAX_EXAMPLES` of the assistant's example questions ([] if it has none)."""
        try:
            questions = [q for q in self.assistant.example_questions() if q and q.strip()]
            return list(dict.fromkeys(questions))[:MAX_EXAMPLES]
        except Exception:  # examples are a convenience; never break the page for them
            logger.exception("could not get example questions")
            return []

    def resolve_scope(self, selected: Sequence[str] | None) -> list[str] | None:
        """Map the selector value to the ``scope`` argument: None when every document is chosen.

        ``selected=None`` (no selector value at all) also means every document; an empty list
        means none, which :meth:`reply` answers with a prompt to choose some.
        """
        if selected is None:
            return None
        wanted = set(selected)
        chosen = [d for d in self.doc_ids if d in wanted]
        if len(chosen) == len(self.doc_ids):
            return None
        return chosen

    def submit(self, message: str | None, history: list | None) -> tuple[str, list, str]:
        """Show the user's question right away; returns (cleared textbox, history, pending question)."""
        question = message or ""
        history = list(history or [])
        if question.strip():
            history.append({"role": "user", "content": escape_markdown(question)})
        return "", history, question

    def reply(
        self,
        question: str | None,
        history: list | None,
        conversation: str | None,
        selected: Sequence[str] | None,
    ) -> tuple[list, str]:
        """Ask the assistant and append its formatted reply; returns (history, conversation id)."""
        history = list(history or [])
        conversation = conversation or new_conversation_id()
        scope = self.resolve_scope(selected)
        if scope is not None and not scope:
            text = escape_markdown(MSG_NO_SCOPE)
        else:
            text = self._answer_text(question or "", conversation, scope)
        history.append({"role": "assistant", "content": text})
        return history, conversation

    def _answer_text(self, question: str, conversation: str, scope: list[str] | None) -> str:
        try:
            with self._lock:
                answer = self.assistant.ask(question, conversation=conversation, scope=scope)
        except BudgetQAError as err:  # QuestionError etc.: str(err) is a message for the user
            logger.info("question rejected: %s", err)
            return escape_markdown(str(err))
        except Exception:
            logger.exception("assistant failed on a question")
            return escape_markdown(MSG_INTERNAL_ERROR)
        return render_answer_markdown(answer)

    def clear(self) -> tuple[list, str, str, str]:
        """Empty the chat and start a new conversation: (history, conversation id, textbox, pending)."""
        return [], new_conversation_id(), "", ""


def build_ui(assistant: Any) -> "gradio.Blocks":
    """Build the chat page for ``assistant`` (an opened :class:`assistant.engine.Assistant`).

    Widgets: the chat (gr.Chatbot), a question box with a send button, a clear-conversation
    button, clickable example questions and a document scope selector (all documents by default).
    """
    import gradio as gr

    handlers = ChatHandlers(assistant)
    choices = handlers.scope_choices()
    examples = handlers.example_questions()

    with gr.Blocks(title=PAGE_TITLE, analytics_enabled=False) as demo:
        conversation = gr.State(None)
        pending = gr.State("")

        gr.Markdown(f"# {PAGE_TITLE}\n根据已载入的部门预算、决算公开文件回答问题，每个数字都注明出处。")
        chatbot = gr.Chatbot(
            label="对话",
            height=520,
            render_markdown=True,
            sanitize_html=True,
            allow_tags=False,
            latex_delimiters=[],
            line_breaks=True,
            buttons=["copy"],
            placeholder="请在下方输入问题，例如某项支出的金额、占比或同比变化。",
        )
        with gr.Row():
            textbox = gr.Textbox(
                show_label=False,
                placeholder="输入问题，按回车发送",
                lines=1,
                max_lines=6,
                scale=8,
                autofocus=True,
            )
            send = gr.Button("发送", variant="primary", scale=1, min_width=80)
            clear = gr.Button("清空对话", variant="secondary", scale=1, min_width=80)

        example_buttons = []
        if examples:
            gr.Markdown("**示例问题**（点击即可提问）")
            with gr.Row():
                for q in examples:
                    example_buttons.append(gr.Button(q, size="sm", variant="secondary"))

        scope = gr.CheckboxGroup(
            choices=choices,
            value=[doc_id for _, doc_id in choices],
            label="文件范围",
            info="只在选中的文件中查找答案（默认全部）。",
            show_select_all=True,
        )

        ask_events = []
        triggers = [(textbox.submit, textbox), (send.click, textbox)]
        triggers += [(b.click, b) for b in example_buttons]
        for trigger, source in triggers:
            event = trigger(
                handlers.submit,
                inputs=[source, chatbot],
                outputs=[textbox, chatbot, pending],
                queue=False,
                api_visibility="private",
            ).then(
                handlers.reply,
                inputs=[pending, chatbot, conversation, scope],
                outputs=[chatbot, conversation],
                concurrency_id="ask",
                concurrency_limit=1,
                api_visibility="private",
            )
            ask_events.append(event)

        # both the button and the chat's own trash icon start a new conversation
        for trigger in (clear.click, chatbot.clear):
            trigger(
                handlers.clear,
                inputs=None,
                outputs=[chatbot, conversation, textbox, pending],
                queue=False,
                cancels=ask_events,
                api_visibility="private",
            )
    return demo


def _prepare_environment(settings: Settings) -> None:
    """Analytics off; Gradio's temporary files under ``settings.data_dir`` unless set already."""
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"
    if not os.environ.get("GRADIO_TEMP_DIR"):
        tmp = settings.data_dir / "gradio-tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        os.environ["GRADIO_TEMP_DIR"] = str(tmp)


def launch(settings: Settings, host: str = "127.0.0.1", port: int = 7860, progress=None) -> None:
    """Open the assistant (building the index if missing, reporting to ``progress(str)``), build the
    page and serve it (blocks) with uvicorn: one FastAPI app holding the HTTP API
    (:mod:`assistant.web.api`, under ``/api/``) and the chat page mounted at "/". Never creates a
    public share link; telemetry is off.
    """
    _prepare_environment(settings)
    import fastapi
    import gradio as gr
    import uvicorn

    from assistant.engine import Assistant  # imported here: heavy, and only needed to serve
    from assistant.web.api import ASK_LOCK, build_api

    logger.info("opening index at %s (building it from %s if missing)",
                settings.index_dir, settings.corpus_dir)
    assistant = Assistant.open(settings, build_if_missing=True, progress=progress or logger.info)
    demo = build_ui(assistant)
    # no Swagger page (it would load its scripts from a CDN); the schema is at /api/openapi.json
    app = fastapi.FastAPI(title=PAGE_TITLE, docs_url=None, redoc_url=None, openapi_url="/api/openapi.json")
    app.include_router(build_api(assistant, lock=ASK_LOCK))  # before the mount: "/" takes the rest
    app = gr.mount_gradio_app(app, demo, path="/", server_name=host, server_port=port, ssr_mode=False,
                              show_error=False)
    logger.info("serving %s on http://%s:%s (HTTP API under /api/)", PAGE_TITLE, host, port)
    uvicorn.run(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5)
