"""A batch's e-mails are composed from one read (addresses, languages, the decisions'
evidence, the lines payloads do not carry) and say what composing each notice alone says; a
batch's channel records and outcomes are written a group at a time, and a dispatcher that dies
before a group is written loses nothing: the channels it did not record go again, under the
same notice id. On both stores."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from conftest import frozen_by_the_policy
from sqlalchemy import select
from test_notices import Mailbox, Receiver, channels_of, mailbox, outbox_rows, receiver, wire

from creditline.bootstrap import Container
from creditline.db.unit_of_work import Database
from creditline.kernel.actors import Actor, Role
from creditline.kernel.clock import FixedClock
from creditline.notices import delivery_log
from creditline.notices.channels import Email, Message, SmtpSettings, Webhook
from creditline.notices.dispatcher import LEASE, Dispatcher
from creditline.notices.tables import deliveries

__all__ = ["mailbox", "receiver"]  # the fixtures, imported to be used here
SECRET = "test-webhook-secret-0123456789"
LINES = 6
WHOLE_BATCH = delivery_log.RECORDS_PER_WRITE_MAX  # more rows than a batch of LINES logs


def notices(c: Container) -> list[Message]:
    """Every notice in the outbox, as the dispatcher claims it."""
    return [
        Message(
            row["id"],
            row["topic"],
            row["line_id"],
            row["borrower_id"],
            row["ref_id"],
            json.loads(row["payload"]),
            row["created_at"],
            0,
        )
        for row in outbox_rows(c)
        if row["topic"].startswith("notice.")
    ]


def open_and_freeze(c: Container, agent: Actor, borrower_id: str, n: int) -> str:
    """A line opened (its event, the notice of its grant) and frozen (a notice)."""
    line_id = c.ledger.open_line(agent, f"o{n}", borrower_id, "CNY", "20000.00").document["id"]
    until = c.clock.now() + timedelta(days=7)
    c.ledger.change_limit(agent, f"f{n}", line_id, "freeze", ["drawdown_velocity"], until=until)
    return str(line_id)


def count_reads(c: Container, monkeypatch: pytest.MonkeyPatch) -> Counter[str]:
    """Counts the read transactions (`Database.read` runs in `reading` too) and the others."""
    counted = Counter[str]()
    reading, run = c.db.reading, c.db.run

    def counted_reading() -> Any:
        counted["read"] += 1
        return reading()

    def counted_run(work: Any, **options: Any) -> Any:
        counted["run"] += 1
        return run(work, **options)

    monkeypatch.setattr(c.db, "reading", counted_reading)
    monkeypatch.setattr(c.db, "run", counted_run)
    return counted


def test_a_batch_of_e_mails_is_composed_from_one_read_as_each_notice_alone(
    container: Container, agent: Actor, borrower: Actor, monkeypatch: pytest.MonkeyPatch
) -> None:
    c = container
    policy_line = frozen_by_the_policy(c, agent, borrower)  # a decision that kept evidence
    c.notices.set_preferences(borrower, "li.wei@example.com", None)  # the profile's language
    for n, (address, language) in enumerate(
        [("en@example.com", "en"), (None, "en"), ("zh@example.com", "zh-CN")]
    ):
        who = Actor(f"batch-{n}", Role.BORROWER)
        open_and_freeze(c, agent, who.subject, n)
        c.notices.set_preferences(who, address, language)
    batch = notices(c)
    # A notice written without its line (reminders are): composed on the line as it is now.
    batch.append(replace(batch[-1], id="no-line", payload={**batch[-1].payload, "line": None}))
    decided = [m.payload["decision"]["id"] for m in batch if m.line_id == policy_line]

    counted = count_reads(c, monkeypatch)
    facts = c.notices.mail_facts(batch)
    assert counted == {"read": 1}

    stored = c.ledger.stored_decision(agent, decided[-1]).evidence
    assert stored is not None and facts.evidence[decided[-1]] == stored
    sent = {}
    for message in batch:
        mail = c.notices.mail(message, facts)
        address = c.notices.preferences_of(message.borrower_id)["email"]
        if address is None:
            assert mail is None
            continue
        assert mail is not None and mail[0] == address
        assert mail[1] == c.notices.compose(message)  # the second way: one notice at a time
        sent[message.borrower_id] = mail[1].language
    assert sent == {"borrower-1": "zh-CN", "batch-0": "en", "batch-2": "zh-CN"}


def test_a_batch_sent_on_every_channel_is_recorded_in_one_write(
    database_url: str,
    clock: FixedClock,
    mailbox: Mailbox,
    receiver: Receiver,
    agent: Actor,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = wire(database_url, clock, mailbox, receiver)
    try:
        for n in range(LINES):
            who = Actor(f"mail-{n}", Role.BORROWER)
            open_and_freeze(c, agent, who.subject, n)
            c.notices.set_preferences(who, f"{who.subject}@example.com", None)
        counted = count_reads(c, monkeypatch)
        assert c.dispatcher.run_until_idle() == {"claimed": 3 * LINES, "delivered": 3 * LINES}
        # The claim with the inbox, the e-mails' facts, and one write of 12 e-mail records,
        # 18 webhook records and 18 outcomes (one transaction a message and channel before).
        assert counted == {"run": 2, "read": 1}
        assert len(mailbox.mails) == 2 * LINES and len(receiver.took()) == 3 * LINES
        for row in outbox_rows(c):
            assert row["delivered_at"] == clock.now()
            assert {d["channel"] for d in channels_of(c, row["id"])} == wanted(row["topic"])
    finally:
        c.close()


def wanted(topic: str) -> set[str]:
    """The channels a message goes to: a notice to all three, an event to the webhook."""
    return {"inbox", "email", "webhook"} if topic.startswith("notice.") else {"webhook"}


def recorded(c: Container) -> set[tuple[str, str]]:
    """The channels recorded as having taken each message: (notice id, channel)."""
    query = select(deliveries.c.notice_id, deliveries.c.channel)
    with c.db.reading() as connection:
        return {(notice_id, channel) for notice_id, channel in connection.execute(query)}


def mail_ids(mailbox: Mailbox) -> Counter[str]:
    """How many e-mails the server took for each notice (its Message-ID names it)."""
    return Counter(str(mail["Creditline-Notice-Id"]) for _, mail in mailbox.mails)


@pytest.mark.parametrize(("group", "groups_written"), [(10, 1), (WHOLE_BATCH, 0)])
def test_a_dispatcher_that_dies_before_its_log_is_written_loses_no_message(
    database_url: str,
    clock: FixedClock,
    mailbox: Mailbox,
    receiver: Receiver,
    agent: Actor,
    group: int,
    groups_written: int,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    c = wire(database_url, clock, mailbox, receiver)
    try:
        for n in range(LINES):
            who = Actor(f"mail-{n}", Role.BORROWER)
            open_and_freeze(c, agent, who.subject, n)
            c.notices.set_preferences(who, f"{who.subject}@example.com", None)
        monkeypatch.setattr(delivery_log, "RECORDS_PER_WRITE_MAX", group)
        # Its own handle on the store, which goes away after the claim and `groups_written`
        # groups: the process dies (power lost) with the rest of its log unwritten.
        doomed_db = Database(c.db.engine)
        writes = Counter[str]()
        run = doomed_db.run

        def dying(work: Any, **options: Any) -> Any:
            writes["run"] += 1
            if writes["run"] > 1 + groups_written:
                raise KeyboardInterrupt
            return run(work, **options)

        monkeypatch.setattr(doomed_db, "run", dying)
        smtp = Email(SmtpSettings("127.0.0.1", mailbox.port))
        doomed = Dispatcher(
            doomed_db, clock, c.notices, c.outbox, email=smtp, webhook=Webhook(receiver.url, SECRET)
        )
        with pytest.raises(KeyboardInterrupt):
            doomed.run_until_idle()
        doomed.close()
        everything = outbox_rows(c)
        kept = recorded(c)
        for row in everything:  # delivered only once its channels' records were written
            if row["delivered_at"] is not None:
                assert {ch for i, ch in kept if i == row["id"]} == wanted(row["topic"])
        waiting = sum(row["delivered_at"] is None for row in everything)
        hooks, mails = receiver.took(), mail_ids(mailbox)
        if group == WHOLE_BATCH:  # it sent the whole batch, then died
            assert len(hooks) == 3 * LINES and len(mails) == 2 * LINES
            assert {channel for _, channel in kept} == {"inbox"} and waiting == 3 * LINES
        else:  # it wrote its first group
            assert {channel for _, channel in kept} == {"inbox", "email", "webhook"}

        clock.advance(LEASE + timedelta(seconds=1))  # its leases run out
        assert c.dispatcher.run_until_idle() == {"claimed": waiting, "delivered": waiting}
        # Sent again: exactly the channels the dead dispatcher did not record, under the same
        # notice id (the Message-ID, the webhook's id), for the receivers to dedupe.
        assert receiver.took() == {
            row["id"]: hooks[row["id"]] + ((row["id"], "webhook") not in kept) for row in everything
        }
        notice_ids = [row["id"] for row in everything if row["topic"].startswith("notice.")]
        assert mail_ids(mailbox) == {i: mails[i] + ((i, "email") not in kept) for i in notice_ids}
        assert all(row["delivered_at"] is not None for row in outbox_rows(c))
    finally:
        c.close()
