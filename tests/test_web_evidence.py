"""The chat page's evidence, chart, upload and feedback features in a real browser over the real app.

``app.py`` runs in a subprocess with a fresh index and application data under pytest's tmp folder
(see :func:`tests.test_web.app_server`); uploads go to its ``data/uploads``, feedback to its
``data/app.sqlite``. The tests run in file order and share the server: the uploads come last.
Screenshots of each state are saved in the test's tmp folder (the README's is made by
``tests/test_web_newcomer.py``).
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from tests.test_web import ANSWER_TIMEOUT_MS, PROJECT_ROOT, _ask, app_server, browser  # noqa: F401

pytestmark = pytest.mark.browser

SHARED_EXTRA = PROJECT_ROOT.parent / "shared" / "corpus-extra"
PINGTAN = SHARED_EXTRA / "05_fujian_pingtan_economic_dev_bureau_2018_budget.txt"
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """(url, application data folder) of the real app for this module."""
    tmp = tmp_path_factory.mktemp("web-evidence")
    with app_server(tmp) as (url, _log):
        yield url, tmp / "data"


@pytest.fixture
def page(browser, server):  # noqa: F811 - ``browser`` is the fixture imported above
    """A fresh page (Chinese locale, so Gradio's own labels are Chinese too) on the real app."""
    from playwright.sync_api import expect

    ctx = browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 1000})
    try:
        pg = ctx.new_page()
        pg.dialogs = []
        pg.on("dialog", lambda d: (pg.dialogs.append(d.message), d.dismiss()))
        pg.goto(server[0], wait_until="load")
        expect(pg.locator('textarea[data-testid="textbox"]').first).to_be_visible(timeout=30_000)
        yield pg
    finally:
        ctx.close()


def _select_source(page, n: int = 1):
    """Pick source number ``n`` of the last answer and return the evidence panel."""
    page.locator("#bqa-sources").get_by_role("radio").nth(n - 1).check()
    return page.locator("#bqa-evidence")


def _open_admin(page):
    page.locator("#bqa-admin").get_by_text("上传文件与导出反馈").click()


def _upload(page, path: Path):
    """Choose ``path`` in the upload widget, wait until Gradio holds it, press 上传并入库."""
    from playwright.sync_api import expect

    _open_admin(page)
    page.locator("#bqa-upload-file input[type=file]").set_input_files(str(path))
    expect(page.locator("#bqa-upload-file").get_by_role("cell", name=path.name)).to_be_visible(timeout=30_000)
    page.get_by_role("button", name="上传并入库").click()


def test_table_source_shows_table_with_cited_cell(page, tmp_path):
    from playwright.sync_api import expect

    reply = _ask(page, "差旅费预算一共多少", 0)
    expect(reply).to_contain_text("19.00")
    sources = page.locator("#bqa-sources").get_by_role("radio")
    expect(sources).to_have_count(2)
    expect(page.locator("#bqa-sources")).to_contain_text("[1] 一般公共预算基本支出表 · 30211 差旅费")

    panel = _select_source(page, 1)
    expect(panel.locator(".bqa-ev-title")).to_have_text("一般公共预算基本支出表")
    expect(panel.locator("td.bqa-cited-cell")).to_have_text("14.00")
    expect(panel.locator("tr.bqa-cited-row")).to_contain_text("差旅费")
    expect(panel).to_contain_text("单位：万元")
    expect(panel).to_contain_text("引用第 345 行")
    expect(panel).to_contain_text("计算：差旅费 = 14.00 + 5.00 = 19.00 万元")  # the derived figure
    page.screenshot(path=str(tmp_path / "table-source.png"), full_page=True)

    # the second source is the other row of the same item
    panel = _select_source(page, 2)
    expect(panel.locator("td.bqa-cited-cell")).to_have_text("5.00")
    expect(panel.locator("tr.bqa-cited-row")).to_have_count(1)


def test_definition_source_highlights_sentence(page, tmp_path):
    from playwright.sync_api import expect

    reply = _ask(page, "什么是三公经费", 0)
    expect(reply).to_contain_text("因公出国（境）费")
    panel = _select_source(page, 1)
    expect(panel.locator(".bqa-ev-title")).to_contain_text("名词解释")
    expect(panel.locator(".bqa-cited-para mark")).to_contain_text("因公出国（境）费")
    expect(panel.locator("p.bqa-para").first).to_be_visible()  # the surrounding section is shown
    assert panel.locator("p.bqa-para").count() >= 3
    page.screenshot(path=str(tmp_path / "passage-source.png"), full_page=True)


def test_breakdown_answer_shows_chart(page, tmp_path):
    from playwright.sync_api import expect

    chart = page.locator("#bqa-chart")
    expect(chart).to_be_hidden()
    reply = _ask(page, "三公经费构成", 0)
    expect(reply).to_contain_text("公务接待费")
    expect(chart).to_be_visible()
    expect(chart).to_contain_text("三公经费（单位：万元）", timeout=15_000)  # title, drawn by Vega
    expect(chart).to_contain_text("金额（万元）")  # the value axis carries the unit
    expect(chart).to_contain_text("公务用车购置及运行费")
    page.screenshot(path=str(tmp_path / "chart.png"), full_page=True)

    _ask(page, "什么是机关运行经费", 1)  # no breakdown: the chart goes away
    expect(chart).to_be_hidden()


def test_hostile_question_is_shown_as_text(page, tmp_path):
    from playwright.sync_api import expect

    question = "<img src=x onerror=alert(1)>"
    _ask(page, question, 0)
    expect(page.locator('[data-testid="user"]').last).to_contain_text(question)
    messages = page.locator('[data-testid="user"], [data-testid="bot"]')
    assert messages.locator("img, script").count() == 0
    page.screenshot(path=str(tmp_path / "hostile-question.png"), full_page=True)
    assert page.dialogs == []


def test_thumbs_up_is_stored_and_exported(page, server, tmp_path):
    from playwright.sync_api import expect

    from assistant.feedback import FeedbackStore

    store = FeedbackStore(server[1] / "app.sqlite")
    before = len(store.rows())
    expect(_ask(page, "三公经费是多少", 0)).to_contain_text("25.50")
    page.locator("#bqa-chat").get_by_role("button", name="赞").click()
    expect(page.locator("#bqa-notice")).to_contain_text("已记录评价：有用")
    rows = store.rows()
    assert len(rows) == before + 1
    assert (rows[-1]["question"], rows[-1]["rating"], rows[-1]["kind"]) == ("三公经费是多少", 1, "figure")
    assert "25.50" in rows[-1]["answer"] and rows[-1]["conversation"]
    page.screenshot(path=str(tmp_path / "feedback.png"), full_page=True)

    _open_admin(page)
    page.get_by_role("button", name="导出反馈 CSV").click()
    download = page.locator("#bqa-export-file")
    expect(download).to_contain_text(re.compile(r"feedback-\d{8}-\d{6}\s*\.csv"))
    exported = sorted((server[1] / "exports").glob("feedback-*/feedback-*.csv"))
    assert exported, "the CSV is written under data/exports"
    assert "三公经费是多少" in exported[-1].read_text(encoding="utf-8-sig")
    with page.expect_download() as info:
        download.get_by_role("link").first.click()
    assert "三公经费是多少" in Path(info.value.path()).read_text(encoding="utf-8-sig")


def test_phone_width_stacks_columns(browser, server, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    ctx = browser.new_context(locale="zh-CN", viewport=PHONE, is_mobile=True, has_touch=True)
    try:
        page = ctx.new_page()
        page.goto(server[0], wait_until="load")
        _ask(page, "差旅费预算一共多少", 0)
        panel = _select_source(page, 1)
        expect(panel.locator("td.bqa-cited-cell")).to_have_text("14.00")
        chat, side = page.locator("#bqa-chat").bounding_box(), panel.bounding_box()
        assert side["y"] >= chat["y"] + chat["height"], "the evidence comes below the chat"
        assert chat["width"] <= PHONE["width"] and side["width"] <= PHONE["width"]
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]  # no sideways scroll
        page.screenshot(path=str(tmp_path / "phone.png"), full_page=True)
    finally:
        ctx.close()


def test_binary_upload_is_rejected_and_questions_still_work(page, tmp_path):
    from playwright.sync_api import expect

    binary = tmp_path / "x.txt"
    binary.write_bytes(os.urandom(4096) + b"\0\0\0")
    _upload(page, binary)
    status = page.locator("#bqa-upload-status")
    expect(status).to_contain_text("文件不是文本", timeout=ANSWER_TIMEOUT_MS)
    expect(status).to_contain_text("未入库")
    page.screenshot(path=str(tmp_path / "upload-rejected.png"), full_page=True)
    expect(_ask(page, "三公经费是多少", 0)).to_contain_text("25.50")


@pytest.mark.skipif(not PINGTAN.is_file(), reason="../shared/corpus-extra is not there")
def test_upload_adds_document_to_answers_scope_and_examples(page, browser, server, tmp_path):  # noqa: F811
    from playwright.sync_api import expect

    # an answer given before the upload keeps its evidence afterwards
    _ask(page, "差旅费预算一共多少", 0)
    _upload(page, PINGTAN)
    status = page.locator("#bqa-upload-status")
    # the ingest steps are shown while it runs (parsing is quick, computing the embeddings is not)
    expect(status).to_contain_text(re.compile("向量化|解析|检查文件"), timeout=10_000)
    page.screenshot(path=str(tmp_path / "upload-progress.png"), full_page=True)
    expect(status).to_contain_text("已入库：2018年度经济发展局部门预算说明", timeout=ANSWER_TIMEOUT_MS)
    expect(status).to_contain_text(re.compile(r"（0 张表，\d+ 个数字，\d+ 个段落）"))
    expect(status).to_contain_text("未识别到表格：已按叙述文本入库")
    panel = _select_source(page, 1)
    expect(panel.locator("td.bqa-cited-cell")).to_have_text("14.00")

    scope = page.locator("#bqa-scope")
    expect(scope).to_contain_text("平潭综合实验区经济发展局 · 2018年 · 部门预算")
    expect(scope.get_by_role("checkbox", name="平潭综合实验区经济发展局 · 2018年 · 部门预算")).to_be_checked()
    expect(page.get_by_role("button", name="平潭综合实验区经济发展局2018年三公经费是多少？")).to_be_visible()

    reply = _ask(page, "平潭经济发展局2018年机关运行经费", 1)
    expect(reply).to_contain_text("255.3")
    panel = _select_source(page, 1)
    expect(panel.locator("mark")).to_contain_text("255.3万元")
    page.screenshot(path=str(tmp_path / "upload-done.png"), full_page=True)
    assert (server[1] / "uploads" / PINGTAN.name).is_file()

    # a page opened later lists the new document too
    ctx = browser.new_context(locale="zh-CN")
    try:
        other = ctx.new_page()
        other.goto(server[0], wait_until="load")
        expect(other.locator("#bqa-scope")).to_contain_text("平潭综合实验区经济发展局 · 2018年 · 部门预算")
    finally:
        ctx.close()
