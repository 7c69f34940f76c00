"""Reminders go out once, ahead of time: a freeze ending soon, income evidence expiring soon."""

from __future__ import annotations

import datetime as dt
from datetime import timedelta

from sqlalchemy import select

from creditline.bootstrap import Container
from creditline.decisions.applications import Application
from creditline.kernel.actors import Actor
from creditline.kernel.clock import FixedClock
from creditline.notices.tables import outbox

DAY = timedelta(days=1)


def sent(c: Container, topic: str) -> list[tuple[str, str]]:
    with c.db.reading() as connection:
        return [
            (line_id, payload)
            for line_id, payload in connection.execute(
                select(outbox.c.line_id, outbox.c.payload).where(outbox.c.topic == topic)
            )
        ]


def test_a_freeze_ending_within_three_days_is_announced_once(
    container: Container, agent: Actor, borrower: Actor, clock: FixedClock
) -> None:
    line_id = container.ledger.open_line(agent, "o", borrower.subject, "CNY", "5000.00").document[
        "id"
    ]
    until = clock.now() + 7 * DAY
    container.ledger.change_limit(agent, "f", line_id, "freeze", ["drawdown_velocity"], until=until)
    assert container.reminders.run()["freeze_ending_soon"] == 0
    clock.advance(4 * DAY + timedelta(hours=1))  # under three days to go
    assert container.reminders.run()["freeze_ending_soon"] == 1
    assert container.reminders.run()["freeze_ending_soon"] == 0
    [(about, payload)] = sent(container, "notice.freeze_ending_soon")
    assert about == line_id and until.isoformat() in payload


def test_income_evidence_expiring_within_two_weeks_is_announced_once(
    container: Container, borrower: Actor, clock: FixedClock
) -> None:
    expires = clock.now().date() + 20 * DAY
    application = Application(
        borrower_id=borrower.subject,
        currency="CNY",
        income_monthly="12000.00",
        income_evidence=True,
        income_evidence_expires_on=expires,
        birth_date=dt.date(1990, 5, 1),
        employment="employed",
    )
    line_id = container.underwriting.apply(borrower, "app", application).document["line_id"]
    assert container.reminders.run()["verification_due"] == 0
    clock.advance(7 * DAY)
    assert container.reminders.run()["verification_due"] == 1
    assert container.reminders.run()["verification_due"] == 0
    [(about, payload)] = sent(container, "notice.verification_due")
    assert about == line_id and expires.isoformat() in payload
    # Evidence renewed before the date: nothing more to remind of.
    today = clock.now().date()
    container.verifications.submit(
        borrower,
        "renew",
        "income",
        {
            "income_monthly": "12000.00",
            "currency": "CNY",
            "document_id": "payslip",
            "issued_on": today.isoformat(),
            "expires_on": (today + 180 * DAY).isoformat(),
        },
    )
    clock.advance(5 * DAY)
    assert container.reminders.run()["verification_due"] == 0
