"""What a dispatcher does for a whole claimed batch at once, in one transaction: file every
notice in its borrower's inbox, record the channels that are not configured (no SMTP server, no
webhook) as such, and finish the messages that need nothing more.

Each statement selects the batch by its message ids (one parameter: an array on PostgreSQL, a
JSON array on SQLite) and the dispatcher's claim token, so it touches only the messages whose
lease the dispatcher holds; it copies rows inside the store (INSERT … SELECT from the outbox:
the payload never travels to Python and back). Filing twice changes nothing: the inbox is
keyed by the notice, a delivery by notice and channel. What is left (e-mail, the webhook,
handlers) the dispatcher sends message by message, each line's in order, renewing the batch's
leases together meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import String, and_, any_, bindparam, column, func, literal, null, select, update
from sqlalchemy.dialects import postgresql, sqlite

from creditline.db.unit_of_work import Database, Transaction
from creditline.notices.tables import deliveries, inbox, outbox
from creditline.notices.topics import NOTICE_PREFIX

# The channels recorded for a whole batch when they are not configured, and why.
NOT_CONFIGURED = {"email": "no SMTP server configured", "webhook": "no webhook configured"}
# Channels only notices take (events go to the lender's webhook alone).
NOTICE_CHANNELS = frozenset({"inbox", "email"})


class BulkDelivery:
    """The set-based part of delivering a claimed batch."""

    def __init__(self, db: Database, not_configured: Iterable[str]) -> None:
        self._dialect = db.dialect
        dialect_insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        mine = and_(
            _in_batch(db.dialect),
            outbox.c.claim_token == bindparam("token"),
            outbox.c.delivered_at.is_(None),
        )
        notices = and_(mine, outbox.c.topic.startswith(NOTICE_PREFIX))
        filed = select(*(outbox.c[name] for name in _INBOX_FROM_OUTBOX), null()).where(notices)
        self._inbox = db.prepare(
            dialect_insert(inbox).from_select(list(inbox.c.keys()), filed).on_conflict_do_nothing()
        )
        # The channels this dispatcher records for a whole batch: the inbox, and the ones that
        # are not configured.
        self.channels = ("inbox", *sorted(set(not_configured) & set(NOT_CONFIGURED)))
        self._recorded = {
            channel: db.prepare(
                dialect_insert(deliveries)
                .from_select(
                    ["notice_id", "channel", "delivered_at", "detail"],
                    select(
                        outbox.c.id,
                        literal(channel),
                        bindparam("at", type_=deliveries.c.delivered_at.type),
                        literal(NOT_CONFIGURED.get(channel), String),
                    ).where(notices if channel in NOTICE_CHANNELS else mine),
                )
                .on_conflict_do_nothing()
            )
            for channel in self.channels
        }
        self._done = db.prepare(
            select(deliveries.c.notice_id, deliveries.c.channel).where(
                deliveries.c.notice_id.in_(select(outbox.c.id).where(mine))
            )
        )
        self._finish = db.prepare(
            update(outbox)
            .where(mine)
            .values(delivered_at=bindparam("at"), claimed_until=None, last_error=None)
        )
        self._renew = db.prepare(
            update(outbox)
            .where(mine, outbox.c.dead_at.is_(None))
            .values(claimed_until=bindparam("lease_end"))
            .returning(outbox.c.id)
        )

    def record(
        self, tx: Transaction, token: str, ids: Collection[str], now: datetime
    ) -> dict[str, set[str]]:
        """File the notices of the batch `ids` in the inbox and record the channels not
        configured; the channels each message of the batch has taken now (by message id)."""
        batch = {"ids": self._ids(ids), "token": token}
        tx.execute(self._inbox, batch)
        at = tx.time(now)
        for channel in self.channels:
            tx.execute(self._recorded[channel], {**batch, "at": at})
        tx.cursor.execute(self._done.sql, self._done.bind(batch))
        done: dict[str, set[str]] = {}
        for notice_id, channel in tx.cursor.fetchall():
            done.setdefault(notice_id, set()).add(channel)
        return done

    def finish(self, tx: Transaction, token: str, ids: Collection[str], now: datetime) -> None:
        """Mark the messages `ids` of the batch delivered, in one statement."""
        if ids:
            batch = {"ids": self._ids(ids), "token": token, "at": tx.time(now)}
            tx.execute(self._finish, batch)

    def renew(
        self, tx: Transaction, token: str, ids: Collection[str], lease_end: datetime
    ) -> set[str]:
        """Extend the leases of the batch's messages `ids` to `lease_end`, in one statement;
        the ids still leased with `token` (another dispatcher claimed the rest)."""
        params = {"ids": self._ids(ids), "token": token, "lease_end": tx.time(lease_end)}
        tx.cursor.execute(self._renew.sql, self._renew.bind(params))
        return {row[0] for row in tx.cursor.fetchall()}

    def _ids(self, ids: Collection[str]) -> Any:
        return list(ids) if self._dialect == "postgresql" else json.dumps(list(ids))


# The inbox's columns but its last (read_at, null), as the outbox names them.
_INBOX_FROM_OUTBOX = ("id", "borrower_id", "line_id", "topic", "payload", "created_at")


def _in_batch(dialect: str) -> Any:
    """`outbox.id` is one of the parameter `ids`: an array on PostgreSQL, JSON on SQLite."""
    if dialect == "postgresql":
        return outbox.c.id == any_(bindparam("ids", type_=postgresql.ARRAY(String)))
    values = func.json_each(bindparam("ids", type_=String)).table_valued(column("value"))
    return outbox.c.id.in_(select(values.c.value))
