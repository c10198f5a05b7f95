"""The chat page as a newcomer meets it, in a real browser over the real app (``app.py`` on the
bundled corpus, fresh index and data under pytest's tmp folder, see :func:`tests.test_web.app_server`):
a long answer is shown from its first line, the bubble holds the answer and compact source titles
while the quotes are in the evidence panel, an overlong question is echoed shortened, and the scope
list names the loaded documents. One answer is saved as ``docs/screenshot-chat.png`` (README).
"""
from __future__ import annotations

import json
import urllib.request

import pytest

from assistant.web.ui import ECHO_MAX_CHARS, document_label, question_echo
from tests.test_web import ANSWER_TIMEOUT_MS, PROJECT_ROOT, _ask, app_server, browser  # noqa: F401

README_SCREENSHOT = PROJECT_ROOT / "docs" / "screenshot-chat.png"
#: three questions in one turn: one answer with 11 numbered sources, taller than the chat
LONG_QUESTION = "项目支出有哪些？三公经费构成？什么是机关运行经费？"
LONG_ANSWER_START = "项目支出预算表共列 7 项：党工委办公室工作经费 65.00 万元"


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """URL of the real app for this module."""
    with app_server(tmp_path_factory.mktemp("web-newcomer")) as (url, _log):
        yield url


@pytest.fixture
def page(browser, server):  # noqa: F811 - ``browser`` is the fixture imported above
    from playwright.sync_api import expect

    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
    try:
        pg = ctx.new_page()
        pg.goto(server, wait_until="load")
        expect(pg.locator('textarea[data-testid="textbox"]').first).to_be_visible(timeout=30_000)
        yield pg
    finally:
        ctx.close()


def _api(server: str, path: str, body: dict | None = None):
    """GET (or POST ``body`` as JSON to) the app's HTTP API; the decoded JSON reply."""
    data = None if body is None else json.dumps(body).encode("utf-8")
    req = urllib.request.Request(server.rstrip("/") + path, data=data,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as resp:
        return json.loads(resp.read().decode("utf-8"))


def _in_chat(locator, first_character: bool = False) -> dict:
    """Where ``locator`` (or, with ``first_character``, the first character of its text, i.e. its
    first line) is against the chat's scrolled area, in page pixels: {"top", "bottom"} of it,
    {"view_top", "view_bottom"} of the area (its top below the chat's floating label)."""
    return locator.evaluate("""(el, first) => {
        const log = el.closest('[role="log"]');
        let r = el.getBoundingClientRect();
        if (first) {
            const text = document.createTreeWalker(el, NodeFilter.SHOW_TEXT).nextNode();
            const range = document.createRange();
            range.setStart(text, 0);
            range.setEnd(text, 1);
            r = range.getBoundingClientRect();
        }
        const v = log.getBoundingClientRect();
        // the chat's label floats over the top of the area: what is under it is not readable
        const label = el.closest("#bqa-chat").querySelector('[data-testid="block-label"]');
        const top = label ? Math.max(v.top, label.getBoundingClientRect().bottom) : v.top;
        return {top: r.top, bottom: r.bottom, view_top: top, view_bottom: v.bottom};
    }""", first_character)


@pytest.mark.browser
def test_long_answer_is_shown_from_its_first_line(page, tmp_path):
    from playwright.sync_api import expect

    for n in range(2):  # the first answer of the chat, and one below an earlier answer
        reply = _ask(page, LONG_QUESTION, n)
        expect(reply).to_contain_text(LONG_ANSWER_START)
        expect(reply).to_contain_text("[11]")
        expect(reply.locator("p").first).to_contain_text(LONG_ANSWER_START)
        page.wait_for_timeout(500)  # any scrolling the page does after the answer arrives
        box = _in_chat(reply)
        assert box["bottom"] - box["top"] > box["view_bottom"] - box["view_top"], \
            f"the answer must be taller than the chat for this test to mean anything: {box}"
        line = _in_chat(reply.locator("p").first, first_character=True)
        assert line["view_top"] <= line["top"] and line["bottom"] <= line["view_bottom"], \
            f"the answer's first line is outside the chat's visible area: {line}"
        page.screenshot(path=str(tmp_path / f"long-answer-{n + 1}.png"))


@pytest.mark.browser
def test_readme_screenshot_shows_an_answer_and_its_evidence(page):
    """``docs/screenshot-chat.png``: an answer with its formula and numbered sources at the top of
    the chat, its first source (a table, the cited cell highlighted) in the side panel."""
    from playwright.sync_api import expect

    reply = _ask(page, "差旅费预算一共多少", 0)
    expect(reply).to_contain_text("计算：差旅费 = 14.00 + 5.00 = 19.00 万元")
    expect(reply).to_contain_text("[2] ")
    page.locator("#bqa-sources").get_by_role("radio").first.check()
    expect(page.locator("#bqa-evidence td.bqa-cited-cell")).to_have_text("14.00")
    line = _in_chat(reply.locator("p").first, first_character=True)
    assert line["view_top"] <= line["top"] and line["bottom"] <= line["view_bottom"], line
    README_SCREENSHOT.parent.mkdir(exist_ok=True)
    page.screenshot(path=str(README_SCREENSHOT))


@pytest.mark.browser
def test_bubble_has_source_titles_and_the_panel_has_the_quotes(page, server):
    from playwright.sync_api import expect

    question = "项目支出占比多少"
    expected = _api(server, "/api/ask", {"question": question})
    quotes = [c["quote"] for c in expected["citations"]]
    assert len(quotes) == 3 and all(len(q) > 20 for q in quotes), expected["citations"]

    reply = _ask(page, question, 0)
    expect(reply).to_contain_text("9.39%")
    doc_title = expected["citations"][0]["doc_title"]
    expect(reply).to_contain_text(f"来源（{doc_title}）")
    expect(reply).to_contain_text("[1] ")
    expect(reply).to_contain_text("[2] ")
    text = reply.inner_text()
    assert reply.locator("blockquote").count() == 0
    for quote in quotes:
        assert quote[:20] not in text, f"the quote {quote[:20]!r} is repeated in the bubble"
    # each numbered title is the evidence selector's label; the quote is in the panel
    labels = page.locator("#bqa-sources").get_by_role("radio")
    expect(labels).to_have_count(3)
    for n, quote in enumerate(quotes, start=1):
        label = page.locator("#bqa-sources label").nth(n - 1).inner_text().strip()
        assert label.startswith(f"[{n}] ") and label in text, (label, text)
        labels.nth(n - 1).check()
        panel = page.locator("#bqa-evidence")
        expect(panel).to_contain_text(" ".join(quote.split())[:20])


@pytest.mark.browser
def test_overlong_question_is_echoed_shortened(page):
    from playwright.sync_api import expect

    question = ("项目支出占比多少" * 700)[:5000]
    assert len(question) == 5000
    reply = _ask(page, question, 0)
    expect(reply).to_contain_text("问题过长（5000 字）")
    echo = page.locator('[data-testid="user"]').last
    expected = question[:ECHO_MAX_CHARS] + "…（共 5,000 字）"
    expect(echo).to_have_text(expected)
    assert question_echo(question) == expected
    assert len(echo.inner_text()) < 250


@pytest.mark.browser
def test_scope_list_names_the_loaded_documents(page, server):
    from playwright.sync_api import expect

    from assistant.model import Document

    documents = _api(server, "/api/documents")
    assert documents, "the bundled corpus is loaded"
    scope = page.locator("#bqa-scope")
    for d in documents:
        label = document_label(Document(d["doc_id"], d["title"], "", d["department"], d["year"], d["kind"], ""))
        assert d["department"] and d["department"] in label
        expect(scope.get_by_role("checkbox", name=label)).to_be_checked()


def test_question_echo_keeps_short_questions_whole():
    assert question_echo("项目支出占比多少") == "项目支出占比多少"
    assert question_echo("字" * ECHO_MAX_CHARS) == "字" * ECHO_MAX_CHARS
    assert question_echo("字" * (ECHO_MAX_CHARS + 1)) == "字" * ECHO_MAX_CHARS + "…（共 201 字）"
