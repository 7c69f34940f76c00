"""The one event path: every message about a change goes through the outbox.

A capability queues a message with `Outbox.queue(tx, …)` inside the transaction of the change,
so the change and its message commit together. Topics are one enum. Work that must follow a
change in this process (the review after a drawdown posts or a loan settles) is a handler of
its topic, registered in the composition root: it runs right after the change commits, and the
dispatcher runs it from the outbox if this process dies first. Notices, e-mail and the
lender's webhook are delivered from the outbox by the dispatcher.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Select, bindparam, insert, literal, select
from sqlalchemy.dialects import postgresql, sqlite

from creditline.db.ids import new_ids_sql
from creditline.db.unit_of_work import Database, Transaction
from creditline.kernel.clock import Clock
from creditline.kernel.ids import new_id
from creditline.notices.channels import Message
from creditline.notices.tables import deliveries, outbox
from creditline.notices.topics import NOTICE_PREFIX, Topic

log = logging.getLogger(__name__)

# The outbox is notices' one door: its topics are published here too.
__all__ = ["NOTICE_PREFIX", "Handler", "Outbox", "Topic", "announced", "message_insert"]


Handler = Callable[[Message], None]
HANDLER_NAME_LENGTH_MAX = 16  # stored as a delivery's channel
ANALYZE_AFTER_ROWS = 10_000  # messages written in one statement that change the outbox's shape


def message_insert(prefix: str = "") -> Any:
    """The INSERT that `Outbox.queue` sends, its bound names after `prefix` (a part of a
    store's one-statement shape, `Database.one_statement`)."""
    return insert(outbox).values(
        {column.name: bindparam(prefix + column.name) for column in outbox.c}
    )


class Outbox:
    """Writes messages in the caller's transaction; runs the handlers registered per topic."""

    def __init__(self, db: Database, clock: Clock) -> None:
        self._db = db
        self._clock = clock
        self._handlers: dict[Topic, list[tuple[str, Handler]]] = {}
        self._insert = db.prepare(message_insert())
        dialect_insert = postgresql.insert if db.dialect == "postgresql" else sqlite.insert
        self._done = db.prepare(dialect_insert(deliveries).on_conflict_do_nothing())

    def register(self, topic: Topic, name: str, handler: Handler) -> None:
        """Run `handler` for every message of `topic`, once; `name` records that it ran."""
        if not 1 <= len(name) <= HANDLER_NAME_LENGTH_MAX or name in ("inbox", "email", "webhook"):
            raise ValueError(f"a handler's name must be 1–{HANDLER_NAME_LENGTH_MAX} characters")
        self._handlers.setdefault(topic, []).append((name, handler))

    def handlers_of(self, topic: str) -> list[tuple[str, Handler]]:
        """The handlers registered for `topic` (none for a topic nobody handles)."""
        try:
            return list(self._handlers.get(Topic(topic), ()))
        except ValueError:
            return []

    def queue(
        self,
        tx: Transaction,
        topic: Topic,
        *,
        line_id: str,
        borrower_id: str,
        ref_id: str,
        payload: dict[str, Any],
        now: datetime,
    ) -> str:
        """Write a message about `ref_id` (a decision, loan, drawdown, review …) in `tx`; its
        handlers run once `tx` commits. Returns the message id (the notice id)."""
        message_id = new_id()
        encoded = json.dumps(payload, sort_keys=True)
        tx.execute(
            self._insert,
            {
                "id": message_id,
                "topic": topic.value,
                "line_id": line_id,
                "borrower_id": borrower_id,
                "ref_id": ref_id,
                "payload": encoded,
                "created_at": tx.time(now),
                "delivered_at": None,
                "attempts": 0,
                "claimed_until": None,
                "claim_token": None,
                "next_attempt_at": None,
                "last_error": None,
                "dead_at": None,
            },
        )
        if topic in self._handlers:
            message = Message(
                message_id, topic.value, line_id, borrower_id, ref_id, payload, now, 0
            )
            tx.after_commit(lambda: self.handle_now(message))
        return message_id

    def queue_selected(
        self, tx: Transaction, topic: Topic, messages: Select[Any], now: datetime
    ) -> int:
        """Write many messages in one statement (INSERT … SELECT) in `tx`: `messages` selects
        their `line_id`, `borrower_id`, `ref_id`, `payload` (JSON text) and `id` (without
        one, the statement gives each message a new id). For topics with no handler (a
        handler runs per message); returns how many were written."""
        if topic in self._handlers:
            raise ValueError(f"{topic.value} has handlers: queue its messages one by one")
        chosen = messages.subquery("messages")
        rows = select(
            chosen.c.id if "id" in chosen.c else new_ids_sql(self._db.dialect),
            literal(topic.value),
            chosen.c.line_id,
            chosen.c.borrower_id,
            chosen.c.ref_id,
            chosen.c.payload,
            literal(now, outbox.c.created_at.type),
            literal(0),
        )
        columns = ["id", "topic", "line_id", "borrower_id", "ref_id", "payload", "created_at"]
        statement = insert(outbox).from_select([*columns, "attempts"], rows)
        result = tx.connection.execute(statement.execution_options(preserve_rowcount=True))
        written = int(result.rowcount)
        if written >= ANALYZE_AFTER_ROWS and self._db.dialect == "postgresql":
            # The planner is told of them now, not when autovacuum gets round to it: a claim
            # planned on statistics without them sorts every undelivered message to pick its
            # batch, instead of reading the first from the index (ix_outbox_undelivered).
            tx.connection.exec_driver_sql("ANALYZE outbox")
        return written

    def handle_now(self, message: Message) -> None:
        """Run the message's handlers right after its change committed. A handler that fails
        here is not lost: its message is still undelivered and the dispatcher runs it."""
        for name, handler in self.handlers_of(message.topic):
            try:
                handler(message)
            except Exception:
                log.exception(
                    "%s of message %s failed; the dispatcher retries it", name, message.id
                )
                continue
            self.record_handled(message.id, name, "done when the change was made")

    def record_handled(self, message_id: str, name: str, detail: str | None) -> None:
        """Record that handler (or channel) `name` has done its work for the message."""
        now = self._clock.now()
        self._db.run(
            lambda tx: tx.execute(
                self._done,
                {
                    "notice_id": message_id,
                    "channel": name,
                    "delivered_at": tx.time(now),
                    "detail": detail,
                },
            )
        )


def latest_topic(connection: Connection, ref_id: str, topics: list[str]) -> str | None:
    """The topic of the latest message about `ref_id` among `topics` (None: none yet)."""
    o = outbox.c
    query = (
        select(o.topic)
        .where(o.ref_id == ref_id, o.topic.in_(topics))
        .order_by(o.created_at.desc(), o.id.desc())
        .limit(1)
    )
    return connection.execute(query).scalar()


def announced(connection: Connection, topic_prefix: str) -> set[str]:
    """The ids of everything a message whose topic starts with `topic_prefix` is about (for
    the reconciler: every decision and every settlement must have its notice)."""
    query = select(outbox.c.ref_id).where(outbox.c.topic.startswith(topic_prefix))
    return set(connection.execute(query).scalars())
