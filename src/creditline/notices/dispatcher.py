"""Delivering the outbox: at least once, with backoff, to the inbox, e-mail and the webhook.

A dispatcher claims a batch of due messages by leasing them (PostgreSQL picks the rows with
`FOR UPDATE SKIP LOCKED`, so dispatchers running side by side never claim the same message;
SQLite serialises the claim). In one transaction it files the whole batch's notices in the
inbox, records the channels that are not configured and finishes the messages that need
nothing more (`bulk_delivery.py`). What the batch's e-mails are composed from (addresses,
languages, the decisions' evidence) it reads in one more read. It sends the rest (e-mail, the
webhook, handlers) outside any transaction, message by message, over sessions it keeps for the
batch (one SMTP session and kept-alive HTTP connections per sending thread), and logs each
channel's delivery as it succeeds, then the message's outcome; the log is written a group at a
time, a message's outcome never before its channels (`delivery_log.py`, which says what at
least once means here). The batch's leases are renewed together, well before they run out, so
a slow batch keeps what it claimed; a dispatcher that finds its lease taken (it ran out and
another dispatcher claimed the message) leaves the message to that one. A message whose
channels all took it is delivered; one that failed is tried again after an exponential
backoff, and becomes a dead letter after `max_attempts`. A dispatcher killed mid-batch loses
nothing: its leases run out and the next claim takes the messages again, skipping the channels
recorded as taken. Receivers dedupe on the notice id (the outbox message id). A message's
handlers (the review after a drawdown or a settlement, registered on the outbox) run like
channels: once each, skipped when the request that made the change already ran them, so a
crash in between loses no review.
"""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from sqlalchemy import and_, bindparam, func, or_, select, update

from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.clock import Clock
from creditline.kernel.ids import new_id
from creditline.kernel.invariant import fail
from creditline.notices.bulk_delivery import BulkDelivery
from creditline.notices.catalog import is_notice, kind_of
from creditline.notices.channels import DeliveryFailed, Email, Message, Webhook
from creditline.notices.delivery_log import DeliveryLog, Leases
from creditline.notices.outbox import Outbox
from creditline.notices.service import MailFacts, NoticeService
from creditline.notices.tables import deliveries, outbox

log = logging.getLogger(__name__)

# Messages a claim takes: the claim and the batch's inbox commit together, so a batch holds
# SQLite's one write lock for its length (500 inbox notices: a few tens of ms here).
DISPATCH_BATCH_MAX = 1000
DISPATCH_BATCH_DEFAULT = 500
DISPATCH_WORKERS_MAX = 32  # threads sending one batch, each a line's messages in order
# Longer than one send's worst case (a 10 s timeout on each network step of an HTTP request or
# an SMTP session). A whole batch can take far longer (500 messages × two channels × their
# timeouts), which is why it is renewed rather than sized for a batch: a send starts only while
# at least three quarters of the lease are left.
LEASE = timedelta(seconds=120)
RENEW_AFTER = LEASE / 4
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_MAX = timedelta(hours=1)
ATTEMPTS_MAX = 8  # about an hour and a half of retries, then a dead letter
ERROR_LENGTH_MAX = 500


def backoff(attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th failed attempt: 30 s, 1 min, 2 min, … ≤ 1 h."""
    delay: timedelta = BACKOFF_BASE * 2 ** (attempts - 1)
    return min(BACKOFF_MAX, delay)


@dataclass(frozen=True, slots=True)
class Backlog:
    undelivered: int
    oldest_age_seconds: float  # 0 when nothing waits
    dead: int


@dataclass(frozen=True, slots=True)
class _Claimed:
    message: Message
    token: str
    done: frozenset[str] = frozenset()  # the channels it had taken when the batch was filed


class Dispatcher:
    def __init__(
        self,
        db: Database,
        clock: Clock,
        notices: NoticeService,
        handlers: Outbox,
        *,
        webhook: Webhook | None = None,
        email: Email | None = None,
        max_attempts: int = ATTEMPTS_MAX,
        lease: timedelta = LEASE,
        workers: int = 1,
    ) -> None:
        if not 1 <= workers <= DISPATCH_WORKERS_MAX:
            raise ValueError(f"workers must be 1–{DISPATCH_WORKERS_MAX}")
        self._workers = workers
        self._db = db
        self._clock = clock
        self._notices = notices
        self._webhook = webhook
        self._email = email
        self._max_attempts = max_attempts
        self._lease = lease
        self._handlers = handlers  # the outbox's handlers run like channels
        not_configured = [name for name, to in (("email", email), ("webhook", webhook)) if not to]
        self._bulk = BulkDelivery(db, not_configured)
        self._log = DeliveryLog(db, clock)
        self._prepare_claim(db)
        self._done = db.prepare(
            select(deliveries.c.channel).where(deliveries.c.notice_id == bindparam("id"))
        )

    def _prepare_claim(self, db: Database) -> None:
        """The claim: due messages leased in one statement (skipping rows another dispatcher
        holds)."""
        due = and_(
            outbox.c.delivered_at.is_(None),
            outbox.c.dead_at.is_(None),
            or_(outbox.c.next_attempt_at.is_(None), outbox.c.next_attempt_at <= bindparam("now")),
            or_(outbox.c.claimed_until.is_(None), outbox.c.claimed_until < bindparam("now")),
        )
        pick = (
            select(outbox.c.id)
            .where(due)
            .order_by(outbox.c.created_at, outbox.c.id)
            .limit(bindparam("batch"))
            .with_for_update(skip_locked=True)
        )
        self._claim = db.prepare(
            update(outbox)
            .where(outbox.c.id.in_(pick.scalar_subquery()))
            .values(
                claimed_until=bindparam("lease_end"),
                claim_token=bindparam("token"),
                attempts=outbox.c.attempts + 1,
            )
            .returning(
                outbox.c.id,
                outbox.c.topic,
                outbox.c.line_id,
                outbox.c.borrower_id,
                outbox.c.ref_id,
                outbox.c.payload,
                outbox.c.created_at,
                outbox.c.attempts,
            )
        )

    def run_once(self, batch: int = DISPATCH_BATCH_DEFAULT) -> dict[str, int]:
        """Claim up to `batch` due messages and deliver them; counts by outcome."""
        if not 1 <= batch <= DISPATCH_BATCH_MAX:
            raise ValueError(f"batch must be 1–{DISPATCH_BATCH_MAX}")
        now = self._clock.now()
        token = new_id()

        def claim(tx: Transaction) -> tuple[list[_Claimed], list[_Claimed]]:
            claimed = self._claim_in(tx, batch, token, now)
            return claimed, self._deliver_in_bulk(tx, claimed, token, now)

        # The claim and what the batch takes at once commit together: one transaction.
        claimed, left = self._db.run(claim)
        if not claimed:
            return {}
        counts = Counter({"claimed": len(claimed), "delivered": len(claimed) - len(left)})
        by_line: dict[str, list[_Claimed]] = {}
        for message in left:
            by_line.setdefault(message.message.line_id, []).append(message)
        ids = [message.message.id for message in left]
        leases = Leases(partial(self._renew_leases, token), self._clock, ids, now, RENEW_AFTER)
        try:
            mails = self._mail_facts(left)
            deliver = partial(self._deliver_in_order, leases=leases, mails=mails)
            if self._workers == 1 or len(by_line) <= 1:
                outcomes = [deliver(group) for group in by_line.values()]
            else:
                # Sending is waiting on the network: several lines at a time, each line's
                # messages in the order they were written (a freeze is never announced after
                # its end).
                with ThreadPoolExecutor(self._workers, thread_name_prefix="dispatch") as pool:
                    outcomes = list(pool.map(deliver, by_line.values()))
        finally:
            try:
                self._log.write()  # what the channels took, also when the batch failed
            finally:
                if self._email is not None:
                    self._email.close()  # the batch's SMTP sessions
        for group in outcomes:
            counts.update(group)
        return dict(+counts)  # outcomes that happened

    def _mail_facts(self, left: list[_Claimed]) -> MailFacts | None:
        """What the batch's e-mails are composed from, in one read (None: no e-mail to send)."""
        wanted = [
            claimed.message
            for claimed in left
            if is_notice(claimed.message.topic) and "email" not in claimed.done
        ]
        if self._email is None or not wanted:
            return None
        return self._notices.mail_facts(wanted)

    def _deliver_in_bulk(
        self, tx: Transaction, claimed: list[_Claimed], token: str, now: datetime
    ) -> list[_Claimed]:
        """In `tx`: file the batch's notices in the inbox, record the channels not configured
        and finish the messages that need nothing more; the others."""
        if not claimed:
            return []
        done = self._bulk.record(tx, token, [message.message.id for message in claimed], now)
        left, finished = [], []
        for message in claimed:
            taken = done.get(message.message.id, set())
            if taken.issuperset(self._channels(message.message)):
                finished.append(message.message.id)
            else:
                left.append(_Claimed(message.message, token, frozenset(taken)))
        self._bulk.finish(tx, token, finished, now)
        return left

    def _deliver_in_order(
        self, group: list[_Claimed], leases: Leases, mails: MailFacts | None
    ) -> list[str]:
        outcomes = []
        for claimed in group:
            outcomes.append(self._deliver(claimed, leases, mails))
            leases.release(claimed.message.id)
        return outcomes

    def run_until_idle(self, batch: int = DISPATCH_BATCH_DEFAULT) -> dict[str, int]:
        """Deliver everything due now, batch after batch; counts by outcome."""
        total: Counter[str] = Counter()
        while True:
            counts = self.run_once(batch)
            total.update(counts)
            if counts.get("claimed", 0) < batch:
                return dict(total)

    def run_forever(self, stop: threading.Event, interval_seconds: float) -> None:
        """What `serve` runs in the background until `stop` is set."""
        while not stop.is_set():
            try:
                self.run_until_idle()
            except Exception:  # a broken database must not kill the server's thread
                log.exception("dispatch failed; trying again in %s s", interval_seconds)
            stop.wait(interval_seconds)

    def backlog(self) -> Backlog:
        """What waits in the outbox now: messages to deliver, the age of the oldest, dead
        letters (read from the index of undelivered messages)."""
        waiting = outbox.c.dead_at.is_(None)
        query = select(
            func.count().filter(waiting),
            func.min(outbox.c.created_at).filter(waiting),
            func.count().filter(outbox.c.dead_at.is_not(None)),
        ).where(outbox.c.delivered_at.is_(None))
        with self._db.reading() as connection:
            undelivered, oldest, dead = connection.execute(query).one()
        oldest_at = Transaction.read_time(oldest)
        age = 0.0 if oldest_at is None else (self._clock.now() - oldest_at).total_seconds()
        return Backlog(int(undelivered), max(0.0, age), int(dead))

    def close(self) -> None:
        """Close the channels' connections."""
        if self._webhook is not None:
            self._webhook.close()
        if self._email is not None:
            self._email.close()

    # --- one message ------------------------------------------------------------------------
    def _claim_in(self, tx: Transaction, batch: int, token: str, now: datetime) -> list[_Claimed]:
        """In `tx`: lease up to `batch` due messages with `token`, oldest first."""
        params = {
            "now": tx.time(now),
            "batch": batch,
            "lease_end": tx.time(now + self._lease),
            "token": token,
        }
        tx.cursor.execute(self._claim.sql, self._claim.bind(params))
        claimed = []
        for row in tx.cursor.fetchall():
            created = Transaction.read_time(row[6]) or fail(f"message {row[0]} has no time")
            message = Message(
                id=row[0],
                topic=row[1],
                line_id=row[2],
                borrower_id=row[3],
                ref_id=row[4],
                payload=json.loads(row[5]),
                created_at=created,
                attempts=row[7],
            )
            claimed.append(_Claimed(message, token))
        return sorted(claimed, key=lambda c: (c.message.created_at, c.message.id))

    def _deliver(self, claimed: _Claimed, leases: Leases, mails: MailFacts | None) -> str:
        """Send the channels the message has not taken yet, one by one, logging each as it
        takes it, then the message's outcome (`delivery_log.py` writes them by the group)."""
        message = claimed.message
        done = claimed.done
        if self._handlers.handlers_of(message.topic):
            # Read now, not at the claim: the request that made the change may have run a
            # handler meanwhile.
            done = frozenset(self._db.read(lambda tx: self._channels_done(tx, message.id)))
        errors = []
        for channel in [channel for channel in self._channels(message) if channel not in done]:
            if not leases.holds(message.id):
                # The lease ran out and another dispatcher claimed the message: it delivers
                # it; sending it from here too would send it twice, at the same time.
                return "lost"
            sent_at = self._clock.now()
            try:
                detail = self._send(channel, message, sent_at, mails)
            except DeliveryFailed as error:
                errors.append(str(error))
                continue
            except Exception as error:  # a bug in one message must not stop the others
                log.exception("notice %s on %s", message.id, channel)
                errors.append(f"{channel}: {type(error).__name__}: {error}")
                continue
            self._log.took(message.id, channel, sent_at, detail)
        now = self._clock.now()
        if not errors:
            self._log.finished(message.id, claimed.token, now)
            return "delivered"
        dead = message.attempts >= self._max_attempts
        said = "; ".join(errors)[:ERROR_LENGTH_MAX]
        next_at = now + backoff(message.attempts)
        self._log.failed(message.id, claimed.token, next_at, said, now if dead else None)
        return "dead" if dead else "retry"

    def _renew_leases(self, token: str, ids: list[str]) -> set[str]:
        """Extend this dispatcher's leases on the messages `ids`; those still its own."""
        now = self._clock.now()
        return self._db.run(lambda tx: self._bulk.renew(tx, token, ids, now + self._lease))

    def _channels_done(self, tx: Transaction, notice_id: str) -> list[str]:
        tx.cursor.execute(self._done.sql, self._done.bind({"id": notice_id}))
        return [row[0] for row in tx.cursor.fetchall()]

    def _channels(self, message: Message) -> list[str]:
        channels = ["inbox", "email"] if is_notice(message.topic) else []
        handlers = [name for name, _ in self._handlers.handlers_of(message.topic)]
        return [*channels, *handlers, "webhook"]

    def _send(
        self, channel: str, message: Message, now: datetime, mails: MailFacts | None
    ) -> str | None:
        """Send the message on `channel`; what the channel answered (kept with its delivery)."""
        handlers = dict(self._handlers.handlers_of(message.topic))
        if channel in handlers:
            handlers[channel](message)
            return None
        if channel == "webhook" and self._webhook is not None:
            kind = kind_of(message.topic, message.payload) if is_notice(message.topic) else None
            return self._webhook.send(message, None if kind is None else kind.value, now)
        if channel == "email" and self._email is not None:
            mail = self._notices.mail(message, mails or fail("a batch's e-mail facts are read"))
            if mail is None:
                return "the borrower has no e-mail address"
            address, rendered = mail
            return self._email.send(message, address, rendered.subject, rendered.body, now)
        # The inbox, and channels not configured: recorded for the whole batch.
        fail(f"{channel} is delivered for a whole batch, not message by message")


def counts_line(counts: dict[str, Any]) -> str:
    """One JSON line of a dispatch's counts (what `creditline dispatch` prints)."""
    return json.dumps({k: counts.get(k, 0) for k in ("claimed", "delivered", "retry", "dead")})
