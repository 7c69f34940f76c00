"""Notices end to end, on both stores.

A change writes its outbox row in its own transaction; the dispatcher delivers it to a real
SMTP server and a real webhook receiver that these tests start on 127.0.0.1, and files it in
the inbox the borrower reads over HTTP, in zh-CN and English: the ledger's notices, and those
of human reviews, verifications and reminders. A failed channel is retried with backoff (the
channels that took the message are not sent again) and ends as a dead letter; a dispatcher
killed mid-batch loses nothing; two dispatchers never send one message at the same time.
Every kind renders in both languages.
"""

from __future__ import annotations

import email
import email.policy
import itertools
import json
import socket
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from itertools import pairwise
from typing import Any
from zoneinfo import ZoneInfo

import jinja2
import pytest
from aiosmtpd.controller import Controller
from conftest import (
    EXAMPLE_POLICY,
    NOTHING_DUE,
    TEST_CONTACTS,
    TEST_PRODUCTS,
    frozen_by_the_policy,
    headers,
)
from fastapi.testclient import TestClient
from sqlalchemy import select
from test_payment_reminders import FACTS
from test_payment_reminders import PAYLOADS as PAYMENT_PAYLOADS

from creditline.api.app import create_app
from creditline.bootstrap import Container, build
from creditline.config import Settings
from creditline.decisions.applications import Application
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.kernel.ids import new_id
from creditline.kernel.money import group_thousands
from creditline.kernel.reasons import NEXT_STEP_TEXTS, REASON_CATALOGUE, NextStep
from creditline.ledger.tables import decisions, lines
from creditline.notices.catalog import LANGUAGES, Kind
from creditline.notices.channels import (
    REPLAY_WINDOW_SECONDS,
    Email,
    Message,
    SmtpSettings,
    Webhook,
    sign,
    verify_signature,
)
from creditline.notices.contacts import read_contacts
from creditline.notices.dispatcher import DISPATCH_BATCH_MAX, LEASE, Dispatcher, backoff
from creditline.notices.render import Jurisdiction, Renderer
from creditline.notices.tables import deliveries, inbox, outbox

SECRET = "whsec-test-0123456789abcdef"  # ≥ 16 bytes, as the settings require
CONTACTS = read_contacts(TEST_CONTACTS)  # who the tests' notices name, by profile
LENDER = CONTACTS["TEST-US"].lender.name
ADDRESS = "li.wei@example.com"
SECOND = timedelta(seconds=1)
DAY = timedelta(days=1)


# --- a real webhook receiver ----------------------------------------------------------------
@dataclass(frozen=True)
class Hit:
    """One request the receiver got: the notice id, what was sent, and when (monotonic)."""

    id: str
    headers: dict[str, str]
    body: bytes
    status: int
    start: float
    end: float


@dataclass
class Receiver:
    """A lender's webhook endpoint on 127.0.0.1: records every request; can answer 500."""

    url: str = ""
    hits: list[Hit] = field(default_factory=list)
    fail_next: int = 0  # answer 500 to this many of the next requests
    fail_always: bool = False
    delay_seconds: float = 0.0  # a slow receiver
    lock: threading.Lock = field(default_factory=threading.Lock)

    def took(self) -> Counter[str]:
        """How many times each id was accepted (answered 2xx)."""
        with self.lock:
            return Counter(hit.id for hit in self.hits if 200 <= hit.status < 300)

    def of(self, notice_id: str) -> list[Hit]:
        with self.lock:
            return [hit for hit in self.hits if hit.id == notice_id]


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            start = time.monotonic()
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if receiver.delay_seconds:
                time.sleep(receiver.delay_seconds)
            with receiver.lock:
                failing = receiver.fail_always or receiver.fail_next > 0
                receiver.fail_next = max(0, receiver.fail_next - 1)
            status = 500 if failing else 204
            end = time.monotonic()
            with receiver.lock:
                receiver.hits.append(
                    Hit(
                        json.loads(body)["id"],
                        {name.lower(): value for name, value in self.headers.items()},
                        body,
                        status,
                        start,
                        end,
                    )
                )
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    server.daemon_threads = True
    found.url = f"http://127.0.0.1:{server.server_address[1]}/hooks/creditline"
    # A short poll: `shutdown` waits for the loop to look (0.5 s by default, every test).
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield found
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


# --- a real SMTP server ---------------------------------------------------------------------
@dataclass
class Mailbox:
    """What an SMTP server on 127.0.0.1 received, parsed."""

    port: int = 0
    mails: list[tuple[list[str], EmailMessage]] = field(default_factory=list)

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        self.mails.append((list(envelope.rcpt_tos), parsed))
        return "250 OK"

    def by_id(self) -> dict[str, list[EmailMessage]]:
        found: dict[str, list[EmailMessage]] = {}
        for _, mail in list(self.mails):
            found.setdefault(str(mail["Creditline-Notice-Id"]), []).append(mail)
        return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox()
    for attempt in range(5):  # a free port can be taken before the server binds it
        box.port = _free_port()
        controller = Controller(box, hostname="127.0.0.1", port=box.port)
        try:
            controller.start()
            break
        except Exception:
            if attempt == 4:
                raise
    yield box
    controller.stop()


# --- a container with both channels -----------------------------------------------------------
def wire(database_url: str, clock: FixedClock, mailbox: Mailbox, receiver: Receiver) -> Container:
    settings = Settings(
        database_url=database_url,
        products_file=TEST_PRODUCTS,
        policy_file=EXAMPLE_POLICY,
        review_triggers=False,
        contacts_file=TEST_CONTACTS,
        webhook_url=receiver.url,
        webhook_secret=SECRET,
        smtp_host="127.0.0.1",
        smtp_port=mailbox.port,
    )
    return build(settings, clock, migrate=False)


@pytest.fixture
def wired(
    database_url: str, clock: FixedClock, mailbox: Mailbox, receiver: Receiver
) -> Iterator[Container]:
    built = wire(database_url, clock, mailbox, receiver)
    yield built
    built.close()


@pytest.fixture
def api(wired: Container) -> Iterator[TestClient]:
    with TestClient(create_app(wired), raise_server_exceptions=False) as built:
        yield built


# --- helpers --------------------------------------------------------------------------------
def outbox_rows(c: Container) -> list[dict[str, Any]]:
    with c.db.engine.connect() as connection:
        found = connection.execute(select(outbox).order_by(outbox.c.id)).mappings()
        return [dict(row) for row in found]


def outbox_row(c: Container, notice_id: str) -> dict[str, Any]:
    [row] = [row for row in outbox_rows(c) if row["id"] == notice_id]
    return row


def channels_of(c: Container, notice_id: str) -> list[dict[str, Any]]:
    with c.db.engine.connect() as connection:
        query = select(deliveries).where(deliveries.c.notice_id == notice_id)
        return [dict(row) for row in connection.execute(query).mappings()]


def inbox_ids(c: Container) -> list[str]:
    with c.db.engine.connect() as connection:
        return list(connection.execute(select(inbox.c.notice_id)).scalars())


def written_by(c: Container, change: Callable[[], object]) -> list[dict[str, Any]]:
    """The outbox rows that `change` wrote (ids are time-ordered)."""
    before = {row["id"] for row in outbox_rows(c)}
    change()
    return [row for row in outbox_rows(c) if row["id"] not in before]


def listed(
    api: TestClient, c: Container, borrower_id: str, query: str = ""
) -> dict[str, dict[str, Any]]:
    """The borrower's inbox over HTTP, by notice id."""
    answer = api.get(f"/v1/me/notices{query}", headers=headers(c, Role.BORROWER, borrower_id))
    assert answer.status_code == 200, answer.text
    return {notice["id"]: notice for notice in answer.json()["notices"]}


def flat(text: str) -> str:
    """`text` with every run of spaces and line breaks as one space: facts read across the
    lines the templates wrap."""
    return " ".join(text.split())


def reason_facts(codes: list[str], language: str) -> list[str]:
    """What a notice must say about its reasons: each reason's text and next step."""
    en = language == "en"
    facts = []
    for code in codes:
        reason = REASON_CATALOGUE[code]
        facts.append(reason.text_en if en else reason.text_zh)
        if reason.next_step is not NextStep.NONE:
            facts.append(NEXT_STEP_TEXTS[reason.next_step][0 if en else 1])
    return facts


def draw(c: Container, borrower: Actor, line_id: str, amount: str, tag: str) -> str:
    hold = c.ledger.place_hold(borrower, f"hold-{tag}", line_id, amount, 12).document
    return str(c.loans.post_drawdown(borrower, f"post-{tag}", hold["id"]).document["loan_id"])


def payoff(c: Container, borrower: Actor, loan_id: str) -> Decimal:
    return Decimal(c.loans.get_loan(borrower, loan_id)["payoff_today"]["total"])


def set_address(api: TestClient, c: Container, borrower_id: str, **body: Any) -> None:
    answer = api.put(
        "/v1/me/preferences", json=body, headers=headers(c, Role.BORROWER, borrower_id)
    )
    assert answer.status_code == 200, answer.text


@dataclass
class Expected:
    """A notice a change must write, and what it must say in each language."""

    topic: str
    kind: Kind
    codes: list[str]
    en: list[str]
    zh: list[str]
    id: str = ""


# --- 1. every kind written today, end to end ----------------------------------------------
def test_every_notice_written_today_reaches_email_webhook_and_the_inbox_in_both_languages(
    wired: Container,
    api: TestClient,
    mailbox: Mailbox,
    receiver: Receiver,
    clock: FixedClock,
    agent: Actor,
    approver: Actor,
    borrower: Actor,
) -> None:
    c = wired
    set_address(api, c, borrower.subject, email=ADDRESS)  # language: the CN profile's, zh-CN
    expected: list[Expected] = []
    opening: dict[str, Any] = {}
    opened = written_by(
        c,
        lambda: opening.update(
            c.ledger.open_line(agent, "open", borrower.subject, "CNY", "20000.00").document
        ),
    )
    line_id = opening["id"]

    def expect(rows: list[dict[str, Any]], want: list[Expected], ref_id: str | None = None) -> None:
        """The change wrote its notices, undelivered, before any dispatch."""
        notices = [row for row in rows if row["topic"].startswith("notice.")]
        assert [row["topic"] for row in notices] == [w.topic for w in want]
        for row, w in zip(notices, want, strict=True):
            assert row["borrower_id"] == borrower.subject and row["line_id"] == line_id
            assert row["created_at"] == clock.now()
            assert (row["delivered_at"], row["attempts"], row["claimed_until"]) == (None, 0, None)
            assert channels_of(c, row["id"]) == []
            if ref_id is not None:
                assert row["ref_id"] == ref_id
            w.id = row["id"]
            expected.append(w)

    def decided(
        action: str, codes: list[str], who: Actor, topic: str, kind: Kind, en: list[str],
        zh: list[str], **extra: Any,
    ) -> None:  # fmt: skip
        made: dict[str, Any] = {}

        def run() -> None:
            key = f"{action}-{len(expected)}"
            made.update(c.ledger.change_limit(who, key, line_id, action, codes, **extra).document)

        rows = written_by(c, run)
        expect(rows, [Expected(topic, kind, codes, en, zh)], made["decision"]["id"])

    adverse, improved = "notice.adverse_change", "notice.line_improved"
    # The staff member's grant of the first limit is announced like any increase.
    granted = Expected(
        improved,
        Kind.LIMIT_INCREASED,
        ["application_approved"],
        ["went up to CNY 20,000.00"],
        ["提升至 20,000.00 元"],
    )
    expect(opened, [granted])
    decided(
        "decrease", ["multiple_lenders"], approver, adverse, Kind.LIMIT_DECREASED,
        ["CNY 10,000.00", "CNY 20,000.00", "2026-11-28"], ["10,000.00 元", "20,000.00 元"],
        limit="10000.00",
    )  # fmt: skip
    decided(
        "freeze", ["drawdown_velocity"], agent, adverse, Kind.LINE_FROZEN,
        ["paused until 2026-12-05", "(2026-12-05)", "CNY 10,000.00"],
        ["暂停使用至 2026-12-05", "(2026-12-05)", "10,000.00 元"],
        until=clock.now() + 7 * DAY,
    )  # fmt: skip
    decided(
        "unfreeze", ["risk_resolved"], agent, improved, Kind.LINE_RESTORED,
        ["restored on 2026-11-28", "You can draw CNY 10,000.00"], ["已于 2026-11-28 恢复"],
    )  # fmt: skip
    decided(
        "freeze", ["application_velocity"], agent, adverse, Kind.LINE_FROZEN,
        ["paused until 2026-12-01"], ["暂停使用至 2026-12-01"], until=clock.now() + 3 * DAY,
    )  # fmt: skip
    clock.advance(4 * DAY)  # the freeze ends by itself: the sweeper lifts it with a decision
    rows = written_by(c, c.ledger.sweep)
    expect(
        rows,
        [
            Expected(
                improved,
                Kind.FREEZE_ENDED,
                [],  # its reason (freeze_ended) is not repeated in the text, which says it
                ["can draw on your credit line again", "ended on 2026-12-02", "CNY 10,000.00"],
                ["已于 2026-12-02 结束", "10,000.00 元"],
            )
        ],
    )
    decided(
        "suspend", ["reverification_due"], agent, adverse, Kind.VERIFICATION_REQUIRED,
        ["re-verify", "CNY 10,000.00 is kept"], ["重新核验", "10,000.00 元 为您保留"],
    )  # fmt: skip
    decided(
        "restore", ["verification_completed"], agent, improved, Kind.LINE_RESTORED,
        ["restored on 2026-12-02"], ["已于 2026-12-02 恢复"],
    )  # fmt: skip
    decided(
        "suspend", ["overdue_payment"], agent, adverse, Kind.LINE_SUSPENDED,
        ["suspended from 2026-12-02", "CNY 10,000.00"], ["暂停借款", "10,000.00 元"],
    )  # fmt: skip
    decided(
        "restore", ["risk_resolved"], agent, improved, Kind.LINE_RESTORED,
        ["restored on 2026-12-02"], ["已于 2026-12-02 恢复"],
    )  # fmt: skip
    decided(
        "increase", ["good_repayment_history"], approver, improved, Kind.LIMIT_INCREASED,
        ["went up to CNY 15,000.00", "it was CNY 10,000.00"], ["提升至 15,000.00 元"],
        limit="15000.00",
    )  # fmt: skip
    # A loan repaid in full: its credit is available again, with the amount.
    loan_id = draw(c, borrower, line_id, "5000.00", "first")
    paid = payoff(c, borrower, loan_id)
    rows = written_by(c, lambda: c.loans.repay(borrower, "repay-first", loan_id, str(paid)))
    restored = Expected(
        "notice.loan_settled",
        Kind.CREDIT_RESTORED,
        [],
        ["CNY 5,000.00 is available again", "you can draw CNY 15,000.00", loan_id],
        ["额度已恢复", "5,000.00 元 额度已即时恢复", "当前可用 15,000.00 元", loan_id],
    )
    expect(rows, [restored], loan_id)
    # Paid more than owed: settled, and the excess is a refund due.
    loan_id = draw(c, borrower, line_id, "2000.00", "second")
    paid = payoff(c, borrower, loan_id) + Decimal("123.45")
    rows = written_by(c, lambda: c.loans.repay(borrower, "repay-second", loan_id, str(paid)))
    settled = Expected(
        "notice.loan_settled", Kind.CREDIT_RESTORED, [], ["available again"], ["额度已恢复"]
    )
    refund = Expected(
        "notice.refund_due",
        Kind.REFUND_DUE,
        [],
        ["CNY 123.45 will be returned", loan_id],
        ["123.45 元", "退还", loan_id],
    )
    expect(rows, [settled, refund])
    decided(
        "close", ["utilisation_high"], approver, adverse, Kind.LINE_CLOSED,
        ["closed on 2026-12-02"], ["已于 2026-12-02 关闭"],
    )  # fmt: skip
    assert {w.kind for w in expected} == {
        Kind.LIMIT_DECREASED,
        Kind.LINE_FROZEN,
        Kind.LINE_SUSPENDED,
        Kind.VERIFICATION_REQUIRED,
        Kind.LINE_CLOSED,
        Kind.LIMIT_INCREASED,
        Kind.FREEZE_ENDED,
        Kind.LINE_RESTORED,
        Kind.CREDIT_RESTORED,
        Kind.REFUND_DUE,
    }
    # Nothing reached anyone before the dispatcher ran.
    assert receiver.hits == [] and mailbox.mails == [] and inbox_ids(c) == []
    assert listed(api, c, borrower.subject) == {}

    everything = outbox_rows(c)
    counts = c.dispatcher.run_until_idle()
    assert counts == {"claimed": len(everything), "delivered": len(everything)}
    assert c.dispatcher.run_until_idle() == {}  # nothing is sent twice

    now = clock.now()
    for row in outbox_rows(c):
        assert (row["delivered_at"], row["attempts"], row["last_error"]) == (now, 1, None)
        assert row["dead_at"] is None
        is_notice = row["topic"].startswith("notice.")
        want = {"inbox", "email", "webhook"} if is_notice else {"webhook"}
        assert {d["channel"] for d in channels_of(c, row["id"])} == want
    # The webhook took every message once, signed with the configured secret.
    assert receiver.took() == Counter({row["id"]: 1 for row in everything})
    kinds = {w.id: w.kind.value for w in expected}
    for hit in receiver.hits:
        document = json.loads(hit.body)
        row = outbox_row(c, hit.id)
        assert hit.headers["creditline-notice-id"] == row["id"] == document["id"]
        assert document["topic"] == row["topic"]
        assert document["kind"] == kinds.get(row["id"])  # None for events
        assert document["payload"] == json.loads(row["payload"])
        signature = hit.headers["creditline-signature"]
        assert verify_signature(SECRET, signature, hit.body, now)
        assert not verify_signature("another-secret-of-16-bytes", signature, hit.body, now)
        tampered = hit.body.replace(b'"topic": "', b'"topic": "x')
        assert tampered != hit.body and not verify_signature(SECRET, signature, tampered, now)
        late = now + timedelta(seconds=REPLAY_WINDOW_SECONDS + 1)
        assert not verify_signature(SECRET, signature, hit.body, late)  # a replay, too late
        old = sign(SECRET, int(now.timestamp()) - REPLAY_WINDOW_SECONDS - 1, hit.body)
        assert not verify_signature(SECRET, old, hit.body, now)  # signed right, but too old
    # The borrower reads them in the inbox: by default in the profile's language (zh-CN).
    default = listed(api, c, borrower.subject)
    zh = listed(api, c, borrower.subject, "?lang=zh-CN")
    en = listed(api, c, borrower.subject, "?lang=en")
    assert set(default) == set(zh) == set(en) == {w.id for w in expected}
    assert default == zh
    mails = mailbox.by_id()
    assert set(mails) == {w.id for w in expected}
    for w in expected:
        for language, notice, facts in (("en", en[w.id], w.en), ("zh-CN", zh[w.id], w.zh)):
            assert notice["kind"] == w.kind.value and notice["language"] == language
            assert notice["line_id"] == line_id and notice["read_at"] is None
            text = notice["subject"] + "\n" + notice["body"]
            names = [] if w.kind is Kind.REFUND_DUE else [line_id]  # it names the loan
            for fact in [*facts, *reason_facts(w.codes, language), *names]:
                assert fact in text, (w.kind, language, fact, text)
            assert "Equal Credit Opportunity Act" not in text  # a CN line
            assert "{" not in text and "None" not in text
        # One e-mail per notice, in the borrower's language, named by the notice id.
        [mail] = mails[w.id]
        assert mail["Message-ID"] == f"<{w.id}@creditline>"
        assert mail["Creditline-Notice-Id"] == w.id
        assert mail["To"] == ADDRESS
        assert mail["Subject"] == zh[w.id]["subject"]
        assert str(mail.get_content()).replace("\r\n", "\n") == zh[w.id]["body"]
    assert [rcpt for rcpt, _ in mailbox.mails] == [[ADDRESS]] * len(expected)
    # Adverse notices tell the borrower how to ask for a review; favourable ones do not
    # promise a next step they do not have.
    for w in expected:
        if w.kind is Kind.LIMIT_INCREASED:
            assert "What you can do" not in en[w.id]["body"]
            assert "您可以" not in zh[w.id]["body"]
        if w.topic == adverse:
            assert "We answer within 15 days" in en[w.id]["body"]


# Issue 11, item 4: what a cut held at the amount in use says, in both languages.
NO_ROOM = {
    "en": "Your limit now equals what you owe",
    "zh-CN": "您的授信额度现等于您尚未归还的金额",
}


def test_a_cut_to_what_is_owed_says_drawing_waits_for_a_repayment_in_both_languages(
    container: Container, client: TestClient, agent: Actor, approver: Actor, borrower: Actor
) -> None:
    line_id = str(
        container.ledger.open_line(agent, new_id(), borrower.subject, "CNY", "20000.00").document[
            "id"
        ]
    )
    draw(container, borrower, line_id, "5000.00", "all")
    cut = container.ledger.change_limit(
        approver, new_id(), line_id, "decrease", ["utilisation_high"], limit="5000.00"
    ).document
    assert (cut["line"]["available"], cut["line"]["fully_used"]) == ("0.00", True)
    assert container.ledger.get_line(borrower, line_id)["fully_used"] is True
    container.dispatcher.run_until_idle()
    for language, words in NO_ROOM.items():
        summary = container.explainer.explain(borrower, line_id, language)["summary"]
        assert words in summary, summary
        [notice] = [
            notice
            for notice in listed(client, container, borrower.subject, f"?lang={language}").values()
            if notice["kind"] == Kind.LIMIT_DECREASED.value
        ]
        assert words in flat(notice["body"]), notice["body"]


def test_a_change_and_its_notice_commit_together(
    wired: Container,
    clock: FixedClock,
    agent: Actor,
    approver: Actor,
    borrower: Actor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = wired
    line_id = c.ledger.open_line(agent, "open", borrower.subject, "CNY", "20000.00").document["id"]

    def count_decisions() -> int:
        with c.db.engine.connect() as connection:
            return len(connection.execute(select(decisions.c.id)).all())

    def limit() -> str:
        with c.db.engine.connect() as connection:
            query = select(lines.c.limit_minor).where(lines.c.id == line_id)
            return str(connection.execute(query).scalar_one())

    before = (outbox_rows(c), count_decisions(), limit())

    # When the notice cannot be queued, the change does not happen either.
    def broken(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("the outbox is unavailable")

    monkeypatch.setattr(c.outbox, "queue", broken)
    with pytest.raises(RuntimeError, match="outbox"):
        c.ledger.change_limit(
            approver, "cut", line_id, "decrease", ["multiple_lenders"], limit="10000.00"
        )
    assert (outbox_rows(c), count_decisions(), limit()) == before
    monkeypatch.undo()
    # A refused change queues nothing.
    with pytest.raises(Exception, match="unfreeze"):
        c.ledger.change_limit(agent, "thaw", line_id, "unfreeze", ["risk_resolved"])
    assert outbox_rows(c) == before[0]
    # The same change, working: the line and its notice are there together.
    c.ledger.change_limit(
        approver, "cut", line_id, "decrease", ["multiple_lenders"], limit="10000.00"
    )
    assert count_decisions() == before[1] + 1 and limit() == "1000000"
    [row] = [row for row in outbox_rows(c) if row["topic"] == "notice.adverse_change"]
    assert row["delivered_at"] is None


def test_without_an_address_the_email_channel_says_so_and_the_notice_is_delivered(
    wired: Container,
    api: TestClient,
    mailbox: Mailbox,
    receiver: Receiver,
    agent: Actor,
    approver: Actor,
) -> None:
    c = wired
    set_address(api, c, "borrower-9", language="en")  # a language, but no e-mail address
    line_id = c.ledger.open_line(agent, "open", "borrower-9", "CNY", "8000.00").document["id"]
    [row] = written_by(
        c,
        lambda: c.ledger.change_limit(
            approver, "cut", line_id, "decrease", ["income_insufficient"], limit="6000.00"
        ),
    )
    # The opening's event and its grant's notice, and the cut's notice.
    assert c.dispatcher.run_until_idle() == {"claimed": 3, "delivered": 3}
    assert outbox_row(c, row["id"])["delivered_at"] is not None
    by_channel = {d["channel"]: d["detail"] for d in channels_of(c, row["id"])}
    assert by_channel["email"] == "the borrower has no e-mail address"
    assert set(by_channel) == {"inbox", "email", "webhook"}
    assert mailbox.mails == []
    assert receiver.took()[row["id"]] == 1
    # The chosen language is the inbox's default.
    notice = listed(api, c, "borrower-9")[row["id"]]
    assert notice["language"] == "en"
    assert "reduced to CNY 6,000.00" in notice["subject"]
    assert REASON_CATALOGUE["income_insufficient"].text_en in notice["body"]
    assert NEXT_STEP_TEXTS[NextStep.UPDATE_INCOME][0] in notice["body"]


def test_a_us_line_decrease_carries_the_ecoa_statement_and_the_consumer_report(
    wired: Container,
    api: TestClient,
    mailbox: Mailbox,
    receiver: Receiver,
    agent: Actor,
    approver: Actor,
) -> None:
    c = wired
    set_address(api, c, "us-borrower", email="jane@example.com")
    line_id = c.ledger.open_line(agent, "open", "us-borrower", "USD", "5000.00").document["id"]
    codes = ["multiple_lenders", "bureau_inquiries"]
    evidence = {"features": {"bureau_score": 612, "lenders_with_open_loans": 6}}
    [row] = written_by(
        c,
        lambda: c.ledger.change_limit(
            approver, "cut", line_id, "decrease", codes, limit="2500.00", evidence=evidence
        ),
    )
    # The opening's event and its grant's notice, and the cut's notice.
    assert c.dispatcher.run_until_idle() == {"claimed": 3, "delivered": 3}
    notice = listed(api, c, "us-borrower")[row["id"]]
    assert notice["language"] == "en"  # the US profile's language
    body = notice["body"]
    assert notice["subject"] == "Your credit limit was reduced to USD 2,500.00"
    us = CONTACTS["TEST-US"]
    for fact in [
        *reason_facts(codes, "en"),
        f"Statement of action taken: {LENDER} has reduced the limit of your credit line {line_id}.",
        f"Creditor: {LENDER}, {us.lender.address}, {us.lender.phone}.",
        "Equal Credit Opportunity Act",
        f"concerning this creditor is: {us.lender.agency}.",
        "information obtained in a report from the consumer reporting agency listed below",
        f"{us.bureau.name} {us.bureau.address} Toll-free: {us.bureau.phone}",
        "Your credit score: 612",
        "Scores range from a low of 350 to a high of 900.",  # the configured range
    ]:
        assert fact in flat(body), fact
    [mail] = mailbox.by_id()[row["id"]]
    assert mail["To"] == "jane@example.com"
    assert str(mail.get_content()).replace("\r\n", "\n") == body
    # The zh-CN text does not pretend to be the US statement.
    zh = listed(api, c, "us-borrower", "?lang=zh-CN")[row["id"]]
    assert "Equal Credit Opportunity Act" not in zh["body"]
    assert "USD 2,500.00" in zh["subject"]


# --- 1b. notices written by human reviews, verifications and reminders -----------------------
def queued(
    c: Container,
    rows: list[dict[str, Any]],
    want: list[Expected],
    borrower_id: str,
    line_id: str,
    refs: list[str],
) -> None:
    """The change wrote these notices (about these refs), undelivered, before any dispatch."""
    notices = [row for row in rows if row["topic"].startswith("notice.")]
    assert [row["topic"] for row in notices] == [w.topic for w in want]
    for row, w, ref in zip(notices, want, refs, strict=True):
        assert (row["borrower_id"], row["line_id"], row["ref_id"]) == (borrower_id, line_id, ref)
        assert row["created_at"] == c.clock.now()
        assert (row["delivered_at"], row["attempts"], row["claimed_until"]) == (None, 0, None)
        assert channels_of(c, row["id"]) == []
        w.id = row["id"]


def delivered(
    c: Container,
    api: TestClient,
    mailbox: Mailbox,
    receiver: Receiver,
    borrower_id: str,
    line_id: str,
    want: list[Expected],
    address: str = ADDRESS,
    dispatch: bool = True,
) -> dict[str, dict[str, dict[str, Any]]]:
    """Dispatch what is pending (unless it was, just now): each notice of `want` reached the
    webhook (signed), the borrower's e-mail (in their language, zh-CN) and their inbox in both
    languages, saying its facts, its reasons and their next steps. The inbox by language, then
    by notice id."""
    if dispatch:
        pending = [row["id"] for row in outbox_rows(c) if row["delivered_at"] is None]
        assert {w.id for w in want} <= set(pending)
        counts = c.dispatcher.run_until_idle()
        assert counts == {"claimed": len(pending), "delivered": len(pending)}
    now = c.clock.now()
    read = {language: listed(api, c, borrower_id, f"?lang={language}") for language in LANGUAGES}
    default = listed(api, c, borrower_id)
    mails = mailbox.by_id()
    for w in want:
        row = outbox_row(c, w.id)
        assert (row["delivered_at"], row["attempts"], row["last_error"]) == (now, 1, None)
        assert {d["channel"] for d in channels_of(c, w.id)} == {"inbox", "email", "webhook"}
        [hit] = receiver.of(w.id)
        assert hit.status == 204 and hit.headers["creditline-notice-id"] == w.id
        document = json.loads(hit.body)
        assert (document["id"], document["topic"], document["kind"]) == (
            w.id,
            w.topic,
            w.kind.value,
        )
        assert document["payload"] == json.loads(row["payload"])
        signature = hit.headers["creditline-signature"]
        assert verify_signature(SECRET, signature, hit.body, now)
        assert not verify_signature("another-secret-of-16-bytes", signature, hit.body, now)
        tampered = hit.body.replace(b'"topic": "', b'"topic": "x')
        assert tampered != hit.body and not verify_signature(SECRET, signature, tampered, now)
        for language, facts in (("en", w.en), ("zh-CN", w.zh)):
            notice = read[language][w.id]
            assert (notice["kind"], notice["language"]) == (w.kind.value, language)
            assert notice["line_id"] == line_id and notice["read_at"] is None
            text = notice["subject"] + "\n" + notice["body"]
            for fact in [*facts, *reason_facts(w.codes, language), line_id]:
                assert fact in text, (w.kind, language, fact, text)
            for leftover in LEFTOVERS:
                assert leftover not in text, (w.kind, language, leftover, text)
        assert default[w.id] == read["zh-CN"][w.id]  # the CN profile's language
        [mail] = mails[w.id]
        assert (mail["To"], mail["Message-ID"]) == (address, f"<{w.id}@creditline>")
        assert mail["Subject"] == read["zh-CN"][w.id]["subject"]
        assert str(mail.get_content()).replace("\r\n", "\n") == read["zh-CN"][w.id]["body"]
    return read


def text_of(read: dict[str, dict[str, dict[str, Any]]], language: str, notice_id: str) -> str:
    notice = read[language][notice_id]
    return str(notice["subject"]) + "\n" + str(notice["body"])


def applied_with_income_evidence(c: Container, borrower: Actor, expires_on: date) -> str:
    """A line opened on income evidence that expires on `expires_on`."""
    application = Application(
        borrower_id=borrower.subject,
        currency="CNY",
        income_monthly="12000.00",
        income_evidence=True,
        income_evidence_expires_on=expires_on,
        birth_date=date(1990, 5, 1),
        employment="employed",
    )
    return str(c.underwriting.apply(borrower, "app", application).document["line_id"])


def income_evidence(today: date, **changes: str) -> dict[str, str]:
    return {
        "income_monthly": "15000.00",
        "currency": "CNY",
        "document_id": "payslip-2026-12",
        "issued_on": (today - DAY).isoformat(),
        "expires_on": (today + 180 * DAY).isoformat(),
        **changes,
    }


def test_a_human_review_is_announced_with_its_deadline_and_an_upheld_one_says_why(
    wired: Container,
    api: TestClient,
    mailbox: Mailbox,
    receiver: Receiver,
    clock: FixedClock,
    agent: Actor,
    borrower: Actor,
) -> None:
    c = wired
    set_address(api, c, borrower.subject, email=ADDRESS)
    # 17:30 UTC on 28 November is 01:30 on the 29th in Shanghai: each date below is the
    # Shanghai one, a day after the UTC one.
    clock.advance(timedelta(hours=8, minutes=30))
    line_id = frozen_by_the_policy(c, agent, borrower)
    c.dispatcher.run_until_idle()  # the freeze's own notice is tested above
    frozen = c.ledger.get_line(borrower, line_id)
    contested = c.ledger.get_decision(agent, frozen["status_decision_id"])
    assert contested["until"] == (clock.now() + 7 * DAY).isoformat()  # 2026-12-05T17:30Z

    asked: dict[str, Any] = {}
    reason_text = "It was one week of wedding costs; I repay on time."
    rows = written_by(
        c,
        lambda: asked.update(
            c.appeals.request(
                borrower, f"k-{new_id()}", line_id, human=True, reason_text=reason_text
            ).document
        ),
    )
    review = asked["human_review"]
    assert review["due_at"] == (clock.now() + 15 * DAY).isoformat() == "2026-12-13T17:30:00+00:00"
    opened = Expected(
        "notice.review_opened",
        Kind.REVIEW_OPENED,
        [],
        ["A person will review your credit line by 2026-12-14", "answer by 2026-12-14."],
        ["我们将在 2026-12-14 前完成人工复核", "人工复核申请", "将在 2026-12-14 前答复您"],
    )
    queued(c, rows, [opened], borrower.subject, line_id, [review["id"]])
    assert json.loads(outbox_row(c, opened.id)["payload"]) == {
        "review": review["id"],
        "due_at": review["due_at"],
        "reason_text": reason_text,
    }
    read = delivered(c, api, mailbox, receiver, borrower.subject, line_id, [opened])
    for language in LANGUAGES:
        assert "2026-12-13" not in text_of(read, language, opened.id)  # not the UTC date

    # A person upholds the freeze: the notice says it stands, why, and the reviewer's note.
    clock.advance(3 * DAY)
    note = "Five drawdowns in one day is what pauses a line; the pause ends as planned."
    rows = written_by(
        c,
        lambda: (
            c.appeals.decide(agent, f"k-{new_id()}", review["id"], "uphold", [], note=note).document
        ),
    )
    codes = contested["reason_codes"]
    assert "drawdown_velocity" in codes
    stand = [REASON_CATALOGUE[code] for code in codes]
    # Their next steps, but the freeze's own (it ends by itself, on a date): see the test below.
    steps = [
        NEXT_STEP_TEXTS[r.next_step]
        for r in stand
        if r.next_step not in (NextStep.NONE, NextStep.WAIT_UNTIL)
    ]
    upheld = Expected(
        "notice.review_decided",
        Kind.REVIEW_DECIDED,
        [],  # the contested decision's reasons stand: checked here, in both languages
        [
            "Your review is decided: the decision stands",
            "the earlier decision stands",
            f"Their note: {note}",
            "Why:",
            *(r.text_en for r in stand),
            *(en for en, _ in steps),
        ],
        [
            "您的复核结果:维持原决定",
            f"说明:{note}",
            "原因:",
            *(r.text_zh for r in stand),
            *(zh for _, zh in steps),
        ],
    )
    queued(c, rows, [upheld], borrower.subject, line_id, [review["id"]])
    payload = json.loads(outbox_row(c, upheld.id)["payload"])
    assert (payload["outcome"], payload["note"]) == ("uphold", note)
    assert (payload["decision"]["id"], payload["decision"]["reason_codes"]) == (
        contested["id"],
        codes,
    )
    read = delivered(c, api, mailbox, receiver, borrower.subject, line_id, [upheld])
    assert c.ledger.get_line(borrower, line_id)["status"] == "frozen"
    assert "What you can do:" in read["en"][upheld.id]["body"]
    assert "您可以:" in read["zh-CN"][upheld.id]["body"]
    kinds = Counter(notice["kind"] for notice in read["en"].values())
    # The staff member's grant that opened the line, the freeze, the review and its answer.
    assert kinds == Counter(["limit_increased", "line_frozen", "review_opened", "review_decided"])


def test_an_upheld_freeze_still_tells_the_borrower_when_it_ends(
    wired: Container, api: TestClient, agent: Actor, borrower: Actor
) -> None:
    c = wired
    line_id = frozen_by_the_policy(c, agent, borrower)  # until 2026-12-05 (17:00 in Shanghai)
    review = c.appeals.request(borrower, f"k-{new_id()}", line_id, human=True).document[
        "human_review"
    ]
    c.appeals.decide(agent, f"k-{new_id()}", review["id"], "uphold", [])
    c.dispatcher.run_until_idle()
    for language in LANGUAGES:
        [notice] = [
            notice
            for notice in listed(api, c, borrower.subject, f"?lang={language}").values()
            if notice["kind"] == Kind.REVIEW_DECIDED.value
        ]
        step = NEXT_STEP_TEXTS[NextStep.WAIT_UNTIL][0 if language == "en" else 1]
        on = " (2026-12-05)" if language == "en" else "(2026-12-05)"
        assert step + on in notice["body"], notice["body"]


def test_a_reversed_review_says_so_and_the_ledger_announces_what_it_undid(
    wired: Container,
    api: TestClient,
    mailbox: Mailbox,
    receiver: Receiver,
    clock: FixedClock,
    agent: Actor,
    approver: Actor,
    borrower: Actor,
) -> None:
    c = wired
    set_address(api, c, borrower.subject, email=ADDRESS)
    other = Actor("borrower-2", Role.BORROWER)
    set_address(api, c, other.subject, email="wang.fang@example.com")
    frozen_line = frozen_by_the_policy(c, agent, borrower)
    cut_line = str(
        c.ledger.open_line(agent, "open-2", other.subject, "CNY", "20000.00").document["id"]
    )
    c.ledger.change_limit(
        approver, "cut", cut_line, "decrease", ["multiple_lenders"], limit="10000.00"
    )
    first = c.appeals.request(borrower, f"k-{new_id()}", frozen_line, human=True).document[
        "human_review"
    ]
    second = c.appeals.request(other, f"k-{new_id()}", cut_line, contest=True).document[
        "human_review"
    ]
    assert second["contested_decision_id"] is not None
    c.dispatcher.run_until_idle()
    clock.advance(2 * DAY)  # decided on 30 November

    # The freeze is reversed: the ledger lifts it (its own notice), then the review's notice.
    note = "One-off spending; the repayment history is clean."
    decided: dict[str, Any] = {}
    rows = written_by(
        c,
        lambda: decided.update(
            c.appeals.decide(agent, f"k-{new_id()}", first["id"], "reverse", [], note=note).document
        ),
    )
    lifted = Expected(
        "notice.line_improved",
        Kind.LINE_RESTORED,
        ["review_upheld_appeal"],
        ["restored on 2026-11-30", "You can draw CNY 19,500.00"],
        ["已于 2026-11-30 恢复", "当前可用额度 19,500.00 元", "人工复核支持了借款人的申诉"],
    )
    reversed_ = Expected(
        "notice.review_decided",
        Kind.REVIEW_DECIDED,
        ["review_upheld_appeal"],
        ["Your review is decided: the decision is reversed", f"Their note: {note}"],
        ["您的复核结果:撤销原决定", f"说明:{note}"],
    )
    queued(
        c, rows, [lifted, reversed_], borrower.subject, frozen_line,
        [decided["decision_id"], first["id"]],
    )  # fmt: skip
    assert c.ledger.get_line(borrower, frozen_line)["status"] == "active"
    # The cut is reversed: the ledger puts the limit back.
    decided.clear()
    rows = written_by(
        c,
        lambda: decided.update(
            c.appeals.decide(agent, f"k-{new_id()}", second["id"], "reverse", []).document
        ),
    )
    raised = Expected(
        "notice.line_improved",
        Kind.LIMIT_INCREASED,
        ["review_upheld_appeal"],
        ["went up to CNY 20,000.00", "it was CNY 10,000.00"],
        ["提升至 20,000.00 元"],
    )
    put_back = Expected(
        "notice.review_decided",
        Kind.REVIEW_DECIDED,
        ["review_upheld_appeal"],
        ["the decision is reversed"],
        ["撤销原决定"],
    )
    queued(
        c, rows, [raised, put_back], other.subject, cut_line, [decided["decision_id"], second["id"]]
    )
    assert c.ledger.get_line(other, cut_line)["limit"] == "20000.00"

    read = delivered(c, api, mailbox, receiver, borrower.subject, frozen_line, [lifted, reversed_])
    assert c.dispatcher.run_until_idle() == {}
    theirs = delivered(
        c, api, mailbox, receiver, other.subject, cut_line, [raised, put_back],
        address="wang.fang@example.com", dispatch=False,  # delivered in the same run
    )  # fmt: skip
    # A reversal leaves nothing to do: no next step; and no note when there was none.
    for inbox_of, w in ((read, reversed_), (theirs, put_back)):
        assert "What you can do" not in inbox_of["en"][w.id]["body"]
        assert "您可以" not in inbox_of["zh-CN"][w.id]["body"]
    assert "Their note" not in theirs["en"][put_back.id]["body"]
    assert "说明" not in theirs["zh-CN"][put_back.id]["body"]
    # Each borrower reads only their own.
    assert set(read["en"]).isdisjoint(theirs["en"])


def test_refused_evidence_is_explained_and_accepted_evidence_restores_the_line(
    wired: Container,
    api: TestClient,
    mailbox: Mailbox,
    receiver: Receiver,
    clock: FixedClock,
    borrower: Actor,
) -> None:
    c = wired
    set_address(api, c, borrower.subject, email=ADDRESS)
    line_id = applied_with_income_evidence(c, borrower, (clock.now() + 10 * DAY).date())
    clock.advance(12 * DAY)  # the evidence expired: the line is suspended until re-verified
    assert c.decisions.review_line(line_id).decision.action == "suspend"
    c.dispatcher.run_until_idle()
    today = clock.now().date()  # 2026-12-10, in UTC and in Shanghai alike at 09:00 UTC

    expired = (today - DAY).isoformat()
    answered: dict[str, Any] = {}
    rows = written_by(
        c,
        lambda: answered.update(
            c.verifications.submit(
                borrower, "v1", "income", income_evidence(today, expires_on=expired)
            ).document
        ),
    )
    assert (answered["status"], answered["lines"]) == ("rejected", [])
    problem = "the document has expired"  # said by its code, never in the verifier's words
    failed = Expected(
        "notice.verification_failed",
        Kind.VERIFICATION_FAILED,
        [],
        [
            "We could not verify what you sent",
            f"We could not accept the income evidence you sent: {problem}.",
            "you can send new evidence at any time",
        ],
        ["您提交的材料未能通过核验", "您提交的收入证明未能通过核验:证明已过期", "您可随时重新提交"],
    )
    queued(c, rows, [failed], borrower.subject, line_id, [answered["id"]])
    delivered(c, api, mailbox, receiver, borrower.subject, line_id, [failed])
    assert c.ledger.get_line(borrower, line_id)["status"] == "suspended"

    # Evidence in date: the line comes back by itself, and the notice says why.
    clock.advance(timedelta(hours=1))
    answered.clear()
    rows = written_by(
        c,
        lambda: answered.update(
            c.verifications.submit(borrower, "v2", "income", income_evidence(today)).document
        ),
    )
    assert answered["status"] == "accepted"
    [outcome] = answered["lines"]
    assert (outcome["line_id"], outcome["outcome"]) == (line_id, "restored")
    restored = Expected(
        "notice.line_improved",
        Kind.LINE_RESTORED,
        ["verification_completed"],
        ["restored on 2026-12-10", "You can draw CNY 20,000.00", "Re-verification was completed"],
        ["已于 2026-12-10 恢复", "当前可用额度 20,000.00 元", "重新核验已完成"],
    )
    queued(c, rows, [restored], borrower.subject, line_id, [outcome["decision_id"]])
    decision = json.loads(outbox_row(c, restored.id)["payload"])["decision"]
    assert (decision["action"], decision["reason_codes"]) == ("restore", ["verification_completed"])
    read = delivered(c, api, mailbox, receiver, borrower.subject, line_id, [restored])
    assert "What you can do" not in read["en"][restored.id]["body"]  # nothing left to do
    assert "您可以" not in read["zh-CN"][restored.id]["body"]
    assert c.ledger.get_line(borrower, line_id)["status"] == "active"


def test_a_freeze_ending_soon_is_announced_once_with_its_end_date(
    wired: Container,
    api: TestClient,
    mailbox: Mailbox,
    receiver: Receiver,
    clock: FixedClock,
    agent: Actor,
    borrower: Actor,
) -> None:
    c = wired
    set_address(api, c, borrower.subject, email=ADDRESS)
    clock.advance(timedelta(hours=8, minutes=30))  # 17:30 UTC: the 29th in Shanghai already
    line_id = c.ledger.open_line(agent, "open", borrower.subject, "CNY", "5000.00").document["id"]
    until = clock.now() + 7 * DAY  # 2026-12-05T17:30Z: 2026-12-06 in Shanghai
    c.ledger.change_limit(agent, "f", line_id, "freeze", ["drawdown_velocity"], until=until)
    c.dispatcher.run_until_idle()
    assert written_by(c, c.reminders.run) == []  # a week to go: too early

    clock.advance(4 * DAY + timedelta(hours=1))  # under three days to go
    counts: dict[str, int] = {}
    rows = written_by(c, lambda: counts.update(c.reminders.run()))
    assert counts == {**NOTHING_DUE, "freeze_ending_soon": 1}
    soon = Expected(
        "notice.freeze_ending_soon",
        Kind.FREEZE_ENDING_SOON,
        [],
        [
            "Your credit line comes back on 2026-12-06",
            "ends on 2026-12-06",
            "You do not need to do anything",
        ],
        ["您的额度将于 2026-12-06 恢复", "将于 2026-12-06 结束", "无需任何操作"],
    )
    queued(c, rows, [soon], borrower.subject, line_id, [line_id])
    assert json.loads(outbox_row(c, soon.id)["payload"]) == {"until": until.isoformat()}
    read = delivered(c, api, mailbox, receiver, borrower.subject, line_id, [soon])
    for language in LANGUAGES:
        assert "2026-12-05" not in text_of(read, language, soon.id)  # not the UTC date
    # Once: running again, or later, writes nothing more.
    assert written_by(c, c.reminders.run) == []
    clock.advance(DAY)
    assert written_by(c, c.reminders.run) == []
    assert c.dispatcher.run_until_idle() == {}
    assert len(mailbox.by_id()[soon.id]) == 1


def test_income_evidence_expiring_soon_is_announced_with_the_date_and_how_to_re_verify(
    wired: Container,
    api: TestClient,
    mailbox: Mailbox,
    receiver: Receiver,
    clock: FixedClock,
    borrower: Actor,
) -> None:
    c = wired
    set_address(api, c, borrower.subject, email=ADDRESS)
    expires = clock.now().date() + 20 * DAY  # 2026-12-18
    line_id = applied_with_income_evidence(c, borrower, expires)
    c.dispatcher.run_until_idle()
    assert written_by(c, c.reminders.run) == []  # 20 days to go: too early

    clock.advance(7 * DAY)  # 13 days to go
    counts: dict[str, int] = {}
    rows = written_by(c, lambda: counts.update(c.reminders.run()))
    assert counts == {**NOTHING_DUE, "verification_due": 1}
    due = Expected(
        "notice.verification_due",
        Kind.VERIFICATION_DUE,
        [],
        [
            "Please re-verify your income by 2026-12-18",
            "expires on 2026-12-18",
            "Send new evidence before then (app: Verify, or POST /v1/verifications)",
            "without a pause",
        ],
        [
            "请在 2026-12-18 前更新收入证明",
            "将于 2026-12-18 到期",
            "请在此之前在客户端的“核验”中提交新的证明",
            "不会暂停",
        ],
    )
    queued(c, rows, [due], borrower.subject, line_id, [line_id])
    assert json.loads(outbox_row(c, due.id)["payload"]) == {
        "expires_on": "2026-12-18",
        "kind": "income",
    }
    delivered(c, api, mailbox, receiver, borrower.subject, line_id, [due])
    # Once, and not at all once the evidence was renewed.
    assert written_by(c, c.reminders.run) == []
    today = clock.now().date()
    c.verifications.submit(borrower, "renew", "income", income_evidence(today))
    clock.advance(5 * DAY)
    assert written_by(c, c.reminders.run) == []


# --- 2. reading notices ---------------------------------------------------------------------
def test_mark_read_sets_read_at_and_only_the_owner_may(
    wired: Container, api: TestClient, clock: FixedClock, agent: Actor, approver: Actor
) -> None:
    c = wired
    line_id = c.ledger.open_line(agent, "open", "borrower-1", "CNY", "20000.00").document["id"]
    c.ledger.change_limit(approver, "a", line_id, "decrease", ["short_history"], limit="15000.00")
    c.ledger.open_line(agent, "open-2", "borrower-2", "CNY", "9000.00")
    c.dispatcher.run_until_idle()
    mine = listed(api, c, "borrower-1")
    first, second = sorted(mine)  # the grant that opened the line, then the cut
    assert (mine[first]["kind"], mine[second]["kind"]) == ("limit_increased", "limit_decreased")
    [theirs] = listed(api, c, "borrower-2")  # the grant that opened their line

    clock.advance(timedelta(minutes=5))
    me = headers(c, Role.BORROWER, "borrower-1")
    answer = api.post(f"/v1/me/notices/{first}/read", headers=me)
    assert answer.status_code == 200, answer.text
    read_at = clock.now().isoformat()
    assert answer.json() == {"id": first, "read_at": read_at}
    assert listed(api, c, "borrower-1")[first]["read_at"] == read_at
    assert set(listed(api, c, "borrower-1", "?unread=true")) == {second}
    assert set(listed(api, c, "borrower-1", "?unread=true&lang=en")) == {second}
    # Reading it again changes nothing.
    clock.advance(timedelta(minutes=5))
    again = api.post(
        f"/v1/me/notices/{first}/read", headers=headers(c, Role.BORROWER, "borrower-1")
    )
    assert again.json() == {"id": first, "read_at": read_at}
    # Nobody else can read it, or learn that it exists.
    for notice_id in (first, "01a224fe-0000-7000-8000-000000000000"):
        refused = api.post(
            f"/v1/me/notices/{notice_id}/read", headers=headers(c, Role.BORROWER, "borrower-2")
        )
        assert refused.status_code == 404
        assert refused.json()["code"] == "notice_not_found"
    assert listed(api, c, "borrower-2")[theirs]["read_at"] is None
    assert listed(api, c, "borrower-1")[second]["read_at"] is None
    # Staff have no inbox.
    staff = headers(c, Role.AGENT, "agent-1")
    assert api.get("/v1/me/notices", headers=staff).status_code == 403
    assert api.post(f"/v1/me/notices/{first}/read", headers=staff).status_code == 403
    assert api.get("/v1/me/preferences", headers=staff).status_code == 403
    # A POST needs an idempotency key; the inbox needs a token.
    keyless = {"Authorization": me["Authorization"]}
    assert api.post(f"/v1/me/notices/{second}/read", headers=keyless).status_code == 400
    assert api.get("/v1/me/notices").status_code == 401
    assert api.get("/v1/me/notices?lang=fr", headers=me).status_code == 422


def test_preferences_refuse_an_address_that_would_break_the_mail_header(
    wired: Container, api: TestClient
) -> None:
    me = headers(wired, Role.BORROWER, "borrower-1")
    for bad in (
        "li.wei@example.com\r\nbcc:all@example.com",  # a header of its own, were it let in
        "li.wei@example.com\n",
        "li.wei@example.com\t",
        "li wei@example.com",
        "a@b@c",
    ):
        answer = api.put("/v1/me/preferences", json={"email": bad}, headers=me)
        assert answer.status_code == 422, bad
    set_address(api, wired, "borrower-1", email=ADDRESS, language="en")
    answer = api.get("/v1/me/preferences", headers=me)
    assert answer.json() == {"borrower_id": "borrower-1", "email": ADDRESS, "language": "en"}


# --- 3. failures, retries and dead letters ----------------------------------------------------
def test_a_failed_webhook_is_retried_with_backoff_and_the_other_channels_are_not_resent(
    wired: Container,
    api: TestClient,
    mailbox: Mailbox,
    receiver: Receiver,
    clock: FixedClock,
    agent: Actor,
    approver: Actor,
    borrower: Actor,
) -> None:
    c = wired
    set_address(api, c, borrower.subject, email=ADDRESS)
    line_id = c.ledger.open_line(agent, "open", borrower.subject, "CNY", "20000.00").document["id"]
    # The opening's event and its grant's notice.
    assert c.dispatcher.run_until_idle() == {"claimed": 2, "delivered": 2}
    [row] = written_by(
        c,
        lambda: c.ledger.change_limit(
            approver, "cut", line_id, "decrease", ["multiple_lenders"], limit="10000.00"
        ),
    )
    notice_id = row["id"]
    receiver.fail_next = 2

    assert c.dispatcher.run_until_idle() == {"claimed": 1, "retry": 1}
    failed = outbox_row(c, notice_id)
    assert failed["attempts"] == 1
    assert failed["last_error"] == "webhook: HTTP 500"
    assert failed["next_attempt_at"] == clock.now() + backoff(1) == clock.now() + 30 * SECOND
    assert (failed["delivered_at"], failed["dead_at"], failed["claimed_until"]) == (None,) * 3
    assert {d["channel"] for d in channels_of(c, notice_id)} == {"inbox", "email"}
    assert notice_id in listed(api, c, borrower.subject)  # the inbox has it already
    # Not before it is due.
    assert c.dispatcher.run_until_idle() == {}
    clock.advance(29 * SECOND)
    assert c.dispatcher.run_until_idle() == {}
    clock.advance(SECOND)
    assert c.dispatcher.run_until_idle() == {"claimed": 1, "retry": 1}
    failed = outbox_row(c, notice_id)
    assert failed["attempts"] == 2
    assert failed["next_attempt_at"] == clock.now() + backoff(2) == clock.now() + 60 * SECOND
    clock.advance(backoff(2))
    assert c.dispatcher.run_until_idle() == {"claimed": 1, "delivered": 1}

    done = outbox_row(c, notice_id)
    assert (done["delivered_at"], done["attempts"], done["last_error"]) == (clock.now(), 3, None)
    assert sorted(d["channel"] for d in channels_of(c, notice_id)) == ["email", "inbox", "webhook"]
    assert [hit.status for hit in receiver.of(notice_id)] == [500, 500, 204]
    # One e-mail and one inbox entry for the cut, besides the grant's that opened the line.
    assert len(mailbox.by_id()[notice_id]) == 1 and len(mailbox.mails) == 2
    assert inbox_ids(c).count(notice_id) == 1
    assert len(listed(api, c, borrower.subject)) == 2
    assert c.dispatcher.run_until_idle() == {}


def test_after_max_attempts_a_message_is_a_dead_letter_and_is_never_claimed_again(
    wired: Container,
    api: TestClient,
    mailbox: Mailbox,
    receiver: Receiver,
    clock: FixedClock,
    agent: Actor,
    approver: Actor,
    borrower: Actor,
) -> None:
    c = wired
    set_address(api, c, borrower.subject, email=ADDRESS)
    line_id = c.ledger.open_line(agent, "open", borrower.subject, "CNY", "20000.00").document["id"]
    c.dispatcher.run_until_idle()
    [row] = written_by(
        c, lambda: c.ledger.change_limit(agent, "s", line_id, "suspend", ["fraud_suspected"])
    )
    receiver.fail_always = True
    delays = [30, 60, 120, 240, 480, 960, 1920, 3600]  # doubling, at most an hour
    assert [backoff(n) for n in range(1, 9)] == [d * SECOND for d in delays]
    for attempt in range(1, 9):
        counts = c.dispatcher.run_until_idle()
        failed = outbox_row(c, row["id"])
        assert failed["attempts"] == attempt
        assert failed["next_attempt_at"] == clock.now() + backoff(attempt)
        if attempt < 8:
            assert counts == {"claimed": 1, "retry": 1}
            assert failed["dead_at"] is None
        else:
            assert counts == {"claimed": 1, "dead": 1}
            assert failed["dead_at"] == clock.now()
        assert failed["last_error"] == "webhook: HTTP 500"
        clock.advance(backoff(attempt))
    receiver.fail_always = False
    clock.advance(30 * DAY)
    assert c.dispatcher.run_until_idle() == {}
    dead = outbox_row(c, row["id"])
    assert dead["delivered_at"] is None and dead["attempts"] == 8
    assert len(receiver.of(row["id"])) == 8
    # E-mail and inbox took it on the first attempt (the other e-mail: the grant's that opened
    # the line).
    assert len(mailbox.mails) == 2
    assert row["id"] in listed(api, c, borrower.subject)


# --- 4. a dispatcher killed mid-batch --------------------------------------------------------
def make_notices(c: Container, agent: Actor, approver: Actor, borrower_id: str) -> str:
    """A line and seven notices about it (the staff member's grant that opened it, then six
    changes); returns the line id."""
    line_id = str(c.ledger.open_line(agent, "open", borrower_id, "CNY", "20000.00").document["id"])
    until = c.clock.now() + 3 * DAY
    steps: list[tuple[str, str, list[str], dict[str, Any]]] = [
        ("1", "decrease", ["multiple_lenders"], {"limit": "15000.00"}),
        ("2", "freeze", ["drawdown_velocity"], {"until": until}),
        ("3", "unfreeze", ["risk_resolved"], {}),
        ("4", "suspend", ["reverification_due"], {}),
        ("5", "restore", ["verification_completed"], {}),
        ("6", "increase", ["good_repayment_history"], {"limit": "18000.00"}),
    ]
    for key, action, codes, extra in steps:
        who = approver if action in ("decrease", "increase") else agent
        c.ledger.change_limit(who, f"{borrower_id}-{key}", line_id, action, codes, **extra)
    return line_id


class DyingWebhook(Webhook):
    """The dispatcher's process dies right after its `n`-th webhook request was answered,
    before it could record the delivery."""

    def __init__(self, url: str, n: int) -> None:
        super().__init__(url, SECRET)
        self.sent = 0
        self.n = n

    def send(self, message: Message, kind: str | None, now: datetime) -> str:
        answer = super().send(message, kind, now)
        self.sent += 1
        if self.sent == self.n:
            raise KeyboardInterrupt  # not an Exception: nothing in the dispatcher catches it
        return answer


def test_a_dispatcher_killed_mid_batch_loses_nothing_once_its_leases_run_out(
    wired: Container,
    database_url: str,
    api: TestClient,
    mailbox: Mailbox,
    receiver: Receiver,
    clock: FixedClock,
    agent: Actor,
    approver: Actor,
    borrower: Actor,
) -> None:
    c = wired
    set_address(api, c, borrower.subject, email=ADDRESS)
    make_notices(c, agent, approver, borrower.subject)
    everything = outbox_rows(c)
    assert len(everything) == 8  # the opening's event and seven notices
    smtp = Email(SmtpSettings("127.0.0.1", mailbox.port))
    doomed = Dispatcher(
        c.db, clock, c.notices, c.outbox, webhook=DyingWebhook(receiver.url, 3), email=smtp
    )
    with pytest.raises(KeyboardInterrupt):
        doomed.run_until_idle()
    doomed.close()
    # It died holding the leases of its whole batch: two delivered, one half-way.
    rows = outbox_rows(c)
    assert [row["delivered_at"] is not None for row in rows] == [True, True] + [False] * 6
    for row in rows[2:]:
        assert row["claimed_until"] == clock.now() + LEASE and row["attempts"] == 1
    half_way = rows[2]["id"]
    assert {d["channel"] for d in channels_of(c, half_way)} == {"inbox", "email"}
    assert receiver.took()[half_way] == 1  # the receiver took it; nobody recorded that

    restarted = wire(database_url, clock, mailbox, receiver)  # another process
    try:
        assert restarted.dispatcher.run_until_idle() == {}  # the leases are still held
        clock.advance(LEASE - SECOND)
        assert restarted.dispatcher.run_until_idle() == {}
        clock.advance(2 * SECOND)  # the leases ran out
        assert restarted.dispatcher.run_until_idle() == {"claimed": 6, "delivered": 6}
    finally:
        restarted.close()
    assert all(row["delivered_at"] is not None for row in outbox_rows(c))
    took = receiver.took()
    assert set(took) == {row["id"] for row in everything}  # none lost
    assert took[half_way] == 2  # at least once: the receiver dedupes by id
    assert all(n == 1 for notice_id, n in took.items() if notice_id != half_way)
    notices = [row["id"] for row in everything if row["topic"].startswith("notice.")]
    assert {k: len(v) for k, v in mailbox.by_id().items()} == {n: 1 for n in notices}
    assert sorted(inbox_ids(c)) == sorted(notices)
    assert set(listed(api, c, borrower.subject)) == set(notices)


class StallingWebhook(Webhook):
    """The first request takes longer than the lease: meanwhile another dispatcher claims
    what the lease no longer protects."""

    def __init__(self, url: str, stall: Callable[[], None]) -> None:
        super().__init__(url, SECRET)
        self.stall: Callable[[], None] | None = stall

    def send(self, message: Message, kind: str | None, now: datetime) -> str:
        answer = super().send(message, kind, now)
        if self.stall is not None:
            stall, self.stall = self.stall, None
            stall()
        return answer


def test_a_dispatcher_that_outlived_its_lease_leaves_the_rest_to_the_one_that_claimed_it(
    wired: Container,
    database_url: str,
    api: TestClient,
    mailbox: Mailbox,
    receiver: Receiver,
    clock: FixedClock,
    agent: Actor,
    approver: Actor,
    borrower: Actor,
) -> None:
    c = wired
    set_address(api, c, borrower.subject, email=ADDRESS)
    make_notices(c, agent, approver, borrower.subject)
    first = outbox_rows(c)[0]["id"]
    rival = wire(database_url, clock, mailbox, receiver)
    taken: list[str] = []

    def stall() -> None:
        clock.advance(LEASE + SECOND)
        now, token = clock.now(), new_id()
        claimed = rival.db.run(
            lambda tx: rival.dispatcher._claim_in(tx, DISPATCH_BATCH_MAX, token, now)
        )  # and dies before it delivers any of them
        taken.extend(message.message.id for message in claimed)

    smtp = Email(SmtpSettings("127.0.0.1", mailbox.port))
    slow = Dispatcher(
        c.db, clock, c.notices, c.outbox, webhook=StallingWebhook(receiver.url, stall), email=smtp
    )
    try:
        counts = slow.run_until_idle()
        slow.close()
        # The rival claimed the seven messages the slow one had not reached (and the one it
        # was sending, whose delivery was not recorded yet).
        assert len(taken) == 8
        assert counts == {"claimed": 8, "delivered": 1, "lost": 7}
        assert receiver.took() == Counter({first: 1})
        assert mailbox.mails == []
        # The rival died too, holding its claims: whoever comes next delivers the rest (and
        # does not send the first again: its webhook delivery was recorded).
        clock.advance(LEASE + SECOND)
        assert rival.dispatcher.run_until_idle() == {"claimed": 8, "delivered": 8}
    finally:
        rival.close()
    took = receiver.took()
    assert set(took) == {row["id"] for row in outbox_rows(c)}
    assert all(n == 1 for n in took.values())
    assert all(len(mails) == 1 for mails in mailbox.by_id().values())
    assert len(mailbox.mails) == 7


# --- 5. two dispatchers side by side on PostgreSQL ------------------------------------------
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
def test_two_dispatchers_in_parallel_on_postgresql_send_each_message_once(
    database_url: str,
    mailbox: Mailbox,
    receiver: Receiver,
    clock: FixedClock,
    agent: Actor,
    approver: Actor,
) -> None:
    first = wire(database_url, clock, mailbox, receiver)
    second = wire(database_url, clock, mailbox, receiver)
    try:
        assert first.db.dialect == second.db.dialect == "postgresql"
        for n in range(10):
            borrower = Actor(f"borrower-{n}", Role.BORROWER)
            first.notices.set_preferences(borrower, f"borrower-{n}@example.com", None)
            line_id = first.ledger.open_line(
                agent, f"open-{n}", borrower.subject, "CNY", "20000.00"
            ).document["id"]
            for k in range(15):
                first.ledger.change_limit(
                    approver, f"cut-{n}-{k}", line_id, "decrease", ["short_history"],
                    limit="10000.00",
                )  # fmt: skip
                first.ledger.change_limit(
                    approver, f"raise-{n}-{k}", line_id, "increase", ["good_repayment_history"],
                    limit="20000.00",
                )  # fmt: skip
        everything = outbox_rows(first)
        notices = [row["id"] for row in everything if row["topic"].startswith("notice.")]
        # Per line: its opening's event, its grant's notice and 30 changes' notices.
        assert (len(everything), len(notices)) == (320, 310)
        receiver.delay_seconds = 0.003

        start = threading.Barrier(2)
        counts: dict[str, dict[str, int]] = {}
        errors: list[BaseException] = []

        def run(name: str, c: Container) -> None:
            try:
                start.wait(timeout=10)
                counts[name] = c.dispatcher.run_until_idle(batch=10)
            except BaseException as error:  # reported below, not lost in the thread
                errors.append(error)

        threads = [
            threading.Thread(target=run, args=(name, c))
            for name, c in (("first", first), ("second", second))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=120)
        assert errors == [] and not any(thread.is_alive() for thread in threads)
        with first.db.engine.connect() as connection:
            query = select(outbox.c.id).where(outbox.c.delivered_at.is_(None))
            assert connection.execute(query).all() == []
    finally:
        first.close()
        second.close()

    assert counts["first"].get("claimed", 0) > 0 and counts["second"].get("claimed", 0) > 0
    assert counts["first"]["claimed"] + counts["second"]["claimed"] == 320
    assert counts["first"].get("delivered", 0) + counts["second"].get("delivered", 0) == 320
    assert all(set(n) <= {"claimed", "delivered"} for n in counts.values())
    # Every message was delivered, each exactly once on every channel.
    assert receiver.took() == Counter({row["id"]: 1 for row in everything})
    assert {k: len(v) for k, v in mailbox.by_id().items()} == {n: 1 for n in notices}
    # No id was ever being sent by both at the same time.
    by_id: dict[str, list[Hit]] = {}
    for hit in receiver.hits:
        by_id.setdefault(hit.id, []).append(hit)
    for hits in by_id.values():
        hits.sort(key=lambda hit: hit.start)
        for earlier, later in pairwise(hits):
            assert earlier.end <= later.start


# --- 6. rendering every kind ------------------------------------------------------------------
CN = Jurisdiction("CN", ZoneInfo("Asia/Shanghai"), 15, CONTACTS["TEST-CN"])
US = Jurisdiction("US", ZoneInfo("America/New_York"), 30, CONTACTS["TEST-US"])
EU = Jurisdiction("EU", ZoneInfo("Europe/Brussels"), 30, CONTACTS["EU"])
OTHER = Jurisdiction("other", ZoneInfo("UTC"), 15)  # a currency no profile covers: no contacts
AT = "2026-11-28T17:30:00Z"  # 01:30 on the 29th in Shanghai, 12:30 on the 28th in New York
UNTIL = "2026-12-05T17:30:00Z"
LINE = {
    "id": "01a224fe-7b9e-736b-af6b-7035f8020d14",
    "borrower_id": "borrower-1",
    "currency": "CNY",
    "limit": "9007199254740993.01",  # 2**53 + 1: a float would show …992
    "available": "1234567.89",
    "principal_outstanding": "0.00",
    "held": "0.00",
    "status": "active",
}


def decision(action: str, codes: list[str], **fields: Any) -> dict[str, Any]:
    return {
        "id": "01a224fe-7b9f-73bc-bb53-d06bf206129f",
        "action": action,
        "reason_codes": codes,
        "limit_before": "20000.00",
        "limit_after": "20000.00",
        "until": None,
        "at": AT,
        **fields,
    }


# kind → (payload, facts in English, facts in zh-CN); the line above is the line of each.
# A policy change announced for a line (and, with `withdrawn_at`, withdrawn).
POLICY_CHANGE = {
    "policy": "cn-standard@2026.12.1",
    "announced_at": "2026-11-28T17:30:00+00:00",
    "effective_at": "2026-12-28T17:30:00+00:00",
    "policy_change": {
        "action": "decrease",
        "currency": "CNY",
        "limit_before": "20000.00",
        "limit_after": "12000.00",
        "limit_before_minor": 2000000,
        "limit_after_minor": 1200000,
        "reason_codes": ["utilisation_high"],
        "rule": "high-use",
    },
}
CASES: dict[Kind, tuple[dict[str, Any], list[str], list[str]]] = {
    Kind.LIMIT_DECREASED: (
        {"decision": decision("decrease", ["utilisation_high"], limit_after="12500.50")},
        ["reduced to CNY 12,500.50", "it was CNY 20,000.00", "from 2026-11-29"],
        ["调整为 12,500.50 元", "由 20,000.00 元", "自 2026-11-29 起"],
    ),
    Kind.LINE_FROZEN: (
        {"decision": decision("freeze", ["drawdown_velocity"], until=UNTIL)},
        ["paused until 2026-12-06", "CNY 9,007,199,254,740,993.01"],
        ["暂停使用至 2026-12-06", "9,007,199,254,740,993.01 元"],
    ),
    Kind.LINE_SUSPENDED: (
        {"decision": decision("suspend", ["overdue_payment"])},
        ["suspended from 2026-11-29", "CNY 9,007,199,254,740,993.01"],
        ["自 2026-11-29 起", "暂停借款"],
    ),
    Kind.VERIFICATION_REQUIRED: (
        {"decision": decision("suspend", ["income_unverified"])},
        ["re-verify", "kept, not cleared", "POST /v1/verifications"],
        ["重新核验", "并未清零"],
    ),
    Kind.LINE_CLOSED: (
        {"decision": decision("close", ["fraud_suspected"])},
        ["closed on 2026-11-29"],
        ["已于 2026-11-29 关闭"],
    ),
    Kind.LINE_CLOSING: (
        {"decision": decision("close", ["overdue_payment"], effective_at="2027-01-28T17:30:00Z")},
        ["closes on 2027-01-29", "Until then you can draw", "CNY 9,007,199,254,740,993.01"],
        ["将于 2027-01-29 关闭", "在此之前", "9,007,199,254,740,993.01 元"],
    ),
    Kind.POLICY_CHANGE: (
        POLICY_CHANGE,
        [
            "will change to CNY 12,000.00 on 2026-12-29",
            "from CNY 20,000.00 today to CNY 12,000.00",
            "ask for a review",
            "if your situation has improved, your line is not cut",
        ],
        ["将于 2026-12-29 调整为 12,000.00 元", "由目前的 20,000.00 元", "申请复核", "不会被调低"],
    ),
    Kind.POLICY_CHANGE_WITHDRAWN: (
        {**POLICY_CHANGE, "withdrawn_at": "2026-12-10T02:00:00+00:00"},
        [
            "will not change on 2026-12-29",
            "On 2026-11-29 we told you",
            "from CNY 20,000.00 to CNY 12,000.00",
            "withdrawn that change (2026-12-10)",
        ],
        ["不会于 2026-12-29 调整", "曾于 2026-11-29 通知", "由 20,000.00 元", "于 2026-12-10 撤回"],
    ),
    Kind.LIMIT_INCREASED: (
        {"decision": decision("increase", ["good_repayment_history"], limit_after="30000.00")},
        ["went up to CNY 30,000.00", "CNY 1,234,567.89"],
        ["提升至 30,000.00 元", "1,234,567.89 元"],
    ),
    Kind.FREEZE_ENDED: (
        {"decision": decision("unfreeze", ["freeze_ended"])},
        ["ended on 2026-11-29", "CNY 1,234,567.89"],
        ["已于 2026-11-29 结束", "1,234,567.89 元"],
    ),
    Kind.LINE_RESTORED: (
        {"decision": decision("restore", ["verification_completed"])},
        ["restored on 2026-11-29", "CNY 1,234,567.89"],
        ["已于 2026-11-29 恢复", "1,234,567.89 元"],
    ),
    Kind.CREDIT_RESTORED: (
        {"loan": "loan-42", "repaid": "5000.00", "released": "5000.00", "available": "20000.00"},
        ["loan-42", "CNY 5,000.00 is available again", "you can draw CNY 20,000.00"],
        ["loan-42", "5,000.00 元 额度已即时恢复", "当前可用 20,000.00 元"],
    ),
    Kind.REFUND_DUE: (
        {"loan": "loan-42", "refund": "1200.05", "refund_by": "2026-12-05"},
        [
            "CNY 1,200.05 will be returned",
            "loan-42",
            "by 2026-12-05",
            "to the account your payment came from",
        ],
        ["多还了 1,200.05 元", "loan-42", "最迟于 2026-12-05 前", "原路退回"],
    ),
    Kind.REFUND_PAID: (
        {
            "loan": "loan-42",
            "refund": "1000.00",
            "business_date": "2026-12-01",
            "credit_left": "200.05",
        },
        ["returned CNY 1,000.00", "loan-42", "on 2026-12-01", "CNY 200.05 remains"],
        ["1,000.00 元 已退还", "loan-42", "2026-12-01", "尚有溢缴款 200.05 元"],
    ),
    Kind.SCHEDULE_CHANGED: (
        {
            "loan": "loan-42",
            "business_date": "2026-12-10",
            "prepaid": "1927.81",
            "effect": "shorter_term",
            "principal_outstanding": "9124.36",
            "instalments": [
                {"number": 2, "due_date": "2027-01-28", "amount": "1041.13"},
                {"number": 3, "due_date": "2027-02-28", "amount": "1072.19"},
            ],
        },
        [
            "loan-42",
            "prepaid CNY 1,927.81",
            "on 2026-12-10",
            "ends sooner",
            "CNY 9,124.36",
            "2027-01-28: CNY 1,041.13",
        ],
        ["loan-42", "提前偿还本金 1,927.81 元", "不再计息", "2027-01-28:1,041.13 元"],
    ),
    Kind.FREEZE_ENDING_SOON: (
        {"until": UNTIL},
        ["comes back on 2026-12-06"],
        ["将于 2026-12-06 恢复"],
    ),
    Kind.VERIFICATION_DUE: (
        {"expires_on": "2026-12-31"},
        ["by 2026-12-31", "POST /v1/verifications"],
        ["2026-12-31 前", "收入证明"],
    ),
    Kind.VERIFICATION_FAILED: (
        {
            "verification": "verification-3",
            "kind": "income",
            "problem": "the payslip is unreadable",
            "problem_code": "a code no template knows",
        },
        # Free text in a payload never reaches the notice: an unknown code reads generically.
        ["income evidence", "it did not pass the check"],
        ["收入证明", "未通过核验"],
    ),
    Kind.REVIEW_OPENED: (
        {"review": "review-7", "due_at": "2026-12-13T15:59:59Z", "reason_text": "I repaid it"},
        ["by 2026-12-13"],
        ["2026-12-13 前"],
    ),
    Kind.REVIEW_DECIDED: (
        {
            "review": "review-7",
            "outcome": "reverse",
            "note": "Your income evidence checked out",
            # What decisions/appeals.py writes: the review's own reasons, no limits.
            "decision": {
                "id": "01a224fe-7b9f-73bc-bb53-d06bf206129f",
                "action": "review",
                "reason_codes": ["review_upheld_appeal"],
                "until": None,
            },
        },
        ["the decision is reversed", "Your income evidence checked out"],
        ["撤销原决定", "Your income evidence checked out"],
    ),
    Kind.REQUEST_RECEIVED: (
        {
            "request": {
                "id": "01a224fe-7ba0-7e0a-9c3d-5b8e2f1a4c6d",
                "kind": "decrease",
                "limit": "12500.50",
                "created_at": AT,
                "due_at": "2026-12-13T17:30:00Z",
            },
        },
        ["lower your credit limit to CNY 12,500.50", "act on your request by 2026-12-14"],
        ["调低至 12,500.50 元", "将在 2026-12-14 前处理", "撤回本申请"],
    ),
    **{kind: (payload, *FACTS[kind]) for kind, payload in PAYMENT_PAYLOADS.items()},
}
LEFTOVERS = ("{{", "}}", "{%", "%}", "{#", "None", "Undefined", "\n\n\n")


def test_the_cases_cover_every_kind() -> None:
    assert set(CASES) == set(Kind)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize(
    ("outcome", "en", "zh"),
    [("uphold", "the decision stands", "维持原决定"), ("modify", "is changed", "调整原决定")],
)
def test_a_review_decided_without_a_note_or_a_decision_still_renders(
    outcome: str, en: str, zh: str, language: str
) -> None:
    renderer = Renderer()
    upheld = {"id": None, "action": "review", "reason_codes": ["multiple_lenders"], "until": None}
    for extra in ({}, {"decision": upheld}):
        payload = {"review": "review-7", "outcome": outcome, "note": None, **extra}
        rendered = renderer.render(
            Kind.REVIEW_DECIDED, language, line=LINE, payload=payload, jurisdiction=CN
        )
        text = rendered.subject + "\n" + rendered.body
        assert (en if language == "en" else zh) in rendered.subject
        assert "Their note" not in text and "说明:" not in text
        for leftover in LEFTOVERS:
            assert leftover not in text
        reasons = reason_facts(["multiple_lenders"], language)
        assert all((fact in text) == bool(extra) for fact in reasons)


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", list(Kind))
def test_every_kind_renders_in_both_languages_with_its_facts(kind: Kind, language: str) -> None:
    renderer = Renderer()
    payload, en, zh = CASES[kind]
    for jurisdiction in (CN, US, EU, OTHER):
        rendered = renderer.render(
            kind, language, line=LINE, payload=payload, jurisdiction=jurisdiction
        )
        assert rendered.kind is kind and rendered.language == language
        assert rendered.subject and "\n" not in rendered.subject
        assert rendered.body.strip() and rendered.body.endswith("\n")
        text = rendered.subject + "\n" + rendered.body
        for leftover in LEFTOVERS:
            assert leftover not in text, (kind, language, leftover)
        # What a borrower or a verifier wrote is stored, never copied into a notice.
        for free_text in ("the payslip is unreadable", "I repaid it"):
            assert free_text not in text, (kind, language, free_text)
        if jurisdiction is not CN:  # the same instants, as dates in other zones
            continue
        decided = payload.get("decision", {})
        for fact in [*(en if language == "en" else zh), *reason_facts(
            decided.get("reason_codes", []) if kind is not Kind.FREEZE_ENDED else [], language
        )]:  # fmt: skip
            assert fact in text, (kind, language, fact, text)
        # No heading without anything under it.
        for heading in ("What you can do:", "您可以:", "Why:", "原因:"):
            if heading in rendered.body:
                after = rendered.body.split(heading, 1)[1].split("\n")
                assert after[1].startswith("  - "), (kind, language, rendered.body)


@pytest.mark.parametrize(
    ("kind", "action_text"),
    [
        (Kind.LIMIT_DECREASED, "has reduced the limit of your credit line"),
        (Kind.LINE_FROZEN, "has paused drawing on your credit line"),
        (Kind.LINE_SUSPENDED, "has suspended drawing on your credit line"),
        (Kind.VERIFICATION_REQUIRED, "has suspended drawing on your credit line"),
        (Kind.LINE_CLOSED, "has closed your credit line"),
    ],
)
def test_adverse_kinds_carry_the_ecoa_statement_on_us_lines_only(
    kind: Kind, action_text: str
) -> None:
    renderer = Renderer()
    payload = CASES[kind][0]
    evidence = {"features": {"bureau_score": 580, "inquiries_3m": 7}}
    us = renderer.render(
        kind, "en", line=LINE, payload=payload, jurisdiction=US, evidence=evidence
    ).body
    assert f"Statement of action taken: {LENDER} {action_text} {LINE['id']}." in us
    assert "Equal Credit Opportunity Act" in us
    assert "Your credit score: 580" in us
    assert "Scores range from a low of 350 to a high of 900." in us
    assert f"  {CONTACTS['TEST-US'].bureau.address}\n" in us
    assert "within 30 days" in us  # the jurisdiction's review deadline
    without_report = renderer.render(kind, "en", line=LINE, payload=payload, jurisdiction=US).body
    assert "Equal Credit Opportunity Act" in without_report
    assert "consumer reporting agency" not in without_report
    for language in LANGUAGES:
        cn = renderer.render(
            kind, language, line=LINE, payload=payload, jurisdiction=CN, evidence=evidence
        ).body
        assert "Equal Credit Opportunity Act" not in cn
    zh = renderer.render(
        kind, "zh-CN", line=LINE, payload=payload, jurisdiction=US, evidence=evidence
    ).body
    assert "Equal Credit Opportunity Act" not in zh


@pytest.mark.parametrize(
    ("amount", "shown"),
    [
        ("0.00", "0.00"),
        ("999.99", "999.99"),
        ("1000.00", "1,000.00"),
        ("20000.00", "20,000.00"),
        ("-1234567.80", "-1,234,567.80"),
        ("20000", "20,000"),  # no minor unit (JPY)
        ("9007199254740993.01", "9,007,199,254,740,993.01"),  # beyond a float's precision
        ("0.10", "0.10"),  # a float would say 0.1
    ],
)
def test_money_is_grouped_as_text(amount: str, shown: str) -> None:
    assert group_thousands(amount) == shown


def test_money_in_a_notice_is_never_a_float() -> None:
    renderer = Renderer()
    payload = {
        "decision": decision(
            "decrease", ["multiple_lenders"], limit_before="0.30", limit_after="0.10"
        )
    }
    for language, currency, unit in (("en", "CNY", "CNY 0.10"), ("zh-CN", "CNY", "0.10 元")):
        line = {**LINE, "currency": currency, "available": "0.10"}
        rendered = renderer.render(
            Kind.LIMIT_DECREASED, language, line=line, payload=payload, jurisdiction=CN
        )
        assert unit in rendered.subject
        assert "0.1 " not in rendered.body and "0.30000000000000004" not in rendered.body
    jpy = {**LINE, "currency": "JPY", "available": "1500000"}
    rendered = renderer.render(
        Kind.LINE_RESTORED, "zh-CN", line=jpy, payload=CASES[Kind.LINE_RESTORED][0], jurisdiction=CN
    )
    assert "JPY 1,500,000" in rendered.body


def test_each_notice_is_dated_in_its_own_time_zone_and_language() -> None:
    renderer = Renderer()
    payload = CASES[Kind.LIMIT_DECREASED][0]  # at 17:30 UTC on 28 November
    shown = []
    for jurisdiction, language in ((CN, "zh-CN"), (US, "en"), (CN, "en"), (US, "zh-CN")):
        rendered = renderer.render(
            Kind.LIMIT_DECREASED, language, line=LINE, payload=payload, jurisdiction=jurisdiction
        )
        dated = "2026-11-29" in rendered.body, "2026-11-28" in rendered.body
        shown.append((dated, "元" in rendered.subject))
    assert shown == [
        ((True, False), True),  # Shanghai, yuan
        ((False, True), False),  # New York, CNY in English
        ((True, False), False),
        ((False, True), True),
    ]


def test_templates_are_compiled_once_not_for_every_notice(monkeypatch: pytest.MonkeyPatch) -> None:
    loaded: list[str] = []
    get_source = jinja2.PackageLoader.get_source

    def counting(self: jinja2.PackageLoader, environment: Any, template: str) -> Any:
        loaded.append(template)
        return get_source(self, environment, template)

    monkeypatch.setattr(jinja2.PackageLoader, "get_source", counting)
    renderer = Renderer()
    payload = CASES[Kind.LIMIT_DECREASED][0]

    def render() -> None:
        for language in LANGUAGES:
            renderer.render(
                Kind.LIMIT_DECREASED, language, line=LINE, payload=payload, jurisdiction=US
            )

    render()
    first = sorted(loaded)
    assert "limit_decreased.en.j2" in first and "_rights.en.j2" in first
    for _ in range(20):  # an inbox page, an e-mail per notice: read and compiled once
        render()
    assert sorted(loaded) == first


@pytest.mark.parametrize(
    "header",
    [
        "",
        "garbage",
        "t=,v1=",
        "v1=00",
        "t=1796000000",
        "t=soon,v1=00",
        "t=1796000000,v1=é",  # not ASCII: refused, not an exception
        "t=1796000000,v1=\udcff",
    ],
)
def test_a_malformed_signature_header_is_refused_not_raised(header: str) -> None:
    now = datetime.fromtimestamp(1796000000, tz=ZoneInfo("UTC"))
    assert verify_signature(SECRET, header, b'{"id": "x"}', now) is False
    assert verify_signature(SECRET, sign(SECRET, 1796000000, b'{"id": "x"}'), b'{"id": "x"}', now)


def test_several_lines_are_sent_at_once_each_in_the_order_its_changes_were_made(
    wired: Container, receiver: Receiver, agent: Actor, clock: FixedClock
) -> None:
    c = wired
    assert c.settings.dispatch_workers > 1
    receiver.delay_seconds = 0.02  # a remote endpoint: waiting dominates
    lines = []
    for n in range(12):
        line_id = c.ledger.open_line(agent, f"o{n}", f"b-{n}", "CNY", "5000.00").document["id"]
        until = clock.now() + timedelta(days=7)
        c.ledger.change_limit(agent, f"f{n}", line_id, "freeze", ["drawdown_velocity"], until=until)
        c.ledger.change_limit(agent, f"u{n}", line_id, "unfreeze", ["risk_resolved"])
        lines.append(line_id)
    written = outbox_rows(c)  # ids are time-ordered: the order each change was made
    c.dispatcher.run_until_idle()
    hits = sorted(receiver.hits, key=lambda hit: hit.start)
    assert sorted(hit.id for hit in hits) == sorted(row["id"] for row in written)
    for line_id in lines:
        mine = [row["id"] for row in written if row["line_id"] == line_id]
        assert [hit.id for hit in hits if hit.id in mine] == mine
    # Lines overlapped in time: some request started before another one ended.
    assert any(b.start < a.end for a, b in itertools.pairwise(hits))
