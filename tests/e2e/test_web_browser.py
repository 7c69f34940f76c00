"""The borrower's pages in a real browser: Playwright drives Debian's Chromium against the site
served on a loopback port, over a fresh SQLite store with a demo book, on a fixed clock.

The article's story: a borrower draws five times in a day, the policy's velocity rule freezes
the line, the borrower sees why in Chinese (the limit kept, the end date, what to do), asks a
person to review it, repays every loan, and a week later finds the line restored. Chromium is
required: without it these tests fail, they never skip. On a failure each open page's
screenshot and HTML are saved under test-results/<test>/.
"""

from __future__ import annotations

import os
import re
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import uvicorn
from conftest import REPO, failed_so_far
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from creditline.bootstrap import Container, build
from creditline.config import Settings
from creditline.demo import load_demo_book
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.web.app import create_site

pytestmark = pytest.mark.xdist_group("browser")

CHROMIUM = Path(os.environ.get("CREDITLINE_TEST_CHROMIUM", "/usr/bin/chromium"))
# As root and on a machine with no network but the package registries: no sandbox, and no
# background connections of the browser's own.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
RESULTS = REPO / "test-results"
# Where the README's screenshots are written, when asked (tools/screenshots.sh).
SCREENSHOTS = os.environ.get("CREDITLINE_WEB_SCREENSHOTS")
DEMO_BORROWERS = 3
STORY_BORROWER = "demo-0001"
NOW = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)  # 10:00 in Shanghai
PHONE = {"width": 390, "height": 844}
SERVER_START_SECONDS_MAX = 20.0
EXPECT_MS = 10_000  # a loaded CI machine is slow; expect()'s own default is 5 s
expect.set_options(timeout=EXPECT_MS)


@dataclass
class Site:
    url: str
    container: Container
    clock: FixedClock

    def borrower_with(self, status: str) -> str:
        """A demo borrower one of whose lines has `status`."""
        for number in range(1, DEMO_BORROWERS + 1):
            borrower = f"demo-{number:04d}"
            lines = self.container.ledger.list_lines(Actor(borrower, Role.BORROWER))["lines"]
            if any(line["status"] == status for line in lines):
                return borrower
        raise AssertionError(f"the demo book has no {status} line")


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.fail(
            f"Chromium is required at {CHROMIUM} for the browser tests: "
            "apt-get install -y chromium fonts-noto-cjk",
            pytrace=False,
        )
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    """The site on a free loopback port: a demo book, the policy's reviews after each drawdown
    and settlement, notices delivered in the background, the clock fixed a day after the
    book's last day (so that the day's reviews are still to come)."""
    clock = FixedClock(NOW)
    settings = Settings(
        database_url=f"sqlite:///{tmp_path / 'creditline.db'}",
        review_triggers=True,
        dispatch_interval_seconds=0.2,
    )
    container = build(settings, clock)
    load_demo_book(container, DEMO_BORROWERS, 2026)
    container.dispatcher.run_until_idle()
    clock.advance(timedelta(days=1))
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    server = uvicorn.Server(
        uvicorn.Config(create_site(container, dispatch=True), log_level="warning")
    )
    thread = threading.Thread(target=server.run, kwargs={"sockets": [listening]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + SERVER_START_SECONDS_MAX
    while not server.started:
        assert time.monotonic() < deadline, "the site did not start"
        time.sleep(0.02)
    yield Site(f"http://127.0.0.1:{port}", container, clock)
    server.should_exit = True
    thread.join(timeout=SERVER_START_SECONDS_MAX)
    container.close()


@pytest.fixture
def context(browser: Browser, request: pytest.FixtureRequest) -> Iterator[BrowserContext]:
    """A phone-sized browser context; on a failure, each open page is saved."""
    opened = browser.new_context(viewport=PHONE, locale="zh-CN")
    opened.set_default_timeout(EXPECT_MS)
    yield opened
    if failed_so_far(request):
        folder = RESULTS / re.sub(r"[^\w.-]+", "_", request.node.name)
        folder.mkdir(parents=True, exist_ok=True)
        for number, page in enumerate(opened.pages, 1):
            page.screenshot(path=str(folder / f"page-{number}.png"), full_page=True)
            (folder / f"page-{number}.html").write_text(page.content())
        print(f"screenshots of the failed test's pages: {folder}")
    opened.close()


@pytest.fixture
def page(context: BrowserContext, site: Site) -> Iterator[Page]:
    """A page that may reach the site only: any other request fails the test."""
    opened = context.new_page()
    elsewhere: list[str] = []

    def only_the_site(route: object, request: object) -> None:
        url = request.url  # type: ignore[attr-defined]
        if url.startswith(site.url):
            route.continue_()  # type: ignore[attr-defined]
        else:
            elsewhere.append(url)
            route.abort()  # type: ignore[attr-defined]

    opened.route("**/*", only_the_site)
    yield opened
    assert not elsewhere, f"the pages asked for something not on the site: {elsewhere}"


def sign_in(page: Page, site: Site, subject: str, role: str = "borrower") -> None:
    """Sign in with the development picker, by keyboard (as a new visitor)."""
    page.context.clear_cookies()
    page.goto(site.url + "/")
    expect(page).to_have_url(re.compile(r"/sign-in"))
    page.get_by_label("角色").select_option(role)
    page.get_by_label("用户标识").fill(subject)
    page.get_by_label("用户标识").press("Enter")
    expect(page).to_have_url(re.compile(r"/lines$" if role == "borrower" else r"/staff$"))


def shoot(page: Page, name: str) -> None:
    """The README's screenshot of this page, when asked for."""
    if SCREENSHOTS:
        page.screenshot(path=str(Path(SCREENSHOTS) / name), full_page=True)


def line_id_of(page: Page) -> str:
    return str(page.locator("[data-line]").first.get_attribute("data-line"))


def frozen_by_drawdowns(site: Site, borrower: str) -> str:
    """An active line of `borrower`'s, frozen by the policy after five drawdowns in a day."""
    person = Actor(borrower, Role.BORROWER)
    lines = site.container.ledger.list_lines(person)["lines"]
    line_id = str(next(line["id"] for line in lines if line["status"] == "active"))
    for n in range(5):
        hold = site.container.ledger.place_hold(person, f"v{n}", line_id, "100.00", 3).document
        site.container.loans.post_drawdown(person, f"p{n}", hold["id"])
    assert site.container.ledger.get_line(person, line_id)["status"] == "frozen"
    return line_id


def wait_for_scripts(page: Page) -> None:
    """Keys typed before the deferred htmx has run go unheard, as they would for a person."""
    page.wait_for_load_state("load")
    page.wait_for_function("() => window.htmx !== undefined")


def draw(page: Page, site: Site, line_id: str, amount: str) -> None:
    """Draw `amount` over three months: the form, the quote, the confirmation."""
    page.goto(f"{site.url}/lines/{line_id}/draw")
    page.get_by_label("金额").fill(amount)
    page.get_by_label("期限").select_option("3")
    page.get_by_role("button", name="查看费用").click()
    expect(page.locator(".apr-figure")).to_be_visible()
    page.get_by_role("button", name="确认借款").click()
    expect(page.get_by_role("status")).to_have_text("借款成功,款项正在发放。")


def test_the_article_story_through_the_pages(page: Page, site: Site) -> None:
    sign_in(page, site, STORY_BORROWER)
    expect(page.locator("html")).to_have_attribute("lang", "zh-CN")
    expect(page.locator("[data-status]")).to_have_text("正常")
    line_id = line_id_of(page)
    limit = page.locator('[data-figure="limit"]').inner_text()

    # The quote: the APR first and most prominent (CN-4).
    page.get_by_role("link", name="借款").click()
    page.get_by_label("金额").fill("500")
    page.get_by_label("期限").select_option("3")
    page.get_by_role("button", name="查看费用").click()
    # Measured on the quote page once its stylesheet is in, not on the form's live preview.
    page.wait_for_url(re.compile(r"/quote\?"), wait_until="load")
    summary = page.locator("#quote-summary")
    expect(summary.locator(":scope > *").first).to_have_class("apr")
    apr_size = _font_size(summary.locator(".apr-figure"))
    sizes = [_font_size(dd) for dd in summary.locator("dd").all()]
    assert sizes and all(apr_size > size for size in sizes), (apr_size, sizes)
    shoot(page, "quote.png")
    page.get_by_role("button", name="确认借款").click()
    expect(page.get_by_role("status")).to_have_text("借款成功,款项正在发放。")
    for _ in range(4):
        draw(page, site, line_id, "500")

    # The fifth drawdown in a day: the policy's velocity rule froze the line. Another is
    # refused in plain Chinese, naming the reason.
    page.goto(f"{site.url}/lines/{line_id}/quote?amount=500&term_months=3")
    page.get_by_role("button", name="确认借款").click()
    expect(page.get_by_role("alert")).to_have_text("该额度暂停借款,授信额度为您保留。")
    expect(page.locator("main")).to_contain_text("短期内借款次数过多")

    # My lines: paused, the limit kept, why, until when, and what to do.
    page.get_by_role("link", name="我的额度").click()
    expect(page.locator("[data-status]")).to_have_text("暂停使用")
    expect(page.locator('[data-figure="limit"]')).to_have_text(limit)
    expect(page.locator(".summary")).to_contain_text("暂停借款至 2026-12-09")
    expect(page.locator(".summary")).to_contain_text("原因:短期内借款次数过多")
    expect(page.locator(".steps")).to_contain_text("无需操作:额度将在所示日期自动恢复")

    # Why: the change, its reason and the data the policy looked at.
    page.get_by_role("link", name="为什么我的额度是这样?").click()
    expect(page.locator("[data-summary]")).to_contain_text("授信额度 30,000.00 元 保留不变")
    expect(page.locator('[data-reason="drawdown_velocity"]').first).to_be_visible()
    expect(page.locator("main")).to_contain_text("近7天借款次数")
    shoot(page, "why.png")

    # The borrower asks a person to look at it: the deadline is shown.
    page.get_by_role("link", name="申请复核").click()
    page.get_by_label("同时申请人工复核").check()
    page.get_by_label("申请理由(选填)").fill("我每笔都按时还款")
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_role("status")).to_have_text("您的申请已提交。")
    expect(page.locator("main")).to_contain_text("人工复核进行中")

    # Repay every loan: the credit comes back at once, the freeze keeps its date.
    page.goto(f"{site.url}/lines/{line_id}")
    loans = [str(link.get_attribute("href")) for link in page.locator(".loans a").all()]
    open_loans = [href for href in loans if _is_open(page, href)]
    assert len(open_loans) == 5
    for href in open_loans:
        page.goto(site.url + href)
        page.get_by_role("button", name="还款").click()
        expect(page.get_by_role("status")).to_have_text("还款成功,借款已结清,相应额度已恢复。")
    page.goto(site.url + "/lines")
    expect(page.locator('[data-figure="available"]')).to_have_text(limit)
    expect(page.locator("[data-status]")).to_have_text("暂停使用")

    # A week later the freeze has ended: the borrower signs in again and finds the line back.
    site.clock.advance(timedelta(days=8))
    site.container.ledger.sweep()
    page.reload()
    expect(page.locator("main")).to_contain_text("登录已过期,请重新登录。")
    sign_in(page, site, STORY_BORROWER)
    expect(page.locator("[data-status]")).to_have_text("正常")
    expect(page.locator('[data-figure="available"]')).to_have_text(limit)
    page.get_by_role("link", name="消息").click()
    _wait_for_notice(page, "您的额度已恢复使用")
    wait_for_scripts(page)
    unread = page.locator("li.unread").first
    notice = f"#{unread.get_attribute('id')}"
    unread.get_by_role("button", name="标为已读").click()  # htmx swaps the notice in place
    expect(page.locator(notice)).to_have_class(re.compile(r"\bread\b"))

    # The same pages in English.
    page.get_by_role("link", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    page.get_by_role("link", name="My lines").click()
    expect(page.locator("[data-status]")).to_have_text("active")


def test_an_operator_decides_a_human_review_in_the_console(page: Page, site: Site) -> None:
    # Five drawdowns in a day: the policy freezes the line (its review follows each one).
    borrower = site.borrower_with("active")
    line_id = frozen_by_drawdowns(site, borrower)
    # The borrower asks a person to look at it.
    sign_in(page, site, borrower)
    page.goto(f"{site.url}/lines/{line_id}/review")
    page.get_by_label(re.compile("人工")).check()
    page.get_by_label("申请理由(选填)").fill("这些借款是一笔分开支付的消费")
    page.get_by_role("button", name="提交").click()
    expect(page.get_by_role("status")).to_be_visible()

    # An agent finds it in the queue, reads the decision contested, and reverses it.
    sign_in(page, site, "ops-1", role="agent")
    page.get_by_role("link", name="人工复核").click()
    page.locator("tr[data-review] a").first.click()
    expect(page.locator("main")).to_contain_text("被复核的决策")
    page.get_by_label("撤销原决策").check()
    page.get_by_label("备注").fill("分期消费,不属于频繁借款")
    page.get_by_role("button", name="提交结论").click()
    expect(page.get_by_role("status")).to_have_text("已作出复核结论,借款人会收到通知。")
    expect(page.locator('[data-review-status="decided"]')).to_be_visible()
    shoot(page, "staff-review.png")

    # The borrower finds the line in use again.
    sign_in(page, site, borrower)
    expect(page.locator('[data-status="frozen"]')).to_have_count(0)


def test_a_suspended_borrower_re_verifies_income_and_the_suspension_ends(
    page: Page, site: Site
) -> None:
    sign_in(page, site, site.borrower_with("suspended"))
    expect(page.locator("[data-status]").first).to_have_text("暂停使用(待核验)")
    page.get_by_role("link", name=re.compile("请提交新的收入证明")).click()
    today = site.clock.now().date()
    page.get_by_label("月收入").fill("15000.00")
    page.get_by_label("证明文件编号").fill("payslip-2026-12")
    page.get_by_label("开具日期").fill(today.isoformat())
    page.get_by_label("有效期至").fill((today + timedelta(days=180)).isoformat())
    page.get_by_role("button", name="提交").click()
    expect(page.locator('[data-verification="accepted"]')).to_be_visible()
    # No longer waiting for evidence; the policy's next look at the line (here: a loan in
    # arrears pauses it) is on the page with its own reason.
    page.get_by_role("link", name="我的额度").click()
    expect(page.locator('[data-status="suspended"]')).to_have_count(0)


def test_the_quote_follows_the_amount_as_it_is_typed(page: Page, site: Site) -> None:
    # htmx, served from the package, asks for the quote while the borrower types.
    sign_in(page, site, site.borrower_with("active"))
    page.get_by_role("link", name="借款").first.click()
    wait_for_scripts(page)
    page.get_by_label("金额").press_sequentially("800")
    expect(page.locator("#preview .apr-figure")).to_be_visible()
    expect(page).to_have_url(re.compile(r"/draw$"))  # still on the form


def test_the_pages_work_without_javascript(browser: Browser, site: Site) -> None:
    context = browser.new_context(viewport=PHONE, java_script_enabled=False)
    try:
        page = context.new_page()
        sign_in(page, site, site.borrower_with("active"))
        line_id = line_id_of(page)
        draw(page, site, line_id, "300")
        page.goto(site.url + "/lines?lang=en")
        expect(page.locator("html")).to_have_attribute("lang", "en")
    finally:
        context.close()


def test_the_keyboard_reaches_the_content_first(page: Page, site: Site) -> None:
    sign_in(page, site, STORY_BORROWER)
    page.keyboard.press("Tab")
    expect(page.locator(":focus")).to_have_text("跳到正文")
    page.keyboard.press("Enter")
    expect(page.locator(":focus")).to_have_id("main")  # before the next key, or it is lost
    # The jump to #main settles over the next frames (on a loaded machine a Tab pressed before
    # it did was lost once): wait for two of them.
    expect(page).to_have_url(re.compile(r"#main$"))
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")
    page.keyboard.press("Tab")
    focused = page.locator(":focus")
    expect(focused).to_have_attribute("href", re.compile(r"^/lines/"))


def _font_size(locator: object) -> float:
    size = locator.evaluate("e => getComputedStyle(e).fontSize")  # type: ignore[attr-defined]
    return float(str(size).removesuffix("px"))


def _is_open(page: Page, href: str) -> bool:
    item = page.locator(f'.loans li:has(a[href="{href}"])')
    return item.locator(".loan-open").count() > 0


def _wait_for_notice(page: Page, subject: str) -> None:
    """The dispatcher delivers in the background: reload until the notice is in."""
    deadline = time.monotonic() + EXPECT_MS / 1000
    while subject not in page.locator("main").inner_text():
        assert time.monotonic() < deadline, f"no notice {subject!r} in the inbox"
        time.sleep(0.2)
        page.reload()
